//! The group world shared by the group fuzz checks, and surgery on group messages and channel
//! control payloads.
//!
//! Six parties with a pairwise session between every two run a group conversation and a
//! broadcast list, from fixed seeds, once per process. At one moment the world keeps the state
//! of each receiver as record bytes (a group member, the group admin, a subscriber, the list),
//! with what was in flight to it then (messages and control payloads, each with the session it
//! arrives over) and what it had already processed. Everything is real: produced by the
//! library's own group API and carried through real pairwise sessions.
//!
//! Included with `#[path]` next to `fixtures.rs` (whose `Choices`, `mutate_bytes` and `rng` it
//! uses), like the other fixtures; kept in its own file so the group checks do not depend on
//! the handshake fixtures.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use rand::rngs::ChaCha20Rng;
use sealpost::consts::{MAX_FORWARD_JUMP, MAX_SKIPPED_KEYS};
use sealpost::group::{
    BroadcastList, BroadcastSubscription, ChannelId, ConsentAction, ConsentOutcome, Fanout, Group,
    consent_payload,
};
use sealpost::{Envelope, IdentityKey, IdentityKeyPair, PreKeyBundle, PreKeys, Session, hazmat};

use super::fixtures::{Choices, mutate_bytes, rng};

/// The group admin, and the business of the broadcast list.
pub const A: usize = 0;
/// A group member.
pub const B: usize = 1;
/// A group member: the receiving member of `group_decrypt` and `group_control`.
pub const C: usize = 2;
/// A customer: the subscriber.
pub const D: usize = 3;
/// Not in the group; admin of a rival group with the same id; a customer who withdraws.
pub const E: usize = 4;
/// Added to the group after the snapshot.
pub const F: usize = 5;
pub const PARTIES: usize = 6;

// ---------------------------------------------------------------------------------------------
// A tiny protobuf codec for our own canonical encodings (varint and length-delimited only).

/// A field value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pb<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// `(field number, value, the field's raw bytes key included)`; `None` unless every field is a
/// varint or length-delimited one.
pub fn pb_fields(mut buf: &[u8]) -> Option<Vec<(u64, Pb<'_>, &[u8])>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let start = buf;
        let key = varint(&mut buf)?;
        let value = match key & 7 {
            0 => Pb::Varint(varint(&mut buf)?),
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                if len > buf.len() {
                    return None;
                }
                let (v, rest) = buf.split_at(len);
                buf = rest;
                Pb::Bytes(v)
            }
            _ => return None,
        };
        let used = start.len() - buf.len();
        out.push((key >> 3, value, &start[..used]));
    }
    Some(out)
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A proto3 scalar: omitted when zero.
pub fn put_uint(out: &mut Vec<u8>, field: u64, v: u64) {
    if v != 0 {
        put_varint(out, field << 3);
        put_varint(out, v);
    }
}

/// A proto3 `bytes`: omitted when empty.
pub fn put_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    if !b.is_empty() {
        put_message(out, field, b);
    }
}

