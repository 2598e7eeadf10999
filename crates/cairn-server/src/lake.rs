//! CloudTrail Lake on the CloudTrail endpoint: event data stores fed from the journal, and
//! SQL queries over them and over the local buckets' delivered log files (`cairn-lake`).
//!
//! * An event data store keeps its events as CloudTrail log files under
//!   `<data_dir>/lake/eds/<id>/logs/` (one gzip `{"Records":[...]}` file per consumer batch,
//!   named after the journal sequence range, so a replay after a crash rewrites the same file
//!   with the same content), and the compactor keeps their Parquet copy beside them.
//! * The journal consumer (cursor [`CURSOR`]) routes each event to every enabled store whose
//!   scope (account; its region, or every region the server has enabled) and advanced event selectors (`cairn-select`)
//!   take it, from the journal position at the store's creation on. It commits its cursor
//!   only after the batch's files are durable.
//! * Queries: `StartQuery` plans the statement at once (a statement that does not parse or
//!   plan is `InvalidQueryStatementException`, with the engine's line and column) and runs it
//!   on the blocking pool; `CancelQuery` stops it. `FROM` names a store by ID or ARN, as in
//!   CloudTrail Lake, or `events`: the log files delivered to the caller's account's local
//!   buckets (so imported AWS logs are queryable too). Only queries (no DDL, DML or `SET`)
//!   are accepted. Results are kept in memory for 7 days.
//! * Authorization, as the caller (never with the server's own rights): a store is used only
//!   by its own account, named by its ID or its exact ARN, and each store a call names needs
//!   `cloudtrail:<operation>` on the store's ARN. `events` is read only when the statement
//!   reads it, each delivered log file as S3 GetObject would allow it to the caller
//!   (identity and bucket policies; `kms:Decrypt` under the key policy for SSE-KMS): one
//!   refused file refuses the query with `AccessDeniedException` naming it, never a silent
//!   partial answer. A query over `events` is visible only to the principal that ran it.
//! * Object keys become file names only through [`cairn_lake::layout::key_path`]: a key that
//!   is not a safe relative path is skipped with a warning.
//! * Retention: rows older than the store's `RetentionPeriod` (by `eventTime`) are not
//!   visible to queries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use cairn_journal::Journal;
use cairn_select::{CompiledSelectors, Context as SelectContext, Selectors};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::authn::Caller;
use crate::authz::{Access, Environment};
use crate::cloudtrail::{CallContext, Operation};
use crate::error::ApiError;
use crate::pipeline::envelope;
use crate::state::AppState;

/// The journal cursor of the event data store consumer.
pub const CURSOR: &str = "lake";

/// Most event data stores per account and region (CloudTrail's quota).
const MAX_STORES: usize = 10;
/// Most queries queued or running at once (CloudTrail's quota).
const MAX_RUNNING: usize = 10;
/// How long finished queries are kept.
const QUERY_HISTORY: Duration = Duration::from_secs(7 * 24 * 3600);

/// One event data store as stored in `lake/stores.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Store {
    id: String,
    name: String,
    account: String,
    region: String,
    status: String,
    selectors: Selectors,
    multi_region: bool,
    retention_days: i64,
    termination_protection: bool,
    billing_mode: String,
    created: i64,
    updated: i64,
    /// Journal sequence number from which events are taken.
    start_seq: u64,
    #[serde(default)]
    tags: Vec<Value>,
}

impl Store {
    fn arn(&self) -> String {
        format!(
            "arn:aws:cloudtrail:{}:{}:eventdatastore/{}",
            self.region, self.account, self.id
        )
    }

    fn selectors_json(&self) -> Value {
        serde_json::to_value(&self.selectors)
            .ok()
            .and_then(|v| v.get("AdvancedEventSelectors").cloned())
            .unwrap_or(json!([]))
    }

