//! 1:n channels over sender keys: groups and consent-bound broadcast lists (PROTOCOL.md §7).
//!
//! Each sender in a channel has a **sender chain**: a chain key stepped with the Double
//! Ratchet's `KDF_CK`, and an Ed25519 key that signs every message, so members who share the
//! chain key cannot forge each other's messages. A sender hands its chain to each recipient in
//! a **distribution** over their pairwise [`Session`](crate::Session); after that one
//! encryption reaches any number of readers through the relay.
//!
//! - [`Group`]: members send and receive; an admin signs each roster; removing a member makes
//!   every remaining sender start a new chain.
//! - [`BroadcastList`] (business) and [`BroadcastSubscription`] (customer): only the business
//!   sends, only to customers whose own device signed a [`Consent`]; a withdrawal deletes the
//!   chain, and every statement lands in an [`AuditLog`].
//!
//! Everything a channel sends over pairwise sessions is a [`Fanout`]: one payload, its allowed
//! recipients. Everything it receives from them goes to `receive` with the session it came
//! from, which names the sender. The payloads are opaque bytes for the application's own
//! message framing (tell them apart from chat texts there); [`control_channel_id`] routes them.

mod audit;
mod broadcast;
mod channel;
mod consent;
mod control;
mod error;
mod group_chat;
mod membership;
mod message;

mod receiver_chain;
mod roster;
mod sender_chain;
mod state;
mod subscription;

#[cfg(feature = "hazmat")]
pub(crate) use control::Control;
#[cfg(feature = "hazmat")]
pub(crate) use message::{MAX_AAD_LEN, aad};
#[cfg(feature = "hazmat")]
pub(crate) use receiver_chain::ChainStore;
#[cfg(feature = "hazmat")]
pub(crate) use sender_chain::{Distribution, SenderChain};

pub use audit::AuditLog;
pub use broadcast::{BroadcastList, ConsentOutcome};
pub use channel::{ChannelId, Fanout};
pub use consent::{Consent, ConsentAction, consent_payload};
pub use control::control_channel_id;
pub use error::{
    AuditError, ChannelDecryptError, ChannelEncryptError, ChannelIdError, ConsentError,
    ControlError, DeliveryError, MembershipError,
};
pub use group_chat::{Group, GroupStatus};
pub use membership::{MembershipChange, Received};
pub use subscription::BroadcastSubscription;

/// Prost-generated types, private to the crate: they convert into validated domain types.
#[allow(
    unreachable_pub,
    missing_docs,
    dead_code,
    clippy::all,
    clippy::pedantic
)]
pub(crate) mod proto {
    /// `proto/group.proto`.
    pub(crate) mod wire {
        include!(concat!(env!("OUT_DIR"), "/sealpost.group.v1.rs"));
    }
    /// `proto/group_state.proto`.
    pub(crate) mod state {
        include!(concat!(env!("OUT_DIR"), "/sealpost.group_state.v1.rs"));
    }
}
