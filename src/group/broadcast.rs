//! Consent-bound broadcast lists (PROTOCOL.md §7.8): the business sends one message on its
//! sender chain to every customer who opted in from their own device; a withdrawal deletes the
//! chain at once, so nothing can be broadcast on it again.

use core::fmt;
use std::collections::BTreeMap;

use rand_core::CryptoRng;

use super::audit::AuditLog;
use super::channel::{ChannelId, Fanout};
use super::consent::{Consent, ConsentAction};
use super::control::Control;
use super::error::{ChannelEncryptError, ConsentError, ControlError};
use super::sender_chain::{SenderChain, retire};
use crate::consts::{MAX_AUDIT_ENTRIES, MAX_BROADCAST_CUSTOMERS};
use crate::keys::IdentityKey;
use crate::session::Session;

/// What the list remembers of one customer: enough to reject a replayed statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CustomerState {
    pub(crate) subscribed: bool,
    /// Time of the last accepted statement.
    pub(crate) time: u64,
}

/// What an accepted consent statement changed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConsentOutcome {
    /// The customer joined the list.
    Subscribed {
        /// Who.
        customer: IdentityKey,
        /// Our current chain for them (deliver over their session); `None` while a rekey is
        /// due, whose distribution will include them.
        distribution: Option<Fanout>,
    },
    /// The customer left; the sending chain is gone and [`BroadcastList::rekey`] is due.
    Unsubscribed {
        /// Who.
        customer: IdentityKey,
    },
}

/// A business's broadcast list: 1:n pushes to customers who opted in.
///
/// A customer joins only with a [`Consent`] statement signed by their own identity key and
/// received over their own pairwise session. A withdrawal removes them and deletes the
/// sending chain in the same call: [`broadcast`](Self::broadcast) then fails with
/// [`ChannelEncryptError::RekeyRequired`] until [`rekey`](Self::rekey) has started a chain the
/// leaver never receives. Every accepted statement goes into the [`AuditLog`].
///
/// ```
/// use sealpost::group::{BroadcastList, BroadcastSubscription, ChannelId, ConsentOutcome};
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
/// let (shop, eve) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
/// let (mut eve_shop, mut shop_eve) = connect(&eve, &shop);
/// let list_id = ChannelId::new(b"product-updates")?;
/// let mut list = BroadcastList::new(shop.public_key(), list_id.clone());
///
/// // The customer's device signs the opt-in and sends it over the pairwise session.
/// let (mut feed, opt_in) = BroadcastSubscription::subscribe(&eve, &eve_shop, list_id, 1_764_000_000)?;
/// let wire = eve_shop.encrypt(&mut rng, &opt_in)?;
/// let payload = shop_eve.decrypt(&wire)?;
/// list.receive(&shop_eve, &payload)?;
///
/// // The first broadcast needs a chain: its distribution goes to every subscriber.
/// let distribution = list.rekey(&mut rng);
/// let wire = distribution.seal_for(&mut shop_eve, &mut rng)?;
/// let payload = eve_shop.decrypt(&wire)?;
/// feed.receive(&eve_shop, &payload)?;
/// let push = list.broadcast(&mut rng, b"spring catalogue is out")?;
/// assert_eq!(feed.decrypt(&push)?, b"spring catalogue is out");
///
/// // Withdrawal: the chain is gone before anything else can be sent.
/// let opt_out = feed.unsubscribe(&eve, 1_764_000_600)?;
/// let wire = eve_shop.encrypt(&mut rng, &opt_out)?;
/// let payload = shop_eve.decrypt(&wire)?;
/// let outcome = list.receive(&shop_eve, &payload)?;
/// assert!(matches!(outcome, ConsentOutcome::Unsubscribed { .. }));
/// assert!(list.broadcast(&mut rng, b"more news").is_err());
/// assert_eq!(list.audit_log().entries().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct BroadcastList {
    pub(crate) list: ChannelId,
    pub(crate) business: IdentityKey,
    /// `None` until the first rekey and after every withdrawal.
    pub(crate) sending: Option<SenderChain>,
    pub(crate) retired: Vec<u32>,
    pub(crate) customers: BTreeMap<[u8; 32], CustomerState>,
    pub(crate) subscribed: usize,
    /// Accepted statements, in acceptance order.
    pub(crate) audit: Vec<Consent>,
    pub(crate) revision: u64,
}

