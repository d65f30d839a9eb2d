//! Group and broadcast decryption: C's group and D's subscription, restored from the group
//! world's records (`group_fixtures.rs`), fed arbitrary bytes, mutations of real messages
//! (field edits re-encoded, then byte edits, under any sender's name), real messages as they
//! are (pending, already delivered, or not for this receiver), and messages the owner of a
//! chain crafts on a chain whose secrets the fixture knows: validly signed at any iteration,
//! sealed under the right chain key or a wrong one. Each input runs up to `MAX_OPS` of those
//! on the same two receivers, so it can order, replay and interleave them. Every step:
//!
//! - a failure is a typed error, leaves the state's record byte-identical and writes nothing;
//! - a success yields exactly the plaintext of a message really sent to this receiver, on the
//!   first delivery only; on the known chain it happens exactly when the model
//!   (`ChainModel`: a skipped iteration, or one ahead within `MAX_FORWARD_JUMP`) says so, and
//!   with the right key and signature only; the same bytes never decrypt twice;
//! - after a success the state re-encodes stably, and the messages still in flight on the
//!   chains the input touched (and the first one on another chain) decrypt from the saved
//!   state.
//!
//! Input layout: the whole input is first tried as a message (from A and from B at C, and at
//! D); then it is read as choices: an op byte (0-3 mutate, 4-5 deliver as is, 6-7 craft),
//! then a target byte (even: C, odd: D) and the op's own bytes (see `Run::step`).

#[path = "fixtures.rs"]
pub mod fixtures;
#[path = "group_fixtures.rs"]
pub mod group_fixtures;

use fixtures::Choices;
use group_fixtures::{
    ChainModel, FAR, GroupParts, GroupWorld, MessageReceiver, NEAR, PARTIES, Status,
    mutate_group_message,
};
use sealpost::consts::MAX_FORWARD_JUMP;
use sealpost::group::{BroadcastSubscription, ChannelDecryptError, Group};

/// Operations per input after the raw attempt.
const MAX_OPS: usize = 4;

/// A receiver's live state.
enum State {
    Group(Box<Group>),
    Subscription(Box<BroadcastSubscription>),
}

impl State {
    fn bytes(&self) -> Vec<u8> {
        match self {
            State::Group(g) => g.to_bytes().to_vec(),
            State::Subscription(s) => s.to_bytes().to_vec(),
        }
    }

    fn decrypt_into(
        &mut self,
        w: &GroupWorld,
        sender: usize,
        wire: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelDecryptError> {
        match self {
            State::Group(g) => g.decrypt_into(w.key(sender), wire, out),
            // A subscription names no sender: the list's business is the only one.
            State::Subscription(s) => s.decrypt_into(wire, out),
        }
    }
}

/// What must happen to one decryption attempt.
#[derive(Clone, Debug)]
enum Expect {
    /// Decrypts to this plaintext; then message `Some(i)` of the receiver's list is delivered,
    /// or (known chain) this iteration is consumed.
    Decrypts(Vec<u8>, Effect),
    Fails,
}

#[derive(Clone, Copy, Debug)]
enum Effect {
    Real(usize),
    Known(u32),
}

/// One receiver during one input: its state and what it has taken since the snapshot.
struct Live<'w> {
    name: &'static str,
    rx: &'w MessageReceiver,
    subscription: bool,
    state: State,
    delivered: Vec<bool>,
    model: ChainModel,
    /// The state's record as of its last change.
    current: Vec<u8>,
    changed: bool,
    /// `(sender, chain id)` of every message that decrypted in this input.
    touched: Vec<(usize, u32)>,
    /// A crafted long jump (see `craft`) happened in this input.
    long_jumped: bool,
}

impl<'w> Live<'w> {
    fn new(
        w: &GroupWorld,
        name: &'static str,
        rx: &'w MessageReceiver,
        subscription: bool,
    ) -> Self {
        let state = if subscription {
            State::Subscription(Box::new(w.cached_subscriber.take(|| {
                BroadcastSubscription::from_bytes(&rx.record).expect("snapshot restores")
            })))
        } else {
            State::Group(Box::new(
                w.cached_member
                    .take(|| Group::from_bytes(&rx.record).expect("snapshot restores")),
            ))
        };
        Live {
            name,
            rx,
            subscription,
            state,
            delivered: rx
                .messages
                .iter()
                .map(|(_, s)| *s != Status::Pending)
                .collect(),
            model: ChainModel::new(&rx.known),
            current: rx.record.clone(),
            changed: false,
            touched: Vec::new(),
            long_jumped: false,
        }
    }

    /// The sender a decryption under the name `sender` was from (a subscription has one).
    fn sender_of(&self, sender: usize) -> usize {
        if self.subscription {
            group_fixtures::A
        } else {
            sender
        }
    }

    /// Whether `sender` is the name the receiver must be given for a message of `real`.
    fn sender_ok(&self, real: usize, sender: usize) -> bool {
        self.subscription || real == sender
    }

