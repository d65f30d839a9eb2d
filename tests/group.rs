//! Groups and broadcast lists over sender keys (PROTOCOL.md §7): every party has a real
//! pairwise session with every other, control messages travel only inside them, and group
//! messages go through a pretend relay as opaque bytes.

use std::collections::HashMap;

use rand::rngs::ChaCha20Rng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sealpost::consts::{MAX_CHAINS_PER_SENDER, MAX_FORWARD_JUMP, MAX_SKIPPED_KEYS};
use sealpost::group::{
    AuditError, AuditLog, BroadcastList, BroadcastSubscription, ChannelDecryptError,
    ChannelEncryptError, ChannelId, ConsentAction, ConsentError, ConsentOutcome, ControlError,
    DeliveryError, Fanout, Group, GroupStatus, MembershipError, consent_payload,
};
use sealpost::{Envelope, IdentityKey, IdentityKeyPair, PreKeyBundle, PreKeys, Session, hazmat};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// `a` opens a session to `b`; returns (a's side, b's side).
fn connect(a: &IdentityKeyPair, b: &IdentityKeyPair, rng: &mut ChaCha20Rng) -> (Session, Session) {
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(b, 1_700_000_000, rng)
        .unwrap();
    let bundle = PreKeyBundle::from_bytes(&prekeys.bundle(b, None).unwrap().to_bytes())
        .unwrap()
        .verify()
        .unwrap();
    let mut ab = Session::initiate(a, &bundle, rng).unwrap();
    let hello = ab.encrypt(rng, b"hello").unwrap();
    let Envelope::PreKey(m) = Envelope::parse(&hello).unwrap() else {
        panic!("first message is a prekey message")
    };
    let (ba, _) = Session::accept(b, &mut prekeys, &m).unwrap();
    (ab, ba)
}

/// Parties with a pairwise session between every two of them.
struct World {
    ids: Vec<IdentityKeyPair>,
    sessions: HashMap<(usize, usize), Session>,
}

impl World {
    fn new(n: usize, rng: &mut ChaCha20Rng) -> World {
        let ids: Vec<_> = (0..n).map(|_| IdentityKeyPair::generate(rng)).collect();
        let mut sessions = HashMap::new();
        for i in 0..n {
            for j in i + 1..n {
                let (ij, ji) = connect(&ids[i], &ids[j], rng);
                sessions.insert((i, j), ij);
                sessions.insert((j, i), ji);
            }
        }
        World { ids, sessions }
    }

    fn key(&self, i: usize) -> IdentityKey {
        *self.ids[i].public_key()
    }

    /// `to`'s session with `from`.
    fn s(&self, to: usize, from: usize) -> &Session {
        &self.sessions[&(to, from)]
    }

    fn index(&self, key: &[u8; 32]) -> usize {
        self.ids
            .iter()
            .position(|k| k.public_key().as_bytes() == key)
            .unwrap()
    }

    /// Sends a plaintext pairwise and returns what `to` decrypts.
    fn send(&mut self, from: usize, to: usize, payload: &[u8], rng: &mut ChaCha20Rng) -> Vec<u8> {
        let wire = self
            .sessions
            .get_mut(&(from, to))
            .unwrap()
            .encrypt(rng, payload)
            .unwrap();
        self.sessions
            .get_mut(&(to, from))
            .unwrap()
            .decrypt(&wire)
            .unwrap()
    }

    /// Seals a fanout for each recipient and returns (recipient, decrypted payload).
    fn deliver(&mut self, from: usize, f: &Fanout, rng: &mut ChaCha20Rng) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        for r in f.recipients() {
            let to = self.index(r);
            let wire = f
                .seal_for(self.sessions.get_mut(&(from, to)).unwrap(), rng)
                .unwrap();
            let pt = self
                .sessions
                .get_mut(&(to, from))
                .unwrap()
                .decrypt(&wire)
                .unwrap();
            out.push((to, pt));
        }
        out
    }
}

fn team() -> ChannelId {
    ChannelId::new(b"team").unwrap()
}

/// Party 0 creates a group of parties 0..n; everyone joins and exchanges chains. Returns the
/// groups and each member's first distribution payload (what every other member received).
fn setup(w: &mut World, n: usize, rng: &mut ChaCha20Rng) -> (Vec<Group>, HashMap<usize, Vec<u8>>) {
    let members: Vec<IdentityKey> = (1..n).map(|i| w.key(i)).collect();
    let (admin_group, invites) = Group::create(&w.ids[0], team(), &members, rng).unwrap();
    assert_eq!(invites.len(), 1);
    assert_eq!(invites[0].recipients().len(), n - 1);
    let mut groups: Vec<Option<Group>> = (0..n).map(|_| None).collect();
    let mut distributions = HashMap::new();
    distributions.insert(0, invites[0].expose_payload().to_vec());
    groups[0] = Some(admin_group);
    let mut replies = Vec::new();
    for (to, payload) in w.deliver(0, &invites[0], rng) {
        let (g, r) = Group::join(w.s(to, 0), &payload, rng).unwrap();
        assert_eq!(g.epoch(), 1);
        assert_eq!(r.len(), 1);
        distributions.insert(to, r[0].expose_payload().to_vec());
        groups[to] = Some(g);
        replies.push((to, r));
    }
    let mut groups: Vec<Group> = groups.into_iter().map(Option::unwrap).collect();
    for (from, fanouts) in replies {
        for f in &fanouts {
            for (to, payload) in w.deliver(from, f, rng) {
                let got = groups[to].receive(w.s(to, from), &payload, rng).unwrap();
                assert!(got.sender_key.is_some());
                assert!(got.outgoing.is_empty());
            }
        }
    }
    for (i, g) in groups.iter().enumerate() {
        for j in 0..n {
            assert_eq!(g.chains_held(&w.key(j)), usize::from(i != j));
        }
    }
    (groups, distributions)
}

