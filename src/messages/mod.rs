//! The Anthropic Messages API inbound (`POST /v1/messages`, `/v1/messages/count_tokens`):
//! Anthropic-speaking clients routed by the same policies and pipeline as chat.
//!
//! A Messages request is translated once, at the edge, into the router's chat request
//! ([`request`]); the pipeline then authenticates, limits, classifies, routes, caches, fails
//! over across wires and records it exactly as a chat completion (the ledger's endpoint is
//! `chat`). Its answer, error or relayed stream is translated back on the way out ([`reply`],
//! [`events`]): Anthropic's `message` object, its event sequence, and its error shape
//! `{"type":"error","error":{"type","message"}}` with the same statuses. The client's own body
//! rides along ([`ANTHROPIC_NATIVE`]): Anthropic-wire candidates send it natively (`thinking`,
//! `top_k`, `cache_control`, signed thinking blocks intact); other wires get the translation.

pub(crate) mod events;
pub(crate) mod reply;
pub(crate) mod request;

use std::convert::Infallible;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

pub(crate) use request::ANTHROPIC_NATIVE;

/// The largest whole answer translated back (the pipeline's answers are already bounded by
/// each provider's `max_response_bytes`).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The pipeline's response to a translated request, in Anthropic's shapes: the JSON answer as
/// a `message`, an error as Anthropic's error object, an event stream as Anthropic's events.
/// Every header (`x-switchyard-*`, `retry-after`, rate limits) is kept; `request-id` is added.
pub(crate) async fn respond(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    if let Some(id) = parts.headers.get("x-request-id").cloned() {
        parts.headers.insert("request-id", id);
    }
    let is_stream = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_stream && parts.status == StatusCode::OK {
        let input = parts
            .headers
            .get("x-switchyard-prompt-tokens")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let body = Body::from_stream(translate(body, events::Events::new(input)));
        return Response::from_parts(parts, body);
    }
    let bytes = axum::body::to_bytes(body, MAX_ANSWER_BYTES)
        .await
        .unwrap_or_default();
    let value = if parts.status == StatusCode::OK {
        match serde_json::from_slice(&bytes) {
            Ok(v) => reply::message(&v),
            Err(e) => {
                parts.status = StatusCode::BAD_GATEWAY;
                let msg = format!("The answer could not be translated: {e}");
                serde_json::json!({"type": "error", "error": {"type": "api_error", "message": msg}})
            }
        }
    } else {
        reply::error(parts.status, &bytes)
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(value.to_string()))
}

/// An error response in Anthropic's shape, for refusals made before the pipeline.
pub(crate) fn error_response(e: &crate::error::ApiError) -> Response {
    let status = e.status_code();
    let body = reply::error(status, &e.body().to_bytes());
    let mut resp = crate::openai::json_response(status, Bytes::from(body.to_string()));
    if let Some(d) = e.retry_after() {
        let secs = d.as_secs_f64().ceil().max(1.0) as u64;
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The relayed OpenAI stream as Anthropic events; dropping it drops the relay (the request
/// then ends as a client disconnect, as for chat).
fn translate(
    body: Body,
    events: events::Events,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let inner = body.into_data_stream();
    futures_util::stream::unfold(Some((inner, events)), |state| async move {
        let (mut inner, mut ev) = state?;
        loop {
            let mut out = Vec::new();
            if let Some(Ok(bytes)) = inner.next().await {
                ev.push(&bytes, &mut out);
                if !out.is_empty() {
                    return Some((Ok(Bytes::from(out)), Some((inner, ev))));
                }
            } else {
                ev.end(&mut out);
                return (!out.is_empty()).then(|| (Ok(Bytes::from(out)), None));
            }
        }
    })
}
