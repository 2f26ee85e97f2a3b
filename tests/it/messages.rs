//! The Anthropic Messages API inbound (`/v1/messages`, `/v1/messages/count_tokens`): answers,
//! the event sequence, a tool round trip, token counts, Anthropic-shaped errors, and routing to
//! OpenAI-, Anthropic- and Gemini-wire candidates with failover across wires.

use crate::common::policies::{key_entry, KEYS_AUTH};
use crate::common::{header, Harness, Upstream};
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard::sim::{spawn_anthropic, spawn_gemini, Behavior, SimSettings, SimUpstream};

const KEY: &str = "sk-sy-messages-0123456789abcdef";

/// Providers `oa` (OpenAI wire, `gpt-x`), `ant` (Anthropic wire, `claude-x`) and `gem`
/// (Gemini wire, `gem-x`); aliases pick a first candidate per wire, each failing over to the
/// next wire: `to-openai` oa > gem, `to-anthropic` ant > oa, `to-gemini` gem > oa.
struct Setup {
    h: Harness,
    ant: SimUpstream,
    gem: SimUpstream,
}

async fn start(keys: bool) -> Setup {
    let ant = spawn_anthropic(SimSettings::fast("ant", ["claude-x"]))
        .await
        .unwrap();
    let gem = spawn_gemini(SimSettings::fast("gem", ["gem-x"]))
        .await
        .unwrap();
    let policy = "name: default
aliases: [to-openai, to-anthropic, to-gemini]
baseline: oa/gpt-x
rules:
  - name: anthropic
    when: {model: to-anthropic}
    route: [ant/claude-x, oa/gpt-x]
  - name: gemini
    when: {model: to-gemini}
    route: [gem/gem-x, oa/gpt-x]
  - name: openai
    route: [oa/gpt-x, gem/gem-x]
";
    let mut b = Harness::builder(vec![
        Upstream::new("oa", &["gpt-x"]),
        Upstream::new("ant", &["claude-x"])
            .base_url(&ant.base_url())
            .wire("anthropic"),
        Upstream::new("gem", &["gem-x"])
            .base_url(&format!("http://{}/v1beta", gem.addr()))
            .wire("gemini"),
    ])
    .policy(policy);
    if keys {
        b = b.server(KEYS_AUTH).keys(key_entry("m", KEY, "user: mia"));
    }
    Setup {
        h: b.start().await,
        ant,
        gem,
    }
}

fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "max_tokens": 200,
        "messages": [{"role": "user", "content": text}]})
}

/// POSTs to `path` with the Anthropic SDK's headers (`x-api-key`, `anthropic-version`).
async fn post(
    h: &Harness,
    path: &str,
    key: Option<&str>,
    body: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut req = h
        .client
        .post(h.url(path))
        .header("anthropic-version", "2023-06-01")
        .json(body);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let resp = req.send().await.expect("router answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

async fn create(h: &Harness, body: &Value) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let (s, hd, text) = post(h, "/v1/messages", None, body).await;
    (s, hd, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts Anthropic's error shape and returns the error's `type`.
fn anthropic_error(v: &Value) -> String {
    assert_eq!(v["type"], "error", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    v["error"]["type"].as_str().expect("error.type").to_owned()
}

/// The `(event, data)` pairs of an Anthropic event stream.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or_else(|| panic!("no event line: {e}"));
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], name, "event name and type agree");
            (name.to_owned(), data)
        })
        .collect()
}

#[tokio::test]
async fn a_message_is_answered_in_anthropic_shape_from_each_wire() {
    let s = start(false).await;
    for (alias, model) in [
        ("to-openai", "oa/gpt-x"),
        ("to-anthropic", "ant/claude-x"),
        ("to-gemini", "gem/gem-x"),
    ] {
        let mut body = ask(alias, "What is the capital of France?");
        body["system"] = json!([{"type": "text", "text": "Be terse."}]);
        let (status, headers, v) = create(&s.h, &body).await;
        assert_eq!(status, 200, "{alias}: {v}");
        assert_eq!(header(&headers, "x-switchyard-model"), model);
        assert!(!header(&headers, "request-id").is_empty());
        assert_eq!(v["type"], "message");
        assert_eq!(v["role"], "assistant");
        assert!(v["id"].as_str().unwrap().starts_with("msg_"), "{v}");
        assert_eq!(v["content"][0]["type"], "text");
        assert!(!v["content"][0]["text"].as_str().unwrap().is_empty());
        assert_eq!(v["stop_reason"], "end_turn");
        assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0, "{v}");
        assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0, "{v}");
    }
    // the ledger has one chat line per request
    let lines = s.h.ledger_lines().await;
    assert_eq!(lines.len(), 3);
}

