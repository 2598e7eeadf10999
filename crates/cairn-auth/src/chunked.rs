//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked bodies with chained chunk signatures.
//!
//! Wire format (AWS "Signature Calculations for the Authorization Header: Transferring Payload
//! in Multiple Chunks"): each chunk is
//! `hex(size) ";chunk-signature=" sig "\r\n" data "\r\n"`, ending with a zero-size chunk.
//! Each chunk's string to sign is
//! `AWS4-HMAC-SHA256-PAYLOAD\n{date}\n{scope}\n{previous signature}\n{sha256("")}\n{sha256(data)}`,
//! the first "previous signature" being the request (seed) signature.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::canonical::EMPTY_SHA256;
use crate::error::AuthError;
use crate::key::SigningKey;

/// Largest chunk we accept (AWS SDKs send 64 KiB; S3 allows up to 16 MiB-ish per chunk).
pub const MAX_CHUNK_SIZE: usize = 16 * 1024 * 1024;

/// Verifies the chunk signatures of one aws-chunked body, in order.
pub struct ChunkVerifier {
    key: SigningKey,
    amz_date: String,
    scope: String,
    previous: String,
    finished: bool,
}

impl fmt::Debug for ChunkVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkVerifier")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("previous", &self.previous)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

fn malformed(reason: &'static str) -> AuthError {
    AuthError::MalformedChunk { reason }
}

impl ChunkVerifier {
    /// A verifier seeded with the request signature.
    #[must_use]
    pub fn new(key: SigningKey, amz_date: String, scope: String, seed_signature: String) -> Self {
        Self {
            key,
            amz_date,
            scope,
            previous: seed_signature,
            finished: false,
        }
    }

    /// The signature the next chunk with `data` must carry (the signer side uses this too).
    #[must_use]
    pub fn next_signature(&self, data: &[u8]) -> String {
        self.key.sign(&self.string_to_sign(data))
    }

    fn string_to_sign(&self, data: &[u8]) -> String {
        let data_hash = if data.is_empty() {
            EMPTY_SHA256.to_owned()
        } else {
            hex::encode(Sha256::digest(data))
        };
        format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{data_hash}",
            self.amz_date, self.scope, self.previous
        )
    }

    /// Checks one chunk and advances the chain. The zero-length chunk ends the body.
    ///
    /// # Errors
    /// [`AuthError::ChunkSignatureDoesNotMatch`], or [`AuthError::MalformedChunk`] for a
    /// chunk after the final one.
    pub fn verify_chunk(&mut self, data: &[u8], signature: &str) -> Result<(), AuthError> {
        if self.finished {
            return Err(malformed("data after the final chunk"));
        }
        if !self.key.verify(&self.string_to_sign(data), signature) {
            return Err(AuthError::ChunkSignatureDoesNotMatch);
        }
        self.previous = signature.to_ascii_lowercase();
        self.finished = data.is_empty();
        Ok(())
    }

    /// Whether the final (zero-length) chunk has been verified.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Decodes a complete aws-chunked body, verifying every chunk signature, and returns the
    /// payload. The body must end exactly after the final chunk.
    ///
    /// # Errors
    /// [`AuthError::MalformedChunk`] or [`AuthError::ChunkSignatureDoesNotMatch`].
    pub fn decode(&mut self, mut body: &[u8]) -> Result<Vec<u8>, AuthError> {
        let mut out = Vec::with_capacity(body.len());
        while !self.finished {
            let line_end = body
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| malformed("missing chunk header terminator"))?;
            let header = std::str::from_utf8(&body[..line_end])
                .map_err(|_| malformed("chunk header is not ASCII"))?;
            let (size_hex, ext) = header
                .split_once(';')
                .ok_or_else(|| malformed("missing chunk-signature extension"))?;
            let signature = ext
                .strip_prefix("chunk-signature=")
                .ok_or_else(|| malformed("missing chunk-signature extension"))?;
            if size_hex.is_empty() || size_hex.len() > 8 {
                return Err(malformed("bad chunk size"));
            }
            let size =
                usize::from_str_radix(size_hex, 16).map_err(|_| malformed("bad chunk size"))?;
            if size > MAX_CHUNK_SIZE {
                return Err(malformed("chunk too large"));
            }
            let rest = &body[line_end + 2..];
            if rest.len() < size + 2 {
                return Err(malformed("truncated chunk"));
            }
            let (data, tail) = rest.split_at(size);
            if !tail.starts_with(b"\r\n") {
                return Err(malformed("missing chunk data terminator"));
            }
            self.verify_chunk(data, signature)?;
            out.extend_from_slice(data);
            body = &tail[2..];
        }
        if !body.is_empty() {
            return Err(malformed("data after the final chunk"));
        }
        Ok(out)
    }
}

