//! The usage ledger: every field of a line, cost and saving arithmetic, failures, concurrency.

use std::collections::HashSet;

use crate::common::{chat, header, sim_prompt_tokens, Harness, Upstream};
use serde_json::json;
use switchyard::sim::Behavior;

// USD per 1M tokens: cheap 0.5 / 2.0, premium (baseline) 10 / 30, dear 20 / 60.
const POLICY: &str = r#"
name: default
aliases: [auto]
baseline: premium/p-1
rules:
  - name: to-cheap
    route: [cheap/c-1]
"#;

async fn harness() -> Harness {
    Harness::builder(vec![
        Upstream::new("cheap", &["c-1"]).price("c-1", 0.5, 2.0),
        Upstream::new("premium", &["p-1"]).price("p-1", 10.0, 30.0),
        Upstream::new("dear", &["d-1"]).price("d-1", 20.0, 60.0),
    ])
    .policy(POLICY)
    .start()
    .await
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[tokio::test]
async fn every_field_of_a_known_request() {
    let h = harness().await;
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("x-request-id", "ledger-test-1")
        .json(&json!({"model": "auto", "user": "alice",
                      "messages": [{"role": "user", "content": "hello there"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(header(&headers, "x-request-id"), "ledger-test-1");

    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    let ts = humantime::parse_rfc3339(&l.ts).expect("ts is RFC 3339");
    assert!(
        ts.elapsed().unwrap_or_default().as_secs() < 60,
        "ts is now: {}",
        l.ts
    );
    assert_eq!(l.request_id, "ledger-test-1");
    assert_eq!(l.endpoint, "chat");
    assert_eq!(l.user.as_deref(), Some("alice"));
    assert_eq!(l.requested_model, "auto");
    assert_eq!(l.policy.as_deref(), Some("default"));
    assert_eq!(l.rule.as_deref(), Some("to-cheap"));
    assert_eq!(l.model.as_deref(), Some("cheap/c-1"));
    assert_eq!(l.provider.as_deref(), Some("cheap"));
    assert_eq!(
        l.complexity.map(switchyard::testing::Complexity::as_str),
        Some(header(&headers, "x-switchyard-complexity").as_str())
    );
    assert!(matches!(
        l.complexity.map(switchyard::testing::Complexity::as_str),
        Some("simple" | "medium" | "complex")
    ));
    assert!(l.score.is_some());
    assert!(!l.stream);
    // Tokens as the upstream reported them (sim: ceil(11/4)+4 = 7 prompt, 16 words).
    assert_eq!(l.prompt_tokens, 7);
    assert_eq!(
        l.prompt_tokens,
        body["usage"]["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(l.completion_tokens, 16);
    assert!(!l.tokens_estimated);
    // 7*0.5 + 16*2 = 35.5 ; 7*10 + 16*30 = 550 ; saving 514.5 (all per 1M).
    assert!(close(l.cost_usd, 35.5e-6), "cost {}", l.cost_usd);
    assert_eq!(l.baseline_model.as_deref(), Some("premium/p-1"));
    assert!(
        close(l.baseline_cost_usd, 550e-6),
        "baseline {}",
        l.baseline_cost_usd
    );
    assert!(close(l.saving_usd, 514.5e-6), "saving {}", l.saving_usd);
    assert!(l.latency_ms > 0.0);
    assert_eq!(l.ttft_ms, None, "no TTFT for a non-streamed answer");
    assert!(l.overhead_ms >= 0.0 && l.overhead_ms <= l.latency_ms);
    assert_eq!((l.attempts, l.failovers), (1, 0));
    assert_eq!(l.status, 200);
    assert_eq!(l.outcome, "ok");
}

#[tokio::test]
async fn savings_follow_prices_and_reported_usage() {
    let h = harness().await;
    // Capped reply: 4 completion tokens.
    let mut body = chat("auto", "hello there");
    body["max_tokens"] = json!(4);
    assert_eq!(h.post_chat(body).await.0, 200);
    // A concrete model dearer than the baseline: negative saving.
    assert_eq!(h.post_chat(chat("dear/d-1", "hi")).await.0, 200);
    // The baseline itself: zero saving.
    assert_eq!(h.post_chat(chat("premium/p-1", "hi")).await.0, 200);

    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 3);
    let capped = &lines[0];
    assert_eq!((capped.prompt_tokens, capped.completion_tokens), (7, 4));
    // 7*0.5 + 4*2 = 11.5 ; 7*10 + 4*30 = 190
    assert!(close(capped.cost_usd, 11.5e-6));
    assert!(close(capped.baseline_cost_usd, 190e-6));
    assert!(close(capped.saving_usd, 178.5e-6));

    let hi = sim_prompt_tokens(&["hi"]);
    assert_eq!(hi, 5);
    let dear = &lines[1];
    assert_eq!(dear.model.as_deref(), Some("dear/d-1"));
    assert_eq!(dear.baseline_model.as_deref(), Some("premium/p-1"));
    // 5*20 + 16*60 = 1060 ; 5*10 + 16*30 = 530
    assert!(close(dear.cost_usd, 1060e-6), "{}", dear.cost_usd);
    assert!(close(dear.baseline_cost_usd, 530e-6));
    assert!(close(dear.saving_usd, -530e-6), "{}", dear.saving_usd);

    let same = &lines[2];
    assert!(close(same.cost_usd, same.baseline_cost_usd));
    assert!(close(same.saving_usd, 0.0));
}

#[tokio::test]
async fn failed_requests_cost_nothing_and_carry_their_outcome() {
    let h = harness().await;
    h.sim("cheap").push_script([
        Behavior::Status {
            status: 500,
            body: json!({"error": {"message": "x", "type": "server_error", "param": null, "code": null}}),
        },
        Behavior::Status {
            status: 400,
            body: json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null, "code": null}}),
        },
    ]);
    let r1 = h.post_chat(chat("auto", "hello there")).await;
    let r2 = h.post_chat(chat("auto", "hello there")).await;
    let r3 = h.post_chat(chat("nope/unknown", "hi")).await;
    let r4 = h
        .post_raw("/v1/chat/completions", b"{not json".to_vec())
        .await;
    assert_eq!(
        [r1.0, r2.0, r3.0, r4.0].map(|s| s.as_u16()),
        [502, 400, 404, 400]
    );

    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 4, "one line per request, failures included");
    let expect = [
        (502, "all_candidates_failed"),
        (400, "upstream_client_error"),
        (404, "model_not_found"),
        (400, "invalid_request"),
    ];
    for (l, (status, outcome)) in lines.iter().zip(expect) {
        assert_eq!(l.status, status, "{l:?}");
        assert_eq!(l.outcome, outcome, "{l:?}");
        assert_eq!(l.cost_usd, 0.0, "{l:?}");
        assert_eq!(l.baseline_cost_usd, 0.0, "{l:?}");
        assert_eq!(l.saving_usd, 0.0, "{l:?}");
        assert_eq!(l.completion_tokens, 0, "{l:?}");
    }
    for (l, r) in lines.iter().zip([&r1, &r2, &r3, &r4]) {
        assert_eq!(l.request_id, header(&r.1, "x-request-id"));
    }
    // The failed dispatch still says what was tried.
    assert_eq!(lines[0].model.as_deref(), Some("cheap/c-1"));
    assert_eq!(lines[0].attempts, 1);
    assert!(lines[0].prompt_tokens > 0, "prompt size is kept");
    assert_eq!(lines[2].requested_model, "nope/unknown");
}

#[tokio::test]
async fn oversized_body_is_recorded_too() {
    let h = Harness::builder(vec![
        Upstream::new("cheap", &["c-1"]),
        Upstream::new("premium", &["p-1"]),
    ])
    .policy(POLICY)
    .server("max_body_bytes: 2048\n")
    .start()
    .await;
    let big = chat("auto", &"x".repeat(4096));
    let (status, headers, _) = h.post_chat(big).await;
    assert_eq!(status, 413);
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 1, "every request leaves one ledger line");
    assert_eq!(lines[0].status, 413);
    assert_eq!(lines[0].outcome, "payload_too_large");
    assert_eq!(lines[0].request_id, header(&headers, "x-request-id"));
}

#[tokio::test]
async fn one_line_per_request_under_50_concurrent_requests() {
    let h = std::sync::Arc::new(harness().await);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..50 {
        let h = h.clone();
        set.spawn(async move {
            let id = format!("conc-{i}");
            let resp = h
                .client
                .post(h.url("/v1/chat/completions"))
                .header("x-request-id", &id)
                .json(&chat("auto", &format!("question number {i}")))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            id
        });
    }
    let mut sent = HashSet::new();
    while let Some(id) = set.join_next().await {
        sent.insert(id.unwrap());
    }
    let text = h.ledger_text().await;
    assert_eq!(text.lines().count(), 50, "exactly one line each");
    let lines = h.ledger_lines().await;
    let ids: HashSet<String> = lines.iter().map(|l| l.request_id.clone()).collect();
    assert_eq!(ids, sent);
    assert!(lines
        .iter()
        .all(|l| l.outcome == "ok" && l.completion_tokens == 16));
    let total: f64 = lines.iter().map(|l| l.cost_usd).sum();
    let expected: f64 = lines
        .iter()
        .map(|l| (l.prompt_tokens as f64 * 0.5 + 16.0 * 2.0) / 1e6)
        .sum();
    assert!((total - expected).abs() < 1e-9);
}
