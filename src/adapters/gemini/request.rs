//! OpenAI chat request -> Gemini `GenerateContentRequest` (contents, systemInstruction, tools, generationConfig).

use std::collections::HashMap;

use serde_json::{json, Map, Value};

/// Translates an OpenAI chat body; `Err` is a message for a 400 (the client's request cannot be expressed).
pub(crate) fn to_gemini(body: &Map<String, Value>) -> Result<Value, String> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("`messages` must be an array")?;
    let mut system: Vec<Value> = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // tool call id -> function name, so `tool` messages can name the function they answer
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        let content = m.get("content").unwrap_or(&Value::Null);
        let (turn, parts) = match role {
            "system" | "developer" => {
                system.extend(parts_of(content, i)?);
                continue;
            }
            "user" => ("user", parts_of(content, i)?),
            "assistant" => ("model", assistant_parts(m, content, i, &mut call_names)?),
            "tool" | "function" => {
                let name = m
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .and_then(|id| call_names.get(id).cloned())
                    .or_else(|| m.get("name").and_then(Value::as_str).map(str::to_owned))
                    .ok_or_else(|| {
                        format!("messages[{i}]: no earlier tool call matches its tool_call_id")
                    })?;
                ("user", vec![function_response(&name, content)])
            }
            other => return Err(format!("messages[{i}]: unsupported role '{other}'")),
        };
        if parts.is_empty() {
            continue;
        }
        push_turn(&mut contents, turn, parts);
    }
    let mut out = Map::new();
    out.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    if let Some(tools) = tools(body) {
        out.insert("tools".into(), tools);
    }
    if let Some(cfg) = tool_config(body.get("tool_choice").or(body.get("function_call"))) {
        out.insert("toolConfig".into(), cfg);
    }
    let cfg = generation_config(body);
    if !cfg.is_empty() {
        out.insert("generationConfig".into(), Value::Object(cfg));
    }
    Ok(Value::Object(out))
}

/// Appends a turn, merging it into the previous one when the role repeats (Gemini wants alternation).
fn push_turn(contents: &mut Vec<Value>, role: &str, parts: Vec<Value>) {
    if let Some(last) = contents.last_mut() {
        if last["role"] == role {
            if let Some(p) = last["parts"].as_array_mut() {
                p.extend(parts);
                return;
            }
        }
    }
    contents.push(json!({ "role": role, "parts": parts }));
}

/// Parts of a message `content`: a string or an array of OpenAI content parts.
fn parts_of(content: &Value, i: usize) -> Result<Vec<Value>, String> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![json!({ "text": s })]),
        Value::Array(parts) => {
            let mut out = Vec::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let t = p.get("text").and_then(Value::as_str).unwrap_or_default();
                        out.push(json!({ "text": t }));
                    }
                    Some("image_url") => {
                        let url = p
                            .get("image_url")
                            .and_then(|u| u.get("url").or(Some(u)))
                            .and_then(Value::as_str)
                            .ok_or_else(|| format!("messages[{i}]: image_url needs a url"))?;
                        out.push(media_part(url).map_err(|e| format!("messages[{i}]: {e}"))?);
                    }
                    Some("input_audio") => {
                        let a = &p["input_audio"];
                        let data = a["data"].as_str().unwrap_or_default();
                        let format = a["format"].as_str().unwrap_or("wav");
                        out.push(json!({ "inlineData": { "mimeType": format!("audio/{format}"), "data": data } }));
                    }
                    other => {
                        return Err(format!(
                            "messages[{i}]: content part type {} is not supported by Gemini",
                            other.unwrap_or("(missing)")
                        ))
                    }
                }
            }
            Ok(out)
        }
        _ => Err(format!(
            "messages[{i}]: content must be a string or an array"
        )),
    }
}

/// A `data:` URL becomes `inlineData`; an http(s) URL becomes `fileData` with a guessed MIME type.
pub(crate) fn media_part(url: &str) -> Result<Value, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or("a data: URL must contain a comma")?;
        let mime = meta
            .strip_suffix(";base64")
            .ok_or("a data: URL must be base64")?;
        return Ok(json!({ "inlineData": { "mimeType": mime, "data": data } }));
    }
    if url.starts_with("http://") || url.starts_with("https://") || url.starts_with("gs://") {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
        let mime = match ext {
            "png" => "image/png",
            "jpg" | "jpeg" => "image/jpeg",
            "webp" => "image/webp",
            "gif" => "image/gif",
            "heic" => "image/heic",
            "heif" => "image/heif",
            "pdf" => "application/pdf",
            _ => {
                return Err(format!(
                    "cannot tell the MIME type of image URL {url}; use a data: URL or a .png/.jpg/.webp/.gif URL"
                ))
            }
        };
        return Ok(json!({ "fileData": { "mimeType": mime, "fileUri": url } }));
    }
    Err("image URLs must be data: or http(s) URLs".into())
}

