//! Persisting identities, prekeys and session records: sealed at rest, written with
//! compare-and-swap on their revision (DESIGN.md §6).
//!
//! sealpost does no I/O: a [`Store`] backend (a map in memory, SQLite, Postgres, a key-value
//! service) keeps opaque sealed bytes with a revision per slot and applies conditional writes.
//! The typed methods of the trait seal every record with the backend's [`StorageKey`] before the
//! backend sees it, so a backend never holds a secret in the clear.
//!
//! # Why compare-and-swap
//!
//! A session record holds chain keys. Two processes that both load revision `r` and both
//! encrypt would use the same message key for two different plaintexts; two that both decrypt
//! would hand the same message to the application twice. Every write therefore names the
//! revision it started from, and succeeds only if the stored record still has that revision;
//! otherwise it fails with [`StoreError::Conflict`] and the caller reloads and retries.
//!
//! # The crash-safe order
//!
//! 1. Load the record (and, for a prekey message, the prekeys) and remember the revisions.
//! 2. Decrypt on that loaded copy. A failed decryption changes nothing.
//! 3. Persist the new record with compare-and-swap on the remembered revision.
//! 4. Only then hand the plaintext to the application (or, when sending, the wire message to
//!    the transport).
//!
//! A crash or a failed write before step 4 leaves the stored record as it was: the transport
//! redelivers the message, and it decrypts then. A crash after step 3 but before the
//! application saw the plaintext loses that one message for the app (the record says it was
//! read; redelivery reports [`DecryptError::Duplicate`](crate::DecryptError::Duplicate)) but
//! never uses a key twice. Applications that must not lose it make step 4 durable in the same
//! transaction as step 3, or store the plaintext before acknowledging the transport.
//!
//! On [`StoreError::Conflict`], reload and repeat from step 1: the message is then either a
//! duplicate for the winner's record (another process already delivered it) or decrypts on the
//! fresh record. [`decrypt_and_store`], [`encrypt_and_store`] and [`initiate_and_store`] run
//! this loop for you.
//!
//! # Prekeys and the order of two writes
//!
//! Accepting a prekey message changes two records: the peer's session record gains a session,
//! and the local [`PreKeys`] lose the one-time prekey and remember the base key (replay
//! protection). [`Store::put_session_and_prekeys`] writes both in one atomic
//! [`swap_sealed`](Store::swap_sealed), which every backend must apply all-or-nothing (one SQL
//! transaction). If you ever write them separately, write the **session first**: a crash
//! between the two writes then leaves a one-time prekey that is not deleted yet (weaker forward
//! secrecy for that one session until it is), whereas prekeys first would delete the key while
//! the session that needs it is lost, and the customer's first messages would never decrypt.
//!
//! ```
//! use sealpost::store::{MemoryStore, Store, decrypt_and_store, encrypt_and_store};
//! use sealpost::{IdentityKeyPair, PreKeyBundle, PreKeys, SessionRecord, StorageKey};
//!
//! let mut rng = rand::rng();
//! let store = MemoryStore::new(StorageKey::generate(&mut rng));
//!
//! // The business sets up once and persists its identity and prekeys.
//! let business = IdentityKeyPair::generate(&mut rng);
//! let mut prekeys = PreKeys::new();
//! prekeys.generate_signed_prekey(&business, 1_700_000_000, &mut rng)?;
//! let otk = prekeys.generate_one_time_prekeys(1, &mut rng)?[0];
//! let bundle = prekeys.bundle(&business, Some(otk))?.to_bytes();
//! store.create_identity(&business)?;
//! store.put_prekeys(None, &prekeys)?;
//!
//! // A customer writes; the business decrypts through the store.
//! let customer = IdentityKeyPair::generate(&mut rng);
//! let mut at_customer = SessionRecord::new();
//! at_customer.initiate(&customer, &PreKeyBundle::from_bytes(&bundle)?.verify()?, &mut rng)?;
//! let hello = at_customer.encrypt(&mut rng, b"hello")?;
//!
//! let business = store.load_identity()?.ok_or("no identity")?;
//! let text = decrypt_and_store(&store, &business, customer.public_key(), &hello)?;
//! assert_eq!(text, b"hello");
//! // The one-time prekey was consumed in the same atomic write as the new session.
//! assert_eq!(store.load_prekeys()?.ok_or("no prekeys")?.one_time_prekey_ids().count(), 0);
//!
//! let reply = encrypt_and_store(&store, &mut rng, customer.public_key(), b"how can we help?")?;
//! assert_eq!(at_customer.decrypt(&customer, &mut PreKeys::new(), &reply)?, b"how can we help?");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::consts::{
    RECORD_KIND_IDENTITY, RECORD_KIND_PREKEYS, RECORD_KIND_SENDER_KEYS, RECORD_KIND_SESSION,
};
use crate::error::{IdentityMismatch, RecordError, SealError};
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::prekey::{PreKeys, VerifiedBundle};
use crate::record::SessionRecord;
use crate::seal::StorageKey;
use crate::wire::Envelope;

