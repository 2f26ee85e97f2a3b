//! The optional Redis connection that makes counters, cooldowns, breaker openings, key pacing
//! and the response cache shared between instances; it tracks whether Redis is reachable.
//!
//! `state.redis` names one node or a Redis Cluster (`nodes.rs`). On a cluster a Lua script
//! may only touch keys of one hash slot, so every key a script (or a multi-key command)
//! touches is `{prefix}:…`: the braces make the prefix the hash tag, putting one deployment's
//! counters in one slot. Response-cache entries are single-key and spread over the cluster
//! (`prefix:cache:…`, [`Shared::spread_key`]).

mod conn;

pub(crate) use crate::config::redis_nodes::Nodes;
pub use conn::Conn;

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};

use crate::config::{OnUnavailable, StateSettings};

/// Why a shared-state call did not complete; the caller falls back to local state (or
/// refuses, when configured fail-closed).
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// A handle to Redis shared by every stage that keeps shared state. Cheap to clone per call.
pub struct Shared {
    conn: Conn,
    prefix: String,
    timeout: Duration,
    /// Refuse requests while Redis is unreachable instead of using local counters.
    pub fail_closed: bool,
    /// [`UNKNOWN`] until the first call answers, then [`UP`] or [`DOWN`].
    reach: AtomicU8,
    last_error: Mutex<Option<String>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("prefix", &self.prefix)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

/// A connection to the master `sentinels` know as `master`, with `node`'s password and db.
fn sentinel_conn(
    sentinels: Vec<String>,
    master: &str,
    node: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<Conn, String> {
    use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
    use redis::IntoConnectionInfo;
    let node = node
        .into_connection_info()
        .map_err(|e| format!("state.redis is not a usable Sentinel URL ({:?})", e.kind()))?;
    let info = SentinelNodeConnectionInfo::default()
        .set_redis_connection_info(node.redis_settings().clone());
    let client = SentinelClient::build(sentinels, master, Some(info), SentinelServerType::Master)
        .map_err(|e| format!("state.redis names unusable Sentinels ({:?})", e.kind()))?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(Some(timeout));
    Ok(Conn::Sentinel(conn::Sentineled::new(
        client,
        config,
        node.redis_settings().db(),
    )))
}

impl Shared {
    /// A lazily connecting handle: start-up never waits for (or fails on) Redis, and the
    /// connection manager reconnects by itself after an outage.
    pub fn connect(settings: &StateSettings) -> Result<Option<Arc<Self>>, String> {
        let Some(url) = &settings.redis else {
            return Ok(None);
        };
        // the URL may carry a password: errors name the problem, never the URL
        let connect_timeout = settings.timeout.max(Duration::from_millis(100));
        let conn = match crate::config::redis_nodes::parse(url.expose())
            .map_err(|e| format!("state.redis {e}"))?
        {
            Nodes::Single(url) => {
                let client = redis::Client::open(url).map_err(|e| {
                    format!("state.redis is not a usable Redis URL ({:?})", e.kind())
                })?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(settings.timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(2));
                Conn::Single(
                    ConnectionManager::new_lazy_with_config(client, config).map_err(|e| {
                        format!("cannot set up the Redis connection: {:?}", e.kind())
                    })?,
                )
            }
            Nodes::Cluster(nodes) => {
                let client = ClusterClient::builder(nodes)
                    .retries(1)
                    .build()
                    .map_err(|e| format!("state.redis is not a usable cluster ({:?})", e.kind()))?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(connect_timeout)
                    .set_response_timeout(settings.timeout);
                Conn::Cluster(conn::Lazy::new(client, config))
            }
            Nodes::Sentinel {
                sentinels,
                master,
                node,
            } => sentinel_conn(sentinels, &master, &node, connect_timeout, settings.timeout)?,
        };
        Ok(Some(Arc::new(Self {
            conn,
            prefix: settings.prefix.clone(),
            timeout: settings.timeout,
            fail_closed: settings.on_unavailable == OnUnavailable::Refuse,
            // unknown until the first call answers: fail-closed instances are not ready before
            reach: AtomicU8::new(UNKNOWN),
            last_error: Mutex::new(None),
        })))
    }

    /// `{prefix}:{rest}` (braces included: the prefix is the hash tag): every key a script
    /// or a multi-key command touches, so all of them share one cluster slot.
    pub fn key(&self, rest: &str) -> String {
        format!("{{{}}}:{rest}", self.prefix)
    }

    /// `prefix:{rest}`, without a hash tag: single-key entries (the response cache) that a
    /// cluster may spread over its nodes.
    pub fn spread_key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    /// Whether `state.redis` names a cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// A connection to issue commands on (clones share the underlying connections).
    pub fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// Runs one Redis operation with the configured timeout and records whether Redis is up.
    pub async fn run<T, F>(&self, op: F) -> Result<T, SharedError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let result = match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(SharedError::Redis(e)),
            Err(_) => Err(SharedError::Timeout(self.timeout)),
        };
        match &result {
            Ok(_) => self.mark_up(),
            // a command Redis answered with an error (a script or type problem) is our bug,
            // not an outage; anything else (I/O, TLS, authentication) means it is unreachable
            Err(SharedError::Redis(e))
                if matches!(
                    e.kind(),
                    redis::ErrorKind::Server(_)
                        | redis::ErrorKind::UnexpectedReturnType
                        | redis::ErrorKind::Parse
                ) =>
            {
                tracing::error!(error = %e, "redis rejected a command");
            }
            Err(e) => self.mark_down(e),
        }
        result
    }

    /// Whether the last call reached Redis (false before the first one answered).
    pub fn is_up(&self) -> bool {
        self.reach.load(Ordering::Relaxed) == UP
    }

    /// Whether the last call (or the monitor's ping) failed to reach Redis.
    pub fn is_down(&self) -> bool {
        self.reach.load(Ordering::Relaxed) == DOWN
    }

    /// The last connection problem, for health output.
    pub fn last_error(&self) -> Option<String> {
        crate::lock::lock(&self.last_error).clone()
    }

    fn mark_up(&self) {
        match self.reach.swap(UP, Ordering::Relaxed) {
            UP => {}
            DOWN => {
                tracing::info!("redis is reachable again; limits, budgets and cache are shared");
                crate::metrics::shared_state_up(true);
            }
            _ => {
                tracing::info!("redis is reachable; limits, budgets and cache are shared");
                crate::metrics::shared_state_up(true);
            }
        }
    }

    fn mark_down(&self, e: &SharedError) {
        *crate::lock::lock(&self.last_error) = Some(e.to_string());
        if self.reach.swap(DOWN, Ordering::Relaxed) != DOWN {
            let fallback = if self.fail_closed {
                "refusing requests"
            } else {
                "using this instance's own counters"
            };
            tracing::warn!(error = %e, "redis is unreachable; {fallback} until it is back");
            crate::metrics::shared_state_up(false);
        }
    }

    /// Pings Redis every second so an outage and the recovery are noticed without traffic.
    pub fn spawn_monitor(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(s) = me.upgrade() else { return };
                let mut c = s.conn();
                let _ = s
                    .run(async move { redis::cmd("PING").query_async::<String>(&mut c).await })
                    .await;
            }
        });
    }
}
