//! The Google Gemini wire API (`generateContent`, `streamGenerateContent?alt=sse`), translated to and from OpenAI's shapes.

mod embed;
mod request;
mod response;
mod schema;
mod stream;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{StatusCode, Uri};
use serde_json::Value;

use super::http::{self, Response};
use super::{driver, transport, Call, EventStream, FullReply, Unsupported, UpstreamError};
use crate::openai::ErrorBody;
use response::{GenerateContentResponse, Meta};
use stream::Translator;

pub(crate) use embed::embeddings;

/// `{base_url}/models/{model}:generateContent`, or the streaming method with `alt=sse`.
fn url(call: &Call<'_>, stream: bool) -> Result<Uri, UpstreamError> {
    let base = call.provider.base_url.trim_end_matches('/');
    let model = call.model.upstream.trim_start_matches("models/");
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    http::uri(&format!("{base}/models/{model}:{method}"))
}

/// A request Gemini cannot express; never retried.
fn bad_request(message: &str) -> UpstreamError {
    UpstreamError::Unsupported(Unsupported::new(message, Some("messages")))
}

async fn send(call: &Call<'_>, stream: bool) -> Result<Response, UpstreamError> {
    let body = request::to_gemini(call.body).map_err(|m| bad_request(&m))?;
    let body = serde_json::to_vec(&body)
        .map_err(|e| UpstreamError::Malformed(format!("cannot encode request: {e}")))?;
    let mut req = call
        .client
        .post_with(&call.provider.http, url(call, stream)?)
        .json(body);
    // the key goes in a header, never in the URL (URLs end up in logs)
    if let Some(key) = call.key {
        req = req.secret_header("x-goog-api-key", key.expose());
    }
    transport::send(call, req)
        .await?
        .map_err(|r| rejection(call, &r))
}

/// A Gemini error as the router's: OpenAI's shape, and a 400 that says the key is invalid
/// (Gemini's way of refusing a key) counted as the 401 it means.
pub(crate) fn rejection(call: &Call<'_>, r: &transport::Rejection) -> UpstreamError {
    rejection_from(&call.provider.name, call.provider.retry.max_retry_after, r)
}

/// [`rejection`] for `provider`, whose waits are clamped to `max_wait`.
pub(crate) fn rejection_from(
    provider: &str,
    max_wait: Duration,
    r: &transport::Rejection,
) -> UpstreamError {
    let (body, retry_delay) = openai_error(provider, r.status, &r.body, max_wait);
    let key_refused =
        r.status == StatusCode::BAD_REQUEST && r.body.windows(15).any(|w| w == b"API_KEY_INVALID");
    UpstreamError::Status {
        status: if key_refused {
            StatusCode::UNAUTHORIZED
        } else {
            r.status
        },
        body: body.to_bytes(),
        retry_after: r.retry_after.or(retry_delay),
    }
}

