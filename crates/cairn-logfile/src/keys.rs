//! RSA signing keys for digests (spec §7.2, §8): generation, SHA256withRSA PKCS#1 v1.5
//! signing and verification, the PKCS#1 public key and its MD5 fingerprint, private-key import
//! (PKCS#1 / PKCS#8, DER or PEM) and PKCS#8 export.
//!
//! All cryptography is aws-lc-rs; this module only moves bytes around.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use md5::{Digest as _, Md5};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The only signature algorithm CloudTrail uses, as written in digests and metadata.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";

/// Secret bytes (a private key): zeroised on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(Zeroizing::new(bytes))
    }

    /// The secret itself. Do not log it.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes([REDACTED; {} bytes])", self.0.len())
    }
}

/// Lowercase hex MD5 of a public key's DER bytes: the CloudTrail key fingerprint.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Md5::digest(der))
}

fn rejected(reason: impl std::fmt::Display) -> Error {
    Error::KeyRejected {
        reason: reason.to_string(),
    }
}

/// An RSA public key in the form `ListPublicKeys` publishes: PKCS#1 `RSAPublicKey` DER.
#[derive(Clone)]
pub struct PublicKey {
    der: Vec<u8>,
    fingerprint: String,
    parsed: ParsedPublicKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}
impl Eq for PublicKey {}

impl PublicKey {
    /// Loads a PKCS#1 `RSAPublicKey` DER key (2048..=8192 bits).
    ///
    /// Like the AWS CLI (`load_pkcs1`), X.509 `SubjectPublicKeyInfo` is rejected: a key we
    /// publish in that form would fail `validate-logs`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        let key = aws_lc_rs::rsa::PublicKey::from_der(der).map_err(rejected)?;
        if key.as_ref() != der {
            return Err(rejected("not a PKCS#1 RSAPublicKey DER encoding"));
        }
        let bits = key.modulus_len() * 8;
        if !(2048..=8192).contains(&bits) {
            return Err(rejected(format!(
                "{bits}-bit modulus, expected 2048..=8192"
            )));
        }
        let parsed =
            ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der).map_err(rejected)?;
        Ok(PublicKey {
            der: der.to_vec(),
            fingerprint: fingerprint(der),
            parsed,
        })
    }

    /// Loads the base64 `Value` of a `ListPublicKeys` item.
    pub fn from_base64(value: &str) -> Result<Self> {
        let der = B64
            .decode(value.trim())
            .map_err(|e| rejected(format!("base64: {e}")))?;
        Self::from_pkcs1_der(&der)
    }

    /// The PKCS#1 DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Standard base64 of the DER bytes (the `ListPublicKeys` `Value`).
    pub fn to_base64(&self) -> String {
        B64.encode(&self.der)
    }

    /// Lowercase hex MD5 of the DER bytes.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.verify_sig(message, signature).is_ok()
    }

    /// Verifies a lowercase or uppercase hex signature; `false` if it is not hex.
    pub fn verify_hex(&self, message: &[u8], signature_hex: &str) -> bool {
        match hex::decode(signature_hex) {
            Ok(sig) => self.verify(message, &sig),
            Err(_) => false,
        }
    }
}

/// An RSA private key that signs digests. `Debug` shows only the fingerprint.
pub struct SigningKey {
    pair: KeyPair,
    public: PublicKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.public.fingerprint)
            .field("private", &"[REDACTED]")
            .finish()
    }
}

impl SigningKey {
    fn from_pair(pair: KeyPair) -> Result<Self> {
        let public = PublicKey::from_pkcs1_der(pair.public_key().as_ref())?;
        Ok(SigningKey { pair, public })
    }

