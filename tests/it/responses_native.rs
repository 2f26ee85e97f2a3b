//! `POST /v1/responses` passed through natively to models that declare `endpoints: [chat,
//! responses]`: the client's body (model rewritten, `previous_response_id` resolved from the
//! router's store) reaches the upstream's `/v1/responses`, the answer is relayed as the
//! upstream wrote it with its usage priced and recorded, and a plan mixing native and
//! translated candidates fails over between them before the first byte. Also: the ledger's
//! `responses` / `messages` endpoints, `GET /v1/responses/{id}/input_items`, and the store's
//! configured bounds.

use crate::common::{header, Harness, Upstream};
use crate::responses::{create, events, stream};
use serde_json::{json, Value};
use switchyard::sim::{Behavior, SimControl};

/// `nat/n` serves the Responses API natively, `tr/t` only chat.
fn upstreams() -> Vec<Upstream> {
    vec![
        Upstream::new("nat", &["n"])
            .endpoints("n", "[chat, responses]")
            .price("n", 2.0, 4.0),
        Upstream::new("tr", &["t"]),
    ]
}

fn policy(route: &str) -> String {
    format!("name: p\naliases: [auto]\nbaseline: tr/t\nrules:\n  - name: all\n    route: {route}\n")
}

async fn router(route: &str) -> Harness {
    Harness::builder(upstreams())
        .policy(policy(route))
        .start()
        .await
}

fn last_body(c: &SimControl) -> Value {
    c.recorded().last().expect("a call").body.clone()
}

fn failing() -> Behavior {
    Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "sim down", "type": "server_error", "param": null, "code": null}}),
    }
}

#[tokio::test]
async fn a_native_candidate_gets_the_clients_body_and_its_answer_is_relayed_and_billed() {
    let h = router("[nat/n, tr/t]").await;
    let body = json!({"model": "auto", "instructions": "Be brief.", "input": "Name a colour.",
                      "max_output_tokens": 40, "metadata": {"k": "v"}});
    let (status, headers, r) = create(&h, None, &body).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(header(&headers, "x-switchyard-model"), "nat/n");
    assert_eq!(h.calls("tr"), 0);
    let sent = last_body(&h.sim("nat"));
    assert_eq!(
        sent["model"], "n",
        "the upstream model id replaces the alias"
    );
    assert_eq!(sent["input"], "Name a colour.");
    assert_eq!(sent["instructions"], "Be brief.");
    assert_eq!(sent["max_output_tokens"], 40);
    assert!(sent.get("messages").is_none(), "not translated: {sent}");
    assert!(sent.get("x_switchyard_responses_native").is_none());
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    assert_eq!(r["metadata"], json!({"k": "v"}));
    let usage = &r["usage"];
    let (input, output) = (
        usage["input_tokens"].as_u64().unwrap(),
        usage["output_tokens"].as_u64().unwrap(),
    );
    let line = &h.ledger_lines().await[0];
    assert_eq!(line.endpoint.as_str(), "responses");
    assert_eq!(line.model.as_deref(), Some("nat/n"));
    assert_eq!(
        (line.prompt_tokens, line.completion_tokens),
        (input, output)
    );
    assert!(!line.tokens_estimated);
    let expected = (input as f64 * 2.0 + output as f64 * 4.0) / 1e6;
    assert!((line.cost_usd - expected).abs() < 1e-12, "{line:?}");
    // stored under the upstream's id, as it was answered
    let id = r["id"].as_str().unwrap();
    let (status, got) = h.get(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got, r);
}

#[tokio::test]
async fn a_translated_candidate_still_gets_chat() {
    let h = router("[tr/t, nat/n]").await;
    let (status, headers, r) = create(&h, None, &json!({"model": "auto", "input": "hello"})).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(header(&headers, "x-switchyard-model"), "tr/t");
    let sent = last_body(&h.sim("tr"));
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "hello"}])
    );
    assert!(sent.get("input").is_none() && sent.get("x_switchyard_responses_native").is_none());
    assert_eq!(r["object"], "response");
    assert_eq!(h.ledger_lines().await[0].endpoint.as_str(), "responses");
}