    fn view(&self, full: bool) -> Value {
        let mut v = json!({
            "EventDataStoreArn": self.arn(),
            "Name": self.name,
            "Status": self.status,
            "AdvancedEventSelectors": self.selectors_json(),
            "MultiRegionEnabled": self.multi_region,
            "OrganizationEnabled": false,
            "RetentionPeriod": self.retention_days,
            "TerminationProtectionEnabled": self.termination_protection,
            "CreatedTimestamp": self.created,
            "UpdatedTimestamp": self.updated,
        });
        if full {
            v["BillingMode"] = json!(self.billing_mode);
        }
        v
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    version: u32,
    stores: Vec<Store>,
}

/// A query and, once done, its results.
struct QueryRec {
    id: String,
    account: String,
    /// The ARN of the principal that started it.
    owner: String,
    /// Whether it read `events` (log files the starter was allowed to read as itself): then
    /// only the starter may see it.
    reads_events: bool,
    statement: String,
    stores: Vec<String>,
    status: &'static str,
    error: Option<String>,
    created: OffsetDateTime,
    elapsed_ms: u64,
    names: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
    progress: Arc<cairn_lake::Progress>,
    cancel: Option<tokio::sync::oneshot::Sender<()>>,
}

/// What the consumer routes to: enabled stores with compiled selectors.
struct Route {
    store: Store,
    selectors: CompiledSelectors,
}

/// Event data stores, their consumer and compactor, and queries.
pub struct Lake {
    data_dir: PathBuf,
    stores: Mutex<Vec<Store>>,
    routes: Arc<RwLock<Arc<Vec<Route>>>>,
    queries: Arc<Mutex<HashMap<String, QueryRec>>>,
    catalog: Arc<crate::catalog::Catalog>,
    /// Opens local buckets (set by the server after start) for `events`.
    pub buckets: std::sync::OnceLock<Arc<dyn crate::pipeline::deliver::BucketResolver>>,
    journal: Arc<Journal>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lake")
    }
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn stores_path(data_dir: &Path) -> PathBuf {
    cairn_lake::layout::lake_dir(data_dir).join("stores.json")
}

fn build_routes(stores: &[Store]) -> Arc<Vec<Route>> {
    Arc::new(
        stores
            .iter()
            .filter(|s| s.status == "ENABLED")
            .map(|s| Route {
                store: s.clone(),
                selectors: CompiledSelectors::compile(&s.selectors),
            })
            .collect(),
    )
}

impl Lake {
    /// Loads the stores and starts the journal consumer and the compactor.
    pub fn start(
        data_dir: &Path,
        journal: Arc<Journal>,
        catalog: Arc<crate::catalog::Catalog>,
        regions: std::collections::HashSet<String>,
    ) -> Result<Lake, String> {
        let dir = cairn_lake::layout::lake_dir(data_dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let stores: Vec<Store> = match std::fs::read(stores_path(data_dir)) {
            Ok(b) => {
                serde_json::from_slice::<StoreFile>(&b)
                    .map_err(|e| format!("{}: {e}", stores_path(data_dir).display()))?
                    .stores
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", stores_path(data_dir).display())),
        };
        let routes = Arc::new(RwLock::new(build_routes(&stores)));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (routes, journal, stop, dd) = (
                routes.clone(),
                journal.clone(),
                stop.clone(),
                data_dir.to_owned(),
            );
            threads.push(
                std::thread::Builder::new()
                    .name("cairn-lake".into())
                    .spawn(move || {
                        if let Err(e) = consume(&dd, &routes, &regions, &journal, &stop) {
                            tracing::error!(error = %e, "event data store ingestion stopped");
                        }
                    })
                    .map_err(|e| e.to_string())?,
            );
        }
        {
            let (stop, dd) = (stop.clone(), data_dir.to_owned());
            let interval = std::env::var("CAIRN_LAKE_COMPACT_SECS")
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(60);
            threads.push(
                std::thread::Builder::new()
                    .name("cairn-lake-compact".into())
                    .spawn(move || compact_loop(&dd, &stop, Duration::from_secs(interval)))
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(Lake {
            data_dir: data_dir.to_owned(),
            stores: Mutex::new(stores),
            routes,
            queries: Arc::new(Mutex::new(HashMap::new())),
            catalog,
            buckets: std::sync::OnceLock::new(),
            journal,
            stop,
            threads: Mutex::new(threads),
        })
    }

    /// Stops the consumer and the compactor (after their current batch), and cancels queries.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for q in self.lock_queries().values_mut() {
            if let Some(c) = q.cancel.take() {
                let _ = c.send(());
            }
        }
        let threads: Vec<_> =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }

    fn lock_stores(&self) -> std::sync::MutexGuard<'_, Vec<Store>> {
        self.stores.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_queries(&self) -> std::sync::MutexGuard<'_, HashMap<String, QueryRec>> {
        self.queries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Persists `stores` and refreshes the consumer's routes.
    fn save(&self, stores: &[Store]) -> Result<(), ApiError> {
        let file = StoreFile {
            version: 1,
            stores: stores.to_vec(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(ApiError::internal)?;
        let path = stores_path(&self.data_dir);
        write_durable(&path, &bytes).map_err(ApiError::internal)?;
        *self.routes.write().unwrap_or_else(|p| p.into_inner()) = build_routes(stores);
        Ok(())
    }

    /// Whether `op` is one of the Lake operations this module answers.
    pub fn handles(op: Operation) -> bool {
        matches!(
            op,
            Operation::CreateEventDataStore
                | Operation::GetEventDataStore
                | Operation::ListEventDataStores
                | Operation::UpdateEventDataStore
                | Operation::DeleteEventDataStore
                | Operation::StartQuery
                | Operation::DescribeQuery
                | Operation::GetQueryResults
                | Operation::ListQueries
                | Operation::CancelQuery
        )
    }

    /// Answers one Lake operation for `caller`. Reads are authorized as the caller: each
    /// event data store named needs `cloudtrail:<operation>` on its ARN, and `events` needs
    /// what S3 GetObject needs on every delivered log file read.
    pub async fn call(
        &self,
        state: &AppState,
        caller: &Caller,
        env: &Environment,
        op: Operation,
        ctx: &CallContext,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let asker = Asker { state, caller, env };
        // Operations on one store are decided on the store's own ARN, however the request
        // names it (by ID, the request's resource is `*`).
        if matches!(
            op,
            Operation::GetEventDataStore
                | Operation::UpdateEventDataStore
                | Operation::DeleteEventDataStore
                | Operation::ListQueries
        ) {
            let s = self.find(ctx, str_member(body, "EventDataStore")?)?;
            asker.allow(&format!("cloudtrail:{}", op.name()), &s.arn())?;
        }
        match op {
            Operation::CreateEventDataStore => self.create(ctx, body),
            Operation::GetEventDataStore => {
                let s = self.find(ctx, str_member(body, "EventDataStore")?)?;
                Ok(s.view(true))
            }
            Operation::ListEventDataStores => self.list(ctx, body),
            Operation::UpdateEventDataStore => self.update(ctx, body),
            Operation::DeleteEventDataStore => self.delete(ctx, body),
            Operation::StartQuery => self.start_query(&asker, ctx, body).await,
            Operation::DescribeQuery => self.describe_query(&asker, ctx, body),
            Operation::GetQueryResults => self.get_query_results(&asker, ctx, body),
            Operation::ListQueries => self.list_queries(ctx, body),
            Operation::CancelQuery => self.cancel_query(&asker, ctx, body),
            other => Err(ApiError::not_implemented(other.name())),
        }
    }

    /// The ARN of the event data store `key` (ID or ARN) names for the caller, for
    /// authorization on the store's own ARN.
    pub fn store_arn(&self, ctx: &CallContext, key: &str) -> Option<String> {
        self.find(ctx, key).ok().map(|s| s.arn())
    }

    /// The store named by ID or ARN in the caller's account. An ARN must be the store's own
    /// (partition, region and account too): the ID alone does not resolve another ARN.
    fn find(&self, ctx: &CallContext, key: &str) -> Result<Store, ApiError> {
        let id = store_id(key)?;
        self.lock_stores()
            .iter()
            .find(|s| {
                s.id == id
                    && s.account == ctx.account
                    && (!key.starts_with("arn:") || key.eq_ignore_ascii_case(&s.arn()))
            })
            .cloned()
            .ok_or_else(|| not_found(key))
    }

    fn create(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let name = str_member(body, "Name")?;
        check_name(name)?;
        if body.get("KmsKeyId").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::client(
                "UnsupportedOperationException",
                "KmsKeyId: encrypting an event data store with a KMS key is not implemented by this Cairn server",
            ));
        }
        if bool_member(body, "OrganizationEnabled")?.unwrap_or(false) {
            return Err(ApiError::client(
                "UnsupportedOperationException",
                "OrganizationEnabled: organization event data stores are not implemented by this Cairn server",
            ));
        }
        let selectors = parse_selectors(body.get("AdvancedEventSelectors"))?
            .unwrap_or_else(Selectors::default_advanced);
        let billing_mode = match body.get("BillingMode").and_then(Value::as_str) {
            None => "EXTENDABLE_RETENTION_PRICING".to_owned(),
            Some(m @ ("EXTENDABLE_RETENTION_PRICING" | "FIXED_RETENTION_PRICING")) => m.to_owned(),
            Some(m) => {
                return Err(ApiError::invalid_parameter(format!(
                    "BillingMode {m} is not valid: use EXTENDABLE_RETENTION_PRICING or FIXED_RETENTION_PRICING"
                )));
            }
        };
        let retention = retention(body, &billing_mode)?.unwrap_or(
            if billing_mode == "FIXED_RETENTION_PRICING" {
                2557
            } else {
                366
            },
        );
        let now = unix_now();
        let store = Store {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            status: if bool_member(body, "StartIngestion")?.unwrap_or(true) {
                "ENABLED".into()
            } else {
                "STOPPED_INGESTION".into()
            },
            selectors,
            multi_region: bool_member(body, "MultiRegionEnabled")?.unwrap_or(true),
            retention_days: retention,
            termination_protection: bool_member(body, "TerminationProtectionEnabled")?
                .unwrap_or(true),
            billing_mode,
            created: now,
            updated: now,
            start_seq: self.journal.next_seq(),
            tags: body
                .get("TagsList")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        };
        let mut stores = self.lock_stores();
        let mine = |s: &&Store| s.account == ctx.account && s.region == ctx.region;
        if stores.iter().filter(mine).any(|s| s.name == name) {
            return Err(ApiError::client(
                "EventDataStoreAlreadyExistsException",
                format!("an event data store named {name} already exists"),
            ));
        }
        if stores.iter().filter(mine).count() >= MAX_STORES {
            return Err(ApiError::client(
                "EventDataStoreMaxLimitExceededException",
                format!("an account can have at most {MAX_STORES} event data stores per region"),
            ));
        }
        std::fs::create_dir_all(
            cairn_lake::layout::store_dir(&self.data_dir, &store.id).join("logs"),
        )
        .map_err(ApiError::internal)?;
        stores.push(store.clone());
        self.save(&stores)?;
        let mut v = store.view(true);
        v["TagsList"] = json!(store.tags);
        Ok(v)
    }

    fn list(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let max = max_results(body, "MaxResults", 1000, "InvalidMaxResultsException")?;
        let start = next_token(body)?;
        let stores: Vec<Value> = self
            .lock_stores()
            .iter()
            .filter(|s| s.account == ctx.account)
            .map(|s| s.view(false))
            .collect();
        page(stores, start, max, "EventDataStores")
    }

    fn update(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let key = str_member(body, "EventDataStore")?;
        let id = store_id(key)?;
        let mut stores = self.lock_stores();
        let Some(i) = stores
            .iter()
            .position(|s| s.id == id && s.account == ctx.account)
        else {
            return Err(not_found(key));
        };
        let mut s = stores[i].clone();
        if s.status == "PENDING_DELETION" {
            return Err(inactive(key));
        }
        if body.get("KmsKeyId").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::client(
                "UnsupportedOperationException",
                "KmsKeyId: encrypting an event data store with a KMS key is not implemented by this Cairn server",
            ));
        }
        if let Some(n) = body.get("Name").and_then(Value::as_str) {
            check_name(n)?;
            if stores.iter().any(|o| {
                o.id != s.id && o.account == s.account && o.region == s.region && o.name == n
            }) {
                return Err(ApiError::client(
                    "EventDataStoreAlreadyExistsException",
                    format!("an event data store named {n} already exists"),
                ));
            }
            s.name = n.to_owned();
        }
        if let Some(sel) = parse_selectors(body.get("AdvancedEventSelectors"))? {
            s.selectors = sel;
        }
        if let Some(m) = bool_member(body, "MultiRegionEnabled")? {
            s.multi_region = m;
        }
        if let Some(t) = bool_member(body, "TerminationProtectionEnabled")? {
            s.termination_protection = t;
        }
        if let Some(r) = retention(body, &s.billing_mode)? {
            s.retention_days = r;
        }
        s.updated = unix_now();
        stores[i] = s.clone();
        self.save(&stores)?;
        Ok(s.view(true))
    }

