//! Test fixtures, shared by this crate's validator tests and `cairn validate`'s end-to-end
//! tests and benchmark: one trail's object keys and an hourly chain of signed digests over
//! generated log files, stored in a [`MemorySource`]. Not a stable API.
//!
//! Like the tests they serve, these builders panic on errors.

use rand::SeedableRng;
use rand::rngs::StdRng;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::digest::{DigestFile, LogFileEntry, META_BACKFILL_TIMESTAMP, SignedDigest};
use crate::keys::SigningKey;
use crate::layout::{self, DigestFileKey, LogFileKey, Prefix};
use crate::logfile::LogFileEncoder;
use crate::validate::MemorySource;
use crate::{gz, timefmt};

/// The fixture trail's bucket (the documentation's example bucket).
pub const BUCKET: &str = "amzn-s3-demo-bucket";
/// The fixture trail's account.
pub const ACCOUNT: &str = "111122223333";
/// The fixture trail's home region, the only one it logs.
pub const REGION: &str = "us-east-2";
/// The fixture trail's name.
pub const TRAIL: &str = "example-trail";
/// The fixture trail's ARN.
pub const ARN: &str = "arn:aws:cloudtrail:us-east-2:111122223333:trail/example-trail";
/// Where a new [`Chain`] starts: 31 s after the hour, not clock-aligned, like AWS.
pub const START: OffsetDateTime = datetime!(2025-03-04 00:01:31 UTC);

/// The key of the fixture trail's log file delivered at `delivery_time`.
pub fn log_key(delivery_time: OffsetDateTime, unique: &str) -> String {
    LogFileKey {
        prefix: Prefix::NONE,
        org_id: None,
        account_id: ACCOUNT.into(),
        region: REGION.into(),
        delivery_time,
        unique: unique.into(),
    }
    .to_key()
    .expect("fixture log keys are valid")
}

/// The parts of the fixture trail's digest key ending at `end_time`.
pub fn digest_key(end_time: OffsetDateTime, backfill: bool) -> DigestFileKey {
    DigestFileKey {
        prefix: Prefix::NONE,
        org_id: None,
        account_id: ACCOUNT.into(),
        source_region: REGION.into(),
        trail_name: TRAIL.into(),
        home_region: REGION.into(),
        end_time,
        backfill,
    }
}

/// An hourly chain of the fixture trail's digests from [`START`], each listing the log files
/// delivered in its hour, stored in [`Chain::src`] as S3 holds them (digest signatures in
/// the object metadata).
pub struct Chain {
    /// The bucket.
    pub src: MemorySource,
    /// The key that signs the digests (unless [`Opts::signer`] says otherwise).
    pub key: SigningKey,
    rng: StdRng,
    /// Where the next digest's hour starts.
    pub next_start: OffsetDateTime,
    /// The last digest added (key and signed form), which the next one links to.
    pub prev: Option<(String, SignedDigest)>,
    /// Digest keys, oldest first.
    pub digests: Vec<String>,
    /// Log file keys, oldest first.
    pub logs: Vec<String>,
}

/// How [`Chain::add`] builds one digest.
#[derive(Default)]
pub struct Opts<'a> {
    /// How many log files it lists (one small record each).
    pub logs: usize,
    /// Starts a new chain: no link to the previous digest.
    pub restart: bool,
    /// Edits the digest before it is signed.
    pub tweak: Option<&'a dyn Fn(&mut DigestFile)>,
    /// Signs with this key, named by its fingerprint (a forger's), instead of the chain's.
    pub signer: Option<&'a SigningKey>,
    /// A `_backfill` digest, with its generation timestamp in the metadata.
    pub backfill: bool,
}

impl Chain {
    /// An empty chain signed by `key`; ids come from a fixed seed.
    pub fn new(key: SigningKey) -> Self {
        Chain {
            src: MemorySource::new(),
            key,
            rng: StdRng::seed_from_u64(42),
            next_start: START,
            prev: None,
            digests: Vec::new(),
            logs: Vec::new(),
        }
    }

    /// A chain of `n` digests listing `logs` log files each.
    pub fn build(key: SigningKey, n: usize, logs: usize) -> Self {
        let mut c = Chain::new(key);
        for _ in 0..n {
            c.add(Opts {
                logs,
                ..Default::default()
            });
        }
        c
    }

    /// Adds the digest of the hour from [`Chain::next_start`] and its log files (delivered
    /// 10, 15, ... minutes into the hour); returns its key.
    pub fn add(&mut self, o: Opts<'_>) -> String {
        let start = self.next_start;
        let end = start + Duration::hours(1);
        let dkey = digest_key(end, o.backfill);
        let signer = o.signer.unwrap_or(&self.key);
        let mut d = DigestFile::new(BUCKET, &dkey, start, signer.fingerprint())
            .expect("fixture digests are valid");
        for i in 0..o.logs {
            let delivered = start + Duration::minutes(10 + 5 * i as i64);
            let mut enc = LogFileEncoder::default();
            let rec = format!(
                "{{\"eventTime\":\"{}\",\"eventID\":\"{}\"}}",
                timefmt::format_event_time(delivered - Duration::minutes(3))
                    .expect("fixture times are in range"),
                layout::unique_string(&mut self.rng)
            );
            enc.push_record(rec.as_bytes())
                .expect("fixture records are valid");
            let f = enc.finish().expect("fixture log files encode");
            let lk = log_key(delivered, &layout::unique_string(&mut self.rng));
            self.src
                .put(BUCKET, &lk, f.gzip.clone(), Vec::<(String, String)>::new());
            d.add_log_file(LogFileEntry::new(BUCKET, &lk, &f).expect("fixture log entries"));
            self.logs.push(lk);
        }
        if let (false, Some((k, s))) = (o.restart, &self.prev) {
            d.chain_to(&s.as_previous(BUCKET, k));
        }
        if let Some(t) = o.tweak {
            t(&mut d);
        }
        // Signed by hand (not DigestFile::sign) so tests can forge fingerprints.
        let body = d.to_json().expect("fixture digests serialise");
        let sha256_hex = gz::sha256_hex(&body);
        let signature_hex = signer
            .sign_hex(d.string_to_sign(&sha256_hex).as_bytes())
            .expect("fixture keys sign");
        let gzip = gz::gzip(&body, 6);
        let s = SignedDigest {
            body,
            sha256_hex,
            signature_hex,
            gzip,
        };
        let k = dkey.to_key().expect("fixture digest keys are valid");
        let mut meta: Vec<(String, String)> = s.metadata().map(|(k, v)| (k.to_owned(), v)).to_vec();
        if o.backfill {
            meta.push((
                META_BACKFILL_TIMESTAMP.to_owned(),
                timefmt::format_event_time(end).expect("fixture times are in range"),
            ));
        }
        self.src.put(BUCKET, &k, s.gzip.clone(), meta);
        self.next_start = end;
        self.prev = Some((k.clone(), s));
        self.digests.push(k.clone());
        k
    }
}
