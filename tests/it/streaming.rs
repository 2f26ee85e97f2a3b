//! Streaming: SSE passthrough, include_usage, failover before the first byte, error event after.

use std::time::{Duration, Instant};

use crate::common::{
    chat, chat_stream, content_chunks, header, policies, sim_prompt_tokens, sse_content, sse_data,
    Harness, Upstream,
};
use serde_json::{json, Value};
use switchyard::sim::{Behavior, SimSettings};

fn policy() -> String {
    policies::route_all("b/b-1", "[a/a-1, b/b-1]")
}

async fn harness() -> Harness {
    Harness::builder(vec![
        Upstream::new("a", &["a-1"]),
        Upstream::new("b", &["b-1"]),
    ])
    .policy(policy())
    .start()
    .await
}

fn parsed(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap_or_else(|err| panic!("bad chunk {e}: {err}")))
        .collect()
}

#[tokio::test]
async fn stream_is_relayed_with_done_and_no_usage_chunk_unless_asked() {
    let h = harness().await;
    let (status, headers, text) = h.stream_chat(chat_stream("auto", "tell me", false)).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/event-stream"));
    assert_eq!(header(&headers, "x-switchyard-model"), "a/a-1");
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);
    let chunks = parsed(&events);
    assert_eq!(content_chunks(&events), 16, "one chunk per word: {text}");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop"),
        "finish chunk relayed"
    );
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage chunk, and no `usage: null`, when the client did not ask: {text}"
    );

    // Same text as the non-streamed answer from the same model and prompt.
    let (_, _, full) = h.post_chat(chat("auto", "tell me")).await;
    assert_eq!(
        sse_content(&events),
        full["choices"][0]["message"]["content"].as_str().unwrap()
    );
    // Upstream was asked to stream, with usage (for the ledger).
    let rec = h.sim("a").recorded();
    assert!(rec[0].stream);
    assert_eq!(rec[0].body["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn include_usage_gives_exactly_one_usage_chunk_before_done() {
    let h = harness().await;
    let (status, _, text) = h.stream_chat(chat_stream("auto", "hi", true)).await;
    assert_eq!(status, 200);
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks = parsed(&events);
    let usage: Vec<&Value> = chunks
        .iter()
        .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
        .collect();
    assert_eq!(usage.len(), 1, "{text}");
    let u = usage[0];
    assert_eq!(u["choices"], json!([]));
    assert_eq!(u["usage"]["completion_tokens"], 16);
    assert_eq!(u["usage"]["prompt_tokens"], sim_prompt_tokens(&["hi"]));
    assert_eq!(
        chunks.last().unwrap(),
        u,
        "the usage chunk is the last before [DONE]"
    );
}

#[tokio::test]
async fn cut_before_first_content_fails_over() {
    let h = harness().await;
    h.sim("a")
        .push_script([Behavior::CutStreamAfter { chunks: 0 }]);
    let (status, headers, text) = h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "1");
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(content_chunks(&events), 16);
    assert!(!text.contains("\"error\""), "{text}");
    // Nothing from a reached the client: a single role chunk, all from b.
    let chunks = parsed(&events);
    let roles = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["role"] == "assistant")
        .count();
    assert_eq!(roles, 1, "{text}");
    assert!(chunks.iter().all(|c| c["model"] == "b-1"), "{text}");
}

#[tokio::test]
async fn status_500_before_stream_fails_over() {
    let h = harness().await;
    h.sim("a").push_script([Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down", "type": "server_error", "param": null, "code": null}}),
    }]);
    let (status, headers, text) = h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    assert_eq!(sse_data(&text).last().map(String::as_str), Some("[DONE]"));
}

#[tokio::test]
async fn malformed_first_chunk_fails_over() {
    let h = harness().await;
    h.sim("a").push_script([Behavior::Malformed]);
    let (status, headers, text) = h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    assert_eq!(content_chunks(&sse_data(&text)), 16);
}

#[tokio::test]
async fn idle_timeout_before_first_content_fails_over() {
    let mut slow = SimSettings::fast("a", ["a-1"]);
    slow.token_delay = Duration::from_secs(5);
    let h = Harness::builder(vec![
        Upstream::new("a", &["a-1"]).idle_ms(150).sim_settings(slow),
        Upstream::new("b", &["b-1"]),
    ])
    .policy(policy())
    .start()
    .await;
    let (status, headers, text) = h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    assert_eq!(content_chunks(&sse_data(&text)), 16);
}

