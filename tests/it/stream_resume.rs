//! `stream_resume: on`: a stream that breaks after content reached the client is continued on
//! the next candidate, on the same SSE stream, at every cut point and on every wire.

use crate::common::{
    chat_stream, header, sim_prompt_tokens, sse_content, sse_data, Harness, Upstream,
};
use serde_json::{json, Value};
use switchyard::sim::{Behavior, SimControl};
use switchyard::UsageRecord;

/// Where the first upstream's stream is cut: its content chunks and how many arrive whole.
struct Cut {
    name: &'static str,
    chunks: &'static [&'static str],
    after: usize,
}

/// Every cut point: right after the role chunk, mid-word, inside a UTF-8 character split
/// across the body's chunks, after whitespace (which Anthropic refuses to end a prefill), and
/// after the last content before the finish.
const CUTS: &[Cut] = &[
    Cut {
        name: "after the role chunk",
        chunks: &["The quick", " brown fox", " jumps."],
        after: 0,
    },
    Cut {
        name: "mid-word",
        chunks: &["The qu", "ick brown", " fox."],
        after: 1,
    },
    Cut {
        name: "mid-UTF-8 character",
        chunks: &["Un caf", "é crème", " brûlée."],
        after: 1,
    },
    Cut {
        name: "after whitespace",
        chunks: &["The quick ", "brown fox", " jumps."],
        after: 1,
    },
    Cut {
        name: "before the finish",
        chunks: &["The quick", " brown fox."],
        after: 2,
    },
];

const WIRES: [&str; 3] = ["openai", "anthropic", "gemini"];

fn upstream(name: &str, model: &str, wire: &'static str) -> Upstream {
    let u = Upstream::new(name, &[model]);
    if wire == "openai" {
        u
    } else {
        u.wire(wire)
    }
}

/// Two providers of `wire` (`a` first, `b` next) under a policy with `stream_resume`.
async fn harness(first: &'static str, next: &'static str, resume: bool) -> Harness {
    let policy = crate::common::policies::route_all("b/b-1", "[a/a-1, b/b-1]");
    let policy = if resume {
        format!("stream_resume: on\n{policy}")
    } else {
        policy
    };
    Harness::builder(vec![
        upstream("a", "a-1", first),
        upstream("b", "b-1", next),
    ])
    .policy(policy)
    .start()
    .await
}

fn parsed(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap_or_else(|err| panic!("bad chunk {e}: {err}")))
        .collect()
}

/// Asserts the client saw one well-formed stream: one id and model, one role chunk, one
/// finish reason, one usage chunk (it asked for it) as the last chunk, `[DONE]` once at the
/// end. Returns the chunks and the usage.
fn one_stream(text: &str) -> (Vec<Value>, Value) {
    let events = sse_data(text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert_eq!(
        events.iter().filter(|e| *e == "[DONE]").count(),
        1,
        "{text}"
    );
    let chunks = parsed(&events);
    assert!(chunks.iter().all(|c| c.get("error").is_none()), "{text}");
    assert!(
        chunks.iter().all(|c| c["id"] == chunks[0]["id"]),
        "one id: {text}"
    );
    assert!(
        chunks.iter().all(|c| c["model"] == chunks[0]["model"]),
        "one model: {text}"
    );
    let roles = chunks
        .iter()
        .filter(|c| !c["choices"][0]["delta"]["role"].is_null())
        .count();
    assert_eq!(roles, 1, "one role chunk: {text}");
    let finishes = chunks
        .iter()
        .filter(|c| !c["choices"][0]["finish_reason"].is_null())
        .count();
    assert_eq!(finishes, 1, "one finish_reason: {text}");
    let usages: Vec<&Value> = chunks.iter().filter(|c| c["usage"].is_object()).collect();
    assert_eq!(usages.len(), 1, "one usage chunk: {text}");
    let usage = usages[0]["usage"].clone();
    assert_eq!(
        chunks.last().map(|c| &c["usage"]),
        Some(&usage),
        "usage last: {text}"
    );
    (chunks, usage)
}

/// The pieces a continuing sim sends after `partial` (see the sim's `Reply::continued`).
fn rest_pieces(chunks: &[&str], partial: &str) -> usize {
    let mut at = 0;
    chunks
        .iter()
        .filter(|c| {
            at += c.len();
            at > partial.len()
        })
        .count()
}

/// The texts of the messages (or Gemini contents) of a recorded request body.
fn texts(body: &Value) -> Vec<String> {
    let turns = body["messages"].as_array().or(body["contents"].as_array());
    turns
        .into_iter()
        .flatten()
        .map(|m| match (&m["content"], &m["parts"]) {
            (Value::String(s), _) => s.clone(),
            (Value::Array(parts), _) | (_, Value::Array(parts)) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        })
        .collect()
}

/// Asserts the continuation request asks to continue `turn`: a final assistant turn on the
/// Anthropic wire (native prefill), a turn plus the instruction on the others.
fn assert_asks_to_continue(wire: &str, body: &Value, turn: &str) {
    let t = texts(body);
    let n = t.len();
    if wire == "anthropic" {
        let last = &body["messages"][n - 1];
        assert_eq!(last["role"], "assistant", "{body}");
        assert_eq!(t[n - 1], turn, "{body}");
    } else {
        assert_eq!(t[n - 2], turn, "{body}");
        assert!(
            t[n - 1].contains("Continue it exactly where it stopped"),
            "{body}"
        );
        let role = if wire == "gemini" {
            &body["contents"][n - 2]["role"]
        } else {
            &body["messages"][n - 2]["role"]
        };
        assert!(role == "assistant" || role == "model", "{body}");
    }
}

async fn one_line(h: &Harness) -> UsageRecord {
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 1);
    lines.into_iter().next().unwrap()
}

