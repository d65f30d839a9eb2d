//! Maximal values from the wire and from storage: every one is rejected (or handled) with a
//! typed error, in bounded time and, the main assertion, bounded memory.
//!
//! A counting global allocator tracks, per thread, the bytes currently allocated and their
//! peak; [`measure`] runs one input and reports the peak of *extra* heap (above what was live
//! when it started). Each input must stay within `budget` (a stated multiple of its size plus
//! a constant for fixed-size state) and finish within `MAX_TIME`. Inputs that claim more than
//! they carry (length prefixes, counters, iterations) must cost nothing near what they claim.

// The counting allocator below must implement `GlobalAlloc`, an unsafe trait; the library
// itself forbids unsafe code.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use common::{Forger, padding_field, pb_put_varint, round_trip};
use sealpost::consts::{
    MAX_BROADCAST_RECORD_SIZE, MAX_CONTROL_SIZE, MAX_FORWARD_JUMP, MAX_GROUP_RECORD_SIZE,
    MAX_MESSAGE_SIZE, MAX_PLAINTEXT_SIZE, MAX_PREKEYS_RECORD_SIZE, MAX_RECORD_SIZE,
    MAX_SESSION_RECORD_SIZE, MAX_SKIPPED_KEYS,
};
use sealpost::group::{
    AuditLog, BroadcastList, BroadcastSubscription, ChannelDecryptError, ChannelId, ControlError,
    Group, control_channel_id,
};
use sealpost::{
    DecryptError, Envelope, IdentityKeyPair, PreKeyBundle, PreKeys, Session, SessionRecord, hazmat,
};

// ---------------------------------------------------------------------------------------------
// The counting allocator.

/// Wraps the system allocator and counts live bytes per thread (test threads run in parallel;
/// a block freed on another thread than it was allocated on only skews that thread's count
/// down, which never hides a peak of the thread being measured).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    // `try_with`: the thread-locals may be gone while a thread is being torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes as isize;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - bytes as isize));
}

// SAFETY: every call is forwarded to `System` with the caller's arguments unchanged; the
// bookkeeping only touches const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (the caller upholds `alloc`'s contract).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Count the worst case, a moving realloc: both blocks live for a moment.
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Generous: a debug build on a loaded two-core machine, where our own (unoptimised) code
/// walks a record at 5 to 10 MiB/s, slower under load; so two seconds, plus half a second per
/// MiB of input for the records of several MiB (linear in the input, never in what it
/// claims). Memory is the main assertion.
fn time_budget(input: &[u8]) -> Duration {
    Duration::from_secs(2) + Duration::from_millis(500) * (input.len() / MIB) as u32
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

/// Peak extra heap (bytes) and time of one call.
struct Cost {
    peak: usize,
    time: Duration,
}

fn measure<T>(f: impl FnOnce() -> T) -> (T, Cost) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let start = Instant::now();
    let out = f();
    let time = start.elapsed();
    let peak = PEAK.with(Cell::get) - base;
    (
        out,
        Cost {
            peak: usize::try_from(peak).unwrap_or(0),
            time,
        },
    )
}

/// Runs `f` on `input` and asserts it stays within `budget` bytes of extra heap and
/// `MAX_TIME`. The result is dropped inside the measurement, so what it holds counts.
fn bounded<T>(what: &str, input: &[u8], budget: usize, f: impl FnOnce(&[u8]) -> T) -> T {
    let (out, cost) = measure(|| f(input));
    eprintln!(
        "{what}: input {} B, peak extra heap {} B ({:.2}x input), {:?}",
        input.len(),
        cost.peak,
        cost.peak as f64 / input.len().max(1) as f64,
        cost.time
    );
    assert!(
        cost.peak <= budget,
        "{what}: peak extra heap {} B over the budget of {budget} B (input {} B)",
        cost.peak,
        input.len()
    );
    assert!(
        cost.time < time_budget(input),
        "{what}: took {:?}",
        cost.time
    );
    out
}

/// Budget for rejecting a wire input: nothing near what it claims, a copy of it at most.
fn reject_budget(input: &[u8]) -> usize {
    input.len() + 16 * KIB
}

