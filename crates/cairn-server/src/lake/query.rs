//! Queries: StartQuery (over stores and `events`), DescribeQuery, GetQueryResults,
//! ListQueries, CancelQuery.

use super::*;

impl Lake {
    /// Rewrites store references (ID or ARN) into quoted table names, and returns the stores
    /// named.
    pub(super) fn resolve_statement(
        &self,
        ctx: &CallContext,
        sql: &str,
    ) -> Result<(String, Vec<Store>), ApiError> {
        let mut named: Vec<Store> = Vec::new();
        let out = cairn_lake::refs::quote_store_refs(sql, |key, _id| {
            let s = self.find(ctx, key)?;
            if s.status == "PENDING_DELETION" {
                return Err(inactive(key));
            }
            if !named.iter().any(|n| n.id == s.id) {
                named.push(s);
            }
            Ok(())
        })?;
        Ok((out, named))
    }

    pub(super) async fn start_query(&self, asker: &Asker<'_>) -> Result<Value, ApiError> {
        let (ctx, body) = (asker.ctx, asker.body);
        if body.get("DeliveryS3Uri").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::client(
                "UnsupportedOperationException",
                "DeliveryS3Uri: delivering query results to S3 is not implemented by this Cairn server",
            ));
        }
        if body.get("QueryAlias").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::client(
                "UnsupportedOperationException",
                "QueryAlias: dashboard queries are not implemented by this Cairn server",
            ));
        }
        let statement = str_member(body, "QueryStatement")?;
        if statement.is_empty() || statement.chars().count() > 10_000 {
            return Err(ApiError::invalid_parameter(
                "QueryStatement must be 1 to 10000 characters",
            ));
        }
        let (sql, stores) = self.resolve_statement(ctx, statement)?;
        for s in &stores {
            asker.allow("cloudtrail:StartQuery", &s.arn())?;
        }
        {
            let q = self.lock_queries();
            let running = q
                .values()
                .filter(|q| q.account == ctx.account && matches!(q.status, "QUEUED" | "RUNNING"))
                .count();
            if running >= MAX_RUNNING {
                return Err(ApiError::client(
                    "MaxConcurrentQueriesException",
                    format!("at most {MAX_RUNNING} queries can run at once"),
                ));
            }
        }
        let lake = cairn_lake::Lake::new(2);
        let qerr = |e: cairn_lake::LakeError| match e {
            cairn_lake::LakeError::Sql(m) => ApiError::client("InvalidQueryStatementException", m),
            other => ApiError::internal(other),
        };
        let reads_events = lake
            .table_names(&sql)
            .map_err(qerr)?
            .iter()
            .any(|t| t == "events");
        for s in &stores {
            let source = cairn_lake::layout::store_source(&self.data_dir, &s.id, &self.master)
                .map_err(ApiError::internal)?;
            lake.register(&s.id, &source).await.map_err(qerr)?;
            let cutoff = unix_now() - s.retention_days * 86_400;
            lake.retain_since(&s.id, cutoff * 1_000_000)
                .await
                .map_err(qerr)?;
        }
        // `events`: the caller's buckets' delivered log files, each one checked as the caller
        // (as S3 GetObject would allow it), read through the bucket while the query runs.
        // Only listed when the statement reads it.
        if reads_events {
            let sources = self.events_sources(asker, ctx).await?;
            lake.register_listed("events", sources)
                .await
                .map_err(qerr)?;
        }
        let df = lake.sql(&sql).await.map_err(qerr)?;

        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.lock_queries().insert(
            id.clone(),
            QueryRec {
                id: id.clone(),
                account: ctx.account.clone(),
                owner: asker.caller.principal.arn().unwrap_or_default(),
                reads_events,
                statement: statement.to_owned(),
                stores: stores.iter().map(|s| s.id.clone()).collect(),
                status: "RUNNING",
                error: None,
                created: OffsetDateTime::now_utc(),
                elapsed_ms: 0,
                names: Vec::new(),
                rows: Vec::new(),
                progress: lake.progress(),
                cancel: Some(tx),
            },
        );
        let queries = self.queries.clone();
        let qid = id.clone();
        // The query runs on the blocking pool, in a runtime of its own, so a long scan does not
        // hold the API's workers; dropping its future (CancelQuery) stops the scan.
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let outcome = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(async {
                    tokio::select! {
                        r = lake.collect(df) => Some(r),
                        _ = rx => None,
                    }
                }),
                Err(e) => Some(Err(cairn_lake::LakeError::Execution(e.to_string()))),
            };
            let mut q = queries.lock().unwrap_or_else(|p| p.into_inner());
            let Some(rec) = q.get_mut(&qid) else { return };
            rec.elapsed_ms = started.elapsed().as_millis() as u64;
            rec.cancel = None;
            match outcome {
                None => rec.status = "CANCELLED",
                Some(Ok((schema, batches))) => match cairn_lake::rows_as_text(&schema, &batches) {
                    Ok((names, rows)) => {
                        rec.status = "FINISHED";
                        rec.names = names;
                        rec.rows = rows;
                    }
                    Err(e) => {
                        rec.status = "FAILED";
                        rec.error = Some(e.to_string());
                    }
                },
                Some(Err(e)) => {
                    rec.status = "FAILED";
                    rec.error = Some(e.to_string());
                }
            }
        });
        Ok(json!({ "QueryId": id }))
    }

    /// The caller's query `QueryId`, checked against `EventDataStore` when given. `action`
    /// is authorized on every store the query read; a query over `events` is only visible
    /// to the principal that started it (it read log files as that principal).
    pub(super) fn with_query<T>(
        &self,
        asker: &Asker<'_>,
        action: &str,
        f: impl FnOnce(&mut QueryRec) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let (ctx, body) = (asker.ctx, asker.body);
        let id = str_member(body, "QueryId")?;
        if let Some(key) = body.get("EventDataStore").and_then(Value::as_str) {
            self.find(ctx, key)?;
        }
        let not_found = || {
            ApiError::client(
                "QueryIdNotFoundException",
                format!("the query ID {id} does not exist or does not belong to your account"),
            )
        };
        let (stores, reads_events, owner) = {
            let mut q = self.lock_queries();
            prune(&mut q);
            let rec = q
                .get(id)
                .filter(|q| q.account == ctx.account)
                .ok_or_else(not_found)?;
            (rec.stores.clone(), rec.reads_events, rec.owner.clone())
        };
        if reads_events && asker.caller.principal.arn().unwrap_or_default() != owner {
            return Err(not_found());
        }
        let arns: Vec<String> = self
            .lock_stores()
            .iter()
            .filter(|s| s.account == ctx.account && stores.contains(&s.id))
            .map(Store::arn)
            .collect();
        for arn in &arns {
            asker.allow(action, arn)?;
        }
        let mut q = self.lock_queries();
        match q.get_mut(id).filter(|q| q.account == ctx.account) {
            Some(rec) => f(rec),
            None => Err(not_found()),
        }
    }

    /// The delivered log files of the caller's account's buckets, each one checked as the
    /// caller: a file the caller may not read (S3 `s3:GetObject` under identity and bucket
    /// policies, `kms:Decrypt` for SSE-KMS) refuses the whole query with
    /// `AccessDeniedException` naming it, rather than answering from part of the logs.
    pub(super) async fn events_sources(
        &self,
        asker: &Asker<'_>,
        ctx: &CallContext,
    ) -> Result<Vec<cairn_lake::Listed>, ApiError> {
        use crate::pipeline::deliver::BucketResolver;
        let Some(resolver) = self.buckets.get() else {
            return Ok(Vec::new());
        };
        let vault = asker.state.buckets.vault();
        let mut out = Vec::new();
        for b in self
            .catalog
            .buckets()
            .map_err(ApiError::internal)?
            .into_iter()
            .filter(|b| b.account_id == ctx.account)
        {
            let Some(bucket) = resolver.bucket(&b.name) else {
                continue;
            };
            let info = crate::s3::local_bucket(vault, &self.catalog, &b.name)
                .map_err(ApiError::internal)?;
            let may_read = |key: &str| {
                crate::s3::authorize_object_read(
                    asker.state,
                    asker.caller,
                    asker.env,
                    &info,
                    key,
                )
                .map_err(|e| {
                    access_denied(format!(
                        "StartQuery reads the log files delivered to s3://{}/ as the caller, and the caller may not read s3://{}/{key}: {}",
                        b.name, b.name, e.message
                    ))
                })
            };
            let parquet = cairn_lake::layout::bucket_parquet_dir(&self.data_dir, &b.name);
            let key = cairn_lake::LakeKey::for_bucket(&self.master, &b.name)
                .map_err(ApiError::internal)?;
            out.push(checked_bucket_logs(bucket, Some((parquet, key)), may_read).await?);
        }
        Ok(out)
    }

    pub(super) fn describe_query(&self, asker: &Asker<'_>) -> Result<Value, ApiError> {
        self.with_query(asker, "cloudtrail:DescribeQuery", |q| {
            let p = &q.progress;
            let mut v = json!({
                "QueryId": q.id,
                "QueryString": q.statement,
                "QueryStatus": q.status,
                "QueryStatistics": {
                    "EventsMatched": q.rows.len(),
                    "EventsScanned": p.records.load(Ordering::Relaxed),
                    "BytesScanned": p.bytes.load(Ordering::Relaxed),
                    "ExecutionTimeInMillis": q.elapsed_ms,
                    "CreationTime": q.created.unix_timestamp(),
                },
            });
            if let Some(e) = &q.error {
                v["ErrorMessage"] = json!(e);
            }
            Ok(v)
        })
    }

    pub(super) fn get_query_results(&self, asker: &Asker<'_>) -> Result<Value, ApiError> {
        let max = max_results(
            asker.body,
            "MaxQueryResults",
            1000,
            "InvalidMaxResultsException",
        )?;
        let start = next_token(asker.body)?;
        self.with_query(asker, "cloudtrail:GetQueryResults", |q| {
            let mut v = json!({"QueryStatus": q.status});
            if let Some(e) = &q.error {
                v["ErrorMessage"] = json!(e);
            }
            if q.status != "FINISHED" {
                return Ok(v);
            }
            if start > q.rows.len() {
                return Err(ApiError::client(
                    "InvalidNextTokenException",
                    "the NextToken is not valid for this query",
                ));
            }
            let end = (start + max).min(q.rows.len());
            let rows: Vec<Value> = q.rows[start..end]
                .iter()
                .map(|r| {
                    Value::Array(
                        q.names
                            .iter()
                            .zip(r)
                            .map(|(n, c)| json!({ n.as_str(): c.as_deref().unwrap_or("") }))
                            .collect(),
                    )
                })
                .collect();
            v["QueryResultRows"] = Value::Array(rows);
            v["QueryStatistics"] = json!({
                "ResultsCount": end - start,
                "TotalResultsCount": q.rows.len(),
                "BytesScanned": q.progress.bytes.load(Ordering::Relaxed),
            });
            if end < q.rows.len() {
                v["NextToken"] = json!(token(end));
            }
            Ok(v)
        })
    }

    pub(super) fn list_queries(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let store = self.find(ctx, str_member(body, "EventDataStore")?)?;
        let max = max_results(body, "MaxResults", 1000, "InvalidMaxResultsException")?;
        let start = next_token(body)?;
        let status = body.get("QueryStatus").and_then(Value::as_str);
        if let Some(s) = status
            && !matches!(
                s,
                "QUEUED" | "RUNNING" | "FINISHED" | "FAILED" | "CANCELLED" | "TIMED_OUT"
            )
        {
            return Err(ApiError::client(
                "InvalidQueryStatusException",
                format!("{s} is not a query status"),
            ));
        }
        let t = |k: &str| body.get(k).and_then(Value::as_f64);
        let (from, to) = (t("StartTime"), t("EndTime"));
        if let (Some(a), Some(b)) = (from, to)
            && a > b
        {
            return Err(ApiError::client(
                "InvalidDateRangeException",
                "StartTime is after EndTime",
            ));
        }
        let mut q = self.lock_queries();
        prune(&mut q);
        let mut list: Vec<&QueryRec> = q
            .values()
            .filter(|q| q.account == ctx.account && q.stores.contains(&store.id))
            .filter(|q| status.is_none_or(|s| s == q.status))
            .filter(|q| {
                let c = q.created.unix_timestamp() as f64;
                from.is_none_or(|f| c >= f) && to.is_none_or(|e| c <= e)
            })
            .collect();
        list.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        let items: Vec<Value> = list
            .into_iter()
            .map(|q| {
                json!({"QueryId": q.id, "QueryStatus": q.status, "CreationTime": q.created.unix_timestamp()})
            })
            .collect();
        page(items, start, max, "Queries")
    }

    pub(super) fn cancel_query(&self, asker: &Asker<'_>) -> Result<Value, ApiError> {
        self.with_query(asker, "cloudtrail:CancelQuery", |q| {
            if !matches!(q.status, "QUEUED" | "RUNNING") {
                return Err(ApiError::client(
                    "InactiveQueryException",
                    format!("the query {} is {} and cannot be cancelled", q.id, q.status),
                ));
            }
            if let Some(c) = q.cancel.take() {
                let _ = c.send(());
            }
            q.status = "CANCELLED";
            Ok(json!({"QueryId": q.id, "QueryStatus": "CANCELLED"}))
        })
    }
}

