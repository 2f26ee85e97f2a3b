//! HTTP side of the sim: routes, auth and validation, failure injection, response bodies.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};

use super::conn::Conn;
use super::fault::{self, Wire};
use super::handler::{bearer, check_key, error_response, json_response, unix_now, AppState};
use super::play::{self, Framing, Play};
use super::reply::Reply;
use super::request::{self, ApiError, ChatRequest};
use super::sse::{self, cut_connection};
use super::tools;
use super::wire::{self, ChunkHead, CompletionId, Delta, Usage};
use super::Behavior;
use crate::sse::response as sse_response;

/// The sim's routes; unknown paths get an OpenAI-shaped 404.
pub(super) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(super::legacy::completions))
        .route("/v1/embeddings", post(super::legacy::embeddings))
        .route("/v1/moderations", post(super::moderation::moderations))
        .route("/v1/responses", post(super::responses::create))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .fallback(not_found)
        .with_state(state)
}

/// A chat answer, with the key's `x-ratelimit-*` headers when the sim advertises a quota.
async fn chat(
    State(app): State<Arc<AppState>>,
    conn: ConnectInfo<Conn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = bearer(&headers);
    let len = body.len();
    let resp = chat_answer(State(Arc::clone(&app)), conn, headers, body).await;
    app.with_quota(key.as_deref(), len, resp)
}

async fn chat_answer(
    State(app): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    app.control.note_traceparent(&headers);
    let key = bearer(&headers);
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let (model, stream) = match &parsed {
        Ok(v) => (
            v.get("model")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        ),
        Err(_) => (String::new(), false),
    };
    // Precedence as at OpenAI: auth, then body parsing and validation, then model lookup.
    let validated = match (check_key(&app.settings, key.as_deref()), &parsed) {
        (Some(err), _) => Err(err),
        (None, Err(e)) => Err(ApiError {
            status: 400,
            body: request::error_body(
                &format!("We could not parse the JSON body of your request. ({e})"),
                "invalid_request_error",
                None,
                None,
            ),
        }),
        (None, Ok(v)) => request::parse_request(v).and_then(|req| {
            if app.settings.models.contains(&req.model) {
                Ok(req)
            } else {
                let message = format!(
                    "The model `{}` does not exist or you do not have access to it.",
                    req.model
                );
                Err(request::model_not_found(&message))
            }
        }),
    };
    let (forced, req) = match validated {
        Ok(req) => (over_rate(&app, key.as_deref()), Some(req)),
        Err(e) => (
            Some(Behavior::Status {
                status: e.status,
                body: e.body,
            }),
            None,
        ),
    };
    let tool = parsed.as_ref().ok().and_then(tools::tool_to_call);
    let body = parsed.unwrap_or(Value::Null);
    let behavior = app
        .control
        .register(key.clone(), model, stream, body, forced);
    tracing::trace!(sim = %app.settings.name, ?behavior, "chat request");
    let early = fault::early(
        Wire::OpenAi,
        &behavior,
        key.as_deref(),
        &conn,
        &app.shutdown,
    );
    if let Some(resp) = early {
        app.pause(app.settings.first_byte_latency).await;
        return resp;
    }

    match (behavior, req) {
        (Behavior::Status { status, body }, _) => {
            app.pause(app.settings.first_byte_latency).await;
            error_response(status, &body)
        }
        (Behavior::RateLimited { retry_after_secs }, req) => {
            app.pause(app.settings.first_byte_latency).await;
            let model = req.as_ref().map_or("this model", |r| r.model.as_str());
            let message = format!(
                "Rate limit reached for {model} on requests per min (RPM) at simulated provider '{}'. Please try again in {retry_after_secs}s.",
                app.settings.name
            );
            let body = request::error_body(&message, "requests", None, Some("rate_limit_exceeded"));
            let mut resp = error_response(429, &body);
            let headers = resp.headers_mut();
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            headers.insert(
                "x-ratelimit-remaining-requests",
                HeaderValue::from_static("0"),
            );
            resp
        }
        (Behavior::Stall, _) => {
            let mut shutdown = app.shutdown.clone();
            let _ = shutdown.changed().await;
            error_response(
                503,
                &request::error_body("simulated upstream shut down", "server_error", None, None),
            )
        }
        (Behavior::Ok, Some(req)) if tool.is_some() => {
            answer_tool(&app, tool.unwrap_or_default(), req).await
        }
        (behavior, Some(req)) => answer(&app, behavior, req).await,
        // Unreachable: a missing request always comes with a forced Status behavior.
        (_, None) => error_response(
            500,
            &request::error_body("sim: request missing", "server_error", None, None),
        ),
    }
}

/// The 429 a key past its `key_rpm` gets (with a whole-second Retry-After), if any.
fn over_rate(app: &AppState, key: Option<&str>) -> Option<Behavior> {
    let wait = app
        .key_rate
        .as_ref()?
        .check(key.unwrap_or_default(), tokio::time::Instant::now())
        .err()?;
    Some(Behavior::RateLimited {
        retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
    })
}

