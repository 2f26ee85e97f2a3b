//! OpenAI wire helpers: request bodies, headers, the error shape and SSE payloads.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};

/// A one-message chat body.
pub fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// A one-message streaming chat body.
pub fn chat_stream(model: &str, text: &str, include_usage: bool) -> Value {
    let mut b = chat(model, text);
    b["stream"] = json!(true);
    if include_usage {
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

/// A header's value as a string ("" when missing).
pub fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts OpenAI's error shape `{"error":{"message","type","param","code"}}` and returns the
/// inner object.
pub fn assert_openai_error(body: &Value) -> &serde_json::Map<String, Value> {
    let err = body
        .get("error")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("not an OpenAI error body: {body}"));
    assert!(
        err.get("message")
            .is_some_and(|m| m.as_str().is_some_and(|s| !s.is_empty())),
        "error.message must be a non-empty string: {body}"
    );
    assert!(
        err.get("type").is_some_and(Value::is_string),
        "error.type must be a string: {body}"
    );
    for k in ["param", "code"] {
        let v = err
            .get(k)
            .unwrap_or_else(|| panic!("error.{k} must be present: {body}"));
        assert!(
            v.is_null() || v.is_string(),
            "error.{k} must be a string or null: {body}"
        );
    }
    err
}

/// The `data:` payloads of an SSE text, in order.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// The content text of chunk payloads, concatenated.
pub fn sse_content(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .flat_map(|v| {
            v["choices"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c["delta"]["content"].as_str().map(str::to_owned))
        })
        .collect()
}

/// The number of chunks carrying non-empty content.
pub fn content_chunks(events: &[String]) -> usize {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter(|v| {
            v["choices"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["delta"]["content"]
                        .as_str()
                        .is_some_and(|s| !s.is_empty())
                })
            })
        })
        .count()
}

/// The sim's prompt-token formula: Σ ceil(chars / 4) + 4 per message.
pub fn sim_prompt_tokens(texts: &[&str]) -> u64 {
    texts
        .iter()
        .map(|t| (t.chars().count() as u64).div_ceil(4) + 4)
        .sum()
}

/// A free local port that refuses connections.
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1")
}
