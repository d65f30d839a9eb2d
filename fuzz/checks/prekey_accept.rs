//! `Session::accept` on arbitrary bytes and on mutated real prekey messages (PQXDH and
//! classical), for a fixed responder: a failure leaves the prekeys byte-identical; a success
//! happens only for a message the initiator really sent (its ML-KEM ciphertext included),
//! consumes its one-time prekeys (X25519 and ML-KEM), cannot be replayed, and yields a working
//! session that is post-quantum exactly when the message was.

#[path = "fixtures.rs"]
pub mod fixtures;

use fixtures::{Choices, KnownBug, World};
use sealpost::{Envelope, Session};

pub fn check(data: &[u8]) {
    let world = World::get();
    accept(world, data);
    let mut c = Choices::new(data);
    let base = &world.handshakes[usize::from(c.byte()) % world.handshakes.len()];
    let donors = world.all_messages();
    let mutated =
        fixtures::mutate_message(&base.message.wire, &donors, &world.identity_keys(), &mut c);
    accept(world, &mutated);
}

fn accept(world: &World, bytes: &[u8]) {
    let Ok(Envelope::PreKey(m)) = Envelope::parse(bytes) else {
        return;
    };
    let mut prekeys = world.bob_prekeys.clone();
    let before = prekeys.to_bytes();
    let mut out = b"prefix".to_vec();
    let result = Session::accept_into(&world.bob, &mut prekeys, &m, &mut out);
    let mut session = match result {
        Err(_) => {
            assert_eq!(
                prekeys.to_bytes(),
                before,
                "failed accept changed the prekeys"
            );
            assert_eq!(out, b"prefix", "failed accept wrote output");
            return;
        }
        Ok(s) => s,
    };
    let shown = fixtures::parsed(bytes).unwrap_or_default();
    let Some(original) = world.handshakes.iter().find(|h| h.message.parsed == shown) else {
        let known = world
            .handshakes
            .iter()
            .any(|h| fixtures::known_bug_variant(&h.message.wire, bytes, KnownBug::BaseKeyHighBit));
        assert!(known, "accepted a prekey message nobody sent: {shown}");
        return;
    };
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(out[6..], original.message.plaintext[..], "wrong plaintext");
    assert!(prekeys.revision() > world.bob_prekeys.revision());
    if let Some(id) = m.one_time_prekey_id() {
        assert!(
            !prekeys.one_time_prekey_ids().any(|k| k == id),
            "one-time prekey {id} not consumed"
        );
    }
    if let Some(id) = m.kem_prekey_id() {
        assert!(
            !prekeys.one_time_kem_prekey_ids().any(|k| k == id),
            "one-time ML-KEM prekey {id} not consumed"
        );
    }
    assert_eq!(session.is_post_quantum(), m.is_post_quantum());
    assert_eq!(
        session.is_post_quantum(),
        original.initiator.is_post_quantum()
    );
    assert_eq!(session.remote_identity(), m.sender_identity());
    assert_eq!(session.base_key(), m.base_key());
    assert!(!session.is_initiator());

    // The same message again is a replay: rejected, nothing changes.
    let after = prekeys.to_bytes();
    assert!(
        Session::accept(&world.bob, &mut prekeys, &m).is_err(),
        "prekey message accepted twice"
    );
    assert_eq!(
        prekeys.to_bytes(),
        after,
        "rejected replay changed the prekeys"
    );
    // ... and also as a message of the session it created.
    let state = session.to_bytes();
    assert!(
        session.decrypt(bytes).is_err(),
        "prekey message decrypted twice"
    );
    assert_eq!(session.to_bytes(), state);

    // The session persists and works: the initiator reads the reply.
    let mut restored = Session::from_bytes(&state).expect("a fresh session restores");
    assert_eq!(restored.to_bytes(), state);
    let mut rng = fixtures::rng(11);
    let reply = restored.encrypt(&mut rng, b"reply").expect("encrypt");
    let mut initiator = original.initiator.clone();
    assert_eq!(initiator.decrypt(&reply).expect("reply decrypts"), b"reply");
}