/// Budget for decoding a record: a small multiple of its size (the decoded structs hold the
/// bytes once more, in owned fields with some per-field overhead), never what a count in it
/// could make prost build.
fn record_budget(input: &[u8]) -> usize {
    4 * input.len() + 64 * KIB
}

// ---------------------------------------------------------------------------------------------
// Input builders.

/// `field` (length-delimited) claiming `claimed` bytes, followed by `actual` bytes.
fn claims(field: u32, claimed: u64, actual: usize) -> Vec<u8> {
    let mut v = Vec::new();
    pb_put_varint(&mut v, (u64::from(field) << 3) | 2);
    pb_put_varint(&mut v, claimed);
    v.resize(v.len() + actual, 0x41);
    v
}

/// Huge length prefixes for `field`, after `prefix` (e.g. a version field).
fn huge_prefixes(prefix: &[u8], field: u32, limit: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for claimed in [
        u64::MAX,
        u64::from(u32::MAX),
        limit as u64 + 1,
        limit as u64,
        1 << 62,
    ] {
        let mut v = prefix.to_vec();
        v.extend(claims(field, claimed, 16));
        out.push((format!("field {field} claiming {claimed} bytes"), v));
    }
    out
}

/// `count` copies of `field` as an empty length-delimited field (a repeated message or bytes
/// field with empty elements): the most elements a byte budget can carry.
fn repeated_empty(prefix: &[u8], field: u32, total: usize) -> Vec<u8> {
    let mut one = Vec::new();
    pb_put_varint(&mut one, (u64::from(field) << 3) | 2);
    one.push(0);
    let mut v = prefix.to_vec();
    while v.len() + one.len() <= total {
        v.extend_from_slice(&one);
    }
    v
}

/// One element of `path[0]`, holding one of `path[1]`, ..., holding as many empty elements of
/// the last field as fit in `total` bytes: the most elements a record can nest.
fn nested(prefix: &[u8], path: &[u32], total: usize) -> Vec<u8> {
    let (&inner, outer) = path.split_last().expect("a path");
    // Each enclosing level costs at most 1 + 5 bytes of key and length.
    let room = total - prefix.len() - 6 * outer.len();
    let mut body = repeated_empty(&[], inner, room);
    for &field in outer.iter().rev() {
        let mut wrapped = Vec::new();
        pb_put_varint(&mut wrapped, (u64::from(field) << 3) | 2);
        pb_put_varint(&mut wrapped, body.len() as u64);
        wrapped.extend_from_slice(&body);
        body = wrapped;
    }
    let mut v = prefix.to_vec();
    v.extend_from_slice(&body);
    assert!(v.len() <= total);
    v
}

/// `field` as a varint repeated until `total` bytes (a packed-less repeated scalar).
fn repeated_varint(prefix: &[u8], field: u32, total: usize) -> Vec<u8> {
    let mut one = Vec::new();
    pb_put_varint(&mut one, u64::from(field) << 3);
    one.push(1);
    let mut v = prefix.to_vec();
    while v.len() + one.len() <= total {
        v.extend_from_slice(&one);
    }
    v
}

/// A record padded with an unknown field to exactly `total` bytes.
fn padded(record: &[u8], total: usize) -> Vec<u8> {
    let mut v = record.to_vec();
    v.extend(padding_field(total - record.len()));
    assert_eq!(v.len(), total);
    v
}

const VERSION_1: [u8; 2] = [0x08, 0x01];

// ---------------------------------------------------------------------------------------------
// Ratchet messages.