    fn delete(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
        let key = str_member(body, "EventDataStore")?;
        let id = store_id(key)?;
        let mut stores = self.lock_stores();
        let Some(s) = stores
            .iter_mut()
            .find(|s| s.id == id && s.account == ctx.account)
        else {
            return Err(not_found(key));
        };
        if s.termination_protection {
            return Err(ApiError::client(
                "EventDataStoreTerminationProtectedException",
                format!(
                    "event data store {key} has termination protection enabled: disable it with UpdateEventDataStore first"
                ),
            ));
        }
        if s.status == "PENDING_DELETION" {
            return Err(inactive(key));
        }
        s.status = "PENDING_DELETION".into();
        s.updated = unix_now();
        let all = stores.clone();
        self.save(&all)?;
        Ok(json!({}))
    }

    /// Rewrites store references (ID or ARN) into quoted table names, and returns the stores
    /// named.
    fn resolve_statement(
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

    async fn start_query(
        &self,
        asker: &Asker<'_>,
        ctx: &CallContext,
        body: &Value,
    ) -> Result<Value, ApiError> {
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
            let source = cairn_lake::layout::store_source(&self.data_dir, &s.id);
            lake.register(&s.id, &source).await.map_err(qerr)?;
            let cutoff = unix_now() - s.retention_days * 86_400;
            lake.retain_since(&s.id, cutoff * 1_000_000)
                .await
                .map_err(qerr)?;
        }
        // `events`: the caller's local buckets' delivered log files, each one read as the
        // caller (as S3 GetObject would allow it), decrypted into a private temporary copy
        // that lives as long as the query. Only exported when the statement reads it.
        let export = ExportDir::new().map_err(ApiError::internal)?;
        if reads_events {
            self.export_events(asker, ctx, export.path()).await?;
            let source = cairn_lake::Source {
                json_root: export.path().to_owned(),
                parquet_dir: None,
            };
            lake.register("events", &source).await.map_err(qerr)?;
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
            let _export = export;
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
    fn with_query<T>(
        &self,
        asker: &Asker<'_>,
        action: &str,
        ctx: &CallContext,
        body: &Value,
        f: impl FnOnce(&mut QueryRec) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
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

    /// Writes the delivered log files of the caller's account's local buckets under `dir`,
    /// each one read as the caller: a file the caller may not read (S3 `s3:GetObject` under
    /// identity and bucket policies, `kms:Decrypt` for SSE-KMS) refuses the whole query with
    /// `AccessDeniedException` naming it, rather than answering from part of the logs.
    async fn export_events(
        &self,
        asker: &Asker<'_>,
        ctx: &CallContext,
        dir: &Path,
    ) -> Result<(), ApiError> {
        let Some(resolver) = self.buckets.get() else {
            return Ok(());
        };
        let vault = asker.state.buckets.vault();
        for b in self
            .catalog
            .buckets()
            .map_err(ApiError::internal)?
            .into_iter()
            .filter(|b| b.account_id == ctx.account)
        {
            let (Some(bucket), Some(sub)) = (
                resolver.bucket(&b.name),
                cairn_lake::layout::key_path(&b.name),
            ) else {
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
            export_delivered_logs(bucket.as_ref(), &dir.join(sub), may_read).await?;
        }
        Ok(())
    }

    fn describe_query(
        &self,
        asker: &Asker<'_>,
        ctx: &CallContext,
        body: &Value,
    ) -> Result<Value, ApiError> {
        self.with_query(asker, "cloudtrail:DescribeQuery", ctx, body, |q| {
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

    fn get_query_results(
        &self,
        asker: &Asker<'_>,
        ctx: &CallContext,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let max = max_results(body, "MaxQueryResults", 1000, "InvalidMaxResultsException")?;
        let start = next_token(body)?;
        self.with_query(asker, "cloudtrail:GetQueryResults", ctx, body, |q| {
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

    fn list_queries(&self, ctx: &CallContext, body: &Value) -> Result<Value, ApiError> {
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

    fn cancel_query(
        &self,
        asker: &Asker<'_>,
        ctx: &CallContext,
        body: &Value,
    ) -> Result<Value, ApiError> {
        self.with_query(asker, "cloudtrail:CancelQuery", ctx, body, |q| {
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

/// Who asks, for the checks made on the caller's behalf.
struct Asker<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    env: &'a Environment,
}

impl Asker<'_> {
    /// `action` on `resource` (an ARN of the caller's account), or `AccessDeniedException`.
    fn allow(&self, action: &str, resource: &str) -> Result<(), ApiError> {
        crate::authz::authorize(
            self.state,
            self.caller,
            self.env,
            &Access::new(action, resource),
        )
        .map_err(|d| access_denied(d.message))
    }
}

fn access_denied(message: String) -> ApiError {
    ApiError::client("AccessDeniedException", message)
}

fn prune(q: &mut HashMap<String, QueryRec>) {
    let now = OffsetDateTime::now_utc();
    q.retain(|_, r| {
        matches!(r.status, "QUEUED" | "RUNNING") || (now - r.created).unsigned_abs() < QUERY_HISTORY
    });
}

fn page(items: Vec<Value>, start: usize, max: usize, member: &str) -> Result<Value, ApiError> {
    if start > items.len() {
        return Err(ApiError::client(
            "InvalidNextTokenException",
            "the NextToken is not valid",
        ));
    }
    let end = (start + max).min(items.len());
    let mut v = json!({ member: items[start..end].to_vec() });
    if end < items.len() {
        v["NextToken"] = json!(token(end));
    }
    Ok(v)
}

fn not_found(key: &str) -> ApiError {
    ApiError::client(
        "EventDataStoreNotFoundException",
        format!("the event data store {key} does not exist"),
    )
}

fn inactive(key: &str) -> ApiError {
    ApiError::client(
        "InactiveEventDataStoreException",
        format!("the event data store {key} is pending deletion"),
    )
}

/// The ID in an event data store ARN or ID.
fn store_id(key: &str) -> Result<String, ApiError> {
    let id = if key.starts_with("arn:") {
        let parts: Vec<&str> = key.splitn(6, ':').collect();
        match (
            parts.get(2),
            parts.get(5).and_then(|r| r.strip_prefix("eventdatastore/")),
        ) {
            (Some(&"cloudtrail"), Some(id)) => id,
            _ => {
                return Err(ApiError::client(
                    "EventDataStoreARNInvalidException",
                    format!("{key} is not an event data store ARN"),
                ));
            }
        }
    } else {
        key
    };
    if id.is_empty() {
        return Err(not_found(key));
    }
    Ok(id.to_ascii_lowercase())
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = (3..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_parameter(format!(
            "event data store name {name:?} must be 3 to 128 characters of letters, digits, '.', '_' and '-'"
        )))
    }
}

fn parse_selectors(v: Option<&Value>) -> Result<Option<Selectors>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let s = Selectors::from_request(None, Some(v))
        .and_then(|s| s.validate(SelectContext::EventDataStore).map(|()| s))
        .map_err(|e| ApiError::client("InvalidEventSelectorsException", e.to_string()))?;
    Ok(Some(s))
}

fn retention(body: &Value, billing_mode: &str) -> Result<Option<i64>, ApiError> {
    let Some(r) = body.get("RetentionPeriod").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let max = if billing_mode == "FIXED_RETENTION_PRICING" {
        2557
    } else {
        3653
    };
    match r.as_i64() {
        Some(d) if (7..=max).contains(&d) => Ok(Some(d)),
        _ => Err(ApiError::invalid_parameter(format!(
            "RetentionPeriod must be 7 to {max} days for {billing_mode}"
        ))),
    }
}

fn str_member<'a>(body: &'a Value, name: &str) -> Result<&'a str, ApiError> {
    match body.get(name) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ApiError::invalid_parameter(format!("{name} is required"))),
        Some(_) => Err(ApiError::client(
            "SerializationException",
            format!("{name} must be a string"),
        )),
    }
}

fn bool_member(body: &Value, name: &str) -> Result<Option<bool>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::client(
            "SerializationException",
            format!("{name} must be a boolean"),
        )),
    }
}

fn max_results(
    body: &Value,
    name: &str,
    max: usize,
    code: &'static str,
) -> Result<usize, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(max),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
            _ => Err(ApiError::client(code, format!("{name} must be 1 to {max}"))),
        },
    }
}

/// A pagination token: the offset of the next item (CloudTrail's tokens are 4 to 1000
/// characters).
fn token(offset: usize) -> String {
    format!("offset-{offset}")
}

fn next_token(body: &Value) -> Result<usize, ApiError> {
    match body.get("NextToken").and_then(Value::as_str) {
        None => Ok(0),
        Some(t) => t
            .strip_prefix("offset-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                ApiError::client("InvalidNextTokenException", "the NextToken is not valid")
            }),
    }
}

