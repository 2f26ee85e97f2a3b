//! The demo end to end: its config is valid, chat crosses wires, embeddings route, and the
//! control endpoint's `fail` mode (with each wire's own error body) makes the router fail over.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{control, start};

/// Serves the demo (fast) on a free port; returns its URL and the task keeping it alive.
async fn serve() -> (String, tempfile::TempDir, tokio::task::JoinHandle<()>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = start(&dir.path().join("ledger.jsonl"), true)
        .await
        .expect("demo starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let app = crate::server::app(demo.state.clone())
            .merge(control::routes(Arc::new(control::Sims::new(&demo.sims))));
        let _keep = demo.sims;
        axum::serve(listener, app).await.unwrap();
    });
    (url, dir, task)
}

async fn post(url: &str, body: Value) -> (u16, String, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let model = resp
        .headers()
        .get("x-switchyard-model")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, model, resp.json().await.unwrap_or(Value::Null))
}

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn demo_routes_across_wires_and_fails_over() {
    let (url, _dir, task) = serve().await;
    let chat_url = format!("{url}/v1/chat/completions");
    for (model, content_tag) in [
        ("lumen/lumen-pro", "[lumen-pro]"),
        ("zenith/zenith-large", "[zenith-large]"),
        ("swift/swift-mini", "[swift-mini]"),
    ] {
        let (status, routed, body) = post(&chat_url, chat(model)).await;
        assert_eq!((status, routed.as_str()), (200, model), "{body}");
        let text = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(text.starts_with(content_tag), "{text}");
    }
    let (status, routed, body) = post(
        &format!("{url}/v1/embeddings"),
        json!({"model": "embed", "input": ["a", "b"]}),
    )
    .await;
    assert_eq!((status, routed.as_str()), (200, "swift/swift-embed"));
    assert_eq!(body["data"].as_array().unwrap().len(), 2);

    // each simulated provider fails with its own wire's error; the router fails over
    for (name, model, backup) in [
        ("atlas", "atlas/atlas-ultra", "zenith/zenith-large"),
        ("lumen", "lumen/lumen-pro", "swift/swift-mini"),
    ] {
        let (status, _, _) = post(
            &format!("{url}/demo/providers/{name}/behavior"),
            json!({"mode": "fail"}),
        )
        .await;
        assert_eq!(status, 200);
        let (status, routed, _) = post(&chat_url, chat(model)).await;
        assert_eq!((status, routed.as_str()), (200, backup));
    }
    post(
        &format!("{url}/demo/providers/zenith/behavior"),
        json!({"mode": "fail"}),
    )
    .await;
    let (status, _, body) = post(&chat_url, chat("zenith/zenith-large")).await;
    assert_eq!(status, 502, "{body}");
    let (status, _, _) = post(
        &format!("{url}/demo/providers/nobody/behavior"),
        json!({"mode": "fail"}),
    )
    .await;
    assert_eq!(status, 404);
    task.abort();
}
