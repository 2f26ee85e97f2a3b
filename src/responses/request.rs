//! A Responses API request read once and written as the chat request the pipeline routes:
//! `instructions` and `input` items become messages, function tools and tool outputs their chat
//! forms, `text.format` a `response_format`, `max_output_tokens` `max_completion_tokens`,
//! `reasoning.effort` `reasoning_effort`. Whatever chat cannot express is a 400 naming it.

use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// Fields read and translated (or echoed) here.
const KNOWN: [&str; 22] = [
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "max_output_tokens",
    "temperature",
    "top_p",
    "reasoning",
    "store",
    "stream",
    "stream_options",
    "previous_response_id",
    "metadata",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
    "truncation",
    "include",
];

/// Fields of the Responses API the router cannot honour, with why; null (and `false` for
/// `background`) is accepted.
const REFUSED: [(&str, &str); 5] = [
    (
        "background",
        "responses are not run in the background; send the request without `background`",
    ),
    (
        "conversation",
        "conversations are not stored; continue with `previous_response_id` instead",
    ),
    (
        "prompt",
        "stored prompt templates are not available; send `instructions` and `input`",
    ),
    (
        "max_tool_calls",
        "it limits built-in tool calls, and only function tools are supported",
    ),
    (
        "top_logprobs",
        "log probabilities are not returned by the Responses surface",
    ),
];

/// `include` values accepted; they ask for nothing the router produces (it returns no
/// reasoning items), so accepting them changes nothing.
const INCLUDABLE: [&str; 1] = ["reasoning.encrypted_content"];

/// A Responses request, translated: the chat body (without its messages), this turn's
/// messages, and what the Response object repeats of the request.
#[derive(Debug)]
pub(crate) struct Translated {
    /// The chat request's fields other than `messages`.
    pub chat: Map<String, Value>,
    /// `instructions` as a system message, not inherited by continuations.
    pub instructions: Option<Value>,
    /// This turn's input items as chat messages.
    pub turn: Vec<Value>,
    pub echo: Echo,
    /// The client's body as sent, for candidates that serve the Responses API natively.
    pub body: Map<String, Value>,
}

/// What the Response object repeats of its request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Echo {
    pub model: String,
    pub instructions: Value,
    pub tools: Vec<Value>,
    pub tool_choice: Value,
    pub parallel_tool_calls: bool,
    pub text: Value,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_output_tokens: Option<u64>,
    pub reasoning: Value,
    pub metadata: Value,
    pub user: Option<String>,
    pub truncation: String,
    pub store: bool,
    pub previous_response_id: Option<String>,
}

impl Translated {
    /// The chat request body: `instructions`, then `history` (a stored conversation), then
    /// this turn.
    pub(crate) fn chat_body(&self, history: &[Value]) -> Map<String, Value> {
        let mut messages = Vec::with_capacity(history.len() + self.turn.len() + 1);
        messages.extend(self.instructions.iter().cloned());
        messages.extend(history.iter().cloned());
        messages.extend(self.turn.iter().cloned());
        let mut chat = self.chat.clone();
        chat.insert("messages".into(), Value::Array(messages));
        chat
    }
}

pub(super) fn invalid(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::invalid(message, Some(param))
}

pub(super) fn unsupported(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::InvalidRequest {
        message: message.into(),
        param: Some(param.to_owned()),
        code: Some("unsupported_parameter"),
    }
}

