//! Property tests: a conversation model under random schedules, and every encode/decode pair.
//!
//! Case counts are kept low enough for a debug build (each case runs real X25519 and Ed25519);
//! the fuzz targets in `fuzz/` explore the same properties at depth.

mod common;

use std::collections::VecDeque;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rand::rngs::ChaCha20Rng;
use sealpost::consts::MAX_RECEIVING_CHAINS;
use sealpost::{Envelope, IdentityKeyPair, PreKeyBundle, PreKeys, Session};

// ---------------------------------------------------------------------------------------------
// Conversation model.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Party {
    Alice,
    Bob,
}

#[derive(Clone, Debug)]
enum Op {
    /// `from` sends `count` messages.
    Send { from: Party, count: u8 },
    /// One message in flight to `to`, picked by `pick`, arrives.
    Deliver { to: Party, pick: u16 },
    /// A party saves its state and restores it.
    Restart(Party),
}

fn party() -> impl Strategy<Value = Party> {
    prop_oneof![Just(Party::Alice), Just(Party::Bob)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (party(), 1..4u8).prop_map(|(from, count)| Op::Send { from, count }),
        4 => (party(), any::<u16>()).prop_map(|(to, pick)| Op::Deliver { to, pick }),
        1 => party().prop_map(Op::Restart),
    ]
}

struct InFlight {
    wire: Vec<u8>,
    plaintext: Vec<u8>,
    /// The sender's ratchet epoch (1 = its first sending chain).
    epoch: u32,
}

struct Peer {
    session: Session,
    epoch: u32,
    /// A new peer epoch arrived since this side last sent: its next send turns the ratchet.
    turn_due: bool,
    /// Newest peer epoch decrypted.
    peer_epoch: u32,
    /// Messages in flight to this party, in network order.
    inbox: VecDeque<InFlight>,
    sent: u32,
}

struct Model {
    alice: Peer,
    bob: Peer,
    rng: ChaCha20Rng,
    decrypted: usize,
}

impl Model {
    fn new(seed: u64) -> Self {
        // Alice has sent one prekey message and Bob accepted it.
        let (alice, bob, rng) = common::pair(seed, seed.is_multiple_of(2));
        let peer = |session, epoch, turn_due, peer_epoch| Peer {
            session,
            epoch,
            turn_due,
            peer_epoch,
            inbox: VecDeque::new(),
            sent: 0,
        };
        Model {
            alice: peer(alice, 1, false, 0),
            bob: peer(bob, 0, true, 1),
            rng,
            decrypted: 0,
        }
    }

    fn send(&mut self, from: Party, count: u8) {
        let (sender, receiver) = match from {
            Party::Alice => (&mut self.alice, &mut self.bob),
            Party::Bob => (&mut self.bob, &mut self.alice),
        };
        for _ in 0..count {
            let plaintext = format!("{from:?} {}", sender.sent).into_bytes();
            let wire = sender
                .session
                .encrypt(&mut self.rng, &plaintext)
                .expect("encrypt");
            if sender.turn_due {
                sender.epoch += 1;
                sender.turn_due = false;
            }
            sender.sent += 1;
            receiver.inbox.push_back(InFlight {
                wire,
                plaintext,
                epoch: sender.epoch,
            });
        }
    }

    /// Delivers one message; it must decrypt exactly once if its sender epoch is still among
    /// the newest `MAX_RECEIVING_CHAINS` the receiver knows, and fail harmlessly otherwise.
    fn deliver(&mut self, to: Party, pick: usize) -> Result<(), TestCaseError> {
        let receiver = match to {
            Party::Alice => &mut self.alice,
            Party::Bob => &mut self.bob,
        };
        if receiver.inbox.is_empty() {
            return Ok(());
        }
        let pick = pick % receiver.inbox.len();
        let m = receiver.inbox.remove(pick).expect("index in range");
        let in_window = m.epoch as usize + MAX_RECEIVING_CHAINS > receiver.peer_epoch as usize;
        let before = receiver.session.to_bytes();
        match receiver.session.decrypt(&m.wire) {
            Ok(text) => {
                prop_assert_eq!(text, m.plaintext);
                self.decrypted += 1;
                if m.epoch > receiver.peer_epoch {
                    receiver.peer_epoch = m.epoch;
                    receiver.turn_due = true;
                }
            }
            Err(e) => {
                prop_assert!(!in_window, "in-window message failed: {e}");
                prop_assert_eq!(&receiver.session.to_bytes(), &before);
            }
        }
        // The same bytes again are a replay.
        let after = receiver.session.to_bytes();
        prop_assert!(
            receiver.session.decrypt(&m.wire).is_err(),
            "replay decrypted"
        );
        prop_assert_eq!(&receiver.session.to_bytes(), &after);
        Ok(())
    }

