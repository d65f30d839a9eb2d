//! Every protocol limit at its bound and one past it: forward jumps, skipped keys, receiving
//! chains, plaintext and message sizes, counters, prekey counts and persisted-record limits.

mod common;

use common::{
    Forger, Pb, edit_record, header_of, padding_field, pb_decode, pb_encode, round_trip, snap,
};
use rand::rngs::ChaCha20Rng;
use sealpost::consts::{
    MAX_FORWARD_JUMP, MAX_MESSAGE_SIZE, MAX_ONE_TIME_PREKEYS, MAX_PLAINTEXT_SIZE,
    MAX_PREKEYS_RECORD_SIZE, MAX_RECEIVING_CHAINS, MAX_RECORD_SIZE, MAX_SIGNED_PREKEYS,
    MAX_SKIPPED_KEYS,
};
use sealpost::{
    DecryptError, EncryptError, IdentityKeyPair, PreKeyError, PreKeys, Session, StateError,
};

/// Encrypts `count` messages that are never delivered (lost on the way).
fn lose(sender: &mut Session, rng: &mut ChaCha20Rng, count: u32) {
    let mut out = Vec::new();
    for _ in 0..count {
        out.clear();
        sender.encrypt_into(rng, b"", &mut out).unwrap();
    }
}

const JUMP: u32 = MAX_FORWARD_JUMP;

#[test]
fn forward_jump_on_one_chain_at_and_past_the_limit() {
    let (mut alice, mut bob, mut rng) = common::pair(100, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    // Alice's new chain; Bob reads its message 0, so his chain is at counter 1.
    let (mut forger, m0) = Forger::new(&mut alice, &mut rng, b"m0");
    assert_eq!(bob.decrypt(&m0).unwrap(), b"m0");
    let pn = forger.pn();
    // As if Alice had sent (and lost) messages 1..=JUMP.
    let at_limit = forger.message(pn, 1 + JUMP, b"at the limit");
    let past_limit = forger.message(pn, 2 + JUMP, b"one past");

    // The first would skip JUMP + 1 keys.
    let before = snap(&bob);
    assert_eq!(
        bob.decrypt(&past_limit),
        Err(DecryptError::TooFarAhead {
            steps: u64::from(JUMP) + 2
        })
    );
    assert_eq!(snap(&bob), before, "a rejected jump changes nothing");
    // Skipping exactly JUMP keys is allowed; only the newest MAX_SKIPPED_KEYS are kept.
    assert_eq!(bob.decrypt(&at_limit).unwrap(), b"at the limit");
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS);
    // Now the other message is the next one on the chain.
    assert_eq!(bob.decrypt(&past_limit).unwrap(), b"one past");
    round_trip(&mut bob, &mut alice, &mut rng, b"still fine");
    round_trip(&mut alice, &mut bob, &mut rng, b"and back");
}

#[test]
fn forward_jump_across_pn_and_new_chain_at_and_past_the_limit() {
    let (mut alice, mut bob, mut rng) = common::pair(101, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    round_trip(&mut alice, &mut bob, &mut rng, b"m0");
    round_trip(&mut bob, &mut alice, &mut rng, b"turn");
    // Alice's next chain. Its real first message is lost; Bob read all of her previous chain.
    let (mut forger, _lost) = Forger::new(&mut alice, &mut rng, b"lost");
    let read = forger.pn();
    // x keys skipped at the end of the previous chain (via pn), y at the start of this one.
    let (x, y) = (12_345, JUMP - 12_345);
    let at_limit = forger.message(read + x, y, b"at");
    let past_limit = forger.message(read + x, y + 1, b"past");

    let before = snap(&bob);
    assert_eq!(
        bob.decrypt(&past_limit),
        Err(DecryptError::TooFarAhead {
            steps: u64::from(JUMP) + 2
        })
    );
    assert_eq!(snap(&bob), before);
    assert_eq!(bob.decrypt(&at_limit).unwrap(), b"at");
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS);
    assert_eq!(bob.decrypt(&past_limit).unwrap(), b"past");
}

