//! A customer's side of a broadcast list (PROTOCOL.md §7.8): the signed opt-in and
//! withdrawal, and the business's chains.

use core::fmt;

use super::channel::ChannelId;
use super::consent::{Consent, ConsentAction, consent_payload};
use super::control::Control;
use super::error::{ChannelDecryptError, ConsentError, ControlError};
use super::receiver_chain::ChainStore;
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::session::Session;

/// A customer's side of a broadcast list: the signed opt-in, and the business's chains.
pub struct BroadcastSubscription {
    pub(crate) list: ChannelId,
    pub(crate) business: IdentityKey,
    pub(crate) customer: IdentityKey,
    /// Time of our last statement.
    pub(crate) time: u64,
    pub(crate) subscribed: bool,
    pub(crate) chains: ChainStore,
    pub(crate) revision: u64,
}

impl BroadcastSubscription {
    /// Opts in to `list` of the business at the other end of `to_business`. Returns the
    /// subscription and the signed statement to send over that session.
    ///
    /// # Errors
    /// [`ConsentError::WrongSession`] if `to_business` is not a session of `customer`.
    pub fn subscribe(
        customer: &IdentityKeyPair,
        to_business: &Session,
        list: ChannelId,
        time: u64,
    ) -> Result<(Self, Vec<u8>), ConsentError> {
        let payload =
            consent_payload(customer, to_business, &list, ConsentAction::Subscribe, time)?;
        Ok((
            BroadcastSubscription {
                list,
                business: *to_business.remote_identity(),
                customer: *customer.public_key(),
                time,
                subscribed: true,
                chains: ChainStore::default(),
                revision: 0,
            },
            payload,
        ))
    }

    /// Withdraws: returns the signed statement to send to the business, and deletes every
    /// chain here at once. `time` must be after the subscription's.
    ///
    /// # Errors
    /// [`ConsentError::WrongIdentity`], [`ConsentError::TimeNotIncreasing`], or
    /// [`ConsentError::NotSubscribed`]; nothing changes on error.
    pub fn unsubscribe(
        &mut self,
        customer: &IdentityKeyPair,
        time: u64,
    ) -> Result<Vec<u8>, ConsentError> {
        if *customer.public_key() != self.customer {
            return Err(ConsentError::WrongIdentity);
        }
        if !self.subscribed {
            return Err(ConsentError::NotSubscribed);
        }
        if time <= self.time {
            return Err(ConsentError::TimeNotIncreasing);
        }
        let consent = Consent::sign(
            customer,
            &self.business,
            &self.list,
            ConsentAction::Unsubscribe,
            time,
        );
        self.time = time;
        self.subscribed = false;
        self.chains.clear();
        self.revision += 1;
        Ok(consent.payload())
    }

    /// Takes the business's distribution, received over the pairwise session `from`.
    ///
    /// # Errors
    /// [`ControlError::WrongSession`] (not our session), [`ControlError::NotAMember`] (the
    /// peer is not this list's business), [`ControlError::Inactive`] (we withdrew),
    /// [`ControlError::WrongChannel`], [`ControlError::Unexpected`] (not a distribution), or
    /// a bad distribution. Nothing changes on error.
    pub fn receive(&mut self, from: &Session, payload: &[u8]) -> Result<u32, ControlError> {
        if *from.local_identity() != self.customer {
            return Err(ControlError::WrongSession);
        }
        if *from.remote_identity() != self.business {
            return Err(ControlError::NotAMember);
        }
        if !self.subscribed {
            return Err(ControlError::Inactive);
        }
        let c = Control::decode(payload)?;
        if c.channel != self.list {
            return Err(ControlError::WrongChannel);
        }
        let (Some(d), None) = (c.distribution, &c.roster) else {
            return Err(ControlError::Unexpected);
        };
        let business = self.business.to_bytes();
        let chain_id = d.chain_id;
        let (vk, how) = self.chains.check(&business, &d)?;
        self.chains.commit_insert(&business, d, vk, how);
        self.revision += 1;
        Ok(chain_id)
    }

    /// Decrypts a broadcast of this list.
    ///
    /// # Errors
    /// [`ChannelDecryptError`]; nothing changes on error.
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Vec<u8>, ChannelDecryptError> {
        let mut out = Vec::new();
        self.decrypt_into(message, &mut out)?;
        Ok(out)
    }

    /// Appends the plaintext of a broadcast to `out`.
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt); `out` is unchanged on error.
    pub fn decrypt_into(
        &mut self,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelDecryptError> {
        if !self.subscribed {
            return Err(ChannelDecryptError::NotAMember);
        }
        self.chains
            .decrypt(&self.list, self.business.as_bytes(), message, out)?;
        self.revision += 1;
        Ok(())
    }

    /// The list id.
    pub fn id(&self) -> &ChannelId {
        &self.list
    }

    /// The business's identity.
    pub fn business(&self) -> &IdentityKey {
        &self.business
    }

    /// Whether we are subscribed (no withdrawal since).
    pub fn is_subscribed(&self) -> bool {
        self.subscribed
    }

    /// Number of the business's chains held.
    pub fn chains_held(&self) -> usize {
        self.chains.chain_count(self.business.as_bytes())
    }

    /// Increases with every change; store it for compare-and-swap.
    pub fn revision(&self) -> u64 {
        self.revision
    }
}

impl fmt::Debug for BroadcastSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastSubscription")
            .field("id", &self.list)
            .field("business", &self.business)
            .field("customer", &self.customer)
            .field("subscribed", &self.subscribed)
            .field("chains", &self.chains_held())
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}
