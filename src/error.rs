//! Error types, one per concern. Every variant is something a caller can act on.

use crate::keys::IdentityKey;

/// A public key that failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not 32 bytes.
    #[error("key has the wrong length")]
    InvalidLength,
    /// Not the encoding of a curve point.
    #[error("key is not a point on the curve")]
    NotOnCurve,
    /// A point with a second, non-canonical encoding.
    #[error("key is not canonically encoded")]
    NonCanonical,
    /// A point of small order (a "weak" key).
    #[error("key has small order")]
    SmallOrder,
    /// A point with a torsion component.
    #[error("key has a torsion component")]
    Torsion,
    /// A signature that does not verify under `verify_strict`.
    #[error("signature does not verify")]
    BadSignature,
}

/// Why a prekey bundle was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bytes are not a bundle (protobuf, lengths or missing fields).
    #[error("malformed prekey bundle")]
    Malformed,
    /// The identity key failed validation.
    #[error("invalid identity key in bundle: {0}")]
    InvalidIdentity(KeyError),
    /// The signed prekey's signature does not verify under the identity key.
    #[error("signed prekey signature does not verify")]
    BadSignature,
    /// The bundle's identity is not the one the caller expected.
    #[error("bundle belongs to a different identity")]
    UnexpectedIdentity,
    /// The bundle carries no ML-KEM prekey, and the caller requires the post-quantum
    /// handshake ([`PreKeyBundle::verify`](crate::PreKeyBundle::verify)). A relay may have
    /// stripped it: accepting the bundle would silently downgrade to classical X3DH.
    #[error("bundle has no post-quantum (ML-KEM) prekey")]
    MissingKemPreKey,
    /// The ML-KEM prekey is not a valid ML-KEM-768 encapsulation key.
    #[error("invalid ML-KEM prekey in bundle")]
    InvalidKemPreKey,
    /// The ML-KEM prekey's signature does not verify under the identity key.
    #[error("ML-KEM prekey signature does not verify")]
    BadKemSignature,
}

/// Why a session could not be started from a bundle or a prekey message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A Diffie-Hellman output was all zero: the peer sent a low-order public key.
    #[error("a Diffie-Hellman output was not contributory (low-order public key)")]
    NonContributory,
    /// The prekey message names a signed prekey this side does not have (rotated away).
    #[error("unknown signed prekey {0}")]
    UnknownSignedPreKey(u32),
    /// The prekey message names a one-time prekey this side does not have or already used.
    #[error("unknown or already used one-time prekey {0}")]
    UnknownOneTimePreKey(u32),
    /// This prekey message's base key was already accepted once (a replay).
    #[error("prekey message replayed")]
    Replayed,
    /// The prekey message names an ML-KEM prekey this side does not have, or a one-time one
    /// it already used.
    #[error("unknown or already used ML-KEM prekey {0}")]
    UnknownKemPreKey(u32),
    /// A classical (X3DH-only) prekey message reached a responder that requires the
    /// post-quantum handshake ([`PostQuantum::Required`](crate::PostQuantum::Required)).
    #[error("prekey message lacks the required post-quantum (ML-KEM) part")]
    PostQuantumRequired,
    /// The message is not a prekey message, or a field is malformed.
    #[error("malformed prekey message")]
    Malformed,
    /// The sender's identity key failed validation.
    #[error("invalid identity key: {0}")]
    InvalidIdentity(KeyError),
    /// The message is addressed to a different identity (our own key as initiator, say).
    #[error("prekey message is not addressed to this identity")]
    WrongRecipient,
    /// The first inner message did not decrypt.
    #[error("first message of the handshake failed: {0}")]
    Decrypt(DecryptError),
}

/// Why a message could not be encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The plaintext is larger than `MAX_PLAINTEXT_SIZE`.
    #[error("plaintext too large")]
    TooLarge,
    /// The sending chain reached `u32::MAX` messages without a DH ratchet turn.
    #[error("sending chain exhausted; wait for a reply")]
    ChainExhausted,
    /// The session has nothing to send on yet (a responder state restored before its first
    /// message was received); never the case for sessions this crate creates.
    #[error("session has no sending chain")]
    NoSendingChain,
}

