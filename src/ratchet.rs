//! The Double Ratchet state machine (PROTOCOL.md §4): DH ratchet, symmetric chains, skipped
//! message keys, and transactional decryption.
//!
//! Decryption computes every new key into locals, authenticates, and only then writes them
//! into `self`: a message that fails for any reason leaves the state exactly as it was.

use std::collections::{BTreeMap, VecDeque};

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

use crate::aead;
use crate::consts::{
    MAX_FORWARD_JUMP, MAX_RECEIVING_CHAINS, MAX_SKIPPED_KEYS, PROTOCOL_VERSION, REUSE_GUARD_LEN,
    SESSION_TAG_LEN,
};
use crate::error::{DecryptError, EncryptError};
use crate::kdf::{ChainKey, MessageKey, RootKey, TagKey};
use crate::keys::DhKeyPair;
use crate::wire::{Header, MAX_HEADER_LEN, RatchetView};

/// Associated data of every message: `version (1) || AD (64) || header`.
const AAD_PREFIX_LEN: usize = 1 + 64;

#[derive(Clone)]
pub(crate) struct SendingChain {
    pub(crate) chain_key: ChainKey,
    pub(crate) counter: u32,
    /// Session tag of our current ratchet key, computed once per chain.
    pub(crate) tag: [u8; SESSION_TAG_LEN],
}

#[derive(Clone)]
pub(crate) struct ReceivingChain {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) chain_key: ChainKey,
    /// Counter of the next message key `chain_key` derives.
    pub(crate) counter: u32,
    /// Keys of messages skipped on this chain, by counter. Boxed, so that inserting, removing
    /// and rebalancing move only pointers: an inline key would be copied between the map's
    /// nodes and left behind in the ones it frees.
    pub(crate) skipped: BTreeMap<u32, Box<MessageKey>>,
}

/// The ratchet proper. Identity binding and handshake bookkeeping live in `Session`.
#[derive(Clone)]
pub(crate) struct Ratchet {
    pub(crate) root_key: RootKey,
    pub(crate) tag_key: TagKey,
    /// Our current ratchet key pair (public part cached: never recomputed per message).
    pub(crate) ratchet: DhKeyPair,
    /// `None` after receiving a DH ratchet step until our next send (lazy key generation).
    pub(crate) sending: Option<SendingChain>,
    pub(crate) previous_counter: u32,
    /// Oldest first. Boxed, so that the deque's growth and the dropping of the oldest chain
    /// move only pointers, not chain keys.
    pub(crate) receiving: VecDeque<Box<ReceivingChain>>,
    /// Total skipped keys over all receiving chains.
    pub(crate) skipped_count: usize,
    /// `version || AD`, the fixed start of every message's associated data.
    pub(crate) aad_prefix: [u8; AAD_PREFIX_LEN],
}

/// What one successful decryption changes, computed before it is applied.
struct Staged {
    /// Index of the receiving chain the message was on; `None` for a new chain.
    chain: Option<usize>,
    next_chain_key: ChainKey,
    next_counter: u32,
    /// Keys skipped on the chain the message was on (new or existing), ascending.
    skipped: Vec<(u32, Box<MessageKey>)>,
    /// For a DH step: the new root key, and the previous chain's advance (if it had one).
    dh_step: Option<DhStep>,
}

/// The previous receiving chain advanced to `pn`: (chain key, counter, skipped keys).
type PreviousChainAdvance = (ChainKey, u32, Vec<(u32, Box<MessageKey>)>);

struct DhStep {
    ratchet_key: [u8; 32],
    root_key: RootKey,
    previous: Option<PreviousChainAdvance>,
}

/// Derives `count` keys forward from `ck`, keeping the newest `keep` of them.
///
/// Each kept key is boxed as it is derived: the staging `Vec` holds only pointers, so it can
/// grow and be freed, and its keys move into a chain's map, without a copy of a key left in
/// freed memory.
pub(crate) fn skip_forward(
    ck: &ChainKey,
    from: u32,
    count: u32,
    keep: usize,
) -> (ChainKey, Vec<(u32, Box<MessageKey>)>) {
    let mut kept = Vec::with_capacity(keep.min(count as usize));
    let mut ck = ck.clone();
    for i in 0..count {
        let (mk, next) = ck.step();
        if (count - i) as usize <= keep {
            kept.push((from + i, Box::new(mk)));
        }
        ck = next;
    }
    (ck, kept)
}

pub(crate) fn aad_prefix(associated_data: &[u8; 64]) -> [u8; AAD_PREFIX_LEN] {
    let mut p = [0u8; AAD_PREFIX_LEN];
    p[0] = PROTOCOL_VERSION;
    p[1..].copy_from_slice(associated_data);
    p
}

