//! The router's relayed stream (OpenAI chunk events) -> Anthropic's event sequence:
//! `message_start`, `ping`, `content_block_start` / `_delta` (`text_delta`, `thinking_delta`,
//! `signature_delta`, `input_json_delta`) / `_stop`, `message_delta` (stop reason, usage), `message_stop`; an error
//! event of the relay becomes Anthropic's `error` event.

use serde_json::{json, Value};

use super::reply::{message_id, stop_reason, usage};

/// What kind of content block is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Thinking,
    Text,
    /// A tool call, by its OpenAI `tool_calls[].index`.
    Tool(u64),
}

/// Translates one stream, fed the relay's bytes as they come.
pub(crate) struct Events {
    /// Bytes of an event not complete yet.
    pending: Vec<u8>,
    input_tokens: u64,
    started: bool,
    /// The open block: its Anthropic index and kind.
    open: Option<(u32, Kind)>,
    next_index: u32,
    finish: Option<String>,
    usage: Option<Value>,
    /// `message_stop` or `error` was sent; nothing more is.
    pub done: bool,
}

impl Events {
    /// `input_tokens` is the router's prompt count, for `message_start` (OpenAI streams report
    /// usage only at the end).
    pub(crate) fn new(input_tokens: u64) -> Self {
        Self {
            pending: Vec::new(),
            input_tokens,
            started: false,
            open: None,
            next_index: 0,
            finish: None,
            usage: None,
            done: false,
        }
    }

