//! `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings` and `/v1/moderations`: one pipeline, four doors.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;

use crate::config::Endpoint;
use crate::state::AppState;

async fn serve(state: &Arc<AppState>, req: Request, endpoint: Endpoint) -> Response {
    let (headers, body) = split(state, req).await;
    let id = super::request_id(&headers);
    let limit = state.max_body_bytes;
    let body = body.map_err(|rejection| super::body_error(rejection, limit));
    crate::pipeline::handle(state, id, endpoint, &headers, body).await
}

/// The request's headers and its body (within the body limit), taking the header map out
/// rather than copying it as axum's `HeaderMap` extractor does.
async fn split(state: &Arc<AppState>, req: Request) -> (HeaderMap, Result<Bytes, BytesRejection>) {
    let (mut parts, body) = req.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let body = Bytes::from_request(Request::from_parts(parts, body), state).await;
    (headers, body)
}

pub(crate) async fn chat_completions(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(&state, req, Endpoint::Chat).await
}

pub(crate) async fn completions(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(&state, req, Endpoint::Completions).await
}

pub(crate) async fn embeddings(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(&state, req, Endpoint::Embeddings).await
}

pub(crate) async fn moderations(State(state): State<Arc<AppState>>, req: Request) -> Response {
    serve(&state, req, Endpoint::Moderations).await
}
