//! Fixtures and primitive floors shared by the sealpost benches.
//!
//! A *floor* is an operation composed directly from the primitive crates (x25519-dalek,
//! ed25519-dalek, curve25519-dalek, chacha20poly1305, hmac, sha2, hkdf) doing only the work the
//! protocol cannot avoid, with the same inputs and the same output bytes as the sealpost call it
//! sits beside. Every floor is checked against sealpost once before it is timed (same bytes out,
//! or the same plaintext recovered), so a floor cannot get cheaper by skipping work.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, VerifyingKey};
use hkdf::{Hkdf, HkdfExtract};
use hmac::{Hmac, Mac};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use rand_core::Rng;
use sealpost::consts::{
    AEAD_TAG_LEN, CHAIN_MESSAGE_KEY_SEED, CHAIN_NEXT_KEY_SEED, KEM_CIPHERTEXT_LEN,
    KEM_PUBLIC_KEY_LEN, LABEL_KEM_PREKEY, LABEL_PQXDH, LABEL_RATCHET, LABEL_SESSION_TAG,
    LABEL_SIGNED_PREKEY, LABEL_X3DH, PROTOCOL_VERSION,
};
use sealpost::{
    Envelope, IdentityKeyPair, PostQuantum, PreKeyBundle, PreKeys, Session, VerifiedBundle,
};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};

/// Payload sizes of the per-message benches: a chat line, a long text, an attachment chunk.
pub const SIZES: [usize; 3] = [64, 1024, 64 * 1024];

/// Deterministic randomness, so a floor can replay exactly what sealpost drew.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A copy of `r` that yields the same bytes from here on (ChaCha20Rng is not `Clone`).
pub fn fork(r: &ChaCha20Rng) -> ChaCha20Rng {
    let mut f = ChaCha20Rng::from_seed(r.get_seed());
    f.set_stream(r.get_stream());
    f.set_word_pos(r.get_word_pos());
    f
}

/// Where criterion writes its estimates (the same rule criterion itself follows).
pub fn criterion_home() -> PathBuf {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(h);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("criterion");
    }
    PathBuf::from("target/criterion")
}

// ---------------------------------------------------------------------------------------------
// Parties and sessions

/// A responder with one signed prekey (and, unless post-quantum prekeys are disabled, its
/// last-resort ML-KEM prekey) and one one-time prekey, and an initiator identity.
pub struct Parties {
    pub alice: IdentityKeyPair,
    pub bob: IdentityKeyPair,
    pub prekeys: PreKeys,
    pub spk_id: u32,
    pub otk_id: u32,
    /// The ML-KEM prekey in the bundle; `None` for a classical responder.
    pub kem_id: Option<u32>,
    pub bundle_bytes: Vec<u8>,
}

impl Parties {
    /// The default responder (`PreKeys::new()`: PQXDH required), publishing a PQ bundle.
    pub fn new(rng: &mut ChaCha20Rng) -> Self {
        Self::with_policy(rng, PostQuantum::Required)
    }

    /// A classical (X3DH-only) responder: `PostQuantum::Disabled`, a bundle without ML-KEM.
    pub fn classical(rng: &mut ChaCha20Rng) -> Self {
        Self::with_policy(rng, PostQuantum::Disabled)
    }

    pub fn with_policy(rng: &mut ChaCha20Rng, policy: PostQuantum) -> Self {
        let bob = IdentityKeyPair::generate(rng);
        let mut prekeys = PreKeys::with_post_quantum(policy);
        let spk_id = prekeys
            .generate_signed_prekey(&bob, 1_700_000_000, rng)
            .unwrap();
        let otk_id = prekeys.generate_one_time_prekeys(1, rng).unwrap()[0];
        let kem_id = prekeys.last_resort_kem_prekey_id();
        let bundle_bytes = prekeys.bundle(&bob, Some(otk_id)).unwrap().to_bytes();
        let alice = IdentityKeyPair::generate(rng);
        Parties {
            alice,
            bob,
            prekeys,
            spk_id,
            otk_id,
            kem_id,
            bundle_bytes,
        }
    }

