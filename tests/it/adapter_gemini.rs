//! Conformance of the native Gemini adapter against the Gemini-wire sim, through the real router.

use crate::common::{
    assert_openai_error, chat, chat_stream, header, policies, sse_data, Harness, Upstream,
};
use serde_json::{json, Value};
use switchyard::sim::{spawn_gemini, Behavior, SimControl, SimSettings, SimUpstream};

/// The router with a Gemini-wire provider `g` (model `gemini-test`) and an OpenAI-compatible `b`.
struct Setup {
    h: Harness,
    gemini: SimUpstream,
}

impl Setup {
    fn g(&self) -> SimControl {
        self.gemini.control()
    }
}

/// `g` is rendered by the shared harness as a Gemini-wire provider pointed at the Gemini sim
/// (the OpenAI sim the harness also starts for `g` is never called).
async fn setup(g: Upstream, route: &str) -> Setup {
    let gemini = spawn_gemini(SimSettings::fast("g", ["gemini-test"]))
        .await
        .expect("spawn gemini sim");
    let url = format!("http://{}/v1beta", gemini.addr());
    let h = Harness::builder(vec![
        g.base_url(&url).wire("gemini"),
        Upstream::new("b", &["b-1"]),
    ])
    .policy(policies::route_all("g/gemini-test", route))
    .start()
    .await;
    Setup { h, gemini }
}

async fn gemini_only() -> Setup {
    setup(Upstream::new("g", &["gemini-test"]), "[g/gemini-test]").await
}

async fn with_fallback(attempts: u32) -> Setup {
    setup(
        Upstream::new("g", &["gemini-test"]).attempts(attempts),
        "[g/gemini-test, b/b-1]",
    )
    .await
}

fn gemini_error(code: u16, status: &str) -> Behavior {
    Behavior::Status {
        status: code,
        body: json!({"error": {"code": code, "message": format!("gemini says {status}"), "status": status}}),
    }
}

/// A scripted 200 answer with this Gemini body.
fn gemini_answer(body: Value) -> Behavior {
    Behavior::Status { status: 200, body }
}

fn last_body(c: &SimControl) -> Value {
    c.recorded().last().expect("a recorded call").body.clone()
}

fn finish_reasons(events: &[String]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .flat_map(|v| v["choices"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["finish_reason"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn plain_chat_is_translated_both_ways() {
    let s = gemini_only().await;
    let (status, headers, body) = s.h.post_chat(chat("auto", "hello there")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gemini-test");
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        text.starts_with("[gemini-test] Here is an answer about hello there:"),
        "{text}"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(header(&headers, "x-switchyard-model"), "g/gemini-test");
    let sent = last_body(&s.g());
    assert_eq!(
        sent["contents"],
        json!([{"role": "user", "parts": [{"text": "hello there"}]}])
    );
    assert!(sent.get("model").is_none() && sent.get("messages").is_none());
}

#[tokio::test]
async fn multi_turn_and_system_prompt_map_roles() {
    let s = gemini_only().await;
    let req = json!({"model": "auto", "temperature": 0.2, "stop": ["END"], "messages": [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "how are you"}
    ]});
    let (status, _, body) = s.h.post_chat(req).await;
    assert_eq!(status, 200, "{body}");
    let sent = last_body(&s.g());
    assert_eq!(
        sent["systemInstruction"],
        json!({"parts": [{"text": "Be brief"}]})
    );
    let roles: Vec<&str> = sent["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "model", "user"]);
    assert_eq!(
        sent["generationConfig"],
        json!({"temperature": 0.2, "stopSequences": ["END"]})
    );
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}}])
}

#[tokio::test]
async fn tools_round_trip() {
    let s = gemini_only().await;
    let first = json!({"model": "auto", "tools": weather_tools(), "tool_choice": "required",
        "messages": [{"role": "user", "content": "weather in Paris?"}]});
    let (status, _, body) = s.h.post_chat(first).await;
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"sim\"}");
    let sent = last_body(&s.g());
    assert_eq!(
        sent["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY"}})
    );
    let decl = &sent["tools"][0]["functionDeclarations"][0];
    assert_eq!(decl["name"], "get_weather");
    assert!(decl["parameters"].get("additionalProperties").is_none());

    let id = call["id"].as_str().unwrap();
    let second = json!({"model": "auto", "tools": weather_tools(), "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": "{\"temp_c\": 21}"}
    ]});
    let (status, _, body) = s.h.post_chat(second).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["choices"][0]["message"]["content"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    let sent = last_body(&s.g());
    assert_eq!(
        sent["contents"][1]["parts"][0]["functionCall"],
        json!({"name": "get_weather", "args": {"city": "sim"}})
    );
    assert_eq!(sent["contents"][2]["role"], "user");
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"],
        json!({"name": "get_weather", "response": {"temp_c": 21}})
    );
}

