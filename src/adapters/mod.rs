//! Calls upstream providers; one file per wire API, each owning only its translation.

pub mod openai;

use std::pin::Pin;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::Stream;
use serde_json::{Map, Value};

use crate::config::{Model, Provider, Wire};
use crate::openai::ReplyView;
use crate::secret::Secret;

/// Everything one upstream call needs; borrowed from the config and the request.
pub struct Call<'a> {
    pub client: &'a reqwest::Client,
    pub provider: &'a Provider,
    pub model: &'a Model,
    pub key: Option<&'a Secret>,
    /// The client's body; the adapter writes the upstream `model` and stream options itself.
    pub body: &'a Map<String, Value>,
}

/// A whole non-streamed answer in OpenAI's shape, with the parts the ledger reads.
pub struct FullReply {
    pub body: Bytes,
    pub view: ReplyView,
}

/// OpenAI chunk JSON texts (the `data:` payloads), ending after `[DONE]`; a stream that stops
/// early yields an error instead of ending quietly.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<String, UpstreamError>> + Send>>;

/// Why an upstream call failed, classified for retry, breaker and failover decisions.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
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
}

impl UpstreamError {
    /// Connect errors, timeouts, 408, 429, 5xx and broken answers may succeed on another try;
    /// other 4xx are the client's fault and go straight back.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || status.is_server_error()
            }
            _ => true,
        }
    }

    /// Whether this failure says the provider is unhealthy (counts toward its breaker);
    /// a 429 is about one key and cools that key down instead.
    pub fn is_provider_fault(&self) -> bool {
        self.is_retryable() && !self.is_rate_limit()
    }

    pub fn is_rate_limit(&self) -> bool {
        matches!(self, Self::Status { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS)
    }

    /// A short label for summaries, logs and metrics.
    pub fn label(&self) -> String {
        match self {
            Self::Connect(_) => "connect_error".into(),
            Self::Timeout(_) => "timeout".into(),
            Self::Status { status, .. } => status.as_u16().to_string(),
            Self::Malformed(_) => "malformed".into(),
            Self::StreamCut(_) => "stream_cut".into(),
        }
    }
}

/// The adapter for a wire API; an enum so dispatch needs no boxing or dynamic calls.
#[derive(Debug, Clone, Copy)]
pub enum Adapter {
    OpenAi,
}

impl Adapter {
    pub fn for_wire(wire: Wire) -> Self {
        match wire {
            Wire::Openai => Self::OpenAi,
        }
    }

    /// A non-streamed chat completion.
    pub async fn chat(self, call: &Call<'_>) -> Result<FullReply, UpstreamError> {
        match self {
            Self::OpenAi => openai::chat(call).await,
        }
    }

    /// A streamed chat completion, returned once the upstream has answered with 200.
    pub async fn chat_stream(self, call: &Call<'_>) -> Result<EventStream, UpstreamError> {
        match self {
            Self::OpenAi => openai::chat_stream(call).await,
        }
    }
}
