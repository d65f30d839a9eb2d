//! Persisted channel state: `proto/group_state.proto` (PROTOCOL.md §7.10).
//!
//! Decoding bounds the record's size before parsing and every count against the protocol
//! limits before building the live state; chain signing keys and our identity are validated
//! again, the roster's signature is checked again. Consent evidence in a list's own record is
//! parsed without re-verifying signatures it passed on acceptance (`AuditLog::from_bytes` is
//! the verifying path for exported logs).

use std::collections::{BTreeMap, VecDeque};

use prost::Message;
use zeroize::{Zeroize, Zeroizing};

use super::broadcast::{BroadcastList, CustomerState};
use super::channel::ChannelId;
use super::consent::Consent;
use super::group_chat::{Group, GroupStatus};
use super::proto::state as pb;
use super::receiver_chain::{ChainStore, ReceiverChain, signing_key};
use super::roster::SignedRoster;
use super::sender_chain::SenderChain;
use super::subscription::BroadcastSubscription;
use crate::consts::{
    MAX_AUDIT_ENTRIES, MAX_BROADCAST_CUSTOMERS, MAX_BROADCAST_RECORD_SIZE, MAX_CHAINS_PER_SENDER,
    MAX_CHANNEL_SKIPPED_KEYS, MAX_GROUP_MEMBERS, MAX_GROUP_RECORD_SIZE, MAX_SKIPPED_KEYS,
    STATE_VERSION,
};
use crate::error::StateError;
use crate::kdf::{ChainKey, MessageKey};
use crate::keys::IdentityKey;
use crate::precheck::{self, Precheck, Rule};
use crate::state::decode_secret;

fn key32(b: &[u8]) -> Result<[u8; 32], StateError> {
    b.try_into().map_err(|_| StateError::Malformed)
}

fn own_to_proto(c: &SenderChain) -> pb::OwnChain {
    pb::OwnChain {
        chain_id: c.chain_id,
        iteration: c.iteration,
        chain_key: c.chain_key.as_bytes().to_vec(),
        signing_seed: c.signing.to_bytes().to_vec(),
    }
}

fn own_from_proto(c: &pb::OwnChain) -> Result<SenderChain, StateError> {
    let ck = ChainKey::from_slice(&c.chain_key).ok_or(StateError::Malformed)?;
    let seed = Zeroizing::new(key32(&c.signing_seed)?);
    Ok(SenderChain::from_parts(
        c.chain_id,
        c.iteration,
        ck.as_bytes(),
        &seed,
    ))
}

