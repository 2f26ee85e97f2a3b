//! What a client connection gets: header reads and idle keep-alive bounded, a request id
//! echoed only when safe, and a `Retry-After` that says when a refused request can succeed.

use std::time::Duration;

use crate::common::{assert_openai_error, chat, header, policies, Harness, Upstream};
use serde_json::json;
use switchyard::sim::Behavior;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn harness(server: &str) -> Harness {
    Harness::builder(vec![Upstream::new("alpha", &["a-1"]).breaker(1, 60_000, 1)])
        .policy(policies::ALPHA)
        .server(server)
        .start()
        .await
}

/// Reads until the server closes the connection (or `within` passes): whether it closed.
async fn closed_by_server(s: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_all).await.is_ok()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let h = harness("header_timeout_ms: 300\n").await;
    let mut s = tokio::net::TcpStream::connect(h.addr)
        .await
        .expect("connect");
    s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-")
        .await
        .expect("half the headers");
    assert!(
        closed_by_server(&mut s, Duration::from_secs(10)).await,
        "the half-sent request is still held open"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let h = harness("header_timeout_ms: 300\n").await;
    let mut s = tokio::net::TcpStream::connect(h.addr)
        .await
        .expect("connect");
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("a request");
    assert!(
        closed_by_server(&mut s, Duration::from_secs(10)).await,
        "an idle keep-alive connection is held open"
    );
}

#[tokio::test]
async fn a_request_id_is_echoed_only_when_it_is_safe() {
    let h = harness("").await;
    for (sent, echoed) in [
        ("req-42.a_b:c", true),
        ("<script>alert(1)</script>", false),
        ("has space", false),
        (&"x".repeat(200), false),
    ] {
        let r = h
            .client
            .post(h.url("/v1/chat/completions"))
            .header("x-request-id", sent)
            .json(&chat("auto", "hi"))
            .send()
            .await
            .expect("router answers");
        let id = header(r.headers(), "x-request-id");
        assert_eq!(id == sent, echoed, "{sent} -> {id}");
        assert!(!id.is_empty());
    }
    let lines = h.ledger_lines().await;
    assert!(
        lines.iter().all(|l| !l.request_id.contains('<')),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_503_says_when_the_breaker_lets_requests_through_again() {
    let h = harness("").await;
    h.sim("alpha").set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down", "type": "server_error", "param": null, "code": null}}),
    });
    assert_eq!(h.post_chat(chat("auto", "hi")).await.0, 502);
    let (status, headers, body) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 503, "{body}");
    assert_openai_error(&body);
    let wait: u64 = header(&headers, "retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (50..=60).contains(&wait),
        "the breaker's 60 s recovery, not a fraction of a second: {wait}"
    );
}
