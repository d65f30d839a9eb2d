//! A pairwise session: the handshake that creates it, the ratchet that runs it, and the
//! identities it is bound to (PROTOCOL.md §3-§5).

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::consts::MAX_PLAINTEXT_SIZE;
use crate::error::{DecryptError, EncryptError, HandshakeError, IdentityMismatch};
use crate::kdf::{RootKey, TagKey};
use crate::kem;
use crate::keys::{DhKeyPair, Hex, IdentityKey, IdentityKeyPair};
use crate::prekey::{PostQuantum, PreKeys, VerifiedBundle};
use crate::ratchet::{Ratchet, SendingChain, aad_prefix};
use crate::wire::{self, Envelope, PreKeyFields, PreKeyMessage};
use crate::x3dh::{self, Agreement};

/// An end-to-end encrypted conversation with one peer identity.
///
/// Created by the initiator from a [`VerifiedBundle`] with [`Session::initiate`], and by the
/// responder from the first prekey message with [`Session::accept`]. Its messages can only ever
/// be exchanged with the identity it was built with.
///
/// ```
/// use sealpost::{Envelope, IdentityKeyPair, PreKeyBundle, PreKeys, Session};
///
/// let mut rng = rand::rng();
/// // The business publishes a bundle.
/// let business = IdentityKeyPair::generate(&mut rng);
/// let mut prekeys = PreKeys::new();
/// prekeys.generate_signed_prekey(&business, 1_700_000_000, &mut rng)?;
/// let otk = prekeys.generate_one_time_prekeys(1, &mut rng)?;
/// let published = prekeys.bundle(&business, Some(otk[0]))?.to_bytes();
///
/// // A customer verifies it and opens a session.
/// let customer = IdentityKeyPair::generate(&mut rng);
/// let bundle = PreKeyBundle::from_bytes(&published)?.verify()?;
/// let mut to_business = Session::initiate(&customer, &bundle, &mut rng)?;
/// let wire = to_business.encrypt(&mut rng, b"my heat pump shows E42")?;
///
/// // The business accepts the prekey message and answers.
/// let Envelope::PreKey(first) = Envelope::parse(&wire)? else { unreachable!() };
/// let (mut to_customer, text) = Session::accept(&business, &mut prekeys, &first)?;
/// assert_eq!(text, b"my heat pump shows E42");
/// let reply = to_customer.encrypt(&mut rng, b"a technician comes on Monday")?;
/// assert_eq!(to_business.decrypt(&reply)?, b"a technician comes on Monday");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) local_identity: IdentityKey,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) initiator: bool,
    /// The initiator's ephemeral key of the handshake that created this session.
    pub(crate) base_key: [u8; 32],
    /// The responder's (signed, one-time) prekey ids the handshake used.
    pub(crate) prekey_ids: (u32, Option<u32>),
    /// The responder's ML-KEM prekey id the handshake used (PQXDH); `None` for classical X3DH.
    pub(crate) kem_prekey_id: Option<u32>,
    /// Responder only: SHA-256 of the accepted KEM ciphertext, which later prekey messages
    /// must repeat (it is not authenticated again once SK exists).
    pub(crate) kem_ciphertext_digest: Option<[u8; 32]>,
    /// Handshake fields the initiator repeats until it receives a reply.
    pub(crate) pending_prekey: Option<PreKeyFields>,
    pub(crate) ratchet: Ratchet,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("local_identity", &self.local_identity)
            .field("remote_identity", &self.remote_identity)
            .field("initiator", &self.initiator)
            .field("base_key", &Hex(&self.base_key))
            .field("post_quantum", &self.kem_prekey_id.is_some())
            .field("awaiting_reply", &self.pending_prekey.is_some())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Starts a session with the owner of `bundle`: PQXDH (PROTOCOL.md §3b) when the bundle
    /// has an ML-KEM prekey, which [`PreKeyBundle::verify`](crate::PreKeyBundle::verify)
    /// requires, X3DH (§3) otherwise.
    ///
    /// Draws from `rng` the ephemeral key `EK_A` (32 bytes), the ML-KEM encapsulation
    /// randomness (32 bytes, PQXDH only), then the first ratchet key (32 bytes). Messages
    /// encrypted before the first reply are prekey messages that carry the handshake.
    ///
    /// # Errors
    /// [`HandshakeError::NonContributory`] if a bundle key has low order,
    /// [`HandshakeError::WrongRecipient`] if the bundle is our own identity's.
    pub fn initiate<R: CryptoRng + ?Sized>(
        identity: &IdentityKeyPair,
        bundle: &VerifiedBundle,
        rng: &mut R,
    ) -> Result<Session, HandshakeError> {
        if bundle.identity() == identity.public_key() {
            return Err(HandshakeError::WrongRecipient);
        }
        let ephemeral = DhKeyPair::generate(rng);
        // A bundle's ML-KEM prekey is always used: there is no way to skip it.
        let kem = bundle.kem_prekey().map(|(id, public)| {
            let (ciphertext, shared) = kem::encapsulate(public, rng);
            (*id, ciphertext, shared)
        });
        let dh = x3dh::initiator_dh(identity, &ephemeral, bundle)?;
        let agreement = Agreement::new(
            &dh,
            kem.as_ref().map(|(_, _, ss)| ss),
            identity.public_key(),
            bundle.identity(),
        );
        drop(dh);
        let kem = kem.map(|(id, ciphertext, _)| (id, ciphertext));
        let base_key = *ephemeral.public();
        // EK_A's secret is wiped here, as soon as SK exists.
        drop(ephemeral);

        // Alice's first ratchet key is fresh, never EK_A (PROTOCOL.md §4.2).
        let ratchet_pair = DhKeyPair::generate(rng);
        let first = ratchet_pair.dh(bundle.signed_prekey());
        if !first.was_contributory() {
            return Err(HandshakeError::NonContributory);
        }
        let sk = RootKey::from_bytes(agreement.shared_secret.0);
        let tag_key = TagKey::derive(sk.as_bytes());
        let (root_key, chain_key) = sk.advance(first.as_bytes());
        let tag = tag_key.tag(ratchet_pair.public());
        Ok(Session {
            local_identity: *identity.public_key(),
            remote_identity: *bundle.identity(),
            initiator: true,
            base_key,
            prekey_ids: (bundle.signed_prekey_id(), bundle.one_time_prekey_id()),
            kem_prekey_id: bundle.kem_prekey_id(),
            kem_ciphertext_digest: None,
            pending_prekey: Some(PreKeyFields {
                identity: identity.public_key().to_bytes(),
                base_key,
                signed_prekey_id: bundle.signed_prekey_id(),
                one_time_prekey_id: bundle.one_time_prekey_id(),
                kem,
            }),
            ratchet: Ratchet {
                root_key,
                tag_key,
                ratchet: ratchet_pair,
                sending: Some(SendingChain {
                    chain_key,
                    counter: 0,
                    tag,
                }),
                previous_counter: 0,
                receiving: Default::default(),
                skipped_count: 0,
                aad_prefix: aad_prefix(&agreement.associated_data),
            },
        })
    }

    /// Creates the responder's session from a prekey message and decrypts its first message.
    ///
    /// Checks, in order: addressed to us, known signed prekey, known unused one-time prekey,
    /// the post-quantum part (present if `prekeys` require it; a known ML-KEM prekey), base key
    /// not accepted before (replay), contributory DH outputs, then the inner message's
    /// authentication. Only after it authenticated are the one-time prekeys consumed and the
    /// base key remembered; on any error `prekeys` is unchanged.
    ///
    /// Every later prekey message with the same base key goes to [`Session::decrypt`].
    ///
    /// # Errors
    /// [`HandshakeError`], naming the check that failed.
    pub fn accept(
        identity: &IdentityKeyPair,
        prekeys: &mut PreKeys,
        message: &PreKeyMessage<'_>,
    ) -> Result<(Session, Vec<u8>), HandshakeError> {
        let mut plaintext = Vec::new();
        let session = Self::accept_into(identity, prekeys, message, &mut plaintext)?;
        Ok((session, plaintext))
    }

    /// [`accept`](Self::accept), appending the first plaintext to `out`.
    ///
    /// # Errors
    /// As [`accept`](Self::accept); `out` is unchanged on error.
    pub fn accept_into(
        identity: &IdentityKeyPair,
        prekeys: &mut PreKeys,
        message: &PreKeyMessage<'_>,
        out: &mut Vec<u8>,
    ) -> Result<Session, HandshakeError> {
        if message.identity == *identity.public_key() {
            return Err(HandshakeError::WrongRecipient);
        }
        let spk_id = message.signed_prekey_id;
        let spk = prekeys
            .signed_prekey(spk_id)
            .ok_or(HandshakeError::UnknownSignedPreKey(spk_id))?;
        let opk = match message.one_time_prekey_id {
            None => None,
            Some(id) => Some(
                prekeys
                    .one_time_prekey(id)
                    .ok_or(HandshakeError::UnknownOneTimePreKey(id))?,
            ),
        };
        let kem_seed = match message.kem {
            None if prekeys.post_quantum() == PostQuantum::Required => {
                return Err(HandshakeError::PostQuantumRequired);
            }
            None => None,
            Some((id, _)) => Some(
                prekeys
                    .kem_prekey(id)
                    .ok_or(HandshakeError::UnknownKemPreKey(id))?,
            ),
        };
        if prekeys.was_accepted(spk_id, &message.base_key) {
            return Err(HandshakeError::Replayed);
        }
        let dh = x3dh::responder_dh(identity, spk, opk, &message.identity, &message.base_key)?;
        let kem_shared = kem_seed
            .zip(message.kem)
            .map(|(seed, (_, ciphertext))| seed.decapsulate(ciphertext));
        let agreement = Agreement::new(
            &dh,
            kem_shared.as_ref(),
            &message.identity,
            identity.public_key(),
        );
        drop(dh);
        drop(kem_shared);
        let sk = RootKey::from_bytes(agreement.shared_secret.0);
        let tag_key = TagKey::derive(sk.as_bytes());
        let mut session = Session {
            local_identity: *identity.public_key(),
            remote_identity: message.identity,
            initiator: false,
            base_key: message.base_key,
            prekey_ids: (spk_id, message.one_time_prekey_id),
            kem_prekey_id: message.kem_prekey_id(),
            kem_ciphertext_digest: message.kem.map(|(_, ct)| sha256(ct)),
            pending_prekey: None,
            ratchet: Ratchet {
                root_key: sk,
                tag_key,
                // Bob's signed prekey is his first ratchet key pair.
                ratchet: spk.clone(),
                sending: None,
                previous_counter: 0,
                receiving: Default::default(),
                skipped_count: 0,
                aad_prefix: aad_prefix(&agreement.associated_data),
            },
        };
        session
            .ratchet
            .decrypt(&message.message, out)
            .map_err(HandshakeError::Decrypt)?;
        prekeys.commit_accept(
            spk_id,
            message.one_time_prekey_id,
            message.kem_prekey_id(),
            message.base_key,
        );
        Ok(session)
    }

    /// Encrypts `plaintext` into a wire message.
    ///
    /// # Errors
    /// [`EncryptError`] for oversized plaintext or an exhausted chain; the session is unchanged.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, EncryptError> {
        let mut out = Vec::new();
        self.encrypt_into(rng, plaintext, &mut out)?;
        Ok(out)
    }

    /// Appends the wire message for `plaintext` to `out` (no other allocation).
    ///
    /// Draws from `rng` only the 4-byte reuse guard, plus 32 bytes for a new ratchet key when
    /// the previous message received turned the DH ratchet.
    ///
    /// # Errors
    /// As [`encrypt`](Self::encrypt).
    pub fn encrypt_into<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), EncryptError> {
        if plaintext.len() > MAX_PLAINTEXT_SIZE {
            return Err(EncryptError::TooLarge);
        }
        let prekey = self.pending_prekey.as_ref();
        self.ratchet
            .encrypt(rng, plaintext, out, |out, header, ct_len| {
                wire::write_envelope_prefix(out, prekey, header, ct_len);
            })
    }

    /// Decrypts a wire message from the peer.
    ///
    /// # Errors
    /// [`DecryptError`]; the session is unchanged on every error.
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let mut out = Vec::new();
        self.decrypt_into(message, &mut out)?;
        Ok(out)
    }

    /// Appends the plaintext of a wire message to `out`.
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt); `out` is unchanged on error.
    pub fn decrypt_into(&mut self, message: &[u8], out: &mut Vec<u8>) -> Result<(), DecryptError> {
        let envelope = Envelope::parse(message)?;
        self.decrypt_envelope(&envelope, out)
    }

    /// Decrypts an already parsed message, appending the plaintext to `out`.
    ///
    /// A prekey message is decrypted here only if it belongs to this session (same sender
    /// identity and base key); one that would start a new session gives
    /// [`DecryptError::NewSession`].
    ///
    /// # Errors
    /// As [`decrypt`](Self::decrypt).
    pub fn decrypt_envelope(
        &mut self,
        envelope: &Envelope<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), DecryptError> {
        let view = match envelope {
            Envelope::Ratchet(m) => &m.0,
            Envelope::PreKey(p) => {
                if p.identity != self.remote_identity {
                    return Err(DecryptError::UntrustedIdentity(Box::new(
                        IdentityMismatch {
                            expected: self.remote_identity,
                            received: p.identity,
                        },
                    )));
                }
                if self.initiator || p.base_key != self.base_key {
                    return Err(DecryptError::NewSession);
                }
                // The handshake fields of later prekey messages are not covered by the AEAD
                // (SK is not recomputed), so they must repeat the accepted ones exactly.
                if (p.signed_prekey_id, p.one_time_prekey_id) != self.prekey_ids
                    || p.kem_prekey_id() != self.kem_prekey_id
                    || p.kem.map(|(_, ct)| sha256(ct)) != self.kem_ciphertext_digest
                {
                    return Err(DecryptError::InvalidMessage);
                }
                &p.message
            }
        };
        self.ratchet.decrypt(view, out)?;
        // Any authenticated message from the peer proves it has the session.
        self.pending_prekey = None;
        Ok(())
    }

    /// The peer's identity.
    pub fn remote_identity(&self) -> &IdentityKey {
        &self.remote_identity
    }

    /// Our identity.
    pub fn local_identity(&self) -> &IdentityKey {
        &self.local_identity
    }

    /// Whether this side started the session.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// The initiator's ephemeral key of the handshake; identifies the session.
    pub fn base_key(&self) -> &[u8; 32] {
        &self.base_key
    }

    /// Whether the handshake that created this session was post-quantum (PQXDH with
    /// ML-KEM-768). The ratchet that follows is classical either way (SECURITY.md).
    pub fn is_post_quantum(&self) -> bool {
        self.kem_prekey_id.is_some()
    }

    /// Whether this side still sends prekey messages (the initiator before any reply).
    pub fn awaiting_reply(&self) -> bool {
        self.pending_prekey.is_some()
    }

    /// Number of skipped message keys held for late messages.
    pub fn skipped_keys(&self) -> usize {
        self.ratchet.skipped_count
    }

    pub(crate) fn has_receiving_chain(&self, ratchet_key: &[u8; 32]) -> bool {
        self.ratchet
            .receiving
            .iter()
            .any(|c| &c.ratchet_key == ratchet_key)
    }

    /// Whether `tag` is this session's tag for a (new) ratchet key: one HMAC.
    pub(crate) fn tag_matches(&self, ratchet_key: &[u8; 32], tag: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.ratchet.tag_key.tag(ratchet_key).ct_eq(tag).into()
    }

    /// Serialized as `state.proto` `SessionState` (versioned). Contains secrets: seal it at rest.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        crate::state::encode_session(self)
    }

    /// Restores a session written by [`to_bytes`](Self::to_bytes).
    ///
    /// # Errors
    /// [`crate::StateError`] for malformed, oversized, over-limit or unknown-version records.
    pub fn from_bytes(bytes: &[u8]) -> Result<Session, crate::StateError> {
        crate::state::decode_session(bytes)
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
