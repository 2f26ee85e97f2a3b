//! Graceful shutdown: open streams finish during the grace period, streams past it end with an
//! error event, and every request (including ones a client abandoned) leaves a ledger line.

use std::time::Duration;

use crate::common::{chat, chat_stream, content_chunks, sse_data, Harness, Upstream};
use switchyard::sim::SimSettings;

const POLICY: &str = "name: p\naliases: [auto]\nbaseline: slow/slow-1\nrules:\n  - name: all\n    route: [slow/slow-1]\n";

fn slow(token_ms: u64, words: usize) -> Upstream {
    let mut s = SimSettings::fast("slow", ["slow-1"]);
    s.token_delay = Duration::from_millis(token_ms);
    s.reply_tokens = words;
    Upstream::new("slow", &["slow-1"]).sim_settings(s)
}

/// Starts a streamed request in the background; resolves to the whole SSE text.
fn open_stream(h: &Harness) -> tokio::task::JoinHandle<String> {
    let client = h.client.clone();
    let url = h.url("/v1/chat/completions");
    tokio::spawn(async move {
        let resp = client
            .post(url)
            .json(&chat_stream("auto", "tell me a story", false))
            .send()
            .await
            .unwrap();
        resp.text().await.unwrap()
    })
}

#[tokio::test]
async fn open_stream_completes_during_the_grace_period() {
    let mut h = Harness::builder(vec![slow(30, 20)])
        .policy(POLICY)
        .server("shutdown_grace_ms: 10000\n")
        .start()
        .await;
    let stream = open_stream(&h);
    h.wait_calls("slow", 1).await;
    h.begin_shutdown();
    let text = stream.await.unwrap();
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert_eq!(content_chunks(&events), 20);
    h.wait_stopped().await;
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].outcome, "ok");
    assert_eq!(lines[0].completion_tokens, 20);
    // overhead is frozen when the stream is committed, before its first token reaches the
    // client: relaying the upstream's pace is not router overhead
    assert!(
        lines[0].overhead_ms <= lines[0].ttft_ms.unwrap(),
        "{:?}",
        lines[0]
    );
}

#[tokio::test]
async fn stream_still_open_after_the_grace_period_ends_with_an_error_event() {
    let mut h = Harness::builder(vec![slow(100, 200)])
        .policy(POLICY)
        .server("shutdown_grace_ms: 300\n")
        .start()
        .await;
    let stream = open_stream(&h);
    h.wait_calls("slow", 1).await;
    h.begin_shutdown();
    let text = stream.await.unwrap();
    let events = sse_data(&text);
    let last = events.last().expect("some events");
    assert_ne!(last, "[DONE]", "a cut stream must not look complete");
    let err: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(err["error"]["code"], "server_shutting_down");
    assert!(content_chunks(&events) < 200);
    h.wait_stopped().await;
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].outcome, "shutdown");
    assert!(lines[0].completion_tokens > 0, "partial answer is counted");
}

#[tokio::test]
async fn a_client_that_gives_up_on_a_slow_answer_still_leaves_a_ledger_line() {
    let mut s = SimSettings::fast("slow", ["slow-1"]);
    s.first_byte_latency = Duration::from_secs(3);
    let h = Harness::builder(vec![Upstream::new("slow", &["slow-1"]).sim_settings(s)])
        .policy(POLICY)
        .start()
        .await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let result = impatient
        .post(h.url("/v1/chat/completions"))
        .json(&chat("auto", "hello"))
        .send()
        .await;
    assert!(result.is_err(), "the client times out");
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = h.ledger_lines().await;
        if !lines.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].outcome, "client_disconnected");
    assert_eq!(lines[0].status, 499);
    assert_eq!(lines[0].cost_usd, 0.0, "nothing was answered");
}