#[test]
fn forward_jump_mostly_through_pn() {
    let (mut alice, mut bob, mut rng) = common::pair(102, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    round_trip(&mut alice, &mut bob, &mut rng, b"m0");
    round_trip(&mut bob, &mut alice, &mut rng, b"turn");
    let (mut forger, _lost) = Forger::new(&mut alice, &mut rng, b"lost");
    let read = forger.pn();
    // Message 1 of the new chain (one key skipped there) with pn far ahead.
    let past_limit = forger.message(read + JUMP, 1, b"past");
    let at_limit = forger.message(read + JUMP - 1, 1, b"at");
    let before = snap(&bob);
    assert_eq!(
        bob.decrypt(&past_limit),
        Err(DecryptError::TooFarAhead {
            steps: u64::from(JUMP) + 2
        })
    );
    assert_eq!(snap(&bob), before);
    assert_eq!(bob.decrypt(&at_limit).unwrap(), b"at");
    // Same chain and counter as the message just read.
    assert_eq!(
        bob.decrypt(&past_limit),
        Err(DecryptError::Duplicate { counter: 1 })
    );
}

#[test]
fn skipped_keys_beyond_the_limit_evict_the_oldest() {
    let (mut alice, mut bob, mut rng) = common::pair(103, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    let extra = 100usize;
    let total = MAX_SKIPPED_KEYS + extra + 1;
    let msgs: Vec<Vec<u8>> = (0..total)
        .map(|i| alice.encrypt(&mut rng, &(i as u32).to_be_bytes()).unwrap())
        .collect();
    // Only the last arrives: total - 1 keys skipped, the newest MAX_SKIPPED_KEYS kept.
    assert_eq!(
        bob.decrypt(&msgs[total - 1]).unwrap(),
        (total as u32 - 1).to_be_bytes()
    );
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS);
    let before = snap(&bob);
    for (i, m) in msgs.iter().enumerate().take(extra) {
        assert_eq!(
            bob.decrypt(m),
            Err(DecryptError::Duplicate { counter: i as u32 }),
            "message {i} was evicted"
        );
    }
    assert_eq!(snap(&bob), before);
    // The oldest kept and the newest skipped still decrypt.
    assert_eq!(
        bob.decrypt(&msgs[extra]).unwrap(),
        (extra as u32).to_be_bytes()
    );
    assert_eq!(
        bob.decrypt(&msgs[total - 2]).unwrap(),
        (total as u32 - 2).to_be_bytes()
    );
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS - 2);
}

#[test]
fn skipped_key_eviction_across_chains_takes_the_oldest_chain_first() {
    let (mut alice, mut bob, mut rng) = common::pair(104, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    // Chain 1: 1500 messages, only the last delivered: 1499 skipped.
    let c1: Vec<Vec<u8>> = (0..1500u32)
        .map(|i| alice.encrypt(&mut rng, &i.to_be_bytes()).unwrap())
        .collect();
    bob.decrypt(&c1[1499]).unwrap();
    assert_eq!(bob.skipped_keys(), 1499);
    round_trip(&mut bob, &mut alice, &mut rng, b"turn");
    // Chain 2: 1000 messages, only the last delivered: 999 more, 498 too many.
    let c2: Vec<Vec<u8>> = (0..1000u32)
        .map(|i| {
            alice
                .encrypt(&mut rng, &(10_000 + i).to_be_bytes())
                .unwrap()
        })
        .collect();
    bob.decrypt(&c2[999]).unwrap();
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS);
    let evicted = 1499 + 999 - MAX_SKIPPED_KEYS;
    assert_eq!(evicted, 498);
    for (i, m) in c1.iter().enumerate().take(evicted) {
        assert_eq!(
            bob.decrypt(m),
            Err(DecryptError::Duplicate { counter: i as u32 })
        );
    }
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS);
    for i in (evicted..1499).step_by(97).chain([1498]) {
        assert_eq!(bob.decrypt(&c1[i]).unwrap(), (i as u32).to_be_bytes());
    }
    for i in (0..999).step_by(89).chain([998]) {
        assert_eq!(
            bob.decrypt(&c2[i]).unwrap(),
            (10_000 + i as u32).to_be_bytes()
        );
    }
    assert!(bob.skipped_keys() < MAX_SKIPPED_KEYS);
}