fn prune(q: &mut HashMap<String, QueryRec>) {
    let now = OffsetDateTime::now_utc();
    q.retain(|_, r| {
        matches!(r.status, "QUEUED" | "RUNNING") || (now - r.created).unsigned_abs() < QUERY_HISTORY
    });
}

/// The delivered log files of `bucket` ([`cairn_lake::files::list_bucket`]), each one
/// checked with `may_read` before the query may read it (its refusal refuses the query), as a
/// source the lake reads through the bucket, with the bucket's sealed Parquet copy in
/// `copy`'s directory, under its key ([`cairn_lake::LakeKey::for_bucket`]).
pub async fn checked_bucket_logs(
    bucket: Arc<dyn cairn_store::Bucket>,
    copy: Option<(PathBuf, cairn_lake::LakeKey)>,
    may_read: impl Fn(&str) -> Result<(), ApiError>,
) -> Result<cairn_lake::Listed, ApiError> {
    let files = cairn_lake::files::list_bucket(bucket.as_ref())
        .await
        .map_err(ApiError::internal)?;
    for f in &files {
        may_read(&f.rel)?;
    }
    let (parquet_dir, key) = copy.unzip();
    Ok(cairn_lake::Listed {
        logs: cairn_lake::Logs::Bucket(bucket),
        files,
        parquet_dir,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_store::{BoxFuture, Bucket, ListEntry, ListPage, MemoryBucket, PutOptions};

    /// A bucket holding keys no backend would accept (as a store without key checks
    /// could), one page of them.
    #[derive(Debug)]
    struct Planted {
        inner: MemoryBucket,
        objects: std::collections::BTreeMap<String, cairn_store::Object>,
    }

    impl Planted {
        async fn new(keys: &[(&str, bytes::Bytes)]) -> Self {
            let inner = MemoryBucket::new("b");
            inner
                .put("model", bytes::Bytes::new(), PutOptions::default())
                .await
                .unwrap();
            let model = inner.get("model").await.unwrap();
            let objects = keys
                .iter()
                .map(|(k, b)| {
                    let mut o = model.clone();
                    o.bytes = b.clone();
                    ((*k).to_owned(), o)
                })
                .collect();
            Planted { inner, objects }
        }
    }

    impl Bucket for Planted {
        fn name(&self) -> &str {
            "b"
        }
        fn backend(&self) -> &'static str {
            "memory"
        }
        fn put<'a>(
            &'a self,
            key: &'a str,
            bytes: bytes::Bytes,
            opts: PutOptions,
        ) -> BoxFuture<'a, cairn_store::Result<cairn_store::PutResult>> {
            self.inner.put(key, bytes, opts)
        }
        fn get<'a>(
            &'a self,
            key: &'a str,
        ) -> BoxFuture<'a, cairn_store::Result<cairn_store::Object>> {
            match self.objects.get(key) {
                Some(o) => {
                    let o = o.clone();
                    Box::pin(async move { Ok(o) })
                }
                None => self.inner.get(key),
            }
        }
        fn head<'a>(
            &'a self,
            key: &'a str,
        ) -> BoxFuture<'a, cairn_store::Result<cairn_store::ObjectMeta>> {
            self.inner.head(key)
        }
        fn list<'a>(
            &'a self,
            _prefix: &'a str,
            marker: Option<&'a str>,
            _max: usize,
        ) -> BoxFuture<'a, cairn_store::Result<ListPage>> {
            let entries = self
                .objects
                .iter()
                .filter(|(k, _)| marker.is_none_or(|m| k.as_str() > m))
                .map(|(k, o)| ListEntry {
                    key: k.clone(),
                    size: o.bytes.len() as u64,
                    etag: None,
                    last_modified: o.meta.last_modified,
                })
                .collect();
            Box::pin(async move {
                Ok(ListPage {
                    entries,
                    is_truncated: false,
                    next_marker: None,
                })
            })
        }
        fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, cairn_store::Result<()>> {
            self.inner.delete(key)
        }
    }

    fn log_file(event_name: &str) -> bytes::Bytes {
        use std::io::Write;
        let body = json!({"Records": [{
            "eventVersion": "1.08", "eventTime": "2026-01-01T00:00:00Z",
            "eventSource": "s3.amazonaws.com", "eventName": event_name,
            "awsRegion": "us-east-1", "eventID": uuid::Uuid::new_v4().to_string(),
            "eventType": "AwsApiCall", "recipientAccountId": "111111111111",
        }]});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body.to_string().as_bytes()).unwrap();
        gz.finish().unwrap().into()
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    async fn query_rows(sources: Vec<cairn_lake::Listed>, sql: &str) -> Vec<Vec<Option<String>>> {
        let lake = cairn_lake::Lake::new(1);
        lake.register_listed("events", sources).await.unwrap();
        let (schema, batches) = lake.run(sql).await.unwrap();
        cairn_lake::rows_as_text(&schema, &batches).unwrap().1
    }

    /// Issue 14, item 13 (the lake side): keys planted directly in a bucket (as a CopyObject
    /// without key checks once let through) are skipped, and queries over the rest still work.
    #[tokio::test]
    async fn unsafe_object_keys_are_skipped() {
        let good = "AWSLogs/111111111111/CloudTrail/us-east-1/2026/01/01/good.json.gz";
        let planted = [
            "AWSLogs/111111111111/CloudTrail/../../../../escaped.json.gz",
            "AWSLogs/111111111111/CloudTrail/../../../../../../../tmp/escaped-abs.json.gz",
            "/AWSLogs/111111111111/CloudTrail/absolute.json.gz",
            "AWSLogs\\111111111111/CloudTrail/..\\..\\backslash.json.gz",
            "AWSLogs/111111111111/CloudTrail/nul\0.json.gz",
            "AWSLogs//CloudTrail/./dot.json.gz",
            // Not a log name: never read.
            "AWSLogs/111111111111/CloudTrail/us-east-1",
        ];
        let mut keys = vec![(good, log_file("Good"))];
        keys.extend(planted.iter().map(|k| (*k, log_file("Planted"))));
        let bucket: Arc<dyn Bucket> = Arc::new(Planted::new(&keys).await);
        let listed = checked_bucket_logs(bucket, None, |_| Ok(())).await.unwrap();
        let keys: Vec<&str> = listed.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(keys, [good]);
        let rows = query_rows(vec![listed], "SELECT eventName FROM events").await;
        assert_eq!(rows, [[Some("Good".to_owned())]]);
    }

    /// A refusal of one object refuses the query with that refusal, before the object is read.
    #[tokio::test]
    async fn a_refused_object_refuses_the_query() {
        let bucket = MemoryBucket::new("b");
        for k in ["x/CloudTrail/a.json.gz", "x/CloudTrail/secret.json.gz"] {
            bucket
                .put(k, log_file("E"), PutOptions::default())
                .await
                .unwrap();
        }
        let e = checked_bucket_logs(Arc::new(bucket), None, |k| {
            if k.contains("secret") {
                Err(access_denied(format!("no {k}")))
            } else {
                Ok(())
            }
        })
        .await
        .unwrap_err();
        assert_eq!(e.code, "AccessDeniedException");
        assert_eq!(e.message, "no x/CloudTrail/secret.json.gz");
    }

    /// A caller denied GetObject on a bucket gets no rows from it: the bucket's logs are never
    /// registered, while a bucket it may read answers.
    #[tokio::test]
    async fn a_caller_denied_get_object_gets_no_rows_from_the_bucket() {
        let (denied, allowed) = (MemoryBucket::new("denied"), MemoryBucket::new("allowed"));
        let key = "AWSLogs/1/CloudTrail/us-east-1/f.json.gz";
        denied
            .put(key, log_file("Secret"), PutOptions::default())
            .await
            .unwrap();
        allowed
            .put(key, log_file("Open"), PutOptions::default())
            .await
            .unwrap();
        let deny_all = |k: &str| Err(access_denied(format!("no {k}")));
        let refused = checked_bucket_logs(Arc::new(denied), None, deny_all).await;
        assert_eq!(refused.unwrap_err().code, "AccessDeniedException");
        let ok = checked_bucket_logs(Arc::new(allowed), None, |_| Ok(()))
            .await
            .unwrap();
        let rows = query_rows(vec![ok], "SELECT eventName FROM events").await;
        assert_eq!(rows, [[Some("Open".to_owned())]]);
    }

    fn master() -> crate::secrets::MasterKey {
        crate::secrets::MasterKey::from_bytes(&[9u8; 32]).unwrap()
    }

    fn vault_bucket(root: &Path, name: &str) -> Arc<dyn Bucket> {
        let sealer = Arc::new(cairn_vault::AesSealer::new(&[7u8; 32]).unwrap());
        let vault = Arc::new(cairn_vault::Vault::open(root, sealer, None).unwrap());
        vault
            .create_bucket(
                name,
                "111111111111",
                "us-east-1",
                false,
                OffsetDateTime::now_utc(),
            )
            .unwrap();
        Arc::new(cairn_vault::VaultBucket::new(vault, name))
    }

    /// Every file under `dir` (but SQLite's own, whose WAL files come and go with reads) and
    /// every `cairn-query-*` entry of the system's temp dir.
    fn disk_snapshot(dir: &Path) -> (Vec<PathBuf>, Vec<std::ffi::OsString>) {
        let tmp: Vec<_> = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .filter(|n| n.to_string_lossy().starts_with("cairn-query-"))
            .collect();
        let files = files_under(dir)
            .into_iter()
            .filter(|p| !p.to_string_lossy().contains("vault.sqlite"))
            .collect();
        (files, tmp)
    }

    /// StartQuery over a local (vault, encrypted) bucket reads the objects through the bucket:
    /// no decrypted copy appears on disk, neither in the data directory nor in a temp dir.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_over_a_local_bucket_makes_no_temporary_copy() {
        let data = tempfile::tempdir().unwrap();
        let root = data.path().join("buckets");
        let bucket = vault_bucket(&root, "trail");
        for (i, name) in ["A", "B"].iter().enumerate() {
            let key = format!("AWSLogs/111111111111/CloudTrail/us-east-1/2026/01/01/f{i}.json.gz");
            bucket
                .put(&key, log_file(name), PutOptions::default())
                .await
                .unwrap();
        }
        let before = disk_snapshot(data.path());
        let parquet = cairn_lake::layout::bucket_parquet_dir(data.path(), "trail");
        let key = cairn_lake::LakeKey::for_bucket(&master(), "trail").unwrap();
        let listed = checked_bucket_logs(bucket, Some((parquet, key)), |_| Ok(()))
            .await
            .unwrap();
        let rows = query_rows(vec![listed], "SELECT eventName FROM events ORDER BY 1").await;
        assert_eq!(rows, [[Some("A".to_owned())], [Some("B".to_owned())]]);
        assert_eq!(disk_snapshot(data.path()), before);
    }

    /// The compactor writes a Parquet copy of a vault bucket, the query then reads it instead
    /// of the log files, and an object deleted since is neither answered from the copy nor
    /// kept in it after the next round.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_compactor_copies_a_vault_bucket_and_queries_use_the_copy() {
        let data = tempfile::tempdir().unwrap();
        let bucket = vault_bucket(&data.path().join("buckets"), "trail");
        let key =
            |i: usize| format!("AWSLogs/111111111111/CloudTrail/us-east-1/2026/01/01/f{i}.json.gz");
        for (i, name) in ["A", "B", "C"].iter().enumerate() {
            bucket
                .put(&key(i), log_file(name), PutOptions::default())
                .await
                .unwrap();
        }
        let parquet = cairn_lake::layout::bucket_parquet_dir(data.path(), "trail");
        let compact = |b: Arc<dyn Bucket>| {
            let dd = data.path().to_owned();
            let rt = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                cairn_lake::layout::compact_buckets(&dd, &[b], &rt, &master())
            })
        };
        let stats = compact(bucket.clone()).await.unwrap().unwrap();
        assert_eq!((stats.files, stats.records), (3, 3));
        let plan_and_rows = |b: Arc<dyn Bucket>| {
            let parquet = parquet.clone();
            async move {
                let key = cairn_lake::LakeKey::for_bucket(&master(), "trail").unwrap();
                let listed = checked_bucket_logs(b, Some((parquet, key)), |_| Ok(()))
                    .await
                    .unwrap();
                let lake = cairn_lake::Lake::new(1);
                let plan = lake.register_listed("events", vec![listed]).await.unwrap();
                let (schema, batches) = lake
                    .run("SELECT eventName FROM events ORDER BY 1")
                    .await
                    .unwrap();
                let rows = cairn_lake::rows_as_text(&schema, &batches).unwrap().1;
                (
                    plan,
                    rows.into_iter()
                        .map(|r| r[0].clone().unwrap())
                        .collect::<Vec<_>>(),
                )
            }
        };
        let (plan, rows) = plan_and_rows(bucket.clone()).await;
        assert_eq!(
            (plan.json_files, plan.parquet_files > 0),
            (0, true),
            "{plan:?}"
        );
        assert_eq!(rows, ["A", "B", "C"]);
        // The copy of the encrypted bucket is sealed: no Parquet, no event, no account in
        // plaintext, in contents or names.
        for f in files_under(&parquet) {
            let bytes = std::fs::read(&f).unwrap();
            for needle in [&b"PAR1"[..], b"s3.amazonaws.com", b"111111111111"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{} holds {needle:?}",
                    f.display()
                );
            }
            assert!(
                !f.to_string_lossy().contains("111111111111"),
                "{}",
                f.display()
            );
        }

        bucket.delete(&key(1)).await.unwrap();
        let (plan, rows) = plan_and_rows(bucket.clone()).await;
        assert_eq!((plan.json_files, plan.parquet_files), (2, 0), "{plan:?}");
        assert_eq!(rows, ["A", "C"]);

        compact(bucket.clone()).await.unwrap().unwrap();
        let (plan, rows) = plan_and_rows(bucket.clone()).await;
        assert_eq!(
            (plan.json_files, plan.parquet_files > 0),
            (0, true),
            "{plan:?}"
        );
        assert_eq!(rows, ["A", "C"]);
    }
}