/// Encodes `data` as an aws-chunked body signed with `verifier`'s chain (the signer side; the
/// verifier is advanced to the end). `chunk_size` must be non-zero.
#[must_use]
pub fn encode_aws_chunked(verifier: &mut ChunkVerifier, data: &[u8], chunk_size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 128);
    let chunk_size = chunk_size.max(1);
    let mut push = |v: &mut ChunkVerifier, chunk: &[u8]| {
        let sig = v.next_signature(chunk);
        out.extend_from_slice(format!("{:x};chunk-signature={sig}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        v.previous = sig;
    };
    for chunk in data.chunks(chunk_size) {
        push(verifier, chunk);
    }
    push(verifier, &[]);
    verifier.finished = true;
    out
}

/// Trailer lines of an aws-chunked body: (lower-cased name, value).
pub type Trailers = Vec<(String, String)>;

/// Decodes a complete `STREAMING-UNSIGNED-PAYLOAD-TRAILER` body (aws-chunked without chunk
/// signatures, ending with trailer lines such as `x-amz-checksum-crc32:<base64>`) and returns
/// the payload and the trailers (names lower-cased). Integrity comes from the trailing
/// checksum, which the caller must check.
///
/// # Errors
/// [`AuthError::MalformedChunk`] when the framing is broken.
pub fn decode_unsigned_trailer(mut body: &[u8]) -> Result<(Vec<u8>, Trailers), AuthError> {
    let mut out = Vec::with_capacity(body.len());
    let line = |b: &[u8]| -> Result<usize, AuthError> {
        b.windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| malformed("missing chunk header terminator"))
    };
    loop {
        let end = line(body)?;
        let header = std::str::from_utf8(&body[..end])
            .map_err(|_| malformed("chunk header is not ASCII"))?;
        let size_hex = header.split(';').next().unwrap_or("").trim();
        if size_hex.is_empty() || size_hex.len() > 8 {
            return Err(malformed("bad chunk size"));
        }
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| malformed("bad chunk size"))?;
        body = &body[end + 2..];
        if size == 0 {
            break;
        }
        if size > MAX_CHUNK_SIZE {
            return Err(malformed("chunk too large"));
        }
        if body.len() < size + 2 || &body[size..size + 2] != b"\r\n" {
            return Err(malformed("truncated chunk"));
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
    let mut trailers = Vec::new();
    loop {
        let end = line(body)?;
        if end == 0 {
            body = &body[2..];
            break;
        }
        let text =
            std::str::from_utf8(&body[..end]).map_err(|_| malformed("trailer is not ASCII"))?;
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| malformed("trailer without a colon"))?;
        trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        body = &body[end + 2..];
    }
    if !body.is_empty() {
        return Err(malformed("data after the trailers"));
    }
    Ok((out, trailers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credential::SecretKey;

    fn example_verifier() -> ChunkVerifier {
        let key = SigningKey::derive(
            &SecretKey::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            "20130524",
            "us-east-1",
            "s3",
        );
        ChunkVerifier::new(
            key,
            "20130524T000000Z".into(),
            "20130524/us-east-1/s3/aws4_request".into(),
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
        )
    }

    /// AWS S3 "Example: PUT Object (multiple chunks)": 64 KiB + 1 KiB of 'a'.
    #[test]
    fn aws_example_chunk_signatures() {
        let mut v = example_verifier();
        let c1 = vec![b'a'; 65536];
        let c2 = vec![b'a'; 1024];
        assert_eq!(
            v.next_signature(&c1),
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
        );
        v.verify_chunk(
            &c1,
            "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        )
        .unwrap();
        v.verify_chunk(
            &c2,
            "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        )
        .unwrap();
        v.verify_chunk(
            &[],
            "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
        )
        .unwrap();
        assert!(v.is_finished());
    }

    #[test]
    fn decode_aws_example_body() {
        let mut body = Vec::new();
        body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        // the documented Content-Length of the example
        assert_eq!(body.len(), 66824);
        let decoded = example_verifier().decode(&body).unwrap();
        assert_eq!(decoded.len(), 66560);

        // any flipped byte fails
        for pos in [0, 30, 100, 65600, body.len() - 5] {
            let mut bad = body.clone();
            bad[pos] ^= 1;
            assert!(example_verifier().decode(&bad).is_err(), "{pos}");
        }
        // truncation and trailing garbage fail
        assert!(example_verifier().decode(&body[..body.len() - 2]).is_err());
        let mut extra = body.clone();
        extra.push(b'x');
        assert!(example_verifier().decode(&extra).is_err());
    }

    #[test]
    fn encode_round_trip() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let mut signer = example_verifier();
        let body = encode_aws_chunked(&mut signer, &data, 1000);
        assert!(signer.is_finished());
        assert_eq!(example_verifier().decode(&body).unwrap(), data);
        let mut v = example_verifier();
        let _ = v.decode(&body).unwrap();
        assert!(v.verify_chunk(&[], "00").is_err());
    }

    #[test]
    fn unsigned_trailer_bodies_decode() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let (data, trailers) = decode_unsigned_trailer(body).unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(
            trailers,
            vec![("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
        );
        for bad in [
            &b"5\r\nhell\r\n0\r\n\r\n"[..],
            b"zz\r\n",
            b"0\r\nno-colon\r\n\r\n",
            b"0\r\n\r\nextra",
        ] {
            assert!(decode_unsigned_trailer(bad).is_err(), "{bad:?}");
        }
    }
}
