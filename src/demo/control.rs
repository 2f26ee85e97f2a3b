//! The demo's control endpoints: make a simulated provider fail, and see calls per key.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{RunningSim, SimWire};
use crate::openai::ErrorBody;
use crate::sim::{Behavior, SimControl};

/// The simulators' control handles (and wire APIs) by provider name.
pub(super) struct Sims(BTreeMap<String, (SimControl, SimWire)>);

impl Sims {
    pub(super) fn new(sims: &HashMap<String, RunningSim>) -> Self {
        Self(
            sims.iter()
                .map(|(n, s)| (n.clone(), (s.upstream.control(), s.wire)))
                .collect(),
        )
    }
}

pub(super) fn routes(sims: Arc<Sims>) -> Router {
    Router::new()
        .route("/demo/providers", get(list))
        .route("/demo/providers/{name}/behavior", post(set_behavior))
        .with_state(sims)
}

async fn list(State(sims): State<Arc<Sims>>) -> Json<Value> {
    let out: BTreeMap<&str, Value> = sims
        .0
        .iter()
        .map(|(name, (c, wire))| {
            let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
            for call in c.recorded() {
                // show which key was used by its last 4 characters only
                let k = call.key.map_or("none".to_owned(), |k| {
                    format!("…{}", &k[k.len().saturating_sub(4)..])
                });
                *per_key.entry(k).or_default() += 1;
            }
            (
                name.as_str(),
                json!({"wire": wire.name(), "calls": c.calls(), "calls_per_key": per_key}),
            )
        })
        .collect();
    Json(json!(out))
}

async fn set_behavior(
    State(sims): State<Arc<Sims>>,
    Path(name): Path<String>,
    body: String,
) -> (StatusCode, Json<Value>) {
    let Some((control, wire)) = sims.0.get(&name) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!(ErrorBody::new(
                format!("no simulated provider `{name}`"),
                "invalid_request_error",
                Some("name"),
                None
            ))),
        );
    };
    let mode = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("mode")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    let behavior = match mode.as_str() {
        "ok" => Behavior::Ok,
        // the error body is shaped as the provider's own wire API sends it
        "fail" => wire.outage(500),
        "rate_limit" => Behavior::RateLimited {
            retry_after_secs: 5,
        },
        "stall" => Behavior::Stall,
        "cut" => Behavior::CutStreamAfter { chunks: 3 },
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!(ErrorBody::new(
                    "mode must be one of ok, fail, rate_limit, stall, cut",
                    "invalid_request_error",
                    Some("mode"),
                    None
                ))),
            );
        }
    };
    control.set_behavior(behavior);
    (
        StatusCode::OK,
        Json(json!({"provider": name, "mode": mode})),
    )
}
