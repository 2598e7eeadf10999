//! The server's shared state and its startup sequence.

use std::path::Path;
use std::sync::Arc;

use cairn_journal::Journal;

use crate::catalog::Catalog;
use crate::cloudtrail::ControlPlane;
use crate::config::Config;
use crate::error::ApiError;
use crate::identity::Credentials;
use crate::secrets::MasterKey;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct AppState {
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The catalog.
    pub catalog: Arc<Catalog>,
    /// Trails and their operations.
    pub control: Arc<ControlPlane>,
    /// Credentials for SigV4.
    pub credentials: Arc<Credentials>,
    /// IAM users, roles and policies.
    pub iam: Arc<cairn_iam::Iam>,
    /// The event journal.
    pub journal: Arc<Journal>,
    /// Validated, deduplicated appends to the journal.
    pub ingest: Arc<crate::ingest::Ingest>,
    /// SigV4 verifier with its signing-key cache.
    pub verifier: cairn_auth::Verifier,
    /// The delivery pipeline, once started.
    pipeline: std::sync::Mutex<Option<crate::pipeline::deliver::Pipeline>>,
    /// Opened buckets.
    pub buckets: Arc<Buckets>,
    /// Event history (LookupEvents), once started.
    pub history: std::sync::OnceLock<crate::history::History>,
    /// CloudTrail Lake (event data stores and queries), once started.
    pub lake: std::sync::OnceLock<crate::lake::Lake>,
    /// CloudWatch-style log groups, metric filters, alarms and notifications.
    pub monitor: Arc<cairn_monitor::Monitor>,
    /// Stops the KMS tick task.
    monitor_stop: Arc<std::sync::atomic::AtomicBool>,
    monitor_started: std::sync::atomic::AtomicBool,
    /// The log-group feed (trail events into log groups), once started.
    feed: std::sync::Mutex<Option<cairn_core::Worker>>,
    /// What the pipeline reads of the configuration.
    pipeline_config: Arc<cairn_pipeline::PipelineConfig>,
    /// The master key (seals credential secrets and digest signing keys).
    pub master: Arc<MasterKey>,
    /// The digest writer, once started.
    digests: std::sync::Mutex<Option<crate::pipeline::digest::DigestWriter>>,
    /// The built-in KMS (`<data_dir>/kms.db`, key material sealed under `master`).
    pub kms: Arc<cairn_kms::Kms>,
    /// The built-in SQS (`<data_dir>/sqs.db`, messages sealed under a key from `master`).
    pub sqs: Arc<cairn_sqs::Sqs>,
    /// The lifecycle worker of local buckets, once started.
    lifecycle: std::sync::Mutex<Option<crate::s3::lifecycle::LifecycleWorker>>,
    /// Delivers S3 event notifications from the vault's outbox.
    s3_events: std::sync::Mutex<Option<crate::s3::notify::NotifyWorker>>,
}

/// Resolves bucket names to configured buckets or the local buckets of the data directory
/// (each opened once).
#[derive(Debug)]
pub struct Buckets {
    data_dir: std::path::PathBuf,
    catalog: Arc<Catalog>,
    configured: std::collections::BTreeMap<String, cairn_store::BucketConfig>,
    open: std::sync::Mutex<std::collections::HashMap<String, Arc<dyn cairn_store::Bucket>>>,
    /// Local buckets (made with `cairn bucket create` or S3 CreateBucket, and configured
    /// `backend = "local"` ones) live here (ADR 0011).
    vault: Arc<cairn_vault::Vault>,
    /// The account and region that own configured local buckets.
    owner: (String, String),
}

