//! Arbitrary bytes through the ingest path: `read_records` (gzip is detected by its magic
//! bytes, so inputs starting with `1f 8b` exercise the decoder) and then `validate_record`
//! on every record. Nothing may panic; memory stays bounded by the small caps below.
#![no_main]

use cairn_event::{
    AccountId, FormatHint, IngestPolicy, ReadOptions, read_records_with, validate_record,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let format = match mode % 3 {
        0 => FormatHint::Auto,
        1 => FormatHint::Records,
        _ => FormatHint::Ndjson,
    };
    let Ok(account) = AccountId::parse("111122223333") else {
        return;
    };
    let policy = IngestPolicy::new(account);
    let _ = validate_record(input, &policy);
    let options = ReadOptions::new(format)
        .with_max_decompressed_bytes(8 << 20)
        .with_max_record_bytes(1 << 20);
    // errors end the file or skip one record; both are fine here
    for raw in read_records_with(input, options).take(10_000).flatten() {
        let _ = validate_record(&raw.bytes, &policy);
    }
});
