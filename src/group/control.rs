//! Channel control messages (PROTOCOL.md §7.5): the plaintext a pairwise session carries for a
//! channel. Decoded with prost after a size check, then converted into validated domain types;
//! past this module nothing is a raw protobuf struct.

use prost::Message;
use zeroize::{Zeroize, Zeroizing};

use super::channel::ChannelId;
use super::error::ControlError;
use super::proto::wire as pb;
use super::sender_chain::Distribution;
use crate::consts::{MAX_CONTROL_SIZE, PROTOCOL_VERSION};
use crate::kdf::ChainKey;
use crate::state::decode_secret;

/// A decoded control message. Which combinations are valid depends on the receiver: a group
/// takes a roster and/or a distribution, or a leave request; a broadcast list takes a consent
/// statement; a subscription takes a distribution.
pub(crate) struct Control {
    pub(crate) channel: ChannelId,
    /// Wire `SignedRoster` (roster bytes, signature), verified by the receiver.
    pub(crate) roster: Option<(Vec<u8>, Vec<u8>)>,
    pub(crate) distribution: Option<Distribution>,
    pub(crate) leave: bool,
    /// Wire `SignedConsent` bytes, re-encoded from the fields: the signature covers only the
    /// statement bytes, which are kept exactly as received.
    pub(crate) consent: Option<(Vec<u8>, Vec<u8>)>,
}

impl Control {
    pub(crate) fn new(channel: &ChannelId) -> Self {
        Control {
            channel: channel.clone(),
            roster: None,
            distribution: None,
            leave: false,
            consent: None,
        }
    }

    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let msg = pb::ChannelControl {
            version: u32::from(PROTOCOL_VERSION),
            channel_id: self.channel.as_bytes().to_vec(),
            roster: self.roster.as_ref().map(|(r, s)| pb::SignedRoster {
                roster: r.clone(),
                signature: s.clone(),
            }),
            distribution: self.distribution.as_ref().map(distribution_to_proto),
            leave: self.leave.then_some(pb::LeaveRequest {}),
            consent: self.consent.as_ref().map(|(st, sig)| pb::SignedConsent {
                statement: st.clone(),
                signature: sig.clone(),
            }),
        };
        Zeroizing::new(msg.encode_to_vec())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Control, ControlError> {
        if bytes.len() > MAX_CONTROL_SIZE {
            return Err(ControlError::Malformed);
        }
        // A distribution's chain key: decoded without leaving copies in freed memory.
        let p = decode_secret::<pb::ChannelControl>(bytes).map_err(|_| ControlError::Malformed)?;
        if p.version != u32::from(PROTOCOL_VERSION) {
            return Err(ControlError::UnsupportedVersion(p.version));
        }
        let channel = ChannelId::new(&p.channel_id).map_err(|_| ControlError::Malformed)?;
        let distribution = match &p.distribution {
            None => None,
            Some(d) => Some(distribution_from_proto(d)?),
        };
        let c = Control {
            channel,
            roster: p
                .roster
                .as_ref()
                .map(|r| (r.roster.clone(), r.signature.clone())),
            distribution,
            leave: p.leave.is_some(),
            consent: p
                .consent
                .as_ref()
                .map(|c| (c.statement.clone(), c.signature.clone())),
        };
        let kinds = usize::from(c.roster.is_some() || c.distribution.is_some())
            + usize::from(c.leave)
            + usize::from(c.consent.is_some());
        // Exactly one of: roster and/or distribution, leave, consent.
        if kinds != 1 {
            return Err(ControlError::Malformed);
        }
        Ok(c)
    }
}

fn distribution_to_proto(d: &Distribution) -> pb::SenderKeyDistribution {
    pb::SenderKeyDistribution {
        chain_id: d.chain_id,
        iteration: d.iteration,
        chain_key: d.chain_key.as_bytes().to_vec(),
        signing_key: d.signing_key.to_vec(),
    }
}

fn distribution_from_proto(d: &pb::SenderKeyDistribution) -> Result<Distribution, ControlError> {
    Ok(Distribution {
        chain_id: d.chain_id,
        iteration: d.iteration,
        chain_key: ChainKey::from_slice(&d.chain_key).ok_or(ControlError::Malformed)?,
        signing_key: d
            .signing_key
            .as_slice()
            .try_into()
            .map_err(|_| ControlError::Malformed)?,
    })
}

/// The channel a control message is for, so a caller can route it to the right group or list
/// (or keep it until the invitation that creates that group arrives). Nothing is verified.
///
/// # Errors
/// [`ControlError::Malformed`] or [`ControlError::UnsupportedVersion`] if the bytes are not a
/// control message.
pub fn control_channel_id(payload: &[u8]) -> Result<ChannelId, ControlError> {
    Control::decode(payload).map(|c| c.channel)
}

// Decoded prost structs hold a copy of the chain key: wipe it when they go.
impl Drop for pb::SenderKeyDistribution {
    fn drop(&mut self) {
        self.chain_key.zeroize();
    }
}
