//! Group rosters (PROTOCOL.md §7.6): the member list at one epoch, signed by the admin.
//!
//! Signature = Ed25519(admin identity, `"sealpost group roster v1" || roster bytes`), checked
//! with `verify_strict`; the bytes are kept exactly as signed and never re-encoded.

use prost::Message;

use super::channel::ChannelId;
use super::error::ControlError;
use super::proto::wire as pb;
use crate::consts::{LABEL_GROUP_ROSTER, MAX_GROUP_MEMBERS};
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::precheck::{self, Precheck, Rule};

/// A verified roster and the wire bytes it was verified from.
#[derive(Clone)]
pub(crate) struct SignedRoster {
    pub(crate) group: ChannelId,
    pub(crate) admin: IdentityKey,
    pub(crate) epoch: u64,
    /// Strictly ascending; includes the admin. Members are identifiers only (nothing is
    /// computed with their keys), so a roster is not paid for with a point check per member.
    pub(crate) members: Vec<[u8; 32]>,
    /// Encoded `Roster`, as signed.
    pub(crate) roster_bytes: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

fn signed_message(roster_bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(LABEL_GROUP_ROSTER.len() + roster_bytes.len());
    m.extend_from_slice(LABEL_GROUP_ROSTER);
    m.extend_from_slice(roster_bytes);
    m
}

impl SignedRoster {
    /// Signs a roster. `members` must be sorted, deduplicated and contain the admin; callers
    /// in this module build it so.
    pub(crate) fn sign(
        admin: &IdentityKeyPair,
        group: &ChannelId,
        epoch: u64,
        members: Vec<[u8; 32]>,
    ) -> SignedRoster {
        let roster_bytes = pb::Roster {
            group_id: group.as_bytes().to_vec(),
            admin: admin.public_key().to_bytes().to_vec(),
            epoch,
            members: members.iter().map(|m| m.to_vec()).collect(),
        }
        .encode_to_vec();
        let signature = admin.sign(&signed_message(&roster_bytes)).to_vec();
        SignedRoster {
            group: group.clone(),
            admin: *admin.public_key(),
            epoch,
            members,
            roster_bytes,
            signature,
        }
    }

    /// Parses and verifies a roster. Order: parse; group id, admin key and member list shape
    /// (count, lengths, ascending order, admin listed); then the admin's signature.
    pub(crate) fn verify(roster_bytes: &[u8], signature: &[u8]) -> Result<Self, ControlError> {
        // The member count, from the bytes: a roster in a group record may be megabytes.
        let members = Rule::elements(4, MAX_GROUP_MEMBERS, 32);
        precheck::check(roster_bytes, [members], |_, _| Ok(())).map_err(|e| match e {
            Precheck::TooMany => ControlError::TooManyMembers,
            Precheck::Malformed => ControlError::Malformed,
        })?;
        let r = pb::Roster::decode(roster_bytes).map_err(|_| ControlError::Malformed)?;
        let group = ChannelId::new(&r.group_id).map_err(|_| ControlError::Malformed)?;
        let admin = IdentityKey::from_bytes(&r.admin).map_err(ControlError::InvalidKey)?;
        if r.members.len() > MAX_GROUP_MEMBERS {
            return Err(ControlError::TooManyMembers);
        }
        let mut members = Vec::with_capacity(r.members.len());
        for m in &r.members {
            let key: [u8; 32] = m
                .as_slice()
                .try_into()
                .map_err(|_| ControlError::Malformed)?;
            if members.last().is_some_and(|prev: &[u8; 32]| *prev >= key) {
                return Err(ControlError::Malformed);
            }
            members.push(key);
        }
        if members.binary_search(admin.as_bytes()).is_err() {
            return Err(ControlError::Malformed);
        }
        admin
            .verify(&signed_message(roster_bytes), signature)
            .map_err(|_| ControlError::BadSignature)?;
        Ok(SignedRoster {
            group,
            admin,
            epoch: r.epoch,
            members,
            roster_bytes: roster_bytes.to_vec(),
            signature: signature.to_vec(),
        })
    }

    pub(crate) fn contains(&self, member: &[u8; 32]) -> bool {
        self.members.binary_search(member).is_ok()
    }

    /// Wire `SignedRoster` bytes, for persistence.
    pub(crate) fn to_wire(&self) -> Vec<u8> {
        pb::SignedRoster {
            roster: self.roster_bytes.clone(),
            signature: self.signature.clone(),
        }
        .encode_to_vec()
    }

    pub(crate) fn from_wire(bytes: &[u8]) -> Result<Self, ControlError> {
        let s = pb::SignedRoster::decode(bytes).map_err(|_| ControlError::Malformed)?;
        Self::verify(&s.roster, &s.signature)
    }
}
