//! A client's request to any OpenAI endpoint, validated once: the untouched body plus the routing view.
//!
//! The request body stays a JSON map so every field the router does not interpret reaches an
//! OpenAI-compatible upstream untouched; the typed view is read out of it once.

use serde_json::{Map, Value};

use crate::config::Endpoint;
use crate::error::ApiError;

/// A parsed request to any endpoint (named for the common case, chat): the untouched body
/// plus what routing needs.
#[derive(Debug)]
pub struct ChatRequest {
    pub endpoint: Endpoint,
    pub body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
    /// The client asked for the final usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    pub max_tokens: Option<u64>,
    pub user: Option<String>,
    pub has_tools: bool,
    pub has_images: bool,
    /// System and developer text joined, for the classifier.
    pub system: String,
    /// The last user message's text, for the classifier and `last_user_matches`.
    pub last_user: String,
    /// Every message's text joined, counted once for the prompt's tokens.
    pub all_text: String,
    /// Chat messages (0 for completions and embeddings).
    pub messages: usize,
    /// Inputs given as token ids rather than text (completions, embeddings).
    pub token_ids: u64,
}

/// A request body as a JSON object, or the 400 every endpoint (chat, Responses, Messages)
/// gives for invalid JSON or another JSON value.
pub(crate) fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidRequest {
        message: format!("We could not parse the JSON body of your request: {e}"),
        param: None,
        code: Some("invalid_json"),
    })?;
    match value {
        Value::Object(body) => Ok(body),
        _ => Err(ApiError::invalid(
            "The request body must be a JSON object.",
            None,
        )),
    }
}

impl ChatRequest {
    /// Validates a chat request's shape as OpenAI requires and extracts the routing view.
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        Self::parse_for(Endpoint::Chat, bytes)
    }

    /// Validates a request to `endpoint` (chat: `messages`; completions: `prompt`;
    /// embeddings: `input`) and extracts the routing view.
    pub fn parse_for(endpoint: Endpoint, bytes: &[u8]) -> Result<Self, ApiError> {
        let mut req = Self::envelope(endpoint, bytes)?;
        let body = std::mem::take(&mut req.body);
        let read = match endpoint {
            Endpoint::Chat | Endpoint::Responses | Endpoint::Messages => req.read_messages(&body),
            Endpoint::Completions => req.read_inputs(&body, "prompt"),
            Endpoint::Embeddings => req.read_inputs(&body, "input"),
            Endpoint::Moderations => {
                crate::moderation::input::read_input(&body).map(|(text, images)| {
                    req.all_text.clone_from(&text);
                    req.last_user = text;
                    req.has_images = images;
                })
            }
        };
        req.body = body;
        read.map(|()| req)
    }

    /// The fields every endpoint shares: a JSON object with `model`, `stream` and limits.
    fn envelope(endpoint: Endpoint, bytes: &[u8]) -> Result<Self, ApiError> {
        let body = json_object(bytes)?;
        let model = match body.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            Some(_) => {
                return Err(ApiError::invalid(
                    "`model` must be a non-empty string.",
                    Some("model"),
                ))
            }
            None => {
                return Err(ApiError::invalid(
                    "you must provide a model parameter",
                    Some("model"),
                ))
            }
        };
        let stream = match body.get("stream") {
            None | Some(Value::Null | Value::Bool(false)) => false,
            Some(Value::Bool(b))
                if !matches!(endpoint, Endpoint::Embeddings | Endpoint::Moderations) =>
            {
                *b
            }
            Some(Value::Bool(true)) => {
                return Err(ApiError::invalid(
                    if endpoint == Endpoint::Moderations {
                        "Moderations cannot be streamed."
                    } else {
                        "Embeddings cannot be streamed."
                    },
                    Some("stream"),
                ))
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "`stream` must be a boolean.",
                    Some("stream"),
                ))
            }
        };
        let include_usage = body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let max_tokens = ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|k| body.get(*k).and_then(Value::as_u64));
        let user = body.get("user").and_then(Value::as_str).map(str::to_owned);
        let has_tools = ["tools", "functions"].iter().any(|k| {
            body.get(*k)
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty())
        });
        Ok(Self {
            endpoint,
            model,
            stream,
            include_usage,
            max_tokens,
            user,
            has_tools,
            has_images: false,
            system: String::new(),
            last_user: String::new(),
            all_text: String::new(),
            messages: 0,
            token_ids: 0,
            body,
        })
    }

    fn read_messages(&mut self, body: &Map<String, Value>) -> Result<(), ApiError> {
        let messages = match body.get("messages") {
            Some(Value::Array(m)) if !m.is_empty() => m,
            Some(Value::Array(_)) => {
                return Err(ApiError::invalid(
                    "`messages` must contain at least one message.",
                    Some("messages"),
                ))
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "`messages` must be an array.",
                    Some("messages"),
                ))
            }
            None => {
                return Err(ApiError::invalid(
                    "Missing required parameter: 'messages'.",
                    Some("messages"),
                ))
            }
        };
        self.messages = messages.len();
        for (i, m) in messages.iter().enumerate() {
            let role = m.get("role").and_then(Value::as_str).ok_or_else(|| {
                ApiError::invalid(
                    format!("messages[{i}].role is required and must be a string."),
                    Some(&format!("messages[{i}].role")),
                )
            })?;
            let content = m.get("content").unwrap_or(&Value::Null);
            let mut text = String::new();
            self.has_images |= collect_text(content, &mut text)
                .map_err(|msg| ApiError::invalid(msg, Some(&format!("messages[{i}].content"))))?;
            if !self.all_text.is_empty() {
                self.all_text.push('\n');
            }
            self.all_text.push_str(&text);
            if let Some(calls) = m.get("tool_calls") {
                self.all_text.push_str(&calls.to_string());
            }
            match role {
                "system" | "developer" => {
                    if !self.system.is_empty() {
                        self.system.push('\n');
                    }
                    self.system.push_str(&text);
                }
                "user" => self.last_user = text,
                "assistant" | "tool" | "function" => {}
                other => {
                    return Err(ApiError::invalid(
                        format!("Invalid value for messages[{i}].role: '{other}'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'."),
                        Some(&format!("messages[{i}].role")),
                    ))
                }
            }
        }
        if let Some(tools) = body.get("tools") {
            self.all_text.push_str(&tools.to_string());
        }
        Ok(())
    }

    /// `prompt` (completions) or `input` (embeddings): a string, an array of strings, an array
    /// of token ids, or an array of token-id arrays.
    fn read_inputs(&mut self, body: &Map<String, Value>, field: &str) -> Result<(), ApiError> {
        let bad = || {
            ApiError::invalid(
                format!(
                    "`{field}` must be a string, an array of strings, or an array of token arrays."
                ),
                Some(field),
            )
        };
        let value = body.get(field).ok_or_else(|| {
            ApiError::invalid(
                format!("Missing required parameter: '{field}'."),
                Some(field),
            )
        })?;
        let mut add = |v: &Value| -> Result<(), ApiError> {
            match v {
                Value::String(s) => {
                    if !self.all_text.is_empty() {
                        self.all_text.push('\n');
                    }
                    self.all_text.push_str(s);
                }
                Value::Number(_) => self.token_ids += 1,
                Value::Array(ids) if ids.iter().all(Value::is_number) => {
                    self.token_ids += ids.len() as u64;
                }
                _ => return Err(bad()),
            }
            Ok(())
        };
        match value {
            Value::Array(items) if items.is_empty() => {
                return Err(ApiError::invalid(
                    format!("`{field}` must not be empty."),
                    Some(field),
                ))
            }
            Value::Array(items) => items.iter().try_for_each(&mut add)?,
            other => add(other)?,
        }
        self.last_user.clone_from(&self.all_text);
        Ok(())
    }
}