    /// The bundle as an initiator verifies it: `verify` (which requires the ML-KEM prekey) for
    /// a PQ bundle, `verify_allowing_classical` for a classical one.
    pub fn verified_bundle(&self) -> VerifiedBundle {
        let bundle = PreKeyBundle::from_bytes(&self.bundle_bytes).unwrap();
        if self.kem_id.is_some() {
            bundle.verify().unwrap()
        } else {
            bundle.verify_allowing_classical().unwrap()
        }
    }
}

/// Two sessions that completed a round trip (Alice's prekey message, Bob's reply), so both
/// send ordinary ratchet messages from now on.
pub struct Pair {
    pub alice: Session,
    pub bob: Session,
    pub rng: ChaCha20Rng,
    /// The session's tag key, derived from the handshake secret SK (for floors that check the
    /// tag).
    pub tag_key: [u8; 32],
}

/// A pair from the default (PQXDH) handshake.
pub fn established(seed: u64) -> Pair {
    let mut rng = rng(seed);
    let mut p = Parties::new(&mut rng);
    let bundle = p.verified_bundle();
    // Session::initiate draws EK_A's secret, then the ML-KEM encapsulation randomness m:
    // replay both to learn SK through hazmat.
    let (mut ek, mut kem_m) = ([0u8; 32], [0u8; 32]);
    let mut replay = fork(&rng);
    replay.fill_bytes(&mut ek);
    replay.fill_bytes(&mut kem_m);
    let pqxdh = sealpost::hazmat::pqxdh_initiator(&p.alice, &ek, &kem_m, &bundle).unwrap();
    assert!(bundle.is_post_quantum());
    let mut alice = Session::initiate(&p.alice, &bundle, &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"hello").unwrap();
    let Envelope::PreKey(first) = Envelope::parse(&m).unwrap() else {
        panic!("expected a prekey message")
    };
    let (mut bob, _) = Session::accept(&p.bob, &mut p.prekeys, &first).unwrap();
    let r = bob.encrypt(&mut rng, b"hi").unwrap();
    alice.decrypt(&r).unwrap();
    Pair {
        alice,
        bob,
        rng,
        tag_key: hkdf_32(&[0u8; 32], &[&pqxdh.shared_secret], LABEL_SESSION_TAG),
    }
}

/// A pair where Alice already sent (and Bob received) one message on her current chain, so
/// every further message of hers is a same-chain message.
pub fn same_chain(seed: u64) -> Pair {
    let mut p = established(seed);
    let m = p.alice.encrypt(&mut p.rng, b"turn").unwrap();
    p.bob.decrypt(&m).unwrap();
    p
}

/// A pair where Bob holds `k` skipped keys of Alice's current chain, with those messages.
pub fn with_skipped(seed: u64, k: usize) -> (Pair, Vec<Vec<u8>>) {
    let mut p = same_chain(seed);
    let pending: Vec<Vec<u8>> = (0..k)
        .map(|i| {
            p.alice
                .encrypt(&mut p.rng, &(i as u64).to_le_bytes())
                .unwrap()
        })
        .collect();
    let last = p.alice.encrypt(&mut p.rng, b"last").unwrap();
    p.bob.decrypt(&last).unwrap();
    assert_eq!(p.bob.skipped_keys(), k);
    (p, pending)
}

/// `version || IK_initiator || IK_responder`, the fixed start of every message's AAD.
pub fn aad_prefix(s: &Session) -> [u8; 65] {
    let (i, r) = if s.is_initiator() {
        (s.local_identity(), s.remote_identity())
    } else {
        (s.remote_identity(), s.local_identity())
    };
    let mut p = [0u8; 65];
    p[0] = PROTOCOL_VERSION;
    p[1..33].copy_from_slice(i.as_bytes());
    p[33..].copy_from_slice(r.as_bytes());
    p
}

// ---------------------------------------------------------------------------------------------
// KDFs, straight from hmac / hkdf

/// KDF_CK: two HMAC-SHA256 under one key schedule: `(mk, next ck)`.
#[inline]
pub fn kdf_ck(ck: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(ck).unwrap();
    let mut m = keyed.clone();
    m.update(&[CHAIN_MESSAGE_KEY_SEED]);
    let mut n = keyed;
    n.update(&[CHAIN_NEXT_KEY_SEED]);
    (
        m.finalize().into_bytes().into(),
        n.finalize().into_bytes().into(),
    )
}

