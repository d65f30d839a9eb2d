//! The post-quantum hybrid handshake (PQXDH, PROTOCOL.md §3b) beside the classical one:
//! the hybrid is the default, downgrades are refused, ML-KEM prekeys are consumed exactly once
//! and only after authentication, and every KEM field a relay can touch is bound.

mod common;

use common::{Pb, Responder, prekey_msg, round_trip, snap, snap_prekeys};
use sealpost::consts::{KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN};
use sealpost::{
    BundleError, DecryptError, HandshakeError, IdentityKeyPair, PostQuantum, PreKeyBundle,
    PreKeyError, PreKeys, Session, SessionRecord,
};

type Fields = Vec<(u32, Pb)>;

/// Bundle bytes with the ML-KEM prekey fields (7-9) removed: what a relay that strips the
/// post-quantum part would serve.
fn strip_kem(bundle: &[u8]) -> Vec<u8> {
    let mut f = common::pb_decode(bundle);
    f.retain(|(n, _)| !(7..=9).contains(n));
    common::pb_encode(&f)
}

/// A prekey message with its PQXDH fields (6, 7) removed.
fn strip_kem_from_message(wire: &[u8]) -> Vec<u8> {
    let mut parts = common::split_wire(wire);
    parts
        .prekey
        .as_mut()
        .unwrap()
        .retain(|(n, _)| *n != 6 && *n != 7);
    common::join_wire(&parts)
}

#[test]
fn the_hybrid_is_the_default() {
    let mut rng = common::rng(801);
    let mut bob = Responder::new(&mut rng, 1);
    assert_eq!(bob.prekeys.post_quantum(), PostQuantum::Required);
    let last_resort = bob.prekeys.last_resort_kem_prekey_id().unwrap();
    let bytes = bob.bundle(Some(bob.otk_ids[0]));
    let parsed = PreKeyBundle::from_bytes(&bytes).unwrap();
    assert!(parsed.has_kem_prekey());
    let bundle = parsed.verify().unwrap();
    assert!(bundle.is_post_quantum());
    assert_eq!(bundle.kem_prekey_id(), Some(last_resort));

    let alice_id = IdentityKeyPair::generate(&mut rng);
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    assert!(alice.is_post_quantum());
    let m = alice.encrypt(&mut rng, b"warranty claim").unwrap();
    let pm = prekey_msg(&m);
    assert!(pm.is_post_quantum());
    assert_eq!(pm.kem_prekey_id(), Some(last_resort));
    let (mut bob_s, pt) = bob.accept(&m);
    assert_eq!(pt, b"warranty claim");
    assert!(bob_s.is_post_quantum());
    round_trip(&mut bob_s, &mut alice, &mut rng, b"approved");
    round_trip(&mut alice, &mut bob_s, &mut rng, b"thanks");
    // The last-resort KEM prekey stays for the next initiator.
    assert_eq!(bob.prekeys.last_resort_kem_prekey_id(), Some(last_resort));
}

#[test]
fn classical_handshake_still_works_beside_the_hybrid() {
    let mut rng = common::rng(802);
    let mut bob = Responder::with_policy(&mut rng, 1, PostQuantum::Disabled);
    assert_eq!(bob.prekeys.last_resort_kem_prekey_id(), None);
    let bytes = bob.bundle(Some(bob.otk_ids[0]));
    let parsed = PreKeyBundle::from_bytes(&bytes).unwrap();
    assert!(!parsed.has_kem_prekey());
    assert_eq!(
        parsed.clone().verify().unwrap_err(),
        BundleError::MissingKemPreKey
    );
    let bundle = parsed.verify_allowing_classical().unwrap();
    assert!(!bundle.is_post_quantum());
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    assert!(!alice.is_post_quantum());
    let m = alice.encrypt(&mut rng, b"classical").unwrap();
    assert!(!prekey_msg(&m).is_post_quantum());
    let (mut bob_s, pt) = bob.accept(&m);
    assert_eq!(pt, b"classical");
    assert!(!bob_s.is_post_quantum());
    round_trip(&mut bob_s, &mut alice, &mut rng, b"reply");
    // A responder without ML-KEM prekeys makes none.
    assert_eq!(
        bob.prekeys
            .generate_one_time_kem_prekeys(&bob.identity, 1, &mut rng)
            .unwrap_err(),
        PreKeyError::PostQuantumDisabled
    );
}

