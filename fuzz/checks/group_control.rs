//! Channel control payloads (rosters, sender-key distributions, leave requests, consent
//! statements) processed by every kind of receiver in the group world (`group_fixtures.rs`):
//! C's group (a member), A's group (the admin), D's subscription, A's broadcast list, each
//! restored from its snapshot record, and `Group::join` with no prior state. Each payload
//! arrives over a pairwise session (the receiver's own with a member, an outsider or a
//! non-business, or one that is not the receiver's at all). Inputs: arbitrary bytes (to every
//! receiver over every session), the real payloads as they are, mutated (fields swapped
//! between real payloads, conflicting chain ids, invalid keys, extreme iterations, other
//! channels and versions, flipped signatures; then byte edits), and real payloads sent to the
//! wrong receiver. Up to `MAX_OPS` steps per input act on the same receivers. Every step:
//!
//! - a failure is a typed error and leaves the receiver's record byte-identical; a real
//!   payload the snapshot accepts is accepted by a receiver still at its snapshot;
//! - a success is one the protocol allows: an applied roster is one the admin really signed
//!   and newer, with `added`/`removed` exactly the difference; a new sender key is the
//!   payload's and comes from a member; a leave request reaches the admin only; an accepted
//!   consent statement is one the customer really signed, logged once; a join is from a roster
//!   its inviter really signed and that lists us; outgoing payloads go to members only;
//! - after a success the record re-encodes stably, and the same payload again is rejected
//!   (rosters, statements) or changes nothing but the revision (distributions, leave).
//!
//! Input layout: the whole input is first tried as a payload; then choices: an op byte (0
//! deliver a real payload, 1-2 mutate one, 3 send one raw-edited anywhere), a u16 payload
//! index, and the op's own bytes (see `Run::step`).

#[path = "fixtures.rs"]
pub mod fixtures;
#[path = "group_fixtures.rs"]
pub mod group_fixtures;

use std::collections::BTreeMap;

use fixtures::{Choices, mutate_bytes};
use group_fixtures::{
    A, D, GroupWorld, RealRoster, RealStatement, SLOTS, Slot, mutate_control, without_revision,
};
use rand::rngs::ChaCha20Rng;
use sealpost::consts::MAX_CHAINS_PER_SENDER;
use sealpost::group::{
    BroadcastList, BroadcastSubscription, ConsentAction, ConsentOutcome, Fanout, Group,
    GroupStatus, control_channel_id,
};
use sealpost::hazmat;

/// Operations per input after the raw attempt.
const MAX_OPS: usize = 4;

struct Run<'w> {
    w: &'w GroupWorld,
    rng: ChaCha20Rng,
    member: Option<Group>,
    admin: Option<Group>,
    subscriber: Option<BroadcastSubscription>,
    list: Option<BroadcastList>,
    /// Slots whose state changed since the snapshot.
    changed: Vec<Slot>,
    /// Each slot's record as of its last change (the snapshot's until then).
    current: BTreeMap<Slot, Vec<u8>>,
}

pub fn check(data: &[u8]) {
    let w = GroupWorld::get();
    let mut run = Run {
        w,
        rng: fixtures::rng(0x6c0_47e1),
        member: None,
        admin: None,
        subscriber: None,
        list: None,
        changed: Vec::new(),
        current: BTreeMap::from([
            (Slot::Member, w.member.record.clone()),
            (Slot::Admin, w.admin_record.clone()),
            (Slot::Subscriber, w.subscriber.record.clone()),
            (Slot::List, w.list_record.clone()),
        ]),
    };
    for slot in SLOTS {
        for &from in slot.sessions() {
            run.receive(slot, from, data);
        }
    }
    let mut c = Choices::new(data);
    for _ in 0..MAX_OPS {
        if c.is_empty() {
            break;
        }
        run.step(&mut c);
    }
    run.finish();
}

fn restore_group(record: &[u8]) -> Group {
    Group::from_bytes(record).expect("snapshot restores")
}

/// Fanouts name members other than `me` only, and carry a control payload for `g`.
fn check_outgoing(g: &Group, outgoing: &[Fanout]) {
    let me = g.local_identity().to_bytes();
    for f in outgoing {
        for r in f.recipients() {
            assert!(*r != me, "a fanout to ourselves");
            assert!(g.members().contains(r), "a fanout to a non-member");
        }
        assert_eq!(
            control_channel_id(f.expose_payload()).as_ref(),
            Ok(g.id()),
            "an outgoing payload is not a control message for this group"
        );
    }
}