fn script(sim: &SimControl, cut: &Cut) {
    let chunks: Vec<String> = cut.chunks.iter().map(|c| (*c).to_owned()).collect();
    sim.push_script([Behavior::CutContent {
        chunks: chunks.clone(),
        after: cut.after,
    }]);
}

async fn resumes_at_every_cut_point(wire: &'static str) {
    for cut in CUTS {
        let h = harness(wire, wire, true).await;
        script(&h.sim("a"), cut);
        // the next candidate knows the same answer and continues it where it was cut
        let whole: Vec<String> = cut.chunks.iter().map(|c| (*c).to_owned()).collect();
        h.sim("b").set_behavior(Behavior::Content { chunks: whole });
        let (status, headers, text) = h.stream_chat(chat_stream("auto", "Tell me", true)).await;
        let case = format!("{wire}, cut {}", cut.name);
        assert_eq!(status, 200, "{case}");
        // the header names who answered first; before any content that is b
        let first = if cut.after == 0 { "b/b-1" } else { "a/a-1" };
        assert_eq!(header(&headers, "x-switchyard-model"), first, "{case}");
        let (chunks, usage) = one_stream(&text);
        let events: Vec<String> = chunks.iter().map(Value::to_string).collect();
        assert_eq!(sse_content(&events), cut.chunks.concat(), "{case}: {text}");

        let sent = cut.chunks[..cut.after].concat();
        let line = one_line(&h).await;
        assert_eq!(line.outcome, "ok", "{case}");
        assert_eq!(line.model.as_deref(), Some("b/b-1"), "{case}");
        assert_eq!((line.attempts, line.failovers), (2, 1), "{case}");
        let b_call = h.sim("b").recorded().pop().unwrap();
        if sent.is_empty() {
            // nothing reached the client: the failover before the first byte, no resume
            assert!(line.resume.is_none(), "{case}");
            assert_eq!(texts(&b_call.body), ["Tell me"], "{case}");
            continue;
        }
        let note = line
            .resume
            .clone()
            .unwrap_or_else(|| panic!("{case}: no resume note"));
        assert_eq!(note.from_model, "a/a-1", "{case}");
        assert_eq!(note.to_model.as_deref(), Some("b/b-1"), "{case}");
        assert_eq!(note.at_chars, sent.chars().count(), "{case}");
        assert_eq!(note.error, "stream_cut", "{case}");
        assert_eq!(note.trace.len(), 1, "{case}: {:?}", note.trace);
        assert!(
            note.trace[0].starts_with("a/a-1: stream_cut"),
            "{case}: {:?}",
            note.trace
        );
        assert_asks_to_continue(wire, &b_call.body, sent.trim_end());

        // one usage adding both parts, as the ledger line has it
        let turns: Vec<String> = texts(&b_call.body);
        let turns: Vec<&str> = turns.iter().map(String::as_str).collect();
        let b_prompt = sim_prompt_tokens(&turns);
        let b_completion = rest_pieces(cut.chunks, sent.trim_end()) as u64;
        assert_eq!(
            note.first_prompt_tokens,
            line.prompt_tokens - b_prompt,
            "{case}"
        );
        assert!(
            note.first_estimated && note.first_completion_tokens > 0,
            "{case}"
        );
        assert_eq!(
            line.completion_tokens,
            note.first_completion_tokens + b_completion,
            "{case}"
        );
        assert_eq!(usage["prompt_tokens"], line.prompt_tokens, "{case}");
        assert_eq!(usage["completion_tokens"], line.completion_tokens, "{case}");
        assert_eq!(
            usage["total_tokens"],
            line.prompt_tokens + line.completion_tokens,
            "{case}"
        );
        // each part at its model's price (1 and 2 USD per 1M)
        let b_cost = (b_prompt as f64 * 1.0 + b_completion as f64 * 2.0) / 1e6;
        assert!(
            (line.cost_usd - note.first_cost_usd - b_cost).abs() < 1e-9,
            "{case}: {line:?}"
        );
    }
}