/// A sub-message: written even when empty.
pub fn put_message(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A record without its revision (field 2 of every group record), to compare two states that
/// may differ only in it.
pub fn without_revision(record: &[u8]) -> Vec<u8> {
    let fields = pb_fields(record).expect("our own record");
    let mut out = Vec::new();
    for (f, _, raw) in fields {
        if f != 2 {
            out.extend_from_slice(raw);
        }
    }
    out
}

fn u32_of(v: Pb<'_>) -> Option<u32> {
    match v {
        Pb::Varint(x) => u32::try_from(x).ok(),
        Pb::Bytes(_) => None,
    }
}

fn bytes_of(v: Pb<'_>) -> Option<Vec<u8>> {
    match v {
        Pb::Bytes(b) => Some(b.to_vec()),
        Pb::Varint(_) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Group messages taken apart: `GroupMessageBody || signature`.

/// A group message's fields, as our encoder writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupParts {
    pub chain_id: u32,
    pub iteration: u32,
    pub guard: Vec<u8>,
    pub ciphertext: Vec<u8>,
    pub signature: Vec<u8>,
}

impl GroupParts {
    pub fn decode(wire: &[u8]) -> Option<GroupParts> {
        let split = wire.len().checked_sub(64)?;
        let (body, signature) = wire.split_at(split);
        let mut p = GroupParts {
            chain_id: 0,
            iteration: 0,
            guard: Vec::new(),
            ciphertext: Vec::new(),
            signature: signature.to_vec(),
        };
        for (f, v, _) in pb_fields(body)? {
            match f {
                1 => p.chain_id = u32_of(v)?,
                2 => p.iteration = u32_of(v)?,
                3 => p.guard = bytes_of(v)?,
                4 => p.ciphertext = bytes_of(v)?,
                _ => return None,
            }
        }
        Some(p)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_uint(&mut out, 1, u64::from(self.chain_id));
        put_uint(&mut out, 2, u64::from(self.iteration));
        put_bytes(&mut out, 3, &self.guard);
        put_bytes(&mut out, 4, &self.ciphertext);
        out.extend_from_slice(&self.signature);
        out
    }
}

fn flip(bytes: &mut [u8], bit: usize) {
    if !bytes.is_empty() {
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
}

/// Edits a real group message as `c` directs: field edits re-encoded canonically (so the
/// fuzzer gets past parsing to the chain lookup, the replay window, the signature and the
/// AEAD), then raw byte edits. `donors` are other real messages to splice parts from.
pub fn mutate_group_message(base: &[u8], donors: &[&[u8]], c: &mut Choices<'_>) -> Vec<u8> {
    let Some(mut p) = GroupParts::decode(base) else {
        return mutate_bytes(base.to_vec(), c);
    };
    let edits = c.byte() % 5;
    for _ in 0..edits {
        match c.byte() % 16 {
            0 => p.iteration = c.u32(),
            1 => {
                p.iteration = p
                    .iteration
                    .wrapping_add(u32::from(c.byte() % 8))
                    .wrapping_sub(2)
            }
            2 => p.chain_id = c.u32(),
            3 => p.guard = c.array::<4>().to_vec(),
            4 => {
                // A guard of another length.
                let len = usize::from(c.byte() % 9);
                p.guard.resize(len, 0xa5);
            }
            5 => flip(&mut p.ciphertext, usize::from(c.u16())),
            6 => {
                let len = usize::from(c.u16()) % (p.ciphertext.len() + 1);
                p.ciphertext.truncate(len);
            }
            7 => {
                let extra = usize::from(c.byte());
                p.ciphertext.resize(p.ciphertext.len() + extra, 0);
            }
            8 => flip(&mut p.signature, usize::from(c.u16())),
            9 => {
                let len = usize::from(c.byte() % 80);
                p.signature.resize(len, 0);
            }
            10..=15 if !donors.is_empty() => {
                let Some(d) = GroupParts::decode(donors[c.index(donors.len())]) else {
                    continue;
                };
                match c.byte() % 6 {
                    0 => p.chain_id = d.chain_id,
                    1 => p.iteration = d.iteration,
                    2 => p.guard = d.guard,
                    3 => p.ciphertext = d.ciphertext,
                    4 => p.signature = d.signature,
                    // Another body under this signature.
                    _ => {
                        p = GroupParts {
                            signature: p.signature,
                            ..d
                        }
                    }
                }
            }
            _ => {}
        }
    }
    mutate_bytes(p.encode(), c)
}

// ---------------------------------------------------------------------------------------------
// Channel control payloads taken apart (`group.proto` `ChannelControl`).

/// A sender-key distribution's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DistParts {
    pub chain_id: u32,
    pub iteration: u32,
    pub chain_key: Vec<u8>,
    pub signing_key: Vec<u8>,
}

/// A control payload's fields, as our encoder writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlParts {
    pub version: u32,
    pub channel: Vec<u8>,
    /// (roster bytes, signature)
    pub roster: Option<(Vec<u8>, Vec<u8>)>,
    pub distribution: Option<DistParts>,
    pub leave: bool,
    /// (statement bytes, signature)
    pub consent: Option<(Vec<u8>, Vec<u8>)>,
}

fn pair(b: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut out = (Vec::new(), Vec::new());
    for (f, v, _) in pb_fields(b)? {
        match f {
            1 => out.0 = bytes_of(v)?,
            2 => out.1 = bytes_of(v)?,
            _ => return None,
        }
    }
    Some(out)
}

fn encode_pair(p: &(Vec<u8>, Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, 1, &p.0);
    put_bytes(&mut out, 2, &p.1);
    out
}

impl ControlParts {
    pub fn decode(payload: &[u8]) -> Option<ControlParts> {
        let mut p = ControlParts {
            version: 0,
            channel: Vec::new(),
            roster: None,
            distribution: None,
            leave: false,
            consent: None,
        };
        for (f, v, _) in pb_fields(payload)? {
            match (f, v) {
                (1, v) => p.version = u32_of(v)?,
                (2, v) => p.channel = bytes_of(v)?,
                (3, Pb::Bytes(b)) => p.roster = Some(pair(b)?),
                (4, Pb::Bytes(b)) => {
                    let mut d = DistParts {
                        chain_id: 0,
                        iteration: 0,
                        chain_key: Vec::new(),
                        signing_key: Vec::new(),
                    };
                    for (f, v, _) in pb_fields(b)? {
                        match f {
                            1 => d.chain_id = u32_of(v)?,
                            2 => d.iteration = u32_of(v)?,
                            3 => d.chain_key = bytes_of(v)?,
                            4 => d.signing_key = bytes_of(v)?,
                            _ => return None,
                        }
                    }
                    p.distribution = Some(d);
                }
                (5, Pb::Bytes([])) => p.leave = true,
                (6, Pb::Bytes(b)) => p.consent = Some(pair(b)?),
                _ => return None,
            }
        }
        Some(p)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_uint(&mut out, 1, u64::from(self.version));
        put_bytes(&mut out, 2, &self.channel);
        if let Some(r) = &self.roster {
            put_message(&mut out, 3, &encode_pair(r));
        }
        if let Some(d) = &self.distribution {
            let mut b = Vec::new();
            put_uint(&mut b, 1, u64::from(d.chain_id));
            put_uint(&mut b, 2, u64::from(d.iteration));
            put_bytes(&mut b, 3, &d.chain_key);
            put_bytes(&mut b, 4, &d.signing_key);
            put_message(&mut out, 4, &b);
        }
        if self.leave {
            put_message(&mut out, 5, &[]);
        }
        if let Some(s) = &self.consent {
            put_message(&mut out, 6, &encode_pair(s));
        }
        out
    }
}

/// Edits a real control payload as `c` directs: field edits re-encoded canonically (parts
/// swapped between real payloads, distributions with conflicting ids, invalid or foreign keys,
/// extreme iterations, other channels and versions), then raw byte edits.
pub fn mutate_control(
    base: &[u8],
    donors: &[&[u8]],
    keys: &[[u8; 32]],
    c: &mut Choices<'_>,
) -> Vec<u8> {
    let Some(mut p) = ControlParts::decode(base) else {
        return mutate_bytes(base.to_vec(), c);
    };
    let donor = |c: &mut Choices<'_>| {
        if donors.is_empty() {
            None
        } else {
            ControlParts::decode(donors[c.index(donors.len())])
        }
    };
    let edits = c.byte() % 5;
    for _ in 0..edits {
        match c.byte() % 20 {
            0 => p.version = u32::from(c.byte() % 4),
            1 => {
                p.channel = match c.byte() % 4 {
                    0 => b"fuzz-team".to_vec(),
                    1 => b"fuzz-news".to_vec(),
                    2 => vec![c.byte(); usize::from(c.byte() % 70)],
                    _ => {
                        flip(&mut p.channel, usize::from(c.byte()));
                        p.channel.clone()
                    }
                }
            }
            2 => p.roster = donor(c).and_then(|d| d.roster),
            3 => p.distribution = donor(c).and_then(|d| d.distribution),
            4 => p.consent = donor(c).and_then(|d| d.consent),
            5 => p.leave = !p.leave,
            6 => {
                if let Some(d) = p.distribution.as_mut() {
                    d.chain_id = c.u32();
                }
            }
            7 => {
                if let (Some(d), Some(o)) = (
                    p.distribution.as_mut(),
                    donor(c).and_then(|d| d.distribution),
                ) {
                    // Another chain's id: a conflict if the key differs.
                    d.chain_id = o.chain_id;
                }
            }
            8 => {
                if let Some(d) = p.distribution.as_mut() {
                    d.iteration = match c.byte() % 4 {
                        0 => u32::MAX,
                        1 => u32::MAX - 1,
                        2 => u32::from(c.byte()),
                        _ => c.u32(),
                    };
                }
            }
            9 => {
                if let Some(d) = p.distribution.as_mut() {
                    match c.byte() % 3 {
                        0 => flip(&mut d.chain_key, usize::from(c.byte())),
                        1 => d.chain_key.resize(usize::from(c.byte() % 40), 0),
                        _ => d.chain_key = c.array::<32>().to_vec(),
                    }
                }
            }
            10 => {
                if let (Some(d), false) = (p.distribution.as_mut(), keys.is_empty()) {
                    d.signing_key = keys[c.index(keys.len())].to_vec();
                }
            }
            11 => {
                if let Some(d) = p.distribution.as_mut() {
                    d.signing_key = match c.byte() % 4 {
                        // Small order (the identity point), a non-canonical y, off the curve.
                        0 => {
                            let mut k = vec![0u8; 32];
                            k[0] = 1;
                            k
                        }
                        1 => {
                            let mut k = vec![0xff; 32];
                            k[0] = 0xee;
                            k[31] = 0x7f;
                            k
                        }
                        2 => vec![c.byte(); usize::from(c.byte() % 40)],
                        _ => {
                            flip(&mut d.signing_key, usize::from(c.byte()));
                            d.signing_key.clone()
                        }
                    };
                }
            }
            12 => {
                if let Some(r) = p.roster.as_mut() {
                    flip(&mut r.0, usize::from(c.u16()));
                }
            }
            13 => {
                if let Some(r) = p.roster.as_mut() {
                    flip(&mut r.1, usize::from(c.u16()));
                }
            }
            14 => {
                if let Some(s) = p.consent.as_mut() {
                    flip(&mut s.0, usize::from(c.u16()));
                }
            }
            15 => {
                if let Some(s) = p.consent.as_mut() {
                    flip(&mut s.1, usize::from(c.u16()));
                }
            }
            16 => p.roster = None,
            17 => p.distribution = None,
            18 => {
                // A roster's signature over another roster.
                if let (Some(r), Some(o)) = (p.roster.as_mut(), donor(c).and_then(|d| d.roster)) {
                    r.1 = o.1;
                }
            }
            _ => {
                if let Some(d) = donor(c) {
                    p = d;
                }
            }
        }
    }
    mutate_bytes(p.encode(), c)
}

