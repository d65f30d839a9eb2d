//! Long-term identity keys and the X25519 key types the handshake and ratchet use.
//!
//! One Ed25519 key pair is the identity; its X25519 form (the birational map, as libsodium's
//! `crypto_sign_ed25519_*_to_curve25519`) takes part in the key agreement (PROTOCOL.md §2).

use core::fmt;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey as XPublic, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::KeyError;
use crate::state::Origin;

/// 32 secret bytes that wipe themselves on drop, never print, and compare in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Secret32(pub(crate) [u8; 32]);

impl Secret32 {
    pub(crate) fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut s = Secret32([0u8; 32]);
        rng.fill_bytes(&mut s.0);
        s
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Secret32(arr))
    }
}

impl fmt::Debug for Secret32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret32 {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Secret32 {}

/// An identity public key: Ed25519, canonically encoded, not small-order, torsion-free.
///
/// The checks happen in [`IdentityKey::from_bytes`], when a key first enters from outside (a
/// bundle, a prekey message, a record decoded with `from_bytes`). A key restored from a record
/// opened with the storage key passed them before it was sealed; only its length and encoding
/// are checked again (PROTOCOL.md §6.4).
#[derive(Clone, Copy)]
pub struct IdentityKey {
    /// Ed25519 encoding (canonical).
    bytes: [u8; 32],
    /// The X25519 (Montgomery) form for X3DH, computed once when a key is parsed for a
    /// handshake; `None` for keys restored from session state, which no handshake uses again.
    dh: Option<[u8; 32]>,
}

/// `p - 1 = 2^255 - 20`, little-endian: the `y` of the order-2 point `(0, -1)`.
const P_MINUS_ONE: [u8; 32] = {
    let mut b = [0xff; 32];
    b[0] = 0xec;
    b[31] = 0x7f;
    b
};

/// Whether `bytes` is the canonical encoding of the point it names: `y < p`, and no sign bit on
/// `x = 0` (which is `y = 1` or `y = p - 1`). `decompress` accepts both forms; this is the same
/// verdict as comparing with the re-encoded point, without the field inversion that costs.
fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    let sign = bytes[31] >> 7;
    let mut one = [0u8; 32];
    one[0] = 1;
    crate::wire::is_canonical_x25519(&y) && (sign == 0 || (y != one && y != P_MINUS_ONE))
}

impl IdentityKey {
    /// Parses and validates a 32-byte Ed25519 public key.
    ///
    /// # Errors
    /// [`KeyError`] if the encoding is not a canonical point, the point has small order, or it
    /// has a torsion component.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let (bytes, point) = Self::validate(bytes)?;
        Ok(IdentityKey {
            bytes,
            dh: Some(point.to_montgomery().to_bytes()),
        })
    }

    /// Every check of [`from_bytes`](Self::from_bytes) (PROTOCOL.md V1); returns the point.
    fn validate(bytes: &[u8]) -> Result<([u8; 32], EdwardsPoint), KeyError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidLength)?;
        let point = CompressedEdwardsY(arr)
            .decompress()
            .ok_or(KeyError::NotOnCurve)?;
        if !is_canonical_encoding(&arr) {
            return Err(KeyError::NonCanonical);
        }
        if point.is_small_order() {
            return Err(KeyError::SmallOrder);
        }
        if !point.is_torsion_free() {
            return Err(KeyError::Torsion);
        }
        Ok((arr, point))
    }

    /// An identity key of persisted session state, without its X25519 form (see
    /// [`dh_public`](Self::dh_public)). [`Origin::Untrusted`] bytes get every check of
    /// [`from_bytes`](Self::from_bytes). [`Origin::Sealed`] bytes get only the length and
    /// encoding checks: sealpost sealed them under the storage key, and every identity key it
    /// holds passed [`from_bytes`](Self::from_bytes) (or belongs to a local key pair) first.
    pub(crate) fn from_state(bytes: &[u8], origin: Origin) -> Result<Self, KeyError> {
        let bytes = match origin {
            Origin::Untrusted => Self::validate(bytes)?.0,
            Origin::Sealed => {
                let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::InvalidLength)?;
                if !is_canonical_encoding(&arr) {
                    return Err(KeyError::NonCanonical);
                }
                arr
            }
        };
        Ok(IdentityKey { bytes, dh: None })
    }

    fn from_verifying(verifying: &VerifyingKey) -> Self {
        IdentityKey {
            bytes: verifying.to_bytes(),
            dh: Some(verifying.to_montgomery().to_bytes()),
        }
    }

    /// The 32-byte Ed25519 encoding.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The 32-byte Ed25519 encoding, by value.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// The X25519 form. The handshake only uses keys parsed for it, which carry the form; a key
    /// restored from state derives it here. A sealed one that does not decompress (only a
    /// holder of the storage key could have written it) gives `u = 0`, whose DH outputs are
    /// all zero and refused as non-contributory.
    pub(crate) fn dh_public(&self) -> XPublic {
        let u = self.dh.unwrap_or_else(|| {
            CompressedEdwardsY(self.bytes)
                .decompress()
                .map_or([0u8; 32], |p| p.to_montgomery().to_bytes())
        });
        XPublic::from(u)
    }

    /// Checks an Ed25519 signature with `verify_strict` (no small-order keys, canonical `S`).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        self.verifier()?.verify(message, signature)
    }

    /// The decoded Ed25519 key, for checking several signatures with one decompression (a
    /// post-quantum bundle carries two).
    pub(crate) fn verifier(&self) -> Result<Verifier, KeyError> {
        VerifyingKey::from_bytes(&self.bytes)
            .map(Verifier)
            .map_err(|_| KeyError::NotOnCurve)
    }
}