/// A sender chain whose secrets the test knows.
struct Known {
    id: u32,
    ck: [u8; 32],
    seed: [u8; 32],
}

/// Installs a known chain for sender `from` at receiver `to`, as `from`'s own distribution over
/// their pairwise session (the owner is the only one who can do this).
fn install_known_chain(
    w: &mut World,
    groups: &mut [Group],
    (from, to): (usize, usize),
    k: &Known,
    rng: &mut ChaCha20Rng,
) {
    let payload = hazmat::group_distribution_payload(
        &team(),
        k.id,
        0,
        &k.ck,
        &hazmat::group_signing_public(&k.seed),
    );
    let pt = w.send(from, to, &payload, rng);
    let got = groups[to].receive(w.s(to, from), &pt, rng).unwrap();
    assert_eq!(got.sender_key, Some(k.id));
}

/// The chain key `steps` iterations after `ck`.
fn step(ck: &[u8; 32], steps: u32) -> [u8; 32] {
    let mut ck = *ck;
    for _ in 0..steps {
        ck = hazmat::kdf_ck(&ck).1;
    }
    ck
}

/// A message on a known chain at `iteration` (whose chain key is `ck_at`).
fn known_message(
    chain_id: u32,
    iteration: u32,
    ck_at: &[u8; 32],
    seed: &[u8; 32],
    pt: &[u8],
) -> Vec<u8> {
    hazmat::group_encrypt(&team(), chain_id, iteration, ck_at, seed, &[7, 7, 7, 7], pt)
        .unwrap()
        .message
}

#[test]
fn every_member_reads_every_other_member() {
    let mut rng = rng(1);
    let mut w = World::new(4, &mut rng);
    let (mut groups, _) = setup(&mut w, 4, &mut rng);
    for from in 0..4 {
        let text = format!("hello from {from}");
        let msg = groups[from].encrypt(&mut rng, text.as_bytes()).unwrap();
        for to in (0..4).filter(|&t| t != from) {
            assert_eq!(
                groups[to].decrypt(&w.key(from), &msg).unwrap(),
                text.as_bytes()
            );
        }
        // Senders hold no chain of their own: their own echo is not theirs to decrypt.
        assert_eq!(
            groups[from].decrypt(&w.key(from), &msg),
            Err(ChannelDecryptError::UnknownSender)
        );
    }
    assert_eq!(groups[2].members().len(), 4);
    assert!(groups[2].is_member(&w.key(0)));
    assert_eq!(groups[2].admin(), &w.key(0));
}

#[test]
fn member_cannot_forge_another_members_messages() {
    let mut rng = rng(2);
    let mut w = World::new(3, &mut rng);
    let (mut groups, dist) = setup(&mut w, 3, &mut rng);
    // Member 2 legitimately holds member 1's chain key: it received 1's distribution.
    let (chain_id, iteration, chain_key, signing_key) =
        hazmat::group_distribution_fields(&dist[&1]).unwrap();
    assert_eq!(iteration, 0);
    let m0 = groups[1].encrypt(&mut rng, b"invoice 17 approved").unwrap();
    assert_eq!(
        groups[0].decrypt(&w.key(1), &m0).unwrap(),
        b"invoice 17 approved"
    );

    // Member 2 writes the next message on member 1's chain and signs it with its own key.
    let forger_seed = [0x22; 32];
    assert_ne!(hazmat::group_signing_public(&forger_seed), signing_key);
    let forged = known_message(
        chain_id,
        1,
        &step(&chain_key, 1),
        &forger_seed,
        b"pay the invoice to IBAN XX00 ATTACKER",
    );
    let before = groups[0].to_bytes();
    // Named as member 1 (the relay can be told anything): the signature gives it away.
    assert_eq!(
        groups[0].decrypt(&w.key(1), &forged),
        Err(ChannelDecryptError::BadSignature)
    );
    // Named as member 2: member 2 has no chain with that id.
    assert_eq!(
        groups[0].decrypt(&w.key(2), &forged),
        Err(ChannelDecryptError::UnknownChain { chain_id })
    );
    assert_eq!(*groups[0].to_bytes(), *before);

    // Tampering with a genuine message is caught by the signature over every body byte.
    let m1 = groups[1].encrypt(&mut rng, b"second").unwrap();
    for i in [0, m1.len() / 2, m1.len() - 65, m1.len() - 1] {
        let mut bad = m1.clone();
        bad[i] ^= 0x01;
        assert!(groups[0].decrypt(&w.key(1), &bad).is_err());
    }
    assert_eq!(*groups[0].to_bytes(), *before);
    // The genuine message at that iteration still decrypts: nothing was consumed.
    assert_eq!(groups[0].decrypt(&w.key(1), &m1).unwrap(), b"second");
}

#[test]
fn replays_are_rejected() {
    let mut rng = rng(3);
    let mut w = World::new(3, &mut rng);
    let (mut groups, _) = setup(&mut w, 3, &mut rng);
    let m0 = groups[1].encrypt(&mut rng, b"zero").unwrap();
    let m1 = groups[1].encrypt(&mut rng, b"one").unwrap();
    let m2 = groups[1].encrypt(&mut rng, b"two").unwrap();
    let k1 = w.key(1);
    assert_eq!(groups[2].decrypt(&k1, &m2).unwrap(), b"two");
    assert_eq!(groups[2].skipped_keys(), 2);
    assert_eq!(groups[2].decrypt(&k1, &m0).unwrap(), b"zero");
    let state = groups[2].to_bytes();
    for (m, iteration) in [(&m0, 0), (&m2, 2)] {
        assert_eq!(
            groups[2].decrypt(&k1, m),
            Err(ChannelDecryptError::Duplicate { iteration })
        );
    }
    assert_eq!(*groups[2].to_bytes(), *state);
    assert_eq!(groups[2].decrypt(&k1, &m1).unwrap(), b"one");
    assert_eq!(
        groups[2].decrypt(&k1, &m1),
        Err(ChannelDecryptError::Duplicate { iteration: 1 })
    );
    assert_eq!(groups[2].skipped_keys(), 0);
}

