//! The S3 endpoint's parsing of untrusted input: request XML bodies (and the
//! CompleteMultipartUpload part list), addressing (Host and path) and query strings.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = cairn_s3wire::xml::parse(data) {
        let _ = root.text_of("Status");
        let _ = root.children_named("Rule").count();
    }
    let _ = cairn_s3wire::multipart::parse_complete(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let (host, rest) = text.split_once('\n').unwrap_or(("", text));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let _ = cairn_s3wire::target(Some(host), path);
        let _ = cairn_s3wire::query_map(query);
    }
});