/// Why a message did not decrypt. The session is unchanged in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The bytes are not a well-formed message (protobuf, lengths, version).
    #[error("malformed message")]
    Malformed,
    /// The envelope's protocol version is not one this crate speaks.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    /// Authentication failed: tampered, truncated, or not meant for this session.
    #[error("message failed authentication")]
    InvalidMessage,
    /// This message was already decrypted (or its key was evicted as too old).
    #[error("duplicate or expired message (chain counter {counter})")]
    Duplicate {
        /// The message's counter.
        counter: u32,
    },
    /// The message would advance a chain by more than `MAX_FORWARD_JUMP` steps.
    #[error("message is too far ahead ({steps} chain steps)")]
    TooFarAhead {
        /// Chain steps the message would cost.
        steps: u64,
    },
    /// The message belongs to a different session (session tag or base key mismatch).
    /// A session record tries its other sessions; a lone session gives up here.
    #[error("message belongs to a different session")]
    WrongSession,
    /// A prekey message that starts a new session: hand it to the responder path.
    #[error("prekey message for a new session")]
    NewSession,
    /// A DH ratchet key from the peer arrived before this side answered the previous one;
    /// an honest peer never does this.
    #[error("unexpected ratchet key")]
    UnexpectedRatchetKey,
    /// A Diffie-Hellman output was all zero: the peer sent a low-order ratchet key.
    #[error("non-contributory ratchet key")]
    NonContributory,
    /// The prekey message's sender identity differs from this session's peer.
    #[error("sender identity differs from this session's peer")]
    UntrustedIdentity(Box<IdentityMismatch>),
}

/// A known peer presented a different identity key: the caller decides whether to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityMismatch {
    /// The identity the existing session or record was built with.
    pub expected: IdentityKey,
    /// The identity the message claims.
    pub received: IdentityKey,
}

/// Why persisted state could not be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Not a valid protobuf record, or a field has the wrong length.
    #[error("malformed state record")]
    Malformed,
    /// A record version this crate does not know.
    #[error("unknown state version {0}")]
    UnknownVersion(u32),
    /// Larger than the documented size limit.
    #[error("state record too large")]
    TooLarge,
    /// A count exceeds a protocol limit.
    #[error("state record exceeds a protocol limit")]
    LimitExceeded,
    /// A key stored in the record fails validation.
    #[error("invalid key in state record: {0}")]
    InvalidKey(KeyError),
}

/// Why a prekey operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PreKeyError {
    /// The record already holds the maximum number of keys of this kind.
    #[error("prekey limit reached")]
    LimitReached,
    /// No signed prekey with this id.
    #[error("unknown signed prekey {0}")]
    UnknownSignedPreKey(u32),
    /// No unused one-time prekey with this id.
    #[error("unknown one-time prekey {0}")]
    UnknownOneTimePreKey(u32),
    /// No signed prekey has been generated yet.
    #[error("no signed prekey")]
    NoSignedPreKey,
    /// No unused ML-KEM prekey with this id (one-time or last-resort).
    #[error("unknown ML-KEM prekey {0}")]
    UnknownKemPreKey(u32),
    /// The prekeys were created with [`PostQuantum::Disabled`](crate::PostQuantum::Disabled):
    /// they hold no ML-KEM prekeys and make none.
    #[error("post-quantum prekeys are disabled for this responder")]
    PostQuantumDisabled,
}

/// Why a per-peer session record refused an operation. Nothing changed in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record holds no session to encrypt with.
    #[error("no session with this peer")]
    NoSession,
    /// The peer presented an identity other than the record's: the caller decides whether to
    /// trust it (`SessionRecord::trust_new_identity`).
    #[error("peer identity changed")]
    UntrustedIdentity(Box<IdentityMismatch>),
    /// Starting a session failed.
    #[error(transparent)]
    Handshake(HandshakeError),
    /// The message did not decrypt.
    #[error(transparent)]
    Decrypt(DecryptError),
    /// The message could not be encrypted.
    #[error(transparent)]
    Encrypt(EncryptError),
}

/// Why a sealed record did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Wrong key, wrong record kind, or the bytes were modified.
    #[error("sealed record failed authentication")]
    Authentication,
    /// Too short to be a sealed record, or over the size limit.
    #[error("malformed sealed record")]
    Malformed,
    /// The record opened but its contents are invalid.
    #[error(transparent)]
    State(StateError),
}
