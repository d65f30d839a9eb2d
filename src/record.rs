//! Everything a device keeps about one peer: the current session and up to
//! `MAX_ARCHIVED_SESSIONS` previous ones (PROTOCOL.md §6.3).
//!
//! A record finds the session a message belongs to without trial decryption: a known ratchet
//! key or base key is matched directly, and a new ratchet key by its session tag (one HMAC per
//! session), so a forged message costs at most one DH step however many sessions are archived.

use std::collections::VecDeque;

use prost::Message;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::consts::{MAX_ARCHIVED_SESSIONS, MAX_SESSION_RECORD_SIZE, STATE_VERSION};
use crate::error::{DecryptError, IdentityMismatch, RecordError, StateError};
use crate::keys::{IdentityKey, IdentityKeyPair};
use crate::prekey::{PreKeys, VerifiedBundle};
use crate::session::Session;
use crate::state::{Origin, decode_secret};
use crate::wire::{Envelope, RatchetView, proto::state as pb};

/// The sessions with one peer identity, newest first.
///
/// ```
/// use sealpost::{IdentityKeyPair, PreKeyBundle, PreKeys, SessionRecord};
///
/// let mut rng = rand::rng();
/// let business = IdentityKeyPair::generate(&mut rng);
/// let mut prekeys = PreKeys::new();
/// prekeys.generate_signed_prekey(&business, 0, &mut rng)?;
/// let bundle = PreKeyBundle::from_bytes(&prekeys.bundle(&business, None)?.to_bytes())?.verify()?;
///
/// let customer = IdentityKeyPair::generate(&mut rng);
/// let mut at_customer = SessionRecord::new();
/// at_customer.initiate(&customer, &bundle, &mut rng)?;
/// let m = at_customer.encrypt(&mut rng, b"hi")?;
///
/// let mut at_business = SessionRecord::new();
/// assert_eq!(at_business.decrypt(&business, &mut prekeys, &m)?, b"hi");
/// let reply = at_business.encrypt(&mut rng, b"hello!")?;
/// assert_eq!(at_customer.decrypt(&customer, &mut PreKeys::new(), &reply)?, b"hello!");
/// assert!(at_business.revision() > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SessionRecord {
    revision: u64,
    remote_identity: Option<IdentityKey>,
    /// Index 0 is the current session. Boxed, so that archiving, promoting and the deque's
    /// growth move only pointers, never a session's keys.
    sessions: VecDeque<Box<Session>>,
}

impl SessionRecord {
    /// A record that holds no session yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Increases with every change: store the record with compare-and-swap on it.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The peer's identity, once the record holds a session.
    pub fn remote_identity(&self) -> Option<&IdentityKey> {
        self.remote_identity.as_ref()
    }

    /// The session used for sending.
    pub fn current(&self) -> Option<&Session> {
        self.sessions.front().map(|s| &**s)
    }

    /// Number of previous sessions kept besides the current one.
    pub fn archived(&self) -> usize {
        self.sessions.len().saturating_sub(1)
    }

    fn check_identity(&self, claimed: &IdentityKey) -> Result<(), RecordError> {
        match &self.remote_identity {
            Some(known) if known != claimed => {
                Err(RecordError::UntrustedIdentity(Box::new(IdentityMismatch {
                    expected: *known,
                    received: *claimed,
                })))
            }
            _ => Ok(()),
        }
    }

    /// Makes `session` current, archiving the previous current one.
    fn push_current(&mut self, session: Session) {
        self.remote_identity = Some(*session.remote_identity());
        self.sessions.push_front(Box::new(session));
        self.sessions.truncate(MAX_ARCHIVED_SESSIONS + 1);
    }

    fn promote(&mut self, idx: usize) {
        if idx > 0
            && let Some(s) = self.sessions.remove(idx)
        {
            self.sessions.push_front(s);
        }
    }

    /// Starts a new session from a verified bundle; it becomes current and the previous one is
    /// archived (messages still in flight for it keep decrypting).
    ///
    /// # Errors
    /// [`RecordError::UntrustedIdentity`] if the bundle's identity differs from this record's
    /// peer (call [`trust_new_identity`](Self::trust_new_identity) to accept the change), or
    /// [`RecordError::Handshake`].
    pub fn initiate<R: CryptoRng + ?Sized>(
        &mut self,
        identity: &IdentityKeyPair,
        bundle: &VerifiedBundle,
        rng: &mut R,
    ) -> Result<(), RecordError> {
        self.check_identity(bundle.identity())?;
        let session = Session::initiate(identity, bundle, rng).map_err(RecordError::Handshake)?;
        self.push_current(session);
        self.revision += 1;
        Ok(())
    }

    /// The caller accepted a changed identity key for this peer (the app's trust decision):
    /// the sessions with the old identity are deleted and the record starts afresh.
    pub fn trust_new_identity(&mut self, identity: IdentityKey) {
        if self.remote_identity != Some(identity) {
            self.sessions.clear();
            self.remote_identity = Some(identity);
            self.revision += 1;
        }
    }

    /// Encrypts with the current session.
    ///
    /// # Errors
    /// [`RecordError::NoSession`], or [`RecordError::Encrypt`].
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, RecordError> {
        let mut out = Vec::new();
        self.encrypt_into(rng, plaintext, &mut out)?;
        Ok(out)
    }