impl Ratchet {
    /// `version || AD || header` in `buf`. A header longer than any this protocol writes is
    /// refused (`Header::decode` already does), never truncated: every header byte is
    /// authenticated.
    fn aad<'b>(
        &self,
        header: &[u8],
        buf: &'b mut [u8; AAD_PREFIX_LEN + MAX_HEADER_LEN],
    ) -> Result<&'b [u8], DecryptError> {
        let len = AAD_PREFIX_LEN + header.len();
        let dst = buf
            .get_mut(AAD_PREFIX_LEN..len)
            .ok_or(DecryptError::Malformed)?;
        dst.copy_from_slice(header);
        buf[..AAD_PREFIX_LEN].copy_from_slice(&self.aad_prefix);
        Ok(&buf[..len])
    }

    /// Can a message on a ratchet key we have not seen be accepted now? Only if we sent on our
    /// current ratchet key since the last step (or nothing was ever received): an honest peer
    /// turns its ratchet only after seeing our newest key.
    fn accepts_new_ratchet_key(&self) -> bool {
        self.sending.is_some() || self.receiving.is_empty()
    }

    /// Encrypts `plaintext` and hands the header bytes and AAD to `write` to frame it.
    ///
    /// Randomness is drawn in a fixed order (PROTOCOL.md §4.6): 32 bytes for a new ratchet key
    /// when a DH step is due, then the 4-byte reuse guard.
    pub(crate) fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        out: &mut Vec<u8>,
        frame: impl FnOnce(&mut Vec<u8>, &[u8], usize),
    ) -> Result<(), EncryptError> {
        if self.sending.as_ref().is_some_and(|s| s.counter == u32::MAX) {
            return Err(EncryptError::ChainExhausted);
        }
        if self.sending.is_none() {
            let their = self
                .receiving
                .back()
                .map(|c| c.ratchet_key)
                .ok_or(EncryptError::NoSendingChain)?;
            let pair = DhKeyPair::generate(rng);
            let dh = pair.dh(&their);
            // The peer's key passed the contributory check when we received on it.
            let (root_key, chain_key) = self.root_key.advance(dh.as_bytes());
            let tag = self.tag_key.tag(pair.public());
            self.root_key = root_key;
            self.ratchet = pair;
            self.sending = Some(SendingChain {
                chain_key,
                counter: 0,
                tag,
            });
        }
        let mut guard = [0u8; REUSE_GUARD_LEN];
        rng.fill_bytes(&mut guard);
        let pn = self.previous_counter;
        let ratchet_public = *self.ratchet.public();
        let Some(sending) = self.sending.as_mut() else {
            return Err(EncryptError::NoSendingChain);
        };
        let (mk, next) = sending.chain_key.step();
        let header = Header {
            ratchet_key: ratchet_public,
            pn,
            n: sending.counter,
            guard,
            tag: sending.tag,
        }
        .encode();
        sending.chain_key = next;
        sending.counter += 1;
        let mut aad_buf = [0u8; AAD_PREFIX_LEN + MAX_HEADER_LEN];
        // Our own header is a StackBuf<MAX_HEADER_LEN>: it always fits.
        let aad_len = AAD_PREFIX_LEN + header.len;
        aad_buf[..AAD_PREFIX_LEN].copy_from_slice(&self.aad_prefix);
        aad_buf[AAD_PREFIX_LEN..aad_len].copy_from_slice(header.as_slice());
        let aad = &aad_buf[..aad_len];
        frame(
            out,
            header.as_slice(),
            plaintext.len() + crate::consts::AEAD_TAG_LEN,
        );
        aead::seal_into(&mk, &guard, aad, plaintext, out);
        Ok(())
    }

    /// Decrypts one message into `out`, changing nothing unless it authenticates.
    pub(crate) fn decrypt(
        &mut self,
        msg: &RatchetView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let h = &msg.header;
        // A sender stops at counter u32::MAX - 1 (EncryptError::ChainExhausted).
        if h.n == u32::MAX {
            return Err(DecryptError::Malformed);
        }
        let chain_idx = self
            .receiving
            .iter()
            .position(|c| c.ratchet_key == h.ratchet_key);

        let (mk, staged) = match chain_idx {
            Some(idx) => {
                let chain = &self.receiving[idx];
                if h.n < chain.counter {
                    return self.decrypt_skipped(idx, msg, out);
                }
                let steps = h.n - chain.counter;
                if steps > MAX_FORWARD_JUMP {
                    return Err(DecryptError::TooFarAhead {
                        steps: u64::from(steps) + 1,
                    });
                }
                // In order (the common case): step the stored chain key, no copy.
                let (mk, next_chain_key, skipped) = if steps == 0 {
                    let (mk, next) = chain.chain_key.step();
                    (mk, next, Vec::new())
                } else {
                    let (ck, skipped) =
                        skip_forward(&chain.chain_key, chain.counter, steps, MAX_SKIPPED_KEYS);
                    let (mk, next) = ck.step();
                    (mk, next, skipped)
                };
                (
                    mk,
                    Staged {
                        chain: Some(idx),
                        next_chain_key,
                        next_counter: h.n + 1,
                        skipped,
                        dh_step: None,
                    },
                )
            }
            None => self.stage_dh_step(h)?,
        };

        let mut aad_buf = [0u8; AAD_PREFIX_LEN + MAX_HEADER_LEN];
        let aad = self.aad(msg.header_bytes, &mut aad_buf)?;
        aead::open_into(&mk, &h.guard, aad, msg.ciphertext, out)
            .map_err(|()| DecryptError::InvalidMessage)?;
        self.commit(staged);
        Ok(())
    }

    fn decrypt_skipped(
        &mut self,
        idx: usize,
        msg: &RatchetView<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let n = msg.header.n;
        let Some(mk) = self.receiving[idx].skipped.get(&n) else {
            return Err(DecryptError::Duplicate { counter: n });
        };
        let mut aad_buf = [0u8; AAD_PREFIX_LEN + MAX_HEADER_LEN];
        let aad = self.aad(msg.header_bytes, &mut aad_buf)?;
        aead::open_into(mk, &msg.header.guard, aad, msg.ciphertext, out)
            .map_err(|()| DecryptError::InvalidMessage)?;
        // Used once: delete so a replay fails as a duplicate.
        self.receiving[idx].skipped.remove(&n);
        self.skipped_count -= 1;
        Ok(())
    }

    fn stage_dh_step(&self, h: &Header) -> Result<(MessageKey, Staged), DecryptError> {
        if !self.accepts_new_ratchet_key() {
            return Err(DecryptError::UnexpectedRatchetKey);
        }
        let expected_tag = self.tag_key.tag(&h.ratchet_key);
        if !bool::from(expected_tag.ct_eq(&h.tag)) {
            return Err(DecryptError::WrongSession);
        }
        let prev = self.receiving.back();
        let prev_steps = prev.map_or(0, |c| h.pn.saturating_sub(c.counter));
        let total = u64::from(prev_steps) + u64::from(h.n);
        if total > u64::from(MAX_FORWARD_JUMP) {
            return Err(DecryptError::TooFarAhead { steps: total + 1 });
        }
        let dh = self.ratchet.dh(&h.ratchet_key);
        if !dh.was_contributory() {
            return Err(DecryptError::NonContributory);
        }
        // Of the keys skipped, keep the newest MAX_SKIPPED_KEYS: the new chain's come last.
        let keep_new = (h.n as usize).min(MAX_SKIPPED_KEYS);
        let keep_prev = MAX_SKIPPED_KEYS - keep_new;
        let previous = match prev {
            Some(c) if prev_steps > 0 => {
                let (ck, skipped) = skip_forward(&c.chain_key, c.counter, prev_steps, keep_prev);
                Some((ck, h.pn, skipped))
            }
            _ => None,
        };
        let (root_key, chain_key) = self.root_key.advance(dh.as_bytes());
        let (ck, skipped) = skip_forward(&chain_key, 0, h.n, keep_new);
        let (mk, next_chain_key) = ck.step();
        Ok((
            mk,
            Staged {
                chain: None,
                next_chain_key,
                next_counter: h.n + 1,
                skipped,
                dh_step: Some(DhStep {
                    ratchet_key: h.ratchet_key,
                    root_key,
                    previous,
                }),
            },
        ))
    }

    fn commit(&mut self, staged: Staged) {
        let Staged {
            chain,
            next_chain_key,
            next_counter,
            skipped,
            dh_step,
        } = staged;
        match (chain, dh_step) {
            (Some(idx), _) => {
                let c = &mut self.receiving[idx];
                c.chain_key = next_chain_key;
                c.counter = next_counter;
                self.skipped_count += skipped.len();
                c.skipped.extend(skipped);
            }
            (None, Some(step)) => {
                if let (Some((ck, counter, prev_skipped)), Some(c)) =
                    (step.previous, self.receiving.back_mut())
                {
                    c.chain_key = ck;
                    c.counter = counter;
                    self.skipped_count += prev_skipped.len();
                    c.skipped.extend(prev_skipped);
                }
                self.skipped_count += skipped.len();
                self.receiving.push_back(Box::new(ReceivingChain {
                    ratchet_key: step.ratchet_key,
                    chain_key: next_chain_key,
                    counter: next_counter,
                    skipped: skipped.into_iter().collect(),
                }));
                while self.receiving.len() > MAX_RECEIVING_CHAINS {
                    if let Some(old) = self.receiving.pop_front() {
                        self.skipped_count -= old.skipped.len();
                    }
                }
                self.root_key = step.root_key;
                if let Some(s) = &self.sending {
                    self.previous_counter = s.counter;
                }
                // Dropped in place, where the chain key wipes itself: `take()` would move it
                // out and, in optimized builds, leave its bytes behind in the session.
                self.sending = None;
            }
            (None, None) => {}
        }
        self.evict_skipped();
    }

    /// Drops the oldest skipped keys (oldest chain first, lowest counter first) beyond the limit.
    fn evict_skipped(&mut self) {
        for chain in self.receiving.iter_mut() {
            while self.skipped_count > MAX_SKIPPED_KEYS {
                if chain.skipped.pop_first().is_none() {
                    break;
                }
                self.skipped_count -= 1;
            }
            if self.skipped_count <= MAX_SKIPPED_KEYS {
                break;
            }
        }
    }
}
