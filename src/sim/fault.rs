//! The fault modes that need no answer, in every wire's own shape: error statuses, hostile
//! rate-limit hints, key-echoing and huge error bodies, resets; plus what the body-shaped
//! modes share (keep-alive blanks, huge generated text).
//!
//! Each wire's handler registers the call, then asks [`early`] first; the modes that bend an
//! answer are played by [`super::play`]. The error types follow the real APIs:
//!
//! | status | OpenAI `type`           | Anthropic `error.type`  | Gemini `status`      |
//! |--------|-------------------------|-------------------------|----------------------|
//! | 400    | `invalid_request_error` | `invalid_request_error` | `INVALID_ARGUMENT`   |
//! | 401    | `invalid_request_error` | `authentication_error`  | `UNAUTHENTICATED`    |
//! | 403    | `invalid_request_error` | `permission_error`      | `PERMISSION_DENIED`  |
//! | 404    | `invalid_request_error` | `not_found_error`       | `NOT_FOUND`          |
//! | 413    | `invalid_request_error` | `request_too_large`     | `INVALID_ARGUMENT`   |
//! | 429    | `requests`              | `rate_limit_error`      | `RESOURCE_EXHAUSTED` |
//! | 503    | `server_error`          | `api_error`             | `UNAVAILABLE`        |
//! | 504    | `server_error`          | `api_error`             | `DEADLINE_EXCEEDED`  |
//! | 529    | `server_error`          | `overloaded_error`      | `UNAVAILABLE`        |
//! | other  | `server_error` (5xx)    | `api_error`             | `INTERNAL`           |

use std::io;

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::conn::Conn;
use super::handler::error_response;
use super::sse::cut_error;
use super::{anthropic, gemini, request, Behavior};

/// Which wire API a handler speaks: picks the shape of every fault's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Wire {
    /// The wire's error body for `status`, its type chosen as the module table says.
    pub(super) fn error_body(self, status: u16, message: &str) -> Value {
        match self {
            Self::OpenAi => {
                let kind = match status {
                    429 => "requests",
                    500..=599 => "server_error",
                    _ => "invalid_request_error",
                };
                request::error_body(message, kind, None, None)
            }
            Self::Anthropic => {
                let kind = match status {
                    401 => "authentication_error",
                    403 => "permission_error",
                    404 => "not_found_error",
                    413 => "request_too_large",
                    429 => "rate_limit_error",
                    529 => "overloaded_error",
                    400..=499 => "invalid_request_error",
                    _ => "api_error",
                };
                anthropic::error_body(kind, message)
            }
            Self::Gemini => {
                let kind = match status {
                    401 => "UNAUTHENTICATED",
                    403 => "PERMISSION_DENIED",
                    404 => "NOT_FOUND",
                    429 => "RESOURCE_EXHAUSTED",
                    503 | 529 => "UNAVAILABLE",
                    504 => "DEADLINE_EXCEEDED",
                    400..=499 => "INVALID_ARGUMENT",
                    _ => "INTERNAL",
                };
                gemini::error_body(status, kind, message)
            }
        }
    }

    /// The authentication error each API sends for a bad key, quoting `key` whole.
    fn key_error(self, status: u16, key: &str) -> Value {
        match self {
            Self::OpenAi => request::error_body(
                &format!("Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys."),
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
            Self::Anthropic => {
                let mut body = self.error_body(status, "");
                body["error"]["message"] = json!(format!("invalid x-api-key: {key}"));
                body
            }
            Self::Gemini => {
                let mut body = self.error_body(
                    status,
                    &format!("API key not valid: {key}. Please pass a valid API key."),
                );
                body["error"]["details"] = json!([{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"}
                }]);
                body
            }
        }
    }

    /// A 429 carrying the raw hints (see [`Behavior::RateLimitedRaw`]).
    fn rate_limited(self, retry_after: Option<&str>, retry_after_ms: Option<&str>) -> Response {
        let message = "Rate limit reached (simulated provider)";
        let mut body = self.error_body(429, message);
        if let (Self::OpenAi, Value::Object(error)) = (self, &mut body["error"]) {
            error.insert("code".into(), json!("rate_limit_exceeded"));
        }
        if let (Self::Gemini, Some(delay)) = (self, retry_after) {
            body["error"]["details"] = json!([{
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": delay
            }]);
        }
        let mut resp = error_response(429, &body);
        let headers = resp.headers_mut();
        let mut set = |name: &'static str, text: Option<&str>| {
            if let Some(value) = text.and_then(raw_header) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        if self != Self::Gemini {
            set("retry-after", retry_after);
        }
        set("retry-after-ms", retry_after_ms);
        resp
    }

    /// The event a stream of this wire fails with mid-way: the wire's 500 error object (after
    /// `event: error` on Anthropic).
    pub(super) fn error_event(self) -> Bytes {
        let body = self.error_body(
            500,
            "The server had an error while processing your request.",
        );
        let text = match self {
            Self::Anthropic => format!("event: error\ndata: {body}\n\n"),
            _ => format!("data: {body}\n\n"),
        };
        Bytes::from(text)
    }

    /// The `i`-th keep-alive blank of a stream that has stopped making progress.
    pub(super) fn blank(self, i: usize) -> Bytes {
        let text: &'static str = match (self, i % 2) {
            (Self::OpenAi, 0) => "data:\n\n",
            (Self::Anthropic, 0) => "event: ping\ndata: {\"type\": \"ping\"}\n\n",
            (Self::Gemini, 0) => "data:\r\n\r\n",
            (Self::Gemini, _) => ": ping\r\n\r\n",
            _ => ": ping\n\n",
        };
        Bytes::from_static(text.as_bytes())
    }
}

