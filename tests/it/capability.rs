//! Capability-aware candidate choice: a candidate whose wire cannot express the request is
//! passed over before dispatch (no attempt, no breaker, no key slot), and only a request no
//! candidate can serve gets a 400 naming why.

use crate::common::{assert_openai_error, chat, header, Harness, Upstream};
use serde_json::json;
use switchyard::sim::{spawn_anthropic, SimSettings, SimUpstream};

/// An Anthropic-wire provider `ant` (model `claude-x`) first and an OpenAI-wire provider `oa`
/// (model `gpt-x`) second, both behind `auto`; the alias `claude-only` routes to `ant/claude-x`
/// alone.
async fn start() -> (Harness, SimUpstream) {
    let sim = spawn_anthropic(SimSettings::fast("ant", ["claude-x"]))
        .await
        .expect("spawn anthropic sim");
    let ant = Upstream::new("ant", &["claude-x"])
        .base_url(&sim.base_url())
        .wire("anthropic");
    let policy = "name: default
aliases: [auto, claude-only]
baseline: ant/claude-x
rules:
  - name: claude-only
    when: {model: claude-only}
    route: [ant/claude-x]
  - name: all
    route: [ant/claude-x, oa/gpt-x]
";
    let h = Harness::builder(vec![ant, Upstream::new("oa", &["gpt-x"])])
        .policy(policy)
        .start()
        .await;
    (h, sim)
}

#[tokio::test]
async fn n_two_through_an_anthropic_first_alias_is_served_by_the_openai_candidate() {
    let (h, sim) = start().await;
    let mut body = chat("auto", "two answers please");
    body["n"] = json!(2);
    let (status, headers, v) = h.post_chat(body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(header(&headers, "x-switchyard-model"), "oa/gpt-x");
    assert_eq!(
        header(&headers, "x-switchyard-skipped"),
        "ant/claude-x: unsupported n>1"
    );
    assert_eq!(header(&headers, "x-switchyard-attempts"), "1");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "0");
    assert_eq!(
        sim.control().calls(),
        0,
        "the Anthropic sim was never called"
    );
    // without n the Anthropic candidate answers as the rule's first pick
    let (status, headers, _) = h.post_chat(chat("auto", "one answer")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "ant/claude-x");
    assert!(headers.get("x-switchyard-skipped").is_none());
    assert_eq!(sim.control().calls(), 1);
    // the skip touched no breaker: both still closed
    assert_eq!(h.breaker_state("ant/claude-x").await, "closed");
}

#[tokio::test]
async fn logprobs_skip_the_anthropic_candidate() {
    let (h, sim) = start().await;
    let mut body = chat("auto", "how sure are you");
    body["logprobs"] = json!(true);
    let (status, headers, v) = h.post_chat(body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(header(&headers, "x-switchyard-model"), "oa/gpt-x");
    assert_eq!(
        header(&headers, "x-switchyard-skipped"),
        "ant/claude-x: unsupported logprobs"
    );
    assert_eq!(sim.control().calls(), 0);
}

#[tokio::test]
async fn no_capable_candidate_is_a_400_naming_why() {
    let (h, sim) = start().await;
    let mut body = chat("claude-only", "two answers please");
    body["n"] = json!(2);
    let (status, headers, v) = h.post_chat(body).await;
    assert_eq!(status, 400, "{v}");
    let err = assert_openai_error(&v);
    assert_eq!(err["param"], "n");
    assert_eq!(err["code"], "unsupported_parameter");
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("n > 1"), "{message}");
    assert!(message.contains("ant/claude-x"), "{message}");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "");
    assert_eq!(sim.control().calls(), 0);
    // a concrete Anthropic model with no fallback is refused the same way
    let mut body = chat("ant/claude-x", "scores?");
    body["top_logprobs"] = json!(3);
    let (status, _, v) = h.post_chat(body).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(assert_openai_error(&v)["param"], "logprobs");
}