impl Buckets {
    /// Configured buckets, and local buckets in `vault` (under `data_dir/buckets`);
    /// configured local buckets are created in the vault owned by `owner` (account, region).
    pub fn new(
        data_dir: &Path,
        catalog: Arc<Catalog>,
        configured: std::collections::BTreeMap<String, cairn_store::BucketConfig>,
        vault: Arc<cairn_vault::Vault>,
        owner: (String, String),
    ) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            catalog,
            configured,
            open: Default::default(),
            vault,
            owner,
        }
    }

    /// Opens every configured bucket once, so a local one is in the vault (and a directory
    /// an earlier version wrote for it imported) before anything can address it.
    pub fn open_configured(&self) {
        use crate::pipeline::deliver::BucketResolver;
        for name in self.configured.keys() {
            let _ = self.bucket(name);
        }
    }

    /// The vault of local buckets.
    pub fn vault(&self) -> &cairn_vault::Vault {
        &self.vault
    }

    /// The vault, shared.
    pub fn vault_arc(&self) -> Arc<cairn_vault::Vault> {
        self.vault.clone()
    }

    /// The buckets kept on this machine, which the lake's compactor copies to Parquet: every
    /// vault bucket, and the configured `backend = "local"` ones.
    pub fn local_buckets(
        &self,
    ) -> Result<Vec<Arc<dyn cairn_store::Bucket>>, cairn_vault::VaultError> {
        use crate::pipeline::deliver::BucketResolver;
        let mut out: Vec<Arc<dyn cairn_store::Bucket>> = Vec::new();
        for b in self.vault.buckets()? {
            if !self.configured.contains_key(&b.name) {
                out.push(Arc::new(cairn_vault::VaultBucket::new(
                    self.vault.clone(),
                    &b.name,
                )));
            }
        }
        for (name, c) in &self.configured {
            if matches!(c, cairn_store::BucketConfig::Local(_))
                && let Some(b) = self.bucket(name)
            {
                out.push(b);
            }
        }
        Ok(out)
    }
}

impl crate::pipeline::deliver::BucketResolver for Buckets {
    fn bucket(&self, name: &str) -> Option<Arc<dyn cairn_store::Bucket>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = open.get(name) {
            return Some(b.clone());
        }
        let Some(configured) = self.configured.get(name) else {
            // Buckets created through Cairn are vault buckets (encrypted, versioned, locked
            // as their settings say); unknown names are not served.
            return match crate::s3::local_bucket(&self.vault, &self.catalog, name) {
                Ok(_) => {
                    let b: Arc<dyn cairn_store::Bucket> =
                        Arc::new(cairn_vault::VaultBucket::new(self.vault.clone(), name));
                    open.insert(name.to_owned(), b.clone());
                    Some(b)
                }
                Err(cairn_vault::VaultError::NoSuchBucket { .. }) => None,
                Err(e) => {
                    tracing::error!(bucket = name, error = %e, "cannot open bucket");
                    None
                }
            };
        };
        let owner = cairn_vault::Owner {
            account: &self.owner.0,
            region: &self.owner.1,
        };
        match cairn_vault::open_bucket(name, configured, &self.vault, &self.data_dir, owner) {
            Ok(b) => {
                open.insert(name.to_owned(), b.clone());
                Some(b)
            }
            Err(e) => {
                tracing::error!(bucket = name, error = %e, "cannot open bucket");
                None
            }
        }
    }
}

