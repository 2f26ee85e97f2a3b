//! Circuit breaker transitions observed through the HTTP path: call counts and outcomes only.
//!
//! Recovery uses short real times (tokio's paused clock cannot drive real sockets), waited out
//! by polling `/metrics/circuit-breakers` and `/health/detailed` rather than by sleeping; the
//! pure state machine is unit-tested with paused time in src/dispatch/breaker.rs.

use std::time::Duration;

use crate::common::{
    assert_openai_error, chat, chat_stream, header, policies, wait_until, Harness, Upstream,
};
use serde_json::json;
use switchyard::sim::Behavior;

/// flaky first, steady as the fallback.
fn policy() -> String {
    policies::route_all("flaky/f-1", "[flaky/f-1, steady/s-1]")
}

/// Short enough to wait out, long enough that a few local requests fit inside it.
const RECOVERY_MS: u64 = 500;
/// For tests that must never see the breaker recover.
const NEVER: u64 = 60_000;
/// How long a wait for a recovery may take before the test fails (recoveries here are ≤ 2 s).
const PATIENCE: Duration = Duration::from_secs(20);

fn fail() -> Behavior {
    Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}),
    }
}

async fn harness(threshold: u32, success: u32, recovery_ms: u64) -> Harness {
    Harness::builder(vec![
        Upstream::new("flaky", &["f-1"]).breaker(threshold, recovery_ms, success),
        Upstream::new("steady", &["s-1"]),
    ])
    .policy(policy())
    .start()
    .await
}

/// Sends one request and returns the answering model.
async fn ask(h: &Harness) -> String {
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    header(&headers, "x-switchyard-model")
}

/// Waits until flaky's breaker reads half-open, so the next acquire finds it so.
async fn wait_recovery(h: &Harness) {
    wait_until("flaky/f-1 turned half-open", PATIENCE, async || {
        h.breaker_state("flaky/f-1").await == "half_open"
    })
    .await;
}

/// Waits until no key of flaky cools down any more.
async fn wait_keys_back(h: &Harness) {
    wait_until("flaky's keys stopped cooling", PATIENCE, async || {
        !h.any_key_cooling("flaky").await
    })
    .await;
}

/// Opens flaky's breaker with `threshold` failed requests.
async fn open(h: &Harness, threshold: u32) {
    h.sim("flaky").set_behavior(fail());
    for i in 0..threshold {
        assert_eq!(ask(h).await, "steady/s-1");
        assert_eq!(h.calls("flaky"), i as usize + 1);
    }
}

#[tokio::test]
async fn closed_breaker_opens_after_threshold_and_candidate_is_skipped() {
    let h = harness(3, 1, NEVER).await;
    open(&h, 3).await;
    // Open: flaky is skipped, steady answers, and only one attempt is made.
    for _ in 0..5 {
        let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "x-switchyard-model"), "steady/s-1");
        assert_eq!(header(&headers, "x-switchyard-attempts"), "1");
    }
    assert_eq!(h.calls("flaky"), 3, "an open breaker must stop calls");
    assert_eq!(h.calls("steady"), 8);
}

#[tokio::test]
async fn success_resets_the_consecutive_failure_count() {
    let h = harness(3, 1, NEVER).await;
    let flaky = h.sim("flaky");
    // fail, fail, ok, fail, fail: never 3 in a row, so the breaker stays closed.
    flaky.push_script([fail(), fail(), Behavior::Ok, fail(), fail()]);
    let mut answered = Vec::new();
    for _ in 0..5 {
        answered.push(ask(&h).await);
    }
    assert_eq!(answered[2], "flaky/f-1");
    // Still closed: the next call reaches flaky.
    assert_eq!(ask(&h).await, "flaky/f-1");
    assert_eq!(h.calls("flaky"), 6);
}

