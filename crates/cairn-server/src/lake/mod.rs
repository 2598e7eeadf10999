//! CloudTrail Lake on the CloudTrail endpoint: event data stores fed from the journal, and
//! SQL queries over them and over the local buckets' delivered log files (`cairn-lake`).
//!
//! * An event data store keeps its events as CloudTrail log files under
//!   `<data_dir>/lake/eds/<id>/logs/` (one gzip `{"Records":[...]}` file per consumer batch,
//!   named after the journal sequence range, so a replay after a crash rewrites the same
//!   events), and the compactor keeps their Parquet copy beside them. Both are sealed at rest
//!   under keys derived from the master key (`cairn_lake::sealed`); plaintext log files of
//!   an older version are sealed in place at start.
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
//! * `events` reads the buckets' objects through [`cairn_store::Bucket`] while the query runs:
//!   nothing is copied or decrypted to disk. Local (vault) buckets also get a Parquet copy,
//!   sealed at rest, from the compactor (`<data_dir>/lake/parquet/<bucket>/`), used while it holds only
//!   objects still in the bucket. A key that is not a safe relative path
//!   ([`cairn_lake::layout::key_path`]) is skipped with a warning.
//! * Retention: rows older than the store's `RetentionPeriod` (by `eventTime`) are not
//!   visible to queries.

mod eds;
mod feed;
mod query;

pub use query::checked_bucket_logs;

use feed::{compact_round, consume};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
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
    /// The buckets (set by the server after start): read by `events`, and the vault buckets
    /// compacted.
    pub buckets: Arc<std::sync::OnceLock<Arc<crate::state::Buckets>>>,
    journal: Arc<Journal>,
    /// The master key: the lake's files are sealed under keys derived from it.
    master: Arc<crate::secrets::MasterKey>,
    /// The journal consumer and the compactor.
    workers: Mutex<Vec<cairn_core::Worker>>,
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
    /// Loads the stores, seals the plaintext log files an older version left in them, and
    /// starts the journal consumer and the compactor.
    pub fn start(
        data_dir: &Path,
        journal: Arc<Journal>,
        catalog: Arc<crate::catalog::Catalog>,
        regions: std::collections::HashSet<String>,
        master: Arc<crate::secrets::MasterKey>,
    ) -> Result<Lake, String> {
        let dir = cairn_lake::layout::lake_dir(data_dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        cairn_lake::layout::seal_store_logs(data_dir, &master).map_err(|e| e.to_string())?;
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
        let buckets: Arc<std::sync::OnceLock<Arc<crate::state::Buckets>>> = Arc::default();
        let consumer = {
            let (routes, journal, dd) = (routes.clone(), journal.clone(), data_dir.to_owned());
            let master = master.clone();
            cairn_core::Worker::spawn("cairn-lake", move |c| {
                consume(&dd, &master, &routes, &regions, &journal, c)
                    .map_err(|e| format!("event data store ingestion stopped: {e}"))
            })
            .map_err(|e| e.to_string())?
        };
        let compactor = {
            let (dd, buckets, master) = (data_dir.to_owned(), buckets.clone(), master.clone());
            let rt = tokio::runtime::Handle::try_current().ok();
            let interval = std::env::var("CAIRN_LAKE_COMPACT_SECS")
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(60);
            cairn_core::Worker::every(
                "cairn-lake-compact",
                Duration::from_secs(interval),
                move || compact_round(&dd, &master, buckets.get(), rt.as_ref()),
            )
            .map_err(|e| e.to_string())?
        };
        Ok(Lake {
            data_dir: data_dir.to_owned(),
            stores: Mutex::new(stores),
            routes,
            queries: Arc::new(Mutex::new(HashMap::new())),
            catalog,
            buckets,
            journal,
            master,
            workers: Mutex::new(vec![consumer, compactor]),
        })
    }

    /// Stops the consumer and the compactor (after their current batch), and cancels queries.
    pub fn stop(&self) {
        for q in self.lock_queries().values_mut() {
            if let Some(c) = q.cancel.take() {
                let _ = c.send(());
            }
        }
        let workers: Vec<_> =
            std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in workers {
            w.shutdown(Duration::from_secs(60));
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
        let asker = Asker {
            state,
            caller,
            env,
            ctx,
            body,
        };
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
            Operation::StartQuery => self.start_query(&asker).await,
            Operation::DescribeQuery => self.describe_query(&asker),
            Operation::GetQueryResults => self.get_query_results(&asker),
            Operation::ListQueries => self.list_queries(ctx, body),
            Operation::CancelQuery => self.cancel_query(&asker),
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
}

/// Who asks and what: the call, for the checks made on the caller's behalf.
struct Asker<'a> {
    state: &'a AppState,
    caller: &'a Caller,
    env: &'a Environment,
    /// The call's account and region.
    ctx: &'a CallContext,
    /// The request body.
    body: &'a Value,
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
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    cairn_core::fs::write_atomic(path, bytes)
}
