//! Chains received from other senders, and transactional decryption of their messages
//! (PROTOCOL.md §7.4).
//!
//! Like the pairwise ratchet, decryption stages every new key in locals, authenticates
//! (signature, then AEAD) and only then commits: a message that fails for any reason leaves
//! the store exactly as it was.

use std::collections::{BTreeMap, VecDeque};

use ed25519_dalek::{Signature, VerifyingKey};

use super::channel::ChannelId;
use super::error::{ChannelDecryptError, ControlError};
use super::message::{GroupMessageView, MAX_AAD_LEN, aad};
use super::sender_chain::Distribution;
use crate::aead;
use crate::consts::{
    MAX_CHAINS_PER_SENDER, MAX_CHANNEL_SKIPPED_KEYS, MAX_FORWARD_JUMP, MAX_SKIPPED_KEYS,
};
use crate::error::KeyError;
use crate::kdf::{ChainKey, MessageKey};
use crate::keys::IdentityKey;
use crate::ratchet::skip_forward;

/// One sender chain as a receiver holds it.
pub(crate) struct ReceiverChain {
    pub(crate) chain_id: u32,
    /// Validated once, when the distribution arrived; kept decompressed.
    pub(crate) signing: VerifyingKey,
    /// Iteration of the next message key `chain_key` derives.
    pub(crate) iteration: u32,
    pub(crate) chain_key: ChainKey,
    /// Keys of iterations skipped on this chain, each in its own allocation: the map moves
    /// its entries around (and leaves their bytes behind) as it grows and shrinks, so it holds
    /// pointers, and a key is wiped where it lives when it goes.
    pub(crate) skipped: BTreeMap<u32, Box<MessageKey>>,
}

/// Validates a chain's signing key like an identity key (canonical, not small-order,
/// torsion-free): `verify_strict` would reject a weak key only per message.
pub(crate) fn signing_key(bytes: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    IdentityKey::from_bytes(bytes)?;
    VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotOnCurve)
}

/// Every chain received in one channel, by sender (32-byte identity key), oldest chain first.
#[derive(Default)]
pub(crate) struct ChainStore {
    /// Boxed for the same reason as the skipped keys: a chain key is never moved.
    pub(crate) senders: BTreeMap<[u8; 32], VecDeque<Box<ReceiverChain>>>,
    /// Skipped keys over all chains.
    pub(crate) skipped_total: usize,
}

/// What one successful decryption changes, computed before it is applied.
struct Staged {
    next_chain_key: ChainKey,
    next_iteration: u32,
    skipped: Vec<(u32, Box<MessageKey>)>,
}

/// Whether a distribution added a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    New,
    /// The same chain (id and signing key) was known: nothing changes, so a repeated
    /// distribution can never rewind a chain and reopen iterations already decrypted.
    AlreadyKnown,
}

impl ChainStore {
    /// Checks a distribution against the store without changing it.
    pub(crate) fn check(
        &self,
        sender: &[u8; 32],
        d: &Distribution,
    ) -> Result<(VerifyingKey, Inserted), ControlError> {
        if d.iteration == u32::MAX {
            return Err(ControlError::Malformed);
        }
        let vk = signing_key(&d.signing_key).map_err(ControlError::InvalidKey)?;
        let known = self
            .senders
            .get(sender)
            .and_then(|chains| chains.iter().find(|c| c.chain_id == d.chain_id));
        match known {
            None => Ok((vk, Inserted::New)),
            Some(c) if c.signing.as_bytes() == &d.signing_key => Ok((vk, Inserted::AlreadyKnown)),
            Some(_) => Err(ControlError::ChainConflict {
                chain_id: d.chain_id,
            }),
        }
    }

    /// Adds a chain checked by [`check`](Self::check); the sender's oldest chain goes if it now
    /// has more than `MAX_CHAINS_PER_SENDER`.
    pub(crate) fn commit_insert(
        &mut self,
        sender: &[u8; 32],
        d: Distribution,
        vk: VerifyingKey,
        how: Inserted,
    ) {
        if how == Inserted::AlreadyKnown {
            return;
        }
        let chains = self.senders.entry(*sender).or_default();
        chains.push_back(Box::new(ReceiverChain {
            chain_id: d.chain_id,
            signing: vk,
            iteration: d.iteration,
            chain_key: d.chain_key.clone(),
            skipped: BTreeMap::new(),
        }));
        while chains.len() > MAX_CHAINS_PER_SENDER {
            if let Some(old) = chains.pop_front() {
                self.skipped_total -= old.skipped.len();
            }
        }
    }

    /// Forgets every chain of `sender` (removed from the channel).
    pub(crate) fn remove_sender(&mut self, sender: &[u8; 32]) {
        if let Some(chains) = self.senders.remove(sender) {
            self.skipped_total -= chains.iter().map(|c| c.skipped.len()).sum::<usize>();
        }
    }

    pub(crate) fn clear(&mut self) {
        self.senders.clear();
        self.skipped_total = 0;
    }

