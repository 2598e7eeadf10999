//! Parsing of the `Authorization` header and of presigned-URL query parameters.

use crate::canonical::parse_query;
use crate::error::AuthError;

/// The only algorithm we verify.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Largest `X-Amz-Expires` AWS accepts: seven days.
pub const MAX_PRESIGN_EXPIRES: u32 = 604_800;

/// `AKID/YYYYMMDD/region/service/aws4_request`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// The access key id.
    pub access_key_id: String,
    /// `YYYYMMDD`.
    pub date: String,
    /// e.g. `us-east-1`.
    pub region: String,
    /// The signing name the server routes on: `cloudtrail`, `s3`, `kms`, `logs`, `sts`, ...
    pub service: String,
}

impl CredentialScope {
    /// Parses `AKID/YYYYMMDD/region/service/aws4_request`.
    ///
    /// # Errors
    /// [`AuthError::IncompleteSignature`] when the shape is wrong.
    pub fn parse(credential: &str) -> Result<Self, AuthError> {
        let bad = || {
            incomplete(format!(
                "Credential should be scoped to a valid region and service: '{credential}'"
            ))
        };
        // rsplitn so a (non-AWS) access key containing '/' still parses unambiguously
        let mut parts = credential.rsplitn(5, '/');
        let terminator = parts.next().ok_or_else(bad)?;
        let service = parts.next().ok_or_else(bad)?;
        let region = parts.next().ok_or_else(bad)?;
        let date = parts.next().ok_or_else(bad)?;
        let access_key_id = parts.next().ok_or_else(bad)?;
        if terminator != "aws4_request" {
            return Err(incomplete(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            )));
        }
        if access_key_id.is_empty()
            || service.is_empty()
            || region.is_empty()
            || date.len() != 8
            || !date.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }

    /// `YYYYMMDD/region/service/aws4_request` (the scope line of the string to sign).
    #[must_use]
    pub fn scope_string(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// Where the signature came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthLocation {
    /// The `Authorization` header.
    Header,
    /// Presigned URL query parameters.
    Query {
        /// `X-Amz-Date` (basic ISO 8601), as given.
        amz_date: String,
        /// `X-Amz-Expires`, seconds, 1..=604800.
        expires: u32,
        /// `X-Amz-Security-Token`, if present.
        security_token: Option<String>,
    },
}

/// A parsed SigV4 signature, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuth {
    /// The credential scope; route on `scope.service` before verifying.
    pub scope: CredentialScope,
    /// The signed header names, in the order given (lowercase for conforming clients).
    pub signed_headers: Vec<String>,
    /// The claimed signature (hex).
    pub signature: String,
    /// Header or presigned query.
    pub location: AuthLocation,
}

pub(crate) fn incomplete(reason: impl Into<String>) -> AuthError {
    AuthError::IncompleteSignature {
        reason: reason.into(),
    }
}

