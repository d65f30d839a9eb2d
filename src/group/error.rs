//! Error types of the 1:n channels, one per concern. Every variant is something a caller can
//! act on; none carries a string.

use crate::error::{EncryptError, KeyError};

/// A group or broadcast list id that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelIdError {
    /// Zero bytes long.
    #[error("channel id is empty")]
    Empty,
    /// Longer than `MAX_CHANNEL_ID_LEN`.
    #[error("channel id is longer than 64 bytes")]
    TooLong,
}

/// Why a group message or broadcast could not be encrypted. The state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelEncryptError {
    /// The plaintext is larger than `MAX_PLAINTEXT_SIZE`.
    #[error("plaintext too large")]
    TooLarge,
    /// The sending chain reached its last iteration: start a new chain (rekey).
    #[error("sending chain exhausted; rekey")]
    ChainExhausted,
    /// The old chain was deleted (a subscriber withdrew): call `rekey` and deliver its
    /// distribution first.
    #[error("a rekey is required before the next broadcast")]
    RekeyRequired,
    /// We left the group or were removed from it.
    #[error("not a member of this group")]
    NotAMember,
}

/// Why a group message did not decrypt. The state is unchanged in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelDecryptError {
    /// The bytes are not a well-formed group message (size, protobuf, lengths).
    #[error("malformed group message")]
    Malformed,
    /// We hold no chain of this sender: not a member, or its distribution has not arrived yet.
    #[error("no sender key for this sender")]
    UnknownSender,
    /// We hold chains of this sender, but not this one: its distribution has not arrived yet,
    /// it was dropped as too old, or it was never handed to us (we joined later or were removed).
    #[error("unknown sender chain {chain_id}")]
    UnknownChain {
        /// The message's chain id.
        chain_id: u32,
    },
    /// This iteration was already decrypted, its key was evicted, or it precedes the chain key
    /// we were given.
    #[error("duplicate or expired group message (iteration {iteration})")]
    Duplicate {
        /// The message's iteration.
        iteration: u32,
    },
    /// The message would advance its chain by more than `MAX_FORWARD_JUMP` steps.
    #[error("group message is too far ahead ({steps} chain steps)")]
    TooFarAhead {
        /// Chain steps the message would cost.
        steps: u64,
    },
    /// The signature does not verify under the chain's signing key: a forgery, possibly by
    /// another member who holds the chain key.
    #[error("group message signature does not verify")]
    BadSignature,
    /// The AEAD failed: tampered, or not from this channel.
    #[error("group message failed authentication")]
    InvalidMessage,
    /// We left the group, were removed from it, or withdrew from the broadcast list.
    #[error("not a member of this channel")]
    NotAMember,
}

/// Why a channel control message (received over a pairwise session) was rejected. The state
/// is unchanged in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// Not a well-formed control message (size, protobuf, lengths, field combination).
    #[error("malformed channel control message")]
    Malformed,
    /// A protocol version this crate does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// The message is for another group or list: route it by [`crate::group::control_channel_id`].
    #[error("control message is for another channel")]
    WrongChannel,
    /// The session passed is not one of ours (its local identity is not this channel's member).
    #[error("session does not belong to this channel's local identity")]
    WrongSession,
    /// The sender (the session's peer) is not a member at the epoch we know. If a roster that
    /// adds it may still be on its way, keep the message and retry after it.
    #[error("sender is not a member")]
    NotAMember,
    /// A roster not signed by this group's admin, an invitation from someone other than the
    /// admin it names, or a leave request sent to a member that is not the admin.
    #[error("not from the group admin")]
    NotAdmin,
    /// A roster signature does not verify.
    #[error("roster signature does not verify")]
    BadSignature,
    /// A roster at or below the epoch we hold (a replay or an old copy).
    #[error("stale roster (epoch {epoch}, current {current})")]
    StaleRoster {
        /// The roster's epoch.
        epoch: u64,
        /// The epoch we hold.
        current: u64,
    },
    /// The sender already handed us this chain id with a different signing key.
    #[error("conflicting distribution for chain {chain_id}")]
    ChainConflict {
        /// The chain id.
        chain_id: u32,
    },
    /// A key in the message failed validation.
    #[error("invalid key: {0}")]
    InvalidKey(KeyError),
    /// A roster with more than `MAX_GROUP_MEMBERS` members.
    #[error("too many members")]
    TooManyMembers,
    /// A control message of a kind this object does not take (a consent statement sent to a
    /// group, a roster sent to a subscription, ...).
    #[error("unexpected control message for this channel")]
    Unexpected,
    /// We left or were removed, so we no longer process control messages.
    #[error("channel is no longer active")]
    Inactive,
}

