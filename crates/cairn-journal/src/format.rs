//! Pure encoding and decoding of the on-disk structures (see the crate docs, "Wire format").

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 4] = *b"CRNJ";
/// Magic bytes at the start of every cursor file.
pub const CURSOR_MAGIC: [u8; 4] = *b"CRNC";
/// Version of the segment, frame and cursor formats described in the crate docs.
pub const FORMAT_VERSION: u8 = 1;
/// Segment version whose frame payloads are sealed (AES-256-GCM, see the crate docs).
pub const SEALED_SEGMENT_VERSION: u8 = 2;
/// Length of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 24;
/// First byte of every record frame: magic and format version in one.
pub const FRAME_MAGIC: u8 = 0xC1;
/// Length of a record frame header (the payload follows it).
pub const FRAME_HEADER_LEN: usize = 12;
/// Frame flag: this record is the last one of its append batch (the batch commit marker).
pub const FLAG_BATCH_END: u8 = 0x01;
/// Length of a cursor file.
pub const CURSOR_FILE_LEN: usize = 20;

/// Size on disk of a record frame carrying `payload_len` bytes.
#[must_use]
pub fn frame_len(payload_len: usize) -> u64 {
    FRAME_HEADER_LEN as u64 + payload_len as u64
}

/// CRC32 (IEEE, as computed by `crc32fast`) of a frame: header bytes 1..8 then the payload.
pub(crate) fn frame_crc(flags: u8, len: u32, payload: &[u8]) -> u32 {
    let mut h = frame_hasher(flags, len);
    h.update(payload);
    h.finalize()
}

/// A hasher primed with the covered header bytes, for streaming payload verification.
pub(crate) fn frame_hasher(flags: u8, len: u32) -> crc32fast::Hasher {
    let mut h = crc32fast::Hasher::new();
    let l = len.to_le_bytes();
    h.update(&[flags, 0, 0, l[0], l[1], l[2], l[3]]);
    h
}

/// Appends the frames of one batch to `out`; the last frame carries [`FLAG_BATCH_END`].
///
/// This is exactly what [`Journal::append`](crate::Journal::append) writes; it is public for
/// tools and tests that build segment files by hand. Payloads longer than `u32::MAX` bytes are
/// not representable (the journal rejects them before encoding).
pub fn encode_batch(payloads: &[&[u8]], out: &mut Vec<u8>) {
    let total: usize = payloads.iter().map(|p| FRAME_HEADER_LEN + p.len()).sum();
    out.reserve(total);
    for (i, p) in payloads.iter().enumerate() {
        let flags = if i + 1 == payloads.len() {
            FLAG_BATCH_END
        } else {
            0
        };
        let len = u32::try_from(p.len()).unwrap_or(u32::MAX);
        out.push(FRAME_MAGIC);
        out.push(flags);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&frame_crc(flags, len, p).to_le_bytes());
        out.extend_from_slice(p);
    }
}

/// Appends one frame whose payload `fill` writes at the end of `out`; the header's length and
/// CRC are filled in afterwards. `fill`'s error is returned with `out` restored.
pub(crate) fn encode_frame_with<E>(
    out: &mut Vec<u8>,
    batch_end: bool,
    fill: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let start = out.len();
    let flags = if batch_end { FLAG_BATCH_END } else { 0 };
    out.extend_from_slice(&[FRAME_MAGIC, flags, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    if let Err(e) = fill(out) {
        out.truncate(start);
        return Err(e);
    }
    let payload = start + FRAME_HEADER_LEN;
    let len = u32::try_from(out.len() - payload).unwrap_or(u32::MAX);
    let crc = frame_crc(flags, len, &out[payload..]);
    out[start + 4..start + 8].copy_from_slice(&len.to_le_bytes());
    out[start + 8..start + 12].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// A decoded, structurally valid frame header (the CRC is not yet checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub(crate) flags: u8,
    pub(crate) len: u32,
    pub(crate) crc: u32,
}

impl FrameHeader {
    pub(crate) fn batch_end(self) -> bool {
        self.flags & FLAG_BATCH_END != 0
    }
}

/// Decodes a frame header, rejecting a bad magic byte, unknown flags or non-zero reserved bytes.
pub(crate) fn decode_frame_header(b: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, &'static str> {
    if b[0] != FRAME_MAGIC {
        return Err("bad frame magic");
    }
    if b[1] & !FLAG_BATCH_END != 0 {
        return Err("unknown frame flags");
    }
    if b[2] != 0 || b[3] != 0 {
        return Err("non-zero reserved frame bytes");
    }
    Ok(FrameHeader {
        flags: b[1],
        len: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        crc: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
    })
}

/// Encodes the header of a plaintext (version 1) segment whose first record has sequence
/// number `base` (public for tools and tests that build segment files by hand).
#[must_use]
pub fn encode_segment_header(base: u64) -> [u8; SEGMENT_HEADER_LEN] {
    encode_header(base, None)
}

/// Encodes a segment header: version 1, or version 2 (sealed payloads) carrying the journal
/// key's check value in bytes 20..24.
pub(crate) fn encode_header(base: u64, check: Option<[u8; 4]>) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..4].copy_from_slice(&SEGMENT_MAGIC);
    h[4] = if check.is_some() {
        SEALED_SEGMENT_VERSION
    } else {
        FORMAT_VERSION
    };
    h[8..16].copy_from_slice(&base.to_le_bytes());
    let crc = crc32fast::hash(&h[0..16]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    if let Some(c) = check {
        h[20..24].copy_from_slice(&c);
    }
    h
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// Sequence number of the segment's first record.
    pub(crate) base: u64,
    /// For a sealed (version 2) segment, the check value of the key that sealed it.
    pub(crate) check: Option<[u8; 4]>,
}

/// Decodes a segment header.
pub(crate) fn decode_segment_header(
    h: &[u8; SEGMENT_HEADER_LEN],
) -> Result<SegmentHeader, &'static str> {
    if h[0..4] != SEGMENT_MAGIC {
        return Err("bad segment magic");
    }
    if h[4] != FORMAT_VERSION && h[4] != SEALED_SEGMENT_VERSION {
        return Err("unsupported segment version");
    }
    let crc = u32::from_le_bytes([h[16], h[17], h[18], h[19]]);
    if crc32fast::hash(&h[0..16]) != crc {
        return Err("segment header crc mismatch");
    }
    if h[5..8] != [0, 0, 0] || (h[4] == FORMAT_VERSION && h[20..24] != [0, 0, 0, 0]) {
        return Err("non-zero reserved segment header bytes");
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[8..16]);
    let check = (h[4] == SEALED_SEGMENT_VERSION).then(|| [h[20], h[21], h[22], h[23]]);
    Ok(SegmentHeader {
        base: u64::from_le_bytes(b),
        check,
    })
}

