//! The handshake from both sides beside its primitive floor, and the primitives it is made of
//! (DESIGN.md §9: handshake <= 1.1x floor).
//!
//! Classical X3DH, against a classical responder (`PostQuantum::Disabled`, bundle checked with
//! `verify_allowing_classical`): `handshake/initiator` is `PreKeyBundle::from_bytes` + verify +
//! `Session::initiate` + the first (prekey) message of 64 B; `handshake/responder` is
//! `Envelope::parse` + `Session::accept` of that message. Both with a one-time prekey (4 DHs).
//!
//! PQXDH, the default (`PreKeys::new()`, `PreKeyBundle::verify`): `handshake/pq_initiator` and
//! `handshake/pq_responder`, the same plus the ML-KEM-768 prekey (its signature and key
//! validation, encapsulation; key generation from the stored seed and decapsulation) and the
//! 1,088-byte ciphertext in the prekey message.

mod common;

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PublicKey};
use rand::rngs::ChaCha20Rng;
use rand_core::Rng;
use sealpost::consts::{
    KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN, KEM_SEED_LEN, LABEL_SESSION_TAG, PROTOCOL_VERSION,
};
use sealpost::{Envelope, IdentityKey, PreKeyBundle, PreKeys, Session, hazmat};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::StaticSecret;

use common::{
    Aead, Buf, Dispatch, FloorSender, Parties, PreKeyFields, Put, Val, dh, fields, hkdf_32,
    identity_key, kdf_ck, kdf_rk, paired, pqxdh_sk, session_tag, time_n, x3dh_sk, x25519_keygen,
};

const FIRST_MESSAGE: [u8; 64] = [0x66; 64];

fn prefix(initiator: &[u8; 32], responder: &[u8; 32]) -> [u8; 65] {
    let mut p = [0u8; 65];
    p[0] = PROTOCOL_VERSION;
    p[1..33].copy_from_slice(initiator);
    p[33..].copy_from_slice(responder);
    p
}

/// After SK: the first ratchet key, its DH with SPK_B, the tag key, KDF_RK, the tag, and the
/// first message (KDF_CK, header, framing, AEAD).
#[inline]
fn floor_first_message(
    sk: &[u8; 32],
    spk: &[u8; 32],
    alice_ik: &[u8; 32],
    bob_ik: &[u8; 32],
    fields: &PreKeyFields<'_>,
    rng: &mut ChaCha20Rng,
    pt: &[u8],
) -> Vec<u8> {
    let (ratchet, ratchet_public) = x25519_keygen(rng);
    let first = dh(&ratchet, spk);
    let tag_key = hkdf_32(&[0u8; 32], &[sk], LABEL_SESSION_TAG);
    let (_root, ck) = kdf_rk(sk, &first);
    let mut chain = FloorSender {
        ck,
        n: 0,
        pn: 0,
        ratchet_public,
        tag: session_tag(&tag_key, &ratchet_public),
        aad_prefix: prefix(alice_ik, bob_ik),
    };
    let mut out = Vec::new();
    chain.encrypt_framed::<Dispatch>(rng, Some(fields), pt, &mut out);
    out
}

/// The classical initiator's unavoidable work: validate the identity key (one decompression,
/// torsion check, X25519 form), `verify_strict`, two key generations (EK_A and the first
/// ratchet key), five DHs (four of X3DH with a one-time prekey, one for the first ratchet
/// step), three HKDFs (SK, tag key, KDF_RK), the session tag, and the first message.
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
    let fields = PreKeyFields {
        identity: *alice_ik,
        base_key: ek_public,
        spk_id,
        opk_id: Some(opk_id),
        kem: None,
    };
    floor_first_message(&sk, &spk, alice_ik, &ik, &fields, rng, pt)
}

