//! Bulk readers: `{"Records":[...]}` log files (plain or gzip) and NDJSON, streamed.

use std::io::{self, Cursor, Read};

use flate2::read::MultiGzDecoder;

use super::error::{FileError, RecordLocation};

/// How the input is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FormatHint {
    /// Decide from the content: a JSON object whose first member is `"Records"` is a log
    /// file, anything else is NDJSON.
    #[default]
    Auto,
    /// A CloudTrail log file, `{"Records":[record, ...]}`.
    Records,
    /// One record per line.
    Ndjson,
}

/// Reader settings. Inputs are untrusted: both caps are enforced while streaming.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadOptions {
    /// The layout.
    pub format: FormatHint,
    /// Most bytes read from the (decompressed) stream per file; more is a fatal
    /// [`FileError::DecompressedTooLarge`]. Default 1 GiB.
    pub max_decompressed_bytes: u64,
    /// Most raw bytes of one record; a larger record is skipped with
    /// [`FileError::RecordTooLarge`]. Default 1 MiB (4× the event limit, room for
    /// pretty-printed records; the event limit itself is checked by validation).
    pub max_record_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            format: FormatHint::Auto,
            max_decompressed_bytes: 1 << 30,
            max_record_bytes: 1 << 20,
        }
    }
}

impl ReadOptions {
    /// Default options with `format`.
    pub fn new(format: FormatHint) -> Self {
        Self {
            format,
            ..Self::default()
        }
    }

    /// Sets the decompressed-size cap.
    pub fn with_max_decompressed_bytes(mut self, bytes: u64) -> Self {
        self.max_decompressed_bytes = bytes;
        self
    }

    /// Sets the per-record cap.
    pub fn with_max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }
}

/// One record's raw bytes and where it was in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// Position in the file.
    pub location: RecordLocation,
    /// The record's JSON text as it appeared (not yet validated).
    pub bytes: Vec<u8>,
}

/// Reads records from `reader` with default [`ReadOptions`] and the given layout.
///
/// ```
/// use cairn_event::{FormatHint, read_records};
/// let file = br#"{"Records":[{"eventID":"a"},{"eventID":"b"}]}"#;
/// let recs: Vec<_> = read_records(&file[..], FormatHint::Auto).collect::<Result<_, _>>().unwrap();
/// assert_eq!(recs.len(), 2);
/// assert_eq!(recs[1].bytes, br#"{"eventID":"b"}"#);
/// ```
pub fn read_records<R: Read>(reader: R, format: FormatHint) -> RecordReader<R> {
    read_records_with(reader, ReadOptions::new(format))
}

/// Reads records from `reader`.
///
/// gzip input is recognised by its magic bytes (`1f 8b`) and decompressed on the fly
/// (concatenated members included). A `{"Records":[...]}` file is split by a streaming
/// scanner that keeps only the current record in memory; NDJSON is split on `\n` (a
/// trailing `\r` and blank lines are ignored). The scanner does not validate records:
/// pass each to [`validate_record`](crate::validate_record).
///
/// Errors come with the record's location. After a fatal one
/// ([`FileError::is_fatal`]) the iterator ends.
pub fn read_records_with<R: Read>(reader: R, options: ReadOptions) -> RecordReader<R> {
    RecordReader {
        state: State::Init(reader),
        opts: options,
        index: 0,
        line: 0,
        buf: Vec::new(),
    }
}

/// Iterator over the records of one file; see [`read_records_with`].
pub struct RecordReader<R> {
    state: State<R>,
    opts: ReadOptions,
    /// Records yielded or skipped so far.
    index: u64,
    /// Newlines consumed so far (NDJSON).
    line: u64,
    buf: Vec<u8>,
}

impl<R> std::fmt::Debug for RecordReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordReader")
            .field("index", &self.index)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

enum State<R> {
    Init(R),
    Running {
        scan: Scanner<Capped<Decoded<R>>>,
        mode: Mode,
    },
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ndjson,
    /// Inside the top-level object of a log file.
    Records(Phase),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Right after `{`: a member or `}`.
    FirstMember { seen_records: bool },
    /// After `,` in the top-level object.
    Member { seen_records: bool },
    /// After a member value: `,` or `}`.
    AfterMember { seen_records: bool },
    /// Right after `[`: a record or `]`.
    ArrayStart,
    /// After a record: `,` or `]`.
    InArray,
}