#[tokio::test]
async fn openai_streams_resume_at_every_cut_point() {
    resumes_at_every_cut_point("openai").await;
}

#[tokio::test]
async fn anthropic_streams_resume_at_every_cut_point() {
    resumes_at_every_cut_point("anthropic").await;
}

#[tokio::test]
async fn gemini_streams_resume_at_every_cut_point() {
    resumes_at_every_cut_point("gemini").await;
}

#[tokio::test]
async fn an_anthropic_continuation_is_a_prefill_without_trailing_whitespace() {
    for first in WIRES {
        let h = harness(first, "anthropic", true).await;
        script(&h.sim("a"), &CUTS[3]);
        let (_, _, text) = h.stream_chat(chat_stream("auto", "Tell me", false)).await;
        let events = sse_data(&text);
        assert_eq!(
            events.last().map(String::as_str),
            Some("[DONE]"),
            "{first}: {text}"
        );
        // b's own answer follows (it is not the same answer), the space not doubled
        assert!(
            sse_content(&events).starts_with("The quick [b-1] Here"),
            "{first}: {text}"
        );
        let call = h.sim("b").recorded().pop().unwrap();
        let messages = call.body["messages"].as_array().unwrap();
        assert_eq!(
            messages.last().unwrap(),
            &json!({"role": "assistant", "content": [{"type": "text", "text": "The quick"}]}),
            "{first}: {}",
            call.body
        );
        assert_eq!(messages.len(), 2, "no instruction after a native prefill");
    }
}

#[tokio::test]
async fn without_stream_resume_a_cut_still_ends_in_the_error_event() {
    let h = harness("openai", "openai", false).await;
    script(&h.sim("a"), &CUTS[1]);
    let (_, _, text) = h.stream_chat(chat_stream("auto", "Tell me", true)).await;
    let events = sse_data(&text);
    assert!(!events.iter().any(|e| e == "[DONE]"), "{text}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{text}");
    assert_eq!(h.calls("b"), 0);
    let line = one_line(&h).await;
    assert_eq!(line.outcome, "stream_interrupted");
    assert!(line.resume.is_none());
}

#[tokio::test]
async fn tool_call_streams_are_not_resumed() {
    let h = harness("anthropic", "openai", true).await;
    h.sim("a")
        .push_script([Behavior::CutStreamAfter { chunks: 2 }]);
    let mut body = chat_stream("auto", "weather in Paris", false);
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let (_, _, text) = h.stream_chat(body).await;
    let events = sse_data(&text);
    assert!(text.contains("tool_calls"), "{text}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{text}");
    assert_eq!(h.calls("b"), 0, "never asked to continue a tool call");
    assert!(one_line(&h).await.resume.is_none());
}