/// Why an admin's membership change or a member's leave was refused. The group is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// The identity passed is not this group's admin.
    #[error("only the group admin may change membership")]
    NotAdmin,
    /// An identity to add is already a member.
    #[error("already a member")]
    AlreadyMember,
    /// An identity to remove is not a member.
    #[error("not a member")]
    NotAMember,
    /// The admin cannot be removed, and cannot leave (it would orphan the group).
    #[error("the admin cannot be removed or leave")]
    AdminCannotLeave,
    /// The group would exceed `MAX_GROUP_MEMBERS`.
    #[error("too many members")]
    TooManyMembers,
    /// We left the group or were removed from it.
    #[error("group is no longer active")]
    Inactive,
    /// The roster epoch reached `u64::MAX`.
    #[error("roster epoch exhausted")]
    EpochExhausted,
}

/// Why a consent statement was refused. The list is unchanged in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentError {
    /// Not a well-formed statement (or not a consent control message at all).
    #[error("malformed consent statement")]
    Malformed,
    /// A protocol version this crate does not speak.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// The session passed is not the business's (or, customer-side, not the customer's).
    #[error("session does not belong to this list's business or customer")]
    WrongSession,
    /// The statement names a customer other than the pairwise session's peer: somebody
    /// else's consent, forwarded.
    #[error("statement is not from the customer of this session")]
    WrongCustomer,
    /// The customer's signature does not verify: a forgery or a tampered statement.
    #[error("consent signature does not verify")]
    BadSignature,
    /// The statement is for another list.
    #[error("statement is for another list")]
    WrongList,
    /// The statement is addressed to another business.
    #[error("statement is for another business")]
    WrongBusiness,
    /// The statement is not newer than the last one accepted from this customer (a replay).
    #[error("replayed or out-of-date statement (time {time}, last accepted {last})")]
    Replayed {
        /// The statement's time.
        time: u64,
        /// Time of the last statement accepted from this customer.
        last: u64,
    },
    /// A subscription from a customer who is subscribed already.
    #[error("already subscribed")]
    AlreadySubscribed,
    /// A withdrawal from a customer who is not subscribed.
    #[error("not subscribed")]
    NotSubscribed,
    /// The list already remembers `MAX_BROADCAST_CUSTOMERS` customers.
    #[error("broadcast list is full")]
    ListFull,
    /// The audit log holds `MAX_AUDIT_ENTRIES`: export it with `take_audit_log` first.
    #[error("audit log is full; take it first")]
    AuditLogFull,
    /// Customer side: the new statement's time is not after our previous one.
    #[error("statement time must increase")]
    TimeNotIncreasing,
    /// The identity key pair passed is not the one this subscription belongs to.
    #[error("wrong identity for this subscription")]
    WrongIdentity,
}

/// Why an audit log failed to load or verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Not a well-formed audit log.
    #[error("malformed audit log")]
    Malformed,
    /// A record version this crate does not know.
    #[error("unknown audit log version {0}")]
    UnknownVersion(u32),
    /// Larger than `MAX_BROADCAST_RECORD_SIZE`, or more than `MAX_AUDIT_ENTRIES` entries.
    #[error("audit log too large")]
    TooLarge,
    /// An entry is not a valid statement for this list and business.
    #[error("audit entry {index} is invalid: {reason}")]
    InvalidEntry {
        /// Position of the entry (0-based).
        index: usize,
        /// What is wrong with it.
        reason: ConsentError,
    },
    /// An entry is not newer than, or repeats the action of, the customer's previous entry.
    #[error("audit entry {index} is out of order for its customer")]
    OutOfOrder {
        /// Position of the entry (0-based).
        index: usize,
    },
}

/// Why a channel message could not be sealed for a pairwise session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The session's peer is not a recipient of this message: it must not see its keys.
    #[error("session peer is not a recipient of this message")]
    NotARecipient,
    /// The pairwise encryption failed.
    #[error("pairwise encryption failed: {0}")]
    Encrypt(#[from] EncryptError),
}
