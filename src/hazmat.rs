//! Low-level building blocks, for test vectors and interoperability work only.
//!
//! Enabled by the `hazmat` feature. Nothing here is needed to use the protocol, and every
//! function hands out secret bytes: misuse breaks the guarantees the rest of the crate gives.
//! Each function is one formula of PROTOCOL.md, named after it.

use crate::error::HandshakeError;
use crate::kdf::{ChainKey, MessageKey, RootKey, TagKey};
use crate::keys::{DhKeyPair, IdentityKey, IdentityKeyPair};
use crate::prekey::{PreKeys, VerifiedBundle};
use crate::session::Session;
use crate::wire::{Header, PreKeyFields};

/// Intermediate values of an X3DH run.
#[derive(Clone, Debug)]
pub struct X3dhValues {
    /// DH1..DH3, and DH4 when a one-time prekey was used.
    pub dh: Vec<[u8; 32]>,
    /// SK.
    pub shared_secret: [u8; 32],
    /// AD = IK_A || IK_B.
    pub associated_data: [u8; 64],
}

/// X3DH from the initiator's side with an explicit ephemeral secret (PROTOCOL.md §3).
///
/// # Errors
/// [`HandshakeError::NonContributory`].
pub fn x3dh_initiator(
    identity: &IdentityKeyPair,
    ephemeral_secret: &[u8; 32],
    bundle: &VerifiedBundle,
) -> Result<X3dhValues, HandshakeError> {
    let ek = DhKeyPair::from_secret_bytes(ephemeral_secret);
    let dh = crate::x3dh::initiator_dh(identity, &ek, bundle)?;
    let a = crate::x3dh::Agreement::new(&dh, None, identity.public_key(), bundle.identity());
    Ok(X3dhValues {
        dh: dh.0.iter().flatten().map(|s| s.to_bytes()).collect(),
        shared_secret: a.shared_secret.0,
        associated_data: a.associated_data,
    })
}

/// X3DH from the responder's side (PROTOCOL.md §3).
///
/// # Errors
/// [`HandshakeError::NonContributory`].
pub fn x3dh_responder(
    identity: &IdentityKeyPair,
    signed_prekey_secret: &[u8; 32],
    one_time_prekey_secret: Option<&[u8; 32]>,
    initiator: &IdentityKey,
    base_key: &[u8; 32],
) -> Result<X3dhValues, HandshakeError> {
    let spk = DhKeyPair::from_secret_bytes(signed_prekey_secret);
    let opk = one_time_prekey_secret.map(DhKeyPair::from_secret_bytes);
    let dh = crate::x3dh::responder_dh(identity, &spk, opk.as_ref(), initiator, base_key)?;
    let a = crate::x3dh::Agreement::new(&dh, None, initiator, identity.public_key());
    Ok(X3dhValues {
        dh: dh.0.iter().flatten().map(|s| s.to_bytes()).collect(),
        shared_secret: a.shared_secret.0,
        associated_data: a.associated_data,
    })
}

/// Intermediate values of a PQXDH run (PROTOCOL.md §3b).
#[derive(Clone, Debug)]
pub struct PqxdhValues {
    /// DH1..DH3, and DH4 when a one-time prekey was used.
    pub dh: Vec<[u8; 32]>,
    /// The ML-KEM-768 ciphertext (1088 bytes).
    pub kem_ciphertext: Vec<u8>,
    /// SS, the ML-KEM shared secret.
    pub kem_shared_secret: [u8; 32],
    /// SK.
    pub shared_secret: [u8; 32],
    /// AD = IK_A || IK_B.
    pub associated_data: [u8; 64],
}

/// PQXDH from the initiator's side with an explicit ephemeral secret and ML-KEM
/// encapsulation randomness `m` (FIPS 203 `ML-KEM.Encaps_internal`).
///
/// # Errors
/// [`HandshakeError::NonContributory`], or [`HandshakeError::PostQuantumRequired`] if the
/// bundle has no ML-KEM prekey.
pub fn pqxdh_initiator(
    identity: &IdentityKeyPair,
    ephemeral_secret: &[u8; 32],
    encapsulation_randomness: &[u8; 32],
    bundle: &VerifiedBundle,
) -> Result<PqxdhValues, HandshakeError> {
    let (_, public) = bundle
        .kem_prekey()
        .ok_or(HandshakeError::PostQuantumRequired)?;
    let (ciphertext, ss) = crate::kem::encapsulate_with(public, *encapsulation_randomness);
    let ek = DhKeyPair::from_secret_bytes(ephemeral_secret);
    let dh = crate::x3dh::initiator_dh(identity, &ek, bundle)?;
    let a = crate::x3dh::Agreement::new(&dh, Some(&ss), identity.public_key(), bundle.identity());
    Ok(PqxdhValues {
        dh: dh.0.iter().flatten().map(|s| s.to_bytes()).collect(),
        kem_ciphertext: ciphertext.to_vec(),
        kem_shared_secret: ss.0,
        shared_secret: a.shared_secret.0,
        associated_data: a.associated_data,
    })
}

