//! Committed, deterministic test vectors for the PQXDH hybrid handshake (DESIGN.md §3b).
//!
//! `tests/vectors/pqxdh.json` is produced here from seeded ChaCha20 generators. Each case is one
//! handshake and Alice's first (prekey) message: every secret input, every intermediate value and
//! the exact bytes of Bob's bundle and of the prekey message.
//!
//! Every value is computed by [`reference`], a second implementation of the formulas written on
//! the underlying crates alone (x25519-dalek, ed25519-dalek, hkdf/hmac/sha2, chacha20poly1305,
//! and RustCrypto's `ml-kem` in place of the libcrux ML-KEM-768 that sealpost uses), and then
//! checked against sealpost: `hazmat` (both sides of the handshake and the message primitives)
//! and real [`Session`]s fed by a [`ScriptedRng`] that hands out exactly the secrets we chose
//! (which also checks the documented order of draws). Bob's real `Session::accept` must decrypt
//! the recorded prekey message.
//!
//! * `vectors_match_committed_file` regenerates in memory and compares with the file byte for
//!   byte; `SEALPOST_REGENERATE_VECTORS=1 cargo test --test pqxdh_vectors` rewrites it instead.
//! * `committed_vectors_verify_from_primitives` reads the file alone and recomputes every value
//!   from its inputs with [`reference`] only: no sealpost code runs.
//! * `committed_vectors_replay_through_sealpost` feeds the file's inputs to sealpost and compares
//!   its outputs with the file's values.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::path::PathBuf;

use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng, TryCryptoRng, TryRng};
use sealpost::hazmat;
use sealpost::{
    Envelope, IdentityKeyPair, PostQuantum, PreKeyBundle, PreKeys, Session, VerifiedBundle,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const REGENERATE_ENV: &str = "SEALPOST_REGENERATE_VECTORS";
const FILE: &str = "pqxdh.json";

const KEM_SEED_LEN: usize = 64;
const KEM_PUBLIC_KEY_LEN: usize = 1184;
const KEM_CIPHERTEXT_LEN: usize = 1088;

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

/// Hands out exactly the byte strings it was given, in order; any other request fails the test.
struct ScriptedRng(VecDeque<Vec<u8>>);

impl ScriptedRng {
    fn new(draws: impl IntoIterator<Item = Vec<u8>>) -> Self {
        ScriptedRng(draws.into_iter().collect())
    }

    fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} scripted draws left unused",
            self.0.len()
        );
    }
}

impl TryRng for ScriptedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("unscripted next_u32: sealpost should only fill byte buffers")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("unscripted next_u64: sealpost should only fill byte buffers")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let next = self
            .0
            .pop_front()
            .unwrap_or_else(|| panic!("unscripted draw of {} bytes", dst.len()));
        assert_eq!(next.len(), dst.len(), "draw size differs from the script");
        dst.copy_from_slice(&next);
        Ok(())
    }
}

impl TryCryptoRng for ScriptedRng {}

fn random<const N: usize>(rng: &mut ChaCha20Rng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill_bytes(&mut b);
    b
}

// ---------------------------------------------------------------------------------------------
// Hex helpers
// ---------------------------------------------------------------------------------------------

fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

fn unhex_n<const N: usize>(s: &str) -> [u8; N] {
    unhex(s)
        .try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("expected {N} bytes, got {}", v.len()))
}

// ---------------------------------------------------------------------------------------------
// Inputs and derived values
// ---------------------------------------------------------------------------------------------

/// Which of Bob's ML-KEM prekeys the bundle carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KemKind {
    /// The last-resort one published with the signed prekey (`PreKeys::bundle`).
    LastResort,
    /// A one-time one (`PreKeys::bundle_with_kem_prekey`).
    OneTime,
}

impl KemKind {
    fn name(self) -> &'static str {
        match self {
            KemKind::LastResort => "last_resort",
            KemKind::OneTime => "one_time",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "last_resort" => KemKind::LastResort,
            "one_time" => KemKind::OneTime,
            _ => panic!("unknown KEM prekey kind {s:?}"),
        }
    }
}

/// Every secret input of one case: everything else follows from these.
#[derive(Clone, Debug)]
struct Inputs {
    name: String,
    alice_identity_seed: [u8; 32],
    bob_identity_seed: [u8; 32],
    signed_prekey_id: u32,
    signed_prekey_secret: [u8; 32],
    one_time_prekey: Option<(u32, [u8; 32])>,
    kem_kind: KemKind,
    kem_prekey_id: u32,
    /// `d || z`.
    kem_seed: [u8; KEM_SEED_LEN],
    alice_ephemeral_secret: [u8; 32],
    /// ML-KEM encapsulation randomness `m`.
    kem_randomness: [u8; 32],
    alice_ratchet_secret: [u8; 32],
    reuse_guard: [u8; 4],
    plaintext: Vec<u8>,
}

/// Everything computed from [`Inputs`].
#[derive(Clone, Debug, PartialEq)]
struct Derived {
    alice_identity_public: [u8; 32],
    alice_identity_x25519_secret: [u8; 32],
    alice_identity_x25519_public: [u8; 32],
    bob_identity_public: [u8; 32],
    bob_identity_x25519_secret: [u8; 32],
    bob_identity_x25519_public: [u8; 32],
    signed_prekey_public: [u8; 32],
    signed_prekey_signature: [u8; 64],
    one_time_prekey_public: Option<[u8; 32]>,
    kem_public: Vec<u8>,
    kem_signature: [u8; 64],
    bundle: Vec<u8>,
    base_key: [u8; 32],
    kem_ciphertext: Vec<u8>,
    kem_shared_secret: [u8; 32],
    /// DH1..DH3, and DH4 with a one-time prekey.
    dh: Vec<[u8; 32]>,
    shared_secret: [u8; 32],
    associated_data: [u8; 64],
    ratchet_public: [u8; 32],
    root_key: [u8; 32],
    chain_key: [u8; 32],
    message_key: [u8; 32],
    session_tag: [u8; 8],
    header: Vec<u8>,
    aead_associated_data: Vec<u8>,
    ciphertext: Vec<u8>,
    prekey_message: Vec<u8>,
}

// ---------------------------------------------------------------------------------------------
// The second implementation
// ---------------------------------------------------------------------------------------------

