//! The response cache through the router: which requests it answers, what a hit sends (whole
//! or replayed as SSE), what the ledger says a hit saved, and what is never stored.

use std::time::{Duration, Instant};

use crate::common::{chat_stream, header, sse_content, sse_data, Harness, Upstream};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard::sim::{spawn_gemini, Behavior, SimSettings};
use switchyard::testing::{cache_key, Endpoint, Stored};

// USD per 1M tokens: small 1 / 2 (answers), big 10 / 20 (baseline), emb 0.5 / 0.
const POLICY: &str = r#"
name: default
aliases: [auto, fast]
baseline: up/big
rules:
  - name: vectors
    when: {endpoint: embeddings}
    route: [up/emb]
  - name: text
    route: [up/small]
"#;

async fn harness() -> Harness {
    let up = Upstream::new("up", &["small", "big", "emb"])
        .price("big", 10.0, 20.0)
        .price("emb", 0.5, 0.0)
        .endpoints("emb", "[embeddings]");
    Harness::builder(vec![up]).policy(POLICY).start().await
}

/// POSTs `body` (JSON text, sent as is) to `path` with extra headers; the raw answer.
async fn send(
    h: &Harness,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Bytes) {
    let mut req = h
        .client
        .post(h.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("router answers");
    let (status, hdrs) = (resp.status(), resp.headers().clone());
    (status, hdrs, resp.bytes().await.expect("body"))
}

async fn chat(h: &Harness, body: &str, headers: &[(&str, &str)]) -> (String, Bytes) {
    let (status, hdrs, bytes) = send(h, "/v1/chat/completions", body, headers).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    (header(&hdrs, "x-switchyard-cache"), bytes)
}

/// The answer stored for `body` on `endpoint`, if any (the router's key: the route follows
/// from the body's `model`, the tenant is anonymous in open mode).
async fn stored(h: &Harness, endpoint: Endpoint, body: &str) -> Option<Stored> {
    let key = cache_key(&h.state, endpoint, body.as_bytes(), None).expect("a cacheable request");
    h.state.cache.get(&key).await.map(|e| e.reply.clone())
}

/// Waits until the background store of `body` has landed and satisfies `ok` (panics after 5 s).
async fn wait_stored(h: &Harness, endpoint: Endpoint, body: &str, ok: impl Fn(&Stored) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !stored(h, endpoint, body).await.is_some_and(|s| ok(&s)) {
        assert!(Instant::now() < deadline, "never stored: {body}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn wait_chat_stored(h: &Harness, body: &str) {
    wait_stored(h, Endpoint::Chat, body, |_| true).await;
}

const ZERO: &str =
    r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"what is a router"}]}"#;

#[tokio::test]
async fn temperature_zero_hits_with_the_same_bytes_and_the_ledger_records_the_saving() {
    let h = harness().await;
    let (first, miss_body) = chat(&h, ZERO, &[]).await;
    assert_eq!(first, "miss");
    assert_eq!(h.calls("up"), 1);
    wait_chat_stored(&h, ZERO).await;
    let (second, hit_body) = chat(&h, ZERO, &[]).await;
    assert_eq!(second, "hit");
    assert_eq!(h.calls("up"), 1, "a hit must not reach the upstream");
    assert_eq!(hit_body, miss_body, "a hit sends the stored bytes");

    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 2);
    let (miss, hit) = (&lines[0], &lines[1]);
    assert!(
        !miss.cache_hit && miss.billed && miss.cost_usd > 0.0,
        "{miss:?}"
    );
    assert!(hit.cache_hit, "{hit:?}");
    assert!(!hit.billed);
    assert_eq!(hit.cost_usd, 0.0);
    assert_eq!(hit.status, 200);
    assert_eq!(hit.model.as_deref(), Some("up/small"));
    assert_eq!(
        (hit.prompt_tokens, hit.completion_tokens),
        (miss.prompt_tokens, miss.completion_tokens)
    );
    assert!(hit.baseline_cost_usd > 0.0);
    assert_eq!(hit.saving_usd, hit.baseline_cost_usd);
    assert_eq!(hit.baseline_cost_usd, miss.baseline_cost_usd);
    assert!(hit.cache_saving_usd > 0.0);
    assert!(
        (hit.cache_saving_usd - miss.cost_usd).abs() < 1e-12,
        "a hit saves what the miss cost: {} vs {}",
        hit.cache_saving_usd,
        miss.cost_usd
    );
}