#[tokio::test]
async fn half_open_probe_success_closes_after_success_threshold() {
    let h = harness(2, 2, RECOVERY_MS).await;
    open(&h, 2).await;
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(h.calls("flaky"), 2);

    wait_recovery(&h).await;
    h.sim("flaky").set_behavior(Behavior::Ok);
    // Two successful probes (success_threshold 2).
    assert_eq!(ask(&h).await, "flaky/f-1", "first probe goes through");
    assert_eq!(ask(&h).await, "flaky/f-1", "second probe goes through");
    assert_eq!(h.calls("flaky"), 4);

    // Closed now: one failure no longer reopens it (threshold 2 needs two in a row).
    h.sim("flaky").set_behavior(fail());
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(h.calls("flaky"), 5);
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(
        h.calls("flaky"),
        6,
        "closed breaker still lets the 2nd failure through"
    );
    // ...and that second consecutive failure opened it again.
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(h.calls("flaky"), 6);
}

#[tokio::test]
async fn failed_probe_reopens_the_breaker() {
    let h = harness(2, 1, RECOVERY_MS).await;
    open(&h, 2).await;
    wait_recovery(&h).await;
    // The probe is let through and fails...
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(h.calls("flaky"), 3, "half-open lets one probe through");
    // ...which reopens the breaker at once (no threshold counting in half-open).
    for _ in 0..3 {
        assert_eq!(ask(&h).await, "steady/s-1");
    }
    assert_eq!(
        h.calls("flaky"),
        3,
        "a failed probe must reopen the breaker"
    );
    // After another recovery period a new probe goes through, and succeeds.
    wait_recovery(&h).await;
    h.sim("flaky").set_behavior(Behavior::Ok);
    assert_eq!(ask(&h).await, "flaky/f-1");
    assert_eq!(
        ask(&h).await,
        "flaky/f-1",
        "closed after success_threshold 1"
    );
    assert_eq!(h.calls("flaky"), 5);
}

#[tokio::test]
async fn half_open_allows_one_probe_at_a_time() {
    let h = std::sync::Arc::new(
        Harness::builder(vec![
            Upstream::new("flaky", &["f-1"])
                .breaker(1, RECOVERY_MS, 1)
                .first_byte_ms(800),
            Upstream::new("steady", &["s-1"]),
        ])
        .policy(policy())
        .start()
        .await,
    );
    open(&h, 1).await;
    wait_recovery(&h).await;
    // The probe stalls until flaky's first-byte timeout.
    h.sim("flaky").set_behavior(Behavior::Stall);
    let probe = {
        let h = h.clone();
        tokio::spawn(async move { ask(&h).await })
    };
    h.wait_calls("flaky", 2).await;
    // While the probe is in flight, others skip flaky.
    for _ in 0..3 {
        assert_eq!(ask(&h).await, "steady/s-1");
    }
    assert_eq!(h.calls("flaky"), 2, "only one probe at a time in half-open");
    // The probe times out, fails over, and its failure reopens the breaker.
    assert_eq!(probe.await.unwrap(), "steady/s-1");
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(h.calls("flaky"), 2);
}

#[tokio::test]
async fn only_candidate_with_open_breaker_gives_503_without_calling() {
    let h = Harness::builder(vec![Upstream::new("flaky", &["f-1"]).breaker(2, 60_000, 1)])
        .policy(policies::route_all("flaky/f-1", "[flaky/f-1]"))
        .start()
        .await;
    h.sim("flaky").set_behavior(fail());
    for _ in 0..2 {
        let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
        assert_eq!(status, 502, "{body}");
    }
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 503, "{body}");
    let err = assert_openai_error(&body);
    assert_eq!(err["code"], "no_candidate_available");
    assert!(
        err["message"].as_str().unwrap().contains("breaker"),
        "{body}"
    );
    assert_eq!(h.calls("flaky"), 2);
}