#[test]
fn ratchet_counters_at_u32_max_cost_nothing() {
    let (mut alice, mut bob, mut rng) = common::pair(900, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    let m = alice.encrypt(&mut rng, b"next").unwrap();
    let parts = common::split_wire(&m);
    let h = common::decode_header(&parts.header);
    // Unauthenticated headers: the counters are checked before any key is derived.
    for (pn, n) in [
        (h.pn, u32::MAX),
        (u32::MAX, h.n),
        (u32::MAX, u32::MAX),
        (h.pn, u32::MAX - 1),
        (h.pn, h.n + MAX_FORWARD_JUMP + 1),
    ] {
        let mut p = parts.clone();
        p.header = hazmat::encode_header(&h.ratchet_key, pn, n, &h.guard, &h.tag);
        let wire = common::join_wire(&p);
        let before = bob.to_bytes();
        let r = bounded(
            &format!("ratchet header pn={pn} n={n}"),
            &wire,
            reject_budget(&wire),
            |w| bob.decrypt(w),
        );
        // u32::MAX itself never parses (a sender stops before it); the others are too far.
        assert!(
            matches!(
                r,
                Err(DecryptError::TooFarAhead { .. }
                    | DecryptError::InvalidMessage
                    | DecryptError::Malformed)
            ),
            "pn={pn} n={n}: {r:?}"
        );
        assert_eq!(*bob.to_bytes(), *before);
    }
    // The same counters on a new ratchet key (a new receiving chain): pn and n both count.
    let mut fresh = parts.clone();
    let mut key = h.ratchet_key;
    key[0] ^= 0x40;
    for (pn, n) in [(u32::MAX, 0), (0, u32::MAX), (u32::MAX, u32::MAX)] {
        fresh.header = hazmat::encode_header(&key, pn, n, &h.guard, &h.tag);
        let wire = common::join_wire(&fresh);
        let before = bob.to_bytes();
        let r = bounded(
            &format!("new chain pn={pn} n={n}"),
            &wire,
            reject_budget(&wire),
            |w| bob.decrypt(w),
        );
        assert!(r.is_err(), "pn={pn} n={n} decrypted");
        assert_eq!(*bob.to_bytes(), *before);
    }
    assert_eq!(bob.decrypt(&m).unwrap(), b"next");
}

#[test]
fn ratchet_jump_at_the_limit_stays_bounded() {
    let (mut alice, mut bob, mut rng) = common::pair(901, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    let (mut forger, m0) = Forger::new(&mut alice, &mut rng, b"m0");
    assert_eq!(bob.decrypt(&m0).unwrap(), b"m0");
    let pn = forger.pn();
    let at_limit = forger.message(pn, 1 + MAX_FORWARD_JUMP, b"at the limit");
    // The receiver derives MAX_FORWARD_JUMP keys and keeps MAX_SKIPPED_KEYS of them (32-byte
    // keys in a map): bounded by the skipped-key limit, not by the jump.
    let budget = MAX_SKIPPED_KEYS * 128 + 64 * KIB;
    let text = bounded("jump of MAX_FORWARD_JUMP", &at_limit, budget, |w| {
        bob.decrypt(w)
    });
    assert_eq!(text.unwrap(), b"at the limit");
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS);
}

#[test]
fn envelopes_at_and_over_the_size_limit() {
    let (mut alice, mut bob, mut rng) = common::pair(902, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    // The largest plaintext makes an envelope within MAX_MESSAGE_SIZE: it decrypts, costing
    // its plaintext once.
    let big = vec![0x5a; MAX_PLAINTEXT_SIZE];
    let wire = alice.encrypt(&mut rng, &big).unwrap();
    assert!(wire.len() <= MAX_MESSAGE_SIZE);
    let text = bounded("largest message", &wire, 2 * wire.len() + 64 * KIB, |w| {
        bob.decrypt(w).map(|t| t.len())
    });
    assert_eq!(text.unwrap(), MAX_PLAINTEXT_SIZE);

    // One byte over, and far over (a real message with trailing bytes): refused unread.
    for extra in [MAX_MESSAGE_SIZE + 1 - wire.len(), 4 * MIB] {
        let mut over = wire.clone();
        over.resize(wire.len() + extra, 0);
        let before = bob.to_bytes();
        let r = bounded(
            &format!("message of {} bytes", over.len()),
            &over,
            16 * KIB,
            |w| bob.decrypt(w),
        );
        assert_eq!(r, Err(DecryptError::Malformed));
        assert!(matches!(
            Envelope::parse(&over),
            Err(DecryptError::Malformed)
        ));
        assert_eq!(*bob.to_bytes(), *before);
    }

    // Length prefixes claiming more than the message carries, in every envelope field.
    for field in [2, 3] {
        for (what, input) in huge_prefixes(&VERSION_1, field, MAX_MESSAGE_SIZE) {
            let r = bounded(&format!("envelope {what}"), &input, 16 * KIB, |w| {
                bob.decrypt(w)
            });
            assert_eq!(r, Err(DecryptError::Malformed), "{what}");
        }
    }
    // A ratchet message whose header claims a huge length inside a real envelope's budget.
    let mut inner = Vec::new();
    inner.extend(claims(1, u64::from(u32::MAX), 64));
    let mut env = VERSION_1.to_vec();
    env.extend(claims(3, inner.len() as u64, 0));
    env.extend_from_slice(&inner);
    let r = bounded("header claiming 4 GiB", &env, 16 * KIB, |w| bob.decrypt(w));
    assert_eq!(r, Err(DecryptError::Malformed));
}

// ---------------------------------------------------------------------------------------------
// Group messages and control payloads.

fn team() -> ChannelId {
    ChannelId::new(b"bounds").unwrap()
}

/// A group of two; the member holds a chain of the admin's (id 77) at `iteration` whose
/// secrets we know. Returns the member's group, its session with the admin, the chain key at
/// `iteration` and the chain's signing seed.
fn member_with_known_chain(iteration: u32) -> (Group, Session, [u8; 32], [u8; 32]) {
    let mut rng = common::rng(903);
    let admin = IdentityKeyPair::generate(&mut rng);
    let member = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(&member, 1_700_000_000, &mut rng)
        .unwrap();
    let bundle = PreKeyBundle::from_bytes(&prekeys.bundle(&member, None).unwrap().to_bytes())
        .unwrap()
        .verify()
        .unwrap();
    let mut to_member = Session::initiate(&admin, &bundle, &mut rng).unwrap();
    let hello = to_member.encrypt(&mut rng, b"hi").unwrap();
    let (from_admin, _) =
        Session::accept(&member, &mut prekeys, &common::prekey_msg(&hello)).unwrap();
    let (_, invites) = Group::create(&admin, team(), &[*member.public_key()], &mut rng).unwrap();
    let (mut g, _) = Group::join(&from_admin, invites[0].expose_payload(), &mut rng).unwrap();
    let (ck, seed) = ([0x31; 32], [0x32; 32]);
    let payload = hazmat::group_distribution_payload(
        &team(),
        77,
        iteration,
        &ck,
        &hazmat::group_signing_public(&seed),
    );
    g.receive(&from_admin, &payload, &mut rng).unwrap();
    (g, from_admin, ck, seed)
}

#[test]
fn group_iterations_at_u32_max() {
    let (mut g, from_admin, ck, seed) = member_with_known_chain(0);
    let admin = *from_admin.remote_identity();
    // Validly signed by the chain's owner, u32::MAX - 1 steps ahead: refused before any
    // chain step.
    let far = hazmat::group_encrypt(&team(), 77, u32::MAX - 1, &ck, &seed, &[0; 4], b"far")
        .unwrap()
        .message;
    let before = g.to_bytes();
    let r = bounded(
        "group iteration u32::MAX - 1",
        &far,
        reject_budget(&far),
        |m| g.decrypt(&admin, m),
    );
    assert!(
        matches!(r, Err(ChannelDecryptError::TooFarAhead { .. })),
        "{r:?}"
    );
    assert_eq!(*g.to_bytes(), *before);
    // u32::MAX itself is never a valid iteration: the body is refused when parsed.
    let mut body = Vec::new();
    common::pb_put_varint(&mut body, 1 << 3);
    body.push(77);
    common::pb_put_varint(&mut body, 2 << 3);
    pb_put_varint(&mut body, u64::from(u32::MAX));
    body.extend_from_slice(&[0x1a, 4, 0, 0, 0, 0]);
    body.extend(claims(4, 16, 16));
    body.extend_from_slice(&[0; 64]);
    let r = bounded(
        "group iteration u32::MAX",
        &body,
        reject_budget(&body),
        |m| g.decrypt(&admin, m),
    );
    assert_eq!(r, Err(ChannelDecryptError::Malformed));
    // A distribution at u32::MAX is refused; at u32::MAX - 1 it works, for one message.
    let mut rng = common::rng(904);
    let payload = hazmat::group_distribution_payload(&team(), 78, u32::MAX, &ck, &[0; 32]);
    let before = g.to_bytes();
    let r = bounded("distribution at u32::MAX", &payload, 16 * KIB, |p| {
        g.receive(&from_admin, p, &mut rng).map(|_| ())
    });
    assert_eq!(r, Err(ControlError::Malformed));
    assert_eq!(*g.to_bytes(), *before);
    let (mut top, from_admin, ck, seed) = member_with_known_chain(u32::MAX - 1);
    let last = hazmat::group_encrypt(&team(), 77, u32::MAX - 1, &ck, &seed, &[1; 4], b"last")
        .unwrap()
        .message;
    let text = bounded(
        "group message at the last iteration",
        &last,
        16 * KIB,
        |m| top.decrypt(from_admin.remote_identity(), m),
    );
    assert_eq!(text.unwrap(), b"last");
    assert!(hazmat::group_encrypt(&team(), 77, u32::MAX, &ck, &seed, &[1; 4], b"x").is_err());
}

#[test]
fn group_jump_at_the_limit_stays_bounded() {
    let (mut g, from_admin, ck, seed) = member_with_known_chain(0);
    let mut ck_at = ck;
    for _ in 0..MAX_FORWARD_JUMP {
        ck_at = hazmat::kdf_ck(&ck_at).1;
    }
    let m = hazmat::group_encrypt(&team(), 77, MAX_FORWARD_JUMP, &ck_at, &seed, &[2; 4], b"j")
        .unwrap()
        .message;
    let budget = MAX_SKIPPED_KEYS * 128 + 64 * KIB;
    let text = bounded("group jump of MAX_FORWARD_JUMP", &m, budget, |m| {
        g.decrypt(from_admin.remote_identity(), m)
    });
    assert_eq!(text.unwrap(), b"j");
    assert_eq!(g.skipped_keys(), MAX_SKIPPED_KEYS);
}

#[test]
fn group_messages_and_controls_over_the_size_limits() {
    let (mut g, from_admin, ck, seed) = member_with_known_chain(0);
    let admin = *from_admin.remote_identity();
    let mut rng = common::rng(905);
    // The largest plaintext: a group message within MAX_MESSAGE_SIZE that decrypts.
    let big = vec![0x33; MAX_PLAINTEXT_SIZE];
    let m = hazmat::group_encrypt(&team(), 77, 0, &ck, &seed, &[3; 4], &big)
        .unwrap()
        .message;
    assert!(m.len() <= MAX_MESSAGE_SIZE);
    let text = bounded("largest group message", &m, 2 * m.len() + 64 * KIB, |m| {
        g.decrypt(&admin, m).map(|t| t.len())
    });
    assert_eq!(text.unwrap(), MAX_PLAINTEXT_SIZE);
    for len in [MAX_MESSAGE_SIZE + 1, 8 * MIB] {
        let mut over = m.clone();
        over.resize(len, 0);
        let r = bounded(
            &format!("group message of {len} bytes"),
            &over,
            16 * KIB,
            |m| g.decrypt(&admin, m),
        );
        assert_eq!(r, Err(ChannelDecryptError::Malformed));
    }
    for (what, input) in huge_prefixes(&[], 4, MAX_MESSAGE_SIZE) {
        let mut input = input;
        input.extend_from_slice(&[0; 64]);
        let r = bounded(&format!("group body {what}"), &input, 16 * KIB, |m| {
            g.decrypt(&admin, m)
        });
        assert_eq!(r, Err(ChannelDecryptError::Malformed), "{what}");
    }

    // Control payloads: over the size limit, huge prefixes, and as many roster members as fit.
    let real = hazmat::group_distribution_payload(&team(), 79, 0, &ck, &[0; 32]);
    for len in [MAX_CONTROL_SIZE + 1, 4 * MIB] {
        let input = padded(&real, len);
        let before = g.to_bytes();
        let r = bounded(&format!("control of {len} bytes"), &input, 16 * KIB, |p| {
            g.receive(&from_admin, p, &mut rng).map(|_| ())
        });
        assert_eq!(r, Err(ControlError::Malformed));
        assert_eq!(*g.to_bytes(), *before);
        assert_eq!(control_channel_id(&input), Err(ControlError::Malformed));
    }
    for field in [2, 3, 4, 6] {
        for (what, input) in huge_prefixes(&VERSION_1, field, MAX_CONTROL_SIZE) {
            let r = bounded(&format!("control {what}"), &input, 16 * KIB, |p| {
                g.receive(&from_admin, p, &mut rng).map(|_| ())
            });
            assert_eq!(r, Err(ControlError::Malformed), "{what}");
        }
    }
    // A roster of as many (32-byte) members as a control payload can carry: refused for its
    // member count before its signature is checked.
    let mut roster = Vec::new();
    roster.extend(claims(1, 6, 0));
    roster.extend_from_slice(b"bounds");
    let mut k = 0u32;
    while roster.len() + 34 <= MAX_CONTROL_SIZE - 200 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&k.to_be_bytes());
        roster.extend(claims(4, 32, 0));
        roster.extend_from_slice(&key);
        k += 1;
    }
    let mut signed = claims(1, roster.len() as u64, 0);
    signed.extend_from_slice(&roster);
    signed.extend(claims(2, 64, 64));
    let mut payload = VERSION_1.to_vec();
    payload.extend(claims(2, 6, 0));
    payload.extend_from_slice(b"bounds");
    payload.extend(claims(3, signed.len() as u64, 0));
    payload.extend_from_slice(&signed);
    assert!(payload.len() <= MAX_CONTROL_SIZE);
    let r = bounded(
        &format!("roster of {k} members"),
        &payload,
        record_budget(&payload),
        |p| g.receive(&from_admin, p, &mut rng).map(|_| ()),
    );
    assert!(r.is_err(), "a forged roster was applied");
}

