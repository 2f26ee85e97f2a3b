//! Retries per candidate and failover across candidates and groups.

use crate::common::{
    assert_openai_error, chat, closed_port_url, header, policies, Harness, Upstream,
};
use serde_json::{json, Value};
use switchyard::sim::Behavior;

fn fail(status: u16) -> Behavior {
    Behavior::Status {
        status,
        body: json!({"error": {"message": format!("upstream says {status}"), "type": "server_error", "param": null, "code": null}}),
    }
}

fn policy(route: &str) -> String {
    policies::route_all("a/a-1", route)
}

/// The router over `upstreams` with one rule routing to `route`.
async fn router(upstreams: Vec<Upstream>, route: &str) -> Harness {
    Harness::builder(upstreams)
        .policy(policy(route))
        .start()
        .await
}

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn retries_a_500_up_to_attempts_then_fails_over() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"]).attempts(3),
            Upstream::new("b", &["b-1"]),
        ],
        "[a/a-1, b/b-1]",
    )
    .await;
    h.sim("a").set_behavior(fail(500));
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.calls("a"), 3, "attempts = retry.attempts");
    assert_eq!(h.calls("b"), 1);
    assert_eq!(header(&headers, "x-switchyard-attempts"), "4");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "1");
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
}

#[tokio::test]
async fn a_retry_can_succeed_on_the_same_candidate() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"]).attempts(3),
            Upstream::new("b", &["b-1"]),
        ],
        "[a/a-1, b/b-1]",
    )
    .await;
    h.sim("a").push_script([fail(503), fail(502)]);
    let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "a/a-1");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "3");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "0");
    assert_eq!(h.calls("b"), 0);
}

#[tokio::test]
async fn a_408_is_retried() {
    let h = router(vec![Upstream::new("a", &["a-1"]).attempts(2)], "[a/a-1]").await;
    h.sim("a").push_script([fail(408)]);
    let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-attempts"), "2");
    assert_eq!(h.calls("a"), 2);
}

#[tokio::test]
async fn a_400_is_not_retried_and_passed_through() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"]).attempts(3),
            Upstream::new("b", &["b-1"]),
        ],
        "[a/a-1, b/b-1]",
    )
    .await;
    let upstream_body = json!({"error": {
        "message": "Invalid value for 'temperature': must be <= 2.",
        "type": "invalid_request_error", "param": "temperature", "code": "invalid_value"
    }});
    h.sim("a").set_behavior(Behavior::Status {
        status: 400,
        body: upstream_body.clone(),
    });
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 400);
    assert_eq!(body, upstream_body, "the upstream's error body, verbatim");
    assert_eq!(h.calls("a"), 1, "no retry on 400");
    assert_eq!(h.calls("b"), 0, "no failover on 400");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "1");
    assert_eq!(header(&headers, "x-switchyard-model"), "a/a-1");
}

#[tokio::test]
async fn failover_goes_through_a_group_then_to_the_next_group() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"]),
            Upstream::new("b", &["b-1"]),
            Upstream::new("c", &["c-1"]),
        ],
        "[[a/a-1, b/b-1], c/c-1]",
    )
    .await;
    h.sim("a").set_behavior(fail(500));
    h.sim("b").set_behavior(fail(502));
    for i in 1..=10 {
        let (status, headers, _) = h.post_chat(chat("auto", "hi")).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "x-switchyard-model"), "c/c-1");
        assert_eq!(header(&headers, "x-switchyard-failovers"), "2");
        assert_eq!(header(&headers, "x-switchyard-attempts"), "3");
        // Both members of the first group are tried once before the second group.
        assert_eq!((h.calls("a"), h.calls("b"), h.calls("c")), (i, i, i));
    }
}

#[tokio::test]
async fn all_failing_is_502_naming_every_try_in_order() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"]).attempts(2),
            Upstream::new("b", &["b-1"]),
            Upstream::new("c", &["c-1"]),
        ],
        "[a/a-1, b/b-1, c/c-1]",
    )
    .await;
    h.sim("a").set_behavior(fail(500));
    h.sim("b").set_behavior(fail(503));
    h.sim("c").set_behavior(Behavior::Malformed);
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 502, "{body}");
    let err = assert_openai_error(&body);
    assert_eq!(err["code"], "all_candidates_failed");
    let msg = message(&body);
    let pos = |s: &str| {
        msg.find(s)
            .unwrap_or_else(|| panic!("`{s}` missing from: {msg}"))
    };
    assert!(
        pos("a/a-1") < pos("b/b-1") && pos("b/b-1") < pos("c/c-1"),
        "{msg}"
    );
    assert!(msg.contains("500, 500"), "both tries of a named: {msg}");
    assert!(msg.contains("503"), "{msg}");
    assert!(msg.contains("malformed"), "{msg}");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "4");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "2");
}

