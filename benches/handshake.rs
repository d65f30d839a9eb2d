//! The X3DH handshake from both sides beside its primitive floor, and the primitives it is
//! made of (DESIGN.md §9: handshake <= 1.1x floor).
//!
//! Against a classical responder (`PostQuantum::Disabled`, bundle checked with
//! `verify_allowing_classical`). Initiator: `PreKeyBundle::from_bytes` + verify +
//! `Session::initiate` + the first (prekey) message of 64 B. Responder: `Envelope::parse` +
//! `Session::accept` of that message. Both with a one-time prekey (4 DHs in X3DH).

mod common;

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::ChaCha20Rng;
use sealpost::consts::{LABEL_SESSION_TAG, PROTOCOL_VERSION};
use sealpost::{Envelope, IdentityKey, PreKeyBundle, PreKeys, Session, hazmat};
use subtle::ConstantTimeEq;
use x25519_dalek::StaticSecret;

use common::{
    Aead, Buf, Dispatch, FloorSender, PreKeyFields, Put, Val, dh, fields, hkdf_32, identity_key,
    kdf_ck, kdf_rk, paired, session_tag, time_n, x3dh_sk, x25519_keygen,
};

const FIRST_MESSAGE: [u8; 64] = [0x66; 64];

fn prefix(initiator: &[u8; 32], responder: &[u8; 32]) -> [u8; 65] {
    let mut p = [0u8; 65];
    p[0] = PROTOCOL_VERSION;
    p[1..33].copy_from_slice(initiator);
    p[33..].copy_from_slice(responder);
    p
}

/// The initiator's unavoidable work: validate the identity key (one decompression, torsion
/// check, X25519 form), `verify_strict`, two key generations (EK_A and the first ratchet key),
/// five DHs (four of X3DH with a one-time prekey, one for the first ratchet step), three HKDFs
/// (SK, tag key, KDF_RK), the session tag, and the first message.
fn floor_initiate(
    alice_dh: &StaticSecret,
    alice_ik: &[u8; 32],
    bundle: &[u8],
    rng: &mut ChaCha20Rng,
    pt: &[u8],
) -> Vec<u8> {
    let [ik, spk_id, spk, sig, opk_id, opk] = fields::<6>(bundle).unwrap();
    let (ik, spk_id, spk, opk_id, opk): ([u8; 32], u32, [u8; 32], u32, [u8; 32]) = (
        Val::array(ik),
        Val::int(spk_id) as u32,
        Val::array(spk),
        Val::int(opk_id) as u32,
        Val::array(opk),
    );
    let (vk, ik_dh) = identity_key(&ik);
    common::verify_spk(&vk, spk_id, &spk, &Val::array(sig));

    let (ek, ek_public) = x25519_keygen(rng);
    let sk = x3dh_sk(&[
        dh(alice_dh, &spk),
        dh(&ek, &ik_dh),
        dh(&ek, &spk),
        dh(&ek, &opk),
    ]);
    drop(ek);
    let (ratchet, ratchet_public) = x25519_keygen(rng);
    let first = dh(&ratchet, &spk);
    let tag_key = hkdf_32(&[0u8; 32], &[&sk], LABEL_SESSION_TAG);
    let (_root, ck) = kdf_rk(&sk, &first);
    let mut chain = FloorSender {
        ck,
        n: 0,
        pn: 0,
        ratchet_public,
        tag: session_tag(&tag_key, &ratchet_public),
        aad_prefix: prefix(alice_ik, &ik),
    };
    let mut out = Vec::new();
    let fields = PreKeyFields {
        identity: *alice_ik,
        base_key: ek_public,
        spk_id,
        opk_id: Some(opk_id),
        kem: None,
    };
    chain.encrypt_framed::<Dispatch>(rng, Some(&fields), pt, &mut out);
    out
}

/// The responder's secrets, as sealpost holds them.
struct BobSecrets {
    identity_dh: StaticSecret,
    identity: [u8; 32],
    spk: StaticSecret,
    opk: StaticSecret,
}