// ---------------------------------------------------------------------------------------
// byte sources

enum Decoded<R> {
    Plain(io::Chain<Cursor<Vec<u8>>, R>),
    Gzip(Box<MultiGzDecoder<io::Chain<Cursor<Vec<u8>>, R>>>),
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(r) => r.read(buf),
            Self::Gzip(r) => r.read(buf),
        }
    }
}

/// Marker inside the `io::Error` a [`Capped`] reader returns.
#[derive(Debug)]
struct CapExceeded;

impl std::fmt::Display for CapExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompressed size cap exceeded")
    }
}

impl std::error::Error for CapExceeded {}

/// Fails once more than `left` bytes have been read.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // one probe byte tells "exactly at the cap" from "over it"
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(CapExceeded)),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

fn is_cap(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<CapExceeded>())
}

const CHUNK: usize = 64 * 1024;
/// Deepest nesting the splitter follows (serde_json itself stops at 128).
const MAX_DEPTH: usize = 1024;

/// A growable read buffer with look-ahead.
struct Scanner<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
}

impl<R: Read> Scanner<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; CHUNK],
            pos: 0,
            end: 0,
            eof: false,
        }
    }

    /// Reads more bytes, keeping `pos..end`. Returns `false` at end of input.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The byte `n` places ahead, reading as needed.
    fn peek_at(&mut self, n: usize) -> io::Result<Option<u8>> {
        while self.end - self.pos <= n {
            if !self.fill()? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.pos + n]))
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        self.peek_at(0)
    }

    fn skip_ws(&mut self) -> io::Result<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\n' | b'\r' | b'\t') => self.pos += 1,
                other => return Ok(other),
            }
        }
    }
}

enum ScanErr {
    Io(io::Error),
    Syntax(String),
}

