//! Wire messages: parsing into validated views and encoding straight into output buffers.
//!
//! Schema: `proto/wire.proto`; byte layout: PROTOCOL.md §5. Parsing checks every length before
//! anything else sees the message; past this module, a header's fields have their exact sizes.

use crate::consts::{
    KEM_CIPHERTEXT_LEN, MAX_MESSAGE_SIZE, PROTOCOL_VERSION, REUSE_GUARD_LEN, SESSION_TAG_LEN,
};
use crate::error::DecryptError;
use crate::keys::IdentityKey;
use crate::pb::{self, LEN, VARINT, Value, Writer};

/// Prost-generated types, private to the crate: they convert into validated domain types.
#[allow(
    unreachable_pub,
    missing_docs,
    dead_code,
    clippy::all,
    clippy::pedantic
)]
pub(crate) mod proto {
    /// `proto/wire.proto`.
    pub(crate) mod wire {
        include!(concat!(env!("OUT_DIR"), "/sealpost.wire.v1.rs"));
    }
    /// `proto/state.proto`.
    pub(crate) mod state {
        include!(concat!(env!("OUT_DIR"), "/sealpost.state.v1.rs"));
    }
}

/// Largest encoded header: ratchet key (34) + pn (6) + n (6) + guard (6) + tag (10).
pub(crate) const MAX_HEADER_LEN: usize = 62;

// Field numbers, as in wire.proto.
const ENVELOPE_VERSION: u32 = 1;
const ENVELOPE_PREKEY: u32 = 2;
const ENVELOPE_MESSAGE: u32 = 3;
const MESSAGE_HEADER: u32 = 1;
const MESSAGE_CIPHERTEXT: u32 = 2;
const HEADER_RATCHET_KEY: u32 = 1;
const HEADER_PN: u32 = 2;
const HEADER_N: u32 = 3;
const HEADER_GUARD: u32 = 4;
const HEADER_TAG: u32 = 5;
const PREKEY_IDENTITY: u32 = 1;
const PREKEY_BASE_KEY: u32 = 2;
const PREKEY_SPK_ID: u32 = 3;
const PREKEY_OPK_ID: u32 = 4;
const PREKEY_MESSAGE: u32 = 5;
const PREKEY_KEM_ID: u32 = 6;
const PREKEY_KEM_CIPHERTEXT: u32 = 7;

/// A decoded ratchet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) pn: u32,
    pub(crate) n: u32,
    pub(crate) guard: [u8; REUSE_GUARD_LEN],
    pub(crate) tag: [u8; SESSION_TAG_LEN],
}

impl Header {
    pub(crate) fn encode(&self) -> pb::StackBuf<MAX_HEADER_LEN> {
        let mut b = pb::StackBuf::new();
        b.put_bytes(HEADER_RATCHET_KEY, &self.ratchet_key);
        b.put_u32(HEADER_PN, self.pn);
        b.put_u32(HEADER_N, self.n);
        b.put_bytes(HEADER_GUARD, &self.guard);
        b.put_bytes(HEADER_TAG, &self.tag);
        b
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Header, ()> {
        // A longer header can only carry unknown fields; refusing it keeps the authenticated
        // header bytes within the fixed AAD buffer, never truncated.
        if bytes.len() > MAX_HEADER_LEN {
            return Err(());
        }
        let f = pb::read_fields(bytes, [LEN, VARINT, VARINT, LEN, LEN])?;
        Ok(Header {
            ratchet_key: pb::as_array(f[0])?,
            pn: pb::as_u32(f[1])?,
            n: pb::as_u32(f[2])?,
            guard: pb::as_array(f[3])?,
            tag: pb::as_array(f[4])?,
        })
    }
}

/// A parsed ratchet message, borrowing the input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RatchetView<'a> {
    /// Header bytes exactly as received: these are authenticated, never a re-encoding.
    pub(crate) header_bytes: &'a [u8],
    pub(crate) header: Header,
    pub(crate) ciphertext: &'a [u8],
}

