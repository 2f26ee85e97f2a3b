//! A provider's `http:` block end to end: the HTTP version the router speaks to it.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{StatusCode, Version};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use switchyard::{Config, KeyMode, SourceFile, Sources};

use crate::common::{chat, policies, Harness, Upstream};

type Seen = Arc<Mutex<Vec<Version>>>;

/// An OpenAI-compatible upstream (axum's server: HTTP/1.1, and HTTP/2 by prior knowledge) that
/// answers every chat completion and records the version each request came in.
async fn recording_upstream() -> (String, Seen) {
    async fn answer(State(seen): State<Seen>, req: Request) -> Json<Value> {
        seen.lock().unwrap().push(req.version());
        Json(json!({
            "id": "chatcmpl-v", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
        }))
    }
    let seen = Seen::default();
    let app = Router::new()
        .route("/v1/chat/completions", post(answer))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn each_provider_is_spoken_to_in_the_http_version_its_file_asks_for() {
    let (url, seen) = recording_upstream().await;
    let provider = |name: &str, http: &str| Upstream::new(name, &["m"]).base_url(&url).extra(http);
    let h = Harness::builder(vec![
        provider("plain", ""),
        provider("one", "http: {version: http1}\n"),
        provider(
            "two",
            "http: {version: http2, max_idle_per_host: 4, idle_timeout_ms: 5000}\n",
        ),
    ])
    .policy(policies::route_all("plain/m", "[plain/m]"))
    .start()
    .await;
    for (model, want) in [
        ("plain/m", Version::HTTP_11),
        ("one/m", Version::HTTP_11),
        ("two/m", Version::HTTP_2),
        ("two/m", Version::HTTP_2),
    ] {
        let (status, _, body) = h.post_chat(chat(model, "hi")).await;
        assert_eq!(status, StatusCode::OK, "{model}: {body}");
        assert_eq!(body["choices"][0]["message"]["content"], "ok");
        let last = *seen.lock().unwrap().last().unwrap();
        assert_eq!(last, want, "{model}");
    }
}

#[test]
fn a_bad_http_block_is_refused_with_the_line_and_why() {
    let problems = |http: &str| {
        let provider = format!(
            "name: p\nbase_url: http://127.0.0.1:9/v1\nmodels:\n  - {{name: m, input_per_1m: 1, output_per_1m: 2}}\n{http}"
        );
        let sources = Sources {
            server: None,
            keys: None,
            providers: vec![SourceFile {
                path: "providers/p.yaml".into(),
                text: provider,
            }],
            policies: vec![SourceFile {
                path: "policies/default.yaml".into(),
                text: policies::route_all("p/m", "[p/m]"),
            }],
        };
        match Config::build(&sources, &|_: &str| None, KeyMode::Require) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }
    };
    assert!(problems("http: {version: http2, max_idle_per_host: 0}\n").is_empty());
    let bad = problems("http:\n  version: http3\n");
    assert!(
        bad[0].starts_with("providers/p.yaml:6: http.version:") && bad[0].contains("http3"),
        "{bad:?}"
    );
    let bad = problems("http:\n  idle_timeout_ms: 10\n  max_idle_per_host: 100000\n").join("\n");
    assert!(
        bad.contains("providers/p.yaml:6: http.idle_timeout_ms: must be from 1000"),
        "{bad}"
    );
    assert!(
        bad.contains("providers/p.yaml:7: http.max_idle_per_host: must be at most 65536"),
        "{bad}"
    );
}
