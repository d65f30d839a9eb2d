//! Prekeys: the responder's signed and one-time prekeys, and the bundles initiators fetch.
//!
//! A bundle is usable only after [`PreKeyBundle::verify`] turned it into a [`VerifiedBundle`]
//! (PROTOCOL.md §2).

use std::collections::{BTreeMap, HashSet, VecDeque};

use prost::Message;
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::consts::{
    KEM_PUBLIC_KEY_LEN, LABEL_KEM_PREKEY, LABEL_SIGNED_PREKEY, MAX_ACCEPTED_BASE_KEYS,
    MAX_BUNDLE_SIZE, MAX_ONE_TIME_KEM_PREKEYS, MAX_ONE_TIME_PREKEYS, MAX_PREKEYS_RECORD_SIZE,
    MAX_SIGNED_PREKEYS, STATE_VERSION,
};
use crate::error::{BundleError, PreKeyError, StateError};
use crate::kem::{self, KemSeed};
use crate::keys::{DhKeyPair, Hex, IdentityKey, IdentityKeyPair};
use crate::state::decode_secret;
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

/// The message an identity signs to vouch for an ML-KEM prekey:
/// `"sealpost kem prekey v1" || id (u32 big-endian) || encapsulation key (1184 B)`.
fn kem_prekey_message(id: u32, public: &[u8; KEM_PUBLIC_KEY_LEN]) -> Vec<u8> {
    let mut m = Vec::with_capacity(LABEL_KEM_PREKEY.len() + 4 + KEM_PUBLIC_KEY_LEN);
    m.extend_from_slice(LABEL_KEM_PREKEY);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(public);
    m
}

/// How a responder treats the post-quantum half of the handshake (PQXDH, PROTOCOL.md §3b).
///
/// Chosen when the [`PreKeys`] are created and persisted with them.
///
/// ```
/// use sealpost::{BundleError, IdentityKeyPair, PostQuantum, PreKeyBundle, PreKeys, Session};
///
/// let mut rng = rand::rng();
/// let business = IdentityKeyPair::generate(&mut rng);
/// let customer = IdentityKeyPair::generate(&mut rng);
///
/// // The default: every bundle carries a signed ML-KEM-768 prekey; sessions are PQXDH.
/// let mut prekeys = PreKeys::new();
/// assert_eq!(prekeys.post_quantum(), PostQuantum::Required);
/// prekeys.generate_signed_prekey(&business, 1_700_000_000, &mut rng)?;
/// let bundle = PreKeyBundle::from_bytes(&prekeys.bundle(&business, None)?.to_bytes())?;
/// let session = Session::initiate(&customer, &bundle.verify()?, &mut rng)?;
/// assert!(session.is_post_quantum());
///
/// // A classical-only responder: its bundles pass only `verify_allowing_classical`.
/// let mut legacy = PreKeys::with_post_quantum(PostQuantum::Disabled);
/// legacy.generate_signed_prekey(&business, 1_700_000_000, &mut rng)?;
/// let bundle = PreKeyBundle::from_bytes(&legacy.bundle(&business, None)?.to_bytes())?;
/// assert_eq!(bundle.clone().verify().unwrap_err(), BundleError::MissingKemPreKey);
/// let session = Session::initiate(&customer, &bundle.verify_allowing_classical()?, &mut rng)?;
/// assert!(!session.is_post_quantum());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostQuantum {
    /// Publish ML-KEM-768 prekeys and reject classical prekey messages with
    /// [`HandshakeError::PostQuantumRequired`](crate::HandshakeError::PostQuantumRequired).
    /// The default.
    #[default]
    Required,
    /// Publish ML-KEM-768 prekeys but still accept classical prekey messages, from initiators
    /// that do not speak PQXDH yet. Those sessions have no post-quantum protection
    /// ([`Session::is_post_quantum`](crate::Session::is_post_quantum) tells).
    Offered,
    /// Classical X3DH only: no ML-KEM prekeys are made or published.
    Disabled,
}

/// An ML-KEM prekey as published in a bundle.
#[derive(Clone, PartialEq, Eq)]
struct KemPreKeyPublic {
    id: u32,
    public: Box<[u8; KEM_PUBLIC_KEY_LEN]>,
    signature: [u8; 64],
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
    kem_prekey: Option<KemPreKeyPublic>,
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
            .field("kem_prekey_id", &self.kem_prekey.as_ref().map(|k| k.id))
            .finish_non_exhaustive()
    }
}

