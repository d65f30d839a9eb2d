//! Every group decoder on arbitrary bytes: `Group::from_bytes`, `BroadcastList::from_bytes`,
//! `BroadcastSubscription::from_bytes`, `AuditLog::from_bytes`, `Consent::from_evidence` and
//! `control_channel_id`. Nothing panics; errors are typed; what decodes re-encodes within the
//! record limits, and re-encodes stably (encode -> decode -> encode); a decoded state keeps
//! its invariants and survives use: the group world's real messages and control payloads
//! (`group_fixtures.rs`) either work (a message decrypts to what was sent) or fail with the
//! state byte-identical, and encrypting never panics.

#[path = "fixtures.rs"]
pub mod fixtures;
#[path = "group_fixtures.rs"]
pub mod group_fixtures;

use group_fixtures::{GroupWorld, Slot};
use sealpost::consts::{
    MAX_AUDIT_ENTRIES, MAX_BROADCAST_CUSTOMERS, MAX_BROADCAST_RECORD_SIZE, MAX_CHAINS_PER_SENDER,
    MAX_CHANNEL_ID_LEN, MAX_CHANNEL_SKIPPED_KEYS, MAX_GROUP_MEMBERS, MAX_GROUP_RECORD_SIZE,
};
use sealpost::group::{
    AuditLog, BroadcastList, BroadcastSubscription, Consent, ConsentAction, Group, GroupStatus,
    control_channel_id,
};

pub fn check(data: &[u8]) {
    let w = GroupWorld::get();
    if let Ok(g) = Group::from_bytes(data) {
        group(w, g);
    }
    if let Ok(l) = BroadcastList::from_bytes(data) {
        list(w, l);
    }
    if let Ok(s) = BroadcastSubscription::from_bytes(data) {
        subscription(w, s);
    }
    if let Ok(log) = AuditLog::from_bytes(data) {
        audit(&log);
    }
    if let Ok(c) = Consent::from_evidence(data) {
        let again = Consent::from_evidence(&c.to_evidence()).expect("re-encoded evidence");
        assert_eq!(again, c, "consent evidence is not stable");
        assert_eq!(again.to_evidence(), c.to_evidence());
    }
    if let Ok(id) = control_channel_id(data) {
        assert!((1..=MAX_CHANNEL_ID_LEN).contains(&id.as_bytes().len()));
    }
}

fn group(w: &GroupWorld, mut g: Group) {
    let once = g.to_bytes().to_vec();
    assert!(
        once.len() <= MAX_GROUP_RECORD_SIZE,
        "group re-encodes oversized"
    );
    let again = Group::from_bytes(&once).expect("a re-encoded group decodes");
    assert_eq!(*again.to_bytes(), once, "group encoding is not stable");
    assert_eq!(again.revision(), g.revision());

    let members = g.members();
    assert!(members.len() <= MAX_GROUP_MEMBERS);
    assert!(
        members.windows(2).all(|p| p[0] < p[1]),
        "members not ascending"
    );
    assert!(g.is_member(g.admin()), "the admin is not a member");
    if g.status() == GroupStatus::Active {
        assert!(g.is_member(g.local_identity()), "active, but not a member");
    }
    assert!(g.skipped_keys() <= MAX_CHANNEL_SKIPPED_KEYS);
    for k in &w.ids {
        assert!(g.chains_held(k.public_key()) <= MAX_CHAINS_PER_SENDER);
    }
    if g.status() != GroupStatus::Active {
        assert_eq!(g.skipped_keys(), 0, "an inactive group holds keys");
    }

    // Every real group message: decrypts to what was sent, or fails and changes nothing.
    for (m, _) in &w.member.messages {
        let before = g.to_bytes().to_vec();
        match g.decrypt(w.key(m.sender), &m.wire) {
            Ok(text) => assert_eq!(text, m.plaintext, "decoded group decrypted wrongly"),
            Err(e) => assert_eq!(
                *g.to_bytes(),
                before,
                "failed decrypt ({e:?}) changed state"
            ),
        }
    }
    // Every real control payload for a group, over its session.
    let mut rng = fixtures::rng(5);
    for c in w
        .controls
        .iter()
        .filter(|c| matches!(c.slot, Slot::Member | Slot::Admin))
    {
        let before = g.to_bytes().to_vec();
        match g.receive(w.session(c.from.0, c.from.1), &c.payload, &mut rng) {
            Ok(_) => {
                let after = g.to_bytes().to_vec();
                let restored = Group::from_bytes(&after).expect("restores after a receive");
                assert_eq!(
                    *restored.to_bytes(),
                    after,
                    "encoding unstable after a receive"
                );
            }
            Err(e) => assert_eq!(
                *g.to_bytes(),
                before,
                "failed receive ({e:?}) changed state"
            ),
        }
    }
    let before = g.to_bytes().to_vec();
    match g.encrypt(&mut rng, b"after restore") {
        Ok(_) => assert_eq!(g.status(), GroupStatus::Active),
        Err(e) => assert_eq!(
            *g.to_bytes(),
            before,
            "failed encrypt ({e:?}) changed state"
        ),
    }
}