#[tokio::test]
async fn sampled_requests_bypass_unless_opted_in_and_headers_opt_out() {
    let h = harness().await;
    let warm =
        r#"{"model":"auto","temperature":0.7,"messages":[{"role":"user","content":"tell me"}]}"#;
    for n in 1..=2 {
        assert_eq!(chat(&h, warm, &[]).await.0, "bypass");
        assert_eq!(h.calls("up"), n);
    }
    // `x-switchyard-cache: on` makes the sampled request cacheable
    let on = [("x-switchyard-cache", "on")];
    assert_eq!(chat(&h, warm, &on).await.0, "miss");
    assert_eq!(h.calls("up"), 3);
    wait_chat_stored(&h, warm).await;
    let (hit, _) = chat(&h, warm, &on).await;
    assert_eq!(hit, "hit");
    assert_eq!(h.calls("up"), 3);

    // an entry exists for ZERO; `off` and `no-store` go to the upstream anyway
    chat(&h, ZERO, &[]).await;
    wait_chat_stored(&h, ZERO).await;
    let calls = h.calls("up");
    assert_eq!(chat(&h, ZERO, &[]).await.0, "hit");
    assert_eq!(
        chat(&h, ZERO, &[("x-switchyard-cache", "off")]).await.0,
        "bypass"
    );
    assert_eq!(
        chat(&h, ZERO, &[("cache-control", "no-store")]).await.0,
        "bypass"
    );
    assert_eq!(h.calls("up"), calls + 2);
}

#[tokio::test]
async fn no_cache_fetches_a_fresh_answer_and_stores_it() {
    let h = harness().await;
    let (_, old) = chat(&h, ZERO, &[]).await;
    wait_chat_stored(&h, ZERO).await;
    let (state, fresh) = chat(&h, ZERO, &[("cache-control", "no-cache")]).await;
    assert_eq!(state, "miss");
    assert_eq!(h.calls("up"), 2, "no-cache skips the lookup");
    assert_ne!(fresh, old, "a fresh answer (new completion id)");
    // the fresh answer replaces the old one
    let want = fresh.clone();
    wait_stored(&h, Endpoint::Chat, ZERO, |s| {
        *s == Stored::Full(want.clone())
    })
    .await;
    let (state, again) = chat(&h, ZERO, &[]).await;
    assert_eq!((state.as_str(), &again), ("hit", &fresh));
    assert_eq!(h.calls("up"), 2);
}

#[tokio::test]
async fn the_key_ignores_field_order_and_user_but_not_messages_or_route() {
    let h = harness().await;
    let base = r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"order"}]}"#;
    let (_, body) = chat(&h, base, &[]).await;
    wait_chat_stored(&h, base).await;
    let same = [
        r#"{"messages":[{"content":"order","role":"user"}],"temperature":0.0,"model":"auto"}"#,
        r#"{"user":"bob","model":"auto","messages":[{"role":"user","content":"order"}],"temperature":0}"#,
        // another alias of the same policy takes the same route
        r#"{"model":"fast","temperature":0,"messages":[{"role":"user","content":"order"}]}"#,
    ];
    for b in same {
        assert_eq!(
            chat(&h, b, &[]).await,
            ("hit".to_owned(), body.clone()),
            "{b}"
        );
    }
    assert_eq!(h.calls("up"), 1);
    let different = [
        r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"order!"}]}"#,
        // the model itself is another route than the policy that picks it
        r#"{"model":"up/small","temperature":0,"messages":[{"role":"user","content":"order"}]}"#,
        r#"{"model":"auto","temperature":0,"max_tokens":3,"messages":[{"role":"user","content":"order"}]}"#,
    ];
    for (i, b) in different.iter().enumerate() {
        assert_eq!(chat(&h, b, &[]).await.0, "miss", "{b}");
        assert_eq!(h.calls("up"), 2 + i);
    }
}

#[tokio::test]
async fn a_streamed_answer_is_replayed_as_sse_and_kept_apart_from_a_whole_one() {
    let h = harness().await;
    let body = |usage: bool| {
        let mut b = chat_stream("auto", "stream me a story", usage);
        b["temperature"] = json!(0);
        b
    };
    let (status, hdrs, first) = h.stream_chat(body(false)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&hdrs, "x-switchyard-cache"), "miss");
    assert_eq!(h.calls("up"), 1);
    let content = sse_content(&sse_data(&first));
    assert!(!content.is_empty());
    wait_chat_stored(&h, &body(false).to_string()).await;

    for usage in [true, false] {
        let (status, hdrs, replay) = h.stream_chat(body(usage)).await;
        assert_eq!(status, 200);
        assert_eq!(header(&hdrs, "x-switchyard-cache"), "hit");
        assert!(header(&hdrs, "content-type").starts_with("text/event-stream"));
        let events = sse_data(&replay);
        assert_eq!(sse_content(&events), content);
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        let usage_chunks: Vec<Value> = events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .filter(|v| v["usage"].is_object())
            .collect();
        if usage {
            assert_eq!(usage_chunks.len(), 1, "{replay}");
            assert!(usage_chunks[0]["usage"]["completion_tokens"].as_u64() > Some(0));
        } else {
            assert!(usage_chunks.is_empty(), "{replay}");
            assert!(!replay.contains("\"usage\""), "{replay}");
            assert_eq!(replay, first, "the replay is what the miss streamed");
        }
    }
    assert_eq!(h.calls("up"), 1);
    let lines = h.ledger_lines().await;
    assert!(lines[1].cache_hit && lines[1].stream && !lines[1].billed);

    // the same body without `stream` is another entry
    let mut whole = body(false);
    whole.as_object_mut().unwrap().remove("stream");
    assert_eq!(chat(&h, &whole.to_string(), &[]).await.0, "miss");
    assert_eq!(h.calls("up"), 2);
}

