//! The SignatureVersion 2 signer (RSA key and self-signed certificate, sealed in the store)
//! and the SNS canonical strings.

use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use base64::Engine;
use serde_json::Value;

use crate::db;
use crate::error::{MonitorError, Result};

/// The SNS signing key and its self-signed certificate.
pub(crate) struct Signer {
    key: RsaKeyPair,
    pub(crate) cert_pem: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

/// Associated data of the sealed SNS signing key.
const SNS_KEY_LABEL: &str = "cairn-monitor/sns-signing-key";

impl Signer {
    /// Loads the key from `meta`, or generates an RSA-2048 key and a
    /// self-signed certificate and stores both.
    /// Loads the SNS signing key (sealed under `storage_key` when one is set; a plaintext
    /// key stored before is re-stored sealed) or creates one.
    pub(crate) fn load_or_create(
        conn: &rusqlite::Connection,
        storage_key: Option<&crate::seal::StorageKey>,
    ) -> Result<Signer> {
        let crypto = |e: &dyn std::fmt::Display| MonitorError::Crypto {
            detail: e.to_string(),
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        if let (Some(k), Some(c)) = (
            db::meta_get(conn, "sns_key_pkcs8")?,
            db::meta_get(conn, "sns_cert_pem")?,
        ) {
            let was_sealed = crate::seal::is_sealed(&k);
            let k = crate::seal::open(storage_key, SNS_KEY_LABEL, k)?;
            let der = b64.decode(&k).map_err(|e| crypto(&e))?;
            let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| crypto(&e))?;
            if !was_sealed && storage_key.is_some() {
                let sealed = crate::seal::seal(storage_key, SNS_KEY_LABEL, &k)?;
                db::meta_set(conn, "sns_key_pkcs8", &sealed)?;
            }
            return Ok(Signer { key, cert_pem: c });
        }
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| crypto(&e))?;
        let mut params = rcgen::CertificateParams::new(vec!["sns.cairn.local".to_string()])
            .map_err(|e| crypto(&e))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "sns.cairn.local");
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(3650);
        let cert = params.self_signed(&kp).map_err(|e| crypto(&e))?;
        let der = kp.serialize_der();
        let key = RsaKeyPair::from_pkcs8(&der).map_err(|e| crypto(&e))?;
        let cert_pem = cert.pem();
        let stored = crate::seal::seal(storage_key, SNS_KEY_LABEL, &b64.encode(&der))?;
        db::meta_set(conn, "sns_key_pkcs8", &stored)?;
        db::meta_set(conn, "sns_cert_pem", &cert_pem)?;
        Ok(Signer { key, cert_pem })
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> Result<String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
            .map_err(|e| MonitorError::Crypto {
                detail: e.to_string(),
            })?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sig))
    }

    pub(crate) fn public_key_der(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }
}

/// The SNS canonical string of an envelope: the signed keys of its `Type` in AWS's order
/// (`Subject` only when present), each as `key\nvalue\n`.
pub(crate) fn canonical(env: &Value) -> String {
    let keys: &[&str] = match env.get("Type").and_then(Value::as_str) {
        Some("SubscriptionConfirmation" | "UnsubscribeConfirmation") => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
        _ => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
    };
    let mut s = String::new();
    for k in keys {
        if let Some(v) = env.get(*k).and_then(Value::as_str) {
            s.push_str(k);
            s.push('\n');
            s.push_str(v);
            s.push('\n');
        }
    }
    s
}

/// Verifies the `Signature` of an SNS notification envelope (SignatureVersion
/// 2) with an RSA public key in PKCS#1 `RSAPublicKey` DER form (the
/// `subjectPublicKey` of the certificate at `SigningCertURL`).
pub fn verify_sns_signature(envelope: &Value, rsa_public_key_der: &[u8]) -> bool {
    if envelope.get("SignatureVersion").and_then(Value::as_str) != Some("2") {
        return false;
    }
    let Some(sig) = envelope
        .get("Signature")
        .and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
    else {
        return false;
    };
    UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, rsa_public_key_der)
        .verify(canonical(envelope).as_bytes(), &sig)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_string_order_and_optional_subject() {
        let env = json!({"Type": "Notification", "MessageId": "id", "TopicArn": "arn", "Message": "m", "Timestamp": "t"});
        assert_eq!(
            canonical(&env),
            "Message\nm\nMessageId\nid\nTimestamp\nt\nTopicArn\narn\nType\nNotification\n"
        );
        let env = json!({"Type": "Notification", "MessageId": "id", "TopicArn": "arn", "Message": "m", "Timestamp": "t", "Subject": "s"});
        assert!(canonical(&env).contains("MessageId\nid\nSubject\ns\nTimestamp"));
    }

    #[test]
    fn confirmation_canonical_string_signs_token_and_url() {
        let env = json!({"Type": "SubscriptionConfirmation", "MessageId": "id", "TopicArn": "arn",
            "Message": "m", "Timestamp": "t", "Token": "tok", "SubscribeURL": "u", "Subject": "ignored"});
        assert_eq!(
            canonical(&env),
            "Message\nm\nMessageId\nid\nSubscribeURL\nu\nTimestamp\nt\nToken\ntok\nTopicArn\narn\nType\nSubscriptionConfirmation\n"
        );
    }
}