/// DESIGN.md §3, §3b and §4 written out again on the underlying crates, sharing no code with
/// sealpost: ML-KEM-768 from RustCrypto's `ml-kem` (sealpost uses libcrux), protobuf by hand,
/// labels spelled out here.
mod reference {
    use chacha20poly1305::aead::AeadInOut;
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit as _};
    use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
    use hkdf::Hkdf;
    // `KeyInit` (imported above) is the same trait for HMAC and the AEAD.
    use hmac::{Hmac, Mac};
    use ml_kem::ml_kem_768::{Ciphertext, DecapsulationKey, EncapsulationKey};
    use ml_kem::{Decapsulate, KeyExport};
    use sha2::{Digest, Sha256, Sha512};

    use super::{Derived, Inputs};

    fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// RFC 5869 HKDF-SHA256 (the `hkdf` crate's one-shot API).
    fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
        let mut okm = vec![0u8; len];
        Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, &mut okm)
            .unwrap();
        okm
    }

    /// RFC 5869 written out from HMAC, to cross-check the handshake's KDF.
    fn hkdf_by_hand(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
        let prk = hmac_sha256(salt, &[ikm]);
        let (mut okm, mut t) = (Vec::new(), Vec::new());
        for counter in 1u8.. {
            if okm.len() >= len {
                break;
            }
            t = hmac_sha256(&prk, &[&t, info, &[counter]]).to_vec();
            okm.extend_from_slice(&t);
        }
        okm.truncate(len);
        okm
    }

    fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
        x25519_dalek::x25519(*secret, *public)
    }

    fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
        x25519(secret, &x25519_dalek::X25519_BASEPOINT_BYTES)
    }

    fn identity_public(seed: &[u8; 32]) -> [u8; 32] {
        SigningKey::from_bytes(seed).verifying_key().to_bytes()
    }

    /// The identity's X25519 secret: the RFC 8032 scalar bytes, SHA-512(seed)[..32].
    fn identity_x25519_secret(seed: &[u8; 32]) -> [u8; 32] {
        Sha512::digest(seed)[..32].try_into().unwrap()
    }

    /// The identity's X25519 public key: the Montgomery form of the Ed25519 point.
    fn identity_x25519_public(public: &[u8; 32]) -> [u8; 32] {
        VerifyingKey::from_bytes(public)
            .unwrap()
            .to_montgomery()
            .to_bytes()
    }

    fn spk_signed_message(id: u32, public: &[u8]) -> Vec<u8> {
        [&b"sealpost spk v1"[..], &id.to_be_bytes(), public].concat()
    }

    fn kem_signed_message(id: u32, public: &[u8]) -> Vec<u8> {
        [&b"sealpost kem prekey v1"[..], &id.to_be_bytes(), public].concat()
    }

    fn sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
        SigningKey::from_bytes(seed).sign(message).to_bytes()
    }

    fn verifies_strictly(identity: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
        VerifyingKey::from_bytes(identity)
            .unwrap()
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }

    /// FIPS 203 `ML-KEM.KeyGen_internal(d, z)`: the encapsulation key of a seed `d || z`.
    fn kem_public(seed: &[u8; super::KEM_SEED_LEN]) -> Vec<u8> {
        DecapsulationKey::from_seed((*seed).into())
            .encapsulation_key()
            .to_bytes()
            .to_vec()
    }

    /// FIPS 203 `ML-KEM.Encaps_internal(ek, m)` on the encoded key (which is parsed and checked
    /// first, as a receiver of a bundle would), then `ML-KEM.Decaps` with the seed's key: the
    /// ciphertext and the shared secret, which both sides must agree on.
    fn kem_encapsulate(
        seed: &[u8; super::KEM_SEED_LEN],
        public: &[u8],
        m: &[u8; 32],
    ) -> (Vec<u8>, [u8; 32]) {
        let ek = EncapsulationKey::new(&public.try_into().unwrap())
            .expect("the encapsulation key passes the FIPS 203 input check");
        let (ct, ss) = ek.encapsulate_deterministic(&(*m).into());
        let dk = DecapsulationKey::from_seed((*seed).into());
        assert_eq!(dk.encapsulation_key(), &ek);
        let decapsulated = dk.decapsulate(&ct);
        assert_eq!(decapsulated, ss, "ml-kem: decapsulation disagrees");
        let mut tampered: Ciphertext = ct;
        tampered[0] ^= 1;
        assert_ne!(dk.decapsulate(&tampered), ss, "ml-kem: implicit rejection");
        (ct.to_vec(), ss.into())
    }

    fn pqxdh_shared_secret(dh: &[[u8; 32]], kem_shared_secret: &[u8; 32]) -> [u8; 32] {
        let mut ikm = vec![0xff; 32];
        dh.iter().for_each(|d| ikm.extend_from_slice(d));
        ikm.extend_from_slice(kem_shared_secret);
        let info = b"sealpost pqxdh v1";
        let sk = hkdf(&[0; 32], &ikm, info, 32);
        assert_eq!(sk, hkdf_by_hand(&[0; 32], &ikm, info, 32));
        sk.try_into().unwrap()
    }

    fn kdf_rk(root_key: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        let okm = hkdf(root_key, dh, b"sealpost ratchet v1", 64);
        (okm[..32].try_into().unwrap(), okm[32..].try_into().unwrap())
    }

    fn kdf_ck(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        (
            hmac_sha256(chain_key, &[&[0x01]]),
            hmac_sha256(chain_key, &[&[0x02]]),
        )
    }

    fn session_tag(shared_secret: &[u8; 32], public: &[u8; 32]) -> [u8; 8] {
        let tag_key = hkdf(&[0; 32], shared_secret, b"sealpost session tag v1", 32);
        hmac_sha256(&tag_key, &[public])[..8].try_into().unwrap()
    }

    fn seal(key: &[u8; 32], guard: &[u8; 4], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(guard);
        let mut buf = plaintext.to_vec();
        let tag = ChaCha20Poly1305::new(&(*key).into())
            .encrypt_inout_detached(&nonce.into(), aad, (&mut buf[..]).into())
            .unwrap();
        buf.extend_from_slice(&tag);
        buf
    }

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A length-delimited field (embedded message), always written.
    fn message(out: &mut Vec<u8>, field: u64, body: &[u8]) {
        varint(out, field << 3 | 2);
        varint(out, body.len() as u64);
        out.extend_from_slice(body);
    }

    /// proto3 `bytes`: omitted when empty.
    fn bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
        if !b.is_empty() {
            message(out, field, b);
        }
    }

    /// `optional uint32`: written when present, zero included.
    fn opt_u32(out: &mut Vec<u8>, field: u64, v: Option<u32>) {
        if let Some(v) = v {
            varint(out, field << 3);
            varint(out, v.into());
        }
    }

    /// proto3 `uint32`: omitted when zero.
    fn u32_field(out: &mut Vec<u8>, field: u64, v: u32) {
        opt_u32(out, field, (v != 0).then_some(v));
    }

    /// `PreKeyBundle` (proto/wire.proto), fields in number order.
    fn bundle(i: &Inputs, d: &Derived) -> Vec<u8> {
        let mut b = Vec::new();
        bytes(&mut b, 1, &d.bob_identity_public);
        u32_field(&mut b, 2, i.signed_prekey_id);
        bytes(&mut b, 3, &d.signed_prekey_public);
        bytes(&mut b, 4, &d.signed_prekey_signature);
        opt_u32(&mut b, 5, i.one_time_prekey.map(|(id, _)| id));
        bytes(
            &mut b,
            6,
            d.one_time_prekey_public.as_ref().map_or(&[], |k| &k[..]),
        );
        opt_u32(&mut b, 7, Some(i.kem_prekey_id));
        bytes(&mut b, 8, &d.kem_public);
        bytes(&mut b, 9, &d.kem_signature);
        b
    }

    fn header(public: &[u8; 32], guard: &[u8; 4], tag: &[u8; 8]) -> Vec<u8> {
        let mut h = Vec::new();
        bytes(&mut h, 1, public);
        u32_field(&mut h, 2, 0); // pn
        u32_field(&mut h, 3, 0); // n
        bytes(&mut h, 4, guard);
        bytes(&mut h, 5, tag);
        h
    }

    /// `Envelope { version: 1, prekey: PreKeyMessage }`. The PreKeyMessage's fields 6 and 7
    /// (the KEM prekey id and ciphertext) come before field 5 (the inner message), so that the
    /// inner message's ciphertext ends the envelope.
    fn prekey_envelope(i: &Inputs, d: &Derived) -> Vec<u8> {
        let mut inner = Vec::new();
        bytes(&mut inner, 1, &d.header);
        bytes(&mut inner, 2, &d.ciphertext);
        let mut p = Vec::new();
        bytes(&mut p, 1, &d.alice_identity_public);
        bytes(&mut p, 2, &d.base_key);
        u32_field(&mut p, 3, i.signed_prekey_id);
        opt_u32(&mut p, 4, i.one_time_prekey.map(|(id, _)| id));
        opt_u32(&mut p, 6, Some(i.kem_prekey_id));
        bytes(&mut p, 7, &d.kem_ciphertext);
        message(&mut p, 5, &inner);
        let mut env = Vec::new();
        u32_field(&mut env, 1, 1);
        message(&mut env, 2, &p);
        env
    }

    /// Every derived value of a case, from its inputs alone.
    pub(super) fn derive(i: &Inputs) -> Derived {
        let alice_pub = identity_public(&i.alice_identity_seed);
        let bob_pub = identity_public(&i.bob_identity_seed);
        let alice_x_secret = identity_x25519_secret(&i.alice_identity_seed);
        let bob_x_secret = identity_x25519_secret(&i.bob_identity_seed);
        let alice_x_pub = identity_x25519_public(&alice_pub);
        let bob_x_pub = identity_x25519_public(&bob_pub);
        // The birational map and the scalar agree: the X25519 forms are one key pair.
        assert_eq!(x25519_public(&alice_x_secret), alice_x_pub);
        assert_eq!(x25519_public(&bob_x_secret), bob_x_pub);

        let spk_pub = x25519_public(&i.signed_prekey_secret);
        let spk_sig = sign(
            &i.bob_identity_seed,
            &spk_signed_message(i.signed_prekey_id, &spk_pub),
        );
        assert!(verifies_strictly(
            &bob_pub,
            &spk_signed_message(i.signed_prekey_id, &spk_pub),
            &spk_sig
        ));
        let opk_pub = i.one_time_prekey.map(|(_, s)| x25519_public(&s));

        let kem_pub = kem_public(&i.kem_seed);
        assert_eq!(kem_pub.len(), super::KEM_PUBLIC_KEY_LEN);
        let kem_message = kem_signed_message(i.kem_prekey_id, &kem_pub);
        assert_eq!(kem_message.len(), 22 + 4 + super::KEM_PUBLIC_KEY_LEN);
        let kem_sig = sign(&i.bob_identity_seed, &kem_message);
        assert!(verifies_strictly(&bob_pub, &kem_message, &kem_sig));
        // The signature covers the id: the same key under another id does not verify.
        assert!(!verifies_strictly(
            &bob_pub,
            &kem_signed_message(i.kem_prekey_id ^ 1, &kem_pub),
            &kem_sig
        ));

        let (kem_ct, kem_ss) = kem_encapsulate(&i.kem_seed, &kem_pub, &i.kem_randomness);
        assert_eq!(kem_ct.len(), super::KEM_CIPHERTEXT_LEN);

        let ek = &i.alice_ephemeral_secret;
        let base_key = x25519_public(ek);
        let mut dh = vec![
            x25519(&alice_x_secret, &spk_pub),
            x25519(ek, &bob_x_pub),
            x25519(ek, &spk_pub),
        ];
        dh.extend(opk_pub.map(|opk| x25519(ek, &opk)));
        // Bob's side: the same outputs with the secrets swapped.
        let mut bob_dh = vec![
            x25519(&i.signed_prekey_secret, &alice_x_pub),
            x25519(&bob_x_secret, &base_key),
            x25519(&i.signed_prekey_secret, &base_key),
        ];
        bob_dh.extend(i.one_time_prekey.map(|(_, s)| x25519(&s, &base_key)));
        assert_eq!(dh, bob_dh, "DH outputs of the two sides");
        assert!(dh.iter().all(|d| d != &[0; 32]), "non-contributory DH");

        let shared_secret = pqxdh_shared_secret(&dh, &kem_ss);
        let associated_data: [u8; 64] = [alice_pub, bob_pub].concat().try_into().unwrap();

        // Alice's first message: her fresh ratchet key against Bob's signed prekey.
        let ratchet_public = x25519_public(&i.alice_ratchet_secret);
        let (root_key, chain_key) =
            kdf_rk(&shared_secret, &x25519(&i.alice_ratchet_secret, &spk_pub));
        let (message_key, _) = kdf_ck(&chain_key);
        let tag = session_tag(&shared_secret, &ratchet_public);
        let header = header(&ratchet_public, &i.reuse_guard, &tag);
        let aad = [&[0x01][..], &associated_data, &header].concat();
        let ciphertext = seal(&message_key, &i.reuse_guard, &aad, &i.plaintext);

        let mut d = Derived {
            alice_identity_public: alice_pub,
            alice_identity_x25519_secret: alice_x_secret,
            alice_identity_x25519_public: alice_x_pub,
            bob_identity_public: bob_pub,
            bob_identity_x25519_secret: bob_x_secret,
            bob_identity_x25519_public: bob_x_pub,
            signed_prekey_public: spk_pub,
            signed_prekey_signature: spk_sig,
            one_time_prekey_public: opk_pub,
            kem_public: kem_pub,
            kem_signature: kem_sig,
            bundle: Vec::new(),
            base_key,
            kem_ciphertext: kem_ct,
            kem_shared_secret: kem_ss,
            dh,
            shared_secret,
            associated_data,
            ratchet_public,
            root_key,
            chain_key,
            message_key,
            session_tag: tag,
            header,
            aead_associated_data: aad,
            ciphertext,
            prekey_message: Vec::new(),
        };
        d.bundle = bundle(i, &d);
        d.prekey_message = prekey_envelope(i, &d);
        assert!(d.prekey_message.ends_with(&d.ciphertext));
        d
    }
}