// ---------------------------------------------------------------------------------------------
// The world.

/// A group message or broadcast somebody really sent.
#[derive(Clone, Debug)]
pub struct GroupSent {
    pub sender: usize,
    pub wire: Vec<u8>,
    pub plaintext: Vec<u8>,
    /// Its iteration, if it is on the receiver's known chain ([`KnownChain`]).
    pub known_iteration: Option<u32>,
}

/// Where a message stands at the receiver when the snapshot was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Sent to the receiver, not delivered yet: decrypts once (known-chain messages: as the
    /// chain model says).
    Pending,
    /// Already decrypted: never decrypts again.
    Delivered,
    /// Not for this receiver (its own, another channel's): never decrypts.
    Foreign,
}

/// A chain the sender handed the receiver whose secrets the fixture knows (the sender chose
/// them and sent its distribution over their pairwise session, as only the owner can), so a
/// check can craft validly signed messages at any iteration, with the right or a wrong key.
#[derive(Clone, Debug)]
pub struct KnownChain {
    pub sender: usize,
    pub chain_id: u32,
    pub signing_seed: [u8; 32],
    /// Chain keys at iterations `0..NEAR`.
    pub near: Vec<[u8; 32]>,
    /// Chain keys at iterations `mid_base..mid_base + FAR`: a jump there makes the receiver
    /// evict its oldest skipped keys (`MAX_SKIPPED_KEYS` per chain).
    pub mid_base: u32,
    pub mid: Vec<[u8; 32]>,
    /// Chain keys at iterations `far_base..far_base + FAR`, around the forward-jump limit.
    pub far_base: u32,
    pub far: Vec<[u8; 32]>,
    /// The receiver's view at the snapshot: the next iteration, and the skipped ones held.
    pub next: u32,
    pub skipped: Vec<u32>,
}

/// Chain keys computed near the start of a known chain.
pub const NEAR: u32 = 40;
/// Chain keys computed around each boundary.
pub const FAR: u32 = 8;

/// `count` chain keys from iteration `base` of the chain starting at `ck0`.
fn chain_keys(ck0: &[u8; 32], base: u32, count: u32) -> Vec<[u8; 32]> {
    let mut ck = *ck0;
    for _ in 0..base {
        ck = hazmat::kdf_ck(&ck).1;
    }
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(ck);
        ck = hazmat::kdf_ck(&ck).1;
    }
    out
}

impl KnownChain {
    fn new(sender: usize, chain_id: u32, ck0: [u8; 32], signing_seed: [u8; 32]) -> Self {
        KnownChain {
            sender,
            chain_id,
            signing_seed,
            near: chain_keys(&ck0, 0, NEAR),
            mid_base: 0,
            mid: Vec::new(),
            far_base: 0,
            far: Vec::new(),
            next: 0,
            skipped: Vec::new(),
        }
    }

    /// Computes the keys around the boundaries once the receiver's view is final.
    fn set_view(&mut self, next: u32, skipped: Vec<u32>) {
        self.next = next;
        self.skipped = skipped;
        self.mid_base = next + MAX_SKIPPED_KEYS as u32 - FAR / 2;
        self.mid = chain_keys(&self.near[0], self.mid_base, FAR);
        self.far_base = next + MAX_FORWARD_JUMP - FAR / 2;
        self.far = chain_keys(&self.near[0], self.far_base, FAR);
    }

    /// The chain key at `iteration`, if the fixture computed it.
    pub fn chain_key(&self, iteration: u32) -> Option<[u8; 32]> {
        if iteration < NEAR {
            return Some(self.near[iteration as usize]);
        }
        for (base, keys) in [(self.mid_base, &self.mid), (self.far_base, &self.far)] {
            if let Some(k) = iteration
                .checked_sub(base)
                .and_then(|i| keys.get(i as usize))
            {
                return Some(*k);
            }
        }
        None
    }

    pub fn signing_public(&self) -> [u8; 32] {
        hazmat::group_signing_public(&self.signing_seed)
    }
}

/// A message on chain `chain_id` at `iteration`, sealed under `chain_key` and signed with
/// `signing_seed` (a known chain's, or not); `None` for iteration `u32::MAX`.
pub fn crafted_message(
    channel: &ChannelId,
    chain_id: u32,
    iteration: u32,
    chain_key: &[u8; 32],
    signing_seed: &[u8; 32],
    guard: &[u8; 4],
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    hazmat::group_encrypt(
        channel,
        chain_id,
        iteration,
        chain_key,
        signing_seed,
        guard,
        plaintext,
    )
    .ok()
    .map(|v| v.message)
}

/// A receiver of group messages or broadcasts at the snapshot.
pub struct MessageReceiver {
    pub record: Vec<u8>,
    pub channel: ChannelId,
    pub messages: Vec<(GroupSent, Status)>,
    pub known: KnownChain,
}

/// Who processes a control payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// C's group (a member).
    Member,
    /// A's group (the admin).
    Admin,
    /// D's subscription.
    Subscriber,
    /// A's broadcast list.
    List,
    /// `Group::join`, with no prior state.
    Join,
}