impl PreKeyBundle {
    /// Decodes a bundle (`wire.proto` `PreKeyBundle`), checking field lengths only.
    ///
    /// # Errors
    /// [`BundleError::Malformed`] if the bytes are not a bundle with correctly sized fields.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() > MAX_BUNDLE_SIZE {
            return Err(BundleError::Malformed);
        }
        let p = proto::wire::PreKeyBundle::decode(bytes).map_err(|_| BundleError::Malformed)?;
        let arr32 = |v: &[u8]| <[u8; 32]>::try_from(v).map_err(|_| BundleError::Malformed);
        let one_time_prekey = match (p.one_time_prekey_id, p.one_time_prekey.is_empty()) {
            (None, true) => None,
            (Some(id), false) => Some((id, arr32(&p.one_time_prekey)?)),
            _ => return Err(BundleError::Malformed),
        };
        let kem_prekey = match p.kem_prekey_id {
            None if p.kem_prekey.is_empty() && p.kem_prekey_signature.is_empty() => None,
            Some(id) => Some(KemPreKeyPublic {
                id,
                public: Box::new(
                    p.kem_prekey
                        .as_slice()
                        .try_into()
                        .map_err(|_| BundleError::Malformed)?,
                ),
                signature: p
                    .kem_prekey_signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| BundleError::Malformed)?,
            }),
            None => return Err(BundleError::Malformed),
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
            kem_prekey,
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
            kem_prekey_id: self.kem_prekey.as_ref().map(|k| k.id),
            kem_prekey: self
                .kem_prekey
                .as_ref()
                .map(|k| k.public.to_vec())
                .unwrap_or_default(),
            kem_prekey_signature: self
                .kem_prekey
                .as_ref()
                .map(|k| k.signature.to_vec())
                .unwrap_or_default(),
        }
        .encode_to_vec()
    }

    /// Whether the bundle carries an ML-KEM prekey (the post-quantum handshake).
    pub fn has_kem_prekey(&self) -> bool {
        self.kem_prekey.is_some()
    }

    /// Validates the identity key, checks the signed prekey's and the ML-KEM prekey's
    /// signatures under it and the ML-KEM key's encoding, and requires the ML-KEM prekey: a
    /// bundle without one is refused, so a relay that strips it cannot silently downgrade the
    /// session to classical X3DH.
    ///
    /// # Errors
    /// [`BundleError::MissingKemPreKey`], or as
    /// [`verify_allowing_classical`](Self::verify_allowing_classical).
    pub fn verify(self) -> Result<VerifiedBundle, BundleError> {
        if self.kem_prekey.is_none() {
            return Err(BundleError::MissingKemPreKey);
        }
        self.verify_allowing_classical()
    }

    /// Like [`verify`](Self::verify), but also accepts a bundle without an ML-KEM prekey
    /// (a responder that does not speak PQXDH); the session then has no post-quantum
    /// protection. A bundle that has an ML-KEM prekey is still always used with it.
    ///
    /// # Errors
    /// [`BundleError::InvalidIdentity`], [`BundleError::BadSignature`],
    /// [`BundleError::BadKemSignature`] or [`BundleError::InvalidKemPreKey`].
    pub fn verify_allowing_classical(self) -> Result<VerifiedBundle, BundleError> {
        let identity =
            IdentityKey::from_bytes(&self.identity).map_err(BundleError::InvalidIdentity)?;
        // One decompression of the identity for both signatures.
        let verifier = identity.verifier().map_err(|_| BundleError::BadSignature)?;
        verifier
            .verify(
                &signed_prekey_message(self.signed_prekey_id, &self.signed_prekey),
                &self.signature,
            )
            .map_err(|_| BundleError::BadSignature)?;
        if let Some(k) = &self.kem_prekey {
            verifier
                .verify(&kem_prekey_message(k.id, &k.public), &k.signature)
                .map_err(|_| BundleError::BadKemSignature)?;
            if !kem::is_valid_public_key(&k.public) {
                return Err(BundleError::InvalidKemPreKey);
            }
        }
        Ok(VerifiedBundle {
            identity,
            signed_prekey_id: self.signed_prekey_id,
            signed_prekey: self.signed_prekey,
            one_time_prekey: self.one_time_prekey,
            kem_prekey: self.kem_prekey.map(|k| (k.id, k.public)),
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

/// A bundle whose signatures verified under its identity key: the only thing that can start a
/// session ([`Session::initiate`](crate::Session::initiate)).
#[derive(Clone)]
pub struct VerifiedBundle {
    identity: IdentityKey,
    signed_prekey_id: u32,
    signed_prekey: [u8; 32],
    one_time_prekey: Option<(u32, [u8; 32])>,
    kem_prekey: Option<(u32, Box<[u8; KEM_PUBLIC_KEY_LEN]>)>,
}

impl core::fmt::Debug for VerifiedBundle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VerifiedBundle")
            .field("identity", &self.identity)
            .field("signed_prekey_id", &self.signed_prekey_id)
            .field("one_time_prekey_id", &self.one_time_prekey_id())
            .field("kem_prekey_id", &self.kem_prekey_id())
            .finish_non_exhaustive()
    }
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

    /// The ML-KEM prekey's id, if the bundle has one.
    pub fn kem_prekey_id(&self) -> Option<u32> {
        self.kem_prekey.as_ref().map(|(id, _)| *id)
    }

    /// Whether a session started from this bundle uses the post-quantum handshake (PQXDH):
    /// exactly when the bundle has an ML-KEM prekey.
    pub fn is_post_quantum(&self) -> bool {
        self.kem_prekey.is_some()
    }

    pub(crate) fn signed_prekey(&self) -> &[u8; 32] {
        &self.signed_prekey
    }

    pub(crate) fn kem_prekey(&self) -> Option<&(u32, Box<[u8; KEM_PUBLIC_KEY_LEN]>)> {
        self.kem_prekey.as_ref()
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
    /// The last-resort ML-KEM prekey published with this signed prekey.
    last_resort_kem: Option<KemPreKey>,
}

/// A private ML-KEM prekey: its seed and the identity's signature over its public key.
#[derive(Clone)]
struct KemPreKey {
    id: u32,
    seed: KemSeed,
    signature: [u8; 64],
}

impl KemPreKey {
    fn generate<R: CryptoRng + ?Sized>(id: u32, identity: &IdentityKeyPair, rng: &mut R) -> Self {
        let seed = KemSeed::generate(rng);
        let signature = identity.sign(&kem_prekey_message(id, &seed.public_key()));
        KemPreKey {
            id,
            seed,
            signature,
        }
    }

    fn public(&self) -> KemPreKeyPublic {
        KemPreKeyPublic {
            id: self.id,
            public: self.seed.public_key(),
            signature: self.signature,
        }
    }

    fn to_proto(&self) -> proto::state::KemPreKeyRecord {
        proto::state::KemPreKeyRecord {
            id: self.id,
            seed: self.seed.as_bytes().to_vec(),
            signature: self.signature.to_vec(),
        }
    }

    fn from_proto(r: &proto::state::KemPreKeyRecord) -> Result<Self, StateError> {
        Ok(KemPreKey {
            id: r.id,
            seed: KemSeed::from_slice(&r.seed).ok_or(StateError::Malformed)?,
            signature: r
                .signature
                .as_slice()
                .try_into()
                .map_err(|_| StateError::Malformed)?,
        })
    }
}

/// A responder's private prekeys: signed prekeys (the current one last, older ones kept for a
/// grace period at the caller's discretion) and unused one-time prekeys.
///
/// Persist it with [`to_bytes`](Self::to_bytes) after every change; [`revision`](Self::revision)
/// increases with each, for compare-and-swap in a shared store.
#[derive(Clone, Default)]
pub struct PreKeys {
    revision: u64,
    post_quantum: PostQuantum,
    // The secrets are boxed so that only pointers move: a removal from the `Vec` or a map's
    // rebalancing would otherwise copy keys within the container and leave copies in the
    // slots and nodes it frees (found by `tests/secrets.rs`).
    #[allow(
        clippy::vec_box,
        reason = "a signed prekey must not move when the Vec shifts"
    )]
    signed: Vec<Box<SignedPreKey>>,
    one_time: BTreeMap<u32, Box<DhKeyPair>>,
    one_time_kem: BTreeMap<u32, Box<KemPreKey>>,
    next_one_time_id: u32,
    next_signed_id: u32,
    next_kem_id: u32,
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
            .field("post_quantum", &self.post_quantum)
            .field("one_time_kem_prekeys", &self.one_time_kem.len())
            .finish_non_exhaustive()
    }
}

