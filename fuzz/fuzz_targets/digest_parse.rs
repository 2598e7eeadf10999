//! Fuzz the parsers of untrusted CloudTrail objects in `cairn-logfile`: arbitrary bytes are
//! (optionally) gunzipped under a cap and parsed as a digest, as a log file body and as object
//! keys. Must never panic; a digest that parses must re-serialise and parse back to itself.

#![no_main]

use cairn_logfile::digest::DigestFile;
use cairn_logfile::layout::{extract_digest_key_date, parse_digest_key, parse_log_key};
use cairn_logfile::logfile::decode_log_file;
use cairn_logfile::validate::check_log;
use libfuzzer_sys::fuzz_target;

const CAP: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // Gzip or plain, capped, as the validator reads stored objects.
    if let Ok((digest, _body)) = DigestFile::from_object(data, CAP) {
        let json = digest.to_json().expect("a parsed digest serialises");
        let again = DigestFile::parse(&json).expect("our own output parses");
        assert_eq!(again, digest);
        for f in &digest.log_files {
            let _ = parse_log_key(&f.s3_object);
        }
        let _ = parse_digest_key(&digest.digest_s3_object);
        let _ = digest.start_time();
        let _ = digest.end_time();
    }
    let _ = DigestFile::parse(data);
    let _ = decode_log_file(data, CAP);
    let _ = check_log(data, "00");
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_log_key(s);
        let _ = parse_digest_key(s);
        let _ = extract_digest_key_date(s);
    }
});