/// Largest opaque record (sender keys) the store accepts, in bytes.
pub const MAX_OPAQUE_RECORD_SIZE: usize = 4 * 1024 * 1024;

/// How often the `*_and_store` helpers retry after losing a compare-and-swap race before they
/// give up with [`StoreOpError::Contended`].
pub const MAX_ATTEMPTS: u32 = 16;

/// Revision the local identity is stored with (it is written once).
const IDENTITY_REVISION: u64 = 1;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored revision is not the expected one: another writer got there first (or, for
    /// `expected = None`, the slot is already taken). Reload and retry.
    #[error("write conflict: stored revision is {current:?}")]
    Conflict {
        /// The revision stored now; `None` if the slot is empty.
        current: Option<u64>,
    },
    /// There is no record for this peer.
    #[error("no stored record")]
    NotFound,
    /// A write must store a higher revision than the one it replaces.
    #[error("revision {new} does not advance past {expected}")]
    RevisionNotAdvanced {
        /// The revision the write expected to replace.
        expected: u64,
        /// The revision it tried to store.
        new: u64,
    },
    /// The session record belongs to another peer than the slot it is written to.
    #[error("record belongs to another peer than its slot")]
    WrongPeer(Box<IdentityMismatch>),
    /// A stored record does not belong to the slot or revision it was found under: the
    /// database was edited outside the store, or the backend is broken.
    #[error("stored record does not match its slot or revision")]
    Mismatch,
    /// An opaque record over [`MAX_OPAQUE_RECORD_SIZE`].
    #[error("record too large")]
    TooLarge,
    /// A stored record did not open: wrong storage key, or the bytes were modified.
    #[error("stored record did not open")]
    Seal(#[source] SealError),
    /// The backend failed (I/O, database, lock).
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why one of the `*_and_store` helpers failed. In every case nothing was handed out that the
/// store does not reflect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreOpError {
    /// The message did not decrypt, or the session could not be used; the store is unchanged.
    #[error(transparent)]
    Record(RecordError),
    /// The store failed; nothing was written, and no plaintext or message was produced.
    /// Retry later (the transport redelivers).
    #[error(transparent)]
    Store(StoreError),
    /// Every attempt lost a compare-and-swap race to another writer.
    #[error("gave up after {attempts} conflicting writes")]
    Contended {
        /// Attempts made.
        attempts: u32,
    },
}

/// Where a record lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot<'a> {
    /// The local identity key pair.
    Identity,
    /// The local prekeys.
    PreKeys,
    /// The session record with one peer, by the peer's identity.
    Session(&'a IdentityKey),
    /// A sender-key record: a group (by the caller's group id) and a sender identity.
    SenderKey {
        /// The group id bytes.
        group: &'a [u8],
        /// The sender's identity.
        sender: &'a IdentityKey,
    },
}

impl<'a> Slot<'a> {
    /// The record kind (`consts::RECORD_KIND_*`): with [`key`](Self::key), the slot's unique
    /// name in a backend.
    pub fn kind(&self) -> u8 {
        match self {
            Slot::Identity => RECORD_KIND_IDENTITY,
            Slot::PreKeys => RECORD_KIND_PREKEYS,
            Slot::Session(_) => RECORD_KIND_SESSION,
            Slot::SenderKey { .. } => RECORD_KIND_SENDER_KEYS,
        }
    }

    /// The slot's key within its kind: empty for the identity and prekeys, the peer's 32-byte
    /// identity for a session, `group || sender` (sender last, 32 bytes, so the encoding is
    /// unambiguous) for sender keys.
    pub fn key(&self) -> Cow<'a, [u8]> {
        match *self {
            Slot::Identity | Slot::PreKeys => Cow::Borrowed(&[]),
            Slot::Session(peer) => Cow::Borrowed(peer.as_bytes()),
            Slot::SenderKey { group, sender } => {
                let mut k = Vec::with_capacity(group.len() + 32);
                k.extend_from_slice(group);
                k.extend_from_slice(sender.as_bytes());
                Cow::Owned(k)
            }
        }
    }
}

