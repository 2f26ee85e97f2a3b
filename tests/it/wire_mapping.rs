//! Wire mapping through the router: deprecated `functions` / `function_call` answered in the
//! legacy shape on the Anthropic and Gemini wires (whole and streamed), nested schemas sent to
//! Gemini with their `$ref`s inlined, and `logprobs` asked of Gemini.

use crate::common::{policies, sse_data, Harness, Upstream};
use serde_json::{json, Value};
use switchyard::sim::{spawn_anthropic, spawn_gemini, SimControl, SimSettings, SimUpstream};

/// A router whose `auto` goes to one model `w/m` on `wire` (a sim of that wire).
async fn start(wire: &'static str) -> (Harness, SimControl, SimUpstream) {
    let settings = SimSettings::fast("w", ["m"]);
    let sim = match wire {
        "anthropic" => spawn_anthropic(settings).await,
        _ => spawn_gemini(settings).await,
    }
    .expect("spawn sim");
    let url = match wire {
        "gemini" => format!("http://{}/v1beta", sim.addr()),
        _ => sim.base_url(),
    };
    let up = Upstream::new("w", &["m"]).base_url(&url).wire(wire);
    let h = Harness::builder(vec![up])
        .policy(policies::route_all("w/m", "[w/m]"))
        .start()
        .await;
    (h, sim.control(), sim)
}

fn legacy_request(stream: bool) -> Value {
    json!({"model": "auto", "stream": stream,
        "messages": [{"role": "user", "content": "weather in Oslo"}],
        "functions": [{"name": "get_weather", "description": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]})
}

async fn legacy_functions_round_trip(wire: &'static str) {
    let (h, c, _s) = start(wire).await;
    let (status, _, v) = h.post_chat(legacy_request(false)).await;
    assert_eq!(status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "function_call", "{v}");
    assert_eq!(choice["message"]["function_call"]["name"], "get_weather");
    let args: Value = serde_json::from_str(
        choice["message"]["function_call"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .expect("arguments are JSON");
    assert!(args.is_object());
    assert!(choice["message"].get("tool_calls").is_none(), "{v}");
    // the upstream got the functions as tools
    let sent = c.recorded().last().unwrap().body.to_string();
    assert!(sent.contains("get_weather"), "{sent}");
    // the client answers in the legacy form: the result reaches the upstream
    let mut next = legacy_request(false);
    next["messages"] = json!([
        {"role": "user", "content": "weather in Oslo"},
        {"role": "assistant", "content": null, "function_call": choice["message"]["function_call"]},
        {"role": "function", "name": "get_weather", "content": "{\"temp\": -3}"}]);
    let (status, _, v) = h.post_chat(next).await;
    assert_eq!(status, 200, "{v}");
    let sent = c.recorded().last().unwrap().body.to_string();
    assert!(sent.contains("-3"), "the function result was sent: {sent}");
    // streamed: function_call deltas and the legacy finish reason
    let resp = h
        .client
        .post(h.url("/v1/chat/completions"))
        .json(&legacy_request(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let events = sse_data(&resp.text().await.unwrap());
    let chunks: Vec<Value> = events
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect();
    let name = chunks
        .iter()
        .find_map(|c| c["choices"][0]["delta"]["function_call"]["name"].as_str());
    assert_eq!(name, Some("get_weather"), "{events:?}");
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "function_call"));
    assert!(
        !events.iter().any(|e| e.contains("tool_calls")),
        "{events:?}"
    );
}

#[tokio::test]
async fn legacy_functions_on_the_anthropic_wire() {
    legacy_functions_round_trip("anthropic").await;
}

#[tokio::test]
async fn legacy_functions_on_the_gemini_wire() {
    legacy_functions_round_trip("gemini").await;
}

#[tokio::test]
async fn gemini_gets_nested_schemas_inlined_and_logprobs_asked() {
    let (h, c, _s) = start("gemini").await;
    let schema = json!({"$defs": {"Address": {"type": "object",
            "properties": {"city": {"type": "string"}}}},
        "type": "object", "properties": {"home": {"$ref": "#/$defs/Address"}}});
    let body = json!({"model": "auto", "messages": [{"role": "user", "content": "where?"}],
        "logprobs": true, "top_logprobs": 2,
        "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": schema}}});
    let (status, _, v) = h.post_chat(body).await;
    assert_eq!(status, 200, "{v}");
    let sent = c.recorded().last().unwrap().body.clone();
    let cfg = &sent["generationConfig"];
    assert_eq!(
        cfg["responseSchema"]["properties"]["home"]["properties"]["city"]["type"], "string",
        "{sent}"
    );
    assert!(!sent.to_string().contains("$ref"), "{sent}");
    assert_eq!(cfg["responseLogprobs"], true);
    assert_eq!(cfg["logprobs"], 2);
}
