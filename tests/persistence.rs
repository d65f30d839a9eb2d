//! Persistence: sessions, prekeys and identities survive `to_bytes`/`from_bytes` at every point
//! of a conversation, byte for byte, and nothing secret shows up in `Debug` output.

mod common;

use common::{
    Pb, Responder, assert_no_secret, edit_record, header_of, pb_decode, pb_encode, pb_get,
    prekey_msg, round_trip, snap, snap_prekeys,
};
use sealpost::hazmat;
use sealpost::{
    DecryptError, HandshakeError, IdentityKeyPair, KeyError, PreKeys, Session, StateError,
};

fn restore(s: &Session) -> Session {
    let bytes = s.to_bytes();
    let r = Session::from_bytes(&bytes).unwrap();
    assert_eq!(snap(&r), bytes.to_vec(), "to_bytes(from_bytes(x)) == x");
    r
}

fn restore_prekeys(p: &PreKeys) -> PreKeys {
    let bytes = p.to_bytes();
    let r = PreKeys::from_bytes(&bytes).unwrap();
    assert_eq!(snap_prekeys(&r), bytes.to_vec());
    assert_eq!(r.revision(), p.revision());
    r
}

/// One scripted conversation with reordering, losses, skipped keys across chains, and DH
/// turns. With `restart`, both sides are restored from bytes after every single operation.
/// Returns every wire message and plaintext in order.
fn scripted(restart: bool) -> Vec<Vec<u8>> {
    let mut rng = common::rng(400);
    let mut bob_r = Responder::new(&mut rng, 2);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bundle = common::verified(&bob_r.bundle(Some(bob_r.otk_ids[1])));
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    let mut log = Vec::new();
    let maybe = |s: &mut Session| {
        if restart {
            *s = restore(s);
        }
    };
    maybe(&mut alice);
    // Three prekey messages; the last arrives first.
    let a: Vec<Vec<u8>> = (0..3u8)
        .map(|i| {
            let m = alice.encrypt(&mut rng, &[0, i]).unwrap();
            maybe(&mut alice);
            m
        })
        .collect();
    assert!(alice.awaiting_reply());
    let (mut bob, pt) = bob_r.accept(&a[2]);
    if restart {
        bob_r.prekeys = restore_prekeys(&bob_r.prekeys);
    }
    maybe(&mut bob);
    log.push(pt);
    assert_eq!(bob.skipped_keys(), 2);
    log.push(bob.decrypt(&a[0]).unwrap());
    maybe(&mut bob);
    // Bob answers; a[1] is still in flight (a skipped key is stored while Bob sends).
    for round in 0..3u8 {
        let b: Vec<Vec<u8>> = (0..3u8)
            .map(|i| {
                let m = bob.encrypt(&mut rng, &[1, round, i]).unwrap();
                maybe(&mut bob);
                m
            })
            .collect();
        log.extend(b.iter().cloned());
        log.push(alice.decrypt(&b[2]).unwrap());
        maybe(&mut alice);
        log.push(alice.decrypt(&b[0]).unwrap());
        maybe(&mut alice);
        // b[1] stays skipped for a while (delivered a round later, across a chain switch).
        let a2: Vec<Vec<u8>> = (0..3u8)
            .map(|i| {
                let m = alice.encrypt(&mut rng, &[2, round, i]).unwrap();
                maybe(&mut alice);
                m
            })
            .collect();
        log.extend(a2.iter().cloned());
        log.push(bob.decrypt(&a2[1]).unwrap());
        maybe(&mut bob);
        log.push(alice.decrypt(&b[1]).unwrap());
        maybe(&mut alice);
        if round == 1 {
            log.push(bob.decrypt(&a[1]).unwrap());
            maybe(&mut bob);
        }
        // a2[2] is lost; a2[0] arrives late.
        log.push(bob.decrypt(&a2[0]).unwrap());
        maybe(&mut bob);
    }
    log.push(vec![
        alice.skipped_keys() as u8,
        bob.skipped_keys() as u8,
        u8::from(alice.awaiting_reply()),
    ]);
    log.extend(a);
    log
}

