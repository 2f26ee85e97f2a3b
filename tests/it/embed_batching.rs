//! Embeddings micro-batching through the real router: concurrent requests to a batching model
//! share upstream calls (OpenAI wire and Gemini's `batchEmbedContents`), and each client still
//! gets its own vectors, indices, usage and ledger line; off by default; `max_batch_inputs`
//! holds; an upstream failure reaches every member.

use std::collections::HashMap;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::common::{header, Harness, Upstream};
use switchyard::sim::Behavior;

const POLICY: &str = r#"
name: default
aliases: [auto]
baseline: e/emb
rules:
  - name: vectors
    when: {endpoint: embeddings}
    route: [e/emb]
  - name: text
    route: [e/emb]
"#;

/// A router over provider `e` (embedding model `emb` on `wire`), with `settings` on the model.
async fn router(wire: Option<&'static str>, settings: &[&str]) -> Harness {
    let mut up = Upstream::new("e", &["emb"]).endpoints("emb", "[embeddings]");
    if let Some(w) = wire {
        up = up.wire(w);
    }
    for s in settings {
        up = up.model_setting("emb", s);
    }
    Harness::builder(vec![up]).policy(POLICY).start().await
}

/// Client `i`'s texts: a few distinct words, one to three of them.
fn texts(i: usize) -> Vec<String> {
    (0..=(i % 3))
        .map(|j| format!("client {i} text {j} {}", "word ".repeat(i % 5)))
        .collect()
}

/// `n` clients at once, each sending its texts (a bare string for one text); each answer with
/// its status and headers.
async fn concurrently(h: &Harness, n: usize) -> Vec<(u16, reqwest::header::HeaderMap, Value)> {
    join_all((0..n).map(|i| {
        let t = texts(i);
        let input = if t.len() == 1 { json!(t[0]) } else { json!(t) };
        let body = json!({"model": "e/emb", "input": input});
        async move {
            let (status, headers, v) = h
                .post_raw("/v1/embeddings", serde_json::to_vec(&body).unwrap())
                .await;
            (status.as_u16(), headers, v)
        }
    }))
    .await
}

fn vectors(reply: &Value) -> Vec<Value> {
    reply["data"]
        .as_array()
        .expect("data")
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["index"], i, "indices start at 0 per client: {reply}");
            d["embedding"].clone()
        })
        .collect()
}

/// What the upstream answers for `text` alone, asked directly (its vectors are deterministic).
async fn direct(h: &Harness, wire: Option<&str>, text: &str) -> Value {
    let sim = &h.sims["e"];
    let client = reqwest::Client::new();
    let v: Value = if wire == Some("gemini") {
        let url = format!("http://{}/v1beta/models/emb:batchEmbedContents", sim.addr());
        let body =
            json!({"requests": [{"model": "models/emb", "content": {"parts": [{"text": text}]}}]});
        let v: Value = client
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        return v["embeddings"][0]["values"].clone();
    } else {
        let url = format!("{}/embeddings", sim.base_url());
        client
            .post(url)
            .json(&json!({"model": "emb", "input": text}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    v["data"][0]["embedding"].clone()
}

/// The inputs each upstream call carried.
fn inputs_per_call(h: &Harness, wire: Option<&str>) -> Vec<usize> {
    h.sim("e")
        .recorded()
        .iter()
        .map(|c| {
            let list = if wire == Some("gemini") {
                &c.body["requests"]
            } else {
                &c.body["input"]
            };
            list.as_array().map_or(1, Vec::len)
        })
        .collect()
}

async fn coalesces_and_splits_back(wire: Option<&'static str>) {
    const N: usize = 10;
    let h = router(wire, &["batch_window_ms: 1000"]).await;
    let answers = concurrently(&h, N).await;
    let calls = h.calls("e");
    assert!(calls < N, "{N} clients made {calls} upstream calls");
    let per_call = inputs_per_call(&h, wire);
    let all: usize = (0..N).map(|i| texts(i).len()).sum();
    assert_eq!(
        per_call.iter().sum::<usize>(),
        all,
        "every input sent exactly once"
    );
    h.sim("e").reset();
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), N, "one ledger line per client");
    let by_id: HashMap<&str, &switchyard::UsageRecord> =
        lines.iter().map(|l| (l.request_id.as_str(), l)).collect();
    for (i, (status, headers, reply)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "{reply}");
        let got = vectors(reply);
        let want = texts(i);
        assert_eq!(
            got.len(),
            want.len(),
            "client {i} gets its own entries only"
        );
        for (text, vector) in want.iter().zip(&got) {
            assert_eq!(vector, &direct(&h, wire, text).await, "client {i}: {text}");
        }
        let line = by_id[header(headers, "x-request-id").as_str()];
        let usage = reply["usage"]["prompt_tokens"].as_u64().expect("usage");
        assert_eq!(reply["usage"]["total_tokens"], usage);
        assert_eq!(line.prompt_tokens, usage, "ledger and answer agree");
        assert!(line.billed && line.cost_usd > 0.0);
        assert!(line.batch_size.is_some_and(|b| b > 1), "{line:?}");
    }
    let batched: Vec<u32> = lines.iter().filter_map(|l| l.batch_size).collect();
    assert_eq!(batched.len(), N);
}

