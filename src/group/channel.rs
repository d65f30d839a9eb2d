//! Channel ids and [`Fanout`]: one control payload and the members allowed to receive it.

use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::error::{ChannelIdError, DeliveryError};
use crate::consts::MAX_CHANNEL_ID_LEN;
use crate::keys::Hex;
use crate::session::Session;

/// The id of a group or a broadcast list: 1 to `MAX_CHANNEL_ID_LEN` (64) bytes.
///
/// It is part of every group message's associated data and of every consent statement, so a
/// message or a consent for one channel never passes for another.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId {
    len: u8,
    bytes: [u8; MAX_CHANNEL_ID_LEN],
}

impl ChannelId {
    /// Wraps the given bytes.
    ///
    /// # Errors
    /// [`ChannelIdError`] if empty or longer than 64 bytes.
    pub fn new(id: &[u8]) -> Result<Self, ChannelIdError> {
        if id.is_empty() {
            return Err(ChannelIdError::Empty);
        }
        if id.len() > MAX_CHANNEL_ID_LEN {
            return Err(ChannelIdError::TooLong);
        }
        let mut bytes = [0u8; MAX_CHANNEL_ID_LEN];
        bytes[..id.len()].copy_from_slice(id);
        Ok(ChannelId {
            // Bounded by MAX_CHANNEL_ID_LEN (64) just above.
            len: id.len() as u8,
            bytes,
        })
    }

    /// A fresh random 16-byte id, for groups that need no readable name.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let mut bytes = [0u8; MAX_CHANNEL_ID_LEN];
        bytes[..16].copy_from_slice(&id);
        ChannelId { len: 16, bytes }
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Printable ASCII ids show as text (quoted), others as hex.
impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.as_bytes();
        if b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            // All bytes are ASCII, so this is valid UTF-8.
            write!(f, "\"{}\"", String::from_utf8_lossy(b))
        } else {
            fmt::Debug::fmt(&Hex(b), f)
        }
    }
}

impl fmt::Debug for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelId({self})")
    }
}

/// A control payload (roster, sender-key distribution, leave request or consent) and the
/// identities allowed to receive it.
///
/// The payload is the same for every recipient: encode once, then seal it once per recipient
/// with [`seal_for`](Self::seal_for), which refuses a session whose peer is not a recipient.
/// A payload may hold a chain key: it is wiped on drop and never printed.
pub struct Fanout {
    payload: Zeroizing<Vec<u8>>,
    /// Sorted and deduplicated, so the recipient check is a binary search even for a
    /// thousand-member fan-out.
    recipients: Vec<[u8; 32]>,
}

impl Fanout {
    pub(crate) fn new(payload: Zeroizing<Vec<u8>>, mut recipients: Vec<[u8; 32]>) -> Self {
        recipients.sort_unstable();
        recipients.dedup();
        Fanout {
            payload,
            recipients,
        }
    }

    /// The identity keys (32-byte Ed25519 encodings) of the recipients, ascending.
    pub fn recipients(&self) -> &[[u8; 32]] {
        &self.recipients
    }

    /// Whether `session`'s peer is a recipient.
    pub fn is_recipient(&self, session: &Session) -> bool {
        self.recipients
            .binary_search(session.remote_identity().as_bytes())
            .is_ok()
    }

    /// The plaintext to send over each recipient's pairwise session. It may contain a chain
    /// key: prefer [`seal_for`](Self::seal_for), which checks the recipient.
    pub fn expose_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Encrypts the payload for one recipient over its pairwise session.
    ///
    /// # Errors
    /// [`DeliveryError::NotARecipient`] if the session's peer is not a recipient (nothing is
    /// encrypted); [`DeliveryError::Encrypt`] if the session cannot encrypt.
    pub fn seal_for<R: CryptoRng + ?Sized>(
        &self,
        session: &mut Session,
        rng: &mut R,
    ) -> Result<Vec<u8>, DeliveryError> {
        let mut out = Vec::new();
        self.seal_for_into(session, rng, &mut out)?;
        Ok(out)
    }

    /// [`seal_for`](Self::seal_for), appending the pairwise wire message to `out`.
    ///
    /// # Errors
    /// As [`seal_for`](Self::seal_for); `out` is unchanged on error.
    pub fn seal_for_into<R: CryptoRng + ?Sized>(
        &self,
        session: &mut Session,
        rng: &mut R,
        out: &mut Vec<u8>,
    ) -> Result<(), DeliveryError> {
        if !self.is_recipient(session) {
            return Err(DeliveryError::NotARecipient);
        }
        session.encrypt_into(rng, &self.payload, out)?;
        Ok(())
    }
}

impl fmt::Debug for Fanout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fanout")
            .field("recipients", &self.recipients.len())
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}
