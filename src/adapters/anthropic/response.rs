//! Anthropic answers -> OpenAI: the `chat.completion` object, usage, finish reasons and errors.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::adapters::UpstreamError;
use crate::openai::{
    Completion, CompletionChoice, CompletionMessage, ErrorBody, PromptDetailsReport, ToolCall,
    UsageReport,
};

/// Anthropic's `usage`; every field may be absent or null (stream deltas carry only some).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(super) struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
}

impl AnthropicUsage {
    /// Overwrites the fields `newer` reports (`message_delta` counts are cumulative).
    pub(super) fn merge(&mut self, newer: &AnthropicUsage) {
        let pick = |a: &mut Option<u64>, b: Option<u64>| {
            if b.is_some() {
                *a = b;
            }
        };
        pick(&mut self.input_tokens, newer.input_tokens);
        pick(&mut self.output_tokens, newer.output_tokens);
        pick(
            &mut self.cache_read_input_tokens,
            newer.cache_read_input_tokens,
        );
        pick(
            &mut self.cache_creation_input_tokens,
            newer.cache_creation_input_tokens,
        );
    }

    /// OpenAI usage: prompt = input + cache read + cache write; cached = cache read.
    pub(super) fn report(self) -> UsageReport {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_creation_input_tokens.unwrap_or(0);
        // upstream numbers: saturate rather than overflow on absurd counts
        let prompt = self
            .input_tokens
            .unwrap_or(0)
            .saturating_add(read)
            .saturating_add(write);
        let completion = self.output_tokens.unwrap_or(0);
        UsageReport {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            prompt_tokens_details: PromptDetailsReport {
                cached_tokens: read,
                cache_creation_tokens: Some(write),
            },
            completion_tokens_details: None,
        }
    }
}

/// end_turn/stop_sequence/pause_turn -> stop, max_tokens -> length, tool_use -> tool_calls,
/// refusal -> content_filter.
pub(super) fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// Seconds since the epoch, for `created`.
pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[derive(Deserialize)]
struct Message {
    id: String,
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    usage: AnthropicUsage,
}

/// A Messages API answer as an OpenAI `chat.completion` (`model` is the requested one).
pub(super) fn to_completion(body: &[u8], model: &str) -> Result<Completion, UpstreamError> {
    let msg: Message = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::Malformed(format!("not an Anthropic message: {e}")))?;
    let mut text = String::new();
    let mut thinking = String::new();
    let mut thinking_blocks = Vec::new();
    let mut calls = Vec::new();
    let string =
        |block: &Value, key: &str| block.get(key).and_then(Value::as_str).map(str::to_owned);
    for block in &msg.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("thinking") => {
                thinking.push_str(block.get("thinking").and_then(Value::as_str).unwrap_or(""));
                thinking_blocks.push(block.clone());
            }
            Some("redacted_thinking") => thinking_blocks.push(block.clone()),
            Some("tool_use") => {
                let arguments = match block.get("input") {
                    Some(input) => input.to_string(),
                    None => "{}".into(),
                };
                calls.push(ToolCall::function(
                    string(block, "id"),
                    string(block, "name"),
                    arguments,
                ));
            }
            _ => {}
        }
    }
    let content = (!text.is_empty() || calls.is_empty()).then_some(text);
    let mut message = CompletionMessage::assistant(content, calls);
    message.reasoning_content = (!thinking.is_empty()).then_some(thinking);
    message.thinking_blocks = thinking_blocks;
    let choice = CompletionChoice {
        index: 0,
        message,
        logprobs: None,
        finish_reason: finish_reason(msg.stop_reason.as_deref()),
    };
    Ok(Completion::new(
        msg.id,
        unix_now(),
        model.to_owned(),
        vec![choice],
        Some(msg.usage.report()),
    ))
}