    /// Generates a fresh RSA-2048 key (the size AWS uses).
    pub fn generate() -> Result<Self> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| Error::Crypto {
            op: "key generation",
        })?;
        Self::from_pair(pair)
    }

    /// Imports a PKCS#8 `PrivateKeyInfo` DER key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        Self::from_pair(KeyPair::from_pkcs8(der).map_err(rejected)?)
    }

    /// Imports a PKCS#1 `RSAPrivateKey` DER key.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self> {
        Self::from_pair(KeyPair::from_der(der).map_err(rejected)?)
    }

    /// Imports a DER key that is either PKCS#8 or PKCS#1.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Self::from_pkcs8_der(der).or_else(|_| Self::from_pkcs1_der(der))
    }

    /// Imports a PEM key: `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8).
    /// Encrypted PEM is not supported.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let (label, der) = decode_pem(pem)?;
        match label.as_str() {
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(&der),
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            other => Err(rejected(format!("unsupported PEM label {other:?}"))),
        }
    }

    /// Exports the private key as PKCS#8 v1 DER (encrypt it before storing).
    pub fn to_pkcs8_der(&self) -> Result<SecretBytes> {
        let der = self.pair.as_der().map_err(|_| Error::Crypto {
            op: "private key export",
        })?;
        Ok(SecretBytes::new(der.as_ref().to_vec()))
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The public key fingerprint.
    pub fn fingerprint(&self) -> &str {
        self.public.fingerprint()
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 SHA-256 (deterministic).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
            .map_err(|_| Error::Crypto { op: "signing" })?;
        Ok(sig)
    }

    /// Signs `message` and returns the lowercase hex signature (`x-amz-meta-signature`).
    pub fn sign_hex(&self, message: &[u8]) -> Result<String> {
        self.sign(message).map(hex::encode)
    }
}

