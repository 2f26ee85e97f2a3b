//! Admin endpoints: `POST /admin/reload` re-reads and validates the config files.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::reload::{reload as run_reload, ReloadStatus};
use crate::state::AppState;

/// 200 with the new version when the files are valid (swapped in if changed); 422 with every
/// problem when they are not (the running config is kept).
pub async fn reload(State(state): State<Arc<AppState>>) -> (StatusCode, Json<ReloadStatus>) {
    let status = run_reload(&state, "admin").await;
    let code = if status.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (code, Json(status))
}
