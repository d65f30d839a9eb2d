//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the fuzz targets' own
//! checks, on stable Rust, so every `cargo test` runs them. The checks live in
//! `fuzz/checks/<target>.rs` and are shared with the cargo-fuzz targets.
//!
//! The seed files are written by the ignored test `generate_corpus` (regenerate with
//! `cargo test --all-features --test fuzz_corpus -- --ignored generate_corpus`); files the
//! fuzzer adds later sit beside them.

// Each check includes `fuzz/checks/fixtures.rs` itself so that a fuzz target is a three-line
// wrapper around one file; here that makes one copy per check.
#![allow(clippy::duplicate_mod)]

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../fuzz/checks/bundle_verify.rs"]
mod bundle_verify;
#[path = "../fuzz/checks/conversation.rs"]
mod conversation;
#[path = "../fuzz/checks/envelope_parse.rs"]
mod envelope_parse;
#[path = "../fuzz/checks/group_control.rs"]
mod group_control;
#[path = "../fuzz/checks/group_decrypt.rs"]
mod group_decrypt;
#[path = "../fuzz/checks/group_state_decode.rs"]
mod group_state_decode;
#[path = "../fuzz/checks/prekey_accept.rs"]
mod prekey_accept;
#[path = "../fuzz/checks/session_decrypt.rs"]
mod session_decrypt;
#[path = "../fuzz/checks/state_decode.rs"]
mod state_decode;

type Check = fn(&[u8]);

const TARGETS: [(&str, Check); 9] = [
    ("envelope_parse", envelope_parse::check),
    ("bundle_verify", bundle_verify::check),
    ("prekey_accept", prekey_accept::check),
    ("session_decrypt", session_decrypt::check),
    ("state_decode", state_decode::check),
    ("conversation", conversation::check),
    ("group_decrypt", group_decrypt::check),
    ("group_control", group_control::check),
    ("group_state_decode", group_state_decode::check),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(dir: &Path, check: Check) -> usize {
    let files = files(dir);
    for file in &files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            eprintln!("failing input: {}", file.display());
            std::panic::resume_unwind(panic);
        }
    }
    files.len()
}

fn replay_corpus(target: &str) {
    let (_, check) = TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .expect("known target");
    let n = replay(&fuzz_dir().join("corpus").join(target), *check);
    assert!(n > 0, "fuzz/corpus/{target} is empty");
}

#[test]
fn corpus_envelope_parse() {
    replay_corpus("envelope_parse");
}

#[test]
fn corpus_bundle_verify() {
    replay_corpus("bundle_verify");
}

#[test]
fn corpus_prekey_accept() {
    replay_corpus("prekey_accept");
}

#[test]
fn corpus_session_decrypt() {
    replay_corpus("session_decrypt");
}

#[test]
fn corpus_state_decode() {
    replay_corpus("state_decode");
}

#[test]
fn corpus_conversation() {
    replay_corpus("conversation");
}

#[test]
fn corpus_group_decrypt() {
    replay_corpus("group_decrypt");
}

#[test]
fn corpus_group_control() {
    replay_corpus("group_control");
}

#[test]
fn corpus_group_state_decode() {
    replay_corpus("group_state_decode");
}

#[test]
fn every_target_has_a_fuzz_binary() {
    for (target, _) in TARGETS {
        let wrapper = fuzz_dir().join("fuzz_targets").join(format!("{target}.rs"));
        let text = fs::read_to_string(&wrapper).unwrap_or_else(|e| panic!("{target}: {e}"));
        assert!(text.contains(&format!("../checks/{target}.rs")), "{target}");
    }
}

/// Inputs that expose bugs in `src/` not fixed yet (`fuzz/known-bugs/<target>/`, explained
/// in `fuzz/known-bugs/README.md`), checked with no bug tolerated. Fails while the bugs are
/// there; once they are fixed, move the files into the corpus and delete the tolerance in
/// `fuzz/checks/fixtures.rs`.
#[test]
fn known_bugs() {
    use std::sync::atomic::Ordering::Relaxed;
    for strict in [
        &bundle_verify::fixtures::STRICT,
        &conversation::fixtures::STRICT,
        &prekey_accept::fixtures::STRICT,
        &session_decrypt::fixtures::STRICT,
        &state_decode::fixtures::STRICT,
    ] {
        strict.store(true, Relaxed);
    }
    let root = fuzz_dir().join("known-bugs");
    let mut failed = Vec::new();
    for (target, check) in TARGETS {
        let dir = root.join(target);
        if !dir.is_dir() {
            continue;
        }
        for file in files(&dir) {
            let data = fs::read(&file).expect("read");
            if std::panic::catch_unwind(|| check(&data)).is_err() {
                failed.push(file.display().to_string());
            }
        }
    }
    assert!(failed.is_empty(), "still failing: {failed:#?}");
}

