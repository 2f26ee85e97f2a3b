//! End-to-end tests of the sim's normal answers and control surface, over HTTP with reqwest.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub(super) async fn sim() -> SimUpstream {
    spawn(SimSettings::fast("test-sim", ["m1", "m2"]))
        .await
        .unwrap()
}

pub(super) fn chat_body(stream: bool) -> Value {
    json!({
        "model": "m1",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Explain routing, please!"}
        ]
    })
}

pub(super) async fn post(
    client: &reqwest::Client,
    up: &SimUpstream,
    body: &Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut req = client
        .post(format!("{}/chat/completions", up.base_url()))
        .json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap()
}

/// Splits an SSE body into its `data:` payloads.
pub(super) fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .expect("every event is a data line")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn ok_non_stream_has_openai_shape() {
    let up = sim().await;
    let resp = post(&client(), &up, &chat_body(false), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: Value = resp.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-sim-"));
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "m1");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["finish_reason"], "stop");
    let content = choice["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("[m1] Here is an answer about Explain routing please:"),
        "{content}"
    );
    assert_eq!(content.split_whitespace().count(), 16);
    // "Be brief." = 9 chars → 3 + 4; "Explain routing, please!" = 24 chars → 6 + 4.
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 17, "completion_tokens": 16, "total_tokens": 33})
    );
    assert_eq!(up.control().calls(), 1);
}

#[tokio::test]
async fn max_tokens_caps_reply_with_length_finish() {
    let up = sim().await;
    let mut body = chat_body(false);
    body["max_completion_tokens"] = json!(5);
    let v: Value = post(&client(), &up, &body, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        5
    );
}

#[tokio::test]
async fn stream_has_role_words_finish_and_done() {
    let up = sim().await;
    let c = client();
    let plain: Value = post(&c, &up, &chat_body(false), None)
        .await
        .json()
        .await
        .unwrap();
    let resp = post(&c, &up, &chat_body(true), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = sse_data(&resp.text().await.unwrap());
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks.len(), 1 + 16 + 1);
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let mut text = String::new();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], chunks[0]["id"]);
        assert_eq!(c["model"], "m1");
        assert!(c.get("usage").is_none());
        if let Some(t) = c["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
    }
    let last = &chunks[chunks.len() - 1]["choices"][0];
    assert_eq!(last["delta"], json!({}));
    assert_eq!(last["finish_reason"], "stop");
    assert!(chunks[1]["choices"][0]["finish_reason"].is_null());
    // Deterministic: the streamed text equals the non-streamed answer to the same prompt.
    assert_eq!(
        text,
        plain["choices"][0]["message"]["content"].as_str().unwrap()
    );
}

#[tokio::test]
async fn stream_include_usage_sends_usage_chunk_before_done() {
    let up = sim().await;
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    body["max_tokens"] = json!(3);
    let text = post(&client(), &up, &body, None)
        .await
        .text()
        .await
        .unwrap();
    let events = sse_data(&text);
    assert_eq!(events.len(), 1 + 3 + 1 + 1 + 1);
    assert_eq!(events[events.len() - 1], "[DONE]");
    let usage_chunk: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"],
        json!({"prompt_tokens": 17, "completion_tokens": 3, "total_tokens": 20})
    );
    let finish: Value = serde_json::from_str(&events[events.len() - 3]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    assert!(finish["usage"].is_null() && finish.get("usage").is_some());
}

#[tokio::test]
async fn script_runs_in_order_then_default() {
    let up = sim().await;
    let ctl = up.control();
    ctl.push_script([
        Behavior::RateLimited {
            retry_after_secs: 1,
        },
        Behavior::Status {
            status: 500,
            body: json!({"error": {"message": "x"}}),
        },
    ]);
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            post(&c, &up, &chat_body(false), Some("k"))
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [429, 500, 200, 200]);
    ctl.set_behavior(Behavior::Status {
        status: 503,
        body: json!({}),
    });
    assert_eq!(post(&c, &up, &chat_body(false), None).await.status(), 503);
    let rec = ctl.recorded();
    assert_eq!(rec.len(), 5);
    assert_eq!(
        rec[0].behavior,
        Behavior::RateLimited {
            retry_after_secs: 1
        }
    );
    assert_eq!(rec[2].behavior, Behavior::Ok);
    assert_eq!(rec[0].key.as_deref(), Some("k"));
    assert_eq!(rec[4].key, None);
    assert_eq!(rec[0].model, "m1");
    assert!(!rec[0].stream);
    assert_eq!(rec[0].body, chat_body(false));
}

