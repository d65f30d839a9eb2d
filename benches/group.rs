//! Sender-key channels (PROTOCOL.md §7), each operation beside its floor.
//!
//! - `group_encrypt` / `group_decrypt`, 64 B and 1 KiB, against the primitives nothing can
//!   avoid: KDF_CK (2 x HMAC-SHA256), ChaCha20-Poly1305 under a fresh key, and Ed25519 `sign`
//!   or `verify_strict` over the same number of body bytes.
//! - `distribution`: a new chain handed to N = 10 / 100 / 1,000 members, i.e. the rekey plus N
//!   pairwise encryptions of the distribution message.
//! - `fanout_1000`: one broadcast to 1,000 subscribers against 1,000 pairwise encryptions of the
//!   same plaintext.
//! - `group_size`: group encrypt and decrypt of 64 B in groups of N = 10 / 100 / 1,000 members
//!   (DESIGN.md §9: flat in the number of members): the admin sends, and decrypts a member's
//!   message while holding the chains of all N members.
//!
//! The crossover N (where one signed group message costs the sender less than N pairwise
//! messages) is `group_encrypt / pairwise per message`, read off these medians.

use std::hint::black_box;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sealpost::group::{BroadcastList, BroadcastSubscription, ChannelId, Group};
use sealpost::{Envelope, IdentityKey, IdentityKeyPair, PreKeyBundle, PreKeys, Session, hazmat};

const SIZES: [usize; 2] = [64, 1024];

/// A business identity with `n` established sessions (business side, customer side).
struct Fleet {
    business: IdentityKeyPair,
    customers: Vec<IdentityKeyPair>,
    at_business: Vec<Session>,
    at_customer: Vec<Session>,
}

fn fleet(n: usize, rng: &mut ChaCha20Rng) -> Fleet {
    let business = IdentityKeyPair::generate(rng);
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(&business, 1_700_000_000, rng)
        .unwrap();
    let bundle = PreKeyBundle::from_bytes(&prekeys.bundle(&business, None).unwrap().to_bytes())
        .unwrap()
        .verify()
        .unwrap();
    let mut f = Fleet {
        business,
        customers: Vec::new(),
        at_business: Vec::new(),
        at_customer: Vec::new(),
    };
    for _ in 0..n {
        let c = IdentityKeyPair::generate(rng);
        let mut cs = Session::initiate(&c, &bundle, rng).unwrap();
        let hello = cs.encrypt(rng, b"hello").unwrap();
        let Envelope::PreKey(m) = Envelope::parse(&hello).unwrap() else {
            unreachable!()
        };
        let (mut bs, _) = Session::accept(&f.business, &mut prekeys, &m).unwrap();
        // One exchange each way: both sides are past the handshake and on same-chain sends.
        let reply = bs.encrypt(rng, b"hi").unwrap();
        cs.decrypt(&reply).unwrap();
        f.customers.push(c);
        f.at_business.push(bs);
        f.at_customer.push(cs);
    }
    f
}

/// The business (admin) and one member, with the member holding the admin's chain.
fn pair_group(rng: &mut ChaCha20Rng) -> (Group, Group, IdentityKeyPair) {
    let mut f = fleet(1, rng);
    let member = f.customers.remove(0);
    let (admin_group, invites) = Group::create(
        &f.business,
        ChannelId::new(b"bench").unwrap(),
        &[*member.public_key()],
        rng,
    )
    .unwrap();
    let wire = invites[0].seal_for(&mut f.at_business[0], rng).unwrap();
    let payload = f.at_customer[0].decrypt(&wire).unwrap();
    let (member_group, _) = Group::join(&f.at_customer[0], &payload, rng).unwrap();
    (admin_group, member_group, f.business)
}

