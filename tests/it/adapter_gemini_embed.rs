//! Gemini embeddings (`batchEmbedContents`) through the real router, against the Gemini-wire sim.

use crate::common::{assert_openai_error, Harness, Upstream};
use serde_json::{json, Value};
use switchyard::sim::{spawn_gemini, Behavior, SimControl, SimSettings, SimUpstream};
use switchyard::testing::Encoding;

/// Gemini provider `g` (embedding model `gem-embed`, $0.15 per 1M input tokens) first, then an
/// OpenAI-wire embedding model `b/b-emb`; `embed` routes to that group in order.
struct Setup {
    h: Harness,
    gemini: SimUpstream,
}

impl Setup {
    fn g(&self) -> SimControl {
        self.gemini.control()
    }

    async fn embed(&self, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
        let (status, headers, reply) = self
            .h
            .post_raw("/v1/embeddings", serde_json::to_vec(&body).unwrap())
            .await;
        (status.as_u16(), headers, reply)
    }
}

const POLICY: &str = r#"
name: default
aliases: [auto, embed]
baseline: b/b-1
rules:
  - name: vectors
    when: {endpoint: embeddings}
    route: [g/gem-embed, b/b-emb]
  - name: text
    route: [b/b-1]
"#;

async fn setup() -> Setup {
    let gemini = spawn_gemini(SimSettings::fast("g", ["gem-embed"]))
        .await
        .expect("spawn gemini sim");
    let url = format!("http://{}/v1beta", gemini.addr());
    let h = Harness::builder(vec![
        Upstream::new("g", &["gem-embed"])
            .price("gem-embed", 0.15, 0.0)
            .endpoints("gem-embed", "[embeddings]")
            .keys(&["gk-1"])
            .base_url(&url)
            .wire("gemini"),
        Upstream::new("b", &["b-1", "b-emb"])
            .price("b-emb", 0.5, 0.0)
            .endpoints("b-emb", "[embeddings]"),
    ])
    .policy(POLICY)
    .start()
    .await;
    Setup { h, gemini }
}

