//! Prekeys: the responder's signed and one-time prekeys, and the bundles initiators fetch.
//!
//! A bundle is usable only after [`PreKeyBundle::verify`] turned it into a [`VerifiedBundle`]
//! (PROTOCOL.md §2).

use std::collections::{BTreeMap, HashSet, VecDeque};

use prost::Message;
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::consts::{
    LABEL_SIGNED_PREKEY, MAX_ACCEPTED_BASE_KEYS, MAX_ONE_TIME_PREKEYS, MAX_PREKEYS_RECORD_SIZE,
    MAX_SIGNED_PREKEYS, STATE_VERSION,
};
use crate::error::{BundleError, PreKeyError, StateError};
use crate::keys::{DhKeyPair, Hex, IdentityKey, IdentityKeyPair};
use crate::wire::proto;

/// The message an identity signs to vouch for a signed prekey:
/// `"sealpost spk v1" || id (u32 big-endian) || public (32 B)`.
fn signed_prekey_message(id: u32, public: &[u8; 32]) -> [u8; 15 + 4 + 32] {
    let mut m = [0u8; 51];
    m[..15].copy_from_slice(LABEL_SIGNED_PREKEY);
    m[15..19].copy_from_slice(&id.to_be_bytes());
    m[19..].copy_from_slice(public);
    m
}

/// A prekey bundle as received from a directory: nothing in it is trusted yet.
///
/// ```
/// # use sealpost::{IdentityKeyPair, PreKeys, PreKeyBundle};
/// let mut rng = rand::rng();
/// let bob = IdentityKeyPair::generate(&mut rng);
/// let mut prekeys = PreKeys::new();
/// prekeys.generate_signed_prekey(&bob, 1_700_000_000, &mut rng)?;
/// let ids = prekeys.generate_one_time_prekeys(1, &mut rng)?;
/// let published = prekeys.bundle(&bob, Some(ids[0]))?.to_bytes();
///
/// // The initiator parses and verifies before anything else.
/// let verified = PreKeyBundle::from_bytes(&published)?.verify()?;
/// assert_eq!(verified.identity(), bob.public_key());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PreKeyBundle {
    identity: [u8; 32],
    signed_prekey_id: u32,
    signed_prekey: [u8; 32],
    signature: [u8; 64],
    one_time_prekey: Option<(u32, [u8; 32])>,
}

impl core::fmt::Debug for PreKeyBundle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreKeyBundle")
            .field("identity", &Hex(&self.identity))
            .field("signed_prekey_id", &self.signed_prekey_id)
            .field(
                "one_time_prekey_id",
                &self.one_time_prekey.map(|(id, _)| id),
            )
            .finish_non_exhaustive()
    }
}