pub const SLOTS: [Slot; 5] = [
    Slot::Member,
    Slot::Admin,
    Slot::Subscriber,
    Slot::List,
    Slot::Join,
];

impl Slot {
    /// The sessions (local, remote) a payload may arrive over at this slot; the last of the
    /// stateful slots' is not the receiver's own (`WrongSession`).
    pub fn sessions(self) -> &'static [(usize, usize)] {
        match self {
            Slot::Member => &[(C, A), (C, B), (C, E), (C, F), (B, A)],
            Slot::Admin => &[(A, B), (A, C), (A, E), (A, F), (C, A)],
            Slot::Subscriber => &[(D, A), (D, B), (E, A)],
            Slot::List => &[(A, D), (A, E), (A, F), (A, B), (D, A)],
            Slot::Join => &[(F, A), (C, A), (C, E), (F, B)],
        }
    }
}

/// A real control payload, the receiver and session it is delivered to.
#[derive(Clone, Debug)]
pub struct ControlSent {
    pub name: &'static str,
    pub slot: Slot,
    /// (local, remote) of the receiving session.
    pub from: (usize, usize),
    pub payload: Vec<u8>,
    /// The receiver's snapshot state accepts it.
    pub accepted: bool,
}

/// A roster somebody really signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealRoster {
    pub id: ChannelId,
    pub admin: [u8; 32],
    pub epoch: u64,
    pub members: Vec<[u8; 32]>,
}

impl RealRoster {
    pub fn of(g: &Group) -> Self {
        RealRoster {
            id: g.id().clone(),
            admin: g.admin().to_bytes(),
            epoch: g.epoch(),
            members: g.members().to_vec(),
        }
    }
}

/// A consent statement somebody really signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealStatement {
    pub customer: [u8; 32],
    pub business: [u8; 32],
    pub list: ChannelId,
    pub action: ConsentAction,
    pub time: u64,
}

pub struct GroupWorld {
    pub ids: Vec<IdentityKeyPair>,
    /// `(local, remote)`: the local party's session with the remote one.
    pub sessions: BTreeMap<(usize, usize), Session>,
    pub team: ChannelId,
    pub news: ChannelId,
    /// C's group, with group messages from A and B.
    pub member: MessageReceiver,
    /// D's subscription, with broadcasts from A.
    pub subscriber: MessageReceiver,
    /// Snapshot records of the control receivers: C's group (as `member.record`), A's group,
    /// D's subscription (as `subscriber.record`), A's list.
    pub admin_record: Vec<u8>,
    pub list_record: Vec<u8>,
    pub controls: Vec<ControlSent>,
    pub rosters: Vec<RealRoster>,
    pub statements: Vec<RealStatement>,
    /// Records of every kind and state, named: seeds for `group_state_decode`.
    pub records: Vec<(String, Vec<u8>)>,
    valid_keys: Vec<[u8; 32]>,
    /// The receivers restored from their snapshots, kept between inputs (see [`Cache`]).
    pub cached_member: Cache<Group>,
    pub cached_admin: Cache<Group>,
    pub cached_subscriber: Cache<BroadcastSubscription>,
    pub cached_list: Cache<BroadcastList>,
}

/// A receiver restored from its snapshot record, kept between inputs so that each input does
/// not pay again for the signature and point checks of a restore (most of an input's time
/// otherwise). A check takes it, and puts it back only if it is still exactly the snapshot:
/// nothing it did succeeded, and [`Fingerprint`] (its record and every derived counter the
/// API shows) equals a fresh restore's. Anything else is dropped, and the next input restores
/// afresh; so every input starts from the same state, and runs are reproducible.
pub struct Cache<T> {
    slot: Mutex<Option<T>>,
    fresh: Mutex<Option<String>>,
}

/// What a receiver shows of its state: its record and every derived counter.
pub trait Fingerprint {
    fn fingerprint(&self) -> String;
}

fn party_keys() -> &'static [IdentityKey] {
    static KEYS: OnceLock<Vec<IdentityKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..PARTIES)
            .map(|i| *IdentityKeyPair::from_seed(&party_seed(i)).public_key())
            .collect()
    })
}

fn party_seed(i: usize) -> [u8; 32] {
    [0x40 + i as u8; 32]
}

impl Fingerprint for Group {
    fn fingerprint(&self) -> String {
        let held: Vec<usize> = party_keys().iter().map(|k| self.chains_held(k)).collect();
        format!(
            "{:?} {:?} skipped={} held={held:?}",
            *self.to_bytes(),
            self,
            self.skipped_keys()
        )
    }
}

impl Fingerprint for BroadcastSubscription {
    fn fingerprint(&self) -> String {
        format!(
            "{:?} {:?} held={} subscribed={}",
            *self.to_bytes(),
            self,
            self.chains_held(),
            self.is_subscribed()
        )
    }
}

impl Fingerprint for BroadcastList {
    fn fingerprint(&self) -> String {
        let subscribers: Vec<[u8; 32]> = self.subscribers().copied().collect();
        format!(
            "{:?} {:?} count={} subscribers={subscribers:?} rekey={}",
            *self.to_bytes(),
            self,
            self.subscriber_count(),
            self.needs_rekey()
        )
    }
}

impl<T: Fingerprint> Cache<T> {
    fn new() -> Self {
        Cache {
            slot: Mutex::new(None),
            fresh: Mutex::new(None),
        }
    }

    /// The snapshot state: the kept one, or a fresh restore.
    pub fn take(&self, restore: impl FnOnce() -> T) -> T {
        let kept = self.slot.lock().map(|mut s| s.take()).unwrap_or(None);
        kept.unwrap_or_else(|| {
            let t = restore();
            if let Ok(mut f) = self.fresh.lock() {
                f.get_or_insert_with(|| t.fingerprint());
            }
            t
        })
    }

    /// Keeps `t` for the next input if it is still exactly the snapshot.
    pub fn put_back(&self, t: T) {
        let same = self
            .fresh
            .lock()
            .map(|f| f.as_deref() == Some(t.fingerprint().as_str()))
            .unwrap_or(false);
        if same && let Ok(mut s) = self.slot.lock() {
            *s = Some(t);
        }
    }
}

