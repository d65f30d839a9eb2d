//! Whole conversations: both directions, many DH ratchet turns, reordering within and across
//! chains, lost messages, and messages skipped across a chain switch (the `pn` path).

mod common;

use common::{header_of, is_prekey, ping_pong, round_trip, snap};
use rand::RngExt;
use sealpost::{DecryptError, Envelope, Session};

/// A deterministic permutation of `0..n` from the test RNG.
fn shuffled(rng: &mut rand::rngs::ChaCha20Rng, n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
    v
}

#[test]
fn many_dh_turns_in_both_directions() {
    let (mut alice, mut bob, mut rng) = common::pair(10, true);
    let mut alice_keys = Vec::new();
    let mut bob_keys = Vec::new();
    for turn in 0..12usize {
        // Bursts of varying length; every burst after the first turns the sender's ratchet.
        let burst_b = 1 + turn % 3;
        let mut key = None;
        for i in 0..burst_b {
            let text = format!("bob turn {turn} msg {i}");
            let m = bob.encrypt(&mut rng, text.as_bytes()).unwrap();
            assert!(!is_prekey(&m), "a responder never sends prekey messages");
            let h = header_of(&m);
            assert_eq!(h.n as usize, i);
            key.get_or_insert(h.ratchet_key);
            assert_eq!(Some(h.ratchet_key), key, "one ratchet key per burst");
            assert_eq!(alice.decrypt(&m).unwrap(), text.as_bytes());
        }
        bob_keys.push(key.unwrap());
        let burst_a = 1 + (turn * 7) % 4;
        let mut key = None;
        for i in 0..burst_a {
            let text = format!("alice turn {turn} msg {i}");
            let m = alice.encrypt(&mut rng, text.as_bytes()).unwrap();
            assert!(!is_prekey(&m), "Alice heard back: no more prekey messages");
            let h = header_of(&m);
            assert_eq!(h.n as usize, i);
            key.get_or_insert(h.ratchet_key);
            assert_eq!(Some(h.ratchet_key), key);
            assert_eq!(bob.decrypt(&m).unwrap(), text.as_bytes());
        }
        alice_keys.push(key.unwrap());
    }
    // Every turn used a fresh ratchet key on both sides.
    for keys in [&alice_keys, &bob_keys] {
        let mut dedup = keys.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), keys.len());
    }
    assert_eq!(alice.skipped_keys(), 0);
    assert_eq!(bob.skipped_keys(), 0);
}

#[test]
fn header_pn_counts_the_previous_sending_chain() {
    let (mut alice, mut bob, mut rng) = common::pair(11, false);
    // Alice already sent 1 message on her first chain; send 3 more.
    for i in 0..3 {
        round_trip(&mut alice, &mut bob, &mut rng, &[i]);
    }
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    let m = alice.encrypt(&mut rng, b"second chain").unwrap();
    let h = header_of(&m);
    assert_eq!((h.pn, h.n), (4, 0));
    assert_eq!(bob.decrypt(&m).unwrap(), b"second chain");
}

#[test]
fn out_of_order_within_one_chain() {
    let (mut alice, mut bob, mut rng) = common::pair(12, true);
    round_trip(&mut bob, &mut alice, &mut rng, b"go ahead");
    let msgs: Vec<Vec<u8>> = (0..40u8)
        .map(|i| alice.encrypt(&mut rng, &[i; 3]).unwrap())
        .collect();
    let order = shuffled(&mut rng, msgs.len());
    for (k, &i) in order.iter().enumerate() {
        assert_eq!(bob.decrypt(&msgs[i]).unwrap(), vec![i as u8; 3]);
        // Skipped keys held = messages below the highest seen that are not yet delivered.
        let max_seen = order[..=k].iter().max().unwrap();
        let expected = max_seen + 1 - (k + 1);
        assert_eq!(
            bob.skipped_keys(),
            expected,
            "after delivering {k} messages"
        );
    }
    assert_eq!(bob.skipped_keys(), 0);
    // Each one exactly once.
    for (i, m) in msgs.iter().enumerate() {
        let before = snap(&bob);
        assert_eq!(
            bob.decrypt(m),
            Err(DecryptError::Duplicate { counter: i as u32 })
        );
        assert_eq!(snap(&bob), before);
    }
}

