//! Encryption of persisted records at rest under a caller's storage key (PROTOCOL.md §6.4).
//!
//! `sealed = nonce (12 random bytes) || ChaCha20-Poly1305(key, nonce, aad, record)` with
//! `aad = "sealpost record" || kind (1 B) || u32be(STATE_VERSION)`, so a record of one kind
//! cannot be passed off as another, and a future format cannot be confused with this one.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::consts::{
    AEAD_TAG_LEN, MAX_PREKEYS_RECORD_SIZE, MAX_SESSION_RECORD_SIZE, RECORD_KIND_IDENTITY,
    RECORD_KIND_PREKEYS, RECORD_KIND_SESSION, STATE_VERSION,
};
use crate::error::SealError;
use crate::keys::{IdentityKeyPair, Secret32};
use crate::prekey::PreKeys;
use crate::record::SessionRecord;
use crate::state::Origin;

const NONCE_LEN: usize = 12;
const SEAL_LABEL: &[u8] = b"sealpost record";

/// A 32-byte key that encrypts records at rest (from the platform keystore, a KMS, ...).
#[derive(Clone, PartialEq, Eq)]
pub struct StorageKey(Secret32);

impl StorageKey {
    /// A fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        StorageKey(Secret32::random(rng))
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        StorageKey(Secret32(bytes))
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StorageKey([redacted])")
    }
}

fn aad(kind: u8) -> [u8; 15 + 1 + 4] {
    let mut a = [0u8; 20];
    a[..15].copy_from_slice(SEAL_LABEL);
    a[15] = kind;
    a[16..].copy_from_slice(&STATE_VERSION.to_be_bytes());
    a
}

/// Seals record bytes of `kind` (record kinds: `consts::RECORD_KIND_*`).
pub(crate) fn seal<R: CryptoRng + ?Sized>(
    key: &StorageKey,
    kind: u8,
    record: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(NONCE_LEN + record.len() + AEAD_TAG_LEN);
    out.extend_from_slice(&nonce);
    crate::aead::seal_with_nonce(&key.0.0, &nonce, &aad(kind), record, &mut out);
    out
}

/// Opens bytes sealed by [`seal`] with the same kind; `limit` bounds the record size.
pub(crate) fn open(
    key: &StorageKey,
    kind: u8,
    sealed: &[u8],
    limit: usize,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < NONCE_LEN + AEAD_TAG_LEN || sealed.len() > limit + NONCE_LEN + AEAD_TAG_LEN {
        return Err(SealError::Malformed);
    }
    let (nonce, ct_and_tag) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Malformed)?;
    // Sized up front: the plaintext is never copied into a buffer that is freed unwiped.
    let mut buf = Zeroizing::new(Vec::with_capacity(ct_and_tag.len() - AEAD_TAG_LEN));
    crate::aead::open_with_nonce(&key.0.0, &nonce, &aad(kind), ct_and_tag, &mut buf)
        .map_err(|()| SealError::Authentication)?;
    Ok(buf)
}

impl SessionRecord {
    /// Encrypts the record for storage under `key`.
    pub fn seal<R: CryptoRng + ?Sized>(&self, key: &StorageKey, rng: &mut R) -> Vec<u8> {
        seal(key, RECORD_KIND_SESSION, &self.to_bytes(), rng)
    }

    /// Decrypts and decodes a record sealed with [`seal`](Self::seal).
    ///
    /// Once the AEAD has authenticated the record under `key`, its identity keys are trusted to
    /// have passed [`IdentityKey::from_bytes`](crate::IdentityKey::from_bytes) before they were
    /// sealed, and only their lengths and encodings are checked again; everything else is
    /// checked as in [`from_bytes`](Self::from_bytes) (PROTOCOL.md §6.4). So keep `key` as
    /// secret as the records themselves: whoever holds it can write any session state anyway.
    ///
    /// # Errors
    /// [`SealError`].
    pub fn open(sealed: &[u8], key: &StorageKey) -> Result<Self, SealError> {
        let bytes = open(key, RECORD_KIND_SESSION, sealed, MAX_SESSION_RECORD_SIZE)?;
        SessionRecord::decode(&bytes, Origin::Sealed).map_err(SealError::State)
    }
}

