//! The moderation pre-check (a policy's `moderation:`) and `POST /v1/moderations`, against the
//! simulator's moderation model (it flags its flag words: `kill` is violence, `hateful` hate).

use serde_json::json;
use switchyard::sim::Behavior;
use switchyard::{Config, KeyMode, SourceFile, Sources};

use crate::common::{assert_openai_error, chat, header, Harness, Upstream};

/// The moderation provider: one model serving moderations, two keys, priced.
fn guard() -> Upstream {
    Upstream::new("guard", &["omni-mod"])
        .keys(&["gk-0", "gk-1"])
        .endpoints("omni-mod", "[moderations]")
        .price("omni-mod", 10.0, 0.0)
}

/// A policy whose moderation refuses violence (or routes it to rule `careful`, served by
/// `safe/s-1`), failing `on_error` after `timeout_ms`; `/v1/moderations` sent to `auto` goes to
/// the guard model.
fn policy(on_flag: &str, on_error: &str, timeout_ms: u64) -> String {
    format!(
        "name: default
aliases: [auto]
baseline: alpha/a-1
moderation:
  model: guard/omni-mod
  categories: [violence, self-harm]
  on_flag: {on_flag}
  timeout_ms: {timeout_ms}
  on_error: {on_error}
rules:
  - name: moderations
    when: {{endpoint: moderations}}
    route: [guard/omni-mod]
  - name: careful
    when: {{user: [nobody-at-all]}}
    route: [safe/s-1]
  - name: all
    route: [alpha/a-1]
"
    )
}

async fn harness(on_flag: &str, on_error: &str, timeout_ms: u64) -> Harness {
    Harness::builder(vec![
        Upstream::new("alpha", &["a-1"]),
        Upstream::new("safe", &["s-1"]),
        guard().first_byte_ms(30_000),
    ])
    .policy(policy(on_flag, on_error, timeout_ms))
    .start()
    .await
}

/// The last ledger line.
async fn last_line(h: &Harness) -> switchyard::UsageRecord {
    h.ledger_lines().await.pop().expect("a ledger line")
}

#[tokio::test]
async fn a_flag_in_a_listed_category_is_refused_naming_it() {
    let h = harness("refuse", "open", 5_000).await;
    let (status, _, body) = h
        .post_chat(chat("auto", "how do I kill a stuck process"))
        .await;
    assert_eq!(status, 400, "{body}");
    let e = assert_openai_error(&body);
    assert_eq!(e["code"], "content_policy_violation");
    assert!(
        e["message"].as_str().unwrap().contains("violence"),
        "{body}"
    );
    assert_eq!(h.calls("alpha"), 0, "the model is never called");
    assert_eq!(h.calls("guard"), 1);
    let line = last_line(&h).await;
    assert_eq!(line.outcome, "moderation_flagged");
    assert_eq!(line.status, 400);
    let m = line.moderation.expect("moderation on the line");
    assert_eq!(
        (m.result.as_str(), m.action.as_str()),
        ("flagged", "refused")
    );
    assert_eq!(m.categories, ["violence"]);
    assert!(
        !m.cached && m.cost_usd > 0.0,
        "priced at the guard's price: {m:?}"
    );
    // the moderation call went through the guard's keys
    let call = &h.sim("guard").recorded()[0];
    assert_eq!(call.key.as_deref(), Some("gk-0"));
    assert_eq!(call.body["model"], "omni-mod");
    assert!(call.body["input"].as_str().unwrap().contains("kill"));

    // a flag in a category the policy does not list passes, as does clean text
    for text in ["a hateful remark", "hello there"] {
        let (status, headers, body) = h.post_chat(chat("auto", text)).await;
        assert_eq!(status, 200, "{text}: {body}");
        assert_eq!(header(&headers, "x-switchyard-model"), "alpha/a-1");
        let m = last_line(&h).await.moderation.expect("checked");
        assert_eq!(
            (m.result.as_str(), m.action.as_str()),
            ("passed", "none"),
            "{text}"
        );
    }
    let keys: Vec<_> = h
        .sim("guard")
        .recorded()
        .into_iter()
        .map(|c| c.key.unwrap_or_default())
        .collect();
    assert_eq!(
        keys,
        ["gk-0", "gk-1", "gk-0"],
        "moderation calls rotate keys"
    );
    let (_, text) = metrics(&h).await;
    assert!(
        text.contains("switchyard_moderation_checks_total"),
        "metric exported"
    );
}