// ---------------------------------------------------------------------------------------------
// Records.

/// Every decoder of persisted state, with its size limit.
type Decoder = fn(&[u8]) -> Result<(), String>;

fn decoders() -> Vec<(&'static str, usize, Decoder)> {
    fn e<T, E: std::fmt::Debug>(r: Result<T, E>) -> Result<(), String> {
        r.map(|_| ()).map_err(|e| format!("{e:?}"))
    }
    vec![
        ("Session", MAX_RECORD_SIZE, |b| e(Session::from_bytes(b))),
        ("SessionRecord", MAX_SESSION_RECORD_SIZE, |b| {
            e(SessionRecord::from_bytes(b))
        }),
        ("PreKeys", MAX_PREKEYS_RECORD_SIZE, |b| {
            e(PreKeys::from_bytes(b))
        }),
        ("IdentityKeyPair", 128, |b| {
            e(IdentityKeyPair::from_bytes(b))
        }),
        ("Group", MAX_GROUP_RECORD_SIZE, |b| e(Group::from_bytes(b))),
        ("BroadcastList", MAX_BROADCAST_RECORD_SIZE, |b| {
            e(BroadcastList::from_bytes(b))
        }),
        ("BroadcastSubscription", MAX_GROUP_RECORD_SIZE, |b| {
            e(BroadcastSubscription::from_bytes(b))
        }),
        ("AuditLog", MAX_BROADCAST_RECORD_SIZE, |b| {
            e(AuditLog::from_bytes(b))
        }),
    ]
}

