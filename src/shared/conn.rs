//! One connection type for a single Redis or a Redis Cluster, so every store issues its
//! commands and scripts the same way whichever `state.redis` names.

use std::sync::{Arc, OnceLock};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A connection to issue commands on; clones share the underlying connections.
#[derive(Clone)]
pub enum Conn {
    /// A single node, reconnecting by itself after an outage.
    Single(ConnectionManager),
    /// A cluster: commands are routed by their keys' slot (scripts by their first key, which
    /// is why every key a script touches carries the same hash tag; see [`super::Shared::key`]).
    Cluster(Lazy),
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
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(_) => 0,
        }
    }
}
