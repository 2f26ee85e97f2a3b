//! Anthropic streaming events -> OpenAI `chat.completion.chunk` JSON texts.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::response::{finish_reason, to_openai_error, unix_now, AnthropicUsage};
use crate::adapters::driver;
use crate::adapters::UpstreamError;

/// Turns one event at a time into the OpenAI chunks it stands for.
pub(super) struct Translator {
    /// The provider's name, for error messages the upstream left blank.
    provider: String,
    id: String,
    model: String,
    created: u64,
    /// Anthropic content-block index -> OpenAI `tool_calls[].index`.
    tools: HashMap<u64, u64>,
    usage: AnthropicUsage,
    finished: bool,
    /// Set by `message_stop`: the stream ended properly.
    pub done: bool,
    /// Whether any content or tool call was emitted (an error before it may be an overload).
    said_anything: bool,
}

impl Translator {
    /// `model` is the requested upstream model, echoed in every chunk.
    pub(super) fn new(provider: &str, model: &str) -> Self {
        Self {
            provider: provider.to_owned(),
            id: String::new(),
            model: model.to_owned(),
            created: unix_now(),
            tools: HashMap::new(),
            usage: AnthropicUsage::default(),
            finished: false,
            done: false,
            said_anything: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
        .to_string()
    }

    /// The chunks for one event's `data`; unknown event types (and `ping`) give none.
    pub(super) fn translate(&mut self, data: &str) -> Result<Vec<String>, UpstreamError> {
        let ev: Value = serde_json::from_str(data)
            .map_err(|e| UpstreamError::Malformed(format!("stream event is not JSON: {e}")))?;
        let kind = ev.get("type").and_then(Value::as_str).unwrap_or_default();
        let index = ev.get("index").and_then(Value::as_u64).unwrap_or(0);
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                let msg = ev.get("message").ok_or_else(|| bad("message_start"))?;
                msg.get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .clone_into(&mut self.id);
                if let Some(u) = msg.get("usage") {
                    self.usage.merge(&usage(u)?);
                }
                out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content_block_start" => {
                let block = ev.get("content_block").ok_or_else(|| bad(kind))?;
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                        if !text.is_empty() {
                            self.said_anything = true;
                            out.push(self.chunk(json!({"content": text}), None));
                        }
                    }
                    Some("tool_use") => {
                        let k = self.tools.len() as u64;
                        self.tools.insert(index, k);
                        self.said_anything = true;
                        out.push(self.chunk(
                            json!({"tool_calls": [{"index": k, "id": block.get("id"),
                                "type": "function", "function": {"name": block.get("name"),
                                "arguments": ""}}]}),
                            None,
                        ));
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let delta = ev.get("delta").ok_or_else(|| bad(kind))?;
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        let text = delta.get("text").and_then(Value::as_str).unwrap_or("");
                        if !text.is_empty() {
                            self.said_anything = true;
                            out.push(self.chunk(json!({"content": text}), None));
                        }
                    }
                    Some("signature_delta") => {
                        let sig = delta.get("signature").and_then(Value::as_str).unwrap_or("");
                        out.push(self.chunk(json!({"thinking_signature": sig}), None));
                    }
                    Some("thinking_delta") => {
                        let t = delta.get("thinking").and_then(Value::as_str).unwrap_or("");
                        if !t.is_empty() {
                            out.push(self.chunk(json!({"reasoning_content": t}), None));
                        }
                    }
                    Some("input_json_delta") => {
                        let part = delta.get("partial_json").and_then(Value::as_str);
                        let k = self.tools.get(&index).copied();
                        if let (Some(part), Some(k)) = (part.filter(|p| !p.is_empty()), k) {
                            out.push(self.chunk(
                                json!({"tool_calls": [{"index": k,
                                    "function": {"arguments": part}}]}),
                                None,
                            ));
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(u) = ev.get("usage") {
                    self.usage.merge(&usage(u)?);
                }
                let stop = ev
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str);
                if let Some(stop) = stop {
                    self.finished = true;
                    out.push(self.chunk(json!({}), Some(finish_reason(Some(stop)))));
                }
            }
            "message_stop" => {
                if !self.finished {
                    self.finished = true;
                    out.push(self.chunk(json!({}), Some("stop")));
                }
                out.push(self.usage_chunk());
                self.done = true;
            }
            "error" => return Err(self.error(&ev)),
            _ => {}
        }
        Ok(out)
    }

    /// The closing usage chunk (empty choices); the router drops it unless the client asked.
    fn usage_chunk(&self) -> String {
        json!({"id": self.id, "object": "chat.completion.chunk",
            "created": self.created, "model": self.model, "choices": [],
            "usage": self.usage.report()})
        .to_string()
    }

    /// An `error` event: an overload before any content is a retryable 503, else a cut.
    fn error(&self, ev: &Value) -> UpstreamError {
        let err = ev.get("error");
        let kind = err.and_then(|e| e.get("type")).and_then(Value::as_str);
        let message = err
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .filter(|m| !m.trim().is_empty())
            .unwrap_or("no message");
        if kind == Some("overloaded_error") && !self.said_anything {
            let (status, body) = to_openai_error(&self.provider, 529, ev.to_string().as_bytes());
            return UpstreamError::Status {
                status,
                body: body.to_bytes(),
                retry_after: None,
            };
        }
        UpstreamError::StreamCut(format!("{}: {message}", kind.unwrap_or("error event")))
    }
}