/// The responder's unavoidable work: parse, validate the initiator's identity key, four DHs
/// and HKDF for SK, the tag key and the tag check, the ratchet DH and KDF_RK, KDF_CK, open.
fn floor_accept(bob: &BobSecrets, msg: &[u8], out: &mut Vec<u8>) -> bool {
    let [v, pk, _] = fields::<3>(msg).unwrap();
    assert_eq!(Val::int(v), u64::from(PROTOCOL_VERSION));
    let [ik, ek, _spk_id, _opk_id, m] = fields::<5>(Val::bytes(pk)).unwrap();
    let (ik, ek): ([u8; 32], [u8; 32]) = (Val::array(ik), Val::array(ek));
    let (_, ik_dh) = identity_key(&ik);
    let sk = x3dh_sk(&[
        dh(&bob.spk, &ik_dh),
        dh(&bob.identity_dh, &ek),
        dh(&bob.spk, &ek),
        dh(&bob.opk, &ek),
    ]);
    let tag_key = hkdf_32(&[0u8; 32], &[&sk], LABEL_SESSION_TAG);
    let p = common::parse_ratchet(Val::bytes(m));
    if !bool::from(session_tag(&tag_key, &p.ratchet_key).ct_eq(&p.tag)) {
        return false;
    }
    let (_root, ck) = kdf_rk(&sk, &dh(&bob.spk, &p.ratchet_key));
    let (mk, _next) = kdf_ck(&ck);
    let mut aad = Buf::<128>::new();
    aad.put(&prefix(&ik, &bob.identity));
    aad.put(p.header);
    Dispatch::open_append(
        &mk,
        &common::nonce(&p.guard),
        aad.as_slice(),
        p.ciphertext,
        out,
    )
}

