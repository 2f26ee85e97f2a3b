//! The OpenAI-compatible wire API (chat, legacy completions, embeddings): the body goes through
//! untouched except `model` and stream options.

use axum::http::header;
use std::collections::VecDeque;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::driver::{self, Translator};
use super::{transport, Call, EventStream, FullReply, UpstreamError};
use crate::config::Endpoint;

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
) -> Result<reqwest::Response, UpstreamError> {
    let body = serde_json::to_vec(&Outgoing {
        body: call.body,
        model: &call.model.upstream,
        stream,
    })
    .map_err(|e| UpstreamError::Malformed(format!("cannot encode request: {e}")))?;
    let mut req = call
        .client
        .post(call.provider.urls[endpoint as usize].clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(key) = call.key {
        req = req.bearer_auth(key.expose());
    }
    transport::send(call, req)
        .await?
        .map_err(|r| UpstreamError::Status {
            status: r.status,
            body: r.body,
            retry_after: r.retry_after,
        })
}

/// A non-streamed chat completion.
pub(crate) async fn chat(call: &Call<'_>) -> Result<FullReply, UpstreamError> {
    request(call, Endpoint::Chat).await
}

/// A streamed chat completion.
pub(crate) async fn chat_stream(call: &Call<'_>) -> Result<EventStream, UpstreamError> {
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
    fn on_event(&mut self, data: &str, out: &mut VecDeque<String>) -> Result<bool, UpstreamError> {
        if data == "[DONE]" {
            return Ok(true);
        }
        self.finished |= has_finish_reason(data);
        out.push_back(data.to_owned());
        Ok(false)
    }

    fn on_end(&mut self, _: &mut VecDeque<String>) -> Result<(), UpstreamError> {
        if self.finished {
            return Ok(());
        }
        Err(UpstreamError::StreamCut("ended without [DONE]".into()))
    }
}

/// Whether a chunk's JSON sets a `finish_reason` (to a string, not `null`), without parsing
/// it: the quoted key outside any string, then `:` and a string value.
fn has_finish_reason(data: &str) -> bool {
    const KEY: &str = "\"finish_reason\"";
    data.match_indices(KEY).any(|(i, _)| {
        let escaped = data[..i].ends_with('\\');
        let rest = data[i + KEY.len()..].trim_start();
        !escaped
            && rest
                .strip_prefix(':')
                .is_some_and(|v| v.trim_start().starts_with('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reason_is_found_only_as_a_key_with_a_string_value() {
        assert!(has_finish_reason(
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#
        ));
        assert!(has_finish_reason(r#"{"finish_reason" : "length"}"#));
        assert!(!has_finish_reason(
            r#"{"choices":[{"finish_reason":null}]}"#
        ));
        assert!(!has_finish_reason(
            r#"{"choices":[{"delta":{"content":"say \"finish_reason\":\"stop\""}}]}"#
        ));
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