// ---------------------------------------------------------------------------------------------
// sealpost
// ---------------------------------------------------------------------------------------------

struct Bob {
    identity: IdentityKeyPair,
    prekeys: PreKeys,
}

impl Inputs {
    fn alice(&self) -> IdentityKeyPair {
        IdentityKeyPair::from_seed(&self.alice_identity_seed)
    }

    /// Bob's real prekey store (policy `PostQuantum::Required`, the default) holding exactly
    /// these secrets under these ids. Ids are handed out in sequence, so lower ones are generated
    /// first from filler secrets: signed prekeys (each with its last-resort ML-KEM prekey, which
    /// takes an ML-KEM id) that are then removed, and one-time ML-KEM prekeys that stay.
    fn bob(&self) -> Bob {
        const FILLER: [u8; 32] = [0xee; 32];
        const KEM_FILLER: [u8; KEM_SEED_LEN] = [0xdd; KEM_SEED_LEN];
        let name = &self.name;
        let identity = IdentityKeyPair::from_seed(&self.bob_identity_seed);
        let mut prekeys = PreKeys::new();
        assert_eq!(prekeys.post_quantum(), PostQuantum::Required);
        for id in 0..self.signed_prekey_id {
            let mut rng = ScriptedRng::new([FILLER.to_vec(), KEM_FILLER.to_vec()]);
            assert_eq!(
                prekeys.generate_signed_prekey(&identity, 0, &mut rng),
                Ok(id)
            );
            rng.finish();
            prekeys.remove_signed_prekey(id).unwrap();
        }
        // ML-KEM ids 0..signed_prekey_id went to the removed fillers; the next one is free.
        let first_kem_id = self.signed_prekey_id;
        let kem_fillers = |count: u32, prekeys: &mut PreKeys| {
            let mut rng = ScriptedRng::new(vec![KEM_FILLER.to_vec(); count as usize]);
            let ids = prekeys
                .generate_one_time_kem_prekeys(&identity, count as usize, &mut rng)
                .unwrap();
            rng.finish();
            ids
        };
        // generate_signed_prekey draws the SPK secret, then the last-resort ML-KEM seed.
        let spk_draws = |kem_seed: &[u8; KEM_SEED_LEN]| {
            ScriptedRng::new([self.signed_prekey_secret.to_vec(), kem_seed.to_vec()])
        };
        match self.kem_kind {
            KemKind::LastResort => {
                let fillers = self
                    .kem_prekey_id
                    .checked_sub(first_kem_id)
                    .unwrap_or_else(|| panic!("{name}: last-resort KEM id below the SPK id"));
                kem_fillers(fillers, &mut prekeys);
                let mut rng = spk_draws(&self.kem_seed);
                let spk = prekeys.generate_signed_prekey(&identity, 1_700_000_000, &mut rng);
                rng.finish();
                assert_eq!(spk, Ok(self.signed_prekey_id));
                assert_eq!(
                    prekeys.last_resort_kem_prekey_id(),
                    Some(self.kem_prekey_id)
                );
            }
            KemKind::OneTime => {
                let mut rng = spk_draws(&KEM_FILLER);
                let spk = prekeys.generate_signed_prekey(&identity, 1_700_000_000, &mut rng);
                rng.finish();
                assert_eq!(spk, Ok(self.signed_prekey_id));
                assert_eq!(prekeys.last_resort_kem_prekey_id(), Some(first_kem_id));
                let fillers = self
                    .kem_prekey_id
                    .checked_sub(first_kem_id + 1)
                    .unwrap_or_else(|| panic!("{name}: one-time KEM id not above the SPK id"));
                kem_fillers(fillers, &mut prekeys);
                let mut rng = ScriptedRng::new([self.kem_seed.to_vec()]);
                let ids = prekeys
                    .generate_one_time_kem_prekeys(&identity, 1, &mut rng)
                    .unwrap();
                rng.finish();
                assert_eq!(ids, [self.kem_prekey_id]);
            }
        }
        assert_eq!(
            hazmat::signed_prekey_secret(&prekeys, self.signed_prekey_id),
            Some(self.signed_prekey_secret)
        );
        assert_eq!(
            hazmat::kem_prekey_seed(&prekeys, self.kem_prekey_id),
            Some(self.kem_seed)
        );
        if let Some((id, secret)) = self.one_time_prekey {
            let mut draws = vec![FILLER.to_vec(); id as usize];
            draws.push(secret.to_vec());
            let mut rng = ScriptedRng::new(draws);
            let ids = prekeys
                .generate_one_time_prekeys(id as usize + 1, &mut rng)
                .unwrap();
            rng.finish();
            assert_eq!(ids.last(), Some(&id));
            assert_eq!(hazmat::one_time_prekey_secret(&prekeys, id), Some(secret));
        }
        Bob { identity, prekeys }
    }