fn parse_signed_headers(s: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = s.split(';').map(str::to_owned).collect();
    if names.iter().any(String::is_empty) {
        return Err(incomplete(format!("Invalid SignedHeaders value: '{s}'")));
    }
    Ok(names)
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` (the separator
/// may be `,` or `, `; the three keys may come in any order, each exactly once).
///
/// # Errors
/// [`AuthError::IncompleteSignature`] for anything malformed, [`AuthError::NotImplemented`]
/// for SigV4a (`AWS4-ECDSA-P256-SHA256`).
pub fn parse_authorization_header(value: &str) -> Result<ParsedAuth, AuthError> {
    let value = value.trim();
    let (algorithm, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if algorithm == "AWS4-ECDSA-P256-SHA256" {
        return Err(AuthError::NotImplemented {
            feature: "SigV4a (AWS4-ECDSA-P256-SHA256)".into(),
        });
    }
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported Authorization Type: '{algorithm}'"
        )));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'."
            )));
        };
        let slot = match k {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => {
                return Err(incomplete(format!(
                    "Unknown key '{k}' in Authorization header: '{value}'."
                )));
            }
        };
        if slot.replace(v).is_some() {
            return Err(incomplete(format!(
                "Duplicate key '{k}' in Authorization header: '{value}'."
            )));
        }
    }
    let mut missing = Vec::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed),
    ] {
        if v.is_none() {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(incomplete(format!(
            "{} Authorization={value}",
            missing.join(" ")
        )));
    };
    Ok(ParsedAuth {
        scope: CredentialScope::parse(credential)?,
        signed_headers: parse_signed_headers(signed)?,
        signature: signature.to_owned(),
        location: AuthLocation::Header,
    })
}

/// True when the raw query string carries presign parameters (`X-Amz-Algorithm`).
#[must_use]
pub fn is_presigned_query(raw_query: &str) -> bool {
    raw_query.split('&').any(|p| {
        let k = p.split_once('=').map_or(p, |(k, _)| k);
        k == "X-Amz-Algorithm"
    })
}

/// Parses the presign parameters out of a raw query string.
///
/// # Errors
/// [`AuthError::MissingAuthenticationToken`] when there is no `X-Amz-Algorithm`,
/// [`AuthError::IncompleteSignature`] when a parameter is missing, repeated or invalid.
pub fn parse_presigned_query(raw_query: &str) -> Result<ParsedAuth, AuthError> {
    const NAMES: [&str; 7] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    ];
    let mut found: [Option<String>; 7] = Default::default();
    for (k, v) in parse_query(raw_query) {
        let Some(i) = NAMES.iter().position(|n| n.as_bytes() == k.as_slice()) else {
            continue;
        };
        let Ok(v) = String::from_utf8(v) else {
            return Err(incomplete(format!("{} is not valid UTF-8", NAMES[i])));
        };
        if found[i].replace(v).is_some() {
            return Err(incomplete(format!(
                "Query-string authentication requires a single {} parameter",
                NAMES[i]
            )));
        }
    }
    let [
        algorithm,
        credential,
        date,
        expires,
        signed,
        signature,
        token,
    ] = found;
    let Some(algorithm) = algorithm else {
        return Err(AuthError::MissingAuthenticationToken);
    };
    if algorithm != ALGORITHM {
        if algorithm == "AWS4-ECDSA-P256-SHA256" {
            return Err(AuthError::NotImplemented {
                feature: "SigV4a (AWS4-ECDSA-P256-SHA256)".into(),
            });
        }
        return Err(incomplete(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let (Some(credential), Some(date), Some(expires), Some(signed), Some(signature)) =
        (credential, date, expires, signed, signature)
    else {
        return Err(incomplete(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, \
             X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and \
             X-Amz-Expires parameters.",
        ));
    };
    let expires = match expires.parse::<u32>() {
        Ok(e) if (1..=MAX_PRESIGN_EXPIRES).contains(&e) => e,
        Ok(0) => return Err(incomplete("X-Amz-Expires must be non-negative")),
        Ok(_) => {
            return Err(incomplete(
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            ));
        }
        Err(_) => return Err(incomplete("X-Amz-Expires should be a number")),
    };
    Ok(ParsedAuth {
        scope: CredentialScope::parse(&credential)?,
        signed_headers: parse_signed_headers(&signed)?,
        signature,
        location: AuthLocation::Query {
            amz_date: date,
            expires,
            security_token: token,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_with_and_without_spaces() {
        let a = parse_authorization_header(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        )
        .unwrap();
        assert_eq!(a.scope.access_key_id, "AKIDEXAMPLE");
        assert_eq!(a.scope.date, "20150830");
        assert_eq!(a.scope.region, "us-east-1");
        assert_eq!(a.scope.service, "service");
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(a.location, AuthLocation::Header);
        let b = parse_authorization_header(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        )
        .unwrap();
        assert_eq!(b.scope.service, "s3");
        assert_eq!(b.signed_headers.len(), 4);
        assert_eq!(b.scope.scope_string(), "20130524/us-east-1/s3/aws4_request");
    }

    #[test]
    fn header_errors() {
        let ok_cred = "Credential=A/20150830/us-east-1/svc/aws4_request";
        for bad in [
            "",
            "AWS4-HMAC-SHA1 Credential=x",
            "AWS AKID:sig",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/svc/aws4_request",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/svc/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=A/2015083/us-east-1/svc/aws4_request, SignedHeaders=host, Signature=0",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/svc/aws5_request, SignedHeaders=host, Signature=0",
            "AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/svc/aws4_request, SignedHeaders=host, Signature=0",
            "AWS4-HMAC-SHA256 Credential=20150830/us-east-1/svc/aws4_request, SignedHeaders=host, Signature=0",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/svc/aws4_request, SignedHeaders=host;;x, Signature=0",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/svc/aws4_request, SignedHeaders=host, Signature=0, Signature=1",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/svc/aws4_request, SignedHeaders=host, Signature=0, Foo=1",
            "AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/svc/aws4_request SignedHeaders=host Signature=0",
        ] {
            let err = parse_authorization_header(bad).unwrap_err();
            assert_eq!(err.code(), "IncompleteSignature", "{bad}: {err:?}");
        }
        assert!(
            parse_authorization_header(&format!(
                "AWS4-HMAC-SHA256 {ok_cred}, SignedHeaders=host, Signature=0"
            ))
            .is_ok()
        );
        let err = parse_authorization_header("AWS4-ECDSA-P256-SHA256 Credential=x").unwrap_err();
        assert_eq!(err.code(), "NotImplemented");
    }

    #[test]
    fn presigned_query() {
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        assert!(is_presigned_query(q));
        let p = parse_presigned_query(q).unwrap();
        assert_eq!(p.scope.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(p.scope.service, "s3");
        assert_eq!(
            p.location,
            AuthLocation::Query {
                amz_date: "20130524T000000Z".into(),
                expires: 86400,
                security_token: None
            }
        );
    }

    #[test]
    fn presigned_errors() {
        let base = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
        assert!(parse_presigned_query(&format!("{base}&X-Amz-Expires=604800")).is_ok());
        for bad_expires in ["0", "604801", "-1", "abc", ""] {
            let err =
                parse_presigned_query(&format!("{base}&X-Amz-Expires={bad_expires}")).unwrap_err();
            assert_eq!(err.code(), "IncompleteSignature", "{bad_expires}");
        }
        assert_eq!(
            parse_presigned_query(base).unwrap_err().code(),
            "IncompleteSignature"
        );
        assert_eq!(
            parse_presigned_query(&format!("{base}&X-Amz-Expires=1&X-Amz-Expires=2"))
                .unwrap_err()
                .code(),
            "IncompleteSignature"
        );
        assert_eq!(
            parse_presigned_query("a=b").unwrap_err(),
            AuthError::MissingAuthenticationToken
        );
        assert!(!is_presigned_query("a=b&x-amz-algorithm=1"));
    }
}