/// The PQXDH initiator's unavoidable work: the classical initiator's, plus a second
/// `verify_strict` (over the 1,210-byte ML-KEM prekey message, with the same decoded key),
/// ML-KEM public key validation, encapsulation (after EK_A, with 32 bytes of randomness), SS in
/// the SK HKDF, and the ML-KEM fields (1,088-byte ciphertext) in the first message.
fn floor_pq_initiate(
    alice_dh: &StaticSecret,
    alice_ik: &[u8; 32],
    bundle: &[u8],
    rng: &mut ChaCha20Rng,
    pt: &[u8],
) -> Vec<u8> {
    let [ik, spk_id, spk, sig, opk_id, opk, kem_id, kem_pk, kem_sig] = fields::<9>(bundle).unwrap();
    let (ik, spk_id, spk, opk_id, opk): ([u8; 32], u32, [u8; 32], u32, [u8; 32]) = (
        Val::array(ik),
        Val::int(spk_id) as u32,
        Val::array(spk),
        Val::int(opk_id) as u32,
        Val::array(opk),
    );
    let kem_id = Val::int(kem_id) as u32;
    let kem_pk: &[u8; KEM_PUBLIC_KEY_LEN] = Val::bytes(kem_pk).try_into().unwrap();
    let (vk, ik_dh) = identity_key(&ik);
    common::verify_spk(&vk, spk_id, &spk, &Val::array(sig));
    common::verify_kem_prekey(&vk, kem_id, kem_pk, &Val::array(kem_sig));
    let kem_pk = MlKem768PublicKey::from(kem_pk);
    assert!(mlkem768::validate_public_key(&kem_pk));

    let (ek, ek_public) = x25519_keygen(rng);
    let mut m = [0u8; 32];
    rng.fill_bytes(&mut m);
    let (ct, ss) = mlkem768::encapsulate(&kem_pk, m);
    let sk = pqxdh_sk(
        &[
            dh(alice_dh, &spk),
            dh(&ek, &ik_dh),
            dh(&ek, &spk),
            dh(&ek, &opk),
        ],
        &ss,
    );
    drop(ek);
    let fields = PreKeyFields {
        identity: *alice_ik,
        base_key: ek_public,
        spk_id,
        opk_id: Some(opk_id),
        kem: Some((kem_id, ct.as_slice())),
    };
    floor_first_message(&sk, &spk, alice_ik, &ik, &fields, rng, pt)
}

/// The responder's secrets, as sealpost holds them.
struct BobSecrets {
    identity_dh: StaticSecret,
    identity: [u8; 32],
    spk: StaticSecret,
    opk: StaticSecret,
    /// The ML-KEM prekey's seed `d || z` (PQ responder only).
    kem_seed: Option<[u8; KEM_SEED_LEN]>,
}

impl BobSecrets {
    fn of(p: &Parties) -> Self {
        BobSecrets {
            identity_dh: common::identity_dh_secret(&p.bob),
            identity: p.bob.public_key().to_bytes(),
            spk: hazmat::signed_prekey_secret(&p.prekeys, p.spk_id)
                .unwrap()
                .into(),
            opk: hazmat::one_time_prekey_secret(&p.prekeys, p.otk_id)
                .unwrap()
                .into(),
            kem_seed: p
                .kem_id
                .map(|id| hazmat::kem_prekey_seed(&p.prekeys, id).unwrap()),
        }
    }
}

/// After SK: the tag key and the tag check, the ratchet DH and KDF_RK, KDF_CK, open.
#[inline]
fn floor_open_first(
    bob: &BobSecrets,
    sk: &[u8; 32],
    initiator_ik: &[u8; 32],
    body: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    let tag_key = hkdf_32(&[0u8; 32], &[sk], LABEL_SESSION_TAG);
    let p = common::parse_ratchet(body);
    if !bool::from(session_tag(&tag_key, &p.ratchet_key).ct_eq(&p.tag)) {
        return false;
    }
    let (_root, ck) = kdf_rk(sk, &dh(&bob.spk, &p.ratchet_key));
    let (mk, _next) = kdf_ck(&ck);
    let mut aad = Buf::<128>::new();
    aad.put(&prefix(initiator_ik, &bob.identity));
    aad.put(p.header);
    Dispatch::open_append(
        &mk,
        &common::nonce(&p.guard),
        aad.as_slice(),
        p.ciphertext,
        out,
    )
}

