//! OpenAI chat request -> Anthropic Messages request (`POST /v1/messages` body).

use serde_json::{json, Map, Value};

use crate::adapters::{Unsupported, UpstreamError};

/// `max_tokens` sent when the client set neither `max_tokens` nor `max_completion_tokens`:
/// Anthropic requires one, OpenAI does not, so Switchyard picks 4096.
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 4096;

/// A request Anthropic cannot express, naming the field at fault.
pub(super) fn invalid(message: &str, param: Option<&str>) -> UpstreamError {
    UpstreamError::Unsupported(Unsupported::new(message, param))
}

/// Builds the Anthropic body. Fields Anthropic has no equivalent for (`logprobs`, penalties,
/// `seed`, `logit_bias`, ...) are dropped; `n > 1` is refused with a 400. `response_format`
/// becomes a best-effort system instruction asking for JSON (matching the schema if given).
pub(super) fn translate(
    body: &Map<String, Value>,
    model: &str,
    stream: bool,
) -> Result<Value, UpstreamError> {
    if let Some(native) = body
        .get(crate::messages::ANTHROPIC_NATIVE)
        .and_then(Value::as_object)
    {
        return Ok(native_body(native, model, stream));
    }
    if body.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err(invalid(
            "n > 1 is not supported by this model's provider (Anthropic returns one choice).",
            Some("n"),
        ));
    }
    let empty = Vec::new();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let (mut system, messages) = convert_messages(messages)?;
    if let Some(extra) = json_instruction(body.get("response_format")) {
        system.push(extra);
    }
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut out = Map::new();
    out.insert("model".into(), model.into());
    out.insert("max_tokens".into(), max_tokens.into());
    if !system.is_empty() {
        out.insert("system".into(), system.join("\n\n").into());
    }
    out.insert("messages".into(), Value::Array(messages));
    match body.get("stop") {
        Some(Value::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) if !a.is_empty() => {
            out.insert("stop_sequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    for k in ["temperature", "top_p"] {
        if let Some(v) = body.get(k).filter(|v| v.is_number()) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(user) = body.get("user").and_then(Value::as_str) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(tools) = body.get("tools").and_then(Value::as_array) {
        if !tools.is_empty() {
            out.insert("tools".into(), convert_tools(tools)?);
            let parallel = body.get("parallel_tool_calls").and_then(Value::as_bool);
            if let Some(choice) = convert_tool_choice(body.get("tool_choice"), parallel)? {
                out.insert("tool_choice".into(), choice);
            }
        }
    }
    if !out.contains_key("tools") {
        legacy_functions(body, &mut out)?;
    }
    if stream {
        out.insert("stream".into(), true.into());
    }
    Ok(Value::Object(out))
}

/// A Messages API client's own body, sent as it came with the upstream `model` and this
/// call's `stream` (everything else, `thinking` and signed thinking blocks included, intact).
fn native_body(native: &Map<String, Value>, model: &str, stream: bool) -> Value {
    let mut out = native.clone();
    out.insert("model".into(), model.into());
    if stream {
        out.insert("stream".into(), true.into());
    } else {
        out.remove("stream");
    }
    Value::Object(out)
}

/// Deprecated `functions` as tools and `function_call` as the tool choice.
fn legacy_functions(
    body: &Map<String, Value>,
    out: &mut Map<String, Value>,
) -> Result<(), UpstreamError> {
    let Some(functions) = body.get("functions").and_then(Value::as_array) else {
        return Ok(());
    };
    if functions.is_empty() {
        return Ok(());
    }
    let tools: Vec<Value> = functions
        .iter()
        .map(|f| json!({"type": "function", "function": f}))
        .collect();
    out.insert("tools".into(), convert_tools(&tools)?);
    let choice = match body.get("function_call") {
        Some(Value::String(s)) if s == "none" => Some(json!({"type": "none"})),
        Some(Value::String(s)) if s == "auto" => Some(json!({"type": "auto"})),
        Some(v) => match v.get("name").and_then(Value::as_str) {
            Some(name) => Some(json!({"type": "tool", "name": name})),
            None => return Err(invalid("Unknown function_call.", Some("function_call"))),
        },
        None => None,
    };
    if let Some(choice) = choice {
        out.insert("tool_choice".into(), choice);
    }
    Ok(())
}

/// The text of a `content` that may be a string or an array of `{type:text}` parts.
fn plain_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Splits out system/developer texts and turns the rest into alternating Anthropic messages.
fn convert_messages(messages: &[Value]) -> Result<(Vec<String>, Vec<Value>), UpstreamError> {
    let mut system = Vec::new();
    let mut out: Vec<(&'static str, Vec<Value>)> = Vec::new();
    // the id given to the last legacy `function_call`, which a `role: function` message answers
    let mut legacy_call: Option<String> = None;
    for (i, msg) in messages.iter().enumerate() {
        let role = msg.get("role").and_then(Value::as_str).unwrap_or_default();
        let (role, blocks) = match role {
            "system" | "developer" => {
                let text = plain_text(msg.get("content"));
                if !text.is_empty() {
                    system.push(text);
                }
                continue;
            }
            "user" => ("user", content_blocks(msg.get("content"), i)?),
            "assistant" => {
                let mut blocks = assistant_blocks(msg, i)?;
                if let Some(f) = msg.get("function_call").filter(|f| f.is_object()) {
                    let id = format!("call_fn_{i}");
                    let call = json!({"id": id, "function": f});
                    blocks.extend(assistant_blocks(&json!({"tool_calls": [call]}), i)?);
                    legacy_call = Some(id);
                }
                ("assistant", blocks)
            }
            "function" => {
                let Some(id) = legacy_call.take() else {
                    let p = format!("messages[{i}]");
                    return Err(invalid(
                        "A function message must follow an assistant function_call.",
                        Some(&p),
                    ));
                };
                let block = json!({"type": "tool_result", "tool_use_id": id,
                    "content": plain_text(msg.get("content"))});
                ("user", vec![block])
            }
            "tool" => {
                let id = msg.get("tool_call_id").and_then(Value::as_str);
                let Some(id) = id else {
                    let p = format!("messages[{i}].tool_call_id");
                    return Err(invalid("A tool message needs a tool_call_id.", Some(&p)));
                };
                let block = json!({"type": "tool_result", "tool_use_id": id,
                    "content": plain_text(msg.get("content"))});
                ("user", vec![block])
            }
            other => {
                let p = format!("messages[{i}].role");
                let m = format!("Unsupported role '{other}' for this provider.");
                return Err(invalid(&m, Some(&p)));
            }
        };
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some((last, prev)) if *last == role => prev.extend(blocks),
            _ => out.push((role, blocks)),
        }
    }
    let messages = out
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok((system, messages))
}

/// User content: text parts and images (data: URLs become base64 sources, others url sources).
fn content_blocks(content: Option<&Value>, i: usize) -> Result<Vec<Value>, UpstreamError> {
    let parts = match content {
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![json!({"type": "text", "text": s})]),
        Some(Value::Array(parts)) => parts,
        _ => return Ok(Vec::new()),
    };
    let mut blocks = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
            }
            Some("image_url") => {
                let url = part.get("image_url").and_then(|u| match u {
                    Value::String(s) => Some(s.as_str()),
                    v => v.get("url").and_then(Value::as_str),
                });
                let Some(url) = url else {
                    let p = format!("messages[{i}].content[{j}].image_url");
                    return Err(invalid("An image_url part needs a url.", Some(&p)));
                };
                blocks.push(json!({"type": "image", "source": image_source(url)}));
            }
            other => {
                let p = format!("messages[{i}].content[{j}].type");
                let m = format!(
                    "Content part type {} is not supported by this provider.",
                    other.unwrap_or("(missing)")
                );
                return Err(invalid(&m, Some(&p)));
            }
        }
    }
    Ok(blocks)
}