impl From<io::Error> for ScanErr {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// How a scanned value ended.
enum Captured {
    Whole,
    /// Over the cap: `out` was cleared; the value's full length.
    TooLarge(u64),
}

impl<R: Read> Scanner<R> {
    /// Scans one JSON value (after whitespace), appending its text to `out` unless it is
    /// longer than `max`. Strings and bracket nesting are followed; the contents are not
    /// validated.
    fn value(&mut self, out: &mut Vec<u8>, max: usize) -> Result<Captured, ScanErr> {
        let Some(first) = self.skip_ws()? else {
            return Err(ScanErr::Syntax("unexpected end of file".into()));
        };
        let mut total: u64 = 0;
        let mut over = false;
        let keep = |chunk: &[u8], total: &mut u64, over: &mut bool, out: &mut Vec<u8>| {
            *total += chunk.len() as u64;
            if !*over {
                if *total > max as u64 {
                    *over = true;
                    out.clear();
                } else {
                    out.extend_from_slice(chunk);
                }
            }
        };
        if !matches!(first, b'{' | b'[' | b'"') {
            // a scalar: up to the next delimiter
            loop {
                if self.pos == self.end && !self.fill()? {
                    break;
                }
                let chunk = &self.buf[self.pos..self.end];
                let stop = chunk
                    .iter()
                    .position(|b| matches!(b, b',' | b']' | b'}' | b' ' | b'\n' | b'\r' | b'\t'));
                let n = stop.unwrap_or(chunk.len());
                keep(&chunk[..n], &mut total, &mut over, out);
                self.pos += n;
                if stop.is_some() {
                    break;
                }
            }
            if total == 0 {
                return Err(ScanErr::Syntax(format!("unexpected `{}`", first as char)));
            }
            return Ok(if over {
                Captured::TooLarge(total)
            } else {
                Captured::Whole
            });
        }
        let mut stack: Vec<u8> = Vec::new();
        let mut in_str = false;
        let mut esc = false;
        loop {
            if self.pos == self.end && !self.fill()? {
                return Err(ScanErr::Syntax(
                    "unexpected end of file inside a record".into(),
                ));
            }
            let chunk = &self.buf[self.pos..self.end];
            let mut i = 0;
            let mut done = false;
            while i < chunk.len() {
                if in_str {
                    if esc {
                        esc = false;
                        i += 1;
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                        None => i = chunk.len(),
                        Some(off) => {
                            i += off;
                            if chunk[i] == b'\\' {
                                esc = true;
                            } else {
                                in_str = false;
                                if stack.is_empty() {
                                    i += 1;
                                    done = true;
                                    break;
                                }
                            }
                            i += 1;
                        }
                    }
                    continue;
                }
                let b = chunk[i];
                i += 1;
                match b {
                    b'"' => in_str = true,
                    b'{' | b'[' => {
                        if stack.len() >= MAX_DEPTH {
                            return Err(ScanErr::Syntax("nesting too deep".into()));
                        }
                        stack.push(if b == b'{' { b'}' } else { b']' });
                    }
                    b'}' | b']' => {
                        if stack.pop() != Some(b) {
                            return Err(ScanErr::Syntax(format!("unexpected `{}`", b as char)));
                        }
                        if stack.is_empty() {
                            done = true;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            keep(&chunk[..i], &mut total, &mut over, out);
            self.pos += i;
            if done {
                return Ok(if over {
                    Captured::TooLarge(total)
                } else {
                    Captured::Whole
                });
            }
        }
    }

    /// Reads one line (without `\n`) into `out` unless longer than `max`. `None` at end of
    /// input.
    fn line(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<Option<Captured>> {
        let mut total: u64 = 0;
        let mut over = false;
        let mut any = false;
        loop {
            if self.pos == self.end && !self.fill()? {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let chunk = &self.buf[self.pos..self.end];
            let nl = memchr::memchr(b'\n', chunk);
            let n = nl.unwrap_or(chunk.len());
            total += n as u64;
            if !over {
                if total > max as u64 {
                    over = true;
                    out.clear();
                } else {
                    out.extend_from_slice(&chunk[..n]);
                }
            }
            self.pos += n;
            if nl.is_some() {
                self.pos += 1;
                break;
            }
        }
        Ok(Some(if over {
            Captured::TooLarge(total)
        } else {
            Captured::Whole
        }))
    }
}

// ---------------------------------------------------------------------------------------

impl<R: Read> RecordReader<R> {
    fn location(&self, with_line: bool) -> RecordLocation {
        RecordLocation {
            index: self.index,
            line: with_line.then_some(self.line + 1),
        }
    }

    fn fatal_io(&mut self, e: io::Error, with_line: bool) -> FileError {
        let err = if is_cap(&e) {
            FileError::DecompressedTooLarge {
                limit: self.opts.max_decompressed_bytes,
            }
        } else {
            FileError::Io {
                location: self.location(with_line),
                source: e,
            }
        };
        self.state = State::Done;
        err
    }

    fn fatal_scan(&mut self, e: ScanErr) -> FileError {
        match e {
            ScanErr::Io(e) => self.fatal_io(e, false),
            ScanErr::Syntax(detail) => {
                self.state = State::Done;
                FileError::Syntax {
                    location: self.location(false),
                    detail,
                }
            }
        }
    }

    /// Sniffs gzip and the layout.
    fn start(&mut self, mut reader: R) -> Result<(), FileError> {
        let mut magic = Vec::with_capacity(2);
        while magic.len() < 2 {
            let mut b = [0u8; 1];
            match reader.read(&mut b) {
                Ok(0) => break,
                Ok(_) => magic.push(b[0]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fatal_io(e, false)),
            }
        }
        let gzip = magic == [0x1f, 0x8b];
        let chained = Cursor::new(magic).chain(reader);
        let decoded = if gzip {
            Decoded::Gzip(Box::new(MultiGzDecoder::new(chained)))
        } else {
            Decoded::Plain(chained)
        };
        let mut scan = Scanner::new(Capped {
            inner: decoded,
            left: self.opts.max_decompressed_bytes,
        });
        let mode = match Self::sniff(&mut scan, self.opts.format) {
            Ok(m) => m,
            Err(e) => return Err(self.fatal_scan(e)),
        };
        self.state = State::Running { scan, mode };
        Ok(())
    }

    fn sniff(scan: &mut Scanner<Capped<Decoded<R>>>, hint: FormatHint) -> Result<Mode, ScanErr> {
        // UTF-8 byte order mark
        if scan.peek_at(0)? == Some(0xef)
            && scan.peek_at(1)? == Some(0xbb)
            && scan.peek_at(2)? == Some(0xbf)
        {
            scan.pos += 3;
        }
        match hint {
            FormatHint::Ndjson => return Ok(Mode::Ndjson),
            FormatHint::Records => {
                return match scan.skip_ws()? {
                    Some(b'{') => {
                        scan.pos += 1;
                        Ok(Mode::Records(Phase::FirstMember {
                            seen_records: false,
                        }))
                    }
                    Some(_) => Err(ScanErr::Syntax("expected `{\"Records\":[`".into())),
                    None => Err(ScanErr::Syntax("empty file".into())),
                };
            }
            FormatHint::Auto => {}
        }
        // Look ahead, without consuming, for `{ "Records" :`.
        let mut k = 0;
        let ws = |b: Option<u8>| matches!(b, Some(b' ' | b'\n' | b'\r' | b'\t'));
        while ws(scan.peek_at(k)?) && k < 4096 {
            k += 1;
        }
        if scan.peek_at(k)? != Some(b'{') {
            return Ok(Mode::Ndjson);
        }
        k += 1;
        while ws(scan.peek_at(k)?) && k < 8192 {
            k += 1;
        }
        for &b in b"\"Records\"" {
            if scan.peek_at(k)? != Some(b) {
                return Ok(Mode::Ndjson);
            }
            k += 1;
        }
        while ws(scan.peek_at(k)?) && k < 12288 {
            k += 1;
        }
        if scan.peek_at(k)? != Some(b':') {
            return Ok(Mode::Ndjson);
        }
        scan.skip_ws()?;
        scan.pos += 1; // the `{`
        Ok(Mode::Records(Phase::FirstMember {
            seen_records: false,
        }))
    }

    fn next_ndjson(&mut self) -> Option<Result<RawRecord, FileError>> {
        loop {
            let State::Running { scan, .. } = &mut self.state else {
                return None;
            };
            let mut out = std::mem::take(&mut self.buf);
            out.clear();
            let res = scan.line(&mut out, self.opts.max_record_bytes);
            match res {
                Err(e) => return Some(Err(self.fatal_io(e, true))),
                Ok(None) => {
                    self.state = State::Done;
                    return None;
                }
                Ok(Some(Captured::TooLarge(actual))) => {
                    let location = self.location(true);
                    self.line += 1;
                    self.index += 1;
                    self.buf = out;
                    return Some(Err(FileError::RecordTooLarge {
                        location,
                        limit: self.opts.max_record_bytes,
                        actual,
                    }));
                }
                Ok(Some(Captured::Whole)) => {
                    let location = self.location(true);
                    self.line += 1;
                    if out.last() == Some(&b'\r') {
                        out.pop();
                    }
                    if out
                        .iter()
                        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                    {
                        self.buf = out;
                        continue;
                    }
                    self.index += 1;
                    return Some(Ok(RawRecord {
                        location,
                        bytes: out,
                    }));
                }
            }
        }
    }

    fn next_records(&mut self) -> Option<Result<RawRecord, FileError>> {
        loop {
            let State::Running { scan, mode } = &mut self.state else {
                return None;
            };
            let Mode::Records(phase) = *mode else {
                return None;
            };
            let step = Self::records_step(scan, phase, &self.opts);
            match step {
                Err(e) => return Some(Err(self.fatal_scan(e))),
                Ok(Step::Phase(p)) => *mode = Mode::Records(p),
                Ok(Step::End) => {
                    self.state = State::Done;
                    return None;
                }
                Ok(Step::Record(bytes)) => {
                    *mode = Mode::Records(Phase::InArray);
                    let location = self.location(false);
                    self.index += 1;
                    return Some(Ok(RawRecord { location, bytes }));
                }
                Ok(Step::TooLarge(actual)) => {
                    *mode = Mode::Records(Phase::InArray);
                    let location = self.location(false);
                    self.index += 1;
                    return Some(Err(FileError::RecordTooLarge {
                        location,
                        limit: self.opts.max_record_bytes,
                        actual,
                    }));
                }
            }
        }
    }

    fn records_step(
        scan: &mut Scanner<Capped<Decoded<R>>>,
        phase: Phase,
        opts: &ReadOptions,
    ) -> Result<Step, ScanErr> {
        let b = scan.skip_ws()?;
        let syntax = |what: &str, b: Option<u8>| {
            ScanErr::Syntax(match b {
                Some(b) => format!("expected {what}, found `{}`", b as char),
                None => format!("expected {what}, found end of file"),
            })
        };
        match phase {
            Phase::FirstMember { seen_records } | Phase::Member { seen_records } => {
                let first = matches!(phase, Phase::FirstMember { .. });
                match b {
                    Some(b'}') if first => {
                        scan.pos += 1;
                        Self::end(scan, seen_records)
                    }
                    Some(b'"') => {
                        let mut key = Vec::new();
                        scan.value(&mut key, 4096)?;
                        if scan.skip_ws()? != Some(b':') {
                            return Err(syntax("`:`", scan.peek()?));
                        }
                        scan.pos += 1;
                        if key == b"\"Records\"" {
                            if seen_records {
                                return Err(ScanErr::Syntax("`Records` appears twice".into()));
                            }
                            match scan.skip_ws()? {
                                Some(b'[') => {
                                    scan.pos += 1;
                                    Ok(Step::Phase(Phase::ArrayStart))
                                }
                                other => Err(syntax("`[` after `\"Records\":`", other)),
                            }
                        } else {
                            // other top-level members are skipped
                            let mut sink = Vec::new();
                            scan.value(&mut sink, 0)?;
                            Ok(Step::Phase(Phase::AfterMember { seen_records }))
                        }
                    }
                    other => Err(syntax("a member name", other)),
                }
            }
            Phase::AfterMember { seen_records } => match b {
                Some(b',') => {
                    scan.pos += 1;
                    Ok(Step::Phase(Phase::Member { seen_records }))
                }
                Some(b'}') => {
                    scan.pos += 1;
                    Self::end(scan, seen_records)
                }
                other => Err(syntax("`,` or `}`", other)),
            },
            Phase::ArrayStart | Phase::InArray => {
                match b {
                    Some(b']') => {
                        scan.pos += 1;
                        return Ok(Step::Phase(Phase::AfterMember { seen_records: true }));
                    }
                    Some(b',') if phase == Phase::InArray => scan.pos += 1,
                    _ if phase == Phase::ArrayStart => {}
                    other => return Err(syntax("`,` or `]`", other)),
                }
                let mut out = Vec::with_capacity(2048);
                match scan.value(&mut out, opts.max_record_bytes)? {
                    Captured::Whole => Ok(Step::Record(out)),
                    Captured::TooLarge(n) => Ok(Step::TooLarge(n)),
                }
            }
        }
    }

    fn end(scan: &mut Scanner<Capped<Decoded<R>>>, seen_records: bool) -> Result<Step, ScanErr> {
        if let Some(b) = scan.skip_ws()? {
            return Err(ScanErr::Syntax(format!(
                "unexpected `{}` after the end of the log file",
                b as char
            )));
        }
        if !seen_records {
            return Err(ScanErr::Syntax("the file has no `Records` array".into()));
        }
        Ok(Step::End)
    }
}

enum Step {
    Phase(Phase),
    Record(Vec<u8>),
    TooLarge(u64),
    End,
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<RawRecord, FileError>;

    fn next(&mut self) -> Option<Self::Item> {
        if matches!(self.state, State::Init(_)) {
            let State::Init(reader) = std::mem::replace(&mut self.state, State::Done) else {
                return None;
            };
            if let Err(e) = self.start(reader) {
                return Some(Err(e));
            }
        }
        match &self.state {
            State::Running {
                mode: Mode::Ndjson, ..
            } => self.next_ndjson(),
            State::Running { .. } => self.next_records(),
            State::Init(_) | State::Done => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], hint: FormatHint) -> Vec<Result<RawRecord, FileError>> {
        read_records(input, hint).collect()
    }

    fn ok_bytes(input: &[u8], hint: FormatHint) -> Vec<String> {
        all(input, hint)
            .into_iter()
            .map(|r| String::from_utf8(r.unwrap().bytes).unwrap())
            .collect()
    }

    #[test]
    fn records_file() {
        let f = br#" {"Records" : [ {"a":"]}\"x"} , {"b":[1,{"c":2}]} ,3 ] } "#;
        assert_eq!(
            ok_bytes(f, FormatHint::Auto),
            [r#"{"a":"]}\"x"}"#, r#"{"b":[1,{"c":2}]}"#, "3"]
        );
        assert_eq!(
            ok_bytes(br#"{"Records":[]}"#, FormatHint::Auto),
            Vec::<String>::new()
        );
        assert_eq!(
            ok_bytes(br#"{"x":{"y":[1]},"Records":[{}]}"#, FormatHint::Records),
            ["{}"]
        );
    }

    #[test]
    fn broken_records_file_is_fatal() {
        for bad in [
            &br#"{"Records":[{"a":1}"#[..],
            br#"{"Records":[{"a":1]]}"#,
            br#"{"Records":[{}] x"#,
            br#"{"Records":[{}],"Records":[]}"#,
            br#"{"Other":1}"#,
            b"[1]",
        ] {
            let got = all(bad, FormatHint::Records);
            let last = got.last().unwrap();
            assert!(
                matches!(last, Err(e) if e.is_fatal()),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn ndjson_lines() {
        let f = b"{\"a\":1}\r\n\n  \n{\"b\":2}\nnot json\n{\"c\":3}";
        let got = all(f, FormatHint::Auto);
        let locs: Vec<_> = got.iter().map(|r| r.as_ref().unwrap().location).collect();
        assert_eq!(
            locs,
            [
                RecordLocation {
                    index: 0,
                    line: Some(1)
                },
                RecordLocation {
                    index: 1,
                    line: Some(4)
                },
                RecordLocation {
                    index: 2,
                    line: Some(5)
                },
                RecordLocation {
                    index: 3,
                    line: Some(6)
                },
            ]
        );
        assert_eq!(got[0].as_ref().unwrap().bytes, b"{\"a\":1}");
    }

    #[test]
    fn record_cap_skips_and_continues() {
        let opts = ReadOptions::new(FormatHint::Auto).with_max_record_bytes(8);
        let got: Vec<_> = read_records_with(
            &br#"{"Records":[{"a":"long value"},{"b":1}]}"#[..],
            opts.clone(),
        )
        .collect();
        assert!(matches!(
            &got[0],
            Err(FileError::RecordTooLarge { actual: 18, .. })
        ));
        assert_eq!(got[1].as_ref().unwrap().bytes, br#"{"b":1}"#);
        let got: Vec<_> =
            read_records_with(&b"{\"a\":\"long value\"}\n{\"b\":1}\n"[..], opts).collect();
        assert!(matches!(
            &got[0],
            Err(FileError::RecordTooLarge {
                location: RecordLocation { line: Some(1), .. },
                ..
            })
        ));
        assert_eq!(got[1].as_ref().unwrap().location.line, Some(2));
    }

    #[test]
    fn plain_cap() {
        let opts = ReadOptions::new(FormatHint::Ndjson).with_max_decompressed_bytes(10);
        let got: Vec<_> = read_records_with(&b"{}\n{}\n{}\n{}\n"[..], opts.clone()).collect();
        assert!(matches!(
            got.last(),
            Some(Err(FileError::DecompressedTooLarge { limit: 10 }))
        ));
        // exactly at the cap is fine
        let got: Vec<_> =
            read_records_with(&b"{}\n{}\n{}\n{}"[..], opts.with_max_decompressed_bytes(11))
                .collect();
        assert_eq!(got.len(), 4);
        assert!(got.iter().all(Result::is_ok));
    }

    #[test]
    fn empty_inputs() {
        assert!(all(b"", FormatHint::Auto).is_empty());
        assert!(all(b"  \n", FormatHint::Auto).is_empty());
        assert!(matches!(
            all(b"", FormatHint::Records).as_slice(),
            [Err(FileError::Syntax { .. })]
        ));
    }
}
