//! Tests for the stream redactor: split matches, flush order, choices, UTF-8, and agreement
//! with whole-text redaction for every way of cutting a text into chunks.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::StreamRedactor;
use crate::guardrails::scan::redact_text;
use crate::guardrails::{test_guards, Guardrails};

const KEY: &str = "sk-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5";

fn guards() -> Guardrails {
    test_guards(json!({"output": [
        {"name": "key", "pattern": "sk-[A-Za-z0-9]{30,}", "replace": "[KEY]", "max_match_chars": 40},
        {"name": "mail", "pattern": r"[a-z]+@example\.com", "max_match_chars": 40},
        {"name": "pin", "pattern": r"\bpin \d{4}\b", "replace": "pin ####", "max_match_chars": 10},
    ]}))
}

fn redactor() -> StreamRedactor {
    guards().stream_redactor().expect("output rules")
}

fn chat(index: u64, content: &str) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
        "choices": [{"index": index, "delta": {"content": content}, "finish_reason": null}]})
    .to_string()
}

fn finish(index: u64) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
        "choices": [{"index": index, "delta": {}, "finish_reason": "stop"}]})
    .to_string()
}

fn legacy(text: &str) -> String {
    json!({"id": "t1", "object": "text_completion", "created": 7, "model": "m",
        "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": null}]})
    .to_string()
}

/// Feeds payloads, then `[DONE]`, and returns everything sent.
fn run(r: &mut StreamRedactor, payloads: &[String]) -> Vec<String> {
    let mut out: Vec<String> = payloads.iter().flat_map(|p| r.push(p)).collect();
    out.extend(r.push("[DONE]"));
    out
}

/// Each choice's streamed text (content, legacy text and tool arguments), concatenated.
fn texts(out: &[String]) -> BTreeMap<u64, String> {
    let mut by = BTreeMap::<u64, String>::new();
    for p in out {
        let Ok(v) = serde_json::from_str::<Value>(p) else {
            continue;
        };
        for c in v["choices"].as_array().into_iter().flatten() {
            let s = by.entry(c["index"].as_u64().expect("index")).or_default();
            for t in [&c["delta"]["content"], &c["text"]] {
                s.push_str(t.as_str().unwrap_or_default());
            }
            for call in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                s.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
            }
        }
    }
    by
}

fn text0(out: &[String]) -> String {
    texts(out).remove(&0).unwrap_or_default()
}

/// Cuts `text` at the given byte offsets (char boundaries) into chat chunks.
fn pieces(text: &str, cuts: &[usize]) -> Vec<String> {
    let mut at = 0;
    let mut out = Vec::new();
    for &c in cuts.iter().chain([&text.len()]) {
        out.push(chat(0, &text[at..c]));
        at = c;
    }
    out
}

/// Where the first payload with a `finish_reason` is.
fn finish_at(out: &[String]) -> usize {
    out.iter()
        .position(|p| {
            serde_json::from_str::<Value>(p)
                .is_ok_and(|v| v["choices"][0]["finish_reason"].is_string())
        })
        .expect("a finishing chunk")
}

fn assert_no_leak(out: &[String]) {
    let all = out.concat();
    for w in KEY.as_bytes().windows(4) {
        let w = std::str::from_utf8(w).expect("ascii");
        assert!(!all.contains(w), "{w:?} leaked in {all}");
    }
}

#[test]
fn no_output_rules_means_no_redactor() {
    assert!(test_guards(json!({})).stream_redactor().is_none());
}

#[test]
fn key_split_in_two_five_and_inside_the_prefix_is_redacted() {
    let text = format!("my key is {KEY} ok");
    let k = text.find("sk-").expect("key");
    let splits: [Vec<usize>; 4] = [
        vec![k + 15],
        vec![k + 1, k + 2],
        vec![k + 2],
        vec![k - 1, k + 4, k + 11, k + 20, k + 31],
    ];
    for cuts in splits {
        let mut r = redactor();
        let out = run(&mut r, &pieces(&text, &cuts));
        assert_eq!(text0(&out), "my key is [KEY] ok", "cuts {cuts:?}");
        assert_no_leak(&out);
        assert_eq!(r.redactions(), 1);
    }
}

