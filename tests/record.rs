//! Per-peer session records: archive, reinstall, simultaneous initiation, identity change,
//! persistence and sealing.

mod common;

use common::{Pb, Responder, edit_record, pb_decode, pb_encode};
use sealpost::consts::MAX_ARCHIVED_SESSIONS;
use sealpost::{
    DecryptError, IdentityKeyPair, KeyError, PreKeyBundle, PreKeys, RecordError, SealError,
    SessionRecord, StateError, StorageKey,
};

fn bundle_of(r: &Responder, otk: Option<u32>) -> sealpost::VerifiedBundle {
    PreKeyBundle::from_bytes(&r.bundle(otk))
        .unwrap()
        .verify()
        .unwrap()
}

#[test]
fn simultaneous_initiation_converges_and_loses_nothing() {
    let mut rng = common::rng(10);
    let mut alice = Responder::new(&mut rng, 2);
    let mut bob = Responder::new(&mut rng, 2);
    let mut at_alice = SessionRecord::new(); // Alice's record of Bob
    let mut at_bob = SessionRecord::new();
    at_alice
        .initiate(
            &alice.identity,
            &bundle_of(&bob, Some(bob.otk_ids[0])),
            &mut rng,
        )
        .unwrap();
    at_bob
        .initiate(
            &bob.identity,
            &bundle_of(&alice, Some(alice.otk_ids[0])),
            &mut rng,
        )
        .unwrap();
    // Both send before seeing the other's message.
    let a1 = at_alice.encrypt(&mut rng, b"a1").unwrap();
    let b1 = at_bob.encrypt(&mut rng, b"b1").unwrap();
    assert_eq!(
        at_bob
            .decrypt(&bob.identity, &mut bob.prekeys, &a1)
            .unwrap(),
        b"a1"
    );
    assert_eq!(
        at_alice
            .decrypt(&alice.identity, &mut alice.prekeys, &b1)
            .unwrap(),
        b"b1"
    );
    assert_eq!(at_alice.archived(), 1);
    assert_eq!(at_bob.archived(), 1);
    // They keep talking, alternating; every message arrives exactly once.
    for i in 0..6u8 {
        let m = at_alice.encrypt(&mut rng, &[i]).unwrap();
        assert_eq!(
            at_bob.decrypt(&bob.identity, &mut bob.prekeys, &m).unwrap(),
            vec![i]
        );
        let m = at_bob.encrypt(&mut rng, &[100 + i]).unwrap();
        assert_eq!(
            at_alice
                .decrypt(&alice.identity, &mut alice.prekeys, &m)
                .unwrap(),
            vec![100 + i]
        );
    }
    // Converged: both current sessions are the two ends of one handshake.
    let (ca, cb) = (at_alice.current().unwrap(), at_bob.current().unwrap());
    assert_eq!(ca.base_key(), cb.base_key());
    assert_ne!(ca.is_initiator(), cb.is_initiator());
}

#[test]
fn reinstall_archives_old_session_and_in_flight_messages_still_decrypt() {
    let mut rng = common::rng(11);
    let mut business = Responder::new(&mut rng, 3);
    let customer_v1 = IdentityKeyPair::generate(&mut rng);
    let mut c1 = SessionRecord::new();
    c1.initiate(
        &customer_v1,
        &bundle_of(&business, Some(business.otk_ids[0])),
        &mut rng,
    )
    .unwrap();
    let mut at_business = SessionRecord::new();
    let m = c1.encrypt(&mut rng, b"first install").unwrap();
    at_business
        .decrypt(&business.identity, &mut business.prekeys, &m)
        .unwrap();
    let in_flight = c1.encrypt(&mut rng, b"sent just before reinstall").unwrap();

    // The app is reinstalled with the same identity (restored from backup) but no sessions.
    let mut c2 = SessionRecord::new();
    c2.initiate(
        &customer_v1,
        &bundle_of(&business, Some(business.otk_ids[1])),
        &mut rng,
    )
    .unwrap();
    let m = c2.encrypt(&mut rng, b"after reinstall").unwrap();
    assert_eq!(
        at_business
            .decrypt(&business.identity, &mut business.prekeys, &m)
            .unwrap(),
        b"after reinstall"
    );
    assert_eq!(at_business.archived(), 1);
    // The old session still decrypts what was in flight.
    assert_eq!(
        at_business
            .decrypt(&business.identity, &mut business.prekeys, &in_flight)
            .unwrap(),
        b"sent just before reinstall"
    );
    // Replies go to whichever session last decrypted; send from the new one again and reply.
    let m = c2.encrypt(&mut rng, b"still there?").unwrap();
    at_business
        .decrypt(&business.identity, &mut business.prekeys, &m)
        .unwrap();
    let reply = at_business.encrypt(&mut rng, b"yes").unwrap();
    assert_eq!(
        c2.decrypt(&customer_v1, &mut PreKeys::new(), &reply)
            .unwrap(),
        b"yes"
    );
}

