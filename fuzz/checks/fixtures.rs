//! Deterministic fixtures and message surgery shared by the fuzz checks.
//!
//! Each check includes this file with `#[path]`, so it compiles both in the cargo-fuzz crate
//! and in the stable corpus-replay test (`tests/fuzz_corpus.rs`). Everything is built from
//! fixed seeds, once per process: the same input always takes the same path.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sealpost::consts::KEM_CIPHERTEXT_LEN;
use sealpost::hazmat;
use sealpost::{
    Envelope, IdentityKeyPair, PostQuantum, PreKeyBundle, PreKeys, Session, VerifiedBundle,
};

/// A deterministic RNG.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// `Debug` of the parsed envelope: equal strings mean equal semantic content *and* equal
/// authenticated bytes (header bytes and ciphertext as sent). `None` if it does not parse.
pub fn parsed(wire: &[u8]) -> Option<String> {
    Envelope::parse(wire).ok().map(|e| format!("{e:?}"))
}

// ---------------------------------------------------------------------------------------------
// Known bugs in src/ (fuzz/known-bugs/README.md), tolerated until fixed so that the fuzzers
// keep looking for new ones. `tests/fuzz_corpus.rs` `known_bugs` sets STRICT to show them.

/// Tolerate no known bug.
pub static STRICT: AtomicBool = AtomicBool::new(true);

/// Which known bug a message variant may exercise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownBug {
    /// KB-1: a prekey message whose base key differs in bit 255 only (ignored by X25519) is
    /// accepted as a new handshake: a tampered message starts a session, and a replay gets
    /// past the accepted-base-key check.
    BaseKeyHighBit,
    /// KB-2: for an existing session, the envelope around the inner ratchet message is not
    /// bound to it: a prekey message is decrypted whatever its signed and one-time prekey ids
    /// say, or with its prekey wrapper removed, and a plain message with a prekey wrapper
    /// (carrying the session's identity and base key) added.
    UnboundPreKeyFields,
}

/// Whether `variant` (which the receiver accepted) differs from the real message `original`
/// only in the way `bug` lets through. Always false in STRICT mode.
pub fn known_bug_variant(original: &[u8], variant: &[u8], bug: KnownBug) -> bool {
    // KB-2 is settled by design (PROTOCOL.md §6.1): the prekey wrapper is framing, checked
    // against the session's identity, base key and prekey ids; adding or removing it around an
    // authentic inner message is accepted. KB-1 is fixed and never tolerated in STRICT mode.
    if STRICT.load(Ordering::Relaxed) && bug == KnownBug::BaseKeyHighBit {
        return false;
    }
    let (Ok(v), Some(mut p)) = (Envelope::parse(variant), Parts::decode(original)) else {
        return false;
    };
    match (bug, v) {
        (KnownBug::BaseKeyHighBit, Envelope::PreKey(v)) => {
            let Some(pk) = p.prekey.as_mut() else {
                return false;
            };
            let mut masked = *v.base_key();
            masked[31] &= 0x7f;
            let mut ours = pk.base_key;
            ours[31] &= 0x7f;
            if masked != ours {
                return false;
            }
            pk.base_key = *v.base_key();
        }
        (KnownBug::UnboundPreKeyFields, Envelope::PreKey(v)) => {
            p.prekey = Some(PreKeyPart {
                identity: v.sender_identity().to_bytes(),
                base_key: *v.base_key(),
                signed_prekey_id: v.signed_prekey_id(),
                one_time_prekey_id: v.one_time_prekey_id(),
                kem: v
                    .kem_prekey_id()
                    .zip(v.kem_ciphertext().map(|c| c.to_vec())),
            });
        }
        (KnownBug::UnboundPreKeyFields, Envelope::Ratchet(_)) => p.prekey = None,
        _ => return false,
    }
    parsed(&p.encode()) == parsed(variant)
}