/// The classical responder's unavoidable work: parse, validate the initiator's identity key,
/// four DHs and HKDF for SK, the tag key and the tag check, the ratchet DH and KDF_RK, KDF_CK,
/// open.
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
    floor_open_first(bob, &sk, &ik, Val::bytes(m), out)
}

/// The PQXDH responder's unavoidable work: the classical responder's, plus ML-KEM key
/// generation from the stored seed and decapsulation, SS in the SK HKDF, and SHA-256 of the
/// ciphertext (which the session keeps to check later prekey messages against).
fn floor_pq_accept(bob: &BobSecrets, msg: &[u8], out: &mut Vec<u8>) -> bool {
    let [v, pk, _] = fields::<3>(msg).unwrap();
    assert_eq!(Val::int(v), u64::from(PROTOCOL_VERSION));
    let [ik, ek, _spk_id, _opk_id, m, _kem_id, ct] = fields::<7>(Val::bytes(pk)).unwrap();
    let (ik, ek): ([u8; 32], [u8; 32]) = (Val::array(ik), Val::array(ek));
    let ct: &[u8; KEM_CIPHERTEXT_LEN] = Val::bytes(ct).try_into().unwrap();
    let (_, ik_dh) = identity_key(&ik);
    let dhs = [
        dh(&bob.spk, &ik_dh),
        dh(&bob.identity_dh, &ek),
        dh(&bob.spk, &ek),
        dh(&bob.opk, &ek),
    ];
    let pair = mlkem768::generate_key_pair(bob.kem_seed.unwrap());
    let ss = mlkem768::decapsulate(pair.private_key(), &MlKem768Ciphertext::from(ct));
    let sk = pqxdh_sk(&dhs, &ss);
    black_box(<[u8; 32]>::from(Sha256::digest(ct)));
    floor_open_first(bob, &sk, &ik, Val::bytes(m), out)
}