/// What a backend keeps in a slot: a revision and sealed bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedEntry {
    /// The record's revision, for compare-and-swap.
    pub revision: u64,
    /// The record, sealed under the store's [`StorageKey`].
    pub sealed: Vec<u8>,
}

impl fmt::Debug for SealedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedEntry")
            .field("revision", &self.revision)
            .field("sealed_len", &self.sealed.len())
            .finish()
    }
}

/// An opaque record as loaded: its revision and its plaintext bytes (wiped on drop).
#[derive(Clone)]
pub struct OpaqueRecord {
    /// The revision to name as `expected` when writing the next version.
    pub revision: u64,
    /// The bytes given to [`Store::put_sender_key`].
    pub bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for OpaqueRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpaqueRecord")
            .field("revision", &self.revision)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// One conditional write of a [`Store::swap_sealed`] batch.
#[derive(Clone, Debug)]
pub struct SlotWrite<'a> {
    /// Where to write.
    pub slot: Slot<'a>,
    /// The revision the slot must hold now; `None`: the slot must be empty.
    pub expected: Option<u64>,
    /// What to store.
    pub entry: SealedEntry,
}

/// Storage for the local identity, the local prekeys, per-peer session records and sender-key
/// records, with compare-and-swap writes. Read the [module documentation](self) for the
/// crash-safe order of decrypt, write and hand-out.
///
/// A backend implements three methods: [`storage_key`](Self::storage_key),
/// [`load_sealed`](Self::load_sealed) and [`swap_sealed`](Self::swap_sealed). It only ever
/// sees sealed bytes. The typed methods seal, open and validate, using the OS random generator
/// (`rand::rng()`) for the sealing nonces. Every typed write is compare-and-swap on the
/// revision: `expected` is the revision the caller loaded (`None`: the slot must be empty),
/// and the write fails with [`StoreError::Conflict`] if the slot holds another.
///
/// ```
/// use sealpost::store::{MemoryStore, Store, StoreError};
/// use sealpost::{IdentityKeyPair, PreKeys, StorageKey};
///
/// let mut rng = rand::rng();
/// let store = MemoryStore::new(StorageKey::generate(&mut rng));
/// let me = IdentityKeyPair::generate(&mut rng);
/// let mut prekeys = PreKeys::new();
/// prekeys.generate_signed_prekey(&me, 0, &mut rng)?;
/// store.put_prekeys(None, &prekeys)?;
///
/// // Two writers start from the same revision; the second loses.
/// let loaded = prekeys.revision();
/// let mut a = store.load_prekeys()?.ok_or("missing")?;
/// let mut b = store.load_prekeys()?.ok_or("missing")?;
/// a.generate_one_time_prekeys(5, &mut rng)?;
/// b.generate_one_time_prekeys(5, &mut rng)?;
/// store.put_prekeys(Some(loaded), &a)?;
/// assert!(matches!(
///     store.put_prekeys(Some(loaded), &b),
///     Err(StoreError::Conflict { current: Some(r) }) if r == a.revision()
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Store {
    /// The key records are sealed with.
    fn storage_key(&self) -> &StorageKey;

    /// The sealed entry in `slot`, if any.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn load_sealed(&self, slot: &Slot<'_>) -> Result<Option<SealedEntry>, StoreError>;

    /// Applies `writes` in order as one atomic unit: each write succeeds only if its slot
    /// holds `expected` (as left by the writes before it in the batch), and if any fails,
    /// none is applied and the first failure's [`StoreError::Conflict`] (with the revision
    /// found) is returned. A slot written with `expected = None` must not exist yet.
    ///
    /// Backends must make this all-or-nothing (a transaction), and durable when it returns
    /// `Ok`: a rolled-back session record would make the sender reuse message keys.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::Backend`].
    fn swap_sealed(&self, writes: &[SlotWrite<'_>]) -> Result<(), StoreError>;

    /// The local identity.
    ///
    /// # Errors
    /// [`StoreError::Seal`] if it does not open, [`StoreError::Backend`].
    fn load_identity(&self) -> Result<Option<IdentityKeyPair>, StoreError> {
        self.load_sealed(&Slot::Identity)?
            .map(|e| IdentityKeyPair::open(&e.sealed, self.storage_key()).map_err(StoreError::Seal))
            .transpose()
    }

    /// Stores the local identity; it is written once.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if an identity is already stored, [`StoreError::Backend`].
    fn create_identity(&self, identity: &IdentityKeyPair) -> Result<(), StoreError> {
        let sealed = identity.seal(self.storage_key(), &mut rand::rng());
        self.swap_sealed(&[SlotWrite {
            slot: Slot::Identity,
            expected: None,
            entry: SealedEntry {
                revision: IDENTITY_REVISION,
                sealed,
            },
        }])
    }

    /// The local prekeys.
    ///
    /// # Errors
    /// [`StoreError::Seal`], [`StoreError::Mismatch`], [`StoreError::Backend`].
    fn load_prekeys(&self) -> Result<Option<PreKeys>, StoreError> {
        let Some(e) = self.load_sealed(&Slot::PreKeys)? else {
            return Ok(None);
        };
        let prekeys = PreKeys::open(&e.sealed, self.storage_key()).map_err(StoreError::Seal)?;
        if prekeys.revision() != e.revision {
            return Err(StoreError::Mismatch);
        }
        Ok(Some(prekeys))
    }

    /// Stores `prekeys` if the stored revision is `expected`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::RevisionNotAdvanced`], [`StoreError::Backend`].
    fn put_prekeys(&self, expected: Option<u64>, prekeys: &PreKeys) -> Result<(), StoreError> {
        self.swap_sealed(&[prekeys_write(self.storage_key(), expected, prekeys)?])
    }

    /// The session record with `peer`.
    ///
    /// # Errors
    /// [`StoreError::Seal`], [`StoreError::Mismatch`] if the stored record is another peer's
    /// or has another revision than its slot, [`StoreError::Backend`].
    fn load_session(&self, peer: &IdentityKey) -> Result<Option<SessionRecord>, StoreError> {
        let Some(e) = self.load_sealed(&Slot::Session(peer))? else {
            return Ok(None);
        };
        let record =
            SessionRecord::open(&e.sealed, self.storage_key()).map_err(StoreError::Seal)?;
        if record.revision() != e.revision || record.remote_identity().is_some_and(|k| k != peer) {
            return Err(StoreError::Mismatch);
        }
        Ok(Some(record))
    }

    /// Stores `record` as the session record with `peer` if the stored revision is `expected`
    /// (`None`: there must be no record yet). The record's revision must be higher.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::RevisionNotAdvanced`], [`StoreError::WrongPeer`]
    /// (after `trust_new_identity`, store the record under the new identity),
    /// [`StoreError::Backend`].
    fn put_session(
        &self,
        peer: &IdentityKey,
        expected: Option<u64>,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        self.swap_sealed(&[session_write(self.storage_key(), peer, expected, record)?])
    }

    /// Stores a session record and the prekeys in one atomic write (after a prekey message
    /// created a session and consumed a one-time prekey). Either both are written or neither;
    /// the session write comes first in the batch (see the module documentation).
    ///
    /// # Errors
    /// As [`put_session`](Self::put_session) and [`put_prekeys`](Self::put_prekeys).
    fn put_session_and_prekeys(
        &self,
        peer: &IdentityKey,
        expected_session: Option<u64>,
        record: &SessionRecord,
        expected_prekeys: Option<u64>,
        prekeys: &PreKeys,
    ) -> Result<(), StoreError> {
        let key = self.storage_key();
        self.swap_sealed(&[
            session_write(key, peer, expected_session, record)?,
            prekeys_write(key, expected_prekeys, prekeys)?,
        ])
    }

    /// An opaque sender-key record, opened.
    ///
    /// # Errors
    /// [`StoreError::Seal`], [`StoreError::Mismatch`], [`StoreError::Backend`].
    fn load_sender_key(
        &self,
        group: &[u8],
        sender: &IdentityKey,
    ) -> Result<Option<OpaqueRecord>, StoreError> {
        let slot = Slot::SenderKey { group, sender };
        let Some(e) = self.load_sealed(&slot)? else {
            return Ok(None);
        };
        let bound = crate::seal::open(
            self.storage_key(),
            RECORD_KIND_SENDER_KEYS,
            &e.sealed,
            MAX_OPAQUE_RECORD_SIZE + 8 + slot.key().len(),
        )
        .map_err(StoreError::Seal)?;
        let record = unbind(&bound, &slot, e.revision).ok_or(StoreError::Mismatch)?;
        Ok(Some(OpaqueRecord {
            revision: e.revision,
            bytes: Zeroizing::new(record.to_vec()),
        }))
    }

    /// Stores an opaque sender-key record (the group feature's serialized state) with
    /// `revision` if the stored revision is `expected`. The bytes are sealed together with
    /// their slot and revision.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::RevisionNotAdvanced`], [`StoreError::TooLarge`],
    /// [`StoreError::Backend`].
    fn put_sender_key(
        &self,
        group: &[u8],
        sender: &IdentityKey,
        expected: Option<u64>,
        revision: u64,
        record: &[u8],
    ) -> Result<(), StoreError> {
        check_advance(expected, revision)?;
        if record.len() > MAX_OPAQUE_RECORD_SIZE {
            return Err(StoreError::TooLarge);
        }
        let slot = Slot::SenderKey { group, sender };
        let bound = bind(&slot, revision, record);
        let sealed = crate::seal::seal(
            self.storage_key(),
            RECORD_KIND_SENDER_KEYS,
            &bound,
            &mut rand::rng(),
        );
        self.swap_sealed(&[SlotWrite {
            slot,
            expected,
            entry: SealedEntry { revision, sealed },
        }])
    }
}

fn check_advance(expected: Option<u64>, new: u64) -> Result<(), StoreError> {
    match expected {
        Some(expected) if new <= expected => Err(StoreError::RevisionNotAdvanced { expected, new }),
        _ => Ok(()),
    }
}

fn session_write<'a>(
    key: &StorageKey,
    peer: &'a IdentityKey,
    expected: Option<u64>,
    record: &SessionRecord,
) -> Result<SlotWrite<'a>, StoreError> {
    check_advance(expected, record.revision())?;
    if let Some(other) = record.remote_identity().filter(|k| *k != peer) {
        return Err(StoreError::WrongPeer(Box::new(IdentityMismatch {
            expected: *peer,
            received: *other,
        })));
    }
    Ok(SlotWrite {
        slot: Slot::Session(peer),
        expected,
        entry: SealedEntry {
            revision: record.revision(),
            sealed: record.seal(key, &mut rand::rng()),
        },
    })
}