/// Reads fuzz input as a stream of choices; reading past the end yields zeros.
pub struct Choices<'a> {
    data: &'a [u8],
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Choices { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        for b in &mut a {
            *b = self.byte();
        }
        a
    }

    /// An index below `len` (which must be non-zero).
    pub fn index(&mut self, len: usize) -> usize {
        usize::from(self.u16()) % len
    }
}

// ---------------------------------------------------------------------------------------------
// Message surgery: our own messages decomposed into fields, edited, and re-encoded with hazmat.

enum Field<'a> {
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

/// Fields of a protobuf message with only varint and length-delimited fields.
fn fields(mut buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        match key & 7 {
            0 => out.push((key >> 3, Field::Varint(varint(&mut buf)?))),
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                if len > buf.len() {
                    return None;
                }
                let (v, rest) = buf.split_at(len);
                buf = rest;
                out.push((key >> 3, Field::Bytes(v)));
            }
            _ => return None,
        }
    }
    Some(out)
}

fn arr<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
    b.try_into().ok()
}

/// The handshake fields of a prekey message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyPart {
    pub identity: [u8; 32],
    pub base_key: [u8; 32],
    pub signed_prekey_id: u32,
    pub one_time_prekey_id: Option<u32>,
    /// PQXDH: ML-KEM prekey id and ciphertext (1088 bytes).
    pub kem: Option<(u32, Vec<u8>)>,
}

/// A wire message taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts {
    pub prekey: Option<PreKeyPart>,
    pub ratchet_key: [u8; 32],
    pub pn: u32,
    pub n: u32,
    pub guard: [u8; 4],
    pub tag: [u8; 8],
    pub ciphertext: Vec<u8>,
}

impl Parts {
    /// Decomposes a message this crate encoded (canonical protobuf); `None` for anything else.
    pub fn decode(wire: &[u8]) -> Option<Parts> {
        let mut prekey = None;
        let mut body = None;
        for (f, v) in fields(wire)? {
            match (f, v) {
                (1, Field::Varint(1)) => {}
                (2, Field::Bytes(p)) => {
                    let mut part = PreKeyPart {
                        identity: [0; 32],
                        base_key: [0; 32],
                        signed_prekey_id: 0,
                        one_time_prekey_id: None,
                        kem: None,
                    };
                    let mut kem_id = None;
                    let mut kem_ct = None;
                    for (f, v) in fields(p)? {
                        match (f, v) {
                            (1, Field::Bytes(b)) => part.identity = arr(b)?,
                            (2, Field::Bytes(b)) => part.base_key = arr(b)?,
                            (3, Field::Varint(x)) => part.signed_prekey_id = x.try_into().ok()?,
                            (4, Field::Varint(x)) => {
                                part.one_time_prekey_id = Some(x.try_into().ok()?);
                            }
                            (5, Field::Bytes(b)) => body = Some(b),
                            (6, Field::Varint(x)) => kem_id = Some(u32::try_from(x).ok()?),
                            (7, Field::Bytes(b)) if b.len() == KEM_CIPHERTEXT_LEN => {
                                kem_ct = Some(b.to_vec());
                            }
                            _ => return None,
                        }
                    }
                    part.kem = match (kem_id, kem_ct) {
                        (None, None) => None,
                        (Some(id), Some(ct)) => Some((id, ct)),
                        _ => return None,
                    };
                    prekey = Some(part);
                }
                (3, Field::Bytes(b)) => body = Some(b),
                _ => return None,
            }
        }
        let mut header = None;
        let mut ciphertext = None;
        for (f, v) in fields(body?)? {
            match (f, v) {
                (1, Field::Bytes(h)) => header = Some(h),
                (2, Field::Bytes(c)) => ciphertext = Some(c.to_vec()),
                _ => return None,
            }
        }
        let mut parts = Parts {
            prekey,
            ratchet_key: [0; 32],
            pn: 0,
            n: 0,
            guard: [0; 4],
            tag: [0; 8],
            ciphertext: ciphertext?,
        };
        for (f, v) in fields(header?)? {
            match (f, v) {
                (1, Field::Bytes(b)) => parts.ratchet_key = arr(b)?,
                (2, Field::Varint(x)) => parts.pn = x.try_into().ok()?,
                (3, Field::Varint(x)) => parts.n = x.try_into().ok()?,
                (4, Field::Bytes(b)) => parts.guard = arr(b)?,
                (5, Field::Bytes(b)) => parts.tag = arr(b)?,
                _ => return None,
            }
        }
        Some(parts)
    }

