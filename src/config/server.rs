//! The server file's own settings (listen address, ledger, limits of the process, shared
//! state, cache, batches, stored responses), validated into [`ServerSettings`].

use std::path::Path;

use super::raw::RawServer;
use super::{
    batches, ledger, redis_nodes, response_store, BatchSettings, CacheSettings, EnvLookup,
    LedgerSettings, LogFormat, Problem, StateSettings,
};

/// Settings of the process itself, from the server file.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: String,
    pub ledger: LedgerSettings,
    pub log_format: LogFormat,
    pub max_body_bytes: usize,
    pub shutdown_grace: std::time::Duration,
    pub shutdown_deadline: std::time::Duration,
    pub header_timeout: std::time::Duration,
    pub ops_listen: Option<String>,
    pub state: StateSettings,
    pub cache: CacheSettings,
    /// Batch jobs, when the server file enables them.
    pub batches: Option<BatchSettings>,
    pub response_store: response_store::ResponseStoreSettings,
}

/// Validates the server file; the second value is the policy it names (if any).
pub(super) fn server_settings(
    raw: RawServer,
    path: &Path,
    text: &str,
    env: EnvLookup<'_>,
    problems: &mut Vec<Problem>,
) -> (ServerSettings, Option<String>) {
    let redis = match (&raw.state.redis, &raw.state.redis_env) {
        (Some(url), _) => Some(url.joined()),
        (None, Some(var)) => {
            let v = env(var);
            if v.is_none() {
                problems.push(Problem::at(
                    path,
                    text,
                    "state.redis_env",
                    Some(var),
                    format!("environment variable `{var}` is not set"),
                ));
            }
            v
        }
        (None, None) => None,
    };
    if let Some(url) = &redis {
        // the URL may carry a password: the problem names its kind, never the URL
        let problem = redis_nodes::parse(url).err();
        if let Some(message) = problem {
            problems.push(Problem::at(
                path,
                text,
                "state.redis",
                Some("redis"),
                message,
            ));
        }
    }
    if raw.state.prefix.contains(['{', '}']) {
        problems.push(Problem::at(
            path,
            text,
            "state.prefix",
            Some("prefix"),
            "must not contain `{` or `}` (the router makes the prefix the keys' hash tag)",
        ));
    }
    if raw.cache.max_entries == 0 || raw.cache.max_bytes == 0 {
        problems.push(Problem::at(
            path,
            text,
            "cache",
            Some("cache"),
            "max_entries and max_bytes must be above 0 (set `enabled: false` to turn it off)",
        ));
    }
    let state = StateSettings {
        redis: redis.map(crate::secret::Secret::new),
        prefix: raw.state.prefix.clone(),
        on_unavailable: raw.state.on_unavailable,
        timeout: std::time::Duration::from_millis(raw.state.timeout_ms.max(1)),
        expected_instances: raw.state.expected_instances.max(1),
    };
    let response_store = raw.response_store.validate().unwrap_or_else(|why| {
        problems.push(Problem::at(
            path,
            text,
            "response_store",
            Some("response_store"),
            why,
        ));
        response_store::ResponseStoreSettings::default()
    });
    let cache = CacheSettings {
        enabled: raw.cache.enabled,
        max_entries: raw.cache.max_entries,
        max_bytes: raw.cache.max_bytes,
        ttl: std::time::Duration::from_secs(raw.cache.ttl_s.max(1)),
        scope: raw.cache.scope,
    };
    let addresses = std::iter::once(("listen", &raw.listen))
        .chain(raw.ops_listen.as_ref().map(|a| ("ops_listen", a)));
    for (field, addr) in addresses {
        if addr.parse::<std::net::SocketAddr>().is_err() {
            problems.push(Problem::at(
                path,
                text,
                field,
                Some(addr),
                format!("`{addr}` is not a socket address like 127.0.0.1:8080"),
            ));
        }
    }
    if raw.max_body_bytes < 1024 {
        problems.push(Problem::at(
            path,
            text,
            "max_body_bytes",
            Some("max_body_bytes"),
            "must be at least 1024",
        ));
    }
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let raw_ledger = raw.ledger.0;
    if raw_ledger.flush_ms == 0 || raw_ledger.flush_ms > 60_000 {
        problems.push(Problem::at(
            path,
            text,
            "ledger.flush_ms",
            Some("flush_ms"),
            "must be between 1 and 60000",
        ));
    }
    let postgres = ledger::postgres_sink(&raw_ledger, env, path, text, problems);
    let batches = raw
        .batches
        .map(|b| batches::validate(b, base, path, text, problems));
    let ledger = LedgerSettings {
        path: if path == Path::new("-") {
            raw_ledger.path
        } else {
            base.join(raw_ledger.path)
        },
        flush: std::time::Duration::from_millis(raw_ledger.flush_ms.clamp(1, 60_000)),
        fsync: raw_ledger.fsync,
        postgres,
    };
    (
        ServerSettings {
            listen: raw.listen,
            ledger,
            log_format: raw.log_format,
            max_body_bytes: raw.max_body_bytes,
            shutdown_grace: std::time::Duration::from_millis(raw.shutdown_grace_ms),
            shutdown_deadline: std::time::Duration::from_millis(raw.shutdown_deadline_ms),
            header_timeout: std::time::Duration::from_millis(raw.header_timeout_ms.max(1)),
            ops_listen: raw.ops_listen,
            state,
            cache,
            batches,
            response_store,
        },
        raw.policy,
    )
}