#[tokio::test]
async fn several_choices_are_not_resumed() {
    let h = harness("openai", "openai", true).await;
    script(&h.sim("a"), &CUTS[1]);
    let mut body = chat_stream("auto", "Tell me", false);
    body["n"] = json!(2);
    let (_, _, text) = h.stream_chat(body).await;
    let last: Value = serde_json::from_str(sse_data(&text).last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{text}");
    assert_eq!(h.calls("b"), 0);
}

#[tokio::test]
async fn a_stall_past_idle_ms_is_resumed() {
    let h = Harness::builder(vec![
        Upstream::new("a", &["a-1"]).idle_ms(200),
        Upstream::new("b", &["b-1"]),
    ])
    .policy(format!(
        "stream_resume: on\n{}",
        crate::common::policies::route_all("b/b-1", "[a/a-1, b/b-1]")
    ))
    .start()
    .await;
    h.sim("a")
        .push_script([Behavior::StallMidStream { chunks: 3 }]);
    let (_, _, text) = h.stream_chat(chat_stream("auto", "Tell me", true)).await;
    let (chunks, _) = one_stream(&text);
    let events: Vec<String> = chunks.iter().map(Value::to_string).collect();
    // a's first three words, then b's answer (another model: not a continuation of a's text)
    assert!(sse_content(&events).starts_with("[a-1] Here is"), "{text}");
    let line = one_line(&h).await;
    let note = line.resume.unwrap();
    assert_eq!(
        (note.error.as_str(), note.to_model.as_deref()),
        ("timeout", Some("b/b-1"))
    );
}

#[tokio::test]
async fn no_candidate_left_ends_with_the_error_event() {
    let h = harness("openai", "openai", true).await;
    script(&h.sim("a"), &CUTS[1]);
    h.sim("b").set_behavior(Behavior::WireError { status: 500 });
    let (_, _, text) = h.stream_chat(chat_stream("auto", "Tell me", true)).await;
    let events = sse_data(&text);
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "stream_interrupted", "{text}");
    assert_eq!(sse_content(&events), "The qu", "{text}");
    let line = one_line(&h).await;
    assert_eq!(line.outcome, "stream_interrupted");
    let note = line.resume.unwrap();
    assert_eq!(note.to_model, None);
    assert_eq!(line.model.as_deref(), Some("a/a-1"));
    assert_eq!(
        note.trace,
        ["a/a-1: stream_cut after 6 chars", "b/b-1: 500"]
    );
}

/// `harness` for the OpenAI wire with more policy lines.
async fn harness_with(policy_extra: &str) -> Harness {
    let policy = crate::common::policies::route_all("b/b-1", "[a/a-1, b/b-1]");
    Harness::builder(vec![
        Upstream::new("a", &["a-1"]),
        Upstream::new("b", &["b-1"]),
    ])
    .policy(format!("stream_resume: on\n{policy}{policy_extra}"))
    .start()
    .await
}

/// `a` cuts `chunks` after `after` of them, `b` continues the same answer.
fn cut_and_continue(h: &Harness, chunks: &[&str], after: usize) {
    let chunks: Vec<String> = chunks.iter().map(|c| (*c).to_owned()).collect();
    h.sim("a").push_script([Behavior::CutContent {
        chunks: chunks.clone(),
        after,
    }]);
    h.sim("b").set_behavior(Behavior::Content { chunks });
}

#[tokio::test]
async fn a_redaction_spanning_the_break_is_still_made_once() {
    let h = harness_with(
        "guardrails:\n  output:\n    - {name: code, pattern: 'secret-code', replace: '[hidden]'}\n",
    )
    .await;
    cut_and_continue(&h, &["The secr", "et-code is", " here."], 1);
    let (_, _, text) = h.stream_chat(chat_stream("auto", "Tell me", true)).await;
    let (chunks, _) = one_stream(&text);
    let events: Vec<String> = chunks.iter().map(Value::to_string).collect();
    assert_eq!(sse_content(&events), "The [hidden] is here.", "{text}");
    let line = one_line(&h).await;
    assert_eq!((line.redactions, line.resume.is_some()), (1, true));
}

