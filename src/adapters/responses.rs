//! OpenAI's Responses API passed through to OpenAI-compatible upstreams that serve it (a model
//! whose `endpoints` list `responses`): the client's Responses body goes to `/v1/responses`
//! with `model` replaced, and the answer comes back as sent, its usage read from
//! `response.usage` for pricing, budgets and the ledger.
//!
//! The Responses surface (`POST /v1/responses`) attaches the client's body to the chat request
//! it routes, under [`RESPONSES_NATIVE`]; every other candidate ignores it and gets the chat
//! translation, so a plan mixing native and translated candidates fails over between them
//! before the first byte like any other. A streamed answer is relayed event by event (each
//! event's JSON is its `data:`; the surface writes the `event:` lines back); after the final
//! `response.completed` / `response.incomplete` event one usage-only chat chunk follows, which
//! the relay reads for the ledger and the surface drops. An `error` or `response.failed` event
//! is a broken stream: before the first byte the next candidate is tried; after it the stream
//! ends with the router's `error` event (`stream_interrupted`, the upstream's message in it),
//! and the ledger and the breaker count it as interrupted.

use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::driver::{self, Out, Translator};
use super::{transport, Call, EventStream, FullReply, UpstreamError};
use crate::config::Endpoint;
use crate::openai::{PromptDetails, Usage};

/// The chat body's member carrying the client's Responses body (already resolved: no
/// `previous_response_id`, the stored conversation as input items).
pub(crate) const RESPONSES_NATIVE: &str = "x_switchyard_responses_native";

/// The client's Responses body, when this call goes natively: the request carries one and the
/// model serves `/v1/responses`.
pub(crate) fn native_body<'a>(call: &Call<'a>) -> Option<&'a Map<String, Value>> {
    if !call.model.endpoints.contains(&Endpoint::Responses) {
        return None;
    }
    call.body.get(RESPONSES_NATIVE)?.as_object()
}

/// The Responses body with `model` replaced and `stream` set as the call needs.
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
            if k != "model" && k != "stream" {
                m.serialize_entry(k, v)?;
            }
        }
        if self.stream {
            m.serialize_entry("stream", &true)?;
        }
        m.end()
    }
}

async fn send(
    call: &Call<'_>,
    native: &Map<String, Value>,
    stream: bool,
) -> Result<super::http::Response, UpstreamError> {
    let outgoing = Outgoing {
        body: native,
        model: &call.model.upstream,
        stream,
    };
    super::openai::post(call, Endpoint::Responses, &outgoing).await
}

/// A whole Response from the upstream's `/v1/responses`.
pub(crate) async fn request(
    call: &Call<'_>,
    native: &Map<String, Value>,
) -> Result<FullReply, UpstreamError> {
    let resp = send(call, native, false).await?;
    parse(transport::read_body(call, resp).await?)
}

/// The upstream's Responses event stream, relayed event by event.
pub(crate) async fn stream(
    call: &Call<'_>,
    native: &Map<String, Value>,
) -> Result<EventStream, UpstreamError> {
    let resp = send(call, native, true).await?;
    Ok(driver::drive(
        resp,
        driver::Limits::of(call.provider),
        Events::default(),
    ))
}

/// `usage` of a Response object.
#[derive(Debug, Deserialize)]
struct ResponseUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
}

#[derive(Debug, Deserialize)]
struct InputDetails {
    #[serde(default)]
    cached_tokens: u64,
}

impl ResponseUsage {
    fn usage(&self) -> Usage {
        Usage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            prompt_tokens_details: self.input_tokens_details.as_ref().map(|d| PromptDetails {
                cached_tokens: d.cached_tokens,
                cache_creation_tokens: 0,
            }),
        }
    }
}

/// What the router reads of a Response object.
#[derive(Debug, Deserialize)]
struct ResponseView {
    object: Option<String>,
    #[serde(default)]
    error: Option<ResponseErrorView>,
    #[serde(default)]
    usage: Option<ResponseUsage>,
    #[serde(default)]
    output: Vec<Value>,
}

impl ResponseView {
    /// The answer's text (its messages' `output_text` parts), for counting.
    fn text(&self) -> String {
        self.output
            .iter()
            .filter_map(|item| item.get("content").and_then(Value::as_array))
            .flatten()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect()
    }
}

/// A Response body as the upstream sent it, with its usage read out; anything that is not a
/// Response object is malformed rather than relayed.
pub(crate) fn parse(body: Bytes) -> Result<FullReply, UpstreamError> {
    let view: ResponseView = serde_json::from_slice(&body)
        .map_err(|e| UpstreamError::Malformed(format!("not a Response object: {e}")))?;
    if view.object.as_deref() != Some("response") {
        return Err(UpstreamError::Malformed(
            "the answer is not a Response object (`object` is not \"response\")".into(),
        ));
    }
    let usage = view.usage.as_ref().map(ResponseUsage::usage);
    Ok(FullReply {
        uncounted: usage.is_none().then(|| view.text()),
        usage,
        body,
    })
}