impl<'a> RatchetView<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, ()> {
        let f = pb::read_fields(bytes, [LEN, LEN])?;
        let header_bytes = pb::as_bytes(f[0])?;
        let header = Header::decode(header_bytes)?;
        Ok(RatchetView {
            header_bytes,
            header,
            ciphertext: pb::as_bytes(f[1])?,
        })
    }
}

/// A parsed prekey message: the first messages of a session, which carry the handshake.
///
/// Obtained from [`Envelope::parse`]; a responder reads [`sender_identity`](Self::sender_identity)
/// to find (or create) the sender's session record, then calls
/// [`Session::accept`](crate::Session::accept).
#[derive(Clone, Copy)]
pub struct PreKeyMessage<'a> {
    pub(crate) identity: IdentityKey,
    pub(crate) base_key: [u8; 32],
    pub(crate) signed_prekey_id: u32,
    pub(crate) one_time_prekey_id: Option<u32>,
    /// PQXDH: the ML-KEM prekey id and the ciphertext encapsulated to it.
    pub(crate) kem: Option<(u32, &'a [u8; KEM_CIPHERTEXT_LEN])>,
    pub(crate) message: RatchetView<'a>,
}

impl core::fmt::Debug for PreKeyMessage<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreKeyMessage")
            .field("identity", &self.identity)
            .field("base_key", &crate::keys::Hex(&self.base_key))
            .field("signed_prekey_id", &self.signed_prekey_id)
            .field("one_time_prekey_id", &self.one_time_prekey_id)
            .field("kem_prekey_id", &self.kem_prekey_id())
            .field(
                "kem_ciphertext",
                &self.kem.map(|(_, ct)| crate::keys::Hex(&ct[..])),
            )
            .field("message", &self.message)
            .finish()
    }
}

impl PreKeyMessage<'_> {
    /// The initiator's identity key (validated, not yet authenticated: the handshake does that).
    pub fn sender_identity(&self) -> &IdentityKey {
        &self.identity
    }

    /// The initiator's ephemeral public key; it identifies the session it creates.
    pub fn base_key(&self) -> &[u8; 32] {
        &self.base_key
    }

    /// The id of the responder's signed prekey the initiator used.
    pub fn signed_prekey_id(&self) -> u32 {
        self.signed_prekey_id
    }

    /// The id of the responder's one-time prekey the initiator used, if any.
    pub fn one_time_prekey_id(&self) -> Option<u32> {
        self.one_time_prekey_id
    }

    /// The id of the responder's ML-KEM prekey the initiator encapsulated to; `None` for a
    /// classical (X3DH-only) handshake.
    pub fn kem_prekey_id(&self) -> Option<u32> {
        self.kem.map(|(id, _)| id)
    }

    /// The ML-KEM-768 ciphertext (1088 bytes) of a PQXDH handshake.
    pub fn kem_ciphertext(&self) -> Option<&[u8; KEM_CIPHERTEXT_LEN]> {
        self.kem.map(|(_, ct)| ct)
    }

    /// Whether the handshake has its post-quantum part (PQXDH).
    pub fn is_post_quantum(&self) -> bool {
        self.kem.is_some()
    }
}

/// A parsed pairwise wire message.
///
/// ```
/// # use sealpost::{Envelope, DecryptError};
/// assert!(matches!(Envelope::parse(b"\x08\x02"), Err(DecryptError::UnsupportedVersion(2))));
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Envelope<'a> {
    /// Carries the handshake; may start a new session.
    PreKey(PreKeyMessage<'a>),
    /// An ordinary Double Ratchet message.
    Ratchet(RatchetMessage<'a>),
}

/// A parsed Double Ratchet message (opaque; pass it to [`Session::decrypt_envelope`](crate::Session::decrypt_envelope)).
#[derive(Clone, Copy, Debug)]
pub struct RatchetMessage<'a>(pub(crate) RatchetView<'a>);