#[test]
fn a_new_chain_past_the_skip_limit_drops_the_previous_chains_pn_keys() {
    let (mut alice, mut bob, mut rng) = common::pair(105, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    // Chain 1: messages 0..10, Bob reads 0..5; 5..10 will only be known through pn.
    let c1: Vec<Vec<u8>> = (0..10u32)
        .map(|i| alice.encrypt(&mut rng, &i.to_be_bytes()).unwrap())
        .collect();
    for m in &c1[..5] {
        bob.decrypt(m).unwrap();
    }
    round_trip(&mut bob, &mut alice, &mut rng, b"turn");
    let n = MAX_SKIPPED_KEYS + 50;
    let c2: Vec<Vec<u8>> = (0..=n)
        .map(|i| alice.encrypt(&mut rng, &(i as u32).to_be_bytes()).unwrap())
        .collect();
    bob.decrypt(&c2[n]).unwrap();
    // n + 5 keys were skipped; the new chain's are the newest, so only they are kept.
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS);
    for (i, m) in c1.iter().enumerate().skip(5) {
        assert_eq!(
            bob.decrypt(m),
            Err(DecryptError::Duplicate { counter: i as u32 })
        );
    }
    for (i, m) in c2.iter().enumerate().take(50) {
        assert_eq!(
            bob.decrypt(m),
            Err(DecryptError::Duplicate { counter: i as u32 })
        );
    }
    assert_eq!(bob.decrypt(&c2[50]).unwrap(), 50u32.to_be_bytes());
    assert_eq!(
        bob.decrypt(&c2[n - 1]).unwrap(),
        (n as u32 - 1).to_be_bytes()
    );
}

#[test]
fn skipped_key_count_never_exceeds_the_limit() {
    let (mut alice, mut bob, mut rng) = common::pair(106, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    // Repeatedly skip 700 keys per chain over many chains.
    for turn in 0..8u32 {
        lose(&mut alice, &mut rng, 700);
        let m = alice.encrypt(&mut rng, &turn.to_be_bytes()).unwrap();
        assert_eq!(bob.decrypt(&m).unwrap(), turn.to_be_bytes());
        assert!(bob.skipped_keys() <= MAX_SKIPPED_KEYS);
        round_trip(&mut bob, &mut alice, &mut rng, b"turn");
        let restored = Session::from_bytes(&bob.to_bytes()).unwrap();
        assert_eq!(restored.skipped_keys(), bob.skipped_keys());
    }
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS);
}

/// Alice sends a held-back message and a delivered one on each of her next `chains` chains.
fn chains_with_held_messages(
    alice: &mut Session,
    bob: &mut Session,
    rng: &mut ChaCha20Rng,
    chains: usize,
) -> Vec<Vec<u8>> {
    let mut held = Vec::new();
    for c in 0..chains {
        held.push(alice.encrypt(rng, format!("held {c}").as_bytes()).unwrap());
        let m = alice.encrypt(rng, b"delivered").unwrap();
        assert_eq!(bob.decrypt(&m).unwrap(), b"delivered");
        round_trip(bob, alice, rng, b"turn");
    }
    held
}

#[test]
fn receiving_chains_beyond_the_limit_are_dropped() {
    let (mut alice, mut bob, mut rng) = common::pair(107, false);
    // Bob holds Alice's first chain already (the handshake message); it gets a held message too.
    let held = chains_with_held_messages(&mut alice, &mut bob, &mut rng, MAX_RECEIVING_CHAINS);
    assert_eq!(bob.skipped_keys(), MAX_RECEIVING_CHAINS);

    // Exactly MAX_RECEIVING_CHAINS chains: the oldest one's held message still decrypts.
    let mut at_limit = bob.clone();
    assert_eq!(at_limit.decrypt(&held[0]).unwrap(), b"held 0");

    // One chain more: the oldest is dropped with its skipped key.
    let m = alice.encrypt(&mut rng, b"chain 6").unwrap();
    bob.decrypt(&m).unwrap();
    assert_eq!(bob.skipped_keys(), MAX_RECEIVING_CHAINS - 1);
    // Bob has not answered the newest chain yet: a key he does not know is not a DH step.
    let before = snap(&bob);
    assert_eq!(
        bob.decrypt(&held[0]),
        Err(DecryptError::UnexpectedRatchetKey)
    );
    assert_eq!(snap(&bob), before);
    // After answering, the dropped chain's key looks like a new ratchet key with a valid tag;
    // the DH step it causes does not authenticate.
    round_trip(&mut bob, &mut alice, &mut rng, b"answer");
    let before = snap(&bob);
    assert_eq!(bob.decrypt(&held[0]), Err(DecryptError::InvalidMessage));
    assert_eq!(snap(&bob), before);
    // The oldest chain still kept is intact.
    for (c, m) in held.iter().enumerate().skip(1) {
        assert_eq!(bob.decrypt(m).unwrap(), format!("held {c}").as_bytes());
    }
    assert_eq!(bob.skipped_keys(), 0);
}