#[test]
fn out_of_order_across_chains() {
    let (mut alice, mut bob, mut rng) = common::pair(13, false);
    // Pair already delivered Alice's message 0 of chain A1. A1: a1, a2.
    let a1: Vec<Vec<u8>> = (1..3u8)
        .map(|i| alice.encrypt(&mut rng, &[1, i]).unwrap())
        .collect();
    round_trip(&mut bob, &mut alice, &mut rng, b"b0");
    // A2: a0..a3; Bob gets only the last one.
    let a2: Vec<Vec<u8>> = (0..4u8)
        .map(|i| alice.encrypt(&mut rng, &[2, i]).unwrap())
        .collect();
    assert_eq!(bob.decrypt(&a2[3]).unwrap(), [2, 3]);
    // Two of A1 (via pn) and three of A2 are now skipped.
    assert_eq!(bob.skipped_keys(), 5);
    round_trip(&mut bob, &mut alice, &mut rng, b"b1");
    // A3: a0..a2; Bob gets the middle one.
    let a3: Vec<Vec<u8>> = (0..3u8)
        .map(|i| alice.encrypt(&mut rng, &[3, i]).unwrap())
        .collect();
    assert_eq!(bob.decrypt(&a3[1]).unwrap(), [3, 1]);
    assert_eq!(bob.skipped_keys(), 6);
    // Meanwhile Bob sends on his newest chain and Alice reads his messages out of order too.
    let b: Vec<Vec<u8>> = (0..4u8)
        .map(|i| bob.encrypt(&mut rng, &[9, i]).unwrap())
        .collect();
    for i in [3usize, 0, 2, 1] {
        assert_eq!(alice.decrypt(&b[i]).unwrap(), [9, i as u8]);
    }
    // The rest of Alice's messages arrive, oldest chains last.
    let late: Vec<(&Vec<u8>, [u8; 2])> = vec![
        (&a3[2], [3, 2]),
        (&a2[1], [2, 1]),
        (&a1[1], [1, 2]),
        (&a3[0], [3, 0]),
        (&a2[0], [2, 0]),
        (&a1[0], [1, 1]),
        (&a2[2], [2, 2]),
    ];
    for (m, expected) in &late {
        assert_eq!(&bob.decrypt(m).unwrap()[..], expected);
    }
    assert_eq!(bob.skipped_keys(), 0);
    // And the conversation goes on.
    ping_pong(&mut alice, &mut bob, &mut rng, 3);
}

#[test]
fn lost_messages_do_not_block_later_ones() {
    let (mut alice, mut bob, mut rng) = common::pair(14, true);
    let mut lost = 0usize;
    for turn in 0..6u8 {
        for i in 0..6u8 {
            let m = alice.encrypt(&mut rng, &[turn, i]).unwrap();
            if (i + turn) % 3 == 0 {
                lost += 1; // never delivered
            } else {
                assert_eq!(bob.decrypt(&m).unwrap(), [turn, i]);
            }
        }
        for i in 0..4u8 {
            let m = bob.encrypt(&mut rng, &[100 + turn, i]).unwrap();
            if i == 0 || (turn == 2 && i < 3) {
                continue; // lost
            }
            assert_eq!(alice.decrypt(&m).unwrap(), [100 + turn, i]);
        }
    }
    // A message of each turn's last chain may still be pending only if lost at the chain's end:
    // here every lost message had a later one on its chain, so its key is held.
    assert!(bob.skipped_keys() > 0 && bob.skipped_keys() <= lost);
    assert!(alice.skipped_keys() > 0);
    ping_pong(&mut alice, &mut bob, &mut rng, 2);
}

