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
        let identity = IdentityKeyPair::generate(rng);
        let mut prekeys = PreKeys::new();
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
