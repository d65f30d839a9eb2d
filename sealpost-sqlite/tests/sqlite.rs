//! `SqliteStore`: the same compare-and-swap semantics as `MemoryStore`, sealing at rest,
//! atomic batches, and persistence across reopening the file.

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sealpost::store::{
    MemoryStore, SealedEntry, Slot, SlotWrite, Store, StoreError, decrypt_and_store,
    encrypt_and_store,
};
use sealpost::{IdentityKeyPair, PreKeyBundle, PreKeys, SealError, SessionRecord, StorageKey};
use sealpost_sqlite::SqliteStore;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn entry(revision: u64, byte: u8) -> SealedEntry {
    SealedEntry {
        revision,
        sealed: vec![byte; 40],
    }
}

/// The raw compare-and-swap contract, run against any backend.
fn raw_cas_contract<S: Store>(store: &S) {
    let mut r = rng(1);
    let peer = *IdentityKeyPair::generate(&mut r).public_key();
    let other = *IdentityKeyPair::generate(&mut r).public_key();
    let slot = Slot::Session(&peer);
    let w = |expected, e| SlotWrite {
        slot,
        expected,
        entry: e,
    };
    assert_eq!(store.load_sealed(&slot).unwrap(), None);
    // Expecting a record where there is none.
    assert!(matches!(
        store.swap_sealed(&[w(Some(0), entry(1, 1))]),
        Err(StoreError::Conflict { current: None })
    ));
    store.swap_sealed(&[w(None, entry(1, 1))]).unwrap();
    assert_eq!(store.load_sealed(&slot).unwrap(), Some(entry(1, 1)));
    assert!(matches!(
        store.swap_sealed(&[w(None, entry(2, 2))]),
        Err(StoreError::Conflict { current: Some(1) })
    ));
    store.swap_sealed(&[w(Some(1), entry(2, 2))]).unwrap();
    assert!(matches!(
        store.swap_sealed(&[w(Some(1), entry(3, 3))]),
        Err(StoreError::Conflict { current: Some(2) })
    ));
    assert_eq!(store.load_sealed(&slot).unwrap(), Some(entry(2, 2)));

    // A batch is all or nothing: the second write conflicts, the first is rolled back.
    let other_slot = Slot::Session(&other);
    let batch = [
        w(Some(2), entry(3, 3)),
        SlotWrite {
            slot: other_slot,
            expected: Some(7),
            entry: entry(8, 8),
        },
    ];
    assert!(matches!(
        store.swap_sealed(&batch),
        Err(StoreError::Conflict { current: None })
    ));
    assert_eq!(store.load_sealed(&slot).unwrap(), Some(entry(2, 2)));
    assert_eq!(store.load_sealed(&other_slot).unwrap(), None);
    // Later writes in a batch see the earlier ones.
    store
        .swap_sealed(&[
            w(Some(2), entry(3, 3)),
            w(Some(3), entry(4, 4)),
            SlotWrite {
                slot: other_slot,
                expected: None,
                entry: entry(1, 9),
            },
        ])
        .unwrap();
    assert_eq!(store.load_sealed(&slot).unwrap(), Some(entry(4, 4)));
    assert_eq!(store.load_sealed(&other_slot).unwrap(), Some(entry(1, 9)));

    // Slots of different kinds and sender-key slots do not collide.
    let sk = Slot::SenderKey {
        group: b"",
        sender: &peer,
    };
    assert_eq!(store.load_sealed(&sk).unwrap(), None);
    assert_eq!(store.load_sealed(&Slot::PreKeys).unwrap(), None);
    assert_eq!(store.load_sealed(&Slot::Identity).unwrap(), None);
}

#[test]
fn sqlite_and_memory_share_the_compare_and_swap_contract() {
    raw_cas_contract(&MemoryStore::new(StorageKey::from_bytes([1; 32])));
    raw_cas_contract(&SqliteStore::open_in_memory(StorageKey::from_bytes([1; 32])).unwrap());
    let dir = tempfile::tempdir().unwrap();
    raw_cas_contract(
        &SqliteStore::open(dir.path().join("cas.db"), StorageKey::from_bytes([1; 32])).unwrap(),
    );
}

