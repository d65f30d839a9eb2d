//! SQLite compare-and-swap write of a session record, and seal + open of a record (with
//! plain encode + decode beside it, to separate the sealing cost).
//!
//! Run with `cargo bench -p sealpost-sqlite --bench store`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sealpost::store::Store;
use sealpost::{IdentityKeyPair, PreKeyBundle, PreKeys, SessionRecord, StorageKey};
use sealpost_sqlite::SqliteStore;

/// A record with one established session, as a gateway holds it for a customer.
fn record(rng: &mut ChaCha20Rng) -> (IdentityKeyPair, SessionRecord) {
    let business = IdentityKeyPair::generate(rng);
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(&business, 0, rng)
        .expect("signed prekey");
    let bundle =
        PreKeyBundle::from_bytes(&prekeys.bundle(&business, None).expect("bundle").to_bytes())
            .expect("bundle bytes")
            .verify()
            .expect("verified");
    let customer = IdentityKeyPair::generate(rng);
    let mut at_customer = SessionRecord::new();
    at_customer
        .initiate(&customer, &bundle, rng)
        .expect("initiate");
    let m = at_customer.encrypt(rng, b"hello").expect("encrypt");
    let mut at_business = SessionRecord::new();
    at_business
        .decrypt(&business, &mut prekeys, &m)
        .expect("decrypt");
    at_business.encrypt(rng, b"hi").expect("reply");
    (customer, at_business)
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let key = StorageKey::generate(&mut rng);
    let (customer, mut rec) = record(&mut rng);
    let peer = *customer.public_key();

    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("bench.db"), key.clone()).expect("open");
    store.put_session(&peer, None, &rec).expect("first write");

    // Each iteration advances the record one revision and writes it with CAS (WAL,
    // synchronous = FULL: one fsync of the WAL per commit).
    c.bench_function("sqlite CAS write of a session record", |b| {
        b.iter(|| {
            let expected = rec.revision();
            rec.encrypt(&mut rng, b"x").expect("encrypt");
            store
                .put_session(&peer, Some(expected), black_box(&rec))
                .expect("cas write");
        })
    });

    let mut seal_rng = ChaCha20Rng::seed_from_u64(8);
    c.bench_function("seal + open of a session record", |b| {
        b.iter(|| {
            let sealed = black_box(&rec).seal(&key, &mut seal_rng);
            SessionRecord::open(black_box(&sealed), &key).expect("open")
        })
    });

    // The same without sealing: what decoding the record itself costs.
    c.bench_function("encode + decode of a session record (unsealed)", |b| {
        b.iter(|| {
            let bytes = black_box(&rec).to_bytes();
            SessionRecord::from_bytes(black_box(&bytes)).expect("decode")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