/// KDF_RK: HKDF-SHA256(salt = rk, ikm = dh, info = LABEL_RATCHET, L = 64).
#[inline]
pub fn kdf_rk(rk: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let mut okm = [0u8; 64];
    Hkdf::<Sha256>::new(Some(rk), dh)
        .expand(LABEL_RATCHET, &mut okm)
        .unwrap();
    (okm[..32].try_into().unwrap(), okm[32..].try_into().unwrap())
}

/// HKDF-SHA256 with L = 32 over input keying material given in parts.
#[inline]
pub fn hkdf_32(salt: &[u8], ikm: &[&[u8]], info: &[u8]) -> [u8; 32] {
    let mut e = HkdfExtract::<Sha256>::new(Some(salt));
    for part in ikm {
        e.input_ikm(part);
    }
    let (_, hk) = e.finalize();
    let mut okm = [0u8; 32];
    hk.expand(info, &mut okm).unwrap();
    okm
}

/// Session tag: HMAC-SHA256(tag_key, ratchet public)[..8].
#[inline]
pub fn session_tag(tag_key: &[u8; 32], ratchet_public: &[u8; 32]) -> [u8; 8] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(tag_key).unwrap();
    m.update(ratchet_public);
    m.finalize().into_bytes()[..8].try_into().unwrap()
}

/// A fresh X25519 key pair from 32 bytes of `rng` (one base-point multiplication).
#[inline]
pub fn x25519_keygen(rng: &mut ChaCha20Rng) -> (StaticSecret, [u8; 32]) {
    let mut s = [0u8; 32];
    rng.fill_bytes(&mut s);
    let secret = StaticSecret::from(s);
    let public = PublicKey::from(&secret).to_bytes();
    (secret, public)
}

/// X25519 with the contributory check every DH in the protocol needs.
#[inline]
pub fn dh(secret: &StaticSecret, public: &[u8; 32]) -> [u8; 32] {
    let s = secret.diffie_hellman(&PublicKey::from(*public));
    assert!(s.was_contributory());
    s.to_bytes()
}

// ---------------------------------------------------------------------------------------------
// AEADs: the same RFC 8439 bytes from different implementations

/// ChaCha20-Poly1305 with a fresh key per call, appending to / reading into a buffer.
pub trait Aead {
    fn seal_append(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], pt: &[u8], out: &mut Vec<u8>);
    fn open_append(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ct: &[u8],
        out: &mut Vec<u8>,
    ) -> bool;
}

/// RustCrypto chacha20poly1305 0.11, exactly as `src/aead.rs` calls it (in place).
pub struct RustCrypto;

impl Aead for RustCrypto {
    #[inline]
    fn seal_append(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], pt: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(pt);
        let tag = ChaCha20Poly1305::new(&(*key).into())
            .encrypt_inout_detached(&(*nonce).into(), aad, (&mut out[start..]).into())
            .unwrap();
        out.extend_from_slice(&tag);
    }

    #[inline]
    fn open_append(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ct: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let (c, t) = ct.split_at(ct.len() - AEAD_TAG_LEN);
        let tag = chacha20poly1305::Tag::try_from(t).unwrap();
        let start = out.len();
        out.extend_from_slice(c);
        let ok = ChaCha20Poly1305::new(&(*key).into())
            .decrypt_inout_detached(&(*nonce).into(), aad, (&mut out[start..]).into(), &tag)
            .is_ok();
        if !ok {
            out.truncate(start);
        }
        ok
    }
}

/// libcrux-chacha20poly1305 (HACL*-derived, portable): reads the input slice and writes the
/// output, no copy first.
pub struct Libcrux;

impl Aead for Libcrux {
    #[inline]
    fn seal_append(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], pt: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + pt.len() + AEAD_TAG_LEN, 0);
        libcrux_chacha20poly1305::encrypt(key, pt, &mut out[start..], aad, nonce).unwrap();
    }

    #[inline]
    fn open_append(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ct: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        let start = out.len();
        out.resize(start + ct.len() - AEAD_TAG_LEN, 0);
        let ok = libcrux_chacha20poly1305::decrypt(key, &mut out[start..], ct, aad, nonce).is_ok();
        if !ok {
            out.truncate(start);
        }
        ok
    }
}

/// Largest plaintext [`Dispatch`] hands to libcrux (the proposal for `src/aead.rs`).
pub const SMALL_MESSAGE_MAX: usize = 1024;

