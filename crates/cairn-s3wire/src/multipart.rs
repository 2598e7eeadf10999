//! Multipart upload documents: the `CompleteMultipartUpload` request body, parsed and
//! checked, and the XML answers of CreateMultipartUpload, CompleteMultipartUpload, ListParts
//! and ListMultipartUploads.
//!
//! ```
//! let body = br#"<CompleteMultipartUpload>
//!   <Part><PartNumber>1</PartNumber><ETag>"aa"</ETag></Part>
//! </CompleteMultipartUpload>"#;
//! let parts = cairn_s3wire::multipart::parse_complete(body).unwrap();
//! assert_eq!(parts, vec![(1, "\"aa\"".to_owned())]);
//! ```

use crate::xml::{XmlWriter, parse};

/// The most parts a CompleteMultipartUpload may list.
pub const MAX_PARTS: usize = 10_000;

/// Parses a `CompleteMultipartUpload` body into (part number, ETag) in document order.
/// Errors are `MalformedXML` messages (S3 answers an empty part list that way too).
pub fn parse_complete(body: &[u8]) -> Result<Vec<(u32, String)>, String> {
    let root = parse(body)?;
    if root.name != "CompleteMultipartUpload" {
        return Err("the root element must be CompleteMultipartUpload".into());
    }
    let parts = root
        .children_named("Part")
        .map(|p| {
            let n = p
                .text_of("PartNumber")
                .and_then(|t| t.parse::<u32>().ok())
                .ok_or("each Part needs a PartNumber between 1 and 10000")?;
            let etag = p.text_of("ETag").ok_or("each Part needs an ETag")?;
            Ok((n, etag.to_owned()))
        })
        .collect::<Result<Vec<_>, &str>>()?;
    if parts.is_empty() || parts.len() > MAX_PARTS {
        return Err(format!(
            "a CompleteMultipartUpload lists between 1 and {MAX_PARTS} parts"
        ));
    }
    Ok(parts)
}

/// `InitiateMultipartUploadResult`.
pub fn initiate_result(bucket: &str, key: &str, upload_id: &str) -> String {
    let mut w = XmlWriter::new("InitiateMultipartUploadResult");
    w.elem("Bucket", bucket)
        .elem("Key", key)
        .elem("UploadId", upload_id);
    w.finish()
}

/// `CompleteMultipartUploadResult`; `etag` without quotes.
pub fn complete_result(location: &str, bucket: &str, key: &str, etag: &str) -> String {
    let mut w = XmlWriter::new("CompleteMultipartUploadResult");
    w.elem("Location", location)
        .elem("Bucket", bucket)
        .elem("Key", key)
        .elem("ETag", &format!("\"{etag}\""));
    w.finish()
}

/// One part of a ListParts answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEntry {
    /// Part number.
    pub part_number: u32,
    /// ISO 8601 time of upload.
    pub last_modified: String,
    /// ETag without quotes.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
}

/// One upload in a listing (and the upload a ListParts answer is about).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    /// Key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// Owner and initiator account.
    pub owner: String,
    /// Storage class.
    pub storage_class: String,
    /// ISO 8601 time of creation.
    pub initiated: String,
}

fn owner(w: &mut XmlWriter, tag: &'static str, account: &str) {
    w.open(tag)
        .elem("ID", account)
        .elem("DisplayName", account)
        .close();
}

/// A ListParts page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartsPage<'a> {
    /// Bucket.
    pub bucket: &'a str,
    /// The upload.
    pub upload: &'a UploadEntry,
    /// `part-number-marker` as asked.
    pub marker: u32,
    /// `max-parts` as applied.
    pub max_parts: usize,
    /// The parts.
    pub parts: &'a [PartEntry],
    /// More follow.
    pub is_truncated: bool,
    /// `NextPartNumberMarker`.
    pub next_marker: Option<u32>,
}

/// `ListPartsResult`.
pub fn list_parts_result(p: &PartsPage<'_>) -> String {
    let mut w = XmlWriter::new("ListPartsResult");
    w.elem("Bucket", p.bucket)
        .elem("Key", &p.upload.key)
        .elem("UploadId", &p.upload.upload_id);
    owner(&mut w, "Initiator", &p.upload.owner);
    owner(&mut w, "Owner", &p.upload.owner);
    w.elem("StorageClass", &p.upload.storage_class)
        .elem("PartNumberMarker", &p.marker.to_string())
        .elem(
            "NextPartNumberMarker",
            &p.next_marker.unwrap_or(0).to_string(),
        )
        .elem("MaxParts", &p.max_parts.to_string())
        .elem("IsTruncated", if p.is_truncated { "true" } else { "false" });
    for part in p.parts {
        w.open("Part")
            .elem("PartNumber", &part.part_number.to_string())
            .elem("LastModified", &part.last_modified)
            .elem("ETag", &format!("\"{}\"", part.etag))
            .elem("Size", &part.size.to_string())
            .close();
    }
    w.finish()
}

