//! A rule's `on_context_overflow`: `fallback` skips candidates a prompt does not fit,
//! `refuse` answers 400 `context_length_exceeded` unless the first candidate fits, `trim`
//! drops the oldest turns (never instructions, never the last turn, never a tool call without
//! its results) until the prompt fits the largest candidate, and says so in
//! `x-switchyard-trimmed` and the ledger.

use crate::common::{header, Harness, Upstream};
use serde_json::{json, Value};

const POLICY: &str = r"
name: p
aliases: [fb, tr, rf]
baseline: up/big
rules:
  - name: trim
    when: {model: [tr]}
    on_context_overflow: trim
    route: [up/small, up/big]
  - name: refuse
    when: {model: [rf]}
    on_context_overflow: refuse
    route: [up/small, up/big]
  - name: rest
    route: [up/small, up/big]
";

async fn router() -> Harness {
    Harness::builder(vec![Upstream::new("up", &["small", "big"])
        .context_window("small", 300)
        .context_window("big", 600)])
    .policy(POLICY)
    .start()
    .await
}

/// About `n` tokens of text.
fn words(tag: &str, n: usize) -> String {
    format!("{tag} {}", "lorem ".repeat(n))
}

fn chat(model: &str, messages: &Value) -> Value {
    json!({"model": model, "messages": messages, "max_tokens": 20})
}

