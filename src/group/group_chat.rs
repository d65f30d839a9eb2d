//! A group (PROTOCOL.md §7.6): every member sends on its own sender chain and holds the
//! chains of every other member. Membership changes live in `membership.rs`.

use core::fmt;

use rand_core::CryptoRng;

use super::channel::{ChannelId, Fanout};
use super::control::Control;
use super::error::{ChannelDecryptError, ChannelEncryptError, ControlError, MembershipError};
use super::receiver_chain::ChainStore;
use super::roster::SignedRoster;
use super::sender_chain::{SenderChain, retire};
use crate::consts::MAX_GROUP_MEMBERS;
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::session::Session;

/// Where this device stands in a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupStatus {
    /// A member: sends and receives.
    Active,
    /// We left ([`Group::leave`]); every key is gone.
    Left,
    /// The admin removed us; every key is gone.
    Removed,
}

/// A group conversation over sender keys.
///
/// Every member holds one sending chain and the chains of every other member. Membership is a
/// roster signed by the admin and carried in pairwise sessions, so the relay can neither add
/// members nor read a word; removing a member makes every remaining sender start a new chain,
/// so the removed member reads nothing sent afterwards.
///
/// ```
/// use sealpost::group::{ChannelId, Group};
/// use sealpost::{Envelope, IdentityKeyPair, PreKeyBundle, PreKeys, Session};
/// # fn connect(a: &IdentityKeyPair, b: &IdentityKeyPair) -> (Session, Session) {
/// #     let mut rng = rand::rng();
/// #     let mut prekeys = PreKeys::new();
/// #     prekeys.generate_signed_prekey(b, 1, &mut rng).unwrap();
/// #     let bundle = PreKeyBundle::from_bytes(&prekeys.bundle(b, None).unwrap().to_bytes())
/// #         .unwrap().verify().unwrap();
/// #     let mut ab = Session::initiate(a, &bundle, &mut rng).unwrap();
/// #     let hello = ab.encrypt(&mut rng, b"hi").unwrap();
/// #     let Envelope::PreKey(m) = Envelope::parse(&hello).unwrap() else { unreachable!() };
/// #     let (ba, _) = Session::accept(b, &mut prekeys, &m).unwrap();
/// #     (ab, ba)
/// # }
/// let mut rng = rand::rng();
/// let (shop, ana) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
/// // Pairwise sessions shop<->ana, set up as in the crate-level example.
/// let (mut shop_ana, mut ana_shop) = connect(&shop, &ana);
///
/// // The admin creates the group; the invitation travels in the pairwise session.
/// let id = ChannelId::new(b"installers-north")?;
/// let (mut shop_group, invites) = Group::create(&shop, id, &[*ana.public_key()], &mut rng)?;
/// let wire = invites[0].seal_for(&mut shop_ana, &mut rng)?;
/// let payload = ana_shop.decrypt(&wire)?;
/// let (mut ana_group, replies) = Group::join(&ana_shop, &payload, &mut rng)?;
///
/// // Ana's sender key goes back the same way.
/// let wire = replies[0].seal_for(&mut ana_shop, &mut rng)?;
/// let payload = shop_ana.decrypt(&wire)?;
/// shop_group.receive(&shop_ana, &payload, &mut rng)?;
///
/// // One encryption, any number of readers; the relay names the sender.
/// let msg = ana_group.encrypt(&mut rng, b"job 1142 done")?;
/// assert_eq!(shop_group.decrypt(ana.public_key(), &msg)?, b"job 1142 done");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Group {
    pub(crate) me: IdentityKey,
    pub(crate) roster: SignedRoster,
    pub(crate) status: GroupStatus,
    /// `Some` exactly while `status` is `Active`.
    pub(crate) sending: Option<SenderChain>,
    /// Our earlier chain ids, oldest first.
    pub(crate) retired: Vec<u32>,
    pub(crate) chains: ChainStore,
    pub(crate) revision: u64,
}

