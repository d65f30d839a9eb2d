//! Session records as a gateway persists them, against the number of stored skipped keys, and
//! the sizes of records and messages.
//!
//! Two paths, both timed (DESIGN.md §9: record encode + decode of a fresh session < 10 µs):
//!
//! - **sealed** (`SessionRecord::seal` / `open`): what a gateway and the `Store` do on every
//!   message. `open` authenticates the bytes with the storage key before decoding, and then
//!   trusts the identity keys in them to have been validated before they were sealed
//!   (PROTOCOL.md §6.4): only their encodings are checked.
//! - **unsealed** (`SessionRecord::to_bytes` / `from_bytes`): bytes from anywhere. Decoding
//!   validates both identity keys in full (decompression, small order, torsion), which costs
//!   far more than the rest: `identity_validation/0` times `IdentityKey::from_bytes` on both,
//!   and `floor_identity_validation/0` the same checks straight from curve25519-dalek, the floor
//!   of the unsealed cycle (paired ratio written for `benches/report.py`).
//!
//! The record is the business's side of a conversation: one session after a round trip, then
//! `k` skipped keys of the customer's current chain. Sizes go to
//! `<criterion home>/sealpost-sizes.json` for `benches/report.py`.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use curve25519_dalek::edwards::CompressedEdwardsY;
use sealpost::{IdentityKey, PreKeys, SessionRecord, StorageKey};

use common::{paired, time_n};

/// V1 from the primitive crate: canonical `y`, on the curve, not small order, torsion-free
/// (a sign bit on `x = 0` only occurs on small-order points). No X25519 form: a restored
/// session does not need it.
fn floor_validate(bytes: &[u8; 32]) -> bool {
    common::canonical_y(bytes)
        && CompressedEdwardsY(*bytes)
            .decompress()
            .is_some_and(|p| !p.is_small_order() && p.is_torsion_free())
}

/// The records of a conversation between `Parties::alice` (customer) and `Parties::bob`
/// (business): the business's record after the customer's first message, the reply, and a
/// message on the customer's next chain that skips `k` others.
struct Conversation {
    customer_after_initiate: SessionRecord,
    business_after_accept: SessionRecord,
    business: SessionRecord,
    prekey_message: Vec<u8>,
    ratchet_message: Vec<u8>,
}

fn conversation(seed: u64, k: usize) -> Conversation {
    let mut rng = common::rng(seed);
    let mut p = common::Parties::new(&mut rng);
    let bundle = p.verified_bundle();
    let mut customer = SessionRecord::new();
    customer.initiate(&p.alice, &bundle, &mut rng).unwrap();
    let customer_after_initiate = customer.clone();
    let pt = [0u8; 64];
    let prekey_message = customer.encrypt(&mut rng, &pt).unwrap();
    let mut business = SessionRecord::new();
    business
        .decrypt(&p.bob, &mut p.prekeys, &prekey_message)
        .unwrap();
    let business_after_accept = business.clone();
    let ratchet_message = business.encrypt(&mut rng, &pt).unwrap();
    customer
        .decrypt(&p.alice, &mut PreKeys::new(), &ratchet_message)
        .unwrap();
    for i in 0..k {
        customer
            .encrypt(&mut rng, &(i as u64).to_le_bytes())
            .unwrap();
    }
    let last = customer.encrypt(&mut rng, b"last").unwrap();
    business.decrypt(&p.bob, &mut p.prekeys, &last).unwrap();
    assert_eq!(business.current().unwrap().skipped_keys(), k);
    Conversation {
        customer_after_initiate,
        business_after_accept,
        business,
        prekey_message,
        ratchet_message,
    }
}