#[test]
fn records_over_the_size_limit_are_refused_unread() {
    for (name, limit, decode) in decoders() {
        // One byte over, as a real-looking record (version, then padding).
        let input = padded(&VERSION_1, limit + 1);
        let r = bounded(
            &format!("{name} of limit + 1 bytes"),
            &input,
            16 * KIB,
            decode,
        );
        assert!(
            r.as_ref().is_err_and(|e| e.contains("TooLarge")),
            "{name}: {r:?}"
        );
    }
}

#[test]
fn records_at_the_size_limit_are_bounded() {
    for (name, limit, decode) in decoders() {
        // Exactly at the limit: a version and one unknown field, which is skipped.
        let input = padded(&VERSION_1, limit);
        // Some records are valid with nothing but a version (empty prekeys, an empty session
        // record); either way the padding costs nothing beyond the budget.
        let r = bounded(
            &format!("{name} of exactly the limit"),
            &input,
            record_budget(&input),
            decode,
        );
        eprintln!("  -> {r:?}");
    }
}

#[test]
fn record_length_prefixes_claiming_more_than_they_carry() {
    for (name, limit, decode) in decoders() {
        for field in 2..=8 {
            for (what, input) in huge_prefixes(&VERSION_1, field, limit) {
                let r = bounded(&format!("{name} {what}"), &input, 16 * KIB, decode);
                assert!(r.is_err(), "{name} {what} decoded");
            }
        }
    }
}