fn handshake(c: &mut Criterion) {
    // Classical X3DH: a responder with post-quantum prekeys disabled (the default responder
    // requires PQXDH; its handshake is not measured here yet).
    let mut rng = common::rng(5);
    let parties = common::Parties::classical(&mut rng);
    let alice_dh = common::identity_dh_secret(&parties.alice);
    let alice_ik = parties.alice.public_key().to_bytes();

    // Check the floor against sealpost: same bytes from the same randomness.
    let bundle = parties.verified_bundle();
    let mut r = common::fork(&rng);
    let mut op = Session::initiate(&parties.alice, &bundle, &mut r).unwrap();
    let msg = op.encrypt(&mut r, &FIRST_MESSAGE).unwrap();
    let floor_msg = floor_initiate(
        &alice_dh,
        &alice_ik,
        &parties.bundle_bytes,
        &mut common::fork(&rng),
        &FIRST_MESSAGE,
    );
    assert_eq!(floor_msg, msg, "initiator floor bytes");

    let bob = BobSecrets {
        identity_dh: common::identity_dh_secret(&parties.bob),
        identity: parties.bob.public_key().to_bytes(),
        spk: hazmat::signed_prekey_secret(&parties.prekeys, parties.spk_id)
            .unwrap()
            .into(),
        opk: hazmat::one_time_prekey_secret(&parties.prekeys, parties.otk_id)
            .unwrap()
            .into(),
    };
    let mut out = Vec::with_capacity(256);
    assert!(floor_accept(&bob, &msg, &mut out) && out == FIRST_MESSAGE);

    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    g.sample_size(30);
    g.bench_function("initiator", |b| {
        b.iter(|| {
            let bundle = PreKeyBundle::from_bytes(black_box(&parties.bundle_bytes))
                .unwrap()
                .verify_allowing_classical()
                .unwrap();
            let mut s = Session::initiate(&parties.alice, &bundle, &mut rng).unwrap();
            let m = s.encrypt(&mut rng, &FIRST_MESSAGE).unwrap();
            (s, m)
        })
    });
    g.bench_function("floor_initiator", |b| {
        b.iter(|| {
            floor_initiate(
                &alice_dh,
                &alice_ik,
                black_box(&parties.bundle_bytes),
                &mut rng,
                &FIRST_MESSAGE,
            )
        })
    });
    g.bench_function("responder", |b| {
        b.iter_batched(
            || parties.prekeys.clone(),
            |mut prekeys| {
                let Envelope::PreKey(m) = Envelope::parse(black_box(&msg)).unwrap() else {
                    unreachable!()
                };
                let accepted = Session::accept(&parties.bob, &mut prekeys, &m).unwrap();
                (prekeys, accepted)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("floor_responder", |b| {
        b.iter(|| {
            out.clear();
            assert!(floor_accept(&bob, black_box(&msg), &mut out));
        })
    });
    g.finish();

    // The targets' pairs, timed alternately (see common::paired).
    let mut frng = common::rng(8);
    paired(
        "handshake/initiator",
        "handshake/floor_initiator",
        |n| {
            time_n(n, || {
                let bundle = PreKeyBundle::from_bytes(black_box(&parties.bundle_bytes))
                    .unwrap()
                    .verify_allowing_classical()
                    .unwrap();
                let mut s = Session::initiate(&parties.alice, &bundle, &mut rng).unwrap();
                black_box(s.encrypt(&mut rng, &FIRST_MESSAGE).unwrap());
            })
        },
        |n| {
            time_n(n, || {
                black_box(floor_initiate(
                    &alice_dh,
                    &alice_ik,
                    black_box(&parties.bundle_bytes),
                    &mut frng,
                    &FIRST_MESSAGE,
                ));
            })
        },
    );
    paired(
        "handshake/responder",
        "handshake/floor_responder",
        |n| {
            // Each accept consumes the one-time prekey: give it its own copy (untimed).
            let mut copies: Vec<PreKeys> = (0..n).map(|_| parties.prekeys.clone()).collect();
            let mut sessions = Vec::with_capacity(n as usize);
            let start = Instant::now();
            for prekeys in &mut copies {
                let Envelope::PreKey(m) = Envelope::parse(black_box(&msg)).unwrap() else {
                    unreachable!()
                };
                sessions.push(Session::accept(&parties.bob, prekeys, &m).unwrap());
            }
            start.elapsed()
        },
        |n| {
            time_n(n, || {
                out.clear();
                assert!(floor_accept(&bob, black_box(&msg), &mut out));
            })
        },
    );

    // The pieces, to see where a handshake's time goes.
    let mut g = c.benchmark_group("primitives");
    g.throughput(Throughput::Elements(1));
    let ik = parties.bob.public_key().to_bytes();
    let secret = StaticSecret::from([0x42u8; 32]);
    let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
    g.bench_function("x25519_dh", |b| {
        b.iter(|| secret.diffie_hellman(&x25519_dalek::PublicKey::from(*black_box(&public))))
    });
    let mut krng = common::rng(6);
    g.bench_function("x25519_keygen", |b| b.iter(|| x25519_keygen(&mut krng)));
    let (vk, _) = identity_key(&ik);
    let [_, spk_id, spk, sig, _, _] = fields::<6>(&parties.bundle_bytes).unwrap();
    let (spk_id, spk, sig) = (Val::int(spk_id) as u32, Val::array(spk), Val::array(sig));
    g.bench_function("ed25519_verify_strict", |b| {
        b.iter(|| common::verify_spk(black_box(&vk), spk_id, &spk, &sig))
    });
    g.bench_function("ed25519_decompress", |b| {
        b.iter(|| common::decompress(black_box(&ik)))
    });
    let point = common::decompress(&ik);
    g.bench_function("is_torsion_free", |b| {
        b.iter(|| black_box(&point).is_torsion_free())
    });
    g.bench_function("to_montgomery", |b| {
        b.iter(|| black_box(&point).to_montgomery())
    });
    g.bench_function("compress", |b| b.iter(|| black_box(&point).compress()));
    g.bench_function("identity_key_floor", |b| {
        b.iter(|| identity_key(black_box(&ik)))
    });
    g.bench_function("identity_key_from_bytes", |b| {
        b.iter(|| IdentityKey::from_bytes(black_box(&ik)).unwrap())
    });
    g.bench_function("bundle_verify", |b| {
        b.iter(|| {
            PreKeyBundle::from_bytes(black_box(&parties.bundle_bytes))
                .unwrap()
                .verify_allowing_classical()
                .unwrap()
        })
    });
    g.bench_function("floor_bundle_verify", |b| {
        b.iter(|| {
            let (vk, mont) = identity_key(black_box(&ik));
            common::verify_spk(&vk, spk_id, &spk, &sig);
            mont
        })
    });
    let dhs = [[1u8; 32], [2; 32], [3; 32], [4; 32]];
    g.bench_function("hkdf_x3dh", |b| b.iter(|| x3dh_sk(black_box(&dhs))));
    g.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