/// Reads a Responses request body; a 400 naming the field for anything malformed or not
/// expressible as chat.
pub(crate) fn translate(bytes: &[u8]) -> Result<Translated, ApiError> {
    let body = crate::openai::json_object(bytes)?;
    refuse_unsupported(&body)?;
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => return Err(invalid("`model` must be a non-empty string.", "model")),
        None => return Err(invalid("Missing required parameter: 'model'.", "model")),
    };
    let mut chat = Map::new();
    chat.insert("model".into(), Value::String(model.clone()));
    let stream = flag(&body, "stream", false)?;
    if stream {
        chat.insert("stream".into(), Value::Bool(true));
        // the Response's usage comes from the final chunk
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let instructions = match body.get("instructions") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(json!({"role": "system", "content": s})),
        Some(_) => return Err(invalid("`instructions` must be a string.", "instructions")),
    };
    let turn = match body.get("input") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![json!({"role": "user", "content": s})],
        Some(Value::Array(items)) => super::input::input_items(items)?,
        Some(_) => {
            return Err(invalid(
                "`input` must be a string or an array of input items.",
                "input",
            ))
        }
    };
    let tools = match body.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.clone(),
        Some(_) => return Err(invalid("`tools` must be an array.", "tools")),
    };
    if !tools.is_empty() {
        let chat_tools = tools
            .iter()
            .enumerate()
            .map(|(i, t)| function_tool(t, i))
            .collect::<Result<Vec<_>, _>>()?;
        chat.insert("tools".into(), Value::Array(chat_tools));
    }
    let tool_choice = body.get("tool_choice").cloned().unwrap_or(Value::Null);
    if !tool_choice.is_null() {
        chat.insert("tool_choice".into(), chat_tool_choice(&tool_choice)?);
    }
    let parallel_tool_calls = flag(&body, "parallel_tool_calls", true)?;
    if body.contains_key("parallel_tool_calls") && !tools.is_empty() {
        chat.insert(
            "parallel_tool_calls".into(),
            Value::Bool(parallel_tool_calls),
        );
    }
    let text = body.get("text").cloned().unwrap_or(Value::Null);
    text_options(&text, &mut chat)?;
    let max_output_tokens = match body.get("max_output_tokens") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            invalid(
                "`max_output_tokens` must be a positive integer.",
                "max_output_tokens",
            )
        })?),
    };
    if let Some(n) = max_output_tokens {
        chat.insert("max_completion_tokens".into(), n.into());
    }
    let temperature = number(&body, "temperature", 0.0, 2.0)?;
    let top_p = number(&body, "top_p", 0.0, 1.0)?;
    for (key, v) in [("temperature", temperature), ("top_p", top_p)] {
        if let Some(v) = v {
            chat.insert(key.into(), json!(v));
        }
    }
    let reasoning = reasoning(&body, &mut chat)?;
    let user = optional_string(&body, "user")?;
    for key in [
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "service_tier",
    ] {
        if let Some(v) = optional_string(&body, key)? {
            chat.insert(key.into(), Value::String(v));
        }
    }
    let truncation = match body.get("truncation") {
        None | Some(Value::Null) => "disabled".to_owned(),
        Some(Value::String(t)) if t == "disabled" || t == "auto" => t.clone(),
        Some(_) => {
            return Err(invalid(
                "`truncation` must be `auto` or `disabled`.",
                "truncation",
            ))
        }
    };
    include(&body)?;
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => json!({}),
        Some(m @ Value::Object(_)) => m.clone(),
        Some(_) => return Err(invalid("`metadata` must be an object.", "metadata")),
    };
    let previous_response_id = optional_string(&body, "previous_response_id")?;
    if turn.is_empty() && previous_response_id.is_none() {
        return Err(invalid(
            "`input` must hold at least one message or item.",
            "input",
        ));
    }
    let store = flag(&body, "store", true)?;
    let echo = Echo {
        model,
        instructions: body.get("instructions").cloned().unwrap_or(Value::Null),
        tools: tools.iter().map(echoed_tool).collect(),
        tool_choice: if tool_choice.is_null() {
            json!("auto")
        } else {
            tool_choice
        },
        parallel_tool_calls,
        text: if text.is_null() {
            json!({"format": {"type": "text"}})
        } else {
            text
        },
        temperature,
        top_p,
        max_output_tokens,
        reasoning,
        metadata,
        user,
        truncation,
        store,
        previous_response_id,
    };
    Ok(Translated {
        chat,
        instructions,
        turn,
        echo,
        body,
    })
}

/// A 400 for any field the router cannot honour or does not know.
fn refuse_unsupported(body: &Map<String, Value>) -> Result<(), ApiError> {
    for (key, value) in body {
        if value.is_null() || KNOWN.contains(&key.as_str()) {
            continue;
        }
        if key == "background" && *value == Value::Bool(false) {
            continue;
        }
        let message = match REFUSED.iter().find(|(k, _)| k == key) {
            Some((_, why)) => format!("Unsupported parameter: '{key}': {why}."),
            None => format!("Unrecognized request argument supplied: {key}"),
        };
        return Err(unsupported(message, key));
    }
    Ok(())
}

fn flag(body: &Map<String, Value>, key: &str, default: bool) -> Result<bool, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(invalid(format!("`{key}` must be a boolean."), key)),
    }
}

fn number(
    body: &Map<String, Value>,
    key: &str,
    min: f64,
    max: f64,
) -> Result<Option<f64>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| (min..=max).contains(x))
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    format!("`{key}` must be a number from {min} to {max}."),
                    key,
                )
            }),
    }
}

fn optional_string(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("`{key}` must be a string."), key)),
    }
}