#[test]
fn restarting_after_every_operation_changes_nothing() {
    // Same seed, same operations: restoring from bytes at every step must not change a single
    // byte of what is sent or received.
    let reference = scripted(false);
    let restarted = scripted(true);
    assert_eq!(reference.len(), restarted.len());
    for (i, (x, y)) in reference.iter().zip(&restarted).enumerate() {
        assert_eq!(x, y, "item {i}");
    }
    // The final counters: each round's lost last message is known to Bob (through the next
    // chain's pn) for every round but the last.
    let counts = &reference[reference.len() - 4];
    assert_eq!(counts[0], 0);
    assert_eq!(counts[1], 2);
    assert_eq!(counts[2], 0);
}

#[test]
fn initiator_restored_while_awaiting_a_reply() {
    let mut rng = common::rng(401);
    let mut bob = Responder::new(&mut rng, 1);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bundle = common::verified(&bob.bundle(Some(bob.otk_ids[0])));
    let alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    // Restored before sending anything at all.
    let mut alice = restore(&alice);
    assert!(alice.awaiting_reply());
    let m0 = alice.encrypt(&mut rng, b"zero").unwrap();
    let mut alice = restore(&alice);
    assert!(alice.awaiting_reply());
    let m1 = alice.encrypt(&mut rng, b"one").unwrap();
    let (p0, p1) = (prekey_msg(&m0), prekey_msg(&m1));
    assert_eq!(p0.base_key(), p1.base_key());
    assert_eq!(p1.one_time_prekey_id(), Some(bob.otk_ids[0]));
    assert_eq!(p1.signed_prekey_id(), bundle.signed_prekey_id());
    assert_eq!(p1.sender_identity(), alice_id.public_key());
    let (bob_s, pt) = bob.accept(&m1);
    assert_eq!(pt, b"one");
    let mut bob_s = restore(&bob_s);
    assert_eq!(bob_s.decrypt(&m0).unwrap(), b"zero");
    // The reply ends the prekey phase, also across a restore.
    let reply = bob_s.encrypt(&mut rng, b"reply").unwrap();
    assert_eq!(alice.decrypt(&reply).unwrap(), b"reply");
    let mut alice = restore(&alice);
    assert!(!alice.awaiting_reply());
    let m = alice.encrypt(&mut rng, b"plain").unwrap();
    assert!(!common::is_prekey(&m));
    assert_eq!(bob_s.decrypt(&m).unwrap(), b"plain");
}

#[test]
fn responder_restored_right_after_accept_can_answer() {
    let (mut alice, bob, mut rng) = common::pair(402, true);
    // Bob has a receiving chain but no sending chain yet (the DH step happens on send).
    assert!(hazmat::sending_chain(&bob).is_none());
    let mut bob = restore(&bob);
    assert!(hazmat::sending_chain(&bob).is_none());
    let reply = bob.encrypt(&mut rng, b"answer").unwrap();
    assert_eq!(alice.decrypt(&reply).unwrap(), b"answer");
    let mut alice = restore(&alice);
    let mut bob = restore(&bob);
    common::ping_pong(&mut alice, &mut bob, &mut rng, 3);
}

#[test]
fn skipped_keys_survive_a_restore() {
    let (mut alice, mut bob, mut rng) = common::pair(403, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"r");
    let held: Vec<Vec<u8>> = (0..5u8)
        .map(|i| alice.encrypt(&mut rng, &[i]).unwrap())
        .collect();
    bob.decrypt(&held[4]).unwrap();
    round_trip(&mut bob, &mut alice, &mut rng, b"turn");
    let late = alice.encrypt(&mut rng, b"new chain").unwrap();
    bob.decrypt(&late).unwrap();
    assert_eq!(bob.skipped_keys(), 4);
    let mut bob = restore(&bob);
    assert_eq!(bob.skipped_keys(), 4);
    for i in [2usize, 0, 3, 1] {
        assert_eq!(bob.decrypt(&held[i]).unwrap(), [i as u8]);
        bob = restore(&bob);
    }
    assert_eq!(bob.skipped_keys(), 0);
    // Used keys stay used after a restore.
    assert_eq!(
        bob.decrypt(&held[0]),
        Err(DecryptError::Duplicate { counter: 0 })
    );
}