#[test]
fn required_rejects_classical_and_offered_accepts_it() {
    for policy in [PostQuantum::Required, PostQuantum::Offered] {
        let mut rng = common::rng(803);
        let mut bob = Responder::with_policy(&mut rng, 0, policy);
        // An initiator that does not speak PQXDH sees the bundle without its KEM prekey (it
        // ignores the unknown fields).
        let classical = PreKeyBundle::from_bytes(&strip_kem(&bob.bundle(None)))
            .unwrap()
            .verify_allowing_classical()
            .unwrap();
        let alice_id = IdentityKeyPair::generate(&mut rng);
        let mut alice = Session::initiate(&alice_id, &classical, &mut rng).unwrap();
        let m = alice.encrypt(&mut rng, b"old client").unwrap();
        let before = snap_prekeys(&bob.prekeys);
        let r = Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&m));
        match policy {
            PostQuantum::Required => {
                assert_eq!(r.unwrap_err(), HandshakeError::PostQuantumRequired);
                assert_eq!(snap_prekeys(&bob.prekeys), before);
            }
            _ => {
                let (s, pt) = r.unwrap();
                assert_eq!(pt, b"old client");
                assert!(!s.is_post_quantum());
            }
        }
    }
}

#[test]
fn stripping_the_kem_from_a_prekey_message_fails_authentication() {
    // Even a responder that still takes classical messages cannot be downgraded: without SS
    // the responder derives another SK, so the first message's session tag does not match.
    let mut rng = common::rng(804);
    let mut bob = Responder::with_policy(&mut rng, 0, PostQuantum::Offered);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bundle = common::verified(&bob.bundle(None));
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"hybrid").unwrap();
    let before = snap_prekeys(&bob.prekeys);
    assert_eq!(
        Session::accept(
            &bob.identity,
            &mut bob.prekeys,
            &prekey_msg(&strip_kem_from_message(&m))
        )
        .unwrap_err(),
        HandshakeError::Decrypt(DecryptError::WrongSession)
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
    // The untouched message still works afterwards.
    let (_, pt) = bob.accept(&m);
    assert_eq!(pt, b"hybrid");
}

#[test]
fn tampered_kem_ciphertext_and_wrong_kem_ids_are_rejected_without_consuming_anything() {
    let mut rng = common::rng(805);
    let mut bob = Responder::new(&mut rng, 1);
    let kem_ids = bob
        .prekeys
        .generate_one_time_kem_prekeys(&bob.identity, 2, &mut rng)
        .unwrap();
    let bundle = common::verified(
        &bob.prekeys
            .bundle_with_kem_prekey(&bob.identity, Some(bob.otk_ids[0]), kem_ids[0])
            .unwrap()
            .to_bytes(),
    );
    assert_eq!(bundle.kem_prekey_id(), Some(kem_ids[0]));
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"one-time KEM").unwrap();
    let before = snap_prekeys(&bob.prekeys);
    let edit = |f: common::FieldEdit<'_>| {
        let mut parts = common::split_wire(&m);
        f(parts.prekey.as_mut().unwrap());
        common::join_wire(&parts)
    };
    // One bit of the ciphertext, at several places: ML-KEM's implicit rejection yields an
    // unrelated SS, so SK differs and the first message's session tag (derived from SK)
    // already fails to match.
    for pos in [0, 1, 500, KEM_CIPHERTEXT_LEN - 1] {
        let bad = edit(&|f| {
            let mut ct = common::pb_get(f, 7).unwrap().bytes().to_vec();
            ct[pos] ^= 0x04;
            common::pb_set(f, 7, Pb::Bytes(ct));
        });
        assert_eq!(
            Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&bad)).unwrap_err(),
            HandshakeError::Decrypt(DecryptError::WrongSession),
            "ciphertext bit at {pos}"
        );
        assert_eq!(snap_prekeys(&bob.prekeys), before);
    }
    // Another KEM prekey Bob does hold: decapsulation succeeds with the wrong key, SK differs.
    let other = edit(&|f| common::pb_set(f, 6, Pb::Varint(u64::from(kem_ids[1]))));
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&other)).unwrap_err(),
        HandshakeError::Decrypt(DecryptError::WrongSession)
    );
    // An id Bob never had.
    let unknown = edit(&|f| common::pb_set(f, 6, Pb::Varint(9_999)));
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&unknown)).unwrap_err(),
        HandshakeError::UnknownKemPreKey(9_999)
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
    assert_eq!(
        bob.prekeys.one_time_kem_prekey_ids().collect::<Vec<_>>(),
        kem_ids
    );

    // The genuine message consumes the one-time KEM prekey (and the one-time X25519 prekey).
    let (_, pt) = bob.accept(&m);
    assert_eq!(pt, b"one-time KEM");
    assert_eq!(
        bob.prekeys.one_time_kem_prekey_ids().collect::<Vec<_>>(),
        vec![kem_ids[1]]
    );
    assert_eq!(
        bob.prekeys
            .bundle_with_kem_prekey(&bob.identity, None, kem_ids[0])
            .unwrap_err(),
        PreKeyError::UnknownKemPreKey(kem_ids[0])
    );
}