    pub fn header(&self) -> Vec<u8> {
        hazmat::encode_header(&self.ratchet_key, self.pn, self.n, &self.guard, &self.tag)
    }

    pub fn encode(&self) -> Vec<u8> {
        let prekey = self.prekey.as_ref().map(|p| {
            (
                p.identity,
                p.base_key,
                p.signed_prekey_id,
                p.one_time_prekey_id,
            )
        });
        let kem = self
            .prekey
            .as_ref()
            .and_then(|p| p.kem.as_ref())
            .and_then(|(id, ct)| Some((*id, <[u8; KEM_CIPHERTEXT_LEN]>::try_from(&ct[..]).ok()?)));
        hazmat::encode_envelope_with_kem(prekey, kem, &self.header(), &self.ciphertext)
    }
}

fn flip(bytes: &mut [u8], bit: usize) {
    if !bytes.is_empty() {
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
}

/// Edits a real message as `c` directs: first field-level edits re-encoded canonically (so the
/// fuzzer reaches the checks behind parsing), then raw byte edits. `donors` are other real
/// messages whose parts may be spliced in; `identities` are valid identity keys to swap in.
pub fn mutate_message(
    base: &[u8],
    donors: &[&[u8]],
    identities: &[[u8; 32]],
    c: &mut Choices<'_>,
) -> Vec<u8> {
    let Some(mut p) = Parts::decode(base) else {
        return mutate_bytes(base.to_vec(), c);
    };
    let edits = c.byte() % 6;
    for _ in 0..edits {
        match c.byte() % 23 {
            0 => p.n = c.u32(),
            1 => p.n = p.n.wrapping_add(u32::from(c.byte() % 8)).wrapping_sub(2),
            2 => p.pn = c.u32(),
            3 => p.pn = p.pn.wrapping_add(u32::from(c.byte() % 8)).wrapping_sub(2),
            4 => flip(&mut p.ratchet_key, usize::from(c.byte())),
            5 => p.guard = c.array(),
            6 => flip(&mut p.tag, usize::from(c.byte())),
            7 => {
                let len = usize::from(c.u16()) % (p.ciphertext.len() + 1);
                p.ciphertext.truncate(len);
            }
            8 => flip(&mut p.ciphertext, usize::from(c.u16())),
            9 => {
                let extra = usize::from(c.byte());
                p.ciphertext.resize(p.ciphertext.len() + extra, 0);
            }
            10 => {
                if let Some(pk) = p.prekey.as_mut() {
                    flip(&mut pk.base_key, usize::from(c.byte()));
                }
            }
            11 => {
                if let (Some(pk), false) = (p.prekey.as_mut(), identities.is_empty()) {
                    pk.identity = identities[c.index(identities.len())];
                }
            }
            12 => {
                if let Some(pk) = p.prekey.as_mut() {
                    pk.signed_prekey_id = u32::from(c.byte() % 4);
                }
            }
            13 => {
                if let Some(pk) = p.prekey.as_mut() {
                    pk.one_time_prekey_id = match c.byte() % 4 {
                        0 => None,
                        x => Some(u32::from(x - 1)),
                    };
                }
            }
            14 => p.prekey = None,
            20 => {
                if let Some((_, ct)) = p.prekey.as_mut().and_then(|pk| pk.kem.as_mut()) {
                    flip(ct, usize::from(c.u16()));
                }
            }
            21 => {
                if let Some((id, _)) = p.prekey.as_mut().and_then(|pk| pk.kem.as_mut()) {
                    *id = u32::from(c.byte() % 8);
                }
            }
            22 => {
                if let Some(pk) = p.prekey.as_mut() {
                    pk.kem = None;
                }
            }
            15..=19 if !donors.is_empty() => {
                let Some(d) = Parts::decode(donors[c.index(donors.len())]) else {
                    continue;
                };
                match c.byte() % 4 {
                    0 => p.prekey = d.prekey,
                    1 => {
                        p.ratchet_key = d.ratchet_key;
                        p.tag = d.tag;
                    }
                    2 => {
                        p.pn = d.pn;
                        p.n = d.n;
                        p.guard = d.guard;
                    }
                    _ => p.ciphertext = d.ciphertext,
                }
            }
            _ => {}
        }
    }
    mutate_bytes(p.encode(), c)
}

/// Raw byte edits: bit flips, byte writes, insertions, deletions, truncation.
pub fn mutate_bytes(mut b: Vec<u8>, c: &mut Choices<'_>) -> Vec<u8> {
    let edits = c.byte() % 4;
    for _ in 0..edits {
        let op = c.byte() % 5;
        let at = usize::from(c.u16());
        match op {
            0 => flip(&mut b, at),
            1 if !b.is_empty() => {
                let i = at % b.len();
                b[i] = c.byte();
            }
            2 => {
                let i = at % (b.len() + 1);
                b.insert(i, c.byte());
            }
            3 if !b.is_empty() => {
                let i = at % b.len();
                let n = usize::from(c.byte() % 8).min(b.len() - i);
                b.drain(i..i + n);
            }
            4 => b.truncate(at % (b.len() + 1)),
            _ => {}
        }
    }
    b
}

// ---------------------------------------------------------------------------------------------
// The world: a responder with prekeys, initiators, real messages, an established session pair.

/// A message somebody really sent.
pub struct Sent {
    pub wire: Vec<u8>,
    pub plaintext: Vec<u8>,
    /// [`parsed`] of `wire`.
    pub parsed: String,
}

impl Sent {
    fn new(wire: Vec<u8>, plaintext: &[u8]) -> Self {
        let parsed = parsed(&wire).expect("a message we sent parses");
        Sent {
            wire,
            plaintext: plaintext.to_vec(),
            parsed,
        }
    }
}

/// A prekey message, and the initiator's session just after sending it.
pub struct Handshake {
    pub message: Sent,
    pub initiator: Session,
}

/// Which side of the established pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Alice,
    Bob,
}

