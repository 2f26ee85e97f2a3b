//! `POST /v1/messages` and `/v1/messages/count_tokens`: the Anthropic Messages API inbound,
//! through the chat pipeline (see [`crate::messages`]).

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;

use crate::config::Endpoint;
use crate::error::ApiError;
use crate::messages::{self, request};
use crate::openai::{json_response, ChatRequest};
use crate::state::AppState;

/// The client's headers with an Anthropic `x-api-key` presented as the bearer key the router
/// authenticates (an `Authorization` header, when sent, wins).
fn with_bearer(headers: &HeaderMap) -> HeaderMap {
    let mut h = headers.clone();
    if !h.contains_key(header::AUTHORIZATION) {
        let key = headers.get("x-api-key").and_then(|k| k.to_str().ok());
        if let Some(v) = key.and_then(|k| HeaderValue::from_str(&format!("Bearer {k}")).ok()) {
            h.insert(header::AUTHORIZATION, v);
        }
    }
    h
}

/// The Messages body as the chat request body the pipeline reads.
fn chat_body(body: &[u8], counting: bool) -> Result<Bytes, ApiError> {
    let chat = request::to_chat(body, counting)?;
    serde_json::to_vec(&chat)
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let id = super::request_id(&headers);
    let limit = state.max_body_bytes;
    let headers = with_bearer(&headers);
    let body = body
        .map_err(|rejection| super::body_error(rejection, limit))
        .and_then(|b| chat_body(&b, false));
    let resp = crate::pipeline::handle_on(
        &state,
        id,
        Endpoint::Chat,
        Endpoint::Messages,
        &headers,
        body,
    )
    .await;
    messages::respond(resp).await
}

pub(crate) async fn count_tokens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let limit = state.max_body_bytes;
    let result = async {
        let live = state.live();
        crate::auth::authenticate(&live.config.access, &with_bearer(&headers))?;
        let body = body.map_err(|rejection| super::body_error(rejection, limit))?;
        let req = ChatRequest::parse_for(Endpoint::Chat, &chat_body(&body, true)?)?;
        let decision = crate::pipeline::decide(&live.config, &req).await?;
        Ok::<_, ApiError>(decision.prompt_tokens)
    }
    .await;
    match result {
        Ok(n) => json_response(
            axum::http::StatusCode::OK,
            Bytes::from(serde_json::json!({"input_tokens": n}).to_string()),
        ),
        Err(e) => messages::error_response(&e),
    }
}
