//! The consent audit log (PROTOCOL.md §7.9): every statement a broadcast list accepted, with
//! the customer's signature, in a form a data-protection officer can read and anyone can
//! verify without trusting the business.

use core::fmt;
use std::collections::BTreeMap;

use prost::Message;

use super::channel::ChannelId;
use super::consent::{Consent, ConsentAction};
use super::error::{AuditError, ConsentError};
use super::proto::state as pb;
use crate::consts::{MAX_AUDIT_ENTRIES, MAX_BROADCAST_RECORD_SIZE, STATE_VERSION};
use crate::keys::{Hex, IdentityKey};
use crate::precheck::{self, Precheck, Rule};

/// Consent statements accepted by one broadcast list, in acceptance order.
///
/// [`to_bytes`](Self::to_bytes) is the verifiable export; [`from_bytes`](Self::from_bytes)
/// re-checks every signature and the order of every customer's statements; `Display` is the
/// human-readable rendering.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditLog {
    list: ChannelId,
    business: IdentityKey,
    entries: Vec<Consent>,
}

impl AuditLog {
    pub(crate) fn new(list: &ChannelId, business: &IdentityKey, entries: Vec<Consent>) -> Self {
        AuditLog {
            list: list.clone(),
            business: *business,
            entries,
        }
    }

    /// The list.
    pub fn list(&self) -> &ChannelId {
        &self.list
    }

    /// The business that ran it.
    pub fn business(&self) -> &IdentityKey {
        &self.business
    }

    /// Every statement, oldest first.
    pub fn entries(&self) -> &[Consent] {
        &self.entries
    }

    /// The log restricted to one customer (a data subject's access request); still verifiable.
    pub fn for_customer(&self, customer: &IdentityKey) -> AuditLog {
        AuditLog {
            list: self.list.clone(),
            business: self.business,
            entries: self
                .entries
                .iter()
                .filter(|e| e.customer() == customer.as_bytes())
                .cloned()
                .collect(),
        }
    }

    /// Whether `customer` is subscribed according to this log alone.
    pub fn is_subscribed(&self, customer: &IdentityKey) -> bool {
        self.entries
            .iter()
            .rev()
            .find(|e| e.customer() == customer.as_bytes())
            .is_some_and(|e| e.action() == ConsentAction::Subscribe)
    }

    /// The verifiable export: `group_state.proto` `AuditLog`.
    pub fn to_bytes(&self) -> Vec<u8> {
        pb::AuditLog {
            version: STATE_VERSION,
            list_id: self.list.as_bytes().to_vec(),
            business: self.business.to_bytes().to_vec(),
            entries: self.entries.iter().map(Consent::to_evidence).collect(),
        }
        .encode_to_vec()
    }

    /// Loads and verifies an exported log: for every entry, the customer's signature
    /// (`verify_strict`), that it names this log's list and business, and that each customer's
    /// statements have increasing times and alternate between subscribe and unsubscribe.
    ///
    /// # Errors
    /// [`AuditError`] naming the first entry that fails.
    pub fn from_bytes(bytes: &[u8]) -> Result<AuditLog, AuditError> {
        if bytes.len() > MAX_BROADCAST_RECORD_SIZE {
            return Err(AuditError::TooLarge);
        }
        // The entry count, from the bytes (a list never holds more than MAX_AUDIT_ENTRIES), and
        // no entry shorter than a signature.
        let entries = Rule::elements(4, MAX_AUDIT_ENTRIES, 66);
        precheck::check(bytes, [entries], |_, _| Ok(())).map_err(|e| match e {
            Precheck::TooMany => AuditError::TooLarge,
            Precheck::Malformed => AuditError::Malformed,
        })?;
        let p = pb::AuditLog::decode(bytes).map_err(|_| AuditError::Malformed)?;
        if p.version != STATE_VERSION {
            return Err(AuditError::UnknownVersion(p.version));
        }
        let list = ChannelId::new(&p.list_id).map_err(|_| AuditError::Malformed)?;
        let business = IdentityKey::from_bytes(&p.business).map_err(|_| AuditError::Malformed)?;
        let mut last: BTreeMap<[u8; 32], (u64, ConsentAction)> = BTreeMap::new();
        let mut entries = Vec::with_capacity(p.entries.len());
        for (index, evidence) in p.entries.iter().enumerate() {
            let bad = |reason| AuditError::InvalidEntry { index, reason };
            let e = Consent::from_evidence(evidence).map_err(bad)?;
            if *e.list() != list {
                return Err(bad(ConsentError::WrongList));
            }
            if e.business() != business.as_bytes() {
                return Err(bad(ConsentError::WrongBusiness));
            }
            let key = *e.customer();
            if let Some((time, action)) = last.get(&key)
                && (e.time() <= *time || e.action() == *action)
            {
                return Err(AuditError::OutOfOrder { index });
            }
            last.insert(key, (e.time(), e.action()));
            entries.push(e);
        }
        Ok(AuditLog {
            list,
            business,
            entries,
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (proleptic Gregorian calendar;
/// the days-to-civil algorithm of H. Hinnant), or `None` past year 9999.
fn utc(seconds: u64) -> Option<String> {
    if seconds >= 253_402_300_800 {
        return None;
    }
    let days = (seconds / 86_400) as i64;
    let rem = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    ))
}

/// The human-readable rendering: a header, then per entry its time, action, customer key,
/// and the evidence (wire `SignedConsent`, hex) to check it with.
impl fmt::Display for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subscribes = self
            .entries
            .iter()
            .filter(|e| e.action() == ConsentAction::Subscribe)
            .count();
        writeln!(f, "Consent audit log (sealpost protocol v1)")?;
        writeln!(f, "list:      {}", self.list)?;
        writeln!(f, "business:  {:?}", Hex(self.business.as_bytes()))?;
        writeln!(
            f,
            "entries:   {} ({} consents given, {} withdrawn)",
            self.entries.len(),
            subscribes,
            self.entries.len() - subscribes
        )?;
        writeln!(
            f,
            "evidence:  each entry is a statement signed with Ed25519 by the customer key it \
             names, over \"sealpost consent v1\" || statement (PROTOCOL.md 7.8)"
        )?;
        for (i, e) in self.entries.iter().enumerate() {
            let when = utc(e.time()).unwrap_or_else(|| "(beyond year 9999)".into());
            let what = match e.action() {
                ConsentAction::Subscribe => "CONSENT GIVEN    ",
                ConsentAction::Unsubscribe => "CONSENT WITHDRAWN",
            };
            writeln!(
                f,
                "#{:<5} {when} (t={})  {what}  customer {:?}",
                i + 1,
                e.time(),
                Hex(e.customer())
            )?;
            writeln!(f, "       evidence {:?}", Hex(&e.to_evidence()))?;
        }
        Ok(())
    }
}

impl fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditLog")
            .field("list", &self.list)
            .field("business", &self.business)
            .field("entries", &self.entries.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_rendering() {
        assert_eq!(utc(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(utc(951_782_400).as_deref(), Some("2000-02-29T00:00:00Z"));
        assert_eq!(utc(1_764_000_000).as_deref(), Some("2025-11-24T16:00:00Z"));
        assert_eq!(
            utc(253_402_300_799).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(utc(u64::MAX), None);
    }
}