impl driver::Translator for Translator {
    fn on_event(&mut self, data: &str, out: &mut driver::Out) -> Result<bool, UpstreamError> {
        out.extend(self.translate(data)?);
        Ok(self.done)
    }

    /// A body that ends after the `message_delta` with its `stop_reason` is complete, even
    /// without `message_stop`: the usage chunk `message_stop` would have sent closes it.
    fn on_end(&mut self, out: &mut driver::Out) -> Result<(), UpstreamError> {
        if !self.finished {
            return Err(UpstreamError::StreamCut(
                "ended without message_stop".into(),
            ));
        }
        out.push_back(self.usage_chunk());
        Ok(())
    }
}

fn usage(v: &Value) -> Result<AnthropicUsage, UpstreamError> {
    serde_json::from_value(v.clone()).map_err(|e| UpstreamError::Malformed(format!("usage: {e}")))
}

fn bad(kind: &str) -> UpstreamError {
    UpstreamError::Malformed(format!("{kind} event is missing its payload"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(events: &[Value]) -> (Translator, Vec<Value>) {
        let mut t = Translator::new("p", "claude-x");
        let mut out = Vec::new();
        for e in events {
            for c in t.translate(&e.to_string()).unwrap() {
                out.push(serde_json::from_str(&c).unwrap());
            }
        }
        (t, out)
    }

    #[test]
    fn text_stream_becomes_chunks_with_finish_and_usage() {
        let (t, out) = run(&[
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                "role": "assistant", "content": [], "stop_reason": null,
                "usage": {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 4}}}),
            json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "Hello"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens",
                "stop_sequence": null}, "usage": {"output_tokens": 7}}),
            json!({"type": "message_stop"}),
        ]);
        assert!(t.done);
        assert_eq!(out.len(), 4, "{out:?}");
        assert_eq!(out[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(out[1]["choices"][0]["delta"]["content"], "Hello");
        assert_eq!(out[2]["choices"][0]["finish_reason"], "length");
        assert_eq!(out[3]["choices"], json!([]));
        assert_eq!(out[3]["usage"]["prompt_tokens"], 16);
        assert_eq!(out[3]["usage"]["completion_tokens"], 7);
        assert_eq!(out[3]["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
        assert_eq!(out[3]["model"], "claude-x");
    }

    #[test]
    fn tool_use_stream_becomes_tool_call_deltas() {
        let (_, out) = run(&[
            json!({"type": "message_start", "message": {"id": "m", "usage": {}}}),
            json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_start", "index": 1, "content_block":
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
            json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
        ]);
        let tc = &out[1]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(tc["index"], 0);
        assert_eq!(tc["id"], "toolu_1");
        assert_eq!(tc["function"]["name"], "f");
        let args: String = out[2..4]
            .iter()
            .map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(args, "{\"a\":1}");
        assert_eq!(out[4]["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn error_events_fail_the_stream() {
        let mut t = Translator::new("p", "m");
        let over = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        assert!(matches!(
            t.translate(&over.to_string()),
            Err(UpstreamError::Status { status, .. }) if status == 503
        ));
        t.said_anything = true;
        assert!(matches!(
            t.translate(&over.to_string()),
            Err(UpstreamError::StreamCut(_))
        ));
        assert!(matches!(
            t.translate("{not json"),
            Err(UpstreamError::Malformed(_))
        ));
    }
}