/// Decodes one PEM block into (label, DER). The DER is zeroised on drop.
fn decode_pem(pem: &str) -> Result<(String, Zeroizing<Vec<u8>>)> {
    let pem = pem.trim();
    let first = pem.lines().next().unwrap_or_default().trim();
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or_else(|| rejected("missing PEM BEGIN line"))?
        .to_owned();
    let end = format!("-----END {label}-----");
    let mut body = Zeroizing::new(String::new());
    let mut ended = false;
    for line in pem.lines().skip(1) {
        let line = line.trim();
        if line == end {
            ended = true;
            break;
        }
        if line.contains(':') {
            return Err(rejected("encrypted or annotated PEM is not supported"));
        }
        body.push_str(line);
    }
    if !ended {
        return Err(rejected("missing PEM END line"));
    }
    let der = B64
        .decode(body.as_bytes())
        .map_err(|e| rejected(format!("PEM base64: {e}")))?;
    Ok((label, Zeroizing::new(der)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The §9 throwaway test key. Never use outside tests.
    pub(crate) const SPEC_PEM: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpAIBAAKCAQEAzZSQRWv0Ui+pGoocXzeVRxRym2go7E4/Z7HD8PzkKthMMcej
CvXiCFd3j0z+JA2gmkSDSh/3/2Ska8Ff0qQmGccOo55Xuv02flJd7TcyQi0eGwwD
fD305MLeaL4o8qlLC3h0Ck09W86Mik/4PQNq66ZlP1UckN71tevNUaiYtAtVo3bI
wOUqNFHE+ndU2YDlBa9nEV/D7OiadS8Pjqd1pvXm+B7uLT4Rmj2gm2f0qhbdHoDR
udVdSi1yVBrhrRT21GzWMxrinFFGaU2huY7DbigSqOe1JxUQACUPF/e+78pwFBBu
KG2RNvmeNu9GkZT/F/DM0Y/WyhLgbvaAX5NQJwIDAQABAoIBADGEUrm99nPjUfZ4
BLx0jWq5BJ/lF1JPyJrn6Pu/Vg/x2Gx3GxD1R7PdqYklMOOrOp9d2Ee+6oOkEKx5
v+RjMGAuH5sOdTAvdHQ5z7DnBh6FcoZuPtqqq7V8MIkHIKLOXyqMoVqn3xshZZ2d
BHxhudu30RRPollMst9WRDaihuF6mOim6llKJN6pOvwdWFnHGR2RUVIMQW6TScLP
qUF8rVDFvxDBphr0wkcNfPyASALZQPO18HSefJEySozeoa7J0fzlqP7a0R/nWRfc
ZgpMHXRyEk+Gr0IasyMOFIEfIvyYevevKSGhabiYMETT9bb3tn6cp90ASAuppKeD
9nrKnuUCgYEA6ElN3e3Gww8b52Oy1GN92lWfX27Lci4y2Qkq8NzbbQZ2QgdGoRHY
PZrCGQCax3bx7Ufc08q/Nj/Gso38xma7sNIXkFuM1IuriOX0TXLuzKsIGOEJlEe0
yfBDm1OMbv1cMIZYf++XgOAcDqzPZncuu/Y+JLUTpLvIRCQonpKZywMCgYEA4pFP
XFO5FP/LkwQCxvjpXPr2vZaqnEhuzIVp8JorWL3mV/03IG0k0y6bJRmskCoZSbMg
T9ryCIZL7fuZhS0CS4T+kXKGANo0vMWUvDXJ5ec5dQw3T7x4AQMjbHdV5TuONjWu
HzwDms/EjCyWPM2UKHsszoDigqxqkeTuwTtjqw0CgYEAkTSBwKHLBlSDlPn16F7p
ZXrwza9s7kuC7bmVZkwpvtWzR0NVG4sUKi579zUxjE8GnNW3bY3oSflENIod4ciG
u9oZcNxKBPPqnwFg3qliLf8caLEEU/UfRr0zBf4MY7Vt08enuxIDG0T9RQ8x91O5
mzYrUrb/OJNKdY5E9huemBECgYEA03zefolsT6zCY1YwHXlFpFRjM+/LDB0Ux/aV
QFE4uxpwRJwJ9EvNPw/XJFeF3ABgIIqDU+dFXC23/MqJsGWmKcZYNn6XlX4aEkfA
obr33pHq8VZY3yZHQnKig2IVnOftxK5w/ZjwqHbeuhX4m4MulGb+GTj3txCoXc08
DMWaMJUCgYA+JR3fz5kQkB2Auj00x3L5UIzaMkyyTpSQUq96IgUoBbfiytAuzNqS
Fpu3BE09rWTADA9esky/8G/gz3TqOHPfAnOIpjNfh9rYvominsQuSEovJt03XD/P
mYMsMWJLMvRQn1OLQPRLVbsJERSqc+EeSmqChfHAsK1RWVZxd/ds1g==
-----END RSA PRIVATE KEY-----
";
    pub(crate) const SPEC_PUBLIC_B64: &str = "MIIBCgKCAQEAzZSQRWv0Ui+pGoocXzeVRxRym2go7E4/Z7HD8PzkKthMMcejCvXiCFd3j0z+JA2gmkSDSh/3/2Ska8Ff0qQmGccOo55Xuv02flJd7TcyQi0eGwwDfD305MLeaL4o8qlLC3h0Ck09W86Mik/4PQNq66ZlP1UckN71tevNUaiYtAtVo3bIwOUqNFHE+ndU2YDlBa9nEV/D7OiadS8Pjqd1pvXm+B7uLT4Rmj2gm2f0qhbdHoDRudVdSi1yVBrhrRT21GzWMxrinFFGaU2huY7DbigSqOe1JxUQACUPF/e+78pwFBBuKG2RNvmeNu9GkZT/F/DM0Y/WyhLgbvaAX5NQJwIDAQAB";
    pub(crate) const SPEC_FINGERPRINT: &str = "b2ead06924bc1fd802099fc8106d50e4";

    /// A file of `shared/data/digests` beside the checkout.
    pub(crate) fn data(rel: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../../shared/data/digests/{rel}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn spec_key_known_answers() {
        let k = SigningKey::from_pem(SPEC_PEM).unwrap();
        assert_eq!(k.public_key().to_base64(), SPEC_PUBLIC_B64);
        assert!(k.public_key().to_base64().starts_with("MIIBCgKCAQEA"));
        assert_eq!(k.public_key().der().len(), 270);
        assert_eq!(k.fingerprint(), SPEC_FINGERPRINT);
        let from_b64 = PublicKey::from_base64(SPEC_PUBLIC_B64).unwrap();
        assert_eq!(&from_b64, k.public_key());
        assert!(!format!("{k:?}").contains("MII"));
    }

    #[test]
    fn pkcs8_round_trip_and_formats() {
        let k = SigningKey::from_pem(SPEC_PEM).unwrap();
        let p8 = k.to_pkcs8_der().unwrap();
        assert!(format!("{p8:?}").contains("REDACTED"));
        let k8 = SigningKey::from_pkcs8_der(p8.expose_secret()).unwrap();
        assert_eq!(k8.fingerprint(), SPEC_FINGERPRINT);
        let k8b = SigningKey::from_der(p8.expose_secret()).unwrap();
        assert_eq!(k8b.fingerprint(), SPEC_FINGERPRINT);
        let pem8 = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            B64.encode(p8.expose_secret())
        );
        assert_eq!(
            SigningKey::from_pem(&pem8).unwrap().fingerprint(),
            SPEC_FINGERPRINT
        );
        let (_, pkcs1) = decode_pem(SPEC_PEM).unwrap();
        assert_eq!(
            SigningKey::from_der(&pkcs1).unwrap().fingerprint(),
            SPEC_FINGERPRINT
        );
        let msg = b"same message";
        assert_eq!(k.sign(msg).unwrap(), k8.sign(msg).unwrap());
    }

    #[test]
    fn bad_keys() {
        assert!(SigningKey::from_pem("nonsense").is_err());
        assert!(
            SigningKey::from_pem(
                "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----"
            )
            .is_err()
        );
        assert!(SigningKey::from_pem("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n-----END RSA PRIVATE KEY-----").is_err());
        assert!(SigningKey::from_der(b"\x30\x03\x02\x01\x00").is_err());
        assert!(PublicKey::from_base64("not base64!").is_err());
        // SubjectPublicKeyInfo of the spec key: valid RSA, wrong container for the CLI.
        let spki = aws_lc_rs::rsa::PublicKey::from_der(&B64.decode(SPEC_PUBLIC_B64).unwrap())
            .unwrap()
            .as_der()
            .unwrap();
        assert!(B64.encode(spki.as_ref()).starts_with("MIIBIjANBg"));
        assert!(PublicKey::from_pkcs1_der(spki.as_ref()).is_err());
    }

    #[test]
    fn generate_sign_verify() {
        let k = SigningKey::generate().unwrap();
        assert_eq!(k.public_key().der().len(), 270);
        assert!(k.public_key().to_base64().starts_with("MIIBCgKCAQEA"));
        assert_eq!(k.fingerprint().len(), 32);
        let sig = k.sign_hex(b"hello").unwrap();
        assert_eq!(sig.len(), 512);
        assert!(
            sig.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert!(k.public_key().verify_hex(b"hello", &sig));
        assert!(!k.public_key().verify_hex(b"hellO", &sig));
        assert!(!k.public_key().verify_hex(b"hello", "zz"));
        let spec = SigningKey::from_pem(SPEC_PEM).unwrap();
        assert!(!spec.public_key().verify_hex(b"hello", &sig));
    }

    #[test]
    fn aws_published_fingerprints() {
        // ListPublicKeys example output in the aws-cli repository (a real AWS key).
        let v: serde_json::Value =
            serde_json::from_slice(&data("aws-cli/list-public-keys.example-output.json")).unwrap();
        let item = &v["PublicKeyList"][0];
        let k = PublicKey::from_base64(item["Value"].as_str().unwrap()).unwrap();
        assert_eq!(k.fingerprint(), item["Fingerprint"].as_str().unwrap());
        assert_eq!(k.fingerprint(), "7f3f401420072e50a65a141430817ab3");
        // The user guide's ListPublicKeys sample / aws-cli VALID_TEST_KEY.
        let v: serde_json::Value =
            serde_json::from_slice(&data("aws-cli/validation_test_vectors.json")).unwrap();
        let k = PublicKey::from_base64(v["upstream_test_key"]["value"].as_str().unwrap()).unwrap();
        assert_eq!(k.fingerprint(), "8eba5db5bea9b640d1c96a77256fe7f2");
        // aws-cli test key pair, public half (PKCS#1 DER file).
        let der = data("aws-cli/sample_public_key.der");
        let k = PublicKey::from_pkcs1_der(&der).unwrap();
        assert_eq!(k.fingerprint(), "3a35183f878722f06327a2c6f5948836");
    }
}