/// The repeated fields of each record (and of what it nests), as paths of field numbers to a
/// repeated field: the record filled with empty elements of it.
fn repeated_paths(name: &str) -> &'static [&'static [u32]] {
    match name {
        // SessionState: receiving chains (10), their skipped keys (10.4).
        "Session" => &[&[10], &[10, 4]],
        // SessionRecord: archived sessions (5), their chains (5.10), skipped keys (5.10.4).
        "SessionRecord" => &[&[5], &[4, 10], &[5, 10], &[5, 10, 4]],
        // Signed prekeys (3), their accepted base keys (3.5), one-time prekeys (4).
        "PreKeys" => &[&[3], &[3, 5], &[4]],
        "IdentityKeyPair" => &[&[2]],
        // Senders (7), their chains (7.2), skipped keys (7.2.5), retired ids (6), the roster's
        // members (4 = SignedRoster, 4.1 = Roster, 4.1.4 = members).
        "Group" => &[&[7], &[7, 2], &[7, 2, 5], &[6], &[4, 1, 4]],
        // Consent states (7), audit entries (8), retired ids (6).
        "BroadcastList" => &[&[7], &[8], &[6], &[5]],
        // The business's chains (8.2), their skipped keys (8.2.5).
        "BroadcastSubscription" => &[&[8], &[8, 2], &[8, 2, 5]],
        "AuditLog" => &[&[4]],
        _ => &[],
    }
}

