//! Secrets in `Debug` output and in freed memory.
//!
//! (a) `Debug` of the secret-bearing types that `tests/persistence.rs` (identities, prekeys,
//! sessions, envelopes, errors) and `tests/group.rs` (lower-case hex only) do not already
//! cover shows none of their key bytes, as hex (either case), as a decimal byte array, or as
//! an 8-byte hex fragment.
//!
//! (b) Observed zeroization. This test binary's global allocator scans every block being
//! freed for the secrets of the scenario under test before handing it back to the system.
//! Each scenario runs twice from the same seeds: first to learn its secrets (through `hazmat`
//! and from values the test chose), then with those armed; a freed block still holding one
//! of them is a leak. Only the heap is observable this way: stack copies, registers and
//! memory the allocator reuses without freeing are not. `Vec` growth is observed (the
//! default `realloc` allocates, copies and frees through this allocator).

// The inspecting allocator implements `GlobalAlloc`, an unsafe trait, and reads the blocks it
// is given; the library itself forbids unsafe code.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{assert_no_secret, verified};
use rand::Rng;
use rand::rngs::ChaCha20Rng;
use sealpost::group::{
    BroadcastList, BroadcastSubscription, ChannelId, ConsentOutcome, Fanout, Group,
};
use sealpost::store::{MemoryStore, Store};
use sealpost::{Envelope, IdentityKeyPair, PreKeys, Session, SessionRecord, StorageKey, hazmat};
use zeroize::Zeroizing;

// ---------------------------------------------------------------------------------------------
// The inspecting allocator.

const MAX_PATTERNS: usize = 256;

/// The armed secrets: written only while `ARMED` is false, read only while it is true.
struct Patterns(UnsafeCell<[[u8; 32]; MAX_PATTERNS]>);

// SAFETY: writes happen only while `ARMED` is false (under `SCENARIO`), reads only after a
// SeqCst store of `ARMED = true` that follows them, so they never overlap.
unsafe impl Sync for Patterns {}

static PATTERNS: Patterns = Patterns(UnsafeCell::new([[0; 32]; MAX_PATTERNS]));
static PATTERN_COUNT: AtomicUsize = AtomicUsize::new(0);
static ARMED: AtomicBool = AtomicBool::new(false);
static HITS: AtomicUsize = AtomicUsize::new(0);
/// The first hits: pattern index and the size of the block it was found in.
const KEPT_HITS: usize = 16;
static HIT_PATTERN: [AtomicUsize; KEPT_HITS] = [const { AtomicUsize::new(0) }; KEPT_HITS];
static HIT_SIZE: [AtomicUsize; KEPT_HITS] = [const { AtomicUsize::new(0) }; KEPT_HITS];

/// Serialises the scenarios: the patterns are global.
static SCENARIO: Mutex<()> = Mutex::new(());

struct Inspecting;

fn scan(block: &[u8]) {
    let n = PATTERN_COUNT.load(Ordering::SeqCst);
    // SAFETY: armed, so the patterns are not being written (see `Patterns`).
    let patterns = unsafe { &*PATTERNS.0.get() };
    for (i, p) in patterns[..n].iter().enumerate() {
        if block.windows(32).any(|w| w == p) {
            let h = HITS.fetch_add(1, Ordering::SeqCst);
            if h < KEPT_HITS {
                HIT_PATTERN[h].store(i, Ordering::SeqCst);
                HIT_SIZE[h].store(block.len(), Ordering::SeqCst);
            }
            return;
        }
    }
}

// SAFETY: allocation is forwarded to `System` unchanged; `dealloc` only reads the block it is
// about to free (valid for `layout.size()` bytes, as the caller guarantees) before freeing it.
// `realloc` is the trait's default (alloc, copy, dealloc), so moved blocks are scanned too.
unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::SeqCst) && layout.size() >= 32 {
            // SAFETY: `ptr` is a live block of `layout.size()` bytes until freed just below.
            scan(unsafe { std::slice::from_raw_parts(ptr, layout.size()) });
        }
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Inspecting = Inspecting;