    /// Bob publishes a bundle with the chosen ML-KEM prekey; Alice decodes and verifies it
    /// (the strict `verify`, which requires an ML-KEM prekey).
    fn bundle(&self, bob: &Bob) -> (Vec<u8>, VerifiedBundle) {
        let opk = self.one_time_prekey.map(|(id, _)| id);
        let bundle = match self.kem_kind {
            KemKind::LastResort => bob.prekeys.bundle(&bob.identity, opk),
            KemKind::OneTime => {
                bob.prekeys
                    .bundle_with_kem_prekey(&bob.identity, opk, self.kem_prekey_id)
            }
        }
        .unwrap();
        let bytes = bundle.to_bytes();
        let parsed = PreKeyBundle::from_bytes(&bytes).unwrap();
        assert!(parsed.has_kem_prekey());
        let verified = parsed.verify().unwrap();
        assert!(verified.is_post_quantum());
        assert_eq!(verified.kem_prekey_id(), Some(self.kem_prekey_id));
        assert_eq!(verified.signed_prekey_id(), self.signed_prekey_id);
        assert_eq!(verified.one_time_prekey_id(), opk);
        (bytes, verified)
    }
}

/// Runs the case through sealpost and checks every output against `d`: the bundle, both sides
/// of `hazmat`'s PQXDH, the message primitives of `hazmat`, and real sessions (Alice's
/// `initiate` and `encrypt` from scripted randomness, Bob's `accept`).
fn check_sealpost(i: &Inputs, d: &Derived) {
    let name = &i.name;
    let alice_identity = i.alice();
    let mut bob = i.bob();
    assert_eq!(
        alice_identity.public_key().as_bytes(),
        &d.alice_identity_public
    );
    assert_eq!(bob.identity.public_key().as_bytes(), &d.bob_identity_public);
    assert_eq!(
        hazmat::kem_public_key(&i.kem_seed),
        d.kem_public,
        "{name}: libcrux and ml-kem encapsulation keys"
    );
    let (bundle_bytes, bundle) = i.bundle(&bob);
    assert_eq!(hx(&bundle_bytes), hx(&d.bundle), "{name}: bundle bytes");

    // hazmat, both sides.
    let kem_ct: [u8; KEM_CIPHERTEXT_LEN] = d.kem_ciphertext.as_slice().try_into().unwrap();
    let init = hazmat::pqxdh_initiator(
        &alice_identity,
        &i.alice_ephemeral_secret,
        &i.kem_randomness,
        &bundle,
    )
    .unwrap();
    let resp = hazmat::pqxdh_responder(
        &bob.identity,
        &i.signed_prekey_secret,
        i.one_time_prekey.as_ref().map(|(_, s)| s),
        &i.kem_seed,
        alice_identity.public_key(),
        &d.base_key,
        &kem_ct,
    )
    .unwrap();
    for (side, v) in [("initiator", &init), ("responder", &resp)] {
        assert_eq!(v.dh, d.dh, "{name}: {side}: DH outputs");
        assert_eq!(
            hx(&v.kem_ciphertext),
            hx(&d.kem_ciphertext),
            "{name}: {side}: libcrux and ml-kem ciphertexts"
        );
        assert_eq!(
            v.kem_shared_secret, d.kem_shared_secret,
            "{name}: {side}: libcrux and ml-kem shared secrets"
        );
        assert_eq!(v.shared_secret, d.shared_secret, "{name}: {side}: SK");
        assert_eq!(v.associated_data, d.associated_data, "{name}: {side}: AD");
    }

    // hazmat's message primitives.
    let (root_key, chain_key) = hazmat::kdf_rk(
        &d.shared_secret,
        &hazmat::x25519(&i.alice_ratchet_secret, &d.signed_prekey_public),
    );
    assert_eq!((root_key, chain_key), (d.root_key, d.chain_key));
    assert_eq!(hazmat::kdf_ck(&d.chain_key).0, d.message_key);
    assert_eq!(
        hazmat::session_tag(&d.shared_secret, &d.ratchet_public),
        d.session_tag
    );
    let header = hazmat::encode_header(&d.ratchet_public, 0, 0, &i.reuse_guard, &d.session_tag);
    assert_eq!(header, d.header);
    let aad = hazmat::message_aad(&d.associated_data, &header);
    assert_eq!(aad, d.aead_associated_data);
    assert_eq!(
        hazmat::aead_seal(&d.message_key, &i.reuse_guard, &aad, &i.plaintext),
        d.ciphertext
    );
    let envelope = hazmat::encode_envelope_with_kem(
        Some((
            d.alice_identity_public,
            d.base_key,
            i.signed_prekey_id,
            i.one_time_prekey.map(|(id, _)| id),
        )),
        Some((i.kem_prekey_id, kem_ct)),
        &header,
        &d.ciphertext,
    );
    assert_eq!(
        hx(&envelope),
        hx(&d.prekey_message),
        "{name}: hazmat envelope"
    );

    // Real sessions. Session::initiate draws EK_A, the encapsulation randomness m, then the
    // first ratchet secret; the first encryption draws only the reuse guard.
    let mut rng = ScriptedRng::new([
        i.alice_ephemeral_secret.to_vec(),
        i.kem_randomness.to_vec(),
        i.alice_ratchet_secret.to_vec(),
    ]);
    let mut alice = Session::initiate(&alice_identity, &bundle, &mut rng).unwrap();
    rng.finish();
    assert!(alice.is_post_quantum(), "{name}: Alice's session is PQ");
    assert!(alice.awaiting_reply());
    assert_eq!(alice.base_key(), &d.base_key);
    assert_eq!(hazmat::root_key(&alice), d.root_key);
    assert_eq!(hazmat::ratchet_secret(&alice), i.alice_ratchet_secret);
    assert_eq!(hazmat::sending_chain(&alice), Some((d.chain_key, 0)));
    let mut rng = ScriptedRng::new([i.reuse_guard.to_vec()]);
    let wire = alice.encrypt(&mut rng, &i.plaintext).unwrap();
    rng.finish();
    assert_eq!(
        hx(&wire),
        hx(&d.prekey_message),
        "{name}: real prekey message"
    );
    assert_eq!(hazmat::parse_header(&wire), Some((d.ratchet_public, 0, 0)));

    let Envelope::PreKey(first) = Envelope::parse(&wire).unwrap() else {
        panic!("{name}: the first message is not a prekey message")
    };
    assert!(first.is_post_quantum());
    assert_eq!(first.kem_prekey_id(), Some(i.kem_prekey_id));
    assert_eq!(first.signed_prekey_id(), i.signed_prekey_id);
    assert_eq!(
        first.one_time_prekey_id(),
        i.one_time_prekey.map(|(id, _)| id)
    );
    assert_eq!(first.base_key(), &d.base_key);
    assert_eq!(first.sender_identity().as_bytes(), &d.alice_identity_public);
    let (mut bob_session, plaintext) =
        Session::accept(&bob.identity, &mut bob.prekeys, &first).unwrap();
    assert_eq!(plaintext, i.plaintext, "{name}: Bob's decryption");
    assert!(bob_session.is_post_quantum(), "{name}: Bob's session is PQ");
    assert_eq!(hazmat::root_key(&bob_session), d.root_key);
    assert_eq!(hazmat::sending_chain(&bob_session), None);
    // The one-time prekeys are consumed, a last-resort ML-KEM prekey stays.
    if let Some((id, _)) = i.one_time_prekey {
        assert_eq!(hazmat::one_time_prekey_secret(&bob.prekeys, id), None);
    }
    let kem_left = hazmat::kem_prekey_seed(&bob.prekeys, i.kem_prekey_id);
    match i.kem_kind {
        KemKind::LastResort => assert_eq!(kem_left, Some(i.kem_seed)),
        KemKind::OneTime => assert_eq!(kem_left, None),
    }
    // The session works both ways from here.
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let reply = bob_session.encrypt(&mut rng, b"reply").unwrap();
    assert_eq!(alice.decrypt(&reply).unwrap(), b"reply");
    assert!(!alice.awaiting_reply());
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct PqxdhFile {
    description: String,
    fields: BTreeMap<String, String>,
    cases: Vec<PqxdhVector>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct PqxdhVector {
    name: String,
    // Inputs.
    alice_identity_seed: String,
    bob_identity_seed: String,
    bob_signed_prekey_id: u32,
    bob_signed_prekey_secret: String,
    bob_one_time_prekey_id: Option<u32>,
    bob_one_time_prekey_secret: Option<String>,
    bob_kem_prekey_kind: String,
    bob_kem_prekey_id: u32,
    bob_kem_prekey_seed: String,
    alice_ephemeral_secret: String,
    kem_encapsulation_randomness: String,
    alice_ratchet_secret: String,
    reuse_guard: String,
    plaintext: String,
    // Keys and the bundle.
    alice_identity_public: String,
    alice_identity_x25519_secret: String,
    alice_identity_x25519_public: String,
    bob_identity_public: String,
    bob_identity_x25519_secret: String,
    bob_identity_x25519_public: String,
    bob_signed_prekey_public: String,
    bob_signed_prekey_signature: String,
    bob_one_time_prekey_public: Option<String>,
    bob_kem_prekey_public: String,
    bob_kem_prekey_signature: String,
    bob_bundle: String,
    // The handshake.
    alice_ephemeral_public: String,
    kem_ciphertext: String,
    kem_shared_secret: String,
    dh1: String,
    dh2: String,
    dh3: String,
    dh4: Option<String>,
    shared_secret: String,
    associated_data: String,
    // Alice's first message.
    alice_ratchet_public: String,
    root_key: String,
    chain_key: String,
    message_key: String,
    session_tag: String,
    header: String,
    aead_associated_data: String,
    ciphertext: String,
    prekey_message: String,
}

fn vector(i: &Inputs, d: &Derived) -> PqxdhVector {
    PqxdhVector {
        name: i.name.clone(),
        alice_identity_seed: hx(&i.alice_identity_seed),
        bob_identity_seed: hx(&i.bob_identity_seed),
        bob_signed_prekey_id: i.signed_prekey_id,
        bob_signed_prekey_secret: hx(&i.signed_prekey_secret),
        bob_one_time_prekey_id: i.one_time_prekey.map(|(id, _)| id),
        bob_one_time_prekey_secret: i.one_time_prekey.map(|(_, s)| hx(&s)),
        bob_kem_prekey_kind: i.kem_kind.name().into(),
        bob_kem_prekey_id: i.kem_prekey_id,
        bob_kem_prekey_seed: hx(&i.kem_seed),
        alice_ephemeral_secret: hx(&i.alice_ephemeral_secret),
        kem_encapsulation_randomness: hx(&i.kem_randomness),
        alice_ratchet_secret: hx(&i.alice_ratchet_secret),
        reuse_guard: hx(&i.reuse_guard),
        plaintext: hx(&i.plaintext),
        alice_identity_public: hx(&d.alice_identity_public),
        alice_identity_x25519_secret: hx(&d.alice_identity_x25519_secret),
        alice_identity_x25519_public: hx(&d.alice_identity_x25519_public),
        bob_identity_public: hx(&d.bob_identity_public),
        bob_identity_x25519_secret: hx(&d.bob_identity_x25519_secret),
        bob_identity_x25519_public: hx(&d.bob_identity_x25519_public),
        bob_signed_prekey_public: hx(&d.signed_prekey_public),
        bob_signed_prekey_signature: hx(&d.signed_prekey_signature),
        bob_one_time_prekey_public: d.one_time_prekey_public.map(|k| hx(&k)),
        bob_kem_prekey_public: hx(&d.kem_public),
        bob_kem_prekey_signature: hx(&d.kem_signature),
        bob_bundle: hx(&d.bundle),
        alice_ephemeral_public: hx(&d.base_key),
        kem_ciphertext: hx(&d.kem_ciphertext),
        kem_shared_secret: hx(&d.kem_shared_secret),
        dh1: hx(&d.dh[0]),
        dh2: hx(&d.dh[1]),
        dh3: hx(&d.dh[2]),
        dh4: d.dh.get(3).map(|x| hx(x)),
        shared_secret: hx(&d.shared_secret),
        associated_data: hx(&d.associated_data),
        alice_ratchet_public: hx(&d.ratchet_public),
        root_key: hx(&d.root_key),
        chain_key: hx(&d.chain_key),
        message_key: hx(&d.message_key),
        session_tag: hx(&d.session_tag),
        header: hx(&d.header),
        aead_associated_data: hx(&d.aead_associated_data),
        ciphertext: hx(&d.ciphertext),
        prekey_message: hx(&d.prekey_message),
    }
}

/// The inputs of a committed vector.
fn inputs_of(v: &PqxdhVector) -> Inputs {
    let one_time_prekey = match (v.bob_one_time_prekey_id, &v.bob_one_time_prekey_secret) {
        (None, None) => None,
        (Some(id), Some(s)) => Some((id, unhex_n(s))),
        _ => panic!("one-time prekey id and secret must both be present or both null"),
    };
    Inputs {
        name: v.name.clone(),
        alice_identity_seed: unhex_n(&v.alice_identity_seed),
        bob_identity_seed: unhex_n(&v.bob_identity_seed),
        signed_prekey_id: v.bob_signed_prekey_id,
        signed_prekey_secret: unhex_n(&v.bob_signed_prekey_secret),
        one_time_prekey,
        kem_kind: KemKind::parse(&v.bob_kem_prekey_kind),
        kem_prekey_id: v.bob_kem_prekey_id,
        kem_seed: unhex_n(&v.bob_kem_prekey_seed),
        alice_ephemeral_secret: unhex_n(&v.alice_ephemeral_secret),
        kem_randomness: unhex_n(&v.kem_encapsulation_randomness),
        alice_ratchet_secret: unhex_n(&v.alice_ratchet_secret),
        reuse_guard: unhex_n(&v.reuse_guard),
        plaintext: unhex(&v.plaintext),
    }
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

struct Case {
    name: &'static str,
    seed: u64,
    signed_prekey_id: u32,
    one_time_prekey_id: Option<u32>,
    kem_kind: KemKind,
    kem_prekey_id: u32,
    plaintext: &'static [u8],
}

const CASES: &[Case] = &[
    Case {
        name: "last_resort_kem_prekey_with_one_time_prekey",
        seed: 201,
        signed_prekey_id: 1,
        one_time_prekey_id: Some(0),
        kem_kind: KemKind::LastResort,
        kem_prekey_id: 1,
        plaintext: b"Hi, I ordered a blue kettle last week. Has it shipped?",
    },
    Case {
        name: "last_resort_kem_prekey_without_one_time_prekey",
        seed: 202,
        signed_prekey_id: 0,
        one_time_prekey_id: None,
        kem_kind: KemKind::LastResort,
        kem_prekey_id: 0,
        plaintext: b"My heat pump shows error E42.",
    },
    Case {
        name: "one_time_kem_prekey_with_one_time_prekey",
        seed: 203,
        signed_prekey_id: 3,
        one_time_prekey_id: Some(7),
        kem_kind: KemKind::OneTime,
        kem_prekey_id: 5,
        plaintext: b"Can I still change the delivery address?",
    },
    Case {
        name: "one_time_kem_prekey_without_one_time_prekey_empty_plaintext",
        seed: 204,
        signed_prekey_id: 0,
        one_time_prekey_id: None,
        kem_kind: KemKind::OneTime,
        kem_prekey_id: 1,
        plaintext: b"",
    },
    Case {
        name: "multi_byte_ids_one_time_kem_prekey",
        seed: 205,
        signed_prekey_id: 130,
        one_time_prekey_id: Some(200),
        kem_kind: KemKind::OneTime,
        kem_prekey_id: 300,
        plaintext: b"Flat 4, 12 Harbour Road.",
    },
    Case {
        name: "multi_byte_ids_last_resort_kem_prekey",
        seed: 206,
        signed_prekey_id: 128,
        one_time_prekey_id: Some(127),
        kem_kind: KemKind::LastResort,
        kem_prekey_id: 255,
        plaintext: b"A technician can come on Monday at 9:00.",
    },
];

impl Case {
    /// Draws the secrets in a fixed order: Alice's identity seed, Bob's identity seed, SPK, OPK
    /// (if any), the ML-KEM seed (64 bytes), EK_A, m, Alice's first ratchet secret, the guard.
    fn inputs(&self) -> Inputs {
        let mut rng = ChaCha20Rng::seed_from_u64(self.seed);
        let alice_identity_seed = random(&mut rng);
        let bob_identity_seed = random(&mut rng);
        let signed_prekey_secret = random(&mut rng);
        let one_time_prekey = self.one_time_prekey_id.map(|id| (id, random(&mut rng)));
        let kem_seed = random(&mut rng);
        let alice_ephemeral_secret = random(&mut rng);
        let kem_randomness = random(&mut rng);
        let alice_ratchet_secret = random(&mut rng);
        let reuse_guard = random(&mut rng);
        Inputs {
            name: self.name.into(),
            alice_identity_seed,
            bob_identity_seed,
            signed_prekey_id: self.signed_prekey_id,
            signed_prekey_secret,
            one_time_prekey,
            kem_kind: self.kem_kind,
            kem_prekey_id: self.kem_prekey_id,
            kem_seed,
            alice_ephemeral_secret,
            kem_randomness,
            alice_ratchet_secret,
            reuse_guard,
            plaintext: self.plaintext.to_vec(),
        }
    }
}

fn generate() -> PqxdhFile {
    let cases = CASES
        .iter()
        .map(|c| {
            let inputs = c.inputs();
            let derived = reference::derive(&inputs);
            check_sealpost(&inputs, &derived);
            vector(&inputs, &derived)
        })
        .collect();
    PqxdhFile {
        description: DESCRIPTION.into(),
        fields: FIELDS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        cases,
    }
}

const DESCRIPTION: &str = "sealpost PQXDH test vectors (DESIGN.md section 3b: X3DH with an \
ML-KEM-768 prekey). Generated by tests/pqxdh_vectors.rs from seeded ChaCha20 generators \
(SEALPOST_REGENERATE_VECTORS=1 cargo test --test pqxdh_vectors). Every value is computed by an \
implementation on the underlying crates (x25519-dalek, ed25519-dalek, hkdf/sha2, \
chacha20poly1305, RustCrypto ml-kem) and checked against sealpost (libcrux-ml-kem): its hazmat \
functions for both sides and real sessions, where Bob's Session::accept decrypts prekey_message \
and both sessions report is_post_quantum. Byte strings are lowercase hex. Each case is a \
handshake and Alice's first message. Identity keys and the X3DH part are as in x3dh.json; \
ML-KEM-768 is FIPS 203: the KEM prekey's secret is its 64-byte key-generation seed d || z \
(ML-KEM.KeyGen_internal(d, z)), the ciphertext and shared secret are ML-KEM.Encaps_internal(ek, m) \
with the given 32-byte m. shared_secret = HKDF-SHA256(salt = 32 zero bytes, ikm = 32 bytes 0xff \
|| dh1 || dh2 || dh3 [|| dh4] || kem_shared_secret, info = 'sealpost pqxdh v1', L = 32). \
bob_kem_prekey_signature = Ed25519(Bob's identity, 'sealpost kem prekey v1' || id (u32 \
big-endian) || bob_kem_prekey_public). The first message follows ratchet.json: Alice's fresh \
ratchet key against Bob's signed prekey, n = pn = 0. prekey_message is the whole Envelope; in its \
PreKeyMessage the fields 6 (kem_prekey_id) and 7 (kem_ciphertext) are written before field 5 \
(message), so that the inner ciphertext ends the envelope. Randomness is drawn by sealpost in \
this order: PreKeys::generate_signed_prekey draws the signed prekey secret, then the 64-byte seed \
of its last-resort ML-KEM prekey; generate_one_time_kem_prekeys draws 64 bytes per key; \
Session::initiate draws EK_A, m, then Alice's first ratchet secret; the first encryption draws \
the reuse guard. Field meanings are in 'fields'.";

const FIELDS: &[(&str, &str)] = &[
    (
        "alice_identity_seed",
        "Alice's identity: RFC 8032 Ed25519 secret key",
    ),
    (
        "bob_identity_seed",
        "Bob's identity: RFC 8032 Ed25519 secret key",
    ),
    (
        "bob_signed_prekey_id",
        "id of Bob's signed prekey SPK_B (u32)",
    ),
    (
        "bob_signed_prekey_secret",
        "SPK_B's X25519 secret (clamped when used, RFC 7748)",
    ),
    (
        "bob_one_time_prekey_id",
        "id of Bob's one-time prekey OPK_B, or null without one",
    ),
    (
        "bob_one_time_prekey_secret",
        "OPK_B's X25519 secret, or null",
    ),
    (
        "bob_kem_prekey_kind",
        "last_resort: the ML-KEM prekey published with the signed prekey (PreKeys::bundle); one_time: a one-time ML-KEM prekey (PreKeys::bundle_with_kem_prekey), consumed by the handshake",
    ),
    ("bob_kem_prekey_id", "id of Bob's ML-KEM prekey (u32)"),
    (
        "bob_kem_prekey_seed",
        "the ML-KEM-768 key-generation seed d || z (64 bytes)",
    ),
    ("alice_ephemeral_secret", "EK_A's X25519 secret"),
    (
        "kem_encapsulation_randomness",
        "m, the 32 bytes of ML-KEM.Encaps_internal",
    ),
    (
        "alice_ratchet_secret",
        "Alice's first ratchet X25519 secret (drawn after EK_A and m)",
    ),
    ("reuse_guard", "the first message's 4-byte reuse guard"),
    ("plaintext", "the first message's plaintext"),
    (
        "alice_identity_public",
        "IK_A, the Ed25519 public key (32 bytes)",
    ),
    (
        "alice_identity_x25519_secret",
        "IK_A's X25519 secret: SHA-512(alice_identity_seed)[0..32]",
    ),
    (
        "alice_identity_x25519_public",
        "IK_A's X25519 public key: Montgomery form of the Ed25519 point",
    ),
    (
        "bob_identity_public",
        "IK_B, the Ed25519 public key (32 bytes)",
    ),
    (
        "bob_identity_x25519_secret",
        "IK_B's X25519 secret: SHA-512(bob_identity_seed)[0..32]",
    ),
    (
        "bob_identity_x25519_public",
        "IK_B's X25519 public key: Montgomery form of the Ed25519 point",
    ),
    ("bob_signed_prekey_public", "SPK_B's X25519 public key"),
    (
        "bob_signed_prekey_signature",
        "Ed25519(Bob's identity, 'sealpost spk v1' || id (u32 big-endian) || bob_signed_prekey_public)",
    ),
    (
        "bob_one_time_prekey_public",
        "OPK_B's X25519 public key, or null",
    ),
    (
        "bob_kem_prekey_public",
        "the ML-KEM-768 encapsulation key of the seed (1184 bytes, FIPS 203 encoding)",
    ),
    (
        "bob_kem_prekey_signature",
        "Ed25519(Bob's identity, 'sealpost kem prekey v1' || id (u32 big-endian) || bob_kem_prekey_public)",
    ),
    (
        "bob_bundle",
        "the published PreKeyBundle (proto/wire.proto), fields in number order, kem_prekey_id written even when 0",
    ),
    (
        "alice_ephemeral_public",
        "EK_A's X25519 public key: the base key of the prekey message",
    ),
    (
        "kem_ciphertext",
        "ML-KEM.Encaps_internal(bob_kem_prekey_public, m).c (1088 bytes)",
    ),
    (
        "kem_shared_secret",
        "SS = ML-KEM.Encaps_internal(bob_kem_prekey_public, m).K, equal to ML-KEM.Decaps(seed's key, kem_ciphertext)",
    ),
    ("dh1", "X25519(IK_A, SPK_B)"),
    ("dh2", "X25519(EK_A, IK_B)"),
    ("dh3", "X25519(EK_A, SPK_B)"),
    (
        "dh4",
        "X25519(EK_A, OPK_B), or null without a one-time prekey",
    ),
    (
        "shared_secret",
        "SK = HKDF-SHA256(salt = 0^32, ikm = 0xff^32 || dh1 || dh2 || dh3 [|| dh4] || kem_shared_secret, info = 'sealpost pqxdh v1', L = 32)",
    ),
    (
        "associated_data",
        "AD = alice_identity_public || bob_identity_public",
    ),
    (
        "alice_ratchet_public",
        "X25519 public key of alice_ratchet_secret",
    ),
    (
        "root_key",
        "KDF_RK(shared_secret, X25519(alice_ratchet_secret, SPK_B)).0 (see ratchet.json)",
    ),
    (
        "chain_key",
        "KDF_RK(shared_secret, X25519(alice_ratchet_secret, SPK_B)).1: Alice's first sending chain key",
    ),
    ("message_key", "KDF_CK(chain_key).0"),
    (
        "session_tag",
        "HMAC-SHA256(HKDF-SHA256(salt = 0^32, ikm = shared_secret, info = 'sealpost session tag v1', L = 32), alice_ratchet_public)[0..8]",
    ),
    (
        "header",
        "RatchetHeader protobuf bytes (ratchet key, pn = 0, n = 0, reuse guard, session tag)",
    ),
    ("aead_associated_data", "0x01 || associated_data || header"),
    (
        "ciphertext",
        "ChaCha20-Poly1305(key = message_key, nonce = reuse_guard || 0^8, aad = aead_associated_data, plaintext) || 16-byte tag",
    ),
    (
        "prekey_message",
        "the whole Envelope: version 1, PreKeyMessage { 1 identity_key, 2 base_key, 3 signed_prekey_id, 4 one_time_prekey_id, 6 kem_prekey_id, 7 kem_ciphertext, 5 message { 1 header, 2 ciphertext } } in that byte order",
    ),
];

// ---------------------------------------------------------------------------------------------
// Files and tests
// ---------------------------------------------------------------------------------------------

fn vector_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(FILE)
}

fn read_vectors() -> String {
    let path = vector_path();
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (create it with {REGENERATE_ENV}=1 cargo test --test pqxdh_vectors)",
            path.display()
        )
    })
}

