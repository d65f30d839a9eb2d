//! X3DH key agreement (PROTOCOL.md §3) and its post-quantum hybrid PQXDH (§3b).
//!
//! ```text
//! DH1 = DH(IK_A, SPK_B)  DH2 = DH(EK_A, IK_B)  DH3 = DH(EK_A, SPK_B)  DH4 = DH(EK_A, OPK_B)
//! SK  = HKDF-SHA256(salt = 0^32, ikm = 0xFF^32 || DH1 || DH2 || DH3 [|| DH4],
//!                   info = "sealpost x3dh v1", L = 32)
//! PQXDH, with (CT, SS) = ML-KEM-768.Encaps(PQPK_B):
//! SK  = HKDF-SHA256(salt = 0^32, ikm = 0xFF^32 || DH1 || DH2 || DH3 [|| DH4] || SS,
//!                   info = "sealpost pqxdh v1", L = 32)
//! AD  = IK_A || IK_B   (Ed25519 encodings)
//! ```

use x25519_dalek::SharedSecret;

use crate::consts::{LABEL_PQXDH, LABEL_X3DH};
use crate::error::HandshakeError;
use crate::kdf::hkdf_sha256;
use crate::keys::{DhKeyPair, IdentityKey, IdentityKeyPair, Secret32};
use crate::prekey::VerifiedBundle;

/// The handshake's outputs: the shared secret (initial root key) and the associated data.
pub(crate) struct Agreement {
    pub(crate) shared_secret: Secret32,
    pub(crate) associated_data: [u8; 64],
}

/// The three or four DH outputs, in order, each checked to be contributory.
pub(crate) struct DhOutputs(pub(crate) [Option<SharedSecret>; 4]);

impl DhOutputs {
    fn checked(list: [Option<SharedSecret>; 4]) -> Result<Self, HandshakeError> {
        if list.iter().flatten().any(|s| !s.was_contributory()) {
            return Err(HandshakeError::NonContributory);
        }
        Ok(DhOutputs(list))
    }

    /// `SK` from these outputs and, for PQXDH, the ML-KEM shared secret `SS`.
    pub(crate) fn shared_secret(&self, kem: Option<&Secret32>) -> Secret32 {
        let mut ikm: [&[u8]; 6] = [&[0xff; 32], &[], &[], &[], &[], &[]];
        for (slot, dh) in ikm[1..5].iter_mut().zip(&self.0) {
            if let Some(dh) = dh {
                *slot = dh.as_bytes();
            }
        }
        let label = match kem {
            Some(ss) => {
                ikm[5] = &ss.0;
                LABEL_PQXDH
            }
            None => LABEL_X3DH,
        };
        Secret32(hkdf_sha256(&[0u8; 32], &ikm, label))
    }
}

fn associated_data(initiator: &IdentityKey, responder: &IdentityKey) -> [u8; 64] {
    let mut ad = [0u8; 64];
    ad[..32].copy_from_slice(initiator.as_bytes());
    ad[32..].copy_from_slice(responder.as_bytes());
    ad
}

/// The initiator's DH outputs; `ephemeral` is `EK_A`.
pub(crate) fn initiator_dh(
    identity: &IdentityKeyPair,
    ephemeral: &DhKeyPair,
    bundle: &VerifiedBundle,
) -> Result<DhOutputs, HandshakeError> {
    let spk = bundle.signed_prekey();
    DhOutputs::checked([
        Some(identity.dh(&x25519_dalek::PublicKey::from(*spk))),
        Some(ephemeral.dh(&bundle.identity().dh_public().to_bytes())),
        Some(ephemeral.dh(spk)),
        bundle.one_time_prekey().map(|(_, opk)| ephemeral.dh(opk)),
    ])
}

/// The responder's DH outputs, mirroring [`initiator_dh`].
pub(crate) fn responder_dh(
    identity: &IdentityKeyPair,
    signed_prekey: &DhKeyPair,
    one_time_prekey: Option<&DhKeyPair>,
    initiator: &IdentityKey,
    base_key: &[u8; 32],
) -> Result<DhOutputs, HandshakeError> {
    DhOutputs::checked([
        Some(signed_prekey.dh(&initiator.dh_public().to_bytes())),
        Some(identity.dh(&x25519_dalek::PublicKey::from(*base_key))),
        Some(signed_prekey.dh(base_key)),
        one_time_prekey.map(|k| k.dh(base_key)),
    ])
}

impl Agreement {
    pub(crate) fn new(
        dh: &DhOutputs,
        kem: Option<&Secret32>,
        initiator: &IdentityKey,
        responder: &IdentityKey,
    ) -> Self {
        Agreement {
            shared_secret: dh.shared_secret(kem),
            associated_data: associated_data(initiator, responder),
        }
    }
}