#[test]
fn a_rolled_back_sender_reuses_the_key_but_not_the_nonce() {
    // Restoring an old record (a backup) makes the sender reuse a message key: the reuse guard
    // keeps the nonces apart. The receiver takes only the first of the two.
    let (mut alice, mut bob, mut rng) = common::pair(404, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"r");
    // Alice's sending chain exists (a fresh one would start with a fresh random key).
    round_trip(&mut alice, &mut bob, &mut rng, b"a");
    let backup = alice.to_bytes();
    let first = alice.encrypt(&mut rng, b"original").unwrap();
    let mut rolled_back = Session::from_bytes(&backup).unwrap();
    let second = rolled_back.encrypt(&mut rng, b"after restore").unwrap();
    let (h1, h2) = (header_of(&first), header_of(&second));
    assert_eq!((h1.ratchet_key, h1.n), (h2.ratchet_key, h2.n));
    assert_ne!(h1.guard, h2.guard);
    assert_eq!(bob.decrypt(&first).unwrap(), b"original");
    assert_eq!(
        bob.decrypt(&second),
        Err(DecryptError::Duplicate { counter: h2.n })
    );
}

#[test]
fn prekeys_round_trip_through_their_life() {
    let mut rng = common::rng(405);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut p = PreKeys::new();
    restore_prekeys(&p);
    p.generate_signed_prekey(&id, 1_700_000_000, &mut rng)
        .unwrap();
    restore_prekeys(&p);
    let otks = p.generate_one_time_prekeys(5, &mut rng).unwrap();
    let mut p = restore_prekeys(&p);
    // Accept two handshakes (one with a one-time prekey), rotate the signed prekey.
    let mut resp = Responder {
        identity: IdentityKeyPair::from_bytes(&id.to_bytes()).unwrap(),
        prekeys: p.clone(),
        otk_ids: otks.clone(),
    };
    for otk in [Some(otks[3]), None] {
        let alice = IdentityKeyPair::generate(&mut rng);
        let bundle = common::verified(&resp.bundle(otk));
        let mut s = Session::initiate(&alice, &bundle, &mut rng).unwrap();
        resp.accept(&s.encrypt(&mut rng, b"x").unwrap());
        resp.prekeys = restore_prekeys(&resp.prekeys);
    }
    p = resp.prekeys;
    p.generate_signed_prekey(&id, 1_700_600_000, &mut rng)
        .unwrap();
    let p = restore_prekeys(&p);
    assert_eq!(
        p.signed_prekeys().collect::<Vec<_>>(),
        [(0, 1_700_000_000), (1, 1_700_600_000)]
    );
    assert_eq!(
        p.one_time_prekey_ids().collect::<Vec<_>>(),
        [otks[0], otks[1], otks[2], otks[4]]
    );
    // New ids continue where they left off after a restore.
    let mut p = p;
    assert_eq!(p.generate_one_time_prekeys(1, &mut rng).unwrap(), [5]);
    // Bundles from a restored set verify and carry the same signature.
    let restored = restore_prekeys(&p);
    assert_eq!(
        restored.bundle(&id, Some(otks[0])).unwrap().to_bytes(),
        p.bundle(&id, Some(otks[0])).unwrap().to_bytes()
    );
    assert_eq!(
        hazmat::signed_prekey_secret(&restored, 1),
        hazmat::signed_prekey_secret(&p, 1)
    );
    assert_eq!(
        hazmat::one_time_prekey_secret(&restored, otks[4]),
        hazmat::one_time_prekey_secret(&p, otks[4])
    );
}

#[test]
fn restored_prekeys_still_reject_replays() {
    let mut rng = common::rng(406);
    let mut bob = Responder::new(&mut rng, 1);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let mut with_otk = Session::initiate(
        &alice_id,
        &common::verified(&bob.bundle(Some(bob.otk_ids[0]))),
        &mut rng,
    )
    .unwrap();
    let mut without =
        Session::initiate(&alice_id, &common::verified(&bob.bundle(None)), &mut rng).unwrap();
    let m1 = with_otk.encrypt(&mut rng, b"1").unwrap();
    let m2 = without.encrypt(&mut rng, b"2").unwrap();
    bob.accept(&m1);
    bob.accept(&m2);
    // A restart: prekeys come back from storage.
    let mut prekeys = restore_prekeys(&bob.prekeys);
    let before = snap_prekeys(&prekeys);
    assert_eq!(
        Session::accept(&bob.identity, &mut prekeys, &prekey_msg(&m1)).unwrap_err(),
        HandshakeError::UnknownOneTimePreKey(bob.otk_ids[0])
    );
    assert_eq!(
        Session::accept(&bob.identity, &mut prekeys, &prekey_msg(&m2)).unwrap_err(),
        HandshakeError::Replayed
    );
    assert_eq!(snap_prekeys(&prekeys), before);
    // The identity comes back from storage too, and new initiators are still welcome.
    let identity = IdentityKeyPair::from_bytes(&bob.identity.to_bytes()).unwrap();
    let carol = IdentityKeyPair::generate(&mut rng);
    let mut c = Session::initiate(
        &carol,
        &common::verified(&prekeys.bundle(&identity, None).unwrap().to_bytes()),
        &mut rng,
    )
    .unwrap();
    let m3 = c.encrypt(&mut rng, b"3").unwrap();
    let (_, pt) = Session::accept(&identity, &mut prekeys, &prekey_msg(&m3)).unwrap();
    assert_eq!(pt, b"3");
}

