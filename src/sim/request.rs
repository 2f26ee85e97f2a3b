//! Validation of chat requests and OpenAI-shaped error bodies for the sim.

use serde_json::{json, Value};

/// Words of the last user message repeated in the reply.
const ECHO_WORDS: usize = 4;

/// An OpenAI-shaped error, ready to become a [`super::Behavior::Status`].
pub(super) struct ApiError {
    pub status: u16,
    pub body: Value,
}

/// Builds `{"error":{"message","type","param","code"}}` as OpenAI sends it.
pub(super) fn error_body(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Value {
    json!({ "error": { "message": message, "type": kind, "param": param, "code": code } })
}

/// The 404 `model_not_found` of a model the sim does not serve, with the wire's `message`.
pub(super) fn model_not_found(message: &str) -> ApiError {
    ApiError {
        status: 404,
        body: error_body(
            message,
            "invalid_request_error",
            None,
            Some("model_not_found"),
        ),
    }
}

fn invalid(message: &str, param: Option<&str>, code: Option<&str>) -> ApiError {
    ApiError {
        status: 400,
        body: error_body(message, "invalid_request_error", param, code),
    }
}

/// What the sim needs from a chat request; owned so it can move into a streaming task.
pub(super) struct ChatRequest {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub max_tokens: Option<usize>,
    pub prompt_tokens: u64,
    /// Hash of model + last user message: same prompt, same reply text.
    pub seed: u64,
    /// First words of the last user message, repeated in the reply.
    pub echo: Vec<String>,
    /// The partial answer the request asks to continue (see [`continued`]), if any.
    pub continues: Option<String>,
}

/// A request that asks to continue a partial answer, as Switchyard's `stream_resume` sends it:
/// the conversation ends with the partial assistant turn (a prefill), or with that turn and
/// the router's instruction to continue it. Returns the partial text and how many turns come
/// before it. `turns` are `(role, text)` with `assistant` for Gemini's `model`.
pub(super) fn continued(turns: &[(String, String)]) -> Option<(String, usize)> {
    let n = turns.len();
    let (role, text) = turns.last()?;
    if role == "assistant" {
        return Some((text.clone(), n - 1));
    }
    let instructed = role == "user"
        && text.trim() == crate::resume::prompt::CONTINUE_INSTRUCTION
        && n >= 2
        && turns[n - 2].0 == "assistant";
    instructed.then(|| (turns[n - 2].1.clone(), n - 2))
}

/// The words of `text` a reply echoes.
pub(super) fn echo_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .take(ECHO_WORDS)
        .map(|w| w.chars().take(24).collect())
        .collect()
}

/// The reply seed of `model` answering `last_user`.
pub(super) fn seed(last_user: &str, model: &str) -> u64 {
    fnv(last_user.as_bytes()) ^ fnv(model.as_bytes()).rotate_left(17)
}

/// Validates a parsed body the way OpenAI does for the fields the sim understands.
pub(super) fn parse_request(body: &Value) -> Result<ChatRequest, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(invalid("Request body must be a JSON object.", None, None));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) => m.clone(),
        None | Some(Value::Null) => {
            return Err(invalid(
                "Missing required parameter: 'model'.",
                Some("model"),
                Some("missing_required_parameter"),
            ))
        }
        Some(_) => {
            return Err(invalid(
                "Invalid type for 'model': expected a string.",
                Some("model"),
                Some("invalid_type"),
            ))
        }
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                Some("messages"),
                Some("empty_array"),
            ))
        }
        None | Some(Value::Null) => {
            return Err(invalid(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            ))
        }
        Some(_) => {
            return Err(invalid(
                "Invalid type for 'messages': expected an array.",
                Some("messages"),
                Some("invalid_type"),
            ))
        }
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid(
                "Invalid type for 'stream': expected a boolean.",
                Some("stream"),
                Some("invalid_type"),
            ))
        }
    };
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut max_tokens = None;
    for name in ["max_completion_tokens", "max_tokens"] {
        match obj.get(name) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => max_tokens = Some(max_tokens.map_or(n, |m: u64| m.min(n))),
                _ => {
                    let msg = format!(
                        "Invalid '{name}': expected an integer greater than or equal to 1."
                    );
                    return Err(invalid(&msg, Some(name), Some("invalid_value")));
                }
            },
        }
    }
    let mut prompt_tokens = 0u64;
    let mut turns = Vec::with_capacity(messages.len());
    for (i, msg) in messages.iter().enumerate() {
        let role = msg.get("role").and_then(Value::as_str);
        let Some(role) = role else {
            let param = format!("messages[{i}].role");
            return Err(invalid(
                &format!("Missing required parameter: '{param}'."),
                Some(&param),
                Some("missing_required_parameter"),
            ));
        };
        let mut chars = 0usize;
        let mut text = String::new();
        for_each_text(msg.get("content"), |t| {
            chars += t.chars().count();
            text.push_str(t);
            if role == "user" {
                text.push(' ');
            }
        });
        prompt_tokens += chars.div_ceil(4) as u64 + 4;
        turns.push((role.to_owned(), text));
    }
    let (continues, before) = match continued(&turns) {
        Some((text, before)) => (Some(text), before),
        None => (None, turns.len()),
    };
    let last_user = turns[..before]
        .iter()
        .rev()
        .find(|(role, _)| role == "user")
        .map(|(_, t)| t.as_str())
        .unwrap_or_default();
    let echo = echo_words(last_user);
    let seed = seed(last_user, &model);
    Ok(ChatRequest {
        model,
        stream,
        include_usage,
        max_tokens: max_tokens.map(|n| n as usize),
        prompt_tokens,
        seed,
        echo,
        continues,
    })
}

/// Calls `f` with every text fragment of a message `content` (a string or an array of parts).
fn for_each_text(content: Option<&Value>, mut f: impl FnMut(&str)) {
    match content {
        Some(Value::String(s)) => f(s),
        Some(Value::Array(parts)) => {
            for part in parts {
                if let Some(t) = part.get("text").and_then(Value::as_str) {
                    f(t);
                }
            }
        }
        _ => {}
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(r, t)| ((*r).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn continuations_are_a_prefill_or_a_turn_and_the_instruction() {
        let prefill = turns(&[("user", "Tell me"), ("assistant", "The qu")]);
        assert_eq!(continued(&prefill), Some(("The qu".to_owned(), 1)));
        let instruction = crate::resume::prompt::CONTINUE_INSTRUCTION;
        let asked = turns(&[
            ("user", "Tell me"),
            ("assistant", "The qu"),
            ("user", instruction),
        ]);
        assert_eq!(continued(&asked), Some(("The qu".to_owned(), 1)));
        let follow_up = turns(&[
            ("user", "Tell me"),
            ("assistant", "The qu"),
            ("user", "More"),
        ]);
        assert_eq!(continued(&follow_up), None);
    }
}
