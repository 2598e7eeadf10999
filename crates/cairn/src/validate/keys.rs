//! Public keys for offline validation: files given with `--public-key`.
//!
//! Accepted forms (several keys per file allowed):
//! - PEM: `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1) or `-----BEGIN PUBLIC KEY-----` (X.509
//!   SubjectPublicKeyInfo of an RSA key, as `openssl rsa -pubout` writes);
//! - DER: PKCS#1 `RSAPublicKey` or SubjectPublicKeyInfo;
//! - base64 of either DER form, one key per line (the `Value` of `ListPublicKeys`);
//! - JSON: the output of `aws cloudtrail list-public-keys` (`{"PublicKeyList": [...]}`);
//!   each key is filed under its published `Fingerprint`.
//!
//! Keys from the other forms are filed under their computed fingerprint (MD5 of the PKCS#1
//! DER), which is what CloudTrail publishes.

use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use cairn_logfile::keys::PublicKey;
use cairn_logfile::validate::PublicKeySet;

/// DER of the `rsaEncryption` OID (1.2.840.113549.1.1.1), tag and length included.
const RSA_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

/// Reads one DER TLV; returns (tag, contents, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The PKCS#1 `RSAPublicKey` inside a SubjectPublicKeyInfo, if `der` is one.
fn spki_to_pkcs1(der: &[u8]) -> Option<&[u8]> {
    let (0x30, spki, _) = der_tlv(der)? else {
        return None;
    };
    let (0x30, alg, rest) = der_tlv(spki)? else {
        return None;
    };
    if !alg.starts_with(RSA_OID) {
        return None;
    }
    let (0x03, bits, _) = der_tlv(rest)? else {
        return None;
    };
    match bits.split_first() {
        Some((0, key)) => Some(key),
        _ => None,
    }
}

/// Parses PKCS#1 or SPKI DER.
fn key_from_der(der: &[u8]) -> Result<PublicKey> {
    if let Ok(k) = PublicKey::from_pkcs1_der(der) {
        return Ok(k);
    }
    if let Some(inner) = spki_to_pkcs1(der) {
        return PublicKey::from_pkcs1_der(inner).context("not a usable RSA public key");
    }
    bail!("not a PKCS#1 or SubjectPublicKeyInfo RSA public key")
}

fn b64(text: &str) -> Result<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .context("invalid base64")
}

/// Adds every key in `bytes` (read from `what`) to `set`; returns how many.
pub(crate) fn load_bytes(bytes: &[u8], what: &str, set: &mut PublicKeySet) -> Result<usize> {
    let text = std::str::from_utf8(bytes).ok();
    let trimmed = text.map(str::trim_start);
    // JSON from `aws cloudtrail list-public-keys`.
    if let Some(t) = trimmed.filter(|t| t.starts_with('{')) {
        let v: serde_json::Value =
            serde_json::from_str(t).with_context(|| format!("{what}: invalid JSON"))?;
        let Some(list) = v.get("PublicKeyList").and_then(serde_json::Value::as_array) else {
            bail!("{what}: JSON without a PublicKeyList array");
        };
        for item in list {
            let (Some(value), Some(fp)) = (
                item.get("Value").and_then(serde_json::Value::as_str),
                item.get("Fingerprint").and_then(serde_json::Value::as_str),
            ) else {
                bail!("{what}: a PublicKeyList item lacks Value or Fingerprint");
            };
            set.insert_listed(fp, &b64(value).with_context(|| format!("{what}: {fp}"))?);
        }
        return Ok(list.len());
    }
    // PEM, one or more blocks.
    if let Some(t) = trimmed.filter(|t| t.starts_with("-----BEGIN")) {
        let mut n = 0;
        let mut body: Option<String> = None;
        for line in t.lines() {
            let line = line.trim();
            if line.starts_with("-----BEGIN") {
                if !line.contains("PUBLIC KEY") {
                    bail!("{what}: {line} is not a public key");
                }
                body = Some(String::new());
            } else if line.starts_with("-----END") {
                let Some(b) = body.take() else {
                    bail!("{what}: END without BEGIN");
                };
                let der = b64(&b).with_context(|| format!("{what}: PEM block {}", n + 1))?;
                set.insert(
                    key_from_der(&der).with_context(|| format!("{what}: PEM block {}", n + 1))?,
                );
                n += 1;
            } else if let Some(b) = body.as_mut()
                && !line.contains(':')
            {
                b.push_str(line);
            }
        }
        if body.is_some() || n == 0 {
            bail!("{what}: incomplete PEM");
        }
        return Ok(n);
    }
    // DER.
    if bytes.first() == Some(&0x30) {
        set.insert(key_from_der(bytes).with_context(|| format!("{what}: DER"))?);
        return Ok(1);
    }
    // Base64, one key per non-empty line.
    let Some(t) = text else {
        bail!("{what}: not PEM, DER, base64 or JSON");
    };
    let mut n = 0;
    for (i, line) in t.lines().map(str::trim).enumerate() {
        if line.is_empty() {
            continue;
        }
        let der = b64(line).with_context(|| format!("{what}: line {}", i + 1))?;
        set.insert(key_from_der(&der).with_context(|| format!("{what}: line {}", i + 1))?);
        n += 1;
    }
    if n == 0 {
        bail!("{what}: no key found");
    }
    Ok(n)
}

