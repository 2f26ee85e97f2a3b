//! Tool-call answers of the OpenAI-wire sim: one `tool_calls` entry, whole or streamed as deltas.
//!
//! When a request offers `tools`, its `tool_choice` is not `"none"` and its last message is not a
//! `tool` result, the sim calls the tool named by `tool_choice` (or the first one) with arguments
//! `{"query": "<first words of the last user message>"}` and `finish_reason: "tool_calls"`.
//! `completion_tokens` is `ceil(len(arguments) / 4)`. Streamed, the call arrives as OpenAI sends
//! it: a first delta with `index`, `id`, `type`, `function.name` and empty `arguments`, then
//! argument fragments, then an empty delta with the finish reason (and the usage chunk if asked).

use axum::body::{Body, Bytes};
use futures_util::stream;
use serde_json::{json, Map, Value};

use super::wire::{CompletionId, Usage, DONE};

const FINGERPRINT: &str = "fp_switchyard_sim";
/// Size of the argument fragments of a streamed tool call.
const FRAGMENT_CHARS: usize = 8;

/// The name of the tool a request should be answered with, if any (see the module docs).
pub(super) fn tool_to_call(body: &Value) -> Option<String> {
    let tools = body.get("tools")?.as_array().filter(|t| !t.is_empty())?;
    let last = body.get("messages")?.as_array()?.last()?;
    if last.get("role").and_then(Value::as_str) == Some("tool") {
        return None;
    }
    let choice = body.get("tool_choice").unwrap_or(&Value::Null);
    if choice == "none" {
        return None;
    }
    let named = choice["function"]["name"].as_str();
    let first = tools[0]["function"]["name"].as_str();
    Some(named.or(first).unwrap_or("tool").to_owned())
}

/// One planned tool call.
pub(super) struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

impl ToolCall {
    /// The call of `name` with arguments echoing `echo`, numbered `n`.
    pub(super) fn new(name: String, echo: &[String], n: u64) -> Self {
        Self {
            id: format!("call_sim_{n}"),
            name,
            arguments: json!({"query": echo.join(" ")}).to_string(),
        }
    }

    /// The completion tokens the call is billed as.
    pub(super) fn tokens(&self) -> usize {
        self.arguments.len().div_ceil(4)
    }
}

/// Fields shared by the whole answer.
pub(super) struct Head<'a> {
    pub id: CompletionId,
    pub created: u64,
    pub model: &'a str,
    pub usage: Usage,
}

/// The non-streamed `chat.completion` with the tool call.
pub(super) fn completion(head: &Head<'_>, call: &ToolCall) -> Vec<u8> {
    let body = json!({
        "id": head.id, "object": "chat.completion", "created": head.created, "model": head.model,
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null,
            "tool_calls": [{"id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}}]},
            "logprobs": null, "finish_reason": "tool_calls"}],
        "usage": head.usage,
    });
    serde_json::to_vec(&body).expect("serialising a JSON value cannot fail")
}

/// The SSE body streaming the tool call as deltas, ending with `[DONE]`.
pub(super) fn sse(head: &Head<'_>, call: &ToolCall, include_usage: bool) -> Body {
    let chunk = |choices: Value, usage: Option<Value>| {
        let mut c = Map::new();
        c.insert("id".into(), json!(head.id));
        c.insert("object".into(), json!("chat.completion.chunk"));
        c.insert("created".into(), json!(head.created));
        c.insert("model".into(), json!(head.model));
        c.insert("system_fingerprint".into(), json!(FINGERPRINT));
        c.insert("choices".into(), choices);
        if include_usage {
            c.insert("usage".into(), usage.unwrap_or(Value::Null));
        }
        Bytes::from(format!("data: {}\n\n", Value::Object(c)))
    };
    let delta = |delta: Value, finish: Option<&str>| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
    let mut events = vec![chunk(
        delta(
            json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [{
                "index": 0, "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": ""}}]}),
            None,
        ),
        None,
    )];
    let chars: Vec<char> = call.arguments.chars().collect();
    for piece in chars.chunks(FRAGMENT_CHARS) {
        let text: String = piece.iter().collect();
        events.push(chunk(
            delta(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": text}}]}),
                None,
            ),
            None,
        ));
    }
    events.push(chunk(delta(json!({}), Some("tool_calls")), None));
    if include_usage {
        events.push(chunk(json!([]), Some(json!(head.usage))));
    }
    events.push(Bytes::from_static(DONE));
    Body::from_stream(stream::iter(
        events.into_iter().map(Ok::<_, std::io::Error>),
    ))
}