#[test]
fn reordered_messages_all_decrypt() {
    let mut rng = rng(4);
    let mut w = World::new(3, &mut rng);
    let (mut groups, _) = setup(&mut w, 3, &mut rng);
    let mut msgs: Vec<(usize, Vec<u8>)> = Vec::new();
    for i in 0..30 {
        let from = 1 + i % 2;
        let text = format!("message {i}");
        msgs.push((
            from,
            groups[from].encrypt(&mut rng, text.as_bytes()).unwrap(),
        ));
    }
    let expected: Vec<_> = (0..30).map(|i| format!("message {i}")).collect();
    let mut order: Vec<usize> = (0..30).collect();
    order.shuffle(&mut rng);
    assert_ne!(order, (0..30).collect::<Vec<_>>());
    for i in order {
        let (from, m) = &msgs[i];
        assert_eq!(
            groups[0].decrypt(&w.key(*from), m).unwrap(),
            expected[i].as_bytes()
        );
    }
    assert_eq!(groups[0].skipped_keys(), 0);
}

#[test]
fn skipped_key_and_forward_jump_limits() {
    let mut rng = rng(5);
    let mut w = World::new(3, &mut rng);
    let (mut groups, _) = setup(&mut w, 3, &mut rng);
    let (chain_id, ck, seed) = (0xc4a1, [0x31; 32], [0x32; 32]);
    let known = Known {
        id: chain_id,
        ck,
        seed,
    };
    install_known_chain(&mut w, &mut groups, (1, 2), &known, &mut rng);
    let k1 = w.key(1);

    // One step beyond MAX_FORWARD_JUMP: rejected before any work, state unchanged.
    let far = MAX_FORWARD_JUMP + 1;
    let ck_far = step(&ck, far);
    let before = groups[2].to_bytes();
    assert_eq!(
        groups[2].decrypt(&k1, &known_message(chain_id, far, &ck_far, &seed, b"x")),
        Err(ChannelDecryptError::TooFarAhead {
            steps: u64::from(far) + 1
        })
    );
    assert_eq!(*groups[2].to_bytes(), *before);

    // Exactly MAX_FORWARD_JUMP: accepted; only the newest MAX_SKIPPED_KEYS skipped keys stay.
    let edge = MAX_FORWARD_JUMP;
    let ck_edge = step(&ck, edge);
    let msg = known_message(chain_id, edge, &ck_edge, &seed, b"edge");
    assert_eq!(groups[2].decrypt(&k1, &msg).unwrap(), b"edge");
    assert_eq!(groups[2].skipped_keys(), MAX_SKIPPED_KEYS);

    let oldest_kept = edge - MAX_SKIPPED_KEYS as u32;
    let evicted = oldest_kept - 1;
    assert_eq!(
        groups[2].decrypt(
            &k1,
            &known_message(chain_id, evicted, &step(&ck, evicted), &seed, b"late")
        ),
        Err(ChannelDecryptError::Duplicate { iteration: evicted })
    );
    let ck_kept = step(&ck, oldest_kept);
    assert_eq!(
        groups[2]
            .decrypt(
                &k1,
                &known_message(chain_id, oldest_kept, &ck_kept, &seed, b"late")
            )
            .unwrap(),
        b"late"
    );
    assert_eq!(groups[2].skipped_keys(), MAX_SKIPPED_KEYS - 1);
    // The limits hold per chain: the member's regular chain is unaffected.
    let m = groups[1].encrypt(&mut rng, b"regular").unwrap();
    assert_eq!(groups[2].decrypt(&k1, &m).unwrap(), b"regular");
}

#[test]
fn state_is_unchanged_by_every_failure() {
    let mut rng = rng(6);
    let mut w = World::new(3, &mut rng);
    let (mut groups, dist) = setup(&mut w, 3, &mut rng);
    let (chain_id, ck, seed) = (77, [0x41; 32], [0x42; 32]);
    let known = Known {
        id: chain_id,
        ck,
        seed,
    };
    install_known_chain(&mut w, &mut groups, (1, 2), &known, &mut rng);
    let k1 = w.key(1);
    let good = known_message(chain_id, 3, &step(&ck, 3), &seed, b"fine");

    // Correctly signed but sealed under the wrong key: passes the signature, fails the AEAD
    // after the chain was stepped in the staging area.
    let wrong_key = known_message(chain_id, 3, &[0x99; 32], &seed, b"fine");
    // Correctly signed, wrong chain key, and for another group id: the AEAD fails.
    let other_group = hazmat::group_encrypt(
        &ChannelId::new(b"other").unwrap(),
        chain_id,
        3,
        &step(&ck, 3),
        &seed,
        &[7; 4],
        b"fine",
    )
    .unwrap()
    .message;
    let mut bad_sig = good.clone();
    *bad_sig.last_mut().unwrap() ^= 1;
    let failures: Vec<(Vec<u8>, ChannelDecryptError)> = vec![
        (wrong_key, ChannelDecryptError::InvalidMessage),
        (other_group, ChannelDecryptError::InvalidMessage),
        (bad_sig, ChannelDecryptError::BadSignature),
        (
            good[..good.len() - 1].to_vec(),
            ChannelDecryptError::Malformed,
        ),
        (vec![], ChannelDecryptError::Malformed),
        (vec![0xff; 200], ChannelDecryptError::Malformed),
        (
            known_message(chain_id + 1, 0, &ck, &seed, b"?"),
            ChannelDecryptError::UnknownChain {
                chain_id: chain_id + 1,
            },
        ),
    ];
    let before = groups[2].to_bytes();
    for (msg, err) in &failures {
        assert_eq!(groups[2].decrypt(&k1, msg).as_ref(), Err(err));
        assert_eq!(*groups[2].to_bytes(), *before, "changed by {err:?}");
    }
    let outsider = IdentityKeyPair::generate(&mut rng);
    assert_eq!(
        groups[2].decrypt(outsider.public_key(), &good),
        Err(ChannelDecryptError::UnknownSender)
    );
    assert_eq!(*groups[2].to_bytes(), *before);

    // Control messages: a stale roster (the original invitation, replayed inside a fresh
    // pairwise message) and a conflicting distribution change nothing either.
    let invite = dist[&0].clone();
    let pt = w.send(0, 2, &invite, &mut rng);
    assert_eq!(
        groups[2].receive(w.s(2, 0), &pt, &mut rng).unwrap_err(),
        ControlError::StaleRoster {
            epoch: 1,
            current: 1
        }
    );
    let conflict = hazmat::group_distribution_payload(
        &team(),
        chain_id,
        0,
        &ck,
        &hazmat::group_signing_public(&[1; 32]),
    );
    let pt = w.send(1, 2, &conflict, &mut rng);
    assert_eq!(
        groups[2].receive(w.s(2, 1), &pt, &mut rng).unwrap_err(),
        ControlError::ChainConflict { chain_id }
    );
    assert_eq!(
        groups[2]
            .receive(w.s(2, 1), b"\x08\x01\x12", &mut rng)
            .unwrap_err(),
        ControlError::Malformed
    );
    assert_eq!(*groups[2].to_bytes(), *before);

    // And the good message still decrypts afterwards.
    assert_eq!(groups[2].decrypt(&k1, &good).unwrap(), b"fine");
    assert_ne!(*groups[2].to_bytes(), *before);
}

