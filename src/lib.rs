//! # sealpost
//!
//! End-to-end encrypted conversations between businesses and their customers: X3DH key
//! agreement from verified prekey bundles, Double Ratchet sessions over protobuf envelopes.
//! The relay that carries and stores messages never reads them.
//!
//! The crate is sans-IO: it never touches the network, the disk or a clock. Callers pass bytes
//! in, get bytes and typed results out, and supply randomness as a [`rand_core::CryptoRng`]
//! (`rand::rng()` is a good default).
//!
//! The byte-exact protocol is in `PROTOCOL.md`; the threat model in `SECURITY.md`.
//!
//! ## A conversation
//! ```
//! use sealpost::{Envelope, IdentityKeyPair, PreKeyBundle, PreKeys, Session};
//!
//! let mut rng = rand::rng();
//! let business = IdentityKeyPair::generate(&mut rng);
//! let mut prekeys = PreKeys::new();
//! prekeys.generate_signed_prekey(&business, 1_700_000_000, &mut rng)?;
//! let bundle_bytes = prekeys.bundle(&business, None)?.to_bytes();
//!
//! let customer = IdentityKeyPair::generate(&mut rng);
//! let bundle = PreKeyBundle::from_bytes(&bundle_bytes)?.verify()?;
//! let mut customer_side = Session::initiate(&customer, &bundle, &mut rng)?;
//! let m1 = customer_side.encrypt(&mut rng, b"hello")?;
//! let m2 = customer_side.encrypt(&mut rng, b"anyone there?")?;
//!
//! // Messages may arrive in any order.
//! let Envelope::PreKey(first) = Envelope::parse(&m2)? else { unreachable!() };
//! let (mut business_side, text) = Session::accept(&business, &mut prekeys, &first)?;
//! assert_eq!(text, b"anyone there?");
//! assert_eq!(business_side.decrypt(&m1)?, b"hello");
//!
//! // A session survives a restart as bytes (seal them at rest).
//! let saved = business_side.to_bytes();
//! let mut business_side = Session::from_bytes(&saved)?;
//! let reply = business_side.encrypt(&mut rng, b"yes, how can we help?")?;
//! assert_eq!(customer_side.decrypt(&reply)?, b"yes, how can we help?");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod aead;
pub mod consts;
mod error;
mod fingerprint;
pub mod group;
mod kdf;
mod kem;
mod keys;
mod pb;
mod precheck;
mod prekey;
mod ratchet;
mod record;
mod seal;
mod session;
mod state;
pub mod store;
mod wire;
mod x3dh;

#[cfg(feature = "hazmat")]
pub mod hazmat;

pub use error::{
    BundleError, DecryptError, EncryptError, HandshakeError, IdentityMismatch, KeyError,
    PreKeyError, RecordError, SealError, StateError,
};
pub use fingerprint::Fingerprint;
pub use keys::{IdentityKey, IdentityKeyPair};
pub use prekey::{PostQuantum, PreKeyBundle, PreKeys, VerifiedBundle};
pub use record::SessionRecord;
pub use seal::StorageKey;
pub use session::Session;
pub use wire::{Envelope, PreKeyMessage, RatchetMessage};