// ---------------------------------------------------------------------------------------------
// Seed generator.

mod generate {
    use super::prekey_accept::fixtures::{Parts, World, rng};
    use rand::Rng;
    use sealpost::{IdentityKeyPair, PreKeyBundle, PreKeys, Session};

    pub(super) type Seeds = Vec<(String, Vec<u8>)>;

    fn push(seeds: &mut Seeds, name: impl Into<String>, data: impl Into<Vec<u8>>) {
        seeds.push((name.into(), data.into()));
    }

    /// Every real message.
    fn messages(seeds: &mut Seeds, w: &World) {
        for (i, h) in w.handshakes.iter().enumerate() {
            push(seeds, format!("prekey-message-{i}"), h.message.wire.clone());
        }
        for (i, m) in w.to_alice.iter().enumerate() {
            push(seeds, format!("to-alice-{i}"), m.wire.clone());
        }
        for (i, m) in w.to_bob.iter().enumerate() {
            push(seeds, format!("to-bob-{i}"), m.wire.clone());
        }
    }

    pub(super) fn envelope_parse(w: &World) -> Seeds {
        let mut s = Seeds::new();
        messages(&mut s, w);
        push(&mut s, "empty", vec![]);
        push(&mut s, "version-2", vec![0x08, 0x02]);
        push(&mut s, "version-only", vec![0x08, 0x01]);
        let m = &w.to_bob[2].wire;
        let mut unknown = m.clone();
        unknown.extend_from_slice(&[0x7a, 0x03, 1, 2, 3, 0x7d, 0, 0, 0, 0]);
        push(&mut s, "unknown-fields", unknown);
        let mut dup = m.clone();
        dup.extend_from_slice(&[0x08, 0x01]);
        push(&mut s, "duplicate-version", dup);
        let mut long_varint = vec![0x88, 0x00, 0x81, 0x80, 0x00];
        long_varint.extend_from_slice(&m[2..]);
        push(&mut s, "non-minimal-varints", long_varint);
        let p = Parts::decode(&w.handshakes[0].message.wire).expect("our message");
        let mut both = p.encode();
        both.extend_from_slice(
            &Parts {
                prekey: None,
                ..p.clone()
            }
            .encode()[2..],
        );
        push(&mut s, "prekey-and-message", both);
        let mut low_order = p.clone();
        if let Some(pk) = low_order.prekey.as_mut() {
            pk.identity = [0; 32];
            pk.identity[0] = 1;
        }
        push(&mut s, "identity-small-order", low_order.encode());
        let mut max = Parts { prekey: None, ..p };
        max.pn = u32::MAX;
        max.n = u32::MAX;
        push(&mut s, "header-max-counters", max.encode());
        s
    }

    pub(super) fn bundle_verify(w: &World) -> Seeds {
        let mut s = Seeds::new();
        for (i, b) in w.bundles.iter().enumerate() {
            push(&mut s, format!("bundle-{i}"), b.clone());
        }
        let mut r = rng(21);
        let other = IdentityKeyPair::generate(&mut r);
        let mut pk = PreKeys::new();
        pk.generate_signed_prekey(&other, 5, &mut r).expect("spk");
        push(
            &mut s,
            "bundle-other-identity",
            pk.bundle(&other, None).expect("bundle").to_bytes(),
        );
        let mut bad_sig = w.bundles[0].clone();
        let last = bad_sig.len() - 1;
        bad_sig[last] ^= 1;
        push(&mut s, "bundle-bad-signature", bad_sig);
        let decoded = PreKeyBundle::from_bytes(&w.bundles[1]).expect("bundle");
        let mut no_key = decoded.to_bytes();
        no_key.truncate(no_key.len() - 34);
        push(&mut s, "bundle-otk-id-without-key", no_key);
        // Mutation scripts: bundle index, then byte edits.
        push(&mut s, "script-flip-signature", vec![0, 1, 0, 0x40, 0x03]);
        push(&mut s, "script-flip-otk", vec![1, 1, 0, 0x60, 0x03]);
        push(&mut s, "script-truncate", vec![2, 1, 4, 0x50, 0x00]);
        s
    }

