//! Upstream answers and event streams put through a wire's translation without the network,
//! ending as what a client would receive: how the fuzz tests reach every adapter.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::driver::{Out, Translator};
use super::{anthropic, gemini, openai, FullReply, UpstreamError};
use crate::config::Endpoint;
use crate::error::ApiError;

/// The provider name replayed answers come from (it appears in fallback error messages).
pub const PROVIDER: &str = "replayed-provider";

/// What a client receives for one whole upstream answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200 with this OpenAI-shaped body.
    Ok(Bytes),
    /// This status with this error body.
    Error { status: u16, body: Bytes },
}

/// What a client receives for one upstream stream: the chunk texts relayed, then either the
/// end (`[DONE]`) or the error that ended it.
#[derive(Debug, Clone, PartialEq)]
pub struct Streamed {
    pub chunks: Vec<String>,
    /// `None`: the stream completed. `Some`: the error body the client gets instead: a 502/503
    /// (or the upstream's 4xx) before any chunk, else the error event's JSON.
    pub error: Option<(Option<u16>, Bytes)>,
}

/// `wire` (`openai`, `anthropic`, `gemini`) answering `request` on `endpoint` with `status` and
/// `body`.
pub fn answer(
    wire: &str,
    endpoint: Endpoint,
    request: &Map<String, Value>,
    status: u16,
    body: &[u8],
) -> Answer {
    let result: Result<FullReply, UpstreamError> =
        match (super::transport::unexpected_status(status), wire) {
            (Some(e), _) => Err(e),
            (None, "anthropic") => anthropic::replay::answer(PROVIDER, status, body),
            (None, "gemini") => gemini::replay::answer(PROVIDER, endpoint, request, status, body),
            (None, _) => openai::replay::answer(PROVIDER, status, body),
        };
    match result {
        Ok(reply) => Answer::Ok(reply.body),
        Err(e) => {
            let api = client_error(e);
            Answer::Error {
                status: api.status_code().as_u16(),
                body: api.response_body(),
            }
        }
    }
}

/// `wire` streaming the `data` payloads of `events` (blank ones skipped, as the driver does),
/// after which the upstream body ends.
pub fn stream(wire: &str, events: &[String]) -> Streamed {
    match wire {
        "anthropic" => run(anthropic::replay::translator(PROVIDER), events),
        "gemini" => run(gemini::replay::translator(), events),
        _ => run(openai::replay::translator(), events),
    }
}

/// The body `wire` would send upstream for the client's chat `body` (streamed or not), or the
/// 400 a client gets when the wire cannot express it.
pub fn request(wire: &str, body: &Map<String, Value>, stream: bool) -> Result<Value, Answer> {
    let result = match wire {
        "anthropic" => anthropic::replay::request(body, stream),
        "gemini" => gemini::replay::request(body),
        _ => Ok(Value::Object(body.clone())),
    };
    result.map_err(|e| {
        let api = client_error(e);
        Answer::Error {
            status: api.status_code().as_u16(),
            body: api.response_body(),
        }
    })
}

fn run(mut t: impl Translator, events: &[String]) -> Streamed {
    let mut out = Out::default();
    let mut result = Ok(false);
    for data in events.iter().filter(|d| !d.trim().is_empty()) {
        result = t.on_event(data, &mut out);
        if !matches!(result, Ok(false)) {
            break;
        }
    }
    if let Ok(false) = result {
        result = t.on_end(&mut out).map(|()| true);
    }
    let chunks = out.into_texts();
    let error = result.err().map(|e| {
        if chunks.is_empty() {
            let api = client_error(e);
            (Some(api.status_code().as_u16()), api.response_body())
        } else {
            (None, crate::stream::error_body(&e, chunks.len()).to_bytes())
        }
    });
    Streamed { chunks, error }
}

/// The error a client gets when `e` is the only candidate's answer, as dispatch decides it.
fn client_error(e: UpstreamError) -> ApiError {
    if e.is_key_rejected() {
        return ApiError::UpstreamAuth { summary: e.label() };
    }
    match e {
        UpstreamError::Status { status, body, .. }
            if !status.is_server_error()
                && status != axum::http::StatusCode::TOO_MANY_REQUESTS
                && status != axum::http::StatusCode::REQUEST_TIMEOUT =>
        {
            ApiError::Upstream { status, body }
        }
        UpstreamError::Unsupported(u) => ApiError::Unsupported(u),
        e => ApiError::AllFailed {
            summary: format!("{PROVIDER}/replayed: {}", e.label()),
            nothing_attempted: false,
            retry_after: None,
        },
    }
}
