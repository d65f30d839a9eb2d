//! Cost against the number of archived sessions in a per-peer record (issue 4).
//!
//! - Decrypting: the session is found by receiving-chain match or session tag, so a valid
//!   message costs one DH step and a forged one at most one DH step, however many sessions are
//!   archived.
//! - Loading and storing the record: `open` / `seal` (the gateway's path, PROTOCOL.md §6.4)
//!   and `from_bytes` (untrusted bytes). These grow with the record by nature; `from_bytes`
//!   validates each distinct identity key once per record, not once per session.
//!
//! Record sizes go to `<criterion home>/sealpost-sizes-archive.json` for `benches/report.py`.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sealpost::consts::MAX_ARCHIVED_SESSIONS;
use sealpost::{IdentityKeyPair, PreKeyBundle, PreKeys, SessionRecord, StorageKey};

struct Setup {
    business: IdentityKeyPair,
    prekeys: PreKeys,
    record: SessionRecord,
    /// A message on a new ratchet key from the oldest session (found by its tag).
    valid: Vec<u8>,
    /// The same message with one ciphertext bit flipped: tag matches, AEAD fails after one DH.
    forged: Vec<u8>,
}

fn setup(archived: usize) -> Setup {
    let mut rng = ChaCha20Rng::seed_from_u64(archived as u64);
    let business = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(&business, 0, &mut rng)
        .unwrap();
    let bundle = PreKeyBundle::from_bytes(&prekeys.bundle(&business, None).unwrap().to_bytes())
        .unwrap()
        .verify()
        .unwrap();
    let customer = IdentityKeyPair::generate(&mut rng);
    let mut record = SessionRecord::new();
    let mut customers = Vec::new();
    for _ in 0..=archived {
        // The customer reinstalls: a new session each time, the business archives the old one.
        let mut c = SessionRecord::new();
        c.initiate(&customer, &bundle, &mut rng).unwrap();
        let m = c.encrypt(&mut rng, b"hello").unwrap();
        record.decrypt(&business, &mut prekeys, &m).unwrap();
        let reply = record.encrypt(&mut rng, b"hi").unwrap();
        c.decrypt(&customer, &mut PreKeys::new(), &reply).unwrap();
        customers.push(c);
    }
    assert_eq!(record.archived(), archived);
    let valid = customers[0].encrypt(&mut rng, &[7u8; 64]).unwrap();
    let mut forged = valid.clone();
    let n = forged.len();
    forged[n - 1] ^= 1;
    Setup {
        business,
        prekeys,
        record,
        valid,
        forged,
    }
}

fn archive(c: &mut Criterion) {
    let key = StorageKey::from_bytes([0x5e; 32]);
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let mut sizes = BTreeMap::new();
    let mut g = c.benchmark_group("archive");
    for archived in [0usize, MAX_ARCHIVED_SESSIONS] {
        let mut s = setup(archived);
        let bytes = s.record.to_bytes();
        let sealed = s.record.seal(&key, &mut rng);
        assert_eq!(SessionRecord::from_bytes(&bytes).unwrap().to_bytes(), bytes);
        assert_eq!(
            SessionRecord::open(&sealed, &key).unwrap().to_bytes(),
            bytes
        );
        sizes.insert(format!("record_archived_{archived}"), bytes.len());
        g.bench_function(BenchmarkId::new("open", archived), |b| {
            b.iter(|| SessionRecord::open(black_box(&sealed), &key).unwrap())
        });
        g.bench_function(BenchmarkId::new("seal", archived), |b| {
            b.iter(|| black_box(&s.record).seal(&key, &mut rng))
        });
        g.bench_function(BenchmarkId::new("decode", archived), |b| {
            b.iter(|| SessionRecord::from_bytes(black_box(&bytes)).unwrap())
        });
        g.bench_function(BenchmarkId::new("decrypt_valid_new_chain", archived), |b| {
            b.iter_batched(
                || s.record.clone(),
                |mut r| {
                    r.decrypt(&s.business, &mut s.prekeys, &s.valid).unwrap();
                    r
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(
            BenchmarkId::new("decrypt_forged_new_chain", archived),
            |b| {
                b.iter_batched(
                    || s.record.clone(),
                    |mut r| {
                        assert!(r.decrypt(&s.business, &mut s.prekeys, &s.forged).is_err());
                        r
                    },
                    BatchSize::SmallInput,
                )
            },
        );
    }
    g.finish();
    let dir = common::criterion_home();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sealpost-sizes-archive.json");
    std::fs::write(&path, serde_json::to_string_pretty(&sizes).unwrap()).unwrap();
    eprintln!("sizes written to {}: {sizes:?}", path.display());
}

criterion_group!(benches, archive);
criterion_main!(benches);