#[test]
fn removed_member_reads_nothing_after_and_the_rest_miss_nothing() {
    let mut rng = rng(7);
    let mut w = World::new(4, &mut rng);
    let (mut groups, _) = setup(&mut w, 4, &mut rng);
    let gone = 3;
    // Sent before the removal, delivered after it.
    let in_flight: Vec<(usize, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                i,
                groups[i]
                    .encrypt(&mut rng, format!("before {i}").as_bytes())
                    .unwrap(),
            )
        })
        .collect();
    // A removed member that ignores its removal and keeps every key it had.
    let mut stubborn = Group::from_bytes(&groups[gone].to_bytes()).unwrap();

    let fanouts = groups[0]
        .remove(&w.ids[0], &[w.key(gone)], &mut rng)
        .unwrap();
    assert_eq!(groups[0].epoch(), 2);
    assert!(!groups[0].is_member(&w.key(gone)));
    assert_eq!(groups[0].chains_held(&w.key(gone)), 0);
    let key_gone = *w.key(gone).as_bytes();
    // The new chain goes only to remaining members; the removed one gets the roster alone.
    let with_key = &fanouts[0];
    assert!(!with_key.recipients().contains(&key_gone));
    assert_eq!(
        with_key.seal_for(w.sessions.get_mut(&(0, gone)).unwrap(), &mut rng),
        Err(DeliveryError::NotARecipient)
    );
    assert_eq!(fanouts[1].recipients(), &[key_gone]);
    assert!(hazmat::group_distribution_fields(fanouts[1].expose_payload()).is_none());

    let mut rekeys = Vec::new();
    for f in &fanouts {
        for (to, payload) in w.deliver(0, f, &mut rng) {
            let got = groups[to].receive(w.s(to, 0), &payload, &mut rng).unwrap();
            let change = got.membership.unwrap();
            assert_eq!(change.removed, vec![key_gone]);
            if to == gone {
                assert!(got.removed_from_group);
                assert!(got.outgoing.is_empty());
            } else {
                assert!(!got.removed_from_group);
                assert_eq!(got.outgoing.len(), 1);
                assert!(!got.outgoing[0].recipients().contains(&key_gone));
                rekeys.push((to, got.outgoing));
            }
        }
    }
    assert_eq!(groups[gone].status(), GroupStatus::Removed);
    for (from, fs) in rekeys {
        for f in &fs {
            for (to, payload) in w.deliver(from, f, &mut rng) {
                groups[to]
                    .receive(w.s(to, from), &payload, &mut rng)
                    .unwrap();
            }
        }
    }

    let after: Vec<(usize, Vec<u8>)> = (0..3)
        .map(|i| {
            (
                i,
                groups[i]
                    .encrypt(&mut rng, format!("after {i}").as_bytes())
                    .unwrap(),
            )
        })
        .collect();
    // Remaining members read everything: in-flight messages on old chains and the new ones.
    for (from, m) in in_flight.iter().chain(&after) {
        for to in (0..3).filter(|t| t != from) {
            let text = groups[to].decrypt(&w.key(*from), m).unwrap();
            assert!(text.starts_with(b"before") || text.starts_with(b"after"));
        }
    }
    // The removed member reads nothing sent after: not its live state, not its keys.
    for (from, m) in &after {
        assert_eq!(
            groups[gone].decrypt(&w.key(*from), m),
            Err(ChannelDecryptError::NotAMember)
        );
        assert!(matches!(
            stubborn.decrypt(&w.key(*from), m),
            Err(ChannelDecryptError::UnknownChain { .. })
        ));
    }
    // Its old keys do still open what was sent before the removal, as they should.
    let (from, m) = &in_flight[1];
    assert_eq!(stubborn.decrypt(&w.key(*from), m).unwrap(), b"before 1");
    assert_eq!(
        groups[gone].encrypt(&mut rng, b"hi"),
        Err(ChannelEncryptError::NotAMember)
    );
}