fn vectors(reply: &Value) -> Vec<Vec<f64>> {
    reply["data"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!(d["index"], i, "in input order");
            assert_eq!(d["object"], "embedding");
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn string_input_is_one_batch_request_with_the_key_in_a_header() {
    let s = setup().await;
    let (status, headers, reply) = s
        .embed(json!({"model": "g/gem-embed", "input": "hello gemini"}))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(headers["x-switchyard-model"], "g/gem-embed");
    assert_eq!(reply["object"], "list");
    assert_eq!(reply["model"], "gem-embed");
    let v = vectors(&reply);
    assert_eq!((v.len(), v[0].len()), (1, 16), "sim default length");
    let call = &s.g().recorded()[0];
    assert_eq!(call.key.as_deref(), Some("gk-1"));
    assert_eq!(call.model, "gem-embed");
    assert_eq!(
        call.body,
        json!({"requests": [{"model": "models/gem-embed", "content": {"parts": [{"text": "hello gemini"}]}}]})
    );
}

#[tokio::test]
async fn array_input_keeps_order_and_dimensions_become_output_dimensionality() {
    let s = setup().await;
    let (status, _, reply) = s
        .embed(
            json!({"model": "g/gem-embed", "input": ["alpha", "beta", "alpha"], "dimensions": 5}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let v = vectors(&reply);
    assert_eq!(v.len(), 3);
    assert!(v.iter().all(|x| x.len() == 5), "dimensions honoured");
    assert_eq!(v[0], v[2], "same text, same vector");
    assert_ne!(v[0], v[1]);
    let sent = &s.g().recorded()[0].body["requests"];
    assert_eq!(sent[1]["content"]["parts"][0]["text"], "beta");
    assert_eq!(sent[2]["outputDimensionality"], 5);
    // the vector of "beta" alone is the second one of the batch
    let (_, _, alone) = s
        .embed(json!({"model": "g/gem-embed", "input": "beta", "dimensions": 5}))
        .await;
    assert_eq!(vectors(&alone)[0], v[1]);
}

#[tokio::test]
async fn base64_is_the_f32_little_endian_vector() {
    let s = setup().await;
    let input = json!({"model": "g/gem-embed", "input": ["one", "two"], "dimensions": 3});
    let (_, _, floats) = s.embed(input.clone()).await;
    let mut b64 = input;
    b64["encoding_format"] = json!("base64");
    let (status, _, encoded) = s.embed(b64).await;
    assert_eq!(status, 200, "{encoded}");
    let want: Vec<u8> = vectors(&floats)[1]
        .iter()
        .flat_map(|x| (*x as f32).to_le_bytes())
        .collect();
    let text = encoded["data"][1]["embedding"].as_str().unwrap();
    assert_eq!(decode_base64(text), want);
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .map(|c| if *c == b'=' { 0 } else { u32::from(val(*c)) })
            .fold(0u32, |acc, v| (acc << 6) | v);
        let keep = chunk.iter().filter(|c| **c != b'=').count() - 1;
        out.extend_from_slice(&n.to_be_bytes()[1..=keep]);
    }
    out
}

#[tokio::test]
async fn ledger_prices_the_prompt_tokens_the_router_counted() {
    let s = setup().await;
    let (status, _, reply) = s
        .embed(json!({"model": "g/gem-embed", "input": ["the quick brown fox", "jumps over the lazy dog"]}))
        .await;
    assert_eq!(status, 200, "{reply}");
    let lines = s.h.ledger_lines().await;
    let line = &lines[0];
    assert_eq!(line.endpoint, "embeddings");
    assert_eq!(line.model.as_deref(), Some("g/gem-embed"));
    let counted = Encoding::for_model("gem-embed", None)
        .count("the quick brown fox\njumps over the lazy dog");
    assert_eq!(line.prompt_tokens, counted, "the router's own count");
    // Gemini reports no usage: the answer carries the router's count, as OpenAI clients expect
    assert_eq!(reply["usage"]["prompt_tokens"], counted);
    assert_eq!(reply["usage"]["total_tokens"], counted);
    assert_eq!(line.completion_tokens, 0);
    assert!(line.tokens_estimated);
    let expected = line.prompt_tokens as f64 * 0.15 / 1e6;
    assert!(line.cost_usd > 0.0);
    assert!(
        (line.cost_usd - expected).abs() < 1e-12,
        "{}",
        line.cost_usd
    );
}

#[tokio::test]
async fn upstream_400_comes_back_openai_shaped_without_failover() {
    let s = setup().await;
    s.g().set_behavior(Behavior::Status {
        status: 400,
        body: json!({"error": {"code": 400, "message": "text too long", "status": "INVALID_ARGUMENT"}}),
    });
    let (status, _, reply) = s.embed(json!({"model": "embed", "input": "x"})).await;
    assert_eq!(status, 400);
    let err = assert_openai_error(&reply);
    assert_eq!(err["message"], "text too long");
    assert_eq!(err["code"], "invalid_argument");
    assert_eq!(s.h.calls("b"), 0, "a client error is not failed over");
}

#[tokio::test]
async fn server_errors_and_rate_limits_fail_over_to_the_openai_wire_model() {
    let s = setup().await;
    s.g().set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"code": 500, "message": "internal", "status": "INTERNAL"}}),
    });
    let (status, headers, reply) = s
        .embed(json!({"model": "embed", "input": ["a", "b"], "dimensions": 4}))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(headers["x-switchyard-model"], "b/b-emb");
    assert_eq!(vectors(&reply).len(), 2);
    s.g().set_behavior(Behavior::RateLimited {
        retry_after_secs: 7,
    });
    let (status, headers, _) = s.embed(json!({"model": "embed", "input": "c"})).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-switchyard-model"], "b/b-emb");
    let lines = s.h.ledger_lines().await;
    assert!(lines
        .iter()
        .all(|l| l.endpoint == "embeddings" && l.cost_usd > 0.0));
}

#[tokio::test]
async fn token_id_input_is_a_clear_400_before_any_upstream_call() {
    let s = setup().await;
    for input in [json!([1, 2, 3]), json!([[4, 5], [6]])] {
        let (status, _, reply) = s
            .embed(json!({"model": "g/gem-embed", "input": input}))
            .await;
        assert_eq!(status, 400);
        let err = assert_openai_error(&reply);
        assert_eq!(err["param"], "input");
        assert!(err["message"].as_str().unwrap().contains("text only"));
    }
    assert!(s.g().recorded().is_empty());
}

#[tokio::test]
async fn sim_serves_single_embed_content_and_validates() {
    let s = setup().await;
    let url = format!(
        "http://{}/v1beta/models/gem-embed:embedContent",
        s.gemini.addr()
    );
    let client = reqwest::Client::new();
    let one: Value = client
        .post(&url)
        .json(&json!({"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 3}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["embedding"]["values"].as_array().unwrap().len(), 3);
    let resp = client
        .post(&url)
        .json(&json!({"content": {"parts": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = client
        .post(url.replace("gem-embed", "nope"))
        .json(&json!({"content": {"parts": [{"text": "hi"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}