impl PreKeys {
    /// Encrypts the prekeys for storage under `key`.
    pub fn seal<R: CryptoRng + ?Sized>(&self, key: &StorageKey, rng: &mut R) -> Vec<u8> {
        seal(key, RECORD_KIND_PREKEYS, &self.to_bytes(), rng)
    }

    /// Decrypts and decodes prekeys sealed with [`seal`](Self::seal).
    ///
    /// # Errors
    /// [`SealError`].
    pub fn open(sealed: &[u8], key: &StorageKey) -> Result<Self, SealError> {
        let bytes = open(key, RECORD_KIND_PREKEYS, sealed, MAX_PREKEYS_RECORD_SIZE)?;
        PreKeys::from_bytes(&bytes).map_err(SealError::State)
    }
}

impl IdentityKeyPair {
    /// Encrypts the identity for storage under `key`.
    pub fn seal<R: CryptoRng + ?Sized>(&self, key: &StorageKey, rng: &mut R) -> Vec<u8> {
        seal(key, RECORD_KIND_IDENTITY, &self.to_bytes(), rng)
    }

    /// Decrypts and decodes an identity sealed with [`seal`](Self::seal).
    ///
    /// # Errors
    /// [`SealError`].
    pub fn open(sealed: &[u8], key: &StorageKey) -> Result<Self, SealError> {
        let bytes = open(key, RECORD_KIND_IDENTITY, sealed, 128)?;
        IdentityKeyPair::from_bytes(&bytes).map_err(SealError::State)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sealed bytes are RFC 8439 ChaCha20-Poly1305 as chacha20poly1305 computes it, on
    /// both sides of the AEAD's size dispatch, and open what the reference sealed.
    #[test]
    fn sealed_format_is_chacha20poly1305() {
        use chacha20poly1305::aead::AeadInOut;
        use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
        use rand::SeedableRng;

        let key = StorageKey::from_bytes([0x33; 32]);
        for len in [0usize, 1, 429, 1024, 1025, 4096] {
            let record: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(len as u64);
            let sealed = seal(&key, RECORD_KIND_SESSION, &record, &mut rng);
            let nonce: [u8; NONCE_LEN] = sealed[..NONCE_LEN].try_into().unwrap();
            let mut reference = record.clone();
            let tag = ChaCha20Poly1305::new(&[0x33; 32].into())
                .encrypt_inout_detached(
                    &nonce.into(),
                    &aad(RECORD_KIND_SESSION),
                    reference.as_mut_slice().into(),
                )
                .unwrap();
            reference.extend_from_slice(&tag);
            assert_eq!(&sealed[NONCE_LEN..], &reference[..], "{len} bytes");
            let opened = open(&key, RECORD_KIND_SESSION, &sealed, 8192).unwrap();
            assert_eq!(opened.as_slice(), &record[..]);
        }
    }

    #[test]
    fn seal_binds_kind_and_key() {
        let mut rng = rand::rng();
        let key = StorageKey::generate(&mut rng);
        let id = IdentityKeyPair::generate(&mut rng);
        let sealed = id.seal(&key, &mut rng);
        let back = IdentityKeyPair::open(&sealed, &key).unwrap();
        assert_eq!(back.public_key(), id.public_key());
        assert_eq!(
            IdentityKeyPair::open(&sealed, &StorageKey::generate(&mut rng)).unwrap_err(),
            SealError::Authentication
        );
        // The same bytes under another kind do not open.
        assert_eq!(
            PreKeys::open(&sealed, &key).unwrap_err(),
            SealError::Authentication
        );
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x10;
            assert!(IdentityKeyPair::open(&t, &key).is_err());
        }
        assert_eq!(
            IdentityKeyPair::open(&sealed[..20], &key).unwrap_err(),
            SealError::Malformed
        );
    }
}