/// Sizes of records (`SessionRecord::to_bytes`, unsealed) and message overheads.
fn sizes(key: &StorageKey) -> BTreeMap<&'static str, usize> {
    let mut sizes = BTreeMap::new();
    let c = conversation(7, 0);
    sizes.insert(
        "record_initiator_after_initiate",
        c.customer_after_initiate.to_bytes().len(),
    );
    sizes.insert(
        "record_responder_after_accept",
        c.business_after_accept.to_bytes().len(),
    );
    sizes.insert("message_overhead_prekey_64", c.prekey_message.len() - 64);
    sizes.insert("message_overhead_ratchet_64", c.ratchet_message.len() - 64);
    let bytes = c.business.to_bytes().len();
    let sealed = c.business.seal(key, &mut common::rng(8)).len();
    sizes.insert("seal_overhead", sealed - bytes);
    for k in [0usize, 1000, 2000] {
        let name = match k {
            0 => "record_established",
            1000 => "record_skipped_1000",
            _ => "record_skipped_2000",
        };
        sizes.insert(
            name,
            conversation(40 + k as u64, k).business.to_bytes().len(),
        );
    }
    sizes
}

fn record(c: &mut Criterion) {
    let key = StorageKey::from_bytes([0x5e; 32]);
    let sizes = sizes(&key);
    let dir = common::criterion_home();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sealpost-sizes.json");
    std::fs::write(&path, serde_json::to_string_pretty(&sizes).unwrap()).unwrap();
    eprintln!("sizes written to {}: {sizes:?}", path.display());

    let mut rng = common::rng(9);
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    for k in [0usize, 1000, 2000] {
        let record = conversation(40 + k as u64, k).business;
        let bytes = record.to_bytes();
        let sealed = record.seal(&key, &mut rng);
        // Both paths restore the same record.
        assert_eq!(SessionRecord::from_bytes(&bytes).unwrap().to_bytes(), bytes);
        assert_eq!(
            SessionRecord::open(&sealed, &key).unwrap().to_bytes(),
            bytes
        );

        g.bench_with_input(BenchmarkId::new("encode", k), &record, |b, r| {
            b.iter(|| black_box(r).to_bytes())
        });
        g.bench_with_input(BenchmarkId::new("decode", k), &bytes, |b, bytes| {
            b.iter(|| SessionRecord::from_bytes(black_box(bytes)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("seal", k), &record, |b, r| {
            b.iter(|| black_box(r).seal(&key, &mut rng))
        });
        g.bench_with_input(BenchmarkId::new("open", k), &sealed, |b, sealed| {
            b.iter(|| SessionRecord::open(black_box(sealed), &key).unwrap())
        });
        if k > 0 {
            continue;
        }
        // One persist-and-reload cycle per path, as the target states it.
        g.bench_with_input(BenchmarkId::new("encode_decode", k), &record, |b, r| {
            b.iter(|| SessionRecord::from_bytes(&black_box(r).to_bytes()).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("seal_open", k), &record, |b, r| {
            b.iter(|| SessionRecord::open(&black_box(r).seal(&key, &mut rng), &key).unwrap())
        });
        // The part of `decode` that bytes from outside cannot skip: both identities' V1 checks.
        let session = record.current().unwrap();
        let ids = [
            session.local_identity().to_bytes(),
            session.remote_identity().to_bytes(),
        ];
        // The floor accepts the valid keys and refuses one with a torsion component.
        let torsion = (CompressedEdwardsY(ids[0]).decompress().unwrap()
            + curve25519_dalek::constants::EIGHT_TORSION[1])
            .compress()
            .to_bytes();
        for (id, valid) in [(ids[0], true), (ids[1], true), (torsion, false)] {
            assert_eq!(floor_validate(&id), valid);
            assert_eq!(IdentityKey::from_bytes(&id).is_ok(), valid);
        }
        g.bench_with_input(
            BenchmarkId::new("identity_validation", k),
            &ids,
            |b, ids| {
                b.iter(|| {
                    for id in black_box(ids) {
                        black_box(IdentityKey::from_bytes(id).unwrap());
                    }
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("floor_identity_validation", k),
            &ids,
            |b, ids| b.iter(|| black_box(ids).iter().all(floor_validate)),
        );
        let op = |n| {
            time_n(n, || {
                drop(SessionRecord::from_bytes(&record.to_bytes()).unwrap())
            })
        };
        let floor = |n| time_n(n, || assert!(black_box(&ids).iter().all(floor_validate)));
        paired(
            "record/encode_decode/0",
            "record/floor_identity_validation/0",
            op,
            floor,
        );
    }
    g.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
