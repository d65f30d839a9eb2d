//! Shared fixtures for the integration tests.
#![allow(dead_code, unreachable_pub)]

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sealpost::{Envelope, IdentityKeyPair, PreKeyBundle, PreKeys, Session};

/// A deterministic RNG for reproducible tests.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A responder with one signed prekey and `otks` one-time prekeys.
pub struct Responder {
    pub identity: IdentityKeyPair,
    pub prekeys: PreKeys,
    pub otk_ids: Vec<u32>,
}

impl Responder {
    pub fn new(rng: &mut ChaCha20Rng, otks: usize) -> Self {
        Self::with_policy(rng, otks, sealpost::PostQuantum::Required)
    }

    /// A responder with the given post-quantum policy.
    pub fn with_policy(rng: &mut ChaCha20Rng, otks: usize, policy: sealpost::PostQuantum) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let mut prekeys = PreKeys::with_post_quantum(policy);
        prekeys
            .generate_signed_prekey(&identity, 1_700_000_000, rng)
            .unwrap();
        let otk_ids = prekeys.generate_one_time_prekeys(otks, rng).unwrap();
        Responder {
            identity,
            prekeys,
            otk_ids,
        }
    }

    pub fn bundle(&self, otk: Option<u32>) -> Vec<u8> {
        self.prekeys.bundle(&self.identity, otk).unwrap().to_bytes()
    }

    pub fn accept(&mut self, wire: &[u8]) -> (Session, Vec<u8>) {
        let Envelope::PreKey(m) = Envelope::parse(wire).unwrap() else {
            panic!("not a prekey message")
        };
        Session::accept(&self.identity, &mut self.prekeys, &m).unwrap()
    }
}

/// Alice (initiator) and Bob (responder) with an established session: Alice sent one message
/// and Bob accepted it.
pub fn pair(seed: u64, with_otk: bool) -> (Session, Session, ChaCha20Rng) {
    let mut rng = rng(seed);
    let mut bob = Responder::new(&mut rng, 1);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let otk = with_otk.then(|| bob.otk_ids[0]);
    let bundle = PreKeyBundle::from_bytes(&bob.bundle(otk))
        .unwrap()
        .verify()
        .unwrap();
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"hello").unwrap();
    let (bob_s, pt) = bob.accept(&m);
    assert_eq!(pt, b"hello");
    (alice, bob_s, rng)
}

// ---------------------------------------------------------------------------------------------
// Helpers of the adversarial integration suite (conversation, handshake, tamper, limits,
// persistence). Everything below is test-only plumbing: fixtures, a tiny protobuf codec for
// building and editing messages and records by hand, and small assertions.
// ---------------------------------------------------------------------------------------------

use sealpost::{PreKeyMessage, VerifiedBundle};

/// Alice's identity, Bob as a responder, and the session pair built from them, for tests that
/// need the long-term keys as well as the sessions.
pub struct Fixture {
    pub rng: ChaCha20Rng,
    pub alice_id: IdentityKeyPair,
    pub bob: Responder,
    pub alice: Session,
    pub bob_s: Session,
}

/// A `Fixture` where Alice sent one message ("hello") and Bob accepted it. Bob holds
/// `otks` one-time prekeys beforehand; the first one is used when `with_otk`.
pub fn fixture(seed: u64, otks: usize, with_otk: bool) -> Fixture {
    let mut rng = rng(seed);
    let mut bob = Responder::new(&mut rng, otks);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let otk = with_otk.then(|| bob.otk_ids[0]);
    let bundle = verified(&bob.bundle(otk));
    let mut alice = Session::initiate(&alice_id, &bundle, &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"hello").unwrap();
    let (bob_s, pt) = bob.accept(&m);
    assert_eq!(pt, b"hello");
    Fixture {
        rng,
        alice_id,
        bob,
        alice,
        bob_s,
    }
}

/// Parses and verifies bundle bytes.
pub fn verified(bundle: &[u8]) -> VerifiedBundle {
    PreKeyBundle::from_bytes(bundle).unwrap().verify().unwrap()
}

/// Parses wire bytes that must be a prekey message.
pub fn prekey_msg(wire: &[u8]) -> PreKeyMessage<'_> {
    match Envelope::parse(wire).unwrap() {
        Envelope::PreKey(m) => m,
        _ => panic!("not a prekey message"),
    }
}

/// Whether wire bytes parse as a prekey message.
pub fn is_prekey(wire: &[u8]) -> bool {
    matches!(Envelope::parse(wire), Ok(Envelope::PreKey(_)))
}