#[test]
fn identity_change_is_an_error_the_caller_must_acknowledge() {
    let mut rng = common::rng(12);
    let mut business = Responder::new(&mut rng, 2);
    let old = IdentityKeyPair::generate(&mut rng);
    let new = IdentityKeyPair::generate(&mut rng);
    let mut c_old = SessionRecord::new();
    c_old
        .initiate(&old, &bundle_of(&business, None), &mut rng)
        .unwrap();
    let mut at_business = SessionRecord::new();
    at_business
        .decrypt(
            &business.identity,
            &mut business.prekeys,
            &c_old.encrypt(&mut rng, b"x").unwrap(),
        )
        .unwrap();

    let mut c_new = SessionRecord::new();
    c_new
        .initiate(
            &new,
            &bundle_of(&business, Some(business.otk_ids[0])),
            &mut rng,
        )
        .unwrap();
    let m = c_new.encrypt(&mut rng, b"new phone, new key").unwrap();
    let before = at_business.to_bytes();
    let prekeys_before = business.prekeys.to_bytes();
    match at_business.decrypt(&business.identity, &mut business.prekeys, &m) {
        Err(RecordError::UntrustedIdentity(change)) => {
            assert_eq!(&change.expected, old.public_key());
            assert_eq!(&change.received, new.public_key());
        }
        other => panic!("expected UntrustedIdentity, got {other:?}"),
    }
    assert_eq!(before, at_business.to_bytes());
    assert_eq!(prekeys_before, business.prekeys.to_bytes());
    at_business.trust_new_identity(*new.public_key());
    assert_eq!(
        at_business
            .decrypt(&business.identity, &mut business.prekeys, &m)
            .unwrap(),
        b"new phone, new key"
    );
}

#[test]
fn archive_is_bounded_and_forged_messages_change_nothing() {
    let mut rng = common::rng(13);
    let mut business = Responder::new(&mut rng, 0);
    let customer = IdentityKeyPair::generate(&mut rng);
    let mut at_business = SessionRecord::new();
    let mut last = SessionRecord::new();
    for _ in 0..MAX_ARCHIVED_SESSIONS + 5 {
        let mut c = SessionRecord::new();
        c.initiate(&customer, &bundle_of(&business, None), &mut rng)
            .unwrap();
        let m = c.encrypt(&mut rng, b"hi").unwrap();
        at_business
            .decrypt(&business.identity, &mut business.prekeys, &m)
            .unwrap();
        last = c;
    }
    assert_eq!(at_business.archived(), MAX_ARCHIVED_SESSIONS);
    // A ratchet message with a new ratchet key and a forged tag matches no session.
    let reply = at_business.encrypt(&mut rng, b"reply").unwrap();
    assert_eq!(
        last.decrypt(&customer, &mut PreKeys::new(), &reply)
            .unwrap(),
        b"reply"
    );
    let m = last.encrypt(&mut rng, b"on a new chain").unwrap();
    let mut forged = m.clone();
    let n = forged.len();
    forged[n - 20] ^= 1; // inside the ciphertext
    let before = at_business.to_bytes();
    assert!(
        at_business
            .decrypt(&business.identity, &mut business.prekeys, &forged)
            .is_err()
    );
    assert_eq!(before, at_business.to_bytes());
    assert_eq!(
        at_business
            .decrypt(&business.identity, &mut business.prekeys, &m)
            .unwrap(),
        b"on a new chain"
    );
}

