//! `POST /v1/responses`: translated to chat and routed by the same pipeline (routing, ledger,
//! failover) on every wire, answered as a Response object or the Responses event stream;
//! function calls round-trip; what chat cannot express is a 400 naming it.

use crate::common::{assert_openai_error, header, Harness, Upstream};
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard::sim::Behavior;

const POLICY: &str = r#"
name: p
aliases: [auto]
baseline: oa/big
rules:
  - name: all
    route: [oa/small, oa/big]
"#;

pub async fn router() -> Harness {
    Harness::builder(vec![
        Upstream::new("oa", &["small", "big"]),
        Upstream::new("ant", &["claude"]).wire("anthropic"),
        Upstream::new("gem", &["gemini"]).wire("gemini"),
    ])
    .policy(POLICY)
    .start()
    .await
}

/// POSTs `body` to /v1/responses (as `key` when given).
pub async fn create(
    h: &Harness,
    key: Option<&str>,
    body: &Value,
) -> (StatusCode, HeaderMap, Value) {
    h.post_as(key, "/v1/responses", serde_json::to_vec(body).unwrap())
        .await
}

/// POSTs a streaming request; its status, headers and `(event, data)` pairs.
pub async fn stream(h: &Harness, body: &Value) -> (StatusCode, HeaderMap, Vec<(String, Value)>) {
    let resp = h
        .client
        .post(h.url("/v1/responses"))
        .json(body)
        .send()
        .await
        .expect("router answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("SSE body");
    (status, headers, events(&text))
}

/// `event:` / `data:` pairs of an SSE text (every data must be JSON).
pub fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let field = |name: &str| {
                e.lines()
                    .find_map(|l| l.strip_prefix(name).map(str::trim))
                    .unwrap_or_else(|| panic!("no {name} in event {e:?}"))
            };
            let data: Value = serde_json::from_str(field("data:")).expect("JSON data");
            (field("event:").to_owned(), data)
        })
        .collect()
}

fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["type"] == "message")
        .flat_map(|o| o["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_whole_answer_is_a_response_object_routed_and_recorded_like_chat() {
    let h = router().await;
    let (status, headers, r) = create(
        &h,
        None,
        &json!({"model": "auto", "instructions": "Be brief.", "input": "What is the capital of France?",
                "max_output_tokens": 50, "temperature": 0.3, "metadata": {"k": "v"}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(header(&headers, "x-switchyard-model"), "oa/small");
    assert_eq!(header(&headers, "x-switchyard-complexity"), "simple");
    assert!(r["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(
        (&r["object"], &r["status"]),
        (&json!("response"), &json!("completed"))
    );
    assert_eq!(r["instructions"], "Be brief.");
    assert_eq!(
        (&r["max_output_tokens"], &r["temperature"]),
        (&json!(50), &json!(0.3))
    );
    assert_eq!(r["metadata"], json!({"k": "v"}));
    let item = &r["output"][0];
    assert_eq!(
        (&item["type"], &item["role"], &item["status"]),
        (&json!("message"), &json!("assistant"), &json!("completed"))
    );
    assert!(output_text(&r).starts_with("[small]"), "{r}");
    let sent = &h.sim("oa").recorded()[0].body;
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of France?"}])
    );
    assert_eq!(
        (&sent["max_completion_tokens"], &sent["temperature"]),
        (&json!(50), &json!(0.3))
    );
    assert!(sent.get("metadata").is_none() && sent.get("input").is_none());
    let usage = &r["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["input_tokens"].as_u64().unwrap() + usage["output_tokens"].as_u64().unwrap())
    );
    let line = &h.ledger_lines().await[0];
    assert_eq!(
        (line.endpoint.as_str(), line.requested_model.as_str()),
        ("responses", "auto")
    );
    assert_eq!(line.model.as_deref(), Some("oa/small"));
    assert_eq!(
        line.completion_tokens,
        usage["output_tokens"].as_u64().unwrap()
    );
    assert!(line.cost_usd > 0.0);
}

#[tokio::test]
async fn every_wire_answers_whole_and_streamed() {
    let h = router().await;
    for model in ["oa/big", "ant/claude", "gem/gemini"] {
        let tag = format!("[{}]", model.split('/').nth(1).unwrap());
        let (status, headers, r) = create(
            &h,
            None,
            &json!({"model": model, "input": "Tell me a story"}),
        )
        .await;
        assert_eq!(status, 200, "{model}: {r}");
        assert_eq!(header(&headers, "x-switchyard-model"), model);
        assert!(output_text(&r).starts_with(&tag), "{model}: {r}");
        let (status, _, ev) = stream(
            &h,
            &json!({"model": model, "input": "Tell me a story", "stream": true}),
        )
        .await;
        assert_eq!(status, 200);
        let (last, done) = ev.last().unwrap();
        assert_eq!(last, "response.completed", "{model}");
        assert!(
            output_text(&done["response"]).starts_with(&tag),
            "{model}: {done}"
        );
        assert!(done["response"]["usage"]["output_tokens"].as_u64().unwrap() > 0);
    }
}

#[tokio::test]
async fn stream_events_come_in_order_with_sequence_numbers() {
    let h = router().await;
    let (status, headers, ev) = stream(
        &h,
        &json!({"model": "auto", "input": "Say hello", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/event-stream"));
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    let deltas = kinds
        .iter()
        .filter(|k| **k == "response.output_text.delta")
        .count();
    assert!(deltas > 1, "{kinds:?}");
    let mut want = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    want.extend(std::iter::repeat_n("response.output_text.delta", deltas));
    want.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(kinds, want);
    for (i, (kind, data)) in ev.iter().enumerate() {
        assert_eq!(data["sequence_number"], json!(i), "{kind}");
        assert_eq!(data["type"], json!(kind));
    }
    let id = &ev[0].1["response"]["id"];
    assert_eq!(ev[0].1["response"]["status"], "in_progress");
    assert_eq!(&ev.last().unwrap().1["response"]["id"], id);
    let streamed: String = ev
        .iter()
        .filter(|(k, _)| k == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap().to_owned())
        .collect();
    let item_id = &ev[2].1["item"]["id"];
    assert!(ev[3..ev.len() - 1]
        .iter()
        .all(|(_, d)| &d["item_id"] == item_id || d.get("item").is_some()));
    assert_eq!(ev[deltas + 4].1["text"], json!(streamed));
    let done = &ev.last().unwrap().1["response"];
    assert_eq!(output_text(done), streamed);
    let sent = &h.sim("oa").recorded()[0].body;
    assert_eq!(sent["stream_options"]["include_usage"], true);
    let line = &h.ledger_lines().await[0];
    assert!(line.stream);
    assert_eq!(
        line.completion_tokens,
        done["usage"]["output_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn a_function_call_round_trips_whole_and_streamed() {
    let h = router().await;
    let tools = json!([{"type": "function", "name": "get_weather", "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    let ask = json!({"model": "oa/small", "input": "Weather in Paris?", "tools": tools});
    let (status, _, r) = create(&h, None, &ask).await;
    assert_eq!(status, 200, "{r}");
    let call = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "function_call")
        .cloned()
        .unwrap();
    assert_eq!(call["name"], "get_weather");
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    let args: Value =
        serde_json::from_str(call["arguments"].as_str().unwrap()).expect("JSON arguments");
    assert!(args.is_object());
    assert_eq!(
        h.sim("oa").recorded()[0].body["tools"][0]["function"]["name"],
        "get_weather"
    );

    let follow = json!({"model": "oa/small", "tools": tools, "input": [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": call["call_id"], "name": "get_weather", "arguments": call["arguments"]},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "{\"temp\": 21}"},
    ]});
    let (status, _, r2) = create(&h, None, &follow).await;
    assert_eq!(status, 200, "{r2}");
    assert!(output_text(&r2).starts_with("[small]"), "{r2}");
    let sent = &h.sim("oa").recorded()[1].body["messages"];
    assert_eq!(sent[1]["tool_calls"][0]["id"], call["call_id"]);
    assert_eq!(
        sent[2],
        json!({"role": "tool", "tool_call_id": call["call_id"], "content": "{\"temp\": 21}"})
    );

    let mut streamed = ask.clone();
    streamed["stream"] = json!(true);
    let (_, _, ev) = stream(&h, &streamed).await;
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    assert!(
        kinds.contains(&"response.function_call_arguments.delta"),
        "{kinds:?}"
    );
    let done = ev
        .iter()
        .find(|(k, _)| k == "response.function_call_arguments.done")
        .unwrap();
    let deltas: String = ev
        .iter()
        .filter(|(k, _)| k == "response.function_call_arguments.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(done.1["arguments"], json!(deltas));
    assert_eq!(done.1["name"], "get_weather");
    let completed = &ev.last().unwrap().1["response"];
    assert_eq!(completed["output"][0]["type"], "function_call");
    assert_eq!(completed["output"][0]["arguments"], json!(deltas));
}

#[tokio::test]
async fn structured_output_and_reasoning_are_passed_as_chat_fields() {
    let h = router().await;
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false});
    let (status, _, r) = create(&h, None, &json!({"model": "oa/small", "input": "JSON please",
        "text": {"format": {"type": "json_schema", "name": "thing", "schema": schema, "strict": true}},
        "reasoning": {"effort": "low"}, "top_p": 0.5})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["text"]["format"]["name"], "thing");
    assert_eq!(r["reasoning"]["effort"], "low");
    let sent = &h.sim("oa").recorded()[0].body;
    assert_eq!(
        sent["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "thing", "schema": schema, "strict": true}})
    );
    assert_eq!(
        (&sent["reasoning_effort"], &sent["top_p"]),
        (&json!("low"), &json!(0.5))
    );
}

#[tokio::test]
async fn what_chat_cannot_express_is_a_400_naming_it_and_nothing_goes_upstream() {
    let h = router().await;
    for (body, param) in [
        (
            json!({"model": "auto", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "auto", "input": "x", "background": true}),
            "background",
        ),
        (
            json!({"model": "auto", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]}),
            "input[0].content[0].type",
        ),
        (
            json!({"model": "auto", "input": "x", "tool_choice": {"type": "web_search_preview"}}),
            "tool_choice",
        ),
    ] {
        let (status, _, e) = create(&h, None, &body).await;
        assert_eq!(status, 400, "{body}: {e}");
        let err = assert_openai_error(&e);
        assert_eq!(err["param"], param, "{e}");
        assert_eq!(err["code"], "unsupported_parameter");
    }
    let (_, _, e) = create(
        &h,
        None,
        &json!({"model": "auto", "input": "x", "tools": [{"type": "web_search"}]}),
    )
    .await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("web_search"),
        "{e}"
    );
    let (status, _, e) = create(&h, None, &json!({"model": "nope", "input": "x"})).await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("model_not_found"))
    );
    let (status, _, e) = h.post_raw("/v1/responses", b"{not json".to_vec()).await;
    assert_eq!(
        (status, &e["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_json"))
    );
    assert_eq!(h.calls("oa"), 0);
    let lines = h.ledger_lines().await;
    assert_eq!(lines.len(), 7, "every refusal leaves its ledger line");
    assert!(lines.iter().all(|l| l.status >= 400));
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_response_failed_and_an_error_event() {
    let h = router().await;
    h.sim("oa")
        .push_script([Behavior::CutStreamAfter { chunks: 3 }]);
    let (status, _, ev) = stream(
        &h,
        &json!({"model": "oa/small", "input": "Tell me a story", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds[..2], ["response.created", "response.in_progress"]);
    assert_eq!(
        kinds[kinds.len() - 2..],
        ["response.failed", "error"],
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"response.completed"));
    let failed = &ev[ev.len() - 2].1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "server_error");
    assert_eq!(failed["output"][0]["status"], "incomplete");
    let error = &ev.last().unwrap().1;
    assert_eq!(error["code"], "stream_interrupted");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    let line = &h.ledger_lines().await[0];
    assert_eq!(line.outcome.to_string(), "stream_interrupted");
}

#[tokio::test]
async fn an_error_before_the_answer_is_the_pipelines_error_with_failover_first() {
    let h = router().await;
    h.sim("oa")
        .push_script([Behavior::WireError { status: 500 }]);
    // auto: small fails (one attempt), big answers
    let (status, headers, r) =
        create(&h, None, &json!({"model": "auto", "input": "What is 2+2?"})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(header(&headers, "x-switchyard-failovers"), "1");
    assert!(output_text(&r).starts_with("[big]"));
}

#[tokio::test]
async fn a_cache_hit_is_translated_like_a_fresh_answer_whole_and_streamed() {
    let h = router().await;
    let body = json!({"model": "oa/small", "input": "Define entropy.", "temperature": 0});
    let (_, headers, fresh) = create(&h, None, &body).await;
    assert_eq!(header(&headers, "x-switchyard-cache"), "miss");
    let hit = crate::common::wait_until(
        "the answer to be cached",
        std::time::Duration::from_secs(5),
        async || {
            let (_, headers, _) = create(&h, None, &body).await;
            header(&headers, "x-switchyard-cache") == "hit"
        },
    );
    hit.await;
    let (status, _, cached) = create(&h, None, &body).await;
    assert_eq!(status, 200);
    assert_ne!(cached["id"], fresh["id"], "every Response has its own id");
    assert_eq!(output_text(&cached), output_text(&fresh));
    assert_eq!(cached["usage"], fresh["usage"]);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (_, headers, first) = stream(&h, &streamed).await;
    assert_eq!(header(&headers, "x-switchyard-cache"), "miss");
    let calls = h.calls("oa");
    let replay = crate::common::wait_until(
        "the stream to be cached",
        std::time::Duration::from_secs(5),
        async || {
            let (_, headers, _) = stream(&h, &streamed).await;
            header(&headers, "x-switchyard-cache") == "hit"
        },
    );
    replay.await;
    let (_, headers, again) = stream(&h, &streamed).await;
    assert_eq!(header(&headers, "x-switchyard-cache"), "hit");
    assert!(h.calls("oa") <= calls + 1, "hits do not go upstream");
    let kinds = |ev: &[(String, Value)]| ev.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(kinds(&again), kinds(&first));
    let done = |ev: &[(String, Value)]| ev.last().unwrap().1["response"].clone();
    assert_eq!(output_text(&done(&again)), output_text(&done(&first)));
    assert_eq!(done(&again)["usage"], done(&first)["usage"]);
}

#[tokio::test]
async fn input_guardrails_and_rate_limits_apply_as_for_chat() {
    let policy = format!(
        "{POLICY}guardrails:\n  input:\n    - name: no-ssn\n      pattern: '\\b\\d{{3}}-\\d{{2}}-\\d{{4}}\\b'\n"
    );
    let h = Harness::builder(vec![Upstream::new("oa", &["small", "big"])])
        .policy(policy)
        .server("global: {rpm: 1}\n")
        .start()
        .await;
    let (status, _, e) = create(
        &h,
        None,
        &json!({"model": "auto", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "My SSN is 123-45-6789"}]}]}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(assert_openai_error(&e)["code"], "content_policy_violation");
    assert_eq!(h.calls("oa"), 0);
    let (status, _, _) = create(&h, None, &json!({"model": "auto", "input": "hello"})).await;
    assert_eq!(status, 200);
    let (status, headers, e) =
        create(&h, None, &json!({"model": "auto", "input": "hello again"})).await;
    assert_eq!(status, 429, "{e}");
    assert_eq!(assert_openai_error(&e)["code"], "rate_limit_exceeded");
    assert!(headers.contains_key("retry-after"));
}