/// The serialized session, as a plain vector for comparisons.
pub fn snap(s: &Session) -> Vec<u8> {
    s.to_bytes().to_vec()
}

/// The serialized prekeys, as a plain vector for comparisons.
pub fn snap_prekeys(p: &PreKeys) -> Vec<u8> {
    p.to_bytes().to_vec()
}

/// `from` encrypts `text`, `to` decrypts it and must get it back.
pub fn round_trip(from: &mut Session, to: &mut Session, rng: &mut ChaCha20Rng, text: &[u8]) {
    let m = from.encrypt(rng, text).unwrap();
    assert_eq!(to.decrypt(&m).unwrap(), text);
}

/// Bob and Alice each send one message that the other reads, `turns` times: `2 * turns` DH
/// ratchet steps on each side.
pub fn ping_pong(alice: &mut Session, bob: &mut Session, rng: &mut ChaCha20Rng, turns: usize) {
    for t in 0..turns {
        round_trip(bob, alice, rng, format!("pong {t}").as_bytes());
        round_trip(alice, bob, rng, format!("ping {t}").as_bytes());
    }
}

/// Flips bit `bit` of byte `pos`.
pub fn flipped(bytes: &[u8], pos: usize, bit: u8) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v[pos] ^= 1 << bit;
    v
}

/// Lowercase hex.
pub fn hex_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Asserts that a `Debug` rendering shows none of `secret`'s bytes, in any of the usual forms
/// (lower/upper hex, Rust's byte-array Debug, or a long enough hex fragment).
pub fn assert_no_secret(rendered: &str, secret: &[u8], what: &str) {
    assert!(
        !secret.iter().all(|&b| b == 0),
        "{what}: secret is all zero"
    );
    let lower = hex::encode(secret);
    let upper = lower.to_uppercase();
    let array = format!("{secret:?}");
    assert!(
        !rendered.contains(&lower),
        "{what}: hex secret in {rendered}"
    );
    assert!(
        !rendered.contains(&upper),
        "{what}: HEX secret in {rendered}"
    );
    assert!(
        !rendered.contains(&array),
        "{what}: array secret in {rendered}"
    );
    // Any 8-byte window of the secret (16 hex digits) would also be a leak.
    for w in lower.as_bytes().windows(16).step_by(2) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(
            !rendered.contains(w),
            "{what}: secret fragment {w} in {rendered}"
        );
    }
}

// --- A tiny protobuf codec (varint and length-delimited fields only) -------------------------

/// A protobuf field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pb {
    Varint(u64),
    Bytes(Vec<u8>),
}

impl Pb {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Pb::Bytes(b) => b,
            Pb::Varint(_) => panic!("not a bytes field"),
        }
    }

    pub fn varint(&self) -> u64 {
        match self {
            Pb::Varint(v) => *v,
            Pb::Bytes(_) => panic!("not a varint field"),
        }
    }
}

