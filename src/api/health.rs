//! `GET /health`: a cheap liveness answer that spends no tokens.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn health(State(state): State<Arc<AppState>>) -> Json<Value> {
    let live = state.live();
    Json(
        json!({"status": "ok", "config_version": live.config.version, "uptime_s": state.started.elapsed().as_secs()}),
    )
}
