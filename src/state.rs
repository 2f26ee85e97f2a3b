//! Shared application state: the live config (swapped atomically), the HTTP client, the ledger.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;

use crate::cache::ResponseCache;
use crate::config::Config;
use crate::dispatch::health::Health;
use crate::limits::Limiter;
use crate::live::Live;
use crate::shared::Shared;
use crate::usage::Ledger;

/// The result of one reload attempt, shown in `/health/detailed` and returned by the admin call.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct ReloadStatus {
    pub at: String,
    pub trigger: String,
    pub ok: bool,
    /// Whether the files differed from the running config.
    pub changed: bool,
    pub version: String,
    /// `file:line: field: message` for each problem of a rejected change.
    pub problems: Vec<String>,
    /// What an applied change changed: files, then policies, rules, providers, models, keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

/// Everything handlers share.
pub struct AppState {
    live: ArcSwap<Live>,
    /// Redis, when configured: limits, budgets, cooldowns, breaker openings and the cache are
    /// then shared with other instances.
    pub shared: Option<Arc<Shared>>,
    /// Rate limits and budgets (process settings: a reload keeps the counters).
    pub limiter: Arc<Limiter>,
    pub cache: Arc<ResponseCache>,
    /// Responses API answers kept for `GET /v1/responses/{id}` and `previous_response_id`.
    pub(crate) responses: crate::response_store::ResponseStore,
    /// One pooled client for every upstream (and the budget webhook), so connections are
    /// reused across requests.
    pub(crate) client: crate::adapters::http::Client,
    pub ledger: Ledger,
    /// The body limit the server enforces: the start-up config's (a reload does not change it).
    pub max_body_bytes: usize,
    pub started: std::time::Instant,
    /// Set when the shutdown grace period is over: open streams end with an error event.
    draining: tokio::sync::watch::Sender<bool>,
    /// The server file to re-read on reload (`serve` only; the demo has none).
    source: OnceLock<PathBuf>,
    /// Where the operational endpoints listen without a key, once bound (`ops_listen`).
    ops_addr: OnceLock<std::net::SocketAddr>,
    last_reload: Mutex<Option<ReloadStatus>>,
    /// The Postgres ledger sink's status, once started.
    postgres: OnceLock<Arc<crate::usage::postgres::SinkStatus>>,
    /// Batch jobs, once started (when the server file enables them).
    batches: OnceLock<Arc<crate::batch::Batches>>,
    /// Moderation verdicts kept in-process (policies' `moderation:`).
    pub(crate) moderator: crate::moderation::cache::Moderator,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("shared", &self.shared)
            .field("ledger", &self.ledger)
            .finish_non_exhaustive()
    }
}

/// The `YYYY-MM` of a ledger line's `ts`, read without parsing the line.
fn ledger_month(line: &str) -> Option<&str> {
    let at = line.find("\"ts\":\"")? + 6;
    line.get(at..at + 7)
}

