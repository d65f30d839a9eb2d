//! `Session::from_bytes`, `PreKeys::from_bytes` and `IdentityKeyPair::from_bytes` on arbitrary
//! bytes: no panic; what decodes re-encodes stably (encode -> decode -> encode), and a decoded
//! session survives use: encrypting and decrypting the fixture's messages never panics, and a
//! failed decryption changes nothing.

#[path = "fixtures.rs"]
pub mod fixtures;

use fixtures::World;
use sealpost::consts::{MAX_RECORD_SIZE, MAX_SKIPPED_KEYS};
use sealpost::{IdentityKeyPair, PreKeys, Session};

pub fn check(data: &[u8]) {
    if let Ok(session) = Session::from_bytes(data) {
        let once = session.to_bytes();
        assert!(
            once.len() <= MAX_RECORD_SIZE,
            "decoded session re-encodes oversized"
        );
        let again = Session::from_bytes(&once).expect("a re-encoded session decodes");
        assert_eq!(again.to_bytes(), once, "session encoding is not stable");
        assert!(session.skipped_keys() <= MAX_SKIPPED_KEYS);
        exercise(&session);
    }
    if let Ok(prekeys) = PreKeys::from_bytes(data) {
        let once = prekeys.to_bytes();
        let again = PreKeys::from_bytes(&once).expect("re-encoded prekeys decode");
        assert_eq!(again.to_bytes(), once, "prekeys encoding is not stable");
        assert_eq!(again.revision(), prekeys.revision());
        let ids: Vec<u32> = prekeys.one_time_prekey_ids().collect();
        assert_eq!(again.one_time_prekey_ids().collect::<Vec<_>>(), ids);
    }
    if let Ok(identity) = IdentityKeyPair::from_bytes(data) {
        let once = identity.to_bytes();
        let again = IdentityKeyPair::from_bytes(&once).expect("re-encoded identity decodes");
        assert_eq!(again.to_bytes(), once, "identity encoding is not stable");
        assert_eq!(again.public_key(), identity.public_key());
        assert_eq!(
            IdentityKeyPair::from_seed(&identity.to_seed()).public_key(),
            identity.public_key()
        );
    }
}

/// Uses a decoded session: decrypt every real message of the fixture, then encrypt.
fn exercise(session: &Session) {
    let world = World::get();
    let mut s = session.clone();
    for m in world.to_alice.iter().chain(&world.to_bob) {
        let before = s.to_bytes();
        match s.decrypt(&m.wire) {
            Ok(text) => assert_eq!(text, m.plaintext, "decoded session decrypted wrongly"),
            Err(e) => assert_eq!(s.to_bytes(), before, "failed decrypt ({e:?}) changed state"),
        }
    }
    let mut rng = fixtures::rng(3);
    let before = s.to_bytes();
    match s.encrypt(&mut rng, b"after restore") {
        Ok(wire) => assert!(
            sealpost::Envelope::parse(&wire).is_ok(),
            "encrypted garbage"
        ),
        Err(e) => assert_eq!(s.to_bytes(), before, "failed encrypt ({e:?}) changed state"),
    }
}
