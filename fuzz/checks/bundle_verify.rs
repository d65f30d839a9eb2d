//! `PreKeyBundle::from_bytes` and `verify` on arbitrary bytes, and on mutations of the fixture
//! responder's real bundles: no panic; decoding round-trips; only a correctly signed bundle
//! verifies; `verify` refuses every bundle without an ML-KEM prekey and otherwise agrees with
//! `verify_allowing_classical`; a verified real bundle completes a handshake.

#[path = "fixtures.rs"]
pub mod fixtures;

use fixtures::{Choices, World};
use sealpost::{BundleError, Envelope, PreKeyBundle, Session};

pub fn check(data: &[u8]) {
    let world = World::get();
    check_bundle(world, data, false);
    let mut c = Choices::new(data);
    let base = &world.bundles[usize::from(c.byte()) % world.bundles.len()];
    let mutated = fixtures::mutate_bytes(base.clone(), &mut c);
    check_bundle(world, &mutated, true);
}

/// `derived`: the bytes are a mutation of a fixture bundle, so anything that verifies must
/// carry the fixture responder's signed prekey.
fn check_bundle(world: &World, bytes: &[u8], derived: bool) {
    let Ok(bundle) = PreKeyBundle::from_bytes(bytes) else {
        return;
    };
    let encoded = bundle.to_bytes();
    let decoded = PreKeyBundle::from_bytes(&encoded).expect("a re-encoded bundle decodes");
    assert_eq!(
        decoded, bundle,
        "bundle changed in an encode/decode round trip"
    );
    assert_eq!(decoded.to_bytes(), encoded, "bundle encoding is not stable");

    let strict = bundle.clone().verify();
    let verified = bundle.clone().verify_allowing_classical();
    let repeat = bundle.clone().verify_allowing_classical();
    assert_eq!(
        verified.as_ref().err(),
        repeat.as_ref().err(),
        "verify is not deterministic"
    );
    if bundle.has_kem_prekey() {
        assert_eq!(
            strict.as_ref().err(),
            verified.as_ref().err(),
            "verify and verify_allowing_classical disagree on a PQ bundle"
        );
    } else {
        assert_eq!(
            strict.as_ref().err(),
            Some(&BundleError::MissingKemPreKey),
            "verify took a bundle without an ML-KEM prekey"
        );
    }
    let other = world.mallory.public_key();
    match verified {
        Err(e) => {
            let for_other = bundle.clone().verify_for(other).err();
            assert!(
                for_other == Some(BundleError::UnexpectedIdentity)
                    || for_other == strict.as_ref().err().copied(),
                "verify_for disagrees with verify: {for_other:?} vs {e:?}"
            );
        }
        Ok(v) => {
            assert_eq!(
                bundle.clone().verify_for(v.identity()).err(),
                strict.as_ref().err().copied()
            );
            if v.identity() != other {
                assert_eq!(
                    bundle.clone().verify_for(other).err(),
                    Some(BundleError::UnexpectedIdentity)
                );
            }
            if derived {
                let spk = world.bob_prekeys.signed_prekeys().last().map(|(id, _)| id);
                assert_eq!(
                    v.identity(),
                    world.bob.public_key(),
                    "forged bundle verified"
                );
                assert_eq!(Some(v.signed_prekey_id()), spk, "forged bundle verified");
                if let Some(id) = v.kem_prekey_id() {
                    assert!(
                        world.bob_kem_prekey_ids().contains(&id),
                        "forged ML-KEM prekey {id} verified"
                    );
                }
                handshake(world, &v, world.bundles.contains(&encoded));
            }
        }
    }
}

/// Starts a session from `bundle` with the fixture responder. `genuine`: the bundle is one the
/// responder published, so the handshake must succeed.
fn handshake(world: &World, bundle: &sealpost::VerifiedBundle, genuine: bool) {
    let mut rng = fixtures::rng(7);
    let mut alice = match Session::initiate(&world.alice, bundle, &mut rng) {
        Ok(s) => s,
        Err(e) => {
            assert!(!genuine, "initiate failed on a genuine bundle: {e:?}");
            return;
        }
    };
    let wire = alice.encrypt(&mut rng, b"ping").expect("encrypt");
    let Ok(Envelope::PreKey(m)) = Envelope::parse(&wire) else {
        panic!("the first message is not a prekey message");
    };
    let mut prekeys = world.bob_prekeys.clone();
    let before = prekeys.to_bytes();
    match Session::accept(&world.bob, &mut prekeys, &m) {
        Ok((mut bob, text)) => {
            assert_eq!(text, b"ping");
            let reply = bob.encrypt(&mut rng, b"pong").expect("encrypt");
            assert_eq!(alice.decrypt(&reply).expect("reply decrypts"), b"pong");
        }
        Err(e) => {
            assert!(!genuine, "handshake from a genuine bundle failed: {e:?}");
            assert_eq!(
                prekeys.to_bytes(),
                before,
                "failed accept changed the prekeys"
            );
        }
    }
}
