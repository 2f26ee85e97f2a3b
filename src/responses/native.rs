//! Responses served natively by an upstream's `/v1/responses` ([`crate::adapters::responses`]):
//! the body that goes upstream, the answer relayed as the upstream wrote it, and the
//! conversation items the store keeps and lists.
//!
//! `previous_response_id` is resolved here, never passed upstream: the stored conversation
//! (chat messages) becomes the leading input items. So a continuation works on any candidate,
//! native or translated, whichever upstream (or none) stored the earlier turn, and the tenant
//! scoping of the router's store applies.

use serde_json::{json, Map, Value};

/// The client's body as a native upstream gets it: `previous_response_id` replaced by the
/// stored conversation (`history`) as leading input items.
pub(super) fn body(client: &Map<String, Value>, history: &[Value]) -> Map<String, Value> {
    let mut body = client.clone();
    body.remove("previous_response_id");
    if history.is_empty() {
        return body;
    }
    let mut items = input_items(history);
    match body.remove("input") {
        Some(Value::String(s)) => items.push(json!({"role": "user", "content": s})),
        Some(Value::Array(rest)) => items.extend(rest),
        _ => {}
    }
    body.insert("input".into(), Value::Array(items));
    body
}

/// Chat messages as Responses input items: messages keep their role and text (user images as
/// `input_image` parts), assistant tool calls become `function_call` items and tool messages
/// `function_call_output` items.
pub(crate) fn input_items(messages: &[Value]) -> Vec<Value> {
    let mut items = Vec::with_capacity(messages.len());
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        match role {
            "tool" => items.push(json!({
                "type": "function_call_output",
                "call_id": m.get("tool_call_id").cloned().unwrap_or(Value::Null),
                "output": text_of(m.get("content")),
            })),
            "assistant" => {
                let text = text_of(m.get("content"));
                if !text.is_empty() {
                    items.push(json!({"role": "assistant", "content": text}));
                }
                let calls = m.get("tool_calls").and_then(Value::as_array);
                for call in calls.into_iter().flatten() {
                    let f = call.get("function");
                    let field = |k: &str| f.and_then(|f| f.get(k)).cloned();
                    items.push(json!({
                        "type": "function_call",
                        "call_id": call.get("id").cloned().unwrap_or(Value::Null),
                        "name": field("name").unwrap_or(Value::Null),
                        "arguments": field("arguments").unwrap_or_else(|| json!("{}")),
                    }));
                }
            }
            _ => items.push(json!({"role": role, "content": content_of(m.get("content"))})),
        }
    }
    items
}

/// A chat message's content as Responses content: a string stays a string; parts become
/// `input_text` / `input_image` parts.
fn content_of(content: Option<&Value>) -> Value {
    let Some(Value::Array(parts)) = content else {
        return Value::String(text_of(content));
    };
    let parts = parts
        .iter()
        .filter_map(|p| match p.get("type").and_then(Value::as_str) {
            Some("image_url") => {
                let image = p.get("image_url")?;
                let detail = image.get("detail").cloned().unwrap_or(json!("auto"));
                Some(json!({"type": "input_image", "image_url": image.get("url")?, "detail": detail}))
            }
            _ => Some(json!({"type": "input_text",
                             "text": p.get("text").and_then(Value::as_str).unwrap_or_default()})),
        })
        .collect();
    Value::Array(parts)
}

/// A chat content's text: a string, or its parts' texts joined.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// A Response object's output as one chat assistant message (its `output_text` and
/// `function_call` items), for continuing the conversation; `None` when it has neither.
pub(crate) fn chat_message(response: &Value) -> Option<Value> {
    let mut text = String::new();
    let mut calls = Vec::new();
    let output = response.get("output").and_then(Value::as_array);
    for item in output.into_iter().flatten() {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                let parts = item.get("content").and_then(Value::as_array);
                for part in parts.into_iter().flatten() {
                    if part.get("type").and_then(Value::as_str) == Some("output_text") {
                        text.push_str(part.get("text").and_then(Value::as_str).unwrap_or_default());
                    }
                }
            }
            Some("function_call") => {
                let field = |k: &str| item.get(k).cloned().unwrap_or(Value::Null);
                calls.push(json!({"id": field("call_id"), "type": "function",
                                  "function": {"name": field("name"), "arguments": field("arguments")}}));
            }
            _ => {}
        }
    }
    if text.is_empty() && calls.is_empty() {
        return None;
    }
    let mut message = json!({"role": "assistant", "content": (!text.is_empty()).then_some(text)});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    Some(message)
}

/// A natively relayed event stream, as the client gets it: each upstream event written back
/// with its `event:` line; the usage-only chat chunk after the last event dropped; a break
/// (the relay's error payload) written as a Responses `error` event.
#[derive(Debug, Default)]
pub(super) struct Passthrough {
    /// The stream is a native one (its first payload was a Responses event).
    pub active: bool,
    /// The next `sequence_number`, for an event the router adds.
    next_seq: u64,
    /// The final Response (`response.completed` / `response.incomplete`), to store.
    pub finished: Option<Value>,
    pub ended: bool,
}