#[test]
fn leave_goes_through_the_admin_and_rekeys() {
    let mut rng = rng(8);
    let mut w = World::new(3, &mut rng);
    let (mut groups, _) = setup(&mut w, 3, &mut rng);
    let request = groups[2].leave().unwrap();
    assert_eq!(groups[2].status(), GroupStatus::Left);
    assert_eq!(groups[2].leave().unwrap_err(), MembershipError::Inactive);
    assert_eq!(request.recipients(), &[*w.key(0).as_bytes()]);
    let (_, payload) = w.deliver(2, &request, &mut rng).pop().unwrap();
    // A leave request reaches only the admin.
    let pt = w.send(2, 1, &payload, &mut rng);
    assert_eq!(
        groups[1].receive(w.s(1, 2), &pt, &mut rng).unwrap_err(),
        ControlError::NotAdmin
    );
    let got = groups[0].receive(w.s(0, 2), &payload, &mut rng).unwrap();
    assert_eq!(got.leave_request, Some(w.key(2)));
    assert_eq!(
        groups[0].leave().unwrap_err(),
        MembershipError::AdminCannotLeave
    );
    assert_eq!(
        groups[1]
            .remove(&w.ids[1], &[w.key(2)], &mut rng)
            .unwrap_err(),
        MembershipError::NotAdmin
    );

    let old = groups[0].encrypt(&mut rng, b"old chain").unwrap();
    let fanouts = groups[0].remove(&w.ids[0], &[w.key(2)], &mut rng).unwrap();
    let to_member: Vec<_> = w.deliver(0, &fanouts[0], &mut rng);
    assert_eq!(to_member.len(), 1);
    let got = groups[1]
        .receive(w.s(1, 0), &to_member[0].1, &mut rng)
        .unwrap();
    assert!(
        got.sender_key.is_some(),
        "the admin's new chain came with the roster"
    );
    assert_eq!(groups[1].members().len(), 2);
    let new = groups[0].encrypt(&mut rng, b"new chain").unwrap();
    assert_eq!(groups[1].decrypt(&w.key(0), &new).unwrap(), b"new chain");
    assert_eq!(groups[1].decrypt(&w.key(0), &old).unwrap(), b"old chain");
    assert_eq!(groups[1].chains_held(&w.key(0)), 2);
    assert_eq!(
        groups[2].decrypt(&w.key(0), &new),
        Err(ChannelDecryptError::NotAMember)
    );
}

#[test]
fn nobody_but_the_admin_changes_membership() {
    let mut rng = rng(9);
    let mut w = World::new(4, &mut rng);
    let (mut groups, dist) = setup(&mut w, 3, &mut rng);
    let outsider = 3;

    // Member 1 signs its own roster for the same group id, adding the outsider.
    let forged_members = [w.key(0), w.key(2), w.key(outsider)];
    let (_, forged) = Group::create(&w.ids[1], team(), &forged_members, &mut rng).unwrap();
    let pt = w.send(1, 2, forged[0].expose_payload(), &mut rng);
    assert_eq!(
        groups[2].receive(w.s(2, 1), &pt, &mut rng).unwrap_err(),
        ControlError::NotAdmin
    );
    assert!(!groups[2].is_member(&w.key(outsider)));

    // The admin's invitation forwarded by a member does not let the outsider in.
    let pt = w.send(1, outsider, &dist[&0], &mut rng);
    assert_eq!(
        Group::join(w.s(outsider, 1), &pt, &mut rng).unwrap_err(),
        ControlError::NotAdmin
    );
    // Nor does a distribution from a non-member.
    let payload = hazmat::group_distribution_payload(
        &team(),
        5,
        0,
        &[1; 32],
        &hazmat::group_signing_public(&[2; 32]),
    );
    let pt = w.send(outsider, 2, &payload, &mut rng);
    assert_eq!(
        groups[2]
            .receive(w.s(2, outsider), &pt, &mut rng)
            .unwrap_err(),
        ControlError::NotAMember
    );
    // A session that is not the group member's own is refused.
    assert_eq!(
        groups[2].receive(w.s(1, 0), &pt, &mut rng).unwrap_err(),
        ControlError::WrongSession
    );
    // A payload for another group.
    let other = hazmat::group_distribution_payload(
        &ChannelId::new(b"other").unwrap(),
        5,
        0,
        &[1; 32],
        &hazmat::group_signing_public(&[2; 32]),
    );
    let pt = w.send(1, 2, &other, &mut rng);
    assert_eq!(
        groups[2].receive(w.s(2, 1), &pt, &mut rng).unwrap_err(),
        ControlError::WrongChannel
    );

    // The admin adds the outsider: it joins, the others hand it their chains, no rekey.
    let epoch_before = groups[1].epoch();
    let fanouts = groups[0].add(&w.ids[0], &[w.key(outsider)]).unwrap();
    assert_eq!(
        groups[0].add(&w.ids[0], &[w.key(1)]).unwrap_err(),
        MembershipError::AlreadyMember
    );
    let invite = w.deliver(0, &fanouts[0], &mut rng);
    let (mut joined, replies) = Group::join(w.s(outsider, 0), &invite[0].1, &mut rng).unwrap();
    let mut handed = Vec::new();
    for (to, payload) in w.deliver(0, &fanouts[1], &mut rng) {
        let got = groups[to].receive(w.s(to, 0), &payload, &mut rng).unwrap();
        assert_eq!(
            got.membership.unwrap().added,
            vec![*w.key(outsider).as_bytes()]
        );
        assert_eq!(got.outgoing[0].recipients(), &[*w.key(outsider).as_bytes()]);
        handed.push((to, got.outgoing));
    }
    assert_eq!(groups[1].epoch(), epoch_before + 1);
    for (from, fs) in handed {
        for (_, payload) in w.deliver(from, &fs[0], &mut rng) {
            joined
                .receive(w.s(outsider, from), &payload, &mut rng)
                .unwrap();
        }
    }
    for (to, payload) in w.deliver(outsider, &replies[0], &mut rng) {
        groups[to]
            .receive(w.s(to, outsider), &payload, &mut rng)
            .unwrap();
    }
    let m = groups[2].encrypt(&mut rng, b"welcome").unwrap();
    assert_eq!(joined.decrypt(&w.key(2), &m).unwrap(), b"welcome");
    let m = joined.encrypt(&mut rng, b"thanks").unwrap();
    assert_eq!(groups[1].decrypt(&w.key(outsider), &m).unwrap(), b"thanks");
}