/// An assistant turn: its text and its tool calls as `functionCall` parts.
fn assistant_parts(
    m: &Value,
    content: &Value,
    i: usize,
    call_names: &mut HashMap<String, String>,
) -> Result<Vec<Value>, String> {
    let mut parts = parts_of(content, i)?;
    let calls = m
        .get("tool_calls")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let legacy = m.get("function_call").map(|f| json!({ "function": f }));
    for call in calls.iter().chain(legacy.iter()) {
        let f = &call["function"];
        let name = f["name"]
            .as_str()
            .ok_or_else(|| format!("messages[{i}]: a tool call needs function.name"))?;
        if let Some(id) = call.get("id").and_then(Value::as_str) {
            call_names.insert(id.to_owned(), name.to_owned());
        }
        let args = match &f["arguments"] {
            Value::String(s) if s.trim().is_empty() => json!({}),
            Value::String(s) => serde_json::from_str::<Value>(s)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    format!("messages[{i}]: tool call arguments must be a JSON object")
                })?,
            v @ Value::Object(_) => v.clone(),
            _ => json!({}),
        };
        parts.push(json!({ "functionCall": { "name": name, "args": args } }));
    }
    Ok(parts)
}

/// A tool result: JSON objects go as they are, anything else as `{"content": ...}`.
fn function_response(name: &str, content: &Value) -> Value {
    let text = match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) if !v.is_string() => json!({ "content": v }),
        _ => json!({ "content": text }),
    };
    json!({ "functionResponse": { "name": name, "response": response } })
}

/// `tools` (and legacy `functions`) as one Tool with `functionDeclarations`.
fn tools(body: &Map<String, Value>) -> Option<Value> {
    let fns = body.get("tools").and_then(Value::as_array).map(|t| {
        t.iter()
            .filter(|t| t.get("type").and_then(Value::as_str).unwrap_or("function") == "function")
            .map(|t| &t["function"])
            .collect::<Vec<_>>()
    });
    let legacy = body
        .get("functions")
        .and_then(Value::as_array)
        .map(|f| f.iter().collect::<Vec<_>>());
    let decls: Vec<Value> = fns
        .into_iter()
        .chain(legacy)
        .flatten()
        .filter_map(|f| {
            let mut d = Map::new();
            d.insert("name".into(), f.get("name")?.clone());
            if let Some(desc) = f.get("description") {
                d.insert("description".into(), desc.clone());
            }
            if let Some(p) = f.get("parameters").filter(|p| has_properties(p)) {
                d.insert("parameters".into(), super::schema::for_gemini(p));
            }
            Some(Value::Object(d))
        })
        .collect();
    (!decls.is_empty()).then(|| json!([{ "functionDeclarations": decls }]))
}

/// Gemini rejects an OBJECT schema with no properties, so such `parameters` are left out.
fn has_properties(schema: &Value) -> bool {
    schema["type"] != "object"
        || schema["properties"]
            .as_object()
            .is_some_and(|p| !p.is_empty())
}

/// `tool_choice` auto/none/required/{function} -> AUTO/NONE/ANY/ANY + allowedFunctionNames.
fn tool_config(choice: Option<&Value>) -> Option<Value> {
    let cfg = match choice? {
        Value::String(s) => match s.as_str() {
            "auto" => json!({ "mode": "AUTO" }),
            "none" => json!({ "mode": "NONE" }),
            "required" | "any" => json!({ "mode": "ANY" }),
            _ => return None,
        },
        Value::Object(o) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .or(o.get("name"))
                .and_then(Value::as_str)?;
            json!({ "mode": "ANY", "allowedFunctionNames": [name] })
        }
        _ => return None,
    };
    Some(json!({ "functionCallingConfig": cfg }))
}

