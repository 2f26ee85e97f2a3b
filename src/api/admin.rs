//! Admin endpoints (admin key required): `POST /admin/reload` re-reads and validates the config files.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::reload::reload as run_reload;
use crate::state::AppState;

/// 200 with the new version when the files are valid (swapped in if changed); 422 with every
/// problem when they are not (the running config is kept).
/// Needs the admin key (see [`crate::auth::authorize`]).
pub(crate) async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let access = &state.live().config.access;
    if let Err(e) = crate::auth::authorize(access, crate::auth::Role::Admin, &headers) {
        return e.into_response();
    }
    let status = run_reload(&state, "admin").await;
    let code = if status.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (code, Json(status)).into_response()
}