#[test]
fn plaintext_size_at_and_past_the_limit() {
    let mut f = common::fixture(108, 0, false);
    let rng = &mut f.rng;
    let max = vec![0x5au8; MAX_PLAINTEXT_SIZE];
    let over = vec![0x5au8; MAX_PLAINTEXT_SIZE + 1];
    // A prekey message at the limit (Alice has not heard back yet).
    let before = snap(&f.alice);
    assert_eq!(f.alice.encrypt(rng, &over), Err(EncryptError::TooLarge));
    let mut buf = b"untouched".to_vec();
    assert_eq!(
        f.alice.encrypt_into(rng, &over, &mut buf),
        Err(EncryptError::TooLarge)
    );
    assert_eq!(buf, b"untouched");
    assert_eq!(
        snap(&f.alice),
        before,
        "a refused plaintext changes nothing"
    );
    let m = f.alice.encrypt(rng, &max).unwrap();
    assert!(common::is_prekey(&m));
    assert!(m.len() <= MAX_MESSAGE_SIZE);
    assert_eq!(f.bob_s.decrypt(&m).unwrap(), max);
    // Ratchet messages, both directions.
    let before = snap(&f.bob_s);
    assert_eq!(f.bob_s.encrypt(rng, &over), Err(EncryptError::TooLarge));
    assert_eq!(snap(&f.bob_s), before);
    let m = f.bob_s.encrypt(rng, &max).unwrap();
    assert_eq!(f.alice.decrypt(&m).unwrap(), max);
}