pub struct World {
    /// The responder ("business").
    pub bob: IdentityKeyPair,
    /// Bob's prekeys, post-quantum `Offered` so that both handshakes reach their deepest
    /// checks: one signed prekey (id 0) with its last-resort ML-KEM prekey (KEM id 0),
    /// one-time prekeys 0..4, one-time ML-KEM prekeys 1 and 2, nothing accepted yet.
    pub bob_prekeys: PreKeys,
    /// Bob's published bundles: without a one-time prekey, then with one-time prekeys 0..4
    /// (all with the last-resort ML-KEM prekey); then with one-time ML-KEM prekeys 1 and 2;
    /// then a classical one (its ML-KEM fields stripped, as an older directory would serve).
    pub bundles: Vec<Vec<u8>>,
    pub alice: IdentityKeyPair,
    pub mallory: IdentityKeyPair,
    /// Prekey messages to Bob that he has not accepted (from Alice with OPK 0, twice; Mallory
    /// without OPK; Alice again with OPK 1; Mallory with one-time ML-KEM prekey 2; Alice
    /// classical, from the stripped bundle). All but the last are PQXDH.
    pub handshakes: Vec<Handshake>,
    /// An established pair with messages in flight both ways (see [`build_pair`]).
    pub alice_session: Session,
    pub bob_session: Session,
    /// Bob's prekeys after accepting the pair's first message.
    pub bob_prekeys_after: PreKeys,
    /// Undelivered messages to Alice and to Bob.
    pub to_alice: Vec<Sent>,
    pub to_bob: Vec<Sent>,
}