impl BroadcastList {
    /// An empty list of the business `business`. It has no chain yet: call
    /// [`rekey`](Self::rekey) before the first broadcast.
    pub fn new(business: &IdentityKey, list: ChannelId) -> Self {
        BroadcastList {
            list,
            business: *business,
            sending: None,
            retired: Vec::new(),
            customers: BTreeMap::new(),
            subscribed: 0,
            audit: Vec::new(),
            revision: 0,
        }
    }

    /// Processes a consent statement received over the pairwise session `from`.
    ///
    /// Checks, in order: the session is the business's; the payload is a consent control
    /// message for this list; the statement names the session's peer as customer
    /// ([`WrongCustomer`](ConsentError::WrongCustomer)); the customer's signature
    /// ([`BadSignature`](ConsentError::BadSignature)); the statement's list
    /// ([`WrongList`](ConsentError::WrongList)) and business
    /// ([`WrongBusiness`](ConsentError::WrongBusiness)); its time is after the customer's last
    /// accepted statement ([`Replayed`](ConsentError::Replayed)); it changes the customer's
    /// state; there is room. Then it is applied and logged. A withdrawal deletes the sending
    /// chain.
    ///
    /// # Errors
    /// [`ConsentError`]; the list is unchanged on every error.
    pub fn receive(
        &mut self,
        from: &Session,
        payload: &[u8],
    ) -> Result<ConsentOutcome, ConsentError> {
        if *from.local_identity() != self.business {
            return Err(ConsentError::WrongSession);
        }
        let c = Control::decode(payload).map_err(|e| match e {
            ControlError::UnsupportedVersion(v) => ConsentError::UnsupportedVersion(v),
            _ => ConsentError::Malformed,
        })?;
        let Some((statement, signature)) = &c.consent else {
            return Err(ConsentError::Malformed);
        };
        if c.channel != self.list {
            return Err(ConsentError::WrongList);
        }
        let consent = Consent::verify(
            statement,
            signature,
            Some(from.remote_identity()),
            Some(&self.business),
        )?;
        if *consent.list() != self.list {
            return Err(ConsentError::WrongList);
        }
        let customer = *from.remote_identity();
        let key = *consent.customer();
        let known = self.customers.get(&key).copied();
        if let Some(k) = known
            && consent.time() <= k.time
        {
            return Err(ConsentError::Replayed {
                time: consent.time(),
                last: k.time,
            });
        }
        let was_subscribed = known.is_some_and(|k| k.subscribed);
        let subscribe = consent.action() == ConsentAction::Subscribe;
        match (subscribe, was_subscribed) {
            (true, true) => return Err(ConsentError::AlreadySubscribed),
            (false, false) => return Err(ConsentError::NotSubscribed),
            _ => {}
        }
        if known.is_none() && self.customers.len() >= MAX_BROADCAST_CUSTOMERS {
            return Err(ConsentError::ListFull);
        }
        if self.audit.len() >= MAX_AUDIT_ENTRIES {
            return Err(ConsentError::AuditLogFull);
        }

        self.customers.insert(
            key,
            CustomerState {
                subscribed: subscribe,
                time: consent.time(),
            },
        );
        self.audit.push(consent);
        self.revision += 1;
        if subscribe {
            self.subscribed += 1;
            let distribution = self.sending.as_ref().map(|chain| {
                let mut c = Control::new(&self.list);
                c.distribution = Some(chain.distribution());
                Fanout::new(c.encode(), vec![key])
            });
            Ok(ConsentOutcome::Subscribed {
                customer,
                distribution,
            })
        } else {
            self.subscribed -= 1;
            // The leaver holds this chain's key: delete it now, so no code path can send on it.
            // Dropped in place (not `take`n out), so no copy of it stays behind in the list.
            if let Some(old) = &self.sending {
                retire(&mut self.retired, old.chain_id);
            }
            self.sending = None;
            Ok(ConsentOutcome::Unsubscribed { customer })
        }
    }