fn list(w: &GroupWorld, mut l: BroadcastList) {
    let once = l.to_bytes().to_vec();
    assert!(
        once.len() <= MAX_BROADCAST_RECORD_SIZE,
        "list re-encodes oversized"
    );
    let again = BroadcastList::from_bytes(&once).expect("a re-encoded list decodes");
    assert_eq!(*again.to_bytes(), once, "list encoding is not stable");
    assert_eq!(l.subscriber_count(), l.subscribers().count());
    assert!(l.subscriber_count() <= MAX_BROADCAST_CUSTOMERS);
    assert!(l.audit_log().entries().len() <= MAX_AUDIT_ENTRIES);

    for c in w.controls.iter().filter(|c| c.slot == Slot::List) {
        let before = l.to_bytes().to_vec();
        match l.receive(w.session(c.from.0, c.from.1), &c.payload) {
            Ok(_) => {
                let after = l.to_bytes().to_vec();
                let restored = BroadcastList::from_bytes(&after).expect("restores");
                assert_eq!(
                    *restored.to_bytes(),
                    after,
                    "encoding unstable after a receive"
                );
            }
            Err(e) => assert_eq!(
                *l.to_bytes(),
                before,
                "failed receive ({e:?}) changed state"
            ),
        }
    }
    let mut rng = fixtures::rng(6);
    let before = l.to_bytes().to_vec();
    let needed = l.needs_rekey();
    match l.broadcast(&mut rng, b"after restore") {
        Ok(_) => assert!(!needed, "broadcast without a chain"),
        Err(e) => assert_eq!(
            *l.to_bytes(),
            before,
            "failed broadcast ({e:?}) changed state"
        ),
    }
}

fn subscription(w: &GroupWorld, mut s: BroadcastSubscription) {
    let once = s.to_bytes().to_vec();
    assert!(
        once.len() <= MAX_GROUP_RECORD_SIZE,
        "subscription re-encodes oversized"
    );
    let again = BroadcastSubscription::from_bytes(&once).expect("re-encoded subscription");
    assert_eq!(
        *again.to_bytes(),
        once,
        "subscription encoding is not stable"
    );
    assert!(s.chains_held() <= MAX_CHAINS_PER_SENDER);
    if !s.is_subscribed() {
        assert_eq!(s.chains_held(), 0, "a withdrawn subscription holds chains");
    }
    for (m, _) in &w.subscriber.messages {
        let before = s.to_bytes().to_vec();
        match s.decrypt(&m.wire) {
            Ok(text) => assert_eq!(text, m.plaintext, "decoded subscription decrypted wrongly"),
            Err(e) => assert_eq!(
                *s.to_bytes(),
                before,
                "failed decrypt ({e:?}) changed state"
            ),
        }
    }
    for c in w.controls.iter().filter(|c| c.slot == Slot::Subscriber) {
        let before = s.to_bytes().to_vec();
        match s.receive(w.session(c.from.0, c.from.1), &c.payload) {
            Ok(_) => {
                let after = s.to_bytes().to_vec();
                let restored = BroadcastSubscription::from_bytes(&after).expect("restores");
                assert_eq!(
                    *restored.to_bytes(),
                    after,
                    "encoding unstable after a receive"
                );
            }
            Err(e) => assert_eq!(
                *s.to_bytes(),
                before,
                "failed receive ({e:?}) changed state"
            ),
        }
    }
}

fn audit(log: &AuditLog) {
    let once = log.to_bytes();
    assert!(
        once.len() <= MAX_BROADCAST_RECORD_SIZE,
        "audit log re-encodes oversized"
    );
    let again = AuditLog::from_bytes(&once).expect("a re-encoded log verifies");
    assert_eq!(again, *log, "audit log changed in a round trip");
    assert_eq!(again.to_bytes(), once, "audit log encoding is not stable");
    let text = log.to_string();
    assert!(text.starts_with("Consent audit log"));
    let mut customers: Vec<[u8; 32]> = log.entries().iter().map(|e| *e.customer()).collect();
    customers.sort_unstable();
    customers.dedup();
    let mut total = 0;
    for c in &customers {
        let e = log
            .entries()
            .iter()
            .rev()
            .find(|e| e.customer() == c)
            .expect("an entry");
        // Entries were verified, so the customer key is a valid identity.
        let key = sealpost::IdentityKey::from_bytes(c).expect("a verified customer key");
        assert_eq!(
            log.is_subscribed(&key),
            e.action() == ConsentAction::Subscribe
        );
        let theirs = log.for_customer(&key);
        total += theirs.entries().len();
        let reloaded = AuditLog::from_bytes(&theirs.to_bytes()).expect("a subset verifies");
        assert_eq!(reloaded, theirs);
    }
    assert_eq!(total, log.entries().len());
}
