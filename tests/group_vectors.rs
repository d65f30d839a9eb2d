//! Sender-key test vectors: `tests/vectors/sender_keys.json` (PROTOCOL.md §7.3).
//!
//! Generated deterministically from `ChaCha20Rng::seed_from_u64(SEED)` through the `hazmat`
//! entry points, and checked against a fresh run; `SEALPOST_REGENERATE_VECTORS=1` rewrites the
//! file. A second test re-derives every value independently of sealpost's own code paths
//! (HMAC-SHA256, ChaCha20-Poly1305 and Ed25519 from their crates, the protobuf body parsed by
//! hand) and decrypts every message through the receiving path.
//!
//! Each case's `chain_key` is the chain key at `iteration` (what a distribution message hands
//! out); each message's `message_key` is `KDF_CK`'s `mk` at the message's own iteration. Edge
//! cases, by name: a fresh chain with an empty plaintext; a distribution handed out mid-chain
//! with messages skipped and out of order; the longest group id and a chain id with the high
//! bit set; the last usable iterations; chain id and iteration 0 (omitted from the protobuf
//! body) with a 1 KiB plaintext.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, Tag};
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use sealpost::group::ChannelId;
use sealpost::hazmat;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/sender_keys.json"
);
const SEED: u64 = 0x5ea1_7057;

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
struct Case {
    name: String,
    group_id: String,
    chain_id: u32,
    iteration: u32,
    chain_key: String,
    signing_seed: String,
    messages: Vec<MessageVector>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
struct MessageVector {
    iteration: u32,
    message_key: String,
    plaintext: String,
    aead_associated_data: String,
    ciphertext: String,
    signature: String,
    message: String,
}

struct Spec {
    name: &'static str,
    /// `None`: 16 random bytes.
    group_id: Option<Vec<u8>>,
    /// `None`: random.
    chain_id: Option<u32>,
    iteration: u32,
    /// (iteration, plaintext length), in sending order.
    messages: Vec<(u32, usize)>,
}

fn specs() -> Vec<Spec> {
    vec![
        Spec {
            name: "fresh chain: iterations 0-2 in order, first plaintext empty",
            group_id: Some(b"installers-north".to_vec()),
            chain_id: None,
            iteration: 0,
            messages: vec![(0, 0), (1, 5), (2, 64)],
        },
        Spec {
            name: "handed out at iteration 1000: messages 1000, 1003, 1001 (skipped, reordered)",
            group_id: None,
            chain_id: None,
            iteration: 1000,
            messages: vec![(1000, 32), (1003, 32), (1001, 32)],
        },
        Spec {
            name: "64-byte group id, chain id with the high bit set",
            group_id: Some((0u8..64).collect()),
            chain_id: Some(0x8000_0001),
            iteration: 7,
            messages: vec![(7, 17), (8, 1)],
        },
        Spec {
            name: "last usable iterations (u32::MAX - 2, u32::MAX - 1)",
            group_id: Some(b"news".to_vec()),
            chain_id: None,
            iteration: u32::MAX - 2,
            messages: vec![(u32::MAX - 2, 12), (u32::MAX - 1, 12)],
        },
        Spec {
            name: "chain id 0 and iteration 0 (omitted from the body), 1 KiB plaintext",
            group_id: Some(b"product-updates".to_vec()),
            chain_id: Some(0),
            iteration: 0,
            messages: vec![(0, 1024)],
        },
    ]
}

fn generate() -> Vectors {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut bytes = |n: usize| {
        let mut v = vec![0u8; n];
        rng.fill_bytes(&mut v);
        v
    };
    let mut cases = Vec::new();
    for spec in specs() {
        let group_id = spec.group_id.clone().unwrap_or_else(|| bytes(16));
        let drawn = u32::from_be_bytes(bytes(4).try_into().unwrap());
        let chain_id = spec.chain_id.unwrap_or(drawn);
        let chain_key: [u8; 32] = bytes(32).try_into().unwrap();
        let signing_seed: [u8; 32] = bytes(32).try_into().unwrap();
        let channel = ChannelId::new(&group_id).unwrap();
        let mut messages = Vec::new();
        for &(iteration, len) in &spec.messages {
            let mut ck = chain_key;
            for _ in spec.iteration..iteration {
                ck = hazmat::kdf_ck(&ck).1;
            }
            let guard: [u8; 4] = bytes(4).try_into().unwrap();
            let plaintext = bytes(len);
            let v = hazmat::group_encrypt(
                &channel,
                chain_id,
                iteration,
                &ck,
                &signing_seed,
                &guard,
                &plaintext,
            )
            .unwrap();
            messages.push(MessageVector {
                iteration,
                message_key: hex::encode(v.message_key),
                plaintext: hex::encode(&plaintext),
                aead_associated_data: hex::encode(&v.aead_associated_data),
                ciphertext: hex::encode(&v.ciphertext),
                signature: hex::encode(v.signature),
                message: hex::encode(&v.message),
            });
        }
        cases.push(Case {
            name: spec.name.to_string(),
            group_id: hex::encode(&group_id),
            chain_id,
            iteration: spec.iteration,
            chain_key: hex::encode(chain_key),
            signing_seed: hex::encode(signing_seed),
            messages,
        });
    }
    Vectors { cases }
}

fn load() -> Vectors {
    let text = std::fs::read_to_string(PATH).expect("tests/vectors/sender_keys.json");
    serde_json::from_str(&text).expect("valid vector file")
}

#[test]
fn vectors_match_a_fresh_run() {
    let fresh = generate();
    if std::env::var("SEALPOST_REGENERATE_VECTORS").as_deref() == Ok("1") {
        let mut text = serde_json::to_string_pretty(&fresh).unwrap();
        text.push('\n');
        std::fs::write(PATH, text).unwrap();
    }
    let stored = load();
    assert_eq!(stored.cases.len(), specs().len());
    assert_eq!(
        stored, fresh,
        "run with SEALPOST_REGENERATE_VECTORS=1 to rewrite"
    );
}

fn unhex<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn hmac(key: &[u8; 32], byte: u8) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    m.update(&[byte]);
    m.finalize().into_bytes().into()
}