/// A ListMultipartUploads page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadsPage<'a> {
    /// Bucket.
    pub bucket: &'a str,
    /// `prefix` as asked.
    pub prefix: &'a str,
    /// `key-marker` as asked.
    pub key_marker: &'a str,
    /// `upload-id-marker` as asked.
    pub upload_id_marker: &'a str,
    /// `max-uploads` as applied.
    pub max_uploads: usize,
    /// The uploads.
    pub uploads: &'a [UploadEntry],
    /// More follow.
    pub is_truncated: bool,
    /// `NextKeyMarker`.
    pub next_key_marker: Option<&'a str>,
    /// `NextUploadIdMarker`.
    pub next_upload_id_marker: Option<&'a str>,
}

/// `ListMultipartUploadsResult`.
pub fn list_uploads_result(p: &UploadsPage<'_>) -> String {
    let mut w = XmlWriter::new("ListMultipartUploadsResult");
    w.elem("Bucket", p.bucket)
        .elem("KeyMarker", p.key_marker)
        .elem("UploadIdMarker", p.upload_id_marker)
        .opt("NextKeyMarker", p.next_key_marker)
        .opt("NextUploadIdMarker", p.next_upload_id_marker)
        .elem("Prefix", p.prefix)
        .elem("MaxUploads", &p.max_uploads.to_string())
        .elem("IsTruncated", if p.is_truncated { "true" } else { "false" });
    for u in p.uploads {
        w.open("Upload")
            .elem("Key", &u.key)
            .elem("UploadId", &u.upload_id);
        owner(&mut w, "Initiator", &u.owner);
        owner(&mut w, "Owner", &u.owner);
        w.elem("StorageClass", &u.storage_class)
            .elem("Initiated", &u.initiated)
            .close();
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_bodies() {
        let ok = br#"<?xml version="1.0"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Part><ETag>"e1"</ETag><PartNumber>1</PartNumber></Part>
            <Part><PartNumber>3</PartNumber><ETag>e3</ETag><ChecksumCRC32>x</ChecksumCRC32></Part>
            </CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete(ok).unwrap(),
            vec![(1, "\"e1\"".to_owned()), (3, "e3".to_owned())]
        );
        for bad in [
            &b"<CompleteMultipartUpload></CompleteMultipartUpload>"[..],
            b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            b"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>",
            b"<CompleteMultipartUpload><Part>",
        ] {
            assert!(parse_complete(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn answers_escape_and_quote() {
        let x = initiate_result("b", "a&b", "u1");
        assert!(x.contains("<Key>a&amp;b</Key><UploadId>u1</UploadId>"));
        let x = complete_result("http://h/b/k", "b", "k", "abc-2");
        assert!(x.contains("<ETag>&quot;abc-2&quot;</ETag>"));
        let up = UploadEntry {
            key: "k".into(),
            upload_id: "u".into(),
            owner: "111122223333".into(),
            storage_class: "STANDARD".into(),
            initiated: "2026-01-01T00:00:00.000Z".into(),
        };
        let parts = [PartEntry {
            part_number: 2,
            last_modified: "2026-01-01T00:00:00.000Z".into(),
            etag: "e".into(),
            size: 5,
        }];
        let x = list_parts_result(&PartsPage {
            bucket: "b",
            upload: &up,
            marker: 1,
            max_parts: 1,
            parts: &parts,
            is_truncated: true,
            next_marker: Some(2),
        });
        assert!(x.contains("<NextPartNumberMarker>2</NextPartNumberMarker>"));
        assert!(x.contains("<Part><PartNumber>2</PartNumber>"));
        assert!(x.contains("<IsTruncated>true</IsTruncated>"));
        let x = list_uploads_result(&UploadsPage {
            bucket: "b",
            prefix: "",
            key_marker: "",
            upload_id_marker: "",
            max_uploads: 1000,
            uploads: std::slice::from_ref(&up),
            is_truncated: false,
            next_key_marker: None,
            next_upload_id_marker: None,
        });
        assert!(x.contains("<Upload><Key>k</Key><UploadId>u</UploadId>"));
        assert!(!x.contains("NextKeyMarker"));
    }
}