fn committed() -> PqxdhFile {
    serde_json::from_str(&read_vectors()).unwrap()
}

/// The first place two JSON values differ, as a path.
fn first_difference(path: &str, fresh: &Value, committed: &Value) -> Option<String> {
    match (fresh, committed) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys()
                .chain(y.keys())
                .find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => first_difference(&format!("{path}.{k}"), p, q),
                    _ => Some(format!("{path}.{k} (only on one side)")),
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(&format!("{path}[{i}]"), p, q)),
        _ if fresh == committed => None,
        _ => Some(format!("{path}: fresh {fresh}, committed {committed}")),
    }
}

/// Panics naming the first field where `fresh` and `committed` differ.
fn assert_same<T: Serialize>(what: &str, fresh: &T, committed: &T) {
    let (f, c) = (
        serde_json::to_value(fresh).unwrap(),
        serde_json::to_value(committed).unwrap(),
    );
    if let Some(diff) = first_difference("$", &f, &c) {
        panic!("{what}: recomputed value differs at {diff}");
    }
}

fn to_text(file: &PqxdhFile) -> String {
    let mut text = serde_json::to_string_pretty(file).unwrap();
    text.push('\n');
    text
}

#[test]
fn vectors_match_committed_file() {
    let fresh = to_text(&generate());
    if std::env::var(REGENERATE_ENV).is_ok_and(|v| v == "1") {
        // Write and rename, so the other tests never read a half-written file.
        let path = vector_path();
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, &fresh).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        return;
    }
    let committed = read_vectors();
    if fresh != committed {
        let diff = first_difference(
            "$",
            &serde_json::from_str(&fresh).unwrap(),
            &serde_json::from_str(&committed).unwrap(),
        )
        .unwrap_or_else(|| "formatting only".into());
        panic!(
            "{FILE} differs from a fresh generation at {diff}. If the change is intended, \
             regenerate with {REGENERATE_ENV}=1 cargo test --test pqxdh_vectors and review the \
             diff."
        );
    }
}

