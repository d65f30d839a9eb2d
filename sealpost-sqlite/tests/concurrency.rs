//! Several gateways on one SQLite file: two threads with their own connections, and two
//! processes. Exactly one writer wins each revision, the loser reloads and retries, no message
//! key is ever used for two plaintexts, and every message reaches the application once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;

use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use sealpost::hazmat::parse_header;
use sealpost::store::{Store, StoreError, StoreOpError, decrypt_and_store, encrypt_and_store};
use sealpost::{
    DecryptError, IdentityKey, IdentityKeyPair, PreKeyBundle, PreKeys, RecordError, SessionRecord,
    StorageKey,
};
use sealpost_sqlite::SqliteStore;

type KeyId = ([u8; 32], u32);

/// A business gateway database with an established session with one customer.
struct Setup {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// The storage key's bytes (a child process gets them; a real gateway, from a KMS).
    key_bytes: [u8; 32],
    key: StorageKey,
    business: IdentityKeyPair,
    customer: IdentityKeyPair,
    at_customer: SessionRecord,
}

fn setup(seed: u64) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateways.db");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut key_bytes = [0u8; 32];
    rng.fill_bytes(&mut key_bytes);
    let key = StorageKey::from_bytes(key_bytes);
    let business = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = PreKeys::new();
    prekeys
        .generate_signed_prekey(&business, 1_700_000_000, &mut rng)
        .unwrap();
    let otk = prekeys.generate_one_time_prekeys(1, &mut rng).unwrap()[0];
    let bundle =
        PreKeyBundle::from_bytes(&prekeys.bundle(&business, Some(otk)).unwrap().to_bytes())
            .unwrap()
            .verify()
            .unwrap();
    let store = SqliteStore::open(&path, key.clone()).unwrap();
    store.create_identity(&business).unwrap();
    store.put_prekeys(None, &prekeys).unwrap();

    let customer = IdentityKeyPair::generate(&mut rng);
    let mut at_customer = SessionRecord::new();
    at_customer.initiate(&customer, &bundle, &mut rng).unwrap();
    let hello = at_customer.encrypt(&mut rng, b"hello").unwrap();
    assert_eq!(
        decrypt_and_store(&store, &business, customer.public_key(), &hello).unwrap(),
        b"hello"
    );
    Setup {
        _dir: dir,
        path,
        key_bytes,
        key,
        business,
        customer,
        at_customer,
    }
}

fn key_id(wire: &[u8]) -> KeyId {
    let (ratchet, _, n) = parse_header(wire).unwrap();
    (ratchet, n)
}

/// The customer receives every sent message once (in the given order), and a second delivery
/// of any of them fails.
fn customer_receives_each_once(s: &mut Setup, sent: &[(Vec<u8>, Vec<u8>)]) {
    for (wire, plaintext) in sent {
        assert_eq!(
            &s.at_customer
                .decrypt(&s.customer, &mut PreKeys::new(), wire)
                .unwrap(),
            plaintext
        );
    }
    for (wire, _) in sent {
        assert!(matches!(
            s.at_customer
                .decrypt(&s.customer, &mut PreKeys::new(), wire),
            Err(RecordError::Decrypt(DecryptError::Duplicate { .. }))
        ));
    }
}

/// No (ratchet key, counter) carries two messages.
fn assert_no_key_reuse(sent: &[(Vec<u8>, Vec<u8>)]) -> HashMap<KeyId, Vec<u8>> {
    let mut by_key = HashMap::new();
    for (wire, plaintext) in sent {
        let previous = by_key.insert(key_id(wire), plaintext.clone());
        assert!(previous.is_none(), "a message key was used twice");
    }
    by_key
}

#[derive(Default)]
struct WriterLog {
    /// (wire, plaintext) of every message whose record write succeeded.
    sent: Vec<(Vec<u8>, Vec<u8>)>,
    /// Messages encrypted on a record that then lost the race (never sent).
    discarded: Vec<(Vec<u8>, Vec<u8>)>,
    /// The revision each successful write replaced.
    won_from: Vec<u64>,
    first_try_wins: u32,
}