/// `text` as a header value, without the control characters no header can carry.
fn raw_header(text: &str) -> Option<HeaderValue> {
    let kept: Vec<u8> = text
        .bytes()
        .filter(|b| *b == b'\t' || *b >= 0x20 && *b != 0x7f)
        .collect();
    HeaderValue::from_bytes(&kept).ok()
}

/// The response to a mode that needs no answer (or None for the others): `WireError`,
/// `RateLimitedRaw`, `EchoKey`, `HugeError`, and the resets, which flip `conn`'s switch
/// and return a response that is never sent. `key` is the key as the request carried it.
pub(super) fn early(
    wire: Wire,
    behavior: &Behavior,
    key: Option<&str>,
    conn: &Conn,
    shutdown: &watch::Receiver<()>,
) -> Option<Response> {
    Some(match behavior {
        Behavior::WireError { status } => error_response(
            *status,
            &wire.error_body(*status, "simulated upstream failure"),
        ),
        Behavior::RateLimitedRaw {
            retry_after,
            retry_after_ms,
        } => wire.rate_limited(retry_after.as_deref(), retry_after_ms.as_deref()),
        Behavior::EchoKey { status } => {
            error_response(*status, &wire.key_error(*status, key.unwrap_or_default()))
        }
        Behavior::HugeError { status, bytes } => {
            let json = wire.error_body(*status, MARK).to_string();
            let mut resp = error_response(*status, &Value::Null);
            *resp.body_mut() = huge_json(json.into_bytes(), *bytes, shutdown.clone());
            resp
        }
        Behavior::Refuse | Behavior::ResetBeforeHeaders => {
            conn.reset();
            error_response(500, &wire.error_body(500, "unsent"))
        }
        _ => return None,
    })
}

/// Stands for the generated text in a JSON document that [`huge_json`] sends.
pub(super) const MARK: &str = "\u{1}sim-huge\u{1}";

/// Size of one block of generated text (and of a huge stream's content chunks).
pub(super) const BLOCK: usize = 64 * 1024;

/// `n` bytes of plain ASCII words (nothing JSON would escape).
pub(super) fn filler(n: usize) -> String {
    const UNIT: &str = "lorem ipsum dolor sit amet ";
    let mut text = UNIT.repeat(n / UNIT.len() + 1);
    text.truncate(n);
    text
}

/// Sends `json` (a serialised document holding [`MARK`] once) with `bytes` bytes of
/// generated text in place of the mark, block by block, stopping with an error if the sim
/// shuts down meanwhile.
pub(super) fn huge_json(json: Vec<u8>, bytes: usize, shutdown: watch::Receiver<()>) -> Body {
    let mark = serde_json::to_string(MARK).unwrap_or_default();
    let mark = mark.trim_matches('"').as_bytes();
    let json = Bytes::from(json);
    let at = json
        .windows(mark.len())
        .position(|w| w == mark)
        .unwrap_or(json.len());
    let (head, tail) = (
        json.slice(..at),
        json.slice((at + mark.len()).min(json.len())..),
    );
    let block = Bytes::from(filler(BLOCK.min(bytes)));
    let blocks = bytes.div_ceil(BLOCK.max(1));
    let body = (0..blocks).map(move |i| {
        if shutdown.has_changed().is_err() {
            return Err(cut_error());
        }
        let len = (bytes - i * BLOCK).min(BLOCK);
        Ok::<_, io::Error>(block.slice(..len))
    });
    Body::from_stream(
        stream::once(async move { Ok::<_, io::Error>(head) })
            .chain(stream::iter(body))
            .chain(stream::once(async move { Ok(tail) })),
    )
}
