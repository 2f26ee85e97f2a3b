//! OpenAI's Responses API (`POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`) as a
//! surface over the chat pipeline, translated at the edges.
//!
//! [`create`] reads the request once ([`request::translate`]), prepends the stored conversation
//! a `previous_response_id` names ([`store`]), and hands the resulting chat request to
//! [`crate::pipeline::handle`] — the same entry chat uses, so authentication, guardrails,
//! classification, routing, limits, budgets, the response cache, failover across every wire
//! and the ledger line apply unchanged. The answer is translated back: a whole chat answer
//! into a Response object ([`object`]), a relayed chat stream into the Responses event stream
//! ([`events`]). Errors before an answer are the pipeline's own OpenAI-shaped errors; a
//! request the translation refuses goes through the pipeline as a failed body, so it is
//! authenticated first and leaves its ledger line like any other refusal.
//!
//! Candidates whose model serves `/v1/responses` get the client's own body instead
//! ([`native`], [`crate::adapters::responses`]); their answer comes back as the upstream wrote
//! it, and is stored and relayed without translation.
//!
//! The ledger records these requests under the `responses` endpoint.

mod chunk;
pub(crate) mod events;
mod input;
pub(crate) mod native;
pub(crate) mod object;
pub(crate) mod request;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::Value;

use crate::adapters::responses::RESPONSES_NATIVE;
use crate::config::Endpoint;
use crate::error::ApiError;
use crate::openai::json_response;
pub(crate) use crate::response_store::ResponseStore;
use crate::response_store::Stored;
use crate::state::AppState;
use events::Translator;
use object::{new_id, ResponseObject};
use request::Translated;

/// Where a finished response is kept, when it is to be kept.
struct Keep {
    state: Arc<AppState>,
    id: String,
    scope: String,
    /// The conversation before this answer: history and this turn's input.
    before: Vec<Value>,
}

impl Keep {
    /// Stores `response` with the conversation it ends.
    async fn put(self, response: &ResponseObject) {
        let Ok(object) = serde_json::to_vec(response) else {
            return;
        };
        let answer = response.as_chat_message();
        self.put_object(object.into(), answer).await;
    }

    /// Stores a natively served Response (as the upstream wrote it) under its own id.
    async fn put_native(mut self, response: &Value, object: Bytes) {
        if let Some(id) = response.get("id").and_then(Value::as_str) {
            id.clone_into(&mut self.id);
        }
        self.put_object(object, native::chat_message(response))
            .await;
    }

    async fn put_object(self, object: Bytes, answer: Option<Value>) {
        let inputs = self.before.len();
        let mut conversation = self.before;
        conversation.extend(answer);
        let entry = Stored::new(self.scope, object, conversation).with_inputs(inputs);
        if !self.state.responses.put(self.id, entry).await {
            tracing::info!(
                "a response was not stored (over the per-entry bound, or Redis did not take it)"
            );
        }
    }
}

