//! Signing-key derivation (`kDate/kRegion/kService/kSigning`) and a small cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::credential::SecretKey;

type HmacSha256 = Hmac<Sha256>;

/// `HMAC-SHA256(key, data)`.
#[must_use]
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A derived SigV4 signing key. Zeroised on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey([u8; 32]);

impl SigningKey {
    /// Derives the key for one scope:
    /// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    #[must_use]
    pub fn derive(secret: &SecretKey, date: &str, region: &str, service: &str) -> Self {
        let mut k = Zeroizing::new(Vec::with_capacity(secret.expose().len() + 4));
        k.extend_from_slice(b"AWS4");
        k.extend_from_slice(secret.expose().as_bytes());
        let mut k_date = hmac_sha256(&k, date.as_bytes());
        let mut k_region = hmac_sha256(&k_date, region.as_bytes());
        let mut k_service = hmac_sha256(&k_region, service.as_bytes());
        let signing = hmac_sha256(&k_service, b"aws4_request");
        k_date.zeroize();
        k_region.zeroize();
        k_service.zeroize();
        Self(signing)
    }

    /// The lowercase hex signature of `string_to_sign`.
    #[must_use]
    pub fn sign(&self, string_to_sign: &str) -> String {
        hex::encode(hmac_sha256(&self.0, string_to_sign.as_bytes()))
    }

    /// Constant-time check of a hex signature (`hmac`'s `verify_slice`).
    #[must_use]
    pub fn verify(&self, string_to_sign: &str, signature_hex: &str) -> bool {
        let mut provided = [0u8; 32];
        if signature_hex.len() != 64 || hex::decode_to_slice(signature_hex, &mut provided).is_err()
        {
            return false;
        }
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(string_to_sign.as_bytes());
        mac.verify_slice(&provided).is_ok()
    }
}

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

#[derive(Hash, PartialEq, Eq)]
struct CacheKey {
    access_key_id: String,
    secret_fingerprint: [u8; 32],
    date: String,
    region: String,
    service: String,
}

/// A bounded cache of signing keys keyed by (access key id, SHA-256 of the secret, date,
/// region, service): the secret's digest is part of the key so a rotated secret never hits a
/// stale entry. When full it is simply cleared (keys change daily anyway).
pub struct SigningKeyCache {
    map: Mutex<HashMap<CacheKey, SigningKey>>,
    capacity: usize,
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl SigningKeyCache {
    /// A cache holding at most `capacity` keys (0 disables caching).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The signing key for the scope, derived on a miss.
    #[must_use]
    pub fn get(
        &self,
        access_key_id: &str,
        secret: &SecretKey,
        date: &str,
        region: &str,
        service: &str,
    ) -> SigningKey {
        if self.capacity == 0 {
            return SigningKey::derive(secret, date, region, service);
        }
        let key = CacheKey {
            access_key_id: access_key_id.to_owned(),
            secret_fingerprint: Sha256::digest(secret.expose().as_bytes()).into(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        };
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(k) = map.get(&key) {
            return k.clone();
        }
        let derived = SigningKey::derive(secret, date, region, service);
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(key, derived.clone());
        derived
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing key example from AWS's SigV4 documentation
    /// (secret `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`, 20120215/us-east-1/iam).
    #[test]
    fn derive_known_answer() {
        let k = SigningKey::derive(
            &SecretKey::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k.0),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cache_respects_secret_rotation() {
        let cache = SigningKeyCache::new(2);
        let a = cache.get("AK", &SecretKey::from("one"), "20200101", "r", "s");
        let b = cache.get("AK", &SecretKey::from("two"), "20200101", "r", "s");
        assert_ne!(a, b);
        assert_eq!(
            a,
            cache.get("AK", &SecretKey::from("one"), "20200101", "r", "s")
        );
        let _ = cache.get("AK", &SecretKey::from("three"), "20200101", "r", "s");
        assert!(cache.map.lock().unwrap().len() <= 2);
    }

    #[test]
    fn verify_rejects_bad_hex() {
        let k = SigningKey::derive(&SecretKey::from("s"), "20200101", "r", "s");
        let sig = k.sign("x");
        assert!(k.verify("x", &sig));
        assert!(!k.verify("x", &format!("g{}", &sig[1..])));
        assert!(!k.verify("x", &sig[..62]));
        assert!(!k.verify("y", &sig));
    }
}