/// PQXDH from the responder's side; `kem_seed` is the ML-KEM prekey's 64-byte seed `d || z`.
///
/// # Errors
/// [`HandshakeError::NonContributory`].
pub fn pqxdh_responder(
    identity: &IdentityKeyPair,
    signed_prekey_secret: &[u8; 32],
    one_time_prekey_secret: Option<&[u8; 32]>,
    kem_seed: &[u8; crate::consts::KEM_SEED_LEN],
    initiator: &IdentityKey,
    base_key: &[u8; 32],
    kem_ciphertext: &[u8; crate::consts::KEM_CIPHERTEXT_LEN],
) -> Result<PqxdhValues, HandshakeError> {
    let spk = DhKeyPair::from_secret_bytes(signed_prekey_secret);
    let opk = one_time_prekey_secret.map(DhKeyPair::from_secret_bytes);
    let dh = crate::x3dh::responder_dh(identity, &spk, opk.as_ref(), initiator, base_key)?;
    let seed = crate::kem::KemSeed::from_slice(kem_seed).ok_or(HandshakeError::Malformed)?;
    let ss = seed.decapsulate(kem_ciphertext);
    let a = crate::x3dh::Agreement::new(&dh, Some(&ss), initiator, identity.public_key());
    Ok(PqxdhValues {
        dh: dh.0.iter().flatten().map(|s| s.to_bytes()).collect(),
        kem_ciphertext: kem_ciphertext.to_vec(),
        kem_shared_secret: ss.0,
        shared_secret: a.shared_secret.0,
        associated_data: a.associated_data,
    })
}

/// The ML-KEM-768 encapsulation key (1184 bytes) of a 64-byte seed `d || z`
/// (FIPS 203 `ML-KEM.KeyGen_internal`).
pub fn kem_public_key(seed: &[u8; crate::consts::KEM_SEED_LEN]) -> Vec<u8> {
    crate::kem::KemSeed::from_slice(seed)
        .map(|s| s.public_key().to_vec())
        .unwrap_or_default()
}

/// The seed of an ML-KEM prekey held in `prekeys` (an unused one-time one or a last-resort one).
pub fn kem_prekey_seed(prekeys: &PreKeys, id: u32) -> Option<[u8; crate::consts::KEM_SEED_LEN]> {
    prekeys.kem_prekey(id).map(|s| *s.as_bytes())
}

/// X25519 public key of a secret.
pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    *DhKeyPair::from_secret_bytes(secret).public()
}

/// X25519(secret, public).
pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    DhKeyPair::from_secret_bytes(secret).dh(public).to_bytes()
}

/// KDF_RK: returns (new root key, chain key).
pub fn kdf_rk(root_key: &[u8; 32], dh_out: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (rk, ck) = RootKey::from_bytes(*root_key).advance(dh_out);
    (*rk.as_bytes(), *ck.as_bytes())
}

/// KDF_CK: returns (message key, next chain key).
pub fn kdf_ck(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let (mk, ck) = ChainKey::from_bytes(*chain_key).step();
    (*mk.as_bytes(), *ck.as_bytes())
}

/// The session tag of `ratchet_public` in the session whose X3DH secret is `shared_secret`.
pub fn session_tag(shared_secret: &[u8; 32], ratchet_public: &[u8; 32]) -> [u8; 8] {
    TagKey::derive(shared_secret).tag(ratchet_public)
}

/// The header bytes for these fields.
pub fn encode_header(
    ratchet_key: &[u8; 32],
    pn: u32,
    n: u32,
    guard: &[u8; 4],
    tag: &[u8; 8],
) -> Vec<u8> {
    Header {
        ratchet_key: *ratchet_key,
        pn,
        n,
        guard: *guard,
        tag: *tag,
    }
    .encode()
    .as_slice()
    .to_vec()
}