/// An identity key decoded for signature checks.
pub(crate) struct Verifier(VerifyingKey);

impl Verifier {
    /// `verify_strict` of `signature` over `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        let sig = Signature::from_slice(signature).map_err(|_| KeyError::BadSignature)?;
        self.0
            .verify_strict(message, &sig)
            .map_err(|_| KeyError::BadSignature)
    }
}

impl PartialEq for IdentityKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for IdentityKey {}

impl core::hash::Hash for IdentityKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A long-term identity: an Ed25519 key pair whose X25519 form also takes part in X3DH.
///
/// ```
/// let alice = sealpost::IdentityKeyPair::generate(&mut rand::rng());
/// let restored = sealpost::IdentityKeyPair::from_seed(&alice.to_seed());
/// assert_eq!(alice.public_key(), restored.public_key());
/// ```
pub struct IdentityKeyPair {
    signing: SigningKey,
    /// X25519 form of the secret (`SigningKey::to_scalar_bytes`), computed once.
    dh: StaticSecret,
    public: IdentityKey,
}

impl IdentityKeyPair {
    /// Generates a fresh identity from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let seed = Secret32::random(rng);
        Self::from_seed(&seed.0)
    }

    /// Rebuilds an identity from its 32-byte Ed25519 seed (RFC 8032 secret key).
    ///
    /// A key generated by this crate always passes [`IdentityKey::from_bytes`]: the public key
    /// of a clamped scalar times the base point is in the prime-order subgroup.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let mut scalar = signing.to_scalar_bytes();
        let dh = StaticSecret::from(scalar);
        scalar.zeroize();
        let public = IdentityKey::from_verifying(&signing.verifying_key());
        IdentityKeyPair {
            signing,
            dh,
            public,
        }
    }

    /// The 32-byte seed, for persistence. Handle it like the key it is.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// Serialized as `state.proto` `IdentityRecord` (versioned). Contains the secret: seal it.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        crate::state::encode_identity(&self.to_seed())
    }

    /// Restores an identity written by [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// [`crate::StateError`] for a malformed record or an unknown version.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::StateError> {
        crate::state::decode_identity(bytes).map(|seed| Self::from_seed(&seed))
    }

    /// The public half.
    pub fn public_key(&self) -> &IdentityKey {
        &self.public
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    pub(crate) fn dh(&self, their: &XPublic) -> x25519_dalek::SharedSecret {
        self.dh.diffie_hellman(their)
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// An X25519 key pair (signed prekey, one-time prekey, ratchet key) with its public key
/// computed once.
pub(crate) struct DhKeyPair {
    secret: StaticSecret,
    public: [u8; 32],
}

impl DhKeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let s = Secret32::random(rng);
        Self::from_secret_bytes(&s.0)
    }

    pub(crate) fn from_secret_bytes(bytes: &[u8; 32]) -> Self {
        let secret = StaticSecret::from(*bytes);
        let public = XPublic::from(&secret).to_bytes();
        DhKeyPair { secret, public }
    }

    pub(crate) fn from_secret_slice(bytes: &[u8]) -> Option<Self> {
        let s = Secret32::from_slice(bytes)?;
        Some(Self::from_secret_bytes(&s.0))
    }

    /// A stored key pair whose public half was persisted beside the secret (it is never
    /// recomputed on load: a base-point multiplication per session made record decoding scale
    /// with the number of archived sessions). Only this crate writes it, inside records that are
    /// sealed at rest; a mismatched public key could only make this session's own messages fail.
    pub(crate) fn from_stored(secret: &[u8], public: &[u8]) -> Option<Self> {
        let s = Secret32::from_slice(secret)?;
        let public: [u8; 32] = public.try_into().ok()?;
        Some(DhKeyPair {
            secret: StaticSecret::from(s.0),
            public,
        })
    }

    pub(crate) fn public(&self) -> &[u8; 32] {
        &self.public
    }

    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        self.secret.as_bytes()
    }

    pub(crate) fn dh(&self, their: &[u8; 32]) -> x25519_dalek::SharedSecret {
        self.secret.diffie_hellman(&XPublic::from(*their))
    }
}

