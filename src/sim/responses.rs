//! The sim's native `POST /v1/responses` (OpenAI's Responses API), whole or as its event
//! stream: the request is read as the router reads one, the reply is the chat sim's reply, and
//! the Response object and events are written by the router's own Responses types, so tests
//! can tell a natively served request (a recorded body with `input`) from a translated one
//! (`messages`). Status faults and connection faults apply as on chat; `CutStreamAfter` ends
//! the event stream with `response.failed` and `error` after that many text deltas.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::conn::Conn;
use super::fault::{self, Wire};
use super::handler::{bearer, check_key, error_response, json_response, unix_now, AppState};
use super::reply::Reply;
use super::request::{self, ApiError};
use super::wire::{self, ChunkHead, CompletionId, Usage};
use super::Behavior;
use crate::responses::object::{new_id, ResponseObject};
use crate::sse::response as sse_response;

pub(super) async fn create(
    State(app): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = bearer(&headers);
    let parsed = crate::responses::request::translate(&body).map_err(|e| ApiError {
        status: e.status_code().as_u16(),
        body: serde_json::from_slice(&e.body().to_bytes()).unwrap_or(Value::Null),
    });
    let validated = match check_key(&app.settings, key.as_deref()) {
        Some(err) => Err(err),
        None => parsed.and_then(|t| {
            if app.settings.models.contains(&t.echo.model) {
                Ok(t)
            } else {
                let message = format!("The model `{}` does not exist.", t.echo.model);
                Err(request::model_not_found(&message))
            }
        }),
    };
    let (model, stream) = match &validated {
        Ok(t) => (t.echo.model.clone(), t.chat.contains_key("stream")),
        Err(_) => (String::new(), false),
    };
    let forced = validated.as_ref().err().map(|e| Behavior::Status {
        status: e.status,
        body: e.body.clone(),
    });
    let recorded = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let behavior = app
        .control
        .register(key.clone(), model, stream, recorded, forced);
    if let Some(resp) = fault::early(
        Wire::OpenAi,
        &behavior,
        key.as_deref(),
        &conn,
        &app.shutdown,
    ) {
        return resp;
    }
    app.pause(app.settings.first_byte_latency).await;
    let cut = match behavior {
        Behavior::CutStreamAfter { chunks } => Some(chunks),
        _ => None,
    };
    let t = match (behavior, validated) {
        (Behavior::Status { status, body }, _) => return error_response(status, &body),
        (Behavior::RateLimited { .. }, _) => {
            let body = request::error_body(
                "Rate limit reached (simulated).",
                "requests",
                None,
                Some("rate_limit_exceeded"),
            );
            return error_response(429, &body);
        }
        (_, Ok(t)) => t,
        (_, Err(e)) => return error_response(e.status, &e.body),
    };
    let chat = Value::Object(t.chat_body(&[]));
    let mut req = match request::parse_request(&chat) {
        Ok(r) => r,
        Err(e) => return error_response(e.status, &e.body),
    };
    let reply = Reply::new(&mut req, app.settings.reply_tokens);
    let usage = Usage::new(req.prompt_tokens, reply.words);
    let id = CompletionId(app.control.next_id());
    let created = unix_now();
    let response_id = new_id("resp");
    if !stream {
        let full = wire::completion_json(id, created, &req.model, &reply, usage);
        return match ResponseObject::from_chat(response_id, &t.echo, &full) {
            Ok(r) => json_response(StatusCode::OK, serde_json::to_vec(&r).unwrap_or_default()),
            Err(e) => error_response(500, &request::error_body(&e, "server_error", None, None)),
        };
    }
    let head = ChunkHead {
        id,
        created,
        model: req.model,
        include_usage: true,
    };
    let pacing = (app.settings.token_delay, app.settings.jitter);
    // a cut stream ends with `response.failed` and `error`, as OpenAI's does
    let chunks = super::sse::sse_body(head, reply, usage, cut, pacing, app.shutdown.clone());
    let events = crate::responses::chat_stream_as_events(chunks, response_id, &t.echo);
    sse_response(Body::from_stream(events))
}