#[test]
fn clean_text_comes_out_identical() {
    let text = "Hello, world. Nothing secret here: sk- alone, a@b.org, pin 12.";
    let cuts: Vec<usize> = (3..text.len()).step_by(7).collect();
    let mut r = redactor();
    assert_eq!(text0(&run(&mut r, &pieces(text, &cuts))), text);
    assert_eq!(r.redactions(), 0);
}

#[test]
fn a_growing_match_is_not_cut_early() {
    let g = test_guards(json!({"output": [
        {"name": "key", "pattern": "sk-[a-z]+", "replace": "[K]", "max_match_chars": 8},
    ]}));
    let mut r = g.stream_redactor().expect("rules");
    let chunks = [
        chat(0, "key sk-abcdefghijklmnop"),
        chat(0, "qrstuvwxyz and more"),
    ];
    let out = run(&mut r, &chunks);
    assert_eq!(text0(&out), "key [K] and more");
    assert!(!out.concat().contains("klm"));
}

#[test]
fn held_text_is_sent_before_the_finishing_chunk() {
    let mut r = redactor();
    let role = json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]})
    .to_string();
    let mut out = r.push(&role);
    assert_eq!(
        out,
        std::slice::from_ref(&role),
        "a chunk with nothing to hold passes untouched"
    );
    out.extend(r.push(&chat(0, "hi sk-A1b2C3d4")));
    out.extend(r.push(&chat(0, "E5f6G7h8I9j0K1l2M3n4O5 bye")));
    let fin = r.push(&finish(0));
    assert_eq!(fin.len(), 2);
    let flushed: Value = serde_json::from_str(&fin[0]).expect("json");
    assert_eq!(
        flushed,
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
            "choices": [{"index": 0, "delta": {"content": "hi [KEY] bye"}, "finish_reason": null}]})
    );
    let last: Value = serde_json::from_str(&fin[1]).expect("json");
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    out.extend(fin);
    assert_eq!(
        text0(&out),
        "hi [KEY] bye",
        "short text is all held until the end"
    );
    assert_eq!(r.push("[DONE]"), ["[DONE]"]);
}

#[test]
fn text_in_the_finishing_chunk_itself_goes_first() {
    let mut r = redactor();
    let mut fin: Value = serde_json::from_str(&finish(0)).expect("json");
    fin["choices"][0]["delta"] = json!({"content": " end pin 1234"});
    let out = run(&mut r, &[chat(0, "start"), fin.to_string()]);
    let finish_at = finish_at(&out);
    assert_eq!(text0(&out[..finish_at]), "start end pin ####");
    assert_eq!(text0(&out[finish_at..]), "");
}

#[test]
fn done_flushes_first_and_finish_flushes_without_done() {
    let mut r = redactor();
    let mut out = r.push(&chat(0, "tail bob@exam"));
    out.extend(r.push(&chat(0, "ple.com")));
    let done = r.push("[DONE]");
    assert_eq!(done.last().map(String::as_str), Some("[DONE]"));
    out.extend(done);
    assert_eq!(text0(&out), "tail [REDACTED]");

    let mut r = redactor();
    let mut out = r.push(&chat(0, "short"));
    assert_eq!(text0(&out), "");
    out.extend(r.finish());
    assert_eq!(text0(&out), "short");
    assert!(r.finish().is_empty());
}

#[test]
fn each_choice_has_its_own_tail() {
    let (a, b) = KEY.split_at(12);
    let chunks = [
        chat(0, &format!("zero {a}")),
        chat(1, &format!("one {a}")),
        chat(1, &format!("{b} one")),
        chat(0, &format!("{b} zero")),
        finish(1),
        finish(0),
    ];
    let mut r = redactor();
    let out = run(&mut r, &chunks);
    let t = texts(&out);
    assert_eq!(t.get(&0).map(String::as_str), Some("zero [KEY] zero"));
    assert_eq!(t.get(&1).map(String::as_str), Some("one [KEY] one"));
    assert_no_leak(&out);
    assert_eq!(r.redactions(), 2);
}