/// A business (party 0) and customers 1..n, each subscribed to `news`.
fn broadcast_world(
    n: usize,
    rng: &mut ChaCha20Rng,
) -> (World, BroadcastList, Vec<Option<BroadcastSubscription>>) {
    let mut w = World::new(n, rng);
    let news = ChannelId::new(b"news").unwrap();
    let mut list = BroadcastList::new(&w.key(0), news.clone());
    let mut subs = vec![None];
    for c in 1..n {
        let (sub, payload) =
            BroadcastSubscription::subscribe(&w.ids[c], w.s(c, 0), news.clone(), 1_000 + c as u64)
                .unwrap();
        let pt = w.send(c, 0, &payload, rng);
        match list.receive(w.s(0, c), &pt).unwrap() {
            ConsentOutcome::Subscribed {
                customer,
                distribution,
            } => {
                assert_eq!(customer, w.key(c));
                assert!(distribution.is_none(), "no chain before the first rekey");
            }
            other => panic!("unexpected {other:?}"),
        }
        subs.push(Some(sub));
    }
    assert_eq!(
        list.broadcast(rng, b"too early"),
        Err(ChannelEncryptError::RekeyRequired)
    );
    let f = list.rekey(rng);
    assert_eq!(f.recipients().len(), n - 1);
    for (to, payload) in w.deliver(0, &f, rng) {
        subs[to]
            .as_mut()
            .unwrap()
            .receive(w.s(to, 0), &payload)
            .unwrap();
    }
    (w, list, subs)
}

#[test]
fn withdrawn_consent_cuts_the_customer_off() {
    let mut rng = rng(10);
    let (mut w, mut list, mut subs) = broadcast_world(4, &mut rng);
    let m1 = list.broadcast(&mut rng, b"update 1").unwrap();
    for sub in subs.iter_mut().skip(1) {
        assert_eq!(sub.as_mut().unwrap().decrypt(&m1).unwrap(), b"update 1");
    }
    let leaver = 2;
    // A customer device that keeps a copy of its keys after withdrawing.
    let mut kept_keys =
        BroadcastSubscription::from_bytes(&subs[leaver].as_ref().unwrap().to_bytes()).unwrap();
    let payload = subs[leaver]
        .as_mut()
        .unwrap()
        .unsubscribe(&w.ids[leaver], 5_000)
        .unwrap();
    let pt = w.send(leaver, 0, &payload, &mut rng);
    assert!(matches!(
        list.receive(w.s(0, leaver), &pt).unwrap(),
        ConsentOutcome::Unsubscribed { customer } if customer == w.key(leaver)
    ));
    assert!(!list.is_subscribed(&w.key(leaver)));
    assert_eq!(list.subscriber_count(), 2);
    // The old chain is gone: nothing can be broadcast on it.
    assert!(list.needs_rekey());
    assert_eq!(
        list.broadcast(&mut rng, b"update 2"),
        Err(ChannelEncryptError::RekeyRequired)
    );
    let f = list.rekey(&mut rng);
    assert!(!f.recipients().contains(w.key(leaver).as_bytes()));
    assert_eq!(
        f.seal_for(w.sessions.get_mut(&(0, leaver)).unwrap(), &mut rng),
        Err(DeliveryError::NotARecipient)
    );
    for (to, payload) in w.deliver(0, &f, &mut rng) {
        subs[to]
            .as_mut()
            .unwrap()
            .receive(w.s(to, 0), &payload)
            .unwrap();
    }
    let m2 = list.broadcast(&mut rng, b"update 2").unwrap();
    for c in [1, 3] {
        let sub = subs[c].as_mut().unwrap();
        assert_eq!(sub.decrypt(&m2).unwrap(), b"update 2");
        assert_eq!(sub.chains_held(), 2);
    }
    assert_eq!(
        subs[leaver].as_mut().unwrap().decrypt(&m2),
        Err(ChannelDecryptError::NotAMember)
    );
    assert!(matches!(
        kept_keys.decrypt(&m2),
        Err(ChannelDecryptError::UnknownChain { .. })
    ));

    // The audit log shows both statements of the leaver, verifiably.
    let log = AuditLog::from_bytes(&list.audit_log().to_bytes()).unwrap();
    assert_eq!(log.entries().len(), 4);
    let theirs = log.for_customer(&w.key(leaver));
    let actions: Vec<_> = theirs
        .entries()
        .iter()
        .map(|e| (e.action(), e.time()))
        .collect();
    assert_eq!(
        actions,
        vec![
            (ConsentAction::Subscribe, 1_002),
            (ConsentAction::Unsubscribe, 5_000)
        ]
    );
    assert!(!log.is_subscribed(&w.key(leaver)));
    assert!(log.is_subscribed(&w.key(1)));
    let text = theirs.to_string();
    assert!(text.contains("CONSENT GIVEN"));
    assert!(text.contains("CONSENT WITHDRAWN"));
    assert!(text.contains(&hex::encode(w.key(leaver).as_bytes())));
    assert!(text.contains("1970-01-01T01:23:20Z"));
}

