//! The storage layer: compare-and-swap semantics and sealing of `MemoryStore`, crash safety of
//! the decrypt → persist → hand-out order, and the retry loop under concurrent writers.

mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use sealpost::hazmat;
use sealpost::store::{
    MemoryStore, SealedEntry, Slot, SlotWrite, Store, StoreError, StoreOpError, decrypt_and_store,
    encrypt_and_store, initiate_and_store,
};
use sealpost::{
    DecryptError, HandshakeError, IdentityKey, IdentityKeyPair, PreKeyBundle, PreKeys, RecordError,
    SealError, SessionRecord, StorageKey,
};

type Hook = Box<dyn FnOnce(&MemoryStore) + Send>;

/// A store that can fail every write (a full disk, a lost database connection, a crash at the
/// write) and can run another "gateway's" work on the same data at chosen moments.
struct TestStore {
    inner: MemoryStore,
    fail_writes: AtomicBool,
    writes_attempted: Mutex<u32>,
    /// Runs once, right before the next write reaches the inner store.
    before_swap: Mutex<Option<Hook>>,
    /// Runs once, right after the next load of a slot of this kind.
    after_load: Mutex<Option<(u8, Hook)>>,
}

impl TestStore {
    fn new(key: StorageKey) -> Self {
        TestStore {
            inner: MemoryStore::new(key),
            fail_writes: AtomicBool::new(false),
            writes_attempted: Mutex::new(0),
            before_swap: Mutex::new(None),
            after_load: Mutex::new(None),
        }
    }
}

impl Store for TestStore {
    fn storage_key(&self) -> &StorageKey {
        self.inner.storage_key()
    }

    fn load_sealed(&self, slot: &Slot<'_>) -> Result<Option<SealedEntry>, StoreError> {
        let entry = self.inner.load_sealed(slot)?;
        let mut hook = self.after_load.lock().unwrap();
        if hook.as_ref().is_some_and(|(kind, _)| *kind == slot.kind()) {
            let (_, f) = hook.take().unwrap();
            drop(hook);
            f(&self.inner);
        }
        Ok(entry)
    }

    fn swap_sealed(&self, writes: &[SlotWrite<'_>]) -> Result<(), StoreError> {
        *self.writes_attempted.lock().unwrap() += 1;
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("disk full".into()));
        }
        let hook = self.before_swap.lock().unwrap().take();
        if let Some(f) = hook {
            f(&self.inner);
        }
        self.inner.swap_sealed(writes)
    }
}

/// A business with its identity and prekeys (one signed prekey, `otks` one-time prekeys) in
/// `store`, and the bundle of its first one-time prekey.
fn business_in<S: Store>(store: &S, seed: u64, otks: usize) -> (IdentityKeyPair, Vec<u8>) {
    let mut rng = common::rng(seed);
    let r = common::Responder::new(&mut rng, otks);
    store.create_identity(&r.identity).unwrap();
    store.put_prekeys(None, &r.prekeys).unwrap();
    let bundle = r.bundle(r.otk_ids.first().copied());
    (r.identity, bundle)
}

fn verified(bundle: &[u8]) -> sealpost::VerifiedBundle {
    PreKeyBundle::from_bytes(bundle).unwrap().verify().unwrap()
}

/// A customer with a session started from `bundle`.
fn customer(seed: u64, bundle: &[u8]) -> (IdentityKeyPair, SessionRecord) {
    let mut rng = common::rng(seed);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut rec = SessionRecord::new();
    rec.initiate(&id, &verified(bundle), &mut rng).unwrap();
    (id, rec)
}