#[test]
fn a_one_time_kem_prekey_is_used_once() {
    let mut rng = common::rng(806);
    let mut bob = Responder::new(&mut rng, 0);
    let kem = bob
        .prekeys
        .generate_one_time_kem_prekeys(&bob.identity, 1, &mut rng)
        .unwrap()[0];
    let bytes = bob
        .prekeys
        .bundle_with_kem_prekey(&bob.identity, None, kem)
        .unwrap()
        .to_bytes();
    // Two initiators fetched the same bundle (a directory that handed it out twice).
    let a1 = IdentityKeyPair::generate(&mut rng);
    let a2 = IdentityKeyPair::generate(&mut rng);
    let mut s1 = Session::initiate(&a1, &common::verified(&bytes), &mut rng).unwrap();
    let mut s2 = Session::initiate(&a2, &common::verified(&bytes), &mut rng).unwrap();
    let m1 = s1.encrypt(&mut rng, b"first").unwrap();
    let m2 = s2.encrypt(&mut rng, b"second").unwrap();
    let (_, pt) = bob.accept(&m1);
    assert_eq!(pt, b"first");
    let before = snap_prekeys(&bob.prekeys);
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&m2)).unwrap_err(),
        HandshakeError::UnknownKemPreKey(kem)
    );
    assert_eq!(snap_prekeys(&bob.prekeys), before);
    // Replaying the first one fails too (its KEM prekey is gone before the replay check).
    assert_eq!(
        Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(&m1)).unwrap_err(),
        HandshakeError::UnknownKemPreKey(kem)
    );
}

#[test]
fn last_resort_kem_prekey_serves_many_and_replays_are_rejected() {
    let mut rng = common::rng(807);
    let mut bob = Responder::new(&mut rng, 0);
    let bytes = bob.bundle(None);
    let mut firsts = Vec::new();
    for i in 0..3u8 {
        let a = IdentityKeyPair::generate(&mut rng);
        let mut s = Session::initiate(&a, &common::verified(&bytes), &mut rng).unwrap();
        let m = s.encrypt(&mut rng, &[i; 5]).unwrap();
        let (_, pt) = bob.accept(&m);
        assert_eq!(pt, [i; 5]);
        firsts.push(m);
    }
    // The base key of every accepted prekey message is remembered (DESIGN §5): a replay of a
    // last-resort handshake, which no one-time key protects, is refused.
    for m in &firsts {
        let before = snap_prekeys(&bob.prekeys);
        assert_eq!(
            Session::accept(&bob.identity, &mut bob.prekeys, &prekey_msg(m)).unwrap_err(),
            HandshakeError::Replayed
        );
        assert_eq!(snap_prekeys(&bob.prekeys), before);
    }
}

#[test]
fn later_prekey_messages_must_repeat_the_kem_fields() {
    let mut f = common::fixture(808, 0, false);
    // Alice has not heard back: her next messages are prekey messages too.
    let m = f.alice.encrypt(&mut f.rng, b"second").unwrap();
    let before = snap(&f.bob_s);
    let edited = |edit: common::FieldEdit<'_>| {
        let mut parts = common::split_wire(&m);
        edit(parts.prekey.as_mut().unwrap());
        common::join_wire(&parts)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "ciphertext bit",
            edited(&|p| {
                let mut ct = common::pb_get(p, 7).unwrap().bytes().to_vec();
                ct[17] ^= 1;
                common::pb_set(p, 7, Pb::Bytes(ct));
            }),
        ),
        (
            "kem id",
            edited(&|p| {
                let id = common::pb_get(p, 6).unwrap().varint();
                common::pb_set(p, 6, Pb::Varint(id + 1));
            }),
        ),
        ("kem stripped", strip_kem_from_message(&m)),
    ];
    for (name, bad) in cases {
        assert_eq!(
            f.bob_s.decrypt(&bad),
            Err(DecryptError::InvalidMessage),
            "{name}"
        );
        assert_eq!(snap(&f.bob_s), before, "{name}");
    }
    assert_eq!(f.bob_s.decrypt(&m).unwrap(), b"second");
}