#[tokio::test]
async fn fallback_skips_the_candidates_a_prompt_does_not_fit() {
    let h = router().await;
    let fits_big = json!([{"role": "user", "content": words("q", 400)}]);
    let (status, headers, body) = h.post_chat(chat("fb", &fits_big)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-model"), "up/big");
    assert!(headers.get("x-switchyard-trimmed").is_none());
    let too_long = json!([{"role": "user", "content": words("q", 700)}]);
    let (status, _, body) = h.post_chat(chat("fb", &too_long)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert_eq!(h.calls("up"), 1);
}

#[tokio::test]
async fn refuse_answers_400_unless_the_first_candidate_fits() {
    let h = router().await;
    let mid = json!([{"role": "user", "content": words("q", 400)}]);
    let (status, _, body) = h.post_chat(chat("rf", &mid)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert_eq!(h.calls("up"), 0, "nothing went upstream");
    let short = json!([{"role": "user", "content": words("q", 50)}]);
    let (status, headers, _) = h.post_chat(chat("rf", &short)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "up/small");
    let lines = h.ledger_lines().await;
    assert_eq!(lines[0].outcome.as_str(), "context_length_exceeded");
}

#[tokio::test]
async fn trim_drops_the_oldest_turns_until_the_largest_candidate_fits() {
    let h = router().await;
    let call = json!([{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]);
    let messages = json!([
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": words("first", 150)},
        {"role": "assistant", "content": words("answer1", 150)},
        {"role": "user", "content": words("second", 60)},
        {"role": "assistant", "content": null, "tool_calls": call},
        {"role": "tool", "tool_call_id": "call_1", "content": words("result", 60)},
        {"role": "assistant", "content": words("answer2", 40)},
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": words("third", 80)},
        {"role": "assistant", "content": words("answer3", 80)},
        {"role": "user", "content": "And now?"}
    ]);
    let (status, headers, body) = h.post_chat(chat("tr", &messages)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-model"), "up/big");
    let sent = h.sim("up").recorded()[0].body["messages"].clone();
    let sent = sent.as_array().unwrap();
    let trimmed: usize = header(&headers, "x-switchyard-trimmed").parse().unwrap();
    assert_eq!(sent.len() + trimmed, 11);
    // the first turn (user + answer) went; the tool call stays with its result
    assert_eq!(sent[0]["role"], "system");
    assert!(sent
        .iter()
        .all(|m| !m["content"].as_str().unwrap_or("").starts_with("first")));
    assert!(sent
        .iter()
        .all(|m| !m["content"].as_str().unwrap_or("").starts_with("answer1")));
    let calls = sent
        .iter()
        .filter(|m| m.get("tool_calls").is_some())
        .count();
    let results = sent.iter().filter(|m| m["role"] == "tool").count();
    assert_eq!(calls, results);
    assert!(sent.iter().any(|m| m["role"] == "developer"));
    assert_eq!(sent.last().unwrap()["content"], "And now?");
    let prompt: u64 = header(&headers, "x-switchyard-prompt-tokens")
        .parse()
        .unwrap();
    assert!(prompt + 20 <= 600, "{prompt} fits the largest window");
    let line = &h.ledger_lines().await[0];
    assert_eq!(line.trimmed_messages, trimmed as u64);
}

#[tokio::test]
async fn trim_keeps_a_prompt_that_fits_and_refuses_one_whose_last_turn_cannot() {
    let h = router().await;
    let fits = json!([{"role": "user", "content": words("old", 100)}, {"role": "user", "content": words("q", 100)}]);
    let (status, headers, _) = h.post_chat(chat("tr", &fits)).await;
    assert_eq!(status, 200);
    assert!(headers.get("x-switchyard-trimmed").is_none());
    assert_eq!(h.sim("up").recorded()[0].body["messages"], fits);
    let hopeless = json!([
        {"role": "user", "content": words("old", 100)},
        {"role": "user", "content": words("q", 700)}
    ]);
    let (status, _, body) = h.post_chat(chat("tr", &hopeless)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert_eq!(h.calls("up"), 1);
}

#[tokio::test]
async fn a_trimmed_responses_request_is_translated_not_passed_through() {
    let h = Harness::builder(vec![Upstream::new("up", &["small", "big"])
        .context_window("small", 300)
        .context_window("big", 600)
        .endpoints("big", "[chat, responses]")])
    .policy(POLICY)
    .start()
    .await;
    let input = json!([
        {"role": "user", "content": words("first", 650)},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "Short question?"}
    ]);
    let (status, headers, r) =
        crate::responses::create(&h, None, &json!({"model": "tr", "input": input})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(header(&headers, "x-switchyard-trimmed"), "2");
    let sent = &h.sim("up").recorded()[0].body;
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "Short question?"}])
    );
}

/// The problems `check` reports for a policy file, with one OpenAI-wire provider.
fn problems(policy: &str) -> Vec<switchyard::Problem> {
    use switchyard::{Config, KeyMode, SourceFile, Sources};
    let file = |path: &str, text: &str| SourceFile {
        path: path.into(),
        text: text.to_owned(),
    };
    let sources = Sources {
        server: Some(file("switchyard.yaml", "auth: {mode: open}\n")),
        keys: None,
        providers: vec![file(
            "providers/up.yaml",
            "name: up\nbase_url: http://127.0.0.1:9/v1\nmodels:\n  - {name: small, input_per_1m: 1, output_per_1m: 2}\n",
        )],
        policies: vec![file("policies/p.yaml", policy)],
    };
    Config::build(&sources, &|_| None, KeyMode::Ignore)
        .err()
        .unwrap_or_default()
}

#[test]
fn the_policy_file_names_overflow_modes_and_refuses_unknown_ones_and_surface_endpoints() {
    let base = "name: p\naliases: [auto]\nbaseline: up/small\nrules:\n  - name: all\n    route: [up/small]\n";
    for mode in ["fallback", "trim", "refuse"] {
        let policy = base.replace(
            "    route:",
            &format!("    on_context_overflow: {mode}\n    route:"),
        );
        assert!(
            problems(&policy).is_empty(),
            "{mode}: {:?}",
            problems(&policy)
        );
    }
    let bad = problems(&base.replace("    route:", "    on_context_overflow: shrink\n    route:"));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].field.contains("on_context_overflow"), "{bad:?}");
    let surface = "name: p\naliases: [auto]\nbaseline: up/small\nrules:\n  - name: r\n    when: {endpoint: responses}\n    route: [up/small]\n  - name: all\n    route: [up/small]\n";
    let bad = problems(surface);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].message.contains("routed as chat"), "{bad:?}");
}