impl Passthrough {
    /// Writes `data` when it belongs to a native stream; says whether it did (else the chat
    /// translation takes it).
    pub(super) fn push(&mut self, data: &str, out: &mut Vec<u8>) -> bool {
        let Ok(Value::Object(event)) = serde_json::from_str::<Value>(data) else {
            return self.active;
        };
        let kind = event.get("type").and_then(Value::as_str);
        if !self.active {
            if !kind.is_some_and(|k| k.starts_with("response.") || k == "error") {
                return false;
            }
            self.active = true;
        }
        let Some(kind) = kind else {
            // the relay's own error payload (a stream broken after its first byte)
            if let Some(err) = event.get("error") {
                let message = err.get("message").and_then(Value::as_str).unwrap_or("");
                let code = err.get("code").and_then(Value::as_str);
                self.fail(message, code, out);
            }
            return true;
        };
        if self.ended {
            return true;
        }
        if let Some(seq) = event.get("sequence_number").and_then(Value::as_u64) {
            self.next_seq = seq + 1;
        }
        write_event(out, kind, data);
        match kind {
            "response.completed" | "response.incomplete" => {
                self.finished = event.get("response").cloned();
                self.ended = true;
            }
            "response.failed" | "error" => self.ended = true,
            _ => {}
        }
        true
    }

    /// Ends a native stream that broke or stopped early with an `error` event.
    pub(super) fn fail(&mut self, message: &str, code: Option<&str>, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let event = json!({"type": "error", "code": code.unwrap_or("server_error"),
                           "message": message, "param": null, "sequence_number": self.next_seq});
        write_event(out, "error", &event.to_string());
    }
}

fn write_event(out: &mut Vec<u8>, kind: &str, data: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// Conversation items as `GET /v1/responses/{id}/input_items` lists them: each with an `id`
/// (stable: the response's id and the item's place) and `status`, messages with content parts.
pub(super) fn listed(response_id: &str, messages: &[Value]) -> Vec<Value> {
    let suffix = response_id.strip_prefix("resp_").unwrap_or(response_id);
    input_items(messages)
        .into_iter()
        .enumerate()
        .map(|(i, mut item)| {
            let kind = item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("message");
            let prefix = match kind {
                "function_call" => "fc",
                "function_call_output" => "fco",
                _ => "msg",
            };
            if kind == "message" || item.get("role").is_some() {
                let assistant = item["role"] == "assistant";
                if let Value::String(text) = &item["content"] {
                    item["content"] = if assistant {
                        json!([{"type": "output_text", "text": text, "annotations": []}])
                    } else {
                        json!([{"type": "input_text", "text": text}])
                    };
                }
                item["type"] = json!("message");
            }
            item["id"] = json!(format!("{prefix}_{suffix}_{i}"));
            item["status"] = json!("completed");
            item
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_becomes_leading_input_items() {
        let history = vec![
            json!({"role": "user", "content": "hi"}),
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
            json!({"role": "tool", "tool_call_id": "c1", "content": "42"}),
            json!({"role": "assistant", "content": "It is 42."}),
        ];
        let client =
            json!({"model": "m", "input": "and?", "previous_response_id": "resp_1", "store": true});
        let b = body(client.as_object().unwrap(), &history);
        assert!(!b.contains_key("previous_response_id"));
        let input = b["input"].as_array().unwrap();
        assert_eq!(input.len(), 5);
        assert_eq!(input[0], json!({"role": "user", "content": "hi"}));
        assert_eq!(input[1]["type"], "function_call");
        assert_eq!(input[1]["call_id"], "c1");
        assert_eq!(
            input[2],
            json!({"type": "function_call_output", "call_id": "c1", "output": "42"})
        );
        assert_eq!(
            input[3],
            json!({"role": "assistant", "content": "It is 42."})
        );
        assert_eq!(input[4], json!({"role": "user", "content": "and?"}));
        let alone = body(client.as_object().unwrap(), &[]);
        assert_eq!(alone["input"], "and?");
    }

    #[test]
    fn a_response_output_becomes_an_assistant_message() {
        let r = json!({"output": [
            {"type": "reasoning", "summary": []},
            {"type": "message", "content": [{"type": "output_text", "text": "hello"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]});
        let m = chat_message(&r).unwrap();
        assert_eq!(m["content"], "hello");
        assert_eq!(m["tool_calls"][0]["id"], "c");
        assert!(chat_message(&json!({"output": []})).is_none());
    }

    #[test]
    fn a_native_stream_is_written_back_with_event_lines_and_its_usage_chunk_dropped() {
        let mut p = Passthrough::default();
        let mut out = Vec::new();
        assert!(!p.push(r#"{"choices":[]}"#, &mut out));
        assert!(p.push(
            r#"{"type":"response.created","sequence_number":0}"#,
            &mut out
        ));
        assert!(p.push(
            r#"{"type":"response.completed","sequence_number":1,"response":{"id":"r"}}"#,
            &mut out
        ));
        assert!(p.push(r#"{"choices":[],"usage":{"prompt_tokens":1}}"#, &mut out));
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("event: response.created\ndata: {"));
        assert_eq!(text.matches("event: ").count(), 2);
        assert!(p.ended && p.finished.unwrap()["id"] == "r");
    }

    #[test]
    fn a_broken_native_stream_ends_with_an_error_event() {
        let mut p = Passthrough::default();
        let mut out = Vec::new();
        p.push(
            r#"{"type":"response.created","sequence_number":4}"#,
            &mut out,
        );
        p.push(
            r#"{"error":{"message":"cut","code":"stream_interrupted"}}"#,
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("event: error\ndata: "));
        assert!(text.contains(r#""sequence_number":5"#));
        assert!(text.contains("stream_interrupted"));
        assert!(p.ended);
    }

    #[test]
    fn listed_items_have_ids_and_content_parts() {
        let items = listed(
            "resp_abc",
            &[
                json!({"role": "user", "content": "hi"}),
                json!({"role": "assistant", "content": "yo"}),
            ],
        );
        assert_eq!(items[0]["id"], "msg_abc_0");
        assert_eq!(items[0]["type"], "message");
        assert_eq!(items[0]["content"][0]["type"], "input_text");
        assert_eq!(items[1]["content"][0]["type"], "output_text");
        assert_eq!(items[1]["status"], "completed");
    }
}