#[test]
fn record_round_trips_and_seals() {
    let mut rng = common::rng(14);
    let mut business = Responder::new(&mut rng, 1);
    let customer = IdentityKeyPair::generate(&mut rng);
    let mut c = SessionRecord::new();
    c.initiate(
        &customer,
        &bundle_of(&business, Some(business.otk_ids[0])),
        &mut rng,
    )
    .unwrap();
    let mut at_business = SessionRecord::new();
    for i in 0..3u8 {
        let m = c.encrypt(&mut rng, &[i]).unwrap();
        at_business
            .decrypt(&business.identity, &mut business.prekeys, &m)
            .unwrap();
    }
    let bytes = at_business.to_bytes();
    let back = SessionRecord::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.revision(), at_business.revision());

    let key = StorageKey::generate(&mut rng);
    let sealed = at_business.seal(&key, &mut rng);
    let mut opened = SessionRecord::open(&sealed, &key).unwrap();
    assert_eq!(opened.to_bytes(), bytes);
    let reply = opened.encrypt(&mut rng, b"after restart").unwrap();
    assert_eq!(
        c.decrypt(&customer, &mut PreKeys::new(), &reply).unwrap(),
        b"after restart"
    );
    assert_eq!(
        SessionRecord::open(&sealed, &StorageKey::generate(&mut rng)).unwrap_err(),
        SealError::Authentication
    );
    assert!(matches!(
        SessionRecord::new().encrypt(&mut rng, b"x"),
        Err(RecordError::NoSession)
    ));
    let _ = DecryptError::Malformed;
}

/// PROTOCOL.md §6.4: `from_bytes` validates the identity keys of a record in full; `open`
/// checks only their encodings, because the AEAD has shown that this device sealed them, and
/// it seals only validated keys. So the unsealed path must still refuse a key with a torsion
/// component, the sealed path must restore a valid record exactly, and a sealed record that
/// was changed in any byte must not open.
#[test]
fn unsealed_records_revalidate_identities_and_sealed_ones_authenticate() {
    let mut rng = common::rng(15);
    let mut business = Responder::new(&mut rng, 0);
    let customer = IdentityKeyPair::generate(&mut rng);
    let mut c = SessionRecord::new();
    c.initiate(&customer, &bundle_of(&business, None), &mut rng)
        .unwrap();
    let hello = c.encrypt(&mut rng, b"hello").unwrap();
    let mut at_business = SessionRecord::new();
    at_business
        .decrypt(&business.identity, &mut business.prekeys, &hello)
        .unwrap();
    let bytes = at_business.to_bytes();

    // The customer's key plus a point of order 8, as the record's and the session's peer.
    let point = curve25519_dalek::edwards::CompressedEdwardsY(customer.public_key().to_bytes())
        .decompress()
        .unwrap();
    let torsion = (point + curve25519_dalek::constants::EIGHT_TORSION[1])
        .compress()
        .to_bytes()
        .to_vec();
    let edited = edit_record(&bytes, |r| {
        common::pb_set(r, 3, Pb::Bytes(torsion.clone()));
        let (_, current) = r.iter_mut().find(|(n, _)| *n == 4).unwrap();
        let mut session = pb_decode(current.bytes());
        common::pb_set(&mut session, 3, Pb::Bytes(torsion.clone()));
        *current = Pb::Bytes(pb_encode(&session));
    });
    assert_eq!(
        SessionRecord::from_bytes(&edited).unwrap_err(),
        StateError::InvalidKey(KeyError::Torsion)
    );

    // Sealed and opened: the same record, and the conversation goes on in both directions.
    let key = StorageKey::generate(&mut rng);
    let sealed = at_business.seal(&key, &mut rng);
    let mut opened = SessionRecord::open(&sealed, &key).unwrap();
    assert_eq!(opened.to_bytes(), bytes);
    assert_eq!(opened.remote_identity(), Some(customer.public_key()));
    let reply = opened.encrypt(&mut rng, b"after a reload").unwrap();
    assert_eq!(
        c.decrypt(&customer, &mut PreKeys::new(), &reply).unwrap(),
        b"after a reload"
    );
    let next = c.encrypt(&mut rng, b"next").unwrap();
    assert_eq!(
        opened
            .decrypt(&business.identity, &mut business.prekeys, &next)
            .unwrap(),
        b"next"
    );

    // Any flipped bit (nonce, ciphertext or tag) fails authentication before decoding.
    for i in 0..sealed.len() {
        let mut t = sealed.clone();
        t[i] ^= 1 << (i % 8);
        assert_eq!(
            SessionRecord::open(&t, &key).unwrap_err(),
            SealError::Authentication,
            "byte {i}"
        );
    }
    assert!(SessionRecord::open(&sealed[..sealed.len() - 1], &key).is_err());
}