impl PreKeys {
    /// An empty set of prekeys for a responder that requires the post-quantum handshake
    /// ([`PostQuantum::Required`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set of prekeys with the given post-quantum policy.
    pub fn with_post_quantum(policy: PostQuantum) -> Self {
        PreKeys {
            post_quantum: policy,
            ..Self::default()
        }
    }

    /// This responder's post-quantum policy.
    pub fn post_quantum(&self) -> PostQuantum {
        self.post_quantum
    }

    /// Increases on every change.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Generates a signed prekey, signs it with `identity`, makes it the current one and returns
    /// its id. `created_at` is the caller's clock (sealpost reads none), kept for rotation policy.
    ///
    /// Unless the policy is [`PostQuantum::Disabled`], a last-resort ML-KEM prekey is made and
    /// signed with it (they are published and rotated together); its id comes from the
    /// ML-KEM prekey ids. Draws 32 bytes from `rng`, plus 64 for the ML-KEM seed.
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
        let last_resort_kem = (self.post_quantum != PostQuantum::Disabled).then(|| {
            let kem_id = self.fresh_kem_id();
            self.next_kem_id = kem_id.wrapping_add(1);
            KemPreKey::generate(kem_id, identity, rng)
        });
        self.signed.push(Box::new(SignedPreKey {
            id,
            pair,
            signature,
            created_at,
            accepted: AcceptedBaseKeys::default(),
            last_resort_kem,
        }));
        self.next_signed_id = id.wrapping_add(1);
        self.revision += 1;
        Ok(id)
    }

    fn kem_id_in_use(&self, id: u32) -> bool {
        self.one_time_kem.contains_key(&id)
            || self
                .signed
                .iter()
                .any(|s| s.last_resort_kem.as_ref().is_some_and(|k| k.id == id))
    }

    fn fresh_kem_id(&self) -> u32 {
        let mut id = self.next_kem_id;
        while self.kem_id_in_use(id) {
            id = id.wrapping_add(1);
        }
        id
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
            self.one_time.insert(id, Box::new(DhKeyPair::generate(rng)));
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

    /// Generates `count` signed one-time ML-KEM prekeys and returns their ids. Each is used for
    /// at most one session; publish them for [`bundle_with_kem_prekey`](Self::bundle_with_kem_prekey).
    /// Draws 64 bytes from `rng` per key.
    ///
    /// # Errors
    /// [`PreKeyError::PostQuantumDisabled`], or [`PreKeyError::LimitReached`] if the total
    /// would pass `MAX_ONE_TIME_KEM_PREKEYS`.
    pub fn generate_one_time_kem_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        identity: &IdentityKeyPair,
        count: usize,
        rng: &mut R,
    ) -> Result<Vec<u32>, PreKeyError> {
        if self.post_quantum == PostQuantum::Disabled {
            return Err(PreKeyError::PostQuantumDisabled);
        }
        if self.one_time_kem.len().saturating_add(count) > MAX_ONE_TIME_KEM_PREKEYS {
            return Err(PreKeyError::LimitReached);
        }
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let id = self.fresh_kem_id();
            self.one_time_kem
                .insert(id, Box::new(KemPreKey::generate(id, identity, rng)));
            self.next_kem_id = id.wrapping_add(1);
            ids.push(id);
        }
        self.revision += 1;
        Ok(ids)
    }

    /// Ids of the unused one-time ML-KEM prekeys.
    pub fn one_time_kem_prekey_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.one_time_kem.keys().copied()
    }

    /// The id of the current signed prekey's last-resort ML-KEM prekey, if there is one.
    pub fn last_resort_kem_prekey_id(&self) -> Option<u32> {
        self.signed
            .last()
            .and_then(|s| s.last_resort_kem.as_ref())
            .map(|k| k.id)
    }

    /// The public bundle for the current signed prekey, its last-resort ML-KEM prekey (unless
    /// post-quantum prekeys are disabled) and, if given, one one-time prekey.
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
        let kem = spk.last_resort_kem.as_ref();
        self.bundle_inner(identity, one_time_prekey_id, kem)
    }

    /// Like [`bundle`](Self::bundle), with the one-time ML-KEM prekey `kem_prekey_id` in place
    /// of the last-resort one.
    ///
    /// # Errors
    /// As [`bundle`](Self::bundle), plus [`PreKeyError::UnknownKemPreKey`] for an id that is
    /// not an unused one-time ML-KEM prekey.
    pub fn bundle_with_kem_prekey(
        &self,
        identity: &IdentityKeyPair,
        one_time_prekey_id: Option<u32>,
        kem_prekey_id: u32,
    ) -> Result<PreKeyBundle, PreKeyError> {
        let kem = self
            .one_time_kem
            .get(&kem_prekey_id)
            .ok_or(PreKeyError::UnknownKemPreKey(kem_prekey_id))?;
        self.bundle_inner(identity, one_time_prekey_id, Some(&**kem))
    }

    fn bundle_inner(
        &self,
        identity: &IdentityKeyPair,
        one_time_prekey_id: Option<u32>,
        kem: Option<&KemPreKey>,
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
            kem_prekey: kem.map(KemPreKey::public),
        })
    }

    pub(crate) fn signed_prekey(&self, id: u32) -> Option<&DhKeyPair> {
        self.signed.iter().find(|s| s.id == id).map(|s| &s.pair)
    }

    pub(crate) fn one_time_prekey(&self, id: u32) -> Option<&DhKeyPair> {
        self.one_time.get(&id).map(|k| &**k)
    }

    /// The seed of an ML-KEM prekey: an unused one-time one, or a last-resort one.
    pub(crate) fn kem_prekey(&self, id: u32) -> Option<&KemSeed> {
        if let Some(k) = self.one_time_kem.get(&id) {
            return Some(&k.seed);
        }
        self.signed
            .iter()
            .filter_map(|s| s.last_resort_kem.as_ref())
            .find(|k| k.id == id)
            .map(|k| &k.seed)
    }

    pub(crate) fn was_accepted(&self, signed_prekey_id: u32, base_key: &[u8; 32]) -> bool {
        self.signed
            .iter()
            .find(|s| s.id == signed_prekey_id)
            .is_some_and(|s| s.accepted.set.contains(base_key))
    }

    /// Records a prekey message that authenticated: consumes its one-time prekey and one-time
    /// ML-KEM prekey and remembers its base key. Called only after the inner message decrypted.
    pub(crate) fn commit_accept(
        &mut self,
        signed_prekey_id: u32,
        one_time_prekey_id: Option<u32>,
        kem_prekey_id: Option<u32>,
        base_key: [u8; 32],
    ) {
        if let Some(id) = one_time_prekey_id {
            self.one_time.remove(&id);
        }
        if let Some(id) = kem_prekey_id {
            // A last-resort id is not in this map and stays.
            self.one_time_kem.remove(&id);
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
                    last_resort_kem_prekey: s.last_resort_kem.as_ref().map(KemPreKey::to_proto),
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
            one_time_kem_prekeys: self.one_time_kem.values().map(|k| k.to_proto()).collect(),
            next_kem_prekey_id: self.next_kem_id,
            post_quantum: match self.post_quantum {
                PostQuantum::Disabled => proto::state::PostQuantumPolicy::PostQuantumDisabled,
                PostQuantum::Offered => proto::state::PostQuantumPolicy::PostQuantumOffered,
                PostQuantum::Required => proto::state::PostQuantumPolicy::PostQuantumRequired,
            } as i32,
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
        precheck_prekeys(bytes)?;
        let r = decode_secret::<proto::state::PreKeysRecord>(bytes)
            .map_err(|_| StateError::Malformed)?;
        if r.version != STATE_VERSION {
            return Err(StateError::UnknownVersion(r.version));
        }
        if r.signed_prekeys.len() > MAX_SIGNED_PREKEYS
            || r.one_time_prekeys.len() > MAX_ONE_TIME_PREKEYS
            || r.one_time_kem_prekeys.len() > MAX_ONE_TIME_KEM_PREKEYS
        {
            return Err(StateError::LimitExceeded);
        }
        let post_quantum = match proto::state::PostQuantumPolicy::try_from(r.post_quantum) {
            Ok(proto::state::PostQuantumPolicy::PostQuantumDisabled) => PostQuantum::Disabled,
            Ok(proto::state::PostQuantumPolicy::PostQuantumOffered) => PostQuantum::Offered,
            Ok(proto::state::PostQuantumPolicy::PostQuantumRequired) => PostQuantum::Required,
            Err(_) => return Err(StateError::Malformed),
        };
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
            signed.push(Box::new(SignedPreKey {
                id: s.id,
                pair: DhKeyPair::from_secret_slice(&s.secret).ok_or(StateError::Malformed)?,
                signature: s
                    .signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| StateError::Malformed)?,
                created_at: s.created_at,
                accepted,
                last_resort_kem: s
                    .last_resort_kem_prekey
                    .as_ref()
                    .map(KemPreKey::from_proto)
                    .transpose()?,
            }));
        }
        let mut kem_ids = HashSet::new();
        for s in &signed {
            // A policy that makes ML-KEM prekeys gives every signed prekey one; ids are unique.
            match (&s.last_resort_kem, post_quantum) {
                (None, PostQuantum::Disabled) => {}
                (Some(k), PostQuantum::Offered | PostQuantum::Required) => {
                    if !kem_ids.insert(k.id) {
                        return Err(StateError::Malformed);
                    }
                }
                _ => return Err(StateError::Malformed),
            }
        }
        let mut one_time_kem = BTreeMap::new();
        if post_quantum == PostQuantum::Disabled && !r.one_time_kem_prekeys.is_empty() {
            return Err(StateError::Malformed);
        }
        for k in &r.one_time_kem_prekeys {
            let k = KemPreKey::from_proto(k)?;
            if !kem_ids.insert(k.id) {
                return Err(StateError::Malformed);
            }
            one_time_kem.insert(k.id, Box::new(k));
        }
        let mut one_time = BTreeMap::new();
        for k in &r.one_time_prekeys {
            let pair = DhKeyPair::from_secret_slice(&k.secret).ok_or(StateError::Malformed)?;
            if one_time.insert(k.id, Box::new(pair)).is_some() {
                return Err(StateError::Malformed);
            }
        }
        Ok(PreKeys {
            revision: r.revision,
            post_quantum,
            signed,
            one_time,
            one_time_kem,
            next_one_time_id: r.next_one_time_prekey_id,
            next_signed_id: r.next_signed_prekey_id,
            next_kem_id: r.next_kem_prekey_id,
        })
    }
}