/// The proposed size-based dispatch: libcrux up to [`SMALL_MESSAGE_MAX`], RustCrypto above.
pub struct Dispatch;

impl Aead for Dispatch {
    #[inline]
    fn seal_append(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], pt: &[u8], out: &mut Vec<u8>) {
        if pt.len() <= SMALL_MESSAGE_MAX {
            Libcrux::seal_append(key, nonce, aad, pt, out)
        } else {
            RustCrypto::seal_append(key, nonce, aad, pt, out)
        }
    }

    #[inline]
    fn open_append(
        key: &[u8; 32],
        nonce: &[u8; 12],
        aad: &[u8],
        ct: &[u8],
        out: &mut Vec<u8>,
    ) -> bool {
        if ct.len() - AEAD_TAG_LEN <= SMALL_MESSAGE_MAX {
            Libcrux::open_append(key, nonce, aad, ct, out)
        } else {
            RustCrypto::open_append(key, nonce, aad, ct, out)
        }
    }
}

/// Nonce `guard || 0^8`.
#[inline]
pub fn nonce(guard: &[u8; 4]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(guard);
    n
}

// ---------------------------------------------------------------------------------------------
// A minimal protobuf codec for the wire messages (the bench's own, non-allocating)

pub const VARINT: u8 = 0;
pub const LEN: u8 = 2;

#[derive(Clone, Copy, Debug)]
pub enum Val<'a> {
    Int(u64),
    Bytes(&'a [u8]),
}

impl<'a> Val<'a> {
    pub fn int(v: Option<Self>) -> u64 {
        match v {
            None => 0,
            Some(Val::Int(x)) => x,
            Some(Val::Bytes(_)) => panic!("wire type"),
        }
    }

    pub fn bytes(v: Option<Self>) -> &'a [u8] {
        match v {
            None => &[],
            Some(Val::Bytes(b)) => b,
            Some(Val::Int(_)) => panic!("wire type"),
        }
    }

    pub fn array<const N: usize>(v: Option<Self>) -> [u8; N] {
        Self::bytes(v).try_into().unwrap()
    }
}

#[inline]
fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Fields `1..=N` of a message by number (varint and length-delimited only).
#[inline]
pub fn fields<const N: usize>(mut buf: &[u8]) -> Option<[Option<Val<'_>>; N]> {
    let mut out = [None; N];
    while !buf.is_empty() {
        let key = read_varint(&mut buf)?;
        let f = (key >> 3) as usize;
        let v = match (key & 7) as u8 {
            VARINT => Val::Int(read_varint(&mut buf)?),
            LEN => {
                let len = read_varint(&mut buf)? as usize;
                if len > buf.len() {
                    return None;
                }
                let (b, rest) = buf.split_at(len);
                buf = rest;
                Val::Bytes(b)
            }
            _ => return None,
        };
        if (1..=N).contains(&f) {
            out[f - 1] = Some(v);
        }
    }
    Some(out)
}

#[inline]
fn varint_len(v: u64) -> usize {
    ((64 - (v | 1).leading_zeros()) as usize).div_ceil(7)
}

/// A small stack buffer for protobuf output.
pub struct Buf<const N: usize> {
    pub b: [u8; N],
    pub len: usize,
}

pub trait Put {
    fn put(&mut self, bytes: &[u8]);

    #[inline]
    fn varint(&mut self, mut v: u64) {
        let mut tmp = [0u8; 10];
        let mut i = 0;
        while v >= 0x80 {
            tmp[i] = v as u8 | 0x80;
            v >>= 7;
            i += 1;
        }
        tmp[i] = v as u8;
        self.put(&tmp[..=i]);
    }

    #[inline]
    fn len_field(&mut self, field: u32, len: usize) {
        self.varint(u64::from(field) << 3 | u64::from(LEN));
        self.varint(len as u64);
    }

    #[inline]
    fn bytes_field(&mut self, field: u32, b: &[u8]) {
        self.len_field(field, b.len());
        self.put(b);
    }

    /// proto3 `uint32`: omitted when zero.
    #[inline]
    fn u32_field(&mut self, field: u32, v: u32) {
        if v != 0 {
            self.varint(u64::from(field) << 3);
            self.varint(u64::from(v));
        }
    }
}

