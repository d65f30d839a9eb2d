//! Persisted session state: `proto/state.proto` `SessionState` (PROTOCOL.md §6).
//!
//! Decoding bounds the record's size before parsing and every count against the protocol
//! limits before building the live state, and validates every key it restores (identity keys
//! of records opened with the storage key only as far as [`Origin::Sealed`] says).

use std::collections::{BTreeMap, VecDeque};

use prost::Message;
use prost::bytes::Bytes;
use zeroize::{Zeroize, Zeroizing};

use crate::consts::{MAX_RECEIVING_CHAINS, MAX_RECORD_SIZE, MAX_SKIPPED_KEYS, STATE_VERSION};
use crate::error::StateError;
use crate::kdf::{ChainKey, MessageKey, RootKey, TagKey};
use crate::keys::{DhKeyPair, IdentityKey};
use crate::precheck::{self, Precheck, Rule};
use crate::ratchet::{Ratchet, ReceivingChain, SendingChain, aad_prefix};
use crate::session::Session;
use crate::wire::{PreKeyFields, proto::state as pb};

/// Decodes a message that holds secrets without leaving copies of them in freed memory. Every
/// record with a secret in it is decoded through here: identities, session states and records,
/// prekeys, and the group records and control messages.
///
/// prost decodes each `bytes` field of a `&[u8]` input through `Buf::copy_to_bytes`, which
/// for a slice allocates a temporary copy of the field and frees it unwiped: every key of a
/// record stayed behind in freed heap (found by `tests/secrets.rs`). From a `Bytes` the same
/// call is a zero-copy slice; the one copy of the input made here is wiped when the last
/// slice of it goes, and the decoded fields are wiped by the prost structs' `Drop` impls (below,
/// in `prekey.rs` and in `group/state.rs`).
pub(crate) fn decode_secret<M: Message + Default>(bytes: &[u8]) -> Result<M, prost::DecodeError> {
    M::decode(Bytes::from_owner(Zeroizing::new(bytes.to_vec())))
}

pub(crate) fn session_to_proto(s: &Session) -> pb::SessionState {
    let r = &s.ratchet;
    pb::SessionState {
        version: STATE_VERSION,
        local_identity: s.local_identity.to_bytes().to_vec(),
        remote_identity: s.remote_identity.to_bytes().to_vec(),
        initiator: s.initiator,
        root_key: r.root_key.as_bytes().to_vec(),
        tag_key: r.tag_key.as_bytes().to_vec(),
        ratchet_secret: r.ratchet.secret_bytes().to_vec(),
        ratchet_public: r.ratchet.public().to_vec(),
        sending: r.sending.as_ref().map(|c| pb::SendingChain {
            chain_key: c.chain_key.as_bytes().to_vec(),
            counter: c.counter,
        }),
        previous_counter: r.previous_counter,
        receiving: r
            .receiving
            .iter()
            .map(|c| pb::ReceivingChain {
                ratchet_key: c.ratchet_key.to_vec(),
                chain_key: c.chain_key.as_bytes().to_vec(),
                counter: c.counter,
                skipped: c
                    .skipped
                    .iter()
                    .map(|(n, mk)| pb::SkippedKey {
                        counter: *n,
                        message_key: mk.as_bytes().to_vec(),
                    })
                    .collect(),
            })
            .collect(),
        pending_prekey: s.pending_prekey.as_ref().map(|p| pb::PendingPreKey {
            base_key: p.base_key.to_vec(),
            signed_prekey_id: p.signed_prekey_id,
            one_time_prekey_id: p.one_time_prekey_id,
            kem_prekey_id: p.kem.as_ref().map(|(id, _)| *id),
            kem_ciphertext: p
                .kem
                .as_ref()
                .map(|(_, ct)| ct.to_vec())
                .unwrap_or_default(),
        }),
        base_key: s.base_key.to_vec(),
        signed_prekey_id: s.prekey_ids.0,
        one_time_prekey_id: s.prekey_ids.1,
        kem_prekey_id: s.kem_prekey_id,
        kem_ciphertext_digest: s
            .kem_ciphertext_digest
            .map(|d| d.to_vec())
            .unwrap_or_default(),
    }
}

pub(crate) fn encode_session(s: &Session) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(session_to_proto(s).encode_to_vec())
}

pub(crate) fn decode_session(bytes: &[u8]) -> Result<Session, StateError> {
    if bytes.len() > MAX_RECORD_SIZE {
        return Err(StateError::TooLarge);
    }
    precheck_session(bytes)?;
    let p = decode_secret::<pb::SessionState>(bytes).map_err(|_| StateError::Malformed)?;
    session_from_proto_cached(&p, &mut IdentityCache::new(Origin::Untrusted))
}

/// A precheck failure as the state error a decoded record with the same fault gives.
pub(crate) fn precheck_error(e: Precheck) -> StateError {
    match e {
        Precheck::TooMany => StateError::LimitExceeded,
        Precheck::Malformed => StateError::Malformed,
    }
}

