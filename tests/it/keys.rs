//! Key rotation: round-robin order, 429 cooldowns (Retry-After or cooldown_ms), rejoining.

use std::time::{Duration, Instant};

use crate::common::{assert_openai_error, chat, header, policies, wait_until, Harness, Upstream};
use serde_json::json;
use switchyard::sim::Behavior;

fn keys_of(h: &Harness, sim: &str) -> Vec<String> {
    h.sim(sim)
        .recorded()
        .into_iter()
        .map(|c| c.key.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn keys_rotate_round_robin_across_requests() {
    let h = Harness::builder(vec![
        Upstream::new("alpha", &["a-1"]).keys(&["sk-a", "sk-b"])
    ])
    .policy(policies::ALPHA)
    .start()
    .await;
    for _ in 0..4 {
        let (status, _, _) = h.post_chat(chat("auto", "hi")).await;
        assert_eq!(status, 200);
    }
    assert_eq!(keys_of(&h, "alpha"), ["sk-a", "sk-b", "sk-a", "sk-b"]);
}

#[tokio::test]
async fn three_keys_rotate_in_order() {
    let h = Harness::builder(vec![
        Upstream::new("alpha", &["a-1"]).keys(&["k1", "k2", "k3"])
    ])
    .policy(policies::ALPHA)
    .start()
    .await;
    for _ in 0..6 {
        h.post_chat(chat("auto", "hi")).await;
    }
    assert_eq!(keys_of(&h, "alpha"), ["k1", "k2", "k3", "k1", "k2", "k3"]);
}

#[tokio::test]
async fn rate_limited_key_cools_for_retry_after_then_rejoins() {
    let h = Harness::builder(vec![Upstream::new("alpha", &["a-1"])
        .keys(&["sk-a", "sk-b"])
        .attempts(2)])
    .policy(policies::ALPHA)
    .start()
    .await;
    h.sim("alpha").push_script([Behavior::RateLimited {
        retry_after_secs: 1,
    }]);
    let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
    let limited_at = Instant::now();
    // The 429 moved on to the other key at once (no backoff), within the same candidate.
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-attempts"), "2");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "0");
    assert_eq!(keys_of(&h, "alpha"), ["sk-a", "sk-b"]);

    // While sk-a cools, only sk-b is used.
    for _ in 0..3 {
        let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "x-switchyard-attempts"), "1");
    }
    let cooling_phase = limited_at.elapsed();
    assert_eq!(
        keys_of(&h, "alpha")[2..],
        ["sk-b", "sk-b", "sk-b"],
        "a cooling key was used (requests took {cooling_phase:?}, Retry-After is 1 s)"
    );

    // Once Retry-After has passed, sk-a is back in the rotation.
    wait_until(
        "sk-a stopped cooling",
        Duration::from_secs(20),
        async || !h.any_key_cooling("alpha").await,
    )
    .await;
    for _ in 0..2 {
        let (status, _, _) = h.post_chat(chat("auto", "hi")).await;
        assert_eq!(status, 200);
    }
    let keys = keys_of(&h, "alpha");
    assert_eq!(keys[5..], ["sk-a", "sk-b"], "all keys: {keys:?}");
}

#[tokio::test]
async fn rate_limit_without_retry_after_uses_cooldown_ms() {
    let h = Harness::builder(vec![Upstream::new("alpha", &["a-1"])
        .keys(&["sk-a", "sk-b"])
        .attempts(2)
        .cooldown_ms(60_000)])
    .policy(policies::ALPHA)
    .start()
    .await;
    // A bare 429 (no Retry-After header).
    h.sim("alpha").push_script([Behavior::Status {
        status: 429,
        body: json!({"error": {"message": "slow down", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
    }]);
    let (status, _, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    for _ in 0..5 {
        h.post_chat(chat("auto", "hi")).await;
    }
    let keys = keys_of(&h, "alpha");
    assert_eq!(keys[0], "sk-a");
    assert!(
        keys[1..].iter().all(|k| k == "sk-b"),
        "sk-a used while cooling: {keys:?}"
    );
}

#[tokio::test]
async fn cooling_key_is_never_used_even_under_concurrency() {
    let h = std::sync::Arc::new(
        Harness::builder(vec![Upstream::new("alpha", &["a-1"])
            .keys(&["sk-a", "sk-b", "sk-c"])
            .attempts(3)])
        .policy(policies::ALPHA)
        .start()
        .await,
    );
    h.sim("alpha").push_script([Behavior::RateLimited {
        retry_after_secs: 60,
    }]);
    let (status, _, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(keys_of(&h, "alpha"), ["sk-a", "sk-b"]);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let h = h.clone();
        set.spawn(async move { h.post_chat(chat("auto", "hi")).await.0 });
    }
    while let Some(s) = set.join_next().await {
        assert_eq!(s.unwrap(), 200);
    }
    let keys = keys_of(&h, "alpha");
    assert_eq!(keys.len(), 32);
    assert!(
        !keys[1..].contains(&"sk-a".to_owned()),
        "cooling key used: {keys:?}"
    );
    let b = keys.iter().filter(|k| *k == "sk-b").count();
    let c = keys.iter().filter(|k| *k == "sk-c").count();
    assert!(
        b.abs_diff(c) <= 1,
        "the other two keys alternate: b={b} c={c}"
    );
}

#[tokio::test]
async fn all_keys_cooling_skips_provider_without_calling_it() {
    let h = Harness::builder(vec![
        Upstream::new("alpha", &["a-1"]).keys(&["sk-a"]),
        Upstream::new("beta", &["b-1"]),
    ])
    .policy(policies::route_all("alpha/a-1", "[alpha/a-1, beta/b-1]"))
    .start()
    .await;
    h.sim("alpha").push_script([Behavior::RateLimited {
        retry_after_secs: 60,
    }]);
    let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "beta/b-1");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "1");
    assert_eq!(h.calls("alpha"), 1);

    let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "beta/b-1");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "1");
    assert_eq!(
        h.calls("alpha"),
        1,
        "a provider whose keys all cool is not called"
    );
}

#[tokio::test]
async fn all_keys_cooling_on_the_only_candidate_is_503() {
    let h = Harness::builder(vec![Upstream::new("alpha", &["a-1"]).keys(&["sk-a"])])
        .policy(policies::ALPHA)
        .start()
        .await;
    h.sim("alpha").push_script([Behavior::RateLimited {
        retry_after_secs: 60,
    }]);
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 502, "the 429 was a real attempt: {body}");
    assert_openai_error(&body);
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 503, "{body}");
    let err = assert_openai_error(&body);
    assert_eq!(err["code"], "no_candidate_available");
    assert!(
        err["message"].as_str().unwrap().contains("alpha/a-1"),
        "{body}"
    );
    assert_eq!(h.calls("alpha"), 1);
}

#[tokio::test]
async fn keys_are_sent_as_bearer_and_never_reach_the_ledger() {
    let h = Harness::builder(vec![
        Upstream::new("alpha", &["a-1"]).keys(&["sk-very-secret-value"])
    ])
    .policy(policies::ALPHA)
    .start()
    .await;
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(keys_of(&h, "alpha"), ["sk-very-secret-value"]);
    let text = h.ledger_text().await;
    assert!(!text.is_empty());
    assert!(!text.contains("sk-very-secret-value"));
    assert!(!body.to_string().contains("sk-very-secret-value"));
    assert!(headers
        .values()
        .all(|v| !v.to_str().unwrap_or_default().contains("sk-very-secret")));
}