    pub(super) fn prekey_accept(w: &World) -> Seeds {
        let mut s = Seeds::new();
        for (i, h) in w.handshakes.iter().enumerate() {
            push(
                &mut s,
                format!("prekey-message-{i}"),
                h.message.wire.clone(),
            );
        }
        // Mutation scripts: handshake index, field edits (count, then op and arguments), byte
        // edits (count, ...). See fixtures::mutate_message.
        let scripts: [(&str, &[u8]); 10] = [
            ("script-unchanged", &[0, 0, 0]),
            ("script-far-ahead", &[2, 1, 0, 0x40, 0x9c, 0, 0, 0]),
            ("script-counter-plus-one", &[0, 1, 1, 3, 0]),
            ("script-wrong-recipient", &[0, 1, 11, 1, 0, 0]),
            ("script-identity-mallory", &[0, 1, 11, 2, 0, 0]),
            ("script-unknown-spk", &[1, 1, 12, 1, 0]),
            ("script-other-otk", &[0, 1, 13, 2, 0]),
            ("script-no-prekey", &[3, 1, 14, 0]),
            ("script-truncated-ciphertext", &[3, 1, 7, 5, 0, 0]),
            ("script-splice-ciphertext", &[0, 1, 15, 3, 0, 3, 0]),
        ];
        for (name, script) in scripts {
            push(&mut s, name, script.to_vec());
        }
        s
    }

    pub(super) fn session_decrypt(w: &World) -> Seeds {
        let mut s = Seeds::new();
        for (i, m) in w.to_alice.iter().enumerate() {
            push(&mut s, format!("to-alice-{i}"), m.wire.clone());
        }
        for (i, m) in w.to_bob.iter().enumerate() {
            push(&mut s, format!("to-bob-{i}"), m.wire.clone());
        }
        // Mutation scripts: side (even Alice, odd Bob), message index (u16), field edits,
        // byte edits.
        let scripts: [(&str, &[u8]); 10] = [
            ("script-bob-unchanged", &[1, 2, 0, 0, 0]),
            ("script-alice-unchanged", &[0, 1, 0, 0, 0]),
            ("script-bob-jump", &[1, 2, 0, 1, 0, 0xb8, 0x0b, 0, 0, 0]),
            ("script-bob-too-far", &[1, 3, 0, 1, 0, 0x40, 0x9c, 0, 0, 0]),
            ("script-alice-pn", &[0, 1, 0, 1, 2, 0xf4, 0x01, 0, 0, 0]),
            ("script-alice-ratchet-key", &[0, 1, 0, 1, 4, 9, 0]),
            ("script-bob-tag", &[1, 3, 0, 1, 6, 1, 0]),
            ("script-bob-guard", &[1, 2, 0, 1, 5, 1, 2, 3, 4, 0]),
            ("script-bob-splice-header", &[1, 2, 0, 1, 16, 8, 0, 1, 0]),
            ("script-bob-prekey-base-key", &[1, 0, 0, 1, 10, 3, 0]),
        ];
        for (name, script) in scripts {
            push(&mut s, name, script.to_vec());
        }
        s
    }

    pub(super) fn state_decode(w: &World) -> Seeds {
        let mut s = Seeds::new();
        push(&mut s, "session-alice", w.alice_session.to_bytes().to_vec());
        push(&mut s, "session-bob", w.bob_session.to_bytes().to_vec());
        for (i, h) in w.handshakes.iter().enumerate() {
            push(
                &mut s,
                format!("session-awaiting-reply-{i}"),
                h.initiator.to_bytes().to_vec(),
            );
        }
        push(&mut s, "prekeys-fresh", w.bob_prekeys.to_bytes().to_vec());
        push(
            &mut s,
            "prekeys-used",
            w.bob_prekeys_after.to_bytes().to_vec(),
        );
        push(&mut s, "prekeys-empty", PreKeys::new().to_bytes().to_vec());
        for (name, id) in [
            ("alice", &w.alice),
            ("bob", &w.bob),
            ("mallory", &w.mallory),
        ] {
            push(&mut s, format!("identity-{name}"), id.to_bytes().to_vec());
        }
        // A session holding skipped keys on several chains.
        let mut r = rng(31);
        let mut a = w.alice_session.clone();
        let mut b = w.bob_session.clone();
        for round in 0..3 {
            let mut last = Vec::new();
            for i in 0..100 {
                last = a.encrypt(&mut r, &[round, i]).expect("encrypt");
            }
            b.decrypt(&last).expect("decrypt");
            let reply = b.encrypt(&mut r, b"ok").expect("encrypt");
            a.decrypt(&reply).expect("decrypt");
        }
        push(&mut s, "session-skipped-keys", b.to_bytes().to_vec());
        push(&mut s, "empty", vec![]);
        push(&mut s, "version-2", vec![0x08, 0x02]);
        s
    }