#[tokio::test]
async fn safety_blocks_become_content_filter() {
    let s = gemini_only().await;
    s.g().push_script([
        gemini_answer(json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}})),
        gemini_answer(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "I"}]}, "finishReason": "SAFETY", "index": 0}]})),
        gemini_answer(json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}})),
    ]);
    let (status, _, body) = s.h.post_chat(chat("auto", "bad")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter");
    assert_eq!(body["choices"][0]["message"]["content"], Value::Null);
    let (_, _, body) = s.h.post_chat(chat("auto", "bad")).await;
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter");
    let (status, _, text) = s.h.stream_chat(chat_stream("auto", "bad", false)).await;
    assert_eq!(status, 200);
    assert_eq!(finish_reasons(&sse_data(&text)), ["content_filter"]);
}

#[tokio::test]
async fn usage_with_cached_tokens_reaches_answer_and_ledger() {
    let s = gemini_only().await;
    s.g().push_script([gemini_answer(json!({
        "candidates": [{"content": {"role": "model", "parts": [{"text": "cached answer"}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 7, "totalTokenCount": 127, "cachedContentTokenCount": 100}
    }))]);
    let (status, _, body) = s.h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127, "prompt_tokens_details": {"cached_tokens": 100}})
    );
    let lines = s.h.ledger_lines().await;
    let rec = lines.last().unwrap();
    assert_eq!(
        (
            rec.prompt_tokens,
            rec.completion_tokens,
            rec.tokens_estimated
        ),
        (120, 7, false)
    );
    assert_eq!(
        rec.cached_tokens, 100,
        "cached prompt tokens reach the ledger"
    );
    assert_eq!(rec.provider.as_deref(), Some("g"));
}

#[tokio::test]
async fn upstream_400_passes_through_openai_shaped_without_retry() {
    let s = with_fallback(3).await;
    s.g().set_behavior(gemini_error(400, "INVALID_ARGUMENT"));
    let (status, _, body) = s.h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 400);
    let err = assert_openai_error(&body);
    assert_eq!(err["message"], "gemini says INVALID_ARGUMENT");
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["code"], "invalid_argument");
    assert_eq!((s.g().calls(), s.h.calls("b")), (1, 0));
}

#[tokio::test]
async fn a_429_on_the_only_key_fails_over() {
    let s = with_fallback(1).await;
    s.g().set_behavior(Behavior::RateLimited {
        retry_after_secs: 5,
    });
    let (status, headers, _) = s.h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
}

#[tokio::test]
async fn malformed_or_cut_answers_fail_over() {
    let s = with_fallback(1).await;
    s.g().set_behavior(Behavior::Malformed);
    let (status, headers, _) = s.h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    let (status, headers, _) = s.h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
    s.g().set_behavior(Behavior::CutStreamAfter { chunks: 0 });
    let (status, headers, _) = s.h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "b/b-1");
}

#[tokio::test]
async fn malformed_without_fallback_is_a_clear_error() {
    let s = gemini_only().await;
    s.g().set_behavior(Behavior::Malformed);
    let (status, _, body) = s.h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 502);
    assert!(assert_openai_error(&body)["message"]
        .as_str()
        .unwrap()
        .contains("malformed"));
    s.g().set_behavior(Behavior::CutStreamAfter { chunks: 3 });
    let (status, _, text) = s.h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200);
    let events = sse_data(&text);
    assert_ne!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert!(
        text.contains("error"),
        "a cut stream ends with an error event: {text}"
    );
}