/// Bounds a `SessionState`'s repeated fields on its bytes before prost decodes it
/// (`crate::precheck`): at most `MAX_RECEIVING_CHAINS` chains, `MAX_SKIPPED_KEYS` skipped keys
/// over all of them, and every element at least as long as a valid one (a chain holds two
/// 32-byte keys, a skipped key one), so decoding costs a small multiple of the input.
pub(crate) fn precheck_session(bytes: &[u8]) -> Result<(), StateError> {
    // Two 34-byte key fields; one 34-byte key field.
    const MIN_CHAIN: usize = 68;
    const MIN_SKIPPED: usize = 34;
    let mut skipped = 0usize;
    precheck::check(
        bytes,
        [Rule::elements(10, MAX_RECEIVING_CHAINS, MIN_CHAIN)],
        |_, chain| {
            let [n] = precheck::check(
                chain,
                [Rule::elements(4, MAX_SKIPPED_KEYS, MIN_SKIPPED)],
                |_, _| Ok(()),
            )?;
            skipped += n;
            if skipped > MAX_SKIPPED_KEYS {
                return Err(Precheck::TooMany);
            }
            Ok(())
        },
    )
    .map(|_| ())
    .map_err(precheck_error)
}

/// Where the bytes of a session record come from, which decides how its identity keys are
/// checked (PROTOCOL.md §6.4). Every other check of decoding applies to both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Anywhere (`from_bytes`): identity keys get the full validation, V1.
    Untrusted,
    /// The plaintext of a record opened with the storage key: the AEAD proves sealpost sealed
    /// it, and sealpost seals only identity keys that passed V1, so only their lengths and
    /// encodings are checked again (the curve checks cost ~30 µs per key).
    Sealed,
}

fn key32(b: &[u8]) -> Result<[u8; 32], StateError> {
    b.try_into().map_err(|_| StateError::Malformed)
}

/// Identity keys already checked while decoding one record: a record holds up to 41 sessions
/// with the same two identities, and validating an untrusted key costs a scalar multiplication.
pub(crate) struct IdentityCache {
    origin: Origin,
    keys: Vec<IdentityKey>,
}

impl IdentityCache {
    pub(crate) fn new(origin: Origin) -> Self {
        IdentityCache {
            origin,
            keys: Vec::new(),
        }
    }

    pub(crate) fn get(&mut self, bytes: &[u8]) -> Result<IdentityKey, StateError> {
        if let Some(k) = self.keys.iter().find(|k| k.as_bytes().as_slice() == bytes) {
            return Ok(*k);
        }
        let k = IdentityKey::from_state(bytes, self.origin).map_err(StateError::InvalidKey)?;
        self.keys.push(k);
        Ok(k)
    }
}