fn key(seed: u64) -> StorageKey {
    StorageKey::generate(&mut common::rng(seed))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// --- MemoryStore: compare-and-swap ------------------------------------------------------------

#[test]
fn session_writes_are_compare_and_swap_on_revision() {
    let store = MemoryStore::new(key(1));
    let (_, bundle) = business_in(&store, 2, 0);
    let (c, mut rec) = customer(3, &bundle);
    let mut rng = common::rng(4);
    // The customer's own store: the record is keyed by the business's identity.
    let peer = *verified(&bundle).identity();
    assert!(store.load_session(&peer).unwrap().is_none());

    store.put_session(&peer, None, &rec).unwrap();
    let r1 = rec.revision();
    // None = must not exist yet.
    match store.put_session(&peer, None, &rec) {
        Err(StoreError::Conflict { current }) => assert_eq!(current, Some(r1)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Two writers advance from r1: the first wins, the second sees the new revision.
    let mut a = store.load_session(&peer).unwrap().unwrap();
    let mut b = store.load_session(&peer).unwrap().unwrap();
    assert_eq!(a.revision(), r1);
    a.encrypt(&mut rng, b"a").unwrap();
    b.encrypt(&mut rng, b"b").unwrap();
    store.put_session(&peer, Some(r1), &a).unwrap();
    match store.put_session(&peer, Some(r1), &b) {
        Err(StoreError::Conflict { current }) => assert_eq!(current, Some(a.revision())),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.load_session(&peer).unwrap().unwrap().to_bytes(),
        a.to_bytes()
    );
    // A write must advance the revision (no rollback through the front door).
    match store.put_session(&peer, Some(a.revision()), &a) {
        Err(StoreError::RevisionNotAdvanced { expected, new }) => {
            assert_eq!((expected, new), (a.revision(), a.revision()));
        }
        other => panic!("expected RevisionNotAdvanced, got {other:?}"),
    }
    // Expecting a record where there is none is a conflict too.
    let nobody = *IdentityKeyPair::generate(&mut rng).public_key();
    rec.encrypt(&mut rng, b"x").unwrap();
    let mut other = SessionRecord::new();
    other.trust_new_identity(nobody);
    match store.put_session(&nobody, Some(0), &other) {
        Err(StoreError::Conflict { current: None }) => {}
        r => panic!("expected Conflict {{ current: None }}, got {r:?}"),
    }
    // A record is stored under its own peer only.
    match store.put_session(c.public_key(), None, &rec) {
        Err(StoreError::WrongPeer(m)) => {
            assert_eq!(&m.expected, c.public_key());
            assert_eq!(m.received, peer);
        }
        r => panic!("expected WrongPeer, got {r:?}"),
    }
}

#[test]
fn session_and_prekeys_write_is_all_or_nothing() {
    let store = MemoryStore::new(key(5));
    let (business, bundle) = business_in(&store, 6, 2);
    let (c, mut at_customer) = customer(7, &bundle);
    let mut rng = common::rng(8);
    let hello = at_customer.encrypt(&mut rng, b"hello").unwrap();

    let mut prekeys = store.load_prekeys().unwrap().unwrap();
    let p0 = prekeys.revision();
    let mut rec = SessionRecord::new();
    rec.decrypt(&business, &mut prekeys, &hello).unwrap();
    assert!(prekeys.revision() > p0);

    // Meanwhile someone else changed the prekeys: the batch fails and writes no session.
    let mut other = store.load_prekeys().unwrap().unwrap();
    other.generate_one_time_prekeys(1, &mut rng).unwrap();
    store.put_prekeys(Some(p0), &other).unwrap();
    match store.put_session_and_prekeys(c.public_key(), None, &rec, Some(p0), &prekeys) {
        Err(StoreError::Conflict { current }) => assert_eq!(current, Some(other.revision())),
        r => panic!("expected a conflict, got {r:?}"),
    }
    assert!(store.load_session(c.public_key()).unwrap().is_none());

    // Through the helper, the retry works on the fresh prekeys and writes both.
    assert_eq!(
        decrypt_and_store(&store, &business, c.public_key(), &hello).unwrap(),
        b"hello"
    );
    let stored = store.load_prekeys().unwrap().unwrap();
    assert_eq!(stored.one_time_prekey_ids().count(), 2); // 2 + 1 generated - 1 consumed
    assert!(store.load_session(c.public_key()).unwrap().is_some());
}

// --- MemoryStore: sealing ----------------------------------------------------------------------

#[test]
fn records_are_sealed_at_rest_and_bound_to_their_slot() {
    let store = MemoryStore::new(key(10));
    let (business, bundle) = business_in(&store, 11, 1);
    let (c, mut at_customer) = customer(12, &bundle);
    let mut rng = common::rng(13);
    let m = at_customer.encrypt(&mut rng, b"hi").unwrap();
    decrypt_and_store(&store, &business, c.public_key(), &m).unwrap();
    assert_eq!(store.len(), 3);

    let rec = store.load_session(c.public_key()).unwrap().unwrap();
    let session_slot = Slot::Session(c.public_key());
    let raw = store.load_sealed(&session_slot).unwrap().unwrap();
    assert_eq!(raw.revision, rec.revision());
    let plain = rec.to_bytes();
    assert_ne!(raw.sealed.as_slice(), plain.as_slice());
    // No secret of the record appears in what the backend holds.
    let root = hazmat::root_key(rec.current().unwrap());
    assert!(contains(&plain, &root));
    assert!(!contains(&raw.sealed, &root));
    assert!(!contains(&raw.sealed, &plain[..64]));
    let id_raw = store.load_sealed(&Slot::Identity).unwrap().unwrap();
    assert!(!contains(&id_raw.sealed, &*business.to_seed()));

    // The same bytes under another storage key do not open.
    let other = MemoryStore::new(key(14));
    other
        .swap_sealed(&[SlotWrite {
            slot: session_slot,
            expected: None,
            entry: raw.clone(),
        }])
        .unwrap();
    match other.load_session(c.public_key()) {
        Err(StoreError::Seal(SealError::Authentication)) => {}
        r => panic!("expected a seal error, got {r:?}"),
    }
    // A record copied into another peer's slot, or with another revision, is refused.
    let stranger = *IdentityKeyPair::generate(&mut rng).public_key();
    store
        .swap_sealed(&[SlotWrite {
            slot: Slot::Session(&stranger),
            expected: None,
            entry: raw.clone(),
        }])
        .unwrap();
    assert!(matches!(
        store.load_session(&stranger),
        Err(StoreError::Mismatch)
    ));
    store
        .swap_sealed(&[SlotWrite {
            slot: session_slot,
            expected: Some(raw.revision),
            entry: SealedEntry {
                revision: raw.revision + 5,
                sealed: raw.sealed.clone(),
            },
        }])
        .unwrap();
    assert!(matches!(
        store.load_session(c.public_key()),
        Err(StoreError::Mismatch)
    ));
    // A prekeys record in the session slot does not open (the record kind is sealed in).
    let pk_raw = store.load_sealed(&Slot::PreKeys).unwrap().unwrap();
    store
        .swap_sealed(&[SlotWrite {
            slot: session_slot,
            expected: Some(raw.revision + 5),
            entry: pk_raw,
        }])
        .unwrap();
    assert!(matches!(
        store.load_session(c.public_key()),
        Err(StoreError::Seal(SealError::Authentication))
    ));
}

#[test]
fn sender_key_records_are_opaque_sealed_and_compare_and_swap() {
    let store = MemoryStore::new(key(20));
    let mut rng = common::rng(21);
    let alice = *IdentityKeyPair::generate(&mut rng).public_key();
    let bob = *IdentityKeyPair::generate(&mut rng).public_key();
    let secret = b"chain key 0123456789abcdef0123456789abcdef";

    store
        .put_sender_key(b"group-1", &alice, None, 1, secret)
        .unwrap();
    let loaded = store.load_sender_key(b"group-1", &alice).unwrap().unwrap();
    assert_eq!((loaded.revision, loaded.bytes.as_slice()), (1, &secret[..]));
    assert!(store.load_sender_key(b"group-1", &bob).unwrap().is_none());
    assert!(store.load_sender_key(b"group-2", &alice).unwrap().is_none());

    let slot = Slot::SenderKey {
        group: b"group-1",
        sender: &alice,
    };
    let raw = store.load_sealed(&slot).unwrap().unwrap();
    assert!(!contains(&raw.sealed, secret));

    assert!(matches!(
        store.put_sender_key(b"group-1", &alice, None, 2, secret),
        Err(StoreError::Conflict { current: Some(1) })
    ));
    assert!(matches!(
        store.put_sender_key(b"group-1", &alice, Some(1), 1, secret),
        Err(StoreError::RevisionNotAdvanced { .. })
    ));
    store
        .put_sender_key(b"group-1", &alice, Some(1), 2, b"next")
        .unwrap();
    assert!(matches!(
        store.put_sender_key(b"group-1", &alice, Some(1), 3, b"stale"),
        Err(StoreError::Conflict { current: Some(2) })
    ));
    let too_big = vec![0u8; sealpost::store::MAX_OPAQUE_RECORD_SIZE + 1];
    assert!(matches!(
        store.put_sender_key(b"g", &alice, None, 1, &too_big),
        Err(StoreError::TooLarge)
    ));

    // Sealed bytes moved to another group or sender do not load there.
    let raw = store.load_sealed(&slot).unwrap().unwrap();
    for wrong in [
        Slot::SenderKey {
            group: b"group-2",
            sender: &alice,
        },
        Slot::SenderKey {
            group: b"group-1",
            sender: &bob,
        },
    ] {
        store
            .swap_sealed(&[SlotWrite {
                slot: wrong,
                expected: None,
                entry: raw.clone(),
            }])
            .unwrap();
        let Slot::SenderKey { group, sender } = wrong else {
            unreachable!()
        };
        assert!(matches!(
            store.load_sender_key(group, sender),
            Err(StoreError::Mismatch)
        ));
    }
}

// --- Crash safety ------------------------------------------------------------------------------

/// The (ratchet key, counter) of every message handed out must be unique.
fn assert_fresh(sent: &mut HashSet<([u8; 32], u32)>, wire: &[u8]) {
    let (ratchet, _, n) = hazmat::parse_header(wire).unwrap();
    assert!(sent.insert((ratchet, n)), "message key used twice");
}

#[test]
fn failed_write_hands_out_nothing_and_redelivery_decrypts() {
    let store = TestStore::new(key(30));
    let (business, bundle) = business_in(&store, 31, 1);
    let (c, mut at_customer) = customer(32, &bundle);
    let peer = *c.public_key();
    let mut rng = common::rng(33);
    let mut sent_by_business = HashSet::new();

    // A prekey message arrives; the write of the new session fails (crash, full disk).
    let hello = at_customer.encrypt(&mut rng, b"hello").unwrap();
    let prekeys_before = store.load_sealed(&Slot::PreKeys).unwrap().unwrap();
    store.fail_writes.store(true, Ordering::SeqCst);
    match decrypt_and_store(&store, &business, &peer, &hello) {
        Err(StoreOpError::Store(StoreError::Backend(_))) => {}
        r => panic!("expected a backend error and no plaintext, got {r:?}"),
    }
    // Nothing changed: no session, and the one-time prekey is still there.
    assert!(store.load_session(&peer).unwrap().is_none());
    assert_eq!(
        store.load_sealed(&Slot::PreKeys).unwrap().unwrap(),
        prekeys_before
    );

    // After recovery the transport redelivers: the message is not lost.
    store.fail_writes.store(false, Ordering::SeqCst);
    assert_eq!(
        decrypt_and_store(&store, &business, &peer, &hello).unwrap(),
        b"hello"
    );
    assert_eq!(
        store
            .load_prekeys()
            .unwrap()
            .unwrap()
            .one_time_prekey_ids()
            .count(),
        0
    );
    // A third delivery is a duplicate: its key is gone.
    assert!(matches!(
        decrypt_and_store(&store, &business, &peer, &hello),
        Err(StoreOpError::Record(RecordError::Decrypt(
            DecryptError::Duplicate { .. }
        )))
    ));

    // Sending: a reply whose record write fails is never handed out.
    store.fail_writes.store(true, Ordering::SeqCst);
    let rec_before = store.load_session(&peer).unwrap().unwrap().to_bytes();
    assert!(matches!(
        encrypt_and_store(&store, &mut rng, &peer, b"lost reply"),
        Err(StoreOpError::Store(StoreError::Backend(_)))
    ));
    assert_eq!(
        store.load_session(&peer).unwrap().unwrap().to_bytes(),
        rec_before
    );
    store.fail_writes.store(false, Ordering::SeqCst);
    let reply = encrypt_and_store(&store, &mut rng, &peer, b"reply").unwrap();
    assert_fresh(&mut sent_by_business, &reply);
    assert_eq!(
        at_customer
            .decrypt(&c, &mut PreKeys::new(), &reply)
            .unwrap(),
        b"reply"
    );

    // A ratchet message: the same again, and the record is byte-for-byte unchanged.
    let m = at_customer.encrypt(&mut rng, b"thanks").unwrap();
    store.fail_writes.store(true, Ordering::SeqCst);
    let rec_before = store.load_session(&peer).unwrap().unwrap().to_bytes();
    assert!(decrypt_and_store(&store, &business, &peer, &m).is_err());
    assert_eq!(
        store.load_session(&peer).unwrap().unwrap().to_bytes(),
        rec_before
    );
    store.fail_writes.store(false, Ordering::SeqCst);
    assert_eq!(
        decrypt_and_store(&store, &business, &peer, &m).unwrap(),
        b"thanks"
    );
    for i in 0..5u8 {
        let w = encrypt_and_store(&store, &mut rng, &peer, &[i]).unwrap();
        assert_fresh(&mut sent_by_business, &w);
        assert_eq!(
            at_customer.decrypt(&c, &mut PreKeys::new(), &w).unwrap(),
            vec![i]
        );
    }
}

#[test]
fn a_message_delivered_to_two_gateways_at_once_reaches_the_app_once() {
    let store = TestStore::new(key(40));
    let (business, bundle) = business_in(&store, 41, 1);
    let (c, mut at_customer) = customer(42, &bundle);
    let peer = *c.public_key();
    let mut rng = common::rng(43);
    let hello = at_customer.encrypt(&mut rng, b"hello").unwrap();

    // Gateway B delivers the same prekey message between our load and our write.
    let delivered_by_b = std::sync::Arc::new(Mutex::new(None));
    let (b_out, b_id, b_msg) = (
        delivered_by_b.clone(),
        IdentityKeyPair::from_seed(&business.to_seed()),
        hello.clone(),
    );
    *store.before_swap.lock().unwrap() = Some(Box::new(move |inner: &MemoryStore| {
        *b_out.lock().unwrap() = Some(decrypt_and_store(inner, &b_id, &peer, &b_msg));
    }));
    let writes_before = *store.writes_attempted.lock().unwrap();
    match decrypt_and_store(&store, &business, &peer, &hello) {
        Err(StoreOpError::Record(RecordError::Decrypt(DecryptError::Duplicate { .. }))) => {}
        r => panic!("gateway A should see a duplicate, got {r:?}"),
    }
    assert_eq!(
        delivered_by_b.lock().unwrap().take().unwrap().unwrap(),
        b"hello"
    );
    // One write (it lost the race); the retry found a duplicate and wrote nothing.
    assert_eq!(*store.writes_attempted.lock().unwrap(), writes_before + 1);

    // Different messages racing: both are delivered, each once, after one retry.
    let reply = encrypt_and_store(&store, &mut rng, &peer, b"hi").unwrap();
    at_customer
        .decrypt(&c, &mut PreKeys::new(), &reply)
        .unwrap();
    let m1 = at_customer.encrypt(&mut rng, b"one").unwrap();
    let m2 = at_customer.encrypt(&mut rng, b"two").unwrap();
    let (b_out, b_id) = (
        delivered_by_b.clone(),
        IdentityKeyPair::from_seed(&business.to_seed()),
    );
    *store.before_swap.lock().unwrap() = Some(Box::new(move |inner: &MemoryStore| {
        *b_out.lock().unwrap() = Some(decrypt_and_store(inner, &b_id, &peer, &m1));
    }));
    assert_eq!(
        decrypt_and_store(&store, &business, &peer, &m2).unwrap(),
        b"two"
    );
    assert_eq!(
        delivered_by_b.lock().unwrap().take().unwrap().unwrap(),
        b"one"
    );
}

#[test]
fn a_decryption_failure_on_a_stale_copy_is_retried_on_the_fresh_record() {
    let store = TestStore::new(key(50));
    let (business, _) = business_in(&store, 51, 0);
    let mut rng = common::rng(52);
    // Another gateway rotates in a new signed prekey and publishes it; a customer uses it.
    let mut rotated = store.load_prekeys().unwrap().unwrap();
    let old_revision = rotated.revision();
    rotated
        .generate_signed_prekey(&business, 1_800_000_000, &mut rng)
        .unwrap();
    let bundle = rotated.bundle(&business, None).unwrap().to_bytes();
    let (c, mut at_customer) = customer(53, &bundle);
    let hello = at_customer.encrypt(&mut rng, b"hello").unwrap();

    // Our gateway loads the prekeys just before the rotation lands.
    *store.after_load.lock().unwrap() = Some((
        sealpost::consts::RECORD_KIND_PREKEYS,
        Box::new(move |inner: &MemoryStore| {
            inner.put_prekeys(Some(old_revision), &rotated).unwrap();
        }),
    ));
    assert_eq!(
        decrypt_and_store(&store, &business, c.public_key(), &hello).unwrap(),
        b"hello"
    );

    // Without a change in the store, the failure is reported (a bundle of prekeys the
    // business never stored).
    let mut fresh = IdentityKeyPair::generate(&mut rng);
    let mut other = SessionRecord::new();
    let bad_bundle = {
        let mut p = PreKeys::new();
        p.generate_signed_prekey(&business, 0, &mut rng).unwrap();
        p.bundle(&business, None).unwrap().to_bytes()
    };
    other
        .initiate(&fresh, &verified(&bad_bundle), &mut rng)
        .unwrap();
    let m = other.encrypt(&mut rng, b"?").unwrap();
    match decrypt_and_store(&store, &business, fresh.public_key(), &m) {
        Err(StoreOpError::Record(RecordError::Handshake(
            HandshakeError::UnknownSignedPreKey(_) | HandshakeError::Decrypt(_),
        ))) => {}
        r => panic!("expected a handshake error, got {r:?}"),
    }
    assert!(store.load_session(fresh.public_key()).unwrap().is_none());
    // A prekey message from another identity than the transport's sender is refused.
    fresh = IdentityKeyPair::generate(&mut rng);
    assert!(matches!(
        decrypt_and_store(&store, &business, fresh.public_key(), &hello),
        Err(StoreOpError::Record(RecordError::UntrustedIdentity(_)))
    ));
}

#[test]
fn initiate_and_store_then_talk_through_two_stores() {
    let business_store = MemoryStore::new(key(60));
    let customer_store = MemoryStore::new(key(61));
    let (business, bundle) = business_in(&business_store, 62, 1);
    let mut rng = common::rng(63);
    let c = IdentityKeyPair::generate(&mut rng);
    let b_peer: IdentityKey = *business.public_key();

    assert!(matches!(
        encrypt_and_store(&customer_store, &mut rng, &b_peer, b"no session"),
        Err(StoreOpError::Store(StoreError::NotFound))
    ));
    initiate_and_store(&customer_store, &c, &verified(&bundle), &mut rng).unwrap();
    let mut sent = HashSet::new();
    for i in 0..10u8 {
        let w = encrypt_and_store(&customer_store, &mut rng, &b_peer, &[i]).unwrap();
        assert_fresh(&mut sent, &w);
        assert_eq!(
            decrypt_and_store(&business_store, &business, c.public_key(), &w).unwrap(),
            vec![i]
        );
        let w = encrypt_and_store(&business_store, &mut rng, c.public_key(), &[i, i]).unwrap();
        assert_fresh(&mut sent, &w);
        assert_eq!(
            decrypt_and_store(&customer_store, &c, &b_peer, &w).unwrap(),
            vec![i, i]
        );
    }
}
