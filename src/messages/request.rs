//! An Anthropic Messages request -> the router's chat request body (OpenAI's shape), at the edge.

use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// The chat-body key carrying the client's whole Messages body to Anthropic-wire candidates,
/// which send it natively (model replaced) instead of translating the chat request back; the
/// OpenAI-compatible adapter never sends it and the Gemini translation ignores it.
pub(crate) const ANTHROPIC_NATIVE: &str = "x_switchyard_anthropic_native";

fn invalid(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::invalid(message, Some(param))
}

/// Translates a Messages body; `max_tokens` is required unless `counting` (count_tokens).
pub(crate) fn to_chat(bytes: &[u8], counting: bool) -> Result<Map<String, Value>, ApiError> {
    let body = crate::openai::json_object(bytes)?;
    let mut out = Map::new();
    match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => {
            out.insert("model".into(), m.clone().into());
        }
        _ => {
            return Err(invalid(
                "model: Field required (a non-empty string)",
                "model",
            ))
        }
    }
    match body.get("max_tokens") {
        Some(v) if v.as_u64().is_some_and(|n| n > 0) => {
            out.insert("max_tokens".into(), v.clone());
        }
        None if counting => {}
        _ => {
            return Err(invalid(
                "max_tokens: Field required (a positive integer)",
                "max_tokens",
            ))
        }
    }
    let mut messages = Vec::new();
    if let Some(system) = body.get("system") {
        let text = system_text(system)?;
        if !text.is_empty() {
            messages.push(json!({"role": "system", "content": text}));
        }
    }
    let Some(Value::Array(turns)) = body.get("messages") else {
        return Err(invalid("messages: Field required (an array)", "messages"));
    };
    if turns.is_empty() {
        return Err(invalid(
            "messages: at least one message is required",
            "messages",
        ));
    }
    for (i, turn) in turns.iter().enumerate() {
        convert_turn(turn, i, &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(stops) = body.get("stop_sequences").and_then(Value::as_array) {
        if !stops.is_empty() {
            out.insert("stop".into(), Value::Array(stops.clone()));
        }
    }
    for k in ["temperature", "top_p"] {
        if let Some(v) = body.get(k).filter(|v| v.is_number()) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(user) = body
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
    {
        out.insert("user".into(), user.into());
    }
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        if !tools.is_empty() {
            out.insert("tools".into(), convert_tools(tools)?);
        }
    }
    if let Some(choice) = body.get("tool_choice") {
        convert_tool_choice(choice, &mut out)?;
    }
    if body.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), true.into());
        // usage is needed for message_delta whatever the client asked
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    out.insert(ANTHROPIC_NATIVE.into(), Value::Object(body));
    Ok(out)
}