#[test]
fn utf8_around_a_match_at_every_cut() {
    let text = format!("Привет 🙂 {KEY} — ключ ✓");
    let want = "Привет 🙂 [KEY] — ключ ✓";
    for (cut, _) in text.char_indices().skip(1) {
        let mut r = redactor();
        assert_eq!(
            text0(&run(&mut r, &pieces(&text, &[cut]))),
            want,
            "cut {cut}"
        );
    }
}

#[test]
fn legacy_text_and_non_json_payloads() {
    let mut r = redactor();
    let (a, b) = KEY.split_at(5);
    let mut out = r.push(": not json");
    assert_eq!(out, [": not json"]);
    out.extend(run(
        &mut r,
        &[legacy(&format!("x {a}")), legacy(&format!("{b} y"))],
    ));
    assert_eq!(text0(&out), "x [KEY] y");
    assert_no_leak(&out);
    let flushed: Value = serde_json::from_str(&out[out.len() - 2]).expect("json");
    assert_eq!(flushed["object"], "text_completion");
    assert_eq!(flushed["choices"][0]["finish_reason"], Value::Null);
}

#[test]
fn tool_call_arguments_are_redacted_too() {
    let call = |delta: Value, fin: Value| {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": fin}]})
        .to_string()
    };
    let (a, b) = KEY.split_at(9);
    let chunks = [
        call(
            json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "t",
                "type": "function", "function": {"name": "f", "arguments": ""}}]}),
            Value::Null,
        ),
        call(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": format!("{{\"k\":\"{a}")}}]}),
            Value::Null,
        ),
        call(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": format!("{b}\"}}")}}]}),
            Value::Null,
        ),
        call(json!({}), json!("tool_calls")),
    ];
    let mut r = redactor();
    let out = run(&mut r, &chunks);
    assert_eq!(out[0], chunks[0], "the header passes untouched");
    assert_eq!(text0(&out), "{\"k\":\"[KEY]\"}");
    assert_no_leak(&out);
    let finish_at = finish_at(&out);
    assert_eq!(text0(&out[finish_at..]), "");
}

#[test]
fn usage_and_plain_chunks_pass_byte_identical() {
    let mut r = redactor();
    let usage = r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":1}}"#;
    assert_eq!(r.push(usage), [usage]);
}

/// The text the property tests cut up: several secrets of each rule, between multi-byte text.
fn secrets_text() -> String {
    format!("a {KEY}; я bob@example.com, pin 1234 🙂 {KEY}x, no pin 12345 — amy@example.com")
}

#[test]
fn every_pair_of_cuts_matches_whole_text_redaction() {
    let g = guards();
    let text = secrets_text();
    let (want, n) = redact_text(&g.output, &text).expect("secrets");
    assert_eq!(n, 5);
    let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
    for (x, &i) in cuts.iter().enumerate() {
        for &j in &cuts[x..] {
            let mut r = g.stream_redactor().expect("rules");
            assert_eq!(
                text0(&run(&mut r, &pieces(&text, &[i, j]))),
                want,
                "cuts {i},{j}"
            );
            assert_eq!(r.redactions(), n);
        }
    }
}

#[test]
fn many_random_splits_match_whole_text_redaction() {
    let g = guards();
    let text = format!("{} {}", secrets_text(), secrets_text());
    let (want, _) = redact_text(&g.output, &text).expect("secrets");
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..500 {
        let mut cuts = Vec::new();
        for &b in &bounds {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if seed % 4 == 0 {
                cuts.push(b);
            }
        }
        let mut r = g.stream_redactor().expect("rules");
        let chunks: Vec<String> = pieces(&text, &cuts)
            .iter()
            .map(|c| {
                let v: Value = serde_json::from_str(c).expect("json");
                legacy(
                    v["choices"][0]["delta"]["content"]
                        .as_str()
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(text0(&run(&mut r, &chunks)), want, "cuts {cuts:?}");
    }
}

#[test]
fn the_redactor_can_move_into_a_spawned_task() {
    fn spawnable<T: Send + 'static>(_: &T) {}
    spawnable(&redactor());
}
