//! The OpenAI-compatible wire API (chat, legacy completions, embeddings): the body goes through
//! untouched except `model` and stream options.

use std::sync::LazyLock;

use bytes::Bytes;
use memchr::memmem::Finder;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::driver::{self, Out, Translator};
use super::http::Response;
use super::{transport, Call, EventStream, FullReply, UpstreamError};
use crate::config::Endpoint;
use crate::openai::{read_object, Chunk, ChunkView, ErrorBody};

/// The client's body with `model` replaced and, when streaming, usage requested.
struct Outgoing<'a> {
    body: &'a Map<String, Value>,
    model: &'a str,
    stream: bool,
}

impl Serialize for Outgoing<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("model", self.model)?;
        for (k, v) in self.body {
            if k == "model"
                || k == crate::messages::ANTHROPIC_NATIVE
                || k == super::responses::RESPONSES_NATIVE
                || (self.stream && (k == "stream_options" || k == "stream"))
            {
                continue;
            }
            m.serialize_entry(k, v)?;
        }
        if self.stream {
            let mut opts = self
                .body
                .get("stream_options")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            opts.insert("include_usage".into(), Value::Bool(true));
            m.serialize_entry("stream", &true)?;
            m.serialize_entry("stream_options", &opts)?;
        }
        m.end()
    }
}

async fn send(
    call: &Call<'_>,
    endpoint: Endpoint,
    stream: bool,
) -> Result<Response, UpstreamError> {
    let outgoing = Outgoing {
        body: call.body,
        model: &call.model.upstream,
        stream,
    };
    post(call, endpoint, &outgoing).await
}

/// POSTs `body` encoded as JSON to the provider's `endpoint` with the call's key; a non-2xx
/// answer is an [`UpstreamError::Status`] carrying its OpenAI-shaped error body.
pub(super) async fn post(
    call: &Call<'_>,
    endpoint: Endpoint,
    body: &impl Serialize,
) -> Result<Response, UpstreamError> {
    let body = serde_json::to_vec(body)
        .map_err(|e| UpstreamError::Malformed(format!("cannot encode request: {e}")))?;
    let mut req = call
        .client
        .post_with(
            &call.provider.http,
            call.provider.urls[endpoint as usize].clone(),
        )
        .json(body);
    if let Some(key) = call.key {
        req = req.bearer_auth(key.expose());
    }
    transport::send(call, req)
        .await?
        .map_err(|r| UpstreamError::Status {
            status: r.status,
            body: error_body(&call.provider.name, r.status.as_u16(), r.body),
            retry_after: r.retry_after,
        })
}

/// An OpenAI-compatible error body as a client may receive it: kept as sent when it is
/// OpenAI's `{"error":{"message","type",...}}` with a message that says something; an `error`
/// object with a blank or missing message or type is rebuilt in full shape (its `param` and
/// `code` kept), so no SDK raises an exception with an empty message. Bodies that are not an
/// error object are left to the router's wrapping.
pub(crate) fn error_body(provider: &str, status: u16, raw: Bytes) -> Bytes {
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(&raw) else {
        return raw;
    };
    let Some(Value::Object(err)) = top.remove("error") else {
        return raw;
    };
    let text = |k: &str| err.get(k).and_then(Value::as_str);
    let message = text("message").filter(|m| !m.trim().is_empty());
    let kind = text("type").filter(|t| !t.trim().is_empty());
    if message.is_some() && kind.is_some() {
        return raw;
    }
    let fallback_kind = if status >= 500 {
        "server_error"
    } else {
        "invalid_request_error"
    };
    ErrorBody::new(
        super::upstream_message(message, provider, status, &raw),
        kind.unwrap_or(fallback_kind),
        text("param"),
        text("code"),
    )
    .to_bytes()
}

/// A non-streamed chat completion (or, for a Responses request to a model that serves
/// `/v1/responses`, the native Response: see [`super::responses`]).
pub(crate) async fn chat(call: &Call<'_>) -> Result<FullReply, UpstreamError> {
    if let Some(native) = super::responses::native_body(call) {
        return super::responses::request(call, native).await;
    }
    request(call, Endpoint::Chat).await
}