/// `data:<media>;base64,<data>` -> a base64 source; anything else -> a url source.
pub(super) fn image_source(url: &str) -> Value {
    if let Some((meta, data)) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(','))
    {
        if let Some(media) = meta.strip_suffix(";base64") {
            return json!({"type": "base64", "media_type": media, "data": data});
        }
    }
    json!({"type": "url", "url": url})
}

/// Assistant text plus `tool_calls` as tool_use blocks (arguments string -> input object).
fn assistant_blocks(msg: &Value, i: usize) -> Result<Vec<Value>, UpstreamError> {
    let mut blocks = Vec::new();
    let text = plain_text(msg.get("content"));
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    let calls = msg.get("tool_calls").and_then(Value::as_array);
    for (j, call) in calls.into_iter().flatten().enumerate() {
        let f = call.get("function").unwrap_or(&Value::Null);
        let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
        let input = if args.trim().is_empty() {
            json!({})
        } else if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(args) {
            v
        } else {
            let p = format!("messages[{i}].tool_calls[{j}].function.arguments");
            let m = "Tool call arguments must be a JSON object for this provider.";
            return Err(invalid(m, Some(&p)));
        };
        blocks.push(json!({"type": "tool_use",
            "id": call.get("id").and_then(Value::as_str).unwrap_or_default(),
            "name": f.get("name").and_then(Value::as_str).unwrap_or_default(),
            "input": input}));
    }
    Ok(blocks)
}