/// The billed lines of the current month in the ledger file, read backwards from its end.
fn billed_this_month(
    ledger_path: &std::path::Path,
) -> std::io::Result<Vec<crate::usage::UsageRecord>> {
    let month = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let month = &month[..7];
    let older = |line: &str| ledger_month(line).is_some_and(|m| m < month);
    Ok(crate::usage::lines_since(ledger_path, older)?
        .iter()
        .filter(|l| l.contains("\"billed\":true"))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

impl AppState {
    /// Adds this month's spend from the ledger to the budgets, so a restart loses none. Only
    /// without Redis: shared spend already lives there. Reads the ledger backwards from its
    /// end, only as far as this month's lines go.
    pub fn rebuild_spend(&self, ledger_path: &std::path::Path) -> std::io::Result<usize> {
        if self.shared.is_some() {
            return Ok(0);
        }
        let records = billed_this_month(ledger_path)?;
        Ok(self
            .limiter
            .rebuild_from_ledger(records.into_iter(), std::time::SystemTime::now()))
    }

    /// Rebuilds budget spend at start-up from where the ledger is: the Postgres ledger when
    /// the config has one (the whole fleet's spend), else the file at `ledger_path`.
    pub async fn rebuild_spend_at_start(
        &self,
        ledger_path: &std::path::Path,
    ) -> std::io::Result<usize> {
        let sink = self.live().config.server.ledger.postgres.clone();
        match sink {
            Some(sink) => self.rebuild_spend_with_postgres(&sink, ledger_path).await,
            None => self.rebuild_spend(ledger_path),
        }
    }

    /// [`AppState::rebuild_spend`] from the Postgres ledger: the fleet's rows of this month,
    /// plus the file's lines not copied there yet (matched by `request_id`, so none counts
    /// twice). Falls back to the file alone when Postgres cannot be read.
    async fn rebuild_spend_with_postgres(
        &self,
        sink: &crate::config::PostgresSink,
        ledger_path: &std::path::Path,
    ) -> std::io::Result<usize> {
        if self.shared.is_some() {
            return Ok(0);
        }
        let rows = match crate::usage::postgres::billed_this_month(sink).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Postgres ledger; budget spend rebuilt from the file alone");
                return self.rebuild_spend(ledger_path);
            }
        };
        let mut records: Vec<crate::usage::UsageRecord> = rows
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let copied: std::collections::HashSet<String> =
            records.iter().map(|r| r.request_id.clone()).collect();
        records.extend(
            billed_this_month(ledger_path)?
                .into_iter()
                .filter(|r| !copied.contains(&r.request_id)),
        );
        Ok(self
            .limiter
            .rebuild_from_ledger(records.into_iter(), std::time::SystemTime::now()))
    }

    pub fn new(config: Config, ledger: Ledger) -> Arc<Self> {
        let health = Health::new(&config, None);
        let shared = match Shared::connect(&config.server.state) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "shared state disabled; counters are per instance");
                None
            }
        };
        let limiter = Arc::new(Limiter::new(shared.clone(), config.access.budgets.warn_at));
        let cache = Arc::new(ResponseCache::new(&config.server.cache, shared.clone()));
        let responses = crate::response_store::ResponseStore::new(
            &config.server.response_store,
            shared.clone(),
        );
        let client = crate::adapters::http::Client::new()
            .expect("the platform's certificate verifier starts");
        let max_body_bytes = config.server.max_body_bytes;
        Arc::new(Self {
            live: ArcSwap::from_pointee(Live { config, health }),
            shared,
            limiter,
            cache,
            responses,
            client,
            ledger,
            max_body_bytes,
            started: std::time::Instant::now(),
            draining: tokio::sync::watch::Sender::new(false),
            source: OnceLock::new(),
            ops_addr: OnceLock::new(),
            last_reload: Mutex::new(None),
            postgres: OnceLock::new(),
            batches: OnceLock::new(),
            moderator: crate::moderation::cache::Moderator::new(),
        })
    }

    /// Starts what runs beside the requests when Redis is configured: the connection monitor,
    /// and sharing breaker openings and key cooldowns with other instances (following the
    /// live config across reloads). `server::run` calls it, so building a state has no effects.
    pub fn start_background(self: &Arc<Self>) {
        let ledger = &self.live().config.server.ledger;
        if let Some(sink) = &ledger.postgres {
            let every = ledger.flush.max(std::time::Duration::from_millis(10));
            let status =
                crate::usage::postgres::spawn(sink.clone(), self.ledger.path().to_owned(), every);
            let _ = self.postgres.set(status);
        }
        self.start_batches();
        let Some(shared) = &self.shared else { return };
        shared.spawn_monitor();
        let weak = Arc::downgrade(self);
        crate::dispatch::sync::spawn_sync(shared.clone(), move || weak.upgrade().map(|s| s.live()));
    }

    /// Opens the batch folder (once per state); `server::run` resumes its unfinished jobs.
    fn start_batches(self: &Arc<Self>) {
        let Some(settings) = self.live().config.server.batches.clone() else {
            return;
        };
        if self.batches.get().is_some() {
            return;
        }
        match crate::batch::Batches::open(settings) {
            Ok(b) => {
                let _ = self.batches.set(Arc::new(b));
            }
            Err(e) => {
                tracing::error!(error = %e, "the batch folder cannot be opened; batches are disabled");
            }
        }
    }

    /// The batch service, when batches are enabled and the server started.
    pub(crate) fn batches(&self) -> Option<&Arc<crate::batch::Batches>> {
        self.batches.get()
    }

    /// The Postgres ledger sink's status, when one runs.
    pub(crate) fn postgres(&self) -> Option<&Arc<crate::usage::postgres::SinkStatus>> {
        self.postgres.get()
    }

    /// Remembers the server file so reloads can re-read it.
    pub fn set_source(&self, path: PathBuf) {
        let _ = self.source.set(path);
    }

    /// Where `ops_listen` was bound, once the server runs.
    pub fn ops_addr(&self) -> Option<std::net::SocketAddr> {
        self.ops_addr.get().copied()
    }

    pub(crate) fn set_ops_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.ops_addr.set(addr);
    }

    /// The server file reloads re-read, if any.
    pub fn source(&self) -> Option<&PathBuf> {
        self.source.get()
    }

    /// The outcome of the last reload attempt, for health output.
    pub fn last_reload(&self) -> Option<ReloadStatus> {
        crate::lock::lock(&self.last_reload).clone()
    }

    pub(crate) fn set_last_reload(&self, status: ReloadStatus) {
        *crate::lock::lock(&self.last_reload) = Some(status);
    }

    /// Resolves once the shutdown grace period is over.
    pub fn drained(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.draining.subscribe();
        async move {
            let _ = rx.wait_for(|d| *d).await;
        }
    }

    /// Ends the grace period: open streams stop with an error event.
    pub fn end_grace(&self) {
        self.draining.send_replace(true);
    }

    /// The config and health a new request should use.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// Swaps in a new config, carrying over health of unchanged providers.
    pub fn replace_config(&self, config: Config) {
        let old = self.live.load_full();
        let health = Health::new(&config, Some((&old.config, &old.health)));
        self.live.store(Arc::new(Live { config, health }));
    }
}