/// A streamed chat completion (or the native Responses event stream, as for [`chat`]).
pub(crate) async fn chat_stream(call: &Call<'_>) -> Result<EventStream, UpstreamError> {
    if let Some(native) = super::responses::native_body(call) {
        return super::responses::stream(call, native).await;
    }
    stream(call, Endpoint::Chat).await
}

/// A whole answer from any endpoint (chat, legacy completions, embeddings).
pub(crate) async fn request(
    call: &Call<'_>,
    endpoint: Endpoint,
) -> Result<FullReply, UpstreamError> {
    let resp = send(call, endpoint, false).await?;
    FullReply::parse(transport::read_body(call, resp).await?)
}

/// A streamed answer (chat or legacy completions): the `data:` payloads as sent, up to `[DONE]`.
pub(crate) async fn stream(
    call: &Call<'_>,
    endpoint: Endpoint,
) -> Result<EventStream, UpstreamError> {
    let resp = send(call, endpoint, true).await?;
    let passthrough = Passthrough { finished: false };
    Ok(driver::drive(
        resp,
        driver::Limits::of(call.provider),
        passthrough,
    ))
}

/// OpenAI's own chunks need no translation. `[DONE]` ends a stream; so does the body's end
/// once a chunk carried a `finish_reason` (some compatible servers never send `[DONE]`).
struct Passthrough {
    finished: bool,
}

impl Translator for Passthrough {
    fn on_event(&mut self, data: &str, out: &mut Out) -> Result<bool, UpstreamError> {
        if data == "[DONE]" {
            return Ok(true);
        }
        // a chunk the router cannot read as a chunk (not JSON, not an object, nested past the
        // parser's depth, `choices` not a list) is a broken upstream, never something to relay;
        // read as a chunk as strictly as a full parse would, without building a `Value`; what
        // this one parse finds travels with the chunk
        let chunk = Chunk::parse_with(data.to_owned(), |d| read_object::<ChunkView<'_>>(d))
            .map_err(|e| {
                UpstreamError::Malformed(format!("stream chunk is not a readable chunk: {e}"))
            })?;
        // an error object mid-stream (OpenAI sends `data: {"error":{..}}`) breaks the stream:
        // the router's own error event (or a resume) follows, never the upstream's text
        if let Some(message) = stream_error(data) {
            return Err(UpstreamError::StreamCut(format!(
                "upstream error: {message}"
            )));
        }
        self.finished |= chunk.facts().is_some_and(|f| f.finished);
        out.push_read(chunk);
        Ok(false)
    }

    fn on_end(&mut self, _: &mut Out) -> Result<(), UpstreamError> {
        if self.finished {
            return Ok(());
        }
        Err(UpstreamError::StreamCut("ended without [DONE]".into()))
    }
}

/// The message of an error object sent as a stream chunk (`{"error":{"message":..}}`), if the
/// chunk is one.
fn stream_error(data: &str) -> Option<String> {
    // memchr's vectorised search, its searcher built once: this runs on every chunk of every
    // stream
    static KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"error\""));
    KEY.find(data.as_bytes())?;
    let v: Value = serde_json::from_str(data).ok()?;
    let err = v.get("error").filter(|e| !e.is_null())?;
    if v.get("choices").is_some() {
        return None;
    }
    Some(
        err.get("message")
            .and_then(Value::as_str)
            .unwrap_or("error event")
            .to_owned(),
    )
}

/// What [`request`] and [`stream`] make of an upstream's answer, without the network.
pub(super) mod replay {
    use bytes::Bytes;

    use super::{error_body, FullReply, Passthrough, UpstreamError};

    /// A whole answer with `status` and `body` from `provider`.
    pub(crate) fn answer(
        provider: &str,
        status: u16,
        body: &[u8],
    ) -> Result<FullReply, UpstreamError> {
        let body = Bytes::copy_from_slice(body);
        if (200..300).contains(&status) {
            return FullReply::parse(body);
        }
        Err(UpstreamError::Status {
            status: axum::http::StatusCode::from_u16(status)
                .unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
            body: error_body(provider, status, body),
            retry_after: None,
        })
    }

