//! Holds the one-pass chunk scan to the full parse: whatever it accepts, the full parse
//! accepts with the same facts, on generated chunks and on their mutations.

use super::{Added, Facts};
use crate::classify::testgen::Rng;
use crate::openai::{read_object, ChunkView};

/// A string value, mostly plain, sometimes one the scan must leave to the full parse.
fn string(r: &mut Rng) -> String {
    const S: [&str; 14] = [
        "\"\"",
        "\"Paris\"",
        "\" word7\"",
        "\"caf\u{e9} \u{4e2d}\"",
        "\"assistant\"",
        "\"stop\"",
        "\"a\\nb\"",
        "\"q\\\"\"",
        "\"\\u00e9\"",
        "\"\\ud800\"",
        "\"tab\there\"",
        "\"del\u{7f}\"",
        "\"x\\\\\"",
        "\"chatcmpl-1\"",
    ];
    S[r.below(S.len())].to_owned()
}

fn number(r: &mut Rng) -> String {
    const N: [&str; 12] = [
        "0",
        "-1",
        "17",
        "12.5",
        "1767225600",
        "1e5",
        "2E-3",
        "01",
        "-",
        "1.",
        "-0.0",
        "123456789012345678901234567890",
    ];
    N[r.below(N.len())].to_owned()
}

/// Any value, nested up to `depth` more levels.
fn value(r: &mut Rng, depth: usize) -> String {
    // strings half the time: most of a chunk's values are
    match r.below(if depth == 0 { 4 } else { 6 }) {
        0 | 1 => string(r),
        2 => number(r),
        3 => ["null", "true", "false"][r.below(3)].into(),
        4 => format!("[{}]", list(r, |r| value(r, depth - 1))),
        _ => object(r, &[("k", &|r: &mut Rng| value(r, depth - 1))]),
    }
}

fn space(r: &mut Rng) -> &'static str {
    [" ", "", "", "", "\n", "\t ", "\r\n"][r.below(7)]
}

fn list(r: &mut Rng, mut element: impl FnMut(&mut Rng) -> String) -> String {
    (0..r.below(3))
        .map(|_| format!("{}{}{}", space(r), element(r), space(r)))
        .collect::<Vec<_>>()
        .join(",")
}

type Gen<'a> = &'a dyn Fn(&mut Rng) -> String;