impl<'a> Envelope<'a> {
    /// Parses and bounds-checks a wire message. Nothing is decrypted.
    ///
    /// # Errors
    /// [`DecryptError::Malformed`] for anything that is not a well-formed envelope,
    /// [`DecryptError::UnsupportedVersion`] for a version other than 1.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecryptError> {
        if bytes.len() > MAX_MESSAGE_SIZE {
            return Err(DecryptError::Malformed);
        }
        let f = pb::read_fields(bytes, [VARINT, LEN, LEN]).map_err(|()| DecryptError::Malformed)?;
        let version = pb::as_u32(f[0]).map_err(|()| DecryptError::Malformed)?;
        if version != u32::from(PROTOCOL_VERSION) {
            return Err(DecryptError::UnsupportedVersion(version));
        }
        match (f[1], f[2]) {
            (Some(Value::Bytes(p)), None) => Self::parse_prekey(p)
                .map(Envelope::PreKey)
                .map_err(|()| DecryptError::Malformed),
            (None, Some(Value::Bytes(m))) => RatchetView::parse(m)
                .map(|v| Envelope::Ratchet(RatchetMessage(v)))
                .map_err(|()| DecryptError::Malformed),
            _ => Err(DecryptError::Malformed),
        }
    }

    fn parse_prekey(bytes: &'a [u8]) -> Result<PreKeyMessage<'a>, ()> {
        let f = pb::read_fields(bytes, [LEN, LEN, VARINT, VARINT, LEN, VARINT, LEN])?;
        let identity = IdentityKey::from_bytes(pb::as_bytes(f[0])?).map_err(|_| ())?;
        let base_key: [u8; 32] = pb::as_array(f[1])?;
        // X25519 ignores bit 255 and reduces mod p, so 2^255 + 19 distinct encodings name fewer
        // keys; replay defence compares base keys as bytes, so only the canonical encoding (the
        // one every honest sender produces) is accepted.
        if !is_canonical_x25519(&base_key) {
            return Err(());
        }
        let kem = match (pb::as_opt_u32(f[5])?, pb::as_bytes(f[6])?) {
            (None, []) => None,
            (Some(id), ct) => Some((id, ct.try_into().map_err(|_| ())?)),
            (None, _) => return Err(()),
        };
        Ok(PreKeyMessage {
            identity,
            base_key,
            signed_prekey_id: pb::as_u32(f[2])?,
            one_time_prekey_id: pb::as_opt_u32(f[3])?,
            kem,
            message: RatchetView::parse(pb::as_bytes(f[4])?)?,
        })
    }
}

/// Whether `u` is the canonical encoding of a field element: bit 255 clear and `u < 2^255 - 19`.
pub(crate) fn is_canonical_x25519(u: &[u8; 32]) -> bool {
    if u[31] & 0x80 != 0 {
        return false;
    }
    // u >= p iff u[31] == 0x7f, u[1..31] all 0xff, and u[0] >= 0xed.
    !(u[31] == 0x7f && u[1..31].iter().all(|&b| b == 0xff) && u[0] >= 0xed)
}

/// The handshake fields an initiator repeats in each prekey message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PreKeyFields {
    pub(crate) identity: [u8; 32],
    pub(crate) base_key: [u8; 32],
    pub(crate) signed_prekey_id: u32,
    pub(crate) one_time_prekey_id: Option<u32>,
    /// PQXDH: the ML-KEM prekey id and the ciphertext.
    pub(crate) kem: Option<(u32, Box<[u8; KEM_CIPHERTEXT_LEN]>)>,
}

/// Size of the `RatchetMessage` body for a header and a ciphertext of these lengths.
fn ratchet_body_len(header_len: usize, ct_len: usize) -> usize {
    pb::len_field_size(MESSAGE_HEADER, header_len) + pb::len_field_size(MESSAGE_CIPHERTEXT, ct_len)
}

