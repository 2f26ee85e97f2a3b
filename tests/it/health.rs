//! Health endpoints under a healthy and a failing upstream; none of them calls an upstream.

use crate::common::{chat, Harness, Upstream};
use serde_json::json;
use switchyard::sim::Behavior;

const POLICY: &str =
    "name: p\naliases: [auto]\nbaseline: up/m\nrules:\n  - name: only\n    route: [up/m]\n";

fn upstream() -> Upstream {
    Upstream::new("up", &["m"])
        .keys(&["sk-health-secret"])
        .attempts(1)
        .breaker(1, 60_000, 1)
}

#[tokio::test]
async fn healthy_router_is_live_ready_and_detailed() {
    let h = Harness::builder(vec![upstream()])
        .policy(POLICY)
        .start()
        .await;
    for path in ["/health", "/health/live", "/health/ready"] {
        let (status, body) = h.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (status, d) = h.get("/health/detailed").await;
    assert_eq!(status, 200);
    assert_eq!(d["ledger"]["writable"], true);
    assert_eq!(d["providers"][0]["models"][0]["breaker"], "closed");
    assert_eq!(d["providers"][0]["keys"][0]["env"], h_key_env());
    assert!(d["memory_rss_bytes"].as_u64().unwrap() > 0);
    assert!(
        !d.to_string().contains("sk-health-secret"),
        "keys never appear"
    );
    assert_eq!(h.calls("up"), 0, "health checks spend no tokens");
}

fn h_key_env() -> String {
    upstream().key_env(0)
}

#[tokio::test]
async fn failing_upstream_opens_breaker_and_router_is_not_ready() {
    let h = Harness::builder(vec![upstream()])
        .policy(POLICY)
        .start()
        .await;
    h.sim("up").set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down"}}),
    });
    let (status, _, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 502);
    let (status, body) = h.get("/health/ready").await;
    assert_eq!(status, 503);
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains("rule `only`"),
        "{body}"
    );
    let (_, d) = h.get("/health/detailed").await;
    assert_eq!(d["providers"][0]["models"][0]["breaker"], "open");
    assert_eq!(d["providers"][0]["models"][0]["consecutive_failures"], 1);
    let (status, _) = h.get("/health/live").await;
    assert_eq!(status, 200, "liveness does not depend on upstreams");
}