#[test]
fn message_skipped_across_a_chain_switch_decrypts_later() {
    let (mut alice, mut bob, mut rng) = common::pair(15, false);
    // Chain A1 has message 0 ("hello", delivered); add 1, 2, 3: only 1 arrives for now.
    let a: Vec<Vec<u8>> = (1..4u8)
        .map(|i| alice.encrypt(&mut rng, &[i]).unwrap())
        .collect();
    assert_eq!(bob.decrypt(&a[0]).unwrap(), [1]);
    round_trip(&mut bob, &mut alice, &mut rng, b"reply");
    // New chain A2; its header says the previous chain had 4 messages.
    let next = alice.encrypt(&mut rng, b"new chain").unwrap();
    let h = header_of(&next);
    assert_eq!((h.pn, h.n), (4, 0));
    assert_eq!(bob.skipped_keys(), 0);
    assert_eq!(bob.decrypt(&next).unwrap(), b"new chain");
    // Bob derived the keys of A1's messages 2 and 3 from pn when he switched chains.
    assert_eq!(bob.skipped_keys(), 2);
    assert_eq!(bob.decrypt(&a[2]).unwrap(), [3]);
    assert_eq!(bob.decrypt(&a[1]).unwrap(), [2]);
    assert_eq!(bob.skipped_keys(), 0);
    assert_eq!(
        bob.decrypt(&a[1]),
        Err(DecryptError::Duplicate { counter: 2 })
    );
    // The same in the other direction, with the first message of the new chain also late.
    let b: Vec<Vec<u8>> = (0..3u8)
        .map(|i| bob.encrypt(&mut rng, &[50 + i]).unwrap())
        .collect();
    assert_eq!(alice.decrypt(&b[0]).unwrap(), [50]);
    round_trip(&mut alice, &mut bob, &mut rng, b"ack");
    let b2: Vec<Vec<u8>> = (0..2u8)
        .map(|i| bob.encrypt(&mut rng, &[60 + i]).unwrap())
        .collect();
    assert_eq!(header_of(&b2[1]).pn, 3);
    assert_eq!(alice.decrypt(&b2[1]).unwrap(), [61]);
    assert_eq!(alice.skipped_keys(), 3); // b[1], b[2] via pn, b2[0] on the new chain
    assert_eq!(alice.decrypt(&b[2]).unwrap(), [52]);
    assert_eq!(alice.decrypt(&b2[0]).unwrap(), [60]);
    assert_eq!(alice.decrypt(&b[1]).unwrap(), [51]);
    assert_eq!(alice.skipped_keys(), 0);
}

#[test]
fn prekey_messages_until_the_first_reply() {
    let mut f = common::fixture(16, 2, true);
    let rng = &mut f.rng;
    assert!(f.alice.awaiting_reply());
    // Before any reply, everything Alice sends carries the handshake.
    let early: Vec<Vec<u8>> = (0..3u8)
        .map(|i| f.alice.encrypt(rng, &[i]).unwrap())
        .collect();
    for m in &early {
        let Ok(Envelope::PreKey(p)) = Envelope::parse(m) else {
            panic!("expected a prekey message")
        };
        assert_eq!(p.base_key(), f.bob_s.base_key());
        assert_eq!(p.sender_identity(), f.alice_id.public_key());
        assert_eq!(p.one_time_prekey_id(), Some(f.bob.otk_ids[0]));
    }
    // Bob decrypts later prekey messages of the same handshake in the existing session.
    assert_eq!(f.bob_s.decrypt(&early[1]).unwrap(), [1]);
    let reply = f.bob_s.encrypt(rng, b"hi").unwrap();
    assert!(f.alice.awaiting_reply());
    assert_eq!(f.alice.decrypt(&reply).unwrap(), b"hi");
    assert!(!f.alice.awaiting_reply());
    let after = f.alice.encrypt(rng, b"plain").unwrap();
    assert!(matches!(Envelope::parse(&after), Ok(Envelope::Ratchet(_))));
    assert_eq!(f.bob_s.decrypt(&after).unwrap(), b"plain");
    // Prekey messages that were still in flight decrypt after the switch.
    assert_eq!(f.bob_s.decrypt(&early[2]).unwrap(), [2]);
    assert_eq!(f.bob_s.decrypt(&early[0]).unwrap(), [0]);
    assert!(!f.bob_s.is_initiator());
    assert!(f.alice.is_initiator());
    assert_eq!(f.alice.base_key(), f.bob_s.base_key());
    assert_eq!(f.alice.remote_identity(), f.bob_s.local_identity());
    assert_eq!(f.bob_s.remote_identity(), f.alice.local_identity());
}