#[tokio::test]
async fn a_resumed_stream_is_one_anthropic_message_inbound() {
    let h = harness_with("").await;
    cut_and_continue(&h, &["The qu", "ick brown", " fox."], 1);
    let resp = h
        .client
        .post(h.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "auto", "max_tokens": 100, "stream": true,
            "messages": [{"role": "user", "content": "Tell me"}]}))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let events: Vec<Value> = sse_data(&text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
    assert_eq!(
        (count("message_start"), count("message_stop")),
        (1, 1),
        "{kinds:?}"
    );
    assert_eq!(
        (count("message_delta"), count("error")),
        (1, 0),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"message_stop"));
    let said: String = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(said, "The quick brown fox.");
}

#[tokio::test]
async fn a_resumed_stream_is_one_response_inbound() {
    let h = harness_with("").await;
    cut_and_continue(&h, &["Un caf", "é crème", " brûlée."], 1);
    let resp = h
        .client
        .post(h.url("/v1/responses"))
        .json(&json!({"model": "auto", "input": "Tell me", "stream": true}))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let events: Vec<Value> = sse_data(&text)
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "response.created").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"response.completed"), "{kinds:?}");
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(deltas, "Un café crème brûlée.");
    let done = events.last().unwrap();
    assert_eq!(
        done["response"]["output"][0]["content"][0]["text"],
        "Un café crème brûlée."
    );
}

#[tokio::test]
async fn resumes_are_counted_by_model_and_outcome() {
    let h = harness_with("").await;
    cut_and_continue(&h, &["The qu", "ick brown", " fox."], 1);
    let (_, _, text) = h.stream_chat(chat_stream("auto", "Tell me", false)).await;
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let body = h
        .client
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.lines()
            .any(|l| l.starts_with("switchyard_stream_resumes_total{")
                && l.contains("model=\"a/a-1\"")
                && l.contains("outcome=\"resumed\"")),
        "{body}"
    );
}

/// A provider of model `m` (priced 3 / 15 USD per 1M tokens) whose answers are 200 words.
fn priced(name: &str) -> Upstream {
    let mut sim = switchyard::sim::SimSettings::fast(name, ["m"]);
    sim.reply_tokens = 200;
    Upstream::new(name, &["m"])
        .price("m", 3.0, 15.0)
        .sim_settings(sim)
}

/// What a stream cut at 50% costs resumed against retried from scratch by the client, from the
/// ledger (the figures in docs/stream-resume.md come from this test's output).
#[tokio::test]
async fn a_resumed_stream_costs_less_than_a_retried_one() {
    let prompt = "Explain how a router picks a model. ".repeat(50);
    let start = |resume: bool| {
        let policy = crate::common::policies::route_all("a/m", "[a/m, b/m]");
        let policy = if resume {
            format!("stream_resume: on\n{policy}")
        } else {
            policy
        };
        Harness::builder(vec![priced("a"), priced("b")])
            .policy(policy)
            .start()
    };
    let cut = Behavior::CutStreamAfter { chunks: 100 };

    let resumed = start(true).await;
    resumed.sim("a").push_script([cut.clone()]);
    let (_, _, text) = resumed
        .stream_chat(chat_stream("auto", &prompt, true))
        .await;
    let (chunks, _) = one_stream(&text);
    let events: Vec<String> = chunks.iter().map(Value::to_string).collect();
    let answer = sse_content(&events);
    let r = one_line(&resumed).await;

    let retried = start(false).await;
    retried.sim("a").push_script([cut]);
    let (_, _, broken) = retried
        .stream_chat(chat_stream("auto", &prompt, true))
        .await;
    assert!(broken.contains("stream_interrupted"), "{broken}");
    let (_, _, again) = retried
        .stream_chat(chat_stream("auto", &prompt, true))
        .await;
    let (chunks, _) = one_stream(&again);
    let events: Vec<String> = chunks.iter().map(Value::to_string).collect();
    assert_eq!(
        sse_content(&events),
        answer,
        "the resumed answer is the uncut one"
    );
    let t = retried.ledger_lines().await;
    assert_eq!(t.len(), 2);

    let sum = |f: fn(&UsageRecord) -> f64| t.iter().map(f).sum::<f64>();
    let (t_in, t_out, t_cost) = (
        sum(|l| l.prompt_tokens as f64),
        sum(|l| l.completion_tokens as f64),
        sum(|l| l.cost_usd),
    );
    eprintln!(
        "200-word answer cut after 100 words, prompt {} chars, 3/15 USD per 1M:",
        prompt.len()
    );
    eprintln!(
        "resumed: prompt {} completion {} cost {:.6} USD (first part {}+{} tokens, {:.6} USD)",
        r.prompt_tokens,
        r.completion_tokens,
        r.cost_usd,
        r.resume.as_ref().unwrap().first_prompt_tokens,
        r.resume.as_ref().unwrap().first_completion_tokens,
        r.resume.as_ref().unwrap().first_cost_usd
    );
    eprintln!("retried: prompt {t_in} completion {t_out} cost {t_cost:.6} USD (broken {:.6} + retry {:.6})",
        t[0].cost_usd, t[1].cost_usd);
    eprintln!("resume note: {:?}", r.resume);
    assert!(
        r.cost_usd < t_cost,
        "resumed {} vs retried {t_cost}",
        r.cost_usd
    );
    assert!((r.completion_tokens as f64) < t_out);
}