fn prekeys_write(
    key: &StorageKey,
    expected: Option<u64>,
    prekeys: &PreKeys,
) -> Result<SlotWrite<'static>, StoreError> {
    check_advance(expected, prekeys.revision())?;
    Ok(SlotWrite {
        slot: Slot::PreKeys,
        expected,
        entry: SealedEntry {
            revision: prekeys.revision(),
            sealed: prekeys.seal(key, &mut rand::rng()),
        },
    })
}

/// `u64be(revision) || key || record`: the sealed plaintext of an opaque record, bound to its
/// slot and revision so that a sealed blob copied to another slot or row does not open there.
fn bind(slot: &Slot<'_>, revision: u64, record: &[u8]) -> Zeroizing<Vec<u8>> {
    let key = slot.key();
    let mut v = Zeroizing::new(Vec::with_capacity(8 + key.len() + record.len()));
    v.extend_from_slice(&revision.to_be_bytes());
    v.extend_from_slice(&key);
    v.extend_from_slice(record);
    v
}

fn unbind<'b>(bound: &'b [u8], slot: &Slot<'_>, revision: u64) -> Option<&'b [u8]> {
    let (rev, rest) = bound.split_at_checked(8)?;
    let key = slot.key();
    let (k, record) = rest.split_at_checked(key.len())?;
    (rev == revision.to_be_bytes() && k == &*key).then_some(record)
}