#[test]
fn crossing_messages_both_sides_send_before_reading() {
    let (mut alice, mut bob, mut rng) = common::pair(17, true);
    round_trip(&mut bob, &mut alice, &mut rng, b"first reply");
    for round in 0..5u8 {
        // Both send before either reads: the messages cross on the wire.
        let from_a: Vec<Vec<u8>> = (0..3u8)
            .map(|i| alice.encrypt(&mut rng, &[round, 0, i]).unwrap())
            .collect();
        let from_b: Vec<Vec<u8>> = (0..2u8)
            .map(|i| bob.encrypt(&mut rng, &[round, 1, i]).unwrap())
            .collect();
        for (i, m) in from_b.iter().enumerate().rev() {
            assert_eq!(alice.decrypt(m).unwrap(), [round, 1, i as u8]);
        }
        for (i, m) in from_a.iter().enumerate() {
            assert_eq!(bob.decrypt(m).unwrap(), [round, 0, i as u8]);
        }
    }
    assert_eq!(alice.skipped_keys() + bob.skipped_keys(), 0);
}

#[test]
fn empty_large_and_appended_plaintexts() {
    let mut f = common::fixture(18, 1, false);
    let rng = &mut f.rng;
    let big: Vec<u8> = (0..65_536u32).map(|i| (i * 31 % 251) as u8).collect();
    for pt in [&b""[..], &b"x"[..], &big[..]] {
        round_trip(&mut f.alice, &mut f.bob_s, rng, pt);
        round_trip(&mut f.bob_s, &mut f.alice, rng, pt);
    }
    // The *_into variants append to what the buffer already holds.
    let mut wire = b"prefix".to_vec();
    f.alice.encrypt_into(rng, b"appended", &mut wire).unwrap();
    assert_eq!(&wire[..6], b"prefix");
    let mut out = b"keep:".to_vec();
    f.bob_s.decrypt_into(&wire[6..], &mut out).unwrap();
    assert_eq!(out, b"keep:appended");
    // On failure the output buffer is left as it was.
    let mut out = b"keep:".to_vec();
    let err = f.bob_s.decrypt_into(&wire[6..], &mut out).unwrap_err();
    assert_eq!(err, DecryptError::Duplicate { counter: 0 });
    assert_eq!(out, b"keep:");
}

#[test]
fn accept_into_appends_the_first_plaintext() {
    let mut rng = common::rng(19);
    let mut bob = common::Responder::new(&mut rng, 0);
    let alice_id = sealpost::IdentityKeyPair::generate(&mut rng);
    let mut alice =
        Session::initiate(&alice_id, &common::verified(&bob.bundle(None)), &mut rng).unwrap();
    let m = alice.encrypt(&mut rng, b"first").unwrap();
    let mut out = b">".to_vec();
    let mut bob_s = Session::accept_into(
        &bob.identity,
        &mut bob.prekeys,
        &common::prekey_msg(&m),
        &mut out,
    )
    .unwrap();
    assert_eq!(out, b">first");
    round_trip(&mut bob_s, &mut alice, &mut rng, b"ok");
}