/// Fills each record up to its size limit with empty elements of each repeated field, at any
/// depth, and with repeated varints: refused or decoded within the budget.
fn many_repeated_fields(names: &[&str]) {
    for (name, limit, decode) in decoders() {
        if !names.contains(&name) {
            continue;
        }
        for path in repeated_paths(name) {
            let input = nested(&VERSION_1, path, limit);
            let r = bounded(
                &format!("{name}: field {path:?} filled with empty elements"),
                &input,
                record_budget(&input),
                decode,
            );
            assert!(r.is_err(), "{name}: a record of empty elements decoded");
        }
        // Repeated varints in place of the record's scalar fields (the last one wins; some
        // records are valid with nothing else, so only the cost is asserted).
        for field in [1, 2, 6] {
            let input = repeated_varint(&[], field, limit);
            let r = bounded(
                &format!("{name}: varint field {field} x {}", input.len() / 2),
                &input,
                record_budget(&input),
                decode,
            );
            eprintln!("  -> {r:?}");
        }
    }
}

#[test]
fn group_records_of_many_repeated_fields_are_bounded() {
    many_repeated_fields(&[
        "Group",
        "BroadcastList",
        "BroadcastSubscription",
        "AuditLog",
        "IdentityKeyPair",
    ]);
}

/// These decoders used to run prost before counting, so a record of empty repeated elements
/// cost 24x to 216x its size (a 4 MiB session record: about 900 MiB and 5 s in a debug build);
/// they now bound counts and element lengths on the bytes first (`src/precheck.rs`).
#[test]
fn session_and_prekey_records_of_many_repeated_fields_are_bounded() {
    many_repeated_fields(&["Session", "SessionRecord", "PreKeys"]);
}
