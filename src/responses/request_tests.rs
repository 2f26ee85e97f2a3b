//! Translating Responses requests to chat, and the 400s for what chat cannot express.
use super::*;

fn chat(body: Value) -> Map<String, Value> {
    translate(&serde_json::to_vec(&body).unwrap())
        .unwrap()
        .chat_body(&[])
}

fn error(body: Value) -> (String, Option<String>) {
    let e = translate(&serde_json::to_vec(&body).unwrap()).unwrap_err();
    let detail = e.body().error;
    (detail.message, detail.param)
}

#[test]
fn instructions_and_a_string_input_become_system_and_user() {
    let c = chat(
        json!({"model": "auto", "instructions": "Be brief", "input": "hi", "max_output_tokens": 20, "temperature": 0.2}),
    );
    assert_eq!(
        c["messages"],
        json!([{"role": "system", "content": "Be brief"}, {"role": "user", "content": "hi"}])
    );
    assert_eq!(c["max_completion_tokens"], 20);
    assert_eq!(c["temperature"], 0.2);
    assert!(!c.contains_key("stream"));
}

#[test]
fn items_become_chat_messages_with_tool_calls_and_outputs() {
    let c = chat(json!({"model": "m", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "look"}, {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"a\":1}"},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "two"}]},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "done"}]},
    ]}));
    let m = c["messages"].as_array().unwrap();
    assert_eq!(m.len(), 5);
    assert_eq!(
        m[0]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "low"}})
    );
    assert_eq!(m[1]["tool_calls"].as_array().unwrap().len(), 2);
    assert_eq!(m[1]["tool_calls"][1]["function"]["arguments"], "{\"a\":1}");
    assert_eq!(
        m[2],
        json!({"role": "tool", "tool_call_id": "c1", "content": "one"})
    );
    assert_eq!(m[3]["content"], "two");
    assert_eq!(m[4], json!({"role": "assistant", "content": "done"}));
}

#[test]
fn tools_format_reasoning_and_stream_are_translated() {
    let c = chat(json!({"model": "m", "input": "x", "stream": true,
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": true}],
        "tool_choice": {"type": "function", "name": "f"},
        "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": true}},
        "reasoning": {"effort": "low"}}));
    assert_eq!(
        c["tools"][0],
        json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": true}})
    );
    assert_eq!(
        c["tool_choice"],
        json!({"type": "function", "function": {"name": "f"}})
    );
    assert_eq!(c["response_format"]["json_schema"]["name"], "s");
    assert_eq!(c["reasoning_effort"], "low");
    assert_eq!(c["stream_options"]["include_usage"], true);
}

#[test]
fn history_goes_between_instructions_and_the_turn() {
    let t = translate(br#"{"model":"m","instructions":"sys","input":"now"}"#).unwrap();
    let c = t.chat_body(&[json!({"role": "user", "content": "before"})]);
    let roles: Vec<_> = c["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].clone())
        .collect();
    assert_eq!(roles, [json!("sys"), json!("before"), json!("now")]);
}

#[test]
fn what_chat_cannot_express_is_a_400_naming_it() {
    for (body, param) in [
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "m", "input": "x", "background": true}),
            "background",
        ),
        (
            json!({"model": "m", "input": "x", "conversation": "c"}),
            "conversation",
        ),
        (
            json!({"model": "m", "input": "x", "frobnicate": 1}),
            "frobnicate",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
            "input[0].type",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}),
            "input[0].content[0].image_url",
        ),
        (
            json!({"model": "m", "input": "x", "include": ["message.output_text.logprobs"]}),
            "include[0]",
        ),
        (json!({"model": "m", "input": []}), "input"),
        (json!({"input": "x"}), "model"),
    ] {
        let (message, got) = error(body.clone());
        assert_eq!(got.as_deref(), Some(param), "{body}: {message}");
    }
    let (message, _) =
        error(json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}));
    assert!(message.contains("web_search"), "{message}");
}
