//! Our own sending chain in a channel (PROTOCOL.md §7.2-§7.3): chain id, iteration, chain key
//! and the chain's Ed25519 signing key.
//!
//! Message key for iteration `i` = `KDF_CK(CK_i).mk`, `CK_{i+1} = KDF_CK(CK_i).next`; every
//! message is sealed under its own key and signed by the chain's key, so members who share the
//! chain key still cannot forge each other's messages.

use core::fmt;

use ed25519_dalek::{Signer, SigningKey};
use rand_core::CryptoRng;

use super::channel::ChannelId;
use super::error::ChannelEncryptError;
use super::message::{MAX_AAD_LEN, aad, write_body_prefix};
use crate::aead;
use crate::consts::{AEAD_TAG_LEN, MAX_CHAINS_PER_SENDER, MAX_PLAINTEXT_SIZE, REUSE_GUARD_LEN};
use crate::kdf::ChainKey;
use crate::keys::Secret32;

/// What a distribution message hands out: the chain at one iteration.
#[derive(Clone)]
pub(crate) struct Distribution {
    pub(crate) chain_id: u32,
    pub(crate) iteration: u32,
    pub(crate) chain_key: ChainKey,
    pub(crate) signing_key: [u8; 32],
}

impl fmt::Debug for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Distribution")
            .field("chain_id", &self.chain_id)
            .field("iteration", &self.iteration)
            .finish_non_exhaustive()
    }
}

/// Our sending chain. Dropping it wipes the chain key (`ChainKey`) and the signing key
/// (ed25519-dalek zeroizes `SigningKey` on drop).
pub(crate) struct SenderChain {
    pub(crate) chain_id: u32,
    /// Iteration of the next message.
    pub(crate) iteration: u32,
    pub(crate) chain_key: ChainKey,
    pub(crate) signing: SigningKey,
    /// Cached: never recomputed per message or per distribution.
    pub(crate) signing_public: [u8; 32],
}

impl SenderChain {
    /// A fresh chain. Draws, in order: 4 bytes (chain id, big-endian), 32 bytes (chain key),
    /// 32 bytes (signing seed). A chain id in `avoid` (our recent ones) is stepped past, so a
    /// receiver never sees one id with two keys from us.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R, avoid: &[u32]) -> Self {
        let mut id = [0u8; 4];
        rng.fill_bytes(&mut id);
        let mut chain_id = u32::from_be_bytes(id);
        // At most `avoid.len() + 1` tries: each one skips a distinct taken id.
        for _ in 0..=avoid.len() {
            if !avoid.contains(&chain_id) {
                break;
            }
            chain_id = chain_id.wrapping_add(1);
        }
        let chain_key = Secret32::random(rng);
        let seed = Secret32::random(rng);
        Self::from_parts(chain_id, 0, &chain_key.0, &seed.0)
    }

    pub(crate) fn from_parts(
        chain_id: u32,
        iteration: u32,
        chain_key: &[u8; 32],
        signing_seed: &[u8; 32],
    ) -> Self {
        let signing = SigningKey::from_bytes(signing_seed);
        let signing_public = signing.verifying_key().to_bytes();
        SenderChain {
            chain_id,
            iteration,
            chain_key: ChainKey::from_bytes(*chain_key),
            signing,
            signing_public,
        }
    }

    pub(crate) fn distribution(&self) -> Distribution {
        Distribution {
            chain_id: self.chain_id,
            iteration: self.iteration,
            chain_key: self.chain_key.clone(),
            signing_key: self.signing_public,
        }
    }

    /// Appends one group message to `out`, drawing the 4-byte reuse guard from `rng`.
    pub(crate) fn encrypt_into<R: CryptoRng + ?Sized>(
        &mut self,
        channel: &ChannelId,
        rng: &mut R,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelEncryptError> {
        self.check(plaintext)?;
        let mut guard = [0u8; REUSE_GUARD_LEN];
        rng.fill_bytes(&mut guard);
        self.seal(channel, &guard, plaintext, out);
        Ok(())
    }

    /// As [`encrypt_into`](Self::encrypt_into) with a given guard (test vectors).
    #[cfg(feature = "hazmat")]
    pub(crate) fn encrypt_with_guard(
        &mut self,
        channel: &ChannelId,
        guard: &[u8; REUSE_GUARD_LEN],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelEncryptError> {
        self.check(plaintext)?;
        self.seal(channel, guard, plaintext, out);
        Ok(())
    }

    fn check(&self, plaintext: &[u8]) -> Result<(), ChannelEncryptError> {
        if plaintext.len() > MAX_PLAINTEXT_SIZE {
            return Err(ChannelEncryptError::TooLarge);
        }
        // The last iteration a receiver accepts is u32::MAX - 1.
        if self.iteration == u32::MAX {
            return Err(ChannelEncryptError::ChainExhausted);
        }
        Ok(())
    }

    /// Cannot fail: every bound was checked before, so the state advances exactly when a
    /// message is written.
    fn seal(
        &mut self,
        channel: &ChannelId,
        guard: &[u8; REUSE_GUARD_LEN],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) {
        let (mk, next) = self.chain_key.step();
        let start = out.len();
        out.reserve(24 + plaintext.len() + AEAD_TAG_LEN + 64);
        write_body_prefix(
            out,
            self.chain_id,
            self.iteration,
            guard,
            plaintext.len() + AEAD_TAG_LEN,
        );
        let mut aad_buf = [0u8; MAX_AAD_LEN];
        let aad = aad(channel, self.chain_id, self.iteration, &mut aad_buf);
        aead::seal_into(&mk, guard, aad, plaintext, out);
        let signature = self.signing.sign(&out[start..]);
        out.extend_from_slice(&signature.to_bytes());
        self.chain_key = next;
        self.iteration += 1;
    }
}

impl fmt::Debug for SenderChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderChain")
            .field("chain_id", &self.chain_id)
            .field("iteration", &self.iteration)
            .finish_non_exhaustive()
    }
}

/// Our chain ids in use or recently used, oldest first, so a new chain never repeats one a
/// receiver may still hold.
pub(crate) fn retire(retired: &mut Vec<u32>, chain_id: u32) {
    retired.push(chain_id);
    if retired.len() > MAX_CHAINS_PER_SENDER {
        retired.remove(0);
    }
}