/// A failed Response's `error`.
#[derive(Debug, Deserialize)]
struct ResponseErrorView {
    #[serde(default)]
    message: Option<String>,
}

/// One Responses stream event as the router reads it.
#[derive(Debug, Deserialize)]
struct EventView {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    response: Option<ResponseView>,
    #[serde(default)]
    message: Option<String>,
}

/// The Responses event stream relayed as it comes (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct Events {
    /// The final event arrived.
    ended: bool,
}

impl Translator for Events {
    fn on_event(&mut self, data: &str, out: &mut Out) -> Result<bool, UpstreamError> {
        if data == "[DONE]" {
            return self.on_end(out).map(|()| true);
        }
        let event: EventView = serde_json::from_str(data)
            .map_err(|e| UpstreamError::Malformed(format!("not a Responses stream event: {e}")))?;
        match event.kind.as_str() {
            "error" | "response.failed" => {
                let why = event
                    .message
                    .or_else(|| event.response.and_then(|r| r.error?.message))
                    .unwrap_or_else(|| "the response failed".to_owned());
                return Err(UpstreamError::StreamCut(format!(
                    "the upstream's Responses stream failed: {why}"
                )));
            }
            "response.completed" | "response.incomplete" => {
                out.push_back(data.to_owned());
                let usage = event.response.and_then(|r| r.usage).map(|u| u.usage());
                if let Some(usage) = usage {
                    let chunk = serde_json::json!({
                        "object": "chat.completion.chunk", "choices": [], "usage": usage,
                    });
                    out.push_back(chunk.to_string());
                }
                self.ended = true;
                return Ok(true);
            }
            _ => {}
        }
        out.push_back(data.to_owned());
        Ok(false)
    }

    fn on_end(&mut self, _: &mut Out) -> Result<(), UpstreamError> {
        if self.ended {
            return Ok(());
        }
        Err(UpstreamError::StreamCut(
            "the Responses stream ended without response.completed".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_body_is_kept_as_sent_with_its_usage_read() {
        let body = br#"{"id":"resp_1","object":"response","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],
            "usage":{"input_tokens":12,"output_tokens":3,"total_tokens":15,"input_tokens_details":{"cached_tokens":4}}}"#;
        let full = parse(Bytes::from_static(body)).unwrap();
        let usage = full.usage.unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (12, 3));
        assert_eq!(usage.cached(), 4);
        assert_eq!(&full.body[..], &body[..]);
        assert!(full.uncounted.is_none());
        let bare = br#"{"object":"response","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}]}"#;
        let full = parse(Bytes::from_static(bare)).unwrap();
        assert_eq!(full.uncounted.as_deref(), Some("hi"));
        assert!(parse(Bytes::from_static(br#"{"object":"chat.completion"}"#)).is_err());
    }

    #[test]
    fn the_stream_is_relayed_with_a_usage_chunk_after_its_last_event() {
        let mut e = Events::default();
        let mut out = Out::default();
        let created = r#"{"type":"response.created","response":{"id":"r"}}"#;
        assert!(!e.on_event(created, &mut out).unwrap());
        let delta = r#"{"type":"response.output_text.delta","delta":"hi"}"#;
        assert!(!e.on_event(delta, &mut out).unwrap());
        let done = r#"{"type":"response.completed","response":{"usage":{"input_tokens":5,"output_tokens":2}}}"#;
        assert!(e.on_event(done, &mut out).unwrap());
        assert_eq!(out.len(), 4);
        assert_eq!(out.texts()[2], done);
        let usage: Value = serde_json::from_str(out.texts()[3]).unwrap();
        assert_eq!(usage["usage"]["prompt_tokens"], 5);
        assert_eq!(usage["usage"]["completion_tokens"], 2);
        assert!(e.on_end(&mut out).is_ok());
    }

    #[test]
    fn an_error_or_failed_event_breaks_the_stream_with_its_message() {
        let mut out = Out::default();
        let mut e = Events::default();
        e.on_event(r#"{"type":"response.created"}"#, &mut out)
            .unwrap();
        let failed = r#"{"type":"error","message":"overloaded"}"#;
        assert!(matches!(
            e.on_event(failed, &mut out),
            Err(UpstreamError::StreamCut(m)) if m.contains("overloaded")
        ));
        let failed = r#"{"type":"response.failed","response":{"error":{"code":"server_error","message":"boom"}}}"#;
        assert!(matches!(
            e.on_event(failed, &mut out),
            Err(UpstreamError::StreamCut(m)) if m.contains("boom")
        ));
        assert_eq!(out.len(), 1, "neither is relayed as such");
        let mut cut = Events::default();
        assert!(cut.on_end(&mut out).is_err());
        assert!(cut.on_event("not json", &mut out).is_err());
    }
}
