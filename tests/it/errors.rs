//! Client-facing errors: right status, OpenAI's error shape, useful messages.

use crate::common::{assert_openai_error, chat, header, Harness, Upstream};
use serde_json::json;
use switchyard::sim::Behavior;

const POLICY: &str = r#"
name: default
aliases: [auto, smart]
baseline: a/a-1
rules:
  - name: all
    route: [a/a-1]
"#;

async fn harness() -> Harness {
    Harness::builder(vec![
        Upstream::new("a", &["a-1", "a-small"]).context_window("a-small", 1_000)
    ])
    .policy(POLICY)
    .server("max_body_bytes: 2048\n")
    .start()
    .await
}

#[tokio::test]
async fn malformed_json_is_400() {
    let h = harness().await;
    let (status, headers, body) = h
        .post_raw("/v1/chat/completions", b"{\"model\": \"auto\", ".to_vec())
        .await;
    assert_eq!(status, 400);
    let err = assert_openai_error(&body);
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["code"], "invalid_json");
    assert!(!header(&headers, "x-request-id").is_empty());
    assert_eq!(h.calls("a"), 0);
}

#[tokio::test]
async fn non_object_body_is_400() {
    let h = harness().await;
    let (status, _, body) = h.post_raw("/v1/chat/completions", b"[1,2]".to_vec()).await;
    assert_eq!(status, 400);
    assert_openai_error(&body);
}

#[tokio::test]
async fn missing_or_bad_fields_are_400_naming_the_param() {
    let h = harness().await;
    for (body, param) in [
        (json!({"model": "auto"}), "messages"),
        (json!({"model": "auto", "messages": []}), "messages"),
        (json!({"model": "auto", "messages": "hi"}), "messages"),
        (
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            "model",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "auto", "messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "auto", "stream": "yes", "messages": [{"role": "user", "content": "hi"}]}),
            "stream",
        ),
    ] {
        let (status, _, resp) = h.post_chat(body.clone()).await;
        assert_eq!(status, 400, "{body} -> {resp}");
        let err = assert_openai_error(&resp);
        assert_eq!(err["type"], "invalid_request_error");
        assert_eq!(err["param"], param, "{body} -> {resp}");
    }
    assert_eq!(h.calls("a"), 0);
}

#[tokio::test]
async fn unknown_model_is_404_listing_valid_names() {
    let h = harness().await;
    let (status, _, body) = h.post_chat(chat("gpt-9-ultra", "hi")).await;
    assert_eq!(status, 404);
    let err = assert_openai_error(&body);
    assert_eq!(err["code"], "model_not_found");
    assert_eq!(err["param"], "model");
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("gpt-9-ultra"), "{msg}");
    for name in ["auto", "smart", "a/a-1", "a/a-small"] {
        assert!(msg.contains(name), "`{name}` missing from: {msg}");
    }
}

#[tokio::test]
async fn body_over_limit_is_413() {
    let h = harness().await;
    let (status, headers, body) = h.post_chat(chat("auto", &"x".repeat(4096))).await;
    assert_eq!(status, 413);
    let err = assert_openai_error(&body);
    assert_eq!(err["code"], "request_too_large");
    assert!(err["message"].as_str().unwrap().contains("2048"), "{body}");
    assert!(!header(&headers, "x-request-id").is_empty());
    assert_eq!(h.calls("a"), 0);
    // Just under the limit is fine.
    let (status, _, _) = h.post_chat(chat("auto", &"x".repeat(1500))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn chunked_body_over_limit_is_413() {
    let h = harness().await;
    let payload = serde_json::to_vec(&chat("auto", &"y".repeat(8192))).unwrap();
    let parts: Vec<Result<Vec<u8>, std::io::Error>> =
        payload.chunks(512).map(|c| Ok(c.to_vec())).collect();
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            parts,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_openai_error(&body);
}

#[tokio::test]
async fn context_window_too_small_is_400_or_skipped() {
    let h = harness().await;
    // Only the 1k-window model: prompt + max_tokens does not fit.
    let mut body = chat("a/a-small", "hi");
    body["max_tokens"] = json!(5_000);
    let (status, _, resp) = h.post_chat(body).await;
    assert_eq!(status, 400, "{resp}");
    let err = assert_openai_error(&resp);
    assert_eq!(err["code"], "context_length_exceeded");
    assert_eq!(err["param"], "messages");
    assert!(err["message"].as_str().unwrap().contains("1000"), "{resp}");
    assert_eq!(h.calls("a"), 0);
    // It fits without max_tokens.
    let (status, _, _) = h.post_chat(chat("a/a-small", "hi")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn all_failed_is_502_and_nothing_available_is_503() {
    let h = Harness::builder(vec![Upstream::new("a", &["a-1"]).breaker(1, 60_000, 1)])
        .policy(POLICY)
        .start()
        .await;
    h.sim("a").set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down", "type": "server_error", "param": null, "code": null}}),
    });
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 502);
    let err = assert_openai_error(&body);
    assert_eq!(err["code"], "all_candidates_failed");
    assert!(
        err["message"].as_str().unwrap().contains("a/a-1: 500"),
        "{body}"
    );
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 503);
    let err = assert_openai_error(&body);
    assert_eq!(err["code"], "no_candidate_available");
}

#[tokio::test]
async fn upstream_4xx_is_passed_through_with_its_body() {
    let h = harness().await;
    let upstream = json!({"error": {"message": "This model's maximum context length is 8 tokens.",
        "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}});
    h.sim("a").push_script([
        Behavior::Status {
            status: 422,
            body: upstream.clone(),
        },
        Behavior::Status {
            status: 409,
            body: json!("plain text, not an error object"),
        },
    ]);
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 422);
    assert_eq!(body, upstream);
    assert!(header(&headers, "content-type").starts_with("application/json"));
    // A body that is not an OpenAI error is wrapped into one, keeping the status.
    let (status, _, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 409);
    let err = assert_openai_error(&body);
    assert_eq!(err["code"], "upstream_error");
    assert!(
        err["message"].as_str().unwrap().contains("plain text"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_path_and_wrong_method_are_openai_errors() {
    let h = harness().await;
    let (status, body) = h.get("/v1/embeddingz").await;
    assert_eq!(status, 404);
    assert_openai_error(&body);
    let (status, body) = h.get("/v1/chat/completions").await;
    assert_eq!(status, 405);
    assert_openai_error(&body);
}

#[tokio::test]
async fn health_answers_without_calling_upstreams() {
    let h = harness().await;
    let (status, body) = h.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(h.calls("a"), 0);
}