/// Startup failures, each with the path or setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory cannot be created or written.
    #[error("data directory {path} is not usable: {source}")]
    DataDir {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Catalog failure.
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    /// Master key failure.
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    /// Credential bootstrap failure.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// The IAM store cannot be loaded.
    #[error(transparent)]
    Iam(#[from] cairn_iam::IamError),
    /// The monitor's database cannot be opened.
    #[error("monitor: {0}")]
    Monitor(String),
    /// Journal failure.
    #[error("journal: {0}")]
    Journal(#[from] cairn_journal::JournalError),
    /// The KMS database cannot be opened.
    #[error("kms: {0}")]
    Kms(#[from] cairn_kms::KmsError),
    /// The SQS database cannot be opened.
    #[error("sqs: {0}")]
    Sqs(#[from] cairn_sqs::SqsError),
    /// The vault of local buckets cannot be opened.
    #[error("local buckets: {0}")]
    Vault(#[from] cairn_vault::VaultError),
}

/// Bootstrap outcome worth telling the operator.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The default account's root access key.
    pub access_key_id: String,
    /// Its secret (shown once, when generated).
    pub secret: String,
    /// Whether the pair was generated by this start.
    pub generated: bool,
}

/// The monitor's settings from `[notifications]`.
fn monitor_config(config: &Config) -> Result<cairn_monitor::MonitorConfig, StartError> {
    let n = &config.notifications;
    let mut extra_ca_pem = Vec::new();
    for f in &n.extra_ca_files {
        extra_ca_pem.push(
            std::fs::read_to_string(f).map_err(|e| {
                StartError::Monitor(format!("reading CA file {}: {e}", f.display()))
            })?,
        );
    }
    let smtp = n.smtp.as_ref().map(|s| cairn_monitor::SmtpConfig {
        host: s.host.clone(),
        port: s.port,
        from: s.from.clone(),
        username: s.username.clone(),
        password: s.password_env.as_ref().and_then(|v| std::env::var(v).ok()),
        starttls: s.starttls,
    });
    Ok(cairn_monitor::MonitorConfig {
        extra_ca_pem,
        smtp,
        ..cairn_monitor::MonitorConfig::default()
    })
}

/// Makes every file and directory this process creates from now on private to its owner
/// (umask 0o077: files 0600, directories 0700), whatever the caller's umask. The data
/// directory holds the catalog, keys and events; nothing under it is for other users.
pub fn private_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Mode bits a data directory must not have: any access for group or others.
const NOT_PRIVATE: u32 = 0o077;

/// Checks that `dir` exists (creating it 0700) and is writable, and makes it private: a data
/// directory made with looser bits (by an earlier version or by hand) is set to 0700, with a
/// log line saying so. Sets the process umask to 0o077 first ([`private_umask`]).
pub fn prepare_data_dir(dir: &Path) -> Result<(), StartError> {
    let err = |source| StartError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    private_umask();
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).map_err(err)?.permissions().mode();
        if mode & NOT_PRIVATE != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
            // Made by an earlier version or by hand: tighten what is inside too.
            let fixed = make_private(dir).map_err(err)?;
            tracing::warn!(
                path = %dir.display(),
                was = format!("{:o}", mode & 0o777),
                entries_fixed = fixed,
                "data directory was open to other users; it is now 0700 and its files 0600"
            );
        }
    }
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"ok").map_err(err)?;
    std::fs::remove_file(&probe).map_err(err)?;
    Ok(())
}

/// Removes group and other permission bits from every entry under `dir` (not following
/// symbolic links); returns how many entries changed.
#[cfg(unix)]
fn make_private(dir: &Path) -> std::io::Result<usize> {
    use std::os::unix::fs::PermissionsExt;
    let mut fixed = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode();
            if mode & NOT_PRIVATE != 0 {
                std::fs::set_permissions(
                    entry.path(),
                    std::fs::Permissions::from_mode(mode & !NOT_PRIVATE),
                )?;
                fixed += 1;
            }
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(fixed)
}

