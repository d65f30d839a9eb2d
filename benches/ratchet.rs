//! Per-message costs of the Double Ratchet beside their primitive floors (DESIGN.md §9).
//!
//! Groups: `encrypt` and `decrypt` (same chain), `aead` (ChaCha20-Poly1305 with a fresh key
//! from each implementation), `kdf`, `dh_ratchet` (a DH ratchet step per message) and
//! `skipped` (cost against the number of stored skipped keys). See `benches/common` for what a
//! floor is and how each one is checked against sealpost before it is timed.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::ChaCha20Rng;
use rand_core::Rng;
use sealpost::Session;
use sealpost::hazmat;

use common::{
    Aead, Dispatch, FloorReceiver, FloorSender, FloorStepRecv, FloorStepSend, Libcrux, RustCrypto,
    SIZES, paired, time_n,
};

/// Messages generated (untimed) per batch of timed decryptions.
fn chunk_for(size: usize) -> u64 {
    (4 << 20) as u64 / (size as u64 + 256).max(1) + 1
}

/// Times `iters` in-order decryptions by `bob` of fresh messages from `alice`, generating them
/// in untimed chunks: each message is decrypted exactly once, on a session that advances as it
/// would in use. (Decrypting one message on a fresh clone each time would time the same work
/// but add the clone's cache and allocator traffic to every iteration.)
fn time_decrypts(
    iters: u64,
    alice: &mut Session,
    bob: &mut Session,
    rng: &mut ChaCha20Rng,
    pt: &[u8],
    mut decrypt: impl FnMut(&mut Session, &[u8]),
) -> Duration {
    let chunk = chunk_for(pt.len());
    let mut total = Duration::ZERO;
    let mut left = iters;
    let mut msgs = Vec::new();
    while left > 0 {
        let n = left.min(chunk);
        msgs.clear();
        for _ in 0..n {
            msgs.push(alice.encrypt(rng, pt).unwrap());
        }
        let start = Instant::now();
        for m in &msgs {
            decrypt(bob, m);
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

fn encrypt(c: &mut Criterion) {
    let mut g = c.benchmark_group("encrypt");
    for size in SIZES {
        let pt = vec![0x61u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        let mut p = common::same_chain(1);

        // The floors produce the very bytes sealpost produces from the same state and rng.
        let floor0 = FloorSender::of(&p.alice, &p.tag_key, &p.rng);
        let expected = p
            .alice
            .clone()
            .encrypt(&mut common::fork(&p.rng), &pt)
            .unwrap();
        for variant in 0..2 {
            let mut f = floor0.clone();
            let mut out = Vec::new();
            if variant == 0 {
                f.encrypt::<RustCrypto>(&mut common::fork(&p.rng), &pt, &mut out);
            } else {
                f.encrypt::<Dispatch>(&mut common::fork(&p.rng), &pt, &mut out);
            }
            assert_eq!(out, expected, "encrypt floor {variant} at {size} B");
        }

        let mut out = Vec::with_capacity(size + 256);
        g.bench_with_input(BenchmarkId::new("encrypt_into", size), &pt, |b, pt| {
            b.iter(|| {
                out.clear();
                p.alice
                    .encrypt_into(&mut p.rng, black_box(pt), &mut out)
                    .unwrap();
                black_box(&out);
            })
        });
        g.bench_with_input(BenchmarkId::new("encrypt", size), &pt, |b, pt| {
            b.iter(|| p.alice.encrypt(&mut p.rng, black_box(pt)).unwrap())
        });
        let mut f = floor0.clone();
        g.bench_with_input(BenchmarkId::new("floor", size), &pt, |b, pt| {
            b.iter(|| {
                out.clear();
                f.encrypt::<RustCrypto>(&mut p.rng, black_box(pt), &mut out);
                black_box(&out);
            })
        });
        let mut f = floor0.clone();
        g.bench_with_input(BenchmarkId::new("floor_dispatch", size), &pt, |b, pt| {
            b.iter(|| {
                out.clear();
                f.encrypt::<Dispatch>(&mut p.rng, black_box(pt), &mut out);
                black_box(&out);
            })
        });

        // The targets' pairs, timed alternately (see common::paired).
        let (alice, rng) = (&mut p.alice, &mut p.rng);
        let mut f = floor0.clone();
        let mut frng = common::rng(77);
        let mut o2 = Vec::with_capacity(size + 256);
        let op_id = format!("encrypt/encrypt_into/{size}");
        let op = |n| {
            time_n(n, || {
                out.clear();
                alice.encrypt_into(rng, black_box(&pt), &mut out).unwrap();
            })
        };
        let mut op = op;
        if size <= 1024 {
            let floor = |n| {
                time_n(n, || {
                    o2.clear();
                    f.encrypt::<RustCrypto>(&mut frng, black_box(&pt), &mut o2);
                })
            };
            paired(&op_id, &format!("encrypt/floor/{size}"), &mut op, floor);
        }
        if size == 64 {
            let floor = |n| {
                time_n(n, || {
                    o2.clear();
                    f.encrypt::<Dispatch>(&mut frng, black_box(&pt), &mut o2);
                })
            };
            paired(&op_id, "encrypt/floor_dispatch/64", &mut op, floor);
        }
    }
    g.finish();
}

fn decrypt(c: &mut Criterion) {
    let mut g = c.benchmark_group("decrypt");
    for size in SIZES {
        let pt = vec![0x62u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        let mut p = common::same_chain(2);

        // Floor: one message, opened again and again (the work is stateless).
        let (ck, n) = hazmat::sending_chain(&p.alice).unwrap();
        let msg = p
            .alice
            .clone()
            .encrypt(&mut common::fork(&p.rng), &pt)
            .unwrap();
        let floor = FloorReceiver {
            ck,
            n,
            ratchet_key: hazmat::x25519_public(&hazmat::ratchet_secret(&p.alice)),
            aad_prefix: common::aad_prefix(&p.bob),
        };
        let mut out = Vec::with_capacity(size + 256);
        assert!(floor.decrypt::<RustCrypto>(&msg, &mut out) && out == pt);
        out.clear();
        assert!(floor.decrypt::<Dispatch>(&msg, &mut out) && out == pt);
        assert_eq!(p.bob.clone().decrypt(&msg).unwrap(), pt);

        let (alice, bob, rng) = (&mut p.alice, &mut p.bob, &mut p.rng);
        g.bench_with_input(BenchmarkId::new("decrypt_into", size), &pt, |b, pt| {
            b.iter_custom(|iters| {
                time_decrypts(iters, alice, bob, rng, pt, |s, m| {
                    out.clear();
                    s.decrypt_into(black_box(m), &mut out).unwrap();
                    black_box(&out);
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("decrypt", size), &pt, |b, pt| {
            b.iter_custom(|iters| {
                time_decrypts(iters, alice, bob, rng, pt, |s, m| {
                    black_box(s.decrypt(black_box(m)).unwrap());
                })
            })
        });
        g.bench_with_input(BenchmarkId::new("floor", size), &msg, |b, msg| {
            b.iter(|| {
                out.clear();
                assert!(floor.decrypt::<RustCrypto>(black_box(msg), &mut out));
            })
        });
        g.bench_with_input(BenchmarkId::new("floor_dispatch", size), &msg, |b, msg| {
            b.iter(|| {
                out.clear();
                assert!(floor.decrypt::<Dispatch>(black_box(msg), &mut out));
            })
        });

        let mut o2 = Vec::with_capacity(size + 256);
        let op_id = format!("decrypt/decrypt_into/{size}");
        let op = |n| {
            time_decrypts(n, alice, bob, rng, &pt, |s, m| {
                out.clear();
                s.decrypt_into(black_box(m), &mut out).unwrap();
            })
        };
        let mut op = op;
        if size <= 1024 {
            let f = |n| {
                time_n(n, || {
                    assert!(floor.decrypt::<RustCrypto>(black_box(&msg), o2.clear_then()))
                })
            };
            paired(&op_id, &format!("decrypt/floor/{size}"), &mut op, f);
        }
        if size == 64 {
            let f = |n| {
                time_n(n, || {
                    assert!(floor.decrypt::<Dispatch>(black_box(&msg), o2.clear_then()))
                })
            };
            paired(&op_id, "decrypt/floor_dispatch/64", &mut op, f);
        }
    }
    g.finish();
}

/// Clears a buffer and hands it on.
trait ClearThen {
    fn clear_then(&mut self) -> &mut Self;
}

impl ClearThen for Vec<u8> {
    fn clear_then(&mut self) -> &mut Self {
        self.clear();
        self
    }
}

/// A key that changes every call, as one message key per message does.
fn next_key(k: &mut [u8; 32]) {
    let c = u64::from_le_bytes(k[..8].try_into().unwrap()).wrapping_add(1);
    k[..8].copy_from_slice(&c.to_le_bytes());
}

fn check_same_bytes() {
    let nonce = common::nonce(&[9, 8, 7, 6]);
    let mut key = [0x11u8; 32];
    let mut sizes: Vec<usize> = (0..=2100).collect();
    sizes.extend([4095, 4096, 65535, 65536]);
    for n in sizes {
        next_key(&mut key);
        let pt: Vec<u8> = (0..n).map(|i| (i * 7 + n) as u8).collect();
        let aad = &pt[..n.min(127)];
        let (mut a, mut b, mut d) = (Vec::new(), Vec::new(), Vec::new());
        RustCrypto::seal_append(&key, &nonce, aad, &pt, &mut a);
        Libcrux::seal_append(&key, &nonce, aad, &pt, &mut b);
        Dispatch::seal_append(&key, &nonce, aad, &pt, &mut d);
        assert!(a == b && a == d, "AEAD bytes differ at {n} B");
        let (mut x, mut y) = (Vec::new(), Vec::new());
        assert!(Libcrux::open_append(&key, &nonce, aad, &a, &mut x) && x == pt);
        assert!(RustCrypto::open_append(&key, &nonce, aad, &b, &mut y) && y == pt);
        a[n / 2] ^= 1;
        assert!(!Libcrux::open_append(&key, &nonce, aad, &a, &mut x));
        assert!(!RustCrypto::open_append(&key, &nonce, aad, &a, &mut y));
    }
}

fn aead(c: &mut Criterion) {
    check_same_bytes();
    let nonce = common::nonce(&[1, 2, 3, 4]);
    let aad = [0x5au8; 65 + 54];
    let mut g = c.benchmark_group("aead");
    let mut sizes = vec![64, 256, 1024, 2048, 65536];
    sizes.sort_unstable();
    for size in sizes {
        let pt = vec![0x63u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        let mut out = Vec::with_capacity(size + 16);
        let mut key = [7u8; 32];
        macro_rules! seal {
            ($name:literal, $imp:ty) => {
                g.bench_with_input(BenchmarkId::new($name, size), &pt, |b, pt| {
                    b.iter(|| {
                        next_key(&mut key);
                        out.clear();
                        <$imp>::seal_append(&key, &nonce, &aad, black_box(pt), &mut out);
                        black_box(&out);
                    })
                });
            };
        }
        seal!("chacha20poly1305_seal", RustCrypto);
        seal!("libcrux_seal", Libcrux);
        if SIZES.contains(&size) {
            seal!("dispatch_seal", Dispatch);
            let mut ct = Vec::new();
            RustCrypto::seal_append(&key, &nonce, &aad, &pt, &mut ct);
            macro_rules! open {
                ($name:literal, $imp:ty) => {
                    g.bench_with_input(BenchmarkId::new($name, size), &ct, |b, ct| {
                        b.iter(|| {
                            out.clear();
                            assert!(<$imp>::open_append(
                                &key,
                                &nonce,
                                &aad,
                                black_box(ct),
                                &mut out
                            ));
                        })
                    });
                };
            }
            open!("chacha20poly1305_open", RustCrypto);
            open!("libcrux_open", Libcrux);
        }
    }
    g.finish();
}

fn kdf(c: &mut Criterion) {
    let mut g = c.benchmark_group("kdf");
    g.throughput(Throughput::Elements(1));
    let ck = [3u8; 32];
    g.bench_function("kdf_ck", |b| b.iter(|| common::kdf_ck(black_box(&ck))));
    let dh = [4u8; 32];
    g.bench_function("kdf_rk", |b| {
        b.iter(|| common::kdf_rk(black_box(&ck), black_box(&dh)))
    });
    g.bench_function("session_tag", |b| {
        b.iter(|| common::session_tag(black_box(&ck), black_box(&dh)))
    });
    g.finish();
}

/// Ping-pong: every message turns the DH ratchet, on both sides.
fn dh_ratchet(c: &mut Criterion) {
    let mut g = c.benchmark_group("dh_ratchet");
    g.throughput(Throughput::Elements(1));
    let pt = [0x64u8; 64];
    let mut p = common::established(3);

    // Floors from the state of the pair right now: Alice's next send turns the ratchet, and so
    // does Bob's receipt of it.
    let probe = p
        .alice
        .clone()
        .encrypt(&mut common::fork(&p.rng), &pt)
        .unwrap();
    let send = FloorStepSend {
        their_ratchet: hazmat::x25519_public(&hazmat::ratchet_secret(&p.bob)),
        root_key: hazmat::root_key(&p.alice),
        tag_key: p.tag_key,
        pn: common::parse_envelope(&probe).pn,
        aad_prefix: common::aad_prefix(&p.alice),
    };
    let mut out = Vec::with_capacity(256);
    send.encrypt::<RustCrypto>(&mut common::fork(&p.rng), &pt, &mut out);
    assert_eq!(out, probe, "send-step floor bytes");
    let recv = FloorStepRecv {
        ratchet_secret: hazmat::ratchet_secret(&p.bob).into(),
        root_key: hazmat::root_key(&p.bob),
        tag_key: p.tag_key,
        aad_prefix: common::aad_prefix(&p.bob),
    };
    out.clear();
    assert!(recv.decrypt::<RustCrypto>(&probe, &mut out) && out == pt);

    // One round: Alice sends (step), Bob receives (step), Bob sends (step), Alice receives
    // (step). `part` picks what is timed: 0 = both sends, 1 = both receipts.
    let (alice, bob, rng) = (&mut p.alice, &mut p.bob, &mut p.rng);
    let mut round = |iters: u64, part: usize| {
        let mut t = [Duration::ZERO; 2];
        let mut m = Vec::with_capacity(256);
        let mut o = Vec::with_capacity(256);
        for _ in 0..iters {
            one_way(alice, bob, rng, &pt, &mut m, &mut o, &mut t);
            one_way(bob, alice, rng, &pt, &mut m, &mut o, &mut t);
        }
        t[part] / 2
    };
    g.bench_function("send", |b| b.iter_custom(|iters| round(iters, 0)));
    g.bench_function("receive", |b| b.iter_custom(|iters| round(iters, 1)));
    let mut frng = common::rng(4);
    g.bench_function("floor_send", |b| {
        b.iter(|| {
            out.clear();
            send.encrypt::<RustCrypto>(&mut frng, black_box(&pt), &mut out);
            black_box(&out);
        })
    });
    g.bench_function("floor_receive", |b| {
        b.iter(|| {
            out.clear();
            assert!(recv.decrypt::<RustCrypto>(black_box(&probe), &mut out));
        })
    });
    g.finish();

    let f = |n| {
        time_n(n, || {
            send.encrypt::<RustCrypto>(&mut frng, black_box(&pt), out.clear_then())
        })
    };
    paired(
        "dh_ratchet/send",
        "dh_ratchet/floor_send",
        |n| round(n, 0),
        f,
    );
    let f = |n| {
        time_n(n, || {
            assert!(recv.decrypt::<RustCrypto>(black_box(&probe), out.clear_then()))
        })
    };
    paired(
        "dh_ratchet/receive",
        "dh_ratchet/floor_receive",
        |n| round(n, 1),
        f,
    );
}

/// `from` sends one message and `to` receives it; adds the two times to `t`.
fn one_way(
    from: &mut Session,
    to: &mut Session,
    rng: &mut ChaCha20Rng,
    pt: &[u8],
    m: &mut Vec<u8>,
    o: &mut Vec<u8>,
    t: &mut [Duration; 2],
) {
    m.clear();
    o.clear();
    let t0 = Instant::now();
    from.encrypt_into(rng, pt, m).unwrap();
    let t1 = Instant::now();
    to.decrypt_into(m, o).unwrap();
    let t2 = Instant::now();
    t[0] += t1 - t0;
    t[1] += t2 - t1;
}

/// Keys a chunk of out-of-order decryptions uses up before the session is restored.
const OOO_CHUNK: usize = 64;

/// Late messages from a session holding skipped keys, each decrypted on a copy of it.
struct Late {
    template: Session,
    msgs: Vec<Vec<u8>>,
    /// Shuffled indices into `msgs`; each chunk takes the next OOO_CHUNK.
    order: Vec<usize>,
    pos: usize,
    out: Vec<u8>,
}

impl Late {
    fn new(seed: u64, k: usize) -> Self {
        let (p, msgs) = common::with_skipped(seed, k);
        let mut order: Vec<usize> = (0..k).collect();
        let mut shuffle = common::rng(99);
        for i in (1..k).rev() {
            order.swap(i, shuffle.next_u32() as usize % (i + 1));
        }
        Late {
            template: p.bob,
            msgs,
            order,
            pos: 0,
            out: Vec::with_capacity(256),
        }
    }

    /// Times `iters` late decryptions: each chunk starts from a fresh copy of the template
    /// (copied and dropped untimed) and uses up OOO_CHUNK distinct keys.
    fn time(&mut self, iters: u64) -> Duration {
        let k = self.msgs.len();
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(OOO_CHUNK as u64) as usize;
            let mut s = self.template.clone();
            let start = Instant::now();
            for j in 0..n {
                self.out.clear();
                let m = &self.msgs[self.order[(self.pos + j) % k]];
                s.decrypt_into(black_box(m), &mut self.out).unwrap();
            }
            total += start.elapsed();
            self.pos = (self.pos + n) % k;
            left -= n as u64;
            drop(s);
        }
        total
    }
}

fn skipped(c: &mut Criterion) {
    let mut g = c.benchmark_group("skipped");
    g.throughput(Throughput::Elements(1));
    let pt = [0x65u8; 64];
    let mut in_order: Vec<common::Pair> = Vec::new();
    let mut out = Vec::with_capacity(256);
    for k in [0usize, 1000, 2000] {
        let (mut p, _) = common::with_skipped(10 + k as u64, k);
        let (alice, bob, rng) = (&mut p.alice, &mut p.bob, &mut p.rng);
        g.bench_with_input(BenchmarkId::new("in_order_decrypt", k), &pt, |b, pt| {
            b.iter_custom(|iters| {
                time_decrypts(iters, alice, bob, rng, pt, |s, m| {
                    s.decrypt_into(black_box(m), out.clear_then()).unwrap();
                })
            })
        });
        in_order.push(p);
        let (mut p, _) = common::with_skipped(20 + k as u64, k);
        g.bench_with_input(BenchmarkId::new("encrypt_into", k), &pt, |b, pt| {
            b.iter(|| {
                p.bob
                    .encrypt_into(&mut p.rng, black_box(pt), out.clear_then())
                    .unwrap();
            })
        });
    }
    // A late message: its key is looked up and deleted (the "64" case runs from 64 keys down
    // to 1, the others from k down to k - 63).
    let mut late: Vec<Late> = Vec::new();
    for k in [OOO_CHUNK, 1000, 2000] {
        let mut l = Late::new(30 + k as u64, k);
        g.bench_function(BenchmarkId::new("out_of_order_decrypt", k), |b| {
            b.iter_custom(|iters| l.time(iters))
        });
        late.push(l);
    }
    g.finish();

    // Flatness, paired: 2,000 stored keys against none (in order) and against 64 (late).
    let [zero, _, full] = &mut in_order[..] else {
        unreachable!()
    };
    let mut o2 = Vec::with_capacity(256);
    let op = |n| {
        time_decrypts(
            n,
            &mut full.alice,
            &mut full.bob,
            &mut full.rng,
            &pt,
            |s, m| {
                s.decrypt_into(black_box(m), out.clear_then()).unwrap();
            },
        )
    };
    let base = |n| {
        time_decrypts(
            n,
            &mut zero.alice,
            &mut zero.bob,
            &mut zero.rng,
            &pt,
            |s, m| {
                s.decrypt_into(black_box(m), o2.clear_then()).unwrap();
            },
        )
    };
    paired(
        "skipped/in_order_decrypt/2000",
        "skipped/in_order_decrypt/0",
        op,
        base,
    );
    let [small, _, large] = &mut late[..] else {
        unreachable!()
    };
    paired(
        "skipped/out_of_order_decrypt/2000",
        "skipped/out_of_order_decrypt/64",
        |n| large.time(n),
        |n| small.time(n),
    );
}

criterion_group!(benches, encrypt, decrypt, aead, kdf, dh_ratchet, skipped);
criterion_main!(benches);
