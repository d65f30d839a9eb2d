//! Consent statements (PROTOCOL.md §7.8): what a customer's own device signs to join or leave
//! a broadcast list, and what a data-protection officer can later verify.
//!
//! Signature = Ed25519(customer identity, `"sealpost consent v1" || statement bytes`), checked
//! with `verify_strict`; the statement bytes are kept exactly as signed.

use core::fmt;

use prost::Message;

use super::channel::ChannelId;
use super::control::Control;
use super::error::ConsentError;
use super::proto::wire as pb;
use crate::consts::LABEL_CONSENT;
use crate::keys::{Hex, IdentityKey, IdentityKeyPair};
use crate::session::Session;

/// What a customer states about a broadcast list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentAction {
    /// Opt in: the business may send this list's broadcasts to the customer.
    Subscribe,
    /// Withdraw: the business must stop, and rekeys before its next broadcast.
    Unsubscribe,
}

impl ConsentAction {
    fn to_wire(self) -> pb::ConsentAction {
        match self {
            ConsentAction::Subscribe => pb::ConsentAction::Subscribe,
            ConsentAction::Unsubscribe => pb::ConsentAction::Unsubscribe,
        }
    }

    fn from_wire(v: i32) -> Option<Self> {
        match pb::ConsentAction::try_from(v).ok()? {
            pb::ConsentAction::Subscribe => Some(ConsentAction::Subscribe),
            pb::ConsentAction::Unsubscribe => Some(ConsentAction::Unsubscribe),
            pb::ConsentAction::Unspecified => None,
        }
    }
}

/// A consent statement whose customer signature has been verified: the evidence in an
/// [`AuditLog`](super::AuditLog).
///
/// Keys are kept as their 32-byte encodings: they were validated when the signature was
/// checked, and a list restoring thousands of entries from its own sealed record need not
/// repeat the point checks.
#[derive(Clone, PartialEq, Eq)]
pub struct Consent {
    list: ChannelId,
    business: [u8; 32],
    customer: [u8; 32],
    action: ConsentAction,
    time: u64,
    /// Encoded `ConsentStatement`, exactly as signed.
    statement: Vec<u8>,
    signature: [u8; 64],
}

fn signed_message(statement: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(LABEL_CONSENT.len() + statement.len());
    m.extend_from_slice(LABEL_CONSENT);
    m.extend_from_slice(statement);
    m
}

impl Consent {
    /// Creates and signs a statement with the customer's identity key.
    pub(crate) fn sign(
        customer: &IdentityKeyPair,
        business: &IdentityKey,
        list: &ChannelId,
        action: ConsentAction,
        time: u64,
    ) -> Consent {
        let statement = pb::ConsentStatement {
            list_id: list.as_bytes().to_vec(),
            business: business.to_bytes().to_vec(),
            customer: customer.public_key().to_bytes().to_vec(),
            action: action.to_wire().into(),
            time,
        }
        .encode_to_vec();
        let signature = customer.sign(&signed_message(&statement));
        Consent {
            list: list.clone(),
            business: business.to_bytes(),
            customer: customer.public_key().to_bytes(),
            action,
            time,
            statement,
            signature,
        }
    }