impl Group {
    /// Creates a group with us as admin and `members` (the admin is added if missing).
    ///
    /// Draws our first chain from `rng` (PROTOCOL.md §7.2). Returns the invitations: one
    /// payload (roster and our distribution) for every other member, to send over pairwise
    /// sessions; each member then calls [`Group::join`].
    ///
    /// # Errors
    /// [`MembershipError::TooManyMembers`] beyond `MAX_GROUP_MEMBERS`.
    pub fn create<R: CryptoRng + ?Sized>(
        admin: &IdentityKeyPair,
        id: ChannelId,
        members: &[IdentityKey],
        rng: &mut R,
    ) -> Result<(Group, Vec<Fanout>), MembershipError> {
        let mut list: Vec<[u8; 32]> = members.iter().map(IdentityKey::to_bytes).collect();
        list.push(admin.public_key().to_bytes());
        list.sort_unstable();
        list.dedup();
        if list.len() > MAX_GROUP_MEMBERS {
            return Err(MembershipError::TooManyMembers);
        }
        let roster = SignedRoster::sign(admin, &id, 1, list);
        let group = Group {
            me: *admin.public_key(),
            roster,
            status: GroupStatus::Active,
            sending: Some(SenderChain::generate(rng, &[])),
            retired: Vec::new(),
            chains: ChainStore::default(),
            revision: 0,
        };
        let others = group.others();
        let invites = group.fanouts([(true, true, others)]);
        Ok((group, invites))
    }

    /// Joins a group from the admin's invitation, received over the pairwise session `from`
    /// (whose peer must be the admin the roster names).
    ///
    /// Draws our first chain from `rng`. Returns our distribution for every other member.
    /// Other members' distributions may arrive before the invitation: keep them (route by
    /// [`control_channel_id`](super::control_channel_id)) and pass them to
    /// [`receive`](Self::receive) after joining.
    ///
    /// # Errors
    /// [`ControlError`]: not an invitation ([`Unexpected`](ControlError::Unexpected)), a bad
    /// roster, an inviter that is not the admin ([`NotAdmin`](ControlError::NotAdmin)), or a
    /// roster that does not list us ([`NotAMember`](ControlError::NotAMember)).
    pub fn join<R: CryptoRng + ?Sized>(
        from: &Session,
        payload: &[u8],
        rng: &mut R,
    ) -> Result<(Group, Vec<Fanout>), ControlError> {
        let c = Control::decode(payload)?;
        let Some((roster_bytes, signature)) = &c.roster else {
            return Err(ControlError::Unexpected);
        };
        let roster = SignedRoster::verify(roster_bytes, signature)?;
        if roster.group != c.channel {
            return Err(ControlError::WrongChannel);
        }
        if roster.admin != *from.remote_identity() {
            return Err(ControlError::NotAdmin);
        }
        let me = *from.local_identity();
        if !roster.contains(me.as_bytes()) {
            return Err(ControlError::NotAMember);
        }
        let mut chains = ChainStore::default();
        if let Some(d) = c.distribution {
            let admin = roster.admin.to_bytes();
            let (vk, how) = chains.check(&admin, &d)?;
            chains.commit_insert(&admin, d, vk, how);
        }
        let group = Group {
            me,
            roster,
            status: GroupStatus::Active,
            sending: Some(SenderChain::generate(rng, &[])),
            retired: Vec::new(),
            chains,
            revision: 0,
        };
        let others = group.others();
        let replies = group.fanouts([(false, true, others)]);
        Ok((group, replies))
    }

    /// Starts a new sending chain and returns its distribution for every other member (after
    /// [`ChannelEncryptError::ChainExhausted`], or periodically for post-compromise security).
    ///
    /// # Errors
    /// [`MembershipError::Inactive`] if we left or were removed.
    pub fn rekey<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Fanout, MembershipError> {
        if self.status != GroupStatus::Active {
            return Err(MembershipError::Inactive);
        }
        self.rotate(rng);
        self.revision += 1;
        let others = self.others();
        Ok(Fanout::new(self.control(false, true).encode(), others))
    }

