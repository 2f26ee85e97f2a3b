//! A simulated upstream speaking Google Gemini's wire API (`/v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent`, and the embeddings of `gemini_embed.rs`).
//!
//! Shares [`SimSettings`], [`SimControl`] and [`Behavior`] with the OpenAI sim. Auth is the
//! `x-goog-api-key` header. `prompt_tokens` = Σ over contents (and the system instruction) of
//! `ceil(chars(text parts) / 4) + 4`; `candidatesTokenCount` = words. With `tools` (and mode not
//! NONE) and no `functionResponse` in the last turn it answers with a `functionCall` of the first
//! allowed function. A scripted `Behavior::Status` with status 200 sends its body as the answer
//! (as one SSE event when streaming), so tests can script any Gemini response. The fault modes
//! answer with text even when tools are offered; a Gemini stream has no end marker but the
//! `finishReason` of its last chunk, which is what `NoTerminal` leaves out.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::conn::Conn;
use super::fault::{self, Wire};
use super::gemini_embed::embed;
use super::play::{self, Framing, Play};
use super::reply::Reply;
use super::request::{self, ChatRequest};
use super::sse::{cut_connection, pause};
use super::{Behavior, SimControl, SimSettings, SimUpstream};

/// One Gemini sim's state, shared by its connections.
pub(super) struct GeminiSim {
    pub(super) settings: SimSettings,
    pub(super) control: SimControl,
    pub(super) shutdown: watch::Receiver<()>,
}