    pub(super) fn conversation() -> Seeds {
        // Op bytes (see fuzz/checks/conversation.rs): 0-1 Alice sends (count, padding),
        // 2-3 Bob sends, 4-6 deliver (u16 index), 7 duplicate, 8 drop, 9 flip a bit (u16
        // message, u16 bit), 10 replay (u16 message), 11 restart (0 Alice, 1 Bob).
        let scripts: [(&str, &[u8]); 8] = [
            (
                "ping-pong",
                &[0, 0, 0, 4, 0, 0, 2, 0, 0, 4, 0, 0, 0, 0, 0, 4, 0, 0],
            ),
            (
                "reorder",
                &[
                    0, 3, 5, 4, 2, 0, 4, 0, 0, 4, 1, 0, 2, 2, 0, 4, 2, 0, 4, 0, 0, 4, 0, 0,
                ],
            ),
            (
                "restarts",
                &[
                    0, 1, 0, 11, 0, 4, 1, 0, 11, 1, 2, 1, 3, 11, 0, 4, 0, 0, 11, 1,
                ],
            ),
            (
                "drop-duplicate",
                &[0, 3, 0, 8, 1, 0, 7, 0, 0, 4, 0, 0, 7, 0, 0],
            ),
            (
                "tamper",
                &[
                    0, 1, 0, 9, 0, 0, 7, 1, 4, 0, 0, 2, 0, 0, 9, 2, 0, 0, 2, 4, 0, 0,
                ],
            ),
            (
                "replay-first-prekey",
                &[
                    0, 1, 0, 4, 0, 0, 10, 0, 0, 10, 1, 0, 2, 0, 0, 4, 1, 0, 10, 0, 0,
                ],
            ),
            (
                "late-prekey-message",
                &[
                    0, 2, 0, 4, 1, 0, 2, 0, 0, 4, 1, 0, 0, 0, 0, 4, 1, 0, 4, 0, 0,
                ],
            ),
            ("many-turns", &many_turns()),
        ];
        let mut s: Seeds = scripts
            .iter()
            .map(|(n, b)| (format!("script-{n}"), b.to_vec()))
            .collect();
        let mut r = rng(41);
        for i in 0..10 {
            let mut b = vec![0u8; 64 + 32 * i];
            r.fill_bytes(&mut b);
            push(&mut s, format!("random-{i:02}"), b);
        }
        s
    }

    /// Seven ratchet turns each way with one message per epoch held back, so the oldest fall
    /// out of the receiving-chain window, then everything delivered.
    fn many_turns() -> Vec<u8> {
        let mut v = Vec::new();
        for _ in 0..7 {
            // Alice sends two, the newest is delivered; Bob sends two, the newest is delivered.
            v.extend_from_slice(&[0, 1, 0, 4, 0xff, 0xff]);
            v.extend_from_slice(&[2, 1, 0, 4, 0xff, 0xff]);
        }
        v
    }

    /// Offset of the base key in a prekey message's bytes.
    fn base_key_offset(wire: &[u8]) -> usize {
        let p = Parts::decode(wire).expect("our message");
        let key = p.prekey.expect("a prekey message").base_key;
        wire.windows(32)
            .position(|w| w == key)
            .expect("base key in message")
    }

