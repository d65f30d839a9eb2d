//! Group membership (PROTOCOL.md §7.6-§7.7): rosters signed by the admin arrive over pairwise
//! sessions; on a removal every remaining sender starts a fresh chain.

use rand_core::CryptoRng;

use super::channel::Fanout;
use super::control::Control;
use super::error::{ControlError, MembershipError};
use super::group_chat::{Group, GroupStatus};
use super::receiver_chain::Inserted;
use super::roster::SignedRoster;
use crate::consts::MAX_GROUP_MEMBERS;
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::session::Session;

/// A membership change applied from a roster.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MembershipChange {
    /// The roster's epoch.
    pub epoch: u64,
    /// Identity keys (32-byte encodings) that joined.
    pub added: Vec<[u8; 32]>,
    /// Identity keys that left or were removed; their chains are deleted.
    pub removed: Vec<[u8; 32]>,
}

/// What a control message did to a group, and what to send in response.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Received {
    /// A newer roster was applied.
    pub membership: Option<MembershipChange>,
    /// The session's peer handed us a sender chain we did not hold, with this id (`None` for
    /// a repeated distribution, which changes nothing).
    pub sender_key: Option<u32>,
    /// (Admin only.) This member asks to leave: call [`Group::remove`] for it.
    pub leave_request: Option<IdentityKey>,
    /// The roster no longer lists us: every key is gone and the group is inert.
    pub removed_from_group: bool,
    /// Distribution messages to deliver now, over each recipient's pairwise session.
    pub outgoing: Vec<Fanout>,
}