/// Bounds a `PreKeysRecord`'s repeated fields on its bytes before prost decodes it
/// (`crate::precheck`): every count within its limit and every element at least as long as a
/// valid one, so decoding costs a small multiple of the input.
fn precheck_prekeys(bytes: &[u8]) -> Result<(), StateError> {
    use crate::precheck::{self, Rule};
    // A 34-byte secret field and a 66-byte signature field; a 34-byte secret field; a 66-byte
    // seed field and a 66-byte signature field; a 32-byte base key.
    const MIN_SIGNED: usize = 100;
    const MIN_ONE_TIME: usize = 34;
    const MIN_KEM: usize = 132;
    const BASE_KEY: usize = 32;
    precheck::check(
        bytes,
        [
            Rule::elements(3, MAX_SIGNED_PREKEYS, MIN_SIGNED),
            Rule::elements(4, MAX_ONE_TIME_PREKEYS, MIN_ONE_TIME),
            Rule::elements(7, MAX_ONE_TIME_KEM_PREKEYS, MIN_KEM),
        ],
        |rule, element| {
            if rule == 0 {
                precheck::check(
                    element,
                    [
                        Rule::elements(5, MAX_ACCEPTED_BASE_KEYS, BASE_KEY),
                        Rule::elements(6, 1, MIN_KEM),
                    ],
                    |_, _| Ok(()),
                )?;
            }
            Ok(())
        },
    )
    .map(|_| ())
    .map_err(crate::state::precheck_error)
}

impl Drop for proto::state::SignedPreKeyRecord {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl Drop for proto::state::KemPreKeyRecord {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl Drop for proto::state::OneTimePreKeyRecord {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}
