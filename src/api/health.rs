//! Health endpoints for load balancers, Kubernetes probes and operators; none spends tokens.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::lock::lock;
use crate::state::AppState;

/// `GET /health`: cheap, for Docker and simple load balancers.
pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    let live = state.live();
    Json(
        json!({"status": "ok", "config_version": live.config.version, "uptime_s": uptime_s(&state)}),
    )
}

/// `GET /health/live`: the process answers.
pub(crate) async fn live() -> Json<Value> {
    Json(json!({"status": "alive"}))
}

/// `GET /health/ready`: a config is loaded and every rule has a usable candidate; 503 otherwise.
pub(crate) async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Value>) {
    let live = state.live();
    let mut problems = live.health.unready_rules(&live.config, Instant::now());
    if let Some(sh) = state
        .shared
        .as_ref()
        .filter(|s| s.fail_closed && !s.is_up())
    {
        problems.push(format!(
            "shared state (redis) unreachable and on_unavailable is refuse: {}",
            sh.last_error().unwrap_or_default()
        ));
    }
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = if problems.is_empty() {
        "ready"
    } else {
        "not_ready"
    };
    (
        status,
        Json(json!({"status": word, "config_version": live.config.version, "problems": problems})),
    )
}

/// `GET /health/detailed`: breakers, key cooldowns (never keys), ledger, memory, reloads.
pub(crate) async fn detailed(State(state): State<Arc<AppState>>) -> Json<Value> {
    let live = state.live();
    let (config, health) = (&live.config, &live.health);
    let now = Instant::now();
    let providers: Vec<Value> = config
        .providers
        .iter()
        .enumerate()
        .map(|(pi, p)| {
            let pool = lock(&health.keys[pi]);
            let keys: Vec<Value> = p
                .keys
                .iter()
                .enumerate()
                .map(|(ki, k)| {
                    let cooling = pool.cooling_until(ki, now).map(|t| (t - now).as_secs_f64());
                    let (own_rpm, own_tpm) = crate::dispatch::pacing::fallback_limits(
                        k.rpm,
                        k.tpm,
                        config.server.state.expected_instances,
                    );
                    json!({"env": k.env, "rpm": k.rpm, "tpm": k.tpm, "cooling_down_s": cooling,
                           "fallback_rpm": own_rpm, "fallback_tpm": own_tpm,
                           "state": pool.state(ki), "in_flight": pool.in_flight(ki)})
                })
                .collect();
            drop(pool);
            let models: Vec<Value> = config
                .models
                .iter()
                .enumerate()
                .filter(|(_, m)| m.provider == pi)
                .map(|(mi, m)| {
                    let b = lock(&health.breakers[mi]);
                    json!({"id": &*m.id, "breaker": b.state(now).as_str(), "consecutive_failures": b.failures(),
                           "forced": b.forced()})
                })
                .collect();
            json!({"name": &*p.name, "wire": p.wire, "base_url": p.base_url, "keys": keys, "models": models})
        })
        .collect();
    let ledger_ok = state.ledger.is_healthy();
    let shared_ok = state.shared.as_ref().is_none_or(|s| s.is_up());
    let shared = match &state.shared {
        None => json!({"backend": "local"}),
        Some(s) => json!({
            "backend": "redis",
            "connected": s.is_up(),
            "on_unavailable": if s.fail_closed { "refuse" } else { "local" },
            "last_error": s.last_error(),
            "pending_spend_replays": state.limiter.pending_spend(),
        }),
    };
    let key_pacing = key_pacing(&state, config);
    let (entries, bytes) = state.cache.stats();
    Json(json!({
        "status": if ledger_ok && shared_ok { "ok" } else { "degraded" },
        "uptime_s": uptime_s(&state),
        "memory_rss_bytes": rss_bytes(),
        "config": {"version": live.config.version, "policies": config.policies.iter().map(|p| &*p.name).collect::<Vec<_>>(),
                   "default_policy": &*config.default_policy().name, "last_reload": state.last_reload()},
        "ledger": {"path": state.ledger.path(), "writable": ledger_ok,
                   "postgres": state.postgres().map(|p| p.to_json())},
        "shared_state": shared,
        "cache": {"enabled": state.cache.enabled(), "entries": entries, "bytes": bytes},
        "auth": {"mode": match config.access.mode { crate::config::AuthMode::Keys => "keys", crate::config::AuthMode::Open => "open" },
                 "keys": config.access.keys.len(), "admin_key": config.access.admin.digest().is_some(),
                 "ops_key": config.access.ops.digest().is_some()},
        "key_pacing": key_pacing,
        "providers": providers,
        "ready_problems": health.unready_rules(config, now),
        "quota_headroom": crate::dispatch::quota::view(&live),
    }))
}

/// Whose budget a key's rpm/tpm is right now: the fleet's (through Redis) or this instance's
/// share of it (`rpm / expected_instances`), and why.
fn key_pacing(state: &AppState, config: &crate::config::Config) -> Value {
    let instances = config.server.state.expected_instances;
    let (scope, reason) = match &state.shared {
        None => ("instance", Some("no shared state (state.redis) configured")),
        Some(s) if s.is_down() => ("instance", Some("redis unreachable")),
        Some(s) if s.is_up() => ("fleet", None),
        Some(_) => ("fleet", Some("redis not reached yet")),
    };
    json!({"scope": scope, "reason": reason, "expected_instances": instances,
           "instance_share": if scope == "fleet" { Value::Null } else { json!(format!("1/{instances} of each key's rpm and tpm")) }})
}

/// Resident memory from /proc (Linux); `null` elsewhere.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Seconds since start, to the millisecond: the dashboard's first load divides the requests
/// so far by it, which whole seconds would make 0 in the first second.
fn uptime_s(state: &AppState) -> f64 {
    (state.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}
