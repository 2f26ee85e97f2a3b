//! An upstream that rejects the router's key (401/403) benches that key and the next one is
//! tried; when every key is refused the client gets a 502 that never carries the upstream's
//! body. Upstream error text that does reach a client is capped and scrubbed of keys.

use crate::common::policies;
use crate::common::{assert_openai_error, chat, Harness, Upstream};
use serde_json::json;
use switchyard::sim::{Behavior, SimSettings};

const GOOD: &str = "sk-proj-good-0123456789abcdefghij";
const BAD: &str = "sk-proj-bad-0123456789abcdefghijkl";

fn upstream(router_keys: &[&str], accepted: &[&str]) -> Upstream {
    let mut sim = SimSettings::fast("alpha", ["a-1"]);
    sim.keys = Some(accepted.iter().map(|k| (*k).to_owned()).collect());
    Upstream::new("alpha", &["a-1"])
        .keys(router_keys)
        .attempts(2)
        .sim_settings(sim)
}

async fn start(upstreams: Vec<Upstream>, route: &str) -> Harness {
    Harness::builder(upstreams)
        .policy(policies::route_all("alpha/a-1", route))
        .start()
        .await
}

#[tokio::test]
async fn a_rejected_key_is_benched_and_the_next_key_answers() {
    let h = start(vec![upstream(&[BAD, GOOD], &[GOOD])], "[alpha/a-1]").await;
    let (status, headers, body) = h.post_chat(chat("auto", "hello")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        crate::common::header(&headers, "x-switchyard-attempts"),
        "2"
    );
    // the bad key cools down for long: the next requests go straight to the good one
    for _ in 0..3 {
        assert_eq!(h.post_chat(chat("auto", "again")).await.0, 200);
    }
    let keys: Vec<Option<String>> = h
        .sim("alpha")
        .recorded()
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(keys.iter().filter(|k| k.as_deref() == Some(BAD)).count(), 1);
    assert_eq!(
        keys.iter().filter(|k| k.as_deref() == Some(GOOD)).count(),
        4
    );
}

#[tokio::test]
async fn every_key_refused_is_a_502_without_the_upstream_body() {
    let echo = json!({"error": {"message": format!("Incorrect API key provided: {BAD}"),
        "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}});
    let h = start(
        vec![upstream(&[BAD], &[GOOD]), Upstream::new("beta", &["b-1"])],
        "[alpha/a-1, beta/b-1]",
    )
    .await;
    for sim in ["alpha", "beta"] {
        h.sim(sim).set_behavior(Behavior::Status {
            status: 401,
            body: echo.clone(),
        });
    }
    let (status, _, body) = h.post_chat(chat("auto", "hello")).await;
    assert_eq!(status, 502, "{body}");
    let e = assert_openai_error(&body);
    assert_eq!(e["code"], "upstream_auth_failed");
    assert!(!body.to_string().contains(BAD), "key echoed: {body}");
    assert!(!body.to_string().contains("Incorrect API key"), "{body}");
    let line = h.ledger_lines().await.pop().expect("a ledger line");
    assert_eq!(line.outcome, "upstream_auth_failed");
    assert!(!h.ledger_text().await.contains(BAD));
}

#[tokio::test]
async fn upstream_error_text_is_capped_and_scrubbed_of_keys() {
    let h = start(vec![upstream(&[GOOD], &[GOOD])], "[alpha/a-1]").await;
    let noise = "x".repeat(1024 * 1024);
    let message = format!("bad request for key {GOOD} (also sk-other-9876543210abcdef) {noise}");
    h.sim("alpha").set_behavior(Behavior::Status {
        status: 400,
        body: json!({"error": {"message": message, "type": "invalid_request_error",
            "param": null, "code": null}}),
    });
    let (status, _, body) = h.post_chat(chat("auto", "hello")).await;
    assert_eq!(status, 400);
    let text = body.to_string();
    assert!(text.len() < 8 * 1024, "capped: {} bytes", text.len());
    assert!(!text.contains(GOOD) && !text.contains("sk-other"), "{text}");
    assert!(
        text.contains("bad request for key"),
        "the rest is kept: {text}"
    );
}