/// OpenAI function tools -> `{name, description, input_schema}`.
fn convert_tools(tools: &[Value]) -> Result<Value, UpstreamError> {
    let mut out = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let f = tool.get("function");
        let name = f.and_then(|f| f.get("name")).and_then(Value::as_str);
        let (Some(f), Some(name)) = (f, name) else {
            let p = format!("tools[{i}]");
            return Err(invalid(
                "Only function tools with a name are supported.",
                Some(&p),
            ));
        };
        let mut t = Map::new();
        t.insert("name".into(), name.into());
        if let Some(d) = f.get("description").and_then(Value::as_str) {
            t.insert("description".into(), d.into());
        }
        let schema = f
            .get("parameters")
            .filter(|p| p.is_object())
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        t.insert("input_schema".into(), schema);
        out.push(Value::Object(t));
    }
    Ok(Value::Array(out))
}

/// "auto"/"none"/"required"/{function:{name}} -> auto/none/any/tool;
/// `parallel_tool_calls: false` -> `disable_parallel_tool_use: true`.
fn convert_tool_choice(
    choice: Option<&Value>,
    parallel: Option<bool>,
) -> Result<Option<Value>, UpstreamError> {
    let mut out = match choice {
        None | Some(Value::Null) => json!({"type": "auto"}),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "none" => return Ok(Some(json!({"type": "none"}))),
            "required" => json!({"type": "any"}),
            _ => return Err(invalid("Unknown tool_choice.", Some("tool_choice"))),
        },
        Some(v) => match v
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => json!({"type": "tool", "name": name}),
            None => return Err(invalid("Unknown tool_choice.", Some("tool_choice"))),
        },
    };
    if parallel == Some(false) {
        out["disable_parallel_tool_use"] = true.into();
    } else if choice.is_none() {
        return Ok(None);
    }
    Ok(Some(out))
}