/// File name of the segment whose first sequence number is `base`.
#[must_use]
pub fn segment_file_name(base: u64) -> String {
    format!("{base:020}.seg")
}

/// Parses a segment file name (`<20 decimal digits>.seg`) into its base sequence number.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encodes a cursor file holding `position`.
pub(crate) fn encode_cursor(position: u64) -> [u8; CURSOR_FILE_LEN] {
    let mut c = [0u8; CURSOR_FILE_LEN];
    c[0..4].copy_from_slice(&CURSOR_MAGIC);
    c[4] = FORMAT_VERSION;
    c[8..16].copy_from_slice(&position.to_le_bytes());
    let crc = crc32fast::hash(&c[0..16]);
    c[16..20].copy_from_slice(&crc.to_le_bytes());
    c
}

/// Decodes a cursor file.
pub(crate) fn decode_cursor(c: &[u8]) -> Result<u64, &'static str> {
    if c.len() != CURSOR_FILE_LEN {
        return Err("cursor file has the wrong length");
    }
    if c[0..4] != CURSOR_MAGIC {
        return Err("bad cursor magic");
    }
    if c[4] != FORMAT_VERSION || c[5..8] != [0, 0, 0] {
        return Err("unsupported cursor version");
    }
    let crc = u32::from_le_bytes([c[16], c[17], c[18], c[19]]);
    if crc32fast::hash(&c[0..16]) != crc {
        return Err("cursor crc mismatch");
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&c[8..16]);
    Ok(u64::from_le_bytes(b))
}

/// Maximum cursor name length.
pub const MAX_CURSOR_NAME_LEN: usize = 128;