/// `a` opens a session to `b`: (a's side, b's side).
fn connect(a: &IdentityKeyPair, b: &IdentityKeyPair, r: &mut ChaCha20Rng) -> (Session, Session) {
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(b, 1_700_000_000, r)
        .expect("signed prekey");
    let bundle = PreKeyBundle::from_bytes(&prekeys.bundle(b, None).expect("bundle").to_bytes())
        .and_then(PreKeyBundle::verify)
        .expect("bundle verifies");
    let mut ab = Session::initiate(a, &bundle, r).expect("initiate");
    let hello = ab.encrypt(r, b"hello").expect("encrypt");
    let Ok(Envelope::PreKey(m)) = Envelope::parse(&hello) else {
        unreachable!("the first message is a prekey message")
    };
    let (ba, _) = Session::accept(b, &mut prekeys, &m).expect("accept");
    (ab, ba)
}

impl GroupWorld {
    pub fn get() -> &'static GroupWorld {
        static WORLD: OnceLock<GroupWorld> = OnceLock::new();
        WORLD.get_or_init(GroupWorld::build)
    }

    pub fn key(&self, party: usize) -> &IdentityKey {
        self.ids[party].public_key()
    }

    /// `local`'s session with `remote`.
    pub fn session(&self, local: usize, remote: usize) -> &Session {
        &self.sessions[&(local, remote)]
    }

    pub fn party(&self, key: &[u8; 32]) -> Option<usize> {
        self.ids
            .iter()
            .position(|k| k.public_key().as_bytes() == key)
    }

    /// Every message in the world (donors for splicing).
    pub fn all_messages(&self) -> Vec<&[u8]> {
        self.member
            .messages
            .iter()
            .chain(&self.subscriber.messages)
            .map(|(m, _)| m.wire.as_slice())
            .collect()
    }

    /// Every control payload in the world.
    pub fn all_controls(&self) -> Vec<&[u8]> {
        self.controls.iter().map(|c| c.payload.as_slice()).collect()
    }

    /// Valid Ed25519 keys to put into distributions: the parties' identities and the known
    /// chains' signing keys.
    pub fn valid_keys(&self) -> &[[u8; 32]] {
        &self.valid_keys
    }

    fn build() -> GroupWorld {
        let mut r = rng(0x6e0_0b5e);
        let ids: Vec<IdentityKeyPair> = (0..PARTIES)
            .map(|i| IdentityKeyPair::from_seed(&party_seed(i)))
            .collect();
        let mut sessions = BTreeMap::new();
        for i in 0..PARTIES {
            for j in i + 1..PARTIES {
                let (ij, ji) = connect(&ids[i], &ids[j], &mut r);
                sessions.insert((i, j), ij);
                sessions.insert((j, i), ji);
            }
        }
        let mut b = Builder {
            ids,
            sessions,
            r,
            controls: Vec::new(),
            rosters: Vec::new(),
            statements: Vec::new(),
            records: Vec::new(),
        };
        let team = ChannelId::new(b"fuzz-team").expect("id");
        let news = ChannelId::new(b"fuzz-news").expect("id");
        let (member, admin_record) = b.group(&team);
        assert_eq!(*restore(&member.record).to_bytes(), member.record);
        let group_message = member
            .messages
            .iter()
            .find(|(m, _)| m.sender == A)
            .expect("a message from A")
            .0
            .clone();
        let (subscriber, list_record) = b.broadcast(&news, &group_message);
        let sub = BroadcastSubscription::from_bytes(&subscriber.record).expect("restores");
        assert_eq!(*sub.to_bytes(), subscriber.record);
        assert_eq!(*restore(&admin_record).to_bytes(), admin_record);
        let list = BroadcastList::from_bytes(&list_record).expect("restores");
        assert_eq!(*list.to_bytes(), list_record);
        let mut valid_keys: Vec<[u8; 32]> =
            b.ids.iter().map(|k| k.public_key().to_bytes()).collect();
        valid_keys.push(member.known.signing_public());
        valid_keys.push(subscriber.known.signing_public());
        GroupWorld {
            valid_keys,
            ids: b.ids,
            sessions: b.sessions,
            team,
            news,
            member,
            subscriber,
            admin_record,
            list_record,
            controls: b.controls,
            rosters: b.rosters,
            statements: b.statements,
            records: b.records,
            cached_member: Cache::new(),
            cached_admin: Cache::new(),
            cached_subscriber: Cache::new(),
            cached_list: Cache::new(),
        }
    }
}

struct Builder {
    ids: Vec<IdentityKeyPair>,
    sessions: BTreeMap<(usize, usize), Session>,
    r: ChaCha20Rng,
    controls: Vec<ControlSent>,
    rosters: Vec<RealRoster>,
    statements: Vec<RealStatement>,
    records: Vec<(String, Vec<u8>)>,
}

fn restore(record: &[u8]) -> Group {
    Group::from_bytes(record).expect("our group record restores")
}

impl Builder {
    fn key(&self, i: usize) -> IdentityKey {
        *self.ids[i].public_key()
    }

    /// Carries a payload through the pairwise session `from` -> `to`; returns what `to` reads.
    fn send(&mut self, from: usize, to: usize, payload: &[u8]) -> Vec<u8> {
        let wire = self
            .sessions
            .get_mut(&(from, to))
            .expect("session")
            .encrypt(&mut self.r, payload)
            .expect("pairwise encrypt");
        let read = self
            .sessions
            .get_mut(&(to, from))
            .expect("session")
            .decrypt(&wire)
            .expect("pairwise decrypt");
        assert_eq!(read, payload);
        read
    }

