//! The conformance suite every [`Bucket`] implementation must pass.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let bucket = cairn_store::MemoryBucket::new("conformance");
//! cairn_store::testkit::conformance(&bucket).await.unwrap();
//! # });
//! ```
//!
//! It needs an empty bucket, writes and deletes keys in it, and leaves it empty when it
//! passes. It returns the first failed check instead of panicking, so other crates can run it
//! against their own implementations.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use time::{Duration, OffsetDateTime};

use crate::{
    Bucket, ErrorClass, PutMode, PutOptions, Result, Sse, list_all, md5_hex, put_idempotent,
};

/// A failed conformance check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConformanceFailure {
    /// Backend under test.
    pub backend: &'static str,
    /// Which check failed.
    pub check: &'static str,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for ConformanceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} backend fails conformance check {:?}: {}",
            self.backend, self.check, self.detail
        )
    }
}

impl std::error::Error for ConformanceFailure {}

/// Keys whose byte order differs from naive expectations: `/` (0x2F) sorts between `-`
/// (0x2D) and `0` (0x30), uppercase before lowercase, and multi-byte UTF-8 last.
pub const ORDER_KEYS: &[&str] = &[
    "a", "a/b", "a-b", "a0", "B", "é", "a%2F", "a/b/c", "ab", "a b",
];

struct Suite<'a> {
    bucket: &'a dyn Bucket,
}

type Check<T> = std::result::Result<T, ConformanceFailure>;

