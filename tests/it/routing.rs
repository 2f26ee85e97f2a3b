//! Routing: weights, rule matching, concrete models, body passthrough and the model list.

use std::collections::HashMap;

use crate::common::{chat, header, Harness, Upstream};
use serde_json::{json, Value};
use tokio::task::JoinSet;

const POLICY: &str = r#"
name: default
aliases: [auto, smart]
baseline: alpha/a-big
rules:
  - name: by-alias
    when: {model: cheap}
    route: [beta/b-mini]
  - name: long
    when: {tokens: {min: 300}}
    route: [alpha/a-big]
  - name: sql
    when: {last_user_matches: "(?i)\\bselect\\b.*\\bfrom\\b"}
    route: [gamma/g-code]
  - name: tools
    when: {tools: true}
    route: [gamma/g-tools]
  - name: vision
    when: {images: true}
    route: [gamma/g-vision]
  - name: everything
    route:
      - {alpha/a-mini: 70, beta/b-mini: 30}
      - alpha/a-big
"#;

async fn harness() -> Harness {
    Harness::builder(vec![
        Upstream::new("alpha", &["a-mini", "a-big"]),
        Upstream::new("beta", &["b-mini"]),
        Upstream::new("gamma", &["g-code", "g-tools", "g-vision"]),
    ])
    .policy(POLICY)
    .start()
    .await
}

#[tokio::test]
async fn weights_split_first_tries_70_30() {
    let h = std::sync::Arc::new(harness().await);
    const N: usize = 600;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _batch in 0..(N / 20) {
        let mut set = JoinSet::new();
        for _ in 0..20 {
            let h = h.clone();
            set.spawn(async move {
                let (status, headers, _) = h.post_chat(chat("auto", "hi there")).await;
                assert_eq!(status, 200);
                assert_eq!(header(&headers, "x-switchyard-rule"), "everything");
                assert_eq!(header(&headers, "x-switchyard-failovers"), "0");
                header(&headers, "x-switchyard-model")
            });
        }
        while let Some(m) = set.join_next().await {
            *counts.entry(m.unwrap()).or_default() += 1;
        }
    }
    let a = counts.get("alpha/a-mini").copied().unwrap_or(0);
    let b = counts.get("beta/b-mini").copied().unwrap_or(0);
    assert_eq!(a + b, N, "only the first group answers: {counts:?}");
    // Binomial sd at n=600, p=0.7 is ~1.9 points; ±7 points is > 3.5 sd.
    let share = a as f64 * 100.0 / N as f64;
    assert!(
        (63.0..=77.0).contains(&share),
        "alpha share {share:.1}% outside 70 ± 7: {counts:?}"
    );
    // The sims saw exactly what the headers claim.
    assert_eq!(h.calls("alpha"), a);
    assert_eq!(h.calls("beta"), b);
    assert!(h
        .sim("alpha")
        .recorded()
        .iter()
        .all(|c| c.model == "a-mini"));
}