impl PreKeyBundle {
    /// Decodes a bundle (`wire.proto` `PreKeyBundle`), checking field lengths only.
    ///
    /// # Errors
    /// [`BundleError::Malformed`] if the bytes are not a bundle with correctly sized fields.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > 1024 {
            return Err(BundleError::Malformed);
        }
        let p = proto::wire::PreKeyBundle::decode(bytes).map_err(|_| BundleError::Malformed)?;
        let arr32 = |v: &[u8]| <[u8; 32]>::try_from(v).map_err(|_| BundleError::Malformed);
        let one_time_prekey = match (p.one_time_prekey_id, p.one_time_prekey.is_empty()) {
            (None, true) => None,
            (Some(id), false) => Some((id, arr32(&p.one_time_prekey)?)),
            _ => return Err(BundleError::Malformed),
        };
        Ok(PreKeyBundle {
            identity: arr32(&p.identity_key)?,
            signed_prekey_id: p.signed_prekey_id,
            signed_prekey: arr32(&p.signed_prekey)?,
            signature: p
                .signed_prekey_signature
                .as_slice()
                .try_into()
                .map_err(|_| BundleError::Malformed)?,
            one_time_prekey,
        })
    }

    /// Encodes the bundle for publishing.
    pub fn to_bytes(&self) -> Vec<u8> {
        proto::wire::PreKeyBundle {
            identity_key: self.identity.to_vec(),
            signed_prekey_id: self.signed_prekey_id,
            signed_prekey: self.signed_prekey.to_vec(),
            signed_prekey_signature: self.signature.to_vec(),
            one_time_prekey_id: self.one_time_prekey.map(|(id, _)| id),
            one_time_prekey: self
                .one_time_prekey
                .map(|(_, k)| k.to_vec())
                .unwrap_or_default(),
        }
        .encode_to_vec()
    }

    /// Validates the identity key and checks the signed prekey's signature under it.
    ///
    /// # Errors
    /// [`BundleError::InvalidIdentity`] or [`BundleError::BadSignature`].
    pub fn verify(self) -> Result<VerifiedBundle, BundleError> {
        let identity =
            IdentityKey::from_bytes(&self.identity).map_err(BundleError::InvalidIdentity)?;
        identity
            .verify(
                &signed_prekey_message(self.signed_prekey_id, &self.signed_prekey),
                &self.signature,
            )
            .map_err(|_| BundleError::BadSignature)?;
        Ok(VerifiedBundle {
            identity,
            signed_prekey_id: self.signed_prekey_id,
            signed_prekey: self.signed_prekey,
            one_time_prekey: self.one_time_prekey,
        })
    }

    /// Like [`verify`](Self::verify), and also requires the bundle to belong to `expected`
    /// (the identity the caller already trusts for this peer).
    ///
    /// # Errors
    /// As [`verify`](Self::verify), plus [`BundleError::UnexpectedIdentity`].
    pub fn verify_for(self, expected: &IdentityKey) -> Result<VerifiedBundle, BundleError> {
        if &self.identity != expected.as_bytes() {
            return Err(BundleError::UnexpectedIdentity);
        }
        self.verify()
    }
}

/// A bundle whose signature verified under its identity key: the only thing that can start a
/// session ([`Session::initiate`](crate::Session::initiate)).
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    identity: IdentityKey,
    signed_prekey_id: u32,
    signed_prekey: [u8; 32],
    one_time_prekey: Option<(u32, [u8; 32])>,
}

impl VerifiedBundle {
    /// The bundle owner's identity.
    pub fn identity(&self) -> &IdentityKey {
        &self.identity
    }

    /// The signed prekey's id.
    pub fn signed_prekey_id(&self) -> u32 {
        self.signed_prekey_id
    }

    /// The one-time prekey's id, if the bundle has one.
    pub fn one_time_prekey_id(&self) -> Option<u32> {
        self.one_time_prekey.map(|(id, _)| id)
    }

    pub(crate) fn signed_prekey(&self) -> &[u8; 32] {
        &self.signed_prekey
    }

    pub(crate) fn one_time_prekey(&self) -> Option<&(u32, [u8; 32])> {
        self.one_time_prekey.as_ref()
    }
}

/// Base keys of the prekey messages accepted under one signed prekey, oldest first.
#[derive(Clone, Default)]
struct AcceptedBaseKeys {
    order: VecDeque<[u8; 32]>,
    set: HashSet<[u8; 32]>,
}

