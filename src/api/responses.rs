//! `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`: OpenAI's Responses API, served
//! by [`crate::responses`] over the chat pipeline.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;

use crate::state::AppState;

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let id = super::request_id(&headers);
    let limit = state.max_body_bytes;
    let body = body.map_err(|rejection| super::body_error(rejection, limit));
    crate::responses::create(&state, id, &headers, body).await
}

pub(crate) async fn retrieve(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    crate::responses::retrieve(&state, &headers, &id).await
}

pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    crate::responses::delete(&state, &headers, &id).await
}

pub(crate) async fn input_items(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    crate::responses::input_items(&state, &headers, &id, &query).await
}