/// Starts a Gemini-wire sim on 127.0.0.1:0; its API base is `http://{addr}/v1beta`.
pub async fn spawn_gemini(settings: SimSettings) -> std::io::Result<SimUpstream> {
    spawn_gemini_on(settings, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Like [`spawn_gemini`] on a chosen address.
pub async fn spawn_gemini_on(
    settings: SimSettings,
    addr: SocketAddr,
) -> std::io::Result<SimUpstream> {
    super::serve(addr, settings.name.clone(), |control, shutdown| {
        let state = Arc::new(GeminiSim {
            settings,
            control,
            shutdown,
        });
        Router::new()
            .route("/v1beta/models/{call}", post(generate))
            .with_state(state)
    })
    .await
}

/// Gemini's error shape: `{"error":{"code","message","status"}}`.
pub(super) fn error_body(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

pub(super) fn respond(status: u16, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub(super) fn json_resp(status: u16, body: &Value) -> Response {
    respond(status, "application/json", body.to_string())
}

fn sse_event(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\r\n\r\n"))
}

/// A missing or unknown key, refused as Gemini does.
pub(super) fn key_refusal(app: &GeminiSim, key: Option<&str>) -> Option<Behavior> {
    let keys = app.settings.keys.as_ref()?;
    let (code, status, msg) = match key {
        None => (403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."),
        Some(k) if !keys.iter().any(|ok| ok == k) => (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
        _ => return None,
    };
    Some(Behavior::Status {
        status: code,
        body: error_body(code, status, msg),
    })
}

pub(super) fn rate_limited(retry_after_secs: u64) -> Response {
    let mut b = error_body(
        429,
        "RESOURCE_EXHAUSTED",
        &format!(
            "Resource has been exhausted (e.g. check quota). Please retry in {retry_after_secs}s."
        ),
    );
    b["error"]["details"] = json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": format!("{retry_after_secs}s")}]);
    json_resp(429, &b)
}

/// Why a request is refused before failure injection (auth, shape, model), as Gemini words it.
fn validate(app: &GeminiSim, key: Option<&str>, model: &str, body: &Value) -> Option<Behavior> {
    let fail = |code: u16, status: &str, msg: &str| {
        Some(Behavior::Status {
            status: code,
            body: error_body(code, status, msg),
        })
    };
    if let Some(refused) = key_refusal(app, key) {
        return Some(refused);
    }
    let contents_ok = body["contents"].as_array().is_some_and(|c| {
        !c.is_empty()
            && c.iter()
                .all(|t| t["parts"].as_array().is_some_and(|p| !p.is_empty()))
    });
    if !contents_ok {
        return fail(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified or a content has no parts");
    }
    if !app.settings.models.iter().any(|m| m == model) {
        let msg = format!("models/{model} is not found for API version v1beta, or is not supported for generateContent.");
        return fail(404, "NOT_FOUND", &msg);
    }
    None
}

async fn generate(
    State(app): State<Arc<GeminiSim>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    Path(call): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let (model, method) = call.split_once(':').unwrap_or((&call, ""));
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        "embedContent" => return embed(&app, &conn, model, false, key, &raw).await,
        "batchEmbedContents" => return embed(&app, &conn, model, true, key, &raw).await,
        _ => return json_resp(404, &error_body(404, "NOT_FOUND", "unknown method")),
    };
    let sse = stream && query.iter().any(|(k, v)| k == "alt" && v == "sse");
    let body: Value = serde_json::from_slice(&raw).unwrap_or_default();
    let forced = if body.is_null() {
        Some(Behavior::Status {
            status: 400,
            body: error_body(400, "INVALID_ARGUMENT", "Invalid JSON payload received."),
        })
    } else {
        validate(&app, key.as_deref(), model, &body)
    };
    // The key as a client sent it, header or `?key=`: what `EchoKey` quotes.
    let sent_key = key.clone().or_else(|| {
        query
            .iter()
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.clone())
    });
    let behavior = app
        .control
        .register(key, model.to_owned(), stream, body.clone(), forced);
    app.pause_first_byte().await;
    let early = fault::early(
        Wire::Gemini,
        &behavior,
        sent_key.as_deref(),
        &conn,
        &app.shutdown,
    );
    if let Some(resp) = early {
        return resp;
    }
    match behavior {
        Behavior::Status { status: 200, body } if sse => {
            respond(200, "text/event-stream", sse_event(&body))
        }
        Behavior::Status { status, body } => json_resp(status, &body),
        Behavior::RateLimited { retry_after_secs } => rate_limited(retry_after_secs),
        Behavior::Stall => {
            let mut s = app.shutdown.clone();
            let _ = s.changed().await;
            json_resp(
                503,
                &error_body(503, "UNAVAILABLE", "simulated upstream shut down"),
            )
        }
        Behavior::Malformed if sse => respond(
            200,
            "text/event-stream",
            "data: {\"candidates\":[{\"content\":{\"par\r\n\r\n",
        ),
        behavior => answer(&app, behavior, model, &body, sse),
    }
}

impl GeminiSim {
    pub(super) async fn pause_first_byte(&self) {
        pause(
            self.settings.first_byte_latency,
            self.settings.jitter,
            &self.shutdown,
        )
        .await;
    }
}

/// Texts of a content's parts, joined.
pub(super) fn text_of(content: &Value) -> String {
    content["parts"]
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|x| x["text"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

pub(super) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The sim's reading of a Gemini request, in the shape the reply generator takes.
fn plan(model: &str, body: &Value, stream: bool) -> ChatRequest {
    let contents = body["contents"].as_array().cloned().unwrap_or_default();
    let system = body.get("systemInstruction").map(text_of);
    let prompt_tokens = contents
        .iter()
        .map(text_of)
        .chain(system)
        .map(|t| t.chars().count().div_ceil(4) as u64 + 4)
        .sum();
    let turns: Vec<(String, String)> = contents
        .iter()
        .map(|c| {
            let role = if c["role"] == "model" {
                "assistant"
            } else {
                "user"
            };
            (role.to_owned(), text_of(c))
        })
        .collect();
    let (continues, before) = match request::continued(&turns) {
        Some((text, before)) => (Some(text), before),
        None => (None, turns.len()),
    };
    let last_user = contents[..before]
        .iter()
        .rev()
        .find(|c| c["role"] == "user")
        .map(text_of)
        .unwrap_or_default();
    let echo = request::echo_words(&last_user);
    ChatRequest {
        model: model.to_owned(),
        stream,
        include_usage: false,
        max_tokens: body["generationConfig"]["maxOutputTokens"]
            .as_u64()
            .map(|n| n as usize),
        prompt_tokens,
        seed: fnv(last_user.as_bytes()) ^ fnv(model.as_bytes()).rotate_left(17),
        echo,
        continues,
    }
}

/// The `functionCall` to answer with, if the request offers tools and is not replying to one.
fn function_call(body: &Value) -> Option<Value> {
    let cfg = &body["toolConfig"]["functionCallingConfig"];
    if cfg["mode"] == "NONE" {
        return None;
    }
    let last = body["contents"].as_array()?.last()?;
    if last["parts"]
        .as_array()?
        .iter()
        .any(|p| p.get("functionResponse").is_some())
    {
        return None;
    }
    let decls: Vec<&Value> = body["tools"]
        .as_array()?
        .iter()
        .filter_map(|t| t["functionDeclarations"].as_array())
        .flatten()
        .collect();
    let allowed = cfg["allowedFunctionNames"][0].as_str();
    let decl = decls
        .iter()
        .find(|d| allowed.is_none_or(|a| d["name"] == a))?;
    let args: serde_json::Map<String, Value> = decl["parameters"]["properties"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(k, s)| {
                    let v = match s["type"].as_str().map(str::to_ascii_lowercase).as_deref() {
                        Some("integer" | "number") => json!(1),
                        Some("boolean") => json!(true),
                        _ => json!("sim"),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    Some(json!({"functionCall": {"name": decl["name"], "args": args}}))
}

fn usage(prompt: u64, words: u64) -> Value {
    json!({"promptTokenCount": prompt, "candidatesTokenCount": words, "totalTokenCount": prompt + words})
}

fn candidate(parts: Value, finish: Option<&str>) -> Value {
    let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(f) = finish {
        c["finishReason"] = json!(f);
        c["safetyRatings"] = json!([]);
    }
    c
}

/// A normal (or deliberately cut / broken) answer.
fn answer(app: &GeminiSim, behavior: Behavior, model: &str, body: &Value, sse: bool) -> Response {
    let mut req = plan(model, body, sse);
    let prompt = req.prompt_tokens;
    let reply = Reply::planned(&behavior, &mut req, app.settings.reply_tokens);
    let finish = if reply.finish == "length" {
        "MAX_TOKENS"
    } else {
        "STOP"
    };
    if play::is_body_fault(&behavior) {
        let play = Play {
            wire: Wire::Gemini,
            stream: sse,
            pieces: (0..reply.words)
                .map(|i| reply.piece(i).to_string())
                .collect(),
            pacing: (app.settings.token_delay, app.settings.jitter),
            shutdown: app.shutdown.clone(),
        };
        let frame = Frame {
            model: model.to_owned(),
            prompt,
            words: reply.words,
            finish,
        };
        return play::answer(&behavior, frame, play).unwrap_or_else(|| {
            json_resp(500, &error_body(500, "INTERNAL", "sim: not a body fault"))
        });
    }
    let call = function_call(body);
    let cut = match behavior {
        Behavior::CutStreamAfter { chunks } => Some(chunks),
        _ => None,
    };
    let events: Vec<Value> = match &call {
        Some(c) => vec![json!({"candidates": [candidate(json!([c]), Some("STOP"))], "usageMetadata": usage(prompt, 5), "modelVersion": model})],
        None if !sse => vec![json!({"candidates": [candidate(json!([{"text": reply.text()}]), Some(finish))], "usageMetadata": usage(prompt, reply.words as u64), "modelVersion": model})],
        None => (0..reply.words.max(1))
            .map(|i| {
                let last = i + 1 >= reply.words;
                let text = if reply.words == 0 { String::new() } else { reply.piece(i).to_string() };
                json!({"candidates": [candidate(json!([{"text": text}]), last.then_some(finish))],
                       "usageMetadata": usage(prompt, (i + 1).min(reply.words) as u64), "modelVersion": model})
            })
            .collect(),
    };
    if !sse {
        let full = events[0].to_string();
        if behavior == Behavior::Malformed {
            return respond(200, "application/json", full[..full.len() / 2].to_owned());
        }
        if cut.is_some() {
            let part = Bytes::from(full).slice(..24);
            let b = stream::once(async { Ok(part) }).chain(stream::once(cut_connection()));
            return respond(200, "application/json", Body::from_stream(b));
        }
        return json_resp(200, &events[0]);
    }
    let keep = cut.map_or(events.len(), |n| n.min(events.len().saturating_sub(1)));
    let (delay, jitter, shutdown) = (
        app.settings.token_delay,
        app.settings.jitter,
        app.shutdown.clone(),
    );
    let body = stream::iter(events.into_iter().take(keep).enumerate())
        .then(move |(i, ev)| {
            let shutdown = shutdown.clone();
            async move {
                if i > 0 {
                    pause(delay, jitter, &shutdown).await;
                }
                Ok::<_, std::io::Error>(sse_event(&ev))
            }
        })
        .chain(stream::iter(cut).then(|_| cut_connection()));
    respond(200, "text/event-stream", Body::from_stream(body))
}

/// A Gemini text answer as the fault modes play it (see [`play`]): no lead events, usage
/// counted up on every chunk, a last chunk with empty text carrying the `finishReason`.
struct Frame {
    model: String,
    prompt: u64,
    words: usize,
    finish: &'static str,
}

impl Frame {
    fn chunk(&self, text: &str, finish: Option<&str>, words: usize) -> Value {
        json!({"candidates": [candidate(json!([{"text": text}]), finish)],
            "usageMetadata": usage(self.prompt, words as u64), "modelVersion": self.model})
    }
}

impl Framing for Frame {
    fn lead(&self) -> Vec<Bytes> {
        Vec::new()
    }

    fn content(&self, i: usize, text: &str) -> Bytes {
        sse_event(&self.chunk(text, None, i + 1))
    }

    fn tail(&self, n: usize, terminal: bool) -> Vec<Bytes> {
        if terminal {
            vec![sse_event(&self.chunk("", Some(self.finish), n))]
        } else {
            Vec::new()
        }
    }

    fn whole(&self, text: &str, terminal: bool) -> Vec<u8> {
        let finish = terminal.then_some(self.finish);
        self.chunk(text, finish, self.words)
            .to_string()
            .into_bytes()
    }
}
