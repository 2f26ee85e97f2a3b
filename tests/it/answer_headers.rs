//! Every answer carries the same `x-switchyard-*` headers, whether the upstream made it or the
//! response cache replayed it (whole or streamed), as the README promises.

use crate::common::{Harness, Upstream};
use reqwest::header::HeaderMap;

const POLICY: &str = r#"
name: default
aliases: [auto]
baseline: up/big
rules:
  - name: vectors
    when: {endpoint: embeddings}
    route: [up/emb]
  - name: text
    route: [up/small]
"#;

/// The headers every answer must carry; `x-switchyard-cache` says which kind it is.
const PROMISED: [&str; 10] = [
    "x-request-id",
    "x-switchyard-model",
    "x-switchyard-provider",
    "x-switchyard-complexity",
    "x-switchyard-rule",
    "x-switchyard-policy",
    "x-switchyard-attempts",
    "x-switchyard-failovers",
    "x-switchyard-prompt-tokens",
    "x-switchyard-overhead-ms",
];

async fn send(h: &Harness, path: &str, body: &str) -> HeaderMap {
    let resp = h
        .client
        .post(h.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    resp.bytes().await.unwrap();
    headers
}

fn value<'h>(h: &'h HeaderMap, name: &str) -> &'h str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn a_cache_hit_carries_every_header_a_miss_carries() {
    let up = Upstream::new("up", &["small", "big", "emb"]).endpoints("emb", "[embeddings]");
    let h = Harness::builder(vec![up]).policy(POLICY).start().await;
    let cases = [
        (
            "/v1/chat/completions",
            r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"What is 2+2?"}]}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"auto","temperature":0,"stream":true,"messages":[{"role":"user","content":"Name a colour"}]}"#,
        ),
        (
            "/v1/chat/completions",
            r#"{"model":"up/small","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#,
        ),
        ("/v1/embeddings", r#"{"model":"auto","input":["a","b"]}"#),
    ];
    for (path, body) in cases {
        let miss = send(&h, path, body).await;
        let hit = send(&h, path, body).await;
        assert_eq!(value(&miss, "x-switchyard-cache"), "miss", "{body}");
        assert_eq!(value(&hit, "x-switchyard-cache"), "hit", "{body}");
        for name in PROMISED {
            assert!(!value(&miss, name).is_empty(), "miss lacks {name}: {body}");
            assert!(!value(&hit, name).is_empty(), "hit lacks {name}: {body}");
        }
        // the same route and the same count; a hit made no upstream attempt
        for name in [
            "x-switchyard-model",
            "x-switchyard-provider",
            "x-switchyard-complexity",
            "x-switchyard-rule",
            "x-switchyard-policy",
            "x-switchyard-prompt-tokens",
        ] {
            assert_eq!(value(&miss, name), value(&hit, name), "{name}: {body}");
        }
        assert_eq!(value(&miss, "x-switchyard-attempts"), "1", "{body}");
        assert_eq!(value(&hit, "x-switchyard-attempts"), "0", "{body}");
        assert_eq!(value(&hit, "x-switchyard-failovers"), "0", "{body}");
    }
}