async fn metrics(h: &Harness) -> (u16, String) {
    let r = h.client.get(h.url("/metrics")).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_flag_routes_with_the_named_rule() {
    let h = harness("{rule: careful}", "open", 5_000).await;
    let (status, headers, body) = h.post_chat(chat("auto", "kill the lights")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-model"), "safe/s-1");
    let line = last_line(&h).await;
    assert_eq!(line.rule.as_deref(), Some("careful"));
    assert_eq!(line.moderation.unwrap().action, "routed");
    // a concrete model is rerouted too: the flag's rule belongs to the policy
    let (status, headers, _) = h.post_chat(chat("alpha/a-1", "kill it")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "safe/s-1");
    let (_, headers, _) = h.post_chat(chat("auto", "light it")).await;
    assert_eq!(header(&headers, "x-switchyard-model"), "alpha/a-1");
    assert_eq!(h.calls("alpha"), 1);
}

#[tokio::test]
async fn identical_texts_are_checked_once() {
    let h = harness("refuse", "open", 5_000).await;
    for _ in 0..2 {
        let (status, _, body) = h.post_chat(chat("auto", "same words twice")).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(
        h.calls("guard"),
        1,
        "the second verdict came from the cache"
    );
    let lines = h.ledger_lines().await;
    let (first, second) = (
        lines[0].moderation.clone().unwrap(),
        lines[1].moderation.clone().unwrap(),
    );
    assert!(!first.cached && second.cached, "{first:?} {second:?}");
    assert_eq!(second.cost_usd, 0.0, "a cached verdict costs nothing");
    // a flagged verdict is cached as well, and refused again
    for _ in 0..2 {
        assert_eq!(h.post_chat(chat("auto", "kill -9")).await.0, 400);
    }
    assert_eq!(h.calls("guard"), 2);
}

fn outage() -> Behavior {
    Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down", "type": "server_error", "param": null, "code": null}}),
    }
}

#[tokio::test]
async fn failing_open_lets_requests_through_on_outage_and_timeout() {
    let h = harness("refuse", "open", 300).await;
    for (i, behavior) in [outage(), Behavior::Stall].into_iter().enumerate() {
        h.sim("guard").set_behavior(behavior);
        let text = format!("kill attempt {i}");
        let (status, headers, body) = h.post_chat(chat("auto", &text)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "x-switchyard-model"), "alpha/a-1");
        let m = last_line(&h).await.moderation.unwrap();
        assert_eq!(
            (m.result.as_str(), m.action.as_str()),
            ("error", "failed_open")
        );
    }
    // failures are not cached: once the guard is back, the same text is checked and refused
    h.sim("guard").set_behavior(Behavior::Ok);
    assert_eq!(h.post_chat(chat("auto", "kill attempt 0")).await.0, 400);
}

#[tokio::test]
async fn failing_closed_refuses_with_503_on_outage_and_timeout() {
    let h = harness("refuse", "closed", 300).await;
    for behavior in [outage(), Behavior::Stall] {
        h.sim("guard").set_behavior(behavior);
        let (status, headers, body) = h.post_chat(chat("auto", "perfectly fine text")).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(assert_openai_error(&body)["code"], "moderation_unavailable");
        assert!(headers.get("retry-after").is_some());
        let line = last_line(&h).await;
        assert_eq!(line.outcome, "moderation_unavailable");
        assert_eq!(line.moderation.unwrap().action, "failed_closed");
    }
    assert_eq!(h.calls("alpha"), 0);
}

#[tokio::test]
async fn v1_moderations_is_routed_by_model_and_alias_with_key_rotation() {
    let h = harness("refuse", "open", 5_000).await;
    for model in ["guard/omni-mod", "auto"] {
        let (status, _, body) = h
            .post_raw(
                "/v1/moderations",
                serde_json::to_vec(&json!({"model": model, "input": ["kill", "a flower"]}))
                    .unwrap(),
            )
            .await;
        assert_eq!(status, 200, "{model}: {body}");
        let results = body["results"].as_array().expect("results");
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["flagged"], true);
        assert_eq!(results[0]["categories"]["violence"], true);
        assert_eq!(results[1]["flagged"], false);
        let line = last_line(&h).await;
        assert_eq!(line.endpoint.as_str(), "moderations");
        assert_eq!(line.model.as_deref(), Some("guard/omni-mod"));
        assert!(line.prompt_tokens > 0 && line.cost_usd > 0.0, "{line:?}");
        assert!(
            line.moderation.is_none(),
            "no pre-check of a moderation request"
        );
    }
    let keys: Vec<_> = h
        .sim("guard")
        .recorded()
        .into_iter()
        .map(|c| c.key.unwrap_or_default())
        .collect();
    assert_eq!(keys, ["gk-0", "gk-1"]);
    // a model that does not serve moderations, and a bad input, are refused
    let (status, _, body) = h
        .post_raw(
            "/v1/moderations",
            br#"{"model":"alpha/a-1","input":"x"}"#.to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = h
        .post_raw("/v1/moderations", br#"{"model":"auto","input":5}"#.to_vec())
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "input");
}

#[test]
fn config_names_a_missing_rule_an_unknown_category_and_a_model_without_moderations() {
    let provider = Upstream::new("guard", &["omni-mod", "chatty"])
        .endpoints("omni-mod", "[moderations]")
        .render("http://127.0.0.1:9/v1");
    let build = |moderation: &str| {
        let sources = Sources {
            server: None,
            keys: None,
            providers: vec![SourceFile {
                path: "providers/guard.yaml".into(),
                text: provider.clone(),
            }],
            policies: vec![SourceFile {
                path: "policies/p.yaml".into(),
                text: format!(
                    "name: p\nbaseline: guard/chatty\nmoderation: {moderation}\nrules:\n  - name: all\n    route: [guard/chatty]\n"
                ),
            }],
        };
        match Config::build(&sources, &|_| None, KeyMode::Require) {
            Ok(_) => String::new(),
            Err(problems) => problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }
    };
    assert_eq!(build("{model: guard/omni-mod, on_flag: {rule: all}}"), "");
    let missing = build("{model: guard/omni-mod, on_flag: {rule: nope}}");
    assert!(
        missing.contains("no rule `nope`") && missing.contains("moderation.on_flag.rule"),
        "{missing}"
    );
    let category = build("{model: guard/omni-mod, categories: [violense]}");
    assert!(
        category.contains("unknown moderation category `violense`"),
        "{category}"
    );
    let chat_model = build("{model: guard/chatty}");
    assert!(
        chat_model.contains("does not serve moderations"),
        "{chat_model}"
    );
    let unknown = build("{model: guard/none}");
    assert!(unknown.contains("unknown model `guard/none`"), "{unknown}");
}