    /// Reproductions of the known bugs (fuzz/known-bugs/README.md).
    pub(super) fn known_bugs() -> Vec<(&'static str, Seeds)> {
        let w = World::get();
        // The conversation's first message: Alice's prekey message with one-time prekey 0.
        let mut r = rng(0xc0_4e75);
        let mut alice =
            Session::initiate(&w.alice, &w.verified_bundle(1), &mut r).expect("initiate");
        let first = alice.encrypt(&mut r, b"Alice #0").expect("encrypt");
        let off = base_key_offset(&first);
        let high_bit = u16::try_from((off + 31) * 8 + 7).expect("small");
        // The key of the one-time prekey id field follows the base key (signed prekey id 0 is
        // omitted); bit 6 turns field 4 into unknown field 12.
        let otk_key_bit = u16::try_from((off + 32) * 8 + 6).expect("small");
        let [h0, h1] = high_bit.to_le_bytes();
        let [k0, k1] = otk_key_bit.to_le_bytes();
        vec![
            (
                "prekey_accept",
                vec![("kb1-base-key-high-bit".into(), vec![2, 1, 10, 255, 0])],
            ),
            (
                "session_decrypt",
                vec![
                    // Bob's late prekey message with one-time prekey id 0 instead of 3.
                    ("kb2-prekey-ids".into(), vec![1, 0, 0, 1, 13, 1, 0]),
                    // The same message as a plain ratchet message (prekey fields stripped).
                    ("kb2-prekey-wrapper-removed".into(), vec![1, 0, 0, 1, 14, 0]),
                    // Alice's plain message a6 wrapped in the late prekey message's fields.
                    (
                        "kb2-prekey-wrapper-added".into(),
                        vec![1, 3, 0, 1, 15, 7, 0, 0, 0],
                    ),
                ],
            ),
            (
                "conversation",
                vec![
                    // Alice sends one; it arrives with bit 255 of the base key flipped.
                    (
                        "kb1-base-key-high-bit".into(),
                        vec![0, 0, 0, 9, 0, 0, h0, h1],
                    ),
                    // Alice sends two; the first arrives; the second arrives without its
                    // one-time prekey id.
                    (
                        "kb2-prekey-ids".into(),
                        vec![0, 1, 0, 4, 0, 0, 9, 1, 0, k0, k1],
                    ),
                ],
            ),
        ]
    }