/// Writes everything of an envelope that precedes the ciphertext bytes, so the caller can
/// encrypt in place right after it. The ciphertext is `ct_len` bytes (tag included, > 0).
pub(crate) fn write_envelope_prefix(
    out: &mut Vec<u8>,
    prekey: Option<&PreKeyFields>,
    header: &[u8],
    ct_len: usize,
) {
    let body = ratchet_body_len(header.len(), ct_len);
    out.put_u32(ENVELOPE_VERSION, u32::from(PROTOCOL_VERSION));
    match prekey {
        None => out.put_len_prefix(ENVELOPE_MESSAGE, body),
        Some(p) => {
            let pk_len = pb::len_field_size(PREKEY_IDENTITY, 32)
                + pb::len_field_size(PREKEY_BASE_KEY, 32)
                + pb::u32_field_size(PREKEY_SPK_ID, p.signed_prekey_id)
                + p.one_time_prekey_id.map_or(0, |id| {
                    pb::varint_len(u64::from(PREKEY_OPK_ID) << 3) + pb::varint_len(u64::from(id))
                })
                + pb::varint_len(u64::from(PREKEY_MESSAGE) << 3)
                + pb::varint_len(body as u64)
                + body
                + p.kem.as_ref().map_or(0, |(id, ct)| {
                    pb::varint_len(u64::from(PREKEY_KEM_ID) << 3)
                        + pb::varint_len(u64::from(*id))
                        + pb::len_field_size(PREKEY_KEM_CIPHERTEXT, ct.len())
                });
            out.put_len_prefix(ENVELOPE_PREKEY, pk_len);
            out.put_bytes(PREKEY_IDENTITY, &p.identity);
            out.put_bytes(PREKEY_BASE_KEY, &p.base_key);
            out.put_u32(PREKEY_SPK_ID, p.signed_prekey_id);
            out.put_opt_u32(PREKEY_OPK_ID, p.one_time_prekey_id);
            // Fields 6 and 7 go before field 5 so that the ciphertext of the inner message
            // still ends the envelope and can be written in place (protobuf allows any order;
            // prost's own encoder would put them after).
            if let Some((id, ct)) = &p.kem {
                out.put_opt_u32(PREKEY_KEM_ID, Some(*id));
                out.put_bytes(PREKEY_KEM_CIPHERTEXT, &ct[..]);
            }
            out.put_len_prefix(PREKEY_MESSAGE, body);
        }
    }
    out.put_bytes(MESSAGE_HEADER, header);
    out.put_len_prefix(MESSAGE_CIPHERTEXT, ct_len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn sample_header() -> Header {
        Header {
            ratchet_key: [9; 32],
            pn: 70_000,
            n: 3,
            guard: [1, 2, 3, 4],
            tag: [5; 8],
        }
    }

    #[test]
    fn header_matches_prost() {
        for (pn, n) in [
            (0, 0),
            (1, 0),
            (0, u32::MAX),
            (u32::MAX, u32::MAX),
            (70_000, 3),
        ] {
            let h = Header {
                pn,
                n,
                ..sample_header()
            };
            let ours = h.encode();
            let theirs = proto::wire::RatchetHeader {
                ratchet_key: h.ratchet_key.to_vec(),
                previous_chain_length: pn,
                counter: n,
                reuse_guard: h.guard.to_vec(),
                session_tag: h.tag.to_vec(),
            }
            .encode_to_vec();
            assert_eq!(ours.as_slice(), &theirs[..]);
            assert!(ours.len <= MAX_HEADER_LEN);
            assert_eq!(Header::decode(ours.as_slice()), Ok(h));
        }
    }

    #[test]
    fn envelopes_match_prost() {
        let h = sample_header().encode();
        let ct = vec![0xcc; 300];
        for prekey in [
            None,
            Some(PreKeyFields {
                identity: [1; 32],
                base_key: [2; 32],
                signed_prekey_id: 0,
                one_time_prekey_id: Some(0),
                kem: None,
            }),
            Some(PreKeyFields {
                identity: [1; 32],
                base_key: [2; 32],
                signed_prekey_id: 77,
                one_time_prekey_id: None,
                kem: None,
            }),
        ] {
            let mut ours = Vec::new();
            write_envelope_prefix(&mut ours, prekey.as_ref(), h.as_slice(), ct.len());
            ours.extend_from_slice(&ct);
            let msg = proto::wire::RatchetMessage {
                header: h.as_slice().to_vec(),
                ciphertext: ct.clone(),
            };
            let content = match prekey {
                None => proto::wire::envelope::Content::Message(msg),
                Some(p) => proto::wire::envelope::Content::Prekey(proto::wire::PreKeyMessage {
                    identity_key: p.identity.to_vec(),
                    base_key: p.base_key.to_vec(),
                    signed_prekey_id: p.signed_prekey_id,
                    one_time_prekey_id: p.one_time_prekey_id,
                    message: Some(msg),
                    kem_prekey_id: None,
                    kem_ciphertext: Vec::new(),
                }),
            };
            let theirs = proto::wire::Envelope {
                version: 1,
                content: Some(content),
            }
            .encode_to_vec();
            assert_eq!(ours, theirs);
        }
    }

    /// With the PQXDH fields, ours puts fields 6 and 7 before 5 (so the ciphertext ends the
    /// envelope); prost decodes it to the same message, and our parser reads both orders.
    #[test]
    fn pq_prekey_envelope_decodes_like_prost() {
        let h = sample_header().encode();
        let ct = vec![0xcc; 40];
        let fields = PreKeyFields {
            identity: *crate::IdentityKeyPair::generate(&mut rand::rng())
                .public_key()
                .as_bytes(),
            base_key: [2; 32],
            signed_prekey_id: 5,
            one_time_prekey_id: None,
            kem: Some((0, Box::new([0x5a; KEM_CIPHERTEXT_LEN]))),
        };
        let mut ours = Vec::new();
        write_envelope_prefix(&mut ours, Some(&fields), h.as_slice(), ct.len());
        ours.extend_from_slice(&ct);
        let decoded = proto::wire::Envelope::decode(&ours[..]).expect("prost decodes ours");
        let Some(proto::wire::envelope::Content::Prekey(p)) = &decoded.content else {
            panic!("not a prekey message");
        };
        assert_eq!(p.kem_prekey_id, Some(0));
        assert_eq!(p.kem_ciphertext, vec![0x5a; KEM_CIPHERTEXT_LEN]);
        assert_eq!(p.signed_prekey_id, 5);
        let theirs = decoded.encode_to_vec();
        assert_eq!(theirs.len(), ours.len());
        for bytes in [&ours, &theirs] {
            let Ok(Envelope::PreKey(m)) = Envelope::parse(bytes) else {
                panic!("our parser rejects a PQ prekey message");
            };
            assert_eq!(m.kem_prekey_id(), Some(0));
            assert_eq!(m.kem.map(|(_, c)| c[0]), Some(0x5a));
            assert_eq!(m.message.ciphertext, &ct[..]);
        }
        // A ciphertext of the wrong length, or one without an id, is malformed.
        for bad in [
            proto::wire::PreKeyMessage {
                kem_ciphertext: vec![0; KEM_CIPHERTEXT_LEN - 1],
                ..p.clone()
            },
            proto::wire::PreKeyMessage {
                kem_prekey_id: None,
                ..p.clone()
            },
        ] {
            let env = proto::wire::Envelope {
                version: 1,
                content: Some(proto::wire::envelope::Content::Prekey(bad)),
            }
            .encode_to_vec();
            assert!(matches!(
                Envelope::parse(&env),
                Err(DecryptError::Malformed)
            ));
        }
    }
}