/// A Responses function tool as a chat tool; built-in tools are a 400 naming them.
fn function_tool(tool: &Value, i: usize) -> Result<Value, ApiError> {
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind != "function" {
        return Err(unsupported(
            format!("tools[{i}]: the built-in tool `{kind}` is not supported; Switchyard routes to many providers and passes only function tools."),
            &format!("tools[{i}].type"),
        ));
    }
    let name = tool.get("name").and_then(Value::as_str).ok_or_else(|| {
        invalid(
            format!("Missing required parameter: 'tools[{i}].name'."),
            &format!("tools[{i}].name"),
        )
    })?;
    let mut function = Map::new();
    function.insert("name".into(), Value::String(name.to_owned()));
    for key in ["description", "parameters", "strict"] {
        if let Some(v) = tool.get(key).filter(|v| !v.is_null()) {
            function.insert(key.into(), v.clone());
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

/// A function tool as the Response repeats it: every field OpenAI's schema requires, with
/// `strict` as it was applied (chat's default, `false`, when the client gave none).
fn echoed_tool(tool: &Value) -> Value {
    let field = |key: &str| tool.get(key).cloned().unwrap_or(Value::Null);
    let strict = tool.get("strict").and_then(Value::as_bool).unwrap_or(false);
    json!({"type": "function", "name": field("name"), "description": field("description"),
           "parameters": field("parameters"), "strict": strict})
}

fn chat_tool_choice(choice: &Value) -> Result<Value, ApiError> {
    match choice {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Ok(choice.clone()),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o.get("name").and_then(Value::as_str).ok_or_else(|| {
                invalid("Missing required parameter: 'tool_choice.name'.", "tool_choice.name")
            })?;
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        _ => Err(unsupported(
            "`tool_choice` must be `auto`, `none`, `required` or {\"type\": \"function\", \"name\": ...}; built-in tool and allowed_tools choices are not supported.",
            "tool_choice",
        )),
    }
}

/// `text.format` as `response_format`, and `text.verbosity` as chat's `verbosity`.
fn text_options(text: &Value, chat: &mut Map<String, Value>) -> Result<(), ApiError> {
    let Some(text) = text.as_object() else {
        return if text.is_null() {
            Ok(())
        } else {
            Err(invalid("`text` must be an object.", "text"))
        };
    };
    if let Some(v) = text.get("verbosity").filter(|v| !v.is_null()) {
        chat.insert("verbosity".into(), v.clone());
    }
    let Some(format) = text.get("format").filter(|f| !f.is_null()) else {
        return Ok(());
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(()),
        Some("json_object") => {
            chat.insert("response_format".into(), json!({"type": "json_object"}));
            Ok(())
        }
        Some("json_schema") => {
            let name = format.get("name").and_then(Value::as_str).ok_or_else(|| {
                invalid(
                    "Missing required parameter: 'text.format.name'.",
                    "text.format.name",
                )
            })?;
            let schema = format
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    invalid(
                        "Missing required parameter: 'text.format.schema'.",
                        "text.format.schema",
                    )
                })?;
            let mut spec = json!({"name": name, "schema": schema});
            for key in ["strict", "description"] {
                if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                    spec[key] = v.clone();
                }
            }
            chat.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": spec}),
            );
            Ok(())
        }
        _ => Err(invalid(
            "`text.format.type` must be `text`, `json_object` or `json_schema`.",
            "text.format.type",
        )),
    }
}

/// `reasoning.effort` as chat's `reasoning_effort` (the OpenAI wire passes it on; the
/// Anthropic and Gemini adapters do not read it); what the Response repeats.
fn reasoning(body: &Map<String, Value>, chat: &mut Map<String, Value>) -> Result<Value, ApiError> {
    let Some(r) = body.get("reasoning").filter(|r| !r.is_null()) else {
        return Ok(json!({"effort": null, "summary": null}));
    };
    let Some(r) = r.as_object() else {
        return Err(invalid("`reasoning` must be an object.", "reasoning"));
    };
    let effort = r.get("effort").cloned().unwrap_or(Value::Null);
    match &effort {
        Value::Null => {}
        Value::String(_) => {
            chat.insert("reasoning_effort".into(), effort.clone());
        }
        _ => {
            return Err(invalid(
                "`reasoning.effort` must be a string.",
                "reasoning.effort",
            ))
        }
    }
    let summary = r
        .get("summary")
        .or_else(|| r.get("generate_summary"))
        .cloned()
        .unwrap_or(Value::Null);
    Ok(json!({"effort": effort, "summary": summary}))
}

fn include(body: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(list) = body.get("include").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let Some(list) = list.as_array() else {
        return Err(invalid("`include` must be an array.", "include"));
    };
    for (i, v) in list.iter().enumerate() {
        let v = v.as_str().unwrap_or_default();
        if !INCLUDABLE.contains(&v) {
            return Err(unsupported(
                format!("include[{i}]: `{v}` is not supported; Switchyard accepts only `reasoning.encrypted_content` (and returns no reasoning items)."),
                &format!("include[{i}]"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