impl World {
    pub fn get() -> &'static World {
        static WORLD: OnceLock<World> = OnceLock::new();
        WORLD.get_or_init(World::build)
    }

    pub fn verified_bundle(&self, i: usize) -> VerifiedBundle {
        PreKeyBundle::from_bytes(&self.bundles[i])
            .and_then(PreKeyBundle::verify_allowing_classical)
            .expect("fixture bundle verifies")
    }

    /// Ids of Bob's ML-KEM prekeys (the last-resort one and the one-time ones).
    pub fn bob_kem_prekey_ids(&self) -> Vec<u32> {
        self.bob_prekeys
            .last_resort_kem_prekey_id()
            .into_iter()
            .chain(self.bob_prekeys.one_time_kem_prekey_ids())
            .collect()
    }

    pub fn session(&self, side: Side) -> &Session {
        match side {
            Side::Alice => &self.alice_session,
            Side::Bob => &self.bob_session,
        }
    }

    pub fn pending(&self, side: Side) -> &[Sent] {
        match side {
            Side::Alice => &self.to_alice,
            Side::Bob => &self.to_bob,
        }
    }

    /// Every real message in the world (prekey messages and messages in flight).
    pub fn all_messages(&self) -> Vec<&[u8]> {
        self.handshakes
            .iter()
            .map(|h| h.message.wire.as_slice())
            .chain(self.to_alice.iter().map(|m| m.wire.as_slice()))
            .chain(self.to_bob.iter().map(|m| m.wire.as_slice()))
            .collect()
    }

    /// Valid identity keys to splice into prekey messages.
    pub fn identity_keys(&self) -> Vec<[u8; 32]> {
        [&self.alice, &self.bob, &self.mallory]
            .iter()
            .map(|k| k.public_key().to_bytes())
            .collect()
    }

    fn build() -> World {
        let mut r = rng(0x5ea1_9057);
        let bob = IdentityKeyPair::generate(&mut r);
        let alice = IdentityKeyPair::generate(&mut r);
        let mallory = IdentityKeyPair::generate(&mut r);
        let mut bob_prekeys = PreKeys::with_post_quantum(PostQuantum::Offered);
        bob_prekeys
            .generate_signed_prekey(&bob, 1_700_000_000, &mut r)
            .expect("signed prekey");
        let otks = bob_prekeys
            .generate_one_time_prekeys(4, &mut r)
            .expect("one-time prekeys");
        let kem_otks = bob_prekeys
            .generate_one_time_kem_prekeys(&bob, 2, &mut r)
            .expect("one-time ML-KEM prekeys");
        let mut bundles = vec![bob_prekeys.bundle(&bob, None).expect("bundle").to_bytes()];
        for id in &otks {
            bundles.push(
                bob_prekeys
                    .bundle(&bob, Some(*id))
                    .expect("bundle")
                    .to_bytes(),
            );
        }
        for (opk, kem) in [(Some(otks[2]), kem_otks[0]), (None, kem_otks[1])] {
            bundles.push(
                bob_prekeys
                    .bundle_with_kem_prekey(&bob, opk, kem)
                    .expect("bundle")
                    .to_bytes(),
            );
        }
        bundles.push(strip_kem(&bundles[4]));
        let verified = |i: usize| {
            PreKeyBundle::from_bytes(&bundles[i])
                .and_then(PreKeyBundle::verify_allowing_classical)
                .expect("fixture bundle verifies")
        };
        let handshakes = build_handshakes(&alice, &mallory, &verified, &mut r);
        let pair = build_pair(&alice, &bob, &bob_prekeys, &verified(4), &mut r);
        World {
            bob,
            bob_prekeys,
            bundles,
            alice,
            mallory,
            handshakes,
            alice_session: pair.alice,
            bob_session: pair.bob,
            bob_prekeys_after: pair.bob_prekeys,
            to_alice: pair.to_alice,
            to_bob: pair.to_bob,
        }
    }
}

