//! `POST /v1/chat/completions`.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;

use crate::state::AppState;

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let id = super::request_id(&headers);
    let limit = state.live().config.server.max_body_bytes;
    let body = body.map_err(|rejection| super::body_error(rejection, limit));
    crate::pipeline::chat(&state, &id, body).await
}