#[tokio::test]
async fn key_check_rejects_missing_and_wrong_keys() {
    let mut settings = SimSettings::fast("keyed", ["m1"]);
    settings.keys = Some(vec!["sk-good".into()]);
    let up = spawn(settings).await.unwrap();
    up.control().push_script([Behavior::RateLimited {
        retry_after_secs: 1,
    }]);
    let c = client();
    for key in [None, Some("sk-bad")] {
        let resp = post(&c, &up, &chat_body(false), key).await;
        assert_eq!(resp.status(), 401);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["code"], "invalid_api_key");
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
    // Rejected calls did not consume the script.
    assert_eq!(
        post(&c, &up, &chat_body(false), Some("sk-good"))
            .await
            .status(),
        429
    );
    assert_eq!(
        post(&c, &up, &chat_body(false), Some("sk-good"))
            .await
            .status(),
        200
    );
    let models = c
        .get(format!("{}/models", up.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 401);
    let keys: Vec<_> = up.control().recorded().into_iter().map(|r| r.key).collect();
    assert_eq!(
        keys,
        [
            None,
            Some("sk-bad".into()),
            Some("sk-good".into()),
            Some("sk-good".into())
        ]
    );
    assert!(matches!(
        up.control().recorded()[0].behavior,
        Behavior::Status { status: 401, .. }
    ));
}

#[tokio::test]
async fn unknown_model_and_bad_requests_are_rejected() {
    let up = sim().await;
    let c = client();
    let mut body = chat_body(false);
    body["model"] = json!("gpt-nope");
    let resp = post(&c, &up, &body, None).await;
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "model_not_found");
    assert!(v["error"]["message"].as_str().unwrap().contains("gpt-nope"));

    let resp = c
        .post(format!("{}/chat/completions", up.base_url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");

    let resp = post(&c, &up, &json!({"model": "m1"}), None).await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["param"], "messages");
    assert_eq!(v["error"]["code"], "missing_required_parameter");

    assert_eq!(up.control().calls(), 3);
    assert_eq!(up.control().recorded()[1].body, Value::Null);
}

#[tokio::test]
async fn calls_count_and_reset() {
    let up = sim().await;
    let ctl = up.control();
    let c = client();
    for stream in [false, true, false] {
        post(&c, &up, &chat_body(stream), None)
            .await
            .bytes()
            .await
            .unwrap();
    }
    assert_eq!(ctl.calls(), 3);
    assert_eq!(ctl.recorded().len(), 3);
    ctl.push_script([Behavior::Status {
        status: 500,
        body: json!({}),
    }]);
    ctl.reset();
    assert_eq!(ctl.calls(), 0);
    assert!(ctl.recorded().is_empty());
    // The script was cleared too, so the next call succeeds.
    assert_eq!(post(&c, &up, &chat_body(true), None).await.status(), 200);
    assert_eq!(ctl.calls(), 1);
    assert!(ctl.recorded()[0].stream);
}

#[test]
fn record_is_bounded() {
    let ctl = SimControl::default();
    for i in 0..behavior::RECORD_LIMIT + 5 {
        ctl.register(None, format!("m{i}"), false, Value::Null, None);
    }
    let rec = ctl.recorded();
    assert_eq!(rec.len(), behavior::RECORD_LIMIT);
    assert_eq!(rec[0].model, "m5");
    assert_eq!(ctl.calls(), behavior::RECORD_LIMIT + 5);
}

#[tokio::test]
async fn models_health_and_unknown_path() {
    let up = sim().await;
    let c = client();
    let v: Value = c
        .get(format!("{}/models", up.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][1]["id"], "m2");
    assert_eq!(v["data"][0]["object"], "model");
    let h: Value = c
        .get(format!("http://{}/health", up.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let resp = c
        .get(format!("{}/nope", up.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.json::<Value>().await.unwrap()["error"]["message"].is_string());
}

#[tokio::test]
async fn answers_carry_the_keys_quota_headers_on_every_openai_endpoint() {
    let mut settings = SimSettings::fast("quota-sim", ["m1"]);
    settings.key_rpm = Some(600);
    settings.key_tpm = Some(10_000);
    let up = spawn(settings).await.unwrap();
    let c = client();
    let remaining = |r: &reqwest::Response, name: &str| -> u64 {
        r.headers()[name].to_str().unwrap().parse().unwrap()
    };
    let chat = post(&c, &up, &chat_body(false), Some("k1")).await;
    assert_eq!(chat.headers()["x-ratelimit-limit-requests"], "600");
    assert_eq!(remaining(&chat, "x-ratelimit-remaining-requests"), 599);
    let mut left = remaining(&chat, "x-ratelimit-remaining-tokens");
    assert!(left < 10_000);
    for (path, body) in [
        ("embeddings", json!({"model": "m1", "input": "hello"})),
        ("completions", json!({"model": "m1", "prompt": "hello"})),
    ] {
        let r = c
            .post(format!("{}/{path}", up.base_url()))
            .bearer_auth("k1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-ratelimit-limit-tokens"], "10000", "{path}");
        let now = remaining(&r, "x-ratelimit-remaining-tokens");
        assert!(now < left, "{path}: the key's tokens go down");
        left = now;
    }
    let other = post(&c, &up, &chat_body(false), Some("k2")).await;
    assert_eq!(
        remaining(&other, "x-ratelimit-remaining-requests"),
        599,
        "per key"
    );
    let plain = post(&c, &sim().await, &chat_body(false), Some("k1")).await;
    assert!(
        plain.headers().get("x-ratelimit-limit-requests").is_none(),
        "off by default"
    );
}