/// Whether `name` is a valid cursor name: `[A-Za-z0-9_.-]{1,128}`, not starting with `.`.
#[must_use]
pub fn is_valid_cursor_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CURSOR_NAME_LEN
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(mut buf: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
        let mut out = Vec::new();
        while !buf.is_empty() {
            let mut h = [0u8; FRAME_HEADER_LEN];
            h.copy_from_slice(&buf[..FRAME_HEADER_LEN]);
            let fh = decode_frame_header(&h).unwrap();
            let p = &buf[FRAME_HEADER_LEN..FRAME_HEADER_LEN + fh.len as usize];
            assert_eq!(frame_crc(fh.flags, fh.len, p), fh.crc);
            out.push((fh, p.to_vec()));
            buf = &buf[FRAME_HEADER_LEN + fh.len as usize..];
        }
        out
    }

    #[test]
    fn batch_round_trip_and_end_marker() {
        let mut out = Vec::new();
        encode_batch(&[b"a", b"", b"hello"], &mut out);
        assert_eq!(out.len() as u64, frame_len(1) + frame_len(0) + frame_len(5));
        let frames = decode_all(&out);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].1, b"a");
        assert_eq!(frames[1].1, b"");
        assert_eq!(frames[2].1, b"hello");
        assert!(!frames[0].0.batch_end());
        assert!(!frames[1].0.batch_end());
        assert!(frames[2].0.batch_end());
    }

    #[test]
    fn frame_with_matches_encode_batch() {
        let mut a = Vec::new();
        encode_batch(&[b"ab", b"cde"], &mut a);
        let mut b = Vec::new();
        encode_frame_with::<()>(&mut b, false, |o| {
            o.extend_from_slice(b"ab");
            Ok(())
        })
        .unwrap();
        encode_frame_with::<()>(&mut b, true, |o| {
            o.extend_from_slice(b"cde");
            Ok(())
        })
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            encode_frame_with(&mut b, true, |o| {
                o.push(1);
                Err("no")
            }),
            Err("no")
        );
        assert_eq!(a, b, "a failed fill leaves nothing behind");
    }

    #[test]
    fn frame_known_answer() {
        // One record "abc" as a single-record batch.
        let mut out = Vec::new();
        encode_batch(&[b"abc"], &mut out);
        let crc = crc32fast::hash(&[0x01, 0, 0, 3, 0, 0, 0, b'a', b'b', b'c']);
        let mut expect = vec![0xC1, 0x01, 0, 0, 3, 0, 0, 0];
        expect.extend_from_slice(&crc.to_le_bytes());
        expect.extend_from_slice(b"abc");
        assert_eq!(out, expect);
    }

    #[test]
    fn frame_header_rejects_defects() {
        let mut out = Vec::new();
        encode_batch(&[b"xyz"], &mut out);
        let mut h = [0u8; FRAME_HEADER_LEN];
        h.copy_from_slice(&out[..FRAME_HEADER_LEN]);
        assert!(decode_frame_header(&h).is_ok());
        let mut bad = h;
        bad[0] = 0;
        assert_eq!(decode_frame_header(&bad), Err("bad frame magic"));
        let mut bad = h;
        bad[1] = 0x82;
        assert_eq!(decode_frame_header(&bad), Err("unknown frame flags"));
        let mut bad = h;
        bad[3] = 1;
        assert_eq!(
            decode_frame_header(&bad),
            Err("non-zero reserved frame bytes")
        );
        // A flipped payload bit changes the CRC.
        let fh = decode_frame_header(&h).unwrap();
        assert_ne!(frame_crc(fh.flags, fh.len, b"xyZ"), fh.crc);
        // A flipped flag changes the CRC too (flags are covered).
        assert_ne!(frame_crc(0, fh.len, b"xyz"), fh.crc);
    }

    #[test]
    fn streaming_hasher_matches() {
        let mut h = frame_hasher(1, 6);
        h.update(b"abc");
        h.update(b"def");
        assert_eq!(h.finalize(), frame_crc(1, 6, b"abcdef"));
    }

    #[test]
    fn segment_header_round_trip() {
        for base in [0u64, 1, 12345, u64::MAX] {
            let h = encode_segment_header(base);
            assert_eq!(
                decode_segment_header(&h),
                Ok(SegmentHeader { base, check: None })
            );
            let h = encode_header(base, Some([1, 2, 3, 4]));
            assert_eq!(h[4], SEALED_SEGMENT_VERSION);
            assert_eq!(
                decode_segment_header(&h),
                Ok(SegmentHeader {
                    base,
                    check: Some([1, 2, 3, 4])
                })
            );
        }
        let h = encode_segment_header(7);
        for i in 0..SEGMENT_HEADER_LEN {
            let mut bad = h;
            bad[i] ^= 0x40;
            assert!(decode_segment_header(&bad).is_err(), "byte {i}");
        }
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_file_name(0), "00000000000000000000.seg");
        assert_eq!(segment_file_name(42), "00000000000000000042.seg");
        assert_eq!(
            parse_segment_file_name("00000000000000000042.seg"),
            Some(42)
        );
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_file_name("42.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004a.seg"), None);
        assert_eq!(parse_segment_file_name("99999999999999999999.seg"), None);
        assert_eq!(parse_segment_file_name("00000000000000000042.tmp"), None);
    }

    #[test]
    fn cursor_round_trip() {
        let c = encode_cursor(991);
        assert_eq!(decode_cursor(&c), Ok(991));
        assert!(decode_cursor(&c[..19]).is_err());
        for i in 0..CURSOR_FILE_LEN {
            let mut bad = c;
            bad[i] ^= 1;
            assert!(decode_cursor(&bad).is_err(), "byte {i}");
        }
    }

    #[test]
    fn cursor_names() {
        for ok in [
            "a",
            "trail-1",
            "digest.us-east-1",
            "A_b-C.d",
            &"x".repeat(128),
        ] {
            assert!(is_valid_cursor_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "a/b",
            "..",
            "a b",
            "trail:arn",
            "é",
            &"x".repeat(129),
        ] {
            assert!(!is_valid_cursor_name(bad), "{bad}");
        }
    }
}
