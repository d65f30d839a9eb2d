//! `Session::decrypt` on a live, deterministic session pair, with arbitrary bytes and with
//! mutations of the messages really in flight: a failure leaves the session byte-identical; a
//! success happens only for a message really sent, yields its plaintext, and cannot be replayed.

#[path = "fixtures.rs"]
pub mod fixtures;

use fixtures::{Choices, KnownBug, Side, World};

pub fn check(data: &[u8]) {
    let world = World::get();
    decrypt(world, Side::Alice, data);
    decrypt(world, Side::Bob, data);
    let mut c = Choices::new(data);
    let side = if c.byte() & 1 == 0 {
        Side::Alice
    } else {
        Side::Bob
    };
    let pending = world.pending(side);
    let base = &pending[c.index(pending.len())];
    let donors = world.all_messages();
    let mutated = fixtures::mutate_message(&base.wire, &donors, &world.identity_keys(), &mut c);
    decrypt(world, side, &mutated);
}

fn decrypt(world: &World, side: Side, bytes: &[u8]) {
    let mut session = world.session(side).clone();
    let before = session.to_bytes();
    let mut out = b"prefix".to_vec();
    if let Err(e) = session.decrypt_into(bytes, &mut out) {
        assert_eq!(
            session.to_bytes(),
            before,
            "failed decrypt ({e:?}) changed the session"
        );
        assert_eq!(out, b"prefix", "failed decrypt wrote output");
        return;
    }
    let shown = fixtures::parsed(bytes).unwrap_or_default();
    let Some(original) = world.pending(side).iter().find(|m| m.parsed == shown) else {
        let known = world
            .pending(side)
            .iter()
            .any(|m| fixtures::known_bug_variant(&m.wire, bytes, KnownBug::UnboundPreKeyFields));
        assert!(known, "{side:?} decrypted a message nobody sent: {shown}");
        return;
    };
    assert_eq!(&out[..6], b"prefix");
    assert_eq!(out[6..], original.plaintext[..], "wrong plaintext");
    assert!(session.to_bytes() != before, "a decryption changed nothing");

    // Replays, of these bytes or of the original, fail and change nothing.
    let after = session.to_bytes();
    assert!(session.decrypt(bytes).is_err(), "replay decrypted");
    assert!(session.decrypt(&original.wire).is_err(), "replay decrypted");
    assert_eq!(
        session.to_bytes(),
        after,
        "rejected replay changed the session"
    );

    // Every other message in flight still decrypts, and the state round-trips.
    let mut restored = sealpost::Session::from_bytes(&after).expect("session restores");
    assert_eq!(restored.to_bytes(), after);
    for m in world.pending(side) {
        if m.parsed != shown {
            let text = restored
                .decrypt(&m.wire)
                .expect("other message in flight decrypts");
            assert_eq!(text, m.plaintext);
        }
    }
}