#[test]
fn forged_replayed_and_foreign_consent_is_rejected() {
    let mut rng = rng(11);
    // 0: business, 1..=2: customers, 3: a second business.
    let mut w = World::new(4, &mut rng);
    let news = ChannelId::new(b"news").unwrap();
    let mut list = BroadcastList::new(&w.key(0), news.clone());
    let empty = list.to_bytes();

    let (_, sub1) =
        BroadcastSubscription::subscribe(&w.ids[1], w.s(1, 0), news.clone(), 10).unwrap();
    let mut cases: Vec<(Vec<u8>, usize, ConsentError)> = Vec::new();
    // Forged: the signature (the payload's last bytes) altered.
    let mut forged = sub1.clone();
    *forged.last_mut().unwrap() ^= 0x80;
    cases.push((forged, 1, ConsentError::BadSignature));
    // Another customer's statement, forwarded over customer 2's session.
    cases.push((sub1.clone(), 2, ConsentError::WrongCustomer));
    // A statement for another list of this business.
    let other_list = consent_payload(
        &w.ids[1],
        w.s(1, 0),
        &ChannelId::new(b"deals").unwrap(),
        ConsentAction::Subscribe,
        11,
    )
    .unwrap();
    cases.push((other_list, 1, ConsentError::WrongList));
    // A statement for the same list id of another business.
    let other_business =
        consent_payload(&w.ids[1], w.s(1, 3), &news, ConsentAction::Subscribe, 12).unwrap();
    cases.push((other_business, 1, ConsentError::WrongBusiness));
    // Withdrawing before ever subscribing.
    let early_out =
        consent_payload(&w.ids[2], w.s(2, 0), &news, ConsentAction::Unsubscribe, 3).unwrap();
    cases.push((early_out, 2, ConsentError::NotSubscribed));
    cases.push((b"\x08\x01".to_vec(), 1, ConsentError::Malformed));
    cases.push((
        b"\x08\x07\x12\x04news".to_vec(),
        1,
        ConsentError::UnsupportedVersion(7),
    ));
    for (payload, from, err) in cases {
        let pt = w.send(from, 0, &payload, &mut rng);
        assert_eq!(list.receive(w.s(0, from), &pt).unwrap_err(), err);
        assert_eq!(*list.to_bytes(), *empty, "changed by {err:?}");
    }
    // Not the business's own session.
    assert_eq!(
        list.receive(w.s(2, 1), &sub1).unwrap_err(),
        ConsentError::WrongSession
    );
    assert_eq!(list.subscriber_count(), 0);

    // The genuine statement is accepted once; the same bytes again are a replay.
    let pt = w.send(1, 0, &sub1, &mut rng);
    assert!(matches!(
        list.receive(w.s(0, 1), &pt).unwrap(),
        ConsentOutcome::Subscribed { .. }
    ));
    let accepted = list.to_bytes();
    let pt = w.send(1, 0, &sub1, &mut rng);
    assert_eq!(
        list.receive(w.s(0, 1), &pt).unwrap_err(),
        ConsentError::Replayed { time: 10, last: 10 }
    );
    let again = consent_payload(&w.ids[1], w.s(1, 0), &news, ConsentAction::Subscribe, 20).unwrap();
    let pt = w.send(1, 0, &again, &mut rng);
    assert_eq!(
        list.receive(w.s(0, 1), &pt).unwrap_err(),
        ConsentError::AlreadySubscribed
    );
    assert_eq!(*list.to_bytes(), *accepted);

    // After a withdrawal, the old opt-in cannot be replayed to re-subscribe the customer.
    let out = consent_payload(&w.ids[1], w.s(1, 0), &news, ConsentAction::Unsubscribe, 30).unwrap();
    let pt = w.send(1, 0, &out, &mut rng);
    list.receive(w.s(0, 1), &pt).unwrap();
    let pt = w.send(1, 0, &sub1, &mut rng);
    assert_eq!(
        list.receive(w.s(0, 1), &pt).unwrap_err(),
        ConsentError::Replayed { time: 10, last: 30 }
    );
    assert!(!list.is_subscribed(&w.key(1)));

    // Customer side keeps its own statements in time order.
    let (mut sub, _) =
        BroadcastSubscription::subscribe(&w.ids[2], w.s(2, 0), news.clone(), 100).unwrap();
    assert_eq!(
        sub.unsubscribe(&w.ids[2], 100).unwrap_err(),
        ConsentError::TimeNotIncreasing
    );
    assert_eq!(
        sub.unsubscribe(&w.ids[1], 200).unwrap_err(),
        ConsentError::WrongIdentity
    );
    assert!(sub.is_subscribed());
    assert_eq!(
        BroadcastSubscription::subscribe(&w.ids[2], w.s(1, 0), news, 1).unwrap_err(),
        ConsentError::WrongSession
    );
}

#[test]
fn audit_log_export_is_verifiable_and_tamper_evident() {
    let mut rng = rng(12);
    let (_, mut list, _) = broadcast_world(3, &mut rng);
    let bytes = list.audit_log().to_bytes();
    let log = AuditLog::from_bytes(&bytes).unwrap();
    assert_eq!(log, list.audit_log());
    assert_eq!(log.list(), list.id());
    for e in log.entries() {
        assert_eq!(
            sealpost::group::Consent::from_evidence(&e.to_evidence()).unwrap(),
            *e
        );
    }
    // Flipping any byte of the export breaks it in a typed way (or, for a byte that only
    // changes framing, fails to parse).
    let mut rng2 = rng;
    for _ in 0..40 {
        let mut bad = bytes.clone();
        let i = (rng2.next_u32() as usize) % bad.len();
        bad[i] ^= 1 << (rng2.next_u32() % 8);
        assert_ne!(AuditLog::from_bytes(&bad).ok(), Some(log.clone()));
    }
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(matches!(
        AuditLog::from_bytes(&bad),
        Err(AuditError::InvalidEntry {
            index: 1,
            reason: ConsentError::BadSignature
        })
    ));
    // take_audit_log moves the entries out.
    let taken = list.take_audit_log();
    assert_eq!(taken.entries().len(), 2);
    assert!(list.audit_log().entries().is_empty());
    let text = taken.to_string();
    assert!(text.contains("\"news\""));
    assert!(text.contains("2 consents given, 0 withdrawn"));
}