#[tokio::test]
async fn rule_matches_model_alias() {
    let h = harness().await;
    let (status, headers, body) = h.post_chat(chat("cheap", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-rule"), "by-alias");
    assert_eq!(header(&headers, "x-switchyard-policy"), "default");
    assert_eq!(header(&headers, "x-switchyard-model"), "beta/b-mini");
    assert_eq!(header(&headers, "x-switchyard-provider"), "beta");
    assert_eq!(h.calls("beta"), 1);
    assert_eq!(h.calls("alpha"), 0);
}

#[tokio::test]
async fn rule_matches_token_range() {
    let h = harness().await;
    let long = "the quick brown fox jumps over the lazy dog ".repeat(60);
    let (status, headers, _) = h.post_chat(chat("auto", &long)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-rule"), "long");
    assert_eq!(header(&headers, "x-switchyard-model"), "alpha/a-big");
    let tokens: u64 = header(&headers, "x-switchyard-prompt-tokens")
        .parse()
        .unwrap();
    assert!(tokens >= 300, "prompt tokens {tokens}");

    let (_, headers, _) = h.post_chat(chat("auto", "short question")).await;
    assert_eq!(header(&headers, "x-switchyard-rule"), "everything");
    let tokens: u64 = header(&headers, "x-switchyard-prompt-tokens")
        .parse()
        .unwrap();
    assert!(tokens < 300);
}

#[tokio::test]
async fn rule_matches_last_user_regex_only_on_last_user_message() {
    let h = harness().await;
    let (_, headers, _) = h
        .post_chat(chat("auto", "please SELECT name FROM users"))
        .await;
    assert_eq!(header(&headers, "x-switchyard-rule"), "sql");
    assert_eq!(header(&headers, "x-switchyard-model"), "gamma/g-code");

    // The same text in an earlier turn does not count: only the last user message is matched.
    let body = json!({"model": "auto", "messages": [
        {"role": "user", "content": "select a from b"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "thanks"}
    ]});
    let (_, headers, _) = h.post_chat(body).await;
    assert_eq!(header(&headers, "x-switchyard-rule"), "everything");
}

#[tokio::test]
async fn rule_matches_tools_and_images() {
    let h = harness().await;
    let mut body = chat("auto", "what is the weather");
    body["tools"] = json!([{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]);
    let (status, headers, _) = h.post_chat(body).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-rule"), "tools");
    assert_eq!(header(&headers, "x-switchyard-model"), "gamma/g-tools");

    // An empty tools array is not "tools".
    let mut body = chat("auto", "what is the weather");
    body["tools"] = json!([]);
    let (_, headers, _) = h.post_chat(body).await;
    assert_eq!(header(&headers, "x-switchyard-rule"), "everything");

    let body = json!({"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is in this picture"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    ]}]});
    let (status, headers, _) = h.post_chat(body).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-rule"), "vision");
    assert_eq!(header(&headers, "x-switchyard-model"), "gamma/g-vision");
}

#[tokio::test]
async fn concrete_model_bypasses_classification() {
    let h = harness().await;
    let (status, headers, _) = h.post_chat(chat("alpha/a-big", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-rule"), "direct");
    assert_eq!(header(&headers, "x-switchyard-complexity"), "unclassified");
    assert_eq!(header(&headers, "x-switchyard-model"), "alpha/a-big");
    // Even a prompt that a rule would catch goes where it was sent.
    let (_, headers, _) = h.post_chat(chat("beta/b-mini", "SELECT x FROM y")).await;
    assert_eq!(header(&headers, "x-switchyard-rule"), "direct");
    assert_eq!(header(&headers, "x-switchyard-model"), "beta/b-mini");
    // A bare upstream name served by a single provider resolves too.
    let (status, headers, _) = h.post_chat(chat("g-code", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "gamma/g-code");

    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert_eq!(l.rule.as_deref(), Some("direct"));
        assert_eq!(l.complexity, None, "no classification for concrete models");
        assert_eq!(l.score, None);
    }
}

#[tokio::test]
async fn model_is_rewritten_upstream_and_unknown_fields_pass_through() {
    let h = harness().await;
    let body = json!({
        "model": "cheap",
        "messages": [{"role": "system", "content": "be terse"}, {"role": "user", "content": "hi"}],
        "temperature": 0.25,
        "seed": 7,
        "n": 1,
        "stop": ["\n\n"],
        "response_format": {"type": "json_object"},
        "logit_bias": {"50256": -100},
        "x_vendor_extension": {"nested": [1, 2, {"deep": null}], "flag": true},
    });
    let (status, _, _) = h.post_chat(body.clone()).await;
    assert_eq!(status, 200);
    let rec = h.sim("beta").recorded();
    assert_eq!(rec.len(), 1);
    let sent = rec[0].body.as_object().unwrap();
    assert_eq!(sent["model"], "b-mini", "upstream gets its own model id");
    assert_eq!(rec[0].model, "b-mini");
    let orig = body.as_object().unwrap();
    for (k, v) in orig {
        if k != "model" {
            assert_eq!(
                sent.get(k),
                Some(v),
                "field {k} changed on the way upstream"
            );
        }
    }
    let extra: Vec<&String> = sent.keys().filter(|k| !orig.contains_key(*k)).collect();
    assert!(extra.is_empty(), "router added fields upstream: {extra:?}");
}

#[tokio::test]
async fn models_endpoint_lists_aliases_and_models() {
    let h = harness().await;
    for path in ["/v1/models", "/models"] {
        let (status, body) = h.get(path).await;
        assert_eq!(status, 200);
        assert_eq!(body["object"], "list");
        let data = body["data"].as_array().unwrap();
        let by_id: HashMap<&str, &Value> = data
            .iter()
            .map(|m| (m["id"].as_str().unwrap(), m))
            .collect();
        assert_eq!(by_id.len(), data.len(), "no duplicate ids");
        for alias in ["auto", "smart", "cheap", "default"] {
            let m = by_id
                .get(alias)
                .unwrap_or_else(|| panic!("{alias} missing from {body}"));
            assert_eq!(m["object"], "model");
            assert_eq!(m["switchyard"]["kind"], "alias");
            assert_eq!(m["switchyard"]["policy"], "default");
        }
        for model in ["alpha/a-mini", "alpha/a-big", "beta/b-mini", "gamma/g-code"] {
            let m = by_id
                .get(model)
                .unwrap_or_else(|| panic!("{model} missing from {body}"));
            assert_eq!(m["switchyard"]["kind"], "model");
            assert_eq!(m["owned_by"], model.split('/').next().unwrap());
            assert_eq!(m["switchyard"]["context_window"], 128_000);
        }
    }
}

#[tokio::test]
async fn chat_is_served_without_v1_prefix() {
    let h = harness().await;
    let (status, headers, body) = h
        .post_raw(
            "/chat/completions",
            serde_json::to_vec(&chat("cheap", "hi")).unwrap(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "beta/b-mini");
    assert_eq!(body["object"], "chat.completion");
}

#[tokio::test]
async fn the_client_api_answers_alike_with_and_without_v1() {
    let h = harness().await;
    for prefix in ["", "/v1"] {
        let (status, body) = h.get(&format!("{prefix}/models")).await;
        assert_eq!(status, 200, "{prefix}/models: {body}");
        assert_eq!(body["object"], "list");
        let (status, body) = h.get(&format!("{prefix}/chat/completions")).await;
        assert_eq!(status, 405, "{prefix}: {body}");
        assert_eq!(body["error"]["code"], "method_not_allowed");
        let (status, body) = h.get(&format!("{prefix}/no-such-thing")).await;
        assert_eq!(status, 404, "{prefix}: {body}");
        assert_eq!(body["error"]["code"], "unknown_url");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{prefix}/no-such-thing")),
            "{message}"
        );
    }
}

/// A classifier whose scores are set by one word each, so a medium verdict can be placed next
/// to either cut-off: `kettle` just above the simple one, `quasar` just below the complex one.
const UNCERTAIN_POLICY: &str = r#"
name: default
aliases: [auto]
baseline: alpha/a-big
classifier:
  bias: 0
  thresholds: {medium: 0.1, complex: 2.1}
  length: {weight: 0, min_tokens: 10, max_tokens: 100, system_share: 0}
  turns: {weight: 0, max: 1}
  signals:
    - {name: near_simple, weight: 0.3, keywords: [kettle]}
    - {name: near_complex, weight: 1.9, keywords: [quasar]}
rules:
  - name: leaning-complex
    when: {complexity: medium, complex_probability: {min: 0.4}}
    route: [alpha/a-big]
  - name: doubtful
    when: {complexity: medium, confidence: {max: 0.6}}
    route: [beta/b-mini]
  - name: everything
    route: [alpha/a-mini]
"#;

#[tokio::test]
async fn an_uncertain_medium_goes_up_only_when_it_may_be_complex() {
    let h = Harness::builder(vec![
        Upstream::new("alpha", &["a-mini", "a-big"]),
        Upstream::new("beta", &["b-mini"]),
    ])
    .policy(UNCERTAIN_POLICY)
    .start()
    .await;
    // both are medium at confidence σ(0.2) ≈ 0.55; only the second may well be complex
    for (prompt, rule, model) in [
        ("tell me about the quasar", "leaning-complex", "alpha/a-big"),
        ("tell me about the kettle", "doubtful", "beta/b-mini"),
        ("tell me about the weather", "everything", "alpha/a-mini"),
    ] {
        let (status, headers, _) = h.post_chat(chat("auto", prompt)).await;
        assert_eq!(status, 200, "{prompt}");
        assert_eq!(header(&headers, "x-switchyard-rule"), rule, "{prompt}");
        assert_eq!(header(&headers, "x-switchyard-model"), model, "{prompt}");
    }
}
