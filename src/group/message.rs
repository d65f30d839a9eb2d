//! Group messages on the wire: `GroupMessageBody || signature (64 B)` (PROTOCOL.md §7.3), and
//! the AEAD associated data they are sealed under.
//!
//! Read and written with the crate's strict protobuf reader/writer: parsing borrows from the
//! input and encoding writes into the caller's buffer, so a message costs no allocation beyond
//! its output. A test checks the encoding against prost byte for byte.

use super::channel::ChannelId;
use super::error::ChannelDecryptError;
use crate::consts::{
    AEAD_TAG_LEN, GROUP_SIGNATURE_LEN, MAX_CHANNEL_ID_LEN, MAX_MESSAGE_SIZE, PROTOCOL_VERSION,
    REUSE_GUARD_LEN,
};
use crate::pb::{self, LEN, VARINT, Writer};

// Field numbers of GroupMessageBody, as in group.proto.
const BODY_CHAIN_ID: u32 = 1;
const BODY_ITERATION: u32 = 2;
const BODY_GUARD: u32 = 3;
const BODY_CIPHERTEXT: u32 = 4;

/// `version (1) || len (1) || group id (<= 64) || chain id (4) || iteration (4)`.
pub(crate) const MAX_AAD_LEN: usize = 2 + MAX_CHANNEL_ID_LEN + 8;

/// The associated data of a group message:
/// `0x01 || len(group_id) (1 B) || group_id || chain_id (u32 BE) || iteration (u32 BE)`.
pub(crate) fn aad<'b>(
    channel: &ChannelId,
    chain_id: u32,
    iteration: u32,
    buf: &'b mut [u8; MAX_AAD_LEN],
) -> &'b [u8] {
    let id = channel.as_bytes();
    buf[0] = PROTOCOL_VERSION;
    // A ChannelId is at most MAX_CHANNEL_ID_LEN (64) bytes.
    buf[1] = id.len() as u8;
    let mut at = 2 + id.len();
    buf[2..at].copy_from_slice(id);
    buf[at..at + 4].copy_from_slice(&chain_id.to_be_bytes());
    at += 4;
    buf[at..at + 4].copy_from_slice(&iteration.to_be_bytes());
    &buf[..at + 4]
}

/// A parsed group message, borrowing the input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupMessageView<'a> {
    /// Every byte the signature covers, exactly as received.
    pub(crate) body: &'a [u8],
    pub(crate) chain_id: u32,
    pub(crate) iteration: u32,
    pub(crate) guard: [u8; REUSE_GUARD_LEN],
    pub(crate) ciphertext: &'a [u8],
    pub(crate) signature: &'a [u8; GROUP_SIGNATURE_LEN],
}

impl<'a> GroupMessageView<'a> {
    /// Checks sizes and the body's encoding; nothing is verified or decrypted.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, ChannelDecryptError> {
        if bytes.len() > MAX_MESSAGE_SIZE {
            return Err(ChannelDecryptError::Malformed);
        }
        let Some(split) = bytes.len().checked_sub(GROUP_SIGNATURE_LEN) else {
            return Err(ChannelDecryptError::Malformed);
        };
        let (body, sig) = bytes.split_at(split);
        let signature: &[u8; GROUP_SIGNATURE_LEN] =
            sig.try_into().map_err(|_| ChannelDecryptError::Malformed)?;
        Self::parse_body(body, signature).map_err(|()| ChannelDecryptError::Malformed)
    }

    fn parse_body(body: &'a [u8], signature: &'a [u8; GROUP_SIGNATURE_LEN]) -> Result<Self, ()> {
        let f = pb::read_fields(body, [VARINT, VARINT, LEN, LEN])?;
        let iteration = pb::as_u32(f[1])?;
        // A sender stops before u32::MAX (ChannelEncryptError::ChainExhausted).
        if iteration == u32::MAX {
            return Err(());
        }
        let ciphertext = pb::as_bytes(f[3])?;
        if ciphertext.len() < AEAD_TAG_LEN {
            return Err(());
        }
        Ok(GroupMessageView {
            body,
            chain_id: pb::as_u32(f[0])?,
            iteration,
            guard: pb::as_array(f[2])?,
            ciphertext,
            signature,
        })
    }
}