/// Recomputes every committed value from the committed inputs with [`reference`] alone.
#[test]
fn committed_vectors_verify_from_primitives() {
    let file = committed();
    assert_eq!(file.description, DESCRIPTION);
    for v in &file.cases {
        let inputs = inputs_of(v);
        let recomputed = vector(&inputs, &reference::derive(&inputs));
        assert_same(&format!("{FILE} case {}", v.name), &recomputed, v);
    }

    // What the cases must cover between them.
    let cases = &file.cases;
    for kind in ["last_resort", "one_time"] {
        for with_opk in [true, false] {
            assert!(
                cases
                    .iter()
                    .any(|c| c.bob_kem_prekey_kind == kind && c.dh4.is_some() == with_opk),
                "no case with a {kind} KEM prekey and one-time prekey: {with_opk}"
            );
        }
    }
    // Multi-byte varints for every id, and an ML-KEM prekey id 0 (an optional field that is
    // still written).
    assert!(cases.iter().any(|c| c.bob_signed_prekey_id > 127));
    assert!(cases.iter().any(|c| c.bob_one_time_prekey_id > Some(127)));
    assert!(
        cases
            .iter()
            .any(|c| c.bob_kem_prekey_kind == "one_time" && c.bob_kem_prekey_id > 127)
    );
    assert!(
        cases
            .iter()
            .any(|c| c.bob_kem_prekey_kind == "last_resort" && c.bob_kem_prekey_id > 127)
    );
    assert!(cases.iter().any(|c| c.bob_kem_prekey_id == 0));
    assert!(cases.iter().any(|c| c.plaintext.is_empty()));
    for c in cases {
        assert_eq!(c.bob_kem_prekey_seed.len(), 2 * KEM_SEED_LEN);
        assert_eq!(c.bob_kem_prekey_public.len(), 2 * KEM_PUBLIC_KEY_LEN);
        assert_eq!(c.kem_ciphertext.len(), 2 * KEM_CIPHERTEXT_LEN);
    }
}