    /// Encrypts with the current session, appending the wire message to `out`.
    ///
    /// # Errors
    /// As [`encrypt`](Self::encrypt).
    pub fn encrypt_into<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        let session = self.sessions.front_mut().ok_or(RecordError::NoSession)?;
        session
            .encrypt_into(rng, plaintext, out)
            .map_err(RecordError::Encrypt)?;
        self.revision += 1;
        Ok(())
    }

    /// Decrypts a message from this record's peer, creating a session from a new prekey message
    /// (first contact, a reinstall, or simultaneous initiation) with `identity` and `prekeys`.
    ///
    /// The session that decrypts becomes current. On error nothing changes: not the record,
    /// not `prekeys`.
    ///
    /// # Errors
    /// [`RecordError`]: the decryption or handshake error, or an identity change.
    pub fn decrypt(
        &mut self,
        identity: &IdentityKeyPair,
        prekeys: &mut PreKeys,
        message: &[u8],
    ) -> Result<Vec<u8>, RecordError> {
        let mut out = Vec::new();
        self.decrypt_into(identity, prekeys, message, &mut out)?;
        Ok(out)
    }

    /// [`decrypt`](Self::decrypt), appending the plaintext to `out`.
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt); `out` is unchanged on error.
    pub fn decrypt_into(
        &mut self,
        identity: &IdentityKeyPair,
        prekeys: &mut PreKeys,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        let envelope = Envelope::parse(message).map_err(RecordError::Decrypt)?;
        match &envelope {
            Envelope::PreKey(p) => {
                self.check_identity(p.sender_identity())?;
                let known = self
                    .sessions
                    .iter()
                    .position(|s| !s.is_initiator() && s.base_key() == p.base_key());
                match known {
                    Some(idx) => self.decrypt_in(idx, &envelope, out)?,
                    None => {
                        let session = Session::accept_into(identity, prekeys, p, out)
                            .map_err(RecordError::Handshake)?;
                        self.push_current(session);
                    }
                }
            }
            Envelope::Ratchet(m) => {
                let idx = self.find_session(&m.0)?;
                self.decrypt_in(idx, &envelope, out)?;
            }
        }
        self.revision += 1;
        Ok(())
    }

    fn decrypt_in(
        &mut self,
        idx: usize,
        env: &Envelope<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        let session = self.sessions.get_mut(idx).ok_or(RecordError::NoSession)?;
        session
            .decrypt_envelope(env, out)
            .map_err(RecordError::Decrypt)?;
        self.promote(idx);
        Ok(())
    }

    /// The session a ratchet message belongs to: a known receiving chain (current session
    /// first), else the one session whose tag matches the new ratchet key.
    fn find_session(&self, m: &RatchetView<'_>) -> Result<usize, RecordError> {
        let key = &m.header.ratchet_key;
        if let Some(idx) = self
            .sessions
            .iter()
            .position(|s| s.has_receiving_chain(key))
        {
            return Ok(idx);
        }
        self.sessions
            .iter()
            .position(|s| s.tag_matches(key, &m.header.tag))
            .ok_or(RecordError::Decrypt(DecryptError::WrongSession))
    }

    /// Serialized as `state.proto` `SessionRecord`. Contains secrets: seal it at rest.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut sessions = self
            .sessions
            .iter()
            .map(|s| crate::state::session_to_proto(s));
        let record = pb::SessionRecord {
            version: STATE_VERSION,
            revision: self.revision,
            remote_identity: self
                .remote_identity
                .map(|k| k.to_bytes().to_vec())
                .unwrap_or_default(),
            current: sessions.next(),
            archived: sessions.collect(),
        };
        Zeroizing::new(record.encode_to_vec())
    }

    /// Restores a record written by [`to_bytes`](Self::to_bytes), from bytes of any origin:
    /// every identity key in it is validated as [`IdentityKey::from_bytes`] does. Records kept
    /// sealed load faster with [`open`](Self::open).
    ///
    /// # Errors
    /// [`StateError`] for malformed, oversized, over-limit or unknown-version records, invalid
    /// identity keys, or sessions with another peer than the record's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        Self::decode(bytes, Origin::Untrusted)
    }

    /// Decodes a record; `origin` decides how its identity keys are checked (PROTOCOL.md §6.4).
    pub(crate) fn decode(bytes: &[u8], origin: Origin) -> Result<Self, StateError> {
        if bytes.len() > MAX_SESSION_RECORD_SIZE {
            return Err(StateError::TooLarge);
        }
        // Bounded on the bytes first (crate::precheck); our encoder writes `current` once.
        crate::precheck::check(
            bytes,
            [
                crate::precheck::Rule::elements(4, 1, 0),
                crate::precheck::Rule::elements(5, MAX_ARCHIVED_SESSIONS, 0),
            ],
            |_, session| {
                crate::state::precheck_session(session).map_err(|e| match e {
                    StateError::LimitExceeded => crate::precheck::Precheck::TooMany,
                    _ => crate::precheck::Precheck::Malformed,
                })
            },
        )
        .map_err(crate::state::precheck_error)?;
        let r = decode_secret::<pb::SessionRecord>(bytes).map_err(|_| StateError::Malformed)?;
        if r.version != STATE_VERSION {
            return Err(StateError::UnknownVersion(r.version));
        }
        if r.archived.len() > MAX_ARCHIVED_SESSIONS {
            return Err(StateError::LimitExceeded);
        }
        let mut identities = crate::state::IdentityCache::new(origin);
        let remote_identity = if r.remote_identity.is_empty() {
            None
        } else {
            Some(identities.get(&r.remote_identity)?)
        };
        if r.current.is_none() && !r.archived.is_empty() {
            return Err(StateError::Malformed);
        }
        let mut sessions = VecDeque::with_capacity(r.archived.len() + 1);
        for p in r.current.iter().chain(&r.archived) {
            let s = crate::state::session_from_proto_cached(p, &mut identities)?;
            if Some(*s.remote_identity()) != remote_identity {
                return Err(StateError::Malformed);
            }
            sessions.push_back(Box::new(s));
        }
        Ok(SessionRecord {
            revision: r.revision,
            remote_identity,
            sessions,
        })
    }
}
