//! `POST /v1/chat/completions`.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::state::AppState;

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let id = super::request_id(&headers);
    match body {
        Ok(body) => crate::pipeline::chat(&state, &id, body).await,
        Err(rejection) => {
            let limit = state.live().config.server.max_body_bytes;
            let mut resp = super::body_error(rejection, limit).into_response();
            if let Ok(v) = id.parse() {
                resp.headers_mut().insert("x-request-id", v);
            }
            resp
        }
    }
}