fn write_durable(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(d) = path.parent()
        && let Ok(d) = std::fs::File::open(d)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The journal consumer: routes events to the enabled stores' log files.
fn consume(
    data_dir: &Path,
    routes: &RwLock<Arc<Vec<Route>>>,
    regions: &std::collections::HashSet<String>,
    journal: &Journal,
    stop: &AtomicBool,
) -> Result<(), String> {
    use std::io::Write;
    let start = journal.cursor(CURSOR).map_err(|e| e.to_string())?;
    let mut reader = journal.reader(start).map_err(|e| e.to_string())?;
    while !stop.load(Ordering::SeqCst) {
        let batch = reader
            .next_batch(5000, Duration::from_millis(200))
            .map_err(|e| e.to_string())?;
        if batch.is_empty() {
            continue;
        }
        let routes = routes.read().unwrap_or_else(|p| p.into_inner()).clone();
        if !routes.is_empty() {
            let mut per_store: Vec<Vec<&[u8]>> = vec![Vec::new(); routes.len()];
            let decoded: Vec<(u64, envelope::Envelope<'_>)> = batch
                .iter()
                .filter_map(|r| envelope::decode(&r.payload).ok().map(|e| (r.seq, e)))
                .collect();
            for (seq, e) in &decoded {
                let view = e.view();
                for (i, r) in routes.iter().enumerate() {
                    let s = &r.store;
                    let in_scope = *seq >= s.start_seq
                        && e.recipient_account_id == s.account
                        && (if s.multi_region {
                            regions.contains(e.aws_region)
                        } else {
                            e.aws_region == s.region
                        });
                    if in_scope && r.selectors.matches(&view) {
                        per_store[i].push(e.record);
                    }
                }
            }
            let (first, last) = (batch[0].seq, batch[batch.len() - 1].seq);
            for (r, records) in routes.iter().zip(per_store) {
                if records.is_empty() {
                    continue;
                }
                let mut json =
                    Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 16);
                json.extend_from_slice(b"{\"Records\":[");
                for (i, rec) in records.iter().enumerate() {
                    if i > 0 {
                        json.push(b',');
                    }
                    json.extend_from_slice(rec);
                }
                json.extend_from_slice(b"]}");
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(&json).map_err(|e| e.to_string())?;
                let bytes = gz.finish().map_err(|e| e.to_string())?;
                let path = cairn_lake::layout::store_dir(data_dir, &r.store.id)
                    .join("logs")
                    .join(format!("{first:020}-{last:020}.json.gz"));
                write_durable(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        journal
            .commit_cursor(CURSOR, reader.position())
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Every `interval`, brings the Parquet copy of each store and local bucket up to date.
fn compact_loop(data_dir: &Path, stop: &AtomicBool, interval: Duration) {
    let mut last = std::time::Instant::now();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
        if last.elapsed() < interval {
            continue;
        }
        last = std::time::Instant::now();
        if let Err(e) = cairn_lake::layout::compact_all(data_dir) {
            tracing::warn!(error = %e, "lake compaction failed");
        }
    }
}

/// A private temporary directory (mode 0700 on Unix) removed with everything in it when
/// dropped: where the delivered log files of encrypted local buckets are decrypted for the
/// duration of one query, outside the data directory.
#[derive(Debug)]
pub struct ExportDir(PathBuf);

impl ExportDir {
    /// Creates the directory under the system's temporary directory.
    pub fn new() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("cairn-query-{}", uuid::Uuid::new_v4()));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)?;
        Ok(Self(dir))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ExportDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the CloudTrail log files delivered to `bucket` (its `.../CloudTrail/...` objects
/// with log file names, decrypted by the bucket) under `dir`, one file per key; returns how many. Local buckets
/// are encrypted at rest, so SQL over them reads such a copy (see [`ExportDir`]).
///
/// `may_read(key)` is asked before each object is read; its refusal ends the export. A key
/// that is not a safe relative path ([`cairn_lake::layout::key_path`]), or whose file would
/// collide with another key's directory, is skipped with a warning: nothing is written
/// outside `dir`, and one bad key cannot make every query fail.
pub async fn export_delivered_logs(
    bucket: &dyn cairn_store::Bucket,
    dir: &Path,
    may_read: impl Fn(&str) -> Result<(), ApiError>,
) -> Result<usize, ApiError> {
    let mut marker: Option<String> = None;
    let mut n = 0;
    loop {
        let page = bucket
            .list("", marker.as_deref(), cairn_store::MAX_LIST_PAGE)
            .await
            .map_err(ApiError::internal)?;
        for entry in &page.entries {
            let k = &entry.key;
            let name = k.rsplit('/').next().unwrap_or_default();
            if !k.contains("/CloudTrail/") || !cairn_lake::files::is_log_name(name) {
                continue;
            }
            let Some(rel) = cairn_lake::layout::key_path(k) else {
                tracing::warn!(bucket = bucket.name(), key = %k.escape_debug(), "skipping a log file whose key is not a safe path");
                continue;
            };
            may_read(k)?;
            let obj = bucket.get(k).await.map_err(ApiError::internal)?;
            let path = dir.join(rel);
            let written = match path.parent() {
                Some(parent) => std::fs::create_dir_all(parent),
                None => Ok(()),
            }
            .and_then(|()| std::fs::write(&path, &obj.bytes));
            match written {
                Ok(()) => n += 1,
                Err(e) if path_clash(&e) => {
                    tracing::warn!(bucket = bucket.name(), key = %k.escape_debug(), error = %e, "skipping a log file whose key clashes with another's");
                }
                Err(e) => return Err(ApiError::internal(format!("{}: {e}", path.display()))),
            }
        }
        match (page.is_truncated, page.entries.last()) {
            (true, Some(last)) => marker = Some(last.key.clone()),
            _ => return Ok(n),
        }
    }
}

/// A file where a directory is needed or the reverse (keys `a` and `a/b`).
fn path_clash(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::AlreadyExists | K::NotADirectory | K::IsADirectory
    )
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

    /// Issue 14, item 13 (the lake side): keys planted directly in a bucket (as a CopyObject
    /// without key checks once let through) are skipped, nothing is written outside the
    /// export directory, and queries over the rest still work.
    #[tokio::test]
    async fn unsafe_object_keys_are_skipped_and_never_leave_the_export_dir() {
        let parent = tempfile::tempdir().unwrap();
        let export = parent.path().join("export");
        std::fs::create_dir(&export).unwrap();
        let good = "AWSLogs/111111111111/CloudTrail/us-east-1/2026/01/01/good.json.gz";
        let planted = [
            "AWSLogs/111111111111/CloudTrail/../../../../escaped.json.gz",
            "AWSLogs/111111111111/CloudTrail/../../../../../../../tmp/escaped-abs.json.gz",
            "/AWSLogs/111111111111/CloudTrail/absolute.json.gz",
            "AWSLogs\\111111111111/CloudTrail/..\\..\\backslash.json.gz",
            "AWSLogs/111111111111/CloudTrail/nul\0.json.gz",
            "AWSLogs//CloudTrail/./dot.json.gz",
            // A file where the good key needs a directory: not a log name, never exported.
            "AWSLogs/111111111111/CloudTrail/us-east-1",
        ];
        let mut keys = vec![(good, log_file("Good"))];
        keys.extend(planted.iter().map(|k| (*k, log_file("Planted"))));
        let bucket = Planted::new(&keys).await;
        let n = export_delivered_logs(&bucket, &export, |_| Ok(()))
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(files_under(parent.path()), [export.join(good)]);
        assert!(!Path::new("/tmp/escaped-abs.json.gz").exists());

        let lake = cairn_lake::Lake::new(1);
        let source = cairn_lake::Source {
            json_root: export.clone(),
            parquet_dir: None,
        };
        lake.register("events", &source).await.unwrap();
        let (schema, batches) = lake.run("SELECT eventName FROM events").await.unwrap();
        let (_, rows) = cairn_lake::rows_as_text(&schema, &batches).unwrap();
        assert_eq!(rows, [[Some("Good".to_owned())]]);
    }

    /// A refusal of one object ends the export with that refusal, before the object is read.
    #[tokio::test]
    async fn a_refused_object_refuses_the_export() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = MemoryBucket::new("b");
        for k in ["x/CloudTrail/a.json.gz", "x/CloudTrail/secret.json.gz"] {
            bucket
                .put(k, log_file("E"), PutOptions::default())
                .await
                .unwrap();
        }
        let e = export_delivered_logs(&bucket, dir.path(), |k| {
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
        assert!(!dir.path().join("x/CloudTrail/secret.json.gz").exists());
    }
}