    fn restart(&mut self, who: Party) -> Result<(), TestCaseError> {
        let p = match who {
            Party::Alice => &mut self.alice,
            Party::Bob => &mut self.bob,
        };
        let saved = p.session.to_bytes();
        p.session = Session::from_bytes(&saved).expect("session restores");
        prop_assert_eq!(&p.session.to_bytes(), &saved);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random sends, reordered deliveries and restarts: every message decrypts exactly once to
    /// what was sent, replays fail and change nothing, and in the end everything still in
    /// flight (delivered last-sent first) decrypts too.
    #[test]
    fn conversation_delivers_every_message_once(seed in any::<u64>(), ops in vec(op(), 1..40)) {
        let mut m = Model::new(seed);
        for op in ops {
            match op {
                Op::Send { from, count } => m.send(from, count),
                Op::Deliver { to, pick } => m.deliver(to, usize::from(pick))?,
                Op::Restart(who) => m.restart(who)?,
            }
        }
        for to in [Party::Alice, Party::Bob] {
            loop {
                let p = match to { Party::Alice => &m.alice, Party::Bob => &m.bob };
                if p.inbox.is_empty() {
                    break;
                }
                let last = p.inbox.len() - 1;
                m.deliver(to, last)?;
            }
        }
        prop_assert!(!m.alice.session.awaiting_reply() || m.alice.peer_epoch == 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Encode/decode pairs.

fn identity(seed: [u8; 32]) -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&seed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn identity_round_trips(seed in any::<[u8; 32]>()) {
        let id = identity(seed);
        let bytes = id.to_bytes();
        let back = IdentityKeyPair::from_bytes(&bytes).expect("identity restores");
        prop_assert_eq!(back.public_key(), id.public_key());
        prop_assert_eq!(&back.to_bytes(), &bytes);
        prop_assert_eq!(*back.to_seed(), seed);
    }

    #[test]
    fn prekeys_and_bundles_round_trip(
        seed in any::<u64>(),
        signed in 1..4usize,
        one_time in 0..12usize,
        created_at in any::<u64>(),
        pick in any::<u16>(),
    ) {
        let mut rng = common::rng(seed);
        let id = IdentityKeyPair::generate(&mut rng);
        let mut prekeys = PreKeys::new();
        for _ in 0..signed {
            prekeys.generate_signed_prekey(&id, created_at, &mut rng).expect("spk");
        }
        let otks = prekeys.generate_one_time_prekeys(one_time, &mut rng).expect("otks");
        let otk = (!otks.is_empty()).then(|| otks[usize::from(pick) % otks.len()]);

        // Accept one handshake so the record holds a used prekey and an accepted base key.
        let bundle = prekeys.bundle(&id, otk).expect("bundle");
        let bytes = bundle.to_bytes();
        let decoded = PreKeyBundle::from_bytes(&bytes).expect("bundle decodes");
        prop_assert_eq!(&decoded, &bundle);
        prop_assert_eq!(decoded.to_bytes(), bytes);
        let verified = decoded.verify_for(id.public_key()).expect("bundle verifies");
        prop_assert_eq!(verified.one_time_prekey_id(), otk);
        let alice = IdentityKeyPair::generate(&mut rng);
        let mut a = Session::initiate(&alice, &verified, &mut rng).expect("initiate");
        let wire = a.encrypt(&mut rng, b"hi").expect("encrypt");
        let Ok(Envelope::PreKey(m)) = Envelope::parse(&wire) else {
            return Err(TestCaseError::fail("first message is not a prekey message"));
        };
        Session::accept(&id, &mut prekeys, &m).expect("accept");

        let saved = prekeys.to_bytes();
        let back = PreKeys::from_bytes(&saved).expect("prekeys restore");
        prop_assert_eq!(&back.to_bytes(), &saved);
        prop_assert_eq!(back.revision(), prekeys.revision());
        prop_assert_eq!(
            back.one_time_prekey_ids().collect::<Vec<_>>(),
            prekeys.one_time_prekey_ids().collect::<Vec<_>>()
        );
        prop_assert_eq!(
            back.signed_prekeys().collect::<Vec<_>>(),
            prekeys.signed_prekeys().collect::<Vec<_>>()
        );
        // The restored record still knows the accepted base key.
        let mut back = back;
        prop_assert!(Session::accept(&id, &mut back, &m).is_err());
    }

    /// A session restored from its bytes is the same session: same bytes, and it encrypts
    /// exactly what the original would with the same randomness.
    #[test]
    fn session_round_trips(seed in any::<u64>(), turns in 0..4usize, per_turn in 1..5usize) {
        let (mut alice, mut bob, mut rng) = common::pair(seed, seed.is_multiple_of(3));
        for t in 0..turns {
            let mut last = Vec::new();
            for i in 0..per_turn {
                last = alice.encrypt(&mut rng, &[t as u8, i as u8]).expect("encrypt");
            }
            bob.decrypt(&last).expect("decrypt");
            let reply = bob.encrypt(&mut rng, b"ack").expect("encrypt");
            if t % 2 == 0 {
                alice.decrypt(&reply).expect("decrypt");
            }
        }
        for s in [&alice, &bob] {
            let saved = s.to_bytes();
            let back = Session::from_bytes(&saved).expect("session restores");
            prop_assert_eq!(&back.to_bytes(), &saved);
            prop_assert_eq!(back.skipped_keys(), s.skipped_keys());
            prop_assert_eq!(back.awaiting_reply(), s.awaiting_reply());
            prop_assert_eq!(back.remote_identity(), s.remote_identity());
            let (mut orig, mut back) = (s.clone(), back);
            let mut r1 = common::rng(seed ^ 1);
            let mut r2 = common::rng(seed ^ 1);
            prop_assert_eq!(
                orig.encrypt(&mut r1, b"same").expect("encrypt"),
                back.encrypt(&mut r2, b"same").expect("encrypt")
            );
            prop_assert_eq!(orig.to_bytes(), back.to_bytes());
        }
    }

    /// Messages a session produces parse, as the right kind, with the handshake fields the
    /// session was built with.
    #[test]
    fn produced_messages_parse(
        seed in any::<u64>(),
        with_otk in any::<bool>(),
        plaintext in vec(any::<u8>(), 0..2048),
    ) {
        let mut rng = common::rng(seed);
        let mut bob = common::Responder::new(&mut rng, 1);
        let otk = with_otk.then(|| bob.otk_ids[0]);
        let bundle = PreKeyBundle::from_bytes(&bob.bundle(otk))
            .and_then(PreKeyBundle::verify)
            .expect("bundle");
        let alice_id = IdentityKeyPair::generate(&mut rng);
        let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).expect("initiate");
        let first = alice.encrypt(&mut rng, &plaintext).expect("encrypt");
        match Envelope::parse(&first).expect("parses") {
            Envelope::PreKey(p) => {
                prop_assert_eq!(p.sender_identity(), alice_id.public_key());
                prop_assert_eq!(p.base_key(), alice.base_key());
                prop_assert_eq!(p.signed_prekey_id(), bundle.signed_prekey_id());
                prop_assert_eq!(p.one_time_prekey_id(), otk);
            }
            other => return Err(TestCaseError::fail(format!("not a prekey message: {other:?}"))),
        }
        let (mut b, text) = bob.accept(&first);
        prop_assert_eq!(text, plaintext.clone());
        let reply = b.encrypt(&mut rng, &plaintext).expect("encrypt");
        prop_assert!(matches!(Envelope::parse(&reply), Ok(Envelope::Ratchet(_))));
        prop_assert_eq!(alice.decrypt(&reply).expect("decrypt"), plaintext.clone());
        let next = alice.encrypt(&mut rng, &plaintext).expect("encrypt");
        prop_assert!(matches!(Envelope::parse(&next), Ok(Envelope::Ratchet(_))));
        prop_assert_eq!(b.decrypt(&next).expect("decrypt"), plaintext);
    }

    /// Arbitrary bytes: whatever decodes as a bundle re-encodes to something that decodes to
    /// the same bundle.
    #[test]
    fn arbitrary_bundle_bytes_round_trip(bytes in vec(any::<u8>(), 0..200)) {
        if let Ok(b) = PreKeyBundle::from_bytes(&bytes) {
            prop_assert_eq!(PreKeyBundle::from_bytes(&b.to_bytes()).expect("re-decodes"), b);
        }
    }
}