    /// Seals a fanout for each recipient over its session: (recipient, payload it reads).
    fn deliver(&mut self, from: usize, f: &Fanout) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        for key in f.recipients().to_vec() {
            let to = self
                .ids
                .iter()
                .position(|k| k.public_key().as_bytes() == &key)
                .expect("a party");
            let wire = f
                .seal_for(
                    self.sessions.get_mut(&(from, to)).expect("session"),
                    &mut self.r,
                )
                .expect("seal");
            let read = self
                .sessions
                .get_mut(&(to, from))
                .expect("session")
                .decrypt(&wire)
                .expect("pairwise decrypt");
            out.push((to, read));
        }
        out
    }

    /// The one payload of `fanouts` that goes to `to`.
    fn payload_for(&mut self, from: usize, fanouts: &[Fanout], to: usize) -> Vec<u8> {
        let key = self.key(to).to_bytes();
        let f = fanouts
            .iter()
            .find(|f| f.recipients().contains(&key))
            .expect("a fanout for the recipient");
        self.deliver(from, f)
            .into_iter()
            .find(|(t, _)| *t == to)
            .expect("delivered")
            .1
    }

    fn control(
        &mut self,
        name: &'static str,
        slot: Slot,
        from: (usize, usize),
        payload: &[u8],
        accepted: bool,
    ) {
        self.controls.push(ControlSent {
            name,
            slot,
            from,
            payload: payload.to_vec(),
            accepted,
        });
    }

    fn record(&mut self, name: &str, bytes: &[u8]) {
        self.records.push((name.to_string(), bytes.to_vec()));
    }

    /// The group conversation. Returns C's view with its messages, and A's record.
    fn group(&mut self, team: &ChannelId) -> (MessageReceiver, Vec<u8>) {
        // A creates {A, B, C}; B and C join; everyone's chain reaches everyone.
        let members = [self.key(B), self.key(C)];
        let (mut ga, invites) =
            Group::create(&self.ids[A], team.clone(), &members, &mut self.r).expect("create");
        self.rosters.push(RealRoster::of(&ga));
        let invite = invites[0].expose_payload().to_vec();
        let mut joined = Vec::new();
        for (to, payload) in self.deliver(A, &invites[0]) {
            let (g, replies) =
                Group::join(&self.sessions[&(to, A)], &payload, &mut self.r).expect("join");
            joined.push((to, g, replies));
        }
        let at = |joined: &[(usize, Group, Vec<Fanout>)], who| {
            joined
                .iter()
                .position(|(to, _, _)| *to == who)
                .expect("joined")
        };
        let (_, mut gb, b_replies) = joined.remove(at(&joined, B));
        let (_, mut gc, c_replies) = joined.remove(at(&joined, C));
        let b_reply = b_replies[0].expose_payload().to_vec();
        let c_reply = c_replies[0].expose_payload().to_vec();
        for (to, payload) in self.deliver(B, &b_replies[0]) {
            let g = if to == A { &mut ga } else { &mut gc };
            let got = g
                .receive(&self.sessions[&(to, B)], &payload, &mut self.r)
                .expect("receive");
            assert!(got.sender_key.is_some());
        }
        for (to, payload) in self.deliver(C, &c_replies[0]) {
            let g = if to == A { &mut ga } else { &mut gb };
            g.receive(&self.sessions[&(to, C)], &payload, &mut self.r)
                .expect("receive");
        }

        // Messages from B (C reads 0, 1, 3) and A (C reads 1).
        let mut messages = Vec::new();
        let mut b_msgs = Vec::new();
        for i in 0..6 {
            let text = format!("B to the team #{i}").into_bytes();
            let wire = gb.encrypt(&mut self.r, &text).expect("encrypt");
            b_msgs.push(sent(B, wire, text, None));
        }
        let mut a_msgs = Vec::new();
        for i in 0..2 {
            let text = format!("A to the team #{i}: {}", "x".repeat(60 * i)).into_bytes();
            let wire = ga.encrypt(&mut self.r, &text).expect("encrypt");
            a_msgs.push(sent(A, wire, text, None));
        }
        for (list, read) in [(&b_msgs, &[0, 1, 3][..]), (&a_msgs, &[1][..])] {
            for (i, m) in list.iter().enumerate() {
                if read.contains(&i) {
                    let text = gc.decrypt(&self.key(m.sender), &m.wire).expect("C reads");
                    assert_eq!(text, m.plaintext);
                    messages.push((m.clone(), Status::Delivered));
                } else {
                    messages.push((m.clone(), Status::Pending));
                }
            }
        }

        // B hands C a chain whose secrets we know; C reads its iterations 0 and 2.
        let mut known = KnownChain::new(B, 0x4b4e_0001, [0x4b; 32], [0x5e; 32]);
        let known_dist = hazmat::group_distribution_payload(
            team,
            known.chain_id,
            0,
            &known.near[0],
            &known.signing_public(),
        );
        let read = self.send(B, C, &known_dist);
        let got = gc
            .receive(&self.sessions[&(C, B)], &read, &mut self.r)
            .expect("receive");
        assert_eq!(got.sender_key, Some(known.chain_id));
        for i in 0..4u32 {
            let text = format!("known chain, iteration {i}").into_bytes();
            let guard = [i as u8, 1, 2, 3];
            let wire = crafted_message(
                team,
                known.chain_id,
                i,
                &known.near[i as usize],
                &known.signing_seed,
                &guard,
                &text,
            )
            .expect("encrypt");
            let m = sent(B, wire, text, Some(i));
            if i % 2 == 0 {
                assert_eq!(
                    gc.decrypt(&self.key(B), &m.wire).expect("C reads"),
                    m.plaintext
                );
                messages.push((m, Status::Delivered));
            } else {
                messages.push((m, Status::Pending));
            }
        }
        known.set_view(3, vec![1]);

        // B starts a new chain; C holds both, and a message on the new one is in flight.
        let b_rekey = gb.rekey(&mut self.r).expect("rekey");
        let b_rekey_payload = b_rekey.expose_payload().to_vec();
        let read = self.payload_for(B, std::slice::from_ref(&b_rekey), C);
        gc.receive(&self.sessions[&(C, B)], &read, &mut self.r)
            .expect("receive");
        let text = b"B on its second chain".to_vec();
        let wire = gb.encrypt(&mut self.r, &text).expect("encrypt");
        messages.push((sent(B, wire, text, None), Status::Pending));
        // Never for C: its own message, and one of the rival group below.
        let text = b"C's own message".to_vec();
        let wire = gc.encrypt(&mut self.r, &text).expect("encrypt");
        messages.push((sent(C, wire, text, None), Status::Foreign));

        let member_record = gc.to_bytes().to_vec();
        self.record("group-member", &member_record);

        // After the snapshot. A adds F: a roster for B and C, an invitation for F.
        let add = ga.add(&self.ids[A], &[self.key(F)]).expect("add");
        self.rosters.push(RealRoster::of(&ga));
        let admin_record = ga.to_bytes().to_vec();
        self.record("group-admin", &admin_record);
        // A keeps writing on its chain: one more message C has not seen.
        let text = b"A, after adding F".to_vec();
        let wire = ga.encrypt(&mut self.r, &text).expect("encrypt");
        messages.push((sent(A, wire, text, None), Status::Pending));
        let roster_e2 = self.payload_for(A, &add, C);
        let invite_f = self.payload_for(A, &add, F);
        let to_b = self.payload_for(A, &add, B);
        gb.receive(&self.sessions[&(B, A)], &to_b, &mut self.r)
            .expect("B applies the roster");
        let (gf, f_replies) =
            Group::join(&self.sessions[&(F, A)], &invite_f, &mut self.r).expect("F joins");
        let f_reply = f_replies[0].expose_payload().to_vec();
        self.record("group-joined", &gf.to_bytes());

        // A (on a copy) removes B: a new roster and A's new chain for C and F.
        let mut ga2 = restore(&admin_record);
        let remove = ga2
            .remove(&self.ids[A], &[self.key(B)], &mut self.r)
            .expect("remove");
        self.rosters.push(RealRoster::of(&ga2));
        let roster_e3 = self.payload_for(A, &remove, C);
        let to_b = self.payload_for(A, &remove, B);
        let got = gb
            .receive(&self.sessions[&(B, A)], &to_b, &mut self.r)
            .expect("B applies its removal");
        assert!(got.removed_from_group);
        self.record("group-removed", &gb.to_bytes());
        self.record("group-admin-after-remove", &ga2.to_bytes());

        // C (on a copy) leaves.
        let mut gc2 = restore(&member_record);
        let leave = gc2.leave().expect("leave");
        let leave_payload = leave.expose_payload().to_vec();
        self.record("group-left", &gc2.to_bytes());

        // E's rival group with the same id, and E's invitation to C.
        let rivals = [self.key(A), self.key(B), self.key(C)];
        let (mut ge, e_invites) =
            Group::create(&self.ids[E], team.clone(), &rivals, &mut self.r).expect("create");
        self.rosters.push(RealRoster::of(&ge));
        let e_invite = self.payload_for(E, &e_invites, C);
        let text = b"E to the rival group".to_vec();
        let wire = ge.encrypt(&mut self.r, &text).expect("encrypt");
        messages.push((sent(E, wire, text, None), Status::Foreign));
        self.record("group-rival", &ge.to_bytes());

        use Slot::{Admin, Join, Member};
        // C's snapshot (epoch 1, holds A's chain, B's two chains and the known chain).
        self.control("member-roster-add", Member, (C, A), &roster_e2, true);
        self.control("member-roster-remove", Member, (C, A), &roster_e3, true);
        self.control(
            "member-rekey-replayed",
            Member,
            (C, B),
            &b_rekey_payload,
            true,
        );
        self.control("member-known-replayed", Member, (C, B), &known_dist, true);
        self.control(
            "member-first-reply-replayed",
            Member,
            (C, B),
            &b_reply,
            true,
        );
        self.control("member-invite-stale", Member, (C, A), &invite, false);
        self.control("member-f-before-roster", Member, (C, F), &f_reply, false);
        self.control("member-rival-roster", Member, (C, E), &e_invite, false);
        self.control(
            "member-leave-not-admin",
            Member,
            (C, A),
            &leave_payload,
            false,
        );
        // A's snapshot (epoch 2, F added, B's second chain not yet received).
        self.control("admin-f-reply", Admin, (A, F), &f_reply, true);
        self.control("admin-b-rekey", Admin, (A, B), &b_rekey_payload, true);
        self.control("admin-leave", Admin, (A, C), &leave_payload, true);
        self.control("admin-c-reply-replayed", Admin, (A, C), &c_reply, true);
        self.control("admin-outsider", Admin, (A, E), &e_invite, false);
        self.control("admin-own-roster", Admin, (A, B), &roster_e2, false);
        // Joining.
        self.control("join-f", Join, (F, A), &invite_f, true);
        self.control("join-c-again", Join, (C, A), &invite, true);
        self.control("join-c-rival", Join, (C, E), &e_invite, true);
        self.control("join-f-not-from-admin", Join, (F, B), &invite_f, false);
        self.control("join-roster-only", Join, (C, A), &roster_e2, true);

        let member = MessageReceiver {
            record: member_record,
            channel: team.clone(),
            messages,
            known,
        };
        (member, admin_record)
    }

    /// A consent statement from `customer` to A, as A reads it.
    fn consent(
        &mut self,
        customer: usize,
        news: &ChannelId,
        action: ConsentAction,
        time: u64,
    ) -> Vec<u8> {
        let list = news.clone();
        let payload = consent_payload(
            &self.ids[customer],
            &self.sessions[&(customer, A)],
            &list,
            action,
            time,
        )
        .expect("consent");
        self.statements.push(RealStatement {
            customer: self.key(customer).to_bytes(),
            business: self.key(A).to_bytes(),
            list,
            action,
            time,
        });
        self.send(customer, A, &payload)
    }

    /// The broadcast list. Returns D's view with its broadcasts, and the list's record.
    fn broadcast(
        &mut self,
        news: &ChannelId,
        group_message: &GroupSent,
    ) -> (MessageReceiver, Vec<u8>) {
        let mut list = BroadcastList::new(&self.key(A), news.clone());
        let mut subs = Vec::new();
        let mut opt_ins = Vec::new();
        for (customer, time) in [(D, 1_000), (E, 1_001)] {
            let (sub, payload) = BroadcastSubscription::subscribe(
                &self.ids[customer],
                &self.sessions[&(customer, A)],
                news.clone(),
                time,
            )
            .expect("subscribe");
            self.statements.push(RealStatement {
                customer: self.key(customer).to_bytes(),
                business: self.key(A).to_bytes(),
                list: news.clone(),
                action: ConsentAction::Subscribe,
                time,
            });
            let read = self.send(customer, A, &payload);
            let outcome = list
                .receive(&self.sessions[&(A, customer)], &read)
                .expect("consent");
            assert!(matches!(outcome, ConsentOutcome::Subscribed { .. }));
            subs.push(sub);
            opt_ins.push(read);
        }
        let (mut sd, mut se) = (subs.remove(0), subs.remove(0));
        let l1 = list.rekey(&mut self.r);
        let l1_payload = l1.expose_payload().to_vec();
        for (to, payload) in self.deliver(A, &l1) {
            let sub = if to == D { &mut sd } else { &mut se };
            sub.receive(&self.sessions[&(to, A)], &payload)
                .expect("distribution");
        }
        let mut messages = Vec::new();
        for i in 0..5 {
            let text = format!("news #{i}").into_bytes();
            let wire = list.broadcast(&mut self.r, &text).expect("broadcast");
            let m = sent(A, wire, text, None);
            if i == 0 || i == 2 {
                assert_eq!(sd.decrypt(&m.wire).expect("D reads"), m.plaintext);
                messages.push((m, Status::Delivered));
            } else {
                messages.push((m, Status::Pending));
            }
        }

        // A hands D a chain whose secrets we know; D reads its iterations 0 and 2.
        let mut known = KnownChain::new(A, 0x6e65_0001, [0x6b; 32], [0x7e; 32]);
        let known_dist = hazmat::group_distribution_payload(
            news,
            known.chain_id,
            0,
            &known.near[0],
            &known.signing_public(),
        );
        let read = self.send(A, D, &known_dist);
        assert_eq!(
            sd.receive(&self.sessions[&(D, A)], &read),
            Ok(known.chain_id)
        );
        for i in 0..4u32 {
            let text = format!("known broadcast chain, iteration {i}").into_bytes();
            let guard = [9, i as u8, 9, 9];
            let wire = crafted_message(
                news,
                known.chain_id,
                i,
                &known.near[i as usize],
                &known.signing_seed,
                &guard,
                &text,
            )
            .expect("encrypt");
            let m = sent(A, wire, text, Some(i));
            if i % 2 == 0 {
                assert_eq!(sd.decrypt(&m.wire).expect("D reads"), m.plaintext);
                messages.push((m, Status::Delivered));
            } else {
                messages.push((m, Status::Pending));
            }
        }
        known.set_view(3, vec![1]);

        // E withdraws; the list rekeys for D; a broadcast on the new chain is in flight.
        let opt_out = se.unsubscribe(&self.ids[E], 2_000).expect("unsubscribe");
        self.statements.push(RealStatement {
            customer: self.key(E).to_bytes(),
            business: self.key(A).to_bytes(),
            list: news.clone(),
            action: ConsentAction::Unsubscribe,
            time: 2_000,
        });
        let opt_out = self.send(E, A, &opt_out);
        let outcome = list
            .receive(&self.sessions[&(A, E)], &opt_out)
            .expect("withdrawal");
        assert!(matches!(outcome, ConsentOutcome::Unsubscribed { .. }));
        self.record("subscription-withdrawn", &se.to_bytes());
        let l2 = list.rekey(&mut self.r);
        let l2_payload = l2.expose_payload().to_vec();
        let read = self.payload_for(A, std::slice::from_ref(&l2), D);
        sd.receive(&self.sessions[&(D, A)], &read)
            .expect("distribution");
        let text = b"news on the second chain".to_vec();
        let wire = list.broadcast(&mut self.r, &text).expect("broadcast");
        messages.push((sent(A, wire, text, None), Status::Pending));
        // Never for D: a group message under the same business key.
        messages.push((group_message.clone(), Status::Foreign));

        let sub_record = sd.to_bytes().to_vec();
        let list_record = list.to_bytes().to_vec();
        self.record("subscription", &sub_record);
        self.record("list", &list_record);
        self.record("audit-log", &list.audit_log().to_bytes());
        self.record(
            "audit-log-one-customer",
            &list.audit_log().for_customer(&self.key(E)).to_bytes(),
        );
        for (i, e) in list.audit_log().entries().iter().enumerate() {
            self.record(&format!("consent-evidence-{i}"), &e.to_evidence());
        }
        let mut taken = BroadcastList::from_bytes(&list_record).expect("restores");
        let _ = taken.take_audit_log();
        self.record("list-log-taken", &taken.to_bytes());
        self.record(
            "list-empty",
            &BroadcastList::new(&self.key(A), news.clone()).to_bytes(),
        );

        // After the snapshot: the list (on a copy) rekeys again for D.
        let mut list2 = BroadcastList::from_bytes(&list_record).expect("restores");
        let l3 = list2.rekey(&mut self.r);
        let l3_payload = self.payload_for(A, std::slice::from_ref(&l3), D);
        let b_dist = hazmat::group_distribution_payload(
            news,
            7,
            0,
            &[0x42; 32],
            &hazmat::group_signing_public(&[0x24; 32]),
        );
        let d_out = self.consent(D, news, ConsentAction::Unsubscribe, 3_000);
        let e_back = self.consent(E, news, ConsentAction::Subscribe, 3_001);
        let f_in = self.consent(F, news, ConsentAction::Subscribe, 5);
        let other_list = ChannelId::new(b"fuzz-other").expect("id");
        let d_other = consent_payload(
            &self.ids[D],
            &self.sessions[&(D, A)],
            &other_list,
            ConsentAction::Subscribe,
            9,
        )
        .expect("consent");
        self.statements.push(RealStatement {
            customer: self.key(D).to_bytes(),
            business: self.key(A).to_bytes(),
            list: other_list,
            action: ConsentAction::Subscribe,
            time: 9,
        });

        use Slot::{List, Subscriber};
        self.control("subscriber-rekey", Subscriber, (D, A), &l3_payload, true);
        self.control(
            "subscriber-first-replayed",
            Subscriber,
            (D, A),
            &l1_payload,
            true,
        );
        self.control(
            "subscriber-second-replayed",
            Subscriber,
            (D, A),
            &l2_payload,
            true,
        );
        self.control(
            "subscriber-known-replayed",
            Subscriber,
            (D, A),
            &known_dist,
            true,
        );
        self.control(
            "subscriber-not-business",
            Subscriber,
            (D, B),
            &b_dist,
            false,
        );
        self.control("list-unsubscribe", List, (A, D), &d_out, true);
        self.control("list-resubscribe", List, (A, E), &e_back, true);
        self.control("list-new-customer", List, (A, F), &f_in, true);
        self.control("list-replayed-opt-in", List, (A, D), &opt_ins[0], false);
        self.control("list-replayed-opt-out", List, (A, E), &opt_out, false);
        self.control("list-other-list", List, (A, D), &d_other, false);
        self.control("list-forwarded", List, (A, E), &d_out, false);

        let subscriber = MessageReceiver {
            record: sub_record,
            channel: news.clone(),
            messages,
            known,
        };
        (subscriber, list_record)
    }
}