impl<const N: usize> Put for Buf<N> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.b[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

impl Put for Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl<const N: usize> Buf<N> {
    #[inline]
    pub fn new() -> Self {
        Buf {
            b: [0u8; N],
            len: 0,
        }
    }

    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.b[..self.len]
    }
}

/// The ratchet header, as `wire.proto` `RatchetHeader`, followed by nothing: the AAD is
/// `prefix (65 B) || header`, so it is written once, right after the prefix.
#[inline]
pub fn aad_with_header(
    prefix: &[u8; 65],
    ratchet_key: &[u8; 32],
    pn: u32,
    n: u32,
    guard: &[u8; 4],
    tag: &[u8; 8],
) -> Buf<128> {
    let mut b = Buf::<128>::new();
    b.put(prefix);
    b.bytes_field(1, ratchet_key);
    b.u32_field(2, pn);
    b.u32_field(3, n);
    b.bytes_field(4, guard);
    b.bytes_field(5, tag);
    b
}

/// Prekey-message fields: identity, base key, signed prekey id, one-time prekey id, and for
/// PQXDH the ML-KEM prekey id and ciphertext.
pub struct PreKeyFields<'a> {
    pub identity: [u8; 32],
    pub base_key: [u8; 32],
    pub spk_id: u32,
    pub opk_id: Option<u32>,
    pub kem: Option<(u32, &'a [u8; KEM_CIPHERTEXT_LEN])>,
}

/// Everything of an envelope before the ciphertext (`ct_len` bytes, tag included). The PQXDH
/// fields 6 and 7 go before field 5, as sealpost writes them.
#[inline]
pub fn envelope_prefix(
    out: &mut Vec<u8>,
    prekey: Option<&PreKeyFields<'_>>,
    header: &[u8],
    ct_len: usize,
) {
    let field = |f: u32, len: usize| varint_len(u64::from(f) << 3) + varint_len(len as u64) + len;
    let body = field(1, header.len()) + field(2, ct_len);
    out.varint(1 << 3);
    out.varint(u64::from(PROTOCOL_VERSION));
    match prekey {
        None => out.len_field(3, body),
        Some(p) => {
            let len = 2 * field(1, 32)
                + if p.spk_id == 0 {
                    0
                } else {
                    1 + varint_len(u64::from(p.spk_id))
                }
                + p.opk_id.map_or(0, |v| 1 + varint_len(u64::from(v)))
                + p.kem.map_or(0, |(id, ct)| {
                    1 + varint_len(u64::from(id)) + field(7, ct.len())
                })
                + field(5, body);
            out.len_field(2, len);
            out.bytes_field(1, &p.identity);
            out.bytes_field(2, &p.base_key);
            out.u32_field(3, p.spk_id);
            if let Some(v) = p.opk_id {
                out.varint(4 << 3);
                out.varint(u64::from(v));
            }
            if let Some((id, ct)) = p.kem {
                // proto3 `optional`: written even when zero.
                out.varint(6 << 3);
                out.varint(u64::from(id));
                out.bytes_field(7, ct);
            }
            out.len_field(5, body);
        }
    }
    out.bytes_field(1, header);
    out.len_field(2, ct_len);
}

/// The parts of a ratchet message a receiver needs.
pub struct Parsed<'a> {
    pub header: &'a [u8],
    pub ratchet_key: [u8; 32],
    pub pn: u32,
    pub n: u32,
    pub guard: [u8; 4],
    pub tag: [u8; 8],
    pub ciphertext: &'a [u8],
}

/// Parses a `RatchetMessage` body.
#[inline]
pub fn parse_ratchet(body: &[u8]) -> Parsed<'_> {
    let [h, c] = fields::<2>(body).unwrap();
    let header = Val::bytes(h);
    let [rk, pn, n, g, t] = fields::<5>(header).unwrap();
    Parsed {
        header,
        ratchet_key: Val::array(rk),
        pn: Val::int(pn) as u32,
        n: Val::int(n) as u32,
        guard: Val::array(g),
        tag: Val::array(t),
        ciphertext: Val::bytes(c),
    }
}

/// Parses an envelope carrying an ordinary ratchet message.
#[inline]
pub fn parse_envelope(msg: &[u8]) -> Parsed<'_> {
    let [v, _, m] = fields::<3>(msg).unwrap();
    assert_eq!(Val::int(v), u64::from(PROTOCOL_VERSION));
    parse_ratchet(Val::bytes(m))
}