impl Group {
    /// Processes a control message received over the pairwise session `from`: a roster
    /// and/or the peer's distribution, or (admin only) a leave request.
    ///
    /// Checks, in order: the session is ours; the group is active; the message parses and is
    /// for this group; a roster is for this group, signed by our admin, newer than ours; a
    /// distribution comes from a member (at the new roster's epoch) other than us and does not
    /// conflict with a chain we hold; a leave request comes from a member and reaches the
    /// admin. Only then is anything applied: a removal deletes the removed members' chains
    /// and starts our new chain, whose distribution is in [`Received::outgoing`]; an addition
    /// hands our current chain to the new members. Draws from `rng` only to start a new chain.
    ///
    /// # Errors
    /// [`ControlError`]; the group is unchanged on every error.
    pub fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        from: &Session,
        payload: &[u8],
        rng: &mut R,
    ) -> Result<Received, ControlError> {
        if *from.local_identity() != self.me {
            return Err(ControlError::WrongSession);
        }
        if self.status != GroupStatus::Active {
            return Err(ControlError::Inactive);
        }
        let c = Control::decode(payload)?;
        if c.channel != self.roster.group {
            return Err(ControlError::WrongChannel);
        }
        if c.consent.is_some() {
            return Err(ControlError::Unexpected);
        }
        let peer = from.remote_identity().to_bytes();

        let new_roster = match &c.roster {
            None => None,
            Some((roster_bytes, signature)) => {
                let r = SignedRoster::verify(roster_bytes, signature)?;
                if r.group != self.roster.group {
                    return Err(ControlError::WrongChannel);
                }
                if r.admin != self.roster.admin {
                    return Err(ControlError::NotAdmin);
                }
                if r.epoch <= self.roster.epoch {
                    return Err(ControlError::StaleRoster {
                        epoch: r.epoch,
                        current: self.roster.epoch,
                    });
                }
                Some(r)
            }
        };
        let members_after = new_roster.as_ref().unwrap_or(&self.roster);
        let distribution = match c.distribution {
            None => None,
            Some(d) => {
                if peer == self.me.to_bytes() || !members_after.contains(&peer) {
                    return Err(ControlError::NotAMember);
                }
                let (vk, how) = self.chains.check(&peer, &d)?;
                Some((d, vk, how))
            }
        };
        let mut received = Received::default();
        if c.leave {
            if !self.roster.contains(&peer) {
                return Err(ControlError::NotAMember);
            }
            if self.roster.admin != self.me {
                return Err(ControlError::NotAdmin);
            }
            received.leave_request = Some(*from.remote_identity());
        }

        // Everything is checked: apply.
        if let Some(r) = new_roster {
            let (change, outgoing) = self.apply_roster(r, rng);
            received.membership = Some(change);
            received.outgoing = outgoing;
            received.removed_from_group = self.status == GroupStatus::Removed;
        }
        if let Some((d, vk, how)) = distribution
            && self.status == GroupStatus::Active
        {
            if how == Inserted::New {
                received.sender_key = Some(d.chain_id);
            }
            self.chains.commit_insert(&peer, d, vk, how);
        }
        self.revision += 1;
        Ok(received)
    }

    /// (Admin.) Adds members: signs the next roster, invites the new members (roster and our
    /// current chain) and tells the others (roster). Existing members answer the roster by
    /// handing their chains to the new members. No rekey: new members read only what is sent
    /// from now on, since a chain key at iteration `i` derives no earlier key.
    ///
    /// # Errors
    /// [`MembershipError`]; the group is unchanged on error.
    pub fn add(
        &mut self,
        admin: &IdentityKeyPair,
        members: &[IdentityKey],
    ) -> Result<Vec<Fanout>, MembershipError> {
        self.check_admin(admin)?;
        let mut added: Vec<[u8; 32]> = Vec::with_capacity(members.len());
        for m in members {
            let b = m.to_bytes();
            if self.roster.contains(&b) || added.contains(&b) {
                return Err(MembershipError::AlreadyMember);
            }
            added.push(b);
        }
        if self.roster.members.len() + added.len() > MAX_GROUP_MEMBERS {
            return Err(MembershipError::TooManyMembers);
        }
        let epoch = self.next_epoch()?;
        let existing = self.others();
        let mut list = self.roster.members.clone();
        list.extend_from_slice(&added);
        list.sort_unstable();
        self.roster = SignedRoster::sign(admin, &self.roster.group, epoch, list);
        self.revision += 1;
        Ok(self.fanouts([(true, true, added), (true, false, existing)]))
    }

    /// (Admin.) Removes members (also how a [`Received::leave_request`] is granted): signs the
    /// next roster, deletes their chains, starts our new chain and sends it with the roster to
    /// the remaining members; the removed members get the roster alone. Draws the new chain
    /// from `rng`.
    ///
    /// # Errors
    /// [`MembershipError`]; the group is unchanged on error.
    pub fn remove<R: CryptoRng + ?Sized>(
        &mut self,
        admin: &IdentityKeyPair,
        members: &[IdentityKey],
        rng: &mut R,
    ) -> Result<Vec<Fanout>, MembershipError> {
        self.check_admin(admin)?;
        let mut gone: Vec<[u8; 32]> = Vec::with_capacity(members.len());
        for m in members {
            let b = m.to_bytes();
            if b == self.me.to_bytes() {
                return Err(MembershipError::AdminCannotLeave);
            }
            if !self.roster.contains(&b) || gone.contains(&b) {
                return Err(MembershipError::NotAMember);
            }
            gone.push(b);
        }
        let epoch = self.next_epoch()?;
        let list: Vec<[u8; 32]> = self
            .roster
            .members
            .iter()
            .filter(|m| !gone.contains(m))
            .copied()
            .collect();
        self.roster = SignedRoster::sign(admin, &self.roster.group, epoch, list);
        for g in &gone {
            self.chains.remove_sender(g);
        }
        self.rotate(rng);
        self.revision += 1;
        let remaining = self.others();
        Ok(self.fanouts([(true, true, remaining), (true, false, gone)]))
    }

    /// Leaves the group: returns the request for the admin (who removes us, which rekeys
    /// everyone else) and deletes every key here at once.
    ///
    /// # Errors
    /// [`MembershipError::AdminCannotLeave`] for the admin, [`MembershipError::Inactive`] if
    /// already gone.
    pub fn leave(&mut self) -> Result<Fanout, MembershipError> {
        if self.status != GroupStatus::Active {
            return Err(MembershipError::Inactive);
        }
        if self.roster.admin == self.me {
            return Err(MembershipError::AdminCannotLeave);
        }
        let mut c = Control::new(&self.roster.group);
        c.leave = true;
        let request = Fanout::new(c.encode(), vec![self.roster.admin.to_bytes()]);
        self.deactivate(GroupStatus::Left);
        Ok(request)
    }

    fn check_admin(&self, admin: &IdentityKeyPair) -> Result<(), MembershipError> {
        if self.status != GroupStatus::Active {
            return Err(MembershipError::Inactive);
        }
        if *admin.public_key() != self.roster.admin || self.me != self.roster.admin {
            return Err(MembershipError::NotAdmin);
        }
        Ok(())
    }

    fn next_epoch(&self) -> Result<u64, MembershipError> {
        self.roster
            .epoch
            .checked_add(1)
            .ok_or(MembershipError::EpochExhausted)
    }

    /// Applies a verified, newer roster; returns the change and the distributions it calls for.
    fn apply_roster<R: CryptoRng + ?Sized>(
        &mut self,
        roster: SignedRoster,
        rng: &mut R,
    ) -> (MembershipChange, Vec<Fanout>) {
        let added: Vec<[u8; 32]> = roster
            .members
            .iter()
            .filter(|m| !self.roster.contains(m))
            .copied()
            .collect();
        let removed: Vec<[u8; 32]> = self
            .roster
            .members
            .iter()
            .filter(|m| !roster.contains(m))
            .copied()
            .collect();
        let change = MembershipChange {
            epoch: roster.epoch,
            added: added.clone(),
            removed: removed.clone(),
        };
        for r in &removed {
            self.chains.remove_sender(r);
        }
        self.roster = roster;
        if !self.roster.contains(self.me.as_bytes()) {
            self.deactivate(GroupStatus::Removed);
            return (change, Vec::new());
        }
        let outgoing = if !removed.is_empty() {
            // The removed members hold our current chain key: it must not carry another word.
            self.rotate(rng);
            let others = self.others();
            self.fanouts([(false, true, others)])
        } else {
            self.fanouts([(false, true, added)])
        };
        (change, outgoing)
    }
}