/// Minimal protobuf reading of `GroupMessageBody` for the independent check:
/// (chain id, iteration, guard, ciphertext).
fn parse_body(mut b: &[u8]) -> (u32, u32, [u8; 4], Vec<u8>) {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for i in 0.. {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                break;
            }
        }
        v
    }
    let (mut chain_id, mut iteration, mut guard, mut ct) = (0, 0, [0u8; 4], Vec::new());
    while !b.is_empty() {
        let key = varint(&mut b);
        match (key >> 3, key & 7) {
            (1, 0) => chain_id = varint(&mut b) as u32,
            (2, 0) => iteration = varint(&mut b) as u32,
            (field @ (3 | 4), 2) => {
                let len = varint(&mut b) as usize;
                let (v, rest) = b.split_at(len);
                b = rest;
                if field == 3 {
                    guard = v.try_into().unwrap();
                } else {
                    ct = v.to_vec();
                }
            }
            other => panic!("unexpected field {other:?}"),
        }
    }
    (chain_id, iteration, guard, ct)
}

#[test]
fn vectors_verify_independently_and_decrypt() {
    // While the other test rewrites the file, check the fresh values instead of racing it.
    let v = if std::env::var("SEALPOST_REGENERATE_VECTORS").as_deref() == Ok("1") {
        generate()
    } else {
        load()
    };
    for case in &v.cases {
        let group_id = hex::decode(&case.group_id).unwrap();
        let channel = ChannelId::new(&group_id).unwrap();
        let chain_key: [u8; 32] = unhex(&case.chain_key);
        let seed: [u8; 32] = unhex(&case.signing_seed);
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        assert_eq!(public.to_bytes(), hazmat::group_signing_public(&seed));
        for m in &case.messages {
            let name = format!("{} / iteration {}", case.name, m.iteration);
            // KDF_CK, with HMAC-SHA256 from its crate.
            let mut ck = chain_key;
            for _ in case.iteration..m.iteration {
                ck = hmac(&ck, 0x02);
            }
            let mk = hmac(&ck, 0x01);
            assert_eq!(hex::encode(mk), m.message_key, "{name}");
            // AD = 0x01 || len || group id || chain id BE || iteration BE.
            let mut ad = vec![0x01, group_id.len() as u8];
            ad.extend_from_slice(&group_id);
            ad.extend_from_slice(&case.chain_id.to_be_bytes());
            ad.extend_from_slice(&m.iteration.to_be_bytes());
            assert_eq!(hex::encode(&ad), m.aead_associated_data, "{name}");
            // message = body || signature over every body byte (verify_strict).
            let message = hex::decode(&m.message).unwrap();
            let (body, sig) = message.split_at(message.len() - 64);
            assert_eq!(hex::encode(sig), m.signature, "{name}");
            let sig = Signature::from_slice(sig).unwrap();
            VerifyingKey::from_bytes(&public.to_bytes())
                .unwrap()
                .verify_strict(body, &sig)
                .unwrap();
            let (chain_id, iteration, guard, ct) = parse_body(body);
            assert_eq!(
                (chain_id, iteration),
                (case.chain_id, m.iteration),
                "{name}"
            );
            assert_eq!(hex::encode(&ct), m.ciphertext, "{name}");
            // ChaCha20-Poly1305, nonce = guard || 8 zero bytes.
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&guard);
            let (ct_only, tag) = ct.split_at(ct.len() - 16);
            let mut pt = ct_only.to_vec();
            ChaCha20Poly1305::new(&mk.into())
                .decrypt_inout_detached(
                    &Nonce::from(nonce),
                    &ad,
                    (&mut pt[..]).into(),
                    &Tag::try_from(tag).unwrap(),
                )
                .unwrap();
            assert_eq!(hex::encode(&pt), m.plaintext, "{name}");
            // And through sealpost's receiving path, from the distributed state.
            let got = hazmat::group_decrypt(
                &channel,
                case.chain_id,
                case.iteration,
                &chain_key,
                &public.to_bytes(),
                &message,
            )
            .unwrap();
            assert_eq!(got, pt, "{name}");
        }
    }
}