// ---------------------------------------------------------------------------------------------
// Identity keys: the validation the protocol requires, done once

/// `bytes` (sign bit cleared) `< 2^255 - 19`. With small-order points rejected, this is all
/// that canonical encoding needs beyond decompression.
#[inline]
pub fn canonical_y(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    // Compare with p = 2^255 - 19, most significant byte first.
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    for i in (0..32).rev() {
        if y[i] != p[i] {
            return y[i] < p[i];
        }
    }
    false
}

/// Validates an Ed25519 identity key (one decompression, small-order and torsion checks) and
/// returns it with its X25519 form.
#[inline]
pub fn identity_key(bytes: &[u8; 32]) -> (VerifyingKey, [u8; 32]) {
    assert!(canonical_y(bytes));
    let vk = VerifyingKey::from_bytes(bytes).unwrap();
    let point = vk.to_edwards();
    assert!(!point.is_small_order() && point.is_torsion_free());
    (vk, point.to_montgomery().to_bytes())
}

/// Same checks starting from a decompressed point (for the primitive benches).
pub fn decompress(bytes: &[u8; 32]) -> curve25519_dalek::EdwardsPoint {
    CompressedEdwardsY(*bytes).decompress().unwrap()
}

/// The message a signed prekey's signature covers.
#[inline]
pub fn spk_message(id: u32, public: &[u8; 32]) -> [u8; 51] {
    let mut m = [0u8; 51];
    m[..15].copy_from_slice(LABEL_SIGNED_PREKEY);
    m[15..19].copy_from_slice(&id.to_be_bytes());
    m[19..].copy_from_slice(public);
    m
}

/// The message an identity signs for an ML-KEM prekey: label || id (u32 BE) || key (1210 B).
#[inline]
pub fn kem_prekey_message(
    id: u32,
    public: &[u8; KEM_PUBLIC_KEY_LEN],
) -> [u8; KEM_PREKEY_MESSAGE_LEN] {
    let mut m = [0u8; KEM_PREKEY_MESSAGE_LEN];
    let l = LABEL_KEM_PREKEY.len();
    m[..l].copy_from_slice(LABEL_KEM_PREKEY);
    m[l..l + 4].copy_from_slice(&id.to_be_bytes());
    m[l + 4..].copy_from_slice(public);
    m
}

/// Length of the message an ML-KEM prekey signature covers.
pub const KEM_PREKEY_MESSAGE_LEN: usize = LABEL_KEM_PREKEY.len() + 4 + KEM_PUBLIC_KEY_LEN;

/// `verify_strict` of an ML-KEM prekey signature with an already decoded key.
#[inline]
pub fn verify_kem_prekey(
    vk: &VerifyingKey,
    id: u32,
    public: &[u8; KEM_PUBLIC_KEY_LEN],
    sig: &[u8; 64],
) {
    vk.verify_strict(&kem_prekey_message(id, public), &Signature::from_bytes(sig))
        .unwrap();
}

/// PQXDH SK from the DH outputs and the ML-KEM shared secret.
#[inline]
pub fn pqxdh_sk(dhs: &[[u8; 32]], ss: &[u8; 32]) -> [u8; 32] {
    let mut parts: [&[u8]; 6] = [&[0xff; 32], &[], &[], &[], &[], &[]];
    for (slot, d) in parts[1..].iter_mut().zip(dhs) {
        *slot = d;
    }
    parts[dhs.len() + 1] = ss;
    hkdf_32(&[0u8; 32], &parts[..=dhs.len() + 1], LABEL_PQXDH)
}

/// X3DH SK from the DH outputs.
#[inline]
pub fn x3dh_sk(dhs: &[[u8; 32]]) -> [u8; 32] {
    let mut parts: [&[u8]; 5] = [&[0xff; 32], &[], &[], &[], &[]];
    for (slot, d) in parts[1..].iter_mut().zip(dhs) {
        *slot = d;
    }
    hkdf_32(&[0u8; 32], &parts[..=dhs.len()], LABEL_X3DH)
}

/// The X25519 secret of an identity (the Ed25519 scalar), as sealpost derives it once.
pub fn identity_dh_secret(id: &IdentityKeyPair) -> StaticSecret {
    StaticSecret::from(ed25519_dalek::SigningKey::from_bytes(&id.to_seed()).to_scalar_bytes())
}