/// An Anthropic error (`{"type":"error","error":{"type","message"}}`) from `provider` in
/// OpenAI's shape and status; a blank or missing message is replaced by one naming the
/// provider and status. `overloaded_error` (529) becomes 503 with code `overloaded` so it is
/// retried.
pub(super) fn to_openai_error(provider: &str, status: u16, body: &[u8]) -> (StatusCode, ErrorBody) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let kind = err.and_then(|e| e.get("type")).and_then(Value::as_str);
    let given = err.and_then(|e| e.get("message")).and_then(Value::as_str);
    let message = crate::adapters::upstream_message(given, provider, status, body);
    let (status, oa_type, code) = match kind {
        Some("overloaded_error") => (503, "server_error", Some("overloaded")),
        Some("rate_limit_error") => (status, "requests", Some("rate_limit_exceeded")),
        Some("authentication_error") => (status, "invalid_request_error", Some("invalid_api_key")),
        Some("permission_error") => (status, "invalid_request_error", Some("permission_denied")),
        Some("not_found_error") => (status, "invalid_request_error", Some("not_found")),
        Some("request_too_large") => (status, "invalid_request_error", Some("request_too_large")),
        Some("api_error") => (status, "server_error", None),
        _ if status == 529 => (503, "server_error", Some("overloaded")),
        _ if status >= 500 => (status, "server_error", None),
        _ => (status, "invalid_request_error", None),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, ErrorBody::new(message, oa_type, None, code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_and_tool_use_become_a_completion() {
        let body = json!({"id": "msg_1", "type": "message", "role": "assistant",
            "content": [{"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5,
                "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}});
        let v =
            serde_json::to_value(to_completion(body.to_string().as_bytes(), "claude-x").unwrap())
                .unwrap();
        assert_eq!(v["model"], "claude-x");
        let c = &v["choices"][0];
        assert_eq!(c["finish_reason"], "tool_calls");
        assert_eq!(c["message"]["content"], "Let me check.");
        assert_eq!(
            c["message"]["tool_calls"][0]["function"]["arguments"],
            r#"{"a":1}"#
        );
        assert_eq!(c["message"]["tool_calls"][0]["id"], "toolu_1");
        assert_eq!(v["usage"]["prompt_tokens"], 130);
        assert_eq!(v["usage"]["completion_tokens"], 5);
        assert_eq!(v["usage"]["total_tokens"], 135);
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 100);
    }

    #[test]
    fn absurd_usage_numbers_saturate() {
        let u = AnthropicUsage {
            input_tokens: Some(u64::MAX),
            output_tokens: Some(u64::MAX),
            cache_read_input_tokens: Some(u64::MAX),
            cache_creation_input_tokens: Some(1),
        }
        .report();
        assert_eq!((u.prompt_tokens, u.total_tokens), (u64::MAX, u64::MAX));
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason(Some("end_turn")), "stop");
        assert_eq!(finish_reason(Some("stop_sequence")), "stop");
        assert_eq!(finish_reason(Some("max_tokens")), "length");
        assert_eq!(finish_reason(Some("tool_use")), "tool_calls");
        assert_eq!(finish_reason(None), "stop");
    }

    #[test]
    fn malformed_bodies_are_malformed() {
        assert!(matches!(
            to_completion(b"{\"id\":", "m"),
            Err(UpstreamError::Malformed(_))
        ));
        assert!(to_completion(b"{\"error\":{}}", "m").is_err());
    }

    #[test]
    fn errors_are_converted() {
        let b = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let (s, body) = to_openai_error("a", 529, b);
        assert_eq!(s, 503);
        let v: Value = serde_json::from_slice(&body.to_bytes()).unwrap();
        assert_eq!(v["error"]["code"], "overloaded");
        assert_eq!(v["error"]["message"], "Overloaded");
        let b = br#"{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#;
        let (s, body) = to_openai_error("a", 400, b);
        assert_eq!(s, 400);
        let v: Value = serde_json::from_slice(&body.to_bytes()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["param"].is_null());
        let (s, _) = to_openai_error("a", 502, b"<html>");
        assert_eq!(s, 502);
    }

    #[test]
    fn blank_error_messages_are_replaced_with_provider_and_status() {
        for message in ["\"\"", "\"  \"", "null"] {
            let b = format!(
                r#"{{"type":"error","error":{{"type":"invalid_request_error","message":{message}}}}}"#
            );
            let (s, body) = to_openai_error("claude-prod", 400, b.as_bytes());
            assert_eq!(s, 400);
            let m = body.error.message;
            assert!(
                m.contains("claude-prod") && m.contains("400"),
                "{message}: {m:?}"
            );
        }
        let (_, body) = to_openai_error("claude-prod", 500, b"");
        assert!(body.error.message.contains("claude-prod"), "{body:?}");
    }
}