#[test]
fn kem_signature_and_key_checks_refuse_the_bundle() {
    let mut rng = common::rng(809);
    let bob = Responder::new(&mut rng, 0);
    let carol = Responder::new(&mut rng, 0);
    let real = common::pb_decode(&bob.bundle(None));
    let carols = common::pb_decode(&carol.bundle(None));
    let verify = |f: &[(u32, Pb)]| {
        PreKeyBundle::from_bytes(&common::pb_encode(f)).and_then(PreKeyBundle::verify)
    };
    // Carol's KEM prekey with her (valid) signature, in Bob's bundle.
    let mut spliced = real.clone();
    for n in 7..=9 {
        common::pb_set(&mut spliced, n, common::pb_get(&carols, n).unwrap().clone());
    }
    assert_eq!(verify(&spliced).unwrap_err(), BundleError::BadKemSignature);
    // Bob's signature over another id.
    let mut renumbered = real.clone();
    let id = common::pb_get(&real, 7).unwrap().varint();
    common::pb_set(&mut renumbered, 7, Pb::Varint(id + 1));
    assert_eq!(
        verify(&renumbered).unwrap_err(),
        BundleError::BadKemSignature
    );
    // One bit of the KEM key or of its signature.
    for (field, pos) in [(8, 0), (8, KEM_PUBLIC_KEY_LEN - 1), (9, 0), (9, 63)] {
        let mut f = real.clone();
        let mut b = common::pb_get(&real, field).unwrap().bytes().to_vec();
        b[pos] ^= 0x10;
        common::pb_set(&mut f, field, Pb::Bytes(b));
        assert_eq!(
            verify(&f).unwrap_err(),
            BundleError::BadKemSignature,
            "field {field} byte {pos}"
        );
    }
    assert!(verify(&real).is_ok());
}

#[test]
fn prekeys_with_kem_keys_survive_a_restart() {
    let mut rng = common::rng(810);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(&bob_id, 1_700_000_000, &mut rng)
        .unwrap();
    let kem_ids = prekeys
        .generate_one_time_kem_prekeys(&bob_id, 3, &mut rng)
        .unwrap();
    let stored = prekeys.to_bytes();
    let mut restored = PreKeys::from_bytes(&stored).unwrap();
    assert_eq!(restored.to_bytes().to_vec(), stored.to_vec());
    assert_eq!(restored.post_quantum(), PostQuantum::Required);
    assert_eq!(
        restored.one_time_kem_prekey_ids().collect::<Vec<_>>(),
        kem_ids
    );
    // Same published keys before and after.
    assert_eq!(
        restored.bundle(&bob_id, None).unwrap(),
        prekeys.bundle(&bob_id, None).unwrap()
    );
    // A handshake against a bundle made before the restart completes after it.
    let bytes = prekeys
        .bundle_with_kem_prekey(&bob_id, None, kem_ids[1])
        .unwrap()
        .to_bytes();
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let mut alice = Session::initiate(&alice_id, &common::verified(&bytes), &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"after restart").unwrap();
    let (bob_s, pt) = Session::accept(&bob_id, &mut restored, &prekey_msg(&m)).unwrap();
    assert_eq!(pt, b"after restart");
    assert!(bob_s.is_post_quantum());
    // New ids never collide with used or live ones.
    let more = restored
        .generate_one_time_kem_prekeys(&bob_id, 2, &mut rng)
        .unwrap();
    let last_resort = restored.last_resort_kem_prekey_id().unwrap();
    for id in &more {
        assert!(!kem_ids.contains(id) && *id != last_resort);
    }
    // Other policies persist too.
    for policy in [PostQuantum::Offered, PostQuantum::Disabled] {
        let p = PreKeys::with_post_quantum(policy);
        assert_eq!(
            PreKeys::from_bytes(&p.to_bytes()).unwrap().post_quantum(),
            policy
        );
    }
}