#[test]
fn message_size_at_and_past_the_limit() {
    let (mut alice, mut bob, mut rng) = common::pair(109, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    for pt_len in [16usize, MAX_PLAINTEXT_SIZE] {
        let pt = vec![7u8; pt_len];
        let m = alice.encrypt(&mut rng, &pt).unwrap();
        // An unknown trailing field is skipped (protobuf), so padding keeps the message valid.
        let mut exact = m.clone();
        exact.extend(padding_field(MAX_MESSAGE_SIZE - m.len()));
        assert_eq!(exact.len(), MAX_MESSAGE_SIZE);
        let mut over = m.clone();
        over.extend(padding_field(MAX_MESSAGE_SIZE + 1 - m.len()));
        assert_eq!(over.len(), MAX_MESSAGE_SIZE + 1);

        let before = snap(&bob);
        assert!(matches!(
            sealpost::Envelope::parse(&over),
            Err(DecryptError::Malformed)
        ));
        assert_eq!(bob.decrypt(&over), Err(DecryptError::Malformed));
        assert_eq!(snap(&bob), before);
        assert_eq!(bob.decrypt(&exact).unwrap(), pt);
        assert_eq!(
            bob.decrypt(&m),
            Err(DecryptError::Duplicate {
                counter: header_of(&m).n
            })
        );
    }
    // Oversized garbage is rejected as such, before any parsing.
    let junk = vec![0xffu8; MAX_MESSAGE_SIZE + 1];
    assert_eq!(bob.decrypt(&junk), Err(DecryptError::Malformed));
}

#[test]
fn sending_chain_exhaustion_and_the_largest_counter() {
    let (mut alice, mut bob, mut rng) = common::pair(110, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    round_trip(&mut alice, &mut bob, &mut rng, b"in sync");
    // Both chains are in step (Bob read everything Alice sent on it); relabel both counters so
    // the next message has the largest counter a sender may use.
    let last = u32::MAX - 1;
    let mut alice = common::edit_session(&alice, |f| common::set_sending_counter(f, last));
    let mut bob = common::edit_session(&bob, |f| common::set_newest_receiving_counter(f, last));
    let m = alice.encrypt(&mut rng, b"last one").unwrap();
    assert_eq!(header_of(&m).n, last);
    assert_eq!(bob.decrypt(&m).unwrap(), b"last one");
    // The chain is used up: the sender must wait for a reply.
    let before = snap(&alice);
    assert_eq!(
        alice.encrypt(&mut rng, b"one more"),
        Err(EncryptError::ChainExhausted)
    );
    assert_eq!(snap(&alice), before);
    round_trip(&mut bob, &mut alice, &mut rng, b"here is a reply");
    round_trip(&mut alice, &mut bob, &mut rng, b"new chain, counter 0");

    // A receiver rejects counter 2^32 - 1 outright (no sender can produce it).
    let mut parts = common::split_wire(&m);
    let h = common::decode_header(&parts.header);
    parts.header =
        sealpost::hazmat::encode_header(&h.ratchet_key, h.pn, u32::MAX, &h.guard, &h.tag);
    let forged = common::join_wire(&parts);
    let before = snap(&bob);
    assert_eq!(bob.decrypt(&forged), Err(DecryptError::Malformed));
    assert_eq!(snap(&bob), before);
}

#[test]
fn session_record_size_limit() {
    let (mut alice, mut bob, mut rng) = common::pair(111, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    let bytes = bob.to_bytes().to_vec();
    let mut exact = bytes.clone();
    exact.extend(padding_field(MAX_RECORD_SIZE - bytes.len()));
    assert_eq!(exact.len(), MAX_RECORD_SIZE);
    let restored = Session::from_bytes(&exact).unwrap();
    assert_eq!(snap(&restored), bytes, "unknown fields are dropped");
    let mut over = bytes.clone();
    over.extend(padding_field(MAX_RECORD_SIZE + 1 - bytes.len()));
    assert_eq!(
        Session::from_bytes(&over).unwrap_err(),
        StateError::TooLarge
    );
}

#[test]
fn session_record_version_and_counts() {
    let (mut alice, mut bob, mut rng) = common::pair(112, false);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    let bytes = bob.to_bytes().to_vec();
    for v in [0u64, 2, 0xffff_ffff] {
        let edited = edit_record(&bytes, |f| common::pb_set(f, 1, Pb::Varint(v)));
        assert_eq!(
            Session::from_bytes(&edited).unwrap_err(),
            StateError::UnknownVersion(v as u32)
        );
    }
    // Build a session at both count limits: MAX_RECEIVING_CHAINS chains, MAX_SKIPPED_KEYS keys.
    for _ in 0..MAX_RECEIVING_CHAINS {
        lose(&mut alice, &mut rng, 600);
        round_trip(&mut alice, &mut bob, &mut rng, b"x");
        round_trip(&mut bob, &mut alice, &mut rng, b"y");
    }
    assert_eq!(bob.skipped_keys(), MAX_SKIPPED_KEYS);
    let full = bob.to_bytes().to_vec();
    let chains: Vec<Pb> = pb_decode(&full)
        .into_iter()
        .filter(|(n, _)| *n == 10)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(chains.len(), MAX_RECEIVING_CHAINS);
    assert!(
        full.len() < MAX_RECORD_SIZE / 2,
        "a session at every limit is {} bytes",
        full.len()
    );
    assert_eq!(snap(&Session::from_bytes(&full).unwrap()), full);

    // One chain too many.
    let extra_chain = {
        let mut c = pb_decode(chains[0].bytes());
        common::pb_set(&mut c, 1, Pb::Bytes(vec![0x42; 32]));
        c.retain(|(n, _)| *n != 4);
        pb_encode(&c)
    };
    let six = edit_record(&full, |f| f.push((10, Pb::Bytes(extra_chain))));
    assert_eq!(
        Session::from_bytes(&six).unwrap_err(),
        StateError::LimitExceeded
    );
    // One skipped key too many (a counter below the chain's, not used yet).
    let more_keys = edit_record(&full, |f| {
        let (_, chain) = f.iter_mut().rev().find(|(n, _)| *n == 10).unwrap();
        let mut c = pb_decode(chain.bytes());
        let used: Vec<u64> = c
            .iter()
            .filter(|(n, _)| *n == 4)
            .map(|(_, k)| common::pb_get(&pb_decode(k.bytes()), 1).map_or(0, Pb::varint))
            .collect();
        let counter = (0..).find(|i| !used.contains(i)).unwrap();
        c.push((
            4,
            Pb::Bytes(pb_encode(&[
                (1, Pb::Varint(counter)),
                (2, Pb::Bytes(vec![9; 32])),
            ])),
        ));
        *chain = Pb::Bytes(pb_encode(&c));
    });
    assert_eq!(
        Session::from_bytes(&more_keys).unwrap_err(),
        StateError::LimitExceeded
    );
}

#[test]
fn prekey_record_limits() {
    let mut rng = common::rng(113);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut prekeys = PreKeys::new();
    for _ in 0..MAX_SIGNED_PREKEYS {
        prekeys.generate_signed_prekey(&id, 1, &mut rng).unwrap();
    }
    let before = common::snap_prekeys(&prekeys);
    assert_eq!(
        prekeys.generate_signed_prekey(&id, 1, &mut rng),
        Err(PreKeyError::LimitReached)
    );
    assert_eq!(
        prekeys.generate_one_time_prekeys(MAX_ONE_TIME_PREKEYS + 1, &mut rng),
        Err(PreKeyError::LimitReached)
    );
    assert_eq!(common::snap_prekeys(&prekeys), before);
    let bytes = prekeys.to_bytes().to_vec();

    // Version.
    for v in [0u64, 2] {
        let edited = edit_record(&bytes, |f| common::pb_set(f, 1, Pb::Varint(v)));
        assert_eq!(
            PreKeys::from_bytes(&edited).unwrap_err(),
            StateError::UnknownVersion(v as u32)
        );
    }
    // One signed prekey too many.
    let nine = edit_record(&bytes, |f| {
        let spk = common::pb_get(f, 3).unwrap().clone();
        f.push((3, spk));
    });
    assert_eq!(
        PreKeys::from_bytes(&nine).unwrap_err(),
        StateError::LimitExceeded
    );
    // One one-time prekey too many (the count is checked before the keys).
    let many = edit_record(&bytes, |f| {
        for i in 0..=MAX_ONE_TIME_PREKEYS as u64 {
            f.push((
                4,
                Pb::Bytes(pb_encode(&[
                    (1, Pb::Varint(i)),
                    (2, Pb::Bytes(vec![1; 32])),
                ])),
            ));
        }
    });
    assert!(many.len() < MAX_PREKEYS_RECORD_SIZE);
    assert_eq!(
        PreKeys::from_bytes(&many).unwrap_err(),
        StateError::LimitExceeded
    );
    // Size: exactly at the limit is parsed, one byte more is not.
    let mut exact = bytes.clone();
    exact.extend(padding_field(MAX_PREKEYS_RECORD_SIZE - bytes.len()));
    assert_eq!(
        common::snap_prekeys(&PreKeys::from_bytes(&exact).unwrap()),
        bytes
    );
    let mut over = bytes.clone();
    over.extend(padding_field(MAX_PREKEYS_RECORD_SIZE + 1 - bytes.len()));
    assert_eq!(
        PreKeys::from_bytes(&over).unwrap_err(),
        StateError::TooLarge
    );
}

#[test]
fn one_time_prekeys_past_the_limit() {
    // Filling all MAX_ONE_TIME_PREKEYS slots costs ~1.5 s in a debug build; the bound is checked
    // against held + requested before any key is generated, so check it from both sides.
    let mut rng = common::rng(114);
    let mut prekeys = PreKeys::new();
    let ids = prekeys.generate_one_time_prekeys(3, &mut rng).unwrap();
    assert_eq!(ids, [0, 1, 2]);
    let before = common::snap_prekeys(&prekeys);
    assert_eq!(
        prekeys.generate_one_time_prekeys(MAX_ONE_TIME_PREKEYS - 2, &mut rng),
        Err(PreKeyError::LimitReached)
    );
    assert_eq!(
        prekeys.generate_one_time_prekeys(usize::MAX, &mut rng),
        Err(PreKeyError::LimitReached)
    );
    assert_eq!(common::snap_prekeys(&prekeys), before);
    assert_eq!(prekeys.one_time_prekey_ids().collect::<Vec<_>>(), ids);
}

#[test]
fn identity_record_limits() {
    let id = IdentityKeyPair::generate(&mut common::rng(115));
    let bytes = id.to_bytes().to_vec();
    for v in [0u64, 2] {
        let edited = edit_record(&bytes, |f| common::pb_set(f, 1, Pb::Varint(v)));
        assert_eq!(
            IdentityKeyPair::from_bytes(&edited).unwrap_err(),
            StateError::UnknownVersion(v as u32)
        );
    }
    let mut exact = bytes.clone();
    exact.extend(padding_field(128 - bytes.len()));
    assert_eq!(
        IdentityKeyPair::from_bytes(&exact).unwrap().public_key(),
        id.public_key()
    );
    let mut over = bytes.clone();
    over.extend(padding_field(129 - bytes.len()));
    assert_eq!(
        IdentityKeyPair::from_bytes(&over).unwrap_err(),
        StateError::TooLarge
    );
}