impl AcceptedBaseKeys {
    fn insert(&mut self, key: [u8; 32]) {
        if self.set.insert(key) {
            self.order.push_back(key);
            while self.order.len() > MAX_ACCEPTED_BASE_KEYS {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

#[derive(Clone)]
struct SignedPreKey {
    id: u32,
    pair: DhKeyPair,
    signature: [u8; 64],
    created_at: u64,
    accepted: AcceptedBaseKeys,
}

/// A responder's private prekeys: signed prekeys (the current one last, older ones kept for a
/// grace period at the caller's discretion) and unused one-time prekeys.
///
/// Persist it with [`to_bytes`](Self::to_bytes) after every change; [`revision`](Self::revision)
/// increases with each, for compare-and-swap in a shared store.
#[derive(Clone, Default)]
pub struct PreKeys {
    revision: u64,
    signed: Vec<SignedPreKey>,
    one_time: BTreeMap<u32, DhKeyPair>,
    next_one_time_id: u32,
    next_signed_id: u32,
}

impl core::fmt::Debug for PreKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreKeys")
            .field("revision", &self.revision)
            .field(
                "signed_prekey_ids",
                &self.signed.iter().map(|s| s.id).collect::<Vec<_>>(),
            )
            .field("one_time_prekeys", &self.one_time.len())
            .finish_non_exhaustive()
    }
}

impl PreKeys {
    /// An empty set of prekeys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Increases on every change.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Generates a signed prekey, signs it with `identity`, makes it the current one and returns
    /// its id. `created_at` is the caller's clock (sealpost reads none), kept for rotation policy.
    ///
    /// # Errors
    /// [`PreKeyError::LimitReached`] when `MAX_SIGNED_PREKEYS` are held: remove an old one first.
    pub fn generate_signed_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        identity: &IdentityKeyPair,
        created_at: u64,
        rng: &mut R,
    ) -> Result<u32, PreKeyError> {
        if self.signed.len() >= MAX_SIGNED_PREKEYS {
            return Err(PreKeyError::LimitReached);
        }
        let id = self.fresh_signed_id();
        let pair = DhKeyPair::generate(rng);
        let signature = identity.sign(&signed_prekey_message(id, pair.public()));
        self.signed.push(SignedPreKey {
            id,
            pair,
            signature,
            created_at,
            accepted: AcceptedBaseKeys::default(),
        });
        self.next_signed_id = id.wrapping_add(1);
        self.revision += 1;
        Ok(id)
    }

    fn fresh_signed_id(&self) -> u32 {
        let mut id = self.next_signed_id;
        while self.signed.iter().any(|s| s.id == id) {
            id = id.wrapping_add(1);
        }
        id
    }

    /// Deletes a signed prekey (end of its grace period). Prekey messages that name it fail
    /// from now on, which also ends any replay window for it.
    ///
    /// # Errors
    /// [`PreKeyError::UnknownSignedPreKey`].
    pub fn remove_signed_prekey(&mut self, id: u32) -> Result<(), PreKeyError> {
        let pos = self
            .signed
            .iter()
            .position(|s| s.id == id)
            .ok_or(PreKeyError::UnknownSignedPreKey(id))?;
        self.signed.remove(pos);
        self.revision += 1;
        Ok(())
    }

    /// Ids and creation times of the signed prekeys, oldest first; the last is current.
    pub fn signed_prekeys(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.signed.iter().map(|s| (s.id, s.created_at))
    }

    /// Generates `count` one-time prekeys and returns their ids.
    ///
    /// # Errors
    /// [`PreKeyError::LimitReached`] if the total would pass `MAX_ONE_TIME_PREKEYS`.
    pub fn generate_one_time_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        count: usize,
        rng: &mut R,
    ) -> Result<Vec<u32>, PreKeyError> {
        if self.one_time.len().saturating_add(count) > MAX_ONE_TIME_PREKEYS {
            return Err(PreKeyError::LimitReached);
        }
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let mut id = self.next_one_time_id;
            while self.one_time.contains_key(&id) {
                id = id.wrapping_add(1);
            }
            self.one_time.insert(id, DhKeyPair::generate(rng));
            self.next_one_time_id = id.wrapping_add(1);
            ids.push(id);
        }
        self.revision += 1;
        Ok(ids)
    }

    /// Ids of the unused one-time prekeys.
    pub fn one_time_prekey_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.one_time.keys().copied()
    }

    /// The public bundle for the current signed prekey and, if given, one one-time prekey.
    ///
    /// # Errors
    /// [`PreKeyError::NoSignedPreKey`], or [`PreKeyError::UnknownOneTimePreKey`] for an id this
    /// set does not hold.
    pub fn bundle(
        &self,
        identity: &IdentityKeyPair,
        one_time_prekey_id: Option<u32>,
    ) -> Result<PreKeyBundle, PreKeyError> {
        let spk = self.signed.last().ok_or(PreKeyError::NoSignedPreKey)?;
        let one_time_prekey = match one_time_prekey_id {
            None => None,
            Some(id) => Some((
                id,
                *self
                    .one_time
                    .get(&id)
                    .ok_or(PreKeyError::UnknownOneTimePreKey(id))?
                    .public(),
            )),
        };
        Ok(PreKeyBundle {
            identity: identity.public_key().to_bytes(),
            signed_prekey_id: spk.id,
            signed_prekey: *spk.pair.public(),
            signature: spk.signature,
            one_time_prekey,
        })
    }

    pub(crate) fn signed_prekey(&self, id: u32) -> Option<&DhKeyPair> {
        self.signed.iter().find(|s| s.id == id).map(|s| &s.pair)
    }

    pub(crate) fn one_time_prekey(&self, id: u32) -> Option<&DhKeyPair> {
        self.one_time.get(&id)
    }

    pub(crate) fn was_accepted(&self, signed_prekey_id: u32, base_key: &[u8; 32]) -> bool {
        self.signed
            .iter()
            .find(|s| s.id == signed_prekey_id)
            .is_some_and(|s| s.accepted.set.contains(base_key))
    }

    /// Records a prekey message that authenticated: consumes its one-time prekey and remembers
    /// its base key. Called only after the inner message decrypted.
    pub(crate) fn commit_accept(
        &mut self,
        signed_prekey_id: u32,
        one_time_prekey_id: Option<u32>,
        base_key: [u8; 32],
    ) {
        if let Some(id) = one_time_prekey_id {
            self.one_time.remove(&id);
        }
        if let Some(s) = self.signed.iter_mut().find(|s| s.id == signed_prekey_id) {
            s.accepted.insert(base_key);
        }
        self.revision += 1;
    }

    /// Serializes to `state.proto` `PreKeysRecord`. Contains secrets: seal it at rest.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let record = proto::state::PreKeysRecord {
            version: STATE_VERSION,
            revision: self.revision,
            signed_prekeys: self
                .signed
                .iter()
                .map(|s| proto::state::SignedPreKeyRecord {
                    id: s.id,
                    secret: s.pair.secret_bytes().to_vec(),
                    signature: s.signature.to_vec(),
                    created_at: s.created_at,
                    accepted_base_keys: s.accepted.order.iter().map(|k| k.to_vec()).collect(),
                })
                .collect(),
            one_time_prekeys: self
                .one_time
                .iter()
                .map(|(id, k)| proto::state::OneTimePreKeyRecord {
                    id: *id,
                    secret: k.secret_bytes().to_vec(),
                })
                .collect(),
            next_one_time_prekey_id: self.next_one_time_id,
            next_signed_prekey_id: self.next_signed_id,
        };
        Zeroizing::new(record.encode_to_vec())
    }

    /// Restores prekeys written by [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// [`StateError`] for malformed, oversized, over-limit or unknown-version records.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        if bytes.len() > MAX_PREKEYS_RECORD_SIZE {
            return Err(StateError::TooLarge);
        }
        let r = proto::state::PreKeysRecord::decode(bytes).map_err(|_| StateError::Malformed)?;
        if r.version != STATE_VERSION {
            return Err(StateError::UnknownVersion(r.version));
        }
        if r.signed_prekeys.len() > MAX_SIGNED_PREKEYS
            || r.one_time_prekeys.len() > MAX_ONE_TIME_PREKEYS
        {
            return Err(StateError::LimitExceeded);
        }
        let mut signed = Vec::with_capacity(r.signed_prekeys.len());
        for s in &r.signed_prekeys {
            if s.accepted_base_keys.len() > MAX_ACCEPTED_BASE_KEYS {
                return Err(StateError::LimitExceeded);
            }
            let mut accepted = AcceptedBaseKeys::default();
            for k in &s.accepted_base_keys {
                accepted
                    .insert(<[u8; 32]>::try_from(k.as_slice()).map_err(|_| StateError::Malformed)?);
            }
            signed.push(SignedPreKey {
                id: s.id,
                pair: DhKeyPair::from_secret_slice(&s.secret).ok_or(StateError::Malformed)?,
                signature: s
                    .signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| StateError::Malformed)?,
                created_at: s.created_at,
                accepted,
            });
        }
        let mut one_time = BTreeMap::new();
        for k in &r.one_time_prekeys {
            let pair = DhKeyPair::from_secret_slice(&k.secret).ok_or(StateError::Malformed)?;
            if one_time.insert(k.id, pair).is_some() {
                return Err(StateError::Malformed);
            }
        }
        Ok(PreKeys {
            revision: r.revision,
            signed,
            one_time,
            next_one_time_id: r.next_one_time_prekey_id,
            next_signed_id: r.next_signed_prekey_id,
        })
    }
}

impl Drop for proto::state::SignedPreKeyRecord {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl Drop for proto::state::OneTimePreKeyRecord {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}