    /// Decrypts one group message from `sender` into `out`, changing nothing unless it
    /// authenticates.
    ///
    /// Order (PROTOCOL.md §7.4): parse and bound; find the chain; reject a replayed or
    /// too-distant iteration; verify the signature; derive the key; open the AEAD; commit.
    /// The signature comes before any chain stepping, so only the chain's owner can make a
    /// receiver spend `MAX_FORWARD_JUMP` HMACs.
    pub(crate) fn decrypt(
        &mut self,
        channel: &ChannelId,
        sender: &[u8; 32],
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelDecryptError> {
        let msg = GroupMessageView::parse(message)?;
        let chains = self
            .senders
            .get_mut(sender)
            .ok_or(ChannelDecryptError::UnknownSender)?;
        let chain = chains
            .iter_mut()
            .find(|c| c.chain_id == msg.chain_id)
            .ok_or(ChannelDecryptError::UnknownChain {
                chain_id: msg.chain_id,
            })?;
        let mut aad_buf = [0u8; MAX_AAD_LEN];
        let aad = aad(channel, msg.chain_id, msg.iteration, &mut aad_buf);

        if msg.iteration < chain.iteration {
            let Some(mk) = chain.skipped.get(&msg.iteration) else {
                return Err(ChannelDecryptError::Duplicate {
                    iteration: msg.iteration,
                });
            };
            verify(&chain.signing, &msg)?;
            aead::open_into(mk, &msg.guard, aad, msg.ciphertext, out)
                .map_err(|()| ChannelDecryptError::InvalidMessage)?;
            // Used once: a replay now fails as a duplicate.
            chain.skipped.remove(&msg.iteration);
            self.skipped_total -= 1;
            return Ok(());
        }

        let steps = msg.iteration - chain.iteration;
        if steps > MAX_FORWARD_JUMP {
            return Err(ChannelDecryptError::TooFarAhead {
                steps: u64::from(steps) + 1,
            });
        }
        verify(&chain.signing, &msg)?;
        let (ck, skipped) =
            skip_forward(&chain.chain_key, chain.iteration, steps, MAX_SKIPPED_KEYS);
        let (mk, next_chain_key) = ck.step();
        let staged = Staged {
            next_chain_key,
            // iteration < u32::MAX was checked when parsing.
            next_iteration: msg.iteration + 1,
            skipped,
        };
        aead::open_into(&mk, &msg.guard, aad, msg.ciphertext, out)
            .map_err(|()| ChannelDecryptError::InvalidMessage)?;

        chain.chain_key = staged.next_chain_key;
        chain.iteration = staged.next_iteration;
        let added = staged.skipped.len();
        // `skip_forward` boxed each key: only pointers move out of the staging buffer.
        chain.skipped.extend(staged.skipped);
        self.skipped_total += added;
        // Per chain: keep the newest MAX_SKIPPED_KEYS, as a pairwise session does.
        // Per channel: the chain that grew pays, so one sender's gaps never evict another's keys.
        while chain.skipped.len() > MAX_SKIPPED_KEYS
            || self.skipped_total > MAX_CHANNEL_SKIPPED_KEYS
        {
            if chain.skipped.pop_first().is_none() {
                break;
            }
            self.skipped_total -= 1;
        }
        Ok(())
    }

    /// Number of chains held for `sender`.
    pub(crate) fn chain_count(&self, sender: &[u8; 32]) -> usize {
        self.senders.get(sender).map_or(0, VecDeque::len)
    }
}

fn verify(key: &VerifyingKey, msg: &GroupMessageView<'_>) -> Result<(), ChannelDecryptError> {
    let sig = Signature::from_bytes(msg.signature);
    key.verify_strict(msg.body, &sig)
        .map_err(|_| ChannelDecryptError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::sender_chain::SenderChain;

    /// The channel-wide cap evicts from the chain that grew, never from another sender's.
    #[test]
    fn channel_cap_is_paid_by_the_growing_chain() {
        let channel = ChannelId::new(b"cap").unwrap();
        let ck = [3u8; 32];
        let seed = [4u8; 32];
        let per_chain = MAX_SKIPPED_KEYS as u32;
        // The same chain under every sender id: one message serves them all.
        let chain = SenderChain::from_parts(9, 0, &ck, &seed);
        let mut ck_at = ChainKey::from_bytes(ck);
        for _ in 0..per_chain {
            ck_at = ck_at.step().1;
        }
        let mut sender = SenderChain::from_parts(9, per_chain, ck_at.as_bytes(), &seed);
        let mut msg = Vec::new();
        sender
            .encrypt_into(&channel, &mut rand::rng(), b"x", &mut msg)
            .unwrap();
        let full = MAX_CHANNEL_SKIPPED_KEYS / MAX_SKIPPED_KEYS;
        let mut store = ChainStore::default();
        let mut out = Vec::new();
        for s in 0..=full {
            let id = [s as u8; 32];
            let d = chain.distribution();
            let (vk, how) = store.check(&id, &d).unwrap();
            store.commit_insert(&id, d, vk, how);
            out.clear();
            store.decrypt(&channel, &id, &msg, &mut out).unwrap();
            assert!(store.skipped_total <= MAX_CHANNEL_SKIPPED_KEYS);
        }
        assert_eq!(store.skipped_total, MAX_CHANNEL_SKIPPED_KEYS);
        // The first `full` senders kept all their keys; the last one paid for the overflow.
        for s in 0..full {
            assert_eq!(
                store.senders[&[s as u8; 32]][0].skipped.len(),
                MAX_SKIPPED_KEYS
            );
        }
        assert_eq!(store.senders[&[full as u8; 32]][0].skipped.len(), 0);
    }
}