/// Whether the session slot (and, for a prekey message, the prekeys slot) still hold the
/// revisions a failed attempt started from.
fn unchanged<S: Store + ?Sized>(
    store: &S,
    peer: &IdentityKey,
    session: Option<u64>,
    prekeys: Option<Option<u64>>,
) -> Result<bool, StoreError> {
    let rev = |slot: Slot<'_>| store.load_sealed(&slot).map(|e| e.map(|e| e.revision));
    if rev(Slot::Session(peer))? != session {
        return Ok(false);
    }
    match prekeys {
        Some(p) => Ok(rev(Slot::PreKeys)? == p),
        None => Ok(true),
    }
}

/// Decrypts a message from `peer` against the stored record and persists the result before
/// returning the plaintext, retrying on write conflicts (at most [`MAX_ATTEMPTS`] times).
///
/// Follows the crash-safe order of the [module documentation](self): load (the prekeys too,
/// for a prekey message) → decrypt on the loaded copy → compare-and-swap the record (and the
/// prekeys, atomically, when the message started a session) → return the plaintext. On a
/// conflict it reloads: the message then decrypts on the fresh record, or is reported as a
/// duplicate because another writer already delivered it. A decryption failure is retried
/// too if the stored record changed meanwhile (it may hold the session the message needs).
///
/// `peer` is who the transport says sent the message; a prekey message that names another
/// identity is refused with [`RecordError::UntrustedIdentity`].
///
/// # Errors
/// [`StoreOpError::Record`] if the message does not decrypt (nothing stored),
/// [`StoreOpError::Store`] if the store fails (nothing stored, no plaintext: redeliver later),
/// [`StoreOpError::Contended`].
pub fn decrypt_and_store<S: Store + ?Sized>(
    store: &S,
    identity: &IdentityKeyPair,
    peer: &IdentityKey,
    message: &[u8],
) -> Result<Vec<u8>, StoreOpError> {
    let envelope =
        Envelope::parse(message).map_err(|e| StoreOpError::Record(RecordError::Decrypt(e)))?;
    let is_prekey = match &envelope {
        Envelope::PreKey(p) if p.sender_identity() != peer => {
            return Err(StoreOpError::Record(RecordError::UntrustedIdentity(
                Box::new(IdentityMismatch {
                    expected: *peer,
                    received: *p.sender_identity(),
                }),
            )));
        }
        Envelope::PreKey(_) => true,
        Envelope::Ratchet(_) => false,
    };
    for _ in 0..MAX_ATTEMPTS {
        let loaded = store.load_session(peer).map_err(StoreOpError::Store)?;
        let expected = loaded.as_ref().map(SessionRecord::revision);
        let mut record = loaded.unwrap_or_default();
        // Only a prekey message can touch the prekeys; other messages never load them.
        let (mut prekeys, expected_prekeys) = if is_prekey {
            let p = store.load_prekeys().map_err(StoreOpError::Store)?;
            let rev = p.as_ref().map(PreKeys::revision);
            (p.unwrap_or_default(), Some(rev))
        } else {
            (PreKeys::new(), None)
        };
        let prekeys_before = prekeys.revision();
        let plaintext = match record.decrypt(identity, &mut prekeys, message) {
            Ok(p) => Zeroizing::new(p),
            Err(e) => {
                if unchanged(store, peer, expected, expected_prekeys)
                    .map_err(StoreOpError::Store)?
                {
                    return Err(StoreOpError::Record(e));
                }
                continue;
            }
        };
        let written = match expected_prekeys {
            Some(expected_prekeys) if prekeys.revision() != prekeys_before => {
                store.put_session_and_prekeys(peer, expected, &record, expected_prekeys, &prekeys)
            }
            _ => store.put_session(peer, expected, &record),
        };
        match written {
            Ok(()) => return Ok(plaintext.to_vec()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(StoreOpError::Store(e)),
        }
    }
    Err(StoreOpError::Contended {
        attempts: MAX_ATTEMPTS,
    })
}

/// Encrypts for `peer` with the stored record's current session and persists the advanced
/// record before returning the wire message, retrying on write conflicts.
///
/// A message encrypted on a record that then loses the compare-and-swap is discarded, never
/// returned: its message key is the one the winner used, so only one of them may leave.
///
/// # Errors
/// [`StoreOpError::Store`] with [`StoreError::NotFound`] if there is no record for `peer`,
/// other store failures, [`StoreOpError::Record`] ([`RecordError::NoSession`],
/// [`RecordError::Encrypt`]), [`StoreOpError::Contended`].
pub fn encrypt_and_store<S: Store + ?Sized, R: CryptoRng + ?Sized>(
    store: &S,
    rng: &mut R,
    peer: &IdentityKey,
    plaintext: &[u8],
) -> Result<Vec<u8>, StoreOpError> {
    for _ in 0..MAX_ATTEMPTS {
        let mut record = store
            .load_session(peer)
            .map_err(StoreOpError::Store)?
            .ok_or(StoreOpError::Store(StoreError::NotFound))?;
        let expected = record.revision();
        let wire = record
            .encrypt(rng, plaintext)
            .map_err(StoreOpError::Record)?;
        match store.put_session(peer, Some(expected), &record) {
            Ok(()) => return Ok(wire),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(StoreOpError::Store(e)),
        }
    }
    Err(StoreOpError::Contended {
        attempts: MAX_ATTEMPTS,
    })
}

/// Starts a new session with the bundle's owner and persists it (the previous session, if
/// any, is archived), retrying on write conflicts. After it returns, the stored record's
/// current session is the one this call created; send with [`encrypt_and_store`].
///
/// # Errors
/// [`StoreOpError::Record`] ([`RecordError::UntrustedIdentity`],
/// [`RecordError::Handshake`]), [`StoreOpError::Store`], [`StoreOpError::Contended`].
pub fn initiate_and_store<S: Store + ?Sized, R: CryptoRng + ?Sized>(
    store: &S,
    identity: &IdentityKeyPair,
    bundle: &VerifiedBundle,
    rng: &mut R,
) -> Result<(), StoreOpError> {
    let peer = bundle.identity();
    for _ in 0..MAX_ATTEMPTS {
        let loaded = store.load_session(peer).map_err(StoreOpError::Store)?;
        let expected = loaded.as_ref().map(SessionRecord::revision);
        let mut record = loaded.unwrap_or_default();
        record
            .initiate(identity, bundle, rng)
            .map_err(StoreOpError::Record)?;
        match store.put_session(peer, expected, &record) {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(StoreOpError::Store(e)),
        }
    }
    Err(StoreOpError::Contended {
        attempts: MAX_ATTEMPTS,
    })
}

/// A [`Store`] in memory, shared between threads (a `Mutex` around a map). For tests, tools
/// and single-process apps that persist elsewhere; its contents are sealed all the same.
///
/// ```
/// use sealpost::store::{MemoryStore, Store, StoreError};
/// use sealpost::{IdentityKeyPair, StorageKey};
///
/// let mut rng = rand::rng();
/// let store = MemoryStore::new(StorageKey::generate(&mut rng));
/// let me = IdentityKeyPair::generate(&mut rng);
/// store.create_identity(&me)?;
/// // The identity is written once.
/// assert!(matches!(store.create_identity(&me), Err(StoreError::Conflict { current: Some(1) })));
/// assert_eq!(store.load_identity()?.ok_or("missing")?.public_key(), me.public_key());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MemoryStore {
    key: StorageKey,
    slots: Mutex<HashMap<(u8, Vec<u8>), SealedEntry>>,
}