/// Gemini's `{"error":{"code","message","status","details"}}` as OpenAI's
/// `{"error":{"message","type","param","code"}}`, plus a `RetryInfo.retryDelay` if present; a
/// blank or missing message is replaced by one naming `provider` and the status.
pub(crate) fn openai_error(
    provider: &str,
    status: StatusCode,
    raw: &[u8],
    max_wait: Duration,
) -> (ErrorBody, Option<Duration>) {
    let parsed: Value = serde_json::from_slice(raw).unwrap_or_default();
    // the non-SSE streaming method wraps errors in an array
    let err = match &parsed {
        Value::Array(a) => a.first().map(|e| &e["error"]).cloned().unwrap_or_default(),
        v => v["error"].clone(),
    };
    let grpc = err["status"].as_str().unwrap_or_default();
    let message = super::upstream_message(err["message"].as_str(), provider, status.as_u16(), raw);
    let kind = match (grpc, status.as_u16()) {
        ("UNAUTHENTICATED", _) | (_, 401) => "authentication_error",
        ("PERMISSION_DENIED", _) | (_, 403) => "permission_error",
        ("RESOURCE_EXHAUSTED", _) | (_, 429) => "rate_limit_error",
        (_, 500..) => "server_error",
        _ => "invalid_request_error",
    };
    let code = (!grpc.is_empty()).then(|| grpc.to_ascii_lowercase());
    let code = code.as_deref();
    let retry_delay = err["details"].as_array().and_then(|d| {
        d.iter().find_map(|x| {
            let s = x["retryDelay"].as_str()?.strip_suffix('s')?;
            transport::seconds(s.parse::<f64>().ok()?, max_wait)
        })
    });
    (ErrorBody::new(message, kind, None, code), retry_delay)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh `chatcmpl-…` id and a tool-call id prefix.
fn ids() -> (String, String) {
    let r: u64 = rand::random();
    (
        format!("chatcmpl-gemini-{r:016x}"),
        format!("{:08x}_", r as u32),
    )
}

/// A non-streamed chat completion.
pub(crate) async fn chat(call: &Call<'_>) -> Result<FullReply, UpstreamError> {
    let resp = send(call, false).await?;
    let raw = transport::read_body(call, resp).await?;
    let parsed: GenerateContentResponse =
        serde_json::from_slice(&raw).map_err(|e| UpstreamError::Malformed(e.to_string()))?;
    let (id, call_prefix) = ids();
    let meta = Meta {
        id: &id,
        created: unix_now(),
        model: &call.model.upstream,
        call_prefix: &call_prefix,
    };
    let mut completion =
        response::to_completion(&parsed, &meta).map_err(UpstreamError::Malformed)?;
    super::legacy::answer(call.body, &mut completion);
    FullReply::from_completion(&completion)
}

/// A streamed chat completion: OpenAI chunks, then a usage chunk; each upstream event awaited
/// with the idle timeout. A body that ends before any `finishReason` is a cut stream.
pub(crate) async fn chat_stream(call: &Call<'_>) -> Result<EventStream, UpstreamError> {
    let resp = send(call, true).await?;
    let (id, call_prefix) = ids();
    let translator = Translator::new(id, unix_now(), call.model.upstream.to_string(), call_prefix);
    let events = driver::drive(resp, driver::Limits::of(call.provider), translator);
    Ok(super::legacy::stream(call.body, events))
}

/// What [`chat`], [`chat_stream`] and [`embeddings`] make of an upstream's answer, without the
/// network: the answer or error for `status` and `body`, and the translator for a stream.
pub(super) mod replay {
    use std::time::Duration;

    use axum::http::StatusCode;
    use serde_json::{Map, Value};

    use super::response::{self, GenerateContentResponse, Meta};
    use super::{embed, rejection_from, stream, transport, FullReply, UpstreamError};
    use crate::config::Endpoint;

    /// A whole answer to `request` on `endpoint` with `status` and `body` from `provider`.
    pub(crate) fn answer(
        provider: &str,
        endpoint: Endpoint,
        request: &Map<String, Value>,
        status: u16,
        body: &[u8],
    ) -> Result<FullReply, UpstreamError> {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        if !status.is_success() {
            let r = transport::Rejection {
                status,
                retry_after: None,
                body: bytes::Bytes::copy_from_slice(body),
            };
            return Err(rejection_from(provider, Duration::from_secs(60), &r));
        }
        if endpoint == Endpoint::Embeddings {
            return embed::replay(request, body);
        }
        let parsed: GenerateContentResponse =
            serde_json::from_slice(body).map_err(|e| UpstreamError::Malformed(e.to_string()))?;
        let meta = Meta {
            id: "chatcmpl-replayed",
            created: 0,
            model: "replayed",
            call_prefix: "r_",
        };
        let c = response::to_completion(&parsed, &meta).map_err(UpstreamError::Malformed)?;
        FullReply::from_completion(&c)
    }

    /// The body [`chat`](super::chat) would send for the client's `body`.
    pub(crate) fn request(body: &Map<String, Value>) -> Result<Value, UpstreamError> {
        super::request::to_gemini(body).map_err(|m| super::bad_request(&m))
    }

    /// The translator a stream goes through.
    pub(crate) fn translator() -> impl crate::adapters::driver::Translator {
        stream::Translator::new(
            "chatcmpl-replayed".into(),
            0,
            "replayed".into(),
            "r_".into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAX: Duration = Duration::from_secs(300);

    #[test]
    fn converts_errors_to_openai_shape_with_retry_delay() {
        let raw = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"22s"}]}}"#;
        let (body, wait) = openai_error("g", StatusCode::TOO_MANY_REQUESTS, raw, MAX);
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(
            v,
            json!({"error":{"message":"Quota exceeded","type":"rate_limit_error","param":null,"code":"resource_exhausted"}})
        );
        assert_eq!(wait, Some(Duration::from_secs(22)));
        let (body, wait) = openai_error("g", StatusCode::BAD_GATEWAY, b"<html>oops", MAX);
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["error"]["type"], "server_error");
        assert!(v["error"]["message"].as_str().unwrap().contains("oops"));
        assert_eq!(wait, None);
        let (body, _) = openai_error(
            "g",
            StatusCode::BAD_REQUEST,
            br#"[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]"#,
            MAX,
        );
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["error"]["code"], "invalid_argument");
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn blank_error_messages_are_replaced_with_provider_and_status() {
        for message in ["\"\"", "\" \"", "\"\\n\"", "null"] {
            let raw = format!(
                r#"{{"error":{{"code":400,"message":{message},"status":"INVALID_ARGUMENT"}}}}"#
            );
            let (body, _) = openai_error("gem-prod", StatusCode::BAD_REQUEST, raw.as_bytes(), MAX);
            let m = body.error.message;
            assert!(
                m.contains("gem-prod") && m.contains("400"),
                "{message}: {m:?}"
            );
        }
    }
}
