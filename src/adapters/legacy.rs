//! The deprecated `functions` / `function_call` form, answered in the shape the client asked
//! for: a translated wire's tool call becomes `message.function_call` (and stream deltas
//! `delta.function_call`) with finish reason `function_call` when the request used `functions`.
//!
//! The request side lives in each wire's translation (`functions` are tools, `function_call`
//! the tool choice, `role: function` messages tool results); OpenAI-compatible upstreams get
//! the legacy fields as sent and answer in them themselves.

use serde_json::{Map, Value};

use super::EventStream;
use crate::openai::{Chunk, Completion};
use futures_util::StreamExt;

/// Whether the client used the legacy form: `functions` and no `tools`.
pub(crate) fn wanted(body: &Map<String, Value>) -> bool {
    body.get("functions")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
        && body
            .get("tools")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
}

/// Rewrites a translated answer's first tool call as `function_call` (the legacy form has
/// one call per answer) when the client asked in the legacy form.
pub(crate) fn answer(body: &Map<String, Value>, completion: &mut Completion) {
    if !wanted(body) {
        return;
    }
    for choice in &mut completion.choices {
        let msg = &mut choice.message;
        if let Some(first) = std::mem::take(&mut msg.tool_calls).into_iter().next() {
            msg.function_call = Some(first.function);
            if choice.finish_reason == "tool_calls" {
                choice.finish_reason = "function_call";
            }
        }
    }
}

/// The stream with `tool_calls` deltas as `function_call` deltas (the first call only) and
/// finish reason `function_call`, when the client asked in the legacy form.
pub(crate) fn stream(body: &Map<String, Value>, events: EventStream) -> EventStream {
    if !wanted(body) {
        return events;
    }
    Box::pin(events.map(|item| item.map(|c| chunk(c.data()).map_or(c, Chunk::read))))
}

/// One chunk rewritten; `None` when it has nothing to rewrite (or is not JSON).
fn chunk(data: &str) -> Option<String> {
    if !data.contains("tool_calls") {
        return None;
    }
    let mut v: Value = serde_json::from_str(data).ok()?;
    for choice in v.get_mut("choices")?.as_array_mut()? {
        if choice["finish_reason"] == "tool_calls" {
            choice["finish_reason"] = "function_call".into();
        }
        let Some(delta) = choice.get_mut("delta").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(calls) = delta.remove("tool_calls") else {
            continue;
        };
        let first = calls
            .as_array()
            .and_then(|c| c.iter().find(|c| c["index"].as_u64().unwrap_or(0) == 0));
        if let Some(f) = first
            .and_then(|c| c.get("function"))
            .and_then(Value::as_object)
        {
            let mut call = Map::new();
            if let Some(name) = f.get("name").filter(|n| !n.is_null()) {
                call.insert("name".into(), name.clone());
            }
            call.insert(
                "arguments".into(),
                f.get("arguments").cloned().unwrap_or_else(|| "".into()),
            );
            delta.insert("function_call".into(), Value::Object(call));
        }
    }
    Some(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::{CompletionChoice, CompletionMessage, ToolCall};
    use serde_json::json;

    fn legacy_body() -> Map<String, Value> {
        json!({"functions": [{"name": "f", "parameters": {"type": "object"}}]})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn a_tool_call_answers_as_function_call_for_legacy_requests() {
        let mut c = Completion::new(
            "id".into(),
            1,
            "m".into(),
            vec![CompletionChoice {
                index: 0,
                message: CompletionMessage::assistant(
                    None,
                    vec![ToolCall::function(
                        Some("call_1".into()),
                        Some("f".into()),
                        "{\"a\":1}".into(),
                    )],
                ),
                logprobs: None,
                finish_reason: "tool_calls",
            }],
            None,
        );
        answer(&legacy_body(), &mut c);
        let v = serde_json::to_value(&c).unwrap();
        let m = &v["choices"][0]["message"];
        assert_eq!(
            m["function_call"],
            json!({"name": "f", "arguments": "{\"a\":1}"})
        );
        assert!(m.get("tool_calls").is_none());
        assert_eq!(v["choices"][0]["finish_reason"], "function_call");
        // a request with tools keeps tool_calls
        let with_tools = json!({"functions": [{"name": "f"}], "tools": [{"type": "function"}]});
        assert!(!wanted(with_tools.as_object().unwrap()));
    }

    #[test]
    fn stream_deltas_become_function_call_deltas() {
        let start = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
            "id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}]},
            "finish_reason": null}]});
        let v: Value = serde_json::from_str(&chunk(&start.to_string()).unwrap()).unwrap();
        assert_eq!(
            v["choices"][0]["delta"],
            json!({"function_call": {"name": "f", "arguments": ""}})
        );
        let args = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
            "function": {"arguments": "{\"a\""}}]}, "finish_reason": null}]});
        let v: Value = serde_json::from_str(&chunk(&args.to_string()).unwrap()).unwrap();
        assert_eq!(
            v["choices"][0]["delta"],
            json!({"function_call": {"arguments": "{\"a\""}})
        );
        let end = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]});
        let v: Value = serde_json::from_str(&chunk(&end.to_string()).unwrap()).unwrap();
        assert_eq!(v["choices"][0]["finish_reason"], "function_call");
        assert!(chunk(r#"{"choices":[{"delta":{"content":"hi"}}]}"#).is_none());
    }
}