/// An object of some of `fields` (each maybe twice), in a random order, with unknown members.
fn object(r: &mut Rng, fields: &[(&str, Gen<'_>)]) -> String {
    let mut members: Vec<String> = Vec::new();
    for (k, v) in fields {
        for _ in 0..[1, 1, 1, 0, 2][r.below(5)] {
            members.push(format!("\"{k}\":{}{}", space(r), v(r)));
        }
    }
    for _ in 0..r.below(3) {
        let k = ["id", "object", "index", "logprobs", "role", "model", "x"][r.below(7)];
        members.push(format!("\"{k}\":{}", value(r, 2)));
    }
    for i in (1..members.len()).rev() {
        members.swap(i, r.below(i + 1));
    }
    format!("{{{}{}}}", space(r), members.join(","))
}

/// `null` one time in `one_in`, else a string.
fn null_or_string(r: &mut Rng, one_in: usize) -> String {
    if r.below(one_in) == 0 {
        "null".into()
    } else {
        string(r)
    }
}

fn delta(r: &mut Rng) -> String {
    if r.below(6) == 0 {
        return "null".into();
    }
    let content = |r: &mut Rng| null_or_string(r, 4);
    let tools = |r: &mut Rng| {
        [
            "null",
            "[{\"index\":0,\"function\":{\"name\":\"f\"}}]",
            "[]",
            "7",
        ][r.below(4)]
        .into()
    };
    object(r, &[("content", &content), ("tool_calls", &tools)])
}

fn choice(r: &mut Rng) -> String {
    let text = |r: &mut Rng| null_or_string(r, 3);
    let finish = |r: &mut Rng| null_or_string(r, 2);
    object(
        r,
        &[
            ("delta", &delta),
            ("text", &text),
            ("finish_reason", &finish),
        ],
    )
}

fn chunk(r: &mut Rng) -> String {
    let choices = |r: &mut Rng| {
        if r.below(10) == 0 {
            ["null", "{}", "5"][r.below(3)].into()
        } else {
            format!("[{}]", list(r, choice))
        }
    };
    let usage = |r: &mut Rng| {
        [
            "null",
            "null",
            "{\"prompt_tokens\":3,\"completion_tokens\":2}",
            "7",
        ][r.below(4)]
        .into()
    };
    let rare = |r: &mut Rng| value(r, 1);
    let mut fields: Vec<(&str, Gen<'_>)> = vec![("choices", &choices), ("usage", &usage)];
    if r.below(8) == 0 {
        fields.push((["type", "delta", "error"][r.below(3)], &rare));
    }
    format!("{}{}{}", space(r), object(r, &fields), space(r))
}

/// `text` with one byte deleted, one inserted or the end cut off (`None` if that breaks UTF-8).
fn mutate(r: &mut Rng, text: &str) -> Option<String> {
    let mut b = text.as_bytes().to_vec();
    let at = r.below(b.len() + 1);
    match r.below(3) {
        0 if at < b.len() => {
            b.remove(at);
        }
        1 => b.insert(at, b",:{}[]\"\\ 0an-e"[r.below(14)]),
        _ => b.truncate(at),
    }
    String::from_utf8(b).ok()
}

/// The scan's facts, checked against the full parse's: `true` when the scan accepted.
fn check(text: &str) -> bool {
    let Some(scanned) = Facts::scanned(text) else {
        return false;
    };
    let view = read_object::<ChunkView<'_>>(text)
        .unwrap_or_else(|e| panic!("the scan accepted what the full parse refuses ({e}): {text}"));
    assert_eq!(scanned, Facts::of(text, &view), "{text}");
    true
}

#[test]
fn whatever_the_scan_accepts_the_full_parse_reads_the_same() {
    let mut r = Rng(0x5eed_c0de);
    let (mut generated, mut accepted, mut mutated_accepted) = (0, 0, 0);
    for _ in 0..20_000 {
        let text = chunk(&mut r);
        generated += 1;
        accepted += usize::from(check(&text));
        for _ in 0..3 {
            if let Some(m) = mutate(&mut r, &text) {
                mutated_accepted += usize::from(check(&m));
            }
        }
    }
    // the scan must take a fair share of the generated chunks, or this test checks nothing
    assert!(
        accepted * 10 > generated,
        "{accepted} of {generated} accepted"
    );
    assert!(
        mutated_accepted > 100,
        "{mutated_accepted} mutations accepted"
    );
}

#[test]
fn the_usual_chunks_are_scanned_and_the_rest_left_to_the_full_parse() {
    let usual = [
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4.1-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1767225600,"model":"m","choices":[{"index":0,"delta":{"content":" Paris"},"logprobs":null,"finish_reason":null}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"text":" legacy","finish_reason":null}]}"#,
    ];
    for text in usual {
        assert!(check(text), "not scanned: {text}");
    }
    let content = Facts::scanned(usual[1]).expect("scanned");
    assert!(matches!(content.text, Added::Slice(_)));
    assert!(Facts::scanned(usual[3]).is_some_and(|f| f.tool_calls && !f.finished));
    for text in [
        r#"{"choices":[{"delta":{"content":"a\nb"}}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        r#"{"type":"response.output_text.delta","delta":"Hi"}"#,
        r#"{"error":{"message":"overloaded"}}"#,
        r#"{"choices":[],"choices":[]}"#,
        r#"{"created":1e9,"choices":[]}"#,
        r#"{"choices":null}"#,
        r#"{"choices":[]} x"#,
    ] {
        assert!(Facts::scanned(text).is_none(), "scanned: {text}");
    }
}