#[tokio::test]
async fn failed_and_cut_answers_are_not_cached() {
    let h = harness().await;
    h.sim("up").push_script([Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "boom", "type": "server_error"}}),
    }]);
    let (status, hdrs, _) = send(&h, "/v1/chat/completions", ZERO, &[]).await;
    assert!(status.is_server_error(), "{status}");
    assert_eq!(header(&hdrs, "x-switchyard-cache"), "miss");

    // a stream cut mid-way must not be replayed as if whole
    let mut streamed = chat_stream("auto", "cut me off", false);
    streamed["temperature"] = json!(0);
    h.sim("up")
        .push_script([Behavior::CutStreamAfter { chunks: 2 }]);
    let (_, _, cut) = h.stream_chat(streamed.clone()).await;
    assert!(cut.contains("stream_interrupted"), "{cut}");

    // let a later store land first, so a wrongly stored failure would have landed too
    let other =
        r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"other"}]}"#;
    chat(&h, other, &[]).await;
    wait_chat_stored(&h, other).await;
    assert_eq!(h.calls("up"), 3);
    assert!(stored(&h, Endpoint::Chat, ZERO).await.is_none());
    assert!(stored(&h, Endpoint::Chat, &streamed.to_string())
        .await
        .is_none());

    assert_eq!(chat(&h, ZERO, &[]).await.0, "miss");
    let (_, hdrs, again) = h.stream_chat(streamed).await;
    assert_eq!(header(&hdrs, "x-switchyard-cache"), "miss");
    assert!(again.ends_with("data: [DONE]\n\n"), "{again}");
    assert_eq!(h.calls("up"), 5, "both went to the upstream again");
    wait_chat_stored(&h, ZERO).await;
    assert_eq!(chat(&h, ZERO, &[]).await.0, "hit");
    assert_eq!(h.calls("up"), 5);
}

#[tokio::test]
async fn identical_embeddings_hit() {
    let h = harness().await;
    let body = r#"{"model":"auto","input":["alpha","beta"]}"#;
    let (status, hdrs, first) = send(&h, "/v1/embeddings", body, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&hdrs, "x-switchyard-cache"), "miss");
    assert_eq!(header(&hdrs, "x-switchyard-model"), "up/emb");
    wait_stored(&h, Endpoint::Embeddings, body, |_| true).await;
    let (status, hdrs, second) = send(&h, "/v1/embeddings", body, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&hdrs, "x-switchyard-cache"), "hit");
    assert_eq!(second, first);
    assert_eq!(h.calls("up"), 1);
    let other = r#"{"model":"auto","input":["alpha","gamma"]}"#;
    let (_, hdrs, _) = send(&h, "/v1/embeddings", other, &[]).await;
    assert_eq!(header(&hdrs, "x-switchyard-cache"), "miss");
    assert_eq!(h.calls("up"), 2);
    let lines = h.ledger_lines().await;
    assert!(lines[1].cache_hit && lines[1].endpoint == "embeddings" && !lines[1].billed);
    assert!(lines[1].cache_saving_usd > 0.0);
}

#[tokio::test]
async fn a_hit_keeps_the_usage_the_router_counted_for_an_upstream_that_reported_none() {
    // Gemini embeddings report no usage; the router adds its own count, on hits too
    let gemini = spawn_gemini(SimSettings::fast("g", ["gem-embed"]))
        .await
        .expect("spawn gemini sim");
    let url = format!("http://{}/v1beta", gemini.addr());
    let up = Upstream::new("g", &["gem-embed"])
        .endpoints("gem-embed", "[embeddings]")
        .keys(&["gk-1"])
        .base_url(&url)
        .wire("gemini");
    let policy = "name: default\naliases: [auto]\nbaseline: g/gem-embed\nrules:\n  - name: v\n    route: [g/gem-embed]\n";
    let h = Harness::builder(vec![up]).policy(policy).start().await;
    let body = r#"{"model":"auto","input":"alpha"}"#;
    let (status, hdrs, first) = send(&h, "/v1/embeddings", body, &[]).await;
    assert_eq!(
        (
            status.as_u16(),
            header(&hdrs, "x-switchyard-cache").as_str()
        ),
        (200, "miss")
    );
    let usage = serde_json::from_slice::<Value>(&first).unwrap()["usage"].clone();
    assert!(usage["prompt_tokens"].as_u64() > Some(0), "{usage}");
    wait_stored(&h, Endpoint::Embeddings, body, |_| true).await;
    let (_, hdrs, second) = send(&h, "/v1/embeddings", body, &[]).await;
    assert_eq!(header(&hdrs, "x-switchyard-cache"), "hit");
    assert_eq!(second, first);
    assert_eq!(gemini.control().calls(), 1);
}
