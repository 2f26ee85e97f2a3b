//! Simulated Anthropic Messages upstream (`POST /v1/messages`), scripted like the OpenAI sim.
//!
//! It speaks Anthropic's wire format: `x-api-key` and `anthropic-version` headers, `max_tokens`
//! required, content blocks, `stop_reason`, SSE events (`message_start`, `content_block_*`,
//! `message_delta`, `message_stop`, `ping`) and `{"type":"error","error":{..}}` errors.
//! Deterministic rules tests rely on:
//! - Tokens as in the OpenAI sim; the `system` prompt's tokens (`ceil(chars/4) + 4`) are
//!   reported as `cache_read_input_tokens` (as if cached by an earlier call), the rest as
//!   `input_tokens`.
//! - With `tools` (and `tool_choice` not `none`) and a last message holding no `tool_result`,
//!   the answer is one `tool_use` of the chosen (or first) tool with input
//!   `{"query": <first words of the last user message>, "options": {"n": 1}}`.
//! - [`Behavior::Status`] bodies are sent verbatim, so tests script Anthropic error bodies
//!   (e.g. 529 `overloaded_error`); [`Behavior::RateLimited`] sends a 429 `rate_limit_error`.
//! - The fault modes answer with text even when tools are offered; their terminal event is
//!   `message_stop`, their keep-alive blank the `ping` event.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::conn::Conn;
use super::fault::{self, Wire};
use super::play::{self, Framing, Play};
use super::reply::Reply;
use super::request::{parse_request, ChatRequest};
use super::sse::{cut_connection, pause};
use super::{Behavior, SimControl, SimSettings, SimUpstream};

struct App {
    settings: SimSettings,
    control: SimControl,
    shutdown: watch::Receiver<()>,
}

/// Starts an Anthropic-wire sim on 127.0.0.1 with an OS-chosen port; `base_url()` ends in
/// `/v1`, so the provider's calls go to `/v1/messages` as at api.anthropic.com.
pub async fn spawn_anthropic(settings: SimSettings) -> std::io::Result<SimUpstream> {
    spawn_anthropic_on(settings, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Like [`spawn_anthropic`] on a chosen address.
pub async fn spawn_anthropic_on(
    settings: SimSettings,
    addr: SocketAddr,
) -> std::io::Result<SimUpstream> {
    super::serve(addr, settings.name.clone(), |control, shutdown| {
        let app = Arc::new(App {
            settings,
            control,
            shutdown,
        });
        Router::new()
            .route("/v1/messages", post(messages))
            .fallback(|| async { error(404, "not_found_error", "Not found") })
            .with_state(app)
    })
    .await
}

/// Anthropic's error shape: `{"type":"error","error":{"type","message"}}`.
pub(super) fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

fn respond(status: u16, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn error(status: u16, kind: &str, message: &str) -> Response {
    respond(
        status,
        "application/json",
        error_body(kind, message).to_string(),
    )
}

/// Auth, version header, JSON and required fields, in Anthropic's order; Err is (status, body).
fn validate(
    app: &App,
    headers: &HeaderMap,
    parsed: &Result<Value, String>,
) -> Result<ChatRequest, (u16, Value)> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if let Some(keys) = &app.settings.keys {
        if !key.is_some_and(|k| keys.iter().any(|ok| ok == k)) {
            return Err((401, error_body("authentication_error", "invalid x-api-key")));
        }
    }
    if headers.get("anthropic-version").is_none() {
        let m = "anthropic-version: header is required";
        return Err((400, error_body("invalid_request_error", m)));
    }
    let v = parsed
        .as_ref()
        .map_err(|e| (400, error_body("invalid_request_error", e)))?;
    if v.get("max_tokens").and_then(Value::as_u64).is_none() {
        let m = "max_tokens: Field required";
        return Err((400, error_body("invalid_request_error", m)));
    }
    let last = v["messages"].as_array().and_then(|m| m.last());
    let prefill = last
        .filter(|m| m["role"] == "assistant")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(b) => b.iter().filter_map(|x| x["text"].as_str()).collect(),
            _ => String::new(),
        });
    if prefill.is_some_and(|p| p.ends_with(char::is_whitespace)) {
        // as api.anthropic.com answers a prefill ending in whitespace
        let m = "messages: final assistant content cannot end with trailing whitespace";
        return Err((400, error_body("invalid_request_error", m)));
    }
    let model = v.get("model").and_then(Value::as_str).unwrap_or_default();
    if !app.settings.models.iter().any(|m| m == model) {
        let m = format!("model: {model}");
        return Err((404, error_body("not_found_error", &m)));
    }
    parse_request(v).map_err(|e| {
        let m = e.body["error"]["message"]
            .as_str()
            .unwrap_or("invalid request");
        (400, error_body("invalid_request_error", m))
    })
}