/// Secrets a scenario reports, on the stack (a heap copy would itself be found when freed).
struct Secrets {
    names: [&'static str; MAX_PATTERNS],
    values: [[u8; 32]; MAX_PATTERNS],
    n: usize,
    /// The armed run: report nothing.
    quiet: bool,
}

impl Secrets {
    fn new(quiet: bool) -> Self {
        Secrets {
            names: [""; MAX_PATTERNS],
            values: [[0; 32]; MAX_PATTERNS],
            n: 0,
            quiet,
        }
    }

    fn add(&mut self, name: &'static str, value: [u8; 32]) {
        if self.quiet || self.values[..self.n].contains(&value) {
            return;
        }
        assert!(value != [0; 32], "{name}: not a secret");
        assert!(self.n < MAX_PATTERNS, "too many secrets");
        self.names[self.n] = name;
        self.values[self.n] = value;
        self.n += 1;
    }
}

/// Runs `scenario` once to learn its secrets, then again with them armed: no block freed
/// during the second run may hold one. Returns how many secrets were watched.
fn no_secret_in_freed_heap(what: &str, scenario: impl Fn(&mut Secrets)) -> usize {
    let _serial = SCENARIO.lock().unwrap_or_else(|e| e.into_inner());
    let mut learned = Secrets::new(false);
    scenario(&mut learned);
    assert!(learned.n > 0, "{what}: no secret to watch");
    // SAFETY: disarmed (and serialised by `SCENARIO`): nothing reads the patterns now.
    unsafe {
        let patterns = &mut *PATTERNS.0.get();
        patterns[..learned.n].copy_from_slice(&learned.values[..learned.n]);
    }
    PATTERN_COUNT.store(learned.n, Ordering::SeqCst);
    HITS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    scenario(&mut Secrets::new(true));
    ARMED.store(false, Ordering::SeqCst);
    let hits = HITS.load(Ordering::SeqCst);
    let found: Vec<String> = (0..hits.min(KEPT_HITS))
        .map(|h| {
            let name = learned.names[HIT_PATTERN[h].load(Ordering::SeqCst)];
            format!("{name} ({} B block)", HIT_SIZE[h].load(Ordering::SeqCst))
        })
        .collect();
    assert_eq!(
        hits, 0,
        "{what}: {hits} freed heap block(s) still held a secret: {found:?}"
    );
    learned.n
}

// ---------------------------------------------------------------------------------------------
// Scenario building blocks.

fn random32(rng: &mut ChaCha20Rng) -> [u8; 32] {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b
}

/// The session's current secrets.
fn session_secrets(s: &Session, out: &mut Secrets) {
    out.add("root key", hazmat::root_key(s));
    out.add("ratchet secret", hazmat::ratchet_secret(s));
    if let Some((ck, _)) = hazmat::sending_chain(s) {
        out.add("sending chain key", ck);
        out.add("next message key", hazmat::kdf_ck(&ck).0);
    }
}

/// Encrypts and records the keys used.
fn send(s: &mut Session, rng: &mut ChaCha20Rng, text: &[u8], out: &mut Secrets) -> Vec<u8> {
    session_secrets(s, out);
    let wire = s.encrypt(rng, text).unwrap();
    session_secrets(s, out);
    wire
}

/// `a` opens a session to `b` (b's prekeys are dropped).
fn connect(a: &IdentityKeyPair, b: &IdentityKeyPair, rng: &mut ChaCha20Rng) -> (Session, Session) {
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(b, 1_700_000_000, rng)
        .unwrap();
    let bundle = verified(&prekeys.bundle(b, None).unwrap().to_bytes());
    let mut ab = Session::initiate(a, &bundle, rng).unwrap();
    let hello = ab.encrypt(rng, b"hello").unwrap();
    let (ba, _) = Session::accept(b, &mut prekeys, &common::prekey_msg(&hello)).unwrap();
    (ab, ba)
}

/// Carries a control payload pairwise; the receiver keeps the plaintext wiped on drop, as an
/// application must for payloads that hold chain keys.
fn carry(
    from: &mut Session,
    to: &mut Session,
    f: &Fanout,
    rng: &mut ChaCha20Rng,
) -> Zeroizing<Vec<u8>> {
    let wire = f.seal_for(from, rng).unwrap();
    Zeroizing::new(to.decrypt(&wire).unwrap())
}

/// The chain key in a distribution payload.
fn distributed(payload: &[u8], out: &mut Secrets) {
    if let Some((_, _, ck, _)) = hazmat::group_distribution_fields(payload) {
        out.add("distributed chain key", ck);
        out.add("its first message key", hazmat::kdf_ck(&ck).0);
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Scenarios.

// What these scenarios found, and what keeps them passing:
//
// - prost decodes every `bytes` field of a `&[u8]` input through `Buf::copy_to_bytes`, which
//   allocates a temporary copy of the field and frees it unwiped. Every record that holds a
//   secret is decoded from a wiped `Bytes` instead (`state::decode_secret`), and the prost
//   structs wipe their secret fields on drop.
// - Keys held inline in a `BTreeMap`, `Vec` or `VecDeque` are copied when the container
//   grows, rebalances or removes one, and the copies stay in freed nodes and buffers (or in
//   vacated slots, freed later). Skipped message keys (from `ratchet::skip_forward`'s staging
//   buffer on), receiving chains, a record's sessions, one-time, ML-KEM and signed prekeys,
//   and the group chains are boxed, so that only pointers move.
// - A value moved out of a field (`Option::take`) leaves its bytes behind; in an optimized
//   build the ended sending chain's key stayed in the session. It is dropped in place. CI runs
//   this suite in a release build too.

/// An identity from a seed, its record and seed, sealing under a storage key, and a store
/// that seals it: nothing decoded.
fn identity_scenario(out: &mut Secrets, decode: bool) {
    let mut rng = common::rng(1001);
    let seed = random32(&mut rng);
    out.add("identity seed", seed);
    let id = Box::new(IdentityKeyPair::from_seed(&seed));
    let record = id.to_bytes();
    assert_eq!(*id.to_seed(), seed);
    let key_bytes = random32(&mut rng);
    out.add("storage key", key_bytes);
    let key = Box::new(StorageKey::from_bytes(key_bytes));
    let sealed = id.seal(&key, &mut rng);
    let store = Box::new(MemoryStore::new((*key).clone()));
    store.create_identity(&id).unwrap();
    if decode {
        let restored = Box::new(IdentityKeyPair::from_bytes(&record).unwrap());
        let opened = Box::new(IdentityKeyPair::open(&sealed, &key).unwrap());
        let loaded = store.load_identity().unwrap().unwrap();
        assert_eq!(loaded.public_key(), restored.public_key());
        assert_eq!(opened.public_key(), id.public_key());
    }
    drop((id, record, key, sealed, store));
}

#[test]
fn identity_and_storage_key_leave_no_secret_in_freed_heap() {
    let watched = no_secret_in_freed_heap("identity and storage key", |out| {
        identity_scenario(out, false)
    });
    assert!(watched >= 2);
}

#[test]
fn decoded_identities_leave_no_secret_in_freed_heap() {
    no_secret_in_freed_heap("decoded identity", |out| identity_scenario(out, true));
}

/// A session pair turning the ratchet both ways; with `held`, a message held back (a skipped
/// key), a restore from bytes, and the held message read by the restored session.
fn session_scenario(out: &mut Secrets, held: bool) {
    let (mut alice, mut bob, mut rng) = common::pair(1002, true);
    let alice = &mut alice;
    let bob = &mut bob;
    session_secrets(alice, out);
    session_secrets(bob, out);
    let late = held.then(|| send(alice, &mut rng, b"held back", out));
    let m = send(alice, &mut rng, b"first", out);
    assert_eq!(bob.decrypt(&m).unwrap(), b"first");
    session_secrets(bob, out);
    for turn in 0..3 {
        let r = send(bob, &mut rng, format!("reply {turn}").as_bytes(), out);
        assert!(alice.decrypt(&r).is_ok());
        session_secrets(alice, out);
        let m = send(alice, &mut rng, format!("more {turn}").as_bytes(), out);
        assert!(bob.decrypt(&m).is_ok());
        session_secrets(bob, out);
    }
    let saved = bob.to_bytes();
    let copy = Box::new(alice.clone());
    if let Some(late) = late {
        let mut restored = Box::new(Session::from_bytes(&saved).unwrap());
        assert_eq!(restored.decrypt(&late).unwrap(), b"held back");
    }
    drop((saved, copy));
}

#[test]
fn sessions_leave_no_secret_in_freed_heap() {
    let watched = no_secret_in_freed_heap("sessions", |out| session_scenario(out, false));
    assert!(watched >= 10);
}

#[test]
fn sessions_with_skipped_keys_and_restores_leave_no_secret_in_freed_heap() {
    no_secret_in_freed_heap("sessions with skipped keys", |out| {
        session_scenario(out, true)
    });
}

/// Four sessions in a row in a record (the earlier ones archived), and the responder's;
/// with `decode`, the record restored from bytes.
fn record_scenario(out: &mut Secrets, decode: bool) {
    let mut rng = common::rng(1003);
    let mut bob = common::Responder::new(&mut rng, 4);
    let alice = IdentityKeyPair::from_seed(&random32(&mut rng));
    let mut record = Box::new(SessionRecord::new());
    let mut bob_record = Box::new(SessionRecord::new());
    for i in 0..4 {
        let bundle = verified(&bob.bundle(Some(bob.otk_ids[i])));
        record.initiate(&alice, &bundle, &mut rng).unwrap();
        session_secrets(record.current().unwrap(), out);
        let wire = record.encrypt(&mut rng, b"hi").unwrap();
        session_secrets(record.current().unwrap(), out);
        bob_record
            .decrypt(&bob.identity, &mut bob.prekeys, &wire)
            .unwrap();
        session_secrets(bob_record.current().unwrap(), out);
    }
    let saved = record.to_bytes();
    if decode {
        let restored = Box::new(SessionRecord::from_bytes(&saved).unwrap());
        assert_eq!(restored.archived(), 3);
    }
    drop((record, bob_record, saved));
}

#[test]
fn session_records_leave_no_secret_in_freed_heap() {
    let watched = no_secret_in_freed_heap("session records", |out| record_scenario(out, false));
    assert!(watched >= 8);
}

#[test]
fn decoded_session_records_leave_no_secret_in_freed_heap() {
    no_secret_in_freed_heap("decoded session records", |out| record_scenario(out, true));
}

/// Sends on a record's current session and records the keys used.
fn record_send(
    r: &mut SessionRecord,
    rng: &mut ChaCha20Rng,
    text: &[u8],
    out: &mut Secrets,
) -> Vec<u8> {
    session_secrets(r.current().unwrap(), out);
    let wire = r.encrypt(rng, text).unwrap();
    session_secrets(r.current().unwrap(), out);
    wire
}

/// Records in long use, on the heap as an application keeps them: six sessions in a row (the
/// record's list of sessions grows past its first allocation), a prekey message of each held
/// back, then more DH ratchet steps each way than a session keeps receiving chains (chains are
/// dropped, sending chains end), then the held messages, each of which makes an archived
/// session current again.
fn long_record_scenario(out: &mut Secrets) {
    let mut rng = common::rng(1007);
    let mut bob = common::Responder::new(&mut rng, 6);
    let alice = IdentityKeyPair::from_seed(&random32(&mut rng));
    let mut a = Box::new(SessionRecord::new());
    let mut b = Box::new(SessionRecord::new());
    let mut held = Vec::new();
    for i in 0..6 {
        let bundle = verified(&bob.bundle(Some(bob.otk_ids[i])));
        a.initiate(&alice, &bundle, &mut rng).unwrap();
        let wire = record_send(&mut a, &mut rng, b"hi", out);
        b.decrypt(&bob.identity, &mut bob.prekeys, &wire).unwrap();
        session_secrets(b.current().unwrap(), out);
        held.push(record_send(&mut a, &mut rng, b"held back", out));
    }
    for turn in 0..8 {
        let r = record_send(&mut b, &mut rng, format!("reply {turn}").as_bytes(), out);
        a.decrypt(&alice, &mut PreKeys::new(), &r).unwrap();
        session_secrets(a.current().unwrap(), out);
        let m = record_send(&mut a, &mut rng, format!("more {turn}").as_bytes(), out);
        b.decrypt(&bob.identity, &mut bob.prekeys, &m).unwrap();
        session_secrets(b.current().unwrap(), out);
    }
    for wire in held.iter().take(5) {
        assert_eq!(
            b.decrypt(&bob.identity, &mut bob.prekeys, wire).unwrap(),
            b"held back"
        );
        session_secrets(b.current().unwrap(), out);
    }
    assert_eq!(b.archived(), 5);
    drop((a, b));
}

#[test]
fn records_in_long_use_leave_no_secret_in_freed_heap() {
    let watched = no_secret_in_freed_heap("records in long use", long_record_scenario);
    assert!(watched >= 40);
}

/// How far a prekeys scenario goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PreKeysUse {
    /// Generated, encoded, bundles published.
    Fresh,
    /// And a one-time prekey consumed by a handshake, a signed prekey rotated out.
    Used,
    /// And all that from a record decoded from bytes.
    Decoded,
}

fn prekeys_scenario(out: &mut Secrets, how: PreKeysUse) {
    let mut rng = common::rng(1004);
    let bob = IdentityKeyPair::from_seed(&random32(&mut rng));
    let mut prekeys = Box::new(PreKeys::new());
    prekeys
        .generate_signed_prekey(&bob, 1_700_000_000, &mut rng)
        .unwrap();
    let ids = prekeys.generate_one_time_prekeys(20, &mut rng).unwrap();
    let first = prekeys.signed_prekeys().next().unwrap().0;
    out.add(
        "signed prekey",
        hazmat::signed_prekey_secret(&prekeys, first).unwrap(),
    );
    for id in &ids {
        out.add(
            "one-time prekey",
            hazmat::one_time_prekey_secret(&prekeys, *id).unwrap(),
        );
    }
    let saved = prekeys.to_bytes();
    let bundle = prekeys.bundle(&bob, Some(ids[3])).unwrap().to_bytes();
    if how == PreKeysUse::Fresh {
        drop((prekeys, saved, bundle));
        return;
    }
    if how == PreKeysUse::Decoded {
        prekeys = Box::new(PreKeys::from_bytes(&saved).unwrap());
    }
    // Accepting a handshake consumes a one-time prekey.
    let alice = IdentityKeyPair::from_seed(&random32(&mut rng));
    let mut a = Session::initiate(&alice, &verified(&bundle), &mut rng).unwrap();
    let hello = a.encrypt(&mut rng, b"hi").unwrap();
    let (b, _) = Session::accept(&bob, &mut prekeys, &common::prekey_msg(&hello)).unwrap();
    prekeys
        .generate_signed_prekey(&bob, 1_700_000_100, &mut rng)
        .unwrap();
    let newest = prekeys.signed_prekeys().last().unwrap().0;
    out.add(
        "second signed prekey",
        hazmat::signed_prekey_secret(&prekeys, newest).unwrap(),
    );
    prekeys.remove_signed_prekey(first).unwrap();
    drop((prekeys, saved, a, b));
}

#[test]
fn fresh_prekeys_leave_no_secret_in_freed_heap() {
    let watched = no_secret_in_freed_heap("fresh prekeys", |out| {
        prekeys_scenario(out, PreKeysUse::Fresh)
    });
    assert!(watched >= 20);
}

#[test]
fn used_prekeys_leave_no_secret_in_freed_heap() {
    no_secret_in_freed_heap("used prekeys", |out| {
        prekeys_scenario(out, PreKeysUse::Used)
    });
}

#[test]
fn decoded_prekeys_leave_no_secret_in_freed_heap() {
    no_secret_in_freed_heap("decoded prekeys", |out| {
        prekeys_scenario(out, PreKeysUse::Decoded)
    });
}

/// A group of three (0 admin), every chain exchanged, a known chain of member 1's at member 2
/// with thirty held-back messages, a restore, a rekey and a removal.
fn group_scenario(out: &mut Secrets) {
    let mut rng = common::rng(1005);
    let ids: Vec<IdentityKeyPair> = (0..3)
        .map(|_| IdentityKeyPair::from_seed(&random32(&mut rng)))
        .collect();
    let (mut s01, mut s10) = connect(&ids[0], &ids[1], &mut rng);
    let (mut s02, mut s20) = connect(&ids[0], &ids[2], &mut rng);
    let (mut s12, mut s21) = connect(&ids[1], &ids[2], &mut rng);
    let team = ChannelId::new(b"secrets").unwrap();
    let members = [*ids[1].public_key(), *ids[2].public_key()];
    let (mut g0, invites) = Group::create(&ids[0], team.clone(), &members, &mut rng).unwrap();
    distributed(invites[0].expose_payload(), out);
    let p1 = carry(&mut s01, &mut s10, &invites[0], &mut rng);
    let p2 = carry(&mut s02, &mut s20, &invites[0], &mut rng);
    let (mut g1, r1) = Group::join(&s10, &p1, &mut rng).unwrap();
    let (mut g2, r2) = Group::join(&s20, &p2, &mut rng).unwrap();
    distributed(r1[0].expose_payload(), out);
    distributed(r2[0].expose_payload(), out);
    let p = carry(&mut s10, &mut s01, &r1[0], &mut rng);
    g0.receive(&s01, &p, &mut rng).unwrap();
    let p = carry(&mut s12, &mut s21, &r1[0], &mut rng);
    g2.receive(&s21, &p, &mut rng).unwrap();
    let p = carry(&mut s20, &mut s02, &r2[0], &mut rng);
    g0.receive(&s02, &p, &mut rng).unwrap();
    let p = carry(&mut s21, &mut s12, &r2[0], &mut rng);
    g1.receive(&s12, &p, &mut rng).unwrap();

    // A chain of member 1's whose keys the test knows, with held-back messages.
    let (ck0, seed) = (random32(&mut rng), random32(&mut rng));
    out.add("known chain signing seed", seed);
    // Enough skipped keys that the map of them splits and merges nodes.
    let mut cks = [ck0; 32];
    for i in 1..32 {
        cks[i] = hazmat::kdf_ck(&cks[i - 1]).1;
    }
    for ck in &cks {
        out.add("known chain key", *ck);
        out.add("known message key", hazmat::kdf_ck(ck).0);
    }
    let payload = Zeroizing::new(hazmat::group_distribution_payload(
        &team,
        42,
        0,
        &ck0,
        &hazmat::group_signing_public(&seed),
    ));
    g2.receive(&s21, &payload, &mut rng).unwrap();
    let message = |i: usize| {
        hazmat::group_encrypt(&team, 42, i as u32, &cks[i], &seed, &[1; 4], b"known")
            .unwrap()
            .message
    };
    // Iterations 1 to 30 are held back (skipped keys), then arrive, odd ones first.
    let order = [0, 31]
        .into_iter()
        .chain((1..31).step_by(2))
        .chain((2..31).step_by(2));
    for i in order {
        assert_eq!(
            g2.decrypt(ids[1].public_key(), &message(i)).unwrap(),
            b"known"
        );
    }
    assert_eq!(g2.skipped_keys(), 0);
    for _ in 0..3 {
        let m = g1.encrypt(&mut rng, b"from member 1").unwrap();
        g0.decrypt(ids[1].public_key(), &m).unwrap();
    }
    let saved = g2.to_bytes();
    let mut restored = Box::new(Group::from_bytes(&saved).unwrap());
    let m = g0.encrypt(&mut rng, b"to the restored one").unwrap();
    restored.decrypt(ids[0].public_key(), &m).unwrap();
    let rekey = restored.rekey(&mut rng).unwrap();
    distributed(rekey.expose_payload(), out);
    // The admin removes member 1: everyone left rotates.
    let removal = g0
        .remove(&ids[0], &[*ids[1].public_key()], &mut rng)
        .unwrap();
    for f in &removal {
        distributed(f.expose_payload(), out);
    }
    drop((g0, g1, g2, restored, saved, rekey, removal));
}

#[test]
fn groups_leave_no_secret_in_freed_heap() {
    let watched = no_secret_in_freed_heap("groups", group_scenario);
    assert!(watched >= 20);
}

fn broadcast_scenario(out: &mut Secrets) {
    let mut rng = common::rng(1006);
    let shop = IdentityKeyPair::from_seed(&random32(&mut rng));
    let eve = IdentityKeyPair::from_seed(&random32(&mut rng));
    let (mut eve_shop, mut shop_eve) = connect(&eve, &shop, &mut rng);
    let news = ChannelId::new(b"news").unwrap();
    let mut list = Box::new(BroadcastList::new(shop.public_key(), news.clone()));
    let (mut feed, opt_in) =
        BroadcastSubscription::subscribe(&eve, &eve_shop, news.clone(), 10).unwrap();
    let wire = eve_shop.encrypt(&mut rng, &opt_in).unwrap();
    let read = shop_eve.decrypt(&wire).unwrap();
    assert!(matches!(
        list.receive(&shop_eve, &read).unwrap(),
        ConsentOutcome::Subscribed { .. }
    ));
    for _ in 0..2 {
        let f = list.rekey(&mut rng);
        distributed(f.expose_payload(), out);
        let p = carry(&mut shop_eve, &mut eve_shop, &f, &mut rng);
        feed.receive(&eve_shop, &p).unwrap();
        let held = list.broadcast(&mut rng, b"held").unwrap();
        let m = list.broadcast(&mut rng, b"news").unwrap();
        feed.decrypt(&m).unwrap();
        feed.decrypt(&held).unwrap();
    }
    let saved = feed.to_bytes();
    let restored = Box::new(BroadcastSubscription::from_bytes(&saved).unwrap());
    let saved_list = list.to_bytes();
    let restored_list = Box::new(BroadcastList::from_bytes(&saved_list).unwrap());
    let opt_out = feed.unsubscribe(&eve, 20).unwrap();
    let wire = eve_shop.encrypt(&mut rng, &opt_out).unwrap();
    let read = shop_eve.decrypt(&wire).unwrap();
    list.receive(&shop_eve, &read).unwrap();
    drop((list, feed, saved, restored, saved_list, restored_list));
}

#[test]
fn broadcast_lists_leave_no_secret_in_freed_heap() {
    let watched = no_secret_in_freed_heap("broadcast lists", broadcast_scenario);
    assert!(watched >= 4);
}

// ---------------------------------------------------------------------------------------------
// (a) Debug output of the types the other suites do not cover.

/// Every rendering of `x` shows none of `secrets`.
fn debug_hides(what: &str, shown: [String; 2], secrets: &[[u8; 32]]) {
    for s in &shown {
        for secret in secrets {
            assert_no_secret(s, secret, what);
            // Decimal bytes with any separator: the first eight as they would print.
            let decimal: Vec<String> = secret[..8].iter().map(u8::to_string).collect();
            assert!(
                !s.contains(&decimal.join(", ")) && !s.contains(&decimal.join(",")),
                "{what}: decimal bytes of a secret in {s}"
            );
        }
    }
}

fn render<T: std::fmt::Debug>(x: &T) -> [String; 2] {
    [format!("{x:?}"), format!("{x:#?}")]
}

#[test]
fn debug_of_storage_keys_records_and_stores_shows_no_secret() {
    let mut rng = common::rng(1010);
    let key_bytes = random32(&mut rng);
    let key = StorageKey::from_bytes(key_bytes);
    debug_hides("StorageKey", render(&key), &[key_bytes]);
    let store = MemoryStore::new(key.clone());
    let me = IdentityKeyPair::from_seed(&random32(&mut rng));
    store.create_identity(&me).unwrap();
    debug_hides("MemoryStore", render(&store), &[key_bytes, *me.to_seed()]);

    // A session record with three sessions.
    let mut bob = common::Responder::new(&mut rng, 3);
    let mut record = SessionRecord::new();
    let mut secrets = vec![key_bytes];
    for i in 0..3 {
        let bundle = verified(&bob.bundle(Some(bob.otk_ids[i])));
        record.initiate(&me, &bundle, &mut rng).unwrap();
        let s = record.current().unwrap();
        secrets.push(hazmat::root_key(s));
        secrets.push(hazmat::ratchet_secret(s));
        secrets.push(hazmat::sending_chain(s).unwrap().0);
    }
    let wire = record.encrypt(&mut rng, b"hi").unwrap();
    let mut bob_record = SessionRecord::new();
    bob_record
        .decrypt(&bob.identity, &mut bob.prekeys, &wire)
        .unwrap();
    let b = bob_record.current().unwrap();
    secrets.push(hazmat::root_key(b));
    secrets.push(hazmat::ratchet_secret(b));
    debug_hides("SessionRecord", render(&record), &secrets);
    debug_hides("SessionRecord (responder)", render(&bob_record), &secrets);
    // Sealed entries and opaque records show sizes only.
    let sealed = record.seal(&key, &mut rng);
    let opened = SessionRecord::open(&sealed, &key).unwrap();
    debug_hides("opened SessionRecord", render(&opened), &secrets);
}

#[test]
fn debug_of_group_types_shows_no_secret_in_any_form() {
    // tests/group.rs checks lower-case hex; here every form, and the values a receive returns.
    let mut rng = common::rng(1011);
    let ids: Vec<IdentityKeyPair> = (0..2)
        .map(|_| IdentityKeyPair::from_seed(&random32(&mut rng)))
        .collect();
    let (mut s01, mut s10) = connect(&ids[0], &ids[1], &mut rng);
    let team = ChannelId::new(b"debug").unwrap();
    let (mut g0, invites) =
        Group::create(&ids[0], team.clone(), &[*ids[1].public_key()], &mut rng).unwrap();
    let mut secrets = Vec::new();
    let fields = |p: &[u8]| hazmat::group_distribution_fields(p).unwrap().2;
    secrets.push(fields(invites[0].expose_payload()));
    let p = carry(&mut s01, &mut s10, &invites[0], &mut rng);
    let (mut g1, replies) = Group::join(&s10, &p, &mut rng).unwrap();
    secrets.push(fields(replies[0].expose_payload()));
    let p = carry(&mut s10, &mut s01, &replies[0], &mut rng);
    let received = g0.receive(&s01, &p, &mut rng).unwrap();
    let rekey = g1.rekey(&mut rng).unwrap();
    secrets.push(fields(rekey.expose_payload()));
    let p = carry(&mut s10, &mut s01, &rekey, &mut rng);
    let received_rekey = g0.receive(&s01, &p, &mut rng).unwrap();
    // The chain keys after a few messages, and their message keys.
    for _ in 0..3 {
        let m = g1.encrypt(&mut rng, b"x").unwrap();
        g0.decrypt(ids[1].public_key(), &m).unwrap();
    }
    let mut more = Vec::new();
    for ck in &secrets {
        let mut k = *ck;
        for _ in 0..4 {
            let (mk, next) = hazmat::kdf_ck(&k);
            more.push(mk);
            more.push(next);
            k = next;
        }
    }
    secrets.extend(more);
    debug_hides("Group (admin)", render(&g0), &secrets);
    debug_hides("Group (member)", render(&g1), &secrets);
    debug_hides("Fanout", render(&rekey), &secrets);
    debug_hides("Received", render(&received), &secrets);
    debug_hides("Received (rekey)", render(&received_rekey), &secrets);
    let removal = g0
        .remove(&ids[0], &[*ids[1].public_key()], &mut rng)
        .unwrap();
    for f in &removal {
        // The removed member's fanout is the roster alone.
        if let Some((_, _, ck, _)) = hazmat::group_distribution_fields(f.expose_payload()) {
            secrets.push(ck);
        }
    }
    debug_hides("removal fanouts", render(&removal), &secrets);

    // A list and a subscription, and the outcome of an opt-in once a chain exists.
    let (mut eve_shop, mut shop_eve) = connect(&ids[1], &ids[0], &mut rng);
    let news = ChannelId::new(b"news").unwrap();
    let mut list = BroadcastList::new(ids[0].public_key(), news.clone());
    let f = list.rekey(&mut rng);
    secrets.push(fields(f.expose_payload()));
    let (mut feed, opt_in) =
        BroadcastSubscription::subscribe(&ids[1], &eve_shop, news, 10).unwrap();
    let wire = eve_shop.encrypt(&mut rng, &opt_in).unwrap();
    let read = shop_eve.decrypt(&wire).unwrap();
    let outcome = list.receive(&shop_eve, &read).unwrap();
    let ConsentOutcome::Subscribed {
        distribution: Some(d),
        ..
    } = &outcome
    else {
        panic!("a subscription with a chain in place hands it out");
    };
    let p = carry(&mut shop_eve, &mut eve_shop, d, &mut rng);
    feed.receive(&eve_shop, &p).unwrap();
    debug_hides("ConsentOutcome", render(&outcome), &secrets);
    debug_hides("BroadcastList", render(&list), &secrets);
    debug_hides("BroadcastSubscription", render(&feed), &secrets);
    let envelope = Envelope::parse(&wire).unwrap();
    debug_hides("Envelope of a consent", render(&envelope), &secrets);
}