fn group_encrypt(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut sender, _, _) = pair_group(&mut rng);
    let mut g = c.benchmark_group("group_encrypt");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let pt = vec![0x5a; size];
        let mut out = Vec::with_capacity(size + 200);
        g.bench_function(BenchmarkId::new("sealpost", size), |b| {
            b.iter(|| {
                out.clear();
                sender
                    .encrypt_into(&mut rng, black_box(&pt), &mut out)
                    .unwrap();
                black_box(out.len())
            })
        });
        // Floor: KDF_CK + ChaCha20-Poly1305 (fresh key) + Ed25519 sign of a body this long.
        let signing = SigningKey::from_bytes(&[7; 32]);
        let ck = [9u8; 32];
        let mut buf = vec![0u8; size + 16 + 10];
        g.bench_function(BenchmarkId::new("floor", size), |b| {
            b.iter(|| {
                let (mk, next) = hazmat::kdf_ck(black_box(&ck));
                let cipher = ChaCha20Poly1305::new(&mk.into());
                buf[..size].copy_from_slice(&pt);
                let tag = cipher
                    .encrypt_inout_detached(
                        &Nonce::from([1u8; 12]),
                        b"0123456789abcdef",
                        (&mut buf[..size]).into(),
                    )
                    .unwrap();
                buf[size..size + 16].copy_from_slice(&tag);
                black_box(signing.sign(&buf).to_bytes());
                black_box(next)
            })
        });
    }
    g.finish();
}

fn group_decrypt(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (mut sender, mut receiver, admin) = pair_group(&mut rng);
    let sender_key = *admin.public_key();
    let mut g = c.benchmark_group("group_decrypt");
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let pt = vec![0x5a; size];
        let mut out = Vec::with_capacity(size);
        g.bench_function(BenchmarkId::new("sealpost", size), |b| {
            b.iter_batched(
                || sender.encrypt(&mut rng, &pt).unwrap(),
                |m| {
                    out.clear();
                    receiver.decrypt_into(&sender_key, &m, &mut out).unwrap();
                    black_box(out.len())
                },
                BatchSize::SmallInput,
            )
        });
        // Floor: KDF_CK + Ed25519 verify_strict of the body + ChaCha20-Poly1305 open.
        let signing = SigningKey::from_bytes(&[7; 32]);
        let verifying = VerifyingKey::from_bytes(&signing.verifying_key().to_bytes()).unwrap();
        let ck = [9u8; 32];
        let (mk, _) = hazmat::kdf_ck(&ck);
        let mut body = pt.clone();
        let tag = ChaCha20Poly1305::new(&mk.into())
            .encrypt_inout_detached(&Nonce::from([1u8; 12]), b"ad", (&mut body[..]).into())
            .unwrap();
        let ct = body.clone();
        body.extend_from_slice(&tag);
        body.extend_from_slice(&[0u8; 10]);
        let sig: Signature = signing.sign(&body);
        let mut buf = vec![0u8; size];
        g.bench_function(BenchmarkId::new("floor", size), |b| {
            b.iter(|| {
                let (mk, next) = hazmat::kdf_ck(black_box(&ck));
                verifying.verify_strict(black_box(&body), &sig).unwrap();
                buf.copy_from_slice(&ct);
                ChaCha20Poly1305::new(&mk.into())
                    .decrypt_inout_detached(
                        &Nonce::from([1u8; 12]),
                        b"ad",
                        (&mut buf[..]).into(),
                        &Tag::try_from(&tag[..]).unwrap(),
                    )
                    .unwrap();
                black_box(next)
            })
        });
    }
    g.finish();
}

/// A group with the business as admin and `n` members, and the business's sessions to them.
fn big_group(n: usize, rng: &mut ChaCha20Rng) -> (Group, Fleet) {
    let f = fleet(n, rng);
    let members: Vec<_> = f.customers.iter().map(|c| *c.public_key()).collect();
    let (group, _) = Group::create(
        &f.business,
        ChannelId::new(b"bench").unwrap(),
        &members,
        rng,
    )
    .unwrap();
    (group, f)
}