/// `system` as a string or an array of text blocks.
fn system_text(system: &Value) -> Result<String, ApiError> {
    match system {
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => blocks
            .iter()
            .enumerate()
            .map(|(j, b)| match b.get("type").and_then(Value::as_str) {
                Some("text") => Ok(b["text"].as_str().unwrap_or_default().to_owned()),
                _ => Err(invalid(
                    "system blocks must be text blocks",
                    &format!("system.{j}.type"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|t| t.join("\n")),
        Value::Null => Ok(String::new()),
        _ => Err(invalid(
            "system must be a string or an array of text blocks",
            "system",
        )),
    }
}

/// One Anthropic turn as chat messages: a user turn's `tool_result` blocks become `tool`
/// messages (first, since they answer the assistant's calls), its other blocks one user message;
/// an assistant turn's `tool_use` blocks become `tool_calls`.
fn convert_turn(turn: &Value, i: usize, out: &mut Vec<Value>) -> Result<(), ApiError> {
    let role = turn.get("role").and_then(Value::as_str).unwrap_or_default();
    let blocks: Vec<Value> = match turn.get("content") {
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(b)) => b.clone(),
        _ => {
            return Err(invalid(
                "content must be a string or an array of content blocks",
                &format!("messages.{i}.content"),
            ))
        }
    };
    match role {
        "user" => {
            let mut parts = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                let at = format!("messages.{i}.content.{j}");
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(json!({"type": "text", "text": b["text"]})),
                    Some("image") => parts.push(image_part(b, &at)?),
                    Some("tool_result") => out.push(tool_message(b, &at)?),
                    other => return Err(unsupported_block(other, &at)),
                }
            }
            if !parts.is_empty() {
                out.push(json!({"role": "user", "content": parts}));
            }
        }
        "assistant" => {
            let mut text = String::new();
            let mut calls = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(b["text"].as_str().unwrap_or_default()),
                    Some("tool_use") => calls.push(json!({"id": b["id"], "type": "function",
                        "function": {"name": b["name"],
                            "arguments": b.get("input").unwrap_or(&json!({})).to_string()}})),
                    // earlier reasoning is not replayed to other wires
                    Some("thinking" | "redacted_thinking") => {}
                    other => {
                        return Err(unsupported_block(
                            other,
                            &format!("messages.{i}.content.{j}"),
                        ))
                    }
                }
            }
            let mut msg = json!({"role": "assistant", "content": text});
            if !calls.is_empty() {
                msg["tool_calls"] = Value::Array(calls);
                if text.is_empty() {
                    msg["content"] = Value::Null;
                }
            }
            out.push(msg);
        }
        _ => {
            return Err(invalid(
                format!("messages.{i}.role must be \"user\" or \"assistant\""),
                &format!("messages.{i}.role"),
            ))
        }
    }
    Ok(())
}

fn unsupported_block(kind: Option<&str>, at: &str) -> ApiError {
    invalid(
        format!(
            "content block type {} is not supported by this router (text, image, tool_use and tool_result are)",
            kind.unwrap_or("(missing)")
        ),
        at,
    )
}

