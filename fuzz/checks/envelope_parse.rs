//! `Envelope::parse` on arbitrary bytes: never panics, only parse errors, and what parses has
//! validated, stable accessors.

use sealpost::consts::{MAX_MESSAGE_SIZE, PROTOCOL_VERSION};
use sealpost::{DecryptError, Envelope, IdentityKey};

pub fn check(data: &[u8]) {
    match Envelope::parse(data) {
        Ok(envelope) => {
            assert!(data.len() <= MAX_MESSAGE_SIZE, "oversized message parsed");
            let shown = format!("{envelope:?}");
            match envelope {
                Envelope::PreKey(p) => {
                    // The sender identity passed validation: it re-validates to itself.
                    let identity = *p.sender_identity();
                    assert_eq!(IdentityKey::from_bytes(identity.as_bytes()), Ok(identity));
                    let again = Envelope::parse(data).expect("parsing is deterministic");
                    let Envelope::PreKey(q) = again else {
                        panic!("the same bytes parsed as a different kind of envelope");
                    };
                    assert_eq!(q.sender_identity(), p.sender_identity());
                    assert_eq!(q.base_key(), p.base_key());
                    assert_eq!(q.signed_prekey_id(), p.signed_prekey_id());
                    assert_eq!(q.one_time_prekey_id(), p.one_time_prekey_id());
                }
                Envelope::Ratchet(_) => {}
                _ => {}
            }
            let again = Envelope::parse(data).expect("parsing is deterministic");
            assert_eq!(format!("{again:?}"), shown);
        }
        Err(DecryptError::UnsupportedVersion(v)) => {
            assert_ne!(
                v,
                u32::from(PROTOCOL_VERSION),
                "version 1 reported unsupported"
            );
        }
        Err(DecryptError::Malformed) => {}
        Err(e) => panic!("parsing returned a non-parsing error: {e:?}"),
    }
}
