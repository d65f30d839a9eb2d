//! Message encryption: ChaCha20-Poly1305 (RFC 8439) under a one-use message key, with the
//! nonce `reuse_guard (4 B) || 8 zero bytes` (PROTOCOL.md §4.4).
//!
//! Two implementations of the same function, chosen by size: libcrux-chacha20poly1305
//! (portable code extracted from HACL*'s verified implementation) up to
//! [`SMALL_MESSAGE_MAX`], RustCrypto's chacha20poly1305 above it. poly1305 0.9 picks its AVX2
//! backend at run time but sets up each key without AVX2 enabled, about 1 µs per key, and
//! every message here has a fresh key; libcrux has no such setup cost, while RustCrypto's AVX2
//! ChaCha20 is about twice as fast on long inputs (BENCHMARKS.md). Both give the same bytes;
//! the tests below check it on every size around the threshold. Records at rest (`seal.rs`)
//! go through the same functions with their random 96-bit nonce.

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Tag};

use crate::consts::{AEAD_TAG_LEN, REUSE_GUARD_LEN};
use crate::kdf::MessageKey;

/// Largest plaintext handled by libcrux; the measured crossover is at 1-1.5 KiB.
const SMALL_MESSAGE_MAX: usize = 1024;

fn nonce_bytes(guard: &[u8; REUSE_GUARD_LEN]) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..REUSE_GUARD_LEN].copy_from_slice(guard);
    n
}

/// Appends `ciphertext || tag` of `plaintext` to `out`.
pub(crate) fn seal_into(
    key: &MessageKey,
    guard: &[u8; REUSE_GUARD_LEN],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) {
    seal_with_nonce(key.as_bytes(), &nonce_bytes(guard), aad, plaintext, out);
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
    open_with_nonce(
        key.as_bytes(),
        &nonce_bytes(guard),
        aad,
        ciphertext_and_tag,
        out,
    )
}

/// [`seal_into`] with any 96-bit nonce (records at rest draw theirs at random, `seal.rs`).
pub(crate) fn seal_with_nonce(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    if plaintext.len() <= SMALL_MESSAGE_MAX {
        out.resize(start + plaintext.len() + AEAD_TAG_LEN, 0);
        let sealed =
            libcrux_chacha20poly1305::encrypt(key, plaintext, &mut out[start..], aad, nonce);
        // Fails only for inputs over 4 GiB or a short output buffer, both excluded here.
        if sealed.is_err() {
            unreachable!("lengths are bounded and the output is sized");
        }
        return;
    }
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    out.reserve(plaintext.len() + AEAD_TAG_LEN);
    out.extend_from_slice(plaintext);
    match cipher.encrypt_inout_detached(&(*nonce).into(), aad, (&mut out[start..]).into()) {
        Ok(tag) => out.extend_from_slice(&tag),
        // Fails only past 2^38 bytes of plaintext; callers bound it far below (MAX_PLAINTEXT_SIZE,
        // the record size limits).
        Err(_) => unreachable!("plaintext length is bounded by the caller"),
    }
}

/// [`open_into`] with any 96-bit nonce. Give it an `out` with room for the plaintext if no
/// copy of it may be left behind in a buffer that a reallocation frees.
pub(crate) fn open_with_nonce(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ()> {
    let Some(ct_len) = ciphertext_and_tag.len().checked_sub(AEAD_TAG_LEN) else {
        return Err(());
    };
    let start = out.len();
    if ct_len <= SMALL_MESSAGE_MAX {
        out.resize(start + ct_len, 0);
        // libcrux checks the tag before it decrypts anything.
        let opened = libcrux_chacha20poly1305::decrypt(
            key,
            &mut out[start..],
            ciphertext_and_tag,
            aad,
            nonce,
        );
        if opened.is_err() {
            zeroize::Zeroize::zeroize(&mut out[start..]);
            out.truncate(start);
            return Err(());
        }
        return Ok(());
    }
    let (ct, tag) = ciphertext_and_tag.split_at(ct_len);
    let tag = Tag::try_from(tag).map_err(|_| ())?;
    let cipher = ChaCha20Poly1305::new(&(*key).into());
    out.extend_from_slice(ct);
    match cipher.decrypt_inout_detached(&(*nonce).into(), aad, (&mut out[start..]).into(), &tag) {
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

    /// Both implementations give the same bytes on each side of the threshold, and each opens
    /// what the other sealed.
    #[test]
    fn backends_agree_around_threshold() {
        let key = MessageKey::from_bytes([0x17; 32]);
        let guard = [9, 8, 7, 6];
        let aad = [0xa5u8; 119];
        let sizes = (0..=64).chain(SMALL_MESSAGE_MAX - 64..=SMALL_MESSAGE_MAX + 64);
        for n in sizes.chain([4096, 65536]) {
            let pt: Vec<u8> = (0..n).map(|i| (i * 31 + n) as u8).collect();
            let mut ours = b"prefix".to_vec();
            seal_into(&key, &guard, &aad, &pt, &mut ours);
            let mut reference = pt.clone();
            let tag = ChaCha20Poly1305::new(&(*key.as_bytes()).into())
                .encrypt_inout_detached(
                    &nonce_bytes(&guard).into(),
                    &aad,
                    reference.as_mut_slice().into(),
                )
                .unwrap();
            reference.extend_from_slice(&tag);
            assert_eq!(&ours[6..], &reference[..], "{n} bytes");
            let mut lc = vec![0u8; n + AEAD_TAG_LEN];
            libcrux_chacha20poly1305::encrypt(
                key.as_bytes(),
                &pt,
                &mut lc,
                &aad,
                &nonce_bytes(&guard),
            )
            .unwrap();
            assert_eq!(lc, reference, "libcrux at {n} bytes");
            let mut back = b"x".to_vec();
            assert!(open_into(&key, &guard, &aad, &reference, &mut back).is_ok());
            assert_eq!(&back[1..], &pt[..]);
            let mut bad = reference.clone();
            bad[n / 2] ^= 0x80;
            let mut kept = b"x".to_vec();
            assert!(open_into(&key, &guard, &aad, &bad, &mut kept).is_err());
            assert_eq!(kept, b"x");
        }
    }
}