/// The AEAD associated data of a message: `0x01 || AD || header`.
pub fn message_aad(associated_data: &[u8; 64], header: &[u8]) -> Vec<u8> {
    let mut v = crate::ratchet::aad_prefix(associated_data).to_vec();
    v.extend_from_slice(header);
    v
}

/// ChaCha20-Poly1305 with nonce `guard || 0^8`: returns ciphertext || tag.
pub fn aead_seal(message_key: &[u8; 32], guard: &[u8; 4], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::aead::seal_into(
        &MessageKey::from_bytes(*message_key),
        guard,
        aad,
        plaintext,
        &mut out,
    );
    out
}

/// Handshake fields of a prekey message: (identity, base key, signed prekey id, one-time
/// prekey id).
pub type PreKeyFieldValues = ([u8; 32], [u8; 32], u32, Option<u32>);

/// A whole envelope: a ratchet message, or a prekey message when `prekey` is given as
/// `(identity, base_key, signed_prekey_id, one_time_prekey_id)`.
pub fn encode_envelope(
    prekey: Option<PreKeyFieldValues>,
    header: &[u8],
    ciphertext: &[u8],
) -> Vec<u8> {
    encode_envelope_with_kem(prekey, None, header, ciphertext)
}

/// Like [`encode_envelope`], with the PQXDH fields of a prekey message: `kem` is
/// `(ML-KEM prekey id, ciphertext)` and is ignored for a ratchet message.
pub fn encode_envelope_with_kem(
    prekey: Option<PreKeyFieldValues>,
    kem: Option<(u32, [u8; crate::consts::KEM_CIPHERTEXT_LEN])>,
    header: &[u8],
    ciphertext: &[u8],
) -> Vec<u8> {
    let fields = prekey.map(
        |(identity, base_key, signed_prekey_id, one_time_prekey_id)| PreKeyFields {
            identity,
            base_key,
            signed_prekey_id,
            one_time_prekey_id,
            kem: kem.map(|(id, ct)| (id, Box::new(ct))),
        },
    );
    let mut out = Vec::new();
    crate::wire::write_envelope_prefix(&mut out, fields.as_ref(), header, ciphertext.len());
    out.extend_from_slice(ciphertext);
    out
}

/// The secret of a signed prekey held in `prekeys`.
pub fn signed_prekey_secret(prekeys: &PreKeys, id: u32) -> Option<[u8; 32]> {
    prekeys.signed_prekey(id).map(|k| *k.secret_bytes())
}

/// The secret of an unused one-time prekey held in `prekeys`.
pub fn one_time_prekey_secret(prekeys: &PreKeys, id: u32) -> Option<[u8; 32]> {
    prekeys.one_time_prekey(id).map(|k| *k.secret_bytes())
}

/// A session's current root key.
pub fn root_key(session: &Session) -> [u8; 32] {
    *session.ratchet.root_key.as_bytes()
}

/// A session's current ratchet secret.
pub fn ratchet_secret(session: &Session) -> [u8; 32] {
    *session.ratchet.ratchet.secret_bytes()
}

/// A session's current sending chain key and counter, if it has a sending chain.
pub fn sending_chain(session: &Session) -> Option<([u8; 32], u32)> {
    session
        .ratchet
        .sending
        .as_ref()
        .map(|c| (*c.chain_key.as_bytes(), c.counter))
}

/// The ratchet header of a wire message (a prekey message's inner one included):
/// `(ratchet public key, pn, n)`, or `None` if the bytes are not a well-formed envelope.
/// Nothing is decrypted; for tests that check no (ratchet key, counter) pair is used twice.
pub fn parse_header(message: &[u8]) -> Option<([u8; 32], u32, u32)> {
    let header = match crate::wire::Envelope::parse(message).ok()? {
        crate::wire::Envelope::PreKey(p) => p.message.header,
        crate::wire::Envelope::Ratchet(m) => m.0.header,
    };
    Some((header.ratchet_key, header.pn, header.n))
}

/// Every value of one group message (PROTOCOL.md §7.3).
#[derive(Clone, Debug)]
pub struct GroupMessageValues {
    /// `KDF_CK(CK_i).mk` for the message's iteration `i`.
    pub message_key: [u8; 32],
    /// `0x01 || len(group_id) || group_id || chain_id (BE) || iteration (BE)`.
    pub aead_associated_data: Vec<u8>,
    /// ChaCha20-Poly1305 ciphertext followed by its tag.
    pub ciphertext: Vec<u8>,
    /// Ed25519 signature over the encoded body.
    pub signature: [u8; 64],
    /// The whole message: encoded `GroupMessageBody` || signature.
    pub message: Vec<u8>,
}

