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

/// `classify` reports the candidates a request's needs rule out, as routing would skip them.
#[test]
fn classify_names_the_skipped_candidates() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("providers")).unwrap();
    std::fs::create_dir(root.join("policies")).unwrap();
    for (name, wire) in [("ant", "anthropic"), ("oa", "openai")] {
        let text = format!(
            "name: {name}\nwire: {wire}\nbase_url: https://{name}.test/v1\nmodels:\n  - {{name: m, input_per_1m: 1, output_per_1m: 2}}\n"
        );
        std::fs::write(root.join(format!("providers/{name}.yaml")), text).unwrap();
    }
    std::fs::write(
        root.join("policies/default.yaml"),
        "name: default\naliases: [auto]\nbaseline: oa/m\nrules:\n  - name: all\n    route: [ant/m, oa/m]\n",
    )
    .unwrap();
    let server = root.join("switchyard.yaml");
    std::fs::write(&server, "listen: 127.0.0.1:0\npolicy: default\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["classify", "--json", "--config"])
        .arg(&server)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run classify");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"id\":\"two\",\"prompt\":\"hi\",\"n\":2}\n{\"id\":\"one\",\"prompt\":\"hi\"}\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0]["unsupported"],
        json!([{"model": "ant/m", "reason": "unsupported n>1"}])
    );
    assert_eq!(
        lines[0]["candidates"],
        json!([[{"model": "oa/m", "weight": 1}]])
    );
    assert_eq!(lines[1]["unsupported"], json!([]));
}