    /// Parses a statement and checks its signature.
    ///
    /// Order: parse and lengths; the statement must name `customer` if given (the pairwise
    /// peer: [`ConsentError::WrongCustomer`]); the signature under the named customer's key
    /// ([`ConsentError::BadSignature`]); the action; the statement must name `business` if
    /// given ([`ConsentError::WrongBusiness`]). The list is the caller's to compare.
    pub(crate) fn verify(
        statement: &[u8],
        signature: &[u8],
        customer: Option<&IdentityKey>,
        business: Option<&IdentityKey>,
    ) -> Result<Consent, ConsentError> {
        let s = pb::ConsentStatement::decode(statement).map_err(|_| ConsentError::Malformed)?;
        let list = ChannelId::new(&s.list_id).map_err(|_| ConsentError::Malformed)?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| ConsentError::BadSignature)?;
        // A key we already hold was validated when we got it: compare bytes, skip the point
        // checks.
        let customer = match customer {
            Some(peer) if peer.as_bytes().as_slice() == s.customer.as_slice() => *peer,
            Some(_) => return Err(ConsentError::WrongCustomer),
            None => IdentityKey::from_bytes(&s.customer).map_err(|_| ConsentError::Malformed)?,
        };
        customer
            .verify(&signed_message(statement), &signature)
            .map_err(|_| ConsentError::BadSignature)?;
        let action = ConsentAction::from_wire(s.action).ok_or(ConsentError::Malformed)?;
        let business = match business {
            Some(b) if b.as_bytes().as_slice() == s.business.as_slice() => *b,
            Some(_) => return Err(ConsentError::WrongBusiness),
            None => IdentityKey::from_bytes(&s.business).map_err(|_| ConsentError::Malformed)?,
        };
        Ok(Consent {
            list,
            business: business.to_bytes(),
            customer: customer.to_bytes(),
            action,
            time: s.time,
            statement: statement.to_vec(),
            signature,
        })
    }

    /// Parses wire `SignedConsent` bytes from our own sealed record, without the signature
    /// and point checks it passed when it was accepted ([`from_evidence`](Self::from_evidence)
    /// is the untrusted path).
    pub(crate) fn from_trusted_evidence(bytes: &[u8]) -> Option<Consent> {
        let s = pb::SignedConsent::decode(bytes).ok()?;
        let st = pb::ConsentStatement::decode(s.statement.as_slice()).ok()?;
        Some(Consent {
            list: ChannelId::new(&st.list_id).ok()?,
            business: st.business.as_slice().try_into().ok()?,
            customer: st.customer.as_slice().try_into().ok()?,
            action: ConsentAction::from_wire(st.action)?,
            time: st.time,
            signature: s.signature.as_slice().try_into().ok()?,
            statement: s.statement,
        })
    }

    /// Wire `SignedConsent` bytes: the verifiable evidence.
    pub fn to_evidence(&self) -> Vec<u8> {
        pb::SignedConsent {
            statement: self.statement.clone(),
            signature: self.signature.to_vec(),
        }
        .encode_to_vec()
    }

    /// Parses and verifies wire `SignedConsent` bytes (as produced by
    /// [`to_evidence`](Self::to_evidence)) under the customer key the statement names.
    ///
    /// # Errors
    /// [`ConsentError::Malformed`] or [`ConsentError::BadSignature`].
    pub fn from_evidence(bytes: &[u8]) -> Result<Consent, ConsentError> {
        let s = pb::SignedConsent::decode(bytes).map_err(|_| ConsentError::Malformed)?;
        Self::verify(&s.statement, &s.signature, None, None)
    }

    /// The list the statement is about.
    pub fn list(&self) -> &ChannelId {
        &self.list
    }

    /// The business it is addressed to (32-byte identity key).
    pub fn business(&self) -> &[u8; 32] {
        &self.business
    }

    /// The customer who signed it (32-byte identity key).
    pub fn customer(&self) -> &[u8; 32] {
        &self.customer
    }

    /// Subscribe or unsubscribe.
    pub fn action(&self) -> ConsentAction {
        self.action
    }

    /// The time the customer's device stated (seconds since the Unix epoch by convention).
    pub fn time(&self) -> u64 {
        self.time
    }

    /// The signed statement bytes (wire `ConsentStatement`).
    pub fn statement(&self) -> &[u8] {
        &self.statement
    }

    /// The customer's Ed25519 signature over `"sealpost consent v1" || statement`.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The control payload carrying this statement.
    pub(crate) fn payload(&self) -> Vec<u8> {
        let mut c = Control::new(&self.list);
        c.consent = Some((self.statement.clone(), self.signature.to_vec()));
        c.encode().to_vec()
    }
}

impl fmt::Debug for Consent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consent")
            .field("list", &self.list)
            .field("customer", &Hex(&self.customer))
            .field("action", &self.action)
            .field("time", &self.time)
            .field("signature", &Hex(&self.signature))
            .finish_non_exhaustive()
    }
}

/// Creates a signed consent statement on the customer's device, as the plaintext to send to
/// the business over `to_business` (the session names the business; `time` is the caller's
/// clock, and must increase from one statement to the next for this list).
///
/// [`BroadcastSubscription`](super::BroadcastSubscription) wraps this and keeps the time order;
/// use this directly to withdraw from a list whose subscription state was lost.
///
/// # Errors
/// [`ConsentError::WrongSession`] if `to_business` is not a session of `customer`.
pub fn consent_payload(
    customer: &IdentityKeyPair,
    to_business: &Session,
    list: &ChannelId,
    action: ConsentAction,
    time: u64,
) -> Result<Vec<u8>, ConsentError> {
    if to_business.local_identity() != customer.public_key() {
        return Err(ConsentError::WrongSession);
    }
    Ok(Consent::sign(customer, to_business.remote_identity(), list, action, time).payload())
}
