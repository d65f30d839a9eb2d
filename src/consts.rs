//! Every constant that defines the protocol: limits, labels and sizes.
//!
//! Each one is named in PROTOCOL.md; changing any of them changes the protocol or its
//! guarantees, so they live here and nowhere else.

/// Protocol version: the first byte of every AEAD associated data and `Envelope.version`.
pub const PROTOCOL_VERSION: u8 = 0x01;

/// Version written into, and the only one accepted from, every persisted record.
///
/// Decoding any other version is a typed error rather than a guess.
pub const STATE_VERSION: u32 = 1;

/// Most chain steps one message may cause (previous chain via `pn` plus the new chain).
///
/// Bounds the HMAC work a single forged or hostile message can trigger to about 10 ms,
/// while tolerating long runs of lost messages.
pub const MAX_FORWARD_JUMP: u32 = 25_000;

/// Most skipped message keys kept per session; the oldest are evicted first.
///
/// 2,000 keys of 36 bytes keep a record under 100 KiB while surviving heavy reordering.
pub const MAX_SKIPPED_KEYS: usize = 2_000;

/// Most receiving chains kept per session; an older chain is dropped with its skipped keys.
///
/// Messages from a chain five DH ratchet turns old are almost certainly lost for good.
pub const MAX_RECEIVING_CHAINS: usize = 5;

/// Most previous sessions a per-peer record keeps besides the current one.
pub const MAX_ARCHIVED_SESSIONS: usize = 40;

/// Most prekey-message base keys remembered per signed prekey for replay rejection.
///
/// Beyond it the oldest are forgotten; rotating the signed prekey (and deleting the old one)
/// ends every replay window for it.
pub const MAX_ACCEPTED_BASE_KEYS: usize = 10_000;

/// Most one-time prekeys a prekey record holds.
pub const MAX_ONE_TIME_PREKEYS: usize = 10_000;

/// Most signed prekeys a prekey record holds (current plus those kept for a grace period).
pub const MAX_SIGNED_PREKEYS: usize = 8;

/// Largest wire message (envelope) accepted for decoding, in bytes.
///
/// 1 MiB of plaintext plus headers (a PQXDH prekey message adds about 1.2 KiB); larger
/// payloads belong in an attachment encrypted under a key sent in a message.
pub const MAX_MESSAGE_SIZE: usize = 1024 * 1024 + 2048;

/// Largest plaintext accepted for encryption, in bytes.
pub const MAX_PLAINTEXT_SIZE: usize = 1024 * 1024;

/// Largest persisted record accepted for decoding, in bytes.
///
/// A session at every limit (5 chains, 2,000 skipped keys) encodes to well under this.
pub const MAX_RECORD_SIZE: usize = 256 * 1024;

/// Largest per-peer session record (current plus archived sessions) accepted for decoding.
///
/// 41 sessions at their skipped-key limit encode to about 3.5 MiB; typical records are a few
/// KiB.
pub const MAX_SESSION_RECORD_SIZE: usize = 4 * 1024 * 1024;

/// Largest prekey record accepted for decoding, in bytes (accepted base keys dominate).
pub const MAX_PREKEYS_RECORD_SIZE: usize = 4 * 1024 * 1024;

/// Length of the reuse guard carried in each header and used as the nonce prefix.
pub const REUSE_GUARD_LEN: usize = 4;

/// Length of the session tag in each header.
pub const SESSION_TAG_LEN: usize = 8;

/// Length of a Poly1305 tag.
pub const AEAD_TAG_LEN: usize = 16;

/// HKDF info for the classical handshake's shared secret.
pub const LABEL_X3DH: &[u8] = b"sealpost x3dh v1";

/// HKDF info for the post-quantum hybrid handshake's shared secret (PQXDH).
pub const LABEL_PQXDH: &[u8] = b"sealpost pqxdh v1";

/// Signature context of an ML-KEM-768 prekey (one-time or last-resort).
pub const LABEL_KEM_PREKEY: &[u8] = b"sealpost kem prekey v1";

/// Length of an ML-KEM-768 encapsulation (public) key, FIPS 203 encoding.
pub const KEM_PUBLIC_KEY_LEN: usize = 1184;

/// Length of an ML-KEM-768 ciphertext.
pub const KEM_CIPHERTEXT_LEN: usize = 1088;

/// Length of an ML-KEM-768 key-generation seed `d || z` (FIPS 203 `ML-KEM.KeyGen_internal`),
/// the form in which KEM prekey secrets are stored.
pub const KEM_SEED_LEN: usize = 64;

