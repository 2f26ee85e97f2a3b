//! The sim's `/v1/completions` (legacy text completions) and `/v1/embeddings`: enough of the
//! OpenAI wire format to route, stream, price and fail them like chat (Status, RateLimited and
//! the fault modes that need no answer — WireError, RateLimitedRaw, EchoKey, HugeError, the
//! resets — apply; the others answer normally).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::conn::Conn;
use super::fault::{self, Wire};
use super::handler::{bearer, check_key, error_response, json_response, unix_now, AppState};
use super::Behavior;

const WORDS: &[&str] = &[
    "route", "cost", "model", "answer", "latency", "saving", "token", "stream",
];

/// Registers the call and returns the failure to answer with, if any.
pub(super) fn gate(
    app: &AppState,
    conn: &Conn,
    headers: &HeaderMap,
    body: &Bytes,
    need: &str,
) -> Result<Value, Box<Response>> {
    registered(app, conn, headers, body, need).map(|(v, _)| v)
}

/// [`gate`], with [`Behavior::Stall`] honoured: the answer waits until the sim is dropped.
pub(super) async fn gate_stalling(
    app: &AppState,
    conn: &Conn,
    headers: &HeaderMap,
    body: &Bytes,
    need: &str,
) -> Result<Value, Box<Response>> {
    match registered(app, conn, headers, body, need)? {
        (_, Behavior::Stall) => {
            let mut s = app.shutdown.clone();
            let _ = s.changed().await;
            Err(Box::new(error_response(
                503,
                &err("simulated upstream shut down", None),
            )))
        }
        (v, _) => Ok(v),
    }
}

/// [`gate`]'s work, also returning the behavior the call was given.
fn registered(
    app: &AppState,
    conn: &Conn,
    headers: &HeaderMap,
    body: &Bytes,
    need: &str,
) -> Result<(Value, Behavior), Box<Response>> {
    let key = bearer(headers);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let model = parsed
        .as_ref()
        .and_then(|v| v["model"].as_str())
        .unwrap_or_default()
        .to_owned();
    let stream = parsed
        .as_ref()
        .and_then(|v| v["stream"].as_bool())
        .unwrap_or(false);
    let forced = match (check_key(&app.settings, key.as_deref()), &parsed) {
        (Some(e), _) => Some(Behavior::Status {
            status: e.status,
            body: e.body,
        }),
        (None, None) => Some(Behavior::Status {
            status: 400,
            body: err("We could not parse the JSON body of your request.", None),
        }),
        (None, Some(v)) if v.get(need).is_none() => Some(Behavior::Status {
            status: 400,
            body: err(
                &format!("Missing required parameter: '{need}'."),
                Some(need),
            ),
        }),
        (None, Some(_)) if !app.settings.models.contains(&model) => Some(Behavior::Status {
            status: 404,
            body: err(
                &format!("The model `{model}` does not exist."),
                Some("model"),
            ),
        }),
        _ => None,
    };
    match app.control.register(
        key.clone(),
        model,
        stream,
        parsed.clone().unwrap_or(Value::Null),
        forced,
    ) {
        Behavior::Status { status, body } => Err(Box::new(error_response(status, &body))),
        Behavior::RateLimited { retry_after_secs } => {
            let mut resp = error_response(
                429,
                &json!({"error": {"message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Err(Box::new(resp))
        }
        other => match fault::early(Wire::OpenAi, &other, key.as_deref(), conn, &app.shutdown) {
            Some(resp) => Err(Box::new(resp)),
            None => Ok((parsed.unwrap_or(Value::Null), other)),
        },
    }
}

fn err(message: &str, param: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": null}})
}

/// Rough prompt size, as the chat sim counts it: characters / 4, rounded up.
fn tokens_of(v: &Value) -> u64 {
    match v {
        Value::String(s) => (s.chars().count() as u64).div_ceil(4),
        Value::Array(a) => a.iter().map(tokens_of).sum(),
        Value::Number(_) => 1,
        _ => 0,
    }
}

/// A completions answer, with the key's `x-ratelimit-*` headers when the sim advertises a quota.
pub(super) async fn completions(
    State(app): State<Arc<AppState>>,
    conn: ConnectInfo<Conn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = bearer(&headers);
    let len = body.len();
    let resp = complete(&app, conn, &headers, &body);
    app.with_quota(key.as_deref(), len, resp)
}

fn complete(
    app: &AppState,
    ConnectInfo(conn): ConnectInfo<Conn>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let req = match gate(app, &conn, headers, body, "prompt") {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let model = req["model"].as_str().unwrap_or_default().to_owned();
    let max = req["max_tokens"].as_u64().unwrap_or(16) as usize;
    let words = max.min(app.settings.reply_tokens.max(1));
    let finish = if words < app.settings.reply_tokens {
        "length"
    } else {
        "stop"
    };
    let prompt_tokens = tokens_of(&req["prompt"]);
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": words, "total_tokens": prompt_tokens + words as u64});
    let id = format!("cmpl-sim-{}", app.control.next_id());
    let created = unix_now();
    let piece = |i: usize| format!("{} ", WORDS[i % WORDS.len()]);
    if !req["stream"].as_bool().unwrap_or(false) {
        let text: String = (0..words).map(piece).collect();
        let body = json!({"id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}], "usage": usage});
        return json_response(
            StatusCode::OK,
            serde_json::to_vec(&body).unwrap_or_default(),
        );
    }
    let include_usage = req["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false);
    let chunk = |text: &str, finish: Option<&str>| {
        let c = json!({"id": id, "object": "text_completion", "created": created, "model": model,
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let mut out: Vec<String> = (0..words).map(|i| chunk(&piece(i), None)).collect();
    out.push(chunk("", Some(finish)));
    if include_usage {
        let u = json!({"id": id, "object": "text_completion", "created": created, "model": model, "choices": [], "usage": usage});
        out.push(format!("data: {u}\n\n"));
    }
    out.push("data: [DONE]\n\n".into());
    let mut resp = Response::new(Body::from(out.concat()));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    resp
}

/// An embeddings answer, with the key's `x-ratelimit-*` headers when the sim advertises a quota.
pub(super) async fn embeddings(
    State(app): State<Arc<AppState>>,
    conn: ConnectInfo<Conn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = bearer(&headers);
    let len = body.len();
    let resp = embed(&app, conn, &headers, &body);
    app.with_quota(key.as_deref(), len, resp)
}

fn embed(
    app: &AppState,
    ConnectInfo(conn): ConnectInfo<Conn>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let req = match gate(app, &conn, headers, body, "input") {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let inputs: Vec<Value> = match &req["input"] {
        Value::Array(items) if items.iter().all(|i| !i.is_number()) => items.clone(),
        other => vec![other.clone()],
    };
    let dims = req["dimensions"].as_u64().unwrap_or(8).clamp(1, 4096) as usize;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let seed = input
                .to_string()
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
            let v: Vec<f64> = (0..dims)
                .map(|d| (((seed >> (d % 48)) & 0xff) as f64 / 255.0) - 0.5)
                .collect();
            json!({"object": "embedding", "index": i, "embedding": v})
        })
        .collect();
    let prompt_tokens = tokens_of(&req["input"]);
    let body = json!({"object": "list", "data": data, "model": req["model"], "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}});
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}