/// `POST /v1/responses`: see the module doc.
pub(crate) async fn create(
    state: &Arc<AppState>,
    request_id: String,
    headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Response {
    let translated = body.and_then(|b| request::translate(&b));
    let t = match translated {
        Ok(t) => t,
        Err(e) => return surface(state, request_id, headers, Err(e)).await,
    };
    // `None` when the key is not valid: the pipeline refuses such a request itself
    let scope = crate::auth::identify(&state.live().config.access, headers)
        .map(|tenant| ResponseStore::scope(&tenant));
    let mut history = Vec::new();
    if let (Some(previous), Some(scope)) = (&t.echo.previous_response_id, &scope) {
        let Some(stored) = state.responses.get(previous, scope).await else {
            let missing = ApiError::NotFound {
                message: format!("Previous response with id '{previous}' not found."),
                param: Some("previous_response_id".into()),
                code: "previous_response_not_found",
            };
            return surface(state, request_id, headers, Err(missing)).await;
        };
        history.clone_from(&stored.conversation);
    }
    let mut chat = t.chat_body(&history);
    chat.insert(
        RESPONSES_NATIVE.into(),
        Value::Object(native::body(&t.body, &history)),
    );
    let chat = match serde_json::to_vec(&chat) {
        Ok(c) => Bytes::from(c),
        Err(e) => return ApiError::Internal(e.to_string()).into_response(),
    };
    let answer = surface(state, request_id, headers, Ok(chat)).await;
    if answer.status() != StatusCode::OK {
        return answer;
    }
    let id = new_id("resp");
    let keep = scope.filter(|_| t.echo.store).map(|scope| Keep {
        state: Arc::clone(state),
        id: id.clone(),
        scope,
        before: history.into_iter().chain(t.turn.iter().cloned()).collect(),
    });
    if is_event_stream(answer.headers()) {
        stream_answer(answer, &t, id, keep)
    } else {
        whole_answer(answer, &t, id, keep).await
    }
}

/// The pipeline, routing as chat and recording the `responses` endpoint.
async fn surface(
    state: &Arc<AppState>,
    request_id: String,
    headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Response {
    crate::pipeline::handle_on(
        state,
        request_id,
        Endpoint::Chat,
        Endpoint::Responses,
        headers,
        body,
    )
    .await
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// A whole chat answer as a Response object, stored when asked.
async fn whole_answer(
    answer: Response,
    t: &Translated,
    id: String,
    keep: Option<Keep>,
) -> Response {
    let (mut parts, body) = answer.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::Internal("the answer could not be read".into()).into_response();
    };
    if let Ok(native) = serde_json::from_slice::<Value>(&bytes) {
        if native.get("object").and_then(Value::as_str) == Some("response") {
            if let Some(keep) = keep {
                keep.put_native(&native, bytes.clone()).await;
            }
            return Response::from_parts(parts, Body::from(bytes));
        }
    }
    let response = match ResponseObject::from_chat(id, &t.echo, &bytes) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "a chat answer could not be translated to a Response");
            return ApiError::Internal(format!("the answer could not be translated: {e}"))
                .into_response();
        }
    };
    let Ok(json) = serde_json::to_vec(&response) else {
        return ApiError::Internal("the Response could not be encoded".into()).into_response();
    };
    if let Some(keep) = keep {
        keep.put(&response).await;
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut out = json_response(StatusCode::OK, json.into());
    out.headers_mut().extend(parts.headers);
    out
}

/// The relayed chat stream as the Responses event stream, stored when it completes.
fn stream_answer(answer: Response, t: &Translated, id: String, keep: Option<Keep>) -> Response {
    let (mut parts, body) = answer.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let translator = Translator::new(ResponseObject::begin(id, &t.echo));
    let events = translate_stream(body, translator, keep);
    Response::from_parts(parts, Body::from_stream(events))
}

struct Relay {
    inner: axum::body::BodyDataStream,
    buffer: Vec<u8>,
    translator: Translator,
    /// Takes over when the stream is a natively served one.
    native: native::Passthrough,
    /// The relayed body ended (or broke).
    exhausted: bool,
    keep: Option<Keep>,
    /// Set once the last bytes were returned.
    over: bool,
}

impl Relay {
    /// Translates every complete SSE event in the buffer.
    fn drain(&mut self, out: &mut Vec<u8>) {
        while let Some(end) = find(&self.buffer, b"\n\n") {
            let event: Vec<u8> = self.buffer.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
                .collect();
            if data.is_empty() {
                continue;
            }
            let data = data.join("\n");
            if data == "[DONE]" {
                if self.native.active {
                    self.native.fail(
                        "The answer stream ended without completing.",
                        Some("stream_interrupted"),
                        out,
                    );
                } else {
                    self.translator.done(out);
                }
            } else if !self.native.push(&data, out) {
                self.translator.push(&data, out);
            }
        }
    }

    /// Ends the stream with an error, in whichever form it is being written.
    fn fail(&mut self, message: &str, out: &mut Vec<u8>) {
        if self.native.active {
            self.native.fail(message, Some("stream_interrupted"), out);
        } else {
            self.translator
                .fail(message, Some("stream_interrupted"), out);
        }
    }

    /// Whether the last bytes are written: a native stream is read to its end, so the relay
    /// sees the usage chunk that follows the final event.
    fn ended(&self) -> bool {
        if self.native.active {
            self.exhausted
        } else {
            self.translator.ended()
        }
    }

    /// Stores the finished response, when asked to and it did not fail.
    async fn store(&mut self) {
        let Some(keep) = self.keep.take() else { return };
        if let Some(done) = self.native.finished.take() {
            if let Ok(object) = serde_json::to_vec(&done) {
                keep.put_native(&done, object.into()).await;
            }
        } else if let Some(done) = self.translator.finished() {
            if done.status != object::Status::Failed {
                keep.put(done).await;
            }
        }
    }
}