#[test]
fn identity_round_trips() {
    let mut rng = common::rng(407);
    let id = IdentityKeyPair::generate(&mut rng);
    let bytes = id.to_bytes();
    let back = IdentityKeyPair::from_bytes(&bytes).unwrap();
    assert_eq!(back.public_key(), id.public_key());
    assert_eq!(back.to_bytes().to_vec(), bytes.to_vec());
    assert_eq!(*back.to_seed(), *id.to_seed());
    let from_seed = IdentityKeyPair::from_seed(&id.to_seed());
    assert_eq!(from_seed.public_key(), id.public_key());
    // Same keys, same (deterministic) signatures on the same prekeys.
    let p = {
        let mut p = PreKeys::new();
        p.generate_signed_prekey(&id, 9, &mut rng).unwrap();
        p
    };
    assert_eq!(
        p.bundle(&back, None).unwrap().to_bytes(),
        p.bundle(&id, None).unwrap().to_bytes()
    );
    // Malformed identity records.
    let seed_len = |n: usize| edit_record(&bytes, |f| common::pb_set(f, 2, Pb::Bytes(vec![7; n])));
    for n in [0usize, 31, 33] {
        assert_eq!(
            IdentityKeyPair::from_bytes(&seed_len(n)).unwrap_err(),
            StateError::Malformed
        );
    }
}

/// Secret fields of a `SessionState` record: root key, tag key, ratchet secret, sending chain
/// key, receiving chain keys and skipped message keys.
fn session_secrets(s: &Session) -> Vec<Vec<u8>> {
    let f = pb_decode(&s.to_bytes());
    let mut out = Vec::new();
    for n in [5, 6, 7] {
        out.push(pb_get(&f, n).unwrap().bytes().to_vec());
    }
    if let Some(sending) = pb_get(&f, 8) {
        out.push(
            pb_get(&pb_decode(sending.bytes()), 1)
                .unwrap()
                .bytes()
                .to_vec(),
        );
    }
    for (_, chain) in f.iter().filter(|(n, _)| *n == 10) {
        let c = pb_decode(chain.bytes());
        out.push(pb_get(&c, 2).unwrap().bytes().to_vec());
        for (_, k) in c.iter().filter(|(n, _)| *n == 4) {
            out.push(pb_get(&pb_decode(k.bytes()), 2).unwrap().bytes().to_vec());
        }
    }
    out
}

fn check_session_debug(s: &Session, what: &str) {
    let shown = format!("{s:?}");
    let pretty = format!("{s:#?}");
    assert!(shown.contains("Session"));
    for secret in [hazmat::ratchet_secret(s), hazmat::root_key(s)] {
        assert_no_secret(&shown, &secret, what);
        assert_no_secret(&pretty, &secret, what);
    }
    if let Some((ck, _)) = hazmat::sending_chain(s) {
        assert_no_secret(&shown, &ck, what);
    }
    let all = session_secrets(s);
    assert!(all.len() >= 4);
    for secret in &all {
        assert_no_secret(&shown, secret, what);
        assert_no_secret(&pretty, secret, what);
    }
}

