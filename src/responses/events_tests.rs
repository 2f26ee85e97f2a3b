//! The event stream's order, sequence numbers and endings, from chat chunks.
use super::*;
use crate::responses::request::Echo;
use serde_json::Value;

fn events(out: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8_lossy(out)
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut lines = e.lines();
            let kind = lines
                .next()
                .unwrap()
                .strip_prefix("event: ")
                .unwrap()
                .to_owned();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            (kind, serde_json::from_str(data).unwrap())
        })
        .collect()
}

fn translator() -> Translator {
    Translator::new(ResponseObject::begin("resp_t".into(), &Echo::default()))
}

#[test]
fn text_then_a_call_in_order_with_sequence_numbers() {
    let mut t = translator();
    let mut out = Vec::new();
    for chunk in [
        r#"{"model":"mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"lo"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}"#,
    ] {
        t.push(chunk, &mut out);
    }
    t.done(&mut out);
    let ev = events(&out);
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, (kind, data)) in ev.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64, "{kind}");
        assert_eq!(&data["type"], kind);
    }
    assert_eq!(ev[0].1["response"]["model"], "mini");
    assert_eq!(ev[6].1["text"], "Hello");
    assert_eq!(ev[12].1["arguments"], "{\"a\":1}");
    assert_eq!(ev[12].1["name"], "f");
    let done = &ev[14].1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][1]["call_id"], "call_1");
    assert_eq!(done["usage"]["output_tokens"], 4);
    assert!(t.finished().is_some());
}

#[test]
fn a_broken_stream_fails_with_an_error_event() {
    let mut t = translator();
    let mut out = Vec::new();
    t.push(
        r#"{"choices":[{"index":0,"delta":{"content":"par"}}]}"#,
        &mut out,
    );
    t.push(
        r#"{"error":{"message":"upstream broke","type":"upstream_error","param":null,"code":"stream_interrupted"}}"#,
        &mut out,
    );
    t.done(&mut out);
    let ev = events(&out);
    let tail: Vec<&str> = ev.iter().rev().take(3).map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        tail,
        ["error", "response.failed", "response.output_item.done"]
    );
    let failed = &ev[ev.len() - 2].1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["output"][0]["status"], "incomplete");
    assert_eq!(ev.last().unwrap().1["code"], "stream_interrupted");
}

#[test]
fn a_length_stop_is_incomplete() {
    let mut t = translator();
    let mut out = Vec::new();
    t.push(
        r#"{"choices":[{"index":0,"delta":{"content":"cut"},"finish_reason":"length"}]}"#,
        &mut out,
    );
    t.done(&mut out);
    let ev = events(&out);
    let (kind, last) = ev.last().unwrap();
    assert_eq!(kind, "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}