#[test]
fn two_writers_on_one_file_never_reuse_a_message_key() {
    const ROUNDS: u32 = 25;
    let mut s = setup(1);
    let peer = *s.customer.public_key();
    let start = SqliteStore::open(&s.path, s.key.clone())
        .unwrap()
        .load_session(&peer)
        .unwrap()
        .unwrap()
        .revision();
    let barrier = Arc::new(Barrier::new(2));

    let writers: Vec<_> = (0..2u8)
        .map(|t| {
            let (path, key, barrier) = (s.path.clone(), s.key.clone(), barrier.clone());
            thread::spawn(move || {
                let store = SqliteStore::open(&path, key).unwrap();
                let mut rng = ChaCha20Rng::seed_from_u64(100 + u64::from(t));
                let mut log = WriterLog::default();
                for round in 0..ROUNDS {
                    let mut rec = store.load_session(&peer).unwrap().unwrap();
                    // Both writers hold the same revision when they encrypt.
                    barrier.wait();
                    let mut first_try = true;
                    loop {
                        let expected = rec.revision();
                        let text = format!("writer {t}, round {round}").into_bytes();
                        let wire = rec.encrypt(&mut rng, &text).unwrap();
                        match store.put_session(&peer, Some(expected), &rec) {
                            Ok(()) => {
                                log.sent.push((wire, text));
                                log.won_from.push(expected);
                                log.first_try_wins += u32::from(first_try);
                                break;
                            }
                            Err(StoreError::Conflict { current }) => {
                                assert!(current > Some(expected));
                                log.discarded.push((wire, text));
                                first_try = false;
                                rec = store.load_session(&peer).unwrap().unwrap();
                            }
                            Err(e) => panic!("write failed: {e}"),
                        }
                    }
                    barrier.wait();
                }
                log
            })
        })
        .collect();
    let logs: Vec<WriterLog> = writers.into_iter().map(|h| h.join().unwrap()).collect();

    // Exactly one writer won each round's first attempt; the other lost exactly once.
    let first_try_wins: u32 = logs.iter().map(|l| l.first_try_wins).sum();
    assert_eq!(first_try_wins, ROUNDS);
    let discarded: Vec<_> = logs.iter().flat_map(|l| l.discarded.clone()).collect();
    assert_eq!(discarded.len(), ROUNDS as usize);
    // No revision was advanced twice, and every write advanced one.
    let mut won: Vec<u64> = logs.iter().flat_map(|l| l.won_from.clone()).collect();
    won.sort_unstable();
    let distinct: HashSet<_> = won.iter().collect();
    assert_eq!(distinct.len(), won.len());
    assert_eq!(won.len(), 2 * ROUNDS as usize);
    let end = SqliteStore::open(&s.path, s.key.clone())
        .unwrap()
        .load_session(&peer)
        .unwrap()
        .unwrap()
        .revision();
    assert_eq!(end, start + 2 * u64::from(ROUNDS));

    // No message key carries two sent messages. A discarded message either used the key of
    // a sent one for another plaintext (what the compare-and-swap prevented), or (the first
    // send after the customer's message, where each writer drew its own new ratchet key) it
    // would have forked the session on a ratchet key that was never sent.
    let mut sent: Vec<_> = logs.iter().flat_map(|l| l.sent.clone()).collect();
    let by_key = assert_no_key_reuse(&sent);
    let sent_ratchet_keys: HashSet<[u8; 32]> = by_key.keys().map(|k| k.0).collect();
    let mut prevented_reuse = 0;
    for (wire, text) in &discarded {
        match by_key.get(&key_id(wire)) {
            Some(winner) => {
                assert_ne!(winner, text);
                prevented_reuse += 1;
            }
            None => assert!(!sent_ratchet_keys.contains(&key_id(wire).0)),
        }
    }
    assert!(
        prevented_reuse >= ROUNDS - 1,
        "{prevented_reuse} collisions"
    );
    // The customer decrypts everything once, in any order.
    sent.reverse();
    customer_receives_each_once(&mut s, &sent);
}

#[test]
fn two_gateways_receiving_the_same_messages_deliver_each_once() {
    const MESSAGES: usize = 30;
    let mut s = setup(2);
    let peer = *s.customer.public_key();
    let mut rng = ChaCha20Rng::seed_from_u64(200);
    // The business replies once so the customer's messages are ordinary ratchet messages.
    let store = SqliteStore::open(&s.path, s.key.clone()).unwrap();
    let reply = encrypt_and_store(&store, &mut rng, &peer, b"hi").unwrap();
    s.at_customer
        .decrypt(&s.customer, &mut PreKeys::new(), &reply)
        .unwrap();
    let messages: Vec<(Vec<u8>, Vec<u8>)> = (0..MESSAGES)
        .map(|i| {
            let text = format!("message {i}").into_bytes();
            (s.at_customer.encrypt(&mut rng, &text).unwrap(), text)
        })
        .collect();
    let messages = Arc::new(messages);
    let barrier = Arc::new(Barrier::new(2));

    // The transport delivers every message to both gateways; one goes front to back, the
    // other back to front.
    let gateways: Vec<_> = (0..2)
        .map(|g| {
            let (path, key, barrier, messages) = (
                s.path.clone(),
                s.key.clone(),
                barrier.clone(),
                messages.clone(),
            );
            let identity = IdentityKeyPair::from_seed(&s.business.to_seed());
            thread::spawn(move || {
                let store = SqliteStore::open(&path, key).unwrap();
                let mut order: Vec<usize> = (0..messages.len()).collect();
                if g == 1 {
                    order.reverse();
                }
                let (mut delivered, mut duplicates) = (Vec::new(), 0);
                barrier.wait();
                for i in order {
                    loop {
                        match decrypt_and_store(&store, &identity, &peer, &messages[i].0) {
                            Ok(text) => delivered.push(text),
                            Err(StoreOpError::Record(RecordError::Decrypt(
                                DecryptError::Duplicate { .. },
                            ))) => duplicates += 1,
                            // Lost every race for now: redeliver.
                            Err(StoreOpError::Contended { .. }) => continue,
                            Err(e) => panic!("gateway {g}: {e}"),
                        }
                        break;
                    }
                }
                (delivered, duplicates)
            })
        })
        .collect();
    let results: Vec<_> = gateways.into_iter().map(|h| h.join().unwrap()).collect();
    let mut delivered: Vec<Vec<u8>> = results.iter().flat_map(|r| r.0.clone()).collect();
    let duplicates: usize = results.iter().map(|r| r.1).sum();
    delivered.sort();
    let mut expected: Vec<Vec<u8>> = messages.iter().map(|m| m.1.clone()).collect();
    expected.sort();
    assert_eq!(
        delivered, expected,
        "every message reaches the app exactly once"
    );
    assert_eq!(duplicates, MESSAGES);
}