impl Run<'_> {
    /// Keeps the receivers nothing changed for the next input.
    fn finish(self) {
        let w = self.w;
        let kept = |slot| !self.changed.contains(&slot);
        if let (Some(g), true) = (self.member, kept(Slot::Member)) {
            w.cached_member.put_back(g);
        }
        if let (Some(g), true) = (self.admin, kept(Slot::Admin)) {
            w.cached_admin.put_back(g);
        }
        if let (Some(s), true) = (self.subscriber, kept(Slot::Subscriber)) {
            w.cached_subscriber.put_back(s);
        }
        if let (Some(l), true) = (self.list, kept(Slot::List)) {
            w.cached_list.put_back(l);
        }
    }

    fn step(&mut self, c: &mut Choices<'_>) {
        let w = self.w;
        let op = c.byte() % 4;
        let base = &w.controls[c.index(w.controls.len())];
        match op {
            0 => self.receive(base.slot, base.from, &base.payload),
            1..=2 => {
                let slot = if c.byte().is_multiple_of(8) {
                    SLOTS[c.index(SLOTS.len())]
                } else {
                    base.slot
                };
                let sessions = slot.sessions();
                let from = if c.byte().is_multiple_of(4) || !sessions.contains(&base.from) {
                    sessions[c.index(sessions.len())]
                } else {
                    base.from
                };
                let payload = mutate_control(&base.payload, &w.all_controls(), w.valid_keys(), c);
                self.receive(slot, from, &payload);
            }
            _ => {
                let slot = SLOTS[c.index(SLOTS.len())];
                let sessions = slot.sessions();
                let from = sessions[c.index(sessions.len())];
                let payload = mutate_bytes(base.payload.clone(), c);
                self.receive(slot, from, &payload);
            }
        }
    }

    /// `payload` arrives at `slot` over the session `from` = (local, remote).
    fn receive(&mut self, slot: Slot, from: (usize, usize), payload: &[u8]) {
        let w = self.w;
        // A real payload the snapshot accepts must be accepted while the state is the snapshot.
        let must = !self.changed.contains(&slot)
            && w.controls
                .iter()
                .any(|c| c.slot == slot && c.from == from && c.accepted && c.payload == payload);
        match slot {
            Slot::Member | Slot::Admin => self.group_receive(slot, from, payload, must),
            Slot::Subscriber => self.subscriber_receive(from, payload, must),
            Slot::List => self.list_receive(from, payload, must),
            Slot::Join => self.join(from, payload, must),
        }
    }

    fn group_receive(&mut self, slot: Slot, from: (usize, usize), payload: &[u8], must: bool) {
        let w = self.w;
        let g = match slot {
            Slot::Member => self
                .member
                .get_or_insert_with(|| w.cached_member.take(|| restore_group(&w.member.record))),
            _ => self
                .admin
                .get_or_insert_with(|| w.cached_admin.take(|| restore_group(&w.admin_record))),
        };
        let session = w.session(from.0, from.1);
        let peer = *w.key(from.1);
        let before = &self.current[&slot];
        let epoch = g.epoch();
        let members = g.members().to_vec();
        let admin = *g.admin();
        let me = *g.local_identity();
        let got = match g.receive(session, payload, &mut self.rng) {
            Err(e) => {
                assert_eq!(
                    *g.to_bytes(),
                    *before,
                    "{slot:?}: failed receive ({e:?}) changed the group"
                );
                assert!(!must, "{slot:?}: a real payload was refused: {e:?}");
                return;
            }
            Ok(got) => got,
        };
        if !self.changed.contains(&slot) {
            self.changed.push(slot);
        }
        assert_eq!(
            *session.local_identity(),
            me,
            "{slot:?}: took another's session"
        );
        assert_eq!(*g.admin(), admin, "{slot:?}: the admin changed");
        match &got.membership {
            Some(change) => {
                assert!(change.epoch > epoch, "{slot:?}: applied an older roster");
                assert_eq!(g.epoch(), change.epoch);
                let applied = RealRoster::of(g);
                assert!(
                    w.rosters.contains(&applied),
                    "{slot:?}: applied a roster nobody signed: {applied:?}"
                );
                let added: Vec<[u8; 32]> = applied
                    .members
                    .iter()
                    .filter(|m| !members.contains(m))
                    .copied()
                    .collect();
                let removed: Vec<[u8; 32]> = members
                    .iter()
                    .filter(|m| !applied.members.contains(m))
                    .copied()
                    .collect();
                assert_eq!(change.added, added, "{slot:?}: wrong additions");
                assert_eq!(change.removed, removed, "{slot:?}: wrong removals");
                assert_eq!(got.removed_from_group, !g.is_member(&me));
                if got.removed_from_group {
                    assert_eq!(g.status(), GroupStatus::Removed);
                    assert!(got.outgoing.is_empty());
                    assert!(got.sender_key.is_none());
                }
            }
            None => {
                assert_eq!(g.epoch(), epoch);
                assert_eq!(g.members(), &members[..]);
                assert!(!got.removed_from_group);
            }
        }
        if let Some(id) = got.sender_key {
            let (chain_id, ..) = hazmat::group_distribution_fields(payload)
                .expect("a sender key came from a distribution");
            assert_eq!(chain_id, id);
            assert!(peer != me, "{slot:?}: took a sender key from ourselves");
            assert!(
                g.is_member(&peer),
                "{slot:?}: took a non-member's sender key"
            );
            assert!(g.chains_held(&peer) >= 1);
        }
        if let Some(leaver) = got.leave_request {
            assert_eq!(leaver, peer, "{slot:?}: a leave request for someone else");
            assert_eq!(me, admin, "{slot:?}: a leave request reached a non-admin");
            assert!(members.contains(peer.as_bytes()));
        }
        for m in g.members() {
            if let Some(p) = w.party(m) {
                assert!(g.chains_held(w.key(p)) <= MAX_CHAINS_PER_SENDER);
            }
        }
        check_outgoing(g, &got.outgoing);

        let after = g.to_bytes().to_vec();
        assert_ne!(
            after, *before,
            "{slot:?}: an accepted payload changed nothing"
        );
        // Go on with the state restored from its record: it must be the same state.
        let restored = Group::from_bytes(&after).expect("an accepted state restores");
        assert_eq!(
            *restored.to_bytes(),
            after,
            "{slot:?}: encoding is not stable"
        );
        *g = restored;

        // The same payload again: a roster is stale now; a distribution or a leave request
        // changes nothing but the revision.
        match g.receive(session, payload, &mut self.rng) {
            Ok(again) => {
                assert!(got.membership.is_none(), "{slot:?}: a roster applied twice");
                assert!(again.membership.is_none());
                assert!(
                    again.sender_key.is_none(),
                    "{slot:?}: a sender key taken twice"
                );
                assert!(again.outgoing.is_empty());
                assert!(!again.removed_from_group);
                assert_eq!(
                    without_revision(&g.to_bytes()),
                    without_revision(&after),
                    "{slot:?}: a repeated payload changed the group"
                );
            }
            Err(e) => assert_eq!(
                *g.to_bytes(),
                after,
                "{slot:?}: failed repeat ({e:?}) changed the group"
            ),
        }
        self.current.insert(slot, g.to_bytes().to_vec());
    }

    fn subscriber_receive(&mut self, from: (usize, usize), payload: &[u8], must: bool) {
        let w = self.w;
        let s = self.subscriber.get_or_insert_with(|| {
            w.cached_subscriber.take(|| {
                BroadcastSubscription::from_bytes(&w.subscriber.record).expect("snapshot restores")
            })
        });
        let session = w.session(from.0, from.1);
        let before = &self.current[&Slot::Subscriber];
        let id = match s.receive(session, payload) {
            Err(e) => {
                assert_eq!(
                    *s.to_bytes(),
                    *before,
                    "subscription: failed receive ({e:?}) changed it"
                );
                assert!(!must, "subscription: a real payload was refused: {e:?}");
                return;
            }
            Ok(id) => id,
        };
        if !self.changed.contains(&Slot::Subscriber) {
            self.changed.push(Slot::Subscriber);
        }
        assert_eq!(
            from,
            (D, A),
            "subscription: took a chain from a session not D's with A"
        );
        let (chain_id, ..) =
            hazmat::group_distribution_fields(payload).expect("a chain came from a distribution");
        assert_eq!(chain_id, id);
        assert!(s.is_subscribed());
        assert!((1..=MAX_CHAINS_PER_SENDER).contains(&s.chains_held()));
        let after = s.to_bytes().to_vec();
        let restored = BroadcastSubscription::from_bytes(&after).expect("restores");
        assert_eq!(
            *restored.to_bytes(),
            after,
            "subscription: encoding is not stable"
        );
        *s = restored;
        // The same distribution again is known: accepted, nothing but the revision changes.
        assert_eq!(
            s.receive(session, payload),
            Ok(id),
            "subscription: repeat refused"
        );
        assert_eq!(
            without_revision(&s.to_bytes()),
            without_revision(&after),
            "subscription: a repeated distribution changed it"
        );
        self.current.insert(Slot::Subscriber, s.to_bytes().to_vec());
    }

    fn list_receive(&mut self, from: (usize, usize), payload: &[u8], must: bool) {
        let w = self.w;
        let l = self.list.get_or_insert_with(|| {
            w.cached_list
                .take(|| BroadcastList::from_bytes(&w.list_record).expect("restores"))
        });
        let session = w.session(from.0, from.1);
        let peer = *w.key(from.1);
        let before = &self.current[&Slot::List];
        let logged = l.audit_log().entries().len();
        let outcome = match l.receive(session, payload) {
            Err(e) => {
                assert_eq!(
                    *l.to_bytes(),
                    *before,
                    "list: failed receive ({e:?}) changed it"
                );
                assert!(!must, "list: a real statement was refused: {e:?}");
                return;
            }
            Ok(o) => o,
        };
        if !self.changed.contains(&Slot::List) {
            self.changed.push(Slot::List);
        }
        assert_eq!(
            from.0, A,
            "list: took a statement over a session not the business's"
        );
        let log = l.audit_log();
        assert_eq!(
            log.entries().len(),
            logged + 1,
            "list: not logged exactly once"
        );
        let e = log.entries().last().expect("logged");
        let statement = RealStatement {
            customer: *e.customer(),
            business: *e.business(),
            list: e.list().clone(),
            action: e.action(),
            time: e.time(),
        };
        assert!(
            w.statements.contains(&statement),
            "list: accepted a statement nobody signed: {statement:?}"
        );
        assert_eq!(
            e.customer(),
            peer.as_bytes(),
            "list: another customer's statement"
        );
        assert_eq!(e.list(), l.id());
        match outcome {
            ConsentOutcome::Subscribed {
                customer,
                distribution,
            } => {
                assert_eq!(customer, peer);
                assert_eq!(e.action(), ConsentAction::Subscribe);
                assert!(l.is_subscribed(&peer));
                assert_eq!(distribution.is_some(), !l.needs_rekey());
                if let Some(f) = distribution {
                    assert_eq!(f.recipients(), &[peer.to_bytes()]);
                    assert_eq!(control_channel_id(f.expose_payload()).as_ref(), Ok(l.id()));
                }
            }
            ConsentOutcome::Unsubscribed { customer } => {
                assert_eq!(customer, peer);
                assert_eq!(e.action(), ConsentAction::Unsubscribe);
                assert!(!l.is_subscribed(&peer));
                assert!(
                    l.needs_rekey(),
                    "list: a withdrawal left the chain in place"
                );
            }
            _ => panic!("list: an outcome this check does not know"),
        }
        assert_eq!(l.subscriber_count(), l.subscribers().count());
        let after = l.to_bytes().to_vec();
        let restored = BroadcastList::from_bytes(&after).expect("restores");
        assert_eq!(*restored.to_bytes(), after, "list: encoding is not stable");
        *l = restored;
        // The same statement again is a replay.
        let again = l.receive(session, payload);
        assert!(again.is_err(), "list: a statement accepted twice");
        assert_eq!(*l.to_bytes(), after, "list: a refused replay changed it");
        self.current.insert(Slot::List, after);
    }

    fn join(&mut self, from: (usize, usize), payload: &[u8], must: bool) {
        let w = self.w;
        let session = w.session(from.0, from.1);
        let (g, replies) = match Group::join(session, payload, &mut self.rng) {
            Err(e) => {
                assert!(!must, "join: a real invitation was refused: {e:?}");
                return;
            }
            Ok(joined) => joined,
        };
        assert_eq!(g.local_identity(), w.key(from.0));
        assert_eq!(
            g.admin(),
            w.key(from.1),
            "join: invited by someone not the admin"
        );
        let roster = RealRoster::of(&g);
        assert!(
            w.rosters.contains(&roster),
            "join: a roster nobody signed: {roster:?}"
        );
        assert!(g.is_member(w.key(from.0)), "join: a roster without us");
        assert_eq!(g.status(), GroupStatus::Active);
        check_outgoing(&g, &replies);
        let others = g.members().len() - 1;
        let reached: usize = replies.iter().map(|f| f.recipients().len()).sum();
        assert_eq!(
            reached, others,
            "join: our chain does not reach every other member"
        );
        let bytes = g.to_bytes().to_vec();
        let restored = Group::from_bytes(&bytes).expect("a joined group restores");
        assert_eq!(*restored.to_bytes(), bytes, "join: encoding is not stable");
    }
}