#[test]
fn state_round_trips_and_bad_records_are_rejected() {
    let mut rng = rng(13);
    let mut w = World::new(3, &mut rng);
    let (mut groups, _) = setup(&mut w, 3, &mut rng);
    let m0 = groups[1].encrypt(&mut rng, b"zero").unwrap();
    let m1 = groups[1].encrypt(&mut rng, b"one").unwrap();
    assert_eq!(groups[2].decrypt(&w.key(1), &m1).unwrap(), b"one");
    let saved = groups[2].to_bytes();
    let mut restored = Group::from_bytes(&saved).unwrap();
    assert_eq!(*restored.to_bytes(), *saved);
    assert_eq!(restored.skipped_keys(), 1);
    assert_eq!(restored.revision(), groups[2].revision());
    assert_eq!(restored.decrypt(&w.key(1), &m0).unwrap(), b"zero");
    let reply = restored.encrypt(&mut rng, b"restored").unwrap();
    assert_eq!(groups[0].decrypt(&w.key(2), &reply).unwrap(), b"restored");

    let (_, list, subs) = broadcast_world(3, &mut rng);
    let list_bytes = list.to_bytes();
    let mut list2 = BroadcastList::from_bytes(&list_bytes).unwrap();
    assert_eq!(*list2.to_bytes(), *list_bytes);
    assert_eq!(list2.audit_log(), list.audit_log());
    let sub_bytes = subs[1].as_ref().unwrap().to_bytes();
    let mut sub2 = BroadcastSubscription::from_bytes(&sub_bytes).unwrap();
    assert_eq!(*sub2.to_bytes(), *sub_bytes);
    let push = list2
        .broadcast(&mut rng, b"from the restored list")
        .unwrap();
    assert_eq!(sub2.decrypt(&push).unwrap(), b"from the restored list");

    // Unknown version, oversize, truncation, corrupted field lengths.
    for (bytes, name) in [
        (&*saved, "group"),
        (&*list_bytes, "list"),
        (&*sub_bytes, "sub"),
    ] {
        assert_eq!(
            bytes[..2],
            [0x08, 0x01],
            "{name} record starts with version 1"
        );
        let mut v2 = bytes.to_vec();
        v2[1] = 2;
        let oversize = vec![0u8; 16 * 1024 * 1024 + 1];
        let truncated = &bytes[..bytes.len() - 3];
        let results = match name {
            "group" => [
                Group::from_bytes(&v2).err(),
                Group::from_bytes(&oversize).err(),
                Group::from_bytes(truncated).err(),
            ],
            "list" => [
                BroadcastList::from_bytes(&v2).err(),
                BroadcastList::from_bytes(&oversize).err(),
                BroadcastList::from_bytes(truncated).err(),
            ],
            _ => [
                BroadcastSubscription::from_bytes(&v2).err(),
                BroadcastSubscription::from_bytes(&oversize).err(),
                BroadcastSubscription::from_bytes(truncated).err(),
            ],
        };
        assert_eq!(results[0], Some(sealpost::StateError::UnknownVersion(2)));
        assert_eq!(results[1], Some(sealpost::StateError::TooLarge));
        assert!(results[2].is_some(), "{name} truncated record accepted");
    }

    // Counts are checked against the limits before anything is built: append a sender with
    // MAX_CHAINS_PER_SENDER + 1 (empty) chains to a valid group record.
    let mut sender = vec![0x0a, 0x20];
    sender.extend_from_slice(w.key(1).as_bytes());
    for _ in 0..=MAX_CHAINS_PER_SENDER {
        sender.extend_from_slice(&[0x12, 0x00]);
    }
    let mut over = saved.to_vec();
    over.push(0x3a);
    over.push(sender.len() as u8);
    over.extend_from_slice(&sender);
    assert_eq!(
        Group::from_bytes(&over).unwrap_err(),
        sealpost::StateError::LimitExceeded
    );
}

#[test]
fn debug_output_redacts_every_secret() {
    let mut rng = rng(14);
    let mut w = World::new(3, &mut rng);
    let (mut groups, dist) = setup(&mut w, 3, &mut rng);
    let (chain_id, ck, seed) = (5, [0xab; 32], [0xcd; 32]);
    let known = Known {
        id: chain_id,
        ck,
        seed,
    };
    install_known_chain(&mut w, &mut groups, (1, 2), &known, &mut rng);
    // Leave some skipped keys behind.
    let m = known_message(chain_id, 3, &step(&ck, 3), &seed, b"x");
    groups[2].decrypt(&w.key(1), &m).unwrap();
    let mut secrets: Vec<String> = vec![hex::encode(ck), hex::encode(seed)];
    for i in 0..3 {
        secrets.push(hex::encode(hazmat::kdf_ck(&step(&ck, i)).0));
    }
    for d in dist.values() {
        let (_, _, own_ck, _) = hazmat::group_distribution_fields(d).unwrap();
        secrets.push(hex::encode(own_ck));
    }
    let rekey = groups[2].rekey(&mut rng).unwrap();
    let (_, _, new_ck, _) = hazmat::group_distribution_fields(rekey.expose_payload()).unwrap();
    secrets.push(hex::encode(new_ck));

    let (_, list, subs) = broadcast_world(2, &mut rng);
    let shown = [
        format!("{:?}", groups[2]),
        format!("{:#?}", groups[2]),
        format!("{rekey:?}"),
        format!("{list:?}"),
        format!("{:?}", subs[1]),
        format!("{:?}", list.audit_log()),
    ];
    for s in &shown {
        for secret in &secrets {
            assert!(!s.contains(secret.as_str()), "{s} shows a secret");
            assert!(!s.contains(&secret[..16]), "{s} shows part of a secret");
        }
        // Payload bytes never appear either.
        assert!(!s.contains(&hex::encode(&rekey.expose_payload()[..16])));
    }
    assert!(shown[0].contains("Group"));
    assert!(shown[0].contains("\"team\""));
    assert!(shown[2].contains("recipients: 2"));
}
