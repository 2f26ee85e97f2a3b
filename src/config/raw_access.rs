//! Raw serde shapes of the server file's protection settings: auth, tiers, teams, budgets,
//! shared state and the response cache, plus the virtual-key file (phase one of two).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Who may call the router.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Every request needs a virtual key (`Authorization: Bearer sk-sy-…`).
    #[default]
    Keys,
    /// No authentication: for local use and the demo only.
    Open,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    #[serde(default)]
    pub mode: AuthMode,
    /// The virtual-key file (a YAML list, relative to the server file) that
    /// `switchyard keys create` appends to.
    #[serde(default = "default_keys_file")]
    pub keys_file: PathBuf,
    /// Environment variable holding the admin key for `/admin/*`.
    pub admin_key_env: Option<String>,
    /// SHA-256 (hex) of the admin key, as an alternative to `admin_key_env`.
    pub admin_key_sha256: Option<String>,
    /// Environment variable holding the ops key: `/metrics*`, `/health/detailed` and the
    /// dashboard's data (the admin key works there too). Prometheus sends it as a bearer token.
    pub ops_key_env: Option<String>,
    /// SHA-256 (hex) of the ops key, as an alternative to `ops_key_env`.
    pub ops_key_sha256: Option<String>,
}

fn default_keys_file() -> PathBuf {
    "keys.yaml".into()
}

impl Default for RawAuth {
    fn default() -> Self {
        Self {
            mode: AuthMode::default(),
            keys_file: default_keys_file(),
            admin_key_env: None,
            admin_key_sha256: None,
            ops_key_env: None,
            ops_key_sha256: None,
        }
    }
}

/// Rate limits and budgets of one scope (a tier's users, a team, or everyone). Absent = unlimited.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Requests per minute.
    pub rpm: Option<u64>,
    /// Requests per hour.
    pub rph: Option<u64>,
    /// Tokens (prompt + completion) per minute.
    pub tpm: Option<u64>,
    /// Tokens per day.
    pub tpd: Option<u64>,
    /// USD per UTC day.
    pub daily_usd: Option<f64>,
    /// USD per UTC calendar month.
    pub monthly_usd: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawBudgets {
    /// Fraction of a budget at which a warning is raised once per period.
    pub warn_at: f64,
    /// URL that receives a JSON POST when a budget crosses `warn_at` or runs out.
    pub webhook: Option<String>,
    /// Completion tokens assumed when reserving for a request without `max_tokens`.
    pub reserve_completion_tokens: u64,
}

impl Default for RawBudgets {
    fn default() -> Self {
        Self {
            warn_at: 0.8,
            webhook: None,
            reserve_completion_tokens: 1024,
        }
    }
}

/// What to do with limits and budgets while Redis cannot be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    /// Keep serving on this instance's own counters (fail open).
    #[default]
    Local,
    /// Refuse requests with 503 until Redis is back (fail closed).
    Refuse,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawState {
    /// `redis://host:port/db`, a cluster (`redis+cluster://h1:p1,h2:p2` or a list of node
    /// URLs); absent: everything is in-process.
    pub redis: Option<RawRedis>,
    /// Environment variable holding the Redis URL (when it carries a password).
    pub redis_env: Option<String>,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub prefix: String,
    pub on_unavailable: OnUnavailable,
    /// Longest wait for one Redis call before falling back.
    pub timeout_ms: u64,
    /// How many instances share the provider keys: while Redis is unreachable (or absent)
    /// each paces a key to `rpm / expected_instances` (and `tpm` likewise).
    pub expected_instances: u32,
}

/// One Redis URL, or the node URLs of a Redis Cluster.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawRedis {
    One(String),
    Nodes(Vec<String>),
}

impl RawRedis {
    /// As one string: a list's URLs joined by commas (read back by `shared::parse_nodes`).
    pub(crate) fn joined(&self) -> String {
        match self {
            Self::One(url) => url.clone(),
            Self::Nodes(urls) => urls.join(","),
        }
    }
}

impl Default for RawState {
    fn default() -> Self {
        Self {
            redis: None,
            redis_env: None,
            prefix: "switchyard".into(),
            on_unavailable: OnUnavailable::Local,
            timeout_ms: 1000,
            expected_instances: 1,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCache {
    pub enabled: bool,
    pub max_entries: u64,
    pub max_bytes: u64,
    pub ttl_s: u64,
    /// Who may be answered from whose entries: `user` (default), `team` or `global`.
    pub scope: CacheScope,
}

/// Whose cached answers a request may receive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// Only answers to the same user's requests (the virtual key's user; in open mode the
    /// request's `user` field).
    #[default]
    User,
    /// Answers to any member of the same team.
    Team,
    /// Anyone's answers: only for a single-tenant router.
    Global,
}

impl Default for RawCache {
    fn default() -> Self {
        Self {
            enabled: true,
            max_entries: 10_000,
            max_bytes: 64 * 1024 * 1024,
            ttl_s: 600,
            scope: CacheScope::User,
        }
    }
}

/// One entry of the virtual-key file. The key itself is never stored, only its SHA-256.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVirtualKey {
    /// A name for the key that is safe to log (e.g. `alice-laptop`).
    pub id: String,
    /// Hex SHA-256 of the key.
    pub sha256: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}
