//! The Anthropic Messages wire API (`wire: anthropic`): OpenAI chat requests in, OpenAI answers out.
//!
//! Requests go to `POST {base_url}/messages` with `x-api-key` and `anthropic-version: 2023-06-01`.
//! Translation rules worth knowing as an operator:
//! - `max_tokens` defaults to [`DEFAULT_MAX_TOKENS`] (4096) when the client sets none, because
//!   Anthropic requires it.
//! - `response_format` (`json_object` / `json_schema`) is best-effort: it becomes a system
//!   instruction asking for JSON (matching the schema), not an enforced constraint.
//! - Fields without an Anthropic equivalent (penalties, `seed`, ...) are dropped; `n > 1` and
//!   `logprobs` are capabilities this wire lacks, so routing passes over its models for them
//!   (see `capability`).
//! - Deprecated `functions` / `function_call` become tools and the tool choice; the answer
//!   comes back as `function_call` (see `legacy`).
//! - Errors come back in OpenAI's shape; `overloaded_error` (529) becomes a retryable 503.

mod request;
mod response;
mod stream;

use axum::http::HeaderValue;

use super::http::{self, Response};
use super::{driver, transport, Call, EventStream, FullReply, UpstreamError};

/// The API version header value this adapter's translation was written against.
pub(crate) const ANTHROPIC_VERSION: &str = "2023-06-01";

async fn send(call: &Call<'_>, stream: bool) -> Result<Response, UpstreamError> {
    let body = request::translate(call.body, &call.model.upstream, stream)?;
    let body = serde_json::to_vec(&body)
        .map_err(|e| UpstreamError::Malformed(format!("cannot encode request: {e}")))?;
    let url = http::uri(&format!("{}/messages", call.provider.base_url))?;
    let mut req = call
        .client
        .post_with(&call.provider.http, url)
        .header(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        )
        .json(body);
    if let Some(key) = call.key {
        req = req.secret_header("x-api-key", key.expose());
    }
    transport::send(call, req).await?.map_err(|r| {
        let (status, body) =
            response::to_openai_error(&call.provider.name, r.status.as_u16(), &r.body);
        UpstreamError::Status {
            status,
            body: body.to_bytes(),
            retry_after: r.retry_after,
        }
    })
}

/// A non-streamed chat completion, answered as an OpenAI `chat.completion`.
pub(crate) async fn chat(call: &Call<'_>) -> Result<FullReply, UpstreamError> {
    let resp = send(call, false).await?;
    let raw = transport::read_body(call, resp).await?;
    let mut completion = response::to_completion(&raw, &call.model.upstream)?;
    super::legacy::answer(call.body, &mut completion);
    FullReply::from_completion(&completion)
}

/// A streamed chat completion as OpenAI chunk texts (always ending with a usage chunk); a
/// stream that ends before `message_stop` yields [`UpstreamError::StreamCut`].
pub(crate) async fn chat_stream(call: &Call<'_>) -> Result<EventStream, UpstreamError> {
    let resp = send(call, true).await?;
    let translator = stream::Translator::new(&call.provider.name, &call.model.upstream);
    let events = driver::drive(resp, driver::Limits::of(call.provider), translator);
    Ok(super::legacy::stream(call.body, events))
}

/// What [`chat`] and [`chat_stream`] make of an upstream's answer, without the network: the
/// answer or error for `status` and `body`, and the translator for a stream's events.
pub(super) mod replay {
    use super::{response, stream, FullReply, UpstreamError};

    /// A whole answer with `status` and `body` from `provider`.
    pub(crate) fn answer(
        provider: &str,
        status: u16,
        body: &[u8],
    ) -> Result<FullReply, UpstreamError> {
        if (200..300).contains(&status) {
            return FullReply::from_completion(&response::to_completion(body, "replayed")?);
        }
        let (status, body) = response::to_openai_error(provider, status, body);
        Err(UpstreamError::Status {
            status,
            body: body.to_bytes(),
            retry_after: None,
        })
    }

    /// The translator a stream from `provider` goes through.
    pub(crate) fn translator(provider: &str) -> impl crate::adapters::driver::Translator {
        stream::Translator::new(provider, "replayed")
    }

    /// The body [`chat`](super::chat) would send for the client's `body`.
    pub(crate) fn request(
        body: &serde_json::Map<String, serde_json::Value>,
        stream: bool,
    ) -> Result<serde_json::Value, UpstreamError> {
        super::request::translate(body, "replayed", stream)
    }
}