fn distribution(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (mut group, mut f) = big_group(1000, &mut rng);
    let mut g = c.benchmark_group("distribution");
    g.sample_size(20);
    for n in [10usize, 100, 1000] {
        g.throughput(Throughput::Elements(n as u64));
        let mut out = Vec::with_capacity(256);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let fanout = group.rekey(&mut rng).unwrap();
                for s in &mut f.at_business[..n] {
                    out.clear();
                    fanout.seal_for_into(s, &mut rng, &mut out).unwrap();
                    black_box(out.len());
                }
            })
        });
    }
    g.finish();
}

fn fanout_1000(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut f = fleet(1000, &mut rng);
    let list_id = ChannelId::new(b"product-updates").unwrap();
    let mut list = BroadcastList::new(f.business.public_key(), list_id.clone());
    for (i, (customer, session)) in f.customers.iter().zip(&f.at_customer).enumerate() {
        let (_, opt_in) =
            BroadcastSubscription::subscribe(customer, session, list_id.clone(), i as u64).unwrap();
        list.receive(&f.at_business[i], &opt_in).unwrap();
    }
    let _ = list.rekey(&mut rng);
    let mut g = c.benchmark_group("fanout_1000");
    g.sample_size(20);
    for size in SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let pt = vec![0x5a; size];
        let mut out = Vec::with_capacity(size + 200);
        g.bench_function(BenchmarkId::new("broadcast", size), |b| {
            b.iter(|| {
                out.clear();
                list.broadcast_into(&mut rng, black_box(&pt), &mut out)
                    .unwrap();
                black_box(out.len())
            })
        });
        g.bench_function(BenchmarkId::new("pairwise_x1000", size), |b| {
            b.iter(|| {
                for s in &mut f.at_business {
                    out.clear();
                    s.encrypt_into(&mut rng, black_box(&pt), &mut out).unwrap();
                    black_box(out.len());
                }
            })
        });
    }
    g.finish();
}

/// A group of `n` members besides its admin (the business) in which every member joined and
/// sent its distribution to the admin. Returns the admin's group, the last member's group and
/// that member's identity.
fn populated(n: usize, rng: &mut ChaCha20Rng) -> (Group, Group, IdentityKey) {
    let f = fleet(n, rng);
    let ids: Vec<IdentityKey> = f.customers.iter().map(|c| *c.public_key()).collect();
    let (mut admin, invites) =
        Group::create(&f.business, ChannelId::new(b"bench").unwrap(), &ids, rng).unwrap();
    assert_eq!(invites.len(), 1);
    let mut last = None;
    // The payloads would travel over the pairwise sessions; handing them over directly keeps
    // the setup short and leaves the groups in the same state.
    for (at_customer, at_business) in f.at_customer.iter().zip(&f.at_business) {
        let (member, replies) = Group::join(at_customer, invites[0].expose_payload(), rng).unwrap();
        admin
            .receive(at_business, replies[0].expose_payload(), rng)
            .unwrap();
        last = Some(member);
    }
    (admin, last.unwrap(), ids[n - 1])
}

fn group_size(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let pt = [0x5a; 64];
    let mut g = c.benchmark_group("group_size");
    g.throughput(Throughput::Bytes(pt.len() as u64));
    for n in [10usize, 100, 1000] {
        let (mut admin, mut member, member_id) = populated(n, &mut rng);
        assert_eq!(admin.members().len(), n + 1);
        assert_eq!(admin.chains_held(&member_id), 1);
        let mut out = Vec::with_capacity(256);
        g.bench_function(BenchmarkId::new("encrypt_64", n), |b| {
            b.iter(|| {
                out.clear();
                admin
                    .encrypt_into(&mut rng, black_box(&pt), &mut out)
                    .unwrap();
                black_box(out.len())
            })
        });
        g.bench_function(BenchmarkId::new("decrypt_64", n), |b| {
            b.iter_batched(
                || member.encrypt(&mut rng, &pt).unwrap(),
                |m| {
                    out.clear();
                    admin.decrypt_into(&member_id, &m, &mut out).unwrap();
                    black_box(out.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    group_encrypt,
    group_decrypt,
    distribution,
    fanout_1000,
    group_size
);
criterion_main!(benches);
