//! `input` items as chat messages: messages with their text and image parts, function calls
//! and their outputs; what chat cannot carry is a 400 naming the item.

use serde_json::{json, Map, Value};

use super::request::{invalid, unsupported};
use crate::error::ApiError;

/// `input` items as chat messages: messages keep their role, consecutive function calls join
/// one assistant message, function outputs become tool messages, reasoning items are dropped.
pub(super) fn input_items(items: &[Value]) -> Result<Vec<Value>, ApiError> {
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("input[{i}]");
        let Some(obj) = item.as_object() else {
            return Err(invalid(format!("{path} must be an object."), &path));
        };
        let kind = obj.get("type").and_then(Value::as_str);
        match kind {
            None | Some("message") if obj.contains_key("role") => out.push(message(obj, &path)?),
            Some("function_call") => {
                let call = json!({
                    "id": required_str(obj, "call_id", &path)?,
                    "type": "function",
                    "function": {
                        "name": required_str(obj, "name", &path)?,
                        "arguments": required_str(obj, "arguments", &path)?,
                    },
                });
                match out.last_mut() {
                    Some(last) if last["role"] == "assistant" => {
                        let calls = last
                            .as_object_mut()
                            .map(|m| m.entry("tool_calls").or_insert_with(|| json!([])));
                        if let Some(Value::Array(calls)) = calls {
                            calls.push(call);
                        }
                    }
                    _ => out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            Some("function_call_output") => {
                let call_id = required_str(obj, "call_id", &path)?;
                let output = match obj.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(parts)) => {
                        texts_of(parts, &format!("{path}.output"), &["input_text", "output_text"])?
                    }
                    _ => {
                        return Err(invalid(
                            format!("{path}.output must be a string or an array of input_text parts."),
                            &format!("{path}.output"),
                        ))
                    }
                };
                out.push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
            }
            // reasoning items carry the model's private state, which no chat wire takes back
            Some("reasoning") => {}
            Some("item_reference") => {
                return Err(unsupported(
                    format!("{path}: item references are not supported; send the item itself, or continue with `previous_response_id`."),
                    &format!("{path}.type"),
                ))
            }
            Some(other) => {
                return Err(unsupported(
                    format!("{path}: input items of type `{other}` are not supported; Switchyard's Responses API takes messages, function_call, function_call_output and reasoning items."),
                    &format!("{path}.type"),
                ))
            }
            None => {
                return Err(invalid(
                    format!("{path} must be a message (with `role`) or have a `type`."),
                    &path,
                ))
            }
        }
    }
    Ok(out)
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, ApiError> {
    obj.get(key).and_then(Value::as_str).ok_or_else(|| {
        let param = format!("{path}.{key}");
        invalid(format!("Missing required parameter: '{param}'."), &param)
    })
}

/// One message item as a chat message: text (and, for users, image) parts.
fn message(obj: &Map<String, Value>, path: &str) -> Result<Value, ApiError> {
    let role = required_str(obj, "role", path)?;
    if !matches!(role, "user" | "system" | "developer" | "assistant") {
        return Err(invalid(
            format!("Invalid value for {path}.role: '{role}'. Supported values are: 'user', 'system', 'developer' and 'assistant'."),
            &format!("{path}.role"),
        ));
    }
    let content_path = format!("{path}.content");
    let content = match obj.get("content") {
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Array(parts)) if role == "user" => user_parts(parts, &content_path)?,
        Some(Value::Array(parts)) => {
            let allowed: &[&str] = if role == "assistant" {
                &["output_text", "input_text", "refusal"]
            } else {
                &["input_text"]
            };
            Value::String(texts_of(parts, &content_path, allowed)?)
        }
        _ => {
            return Err(invalid(
                format!("{content_path} must be a string or an array of content parts."),
                &content_path,
            ))
        }
    };
    Ok(json!({"role": role, "content": content}))
}

/// A user message's parts: `input_text` and `input_image` (by URL or data URL).
fn user_parts(parts: &[Value], path: &str) -> Result<Value, ApiError> {
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let at = format!("{path}[{i}]");
        match p.get("type").and_then(Value::as_str) {
            Some("input_text") => {
                let text = p.get("text").and_then(Value::as_str).ok_or_else(|| {
                    invalid(format!("{at}.text must be a string."), &format!("{at}.text"))
                })?;
                out.push(json!({"type": "text", "text": text}));
            }
            Some("input_image") => {
                let Some(url) = p.get("image_url").and_then(Value::as_str) else {
                    return Err(unsupported(
                        format!("{at}: images must be given by `image_url` (a URL or a data URL); uploaded files (`file_id`) are not available through Switchyard."),
                        &format!("{at}.image_url"),
                    ));
                };
                let mut image = json!({"url": url});
                if let Some(detail) = p.get("detail").filter(|d| !d.is_null()) {
                    image["detail"] = detail.clone();
                }
                out.push(json!({"type": "image_url", "image_url": image}));
            }
            Some(other) => {
                return Err(unsupported(
                    format!("{at}: content parts of type `{other}` are not supported; use input_text and input_image."),
                    &format!("{at}.type"),
                ))
            }
            None => return Err(invalid(format!("{at} must have a `type`."), &at)),
        }
    }
    Ok(Value::Array(out))
}

/// The text of parts whose types are all `allowed`, joined by newlines.
fn texts_of(parts: &[Value], path: &str, allowed: &[&str]) -> Result<String, ApiError> {
    let mut text = String::new();
    for (i, p) in parts.iter().enumerate() {
        let kind = p.get("type").and_then(Value::as_str).unwrap_or_default();
        if !allowed.contains(&kind) {
            return Err(unsupported(
                format!(
                    "{path}[{i}]: content parts of type `{kind}` are not supported here; use {}.",
                    allowed.join(" or ")
                ),
                &format!("{path}[{i}].type"),
            ));
        }
        let field = if kind == "refusal" { "refusal" } else { "text" };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(p.get(field).and_then(Value::as_str).unwrap_or_default());
    }
    Ok(text)
}