impl AppState {
    /// Opens everything under the data directory.
    pub fn open(
        config: Config,
        root_env: Option<(String, String)>,
        master_env: Option<&str>,
    ) -> Result<(Self, Bootstrap), StartError> {
        let dir = config.data_dir.clone();
        prepare_data_dir(&dir)?;
        std::fs::create_dir_all(dir.join("buckets")).map_err(|source| StartError::DataDir {
            path: dir.join("buckets").display().to_string(),
            source,
        })?;
        let master = Arc::new(MasterKey::load_or_create(&dir, master_env)?);
        let catalog = Arc::new(Catalog::open(&dir)?);
        let credentials = Arc::new(Credentials::new(catalog.clone(), master.clone()));
        let others: Vec<String> = config
            .accounts()
            .into_iter()
            .skip(1)
            .map(|a| a.to_string())
            .collect();
        let ((access_key_id, secret), generated) =
            credentials.bootstrap(&dir, config.account_id.as_str(), &others, root_env)?;
        let iam = Arc::new(cairn_iam::Iam::load(catalog.clone())?);
        let journal = Arc::new(crate::journal::open(&dir, &config, &master)?);
        let ingest = Arc::new(crate::ingest::Ingest::open(journal.clone())?);
        let config = Arc::new(config);
        let vault = Arc::new(crate::s3::open_vault(&dir, master.clone())?);
        let buckets = Arc::new(Buckets::new(
            &dir,
            catalog.clone(),
            config.buckets.clone(),
            vault,
            (
                config.account_id.to_string(),
                config.home_region.to_string(),
            ),
        ));
        let monitor_dir = dir.join("monitor");
        std::fs::create_dir_all(&monitor_dir).map_err(|source| StartError::DataDir {
            path: monitor_dir.display().to_string(),
            source,
        })?;
        // Log events the monitor stores (trail records) are sealed under their own key.
        let storage_key =
            cairn_monitor::StorageKey::new(&*master.derive(crate::secrets::purpose::MONITOR)?)
                .map_err(|e| StartError::Monitor(e.to_string()))?;
        let monitor = Arc::new(
            cairn_monitor::Monitor::open_with(
                &monitor_dir,
                Arc::new(cairn_monitor::SystemClock),
                cairn_monitor::MonitorConfig {
                    storage_key: Some(storage_key),
                    ..monitor_config(&config)?
                },
            )
            .map_err(|e| StartError::Monitor(e.to_string()))?,
        );
        let kms = Arc::new(cairn_kms::Kms::open(
            &dir,
            master.clone(),
            config.home_region.as_str(),
        )?);
        let sqs = Arc::new(cairn_sqs::Sqs::open(
            &dir.join("sqs.db"),
            Arc::new(cairn_core::SystemClock),
            cairn_core::seal::SealKey::new(&*master.derive(crate::secrets::purpose::SQS)?)
                .map_err(|e| StartError::Sqs(cairn_sqs::SqsError::Crypto(e.to_string())))?,
        )?);
        // `sqs` subscriptions of SNS topics deliver into the built-in SQS.
        monitor.set_queue_sink(Arc::new(crate::api::sns::SqsSink::new(sqs.clone())));
        // SSE-KMS in local buckets (a trail's KmsKeyId, PutObject with aws:kms) uses it.
        buckets
            .vault_arc()
            .set_key_service(Arc::new(crate::s3::KmsKeyService(kms.clone())));
        // Configured local buckets join the vault (importing old directories) before the
        // S3 endpoint or the pipeline can address them; failures are logged per bucket.
        buckets.open_configured();
        let control = Arc::new(ControlPlane::load(
            config.clone(),
            catalog.clone(),
            crate::cloudtrail::Services {
                monitor: Some(monitor.clone()),
                kms: Some(kms.clone()),
                vault: Some(buckets.vault_arc()),
            },
        )?);
        control.attach_journal(journal.clone());
        let pipeline_config = Arc::new(crate::pipeline::pipeline_config(&config));
        Ok((
            Self {
                config,
                catalog,
                control,
                credentials,
                iam,
                journal,
                ingest,
                verifier: cairn_auth::Verifier::with_cache(cairn_auth::SigningKeyCache::new(1024)),
                pipeline: std::sync::Mutex::new(None),
                history: std::sync::OnceLock::new(),
                lake: std::sync::OnceLock::new(),
                monitor,
                monitor_stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                monitor_started: std::sync::atomic::AtomicBool::new(false),
                feed: std::sync::Mutex::new(None),
                pipeline_config,
                buckets,
                master,
                digests: std::sync::Mutex::new(None),
                kms,
                sqs,
                lifecycle: std::sync::Mutex::new(None),
                s3_events: std::sync::Mutex::new(None),
            },
            Bootstrap {
                access_key_id,
                secret,
                generated,
            },
        ))
    }