fn chains_to_proto(sender: &[u8; 32], chains: &VecDeque<Box<ReceiverChain>>) -> pb::SenderChains {
    pb::SenderChains {
        sender: sender.to_vec(),
        chains: chains
            .iter()
            .map(|c| pb::PeerChain {
                chain_id: c.chain_id,
                iteration: c.iteration,
                chain_key: c.chain_key.as_bytes().to_vec(),
                signing_key: c.signing.to_bytes().to_vec(),
                skipped: c
                    .skipped
                    .iter()
                    .map(|(i, mk)| pb::SkippedGroupKey {
                        iteration: *i,
                        message_key: mk.as_bytes().to_vec(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn store_to_proto(store: &ChainStore) -> Vec<pb::SenderChains> {
    store
        .senders
        .iter()
        .map(|(s, c)| chains_to_proto(s, c))
        .collect()
}

/// Every count in `senders`, checked before anything is built.
fn check_counts(senders: &[pb::SenderChains], max_senders: usize) -> Result<(), StateError> {
    if senders.len() > max_senders {
        return Err(StateError::LimitExceeded);
    }
    let mut total = 0usize;
    for s in senders {
        if s.chains.len() > MAX_CHAINS_PER_SENDER {
            return Err(StateError::LimitExceeded);
        }
        for c in &s.chains {
            if c.skipped.len() > MAX_SKIPPED_KEYS {
                return Err(StateError::LimitExceeded);
            }
            total += c.skipped.len();
        }
    }
    if total > MAX_CHANNEL_SKIPPED_KEYS {
        return Err(StateError::LimitExceeded);
    }
    Ok(())
}

fn store_from_proto(
    senders: &[pb::SenderChains],
    allowed: impl Fn(&[u8; 32]) -> bool,
) -> Result<ChainStore, StateError> {
    let mut store = ChainStore::default();
    for s in senders {
        let sender = key32(&s.sender)?;
        if !allowed(&sender) || store.senders.contains_key(&sender) {
            return Err(StateError::Malformed);
        }
        let mut chains: VecDeque<Box<ReceiverChain>> = VecDeque::with_capacity(s.chains.len());
        for c in &s.chains {
            if chains.iter().any(|x| x.chain_id == c.chain_id) || c.iteration == u32::MAX {
                return Err(StateError::Malformed);
            }
            let mut skipped = BTreeMap::new();
            for k in &c.skipped {
                if k.iteration >= c.iteration {
                    return Err(StateError::Malformed);
                }
                let mk = MessageKey::from_slice(&k.message_key).ok_or(StateError::Malformed)?;
                if skipped.insert(k.iteration, Box::new(mk)).is_some() {
                    return Err(StateError::Malformed);
                }
            }
            store.skipped_total += skipped.len();
            chains.push_back(Box::new(ReceiverChain {
                chain_id: c.chain_id,
                signing: signing_key(&key32(&c.signing_key)?).map_err(StateError::InvalidKey)?,
                iteration: c.iteration,
                chain_key: ChainKey::from_slice(&c.chain_key).ok_or(StateError::Malformed)?,
                skipped,
            }));
        }
        store.senders.insert(sender, chains);
    }
    Ok(store)
}

// Smallest valid encodings of repeated elements: a 32-byte key (2 + 32 bytes), a chain's two
// keys, a consent's 64-byte signature.
const MIN_KEY_ELEMENT: usize = 34;
const MIN_PEER_CHAIN: usize = 2 * MIN_KEY_ELEMENT;
const MIN_EVIDENCE: usize = 66;

fn limit(e: Precheck) -> StateError {
    match e {
        Precheck::Malformed => StateError::Malformed,
        Precheck::TooMany => StateError::LimitExceeded,
    }
}

/// Bounds the `SenderChains` in field `field` of a record, on its bytes (see `precheck`): at
/// most `max_senders` of them, each with at most `MAX_CHAINS_PER_SENDER` chains of at most
/// `MAX_SKIPPED_KEYS` skipped keys, `MAX_CHANNEL_SKIPPED_KEYS` in all; and `other`, another
/// repeated field of the record, in the same pass. `merged`: the field is a single message
/// whose occurrences prost merges into one (a subscription's), so the chain count is over all
/// of them.
fn precheck_senders(
    record: &[u8],
    field: u32,
    max_senders: usize,
    merged: bool,
    other: Option<Rule>,
) -> Result<(), StateError> {
    let mut skipped = 0usize;
    let mut chains = 0usize;
    let senders = if merged {
        Rule::elements(field, usize::MAX, 0)
    } else {
        Rule::elements(field, max_senders, MIN_KEY_ELEMENT)
    };
    let rules = [senders, other.unwrap_or(senders)];
    let chain_rule = Rule::elements(2, MAX_CHAINS_PER_SENDER, MIN_PEER_CHAIN);
    let skipped_rule = Rule::elements(5, MAX_SKIPPED_KEYS, MIN_KEY_ELEMENT);
    precheck::check(record, rules, |i, sender| {
        if i != 0 {
            return Ok(());
        }
        let [n] = precheck::check(sender, [chain_rule], |_, chain| {
            let [k] = precheck::check(chain, [skipped_rule], |_, _| Ok(()))?;
            skipped += k;
            if skipped > MAX_CHANNEL_SKIPPED_KEYS {
                return Err(Precheck::TooMany);
            }
            Ok(())
        })?;
        chains = if merged { chains + n } else { n };
        if chains > MAX_CHAINS_PER_SENDER {
            return Err(Precheck::TooMany);
        }
        Ok(())
    })
    .map_err(limit)?;
    Ok(())
}

fn retired_from_proto(ids: &[u32]) -> Result<Vec<u32>, StateError> {
    if ids.len() > MAX_CHAINS_PER_SENDER {
        return Err(StateError::LimitExceeded);
    }
    Ok(ids.to_vec())
}

const STATUS_ACTIVE: u32 = 0;
const STATUS_LEFT: u32 = 1;
const STATUS_REMOVED: u32 = 2;

fn encode_group(g: &Group) -> Zeroizing<Vec<u8>> {
    let record = pb::GroupRecord {
        version: STATE_VERSION,
        revision: g.revision,
        local_identity: g.me.to_bytes().to_vec(),
        signed_roster: g.roster.to_wire(),
        sending: g.sending.as_ref().map(own_to_proto),
        retired_chain_ids: g.retired.clone(),
        senders: store_to_proto(&g.chains),
        status: match g.status {
            GroupStatus::Active => STATUS_ACTIVE,
            GroupStatus::Left => STATUS_LEFT,
            GroupStatus::Removed => STATUS_REMOVED,
        },
    };
    Zeroizing::new(record.encode_to_vec())
}

fn decode_group(bytes: &[u8]) -> Result<Group, StateError> {
    if bytes.len() > MAX_GROUP_RECORD_SIZE {
        return Err(StateError::TooLarge);
    }
    let retired = Rule::scalars(6, MAX_CHAINS_PER_SENDER);
    precheck_senders(bytes, 7, MAX_GROUP_MEMBERS, false, Some(retired))?;
    let p = decode_secret::<pb::GroupRecord>(bytes).map_err(|_| StateError::Malformed)?;
    if p.version != STATE_VERSION {
        return Err(StateError::UnknownVersion(p.version));
    }
    check_counts(&p.senders, MAX_GROUP_MEMBERS)?;
    let retired = retired_from_proto(&p.retired_chain_ids)?;
    let me = IdentityKey::from_bytes(&p.local_identity).map_err(StateError::InvalidKey)?;
    let roster = SignedRoster::from_wire(&p.signed_roster).map_err(|_| StateError::Malformed)?;
    let status = match (p.status, &p.sending) {
        (STATUS_ACTIVE, Some(_)) if roster.contains(me.as_bytes()) => GroupStatus::Active,
        (STATUS_LEFT, None) if p.senders.is_empty() => GroupStatus::Left,
        (STATUS_REMOVED, None) if p.senders.is_empty() => GroupStatus::Removed,
        _ => return Err(StateError::Malformed),
    };
    let sending = p.sending.as_ref().map(own_from_proto).transpose()?;
    let my_bytes = me.to_bytes();
    let chains = store_from_proto(&p.senders, |s| *s != my_bytes && roster.contains(s))?;
    Ok(Group {
        me,
        roster,
        status,
        sending,
        retired,
        chains,
        revision: p.revision,
    })
}

fn encode_list(l: &BroadcastList) -> Zeroizing<Vec<u8>> {
    let record = pb::BroadcastListRecord {
        version: STATE_VERSION,
        revision: l.revision,
        list_id: l.list.as_bytes().to_vec(),
        business: l.business.to_bytes().to_vec(),
        sending: l.sending.as_ref().map(own_to_proto),
        retired_chain_ids: l.retired.clone(),
        consents: l
            .customers
            .iter()
            .map(|(k, s)| pb::ConsentState {
                customer: k.to_vec(),
                subscribed: s.subscribed,
                time: s.time,
            })
            .collect(),
        audit: l.audit.iter().map(Consent::to_evidence).collect(),
    };
    Zeroizing::new(record.encode_to_vec())
}

fn decode_list(bytes: &[u8]) -> Result<BroadcastList, StateError> {
    if bytes.len() > MAX_BROADCAST_RECORD_SIZE {
        return Err(StateError::TooLarge);
    }
    let rules = [
        Rule::scalars(6, MAX_CHAINS_PER_SENDER),
        Rule::elements(7, MAX_BROADCAST_CUSTOMERS, MIN_KEY_ELEMENT),
        Rule::elements(8, MAX_AUDIT_ENTRIES, MIN_EVIDENCE),
    ];
    precheck::check(bytes, rules, |_, _| Ok(())).map_err(limit)?;
    let p = decode_secret::<pb::BroadcastListRecord>(bytes).map_err(|_| StateError::Malformed)?;
    if p.version != STATE_VERSION {
        return Err(StateError::UnknownVersion(p.version));
    }
    if p.consents.len() > MAX_BROADCAST_CUSTOMERS || p.audit.len() > MAX_AUDIT_ENTRIES {
        return Err(StateError::LimitExceeded);
    }
    let retired = retired_from_proto(&p.retired_chain_ids)?;
    let list = ChannelId::new(&p.list_id).map_err(|_| StateError::Malformed)?;
    let business = IdentityKey::from_bytes(&p.business).map_err(StateError::InvalidKey)?;
    let sending = p.sending.as_ref().map(own_from_proto).transpose()?;
    // Customer keys are identifiers here (nothing is computed with them): their points were
    // checked when their consent was verified.
    let mut customers = BTreeMap::new();
    let mut subscribed = 0;
    for c in &p.consents {
        let state = CustomerState {
            subscribed: c.subscribed,
            time: c.time,
        };
        if customers.insert(key32(&c.customer)?, state).is_some() {
            return Err(StateError::Malformed);
        }
        subscribed += usize::from(c.subscribed);
    }
    let mut audit = Vec::with_capacity(p.audit.len());
    for e in &p.audit {
        let consent = Consent::from_trusted_evidence(e).ok_or(StateError::Malformed)?;
        // An entry must agree with the state it led to: same list and business, and never
        // newer than the customer's last accepted statement.
        let known = customers.get(consent.customer());
        if consent.list() != &list
            || consent.business() != business.as_bytes()
            || known.is_none_or(|s| consent.time() > s.time)
        {
            return Err(StateError::Malformed);
        }
        audit.push(consent);
    }
    Ok(BroadcastList {
        list,
        business,
        sending,
        retired,
        customers,
        subscribed,
        audit,
        revision: p.revision,
    })
}

fn encode_subscription(s: &BroadcastSubscription) -> Zeroizing<Vec<u8>> {
    let business = s.business.to_bytes();
    let record = pb::BroadcastSubscriptionRecord {
        version: STATE_VERSION,
        revision: s.revision,
        list_id: s.list.as_bytes().to_vec(),
        business: business.to_vec(),
        customer: s.customer.to_bytes().to_vec(),
        time: s.time,
        subscribed: s.subscribed,
        chains: s
            .chains
            .senders
            .get(&business)
            .map(|c| chains_to_proto(&business, c)),
    };
    Zeroizing::new(record.encode_to_vec())
}

fn decode_subscription(bytes: &[u8]) -> Result<BroadcastSubscription, StateError> {
    if bytes.len() > MAX_GROUP_RECORD_SIZE {
        return Err(StateError::TooLarge);
    }
    precheck_senders(bytes, 8, 1, true, None)?;
    let p = decode_secret::<pb::BroadcastSubscriptionRecord>(bytes)
        .map_err(|_| StateError::Malformed)?;
    if p.version != STATE_VERSION {
        return Err(StateError::UnknownVersion(p.version));
    }
    let senders: &[pb::SenderChains] = p.chains.as_slice();
    check_counts(senders, 1)?;
    let list = ChannelId::new(&p.list_id).map_err(|_| StateError::Malformed)?;
    let business = IdentityKey::from_bytes(&p.business).map_err(StateError::InvalidKey)?;
    let customer = IdentityKey::from_bytes(&p.customer).map_err(StateError::InvalidKey)?;
    if !p.subscribed && !senders.is_empty() {
        return Err(StateError::Malformed);
    }
    let chains = store_from_proto(senders, |s| s == business.as_bytes())?;
    Ok(BroadcastSubscription {
        list,
        business,
        customer,
        time: p.time,
        subscribed: p.subscribed,
        chains,
        revision: p.revision,
    })
}

impl Group {
    /// Serialized as `group_state.proto` `GroupRecord` (versioned). Contains secrets: seal it.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        encode_group(self)
    }

    /// Restores a group written by [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// [`StateError`] for malformed, oversized, over-limit or unknown-version records, or keys
    /// and a roster that fail validation.
    pub fn from_bytes(bytes: &[u8]) -> Result<Group, StateError> {
        decode_group(bytes)
    }
}

impl BroadcastList {
    /// Serialized as `group_state.proto` `BroadcastListRecord` (versioned), audit log
    /// included. Contains secrets: seal it.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        encode_list(self)
    }

    /// Restores a list written by [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// As [`Group::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<BroadcastList, StateError> {
        decode_list(bytes)
    }
}

impl BroadcastSubscription {
    /// Serialized as `group_state.proto` `BroadcastSubscriptionRecord` (versioned). Contains
    /// secrets: seal it.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        encode_subscription(self)
    }

    /// Restores a subscription written by [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// As [`Group::from_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<BroadcastSubscription, StateError> {
        decode_subscription(bytes)
    }
}

// The prost structs hold copies of secrets while encoding and decoding: wipe them on drop.
impl Drop for pb::OwnChain {
    fn drop(&mut self) {
        self.chain_key.zeroize();
        self.signing_seed.zeroize();
    }
}

impl Drop for pb::PeerChain {
    fn drop(&mut self) {
        self.chain_key.zeroize();
    }
}

impl Drop for pb::SkippedGroupKey {
    fn drop(&mut self) {
        self.message_key.zeroize();
    }
}
