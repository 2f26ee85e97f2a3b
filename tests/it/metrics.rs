//! Metrics after a known sequence of requests: parse the exposition text and check the numbers.
//! One test function, run in a process of its own (`common::own_process`), because the
//! Prometheus recorder is process-wide.

use std::collections::HashMap;

use crate::common::{chat, chat_stream, Harness, Upstream};
use serde_json::{json, Value};
use switchyard::sim::Behavior;

const POLICY: &str =
    "name: p\naliases: [auto]\nbaseline: up/big\nrules:\n  - name: only\n    route: [up/small]\n";

/// Sum of samples of `name` whose labels include all of `want`.
fn sample(text: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    let parsed = switchyard::testing::parse_exposition(text);
    parsed.get(name).map_or(0.0, |samples| {
        samples
            .iter()
            .filter(|s| want.iter().all(|(k, v)| s["labels"][*k] == *v))
            .map(|s| s["value"].as_f64().unwrap())
            .sum()
    })
}

/// The body below, alone in a process: it asserts exact totals of the process-wide recorder.
#[test]
fn metrics_follow_a_known_sequence_of_requests_in_own_process() {
    crate::common::own_process("metrics::metrics_follow_a_known_sequence_of_requests");
}

#[tokio::test]
#[ignore = "runs in its own process: see common::own_process"]
async fn metrics_follow_a_known_sequence_of_requests() {
    let up = Upstream::new("up", &["small", "big"])
        .price("small", 1.0, 2.0)
        .price("big", 10.0, 20.0)
        .attempts(1)
        .breaker(1, 60_000, 1);
    let h = Harness::builder(vec![up]).policy(POLICY).start().await;
    for _ in 0..3 {
        let (status, _, _) = h.post_chat(chat("auto", "hello there")).await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = h
        .stream_chat(chat_stream("auto", "stream please", false))
        .await;
    assert_eq!(status, 200);
    h.sim("up").set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down"}}),
    });
    let (status, _, _) = h.post_chat(chat("auto", "fails")).await;
    assert_eq!(status, 502);
    let lines = h.ledger_lines().await; // flushes: metrics are recorded by the ledger writer
    assert_eq!(lines.len(), 5);

    let text = h
        .client
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let ok = [("model", "up/small"), ("status", "200")];
    assert_eq!(sample(&text, "switchyard_requests_total", &ok), 4.0);
    assert_eq!(
        sample(
            &text,
            "switchyard_requests_total",
            &[("status", "502"), ("outcome", "all_candidates_failed")]
        ),
        1.0
    );
    let prompt: u64 = lines
        .iter()
        .filter(|l| l.billed)
        .map(|l| l.prompt_tokens)
        .sum();
    assert_eq!(lines.iter().filter(|l| l.billed).count(), 4);
    assert_eq!(
        sample(
            &text,
            "switchyard_prompt_tokens_total",
            &[("model", "up/small")]
        ),
        prompt as f64
    );
    let cost: f64 = lines.iter().map(|l| l.cost_usd).sum();
    let saving: f64 = lines.iter().map(|l| l.saving_usd).sum();
    assert!(
        (sample(&text, "switchyard_cost_usd_total", &[("model", "up/small")]) - cost).abs() < 1e-9
    );
    assert!(
        (sample(
            &text,
            "switchyard_saving_usd_total",
            &[("model", "up/small")]
        ) - saving)
            .abs()
            < 1e-9
    );
    assert!(saving > 0.0);
    assert_eq!(
        sample(
            &text,
            "switchyard_request_duration_seconds_count",
            &[("model", "up/small")]
        ),
        5.0
    );
    assert_eq!(
        sample(
            &text,
            "switchyard_time_to_first_token_seconds_count",
            &[("model", "up/small")]
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "switchyard_breaker_state", &[("model", "up/small")]),
        2.0,
        "open"
    );
    assert_eq!(
        sample(
            &text,
            "switchyard_breaker_transitions_total",
            &[("model", "up/small"), ("to", "open")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "switchyard_upstream_duration_seconds_count",
            &[("outcome", "500")]
        ),
        1.0
    );
    assert_eq!(sample(&text, "switchyard_requests_in_flight", &[]), 0.0);
    assert_eq!(sample(&text, "switchyard_streams_in_flight", &[]), 0.0);
    assert!(
        !text.contains("hello there"),
        "no request content in labels"
    );

    let json: Value = h.get("/metrics/json").await.1;
    let by_status: HashMap<String, f64> = json["metrics"]["switchyard_requests_total"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["labels"]["status"].as_str().unwrap().to_owned(),
                s["value"].as_f64().unwrap(),
            )
        })
        .fold(HashMap::new(), |mut m, (k, v)| {
            *m.entry(k).or_default() += v;
            m
        });
    assert_eq!(by_status["200"], 4.0);
    let breakers: Value = h.get("/metrics/circuit-breakers").await.1;
    assert_eq!(breakers["breakers"][0]["model"], "up/small");
    assert_eq!(breakers["breakers"][0]["state"], "open");
}