/// Answers a request offering tools with a call of `name` (see [`tools`]).
async fn answer_tool(app: &AppState, name: String, req: ChatRequest) -> Response {
    app.pause(app.settings.first_byte_latency).await;
    let n = app.control.next_id();
    let call = tools::ToolCall::new(name, &req.echo, n);
    let head = tools::Head {
        id: CompletionId(n),
        created: unix_now(),
        model: &req.model,
        usage: Usage::new(req.prompt_tokens, call.tokens()),
    };
    if !req.stream {
        return json_response(StatusCode::OK, tools::completion(&head, &call));
    }
    sse_response(tools::sse(&head, &call, req.include_usage))
}

/// Produces the successful (or deliberately broken) answer to a valid request.
async fn answer(app: &AppState, behavior: Behavior, mut req: ChatRequest) -> Response {
    let settings = &app.settings;
    let reply = Reply::planned(&behavior, &mut req, settings.reply_tokens);
    let id = CompletionId(app.control.next_id());
    let created = unix_now();
    let usage = Usage::new(req.prompt_tokens, reply.words);
    let cut = match behavior {
        Behavior::CutStreamAfter { chunks } => Some(chunks),
        _ => None,
    };
    let malformed = behavior == Behavior::Malformed;

    if play::is_body_fault(&behavior) {
        app.pause(settings.first_byte_latency).await;
        let play = Play {
            wire: Wire::OpenAi,
            stream: req.stream,
            pieces: (0..reply.words)
                .map(|i| reply.piece(i).to_string())
                .collect(),
            pacing: (settings.token_delay, settings.jitter),
            shutdown: app.shutdown.clone(),
        };
        let frame = Frame {
            head: ChunkHead {
                id,
                created,
                model: req.model,
                include_usage: req.include_usage,
            },
            usage,
            finish: reply.finish,
        };
        return play::answer(&behavior, frame, play).unwrap_or_else(|| {
            error_response(
                500,
                &request::error_body("sim: not a body fault", "server_error", None, None),
            )
        });
    }

    if !req.stream {
        // Non-streaming generation is modelled at 4x streaming speed (see module docs).
        let generation = settings
            .token_delay
            .saturating_mul(u32::try_from(reply.words).unwrap_or(u32::MAX))
            / 4;
        app.pause(settings.first_byte_latency.saturating_add(generation))
            .await;
        let full = wire::completion_json(id, created, &req.model, &reply, usage);
        if malformed {
            let half = full.len() / 2;
            return json_response(StatusCode::OK, Bytes::from(full).slice(..half));
        }
        if cut.is_some() {
            let part = Bytes::from(full).slice(..24);
            let body = stream::once(async { Ok(part) }).chain(stream::once(cut_connection()));
            return json_response(StatusCode::OK, Body::from_stream(body));
        }
        return json_response(StatusCode::OK, full);
    }

    app.pause(settings.first_byte_latency).await;
    let head = ChunkHead {
        id,
        created,
        model: req.model,
        include_usage: req.include_usage,
    };
    let body = if malformed {
        let mut broken = Vec::from(
            &head.choice(
                Delta::Role {
                    role: "assistant",
                    content: "",
                },
                None,
            )[..],
        );
        broken.truncate(broken.len() / 2);
        broken.extend_from_slice(b"\n\n");
        broken.extend_from_slice(wire::DONE);
        Body::from(broken)
    } else {
        let pacing = (settings.token_delay, settings.jitter);
        sse::sse_body(head, reply, usage, cut, pacing, app.shutdown.clone())
    };
    sse_response(body)
}

/// An OpenAI chat answer as the fault modes play it (see [`play`]).
struct Frame {
    head: ChunkHead,
    usage: Usage,
    finish: &'static str,
}

impl Framing for Frame {
    fn lead(&self) -> Vec<Bytes> {
        let role = Delta::Role {
            role: "assistant",
            content: "",
        };
        vec![self.head.choice(role, None)]
    }

    fn content(&self, _: usize, text: &str) -> Bytes {
        self.head.choice(Delta::Text { content: text }, None)
    }

    fn tail(&self, _: usize, terminal: bool) -> Vec<Bytes> {
        let mut out = vec![self.head.choice(Delta::Empty {}, Some(self.finish))];
        if self.head.include_usage {
            out.push(self.head.usage(self.usage));
        }
        if terminal {
            out.push(Bytes::from_static(wire::DONE));
        }
        out
    }

    fn whole(&self, text: &str, _: bool) -> Vec<u8> {
        let h = &self.head;
        wire::completion_text(h.id, h.created, &h.model, text, self.finish, self.usage)
    }
}

async fn models(State(app): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let key = bearer(&headers);
    if let Some(err) = check_key(&app.settings, key.as_deref()) {
        return error_response(err.status, &err.body);
    }
    let created = unix_now();
    let data: Vec<Value> = app
        .settings
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": app.settings.name}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn health(State(app): State<Arc<AppState>>) -> Response {
    axum::Json(json!({"status": "ok", "name": app.settings.name, "calls": app.control.calls()}))
        .into_response()
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let message = format!("Invalid URL ({method} {})", uri.path());
    error_response(
        404,
        &request::error_body(&message, "invalid_request_error", None, None),
    )
}
