//! Calls upstream providers; one file per wire API, each owning only its translation.

pub(crate) mod anthropic;
mod driver;
mod events;
pub(crate) mod gemini;
pub(crate) mod http;
mod legacy;
pub(crate) mod openai;
pub mod replay;
pub(crate) mod responses;
pub(crate) mod transport;

use std::pin::Pin;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::Stream;
use serde_json::{Map, Value};

use crate::config::{Endpoint, Model, Provider, Wire};
use crate::openai::{read_object, Chunk, Completion, ErrorBody, ReplyView, Usage};
use crate::secret::Secret;

/// Everything one upstream call needs; borrowed from the config and the request.
pub(crate) struct Call<'a> {
    pub client: &'a http::Client,
    pub provider: &'a Provider,
    pub model: &'a Model,
    pub key: Option<&'a Secret>,
    /// The client's body; the adapter writes the upstream `model` and stream options itself.
    pub body: &'a Map<String, Value>,
    /// The `traceparent` (and client's `tracestate`) naming this call's span, when traced.
    pub trace: Option<(
        &'a axum::http::HeaderValue,
        Option<&'a axum::http::HeaderValue>,
    )>,
    /// Where the provider's `x-ratelimit-*` figures for the key used go, and the key's index.
    pub meter: Option<(
        &'a std::sync::Mutex<crate::dispatch::headroom::Headroom>,
        usize,
    )>,
}

/// A whole non-streamed answer in OpenAI's shape, with the parts the ledger reads.
#[derive(Debug)]
pub(crate) struct FullReply {
    pub body: Bytes,
    /// What the upstream reported; `None` leaves counting to the router.
    pub usage: Option<Usage>,
    /// The answer's text, kept only when no usage was reported (to count completion tokens).
    pub uncounted: Option<String>,
}

impl FullReply {
    /// An OpenAI-shaped body as an upstream sent it, with its usage read out; a body that is
    /// not a JSON object the router can read (nested past the parser's depth, say) is
    /// malformed rather than relayed. Only its usage and choices' text are read, borrowed from
    /// the bytes, in one pass that refuses what a full parse would (see [`read_object`]).
    pub(crate) fn parse(body: Bytes) -> Result<Self, UpstreamError> {
        let malformed = |e: serde_json::Error| UpstreamError::Malformed(e.to_string());
        let text = std::str::from_utf8(&body)
            .map_err(|e| UpstreamError::Malformed(format!("answer is not UTF-8: {e}")))?;
        let view: ReplyView<'_> = read_object(text).map_err(malformed)?;
        let uncounted = view.usage.is_none().then(|| view.text());
        Ok(Self {
            usage: view.usage,
            uncounted,
            body,
        })
    }

    /// A translated answer, serialised once.
    pub(crate) fn from_completion(c: &Completion) -> Result<Self, UpstreamError> {
        let body = serde_json::to_vec(c)
            .map_err(|e| UpstreamError::Malformed(format!("cannot encode answer: {e}")))?;
        let usage = c.usage.map(|u| u.usage());
        Ok(Self {
            body: body.into(),
            uncounted: usage.is_none().then(|| c.text()),
            usage,
        })
    }

    /// An answer with no usage and no text to count (embeddings from a wire that reports none).
    pub(crate) fn unmetered(body: Bytes) -> Self {
        Self {
            body,
            usage: None,
            uncounted: None,
        }
    }
}

/// An upstream error's message as a client reads it: the upstream's own when it says
/// something, else who answered what (and the start of a body that was not the wire's error
/// JSON), so no client ever gets a blank message (`""`, `" "`) to show its user.
pub(crate) fn upstream_message(
    given: Option<&str>,
    provider: &str,
    status: u16,
    raw: &[u8],
) -> String {
    if let Some(m) = given.filter(|m| !m.trim().is_empty()) {
        return m.to_owned();
    }
    let json = serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok();
    let text: String = String::from_utf8_lossy(raw).chars().take(200).collect();
    let text = text.trim();
    if json || text.is_empty() {
        format!("The upstream provider `{provider}` answered {status} without an error message.")
    } else {
        format!("The upstream provider `{provider}` answered {status}: {text}")
    }
}

/// A request a wire cannot express (`n > 1` on Anthropic, token-id inputs on Gemini, an
/// endpoint the wire does not serve): the candidate is unsuitable, not unhealthy.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    pub message: String,
    /// The request field at fault.
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl Unsupported {
    /// `message` about the request field `param`.
    pub fn new(message: impl Into<String>, param: Option<&str>) -> Self {
        Self {
            message: message.into(),
            param: param.map(str::to_owned),
            code: None,
        }
    }

    /// The 400 body a client gets when no candidate can serve the request.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(
            self.message.clone(),
            "invalid_request_error",
            self.param.as_deref(),
            self.code,
        )
    }
}

/// OpenAI chunks (the `data:` payloads, with what the router reads from them), ending after
/// `[DONE]`; a stream that stops early yields an error instead of ending quietly.
pub(crate) type EventStream = Pin<Box<dyn Stream<Item = Result<Chunk, UpstreamError>> + Send>>;

/// Why an upstream call failed, classified for retry, breaker and failover decisions.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum UpstreamError {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("answered {status}")]
    Status {
        status: StatusCode,
        body: Bytes,
        retry_after: Option<Duration>,
    },
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("stream cut: {0}")]
    StreamCut(String),
    #[error("answer larger than max_response_bytes ({0})")]
    TooLarge(usize),
    #[error("unsupported by this wire: {}", .0.message)]
    Unsupported(Unsupported),
}