#[test]
fn pq_sessions_survive_a_restart_on_both_sides() {
    let mut f = common::fixture(811, 0, false);
    // Alice still sends prekey messages (with the KEM ciphertext) after restoring.
    let mut alice = Session::from_bytes(&f.alice.to_bytes()).unwrap();
    let mut bob = Session::from_bytes(&f.bob_s.to_bytes()).unwrap();
    assert!(alice.is_post_quantum() && bob.is_post_quantum());
    assert!(alice.awaiting_reply());
    let m = alice
        .encrypt(&mut f.rng, b"from the restored session")
        .unwrap();
    assert!(prekey_msg(&m).is_post_quantum());
    assert_eq!(bob.decrypt(&m).unwrap(), b"from the restored session");
    // Bob's restored session still refuses an edited ciphertext in a later prekey message.
    let mut parts = common::split_wire(&m);
    let p = parts.prekey.as_mut().unwrap();
    let mut ct = common::pb_get(p, 7).unwrap().bytes().to_vec();
    ct[3] ^= 1;
    common::pb_set(p, 7, Pb::Bytes(ct));
    let m2 = alice.encrypt(&mut f.rng, b"again").unwrap();
    let mut parts2 = common::split_wire(&m2);
    parts2.prekey = parts.prekey;
    assert_eq!(
        bob.decrypt(&common::join_wire(&parts2)),
        Err(DecryptError::InvalidMessage)
    );
    round_trip(&mut bob, &mut alice, &mut f.rng, b"reply");
    assert!(!alice.awaiting_reply());
}

#[test]
fn records_route_pq_prekey_messages() {
    let mut rng = common::rng(812);
    let mut bob = Responder::new(&mut rng, 0);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bundle = common::verified(&bob.bundle(None));
    let mut alice = SessionRecord::new();
    alice.initiate(&alice_id, &bundle, &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"via record").unwrap();
    let mut bob_rec = SessionRecord::new();
    let pt = bob_rec
        .decrypt(&bob.identity, &mut bob.prekeys, &m)
        .unwrap();
    assert_eq!(pt, b"via record");
    let restored = SessionRecord::from_bytes(&bob_rec.to_bytes()).unwrap();
    assert_eq!(restored.to_bytes().to_vec(), bob_rec.to_bytes().to_vec());
}

#[test]
fn wire_sizes_with_and_without_pq() {
    let mut rng = common::rng(813);
    let pq = Responder::new(&mut rng, 1);
    let classical = Responder::with_policy(&mut rng, 1, PostQuantum::Disabled);
    let pq_bundle = pq.bundle(Some(pq.otk_ids[0]));
    let cl_bundle = classical.bundle(Some(classical.otk_ids[0]));
    // The ML-KEM prekey adds its id (2 B), key (1184 + 3 B) and signature (64 + 2 B).
    assert_eq!(pq_bundle.len() - cl_bundle.len(), 2 + 1187 + 66);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let mut a1 = Session::initiate(&alice_id, &common::verified(&pq_bundle), &mut rng).unwrap();
    let classical_bundle = PreKeyBundle::from_bytes(&cl_bundle)
        .unwrap()
        .verify_allowing_classical()
        .unwrap();
    let mut a2 = Session::initiate(&alice_id, &classical_bundle, &mut rng).unwrap();
    let m1 = a1.encrypt(&mut rng, &[0; 64]).unwrap();
    let m2 = a2.encrypt(&mut rng, &[0; 64]).unwrap();
    // The prekey message adds the KEM prekey id (2 B) and ciphertext (1088 + 3 B); the outer
    // length prefixes take two bytes either way.
    assert_eq!(m1.len() - m2.len(), 2 + 1091);
    eprintln!(
        "bundle {} B (classical {} B); prekey message with 64 B plaintext {} B (classical {} B)",
        pq_bundle.len(),
        cl_bundle.len(),
        m1.len(),
        m2.len()
    );
}