/// The Ed25519 public key of a sender chain's signing seed.
pub fn group_signing_public(signing_seed: &[u8; 32]) -> [u8; 32] {
    crate::group::SenderChain::from_parts(0, 0, &[0; 32], signing_seed).signing_public
}

/// The associated data of a group message (PROTOCOL.md §7.3).
pub fn group_aad(group_id: &crate::group::ChannelId, chain_id: u32, iteration: u32) -> Vec<u8> {
    let mut buf = [0u8; crate::group::MAX_AAD_LEN];
    crate::group::aad(group_id, chain_id, iteration, &mut buf).to_vec()
}

/// Encrypts one group message with explicit secrets: `chain_key` is the chain key at
/// `iteration` (`CK_i`), `guard` the reuse guard.
///
/// # Errors
/// [`crate::group::ChannelEncryptError`] for an oversized plaintext or `iteration = u32::MAX`.
pub fn group_encrypt(
    group_id: &crate::group::ChannelId,
    chain_id: u32,
    iteration: u32,
    chain_key: &[u8; 32],
    signing_seed: &[u8; 32],
    guard: &[u8; 4],
    plaintext: &[u8],
) -> Result<GroupMessageValues, crate::group::ChannelEncryptError> {
    let mut chain =
        crate::group::SenderChain::from_parts(chain_id, iteration, chain_key, signing_seed);
    let (mk, _) = ChainKey::from_bytes(*chain_key).step();
    let mut message = Vec::new();
    chain.encrypt_with_guard(group_id, guard, plaintext, &mut message)?;
    let split = message.len() - crate::consts::GROUP_SIGNATURE_LEN;
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&message[split..]);
    let ct_len = plaintext.len() + crate::consts::AEAD_TAG_LEN;
    Ok(GroupMessageValues {
        message_key: *mk.as_bytes(),
        aead_associated_data: group_aad(group_id, chain_id, iteration),
        ciphertext: message[split - ct_len..split].to_vec(),
        signature,
        message,
    })
}

/// Decrypts one group message with a receiver that was handed chain `chain_id` at
/// `iteration` with `chain_key` and `signing_key` (a distribution), through the same
/// validation as a [`crate::group::Group`].
///
/// # Errors
/// [`crate::group::ChannelDecryptError`]; a signing key that fails validation gives
/// `BadSignature`.
pub fn group_decrypt(
    group_id: &crate::group::ChannelId,
    chain_id: u32,
    iteration: u32,
    chain_key: &[u8; 32],
    signing_key: &[u8; 32],
    message: &[u8],
) -> Result<Vec<u8>, crate::group::ChannelDecryptError> {
    let sender = [0u8; 32];
    let mut store = crate::group::ChainStore::default();
    let d = crate::group::Distribution {
        chain_id,
        iteration,
        chain_key: ChainKey::from_bytes(*chain_key),
        signing_key: *signing_key,
    };
    let (vk, how) = store
        .check(&sender, &d)
        .map_err(|_| crate::group::ChannelDecryptError::BadSignature)?;
    store.commit_insert(&sender, d, vk, how);
    let mut out = Vec::new();
    store.decrypt(group_id, &sender, message, &mut out)?;
    Ok(out)
}

/// The control payload (PROTOCOL.md §7.5) that distributes chain `chain_id` at `iteration`.
pub fn group_distribution_payload(
    group_id: &crate::group::ChannelId,
    chain_id: u32,
    iteration: u32,
    chain_key: &[u8; 32],
    signing_key: &[u8; 32],
) -> Vec<u8> {
    let mut c = crate::group::Control::new(group_id);
    c.distribution = Some(crate::group::Distribution {
        chain_id,
        iteration,
        chain_key: ChainKey::from_bytes(*chain_key),
        signing_key: *signing_key,
    });
    c.encode().to_vec()
}

/// The distribution in a control payload: (chain id, iteration, chain key, signing key).
pub fn group_distribution_fields(payload: &[u8]) -> Option<(u32, u32, [u8; 32], [u8; 32])> {
    let d = crate::group::Control::decode(payload).ok()?.distribution?;
    Some((
        d.chain_id,
        d.iteration,
        *d.chain_key.as_bytes(),
        d.signing_key,
    ))
}