/// Writes the body up to the ciphertext bytes, so the caller can seal in place right after.
/// `ct_len` includes the tag.
pub(crate) fn write_body_prefix(
    out: &mut Vec<u8>,
    chain_id: u32,
    iteration: u32,
    guard: &[u8; REUSE_GUARD_LEN],
    ct_len: usize,
) {
    out.put_u32(BODY_CHAIN_ID, chain_id);
    out.put_u32(BODY_ITERATION, iteration);
    out.put_bytes(BODY_GUARD, guard);
    out.put_len_prefix(BODY_CIPHERTEXT, ct_len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::proto::wire as gp;
    use prost::Message;

    #[test]
    fn body_matches_prost() {
        for (chain_id, iteration) in [(0, 0), (1, 0), (u32::MAX, u32::MAX - 1), (7, 300)] {
            let ct = vec![0xab; 40];
            let mut ours = Vec::new();
            write_body_prefix(&mut ours, chain_id, iteration, &[1, 2, 3, 4], ct.len());
            // chain id, iteration: <= 6 bytes each; guard 6; ciphertext key and length 2.
            assert!(ours.len() <= 20);
            ours.extend_from_slice(&ct);
            let theirs = gp::GroupMessageBody {
                chain_id,
                iteration,
                reuse_guard: vec![1, 2, 3, 4],
                ciphertext: ct.clone(),
            }
            .encode_to_vec();
            assert_eq!(ours, theirs);
            let mut msg = ours.clone();
            msg.extend_from_slice(&[9u8; 64]);
            let v = GroupMessageView::parse(&msg).unwrap();
            assert_eq!((v.chain_id, v.iteration), (chain_id, iteration));
            assert_eq!(v.body, &ours[..]);
            assert_eq!(v.ciphertext, &ct[..]);
        }
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut ok = Vec::new();
        write_body_prefix(&mut ok, 1, 2, &[0; 4], 16);
        ok.extend_from_slice(&[0; 16 + 64]);
        assert!(GroupMessageView::parse(&ok).is_ok());
        // Too short for a signature, truncated body, short ciphertext, wrong guard length.
        assert!(GroupMessageView::parse(&[0u8; 63]).is_err());
        assert!(GroupMessageView::parse(&ok[1..]).is_err());
        let mut short = Vec::new();
        write_body_prefix(&mut short, 1, 2, &[0; 4], 15);
        short.extend_from_slice(&[0; 15 + 64]);
        assert!(GroupMessageView::parse(&short).is_err());
        let mut guard = Vec::new();
        guard.put_bytes(BODY_GUARD, &[0; 5]);
        guard.put_bytes(BODY_CIPHERTEXT, &[0; 16]);
        guard.extend_from_slice(&[0; 64]);
        assert!(GroupMessageView::parse(&guard).is_err());
        let mut last = Vec::new();
        write_body_prefix(&mut last, 1, u32::MAX, &[0; 4], 16);
        last.extend_from_slice(&[0; 16 + 64]);
        assert!(GroupMessageView::parse(&last).is_err());
    }

    #[test]
    fn aad_layout() {
        let id = ChannelId::new(b"team").unwrap();
        let mut buf = [0u8; MAX_AAD_LEN];
        let a = aad(&id, 0x01020304, 0x0a0b0c0d, &mut buf);
        assert_eq!(a, b"\x01\x04team\x01\x02\x03\x04\x0a\x0b\x0c\x0d");
        let long = ChannelId::new(&[0x55; MAX_CHANNEL_ID_LEN]).unwrap();
        assert_eq!(aad(&long, 0, 0, &mut buf).len(), MAX_AAD_LEN);
    }
}