#[tokio::test]
async fn group_order_within_the_502_message_follows_groups() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"]),
            Upstream::new("b", &["b-1"]),
            Upstream::new("c", &["c-1"]),
        ],
        "[{a/a-1: 1, b/b-1: 1}, c/c-1]",
    )
    .await;
    for s in ["a", "b", "c"] {
        h.sim(s).set_behavior(fail(500));
    }
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 502);
    let msg = message(&body);
    let c = msg.find("c/c-1").expect("c named");
    assert!(msg.find("a/a-1").expect("a named") < c, "{msg}");
    assert!(msg.find("b/b-1").expect("b named") < c, "{msg}");
}

#[tokio::test]
async fn all_breakers_open_is_503() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"]).breaker(1, 60_000, 1),
            Upstream::new("b", &["b-1"]).breaker(1, 60_000, 1),
        ],
        "[a/a-1, b/b-1]",
    )
    .await;
    h.sim("a").set_behavior(fail(500));
    h.sim("b").set_behavior(fail(500));
    let (status, _, _) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 502);
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 503, "{body}");
    let err = assert_openai_error(&body);
    assert_eq!(err["code"], "no_candidate_available");
    let msg = message(&body);
    assert!(msg.contains("a/a-1") && msg.contains("b/b-1"), "{msg}");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "0");
    assert_eq!((h.calls("a"), h.calls("b")), (1, 1));
}

#[tokio::test]
async fn malformed_upstream_json_is_retried_then_fails_over() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"]).attempts(2),
            Upstream::new("b", &["b-1"]),
        ],
        "[a/a-1, b/b-1]",
    )
    .await;
    h.sim("a").set_behavior(Behavior::Malformed);
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    assert_eq!(h.calls("a"), 2);
}

#[tokio::test]
async fn body_cut_mid_way_fails_over() {
    let h = router(
        vec![Upstream::new("a", &["a-1"]), Upstream::new("b", &["b-1"])],
        "[a/a-1, b/b-1]",
    )
    .await;
    h.sim("a")
        .set_behavior(Behavior::CutStreamAfter { chunks: 0 });
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    assert_eq!(h.calls("a"), 1);
}

#[tokio::test]
async fn first_byte_timeout_fails_over() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"]).first_byte_ms(150),
            Upstream::new("b", &["b-1"]),
        ],
        "[a/a-1, b/b-1]",
    )
    .await;
    h.sim("a").set_behavior(Behavior::Stall);
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "1");
    assert_eq!((h.calls("a"), h.calls("b")), (1, 1));
}

#[tokio::test]
async fn timeout_is_named_in_the_502() {
    let h = router(
        vec![Upstream::new("a", &["a-1"]).first_byte_ms(150)],
        "[a/a-1]",
    )
    .await;
    h.sim("a").set_behavior(Behavior::Stall);
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 502);
    assert!(message(&body).contains("timeout"), "{body}");
}

#[tokio::test]
async fn connection_refused_fails_over() {
    let h = router(
        vec![
            Upstream::new("a", &["a-1"])
                .attempts(2)
                .base_url(&closed_port_url()),
            Upstream::new("b", &["b-1"]),
        ],
        "[a/a-1, b/b-1]",
    )
    .await;
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    assert_eq!(header(&headers, "x-switchyard-attempts"), "3");
}

#[tokio::test]
async fn concrete_model_uses_policy_fallbacks() {
    let h = Harness::builder(vec![
        Upstream::new("a", &["a-1"]),
        Upstream::new("b", &["b-1"]),
    ])
    .policy(policy("[b/b-1]") + "fallbacks:\n  a/a-1: [b/b-1]\n")
    .start()
    .await;
    h.sim("a").set_behavior(fail(500));
    let (status, headers, _) = h.post_chat(chat("a/a-1", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-rule"), "direct");
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "1");
}