// --- Two processes --------------------------------------------------------------------------

const ENV_DB: &str = "SEALPOST_SQLITE_TEST_CHILD_DB";
const ENV_KEY: &str = "SEALPOST_SQLITE_TEST_CHILD_KEY";
const ENV_PEER: &str = "SEALPOST_SQLITE_TEST_CHILD_PEER";
const ENV_OUT: &str = "SEALPOST_SQLITE_TEST_CHILD_OUT";
const ENV_NAME: &str = "SEALPOST_SQLITE_TEST_CHILD_NAME";
const CHILD_SENDS: usize = 40;

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The gateway process of [`two_processes_on_one_file_never_reuse_a_message_key`]: sends
/// `CHILD_SENDS` messages through the shared database and writes them, hex, one per line.
#[test]
#[ignore = "entry point of a child process; run by two_processes_on_one_file_never_reuse_a_message_key"]
fn gateway_child_process() {
    let var = |name| std::env::var(name).unwrap();
    let key: [u8; 32] = from_hex(&var(ENV_KEY)).try_into().unwrap();
    let peer = IdentityKey::from_bytes(&from_hex(&var(ENV_PEER))).unwrap();
    let name = var(ENV_NAME);
    let store = SqliteStore::open(var(ENV_DB), StorageKey::from_bytes(key)).unwrap();
    let mut rng = rand::rng();
    let mut out = String::new();
    for i in 0..CHILD_SENDS {
        let text = format!("{name} {i}");
        let wire = loop {
            match encrypt_and_store(&store, &mut rng, &peer, text.as_bytes()) {
                Ok(w) => break w,
                Err(StoreOpError::Contended { .. }) => continue,
                Err(e) => panic!("{name}: {e}"),
            }
        };
        out.push_str(&format!("{} {}\n", to_hex(&wire), to_hex(text.as_bytes())));
    }
    std::fs::write(var(ENV_OUT), out).unwrap();
}

fn spawn_child(s: &Setup, name: &str, out: &Path, key_hex: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "gateway_child_process",
            "--test-threads=1",
        ])
        .env(ENV_DB, &s.path)
        .env(ENV_KEY, key_hex)
        .env(ENV_PEER, to_hex(s.customer.public_key().as_bytes()))
        .env(ENV_OUT, out)
        .env(ENV_NAME, name)
        // Keep the child's test-harness lines out of this run's output.
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn two_processes_on_one_file_never_reuse_a_message_key() {
    let mut s = setup(3);
    let key_hex = to_hex(&s.key_bytes);
    let store = SqliteStore::open(&s.path, s.key.clone()).unwrap();
    let start = store
        .load_session(s.customer.public_key())
        .unwrap()
        .unwrap()
        .revision();
    let dir = tempfile::tempdir().unwrap();

    let outs = [dir.path().join("a.txt"), dir.path().join("b.txt")];
    let children = [
        spawn_child(&s, "process-a", &outs[0], &key_hex),
        spawn_child(&s, "process-b", &outs[1], &key_hex),
    ];
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a gateway process failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut sent = Vec::new();
    for out in &outs {
        for line in std::fs::read_to_string(out).unwrap().lines() {
            let (wire, text) = line.split_once(' ').unwrap();
            sent.push((from_hex(wire), from_hex(text)));
        }
    }
    assert_eq!(sent.len(), 2 * CHILD_SENDS);
    assert_no_key_reuse(&sent);
    let end = store
        .load_session(s.customer.public_key())
        .unwrap()
        .unwrap()
        .revision();
    assert_eq!(end, start + 2 * CHILD_SENDS as u64);
    // Interleave the two processes' messages for the customer.
    sent.sort_by_key(|(_, text)| text.iter().rev().copied().collect::<Vec<_>>());
    customer_receives_each_once(&mut s, &sent);
}
