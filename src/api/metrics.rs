//! `/metrics` (Prometheus text), `/metrics/json` (the same samples as JSON, for dashboards) and
//! `/metrics/circuit-breakers`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::lock::lock;
use crate::state::AppState;

/// Refreshes the breaker gauges, then renders every metric.
async fn render(state: &AppState) -> Option<String> {
    let handle = crate::metrics::handle()?;
    let live = state.live();
    let now = Instant::now();
    for (i, m) in live.config.models.iter().enumerate() {
        crate::metrics::set_breaker_state(&m.id, lock(&live.health.breakers[i]).state(now));
    }
    if state.cache.enabled() {
        let (entries, bytes) = state.cache.stats();
        crate::metrics::cache_size(entries, bytes);
    }
    let global = live.config.access.global;
    for b in state
        .limiter
        .global_spend(&global, std::time::SystemTime::now())
        .await
    {
        crate::metrics::global_budget(b.period.as_str(), b.limit_usd, b.spent_usd);
    }
    crate::dispatch::quota::export(&live);
    handle.run_upkeep();
    Some(handle.render())
}

pub(crate) async fn prometheus(State(state): State<Arc<AppState>>) -> Response {
    match render(&state).await {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable",
        )
            .into_response(),
    }
}

/// `{"metrics": {name: [{"labels": {..}, "value": n}]}}`, parsed from the Prometheus text so
/// both views always agree.
pub(crate) async fn as_json(State(state): State<Arc<AppState>>) -> Json<Value> {
    let text = render(&state).await.unwrap_or_default();
    Json(json!({"metrics": parse_exposition(&text)}))
}

pub(crate) async fn circuit_breakers(State(state): State<Arc<AppState>>) -> Json<Value> {
    let live = state.live();
    let now = Instant::now();
    let breakers: Vec<Value> = live
        .config
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let b = lock(&live.health.breakers[i]);
            json!({"model": &*m.id, "provider": &*live.config.providers[m.provider].name,
                   "state": b.state(now).as_str(), "consecutive_failures": b.failures(),
                   "forced": b.forced()})
        })
        .collect();
    Json(json!({"breakers": breakers}))
}

/// Parses Prometheus text exposition lines `name{k="v",...} value` into samples by name.
pub fn parse_exposition(text: &str) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, parse_labels(rest.trim_end_matches('}'))),
            None => (series, Map::new()),
        };
        out.entry(name.to_owned())
            .or_default()
            .push(json!({"labels": labels, "value": value}));
    }
    out
}

fn parse_labels(s: &str) -> Map<String, Value> {
    let mut labels = Map::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() || chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => {}
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_owned(), Value::String(value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_with_escaped_labels() {
        let text = "# HELP x y\n# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"uote\"} 3\nplain 2.5\n";
        let m = parse_exposition(text);
        assert_eq!(m["x_total"][0]["labels"]["b"], "q\"uote");
        assert_eq!(m["x_total"][0]["value"], 3.0);
        assert_eq!(m["plain"][0]["value"], 2.5);
    }
}