    /// Appends the Anthropic events for the complete OpenAI events in `bytes` to `out`.
    pub(crate) fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = self.pending.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
                .collect();
            if !data.is_empty() && !self.done {
                self.on_data(&data.join("\n"), out);
            }
        }
    }

    /// The relay's stream ended; a stream that ended without `[DONE]` or an error event was cut.
    pub(crate) fn end(&mut self, out: &mut Vec<u8>) {
        if !self.done {
            self.on_error(
                "The stream ended before the answer was complete.",
                "api_error",
                out,
            );
        }
    }

    fn on_data(&mut self, data: &str, out: &mut Vec<u8>) {
        if data == "[DONE]" {
            self.start(None, out);
            self.close(out);
            let stop = stop_reason(self.finish.as_deref());
            let usage = usage(self.usage.as_ref(), self.input_tokens);
            write(
                out,
                "message_delta",
                &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage}),
            );
            write(out, "message_stop", &json!({"type": "message_stop"}));
            self.done = true;
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if let Some(err) = chunk.get("error").filter(|e| e.is_object()) {
            let kind = match err["code"].as_str() {
                Some("server_shutting_down") => "overloaded_error",
                _ => "api_error",
            };
            let message = err["message"].as_str().unwrap_or("the stream failed");
            self.on_error(message, kind, out);
            return;
        }
        self.start(Some(&chunk), out);
        if chunk.get("usage").is_some_and(Value::is_object) {
            self.usage = chunk.get("usage").cloned();
        }
        let Some(choice) = chunk["choices"].as_array().and_then(|c| c.first()) else {
            return;
        };
        let delta = &choice["delta"];
        if let Some(t) = delta["reasoning_content"]
            .as_str()
            .filter(|t| !t.is_empty())
        {
            self.ensure(
                Kind::Thinking,
                &json!({"type": "thinking", "thinking": "", "signature": ""}),
                out,
            );
            self.delta(&json!({"type": "thinking_delta", "thinking": t}), out);
        }
        if let Some(sig) = delta["thinking_signature"].as_str() {
            if self.open.is_some_and(|(_, k)| k == Kind::Thinking) {
                self.delta(&json!({"type": "signature_delta", "signature": sig}), out);
            }
        }
        if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            self.ensure(Kind::Text, &json!({"type": "text", "text": ""}), out);
            self.delta(&json!({"type": "text_delta", "text": t}), out);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap_or(0);
            let f = &call["function"];
            if call.get("id").is_some_and(|id| !id.is_null())
                || self.open.map(|(_, k)| k) != Some(Kind::Tool(index))
            {
                self.close(out);
                let block = json!({"type": "tool_use", "id": call["id"], "name": f["name"],
                    "input": {}});
                self.ensure(Kind::Tool(index), &block, out);
            }
            if let Some(args) = f["arguments"].as_str().filter(|a| !a.is_empty()) {
                self.delta(
                    &json!({"type": "input_json_delta", "partial_json": args}),
                    out,
                );
            }
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.finish = Some(f.to_owned());
        }
    }

    /// `message_start` and a `ping`, once, before anything else.
    fn start(&mut self, chunk: Option<&Value>, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = message_id(chunk.and_then(|c| c["id"].as_str()));
        let model = chunk.map_or(Value::Null, |c| c["model"].clone());
        write(
            out,
            "message_start",
            &json!({"type": "message_start", "message": {"id": id, "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": self.input_tokens, "output_tokens": 0}}}),
        );
        write(out, "ping", &json!({"type": "ping"}));
    }

    /// Opens a block of `kind` unless one is open already.
    fn ensure(&mut self, kind: Kind, block: &Value, out: &mut Vec<u8>) {
        if self.open.is_some_and(|(_, k)| k == kind) {
            return;
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        write(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        );
    }

    fn delta(&self, delta: &Value, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open {
            write(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            );
        }
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some((index, _)) = self.open.take() {
            write(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn on_error(&mut self, message: &str, kind: &str, out: &mut Vec<u8>) {
        write(
            out,
            "error",
            &json!({"type": "error", "error": {"type": kind, "message": message}}),
        );
        self.done = true;
    }
}

fn write(out: &mut Vec<u8>, event: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[Value], done: bool) -> Vec<(String, Value)> {
        let mut e = Events::new(12);
        let mut out = Vec::new();
        for c in chunks {
            // split each event across two pushes, as the network may
            let text = format!("data: {c}\n\n");
            let (a, b) = text.as_bytes().split_at(7);
            e.push(a, &mut out);
            e.push(b, &mut out);
        }
        if done {
            e.push(b"data: [DONE]\n\n", &mut out);
        }
        e.end(&mut out);
        String::from_utf8(out)
            .unwrap()
            .split("\n\n")
            .filter(|s| !s.is_empty())
            .map(|ev| {
                let mut lines = ev.lines();
                let name = lines
                    .next()
                    .unwrap()
                    .strip_prefix("event: ")
                    .unwrap()
                    .to_owned();
                let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
                (name, serde_json::from_str(data).unwrap())
            })
            .collect()
    }

    fn chunk(delta: Value, finish: Option<&str>) -> Value {
        json!({"id": "c1", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    #[test]
    fn text_then_tool_call_in_anthropic_order() {
        let events = run(
            &[
                chunk(json!({"role": "assistant", "content": ""}), None),
                chunk(json!({"content": "Let me "}), None),
                chunk(json!({"content": "check."}), None),
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                    "function": {"name": "w", "arguments": ""}}]}),
                    None,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]}),
                    None,
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
                    None,
                ),
                chunk(json!({}), Some("tool_calls")),
                json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 9}}),
            ],
            true,
        );
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[0].1["message"]["usage"]["input_tokens"], 12);
        assert_eq!(events[0].1["message"]["id"], "msg_c1");
        assert_eq!(
            events[3].1["delta"],
            json!({"type": "text_delta", "text": "Let me "})
        );
        assert_eq!(events[6].1["index"], 1);
        assert_eq!(events[6].1["content_block"]["name"], "w");
        assert_eq!(events[8].1["delta"]["partial_json"], "1}");
        assert_eq!(events[10].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(events[10].1["usage"]["output_tokens"], 9);
    }

    #[test]
    fn thinking_comes_first_with_its_signature() {
        let events = run(
            &[
                chunk(json!({"reasoning_content": "Let me think."}), None),
                chunk(json!({"thinking_signature": "sig-1"}), None),
                chunk(json!({"content": "42"}), Some("stop")),
            ],
            true,
        );
        let deltas: Vec<&Value> = events
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .map(|(_, d)| &d["delta"])
            .collect();
        assert_eq!(
            deltas[0],
            &json!({"type": "thinking_delta", "thinking": "Let me think."})
        );
        assert_eq!(
            deltas[1],
            &json!({"type": "signature_delta", "signature": "sig-1"})
        );
        assert_eq!(deltas[2]["type"], "text_delta");
        assert_eq!(events[2].1["content_block"]["type"], "thinking");
    }

    #[test]
    fn relay_errors_and_cut_streams_end_with_an_error_event() {
        let events = run(
            &[
                chunk(json!({"content": "Hi"}), None),
                json!({"error": {"message": "upstream broke", "type": "upstream_error",
                    "param": null, "code": "stream_interrupted"}}),
            ],
            false,
        );
        let last = events.last().unwrap();
        assert_eq!(last.0, "error");
        assert_eq!(last.1["error"]["message"], "upstream broke");
        assert!(!events.iter().any(|(n, _)| n == "message_stop"));
        let cut = run(&[chunk(json!({"content": "Hi"}), None)], false);
        assert_eq!(cut.last().unwrap().0, "error");
    }
}