    /// Starts log-file delivery on `runtime` (idempotent).
    pub fn start_pipeline(&self, runtime: tokio::runtime::Handle) -> std::io::Result<()> {
        if !self
            .monitor_started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let feed = crate::pipeline::monitor::start(crate::pipeline::monitor::FeedDeps {
                config: self.pipeline_config.clone(),
                journal: self.journal.clone(),
                trails: self.control.clone(),
                monitor: self.monitor.clone(),
                runtime: runtime.clone(),
            })?;
            *self.feed.lock().unwrap_or_else(|e| e.into_inner()) = Some(feed);
            let _guard = runtime.enter();
            self.monitor
                .clone()
                .spawn_background(std::time::Duration::from_secs(1));
            // Queue messages past their retention go, with time as with calls.
            let sqs = self.sqs.clone();
            every_minute(&runtime, self.monitor_stop.clone(), "sqs", move || {
                let n = sqs.tick()?;
                if n > 0 {
                    tracing::info!(dropped = n, "sqs messages past retention dropped");
                }
                Ok::<_, cairn_sqs::SqsError>(())
            });
            // KMS deletions and rotations fall due with time, not only with calls.
            let kms = self.kms.clone();
            every_minute(&runtime, self.monitor_stop.clone(), "kms", move || {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let r = kms.tick(now)?;
                if !r.deleted.is_empty() || !r.rotated.is_empty() {
                    tracing::info!(deleted = ?r.deleted, rotated = ?r.rotated, "kms keys deleted or rotated");
                }
                Ok::<_, cairn_kms::KmsError>(())
            });
        }
        if self.history.get().is_none() {
            let h = crate::history::History::start(
                &self.config.data_dir,
                self.journal.clone(),
                &self.master,
            )
            .map_err(std::io::Error::other)?;
            let _ = self.history.set(h);
        }
        if self.lake.get().is_none() {
            let l = crate::lake::Lake::start(
                &self.config.data_dir,
                self.journal.clone(),
                self.catalog.clone(),
                self.config.regions.iter().map(|r| r.to_string()).collect(),
                self.master.clone(),
            )
            .map_err(std::io::Error::other)?;
            let _ = l.buckets.set(self.buckets.clone());
            let _ = self.lake.set(l);
        }
        let shared = crate::pipeline::deliver::Shared {
            config: self.pipeline_config.clone(),
            catalog: self.catalog.clone(),
            trails: self.control.clone(),
            status: self.control.delivery_status(),
            buckets: self.buckets.clone(),
            runtime,
        };
        start_once(&self.pipeline, || {
            crate::pipeline::deliver::Pipeline::start(crate::pipeline::deliver::Deps {
                shared: shared.clone(),
                journal: self.journal.clone(),
            })
        })?;
        start_once(&self.lifecycle, || {
            crate::s3::lifecycle::LifecycleWorker::start(
                self.buckets.vault_arc(),
                self.config.lifecycle_interval,
                self.config.lifecycle_day,
            )
        })?;
        start_once(&self.s3_events, || {
            crate::s3::notify::NotifyWorker::start(
                self.buckets.vault_arc(),
                self.sqs.clone(),
                self.monitor.clone(),
            )
        })?;
        start_once(&self.digests, || {
            crate::pipeline::digest::DigestWriter::start(crate::pipeline::digest::DigestDeps {
                shared,
                keys: Arc::new(crate::keys::KeyRing::new(
                    self.catalog.clone(),
                    self.master.clone(),
                    self.config.key_rotation,
                )),
            })
        })?;
        Ok(())
    }

    /// Seals open batches and waits up to `deadline` for their upload.
    pub fn stop_pipeline(&self, deadline: std::time::Duration) {
        self.monitor_stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(f) = take(&self.feed) {
            f.shutdown(deadline);
        }
        if let Some(h) = self.history.get() {
            h.stop();
        }
        if let Some(l) = self.lake.get() {
            l.stop();
        }
        if let Some(p) = take(&self.pipeline) {
            p.shutdown(deadline);
        }
        if let Some(d) = take(&self.digests) {
            d.shutdown(deadline);
        }
        if let Some(l) = take(&self.lifecycle) {
            l.stop();
        }
        if let Some(n) = take(&self.s3_events) {
            n.stop();
        }
    }

    /// Appends one of Cairn's own events (an envelope) and waits until it is durable.
    pub async fn record(&self, event_id: String, payload: Vec<u8>) -> Result<(), ApiError> {
        let ingest = self.ingest.clone();
        match tokio::task::spawn_blocking(move || ingest.append_own(&event_id, &payload)).await {
            Ok(r) => r.map(|_| ()),
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

/// Runs `tick` on the blocking pool once a minute until `stop` is set; failures are logged
/// with `what` and the loop goes on.
fn every_minute<E: std::fmt::Display + Send + 'static>(
    runtime: &tokio::runtime::Handle,
    stop: Arc<std::sync::atomic::AtomicBool>,
    what: &'static str,
    tick: impl Fn() -> Result<(), E> + Send + Sync + 'static,
) {
    let tick = Arc::new(tick);
    runtime.spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            every.tick().await;
            let t = tick.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || t()).await {
                tracing::error!(error = %e, "{what} tick failed");
            }
        }
    });
}

/// Takes what `slot` holds (a worker to stop), leaving `None`. The lock is released before the
/// caller stops it; a poisoned lock is reused (the slot is a plain `Option`).
fn take<T>(slot: &std::sync::Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Starts the worker `slot` holds unless it already holds one (the lock is held while it
/// starts, so two callers never start two).
fn start_once<T, E>(
    slot: &std::sync::Mutex<Option<T>>,
    start: impl FnOnce() -> Result<T, E>,
) -> Result<(), E> {
    let mut w = slot.lock().unwrap_or_else(|e| e.into_inner());
    if w.is_none() {
        *w = Some(start()?);
    }
    Ok(())
}