pub(crate) fn session_from_proto_cached(
    p: &pb::SessionState,
    identities: &mut IdentityCache,
) -> Result<Session, StateError> {
    if p.version != STATE_VERSION {
        return Err(StateError::UnknownVersion(p.version));
    }
    if p.receiving.len() > MAX_RECEIVING_CHAINS {
        return Err(StateError::LimitExceeded);
    }
    let skipped_count: usize = p.receiving.iter().map(|c| c.skipped.len()).sum();
    if skipped_count > MAX_SKIPPED_KEYS {
        return Err(StateError::LimitExceeded);
    }
    let local_identity = identities.get(&p.local_identity)?;
    let remote_identity = identities.get(&p.remote_identity)?;
    let root_key = RootKey::from_slice(&p.root_key).ok_or(StateError::Malformed)?;
    let tag_key = TagKey::from_slice(&p.tag_key).ok_or(StateError::Malformed)?;
    let ratchet = if p.ratchet_public.is_empty() {
        DhKeyPair::from_secret_slice(&p.ratchet_secret)
    } else {
        DhKeyPair::from_stored(&p.ratchet_secret, &p.ratchet_public)
    }
    .ok_or(StateError::Malformed)?;
    let sending = match &p.sending {
        None => None,
        Some(c) => Some(SendingChain {
            chain_key: ChainKey::from_slice(&c.chain_key).ok_or(StateError::Malformed)?,
            counter: c.counter,
            tag: tag_key.tag(ratchet.public()),
        }),
    };
    let mut receiving: VecDeque<Box<ReceivingChain>> = VecDeque::with_capacity(p.receiving.len());
    for c in &p.receiving {
        let mut skipped = BTreeMap::new();
        for k in &c.skipped {
            if k.counter >= c.counter {
                return Err(StateError::Malformed);
            }
            let mk = MessageKey::from_slice(&k.message_key).ok_or(StateError::Malformed)?;
            if skipped.insert(k.counter, Box::new(mk)).is_some() {
                return Err(StateError::Malformed);
            }
        }
        let ratchet_key = key32(&c.ratchet_key)?;
        if receiving.iter().any(|r| r.ratchet_key == ratchet_key) {
            return Err(StateError::Malformed);
        }
        receiving.push_back(Box::new(ReceivingChain {
            ratchet_key,
            chain_key: ChainKey::from_slice(&c.chain_key).ok_or(StateError::Malformed)?,
            counter: c.counter,
            skipped,
        }));
    }
    if sending.is_none() && receiving.is_empty() {
        // Nothing to send or receive on: not a state any session passes through.
        return Err(StateError::Malformed);
    }
    let base_key = canonical_base_key(&p.base_key)?;
    let pending_prekey = match &p.pending_prekey {
        None => None,
        Some(pp) if p.initiator => {
            let kem = match (pp.kem_prekey_id, pp.kem_ciphertext.as_slice()) {
                (None, []) => None,
                (Some(id), ct) => Some((
                    id,
                    Box::new(ct.try_into().map_err(|_| StateError::Malformed)?),
                )),
                (None, _) => return Err(StateError::Malformed),
            };
            // The prekey messages must name the ML-KEM prekey the session was built with.
            if kem.as_ref().map(|(id, _)| *id) != p.kem_prekey_id {
                return Err(StateError::Malformed);
            }
            Some(PreKeyFields {
                identity: local_identity.to_bytes(),
                base_key: canonical_base_key(&pp.base_key)?,
                signed_prekey_id: pp.signed_prekey_id,
                one_time_prekey_id: pp.one_time_prekey_id,
                kem,
            })
        }
        Some(_) => return Err(StateError::Malformed),
    };
    // A responder's PQXDH session keeps the digest of the ciphertext it accepted; nothing
    // else has one.
    let kem_ciphertext_digest = match (p.initiator, p.kem_prekey_id, &p.kem_ciphertext_digest[..]) {
        (_, _, []) if p.initiator || p.kem_prekey_id.is_none() => None,
        (false, Some(_), d) => Some(key32(d)?),
        _ => return Err(StateError::Malformed),
    };
    let ad = if p.initiator {
        concat(&local_identity, &remote_identity)
    } else {
        concat(&remote_identity, &local_identity)
    };
    Ok(Session {
        local_identity,
        remote_identity,
        initiator: p.initiator,
        base_key,
        prekey_ids: (p.signed_prekey_id, p.one_time_prekey_id),
        kem_prekey_id: p.kem_prekey_id,
        kem_ciphertext_digest,
        pending_prekey,
        ratchet: Ratchet {
            root_key,
            tag_key,
            ratchet,
            sending,
            previous_counter: p.previous_counter,
            receiving,
            skipped_count,
            aad_prefix: aad_prefix(&ad),
        },
    })
}

pub(crate) fn encode_identity(seed: &[u8; 32]) -> Zeroizing<Vec<u8>> {
    let record = pb::IdentityRecord {
        version: STATE_VERSION,
        seed: seed.to_vec(),
    };
    Zeroizing::new(record.encode_to_vec())
}

pub(crate) fn decode_identity(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, StateError> {
    if bytes.len() > 128 {
        return Err(StateError::TooLarge);
    }
    let r = decode_secret::<pb::IdentityRecord>(bytes).map_err(|_| StateError::Malformed)?;
    if r.version != STATE_VERSION {
        return Err(StateError::UnknownVersion(r.version));
    }
    Ok(Zeroizing::new(key32(&r.seed)?))
}

/// Base keys are sent in prekey messages, whose parser refuses non-canonical encodings (V3a):
/// a stored one must be canonical too, or the session would emit messages nobody can parse.
fn canonical_base_key(b: &[u8]) -> Result<[u8; 32], StateError> {
    let k = key32(b)?;
    if crate::wire::is_canonical_x25519(&k) {
        Ok(k)
    } else {
        Err(StateError::Malformed)
    }
}

fn concat(a: &IdentityKey, b: &IdentityKey) -> [u8; 64] {
    let mut ad = [0u8; 64];
    ad[..32].copy_from_slice(a.as_bytes());
    ad[32..].copy_from_slice(b.as_bytes());
    ad
}

// The prost structs hold copies of secrets while encoding and decoding: wipe them on drop.
impl Drop for pb::SessionState {
    fn drop(&mut self) {
        self.root_key.zeroize();
        self.tag_key.zeroize();
        self.ratchet_secret.zeroize();
    }
}

impl Drop for pb::SendingChain {
    fn drop(&mut self) {
        self.chain_key.zeroize();
    }
}

impl Drop for pb::ReceivingChain {
    fn drop(&mut self) {
        self.chain_key.zeroize();
    }
}

impl Drop for pb::SkippedKey {
    fn drop(&mut self) {
        self.message_key.zeroize();
    }
}

impl Drop for pb::IdentityRecord {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}