/// A chat event-stream body as the Responses event stream of response `id`: what the sim's
/// native `/v1/responses` plays, so its events are the router's own.
pub(crate) fn chat_stream_as_events(
    body: Body,
    id: String,
    echo: &request::Echo,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    translate_stream(body, Translator::new(ResponseObject::begin(id, echo)), None)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn translate_stream(
    body: Body,
    translator: Translator,
    keep: Option<Keep>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let relay = Relay {
        inner: body.into_data_stream(),
        buffer: Vec::new(),
        translator,
        native: native::Passthrough::default(),
        exhausted: false,
        keep,
        over: false,
    };
    futures_util::stream::unfold(relay, |mut r| async move {
        if r.over {
            return None;
        }
        let mut out = Vec::new();
        loop {
            match r.inner.next().await {
                Some(Ok(bytes)) => {
                    r.buffer.extend_from_slice(&bytes);
                    r.drain(&mut out);
                }
                Some(Err(e)) => {
                    let message = format!("The answer stream broke: {e}");
                    r.fail(&message, &mut out);
                    r.exhausted = true;
                }
                None => {
                    r.exhausted = true;
                    r.drain(&mut out);
                    r.fail("The answer stream ended without completing.", &mut out);
                }
            }
            if r.ended() {
                r.over = true;
                r.store().await;
                return Some((Ok(out.into()), r));
            }
            if !out.is_empty() {
                return Some((Ok(out.into()), r));
            }
        }
    })
}

/// The tenant's stored-response scope, or the refusal (401) the request gets.
fn scope_of(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    crate::auth::authenticate(&state.live().config.access, headers)
        .map(|t| ResponseStore::scope(&t))
}

fn not_found(id: &str) -> Response {
    ApiError::NotFound {
        message: format!("Response with id '{id}' not found."),
        param: None,
        code: "response_not_found",
    }
    .into_response()
}

/// `GET /v1/responses/{id}`: a stored response of the caller's tenant.
pub(crate) async fn retrieve(state: &AppState, headers: &HeaderMap, id: &str) -> Response {
    let scope = match scope_of(state, headers) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    match state.responses.get(id, &scope).await {
        Some(stored) => json_response(StatusCode::OK, stored.object.clone()),
        None => not_found(id),
    }
}

/// What `DELETE /v1/responses/{id}` answers.
#[derive(Serialize)]
struct Deleted<'a> {
    id: &'a str,
    object: &'static str,
    deleted: bool,
}

/// `DELETE /v1/responses/{id}`: forgets a stored response of the caller's tenant.
pub(crate) async fn delete(state: &AppState, headers: &HeaderMap, id: &str) -> Response {
    let scope = match scope_of(state, headers) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    if !state.responses.delete(id, &scope).await {
        return not_found(id);
    }
    let body = Deleted {
        id,
        object: "response",
        deleted: true,
    };
    match serde_json::to_vec(&body) {
        Ok(json) => json_response(StatusCode::OK, json.into()),
        Err(e) => ApiError::Internal(e.to_string()).into_response(),
    }
}

/// A page of `GET /v1/responses/{id}/input_items`, in OpenAI's list shape.
#[derive(Serialize)]
struct ItemPage<'a> {
    object: &'static str,
    data: &'a [Value],
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
    has_more: bool,
}

/// `GET /v1/responses/{id}/input_items`: the conversation that led to a stored response of
/// the caller's tenant (every earlier turn and this one's input), as items with ids; `order`
/// (`desc`, the default, or `asc`), `limit` (1 to 100, default 20) and `after` (an item id)
/// page through it.
pub(crate) async fn input_items(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    query: &std::collections::HashMap<String, String>,
) -> Response {
    let scope = match scope_of(state, headers) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 20,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return request::invalid("`limit` must be an integer from 1 to 100.", "limit")
                .into_response()
        }
    };
    let ascending = match query.get("order").map(String::as_str) {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(_) => {
            return request::invalid("`order` must be `asc` or `desc`.", "order").into_response()
        }
    };
    let Some(stored) = state.responses.get(id, &scope).await else {
        return not_found(id);
    };
    let mut items = native::listed(id, stored.input());
    if !ascending {
        items.reverse();
    }
    let start = match query.get("after") {
        None => 0,
        Some(after) => match items.iter().position(|i| i["id"] == after.as_str()) {
            Some(at) => at + 1,
            None => {
                return request::invalid(format!("No item with id '{after}'."), "after")
                    .into_response()
            }
        },
    };
    let page = &items[start.min(items.len())..(start + limit).min(items.len())];
    fn id_of(v: Option<&Value>) -> Option<&str> {
        v.and_then(|i| i["id"].as_str())
    }
    let body = ItemPage {
        object: "list",
        data: page,
        first_id: id_of(page.first()),
        last_id: id_of(page.last()),
        has_more: start + limit < items.len(),
    };
    match serde_json::to_vec(&body) {
        Ok(json) => json_response(StatusCode::OK, json.into()),
        Err(e) => ApiError::Internal(e.to_string()).into_response(),
    }
}