#[tokio::test]
async fn anthropic_wire_gets_system_stops_and_thinking() {
    let s = start(false).await;
    let mut body = ask("to-anthropic", "think first");
    body["system"] = json!("Be terse.");
    body["stop_sequences"] = json!(["STOP"]);
    body["temperature"] = json!(1);
    body["top_k"] = json!(7);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let (status, _, v) = create(&s.h, &body).await;
    assert_eq!(status, 200, "{v}");
    let sent = s.ant.control().recorded().last().unwrap().body.clone();
    assert_eq!(sent["system"], "Be terse.");
    assert_eq!(sent["stop_sequences"], json!(["STOP"]));
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(sent["top_k"], 7);
    assert_eq!(sent["max_tokens"], 200);
    // the client's body goes natively: cache_control and signed thinking blocks intact
    let mut native = ask("to-anthropic", "and now?");
    native["system"] = json!([{"type": "text", "text": "Be terse.",
        "cache_control": {"type": "ephemeral"}}]);
    native["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    native["messages"] = json!([
        {"role": "user", "content": "think first"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Hmm.", "signature": "sig-abc"},
            {"type": "text", "text": "Done."}]},
        {"role": "user", "content": "and now?"}]);
    let (status, _, v) = create(&s.h, &native).await;
    assert_eq!(status, 200, "{v}");
    let sent = s.ant.control().recorded().last().unwrap().body.clone();
    assert_eq!(sent["model"], "claude-x");
    assert_eq!(sent["system"][0]["cache_control"]["type"], "ephemeral");
    assert_eq!(sent["messages"][1]["content"][0]["signature"], "sig-abc");
    assert!(sent.get("x_switchyard_anthropic_native").is_none());
    // other wires never see the Anthropic-only fields
    body["model"] = json!("to-openai");
    let (status, _, _) = create(&s.h, &body).await;
    assert_eq!(status, 200);
    let sent = s.h.sim("oa").recorded().last().unwrap().body.to_string();
    assert!(
        !sent.contains("thinking") && !sent.contains("top_k"),
        "{sent}"
    );
}

#[tokio::test]
async fn stream_events_come_in_anthropic_order() {
    let s = start(false).await;
    for alias in ["to-openai", "to-anthropic", "to-gemini"] {
        let mut body = ask(alias, "Write a haiku about routers");
        body["stream"] = json!(true);
        let (status, headers, text) = post(&s.h, "/v1/messages", None, &body).await;
        assert_eq!(status, 200, "{alias}: {text}");
        assert!(header(&headers, "content-type").starts_with("text/event-stream"));
        let ev = events(&text);
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names[..3],
            ["message_start", "ping", "content_block_start"],
            "{alias}"
        );
        assert_eq!(
            names[names.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"]
        );
        assert!(names.iter().all(|n| *n != "error"), "{text}");
        let text_out: String = ev
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .map(|(_, d)| {
                assert_eq!(d["delta"]["type"], "text_delta");
                d["delta"]["text"].as_str().unwrap().to_owned()
            })
            .collect();
        assert!(!text_out.is_empty());
        let delta = &ev[ev.len() - 2].1;
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert!(
            delta["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{alias}: {delta}"
        );
        assert!(
            ev[0].1["message"]["usage"]["input_tokens"]
                .as_u64()
                .unwrap()
                > 0
        );
    }
}

#[tokio::test]
async fn a_tool_round_trip_on_every_wire() {
    let s = start(false).await;
    for alias in ["to-openai", "to-anthropic", "to-gemini"] {
        let tools = json!([{"name": "get_weather", "description": "Weather in a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]}}]);
        let mut body = ask(alias, "What is the weather in Oslo?");
        body["tools"] = tools.clone();
        let (status, _, v) = create(&s.h, &body).await;
        assert_eq!(status, 200, "{alias}: {v}");
        assert_eq!(v["stop_reason"], "tool_use", "{alias}: {v}");
        let call = v["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{alias}: no tool_use in {v}"))
            .clone();
        assert_eq!(call["name"], "get_weather");
        assert!(call["input"].is_object());
        // the client runs the tool and sends the result back
        let mut next = body.clone();
        next["messages"] = json!([
            {"role": "user", "content": "What is the weather in Oslo?"},
            {"role": "assistant", "content": v["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"],
                "content": "-3 C and snowing"}]}]);
        let (status, _, v) = create(&s.h, &next).await;
        assert_eq!(status, 200, "{alias}: {v}");
        assert_eq!(v["stop_reason"], "end_turn", "{alias}: {v}");
        assert_eq!(v["content"][0]["type"], "text");
        // streamed, the call arrives as a tool_use block with input_json_delta
        body["stream"] = json!(true);
        let (_, _, text) = post(&s.h, "/v1/messages", None, &body).await;
        let ev = events(&text);
        let start = ev
            .iter()
            .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
            .unwrap_or_else(|| panic!("{alias}: {text}"));
        assert_eq!(start.1["content_block"]["name"], "get_weather");
        let json_text: String = ev
            .iter()
            .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        assert!(serde_json::from_str::<Value>(&json_text)
            .unwrap()
            .is_object());
        assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "tool_use");
    }
    assert!(s.gem.control().calls() >= 3);
}

