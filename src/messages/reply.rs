//! The router's answers (OpenAI's shapes) -> Anthropic's: a `chat.completion` as a `message`,
//! an error body as `{"type":"error","error":{...}}`, usage and stop reasons.

use axum::http::StatusCode;
use serde_json::{json, Value};

/// OpenAI `finish_reason` -> Anthropic `stop_reason`.
pub(crate) fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// OpenAI usage -> Anthropic usage: `input_tokens` excludes cache reads and writes, which
/// OpenAI's `prompt_tokens` includes.
pub(crate) fn usage(u: Option<&Value>, fallback_input: u64) -> Value {
    let Some(u) = u.filter(|u| u.is_object()) else {
        return json!({"input_tokens": fallback_input, "output_tokens": 0});
    };
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let details = &u["prompt_tokens_details"];
    let read = n(&details["cached_tokens"]);
    let write = n(&details["cache_creation_tokens"]);
    json!({"input_tokens": n(&u["prompt_tokens"]).saturating_sub(read + write),
        "output_tokens": n(&u["completion_tokens"]),
        "cache_read_input_tokens": read, "cache_creation_input_tokens": write})
}

/// `msg_…` from a completion id.
pub(crate) fn message_id(id: Option<&str>) -> String {
    match id {
        Some(id) if id.starts_with("msg_") => id.to_owned(),
        Some(id) if !id.is_empty() => format!("msg_{id}"),
        _ => format!("msg_{:016x}", rand::random::<u64>()),
    }
}

/// Tool-call arguments (a JSON text) as a `tool_use` input object.
pub(crate) fn tool_input(arguments: Option<&str>) -> Value {
    match arguments.map(serde_json::from_str::<Value>) {
        Some(Ok(v @ Value::Object(_))) => v,
        _ => json!({}),
    }
}

/// A `chat.completion` as an Anthropic `message` (the first choice: Messages has one).
pub(crate) fn message(completion: &Value) -> Value {
    let choice = &completion["choices"][0];
    let msg = &choice["message"];
    let mut content = Vec::new();
    match msg["thinking_blocks"].as_array() {
        Some(blocks) if !blocks.is_empty() => content.extend(blocks.iter().cloned()),
        _ => {
            if let Some(r) = msg["reasoning_content"].as_str().filter(|r| !r.is_empty()) {
                content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
            }
        }
    }
    if let Some(text) = msg["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in msg["tool_calls"].as_array().into_iter().flatten() {
        content.push(json!({"type": "tool_use", "id": call["id"],
            "name": call["function"]["name"],
            "input": tool_input(call["function"]["arguments"].as_str())}));
    }
    json!({"id": message_id(completion["id"].as_str()), "type": "message", "role": "assistant",
        "model": completion["model"], "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str()), "stop_sequence": null,
        "usage": usage(completion.get("usage"), 0)})
}

/// Anthropic's error `type` for a status.
pub(crate) fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// An OpenAI-shaped error body (any body, really) as Anthropic's error object.
pub(crate) fn error(status: StatusCode, body: &[u8]) -> Value {
    let parsed: Value = serde_json::from_slice(body).unwrap_or_default();
    let message = parsed["error"]["message"].as_str().map_or_else(
        || String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
        str::to_owned,
    );
    json!({"type": "error", "error": {"type": error_type(status), "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_becomes_message() {
        let c = json!({"id": "chatcmpl-1", "model": "gpt-x", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "w", "arguments": "{\"city\":\"Oslo\"}"}}]},
            "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 10}}});
        let m = message(&c);
        assert_eq!(m["id"], "msg_chatcmpl-1");
        assert_eq!(m["type"], "message");
        assert_eq!(
            m["content"][0],
            json!({"type": "text", "text": "Checking."})
        );
        assert_eq!(
            m["content"][1],
            json!({"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Oslo"}})
        );
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(m["usage"]["input_tokens"], 20);
        assert_eq!(m["usage"]["cache_read_input_tokens"], 10);
        assert_eq!(m["usage"]["output_tokens"], 5);
    }

    #[test]
    fn errors_take_anthropic_types() {
        let e = error(
            StatusCode::NOT_FOUND,
            br#"{"error":{"message":"no such model","type":"invalid_request_error"}}"#,
        );
        assert_eq!(
            e,
            json!({"type": "error", "error": {"type": "not_found_error", "message": "no such model"}})
        );
        assert_eq!(
            error_type(StatusCode::TOO_MANY_REQUESTS),
            "rate_limit_error"
        );
        assert_eq!(error_type(StatusCode::BAD_GATEWAY), "api_error");
        assert_eq!(
            error_type(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error"
        );
        assert_eq!(stop_reason(Some("length")), "max_tokens");
        assert_eq!(stop_reason(Some("stop")), "end_turn");
    }
}