    /// The translator a stream goes through.
    pub(crate) fn translator() -> impl crate::adapters::driver::Translator {
        Passthrough { finished: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_without_done_ends_cleanly_only_after_a_finish_reason() {
        for (chunk, clean) in [
            (r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#, true),
            (r#"{"choices":[{"finish_reason":"length"}]}"#, true),
            (r#"{"choices":[{"finish_reason":null}]}"#, false),
            (
                r#"{"choices":[{"delta":{"content":"say \"finish_reason\":\"stop\""}}]}"#,
                false,
            ),
        ] {
            let mut p = Passthrough { finished: false };
            let mut out = Out::default();
            assert_eq!(p.on_event(chunk, &mut out).ok(), Some(false), "{chunk}");
            assert_eq!(p.on_end(&mut out).is_ok(), clean, "{chunk}");
            assert_eq!(out.texts(), [chunk], "relayed as sent");
        }
    }

    #[test]
    fn passthrough_refuses_chunks_that_are_not_json_objects() {
        let mut p = Passthrough { finished: false };
        let mut out = Out::default();
        assert_eq!(p.on_event(r#"{"choices":[]}"#, &mut out).ok(), Some(false));
        let deep = format!("{{\"id\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        for bad in [
            "not json",
            "{\"choices\":",
            "42",
            "[1]",
            "\"text\"",
            "{\"choices\":7}",
            &deep,
        ] {
            assert!(
                matches!(p.on_event(bad, &mut out), Err(UpstreamError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(out.len(), 1, "only the JSON chunk is relayed");
        assert_eq!(p.on_event("[DONE]", &mut out).ok(), Some(true));
    }

    #[test]
    fn error_bodies_keep_their_shape_and_never_carry_a_blank_message() {
        let good = Bytes::from_static(
            br#"{"error":{"message":"bad model","type":"invalid_request_error","param":"model","code":null}}"#,
        );
        assert_eq!(error_body("p", 400, good.clone()), good, "kept as sent");
        for raw in [
            r#"{"error":{"message":"","type":"invalid_request_error","param":"model","code":"x"}}"#,
            r#"{"error":{"message":"   ","type":"invalid_request_error"}}"#,
            r#"{"error":{"type":"invalid_request_error"}}"#,
            r#"{"error":{"message":"no type"}}"#,
            r#"{"error":{}}"#,
        ] {
            let out = error_body("compat", 400, Bytes::from(raw));
            let v: Value = serde_json::from_slice(&out).unwrap();
            let m = v["error"]["message"].as_str().unwrap();
            assert!(!m.trim().is_empty(), "{raw}");
            assert!(
                v["error"]["type"].as_str().is_some_and(|t| !t.is_empty()),
                "{raw}"
            );
            assert!(v["error"].get("param").is_some() && v["error"].get("code").is_some());
        }
        let out = error_body(
            "compat",
            400,
            Bytes::from(r#"{"error":{"message":"","param":"model","code":"x"}}"#),
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert!(v["error"]["message"].as_str().unwrap().contains("compat"));
        assert_eq!(
            (v["error"]["param"].as_str(), v["error"]["code"].as_str()),
            (Some("model"), Some("x"))
        );
        assert_eq!(
            error_body("p", 502, Bytes::from("<html>")),
            "<html>",
            "left to the wrapping"
        );
    }

    #[test]
    fn outgoing_rewrites_model_and_forces_usage_when_streaming() {
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"model":"auto","messages":[],"stream":true,"stream_options":{"x":1},"seed":3}"#,
        )
        .unwrap();
        let v: Value = serde_json::to_value(Outgoing {
            body: &body,
            model: "gpt-x",
            stream: true,
        })
        .unwrap();
        assert_eq!(v["model"], "gpt-x");
        assert_eq!(v["seed"], 3);
        assert_eq!(
            v["stream_options"],
            serde_json::json!({"x":1,"include_usage":true})
        );
        let v: Value = serde_json::to_value(Outgoing {
            body: &body,
            model: "m",
            stream: false,
        })
        .unwrap();
        assert_eq!(v["stream_options"], serde_json::json!({"x":1}));
    }
}