async fn messages(
    State(app): State<Arc<App>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Result<Value, String> = serde_json::from_slice(&body).map_err(|e| e.to_string());
    let get = |k: &str| parsed.as_ref().ok().and_then(|v| v.get(k).cloned());
    let model = get("model").and_then(|m| m.as_str().map(str::to_owned));
    let stream = get("stream").and_then(|s| s.as_bool()).unwrap_or(false);
    let (req, forced) = match validate(&app, &headers, &parsed) {
        Ok(req) => (Some(req), None),
        Err((status, body)) => (None, Some(Behavior::Status { status, body })),
    };
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let value = parsed.clone().unwrap_or(Value::Null);
    let behavior = app.control.register(
        key.clone(),
        model.unwrap_or_default(),
        stream,
        value.clone(),
        forced,
    );
    pause(
        app.settings.first_byte_latency,
        app.settings.jitter,
        &app.shutdown,
    )
    .await;
    let early = fault::early(
        Wire::Anthropic,
        &behavior,
        key.as_deref(),
        &conn,
        &app.shutdown,
    );
    if let Some(resp) = early {
        return resp;
    }
    match behavior {
        Behavior::Status { status, body } => respond(status, "application/json", body.to_string()),
        Behavior::RateLimited { retry_after_secs } => {
            let mut resp = error(
                429,
                "rate_limit_error",
                "Number of requests has exceeded your rate limit (simulated)",
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            resp
        }
        Behavior::Stall => {
            let _ = app.shutdown.clone().changed().await;
            error(529, "overloaded_error", "simulated upstream shut down")
        }
        other => match req {
            Some(req) => answer(&app, other, req, &value),
            None => error(500, "api_error", "sim: request missing"),
        },
    }
}

/// The answer's content blocks, stop reason and usage.
struct Plan {
    id: String,
    model: String,
    blocks: Vec<Value>,
    words: Vec<String>,
    stop_reason: &'static str,
    usage: Value,
}

/// Plans the answer to `body`; with `text_only` (the fault modes) a text answer even when
/// tools are offered.
fn plan(
    app: &App,
    behavior: &Behavior,
    mut req: ChatRequest,
    body: &Value,
    text_only: bool,
) -> Plan {
    let system = match body.get("system") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(b)) => b.iter().filter_map(|x| x.get("text")?.as_str()).collect(),
        _ => String::new(),
    };
    let cached = if system.is_empty() {
        0
    } else {
        system.chars().count().div_ceil(4) as u64 + 4
    };
    let id = format!("msg_sim_{}", app.control.next_id());
    let last = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .unwrap_or_default();
    let has_result = last["content"]
        .as_array()
        .is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"));
    let tools = body["tools"]
        .as_array()
        .filter(|t| !t.is_empty() && !text_only);
    let choice = &body["tool_choice"];
    let tool = match tools {
        Some(t) if !has_result && choice["type"] != "none" => Some(
            choice["name"]
                .as_str()
                .or(t[0]["name"].as_str())
                .unwrap_or("tool")
                .to_owned(),
        ),
        _ => None,
    };
    let (blocks, words, stop_reason, output) = if let Some(name) = tool {
        let input = json!({"query": req.echo.join(" "), "options": {"n": 1}});
        let out = input.to_string().len().div_ceil(4) as u64;
        let block = json!({"type": "tool_use", "id": format!("toolu_sim_{id}"), "name": name, "input": input});
        (vec![block], Vec::new(), "tool_use", out)
    } else {
        let reply = Reply::planned(behavior, &mut req, app.settings.reply_tokens);
        let words: Vec<String> = (0..reply.words)
            .map(|i| reply.piece(i).to_string())
            .collect();
        let stop = if reply.finish == "length" {
            "max_tokens"
        } else {
            "end_turn"
        };
        let block = json!({"type": "text", "text": words.concat()});
        (vec![block], words.clone(), stop, reply.words as u64)
    };
    Plan {
        id,
        model: req.model,
        blocks,
        words,
        stop_reason,
        usage: json!({"input_tokens": req.prompt_tokens, "output_tokens": output,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": cached}),
    }
}

fn answer(app: &App, behavior: Behavior, req: ChatRequest, body: &Value) -> Response {
    let stream = body["stream"].as_bool().unwrap_or(false);
    if play::is_body_fault(&behavior) {
        let p = plan(app, &behavior, req, body, true);
        let play = Play {
            wire: Wire::Anthropic,
            stream,
            pieces: p.words.clone(),
            pacing: (app.settings.token_delay, app.settings.jitter),
            shutdown: app.shutdown.clone(),
        };
        return play::answer(&behavior, p, play)
            .unwrap_or_else(|| error(500, "api_error", "sim: not a body fault"));
    }
    let p = plan(app, &behavior, req, body, false);
    let cut = match behavior {
        Behavior::CutStreamAfter { chunks } => Some(chunks),
        _ => None,
    };
    let malformed = behavior == Behavior::Malformed;
    if !stream {
        let full = Bytes::from(message(&p, json!(p.blocks)).to_string());
        if malformed {
            return respond(200, "application/json", full.slice(..full.len() / 2));
        }
        if cut.is_some() {
            let part = full.slice(..24);
            let body = stream::once(async { Ok(part) }).chain(stream::once(cut_connection()));
            return respond(200, "application/json", Body::from_stream(body));
        }
        return respond(200, "application/json", full);
    }
    if malformed {
        return respond(
            200,
            "text/event-stream",
            "event: message_start\ndata: {\"type\":\"message_st\n\n",
        );
    }
    let events = stream_events(&p);
    let state = (
        events,
        app.settings.token_delay,
        app.settings.jitter,
        app.shutdown.clone(),
        cut,
        0usize,
    );
    let body = stream::unfold(
        state,
        |(mut evs, delay, jitter, shutdown, cut, sent)| async move {
            let (bytes, paced) = evs.pop_front()?;
            if paced {
                if cut.is_some_and(|c| sent >= c) {
                    return Some((
                        cut_connection().await,
                        (VecDeque::new(), delay, jitter, shutdown, cut, sent),
                    ));
                }
                pause(delay, jitter, &shutdown).await;
            }
            let sent = sent + usize::from(paced);
            Some((Ok(bytes), (evs, delay, jitter, shutdown, cut, sent)))
        },
    );
    crate::sse::response(Body::from_stream(body))
}

fn event(kind: &str, data: Value) -> Bytes {
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

/// Every SSE event of a streamed answer; `true` marks paced (and cuttable) content deltas.
fn stream_events(p: &Plan) -> VecDeque<(Bytes, bool)> {
    let output = p.usage["output_tokens"].clone();
    let mut out = VecDeque::new();
    out.push_back((message_start(p), false));
    for (i, block) in p.blocks.iter().enumerate() {
        let mut start = block.clone();
        if start["type"] == "text" {
            start["text"] = "".into();
        } else {
            start["input"] = json!({});
        }
        out.push_back((
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": i, "content_block": start}),
            ),
            false,
        ));
        out.push_back((event("ping", json!({"type": "ping"})), false));
        let deltas: Vec<Value> = if block["type"] == "text" {
            p.words
                .iter()
                .map(|w| json!({"type": "text_delta", "text": w}))
                .collect()
        } else {
            let s = block["input"].to_string();
            let (a, b) = s.split_at(s.len() / 2);
            vec![
                json!({"type": "input_json_delta", "partial_json": ""}),
                json!({"type": "input_json_delta", "partial_json": a}),
                json!({"type": "input_json_delta", "partial_json": b}),
            ]
        };
        for d in deltas {
            out.push_back((
                event(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i, "delta": d}),
                ),
                true,
            ));
        }
        out.push_back((
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": i}),
            ),
            false,
        ));
    }
    out.push_back((message_delta(p, output), false));
    out.push_back((
        event("message_stop", json!({"type": "message_stop"})),
        false,
    ));
    out
}