fn handshake(c: &mut Criterion) {
    // Classical: a responder with post-quantum prekeys disabled.
    let mut rng = common::rng(5);
    let parties = Parties::classical(&mut rng);
    assert!(parties.kem_id.is_none());
    let alice_dh = common::identity_dh_secret(&parties.alice);
    let alice_ik = parties.alice.public_key().to_bytes();
    let classical_bundle = || {
        PreKeyBundle::from_bytes(black_box(&parties.bundle_bytes))
            .unwrap()
            .verify_allowing_classical()
            .unwrap()
    };

    // Check the floors against sealpost: same bytes from the same randomness, and the floor
    // responder opens sealpost's first message.
    let bundle = classical_bundle();
    assert!(!bundle.is_post_quantum());
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
    assert_eq!(floor_msg, msg, "classical initiator floor bytes");
    let bob = BobSecrets::of(&parties);
    let mut out = Vec::with_capacity(256);
    assert!(floor_accept(&bob, &msg, &mut out) && out == FIRST_MESSAGE);
    {
        let Envelope::PreKey(m) = Envelope::parse(&msg).unwrap() else {
            unreachable!()
        };
        assert!(!m.is_post_quantum());
        let mut prekeys = parties.prekeys.clone();
        let (s, pt) = Session::accept(&parties.bob, &mut prekeys, &m).unwrap();
        assert!(pt == FIRST_MESSAGE && !s.is_post_quantum());
    }

    // PQXDH: the default responder.
    let mut pq_rng = common::rng(15);
    let pq = Parties::new(&mut pq_rng);
    let kem_id = pq.kem_id.expect("a PQ bundle");
    let pq_alice_dh = common::identity_dh_secret(&pq.alice);
    let pq_alice_ik = pq.alice.public_key().to_bytes();
    let pq_bundle = || {
        PreKeyBundle::from_bytes(black_box(&pq.bundle_bytes))
            .unwrap()
            .verify()
            .unwrap()
    };
    let bundle = pq_bundle();
    assert!(bundle.is_post_quantum());
    let mut r = common::fork(&pq_rng);
    let mut op = Session::initiate(&pq.alice, &bundle, &mut r).unwrap();
    let pq_msg = op.encrypt(&mut r, &FIRST_MESSAGE).unwrap();
    let floor_msg = floor_pq_initiate(
        &pq_alice_dh,
        &pq_alice_ik,
        &pq.bundle_bytes,
        &mut common::fork(&pq_rng),
        &FIRST_MESSAGE,
    );
    assert_eq!(floor_msg, pq_msg, "PQ initiator floor bytes");
    let pq_bob = BobSecrets::of(&pq);
    out.clear();
    assert!(floor_pq_accept(&pq_bob, &pq_msg, &mut out) && out == FIRST_MESSAGE);
    {
        let Envelope::PreKey(m) = Envelope::parse(&pq_msg).unwrap() else {
            unreachable!()
        };
        assert_eq!(m.kem_prekey_id(), Some(kem_id));
        let mut prekeys = pq.prekeys.clone();
        let (s, pt) = Session::accept(&pq.bob, &mut prekeys, &m).unwrap();
        assert!(pt == FIRST_MESSAGE && s.is_post_quantum());
    }
    // A floor that skipped the KEM would not open it: a wrong seed gives an unrelated SS.
    let wrong = BobSecrets {
        kem_seed: Some([7; KEM_SEED_LEN]),
        ..BobSecrets::of(&pq)
    };
    out.clear();
    assert!(!floor_pq_accept(&wrong, &pq_msg, &mut out));

    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    g.sample_size(30);
    g.bench_function("initiator", |b| {
        b.iter(|| {
            let bundle = classical_bundle();
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
    g.bench_function("pq_initiator", |b| {
        b.iter(|| {
            let bundle = pq_bundle();
            let mut s = Session::initiate(&pq.alice, &bundle, &mut pq_rng).unwrap();
            let m = s.encrypt(&mut pq_rng, &FIRST_MESSAGE).unwrap();
            (s, m)
        })
    });
    g.bench_function("floor_pq_initiator", |b| {
        b.iter(|| {
            floor_pq_initiate(
                &pq_alice_dh,
                &pq_alice_ik,
                black_box(&pq.bundle_bytes),
                &mut pq_rng,
                &FIRST_MESSAGE,
            )
        })
    });
    g.bench_function("pq_responder", |b| {
        b.iter_batched(
            || pq.prekeys.clone(),
            |mut prekeys| {
                let Envelope::PreKey(m) = Envelope::parse(black_box(&pq_msg)).unwrap() else {
                    unreachable!()
                };
                let accepted = Session::accept(&pq.bob, &mut prekeys, &m).unwrap();
                (prekeys, accepted)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("floor_pq_responder", |b| {
        b.iter(|| {
            out.clear();
            assert!(floor_pq_accept(&pq_bob, black_box(&pq_msg), &mut out));
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
                let bundle = classical_bundle();
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
        |n| accept_n(&parties, &msg, n),
        |n| {
            time_n(n, || {
                out.clear();
                assert!(floor_accept(&bob, black_box(&msg), &mut out));
            })
        },
    );
    paired(
        "handshake/pq_initiator",
        "handshake/floor_pq_initiator",
        |n| {
            time_n(n, || {
                let bundle = pq_bundle();
                let mut s = Session::initiate(&pq.alice, &bundle, &mut pq_rng).unwrap();
                black_box(s.encrypt(&mut pq_rng, &FIRST_MESSAGE).unwrap());
            })
        },
        |n| {
            time_n(n, || {
                black_box(floor_pq_initiate(
                    &pq_alice_dh,
                    &pq_alice_ik,
                    black_box(&pq.bundle_bytes),
                    &mut frng,
                    &FIRST_MESSAGE,
                ));
            })
        },
    );
    paired(
        "handshake/pq_responder",
        "handshake/floor_pq_responder",
        |n| accept_n(&pq, &pq_msg, n),
        |n| {
            time_n(n, || {
                out.clear();
                assert!(floor_pq_accept(&pq_bob, black_box(&pq_msg), &mut out));
            })
        },
    );

    primitives(c, &parties, &pq);
}

/// Times `n` parses and accepts of `msg`, each on its own copy of the prekeys (an accept
/// consumes the one-time prekey and remembers the base key); the copies are made untimed.
fn accept_n(parties: &Parties, msg: &[u8], n: u64) -> std::time::Duration {
    let mut copies: Vec<PreKeys> = (0..n).map(|_| parties.prekeys.clone()).collect();
    let mut sessions = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for prekeys in &mut copies {
        let Envelope::PreKey(m) = Envelope::parse(black_box(msg)).unwrap() else {
            unreachable!()
        };
        sessions.push(Session::accept(&parties.bob, prekeys, &m).unwrap());
    }
    start.elapsed()
}

/// The pieces, to see where a handshake's time goes.
fn primitives(c: &mut Criterion, parties: &Parties, pq: &Parties) {
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

    // ML-KEM-768 and the PQ bundle's extra signature.
    let pq_ik = pq.bob.public_key().to_bytes();
    let [_, pq_spk_id, pq_spk, pq_sig, _, _, kem_id, kem_pk, kem_sig] =
        fields::<9>(&pq.bundle_bytes).unwrap();
    let (pq_spk_id, pq_spk, pq_sig) = (
        Val::int(pq_spk_id) as u32,
        Val::array(pq_spk),
        Val::array(pq_sig),
    );
    let kem_id = Val::int(kem_id) as u32;
    let kem_pk: [u8; KEM_PUBLIC_KEY_LEN] = Val::array(kem_pk);
    let kem_sig: [u8; 64] = Val::array(kem_sig);
    let (pq_vk, _) = identity_key(&pq_ik);
    g.bench_function("ed25519_verify_strict_kem_prekey", |b| {
        b.iter(|| common::verify_kem_prekey(black_box(&pq_vk), kem_id, &kem_pk, &kem_sig))
    });
    let seed = hazmat::kem_prekey_seed(&pq.prekeys, kem_id).unwrap();
    g.bench_function("mlkem768_keygen", |b| {
        b.iter(|| mlkem768::generate_key_pair(black_box(seed)))
    });
    let pair = mlkem768::generate_key_pair(seed);
    assert_eq!(pair.public_key().as_slice(), &kem_pk);
    let public = MlKem768PublicKey::from(&kem_pk);
    g.bench_function("mlkem768_validate_public_key", |b| {
        b.iter(|| assert!(mlkem768::validate_public_key(black_box(&public))))
    });
    g.bench_function("mlkem768_encapsulate", |b| {
        b.iter(|| mlkem768::encapsulate(black_box(&public), black_box([9u8; 32])))
    });
    let (ct, ss) = mlkem768::encapsulate(&public, [9u8; 32]);
    assert_eq!(mlkem768::decapsulate(pair.private_key(), &ct), ss);
    g.bench_function("mlkem768_decapsulate", |b| {
        b.iter(|| mlkem768::decapsulate(black_box(pair.private_key()), black_box(&ct)))
    });
    g.bench_function("sha256_kem_ciphertext", |b| {
        b.iter(|| Sha256::digest(black_box(ct.as_slice())))
    });
    g.bench_function("pq_bundle_verify", |b| {
        b.iter(|| {
            PreKeyBundle::from_bytes(black_box(&pq.bundle_bytes))
                .unwrap()
                .verify()
                .unwrap()
        })
    });
    g.bench_function("floor_pq_bundle_verify", |b| {
        b.iter(|| {
            let (vk, mont) = identity_key(black_box(&pq_ik));
            common::verify_spk(&vk, pq_spk_id, &pq_spk, &pq_sig);
            common::verify_kem_prekey(&vk, kem_id, &kem_pk, &kem_sig);
            assert!(mlkem768::validate_public_key(&MlKem768PublicKey::from(
                &kem_pk
            )));
            mont
        })
    });
    g.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