/// Feeds the committed inputs to sealpost and compares its outputs with the committed values.
#[test]
fn committed_vectors_replay_through_sealpost() {
    for v in &committed().cases {
        let inputs = inputs_of(v);
        let expected = Derived {
            alice_identity_public: unhex_n(&v.alice_identity_public),
            alice_identity_x25519_secret: unhex_n(&v.alice_identity_x25519_secret),
            alice_identity_x25519_public: unhex_n(&v.alice_identity_x25519_public),
            bob_identity_public: unhex_n(&v.bob_identity_public),
            bob_identity_x25519_secret: unhex_n(&v.bob_identity_x25519_secret),
            bob_identity_x25519_public: unhex_n(&v.bob_identity_x25519_public),
            signed_prekey_public: unhex_n(&v.bob_signed_prekey_public),
            signed_prekey_signature: unhex_n(&v.bob_signed_prekey_signature),
            one_time_prekey_public: v.bob_one_time_prekey_public.as_deref().map(unhex_n),
            kem_public: unhex(&v.bob_kem_prekey_public),
            kem_signature: unhex_n(&v.bob_kem_prekey_signature),
            bundle: unhex(&v.bob_bundle),
            base_key: unhex_n(&v.alice_ephemeral_public),
            kem_ciphertext: unhex(&v.kem_ciphertext),
            kem_shared_secret: unhex_n(&v.kem_shared_secret),
            dh: [Some(&v.dh1), Some(&v.dh2), Some(&v.dh3), v.dh4.as_ref()]
                .into_iter()
                .flatten()
                .map(|d| unhex_n(d))
                .collect(),
            shared_secret: unhex_n(&v.shared_secret),
            associated_data: unhex_n(&v.associated_data),
            ratchet_public: unhex_n(&v.alice_ratchet_public),
            root_key: unhex_n(&v.root_key),
            chain_key: unhex_n(&v.chain_key),
            message_key: unhex_n(&v.message_key),
            session_tag: unhex_n(&v.session_tag),
            header: unhex(&v.header),
            aead_associated_data: unhex(&v.aead_associated_data),
            ciphertext: unhex(&v.ciphertext),
            prekey_message: unhex(&v.prekey_message),
        };
        check_sealpost(&inputs, &expected);
    }
}