/// The whole (non-streamed) message with these content blocks.
fn message(p: &Plan, content: Value) -> Value {
    json!({"id": p.id, "type": "message", "role": "assistant", "model": p.model,
        "content": content, "stop_reason": p.stop_reason, "stop_sequence": null,
        "usage": p.usage})
}

/// `message_start`: the message without content, one output token so far.
fn message_start(p: &Plan) -> Bytes {
    let mut usage = p.usage.clone();
    usage["output_tokens"] = 1.into();
    let mut start = message(p, json!([]));
    start["stop_reason"] = Value::Null;
    start["usage"] = usage;
    event(
        "message_start",
        json!({"type": "message_start", "message": start}),
    )
}

/// `message_delta`: the stop reason and the output token count.
fn message_delta(p: &Plan, output: Value) -> Bytes {
    event(
        "message_delta",
        json!({"type": "message_delta",
            "delta": {"stop_reason": p.stop_reason, "stop_sequence": null},
            "usage": {"output_tokens": output}}),
    )
}

/// A text answer as the fault modes play it (see [`play`]): one text block at index 0.
impl Framing for Plan {
    fn lead(&self) -> Vec<Bytes> {
        let block = json!({"type": "text", "text": ""});
        vec![
            message_start(self),
            event(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0, "content_block": block}),
            ),
            event("ping", json!({"type": "ping"})),
        ]
    }

    fn content(&self, _: usize, text: &str) -> Bytes {
        let delta = json!({"type": "text_delta", "text": text});
        event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": delta}),
        )
    }

    fn tail(&self, n: usize, terminal: bool) -> Vec<Bytes> {
        let mut out = vec![
            event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            message_delta(self, json!(n)),
        ];
        if terminal {
            out.push(event("message_stop", json!({"type": "message_stop"})));
        }
        out
    }

    fn whole(&self, text: &str, _: bool) -> Vec<u8> {
        message(self, json!([{"type": "text", "text": text}]))
            .to_string()
            .into_bytes()
    }
}
