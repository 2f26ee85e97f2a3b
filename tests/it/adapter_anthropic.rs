//! Conformance of the Anthropic Messages adapter, through the router, against an Anthropic-wire sim.

use crate::common::{
    assert_openai_error, chat, chat_stream, header, policies, sse_content, sse_data, Harness,
    Upstream,
};
use serde_json::{json, Value};
use switchyard::sim::{spawn_anthropic, Behavior, SimControl, SimSettings, SimUpstream};

/// An Anthropic-wire provider `name` served by a fresh Anthropic sim.
async fn anthropic(name: &str, models: &[&str]) -> (Upstream, SimUpstream) {
    let sim = spawn_anthropic(SimSettings::fast(name, models.iter().copied()))
        .await
        .expect("spawn anthropic sim");
    let upstream = Upstream::new(name, models)
        .base_url(&sim.base_url())
        .wire("anthropic");
    (upstream, sim)
}

fn policy(route: &str) -> String {
    policies::route_all("ant/claude-x", route)
}

/// A router with one Anthropic provider `ant` (model `claude-x`) and, when `fallback`, an
/// OpenAI-compatible provider `oa` (model `gpt-x`) as the second candidate.
async fn start(attempts: u32, keys: &[&str], fallback: bool) -> (Harness, SimControl, SimUpstream) {
    let (up, sim) = anthropic("ant", &["claude-x"]).await;
    let up = up.attempts(attempts).keys(keys);
    let mut ups = vec![up];
    let route = if fallback {
        ups.push(Upstream::new("oa", &["gpt-x"]));
        "[ant/claude-x, oa/gpt-x]"
    } else {
        "[ant/claude-x]"
    };
    let h = Harness::builder(ups).policy(policy(route)).start().await;
    (h, sim.control(), sim)
}

fn anthropic_error(status: u16, kind: &str) -> Behavior {
    Behavior::Status {
        status,
        body: json!({"type": "error", "error": {"type": kind, "message": format!("sim {kind}")}}),
    }
}

fn last_body(c: &SimControl) -> Value {
    c.recorded().last().expect("a call").body.clone()
}

#[tokio::test]
async fn plain_chat_with_system_prompt_and_usage() {
    let (h, c, _s) = start(1, &["k-ant"], false).await;
    let body = json!({"model": "auto", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello there router"}]});
    let (status, headers, v) = h.post_chat(body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(header(&headers, "x-switchyard-model"), "ant/claude-x");
    let sent = last_body(&c);
    assert_eq!(sent["system"], "You are terse.");
    assert_eq!(sent["max_tokens"], 4096);
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "hello there router"}]}])
    );
    assert_eq!(c.recorded()[0].key.as_deref(), Some("k-ant"));
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "claude-x");
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["role"], "assistant");
    assert!(
        msg["content"]
            .as_str()
            .unwrap()
            .starts_with("[claude-x] Here is"),
        "{v}"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // sim: user tokens as input, system tokens (ceil(14/4)+4 = 8) as cache reads
    let input = crate::common::sim_prompt_tokens(&["hello there router"]);
    assert_eq!(v["usage"]["prompt_tokens"], input + 8);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
    assert_eq!(v["usage"]["completion_tokens"], 16);
    let lines = h.ledger_lines().await;
    assert_eq!(lines[0].prompt_tokens, input + 8);
    assert_eq!(lines[0].completion_tokens, 16);
    assert_eq!(lines[0].cached_tokens, 8, "cache reads reach the ledger");
}

#[tokio::test]
async fn multi_turn_alternates_and_merges() {
    let (h, c, _s) = start(1, &[], false).await;
    let body = json!({"model": "auto", "messages": [
        {"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"}, {"role": "user", "content": "four"}]});
    let (status, _, v) = h.post_chat(body).await;
    assert_eq!(status, 200, "{v}");
    let m = last_body(&c)["messages"].clone();
    assert_eq!(m.as_array().unwrap().len(), 3, "{m}");
    assert_eq!(m[1]["role"], "assistant");
    assert_eq!(m[2]["content"][1]["text"], "four");
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "lookup", "description": "Looks up",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}])
}

#[tokio::test]
async fn tools_round_trip() {
    let (h, c, _s) = start(1, &[], false).await;
    let mut body = chat("auto", "find cheap flights");
    body["tools"] = tools();
    let (status, _, v) = h.post_chat(body.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(last_body(&c)["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = v["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "lookup");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["query"], "find cheap flights");
    let mut messages = body["messages"].as_array().unwrap().clone();
    messages.push(v["choices"][0]["message"].clone());
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "3 flights"}));
    body["messages"] = Value::Array(messages);
    let (status, _, v) = h.post_chat(body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let sent = last_body(&c);
    let use_block = &sent["messages"][1]["content"][0];
    assert_eq!(use_block["type"], "tool_use");
    assert_eq!(use_block["input"], args);
    let result = &sent["messages"][2]["content"][0];
    assert_eq!(result["type"], "tool_result");
    assert_eq!(result["tool_use_id"], call["id"]);
    assert_eq!(result["content"], "3 flights");
}

#[tokio::test]
async fn streaming_tool_call_assembles_arguments() {
    let (h, _c, _s) = start(1, &[], false).await;
    let mut body = chat_stream("auto", "weather in Oslo", false);
    body["tools"] = tools();
    let (status, _, text) = h.stream_chat(body).await;
    assert_eq!(status, 200);
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let mut args = String::new();
    let mut name = None;
    let mut finish = None;
    for e in events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
    {
        let ch = &e["choices"][0];
        if let Some(tc) = ch["delta"]["tool_calls"].as_array() {
            assert_eq!(tc[0]["index"], 0);
            if let Some(n) = tc[0]["function"]["name"].as_str() {
                name = Some(n.to_owned());
            }
            args.push_str(tc[0]["function"]["arguments"].as_str().unwrap_or(""));
        }
        if let Some(f) = ch["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
    }
    assert_eq!(name.as_deref(), Some("lookup"));
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"query": "weather in Oslo", "options": {"n": 1}})
    );
    assert_eq!(finish.as_deref(), Some("tool_calls"));
}

#[tokio::test]
async fn overloaded_alone_gives_a_clear_error() {
    let (h, c, _s) = start(2, &[], false).await;
    c.set_behavior(anthropic_error(529, "overloaded_error"));
    let (code, _, v) = h.post_chat(chat("auto", "hi")).await;
    assert_eq!(code, 502, "{v}");
    assert_openai_error(&v);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("503"),
        "{v}"
    );
}

#[tokio::test]
async fn malformed_and_cut_answers_fail_over() {
    for b in [Behavior::Malformed, Behavior::CutStreamAfter { chunks: 0 }] {
        let (h, c, _s) = start(1, &[], true).await;
        c.set_behavior(b.clone());
        let (code, headers, v) = h.post_chat(chat("auto", "hi")).await;
        assert_eq!(code, 200, "{b:?}: {v}");
        assert_eq!(header(&headers, "x-switchyard-model"), "oa/gpt-x");
        let (code, _, text) = h.stream_chat(chat_stream("auto", "hi", false)).await;
        assert_eq!(code, 200);
        assert!(
            sse_content(&sse_data(&text)).starts_with("[gpt-x]"),
            "{b:?}: {text}"
        );
    }
}