#[test]
fn a_conversation_survives_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.db");
    let mut r = rng(2);
    let key = StorageKey::generate(&mut r);
    let business = IdentityKeyPair::generate(&mut r);
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(&business, 1_700_000_000, &mut r)
        .unwrap();
    let otk = prekeys.generate_one_time_prekeys(3, &mut r).unwrap()[0];
    let bundle =
        PreKeyBundle::from_bytes(&prekeys.bundle(&business, Some(otk)).unwrap().to_bytes())
            .unwrap()
            .verify()
            .unwrap();
    let customer = IdentityKeyPair::generate(&mut r);
    let mut at_customer = SessionRecord::new();
    at_customer.initiate(&customer, &bundle, &mut r).unwrap();

    {
        let store = SqliteStore::open(&path, key.clone()).unwrap();
        assert_eq!(store.path(), Some(path.as_path()));
        store.create_identity(&business).unwrap();
        store.put_prekeys(None, &prekeys).unwrap();
        let m = at_customer.encrypt(&mut r, b"before restart").unwrap();
        let id = store.load_identity().unwrap().unwrap();
        assert_eq!(
            decrypt_and_store(&store, &id, customer.public_key(), &m).unwrap(),
            b"before restart"
        );
        assert_eq!(store.count().unwrap(), 3);
    }

    // Restart: a new connection on the same file.
    let store = SqliteStore::open(&path, key.clone()).unwrap();
    let id = store.load_identity().unwrap().unwrap();
    assert_eq!(id.public_key(), business.public_key());
    let stored = store.load_prekeys().unwrap().unwrap();
    assert!(!stored.one_time_prekey_ids().any(|i| i == otk));
    let m = at_customer.encrypt(&mut r, b"after restart").unwrap();
    assert_eq!(
        decrypt_and_store(&store, &id, customer.public_key(), &m).unwrap(),
        b"after restart"
    );
    let reply = encrypt_and_store(&store, &mut r, customer.public_key(), b"welcome back").unwrap();
    assert_eq!(
        at_customer
            .decrypt(&customer, &mut PreKeys::new(), &reply)
            .unwrap(),
        b"welcome back"
    );

    // What the file holds is sealed: another key opens nothing.
    let raw = store
        .load_sealed(&Slot::Session(customer.public_key()))
        .unwrap()
        .unwrap();
    let plain = store
        .load_session(customer.public_key())
        .unwrap()
        .unwrap()
        .to_bytes();
    assert_ne!(raw.sealed.as_slice(), plain.as_slice());
    assert!(
        !raw.sealed
            .windows(32)
            .any(|w| plain.windows(32).any(|p| p == w))
    );
    drop(store);
    let wrong = SqliteStore::open(&path, StorageKey::from_bytes([9; 32])).unwrap();
    assert!(matches!(
        wrong.load_session(customer.public_key()),
        Err(StoreError::Seal(SealError::Authentication))
    ));
    assert!(matches!(
        wrong.load_identity(),
        Err(StoreError::Seal(SealError::Authentication))
    ));
}

#[test]
fn typed_writes_are_compare_and_swap_in_sqlite() {
    let store = SqliteStore::open_in_memory(StorageKey::from_bytes([3; 32])).unwrap();
    let mut r = rng(3);
    let me = IdentityKeyPair::generate(&mut r);
    store.create_identity(&me).unwrap();
    assert!(matches!(
        store.create_identity(&me),
        Err(StoreError::Conflict { current: Some(1) })
    ));
    let mut p = PreKeys::new();
    p.generate_signed_prekey(&me, 0, &mut r).unwrap();
    store.put_prekeys(None, &p).unwrap();
    let base = p.revision();
    let mut a = p.clone();
    a.generate_one_time_prekeys(2, &mut r).unwrap();
    let mut b = p.clone();
    b.generate_one_time_prekeys(4, &mut r).unwrap();
    store.put_prekeys(Some(base), &a).unwrap();
    assert!(matches!(
        store.put_prekeys(Some(base), &b),
        Err(StoreError::Conflict { current: Some(c) }) if c == a.revision()
    ));
    assert!(matches!(
        store.put_prekeys(Some(a.revision()), &a),
        Err(StoreError::RevisionNotAdvanced { .. })
    ));
    assert_eq!(
        store
            .load_prekeys()
            .unwrap()
            .unwrap()
            .one_time_prekey_ids()
            .count(),
        2
    );
    store
        .put_sender_key(b"support-team", me.public_key(), None, 1, b"state")
        .unwrap();
    let loaded = store
        .load_sender_key(b"support-team", me.public_key())
        .unwrap()
        .unwrap();
    assert_eq!(
        (loaded.revision, loaded.bytes.as_slice()),
        (1, &b"state"[..])
    );
}

#[test]
fn a_database_from_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    drop(SqliteStore::open(&path, StorageKey::from_bytes([0; 32])).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    assert!(matches!(
        SqliteStore::open(&path, StorageKey::from_bytes([0; 32])),
        Err(StoreError::Backend(_))
    ));
}