#[test]
fn inconsistent_pq_state_is_refused() {
    use sealpost::StateError;
    let f = common::fixture(814, 0, false);
    let alice = f.alice.to_bytes();
    let bob = f.bob_s.to_bytes();
    let refuse = |bytes: &[u8], edit: common::FieldEdit<'_>, what: &str| {
        let edited = common::edit_record(bytes, edit);
        assert_eq!(
            Session::from_bytes(&edited).unwrap_err(),
            StateError::Malformed,
            "{what}"
        );
    };
    // The responder's digest without the KEM id it belongs to.
    refuse(
        &bob,
        &|s| s.retain(|(n, _)| *n != 16),
        "digest without KEM id",
    );
    // A digest of the wrong length, or none on a responder's PQXDH session.
    refuse(
        &bob,
        &|s| common::pb_set(s, 17, Pb::Bytes(vec![1; 31])),
        "short digest",
    );
    refuse(
        &bob,
        &|s| s.retain(|(n, _)| *n != 17),
        "PQ responder without digest",
    );
    // An initiator never holds a digest.
    refuse(
        &alice,
        &|s| common::pb_set(s, 17, Pb::Bytes(vec![1; 32])),
        "initiator digest",
    );
    // Alice's pending prekey names another KEM prekey than the session, or lacks the ciphertext.
    fn edit_pending(edit: common::FieldEdit<'_>) -> impl Fn(&mut Fields) + '_ {
        move |s: &mut Fields| {
            let mut p = common::pb_decode(common::pb_get(s, 11).unwrap().bytes());
            edit(&mut p);
            common::pb_set(s, 11, Pb::Bytes(common::pb_encode(&p)));
        }
    }
    refuse(
        &alice,
        &edit_pending(&|p| {
            let id = common::pb_get(p, 4).unwrap().varint();
            common::pb_set(p, 4, Pb::Varint(id + 1));
        }),
        "pending KEM id differs",
    );
    refuse(
        &alice,
        &edit_pending(&|p| p.retain(|(n, _)| *n != 5)),
        "pending KEM id without ciphertext",
    );
    refuse(
        &alice,
        &edit_pending(&|p| p.retain(|(n, _)| *n != 4 && *n != 5)),
        "classical pending prekey on a PQ session",
    );
    refuse(
        &alice,
        &edit_pending(&|p| common::pb_set(p, 5, Pb::Bytes(vec![0; KEM_CIPHERTEXT_LEN + 1]))),
        "long pending ciphertext",
    );

    // Prekey records.
    let mut rng = common::rng(815);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut pq = PreKeys::new();
    pq.generate_signed_prekey(&id, 1, &mut rng).unwrap();
    pq.generate_one_time_kem_prekeys(&id, 2, &mut rng).unwrap();
    let pq = pq.to_bytes();
    let refuse_prekeys = |edit: common::FieldEdit<'_>, what: &str| {
        assert_eq!(
            PreKeys::from_bytes(&common::edit_record(&pq, edit)).unwrap_err(),
            StateError::Malformed,
            "{what}"
        );
    };
    refuse_prekeys(&|r| common::pb_set(r, 9, Pb::Varint(3)), "unknown policy");
    // Disabled (field 9 absent, as in records written before PQXDH) yet holding KEM prekeys.
    refuse_prekeys(&|r| r.retain(|(n, _)| *n != 9), "disabled with KEM prekeys");
    // Two one-time KEM prekeys with one id.
    refuse_prekeys(
        &|r| {
            let first = r.iter().find(|(n, _)| *n == 7).unwrap().1.clone();
            for (n, v) in r.iter_mut() {
                if *n == 7 {
                    *v = first.clone();
                }
            }
        },
        "duplicate KEM prekey ids",
    );
    // A signed prekey without its last-resort KEM prekey under a PQ policy.
    refuse_prekeys(
        &|r| {
            let (_, spk) = r.iter_mut().find(|(n, _)| *n == 3).unwrap();
            let mut s = common::pb_decode(spk.bytes());
            s.retain(|(n, _)| *n != 6);
            *spk = Pb::Bytes(common::pb_encode(&s));
        },
        "signed prekey without last-resort KEM prekey",
    );
    // A KEM seed of the wrong length.
    refuse_prekeys(
        &|r| {
            let (_, k) = r.iter_mut().find(|(n, _)| *n == 7).unwrap();
            let mut s = common::pb_decode(k.bytes());
            common::pb_set(&mut s, 2, Pb::Bytes(vec![7; 63]));
            *k = Pb::Bytes(common::pb_encode(&s));
        },
        "short KEM seed",
    );
}