impl MemoryStore {
    /// An empty store whose records are sealed under `key`.
    pub fn new(key: StorageKey) -> Self {
        MemoryStore {
            key,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Number of stored records.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map, even if another thread panicked while holding the lock: `swap_sealed` checks
    /// every write before it changes anything, so the map is never left half-written.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u8, Vec<u8>), SealedEntry>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("records", &self.len())
            .finish_non_exhaustive()
    }
}

impl Store for MemoryStore {
    fn storage_key(&self) -> &StorageKey {
        &self.key
    }

    fn load_sealed(&self, slot: &Slot<'_>) -> Result<Option<SealedEntry>, StoreError> {
        Ok(self
            .lock()
            .get(&(slot.kind(), slot.key().into_owned()))
            .cloned())
    }

    fn swap_sealed(&self, writes: &[SlotWrite<'_>]) -> Result<(), StoreError> {
        let mut map = self.lock();
        let keys: Vec<(u8, Vec<u8>)> = writes
            .iter()
            .map(|w| (w.slot.kind(), w.slot.key().into_owned()))
            .collect();
        // Check the whole batch against the map as the earlier writes would leave it.
        for (i, (w, k)) in writes.iter().zip(&keys).enumerate() {
            let earlier = keys[..i].iter().rposition(|e| e == k);
            let current = match earlier {
                Some(j) => Some(writes[j].entry.revision),
                None => map.get(k).map(|e| e.revision),
            };
            if current != w.expected {
                return Err(StoreError::Conflict { current });
            }
        }
        for (w, k) in writes.iter().zip(keys) {
            map.insert(k, w.entry.clone());
        }
        Ok(())
    }
}
