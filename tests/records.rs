//! Committed records of every version the crate has written must keep loading (issue 4).
//!
//! `tests/records/v1/` holds an identity, a prekey set, a session and a per-peer session record
//! of a responder, plus a message the responder had not yet decrypted when they were saved.
//! Regenerate only when adding a new version directory:
//! `SEALPOST_REGENERATE_RECORDS=1 cargo test --all-features --test records`.

mod common;

use std::path::PathBuf;

use sealpost::{IdentityKeyPair, PreKeys, Session, SessionRecord};

const PENDING_TEXT: &[u8] = b"sent before the records were saved";

fn dir(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/records")
        .join(version)
}

/// Writes the v1 blobs from a seeded conversation.
fn generate(out: &PathBuf) {
    let mut rng = common::rng(4242);
    let mut bob = common::Responder::new(&mut rng, 2);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bundle = common::verified(&bob.bundle(Some(bob.otk_ids[0])));
    let mut alice = SessionRecord::new();
    alice.initiate(&alice_id, &bundle, &mut rng).unwrap();
    let mut record = SessionRecord::new();
    for i in 0..3u8 {
        let m = alice.encrypt(&mut rng, &[i]).unwrap();
        record.decrypt(&bob.identity, &mut bob.prekeys, &m).unwrap();
    }
    let reply = record.encrypt(&mut rng, b"reply").unwrap();
    alice
        .decrypt(&alice_id, &mut PreKeys::new(), &reply)
        .unwrap();
    let _lost = alice.encrypt(&mut rng, b"lost").unwrap();
    let pending = alice.encrypt(&mut rng, PENDING_TEXT).unwrap();
    let session = record.current().unwrap().clone();
    std::fs::create_dir_all(out).unwrap();
    std::fs::write(out.join("identity.bin"), bob.identity.to_bytes().as_slice()).unwrap();
    std::fs::write(out.join("prekeys.bin"), bob.prekeys.to_bytes().as_slice()).unwrap();
    std::fs::write(out.join("session.bin"), session.to_bytes().as_slice()).unwrap();
    std::fs::write(out.join("session_record.bin"), record.to_bytes().as_slice()).unwrap();
    std::fs::write(out.join("pending_message.bin"), &pending).unwrap();
}

#[test]
fn every_committed_version_still_loads() {
    let v1 = dir("v1");
    if std::env::var_os("SEALPOST_REGENERATE_RECORDS").is_some() {
        generate(&v1);
    }
    let read = |name: &str| {
        std::fs::read(v1.join(name)).unwrap_or_else(|e| panic!("tests/records/v1/{name}: {e}"))
    };
    let identity = IdentityKeyPair::from_bytes(&read("identity.bin")).unwrap();
    let mut prekeys = PreKeys::from_bytes(&read("prekeys.bin")).unwrap();
    assert_eq!(
        prekeys.one_time_prekey_ids().count(),
        1,
        "one of two one-time prekeys used"
    );
    let pending = read("pending_message.bin");

    let mut session = Session::from_bytes(&read("session.bin")).unwrap();
    assert_eq!(session.remote_identity(), session.remote_identity());
    assert_eq!(session.decrypt(&pending).unwrap(), PENDING_TEXT);
    assert_eq!(
        session.skipped_keys(),
        1,
        "the lost message's key is still held"
    );

    let mut record = SessionRecord::from_bytes(&read("session_record.bin")).unwrap();
    assert_eq!(
        record.decrypt(&identity, &mut prekeys, &pending).unwrap(),
        PENDING_TEXT
    );
    // A replay after loading is still a duplicate: the saved state carried the used counters.
    assert!(record.decrypt(&identity, &mut prekeys, &pending).is_err());
}
