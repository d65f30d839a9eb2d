//! Session records: encode (`Session::to_bytes`) and decode (`Session::from_bytes`) against the
//! number of stored skipped keys, and the sizes of records and messages.
//!
//! DESIGN.md §9: encode + decode of a fresh session < 10 us, a fresh record < 1 KiB. The sizes
//! go to `<criterion home>/sealpost-sizes.json` for `benches/report.py`.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sealpost::{Envelope, Session};

fn sizes() -> BTreeMap<&'static str, usize> {
    let mut sizes = BTreeMap::new();
    let mut rng = common::rng(7);
    let mut parties = common::Parties::new(&mut rng);
    let bundle = parties.verified_bundle();
    let mut alice = Session::initiate(&parties.alice, &bundle, &mut rng).unwrap();
    sizes.insert("record_initiator_after_initiate", alice.to_bytes().len());
    let pt = [0u8; 64];
    let first = alice.encrypt(&mut rng, &pt).unwrap();
    sizes.insert("message_overhead_prekey_64", first.len() - pt.len());
    let Envelope::PreKey(m) = Envelope::parse(&first).unwrap() else {
        unreachable!()
    };
    let (mut bob, _) = Session::accept(&parties.bob, &mut parties.prekeys, &m).unwrap();
    sizes.insert("record_responder_after_accept", bob.to_bytes().len());
    let reply = bob.encrypt(&mut rng, &pt).unwrap();
    sizes.insert("message_overhead_ratchet_64", reply.len() - pt.len());
    for k in [0usize, 1000, 2000] {
        let (p, _) = common::with_skipped(40 + k as u64, k);
        let name = match k {
            0 => "record_established",
            1000 => "record_skipped_1000",
            _ => "record_skipped_2000",
        };
        sizes.insert(name, p.bob.to_bytes().len());
    }
    sizes
}

fn record(c: &mut Criterion) {
    let sizes = sizes();
    let dir = common::criterion_home();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sealpost-sizes.json");
    std::fs::write(&path, serde_json::to_string_pretty(&sizes).unwrap()).unwrap();
    eprintln!("sizes written to {}: {sizes:?}", path.display());

    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Elements(1));
    for k in [0usize, 1000, 2000] {
        let (p, _) = common::with_skipped(40 + k as u64, k);
        let bytes = p.bob.to_bytes();
        let back = Session::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes(), bytes, "record round trip");
        g.bench_with_input(BenchmarkId::new("encode", k), &p.bob, |b, s| {
            b.iter(|| black_box(s).to_bytes())
        });
        g.bench_with_input(BenchmarkId::new("decode", k), &bytes, |b, bytes| {
            b.iter(|| Session::from_bytes(black_box(bytes)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