#[test]
fn debug_output_shows_no_secrets() {
    let mut rng = common::rng(408);
    let mut bob = Responder::new(&mut rng, 3);
    let alice_id = IdentityKeyPair::generate(&mut rng);

    // Identity: neither the seed nor the record.
    for id in [&alice_id, &bob.identity] {
        let shown = format!("{id:?} {id:#?}");
        assert_no_secret(&shown, &*id.to_seed(), "identity seed");
        let record = id.to_bytes();
        let seed = pb_get(&pb_decode(&record), 2).unwrap().bytes().to_vec();
        assert_no_secret(&shown, &seed, "identity record seed");
        // The public key is fine to show.
        assert!(shown.contains(&common::hex_of(id.public_key().as_bytes())));
    }

    // Prekeys: no signed or one-time prekey secret.
    let check_prekeys = |p: &PreKeys| {
        let shown = format!("{p:?} {p:#?}");
        for (id, _) in p.signed_prekeys() {
            let s = hazmat::signed_prekey_secret(p, id).unwrap();
            assert_no_secret(&shown, &s, "signed prekey");
        }
        for id in p.one_time_prekey_ids() {
            let s = hazmat::one_time_prekey_secret(p, id).unwrap();
            assert_no_secret(&shown, &s, "one-time prekey");
        }
        let record = pb_decode(&p.to_bytes());
        for (_, spk) in record.iter().filter(|(n, _)| *n == 3) {
            let secret = pb_get(&pb_decode(spk.bytes()), 2).unwrap().bytes().to_vec();
            assert_no_secret(&shown, &secret, "signed prekey record");
        }
    };
    check_prekeys(&bob.prekeys);

    // Sessions, in every phase.
    let bundle = common::verified(&bob.bundle(Some(bob.otk_ids[1])));
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    check_session_debug(&alice, "fresh initiator");
    let held = alice.encrypt(&mut rng, b"held").unwrap();
    let m = alice.encrypt(&mut rng, b"hi").unwrap();
    let (mut bob_s, _) = bob.accept(&m);
    check_prekeys(&bob.prekeys);
    check_session_debug(&bob_s, "fresh responder with a skipped key");
    round_trip(&mut bob_s, &mut alice, &mut rng, b"reply");
    check_session_debug(&alice, "initiator after reply");
    check_session_debug(&bob_s, "responder after sending");
    bob_s.decrypt(&held).unwrap();
    common::ping_pong(&mut alice, &mut bob_s, &mut rng, 2);
    check_session_debug(&alice, "after several turns");
    check_session_debug(&bob_s, "after several turns");

    // Wire types and errors show only public data; make sure no session secret leaks there.
    let wire = alice.encrypt(&mut rng, b"x").unwrap();
    let envelope = format!("{:?}", sealpost::Envelope::parse(&wire).unwrap());
    for secret in session_secrets(&alice) {
        assert_no_secret(&envelope, &secret, "envelope");
    }
    let err = format!("{:?}", bob_s.decrypt(&wire[..10]).unwrap_err());
    for secret in session_secrets(&bob_s) {
        assert_no_secret(&err, &secret, "error");
    }
}