fn sent(sender: usize, wire: Vec<u8>, plaintext: Vec<u8>, known: Option<u32>) -> GroupSent {
    GroupSent {
        sender,
        wire,
        plaintext,
        known_iteration: known,
    }
}

/// What the receiver's known chain accepts: mirrors `ChainStore::decrypt` (a skipped
/// iteration, or one ahead within `MAX_FORWARD_JUMP`; jumps keep the newest
/// `MAX_SKIPPED_KEYS` skipped keys per chain).
#[derive(Clone, Debug)]
pub struct ChainModel {
    pub next: u32,
    pub skipped: std::collections::BTreeSet<u32>,
}

impl ChainModel {
    pub fn new(k: &KnownChain) -> Self {
        ChainModel {
            next: k.next,
            skipped: k.skipped.iter().copied().collect(),
        }
    }

    pub fn accepts(&self, iteration: u32) -> bool {
        if iteration == u32::MAX {
            return false;
        }
        if iteration < self.next {
            return self.skipped.contains(&iteration);
        }
        iteration - self.next <= MAX_FORWARD_JUMP
    }

    /// Records that `iteration` decrypted.
    pub fn consume(&mut self, iteration: u32) {
        if iteration < self.next {
            self.skipped.remove(&iteration);
            return;
        }
        let keep = MAX_SKIPPED_KEYS as u32;
        let from = self.next.max(iteration.saturating_sub(keep));
        self.skipped.extend(from..iteration);
        self.next = iteration + 1;
        while self.skipped.len() > MAX_SKIPPED_KEYS {
            self.skipped.pop_first();
        }
    }
}