/// Most one-time KEM prekeys a prekey record holds.
///
/// Each is stored as its 64-byte seed plus a 64-byte signature; the last-resort KEM prekey
/// serves initiators once they run out.
pub const MAX_ONE_TIME_KEM_PREKEYS: usize = 2_000;

/// Largest prekey bundle accepted for decoding, in bytes (a bundle with an ML-KEM-768 prekey
/// encodes to about 1.4 KiB).
pub const MAX_BUNDLE_SIZE: usize = 2048;

/// HKDF info for the root-key ratchet.
pub const LABEL_RATCHET: &[u8] = b"sealpost ratchet v1";

/// HKDF info for the session-tag key.
pub const LABEL_SESSION_TAG: &[u8] = b"sealpost session tag v1";

/// Signature context of a signed prekey.
pub const LABEL_SIGNED_PREKEY: &[u8] = b"sealpost spk v1";

/// Domain separation of the fingerprint hash.
pub const LABEL_FINGERPRINT: &[u8] = b"sealpost fingerprint v1";

/// Record kinds bound into the associated data of a sealed record (`seal`/`open`).
pub const RECORD_KIND_IDENTITY: u8 = 1;
/// See [`RECORD_KIND_IDENTITY`].
pub const RECORD_KIND_PREKEYS: u8 = 2;
/// See [`RECORD_KIND_IDENTITY`].
pub const RECORD_KIND_SESSION: u8 = 3;
/// See [`RECORD_KIND_IDENTITY`].
pub const RECORD_KIND_SENDER_KEYS: u8 = 4;

/// HMAC input byte that derives a message key from a chain key.
pub const CHAIN_MESSAGE_KEY_SEED: u8 = 0x01;

/// HMAC input byte that derives the next chain key.
pub const CHAIN_NEXT_KEY_SEED: u8 = 0x02;

/// Most sender chains kept per (channel, sender), the newest included; older ones are dropped
/// with their skipped keys.
///
/// A message still in flight on a chain its sender replaced four rekeys ago is lost, in return
/// for a bounded record per sender (at most 5 x `MAX_SKIPPED_KEYS` keys).
pub const MAX_CHAINS_PER_SENDER: usize = 5;

/// Most skipped message keys one group or subscription holds over all its chains.
///
/// Past it, the chain whose message caused the growth gives up its oldest keys, so one sender's
/// gaps never evict another sender's keys; 100,000 keys keep a record under 8 MiB.
pub const MAX_CHANNEL_SKIPPED_KEYS: usize = 100_000;

/// Most members of a group, the admin included.
///
/// Fan-out of one rekey is this many pairwise messages per sender; larger audiences belong in a
/// broadcast list, where only the business sends.
pub const MAX_GROUP_MEMBERS: usize = 1024;

/// Longest group or broadcast list id, in bytes (the associated data spends one length byte).
///
/// Room for a UUID or a readable list name, short enough to sit in every message's AAD.
pub const MAX_CHANNEL_ID_LEN: usize = 64;

/// Most customers a broadcast list remembers (subscribed or withdrawn, for replay rejection).
///
/// Each costs about 50 bytes of state; a business with more splits its audience over lists.
pub const MAX_BROADCAST_CUSTOMERS: usize = 100_000;

/// Most consent statements a broadcast list holds before [`take_audit_log`] must drain them.
///
/// About 250 bytes each; consent changes are refused (never dropped) while the log is full.
///
/// [`take_audit_log`]: crate::group::BroadcastList::take_audit_log
pub const MAX_AUDIT_ENTRIES: usize = 20_000;

/// Largest channel control message (the plaintext of a pairwise message) accepted, in bytes.
///
/// A roster of `MAX_GROUP_MEMBERS` members encodes to about 35 KiB.
pub const MAX_CONTROL_SIZE: usize = 64 * 1024;

/// Largest persisted group or subscription record accepted for decoding, in bytes.
///
/// A group at every limit (1,024 senders x 5 chains, 100,000 skipped keys) stays under it.
pub const MAX_GROUP_RECORD_SIZE: usize = 8 * 1024 * 1024;

/// Largest persisted broadcast list record or exported audit log accepted, in bytes.
///
/// `MAX_BROADCAST_CUSTOMERS` consent states plus `MAX_AUDIT_ENTRIES` statements stay under it.
pub const MAX_BROADCAST_RECORD_SIZE: usize = 16 * 1024 * 1024;

/// Length of the Ed25519 signature that ends every group message.
pub const GROUP_SIGNATURE_LEN: usize = 64;

/// Signature context of a group roster signed by its admin.
pub const LABEL_GROUP_ROSTER: &[u8] = b"sealpost group roster v1";

/// Signature context of a customer's consent statement.
pub const LABEL_CONSENT: &[u8] = b"sealpost consent v1";