#[tokio::test]
async fn concurrent_requests_share_calls_on_the_openai_wire() {
    coalesces_and_splits_back(None).await;
}

#[tokio::test]
async fn concurrent_requests_share_calls_on_gemini() {
    coalesces_and_splits_back(Some("gemini")).await;
}

#[tokio::test]
async fn shared_usage_adds_up_to_what_the_upstream_billed() {
    const N: usize = 6;
    let h = router(None, &["batch_window_ms: 1000"]).await;
    let answers = concurrently(&h, N).await;
    // the sim bills each text ceil(chars / 4) tokens; the clients' shares add up to its bills
    let billed: u64 = (0..N)
        .flat_map(texts)
        .map(|t| (t.chars().count() as u64).div_ceil(4))
        .sum();
    let shared: u64 = answers
        .iter()
        .map(|(_, _, r)| r["usage"]["prompt_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(shared, billed);
}

#[tokio::test]
async fn off_by_default_every_request_makes_its_own_call() {
    const N: usize = 8;
    let h = router(None, &[]).await;
    let answers = concurrently(&h, N).await;
    assert!(answers.iter().all(|(s, _, _)| *s == 200));
    assert_eq!(h.calls("e"), N);
    assert!(h
        .ledger_lines()
        .await
        .iter()
        .all(|l| l.batch_size.is_none()));
}

#[tokio::test]
async fn a_batch_never_carries_more_than_max_batch_inputs() {
    const N: usize = 12;
    let h = router(None, &["batch_window_ms: 1000", "max_batch_inputs: 4"]).await;
    let answers = concurrently(&h, N).await;
    assert!(answers
        .iter()
        .all(|(s, _, r)| *s == 200 && r["data"].is_array()));
    let per_call = inputs_per_call(&h, None);
    assert!(per_call.iter().all(|n| *n <= 4), "{per_call:?}");
    let all: usize = (0..N).map(|i| texts(i).len()).sum();
    assert_eq!(per_call.iter().sum::<usize>(), all);
    assert!(per_call.len() < N, "still coalesced: {per_call:?}");
    // a request as large as the limit goes on its own, untouched
    h.sim("e").reset();
    let big = json!({"model": "e/emb", "input": ["a", "b", "c", "d"]});
    let (status, _, reply) = h
        .post_raw("/v1/embeddings", serde_json::to_vec(&big).unwrap())
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(h.sim("e").recorded()[0].body["input"], big["input"]);
}

#[tokio::test]
async fn an_upstream_failure_reaches_every_member() {
    const N: usize = 6;
    let h = router(None, &["batch_window_ms: 1000"]).await;
    h.sim("e").set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}),
    });
    let answers = concurrently(&h, N).await;
    let calls = h.calls("e");
    assert!(
        calls < N,
        "{calls} calls for {N} clients (one try each, shared)"
    );
    let first = &answers[0];
    assert!(first.0 >= 500, "{:?}", first.2);
    for (status, _, reply) in &answers {
        assert_eq!(*status, first.0);
        assert_eq!(reply["error"]["type"], first.2["error"]["type"], "{reply}");
    }
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), N);
    assert!(
        lines.iter().all(|l| !l.billed && l.attempts == 1),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_retry_after_a_failed_batch_sends_each_input_once_more() {
    const N: usize = 6;
    let up = Upstream::new("e", &["emb"])
        .endpoints("emb", "[embeddings]")
        .model_setting("emb", "batch_window_ms: 1000")
        .attempts(2);
    let h = Harness::builder(vec![up]).policy(POLICY).start().await;
    h.sim("e").push_script([Behavior::Status {
        status: 503,
        body: json!({"error": {"message": "busy", "type": "server_error", "param": null, "code": null}}),
    }]);
    let answers = concurrently(&h, N).await;
    for (status, headers, reply) in &answers {
        assert_eq!(*status, 200, "{reply}");
        assert_eq!(header(headers, "x-switchyard-attempts"), "2");
    }
    let per_call = inputs_per_call(&h, None);
    let all: usize = (0..N).map(|i| texts(i).len()).sum();
    assert_eq!(per_call[0], all, "the failed call carried everyone");
    assert_eq!(
        per_call.iter().sum::<usize>(),
        2 * all,
        "each input sent once per attempt, never twice: {per_call:?}"
    );
}

#[tokio::test]
async fn a_member_refused_in_a_batch_is_retried_alone() {
    const N: usize = 4;
    let h = router(None, &["batch_window_ms: 1000"]).await;
    // the shared call is refused as a client error; each member then goes on its own once
    h.sim("e").push_script([Behavior::Status {
        status: 400,
        body: json!({"error": {"message": "one input is too long", "type": "invalid_request_error", "param": "input", "code": null}}),
    }]);
    let answers = concurrently(&h, N).await;
    assert!(
        answers
            .iter()
            .all(|(s, _, r)| *s == 200 && r["data"].is_array()),
        "{answers:?}"
    );
    let per_call = inputs_per_call(&h, None);
    let all: usize = (0..N).map(|i| texts(i).len()).sum();
    assert_eq!(per_call[0], all, "the refused batch carried everyone");
    assert_eq!(
        per_call.len(),
        N + 1,
        "then one call per member: {per_call:?}"
    );
}

#[tokio::test]
async fn batching_settings_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("providers/e.yaml"),
        "name: e\nbase_url: http://127.0.0.1:9/v1\nmodels:\n  - name: chat\n    input_per_1m: 1\n    output_per_1m: 1\n    batch_window_ms: 10\n  - name: emb\n    input_per_1m: 1\n    output_per_1m: 0\n    endpoints: [embeddings]\n    batch_window_ms: 5000\n    max_batch_inputs: 0\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policies/default.yaml"),
        "name: default\nbaseline: e/chat\nrules:\n  - name: all\n    route: [e/chat]\n",
    )
    .unwrap();
    let server = dir.path().join("switchyard.yaml");
    std::fs::write(&server, "listen: 127.0.0.1:8080\npolicy: default\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("check")
        .arg("--config")
        .arg(&server)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("models[0].batch_window_ms"), "{text}");
    assert!(text.contains("embeddings"), "{text}");
    assert!(text.contains("models[1].batch_window_ms"), "{text}");
    assert!(text.contains("models[1].max_batch_inputs"), "{text}");
}