#[tokio::test]
async fn rate_limits_and_client_errors_do_not_trip_the_breaker() {
    // No keys: a 429 has no key to cool, so only the breaker could stop the next call.
    let h = harness(1, 1, NEVER).await;
    h.sim("flaky").push_script([
        Behavior::RateLimited {
            retry_after_secs: 1,
        },
        Behavior::Status {
            status: 400,
            body: json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null, "code": null}}),
        },
    ]);
    assert_eq!(ask(&h).await, "steady/s-1", "429 fails over");
    let (status, _, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 400, "400 is passed through");
    assert_eq!(
        ask(&h).await,
        "flaky/f-1",
        "breaker (threshold 1) still closed"
    );
    assert_eq!(h.calls("flaky"), 3);
}

#[tokio::test]
async fn retries_within_one_request_count_toward_the_threshold() {
    let h = Harness::builder(vec![
        Upstream::new("flaky", &["f-1"])
            .attempts(3)
            .breaker(3, 60_000, 1),
        Upstream::new("steady", &["s-1"]),
    ])
    .policy(policy())
    .start()
    .await;
    h.sim("flaky").set_behavior(fail());
    let (_, headers, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(header(&headers, "x-switchyard-attempts"), "4");
    assert_eq!(h.calls("flaky"), 3);
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(h.calls("flaky"), 3, "three failed tries opened the breaker");
}

#[tokio::test]
async fn stream_cut_after_first_byte_counts_against_the_breaker() {
    let h = harness(1, 1, NEVER).await;
    h.sim("flaky")
        .push_script([Behavior::CutStreamAfter { chunks: 3 }]);
    let (status, headers, text) = h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "flaky/f-1");
    assert!(text.contains("stream_interrupted"), "{text}");
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(
        h.calls("flaky"),
        1,
        "the mid-stream failure opened the breaker"
    );
}

#[tokio::test]
async fn probe_answered_with_400_releases_the_probe_slot() {
    let h = Harness::builder(vec![
        Upstream::new("flaky", &["f-1"]).breaker(1, 2_000, 1),
        Upstream::new("steady", &["s-1"]),
    ])
    .policy(policy())
    .start()
    .await;
    open(&h, 1).await;
    wait_recovery(&h).await;
    // The probe reaches flaky, which answers 400: the provider is up, the request was bad.
    h.sim("flaky").set_behavior(Behavior::Status {
        status: 400,
        body: json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null, "code": null}}),
    });
    let (status, _, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 400);
    assert_eq!(h.calls("flaky"), 2);
    // The probe is over; the next request must be allowed to reach flaky (as a new probe or
    // because the answered probe closed the breaker), not be refused for another 2 s.
    h.sim("flaky").set_behavior(Behavior::Ok);
    assert_eq!(ask(&h).await, "flaky/f-1");
}

#[tokio::test]
async fn skipping_for_cooling_keys_does_not_consume_the_probe() {
    let h = Harness::builder(vec![
        Upstream::new("flaky", &["f-1", "f-2"])
            .keys(&["sk-a", "sk-b"])
            .breaker(1, 1_500, 1),
        Upstream::new("steady", &["s-1"]),
    ])
    .policy(policy())
    .start()
    .await;
    // f-1's breaker opens (key sk-a used).
    open(&h, 1).await;
    // Both keys cool for 2 s through the other model of the same provider.
    h.sim("flaky").set_behavior(Behavior::RateLimited {
        retry_after_secs: 2,
    });
    for _ in 0..2 {
        let (status, _, _) = h.post_chat(chat("flaky/f-2", "hi")).await;
        assert_eq!(status, 502);
    }
    assert_eq!(h.calls("flaky"), 3);
    h.sim("flaky").set_behavior(Behavior::Ok);
    // f-1 is half-open now but every key cools: skipped without a call.
    wait_recovery(&h).await;
    assert_eq!(ask(&h).await, "steady/s-1");
    assert_eq!(h.calls("flaky"), 3);
    // Keys are back; no probe was ever sent, so one must be allowed now.
    wait_keys_back(&h).await;
    assert_eq!(ask(&h).await, "flaky/f-1");
}