/// An image block (base64 or url source) as an `image_url` part.
fn image_part(block: &Value, at: &str) -> Result<Value, ApiError> {
    let source = &block["source"];
    let url = match source["type"].as_str() {
        Some("base64") => format!(
            "data:{};base64,{}",
            source["media_type"].as_str().unwrap_or("image/png"),
            source["data"].as_str().unwrap_or_default()
        ),
        Some("url") => source["url"].as_str().unwrap_or_default().to_owned(),
        _ => {
            return Err(invalid(
                "image source must be base64 or url",
                &format!("{at}.source"),
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// A `tool_result` block as a `tool` message (its text; an error result says so).
fn tool_message(block: &Value, at: &str) -> Result<Value, ApiError> {
    let Some(id) = block.get("tool_use_id").and_then(Value::as_str) else {
        return Err(invalid(
            "tool_result needs a tool_use_id",
            &format!("{at}.tool_use_id"),
        ));
    };
    let mut text = match block.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    if block.get("is_error").and_then(Value::as_bool) == Some(true) {
        text = format!("Error: {text}");
    }
    Ok(json!({"role": "tool", "tool_call_id": id, "content": text}))
}

/// Client tools (`{name, description, input_schema}`) as function tools; server tools
/// (web search, code execution, ...) have no equivalent on other wires.
fn convert_tools(tools: &[Value]) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let custom = t
            .get("type")
            .and_then(Value::as_str)
            .is_none_or(|k| k == "custom");
        let Some(name) = t.get("name").and_then(Value::as_str).filter(|_| custom) else {
            return Err(invalid(
                "only client tools with a name and an input_schema are supported",
                &format!("tools.{i}"),
            ));
        };
        let mut f = Map::new();
        f.insert("name".into(), name.into());
        if let Some(d) = t.get("description").and_then(Value::as_str) {
            f.insert("description".into(), d.into());
        }
        let schema = t
            .get("input_schema")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        f.insert("parameters".into(), schema);
        out.push(json!({"type": "function", "function": f}));
    }
    Ok(Value::Array(out))
}

/// `{type: auto|any|tool|none}` as `tool_choice`; `disable_parallel_tool_use` as
/// `parallel_tool_calls: false`.
fn convert_tool_choice(choice: &Value, out: &mut Map<String, Value>) -> Result<(), ApiError> {
    let mapped = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => match choice.get("name").and_then(Value::as_str) {
            Some(name) => json!({"type": "function", "function": {"name": name}}),
            None => {
                return Err(invalid(
                    "tool_choice of type tool needs a name",
                    "tool_choice",
                ))
            }
        },
        _ => {
            return Err(invalid(
                "tool_choice.type must be auto, any, tool or none",
                "tool_choice",
            ))
        }
    };
    if out.contains_key("tools") {
        out.insert("tool_choice".into(), mapped);
        if choice
            .get("disable_parallel_tool_use")
            .and_then(Value::as_bool)
            == Some(true)
        {
            out.insert("parallel_tool_calls".into(), false.into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(v: Value) -> Value {
        Value::Object(to_chat(v.to_string().as_bytes(), false).unwrap())
    }

    #[test]
    fn system_blocks_images_tools_and_options() {
        let c = chat(json!({"model": "auto", "max_tokens": 100,
            "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use SI."}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}],
            "stop_sequences": ["END"], "temperature": 0.3, "top_k": 5,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "metadata": {"user_id": "u1"}, "stream": true,
            "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true}}));
        assert_eq!(
            c["messages"][0],
            json!({"role": "system", "content": "Be brief.\nUse SI."})
        );
        assert_eq!(
            c["messages"][1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AAAA"
        );
        assert_eq!(c["stop"], json!(["END"]));
        assert_eq!(c["max_tokens"], 100);
        assert_eq!(c["user"], "u1");
        assert_eq!(c["stream_options"]["include_usage"], true);
        assert_eq!(
            c["tools"][0],
            json!({"type": "function", "function": {"name": "f", "description": "d",
                "parameters": {"type": "object"}}})
        );
        assert_eq!(c["tool_choice"], "required");
        assert_eq!(c["parallel_tool_calls"], false);
        assert_eq!(c[ANTHROPIC_NATIVE]["top_k"], 5);
        assert_eq!(c[ANTHROPIC_NATIVE]["thinking"]["budget_tokens"], 1024);
        assert_eq!(c[ANTHROPIC_NATIVE]["system"][1]["text"], "Use SI.");
    }

    #[test]
    fn tool_use_and_results_become_tool_calls_and_tool_messages() {
        let c = chat(json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "cold"},
                {"type": "text", "text": "and tomorrow?"}]}]}));
        let m = c["messages"].as_array().unwrap();
        assert_eq!(
            m[1]["tool_calls"][0]["function"]["arguments"],
            "{\"city\":\"Oslo\"}"
        );
        assert_eq!(m[1]["content"], "Checking.");
        assert_eq!(
            m[2],
            json!({"role": "tool", "tool_call_id": "toolu_1", "content": "cold"})
        );
        assert_eq!(m[3]["role"], "user");
    }

    #[test]
    fn missing_fields_and_unknown_blocks_are_400s() {
        for (body, param) in [
            (json!({"max_tokens": 1, "messages": []}), "model"),
            (
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
                "max_tokens",
            ),
            (json!({"model": "m", "max_tokens": 1}), "messages"),
            (
                json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user",
                "content": [{"type": "document", "source": {}}]}]}),
                "messages.0.content.0",
            ),
            (
                json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
                "tools.0",
            ),
        ] {
            let e = to_chat(body.to_string().as_bytes(), false).unwrap_err();
            assert_eq!(e.status_code(), 400);
            assert_eq!(e.body().error.param.as_deref(), Some(param), "{body}");
        }
        // count_tokens needs no max_tokens
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        assert!(to_chat(body.to_string().as_bytes(), true).is_ok());
    }
}