#[test]
fn inconsistent_session_records_are_refused() {
    let (mut alice, mut bob, mut rng) = common::pair(409, false);
    let _held = alice.encrypt(&mut rng, b"held").unwrap();
    round_trip(&mut alice, &mut bob, &mut rng, b"skip one");
    assert_eq!(bob.skipped_keys(), 1);
    let bob_bytes = bob.to_bytes().to_vec();
    let alice_bytes = alice.to_bytes().to_vec();
    let edit = |bytes: &[u8], f: common::FieldEdit<'_>| {
        Session::from_bytes(&edit_record(bytes, f)).map(|_| ())
    };
    let edit_chain = |f: common::FieldEdit<'_>| {
        edit(&bob_bytes, &|r| {
            let (_, chain) = r.iter_mut().find(|(n, _)| *n == 10).unwrap();
            let mut c = pb_decode(chain.bytes());
            f(&mut c);
            *chain = Pb::Bytes(pb_encode(&c));
        })
    };
    let malformed = Err(StateError::Malformed);
    // Keys of the wrong length.
    for field in [5u32, 6, 7, 12] {
        assert_eq!(
            edit(&bob_bytes, &|r| common::pb_set(
                r,
                field,
                Pb::Bytes(vec![1; 31])
            )),
            malformed,
            "field {field}"
        );
    }
    assert_eq!(
        edit_chain(&|c| common::pb_set(c, 1, Pb::Bytes(vec![1; 33]))),
        malformed
    );
    assert_eq!(
        edit_chain(&|c| common::pb_set(c, 2, Pb::Bytes(vec![1; 16]))),
        malformed
    );
    // A skipped key at or above its chain's counter, or twice.
    let counter = pb_get(
        &pb_decode(pb_get(&pb_decode(&bob_bytes), 10).unwrap().bytes()),
        3,
    )
    .unwrap()
    .varint();
    let key = |n: u64| {
        Pb::Bytes(pb_encode(&[
            (1, Pb::Varint(n)),
            (2, Pb::Bytes(vec![5; 32])),
        ]))
    };
    assert_eq!(edit_chain(&|c| c.push((4, key(counter)))), malformed);
    assert_eq!(
        edit_chain(&|c| {
            let k = pb_get(c, 4).unwrap().clone();
            c.push((4, k));
        }),
        malformed
    );
    // The same receiving chain twice.
    assert_eq!(
        edit(&bob_bytes, &|r| {
            let c = pb_get(r, 10).unwrap().clone();
            r.push((10, c));
        }),
        malformed
    );
    // A pending prekey on the responder's side.
    assert!(
        pb_get(&pb_decode(&alice_bytes), 11).is_some(),
        "Alice awaits a reply"
    );
    let fresh_alice = {
        let mut rng = common::rng(410);
        let bob = Responder::new(&mut rng, 0);
        let id = IdentityKeyPair::generate(&mut rng);
        Session::initiate(&id, &common::verified(&bob.bundle(None)), &mut rng).unwrap()
    };
    let pending = pb_get(&pb_decode(&fresh_alice.to_bytes()), 11)
        .unwrap()
        .clone();
    assert_eq!(
        edit(&bob_bytes, &|r| r.push((11, pending.clone()))),
        malformed
    );
    // Neither a sending nor a receiving chain.
    assert_eq!(
        edit(&fresh_alice.to_bytes(), &|r| r.retain(|(n, _)| *n != 8)),
        malformed
    );
    // Identity keys that fail validation.
    assert_eq!(
        edit(&bob_bytes, &|r| {
            let mut y1 = [0u8; 32];
            y1[0] = 1; // the neutral element
            common::pb_set(r, 3, Pb::Bytes(y1.to_vec()));
        }),
        Err(StateError::InvalidKey(KeyError::SmallOrder))
    );
    assert_eq!(
        edit(&bob_bytes, &|r| common::pb_set(r, 2, Pb::Bytes(vec![1; 5]))),
        Err(StateError::InvalidKey(KeyError::InvalidLength))
    );
    // The untouched records still load.
    assert!(Session::from_bytes(&bob_bytes).is_ok());
    assert!(Session::from_bytes(&alice_bytes).is_ok());
}

#[test]
fn inconsistent_prekey_records_are_refused() {
    let mut rng = common::rng(411);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut p = PreKeys::new();
    p.generate_signed_prekey(&id, 1, &mut rng).unwrap();
    p.generate_one_time_prekeys(2, &mut rng).unwrap();
    let bytes = p.to_bytes().to_vec();
    let edit = |f: common::FieldEdit<'_>| PreKeys::from_bytes(&edit_record(&bytes, f)).map(|_| ());
    let edit_nested = |field: u32, inner: common::FieldEdit<'_>| {
        edit(&|r| {
            let (_, v) = r.iter_mut().find(|(n, _)| *n == field).unwrap();
            let mut c = pb_decode(v.bytes());
            inner(&mut c);
            *v = Pb::Bytes(pb_encode(&c));
        })
    };
    let malformed = Err(StateError::Malformed);
    assert_eq!(
        edit_nested(3, &|s| common::pb_set(s, 2, Pb::Bytes(vec![1; 31]))),
        malformed
    );
    assert_eq!(
        edit_nested(3, &|s| common::pb_set(s, 3, Pb::Bytes(vec![1; 63]))),
        malformed
    );
    assert_eq!(
        edit_nested(3, &|s| s.push((5, Pb::Bytes(vec![1; 31])))),
        malformed
    );
    assert_eq!(
        edit_nested(4, &|s| common::pb_set(s, 2, Pb::Bytes(vec![1; 33]))),
        malformed
    );
    // The same one-time prekey id twice.
    assert_eq!(
        edit(&|r| {
            let k = pb_get(r, 4).unwrap().clone();
            r.push((4, k));
        }),
        malformed
    );
    assert!(PreKeys::from_bytes(&bytes).is_ok());
}