    /// Encrypts a message for every member; the result goes to the relay as is.
    ///
    /// # Errors
    /// [`ChannelEncryptError`]; the group is unchanged on error.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ChannelEncryptError> {
        let mut out = Vec::new();
        self.encrypt_into(rng, plaintext, &mut out)?;
        Ok(out)
    }

    /// Appends a group message to `out` (no other allocation). Draws the 4-byte reuse guard.
    ///
    /// # Errors
    /// As [`encrypt`](Self::encrypt); `out` is unchanged on error.
    pub fn encrypt_into<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelEncryptError> {
        let Some(chain) = self.sending.as_mut() else {
            return Err(ChannelEncryptError::NotAMember);
        };
        chain.encrypt_into(&self.roster.group, rng, plaintext, out)?;
        self.revision += 1;
        Ok(())
    }

    /// Decrypts a group message from `sender`, as named by the transport (a wrong name fails:
    /// the chain is looked up under it and its signature checked).
    ///
    /// # Errors
    /// [`ChannelDecryptError`]; the group is unchanged on every error.
    pub fn decrypt(
        &mut self,
        sender: &IdentityKey,
        message: &[u8],
    ) -> Result<Vec<u8>, ChannelDecryptError> {
        let mut out = Vec::new();
        self.decrypt_into(sender, message, &mut out)?;
        Ok(out)
    }

    /// Appends the plaintext of a group message from `sender` to `out`.
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt); `out` is unchanged on error.
    pub fn decrypt_into(
        &mut self,
        sender: &IdentityKey,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelDecryptError> {
        if self.status != GroupStatus::Active {
            return Err(ChannelDecryptError::NotAMember);
        }
        self.chains
            .decrypt(&self.roster.group, sender.as_bytes(), message, out)?;
        self.revision += 1;
        Ok(())
    }

    /// The group id.
    pub fn id(&self) -> &ChannelId {
        &self.roster.group
    }

    /// The admin's identity.
    pub fn admin(&self) -> &IdentityKey {
        &self.roster.admin
    }

    /// Our identity in this group.
    pub fn local_identity(&self) -> &IdentityKey {
        &self.me
    }

    /// The epoch of the roster we hold.
    pub fn epoch(&self) -> u64 {
        self.roster.epoch
    }

    /// Members (32-byte identity keys, ascending), the admin and us included.
    pub fn members(&self) -> &[[u8; 32]] {
        &self.roster.members
    }

    /// Whether `identity` is a member at our epoch.
    pub fn is_member(&self, identity: &IdentityKey) -> bool {
        self.roster.contains(identity.as_bytes())
    }

    /// Active, left or removed.
    pub fn status(&self) -> GroupStatus {
        self.status
    }

    /// Number of chains we hold for `sender` (at most `MAX_CHAINS_PER_SENDER`).
    pub fn chains_held(&self, sender: &IdentityKey) -> usize {
        self.chains.chain_count(sender.as_bytes())
    }

    /// Skipped message keys held for late messages, over all chains.
    pub fn skipped_keys(&self) -> usize {
        self.chains.skipped_total
    }

    /// Increases with every change; store it for compare-and-swap, so two processes never
    /// both advance one sending chain from the same state (that would reuse message keys).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub(super) fn rotate<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) {
        if let Some(old) = self.sending.take() {
            retire(&mut self.retired, old.chain_id);
        }
        self.sending = Some(SenderChain::generate(rng, &self.retired));
    }

    pub(super) fn deactivate(&mut self, status: GroupStatus) {
        self.status = status;
        self.sending = None;
        self.chains.clear();
        self.revision += 1;
    }

    /// Members other than us.
    pub(super) fn others(&self) -> Vec<[u8; 32]> {
        let me = self.me.to_bytes();
        self.roster
            .members
            .iter()
            .filter(|m| **m != me)
            .copied()
            .collect()
    }

    pub(super) fn control(&self, roster: bool, distribution: bool) -> Control {
        let mut c = Control::new(&self.roster.group);
        if roster {
            c.roster = Some((
                self.roster.roster_bytes.clone(),
                self.roster.signature.clone(),
            ));
        }
        if distribution {
            c.distribution = self.sending.as_ref().map(SenderChain::distribution);
        }
        c
    }

    /// One fanout per `(with roster, with distribution, recipients)`, skipping empty ones.
    pub(super) fn fanouts<const N: usize>(
        &self,
        parts: [(bool, bool, Vec<[u8; 32]>); N],
    ) -> Vec<Fanout> {
        parts
            .into_iter()
            .filter(|(_, _, recipients)| !recipients.is_empty())
            .map(|(roster, distribution, recipients)| {
                Fanout::new(self.control(roster, distribution).encode(), recipients)
            })
            .collect()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("id", &self.roster.group)
            .field("me", &self.me)
            .field("admin", &self.roster.admin)
            .field("epoch", &self.roster.epoch)
            .field("members", &self.roster.members.len())
            .field("status", &self.status)
            .field("sending", &self.sending)
            .field("senders", &self.chains.senders.len())
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}