/// `verify_strict` of a signed prekey signature with an already decoded key.
#[inline]
pub fn verify_spk(vk: &VerifyingKey, id: u32, spk: &[u8; 32], sig: &[u8; 64]) {
    vk.verify_strict(&spk_message(id, spk), &Signature::from_bytes(sig))
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Per-message floors

/// A sending chain as the floor keeps it: everything a same-chain message needs.
#[derive(Clone)]
pub struct FloorSender {
    pub ck: [u8; 32],
    pub n: u32,
    pub pn: u32,
    pub ratchet_public: [u8; 32],
    pub tag: [u8; 8],
    pub aad_prefix: [u8; 65],
}

impl FloorSender {
    /// The floor's copy of `s`'s sending chain; `tag_key` is the pair's.
    pub fn of(s: &Session, tag_key: &[u8; 32], rng: &ChaCha20Rng) -> Self {
        let (ck, n) = sealpost::hazmat::sending_chain(s).expect("a sending chain");
        let ratchet_public = sealpost::hazmat::x25519_public(&sealpost::hazmat::ratchet_secret(s));
        // pn is not exposed: read it from a message the session would send now.
        let probe = s.clone().encrypt(&mut fork(rng), b"").unwrap();
        let parsed = parse_envelope(&probe);
        let tag = session_tag(tag_key, &ratchet_public);
        assert_eq!(parsed.tag, tag, "tag key derivation");
        FloorSender {
            ck,
            n,
            pn: parsed.pn,
            ratchet_public,
            tag,
            aad_prefix: aad_prefix(s),
        }
    }

    /// One same-chain message: reuse guard, KDF_CK, header, framing, AEAD with the fresh key.
    #[inline]
    pub fn encrypt<A: Aead>(&mut self, rng: &mut ChaCha20Rng, pt: &[u8], out: &mut Vec<u8>) {
        self.encrypt_framed::<A>(rng, None, pt, out)
    }

    #[inline]
    pub fn encrypt_framed<A: Aead>(
        &mut self,
        rng: &mut ChaCha20Rng,
        prekey: Option<&PreKeyFields<'_>>,
        pt: &[u8],
        out: &mut Vec<u8>,
    ) {
        let mut guard = [0u8; 4];
        rng.fill_bytes(&mut guard);
        let (mk, next) = kdf_ck(&self.ck);
        let aad = aad_with_header(
            &self.aad_prefix,
            &self.ratchet_public,
            self.pn,
            self.n,
            &guard,
            &self.tag,
        );
        self.ck = next;
        self.n += 1;
        envelope_prefix(out, prekey, &aad.as_slice()[65..], pt.len() + AEAD_TAG_LEN);
        A::seal_append(&mk, &nonce(&guard), aad.as_slice(), pt, out);
    }
}

/// What a receiver needs to open one same-chain message: the chain key that derives its key.
pub struct FloorReceiver {
    pub ck: [u8; 32],
    pub n: u32,
    pub ratchet_key: [u8; 32],
    pub aad_prefix: [u8; 65],
}

impl FloorReceiver {
    /// Parse, find the chain, KDF_CK, open. Stateless, so one message serves every iteration.
    #[inline]
    pub fn decrypt<A: Aead>(&self, msg: &[u8], out: &mut Vec<u8>) -> bool {
        let p = parse_envelope(msg);
        if p.ratchet_key != self.ratchet_key || p.n != self.n {
            return false;
        }
        let (mk, next) = kdf_ck(&self.ck);
        std::hint::black_box(next);
        let mut aad = Buf::<128>::new();
        aad.put(&self.aad_prefix);
        aad.put(p.header);
        A::open_append(&mk, &nonce(&p.guard), aad.as_slice(), p.ciphertext, out)
    }
}

/// The first send after receiving a new ratchet key: keygen, DH, KDF_RK, own tag, message.
pub struct FloorStepSend {
    pub their_ratchet: [u8; 32],
    pub root_key: [u8; 32],
    pub tag_key: [u8; 32],
    pub pn: u32,
    pub aad_prefix: [u8; 65],
}

impl FloorStepSend {
    #[inline]
    pub fn encrypt<A: Aead>(&self, rng: &mut ChaCha20Rng, pt: &[u8], out: &mut Vec<u8>) {
        let (secret, public) = x25519_keygen(rng);
        let (_rk, ck) = kdf_rk(&self.root_key, &dh(&secret, &self.their_ratchet));
        let mut chain = FloorSender {
            ck,
            n: 0,
            pn: self.pn,
            ratchet_public: public,
            tag: session_tag(&self.tag_key, &public),
            aad_prefix: self.aad_prefix,
        };
        chain.encrypt::<A>(rng, pt, out);
    }
}

/// Receiving a message on a new ratchet key: tag check, DH, KDF_RK, KDF_CK, open.
pub struct FloorStepRecv {
    pub ratchet_secret: StaticSecret,
    pub root_key: [u8; 32],
    pub tag_key: [u8; 32],
    pub aad_prefix: [u8; 65],
}

impl FloorStepRecv {
    #[inline]
    pub fn decrypt<A: Aead>(&self, msg: &[u8], out: &mut Vec<u8>) -> bool {
        let p = parse_envelope(msg);
        if !bool::from(session_tag(&self.tag_key, &p.ratchet_key).ct_eq(&p.tag)) {
            return false;
        }
        let (_rk, ck) = kdf_rk(&self.root_key, &dh(&self.ratchet_secret, &p.ratchet_key));
        let (mk, next) = kdf_ck(&ck);
        std::hint::black_box(next);
        let mut aad = Buf::<128>::new();
        aad.put(&self.aad_prefix);
        aad.put(p.header);
        A::open_append(&mk, &nonce(&p.guard), aad.as_slice(), p.ciphertext, out)
    }
}

// ---------------------------------------------------------------------------------------------
// Paired ratios: operation and floor timed in alternating blocks

/// Whether criterion is measuring (not `cargo test --benches`, `--list` or profiling).
pub fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    has("--bench") && !has("--test") && !has("--list") && !has("--profile-time")
}