    /// Starts a new sending chain and returns its distribution for every current subscriber.
    /// Draws the chain from `rng` (PROTOCOL.md §7.2).
    pub fn rekey<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Fanout {
        if let Some(old) = self.sending.take() {
            retire(&mut self.retired, old.chain_id);
        }
        let chain = SenderChain::generate(rng, &self.retired);
        let mut c = Control::new(&self.list);
        c.distribution = Some(chain.distribution());
        self.sending = Some(chain);
        self.revision += 1;
        Fanout::new(c.encode(), self.subscribers().copied().collect())
    }

    /// Encrypts one broadcast for every subscriber; the result goes to the relay as is.
    ///
    /// # Errors
    /// [`ChannelEncryptError::RekeyRequired`] before the first [`rekey`](Self::rekey) and after
    /// every withdrawal; otherwise as [`Group::encrypt`](super::Group::encrypt).
    pub fn broadcast<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ChannelEncryptError> {
        let mut out = Vec::new();
        self.broadcast_into(rng, plaintext, &mut out)?;
        Ok(out)
    }

    /// Appends one broadcast to `out` (no other allocation).
    ///
    /// # Errors
    /// As [`broadcast`](Self::broadcast); `out` is unchanged on error.
    pub fn broadcast_into<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ChannelEncryptError> {
        let Some(chain) = self.sending.as_mut() else {
            return Err(ChannelEncryptError::RekeyRequired);
        };
        chain.encrypt_into(&self.list, rng, plaintext, out)?;
        self.revision += 1;
        Ok(())
    }

    /// Whether the next broadcast needs a [`rekey`](Self::rekey) first.
    pub fn needs_rekey(&self) -> bool {
        self.sending.is_none()
    }

    /// Identity keys (32-byte encodings) of the current subscribers, ascending.
    pub fn subscribers(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.customers
            .iter()
            .filter(|(_, s)| s.subscribed)
            .map(|(k, _)| k)
    }

    /// Number of current subscribers.
    pub fn subscriber_count(&self) -> usize {
        self.subscribed
    }

    /// Whether `customer` is subscribed.
    pub fn is_subscribed(&self, customer: &IdentityKey) -> bool {
        self.customers
            .get(customer.as_bytes())
            .is_some_and(|s| s.subscribed)
    }

    /// The list id.
    pub fn id(&self) -> &ChannelId {
        &self.list
    }

    /// The business's identity.
    pub fn business(&self) -> &IdentityKey {
        &self.business
    }

    /// A copy of the audit log: every statement accepted since the last
    /// [`take_audit_log`](Self::take_audit_log).
    pub fn audit_log(&self) -> AuditLog {
        AuditLog::new(&self.list, &self.business, self.audit.clone())
    }

    /// Moves the audit log out (store it append-only), making room for
    /// `MAX_AUDIT_ENTRIES` more statements. Replay protection does not depend on it.
    pub fn take_audit_log(&mut self) -> AuditLog {
        self.revision += 1;
        AuditLog::new(&self.list, &self.business, core::mem::take(&mut self.audit))
    }

    /// Increases with every change; store it for compare-and-swap.
    pub fn revision(&self) -> u64 {
        self.revision
    }
}

impl fmt::Debug for BroadcastList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastList")
            .field("id", &self.list)
            .field("business", &self.business)
            .field("sending", &self.sending)
            .field("subscribers", &self.subscribed)
            .field("customers_known", &self.customers.len())
            .field("audit_entries", &self.audit.len())
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}
