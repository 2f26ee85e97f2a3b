//! Gemini `alt=sse` events (each a `GenerateContentResponse`) -> OpenAI `chat.completion.chunk` JSON texts.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use serde_json::{json, Value};

use crate::adapters::{driver, UpstreamError};

use super::response::{
    finish_reason, tool_call, usage_report, GenerateContentResponse, UsageMetadata,
};

/// Per-stream state: which candidates have begun, tool call numbering, the last usage seen.
pub(crate) struct Translator {
    id: String,
    created: u64,
    model: String,
    call_prefix: String,
    /// candidate index -> tool calls emitted so far for it
    started: HashMap<u32, usize>,
    calls: usize,
    usage: Option<UsageMetadata>,
    /// A finishReason (or a prompt block) arrived, so a clean end of the body is the end.
    pub finished: bool,
}

impl Translator {
    pub(super) fn new(id: String, created: u64, model: String, call_prefix: String) -> Self {
        Self {
            id,
            created,
            model,
            call_prefix,
            started: HashMap::new(),
            calls: 0,
            usage: None,
            finished: false,
        }
    }

    fn chunk(&self, choices: Value) -> String {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
        .to_string()
    }

    fn choice(&self, index: u32, delta: Value, finish: Option<&str>) -> String {
        self.chunk(
            json!([{ "index": index, "delta": delta, "logprobs": null, "finish_reason": finish }]),
        )
    }

    /// The role chunk the first time a candidate appears.
    fn begin(&mut self, index: u32, out: &mut Vec<String>) {
        if let Entry::Vacant(slot) = self.started.entry(index) {
            slot.insert(0);
            out.push(self.choice(index, json!({"role": "assistant", "content": ""}), None));
        }
    }

    /// The chunks one upstream event becomes.
    pub(super) fn translate(&mut self, resp: &GenerateContentResponse) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(u) = resp.usage_metadata {
            self.usage = Some(u);
        }
        if resp.prompt_blocked() {
            self.begin(0, &mut out);
            out.push(self.choice(0, json!({}), Some("content_filter")));
            self.finished = true;
            return out;
        }
        for (pos, c) in resp.candidates.iter().enumerate() {
            let index = c.index_or(pos);
            self.begin(index, &mut out);
            for p in c.parts() {
                if let Some(t) = p.text.as_deref().filter(|t| !t.is_empty()) {
                    out.push(self.choice(index, json!({ "content": t }), None));
                }
                if let Some(f) = &p.function_call {
                    let slot = self.started.get(&index).copied().unwrap_or_default();
                    let mut call = json!(tool_call(&self.call_prefix, self.calls, f));
                    call["index"] = json!(slot);
                    self.calls += 1;
                    self.started.insert(index, slot + 1);
                    out.push(self.choice(index, json!({ "tool_calls": [call] }), None));
                }
            }
            if let Some(lp) = &c.logprobs_result {
                let logprobs = super::response::openai_logprobs(lp);
                out.push(
                    self.chunk(json!([{ "index": index, "delta": {}, "logprobs": logprobs,
                    "finish_reason": null }])),
                );
            }
            if let Some(reason) = &c.finish_reason {
                let has_calls = self.started.get(&index).is_some_and(|n| *n > 0);
                out.push(self.choice(index, json!({}), Some(finish_reason(reason, has_calls))));
                self.finished = true;
            }
        }
        out
    }

    /// The closing usage chunk (empty choices); the router drops it unless the client asked.
    pub(super) fn usage_chunk(&self) -> String {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_report(&self.usage.unwrap_or_default()),
        })
        .to_string()
    }
}

impl driver::Translator for Translator {
    fn on_event(&mut self, data: &str, out: &mut driver::Out) -> Result<bool, UpstreamError> {
        let value: Value = serde_json::from_str(data)
            .map_err(|e| UpstreamError::Malformed(format!("stream event is not JSON: {e}")))?;
        if let Some(e) = value.get("error") {
            let msg = e["message"]
                .as_str()
                .filter(|m| !m.trim().is_empty())
                .unwrap_or("no message");
            return Err(UpstreamError::StreamCut(format!("upstream error: {msg}")));
        }
        let resp: GenerateContentResponse =
            serde_json::from_value(value).map_err(|e| UpstreamError::Malformed(e.to_string()))?;
        out.extend(self.translate(&resp));
        Ok(false)
    }

    /// The body's end is the stream's end once a `finishReason` (or a prompt block) arrived.
    fn on_end(&mut self, out: &mut driver::Out) -> Result<(), UpstreamError> {
        if !self.finished {
            return Err(UpstreamError::StreamCut(
                "Gemini stream ended without a finishReason".into(),
            ));
        }
        out.push_back(self.usage_chunk());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(v: Value) -> GenerateContentResponse {
        serde_json::from_value(v).unwrap()
    }

    fn parse(chunks: &[String]) -> Vec<Value> {
        chunks
            .iter()
            .map(|c| serde_json::from_str(c).unwrap())
            .collect()
    }

    #[test]
    fn text_stream_becomes_role_content_finish_usage() {
        let mut t = Translator::new("id".into(), 1, "g".into(), "x".into());
        let a = parse(&t.translate(&ev(json!({"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]},"index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1}}))));
        assert_eq!(a[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(a[1]["choices"][0]["delta"]["content"], "Hi");
        assert!(!t.finished);
        let b = parse(&t.translate(&ev(json!({"candidates":[{"content":{"role":"model","parts":[{"text":" there"}]},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2,"totalTokenCount":7}}))));
        assert_eq!(b.len(), 2);
        assert_eq!(b[1]["choices"][0]["finish_reason"], "length");
        assert!(t.finished);
        let u: Value = serde_json::from_str(&t.usage_chunk()).unwrap();
        assert_eq!(u["choices"], json!([]));
        assert_eq!(u["usage"]["completion_tokens"], 2);
        assert_eq!(u["usage"]["total_tokens"], 7);
    }

    #[test]
    fn function_calls_are_whole_tool_call_deltas() {
        let mut t = Translator::new("id".into(), 1, "g".into(), "x".into());
        let a = parse(&t.translate(&ev(json!({"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"q":"a"}}},{"functionCall":{"name":"g","args":{}}}]},"finishReason":"STOP"}]}))));
        let call = &a[1]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call["index"], 0);
        assert_eq!(call["id"], "call_x0");
        assert_eq!(call["function"]["name"], "f");
        assert_eq!(call["function"]["arguments"], "{\"q\":\"a\"}");
        assert_eq!(a[2]["choices"][0]["delta"]["tool_calls"][0]["index"], 1);
        assert_eq!(a[3]["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn blocked_prompt_finishes_with_content_filter() {
        let mut t = Translator::new("id".into(), 1, "g".into(), "x".into());
        let a = parse(&t.translate(&ev(json!({"promptFeedback":{"blockReason":"SAFETY"}}))));
        assert_eq!(
            a.last().unwrap()["choices"][0]["finish_reason"],
            "content_filter"
        );
        assert!(t.finished);
    }
}