    /// What `wire` from `sender` must do now.
    fn expect(&self, sender: usize, wire: &[u8]) -> Expect {
        let Some(i) = self.rx.messages.iter().position(|(m, _)| m.wire == wire) else {
            return Expect::Fails;
        };
        let (m, status) = &self.rx.messages[i];
        if !self.sender_ok(m.sender, sender) || *status == Status::Foreign {
            return Expect::Fails;
        }
        match m.known_iteration {
            Some(it) if self.model.accepts(it) => {
                Expect::Decrypts(m.plaintext.clone(), Effect::Known(it))
            }
            Some(_) => Expect::Fails,
            None if !self.delivered[i] => Expect::Decrypts(m.plaintext.clone(), Effect::Real(i)),
            None => Expect::Fails,
        }
    }

    /// Decrypts `wire` from `sender` and checks the outcome against `expect`.
    fn attempt(&mut self, w: &GroupWorld, sender: usize, wire: &[u8], expect: Expect) {
        let before = std::mem::take(&mut self.current);
        let mut out = b"prefix".to_vec();
        let result = self.state.decrypt_into(w, sender, wire, &mut out);
        let name = self.name;
        match (result, expect) {
            (Err(e), expect) => {
                assert_eq!(
                    self.state.bytes(),
                    before,
                    "{name}: failed decrypt ({e:?}) changed the state"
                );
                assert_eq!(out, b"prefix", "{name}: failed decrypt wrote output");
                if let Expect::Decrypts(..) = expect {
                    panic!("{name}: a message that must decrypt failed: {e:?}");
                }
                self.current = before;
            }
            (Ok(()), Expect::Fails) => panic!(
                "{name}: decrypted a message that was never sent, or a second time, as from \
                 party {sender}: {:?}",
                &out[6..]
            ),
            (Ok(()), Expect::Decrypts(text, effect)) => {
                assert_eq!(&out[..6], b"prefix");
                assert_eq!(out[6..], text[..], "{name}: decrypted to something else");
                let after = self.state.bytes();
                assert_ne!(after, before, "{name}: a decryption changed nothing");
                match effect {
                    Effect::Real(i) => self.delivered[i] = true,
                    Effect::Known(it) => self.model.consume(it),
                }
                self.changed = true;
                let chain = GroupParts::decode(wire)
                    .expect("a message that decrypted")
                    .chain_id;
                self.touched.push((self.sender_of(sender), chain));
                // The same bytes again, under the same name: a replay, rejected, no change.
                let mut again = Vec::new();
                let replay = self.state.decrypt_into(w, sender, wire, &mut again);
                assert!(replay.is_err(), "{name}: a message decrypted twice");
                assert!(again.is_empty());
                assert_eq!(
                    self.state.bytes(),
                    after,
                    "{name}: a rejected replay changed state"
                );
                self.current = after;
            }
        }
    }

    /// After the ops: the state re-encodes stably, and the messages still in flight decrypt
    /// from a copy restored from its bytes: every one on a chain a decryption of this input
    /// touched, and the first one on another chain (all of them would cost a signature check
    /// each on every input that decrypts anything). An unchanged state is kept for the next
    /// input.
    fn finish(self, w: &GroupWorld) {
        if !self.changed {
            match self.state {
                State::Group(g) => w.cached_member.put_back(*g),
                State::Subscription(s) => w.cached_subscriber.put_back(*s),
            }
            return;
        }
        let bytes = self.state.bytes();
        let mut restored = if self.subscription {
            State::Subscription(Box::new(
                BroadcastSubscription::from_bytes(&bytes).expect("restores"),
            ))
        } else {
            State::Group(Box::new(Group::from_bytes(&bytes).expect("restores")))
        };
        assert_eq!(
            restored.bytes(),
            bytes,
            "{}: encoding is not stable",
            self.name
        );
        let mut model = self.model.clone();
        let mut other_checked = false;
        for (i, (m, status)) in self.rx.messages.iter().enumerate() {
            let due = match m.known_iteration {
                Some(it) => *status != Status::Foreign && model.accepts(it),
                None => !self.delivered[i],
            };
            if !due {
                continue;
            }
            let chain = GroupParts::decode(&m.wire)
                .expect("a real message")
                .chain_id;
            if !self.touched.contains(&(m.sender, chain)) {
                if other_checked {
                    continue;
                }
                other_checked = true;
            }
            let mut out = Vec::new();
            if let Err(e) = restored.decrypt_into(w, m.sender, &m.wire, &mut out) {
                panic!(
                    "{}: message {i} in flight no longer decrypts: {e:?}",
                    self.name
                );
            }
            assert_eq!(
                out, m.plaintext,
                "{}: message {i} decrypted wrongly",
                self.name
            );
            if let Some(it) = m.known_iteration {
                model.consume(it);
            }
        }
    }
}

