//! ML-KEM-768 (FIPS 203) for the post-quantum half of PQXDH (PROTOCOL.md §3b).
//!
//! A KEM prekey's secret is kept as its 64-byte key-generation seed `d || z` and expanded on
//! use: 64 bytes at rest instead of 2,400, and the expanded key exists only for the moment of a
//! decapsulation, after which it is wiped. libcrux-ml-kem does not zeroize its own values, so
//! every secret it hands back (expanded key, shared secret) is wiped here; temporaries on its
//! stack are beyond reach (SECURITY.md, "Limits").

use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PublicKey};
use rand_core::CryptoRng;
use zeroize::{Zeroize, Zeroizing};

use crate::consts::{KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN, KEM_SEED_LEN};
use crate::keys::Secret32;

/// The secret of a KEM prekey: its key-generation seed.
#[derive(Clone)]
pub(crate) struct KemSeed(Zeroizing<[u8; KEM_SEED_LEN]>);

impl KemSeed {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; KEM_SEED_LEN]);
        rng.fill_bytes(&mut seed[..]);
        KemSeed(seed)
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let seed: &[u8; KEM_SEED_LEN] = bytes.try_into().ok()?;
        Some(KemSeed(Zeroizing::new(*seed)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEM_SEED_LEN] {
        &self.0
    }

    /// The encapsulation key (FIPS 203 encoding) of this seed.
    pub(crate) fn public_key(&self) -> Box<[u8; KEM_PUBLIC_KEY_LEN]> {
        let (mut sk, pk) = mlkem768::generate_key_pair(*self.0).into_parts();
        sk[0..].zeroize();
        Box::new(*pk.as_slice())
    }

    /// `ML-KEM.Decaps`: the shared secret for `ciphertext`. A ciphertext that was not made for
    /// this key yields an unrelated secret (implicit rejection), so the handshake then fails at
    /// the first message's authentication, indistinguishably from any other tampering.
    pub(crate) fn decapsulate(&self, ciphertext: &[u8; KEM_CIPHERTEXT_LEN]) -> Secret32 {
        let (mut sk, _) = mlkem768::generate_key_pair(*self.0).into_parts();
        let mut ss = mlkem768::decapsulate(&sk, &MlKem768Ciphertext::from(ciphertext));
        sk[0..].zeroize();
        let out = Secret32(ss);
        ss.zeroize();
        out
    }
}

/// Whether `public` is a valid ML-KEM-768 encapsulation key (FIPS 203 §7.2 input check: every
/// coefficient reduced modulo q).
pub(crate) fn is_valid_public_key(public: &[u8; KEM_PUBLIC_KEY_LEN]) -> bool {
    mlkem768::validate_public_key(&MlKem768PublicKey::from(public))
}

/// `ML-KEM.Encaps_internal` with explicit randomness `m`: the ciphertext and the shared secret.
/// The key must have passed [`is_valid_public_key`].
pub(crate) fn encapsulate_with(
    public: &[u8; KEM_PUBLIC_KEY_LEN],
    mut m: [u8; 32],
) -> (Box<[u8; KEM_CIPHERTEXT_LEN]>, Secret32) {
    let (ct, mut ss) = mlkem768::encapsulate(&MlKem768PublicKey::from(public), m);
    m.zeroize();
    let out = Secret32(ss);
    ss.zeroize();
    (Box::new(*ct.as_slice()), out)
}

/// `ML-KEM.Encaps` with 32 bytes from `rng`.
pub(crate) fn encapsulate<R: CryptoRng + ?Sized>(
    public: &[u8; KEM_PUBLIC_KEY_LEN],
    rng: &mut R,
) -> (Box<[u8; KEM_CIPHERTEXT_LEN]>, Secret32) {
    let mut m = [0u8; 32];
    rng.fill_bytes(&mut m);
    encapsulate_with(public, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_implicit_rejection() {
        let mut rng = rand::rng();
        let seed = KemSeed::generate(&mut rng);
        let pk = seed.public_key();
        assert!(is_valid_public_key(&pk));
        let (ct, ss) = encapsulate(&pk, &mut rng);
        assert_eq!(seed.decapsulate(&ct).0, ss.0);
        let mut bad = *ct;
        bad[100] ^= 1;
        assert_ne!(seed.decapsulate(&bad).0, ss.0);
        let other = KemSeed::generate(&mut rng);
        assert_ne!(other.decapsulate(&ct).0, ss.0);
    }

    #[test]
    fn unreduced_public_key_is_invalid() {
        let mut pk = *KemSeed::generate(&mut rand::rng()).public_key();
        // The first 12-bit coefficient set to 4095 >= q = 3329.
        pk[0] = 0xff;
        pk[1] |= 0x0f;
        assert!(!is_valid_public_key(&pk));
    }

    #[test]
    fn seed_length_is_exact() {
        assert!(KemSeed::from_slice(&[0; 63]).is_none());
        assert!(KemSeed::from_slice(&[0; 65]).is_none());
        assert!(KemSeed::from_slice(&[0; 64]).is_some());
    }
}
