//! Two parties driven by the input: Alice opens a session to Bob's bundle, then the bytes pick
//! sends from either side, deliveries in any order, drops, duplicates, replays, bit flips and
//! restarts from saved bytes. A model of what was sent checks every step:
//!
//! - an untampered message delivered for the first time within the limits decrypts, to exactly
//!   what was sent (the limits: messages per direction stay below `MAX_SKIPPED_KEYS`, so only
//!   `MAX_RECEIVING_CHAINS` can expire a message: one from a sender ratchet epoch older than
//!   the newest 5 the receiver has seen);
//! - no message decrypts twice; a tampered one never decrypts (nor starts a session);
//! - every failure leaves the receiver's state (session, and Bob's prekeys) byte-identical;
//! - saved state restores to the same bytes; nothing panics.

#[path = "fixtures.rs"]
pub mod fixtures;

use fixtures::{Choices, KnownBug, World};
use rand::rngs::ChaCha20Rng;
use sealpost::consts::{MAX_RECEIVING_CHAINS, MAX_SKIPPED_KEYS};
use sealpost::{DecryptError, Envelope, PreKeys, Session};

/// Operations per input.
const MAX_OPS: usize = 256;
/// Messages per direction; below `MAX_SKIPPED_KEYS` so no key is evicted for count.
const MAX_SENT: usize = 1_000;
const _: () = assert!(MAX_SENT < MAX_SKIPPED_KEYS);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Party {
    Alice,
    Bob,
}

struct Message {
    to: Party,
    wire: Vec<u8>,
    plaintext: Vec<u8>,
    /// The sender's ratchet epoch (1 = its first sending chain).
    epoch: u32,
    delivered: bool,
}

struct Peer {
    session: Option<Session>,
    /// Epoch of the current sending chain; 0 before the first.
    epoch: u32,
    /// A new peer epoch was received since the last send: the next send turns the ratchet.
    turn_due: bool,
    /// Newest peer epoch decrypted.
    peer_epoch: u32,
    sent: usize,
}

struct Sim<'w> {
    world: &'w World,
    rng: ChaCha20Rng,
    alice: Peer,
    bob: Peer,
    /// Bob's prekeys (Bob starts without a session).
    prekeys: PreKeys,
    messages: Vec<Message>,
    /// Indexes into `messages` of those in flight, in network order.
    pending: Vec<usize>,
}

pub fn check(data: &[u8]) {
    let world = World::get();
    let mut rng = fixtures::rng(0xc0_4e75);
    let bundle = world.verified_bundle(1);
    let alice = Session::initiate(&world.alice, &bundle, &mut rng).expect("initiate");
    let mut sim = Sim {
        world,
        rng,
        alice: Peer {
            session: Some(alice),
            epoch: 1,
            turn_due: false,
            peer_epoch: 0,
            sent: 0,
        },
        bob: Peer {
            session: None,
            epoch: 0,
            turn_due: true,
            peer_epoch: 0,
            sent: 0,
        },
        prekeys: world.bob_prekeys.clone(),
        messages: Vec::new(),
        pending: Vec::new(),
    };
    let mut c = Choices::new(data);
    for _ in 0..MAX_OPS {
        if c.is_empty() {
            break;
        }
        sim.step(&mut c);
        sim.invariants();
    }
    // Finally deliver everything still in flight: each must decrypt if within the limits.
    while let Some(i) = sim.pending.pop() {
        let wire = sim.messages[i].wire.clone();
        sim.deliver(i, &wire, false);
    }
}