impl Clone for DhKeyPair {
    fn clone(&self) -> Self {
        DhKeyPair {
            secret: StaticSecret::from(*self.secret.as_bytes()),
            public: self.public,
        }
    }
}

impl fmt::Debug for DhKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhKeyPair")
            .field("public", &Hex(&self.public))
            .finish_non_exhaustive()
    }
}

/// Formats public bytes as lowercase hex in `Debug` output.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_passes_validation() {
        let mut rng = rand::rng();
        for _ in 0..32 {
            let id = IdentityKeyPair::generate(&mut rng);
            let parsed = IdentityKey::from_bytes(id.public_key().as_bytes());
            assert_eq!(parsed.ok().as_ref(), Some(id.public_key()));
        }
    }

    /// The byte check gives the verdict of re-encoding the decompressed point, on every
    /// encoding near the edges (small y, y >= p, y = p - 1, either sign) and on real keys.
    #[test]
    fn canonical_check_matches_reencoding() {
        let mut rng = rand::rng();
        let mut cases: Vec<[u8; 32]> = (0..32)
            .map(|_| IdentityKeyPair::generate(&mut rng).public_key().to_bytes())
            .collect();
        for low in 0u8..=40 {
            let mut small = [0u8; 32];
            small[0] = low;
            let mut above_p = P_MINUS_ONE;
            // p - 1 + low: p - 1, then p, p + 1, ... (y >= p) until the low byte wraps.
            above_p[0] = above_p[0].wrapping_add(low);
            cases.extend([small, above_p]);
        }
        cases.push([0xff; 32]);
        let mut checked = 0;
        for mut b in cases {
            for sign in [0u8, 0x80] {
                b[31] = (b[31] & 0x7f) | sign;
                let Some(point) = CompressedEdwardsY(b).decompress() else {
                    continue;
                };
                assert_eq!(
                    is_canonical_encoding(&b),
                    point.compress().to_bytes() == b,
                    "{}",
                    hex::encode(b)
                );
                checked += 1;
            }
        }
        assert!(checked > 60, "{checked}");
    }

    #[test]
    fn state_keys_are_checked_by_origin() {
        let mut rng = rand::rng();
        let id = *IdentityKeyPair::generate(&mut rng).public_key();
        // The same key plus a point of order 8: on the curve, canonical, not torsion-free.
        let point = CompressedEdwardsY(id.to_bytes()).decompress().unwrap();
        let torsion = (point + curve25519_dalek::constants::EIGHT_TORSION[1])
            .compress()
            .to_bytes();
        assert_eq!(
            IdentityKey::from_state(&torsion, Origin::Untrusted),
            Err(KeyError::Torsion)
        );
        // Sealed state is not re-validated on the curve (PROTOCOL.md §6.4)...
        assert!(IdentityKey::from_state(&torsion, Origin::Sealed).is_ok());
        // ...but its length and encoding are.
        let mut y_above_p = P_MINUS_ONE;
        y_above_p[0] += 1;
        for origin in [Origin::Untrusted, Origin::Sealed] {
            let k = IdentityKey::from_state(id.as_bytes(), origin).unwrap();
            assert_eq!(k, id);
            // Restored keys derive the X25519 form on demand, the same as computed at parse.
            assert_eq!(k.dh_public().as_bytes(), id.dh_public().as_bytes());
            assert_eq!(
                IdentityKey::from_state(&id.as_bytes()[..31], origin),
                Err(KeyError::InvalidLength)
            );
            // y = p names the point with y = 0, which is on the curve: only the encoding is wrong.
            assert_eq!(
                IdentityKey::from_state(&y_above_p, origin),
                Err(KeyError::NonCanonical)
            );
        }
        // A sealed key that is not a point at all gives the zero u-coordinate, which every DH
        // refuses as non-contributory.
        let mut off_curve = [0u8; 32];
        off_curve[0] = 2;
        assert!(CompressedEdwardsY(off_curve).decompress().is_none());
        let k = IdentityKey::from_state(&off_curve, Origin::Sealed).unwrap();
        assert_eq!(k.dh_public().to_bytes(), [0u8; 32]);
    }

    #[test]
    fn dh_forms_agree() {
        let mut rng = rand::rng();
        let a = IdentityKeyPair::generate(&mut rng);
        let b = IdentityKeyPair::generate(&mut rng);
        let ab = a.dh(&b.public_key().dh_public());
        let ba = b.dh(&a.public_key().dh_public());
        assert_eq!(ab.as_bytes(), ba.as_bytes());
        assert!(ab.was_contributory());
    }

    #[test]
    fn debug_redacts_secrets() {
        let s = Secret32([0xab; 32]);
        assert_eq!(format!("{s:?}"), "[redacted]");
        let kp = DhKeyPair::from_secret_bytes(&[0x42; 32]);
        let shown = format!("{kp:?}");
        assert!(!shown.contains("4242"));
    }
}
