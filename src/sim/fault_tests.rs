//! End-to-end tests of the sim's injected failures and timing, over HTTP with reqwest.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::tests::{chat_body, client, post, sim, sse_data};
use super::*;

#[tokio::test]
async fn rate_limited_sends_429_with_retry_after() {
    let up = sim().await;
    up.control().set_behavior(Behavior::RateLimited {
        retry_after_secs: 7,
    });
    let resp = post(&client(), &up, &chat_body(false), None).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["message"].as_str().unwrap().contains("m1"));
    assert!(v["error"].get("param").is_some());
}

#[tokio::test]
async fn status_passes_body_through() {
    let up = sim().await;
    let body =
        json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}});
    up.control().set_behavior(Behavior::Status {
        status: 500,
        body: body.clone(),
    });
    let resp = post(&client(), &up, &chat_body(true), None).await;
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.json::<Value>().await.unwrap(), body);
}

#[tokio::test]
async fn cut_stream_ends_without_done() {
    let up = sim().await;
    up.control()
        .set_behavior(Behavior::CutStreamAfter { chunks: 2 });
    let resp = post(&client(), &up, &chat_body(true), None).await;
    assert_eq!(resp.status(), 200);
    let mut received = Vec::new();
    let mut stream = resp.bytes_stream();
    let mut failed = false;
    while let Some(item) = stream.next().await {
        if let Ok(b) = item {
            received.extend_from_slice(&b);
        } else {
            failed = true;
            break;
        }
    }
    assert!(failed, "the body must end with an error, not cleanly");
    let text = String::from_utf8(received).unwrap();
    assert!(!text.contains("[DONE]"));
    let events = sse_data(&text);
    assert_eq!(events.len(), 1 + 2, "{text}");

    // Non-streaming: headers arrive, the body does not complete.
    let resp = post(&client(), &up, &chat_body(false), None).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.is_err());
}

#[tokio::test]
async fn malformed_is_not_json() {
    let up = sim().await;
    up.control().set_behavior(Behavior::Malformed);
    let c = client();
    let resp = post(&c, &up, &chat_body(false), None).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());

    let text = post(&c, &up, &chat_body(true), None)
        .await
        .text()
        .await
        .unwrap();
    let events = sse_data(&text);
    assert!(serde_json::from_str::<Value>(&events[0]).is_err());
}

#[tokio::test]
async fn stall_times_out_on_client_and_ends_on_drop() {
    let up = sim().await;
    up.control().set_behavior(Behavior::Stall);
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let url = format!("{}/chat/completions", up.base_url());
    let err = short
        .post(&url)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(up.control().calls(), 1);

    // A stalled request without client timeout is released when the sim is dropped.
    let pending =
        tokio::spawn(async move { client().post(&url).json(&chat_body(false)).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(up);
    let outcome = tokio::time::timeout(Duration::from_secs(3), pending).await;
    assert!(
        outcome.is_ok(),
        "stalled request must end once the sim is dropped"
    );
}

#[tokio::test]
async fn latency_is_applied_and_stream_is_incremental() {
    let mut settings = SimSettings::fast("slow", ["m1"]);
    settings.first_byte_latency = Duration::from_millis(150);
    settings.token_delay = Duration::from_millis(40);
    settings.reply_tokens = 8;
    let up = spawn(settings).await.unwrap();
    let start = Instant::now();
    let resp = post(&client(), &up, &chat_body(true), None).await;
    let headers_at = start.elapsed();
    assert!(headers_at >= Duration::from_millis(150), "{headers_at:?}");
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    let first_at = start.elapsed();
    assert!(String::from_utf8_lossy(&first).contains("\"role\":\"assistant\""));
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
    }
    let total = start.elapsed();
    // 8 words + finish chunk, 40 ms apart, after the first byte.
    assert!(
        total >= first_at + Duration::from_millis(9 * 40 - 20),
        "{first_at:?} {total:?}"
    );

    let start = Instant::now();
    post(&client(), &up, &chat_body(false), None)
        .await
        .bytes()
        .await
        .unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(150 + 8 * 40 / 4),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn dropping_the_sim_stops_serving() {
    let up = sim().await;
    let url = format!("{}/chat/completions", up.base_url());
    drop(up);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert!(fresh
        .post(&url)
        .json(&chat_body(false))
        .send()
        .await
        .is_err());
}