impl UpstreamError {
    /// Connect errors, timeouts, 408, 429, 5xx and broken answers may succeed on another try;
    /// other 4xx are the client's fault and go straight back.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || status.is_server_error()
            }
            Self::Unsupported(_) => false,
            _ => true,
        }
    }

    /// Whether this failure says the provider is unhealthy (counts toward its breaker);
    /// a 429 is about one key and cools that key down instead.
    pub(crate) fn is_provider_fault(&self) -> bool {
        self.is_retryable() && !self.is_rate_limit()
    }

    /// The upstream refused the router's own key (401/403): a configuration fault of ours,
    /// never the client's, so the key is benched and the next one tried.
    pub(crate) fn is_key_rejected(&self) -> bool {
        matches!(self, Self::Status { status, .. }
            if *status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN)
    }

    pub(crate) fn is_rate_limit(&self) -> bool {
        matches!(self, Self::Status { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS)
    }

    /// A short label for summaries, logs and metrics.
    pub(crate) fn label(&self) -> String {
        match self {
            Self::Connect(_) => "connect_error".into(),
            Self::Timeout(_) => "timeout".into(),
            Self::Status { status, .. } => status.as_u16().to_string(),
            Self::Malformed(_) => "malformed".into(),
            Self::StreamCut(_) => "stream_cut".into(),
            Self::TooLarge(_) => "too_large".into(),
            Self::Unsupported(_) => "unsupported".into(),
        }
    }
}

/// The adapter for a wire API; an enum so dispatch needs no boxing or dynamic calls.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Adapter {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Adapter {
    pub(crate) fn for_wire(wire: Wire) -> Self {
        match wire {
            Wire::Openai => Self::OpenAi,
            Wire::Anthropic => Self::Anthropic,
            Wire::Gemini => Self::Gemini,
        }
    }

    /// A non-streamed chat completion.
    pub(crate) async fn chat(self, call: &Call<'_>) -> Result<FullReply, UpstreamError> {
        match self {
            Self::OpenAi => openai::chat(call).await,
            Self::Anthropic => anthropic::chat(call).await,
            Self::Gemini => gemini::chat(call).await,
        }
    }

    /// A whole answer from `endpoint`; Gemini adds embeddings, Anthropic serves chat only (config
    /// validation keeps other endpoints off their models).
    pub(crate) async fn request(
        self,
        call: &Call<'_>,
        endpoint: Endpoint,
    ) -> Result<FullReply, UpstreamError> {
        match (self, endpoint) {
            (_, Endpoint::Chat) => self.chat(call).await,
            (Self::OpenAi, e) => openai::request(call, e).await,
            (Self::Gemini, Endpoint::Embeddings) => gemini::embeddings(call).await,
            (_, e) => Err(unsupported(e)),
        }
    }

    /// A streamed answer from `endpoint`, once the upstream has answered with 200.
    pub(crate) async fn stream(
        self,
        call: &Call<'_>,
        endpoint: Endpoint,
    ) -> Result<EventStream, UpstreamError> {
        match (self, endpoint) {
            (_, Endpoint::Chat) => self.chat_stream(call).await,
            (Self::OpenAi, e) => openai::stream(call, e).await,
            (_, e) => Err(unsupported(e)),
        }
    }

    /// A streamed chat completion, returned once the upstream has answered with 200.
    pub(crate) async fn chat_stream(self, call: &Call<'_>) -> Result<EventStream, UpstreamError> {
        match self {
            Self::OpenAi => openai::chat_stream(call).await,
            Self::Anthropic => anthropic::chat_stream(call).await,
            Self::Gemini => gemini::chat_stream(call).await,
        }
    }
}

fn unsupported(endpoint: Endpoint) -> UpstreamError {
    UpstreamError::Unsupported(Unsupported {
        message: format!(
            "this provider's wire API does not serve {}",
            endpoint.as_str()
        ),
        param: Some("model".into()),
        code: Some("unsupported_endpoint"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_reply_keeps_its_bytes_and_reads_usage_or_text() {
        let raw = r#"{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4},"extra":{"a":[1,2]}}"#;
        let reply = FullReply::parse(Bytes::from(raw)).unwrap();
        assert_eq!(reply.body, raw, "relayed as sent");
        assert_eq!(reply.usage.map(|u| u.prompt_tokens), Some(3));
        assert!(reply.uncounted.is_none());

        let raw = r#"{"choices":[{"message":{"content":"a \"quoted\"\nline"}},{"text":"legacy"}]}"#;
        let reply = FullReply::parse(Bytes::from(raw)).unwrap();
        assert!(reply.usage.is_none());
        assert_eq!(
            reply.uncounted.as_deref(),
            Some("a \"quoted\"\nline\nlegacy")
        );
    }

    #[test]
    fn a_full_reply_that_is_not_a_readable_object_is_malformed() {
        let deep = format!("{{\"id\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        for bad in [
            "[1]",
            "[]",
            "\"text\"",
            "42",
            "null",
            "{not json",
            r#"{"id":"x"} {}"#,
            r#"{"choices":7}"#,
            r#"{"usage":{"prompt_tokens":"3"}}"#,
            r#"{"id":"\ud800"}"#,
            r#"{"logprob":1e400}"#,
            &deep,
        ] {
            assert!(
                matches!(
                    FullReply::parse(Bytes::from(bad.to_owned())),
                    Err(UpstreamError::Malformed(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            FullReply::parse(Bytes::from_static(b"{\"id\":\"\xff\"}")),
            Err(UpstreamError::Malformed(_))
        ));
    }
}