/// Times `n` calls of `f`.
#[inline]
pub fn time_n(n: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed()
}

static PAIRED: Mutex<BTreeMap<String, serde_json::Value>> = Mutex::new(BTreeMap::new());

/// Measures `op / floor` from alternating blocks (op, floor, floor, op, ...) of equal call
/// counts, each block about 0.5 ms, for `SEALPOST_PAIRED_SECS` seconds (default 3). Each
/// closure runs `n` calls and returns the time they took (it may prepare inputs untimed).
///
/// Criterion times the operation and its floor seconds or minutes apart; on a shared machine
/// the load changes in between. A block pair sees nearly the same load, so the median of the
/// per-pair ratios is the robust comparison. Written to `<criterion home>/sealpost-paired-
/// <bench>.json` as `"op_id|floor_id": {median, q1, q3, pairs}`.
pub fn paired(
    op_id: &str,
    floor_id: &str,
    mut op: impl FnMut(u64) -> Duration,
    mut floor: impl FnMut(u64) -> Duration,
) {
    if !benchmarking() {
        return;
    }
    let secs: f64 = std::env::var("SEALPOST_PAIRED_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let mut n = 1u64;
    while op(n) < Duration::from_micros(500) && n < 1 << 20 {
        n *= 2;
    }
    floor(n);
    let mut ratios = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs || ratios.len() < 20 {
        let (a, b) = if ratios.len() % 2 == 0 {
            let a = op(n);
            (a, floor(n))
        } else {
            let b = floor(n);
            (op(n), b)
        };
        ratios.push(a.as_secs_f64() / b.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f).round() as usize];
    let entry = serde_json::json!({
        "median": q(0.5), "q1": q(0.25), "q3": q(0.75), "pairs": ratios.len(), "block_calls": n,
    });
    eprintln!("paired {op_id} / {floor_id}: {entry}");
    let mut map = PAIRED.lock().unwrap();
    map.insert(format!("{op_id}|{floor_id}"), entry);
    let bin = std::env::current_exe().unwrap();
    let stem = bin.file_stem().unwrap().to_string_lossy();
    let name = stem.split('-').next().unwrap_or("bench").to_string();
    let dir = criterion_home();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("sealpost-paired-{name}.json"));
    std::fs::write(path, serde_json::to_string_pretty(&*map).unwrap()).unwrap();
}