fn build_handshakes(
    alice: &IdentityKeyPair,
    mallory: &IdentityKeyPair,
    verified: &dyn Fn(usize) -> VerifiedBundle,
    r: &mut ChaCha20Rng,
) -> Vec<Handshake> {
    let mut out = Vec::new();
    let mut send = |from: &IdentityKeyPair, bundle: usize, texts: &[&[u8]]| {
        let mut s = Session::initiate(from, &verified(bundle), r).expect("initiate");
        for t in texts {
            let wire = s.encrypt(r, t).expect("encrypt");
            out.push(Handshake {
                message: Sent::new(wire, t),
                initiator: s.clone(),
            });
        }
    };
    send(
        alice,
        1,
        &[b"alice, one-time prekey 0", b"alice, second prekey message"],
    );
    send(mallory, 0, &[b"mallory, no one-time prekey"]);
    send(alice, 2, &[&[0xa5; 300]]);
    send(mallory, 6, &[b"mallory, one-time ML-KEM prekey"]);
    send(alice, 7, &[b"alice, classical X3DH"]);
    out
}

/// A bundle with its ML-KEM prekey fields (7, 8, 9) removed.
fn strip_kem(bundle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let start = rest;
        let key = varint(&mut rest).expect("bundle field key");
        let len = match key & 7 {
            0 => {
                varint(&mut rest).expect("varint");
                0
            }
            _ => varint(&mut rest).expect("length") as usize,
        };
        rest = &rest[len..];
        let field = &start[..start.len() - rest.len()];
        if !(7..=9).contains(&(key >> 3)) {
            out.extend_from_slice(field);
        }
    }
    out
}

struct Pair {
    alice: Session,
    bob: Session,
    bob_prekeys: PreKeys,
    to_alice: Vec<Sent>,
    to_bob: Vec<Sent>,
}

/// Alice and Bob with messages in flight: Bob's pending messages exercise a skipped key on an
/// old chain (a prekey message), a skipped key on the current chain, the next message, and a
/// forward jump; Alice's a skipped key, a DH ratchet step, and a DH step with a jump.
fn build_pair(
    alice: &IdentityKeyPair,
    bob: &IdentityKeyPair,
    bob_prekeys: &PreKeys,
    bundle: &VerifiedBundle,
    r: &mut ChaCha20Rng,
) -> Pair {
    let mut prekeys = bob_prekeys.clone();
    let mut a = Session::initiate(alice, bundle, r).expect("initiate");
    let enc = |s: &mut Session, r: &mut ChaCha20Rng, t: &[u8]| {
        let wire = s.encrypt(r, t).expect("encrypt");
        Sent::new(wire, t)
    };
    let p0 = enc(&mut a, r, b"a0: hello");
    let p1 = enc(&mut a, r, b"a1: a prekey message that comes late");
    let Ok(Envelope::PreKey(first)) = Envelope::parse(&p0.wire) else {
        unreachable!("the first message is a prekey message")
    };
    let (mut b, _) = Session::accept(bob, &mut prekeys, &first).expect("accept");
    let r0 = enc(&mut b, r, b"b0: skipped by Alice");
    let r1 = enc(&mut b, r, b"b1");
    a.decrypt(&r1.wire).expect("alice decrypts b1");
    let a2 = enc(&mut a, r, b"a2");
    let a3 = enc(&mut a, r, b"a3: skipped by Bob");
    let a4 = enc(&mut a, r, b"a4");
    b.decrypt(&a2.wire).expect("bob decrypts a2");
    b.decrypt(&a4.wire).expect("bob decrypts a4");
    let r2 = enc(&mut b, r, b"b2: new chain");
    let r3 = enc(&mut b, r, b"b3: new chain after a gap");
    let a5 = enc(&mut a, r, b"a5: next on the chain");
    let a6 = enc(&mut a, r, b"a6: one ahead");
    let a7 = enc(&mut a, r, &[0x77; 1000]);
    Pair {
        alice: a,
        bob: b,
        bob_prekeys: prekeys,
        to_alice: vec![r0, r2, r3],
        to_bob: vec![p1, a3, a5, a6, a7],
    }
}
