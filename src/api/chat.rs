//! `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings` and `/v1/moderations`: one pipeline, four doors.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;

use crate::config::Endpoint;
use crate::state::AppState;

async fn serve(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    endpoint: Endpoint,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let id = super::request_id(headers);
    let limit = state.max_body_bytes;
    let body = body.map_err(|rejection| super::body_error(rejection, limit));
    crate::pipeline::handle(state, id, endpoint, headers, body).await
}

pub(crate) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    serve(&state, &headers, Endpoint::Chat, body).await
}

pub(crate) async fn completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    serve(&state, &headers, Endpoint::Completions, body).await
}

pub(crate) async fn embeddings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    serve(&state, &headers, Endpoint::Embeddings, body).await
}

pub(crate) async fn moderations(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    serve(&state, &headers, Endpoint::Moderations, body).await
}
