//! `/v1/completions` and `/v1/embeddings`: routed by policy rules (which can match the endpoint),
//! with keys, retries and failover as for chat, priced in the ledger, listed in `/v1/models`.

use crate::common::{assert_openai_error, sse_data, Harness, Upstream};
use serde_json::{json, Value};
use switchyard::sim::Behavior;

const POLICY: &str = r#"
name: p
aliases: [auto, embed]
baseline: up/big
rules:
  - name: vectors
    when: {endpoint: embeddings}
    route:
      - [up/emb-a, backup/emb-b]
  - name: text
    route: [up/small, up/big]
"#;

fn upstreams() -> Vec<Upstream> {
    vec![
        Upstream::new("up", &["small", "big", "emb-a"])
            .price("small", 1.0, 2.0)
            .price("big", 10.0, 20.0)
            .price("emb-a", 0.5, 0.0)
            .endpoints("emb-a", "[embeddings]")
            .attempts(2),
        Upstream::new("backup", &["emb-b"])
            .price("emb-b", 0.25, 0.0)
            .endpoints("emb-b", "[embeddings]"),
    ]
}

#[tokio::test]
async fn legacy_completion_is_classified_routed_and_priced() {
    let h = Harness::builder(upstreams()).policy(POLICY).start().await;
    let (status, headers, body) = h
        .post_raw(
            "/v1/completions",
            serde_json::to_vec(
                &json!({"model": "auto", "prompt": "Say hello", "max_tokens": 5, "echo": false}),
            )
            .unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "text_completion");
    assert_eq!(headers["x-switchyard-model"], "up/small");
    assert_eq!(headers["x-switchyard-rule"], "text");
    assert_ne!(headers["x-switchyard-complexity"], "unclassified");
    let sent = &h.sim("up").recorded()[0];
    assert_eq!(sent.body["model"], "small");
    assert_eq!(sent.body["prompt"], "Say hello");
    assert_eq!(sent.body["echo"], false, "unknown fields pass through");
    let line = &h.ledger_lines().await[0];
    assert_eq!(line.endpoint, "completions");
    assert_eq!(line.completion_tokens, 5);
    let expected = (line.prompt_tokens as f64 * 1.0 + 5.0 * 2.0) / 1e6;
    assert!((line.cost_usd - expected).abs() < 1e-12);
}

#[tokio::test]
async fn streamed_legacy_completion_relays_text_chunks() {
    let h = Harness::builder(upstreams()).policy(POLICY).start().await;
    let resp = h
        .client
        .post(h.url("/v1/completions"))
        .json(
            &json!({"model": "up/big", "prompt": ["one", "two"], "stream": true, "max_tokens": 3}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = sse_data(&resp.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let text: String = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| c["choices"][0]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text.split_whitespace().count(), 3);
    assert!(
        events.iter().all(|e| !e.contains("\"usage\":{")),
        "usage chunk only when asked"
    );
    let line = &h.ledger_lines().await[0];
    assert_eq!(
        (line.endpoint.as_str(), line.completion_tokens, line.stream),
        ("completions", 3, true)
    );
}

#[tokio::test]
async fn embeddings_route_by_endpoint_rule_and_fail_over_within_the_group() {
    let h = Harness::builder(upstreams()).policy(POLICY).start().await;
    let body = json!({"model": "embed", "input": ["alpha", "beta"], "dimensions": 4, "encoding_format": "float"});
    let (status, headers, reply) = h
        .post_raw("/v1/embeddings", serde_json::to_vec(&body).unwrap())
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(headers["x-switchyard-rule"], "vectors");
    assert_eq!(headers["x-switchyard-complexity"], "unclassified");
    assert_eq!(reply["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        reply["data"][0]["embedding"].as_array().unwrap().len(),
        4,
        "dimensions passed through"
    );
    let served_by = headers["x-switchyard-model"].to_str().unwrap().to_owned();
    let (failing, other) = if served_by == "up/emb-a" {
        ("up", "backup")
    } else {
        ("backup", "up")
    };
    h.sim(failing).set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down"}}),
    });
    for i in 0..4 {
        // a new input each time: the same one would be answered by the response cache
        let body = json!({"model": "embed", "input": [format!("gamma {i}")], "dimensions": 4});
        let (status, headers, _) = h
            .post_raw("/v1/embeddings", serde_json::to_vec(&body).unwrap())
            .await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-switchyard-provider"], other);
    }
    let lines = h.ledger_lines().await;
    assert!(lines
        .iter()
        .all(|l| l.endpoint == "embeddings" && l.completion_tokens == 0));
    assert!(
        lines.iter().all(|l| l.cost_usd > 0.0),
        "input tokens are priced"
    );
}

#[tokio::test]
async fn wrong_endpoint_for_a_model_and_bad_inputs_are_clear_400s() {
    let h = Harness::builder(upstreams()).policy(POLICY).start().await;
    let (status, _, body) = h
        .post_raw(
            "/v1/embeddings",
            serde_json::to_vec(&json!({"model": "up/small", "input": "x"})).unwrap(),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_openai_error(&body)["code"], "unsupported_endpoint");
    let (status, _, body) = h
        .post_raw(
            "/v1/embeddings",
            serde_json::to_vec(&json!({"model": "embed"})).unwrap(),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_openai_error(&body)["param"], "input");
    let (status, _, body) = h
        .post_raw(
            "/v1/completions",
            serde_json::to_vec(&json!({"model": "auto", "prompt": {"no": 1}})).unwrap(),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(assert_openai_error(&body)["param"], "prompt");
    assert_eq!(h.calls("up") + h.calls("backup"), 0);
}

#[tokio::test]
async fn models_list_what_each_endpoint_can_reach() {
    let h = Harness::builder(upstreams()).policy(POLICY).start().await;
    let (_, list) = h.get("/v1/models").await;
    let find = |id: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        find("up/emb-a")["switchyard"]["endpoints"],
        json!(["embeddings"])
    );
    assert_eq!(
        find("up/small")["switchyard"]["endpoints"],
        json!(["chat", "completions"])
    );
    assert_eq!(
        find("auto")["switchyard"]["endpoints"],
        json!(["chat", "completions", "embeddings"])
    );
}