impl Suite<'_> {
    fn fail<T>(&self, check: &'static str, detail: impl Into<String>) -> Check<T> {
        Err(ConformanceFailure {
            backend: self.bucket.backend(),
            check,
            detail: detail.into(),
        })
    }

    fn ensure(&self, ok: bool, check: &'static str, detail: impl FnOnce() -> String) -> Check<()> {
        if ok {
            Ok(())
        } else {
            self.fail(check, detail())
        }
    }

    fn ok<T>(&self, check: &'static str, r: Result<T>) -> Check<T> {
        r.or_else(|e| self.fail(check, format!("unexpected error: {e:?}")))
    }

    fn class<T: fmt::Debug>(
        &self,
        check: &'static str,
        r: Result<T>,
        want: ErrorClass,
    ) -> Check<()> {
        match r {
            Err(e) if e.class() == want => Ok(()),
            other => self.fail(check, format!("expected {want:?}, got {other:?}")),
        }
    }

    /// `key` does not exist: `get` and `head` (checks named `[get, head]`) fail with
    /// `NotFound`.
    async fn absent(&self, [get, head]: [&'static str; 2], key: &str) -> Check<()> {
        self.class(get, self.bucket.get(key).await, ErrorClass::NotFound)?;
        self.class(head, self.bucket.head(key).await, ErrorClass::NotFound)
    }

    async fn keys(
        &self,
        check: &'static str,
        prefix: &str,
        marker: Option<&str>,
    ) -> Check<Vec<String>> {
        let page = self.ok(check, self.bucket.list(prefix, marker, 1000).await)?;
        self.ensure(!page.is_truncated, check, || "unexpected truncation".into())?;
        Ok(page.entries.into_iter().map(|e| e.key).collect())
    }

    async fn run(&self) -> Check<()> {
        let b = self.bucket;
        let start = self.keys("bucket starts empty", "", None).await?;
        self.ensure(start.is_empty(), "bucket starts empty", || {
            format!("found {start:?}")
        })?;

        self.not_found_and_invalid().await?;
        self.round_trip().await?;
        self.create_only_and_overwrite().await?;
        self.idempotent_put().await?;
        self.listing().await?;
        self.delete().await?;
        self.sse().await?;
        self.concurrent_create().await?;

        for entry in self.ok("cleanup", list_all(b, "").await)? {
            self.ok("cleanup", b.delete(&entry.key).await)?;
        }
        let end = self.keys("bucket ends empty", "", None).await?;
        self.ensure(end.is_empty(), "bucket ends empty", || {
            format!("found {end:?}")
        })
    }

    async fn not_found_and_invalid(&self) -> Check<()> {
        let b = self.bucket;
        self.absent(["get missing", "head missing"], "missing/key")
            .await?;
        self.ok("delete missing is ok", b.delete("missing/key").await)?;
        for bad in ["", "/abs", "a//b", "a/", "../x", "a/./b", "a\nb"] {
            let put = b
                .put(bad, Bytes::from_static(b"x"), PutOptions::default())
                .await;
            self.class("invalid key put", put, ErrorClass::InvalidInput)?;
            self.class(
                "invalid key get",
                b.get(bad).await,
                ErrorClass::InvalidInput,
            )?;
            self.class(
                "invalid key head",
                b.head(bad).await,
                ErrorClass::InvalidInput,
            )?;
            self.class(
                "invalid key delete",
                b.delete(bad).await,
                ErrorClass::InvalidInput,
            )?;
        }
        let mut meta = BTreeMap::new();
        meta.insert("bad name".to_owned(), "v".to_owned());
        let opts = PutOptions {
            user_metadata: meta,
            ..PutOptions::default()
        };
        let put = b.put("meta/bad", Bytes::from_static(b"x"), opts).await;
        self.class("invalid metadata name", put, ErrorClass::InvalidInput)?;
        self.class(
            "invalid put stores nothing",
            b.head("meta/bad").await,
            ErrorClass::NotFound,
        )
    }

    async fn round_trip(&self) -> Check<()> {
        let b = self.bucket;
        let key = "rt/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/01/02/d.json.gz";
        let body = Bytes::from(vec![0x1f, 0x8b, 0, 1, 2, 3, 255]);
        let mut meta = BTreeMap::new();
        meta.insert("Signature".to_owned(), "0a1b2c".repeat(8));
        meta.insert("signature-algorithm".to_owned(), "SHA256withRSA".to_owned());
        let opts = PutOptions {
            content_type: Some("application/x-gzip".to_owned()),
            user_metadata: meta,
            ..PutOptions::default()
        };
        let before = OffsetDateTime::now_utc() - Duration::hours(24);
        let put = self.ok("put", b.put(key, body.clone(), opts).await)?;
        let md5 = md5_hex(&body);
        self.ensure(
            put.etag.as_deref() == Some(md5.as_str()),
            "put etag is md5",
            || format!("{:?} != {md5}", put.etag),
        )?;

        let got = self.ok("get", b.get(key).await)?;
        self.ensure(got.bytes == body, "get returns the bytes", || {
            format!("{:?}", got.bytes)
        })?;
        let m = &got.meta;
        self.ensure(
            m.key == key && m.size == body.len() as u64,
            "get meta key and size",
            || format!("{m:?}"),
        )?;
        self.ensure(m.etag == put.etag, "get etag equals put etag", || {
            format!("{m:?}")
        })?;
        self.ensure(
            m.content_type.as_deref() == Some("application/x-gzip"),
            "content type round-trip",
            || format!("{:?}", m.content_type),
        )?;
        let mut want = BTreeMap::new();
        want.insert("signature".to_owned(), "0a1b2c".repeat(8));
        want.insert("signature-algorithm".to_owned(), "SHA256withRSA".to_owned());
        self.ensure(
            m.user_metadata == want,
            "user metadata round-trip, lower-cased",
            || format!("{:?}", m.user_metadata),
        )?;
        let after = OffsetDateTime::now_utc() + Duration::hours(24);
        self.ensure(
            before < m.last_modified && m.last_modified < after,
            "last modified is now",
            || format!("{}", m.last_modified),
        )?;

        let head = self.ok("head", b.head(key).await)?;
        let same = head.key == m.key
            && head.size == m.size
            && head.etag == m.etag
            && head.content_type == m.content_type
            && head.user_metadata == m.user_metadata
            && (head.last_modified - m.last_modified).abs() <= Duration::seconds(1);
        self.ensure(same, "head equals get meta", || {
            format!("{head:?} vs {m:?}")
        })?;

        let empty_key = "rt/empty";
        self.ok(
            "put empty",
            b.put(empty_key, Bytes::new(), PutOptions::default()).await,
        )?;
        let empty = self.ok("get empty", b.get(empty_key).await)?;
        self.ensure(
            empty.bytes.is_empty() && empty.meta.size == 0 && empty.meta.user_metadata.is_empty(),
            "empty object round-trip",
            || format!("{empty:?}"),
        )?;

        let large = Bytes::from((0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        self.ok(
            "put large",
            b.put("rt/large", large.clone(), PutOptions::default())
                .await,
        )?;
        let got = self.ok("get large", b.get("rt/large").await)?;
        self.ensure(got.bytes == large, "large object round-trip", || {
            "bytes differ".into()
        })
    }

    async fn create_only_and_overwrite(&self) -> Check<()> {
        let b = self.bucket;
        let key = "modes/k";
        let mut meta = BTreeMap::new();
        meta.insert("v".to_owned(), "1".to_owned());
        let first = PutOptions {
            user_metadata: meta,
            ..PutOptions::default()
        };
        self.ok(
            "create",
            b.put(key, Bytes::from_static(b"one"), first.clone()).await,
        )?;
        let again = b.put(key, Bytes::from_static(b"two"), first).await;
        self.class(
            "create-only on existing key",
            again,
            ErrorClass::AlreadyExists,
        )?;
        let got = self.ok("get after refused create", b.get(key).await)?;
        self.ensure(
            got.bytes == "one",
            "refused create leaves the object",
            || format!("{:?}", got.bytes),
        )?;

        let over = PutOptions {
            mode: PutMode::Overwrite,
            ..PutOptions::default()
        };
        self.ok(
            "overwrite",
            b.put(key, Bytes::from_static(b"three"), over.clone()).await,
        )?;
        let got = self.ok("get after overwrite", b.get(key).await)?;
        self.ensure(
            got.bytes == "three" && got.meta.user_metadata.is_empty(),
            "overwrite replaces bytes and metadata",
            || format!("{got:?}"),
        )?;
        self.ok(
            "overwrite new key",
            b.put("modes/new", Bytes::from_static(b"n"), over).await,
        )?;
        let got = self.ok("get overwrite-created", b.get("modes/new").await)?;
        self.ensure(got.bytes == "n", "overwrite creates", || format!("{got:?}"))
    }

    async fn idempotent_put(&self) -> Check<()> {
        let b = self.bucket;
        let key = "idem/log.json.gz";
        let body = Bytes::from_static(b"{\"Records\":[]}");
        let first = self.ok(
            "idempotent first",
            put_idempotent(b, key, body.clone(), PutOptions::default()).await,
        )?;
        self.ensure(first.created, "idempotent first creates", || {
            format!("{first:?}")
        })?;
        let replay = self.ok(
            "idempotent replay",
            put_idempotent(b, key, body.clone(), PutOptions::default()).await,
        )?;
        self.ensure(!replay.created, "idempotent replay is a no-op", || {
            format!("{replay:?}")
        })?;
        let other =
            put_idempotent(b, key, Bytes::from_static(b"other"), PutOptions::default()).await;
        self.class(
            "idempotent different bytes",
            other,
            ErrorClass::PreconditionFailed,
        )?;
        let got = self.ok("get after idempotent", b.get(key).await)?;
        self.ensure(got.bytes == body, "idempotent keeps first bytes", || {
            format!("{got:?}")
        })
    }

    async fn listing(&self) -> Check<()> {
        let b = self.bucket;
        let base = "order/";
        let mut expected: Vec<String> = ORDER_KEYS.iter().map(|k| format!("{base}{k}")).collect();
        for key in &expected {
            self.ok(
                "put listing key",
                b.put(key, Bytes::from(key.clone()), PutOptions::default())
                    .await,
            )?;
        }
        expected.sort_unstable_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
        let with = |p: &str| -> Vec<String> {
            expected
                .iter()
                .filter(|k| k.starts_with(p))
                .cloned()
                .collect()
        };
        let after = |m: &str| -> Vec<String> {
            expected
                .iter()
                .filter(|k| k.as_str() > m)
                .cloned()
                .collect()
        };

        let all = self.keys("list prefix in byte order", base, None).await?;
        self.ensure(all == expected, "list prefix in byte order", || {
            format!("got {all:?}, want {expected:?}")
        })?;
        let page = self.ok("list entries", b.list(base, None, 1000).await)?;
        for e in &page.entries {
            self.ensure(e.size == e.key.len() as u64, "list entry size", || {
                format!("{e:?}")
            })?;
            let md5 = md5_hex(e.key.as_bytes());
            self.ensure(
                e.etag.as_deref() == Some(md5.as_str()),
                "list entry etag",
                || format!("{e:?}"),
            )?;
        }

        for prefix in [
            "order/a",
            "order/a/",
            "order/a/b",
            "order/é",
            "order/zzz",
            "order/a%",
        ] {
            let got = self.keys("list by prefix", prefix, None).await?;
            self.ensure(got == with(prefix), "list by prefix", || {
                format!("prefix {prefix:?}: got {got:?}, want {:?}", with(prefix))
            })?;
        }
        for marker in [
            "order/a-b",
            "order/a.",
            "order/a/",
            "order/a/b",
            "order/B",
            "order/é",
            "order/\u{10ffff}",
        ] {
            let got = self.keys("list after marker", base, Some(marker)).await?;
            let want = after(marker);
            self.ensure(got == want, "list after marker", || {
                format!("marker {marker:?}: got {got:?}, want {want:?}")
            })?;
        }
        // A marker before the prefix, and a prefix plus marker together.
        let got = self.keys("marker before prefix", base, Some("a")).await?;
        self.ensure(got == expected, "marker before prefix", || {
            format!("{got:?}")
        })?;
        let got = self
            .keys("prefix and marker", "order/a/", Some("order/a/b"))
            .await?;
        self.ensure(got == ["order/a/b/c"], "prefix and marker", || {
            format!("{got:?}")
        })?;

        // Pagination with a small max follows markers and ends untruncated.
        let mut paged = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..=expected.len() {
            let page = self.ok("paginate", b.list(base, marker.as_deref(), 3).await)?;
            self.ensure(page.entries.len() <= 3, "page respects max", || {
                format!("{page:?}")
            })?;
            paged.extend(page.entries.iter().map(|e| e.key.clone()));
            if !page.is_truncated {
                break;
            }
            let next = page.entries.last().map(|e| e.key.clone());
            self.ensure(
                page.next_marker == next,
                "next marker is the last key",
                || format!("{page:?}"),
            )?;
            marker = next;
        }
        self.ensure(
            paged == expected,
            "pagination returns every key once, in order",
            || format!("got {paged:?}"),
        )?;
        let exact = self.ok(
            "page of exactly all keys",
            b.list(base, None, expected.len()).await,
        )?;
        self.ensure(
            exact.entries.len() == expected.len() && !exact.is_truncated,
            "no truncation when the page holds every key",
            || format!("{exact:?}"),
        )?;

        let everything = self.keys("list whole bucket", "", None).await?;
        let mut sorted = everything.clone();
        sorted.sort_unstable_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
        self.ensure(
            everything == sorted && expected.iter().all(|k| everything.contains(k)),
            "list whole bucket in byte order",
            || format!("{everything:?}"),
        )
    }

    async fn delete(&self) -> Check<()> {
        let b = self.bucket;
        self.ok("delete", b.delete("order/a/b").await)?;
        self.absent(["get after delete", "head after delete"], "order/a/b")
            .await?;
        self.ok("delete twice", b.delete("order/a/b").await)?;
        let got = self.keys("list after delete", "order/a/", None).await?;
        self.ensure(got == ["order/a/b/c"], "list after delete", || {
            format!("{got:?}")
        })?;
        self.ok("delete deeper", b.delete("order/a/b/c").await)?;
        let got = self
            .keys("list after deleting subtree", "order/a/", None)
            .await?;
        self.ensure(got.is_empty(), "list after deleting subtree", || {
            format!("{got:?}")
        })?;
        // The key can be created again after deletion.
        self.ok(
            "recreate",
            b.put(
                "order/a/b/c",
                Bytes::from_static(b"x"),
                PutOptions::default(),
            )
            .await,
        )?;
        let got = self.ok("get recreated", b.get("order/a/b/c").await)?;
        self.ensure(got.bytes == "x", "recreate after delete", || {
            format!("{got:?}")
        })
    }

    async fn sse(&self) -> Check<()> {
        let b = self.bucket;
        for (key, sse) in [
            ("sse/s3", Sse::S3),
            (
                "sse/kms",
                Sse::Kms {
                    key_id: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                        .to_owned(),
                },
            ),
        ] {
            let opts = PutOptions {
                sse,
                ..PutOptions::default()
            };
            self.ok("put with sse", b.put(key, Bytes::from_static(b"secret"), opts).await)?;
            let got = self.ok("get sse object", b.get(key).await)?;
            self.ensure(got.bytes == "secret", "sse object round-trip", || format!("{got:?}"))?;
        }
        Ok(())
    }

    async fn concurrent_create(&self) -> Check<()> {
        let b = self.bucket;
        let key = "race/one-winner";
        let puts = (0..8u8).map(|i| b.put(key, Bytes::from(vec![i; 64]), PutOptions::default()));
        let results = futures::future::join_all(puts).await;
        let mut winners = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(_) => winners.push(i),
                Err(e) if e.class() == ErrorClass::AlreadyExists => {}
                Err(e) => return self.fail("concurrent create-only", format!("{e:?}")),
            }
        }
        self.ensure(
            winners.len() == 1,
            "concurrent create-only has one winner",
            || format!("winners {winners:?}"),
        )?;
        let got = self.ok("get race winner", b.get(key).await)?;
        let want = u8::try_from(winners[0]).unwrap_or(u8::MAX);
        self.ensure(
            got.bytes == vec![want; 64],
            "race winner's bytes are stored",
            || format!("{:?}", got.bytes.first()),
        )
    }
}

/// Runs every check against `bucket`, which must be empty. Returns the first failure.
///
/// Covers: not-found and invalid-input classes; put/get/head round-trip with content type and
/// user metadata (names lower-cased); put-if-absent, overwrite and [`put_idempotent`]; byte-order
/// listing with the keys of [`ORDER_KEYS`], prefixes, markers (S3 v1 semantics) and pagination;
/// idempotent delete; SSE options; concurrent put-if-absent with exactly one winner.
pub async fn conformance(bucket: &dyn Bucket) -> std::result::Result<(), ConformanceFailure> {
    Suite { bucket }.run().await
}
