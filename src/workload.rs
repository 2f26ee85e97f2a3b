//! Workload lines, the input of `classify` and `simulate`: one JSON object per line with `prompt` or
//! `messages`, and optionally `id`, `model`, `user`, `output_tokens`, and the request fields
//! that decide which wires can serve it (`n`, `logprobs`); other fields (such as `label`) are
//! ignored.

use serde::Deserialize;
use serde_json::{json, Value};

/// One parsed workload line.
#[derive(Debug, Deserialize)]
pub(crate) struct WorkloadLine {
    #[serde(default)]
    pub id: Option<Value>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub messages: Option<Value>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// Choices asked for: candidates whose wire cannot return several are skipped.
    #[serde(default)]
    pub n: Option<u64>,
    /// Log probabilities asked for: candidates whose wire has none are skipped.
    #[serde(default)]
    pub logprobs: Option<bool>,
}

impl WorkloadLine {
    /// Parses a line; the error names what is wrong.
    pub(crate) fn parse(line: &str) -> Result<Self, String> {
        let w: Self = serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
        if w.prompt.is_none() && w.messages.is_none() {
            return Err("needs `prompt` or `messages`".into());
        }
        Ok(w)
    }

    /// Parses a JSON line, or takes a line that does not start with `{` as a prompt.
    pub(crate) fn parse_or_text(line: &str) -> Result<Self, String> {
        if line.trim_start().starts_with('{') {
            return Self::parse(line);
        }
        Ok(WorkloadLine {
            id: None,
            prompt: Some(line.trim().to_string()),
            messages: None,
            model: None,
            user: None,
            output_tokens: None,
            n: None,
            logprobs: None,
        })
    }

    /// The chat request body this line stands for, routed through `default_model` unless it names one.
    pub(crate) fn request_body(&self, default_model: &str) -> Vec<u8> {
        let messages = match (&self.messages, &self.prompt) {
            (Some(m), _) => m.clone(),
            (None, Some(p)) => json!([{"role": "user", "content": p}]),
            (None, None) => json!([]),
        };
        let mut body =
            json!({"model": self.model.as_deref().unwrap_or(default_model), "messages": messages});
        if let Some(u) = &self.user {
            body["user"] = json!(u);
        }
        if let Some(n) = self.n {
            body["n"] = json!(n);
        }
        if let Some(l) = self.logprobs {
            body["logprobs"] = json!(l);
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prompt_or_messages_and_rejects_neither() {
        let w = WorkloadLine::parse(r#"{"id":"a","prompt":"hi","user":"u"}"#).unwrap();
        let body: Value = serde_json::from_slice(&w.request_body("auto")).unwrap();
        assert_eq!(body["model"], "auto");
        assert_eq!(body["messages"][0]["content"], "hi");
        assert_eq!(body["user"], "u");
        assert!(WorkloadLine::parse(r#"{"id":"a"}"#).is_err());
        assert!(WorkloadLine::parse("nope").is_err());
        let t = WorkloadLine::parse_or_text("  what is 2+2? ").unwrap();
        assert_eq!(t.prompt.as_deref(), Some("what is 2+2?"));
        assert!(WorkloadLine::parse_or_text("{bad").is_err());
    }
}