/// `switchyard check` on a config whose one policy says `stream_resume: VALUE`.
fn check(value: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("providers")).unwrap();
    std::fs::create_dir(root.join("policies")).unwrap();
    std::fs::write(
        root.join("providers/a.yaml"),
        "name: a\nbase_url: https://a.test/v1\nmodels:\n  - {name: m, input_per_1m: 1, output_per_1m: 2}\n",
    )
    .unwrap();
    let policy = crate::common::policies::route_all("a/m", "[a/m]");
    std::fs::write(
        root.join("policies/default.yaml"),
        format!("{policy}stream_resume: {value}\n"),
    )
    .unwrap();
    let server = root.join("switchyard.yaml");
    std::fs::write(&server, "listen: 127.0.0.1:0\nauth: {mode: open}\n").unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["check", "--config"])
        .arg(&server)
        .output()
        .unwrap()
}

#[test]
fn check_accepts_on_and_off_and_names_a_bad_value() {
    for ok in ["on", "off", "true", "false"] {
        let out = check(ok);
        assert!(
            out.status.success(),
            "{ok}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = check("sometimes");
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("stream_resume"), "{said}");
    assert!(
        said.contains("expected `on` or `off`, found `sometimes`"),
        "{said}"
    );
}

#[tokio::test]
async fn an_upstream_error_event_mid_stream_is_resumed_on_every_wire() {
    for wire in WIRES {
        let h = harness(wire, wire, true).await;
        h.sim("a")
            .push_script([Behavior::ErrorMidStream { chunks: 3 }]);
        let (_, _, text) = h.stream_chat(chat_stream("auto", "Tell me", true)).await;
        let (chunks, _) = one_stream(&text);
        let events: Vec<String> = chunks.iter().map(Value::to_string).collect();
        // a's first three words, then b's own answer (another model: it does not know a's)
        assert!(
            sse_content(&events).starts_with("[a-1] Here is[b-1] Here"),
            "{wire}: {text}"
        );
        let note = one_line(&h).await.resume.unwrap();
        assert_eq!(
            (note.error.as_str(), note.to_model.as_deref()),
            ("stream_cut", Some("b/b-1")),
            "{wire}"
        );
    }
}

#[tokio::test]
async fn a_rule_can_turn_resuming_on_or_off_for_its_requests() {
    // a rule saying `off` under a policy saying `on`, and the other way round
    for (policy_on, rule, resumed) in [(true, "off", false), (false, "on", true)] {
        let head = if policy_on { "stream_resume: on\n" } else { "" };
        let policy = format!(
            "{head}name: default\naliases: [auto]\nbaseline: b/b-1\nrules:\n  - name: r\n    stream_resume: {rule}\n    route: [a/a-1, b/b-1]\n"
        );
        let h = Harness::builder(vec![
            Upstream::new("a", &["a-1"]),
            Upstream::new("b", &["b-1"]),
        ])
        .policy(policy)
        .start()
        .await;
        cut_and_continue(&h, &["The qu", "ick brown", " fox."], 1);
        let (_, _, text) = h.stream_chat(chat_stream("auto", "Tell me", false)).await;
        assert_eq!(text.ends_with("data: [DONE]\n\n"), resumed, "{text}");
        assert_eq!(one_line(&h).await.resume.is_some(), resumed);
    }
}
