//! The key derivations: root key (KDF_RK), chain key (KDF_CK), handshake and tag keys.
//!
//! PROTOCOL.md §4 gives every input byte. One type per key role, so a chain key can never be
//! passed where a message key is expected.

use core::fmt;

use hkdf::HkdfExtract;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::consts::{
    CHAIN_MESSAGE_KEY_SEED, CHAIN_NEXT_KEY_SEED, LABEL_RATCHET, LABEL_SESSION_TAG, SESSION_TAG_LEN,
};
use crate::keys::Secret32;

/// HMAC-SHA256 keyed with 32 bytes.
///
/// hmac pads the key to the 64-byte block itself. It used to be padded here first, into a copy
/// that was then wiped; but hmac keeps its own padded copy (XORed with ipad/opad, just as
/// revealing) on the stack without wiping it, so the extra copy and its 64-byte volatile wipe
/// protected nothing and cost about 25 ns on every KDF_CK, i.e. on every message.
pub(crate) fn hmac_sha256(key: &[u8; 32]) -> Hmac<Sha256> {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; `Hmac::new` makes the same call and unwraps it.
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// HKDF-SHA256 with the input keying material given in parts (no concatenated copy to wipe).
pub(crate) fn hkdf_sha256<const L: usize>(salt: &[u8], ikm: &[&[u8]], info: &[u8]) -> [u8; L] {
    const { assert!(L <= 255 * 32) };
    let mut extract = HkdfExtract::<Sha256>::new(Some(salt));
    for part in ikm {
        extract.input_ikm(part);
    }
    let (_, hk) = extract.finalize();
    let mut okm = [0u8; L];
    match hk.expand(info, &mut okm) {
        Ok(()) => okm,
        // HKDF-Expand fails only for L > 255 * HashLen, which the const assertion rules out.
        Err(_) => unreachable!("HKDF output length checked at compile time"),
    }
}

macro_rules! secret_key_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
        pub(crate) struct $name(pub(crate) Secret32);

        impl $name {
            pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
                $name(Secret32(bytes))
            }

            pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
                Secret32::from_slice(bytes).map($name)
            }

            pub(crate) fn as_bytes(&self) -> &[u8; 32] {
                &self.0 .0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_key_type!(
    /// The Double Ratchet root key.
    RootKey
);
secret_key_type!(
    /// A sending or receiving chain key.
    ChainKey
);
secret_key_type!(
    /// A key for exactly one message.
    MessageKey
);
secret_key_type!(
    /// The key of the per-session tag that lets a record find a session without trial DH.
    TagKey
);

impl RootKey {
    /// KDF_RK: `HKDF-SHA256(salt = rk, ikm = dh_out, info = "sealpost ratchet v1", L = 64)`.
    pub(crate) fn advance(&self, dh_out: &[u8; 32]) -> (RootKey, ChainKey) {
        let mut okm: [u8; 64] = hkdf_sha256(self.as_bytes(), &[dh_out], LABEL_RATCHET);
        let mut rk = [0u8; 32];
        let mut ck = [0u8; 32];
        rk.copy_from_slice(&okm[..32]);
        ck.copy_from_slice(&okm[32..]);
        okm.zeroize();
        (RootKey::from_bytes(rk), ChainKey::from_bytes(ck))
    }
}

impl ChainKey {
    /// KDF_CK: `mk = HMAC(ck, 0x01)`, `next = HMAC(ck, 0x02)`.
    pub(crate) fn step(&self) -> (MessageKey, ChainKey) {
        // One keyed state serves both outputs: the key schedule is paid once.
        let keyed = hmac_sha256(self.as_bytes());
        let mut m = keyed.clone();
        m.update(&[CHAIN_MESSAGE_KEY_SEED]);
        let mk: [u8; 32] = m.finalize().into_bytes().into();
        let mut n = keyed;
        n.update(&[CHAIN_NEXT_KEY_SEED]);
        let next: [u8; 32] = n.finalize().into_bytes().into();
        (MessageKey::from_bytes(mk), ChainKey::from_bytes(next))
    }
}

impl TagKey {
    /// `tag_key = HKDF-SHA256(salt = 0^32, ikm = SK, info = "sealpost session tag v1", L = 32)`.
    pub(crate) fn derive(shared_secret: &[u8; 32]) -> TagKey {
        TagKey::from_bytes(hkdf_sha256(&[0u8; 32], &[shared_secret], LABEL_SESSION_TAG))
    }

    /// `tag = HMAC-SHA256(tag_key, ratchet_public)[..8]`.
    pub(crate) fn tag(&self, ratchet_public: &[u8; 32]) -> [u8; SESSION_TAG_LEN] {
        let mut m = hmac_sha256(self.as_bytes());
        m.update(ratchet_public);
        let full = m.finalize().into_bytes();
        let mut out = [0u8; SESSION_TAG_LEN];
        out.copy_from_slice(&full[..SESSION_TAG_LEN]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HMAC as RFC 2104 defines it, `H((K ^ opad) || H((K ^ ipad) || m))` with `K` zero-padded
    /// to the block, computed with SHA-256 alone.
    #[test]
    fn hmac_matches_rfc2104() {
        use sha2::Digest;
        let key = [7u8; 32];
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&key);
        let pad = |b: u8| block.map(|k| k ^ b);
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(b"x")
            .finalize();
        let expected = Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize();
        let mut mac = hmac_sha256(&key);
        mac.update(b"x");
        assert_eq!(mac.finalize().into_bytes(), expected);
    }

    #[test]
    fn rfc5869_case_1() {
        // RFC 5869 A.1 (L = 42 truncated to 32 for the const-size helper, compare prefix).
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let okm: [u8; 42] = hkdf_sha256(&salt, &[&ikm[..10], &ikm[10..]], &info);
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn chain_step_outputs_differ() {
        let ck = ChainKey::from_bytes([1u8; 32]);
        let (mk, next) = ck.step();
        assert_ne!(mk.as_bytes(), next.as_bytes());
        assert_ne!(next.as_bytes(), ck.as_bytes());
    }
}