#[tokio::test]
async fn the_native_event_stream_is_relayed_with_its_usage_recorded() {
    let h = router("[nat/n]").await;
    let (status, _, evs) = stream(
        &h,
        &json!({"model": "auto", "input": "Count to three.", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    let sent = last_body(&h.sim("nat"));
    assert_eq!(sent["stream"], true);
    assert!(sent.get("stream_options").is_none() && sent.get("messages").is_none());
    let kinds: Vec<&str> = evs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"response.created"));
    assert_eq!(kinds.last(), Some(&"response.completed"));
    assert!(kinds.contains(&"response.output_text.delta"));
    for (i, (kind, data)) in evs.iter().enumerate() {
        assert_eq!(data["type"], kind.as_str(), "event line and type agree");
        assert_eq!(data["sequence_number"], i, "the upstream's own numbering");
    }
    let done = &evs.last().unwrap().1["response"];
    let line = &h.ledger_lines().await[0];
    assert_eq!(line.endpoint.as_str(), "responses");
    assert!(line.stream && !line.tokens_estimated);
    assert_eq!(
        line.prompt_tokens,
        done["usage"]["input_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        line.completion_tokens,
        done["usage"]["output_tokens"].as_u64().unwrap()
    );
    assert!(
        line.ttft_ms.is_some(),
        "the first text delta is the first token"
    );
    let id = done["id"].as_str().unwrap();
    let (status, got) = h.get(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["output"], done["output"]);
}

#[tokio::test]
async fn failover_crosses_between_native_and_translated_candidates_before_the_first_byte() {
    for stream_it in [false, true] {
        // native first, failing: the translated candidate answers
        let h = router("[nat/n, tr/t]").await;
        h.sim("nat").set_behavior(failing());
        let body = json!({"model": "auto", "input": "hi", "stream": stream_it});
        let (status, headers, text) = post(&h, &body).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(header(&headers, "x-switchyard-model"), "tr/t");
        assert_eq!(h.calls("nat"), 1);
        assert!(last_body(&h.sim("tr")).get("messages").is_some());
        let line = &h.ledger_lines().await[0];
        assert_eq!((line.attempts, line.failovers), (2, 1));
        // translated first, failing: the native candidate answers
        let h = router("[tr/t, nat/n]").await;
        h.sim("tr").set_behavior(failing());
        let (status, headers, text) = post(&h, &body).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(header(&headers, "x-switchyard-model"), "nat/n");
        assert!(last_body(&h.sim("nat")).get("input").is_some());
        if stream_it {
            let evs = events(&text);
            assert_eq!(evs.last().unwrap().0, "response.completed");
        } else {
            let r: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(r["object"], "response");
        }
    }
}

/// POSTs to /v1/responses; status, headers and the raw body text.
async fn post(
    h: &Harness,
    body: &Value,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, String) {
    let resp = h
        .client
        .post(h.url("/v1/responses"))
        .json(body)
        .send()
        .await
        .expect("router answers");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.expect("body"))
}

#[tokio::test]
async fn previous_response_id_is_resolved_from_the_store_into_input_items() {
    let h = router("[nat/n, tr/t]").await;
    let (_, _, first) = create(
        &h,
        None,
        &json!({"model": "auto", "input": "My name is Ada."}),
    )
    .await;
    let id = first["id"].as_str().unwrap();
    let (status, _, second) = create(
        &h,
        None,
        &json!({"model": "auto", "input": "What is my name?", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    let sent = last_body(&h.sim("nat"));
    assert!(
        sent.get("previous_response_id").is_none(),
        "resolved here: {sent}"
    );
    let input = sent["input"].as_array().unwrap();
    assert_eq!(input.len(), 3, "{sent}");
    assert_eq!(
        input[0],
        json!({"role": "user", "content": "My name is Ada."})
    );
    assert_eq!(input[1]["role"], "assistant");
    assert!(!input[1]["content"].as_str().unwrap().is_empty());
    assert_eq!(
        input[2],
        json!({"role": "user", "content": "What is my name?"})
    );
    // the same conversation reaches a translated candidate when the native one fails
    h.sim("nat").set_behavior(failing());
    let (status, _, _) = create(
        &h,
        None,
        &json!({"model": "auto", "input": "And again?", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 200);
    let chat = last_body(&h.sim("tr"));
    let messages = chat["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["content"], "My name is Ada.");
    // the items that led to the second answer
    let second_id = second["id"].as_str().unwrap();
    let (status, list) = h
        .get(&format!("/v1/responses/{second_id}/input_items?order=asc"))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["object"], "list");
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(
        data[0]["content"][0],
        json!({"type": "input_text", "text": "My name is Ada."})
    );
    assert_eq!(data[1]["role"], "assistant");
    assert_eq!(data[1]["content"][0]["type"], "output_text");
    assert_eq!(list["first_id"], data[0]["id"]);
    assert_eq!(list["has_more"], false);
}

#[tokio::test]
async fn input_items_page_newest_first_by_default() {
    let h = router("[tr/t]").await;
    let input = json!([
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"}
    ]);
    let (_, _, r) = create(&h, None, &json!({"model": "auto", "input": input})).await;
    let id = r["id"].as_str().unwrap();
    let (status, page) = h
        .get(&format!("/v1/responses/{id}/input_items?limit=2"))
        .await;
    assert_eq!(status, 200, "{page}");
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["content"][0]["text"], "three");
    assert_eq!(page["has_more"], true);
    let after = page["last_id"].as_str().unwrap();
    let (_, rest) = h
        .get(&format!(
            "/v1/responses/{id}/input_items?limit=2&after={after}"
        ))
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["data"][0]["content"][0]["text"], "one");
    assert_eq!(rest["has_more"], false);
    let (status, bad) = h
        .get(&format!("/v1/responses/{id}/input_items?limit=0"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["param"], "limit");
    let (status, _) = h.get("/v1/responses/resp_nothing/input_items").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn output_guardrails_keep_responses_on_the_translation_so_they_can_redact() {
    let guarded = format!(
        "{}guardrails:\n  output:\n    - name: digits\n      pattern: '[0-9]+'\n      replace: '#'\n",
        policy("[nat/n]")
    );
    let h = Harness::builder(upstreams()).policy(guarded).start().await;
    let (status, _, r) = create(&h, None, &json!({"model": "auto", "input": "hi"})).await;
    assert_eq!(status, 200, "{r}");
    assert!(last_body(&h.sim("nat")).get("messages").is_some());
}

#[tokio::test]
async fn the_store_bounds_come_from_the_server_file() {
    let h = Harness::builder(upstreams())
        .policy(policy("[tr/t]"))
        .server("response_store:\n  max_entry_bytes: 64\n")
        .start()
        .await;
    let (status, _, r) = create(&h, None, &json!({"model": "auto", "input": "hello there"})).await;
    assert_eq!(status, 200);
    let id = r["id"].as_str().unwrap();
    let (status, _) = h.get(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, 404, "an answer over max_entry_bytes is not stored");
}

#[tokio::test]
async fn messages_requests_are_recorded_under_the_messages_endpoint() {
    let h = router("[tr/t]").await;
    let body =
        json!({"model": "auto", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, m) = h
        .post_raw("/v1/messages", serde_json::to_vec(&body).unwrap())
        .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(h.ledger_lines().await[0].endpoint.as_str(), "messages");
}

#[tokio::test]
async fn a_cached_native_answer_is_replayed_as_the_upstream_wrote_it() {
    let h = router("[nat/n]").await;
    let body = json!({"model": "auto", "input": "Define entropy.", "temperature": 0});
    let (_, headers, fresh) = create(&h, None, &body).await;
    assert_eq!(header(&headers, "x-switchyard-cache"), "miss");
    crate::common::wait_until(
        "the answer to be cached",
        std::time::Duration::from_secs(5),
        async || {
            let (_, headers, _) = create(&h, None, &body).await;
            header(&headers, "x-switchyard-cache") == "hit"
        },
    )
    .await;
    let (status, _, cached) = create(&h, None, &body).await;
    assert_eq!(status, 200);
    assert_eq!(cached["output"], fresh["output"]);
    assert_eq!(cached["usage"], fresh["usage"]);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (_, _, first) = stream(&h, &streamed).await;
    crate::common::wait_until(
        "the stream to be cached",
        std::time::Duration::from_secs(5),
        async || {
            let (_, headers, _) = stream(&h, &streamed).await;
            header(&headers, "x-switchyard-cache") == "hit"
        },
    )
    .await;
    let (_, headers, again) = stream(&h, &streamed).await;
    assert_eq!(header(&headers, "x-switchyard-cache"), "hit");
    assert_eq!(
        again, first,
        "the same events, the upstream's numbering included"
    );
    let lines = h.ledger_lines().await;
    let hit = lines.last().unwrap();
    assert!(hit.cache_hit && hit.endpoint.as_str() == "responses");
}

#[tokio::test]
async fn an_upstream_failure_after_the_first_byte_ends_the_stream_with_an_error_event() {
    let h = router("[nat/n, tr/t]").await;
    h.sim("nat")
        .set_behavior(Behavior::CutStreamAfter { chunks: 3 });
    let (status, _, evs) = stream(
        &h,
        &json!({"model": "auto", "input": "Tell me a long story.", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        h.calls("tr"),
        0,
        "committed: no failover after the first byte"
    );
    let deltas = evs
        .iter()
        .filter(|(k, _)| k == "response.output_text.delta")
        .count();
    assert_eq!(deltas, 3);
    let (kind, last) = evs.last().unwrap();
    assert_eq!(kind, "error");
    assert_eq!(last["code"], "stream_interrupted");
    assert!(
        last["message"].as_str().unwrap().contains("failed"),
        "{last}"
    );
    assert!(evs.iter().all(|(k, _)| k != "response.completed"));
    let line = &h.ledger_lines().await[0];
    assert_eq!(line.outcome.as_str(), "stream_interrupted");
    // failed before any text: the next candidate answers
    let h = router("[nat/n, tr/t]").await;
    h.sim("nat")
        .set_behavior(Behavior::CutStreamAfter { chunks: 0 });
    let body = json!({"model": "auto", "input": "Tell me a long story.", "stream": true});
    let (status, headers, evs) = stream(&h, &body).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), "tr/t");
    assert_eq!(evs.last().unwrap().0, "response.completed");
}