impl Sim<'_> {
    fn peer(&mut self, p: Party) -> &mut Peer {
        match p {
            Party::Alice => &mut self.alice,
            Party::Bob => &mut self.bob,
        }
    }

    fn step(&mut self, c: &mut Choices<'_>) {
        match c.byte() % 12 {
            0..=1 => self.send(Party::Alice, 1 + c.byte() % 4, c),
            2..=3 => self.send(Party::Bob, 1 + c.byte() % 4, c),
            // Deliver one in flight, any position: reordering.
            4..=6 => {
                if !self.pending.is_empty() {
                    let i = self.pending.remove(c.index(self.pending.len()));
                    let wire = self.messages[i].wire.clone();
                    self.deliver(i, &wire, false);
                }
            }
            // Duplicate: deliver a copy, keep the message in flight.
            7 => {
                if !self.pending.is_empty() {
                    let i = self.pending[c.index(self.pending.len())];
                    let wire = self.messages[i].wire.clone();
                    self.deliver(i, &wire, false);
                }
            }
            // Drop.
            8 => {
                if !self.pending.is_empty() {
                    self.pending.remove(c.index(self.pending.len()));
                }
            }
            // Tamper: deliver any message sent so far with one bit flipped.
            9 => {
                if !self.messages.is_empty() {
                    let i = c.index(self.messages.len());
                    let mut wire = self.messages[i].wire.clone();
                    let bit = usize::from(c.u16()) % (wire.len() * 8);
                    wire[bit / 8] ^= 1 << (bit % 8);
                    self.deliver(i, &wire, true);
                }
            }
            // Replay anything sent so far, delivered or not.
            10 => {
                if !self.messages.is_empty() {
                    let i = c.index(self.messages.len());
                    let wire = self.messages[i].wire.clone();
                    self.deliver(i, &wire, false);
                }
            }
            _ => match c.byte() % 2 {
                0 => self.restart(Party::Alice),
                _ => self.restart(Party::Bob),
            },
        }
    }

    fn send(&mut self, from: Party, count: u8, c: &mut Choices<'_>) {
        let extra = usize::from(c.byte() % 64);
        let to = match from {
            Party::Alice => Party::Bob,
            Party::Bob => Party::Alice,
        };
        for _ in 0..count {
            let (peer, rng) = match from {
                Party::Alice => (&mut self.alice, &mut self.rng),
                Party::Bob => (&mut self.bob, &mut self.rng),
            };
            if peer.sent >= MAX_SENT {
                return;
            }
            let Some(session) = peer.session.as_mut() else {
                return; // Bob has nothing to send on before the first message arrives.
            };
            let mut plaintext = format!("{from:?} #{}", peer.sent).into_bytes();
            plaintext.resize(plaintext.len() + extra, b'.');
            let wire = session.encrypt(rng, &plaintext).expect("encrypt");
            if peer.turn_due {
                peer.epoch += 1;
                peer.turn_due = false;
            }
            peer.sent += 1;
            let epoch = peer.epoch;
            self.pending.push(self.messages.len());
            self.messages.push(Message {
                to,
                wire,
                plaintext,
                epoch,
                delivered: false,
            });
        }
    }

    /// Delivers `wire` as message `i` (`tampered`: not the bytes that were sent).
    fn deliver(&mut self, i: usize, wire: &[u8], tampered: bool) {
        let (to, epoch, delivered) = {
            let m = &self.messages[i];
            (m.to, m.epoch, m.delivered)
        };
        let receiver = match to {
            Party::Alice => &self.alice,
            Party::Bob => &self.bob,
        };
        // Within the limits: the sender's epoch is one of the newest MAX_RECEIVING_CHAINS the
        // receiver has seen, or newer.
        let in_limits = epoch as usize + MAX_RECEIVING_CHAINS > receiver.peer_epoch as usize;
        let must_decrypt = !tampered && !delivered && in_limits;
        let saved = self.save(to);
        let has_session = receiver.session.is_some();
        let result = if has_session {
            self.decrypt(to, i, wire)
        } else {
            self.accept(wire)
        };
        match result {
            Ok(_) if tampered => {
                let bug = if has_session {
                    KnownBug::UnboundPreKeyFields
                } else {
                    KnownBug::BaseKeyHighBit
                };
                let original = &self.messages[i].wire;
                assert!(
                    fixtures::known_bug_variant(original, wire, bug),
                    "a tampered message decrypted (message {i})"
                );
                // Tolerated known bug: undo, as if it had been rejected.
                self.restore(to, saved);
            }
            Ok(text) => {
                assert!(!delivered, "message {i} decrypted twice");
                let m = &mut self.messages[i];
                assert_eq!(text, m.plaintext, "message {i} decrypted to something else");
                m.delivered = true;
                let receiver = self.peer(to);
                if epoch > receiver.peer_epoch {
                    receiver.peer_epoch = epoch;
                    receiver.turn_due = true;
                }
            }
            Err(e) => assert!(!must_decrypt, "message {i} within the limits failed: {e}"),
        }
    }

    /// The receiver's state: its session and, for Bob, the prekeys.
    fn save(&self, who: Party) -> (Option<Vec<u8>>, Vec<u8>) {
        let p = match who {
            Party::Alice => &self.alice,
            Party::Bob => &self.bob,
        };
        let session = p.session.as_ref().map(|s| s.to_bytes().to_vec());
        (session, self.prekeys.to_bytes().to_vec())
    }

    fn restore(&mut self, who: Party, (session, prekeys): (Option<Vec<u8>>, Vec<u8>)) {
        self.prekeys = PreKeys::from_bytes(&prekeys).expect("prekeys restore");
        self.peer(who).session =
            session.map(|b| Session::from_bytes(&b).expect("session restores"));
    }

    /// Bob without a session: only a prekey message can reach him.
    fn accept(&mut self, wire: &[u8]) -> Result<Vec<u8>, String> {
        let before = self.prekeys.to_bytes();
        let result = match Envelope::parse(wire) {
            Ok(Envelope::PreKey(m)) => {
                Session::accept(&self.world.bob, &mut self.prekeys, &m).map_err(|e| e.to_string())
            }
            Ok(_) => Err("not a prekey message".into()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok((session, text)) => {
                self.bob.session = Some(session);
                Ok(text)
            }
            Err(e) => {
                assert_eq!(
                    self.prekeys.to_bytes(),
                    before,
                    "failed accept changed prekeys"
                );
                Err(e)
            }
        }
    }

    /// A party with a session receives `wire`, sent as message `i`.
    fn decrypt(&mut self, to: Party, i: usize, wire: &[u8]) -> Result<Vec<u8>, String> {
        let world = self.world;
        let prekeys_before = self.prekeys.to_bytes();
        let session = self
            .peer(to)
            .session
            .as_mut()
            .expect("receiver has a session");
        let before = session.to_bytes();
        let result = session.decrypt(wire);
        if let Err(e) = &result {
            assert_eq!(
                session.to_bytes(),
                before,
                "failed decrypt ({e}) changed the session"
            );
        }
        match result {
            Ok(text) => Ok(text),
            // What a session record does with such a message: try to start a new session. Only
            // a tampered or replayed message gets here, so that must fail too.
            Err(DecryptError::NewSession) if to == Party::Bob => {
                let Ok(Envelope::PreKey(m)) = Envelope::parse(wire) else {
                    panic!("NewSession for something that is not a prekey message");
                };
                let mut prekeys = self.prekeys.clone();
                match Session::accept(&world.bob, &mut prekeys, &m) {
                    Ok(_) => {
                        let original = &self.messages[i].wire;
                        assert!(
                            fixtures::known_bug_variant(original, wire, KnownBug::BaseKeyHighBit),
                            "a second session was started from a tampered or replayed message"
                        );
                        Err("tolerated known bug KB-1".into())
                    }
                    Err(e) => {
                        assert_eq!(
                            prekeys.to_bytes(),
                            prekeys_before,
                            "failed accept changed prekeys"
                        );
                        Err(e.to_string())
                    }
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn restart(&mut self, who: Party) {
        if who == Party::Bob {
            let saved = self.prekeys.to_bytes();
            self.prekeys = PreKeys::from_bytes(&saved).expect("prekeys restore");
            assert_eq!(
                self.prekeys.to_bytes(),
                saved,
                "prekeys changed across a restart"
            );
        }
        if let Some(session) = self.peer(who).session.as_mut() {
            let saved = session.to_bytes();
            *session = Session::from_bytes(&saved).expect("session restores");
            assert_eq!(
                session.to_bytes(),
                saved,
                "session changed across a restart"
            );
        }
    }

    fn invariants(&mut self) {
        let alice = self.alice.session.as_ref().expect("Alice has a session");
        assert_eq!(
            alice.awaiting_reply(),
            self.alice.peer_epoch == 0,
            "Alice sends prekey messages exactly until she hears from Bob"
        );
        assert!(alice.skipped_keys() <= MAX_SKIPPED_KEYS);
        if let Some(bob) = &self.bob.session {
            assert!(!bob.awaiting_reply());
            assert!(bob.skipped_keys() <= MAX_SKIPPED_KEYS);
            assert_eq!(bob.base_key(), alice.base_key());
        }
    }
}
