//! Rewrites a continuation's chunks so they read as the rest of the stream they continue:
//! the first stream's `id`, `model`, `created` and fingerprint, no second role chunk, the
//! whitespace the client already has dropped, and one usage that adds both parts.

use serde_json::{Map, Value};

use crate::openai::Usage;

/// The fields that name a stream, read from its first chunk.
#[derive(Debug, Clone, Default)]
pub(crate) struct Identity(Map<String, Value>);

/// The chunk fields that must not change within one stream.
const NAMING: [&str; 4] = ["id", "model", "created", "system_fingerprint"];

impl Identity {
    /// The naming fields of chunk `data`, or None if it is not a JSON object.
    pub(crate) fn of(data: &str) -> Option<Self> {
        let Ok(Value::Object(chunk)) = serde_json::from_str::<Value>(data) else {
            return None;
        };
        Some(Self(
            chunk
                .into_iter()
                .filter(|(k, _)| NAMING.contains(&k.as_str()))
                .collect(),
        ))
    }
}

/// One continuation's rewriting state.
#[derive(Debug)]
pub(crate) struct Splice {
    identity: Identity,
    /// Whitespace characters still to drop from the start of the continuation's text.
    skip: usize,
    /// The first part's usage, added to the continuation's.
    first: Usage,
}

impl Splice {
    pub(crate) fn new(identity: Identity, skip: usize, first: Usage) -> Self {
        Self {
            identity,
            skip,
            first,
        }
    }

    /// The continuation chunk `data` as a chunk of the first stream; None when nothing is left
    /// of it (the role chunk, dropped whitespace).
    pub(crate) fn rewrite(&mut self, data: &str) -> Option<String> {
        let Ok(Value::Object(mut chunk)) = serde_json::from_str::<Value>(data) else {
            return Some(data.to_owned());
        };
        for (k, v) in &self.identity.0 {
            chunk.insert(k.clone(), v.clone());
        }
        let mut says_something = false;
        if let Some(Value::Array(choices)) = chunk.get_mut("choices") {
            for choice in choices.iter_mut() {
                if let Some(Value::Object(delta)) = choice.get_mut("delta") {
                    delta.remove("role");
                    if let Some(Value::String(text)) = delta.get_mut("content") {
                        self.skip_in(text);
                    }
                    says_something |= delta.values().any(|v| !is_blank(v));
                }
                says_something |= !choice.get("finish_reason").is_none_or(Value::is_null);
            }
        }
        if let Some(usage) = chunk.get_mut("usage").filter(|u| u.is_object()) {
            self.add_first(usage);
            says_something = true;
        }
        says_something.then(|| Value::Object(chunk).to_string())
    }

    /// Drops the leading whitespace the client already has from `text`.
    fn skip_in(&mut self, text: &mut String) {
        if self.skip == 0 || text.is_empty() {
            return;
        }
        let mut cut = 0;
        for c in text.chars() {
            if self.skip == 0 || !c.is_whitespace() {
                self.skip = 0;
                break;
            }
            cut += c.len_utf8();
            self.skip -= 1;
        }
        text.drain(..cut);
    }

    /// Adds the first part's tokens to the continuation's usage object.
    fn add_first(&self, usage: &mut Value) {
        let add = |usage: &mut Value, field: &str, n: u64| {
            if let Some(v) = usage.get(field).and_then(Value::as_u64) {
                usage[field] = (v + n).into();
            }
        };
        let (p, c) = (self.first.prompt_tokens, self.first.completion_tokens);
        add(usage, "prompt_tokens", p);
        add(usage, "completion_tokens", c);
        add(usage, "total_tokens", p + c);
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn splice(skip: usize) -> Splice {
        let first = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"a","choices":[]}"#;
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 3,
            ..Usage::default()
        };
        Splice::new(Identity::of(first).unwrap(), skip, usage)
    }

    fn chunk(delta: &Value, finish: Option<&str>) -> String {
        json!({"id": "other", "object": "chat.completion.chunk", "created": 9, "model": "b",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    }

    fn read(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn the_role_chunk_goes_and_content_keeps_the_first_name() {
        let mut s = splice(0);
        assert_eq!(
            s.rewrite(&chunk(&json!({"role": "assistant", "content": ""}), None)),
            None
        );
        let out = read(
            &s.rewrite(&chunk(&json!({"content": "own fox"}), None))
                .unwrap(),
        );
        assert_eq!(
            (
                out["id"].as_str(),
                out["model"].as_str(),
                out["created"].as_u64()
            ),
            (Some("chatcmpl-1"), Some("a"), Some(7))
        );
        assert_eq!(out["choices"][0]["delta"], json!({"content": "own fox"}));
        let end = read(&s.rewrite(&chunk(&json!({}), Some("stop"))).unwrap());
        assert_eq!(end["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn leading_whitespace_the_client_has_is_dropped_once() {
        let mut s = splice(2);
        assert_eq!(s.rewrite(&chunk(&json!({"content": " "}), None)), None);
        let out = read(
            &s.rewrite(&chunk(&json!({"content": "\n  brown"}), None))
                .unwrap(),
        );
        assert_eq!(out["choices"][0]["delta"]["content"], "  brown");
        let out = read(
            &s.rewrite(&chunk(&json!({"content": " fox"}), None))
                .unwrap(),
        );
        assert_eq!(out["choices"][0]["delta"]["content"], " fox");
    }

    #[test]
    fn usage_adds_the_first_part() {
        let mut s = splice(0);
        let u = json!({"id": "x", "model": "b", "choices": [],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}})
        .to_string();
        let out = read(&s.rewrite(&u).unwrap());
        assert_eq!(
            out["usage"],
            json!({"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38})
        );
        assert_eq!(out["id"], "chatcmpl-1");
    }
}
