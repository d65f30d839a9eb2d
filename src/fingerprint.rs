//! Fingerprints ("safety numbers") for comparing identities out of band (PROTOCOL.md §2.5).

use core::fmt;

use sha2::{Digest, Sha512};

use crate::consts::LABEL_FINGERPRINT;
use crate::keys::IdentityKey;

/// A value both parties of a conversation compute identically from the two identity keys:
/// `SHA-512("sealpost fingerprint v1" || min(IK_1, IK_2) || max(IK_1, IK_2))`, keys ordered
/// bytewise. If the two devices show the same digits, no one sits in the middle.
///
/// ```
/// # use sealpost::{Fingerprint, IdentityKeyPair};
/// let mut rng = rand::rng();
/// let (a, b) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
/// let on_a = Fingerprint::new(a.public_key(), b.public_key());
/// let on_b = Fingerprint::new(b.public_key(), a.public_key());
/// assert_eq!(on_a, on_b);
/// assert_eq!(on_a.to_digits().len(), 60 + 11);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 64]);

impl Fingerprint {
    /// The fingerprint of a conversation between `ours` and `theirs` (argument order is
    /// irrelevant).
    pub fn new(ours: &IdentityKey, theirs: &IdentityKey) -> Self {
        let (lo, hi) = if ours.as_bytes() <= theirs.as_bytes() {
            (ours, theirs)
        } else {
            (theirs, ours)
        };
        let mut h = Sha512::new();
        h.update(LABEL_FINGERPRINT);
        h.update(lo.as_bytes());
        h.update(hi.as_bytes());
        Fingerprint(h.finalize().into())
    }

    /// The 64 bytes, e.g. for a QR code.
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// Twelve groups of five decimal digits separated by single spaces: group `i` (0..12) is
    /// the big-endian integer of bytes `5i..5i+5` modulo 100000, zero-padded.
    pub fn to_digits(&self) -> String {
        let mut out = String::with_capacity(71);
        for (i, chunk) in self.0.chunks_exact(5).take(12).enumerate() {
            let mut v = 0u64;
            for b in chunk {
                v = (v << 8) | u64::from(*b);
            }
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&format!("{:05}", v % 100_000));
        }
        out
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_digits())
    }
}