struct Run<'w> {
    w: &'w GroupWorld,
    member: Live<'w>,
    subscriber: Live<'w>,
}

pub fn check(data: &[u8]) {
    let w = GroupWorld::get();
    let mut run = Run {
        w,
        member: Live::new(w, "C's group", &w.member, false),
        subscriber: Live::new(w, "D's subscription", &w.subscriber, true),
    };
    for sender in [group_fixtures::A, group_fixtures::B] {
        let expect = run.member.expect(sender, data);
        run.member.attempt(w, sender, data, expect);
    }
    let expect = run.subscriber.expect(group_fixtures::A, data);
    run.subscriber.attempt(w, group_fixtures::A, data, expect);

    let mut c = Choices::new(data);
    for _ in 0..MAX_OPS {
        if c.is_empty() {
            break;
        }
        run.step(&mut c);
    }
    run.member.finish(w);
    run.subscriber.finish(w);
}

/// A sender byte: mostly the message's real sender, sometimes any party.
fn pick_sender(real: usize, c: &mut Choices<'_>) -> usize {
    let s = c.byte();
    if s % 8 < 5 {
        real
    } else {
        usize::from(s) % PARTIES
    }
}

impl Run<'_> {
    fn step(&mut self, c: &mut Choices<'_>) {
        let op = c.byte() % 8;
        let live = if c.byte().is_multiple_of(2) {
            &mut self.member
        } else {
            &mut self.subscriber
        };
        let w = self.w;
        match op {
            // A real message, mutated, under its sender's name or another's.
            0..=3 => {
                let (base, _) = &live.rx.messages[c.index(live.rx.messages.len())];
                let sender = pick_sender(base.sender, c);
                let wire = mutate_group_message(&base.wire, &w.all_messages(), c);
                let expect = live.expect(sender, &wire);
                live.attempt(w, sender, &wire, expect);
            }
            // A real message as it is: first delivery, replay, or not for this receiver.
            4..=5 => {
                let (base, _) = &live.rx.messages[c.index(live.rx.messages.len())];
                let sender = pick_sender(base.sender, c);
                let expect = live.expect(sender, &base.wire);
                live.attempt(w, sender, &base.wire, expect);
            }
            _ => craft(w, live, c),
        }
    }
}

/// The owner of the known chain crafts a message: iteration, right or wrong chain key, right
/// or wrong signing key, chain id, guard and plaintext from the input.
fn craft(w: &GroupWorld, live: &mut Live<'_>, c: &mut Choices<'_>) {
    let rx = live.rx;
    let k = &rx.known;
    // A jump costs the receiver one chain step per iteration: the long ones are the slowest
    // thing an input can ask for, so they are rare, and one per input.
    let sel = c.byte() % 32;
    let arg = u32::from(c.byte());
    let long = (sel == 20 || sel == 21) && !live.long_jumped;
    let iteration = match sel {
        // Around the jump that starts evicting skipped keys.
        20 if long => k.mid_base + arg % FAR,
        // Around the forward-jump limit.
        21 if long => k.far_base + arg % FAR,
        22 => u32::MAX - 1 - arg % 2,
        23 => k.next + MAX_FORWARD_JUMP + 1 + arg,
        24..=31 => c.u32(),
        // Around the receiver's window: delivered, skipped, next, ahead.
        _ => arg % NEAR,
    };
    live.long_jumped |= long;
    let right_key = k.chain_key(iteration);
    let (chain_key, key_ok) = match (c.byte() % 8, right_key) {
        (0..=5, Some(ck)) => (ck, true),
        // The key of the next iteration: sealed under the wrong key, validly signed.
        (_, _) => match k.chain_key(iteration.wrapping_add(1)) {
            Some(ck) => (ck, false),
            None => ([0x99; 32], false),
        },
    };
    let (seed, seed_ok) = if c.byte().is_multiple_of(8) {
        ([0x77; 32], false)
    } else {
        (k.signing_seed, true)
    };
    let (chain_id, chain_ok) = if c.byte().is_multiple_of(8) {
        let id = c.u32();
        (id, id == k.chain_id)
    } else {
        (k.chain_id, true)
    };
    let guard = c.array::<4>();
    let len = usize::from(c.byte() % 48);
    let fill = c.byte();
    let plaintext = vec![fill; len];
    let sender = pick_sender(k.sender, c);
    let Some(wire) = group_fixtures::crafted_message(
        &rx.channel,
        chain_id,
        iteration,
        &chain_key,
        &seed,
        &guard,
        &plaintext,
    ) else {
        return; // iteration u32::MAX: no sender can write it
    };
    let authentic = key_ok && seed_ok && chain_ok && live.sender_ok(k.sender, sender);
    let expect = if authentic && live.model.accepts(iteration) {
        Expect::Decrypts(plaintext, Effect::Known(iteration))
    } else {
        Expect::Fails
    };
    live.attempt(w, sender, &wire, expect);
}