/// Loads every file into one set.
pub(crate) fn load_files(files: &[impl AsRef<Path>]) -> Result<PublicKeySet> {
    let mut set = PublicKeySet::new();
    for f in files {
        let f = f.as_ref();
        let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
        load_bytes(&bytes, &f.display().to_string(), &mut set)?;
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_logfile::keys::SigningKey;

    fn pem(label: &str, der: &[u8]) -> String {
        let b = base64::engine::general_purpose::STANDARD.encode(der);
        let mut s = format!("-----BEGIN {label}-----\n");
        for chunk in b.as_bytes().chunks(64) {
            s.push_str(std::str::from_utf8(chunk).unwrap());
            s.push('\n');
        }
        s.push_str(&format!("-----END {label}-----\n"));
        s
    }

    /// Wraps PKCS#1 DER in a SubjectPublicKeyInfo (2048-bit sized lengths).
    fn spki(pkcs1: &[u8]) -> Vec<u8> {
        let mut bits = vec![0u8];
        bits.extend_from_slice(pkcs1);
        let mut alg = RSA_OID.to_vec();
        alg.extend_from_slice(&[0x05, 0x00]);
        let tlv = |tag: u8, body: &[u8]| {
            let mut v = vec![tag];
            let len = body.len();
            if len < 0x80 {
                v.push(len as u8);
            } else {
                v.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
            }
            v.extend_from_slice(body);
            v
        };
        let mut inner = tlv(0x30, &alg);
        inner.extend(tlv(0x03, &bits));
        tlv(0x30, &inner)
    }

    #[test]
    fn every_form_loads() {
        let a = SigningKey::generate().unwrap();
        let b = SigningKey::generate().unwrap();
        let da = a.public_key().der().to_vec();
        let db = b.public_key().der().to_vec();
        let b64a = base64::engine::general_purpose::STANDARD.encode(&da);
        let b64b = base64::engine::general_purpose::STANDARD.encode(&db);
        let cases: Vec<(Vec<u8>, usize)> = vec![
            (pem("RSA PUBLIC KEY", &da).into_bytes(), 1),
            (
                (pem("RSA PUBLIC KEY", &da) + &pem("PUBLIC KEY", &spki(&db))).into_bytes(),
                2,
            ),
            (da.clone(), 1),
            (spki(&da), 1),
            (format!("{b64a}\n\n{b64b}\n").into_bytes(), 2),
            (
                format!(
                    r#"{{"PublicKeyList":[{{"Value":"{b64a}","Fingerprint":"{}"}}]}}"#,
                    a.fingerprint()
                )
                .into_bytes(),
                1,
            ),
        ];
        for (bytes, n) in cases {
            let mut set = PublicKeySet::new();
            assert_eq!(load_bytes(&bytes, "t", &mut set).unwrap(), n);
            assert_eq!(set.len(), n);
        }
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            &b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"[..],
            b"-----BEGIN PUBLIC KEY-----\nAAAA\n",
            b"not base64 !!",
            b"\x30\x03\x02\x01\x01",
            b"{\"x\":1}",
            b"",
        ] {
            assert!(load_bytes(bad, "t", &mut PublicKeySet::new()).is_err());
        }
    }
}