#[tokio::test]
async fn count_tokens_counts_without_calling_anything() {
    let s = start(false).await;
    let short = json!({"model": "to-anthropic", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, text) = post(&s.h, "/v1/messages/count_tokens", None, &short).await;
    assert_eq!(status, 200, "{text}");
    let n = serde_json::from_str::<Value>(&text).unwrap()["input_tokens"]
        .as_u64()
        .unwrap();
    let long = json!({"model": "to-anthropic", "system": "You are a careful assistant.",
        "messages": [{"role": "user", "content": "hi ".repeat(200)}]});
    let (_, _, text) = post(&s.h, "/v1/messages/count_tokens", None, &long).await;
    let m = serde_json::from_str::<Value>(&text).unwrap()["input_tokens"]
        .as_u64()
        .unwrap();
    assert!(n > 0 && m > n + 150, "{n} vs {m}");
    assert_eq!(s.ant.control().calls() + s.h.calls("oa"), 0);
    let (status, _, text) = post(
        &s.h,
        "/v1/messages/count_tokens",
        None,
        &json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        anthropic_error(&serde_json::from_str(&text).unwrap()),
        "not_found_error"
    );
}

#[tokio::test]
async fn errors_are_anthropic_shaped_with_the_right_status() {
    let s = start(true).await;
    let body = ask("to-openai", "hi");
    // no key, a wrong key: 401; x-api-key and Bearer both carry a virtual key
    let (status, _, text) = post(&s.h, "/v1/messages", None, &body).await;
    assert_eq!(status, 401);
    assert_eq!(
        anthropic_error(&serde_json::from_str(&text).unwrap()),
        "authentication_error"
    );
    let (status, _, text) = post(&s.h, "/v1/messages", Some("sk-wrong"), &body).await;
    assert_eq!(status, 401);
    assert!(!text.contains("sk-wrong"));
    let (status, _, text) = post(&s.h, "/v1/messages", Some(KEY), &body).await;
    assert_eq!(status, 200, "{text}");
    let (status, _, v) =
        s.h.post_as(
            Some(KEY),
            "/v1/messages",
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, _, text) = post(&s.h, "/v1/messages/count_tokens", None, &body).await;
    assert_eq!(status, 401, "{text}");
    // bad requests: 400 invalid_request_error; unknown model: 404 not_found_error
    for bad in [
        json!({"model": "to-openai", "messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "to-openai", "max_tokens": 5, "messages": "x"}),
        json!({"model": "to-openai", "max_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}),
    ] {
        let (status, _, text) = post(&s.h, "/v1/messages", Some(KEY), &bad).await;
        assert_eq!(status, 400, "{bad}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(anthropic_error(&v), "invalid_request_error");
    }
    let (status, _, text) = post(&s.h, "/v1/messages", Some(KEY), &ask("claude-9", "x")).await;
    assert_eq!(status, 404);
    assert_eq!(
        anthropic_error(&serde_json::from_str(&text).unwrap()),
        "not_found_error"
    );
    // every candidate failing: 502 api_error, in the stream's case before any event
    s.h.sim("oa").set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "boom", "type": "server_error"}}),
    });
    s.gem.control().set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}),
    });
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    for b in [&body, &streamed] {
        let (status, _, text) = post(&s.h, "/v1/messages", Some(KEY), b).await;
        assert_eq!(status, 502, "{text}");
        assert_eq!(
            anthropic_error(&serde_json::from_str(&text).unwrap()),
            "api_error"
        );
    }
}

#[tokio::test]
async fn failover_across_wires_before_the_first_byte() {
    let s = start(false).await;
    s.h.sim("oa").set_behavior(Behavior::Status {
        status: 503,
        body: json!({"error": {"message": "down", "type": "server_error"}}),
    });
    let (status, headers, v) = create(&s.h, &ask("to-openai", "hello")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(header(&headers, "x-switchyard-model"), "gem/gem-x");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "1");
    assert_eq!(v["type"], "message");
    let mut body = ask("to-openai", "hello again");
    body["stream"] = json!(true);
    let (status, headers, text) = post(&s.h, "/v1/messages", None, &body).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "gem/gem-x");
    let ev = events(&text);
    assert_eq!(ev.last().unwrap().0, "message_stop", "{text}");
}
