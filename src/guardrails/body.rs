//! Redacts output-rule matches in a whole (non-streamed) OpenAI answer body.

use serde_json::Value;

use super::scan::redact_text;
use super::{Guardrails, OutputRule};

impl Guardrails {
    /// Applies every output rule to an answer's text: chat `message.content` (a string or
    /// text parts), tool-call and legacy function-call arguments, and legacy `text`.
    ///
    /// Returns the rewritten body and the number of replacements, or `None` when nothing
    /// matched (or the body is not a JSON answer with choices) so the caller can send the
    /// original bytes untouched. Other fields keep their values; key order may change.
    pub fn redact_body(&self, body: &[u8]) -> Option<(Vec<u8>, u32)> {
        if self.output.is_empty() {
            return None;
        }
        let mut answer: Value = serde_json::from_slice(body).ok()?;
        let choices = answer.get_mut("choices")?.as_array_mut()?;
        let mut n = 0u32;
        for choice in choices {
            n = n.saturating_add(redact_choice(&self.output, choice));
        }
        if n == 0 {
            return None;
        }
        Some((serde_json::to_vec(&answer).ok()?, n))
    }
}

/// Redacts one choice in place and counts the replacements.
fn redact_choice(rules: &[OutputRule], choice: &mut Value) -> u32 {
    let mut n = redact_at(rules, choice.get_mut("text"));
    let Some(message) = choice.get_mut("message") else {
        return n;
    };
    match message.get_mut("content") {
        Some(Value::Array(parts)) => {
            for part in parts {
                n = n.saturating_add(redact_at(rules, part.get_mut("text")));
            }
        }
        content => n = n.saturating_add(redact_at(rules, content)),
    }
    if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
        for call in calls {
            n = n.saturating_add(redact_at(rules, call.pointer_mut("/function/arguments")));
        }
    }
    n.saturating_add(redact_at(
        rules,
        message.pointer_mut("/function_call/arguments"),
    ))
}

/// Redacts a string value in place; anything else is left alone.
fn redact_at(rules: &[OutputRule], v: Option<&mut Value>) -> u32 {
    let Some(Value::String(s)) = v else { return 0 };
    match redact_text(rules, s) {
        Some((text, n)) => {
            *s = text;
            n
        }
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use crate::guardrails::test_guards;
    use serde_json::{json, Value};

    fn guards() -> crate::guardrails::Guardrails {
        test_guards(json!({"output": [
            {"name": "key", "pattern": "sk-[A-Za-z0-9]{8,}", "replace": "[KEY]"},
            {"name": "mail", "pattern": r"[a-z]+@example\.com"},
        ]}))
    }

    fn redact(body: Value) -> Option<(Value, u32)> {
        let (bytes, n) = guards().redact_body(body.to_string().as_bytes())?;
        Some((serde_json::from_slice(&bytes).expect("json"), n))
    }

    #[test]
    fn string_content() {
        let body = json!({"id": "c1", "object": "chat.completion", "usage": {"total_tokens": 9},
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "key sk-abcdefgh12, mail bob@example.com"}}]});
        let mut want = body.clone();
        want["choices"][0]["message"]["content"] = json!("key [KEY], mail [REDACTED]");
        assert_eq!(redact(body), Some((want, 2)));
    }

    #[test]
    fn array_of_text_parts() {
        let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": [
            {"type": "text", "text": "a sk-abcdefgh12"},
            {"type": "image_url", "image_url": {"url": "sk-abcdefgh12"}},
            {"type": "text", "text": "plain"},
        ]}}]});
        let mut want = body.clone();
        want["choices"][0]["message"]["content"][0]["text"] = json!("a [KEY]");
        assert_eq!(redact(body), Some((want, 1)));
    }

    #[test]
    fn legacy_text() {
        let body = json!({"object": "text_completion", "choices": [
            {"index": 0, "text": "x sk-abcdefgh12 y", "logprobs": null, "finish_reason": "stop"},
            {"index": 1, "text": "clean", "logprobs": null, "finish_reason": "stop"},
        ]});
        let mut want = body.clone();
        want["choices"][0]["text"] = json!("x [KEY] y");
        assert_eq!(redact(body), Some((want, 1)));
    }

    #[test]
    fn tool_call_arguments() {
        let body = json!({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [{"id": "sk-abcdefgh12", "type": "function",
                "function": {"name": "send", "arguments": "{\"to\":\"amy@example.com\"}"}}]}}]});
        let mut want = body.clone();
        want["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] =
            json!("{\"to\":\"[REDACTED]\"}");
        assert_eq!(redact(body), Some((want, 1)));
    }

    #[test]
    fn nothing_to_redact_is_none() {
        let g = guards();
        let chat = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}]});
        assert_eq!(g.redact_body(chat.to_string().as_bytes()), None);
        let embeddings = json!({"object": "list", "data": [{"embedding": [0.1], "index": 0}]});
        assert_eq!(g.redact_body(embeddings.to_string().as_bytes()), None);
        assert_eq!(g.redact_body(b"not json sk-abcdefgh12"), None);
        let none = test_guards(json!({}));
        let secret = json!({"choices": [{"message": {"content": "sk-abcdefgh12"}}]});
        assert_eq!(none.redact_body(secret.to_string().as_bytes()), None);
    }
}