/// Best-effort JSON mode: Anthropic has no `response_format`, so ask for it in the system prompt.
fn json_instruction(format: Option<&Value>) -> Option<String> {
    let format = format?;
    match format.get("type").and_then(Value::as_str)? {
        "json_object" => Some("Respond with a single valid JSON object and nothing else.".into()),
        "json_schema" => {
            let schema = format
                .get("json_schema")
                .and_then(|s| s.get("schema"))
                .cloned()
                .unwrap_or_else(|| json!({}));
            Some(format!(
                "Respond with a single valid JSON value matching this JSON schema, and nothing else: {schema}"
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(body: Value) -> Value {
        translate(body.as_object().unwrap(), "claude-x", false).unwrap()
    }

    #[test]
    fn system_developer_and_defaults() {
        let v = tr(json!({"model": "auto", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use SI units."}]},
            {"role": "user", "content": "hi"},
            {"role": "user", "content": "again"}],
            "stop": "END", "temperature": 0.2, "top_p": 0.9, "user": "u1",
            "presence_penalty": 1, "logprobs": true, "seed": 3}));
        assert_eq!(v["model"], "claude-x");
        assert_eq!(v["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(v["system"], "Be brief.\n\nUse SI units.");
        assert_eq!(v["messages"].as_array().unwrap().len(), 1, "merged: {v}");
        assert_eq!(v["messages"][0]["content"][1]["text"], "again");
        assert_eq!(v["stop_sequences"], json!(["END"]));
        assert_eq!(v["temperature"], 0.2);
        assert_eq!(v["top_p"], 0.9);
        assert_eq!(v["metadata"], json!({"user_id": "u1"}));
        for k in ["presence_penalty", "logprobs", "seed", "stream", "tools"] {
            assert!(v.get(k).is_none(), "{k} leaked: {v}");
        }
    }

    #[test]
    fn max_tokens_prefers_max_completion_tokens() {
        let v = tr(json!({"messages": [], "max_tokens": 9, "max_completion_tokens": 7}));
        assert_eq!(v["max_tokens"], 7);
        let v = tr(json!({"messages": [], "max_tokens": 9}));
        assert_eq!(v["max_tokens"], 9);
    }

    #[test]
    fn images_become_base64_or_url_sources() {
        let v = tr(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}}]}]}));
        let c = &v["messages"][0]["content"];
        assert_eq!(
            c[1]["source"],
            json!({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        );
        assert_eq!(
            c[2]["source"],
            json!({"type": "url", "url": "https://x.test/a.jpg"})
        );
    }

    #[test]
    fn tool_calls_and_results_round_trip() {
        let v = tr(json!({"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "get_time", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "cold"},
            {"role": "tool", "tool_call_id": "call_2", "content": "noon"}],
            "tools": [{"type": "function", "function": {"name": "get_weather",
                "description": "d", "parameters": {"type": "object"}}}],
            "tool_choice": "required", "parallel_tool_calls": false}));
        let m = v["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[1]["content"][0],
            json!({"type": "tool_use", "id": "call_1", "name": "get_weather",
                "input": {"city": "Oslo"}})
        );
        assert_eq!(m[1]["content"][1]["input"], json!({}));
        assert_eq!(m[2]["role"], "user");
        assert_eq!(m[2]["content"][1]["tool_use_id"], "call_2");
        assert_eq!(
            v["tools"][0],
            json!({"name": "get_weather", "description": "d", "input_schema": {"type": "object"}})
        );
        assert_eq!(
            v["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": true})
        );
    }

    #[test]
    fn legacy_functions_become_tools_and_results() {
        let v = tr(json!({"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null,
             "function_call": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
            {"role": "function", "name": "get_weather", "content": "cold"}],
            "functions": [{"name": "get_weather", "parameters": {"type": "object"}}],
            "function_call": {"name": "get_weather"}}));
        assert_eq!(
            v["tools"][0],
            json!({"name": "get_weather", "input_schema": {"type": "object"}})
        );
        assert_eq!(
            v["tool_choice"],
            json!({"type": "tool", "name": "get_weather"})
        );
        let m = v["messages"].as_array().unwrap();
        assert_eq!(m[1]["content"][0]["type"], "tool_use");
        assert_eq!(m[1]["content"][0]["input"], json!({"city": "Oslo"}));
        let id = m[1]["content"][0]["id"].clone();
        assert_eq!(m[2]["content"][0]["tool_use_id"], id);
        assert_eq!(m[2]["content"][0]["content"], "cold");
        let none =
            tr(json!({"messages": [], "functions": [{"name": "f"}], "function_call": "none"}));
        assert_eq!(none["tool_choice"], json!({"type": "none"}));
    }

    #[test]
    fn a_messages_client_body_goes_natively() {
        let native = json!({"model": "auto", "max_tokens": 9, "stream": true,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"}]}]});
        let body = json!({"model": "auto", "messages": [{"role": "user", "content": "x"}],
            "x_switchyard_anthropic_native": native});
        let v = translate(body.as_object().unwrap(), "claude-x", false).unwrap();
        assert_eq!(v["model"], "claude-x");
        assert!(v.get("stream").is_none());
        assert_eq!(v["messages"][0]["content"][0]["signature"], "sig");
        assert_eq!(v["thinking"]["budget_tokens"], 1024);
        let v = translate(body.as_object().unwrap(), "claude-x", true).unwrap();
        assert_eq!(v["stream"], true);
    }

    #[test]
    fn tool_choice_forms() {
        let c = |v: Value| convert_tool_choice(Some(&v), None).unwrap();
        assert_eq!(c(json!("auto")), Some(json!({"type": "auto"})));
        assert_eq!(c(json!("none")), Some(json!({"type": "none"})));
        assert_eq!(
            c(json!({"type": "function", "function": {"name": "f"}})),
            Some(json!({"type": "tool", "name": "f"}))
        );
        assert_eq!(convert_tool_choice(None, None).unwrap(), None);
    }

    #[test]
    fn response_format_becomes_a_system_instruction() {
        let v = tr(
            json!({"messages": [], "response_format": {"type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}}}}),
        );
        assert!(v["system"]
            .as_str()
            .unwrap()
            .contains(r#"{"type":"object"}"#));
    }

    #[test]
    fn n_above_one_and_bad_arguments_are_unsupported() {
        let body = json!({"messages": [], "n": 2});
        let err = translate(body.as_object().unwrap(), "m", false).unwrap_err();
        assert!(matches!(&err, UpstreamError::Unsupported(u) if u.param.as_deref() == Some("n")));
        let body = json!({"messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": "[1]"}}]}]});
        assert!(translate(body.as_object().unwrap(), "m", false).is_err());
    }
}