/// Sampling and output settings; fields Gemini has no equivalent for are dropped.
fn generation_config(body: &Map<String, Value>) -> Map<String, Value> {
    let mut cfg = Map::new();
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ] {
        if let Some(v) = body.get(from).filter(|v| v.is_number()) {
            cfg.insert(to.into(), v.clone());
        }
    }
    if let Some(max) = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| body.get(*k).filter(|v| v.is_u64()))
    {
        cfg.insert("maxOutputTokens".into(), max.clone());
    }
    match body.get("stop") {
        Some(Value::String(s)) => {
            cfg.insert("stopSequences".into(), json!([s]));
        }
        Some(Value::Array(a)) if !a.is_empty() => {
            cfg.insert("stopSequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    // log probabilities: Gemini's `responseLogprobs`, and `logprobs` top alternatives per token
    let top = body.get("top_logprobs").and_then(Value::as_u64);
    if body.get("logprobs").and_then(Value::as_bool) == Some(true) || top.is_some() {
        cfg.insert("responseLogprobs".into(), json!(true));
        if let Some(k) = top.filter(|k| *k > 0) {
            cfg.insert("logprobs".into(), json!(k));
        }
    }
    let format = body.get("response_format");
    match format.and_then(|f| f["type"].as_str()) {
        Some("json_object") => {
            cfg.insert("responseMimeType".into(), json!("application/json"));
        }
        Some("json_schema") => {
            cfg.insert("responseMimeType".into(), json!("application/json"));
            if let Some(s) = format.and_then(|f| f.get("json_schema")?.get("schema")) {
                cfg.insert("responseSchema".into(), super::schema::for_gemini(s));
            }
        }
        _ => {}
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn translate(v: Value) -> Value {
        to_gemini(v.as_object().unwrap()).unwrap()
    }

    #[test]
    fn maps_roles_system_and_merges_turns() {
        let g = translate(json!({"model":"m","messages":[
            {"role":"system","content":"Be brief"},
            {"role":"developer","content":"No jokes"},
            {"role":"user","content":"hi"},
            {"role":"user","content":[{"type":"text","text":"again"}]},
            {"role":"assistant","content":"hello"}
        ]}));
        assert_eq!(
            g["systemInstruction"],
            json!({"parts":[{"text":"Be brief"},{"text":"No jokes"}]})
        );
        assert_eq!(
            g["contents"],
            json!([
                {"role":"user","parts":[{"text":"hi"},{"text":"again"}]},
                {"role":"model","parts":[{"text":"hello"}]}
            ])
        );
    }

    #[test]
    fn maps_tool_calls_and_results() {
        let g = translate(json!({"model":"m","messages":[
            {"role":"user","content":"weather?"},
            {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
            {"role":"tool","tool_call_id":"call_1","content":"{\"temp\":21}"},
            {"role":"tool","tool_call_id":"call_1","content":"sunny"}
        ],
        "tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"$schema":"x","type":"object","additionalProperties":false,"properties":{"city":{"type":"string"}}}}},
                 {"type":"function","function":{"name":"noop","parameters":{"type":"object","properties":{}}}}],
        "tool_choice":{"type":"function","function":{"name":"get_weather"}}}));
        assert_eq!(
            g["contents"][1],
            json!({"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]})
        );
        assert_eq!(
            g["contents"][2]["parts"],
            json!([
                {"functionResponse":{"name":"get_weather","response":{"temp":21}}},
                {"functionResponse":{"name":"get_weather","response":{"content":"sunny"}}}
            ])
        );
        let decls = &g["tools"][0]["functionDeclarations"];
        assert_eq!(
            decls[0]["parameters"],
            json!({"type":"object","properties":{"city":{"type":"string"}}})
        );
        assert!(decls[1].get("parameters").is_none());
        assert_eq!(
            g["toolConfig"],
            json!({"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}})
        );
    }

    #[test]
    fn maps_tool_choice_strings() {
        for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
            let c = tool_config(Some(&json!(choice))).unwrap();
            assert_eq!(c["functionCallingConfig"]["mode"], mode);
        }
    }

    #[test]
    fn maps_generation_config() {
        let g = translate(
            json!({"model":"m","messages":[{"role":"user","content":"x"}],
            "temperature":0.5,"top_p":0.9,"max_tokens":20,"stop":"END","n":2,"logit_bias":{"1":1},
            "response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","additionalProperties":false,"properties":{"a":{"type":"string"}}}}}}),
        );
        assert_eq!(
            g["generationConfig"],
            json!({"temperature":0.5,"topP":0.9,"candidateCount":2,"maxOutputTokens":20,
                   "stopSequences":["END"],"responseMimeType":"application/json",
                   "responseSchema":{"type":"object","properties":{"a":{"type":"string"}}}})
        );
    }

    #[test]
    fn maps_logprobs_and_inlines_schema_refs() {
        let g = translate(json!({"messages":[{"role":"user","content":"x"}],
            "logprobs":true,"top_logprobs":3,
            "response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{
                "$defs":{"A":{"type":"object","properties":{"b":{"type":"string"}}}},
                "type":"object","properties":{"a":{"$ref":"#/$defs/A"}}}}}}));
        let cfg = &g["generationConfig"];
        assert_eq!(cfg["responseLogprobs"], true);
        assert_eq!(cfg["logprobs"], 3);
        assert_eq!(
            cfg["responseSchema"],
            json!({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}}}}})
        );
        let g = translate(json!({"messages":[{"role":"user","content":"x"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{
                "$defs":{"A":{"type":"object","properties":{"b":{"type":"string"}}}},
                "type":"object","properties":{"a":{"$ref":"#/$defs/A"}}}}}]}));
        let params = &g["tools"][0]["functionDeclarations"][0]["parameters"];
        assert_eq!(
            params["properties"]["a"]["properties"]["b"]["type"],
            "string"
        );
        assert!(g.get("generationConfig").is_none());
    }

    #[test]
    fn maps_images() {
        assert_eq!(
            media_part("data:image/png;base64,AAAA").unwrap(),
            json!({"inlineData":{"mimeType":"image/png","data":"AAAA"}})
        );
        assert_eq!(
            media_part("https://x.test/a.JPG?s=1").unwrap(),
            json!({"fileData":{"mimeType":"image/jpeg","fileUri":"https://x.test/a.JPG?s=1"}})
        );
        assert!(media_part("https://x.test/image").is_err());
        let err = to_gemini(
            json!({"messages":[{"role":"tool","tool_call_id":"nope","content":"x"}]})
                .as_object()
                .unwrap(),
        );
        assert!(err.unwrap_err().contains("tool_call_id"));
    }
}