#[tokio::test]
async fn cut_after_first_content_ends_with_error_event_and_no_done() {
    let h = harness().await;
    h.sim("a")
        .push_script([Behavior::CutStreamAfter { chunks: 3 }]);
    let (status, headers, text) = h.stream_chat(chat_stream("auto", "hi", true)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "a/a-1");
    let events = sse_data(&text);
    assert!(!events.iter().any(|e| e == "[DONE]"), "no [DONE]: {text}");
    assert_eq!(content_chunks(&events), 3, "{text}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    let err = crate::common::assert_openai_error(&last);
    assert_eq!(err["code"], "stream_interrupted");
    assert_eq!(h.calls("b"), 0, "no failover once content was sent");

    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].outcome, "stream_interrupted");
    assert!(lines[0].stream);
    assert!(lines[0].ttft_ms.is_some());
    assert!(
        lines[0].tokens_estimated,
        "no upstream usage: completion counted locally"
    );
    assert!(lines[0].completion_tokens > 0);
}

#[tokio::test]
async fn streamed_request_leaves_a_ledger_line_with_upstream_usage_and_ttft() {
    let h = harness().await;
    // The client does not ask for usage; the ledger still gets the upstream's figures.
    let (status, headers, _) = h
        .stream_chat(chat_stream("auto", "hello there", false))
        .await;
    assert_eq!(status, 200);
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(l.request_id, header(&headers, "x-request-id"));
    assert!(l.stream);
    assert_eq!(l.outcome, "ok");
    assert_eq!(l.status, 200);
    assert_eq!(l.model.as_deref(), Some("a/a-1"));
    assert_eq!(l.prompt_tokens, sim_prompt_tokens(&["hello there"]));
    assert_eq!(l.completion_tokens, 16);
    assert!(!l.tokens_estimated);
    let ttft = l.ttft_ms.expect("ttft recorded for streams");
    assert!(
        ttft > 0.0 && ttft <= l.latency_ms,
        "ttft {ttft} latency {}",
        l.latency_ms
    );
    // price 1/2 per 1M on both models
    let expected = (l.prompt_tokens as f64 * 1.0 + 16.0 * 2.0) / 1e6;
    assert!((l.cost_usd - expected).abs() < 1e-12);
}

#[tokio::test]
async fn client_disconnect_mid_stream_is_recorded() {
    let mut slow = SimSettings::fast("a", ["a-1"]);
    slow.token_delay = Duration::from_millis(40);
    let h = Harness::builder(vec![
        Upstream::new("a", &["a-1"]).sim_settings(slow),
        Upstream::new("b", &["b-1"]),
    ])
    .policy(policy())
    .start()
    .await;
    let mut resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .json(&chat_stream("auto", "hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap();
    assert!(first.is_some());
    drop(resp);
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let lines = h.ledger_lines().await;
        if !lines.is_empty() || Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(lines.len(), 1, "one line for the abandoned stream");
    assert_eq!(lines[0].outcome, "client_disconnected");
    assert_eq!(lines[0].status, 499);
}

/// An OpenAI-compatible upstream that streams `events` (each sent as one `data:` line) to every
/// chat request; its base URL.
async fn raw_sse_upstream(events: &'static [&'static str]) -> String {
    let app = axum::Router::new().route(
        "/chat/completions",
        axum::routing::post(move || async move {
            let body = events.iter().fold(String::new(), |mut b, e| {
                b.push_str("data: ");
                b.push_str(e);
                b.push_str("\n\n");
                b
            });
            ([("content-type", "text/event-stream")], body)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

const ROLE: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
const HELLO: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}"#;
const STOP: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;

#[tokio::test]
async fn a_chunk_that_is_not_json_ends_the_stream_with_an_error_event_not_verbatim() {
    let url = raw_sse_upstream(&[ROLE, HELLO, "this is not json", STOP, "[DONE]"]).await;
    let h = Harness::builder(vec![
        Upstream::new("raw", &["m"]).base_url(&url),
        Upstream::new("b", &["b-1"]),
    ])
    .policy(policies::route_all("b/b-1", "[raw/m, b/b-1]"))
    .start()
    .await;
    let (status, headers, text) = h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&headers, "x-switchyard-model"), "raw/m");
    assert!(
        !text.contains("this is not json"),
        "relayed verbatim: {text}"
    );
    let events = sse_data(&text);
    assert_ne!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let last: Value = serde_json::from_str(events.last().expect("events")).expect("JSON");
    assert_eq!(last["error"]["code"], "stream_interrupted", "{text}");
    assert_eq!(sse_content(&events[..events.len() - 1]), "Hello");
}

#[tokio::test]
async fn a_first_chunk_that_is_not_json_fails_over() {
    let url = raw_sse_upstream(&["this is not json", ROLE, HELLO, STOP, "[DONE]"]).await;
    let h = Harness::builder(vec![
        Upstream::new("raw", &["m"]).base_url(&url),
        Upstream::new("b", &["b-1"]),
    ])
    .policy(policies::route_all("b/b-1", "[raw/m, b/b-1]"))
    .start()
    .await;
    let (status, headers, text) = h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1", "{text}");
    assert!(!text.contains("this is not json"));
    assert_eq!(sse_data(&text).last().map(String::as_str), Some("[DONE]"));
}
