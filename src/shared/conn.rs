//! One connection type for a single Redis, a Redis Cluster or a Sentinel-managed master, so
//! every store issues its commands and scripts the same way whichever `state.redis` names.

use std::sync::{Arc, OnceLock};

use redis::aio::MultiplexedConnection;
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::SentinelClient;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use crate::lock::lock;

/// A connection to issue commands on; clones share the underlying connections.
#[derive(Clone)]
pub enum Conn {
    /// A single node, reconnecting by itself after an outage.
    Single(ConnectionManager),
    /// A cluster: commands are routed by their keys' slot (scripts by their first key, which
    /// is why every key a script touches carries the same hash tag; see [`super::Shared::key`]).
    Cluster(Lazy),
    /// The master the Sentinels name, asked of them again after a connection failure.
    Sentinel(Sentineled),
}

/// A connection to the master that Sentinels point at: resolved on first use and again after
/// any failure that may mean a failover (the connection broke or timed out, or the node
/// answered READONLY because it is a replica now).
#[derive(Clone)]
pub struct Sentineled {
    client: Arc<tokio::sync::Mutex<SentinelClient>>,
    config: AsyncConnectionConfig,
    db: i64,
    conn: Arc<std::sync::Mutex<Option<MultiplexedConnection>>>,
}

impl Sentineled {
    pub(super) fn new(client: SentinelClient, config: AsyncConnectionConfig, db: i64) -> Self {
        Self {
            client: Arc::new(tokio::sync::Mutex::new(client)),
            config,
            db,
            conn: Arc::default(),
        }
    }

    /// The master's connection, asking the Sentinels where it is when there is none.
    async fn get(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(c) = lock(&self.conn).clone() {
            return Ok(c);
        }
        let mut sentinels = self.client.lock().await;
        // another call may have resolved it while this one waited
        if let Some(c) = lock(&self.conn).clone() {
            return Ok(c);
        }
        let master = sentinels.async_get_client().await?;
        let c = master
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        *lock(&self.conn) = Some(c.clone());
        Ok(c)
    }

    /// Forgets the connection after a failure that may mean the master moved.
    fn check<T>(&self, result: RedisResult<T>) -> RedisResult<T> {
        if let Err(e) = &result {
            if may_have_moved(e) {
                lock(&self.conn).take();
            }
        }
        result
    }
}

fn may_have_moved(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.code() == Some("READONLY")
}

/// A cluster connection made on first use (inside the runtime), so start-up never waits
/// for (or fails on) the cluster.
#[derive(Clone)]
pub struct Lazy {
    client: Arc<ClusterClient>,
    config: ClusterConfig,
    conn: Arc<OnceLock<ClusterConnection>>,
}

impl Lazy {
    pub(super) fn new(client: ClusterClient, config: ClusterConfig) -> Self {
        Self {
            client: Arc::new(client),
            config,
            conn: Arc::new(OnceLock::new()),
        }
    }

    fn get(&self) -> ClusterConnection {
        self.conn
            .get_or_init(|| {
                self.client
                    .get_pending_async_connection_with_config(self.config.clone())
            })
            .clone()
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(lazy) => {
                let mut c = lazy.get();
                Box::pin(async move { c.req_packed_command(cmd).await })
            }
            Self::Sentinel(s) => Box::pin(async move {
                let mut c = s.check(s.get().await)?;
                s.check(c.req_packed_command(cmd).await)
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(lazy) => {
                let mut c = lazy.get();
                Box::pin(async move { c.req_packed_commands(pipeline, offset, count).await })
            }
            Self::Sentinel(s) => Box::pin(async move {
                let mut c = s.check(s.get().await)?;
                s.check(c.req_packed_commands(pipeline, offset, count).await)
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(_) => 0,
            Self::Sentinel(s) => s.db,
        }
    }
}