    pub(super) fn all() -> Vec<(&'static str, Seeds)> {
        let w = World::get();
        vec![
            ("envelope_parse", envelope_parse(w)),
            ("bundle_verify", bundle_verify(w)),
            ("prekey_accept", prekey_accept(w)),
            ("session_decrypt", session_decrypt(w)),
            ("state_decode", state_decode(w)),
            ("conversation", conversation()),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// Seed generator for the group targets: every real message, control payload and record of the
// group world, and op scripts (layouts in each check's module documentation).

mod generate_group {
    use super::generate::Seeds;
    use super::group_decrypt::group_fixtures::{GroupWorld, MessageReceiver, Status};

    fn push(seeds: &mut Seeds, name: impl Into<String>, data: impl Into<Vec<u8>>) {
        seeds.push((name.into(), data.into()));
    }

    fn status_name(s: Status) -> &'static str {
        match s {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Foreign => "foreign",
        }
    }

    /// The little-endian u16 index of the first message of `rx` with `status` and `known`.
    fn index(rx: &MessageReceiver, status: Status, known: Option<u32>) -> [u8; 2] {
        let i = rx
            .messages
            .iter()
            .position(|(m, s)| *s == status && m.known_iteration == known)
            .expect("such a message");
        u16::try_from(i).expect("small").to_le_bytes()
    }

    /// A crafted-message op: target (0 C, 1 D), iteration selector (0-19 near the start, 20
    /// around the evicting jump, 21 around the jump limit, 22 the last iterations) and its
    /// byte, key (0 right, 6 wrong), signature (1 right, 0 wrong), chain (1 the known one),
    /// guard, length, fill, sender.
    fn craft(target: u8, sel: u8, arg: u8, key: u8, seed: u8) -> Vec<u8> {
        vec![6, target, sel, arg, key, seed, 1, 1, 2, 3, 4, 12, 0x6d, 0]
    }

    pub(super) fn group_decrypt(w: &GroupWorld) -> Seeds {
        let mut s = Seeds::new();
        for (who, rx) in [("member", &w.member), ("subscriber", &w.subscriber)] {
            for (i, (_, status)) in rx.messages.iter().enumerate() {
                push(
                    &mut s,
                    format!("{who}-{}-{i:02}", status_name(*status)),
                    rx.messages[i].0.wire.clone(),
                );
            }
        }
        for (target, who, rx) in [(0u8, "member", &w.member), (1, "subscriber", &w.subscriber)] {
            let [p0, p1] = index(rx, Status::Pending, None);
            let [d0, d1] = index(rx, Status::Delivered, None);
            let [k0, k1] = index(rx, Status::Pending, Some(1));
            let scripts: Vec<(&str, Vec<u8>)> = vec![
                // Deliver a pending message, then replay it.
                (
                    "deliver-replay",
                    vec![4, target, p0, p1, 0, 4, target, p0, p1, 0],
                ),
                ("delivered-again", vec![4, target, d0, d1, 0]),
                // A pending message under another sender's name (F), then under its own.
                (
                    "wrong-sender",
                    vec![4, target, p0, p1, 5, 4, target, p0, p1, 0],
                ),
                // The known chain's skipped message, then a crafted one at the same iteration.
                ("known-skipped", {
                    let mut v = vec![4, target, k0, k1, 0];
                    v.extend(craft(target, 0, 1, 0, 1));
                    v
                }),
                ("craft-skipped", craft(target, 0, 1, 0, 1)),
                ("craft-next", craft(target, 0, 3, 0, 1)),
                ("craft-jump", craft(target, 0, 30, 0, 1)),
                ("craft-duplicate", craft(target, 0, 0, 0, 1)),
                ("craft-wrong-key", craft(target, 0, 5, 6, 1)),
                ("craft-wrong-signature", craft(target, 0, 5, 0, 0)),
                // The last iteration a jump may reach, and the first past it.
                ("craft-jump-limit", craft(target, 21, 4, 0, 1)),
                ("craft-too-far", craft(target, 21, 5, 0, 1)),
                ("craft-jump-limit-wrong-key", craft(target, 21, 3, 6, 1)),
                // The jump after which the oldest skipped key is evicted, then that key's
                // message (it must fail now).
                ("craft-evicting-jump", {
                    let mut v = craft(target, 20, 5, 0, 1);
                    v.extend_from_slice(&[4, target, k0, k1, 0]);
                    v
                }),
                ("craft-last-iteration", craft(target, 22, 0, 6, 1)),
                // Field edits (count, then op and arguments), then byte edits (count, ...).
                ("mutate-iteration", vec![0, target, p0, p1, 0, 1, 1, 3, 0]),
                (
                    "mutate-signature",
                    vec![0, target, p0, p1, 0, 1, 8, 9, 0, 0],
                ),
                (
                    "mutate-ciphertext",
                    vec![0, target, p0, p1, 0, 1, 5, 7, 0, 0],
                ),
                (
                    "mutate-guard",
                    vec![0, target, p0, p1, 0, 1, 3, 1, 2, 3, 4, 0],
                ),
                (
                    "mutate-chain-id",
                    vec![0, target, p0, p1, 0, 1, 2, 1, 0, 0, 0, 0],
                ),
                ("splice-body", vec![0, target, p0, p1, 0, 1, 10, 3, 0, 5, 0]),
                ("truncate", vec![0, target, p0, p1, 0, 0, 1, 4, 40, 0]),
            ];
            for (name, script) in scripts {
                push(&mut s, format!("script-{who}-{name}"), script);
            }
        }
        s
    }

    pub(super) fn group_control(w: &GroupWorld) -> Seeds {
        let mut s = Seeds::new();
        for c in &w.controls {
            push(&mut s, format!("control-{}", c.name), c.payload.clone());
        }
        let at = |name: &str| {
            let i = w
                .controls
                .iter()
                .position(|c| c.name == name)
                .expect("a control");
            u16::try_from(i).expect("small").to_le_bytes()
        };
        let deliver = |names: &[&str]| {
            let mut v = Vec::new();
            for n in names {
                let [a, b] = at(n);
                v.extend_from_slice(&[0, a, b]);
            }
            v
        };
        // Mutation of one payload at its own receiver: field edits, then byte edits.
        let mutate = |name: &str, edits: &[u8]| {
            let [a, b] = at(name);
            let mut v = vec![1, a, b, 1, 1];
            v.extend_from_slice(edits);
            v.push(0);
            v
        };
        let scripts: Vec<(&str, Vec<u8>)> = vec![
            (
                "member-add-then-f",
                deliver(&["member-roster-add", "member-f-before-roster"]),
            ),
            (
                "member-remove-then-add",
                deliver(&["member-roster-remove", "member-roster-add"]),
            ),
            (
                "member-add-remove-rekey",
                deliver(&[
                    "member-roster-add",
                    "member-roster-remove",
                    "member-rekey-replayed",
                ]),
            ),
            (
                "admin-leave-rekey-reply",
                deliver(&["admin-leave", "admin-b-rekey", "admin-f-reply"]),
            ),
            (
                "list-out-in-new",
                deliver(&["list-unsubscribe", "list-resubscribe", "list-new-customer"]),
            ),
            (
                "subscriber-rekey-twice",
                deliver(&["subscriber-rekey", "subscriber-rekey"]),
            ),
            (
                "join-all",
                deliver(&["join-f", "join-c-again", "join-c-rival"]),
            ),
            // Distribution edits: another chain's id (a conflict), the last iteration, a
            // small-order signing key, another chain key.
            (
                "dist-conflict",
                mutate("member-rekey-replayed", &[1, 7, 0, 0]),
            ),
            (
                "dist-last-iteration",
                mutate("member-rekey-replayed", &[1, 8, 0]),
            ),
            ("dist-small-order-key", mutate("admin-b-rekey", &[1, 11, 0])),
            (
                "dist-new-chain-id",
                mutate("admin-b-rekey", &[1, 6, 9, 9, 9, 9]),
            ),
            ("dist-chain-key", mutate("subscriber-rekey", &[1, 9, 2])),
            (
                "roster-signature",
                mutate("member-roster-add", &[1, 13, 5, 0]),
            ),
            ("roster-bytes", mutate("member-roster-add", &[1, 12, 40, 0])),
            (
                "roster-swapped-signature",
                mutate("member-roster-add", &[1, 18, 1, 0]),
            ),
            ("version", mutate("member-roster-add", &[1, 0, 2])),
            ("other-channel", mutate("member-roster-add", &[1, 1, 1])),
            ("leave-and-roster", mutate("member-roster-add", &[1, 5])),
            (
                "consent-signature",
                mutate("list-unsubscribe", &[1, 15, 3, 0]),
            ),
            (
                "consent-statement",
                mutate("list-resubscribe", &[1, 14, 9, 0]),
            ),
            ("consent-and-dist", {
                let [a, b] = at("admin-b-rekey");
                mutate("list-resubscribe", &[1, 3, a, b])
            }),
            // A real payload sent raw to another receiver.
            ("cross-delivery", {
                let [a, b] = at("member-roster-add");
                vec![3, a, b, 4, 0, 0, 0, 0]
            }),
        ];
        for (name, script) in scripts {
            push(&mut s, format!("script-{name}"), script);
        }
        s
    }

    pub(super) fn group_state_decode(w: &GroupWorld) -> Seeds {
        let mut s = Seeds::new();
        for (name, bytes) in &w.records {
            push(&mut s, name.clone(), bytes.clone());
        }
        push(&mut s, "empty", vec![]);
        push(&mut s, "version-2", vec![0x08, 0x02]);
        push(&mut s, "version-only", vec![0x08, 0x01]);
        s
    }

    pub(super) fn all() -> Vec<(&'static str, Seeds)> {
        let w = GroupWorld::get();
        vec![
            ("group_decrypt", group_decrypt(w)),
            ("group_control", group_control(w)),
            ("group_state_decode", group_state_decode(w)),
        ]
    }
}

/// Writes the seed corpora. Seed files are named `seed-*`; other files in the directories
/// (found by the fuzzer) are kept.
#[test]
#[ignore = "writes fuzz/corpus; run by hand to regenerate the seeds"]
fn generate_corpus() {
    for (target, seeds) in generate::all().into_iter().chain(generate_group::all()) {
        let dir = fuzz_dir().join("corpus").join(target);
        fs::create_dir_all(&dir).expect("create corpus dir");
        for old in files(&dir) {
            let name = old.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("seed-") {
                fs::remove_file(&old).expect("remove old seed");
            }
        }
        for (name, data) in seeds {
            fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
        }
    }
    for (target, seeds) in generate::known_bugs() {
        let dir = fuzz_dir().join("known-bugs").join(target);
        fs::create_dir_all(&dir).expect("create known-bugs dir");
        for (name, data) in seeds {
            fs::write(dir.join(name), data).expect("write reproduction");
        }
    }
}