/// Appends a message content's text (a string or an array of parts); says whether it held images.
fn collect_text(content: &Value, out: &mut String) -> Result<bool, String> {
    match content {
        Value::Null => Ok(false),
        Value::String(s) => {
            out.push_str(s);
            Ok(false)
        }
        Value::Array(parts) => {
            let mut images = false;
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(p.get("text").and_then(Value::as_str).unwrap_or_default());
                    }
                    Some("image_url" | "input_image" | "image") => images = true,
                    Some(_) => {}
                    None => return Err("each content part must have a `type`".into()),
                }
            }
            Ok(images)
        }
        _ => Err("content must be a string or an array of content parts".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_routing_view_and_keeps_unknown_fields() {
        let body = br#"{"model":"auto","messages":[{"role":"system","content":"Be brief"},{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"x"}}]}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":50,"logit_bias":{"1":2},"tools":[{"type":"function","function":{"name":"f"}}]}"#;
        let r = ChatRequest::parse(body).unwrap();
        assert!(r.stream && r.include_usage && r.has_images && r.has_tools);
        assert_eq!(
            (r.system.as_str(), r.last_user.as_str(), r.max_tokens),
            ("Be brief", "hi", Some(50))
        );
        assert!(r.body.contains_key("logit_bias"));
    }

    #[test]
    fn rejects_bad_shapes_with_param() {
        for (body, param) in [
            (&br#"{"model":"a"}"#[..], "messages"),
            (br#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
            (
                br#"{"model":"a","messages":[{"role":"wizard","content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                br#"{"model":"a","messages":[{"role":"user","content":5}]}"#,
                "messages[0].content",
            ),
        ] {
            let e = ChatRequest::parse(body).unwrap_err();
            assert_eq!(e.body().error.param.as_deref(), Some(param));
        }
        assert!(ChatRequest::parse(b"{not json").is_err());
    }
}