pub fn pb_put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn pb_read_varint(buf: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    for i in 0..10 {
        let b = buf[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint too long")
}

/// Decodes a message into its fields in order. Panics on anything but varint and
/// length-delimited fields: only for well-formed input built by sealpost or these tests.
pub fn pb_decode(buf: &[u8]) -> Vec<(u32, Pb)> {
    let mut pos = 0;
    let mut fields = Vec::new();
    while pos < buf.len() {
        let key = pb_read_varint(buf, &mut pos);
        let field = u32::try_from(key >> 3).unwrap();
        match key & 7 {
            0 => fields.push((field, Pb::Varint(pb_read_varint(buf, &mut pos)))),
            2 => {
                let len = pb_read_varint(buf, &mut pos) as usize;
                fields.push((field, Pb::Bytes(buf[pos..pos + len].to_vec())));
                pos += len;
            }
            t => panic!("wire type {t} not supported by the test codec"),
        }
    }
    fields
}

/// Encodes fields in the order given (no defaults omitted: what is listed is written).
pub fn pb_encode(fields: &[(u32, Pb)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (field, value) in fields {
        match value {
            Pb::Varint(v) => {
                pb_put_varint(&mut out, u64::from(*field) << 3);
                pb_put_varint(&mut out, *v);
            }
            Pb::Bytes(b) => {
                pb_put_varint(&mut out, (u64::from(*field) << 3) | 2);
                pb_put_varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
        }
    }
    out
}

/// The first value of `field`, if present.
pub fn pb_get(fields: &[(u32, Pb)], field: u32) -> Option<&Pb> {
    fields.iter().find(|(f, _)| *f == field).map(|(_, v)| v)
}

/// Replaces the first value of `field`, or appends it if absent.
pub fn pb_set(fields: &mut Vec<(u32, Pb)>, field: u32, value: Pb) {
    match fields.iter_mut().find(|(f, _)| *f == field) {
        Some(slot) => slot.1 = value,
        None => fields.push((field, value)),
    }
}

/// A wire message taken apart: the prekey fields (if a prekey message, without its inner
/// message), the header bytes and the ciphertext.
#[derive(Clone, Debug)]
pub struct WireParts {
    pub prekey: Option<Vec<(u32, Pb)>>,
    pub header: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// A decoded ratchet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderFields {
    pub ratchet_key: [u8; 32],
    pub pn: u32,
    pub n: u32,
    pub guard: [u8; 4],
    pub tag: [u8; 8],
}

pub fn split_wire(wire: &[u8]) -> WireParts {
    let env = pb_decode(wire);
    assert_eq!(pb_get(&env, 1), Some(&Pb::Varint(1)));
    let (prekey, msg) = if let Some(p) = pb_get(&env, 2) {
        let mut pk = pb_decode(p.bytes());
        let msg = pb_decode(pb_get(&pk, 5).unwrap().bytes());
        pk.retain(|(f, _)| *f != 5);
        (Some(pk), msg)
    } else {
        (None, pb_decode(pb_get(&env, 3).unwrap().bytes()))
    };
    WireParts {
        prekey,
        header: pb_get(&msg, 1).unwrap().bytes().to_vec(),
        ciphertext: pb_get(&msg, 2).unwrap().bytes().to_vec(),
    }
}

pub fn join_wire(parts: &WireParts) -> Vec<u8> {
    let msg = pb_encode(&[
        (1, Pb::Bytes(parts.header.clone())),
        (2, Pb::Bytes(parts.ciphertext.clone())),
    ]);
    match &parts.prekey {
        None => pb_encode(&[(1, Pb::Varint(1)), (3, Pb::Bytes(msg))]),
        Some(pk) => {
            let mut pk = pk.clone();
            pk.push((5, Pb::Bytes(msg)));
            pb_encode(&[(1, Pb::Varint(1)), (2, Pb::Bytes(pb_encode(&pk)))])
        }
    }
}

pub fn decode_header(header: &[u8]) -> HeaderFields {
    let f = pb_decode(header);
    let u32_of = |n| pb_get(&f, n).map_or(0, |v| u32::try_from(v.varint()).unwrap());
    HeaderFields {
        ratchet_key: pb_get(&f, 1).unwrap().bytes().try_into().unwrap(),
        pn: u32_of(2),
        n: u32_of(3),
        guard: pb_get(&f, 4).unwrap().bytes().try_into().unwrap(),
        tag: pb_get(&f, 5).unwrap().bytes().try_into().unwrap(),
    }
}

/// The header of a wire message.
pub fn header_of(wire: &[u8]) -> HeaderFields {
    decode_header(&split_wire(wire).header)
}

/// Decodes a serialized record, lets `edit` change its fields, and re-encodes it.
pub fn edit_record(bytes: &[u8], edit: impl FnOnce(&mut Vec<(u32, Pb)>)) -> Vec<u8> {
    let mut fields = pb_decode(bytes);
    edit(&mut fields);
    pb_encode(&fields)
}

/// Unknown fields (number 99) that pad a message by exactly `total` bytes
/// (`total >= 3`), for size-limit tests.
pub fn padding_field(total: usize) -> Vec<u8> {
    assert!(total >= 4);
    if let Some(p) = single_padding_field(total) {
        return p;
    }
    // Some sizes cannot be one field (a length varint grows by a byte at 128, 16384, ...):
    // put a three-byte varint field (99 = 0, unknown to every record) in front.
    let mut out = vec![0x98, 0x06, 0];
    out.extend(single_padding_field(total - 3).expect("padding"));
    out
}

fn single_padding_field(total: usize) -> Option<Vec<u8>> {
    // Find the body length whose full field encoding is exactly `total` bytes.
    for len_bytes in 1..=5usize {
        // Field 99 (unknown to every record; its key takes two bytes).
        let body = total - 2 - len_bytes;
        let mut enc = Vec::new();
        pb_put_varint(&mut enc, body as u64);
        if enc.len() == len_bytes {
            let mut out = vec![0x9a, 0x06];
            out.extend_from_slice(&enc);
            out.resize(total, 0xa5);
            return Some(out);
        }
        if total < 4 + len_bytes {
            break;
        }
    }
    None
}

/// `AD = IK_initiator || IK_responder` of a session.
pub fn associated_data(s: &Session) -> [u8; 64] {
    let (a, b) = if s.is_initiator() {
        (s.local_identity(), s.remote_identity())
    } else {
        (s.remote_identity(), s.local_identity())
    };
    let mut ad = [0u8; 64];
    ad[..32].copy_from_slice(a.as_bytes());
    ad[32..].copy_from_slice(b.as_bytes());
    ad
}

/// Makes further valid messages on a sender's current sending chain, with any counter and
/// `pn`, from the sender's chain key (hazmat). To the receiver they are exactly what the
/// sender would have sent had it sent (and lost) the messages in between, so limit tests need
/// not encrypt tens of thousands of messages.
pub struct Forger {
    template: WireParts,
    ad: [u8; 64],
    /// Chain key that derives the key of message `counter`.
    ck: [u8; 32],
    counter: u32,
}

impl Forger {
    /// Encrypts one real message from `sender` and keeps what is needed to forge more on the
    /// same chain. Returns the forger and the real message.
    pub fn new(sender: &mut Session, rng: &mut ChaCha20Rng, text: &[u8]) -> (Forger, Vec<u8>) {
        let m = sender.encrypt(rng, text).unwrap();
        // The chain key after the real message derives message n + 1.
        let (ck, counter) = sealpost::hazmat::sending_chain(sender).unwrap();
        let template = split_wire(&m);
        assert_eq!(decode_header(&template.header).n + 1, counter);
        let forger = Forger {
            template,
            ad: associated_data(sender),
            ck,
            counter,
        };
        (forger, m)
    }

    /// Message `n` (at least the next counter of the chain, increasing over calls) with the
    /// given `pn`.
    pub fn message(&mut self, pn: u32, n: u32, text: &[u8]) -> Vec<u8> {
        assert!(n >= self.counter, "forged counters must increase");
        while self.counter < n {
            self.ck = sealpost::hazmat::kdf_ck(&self.ck).1;
            self.counter += 1;
        }
        let (mk, _) = sealpost::hazmat::kdf_ck(&self.ck);
        let h = decode_header(&self.template.header);
        let header = sealpost::hazmat::encode_header(&h.ratchet_key, pn, n, &h.guard, &h.tag);
        let aad = sealpost::hazmat::message_aad(&self.ad, &header);
        let mut parts = self.template.clone();
        parts.ciphertext = sealpost::hazmat::aead_seal(&mk, &h.guard, &aad, text);
        parts.header = header;
        join_wire(&parts)
    }

    /// The `pn` of the real message.
    pub fn pn(&self) -> u32 {
        decode_header(&self.template.header).pn
    }
}

/// Rebuilds a session from its record with `f` applied to the `SessionState` fields.
pub fn edit_session(s: &Session, f: impl FnOnce(&mut Vec<(u32, Pb)>)) -> Session {
    Session::from_bytes(&edit_record(&s.to_bytes(), f)).unwrap()
}

/// In `SessionState` fields: sets the counter of the newest receiving chain (10.3).
pub fn set_newest_receiving_counter(fields: &mut [(u32, Pb)], counter: u32) {
    let (_, chain) = fields.iter_mut().rev().find(|(n, _)| *n == 10).unwrap();
    let mut c = pb_decode(chain.bytes());
    pb_set(&mut c, 3, Pb::Varint(u64::from(counter)));
    *chain = Pb::Bytes(pb_encode(&c));
}

/// In `SessionState` fields: sets the sending chain's counter (8.2).
pub fn set_sending_counter(fields: &mut Vec<(u32, Pb)>, counter: u32) {
    let mut c = pb_decode(pb_get(fields, 8).unwrap().bytes());
    pb_set(&mut c, 2, Pb::Varint(u64::from(counter)));
    pb_set(fields, 8, Pb::Bytes(pb_encode(&c)));
}

/// Decoded protobuf fields, as `pb_decode` returns them.
pub type Fields = Vec<(u32, Pb)>;

/// An edit of decoded fields.
pub type FieldEdit<'a> = &'a dyn Fn(&mut Fields);

/// An owned edit of decoded fields, for tables of named edits.
pub type BoxedEdit = Box<dyn Fn(&mut Fields)>;
