//! Adapter conformance: one set of cases run through the router against every wire API's sim.

use std::time::Duration;

use crate::common::{
    assert_openai_error, chat, chat_stream, header, policies, sim_prompt_tokens, sse_content,
    sse_data, Harness, Upstream,
};
use serde_json::{json, Value};
use switchyard::sim::{Behavior, SimControl, SimUpstream};
use wire::Wire;

mod wire;

/// The provider under test is `p` (model `m1`); the OpenAI-compatible fallback is `fb` (`fb-1`).
const PRIMARY: &str = "p/m1";
const FALLBACK: &str = "fb/fb-1";

/// The router with provider `p` of wire `w` (served by its own sim) and, when `fallback`, the
/// OpenAI-compatible `fb` as second candidate.
struct Case {
    h: Harness,
    sim: SimUpstream,
}

impl Case {
    async fn start(w: Wire, p: Upstream, fallback: bool) -> Self {
        let sim = w.spawn().await;
        let mut p = p.base_url(&w.base_url(&sim));
        p = match w {
            Wire::OpenAi => p,
            Wire::Anthropic => p.wire("anthropic"),
            Wire::Gemini => p.wire("gemini"),
        };
        let route = if fallback {
            format!("[{PRIMARY}, {FALLBACK}]")
        } else {
            format!("[{PRIMARY}]")
        };
        let h = Harness::builder(vec![p, Upstream::new("fb", &["fb-1"])])
            .policy(policies::route_all(PRIMARY, &route))
            .start()
            .await;
        Self { h, sim }
    }

    async fn new(w: Wire) -> Self {
        Self::start(w, Upstream::new("p", &["m1"]), false).await
    }

    async fn with_fallback(w: Wire, attempts: u32) -> Self {
        Self::start(w, Upstream::new("p", &["m1"]).attempts(attempts), true).await
    }

    fn c(&self) -> SimControl {
        self.sim.control()
    }

    fn last_body(&self) -> Value {
        self.c()
            .recorded()
            .last()
            .expect("a recorded call")
            .body
            .clone()
    }
}

fn chunks(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect()
}

fn finish_reasons(events: &[String]) -> Vec<String> {
    chunks(events)
        .iter()
        .flat_map(|v| v["choices"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["finish_reason"].as_str().map(str::to_owned))
        .collect()
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "lookup", "description": "Looks things up",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}])
}

fn with_tools(mut body: Value) -> Value {
    body["tools"] = tools();
    body
}

/// (name, arguments) of the first tool call of a non-streamed answer.
fn answered_call(v: &Value) -> (String, Value) {
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function", "{v}");
    let args = call["function"]["arguments"]
        .as_str()
        .unwrap_or_else(|| panic!("arguments are a JSON string: {v}"));
    (
        call["function"]["name"].as_str().unwrap().to_owned(),
        serde_json::from_str(args).expect("arguments parse as JSON"),
    )
}

async fn plain_chat(w: Wire) {
    let s = Case::new(w).await;
    let (status, headers, v) = s.h.post_chat(chat("auto", "hello there router")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(header(&headers, "x-switchyard-model"), PRIMARY);
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "m1");
    let choice = &v["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    let text = choice["message"]["content"].as_str().expect("text content");
    assert!(
        text.starts_with("[m1] Here is an answer about hello there router:"),
        "{v}"
    );
    assert_eq!(choice["finish_reason"], "stop");
    let u = &v["usage"];
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(u["completion_tokens"], 16, "{v}");
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["prompt_tokens"].as_u64().unwrap() + 16)
    );
    assert_eq!(s.c().calls(), 1);
    assert_eq!(
        w.turns(&s.last_body()),
        [("user".to_owned(), "hello there router".to_owned())]
    );
}

async fn multi_turn(w: Wire) {
    let s = Case::new(w).await;
    let body = json!({"model": "auto", "messages": [
        {"role": "user", "content": "one apple"}, {"role": "assistant", "content": "two pears"},
        {"role": "user", "content": "three plums"}, {"role": "assistant", "content": "four figs"},
        {"role": "user", "content": "five limes"}]});
    let (status, _, v) = s.h.post_chat(body).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .starts_with("[m1] Here is an answer about five limes:"));
    let expected: Vec<(String, String)> = [
        ("user", "one apple"),
        ("assistant", "two pears"),
        ("user", "three plums"),
        ("assistant", "four figs"),
        ("user", "five limes"),
    ]
    .iter()
    .map(|(r, t)| ((*r).to_owned(), (*t).to_owned()))
    .collect();
    assert_eq!(w.turns(&s.last_body()), expected);
}

async fn system_prompt(w: Wire) {
    let s = Case::new(w).await;
    let body = json!({"model": "auto", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello"}]});
    let (status, _, v) = s.h.post_chat(body).await;
    assert_eq!(status, 200, "{v}");
    let sent = s.last_body();
    assert_eq!(w.system(&sent).as_deref(), Some("You are terse."), "{sent}");
    assert_eq!(
        w.turns(&sent),
        [("user".to_owned(), "hello".to_owned())],
        "the system prompt is not a turn"
    );
}

async fn tools_round_trip(w: Wire) {
    let s = Case::new(w).await;
    let first = with_tools(chat("auto", "find cheap flights"));
    let (status, _, v) = s.h.post_chat(first.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(w.tool_names(&s.last_body()), ["lookup"]);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls", "{v}");
    let (name, args) = answered_call(&v);
    assert_eq!(name, "lookup");
    assert!(args["query"].is_string(), "{args}");
    let call = v["choices"][0]["message"]["tool_calls"][0].clone();
    let id = call["id"].as_str().expect("a call id").to_owned();
    assert!(!id.is_empty());

    let mut second = first;
    let mut assistant = v["choices"][0]["message"].clone();
    assistant["content"] = Value::Null;
    second["messages"].as_array_mut().unwrap().extend([
        assistant,
        json!({"role": "tool", "tool_call_id": id, "content": "{\"temp_c\": 21}"}),
    ]);
    let (status, _, v) = s.h.post_chat(second).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "stop", "{v}");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    let sent = s.last_body();
    let (sent_id, sent_name, sent_args) = w.tool_call_at(&sent, 1);
    assert_eq!(
        (sent_name.as_str(), &sent_args),
        ("lookup", &args),
        "{sent}"
    );
    if let Some(sent_id) = sent_id {
        assert_eq!(sent_id, id);
    }
    let (result_ref, result) = w.tool_result(&sent);
    assert_eq!(result, json!({"temp_c": 21}), "{sent}");
    let expected_ref = if w == Wire::Gemini { "lookup" } else { &id };
    assert_eq!(result_ref, expected_ref);
}

async fn streaming_text(w: Wire) {
    let s = Case::new(w).await;
    let (status, headers, text) =
        s.h.stream_chat(chat_stream("auto", "stream me", false))
            .await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/event-stream"));
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let all = chunks(&events);
    assert_eq!(all[0]["object"], "chat.completion.chunk");
    assert_eq!(all[0]["choices"][0]["delta"]["role"], "assistant", "{text}");
    assert_eq!(finish_reasons(&events), ["stop"]);
    assert!(s.c().recorded()[0].stream);
    let (_, _, v) = s.h.post_chat(chat("auto", "stream me")).await;
    assert_eq!(
        sse_content(&events),
        v["choices"][0]["message"]["content"].as_str().unwrap(),
        "streamed and whole answers agree"
    );
}

async fn streaming_tool_call(w: Wire) {
    let s = Case::new(w).await;
    let (status, _, v) =
        s.h.post_chat(with_tools(chat("auto", "weather in Oslo")))
            .await;
    assert_eq!(status, 200, "{v}");
    let (_, whole) = answered_call(&v);
    let (status, _, text) =
        s.h.stream_chat(with_tools(chat_stream("auto", "weather in Oslo", false)))
            .await;
    assert_eq!(status, 200);
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    let (mut name, mut id, mut args) = (None, None, String::new());
    for c in chunks(&events) {
        let Some(tc) = c["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        assert_eq!(tc[0]["index"], 0, "{c}");
        if let Some(n) = tc[0]["function"]["name"].as_str() {
            assert!(name.is_none(), "the name comes once: {text}");
            assert_eq!(tc[0]["type"], "function");
            name = Some(n.to_owned());
            id = tc[0]["id"].as_str().map(str::to_owned);
        }
        args.push_str(tc[0]["function"]["arguments"].as_str().unwrap_or(""));
    }
    assert_eq!(name.as_deref(), Some("lookup"), "{text}");
    assert!(id.is_some_and(|i| !i.is_empty()), "{text}");
    let streamed: Value = serde_json::from_str(&args).expect("assembled arguments parse");
    assert_eq!(streamed, whole);
    assert_eq!(finish_reasons(&events), ["tool_calls"]);
}

async fn stop_reason_length(w: Wire) {
    let s = Case::new(w).await;
    let mut body = chat("auto", "long please");
    body["max_tokens"] = json!(3);
    let (status, _, v) = s.h.post_chat(body.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(w.max_tokens(&s.last_body()), 3);
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 3);
    body["stream"] = json!(true);
    let (status, _, text) = s.h.stream_chat(body).await;
    assert_eq!(status, 200);
    assert_eq!(finish_reasons(&sse_data(&text)), ["length"], "{text}");
}

async fn usage(w: Wire) {
    let s = Case::new(w).await;
    let prompt = sim_prompt_tokens(&["count these tokens"]);
    let (status, _, v) = s.h.post_chat(chat("auto", "count these tokens")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["usage"]["prompt_tokens"], prompt, "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 16);
    assert_eq!(v["usage"]["total_tokens"], prompt + 16);
    let (status, _, text) =
        s.h.stream_chat(chat_stream("auto", "count these tokens", true))
            .await;
    assert_eq!(status, 200);
    let events = sse_data(&text);
    let last = chunks(&events).pop().expect("a usage chunk");
    assert_eq!(last["choices"], json!([]), "{text}");
    assert_eq!(last["usage"]["prompt_tokens"], prompt, "{text}");
    assert_eq!(last["usage"]["completion_tokens"], 16);
    let lines = s.h.ledger_lines().await;
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(
            (l.prompt_tokens, l.completion_tokens, l.tokens_estimated),
            (prompt, 16, false)
        );
        assert_eq!(l.provider.as_deref(), Some("p"));
    }
}

async fn upstream_400(w: Wire) {
    let s = Case::with_fallback(w, 3).await;
    s.c()
        .set_behavior(w.bad_request("conformance: bad request"));
    let (status, _, v) = s.h.post_chat(chat("auto", "bad")).await;
    assert_eq!(status, 400, "{v}");
    let err = assert_openai_error(&v);
    assert_eq!(err["message"], "conformance: bad request");
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(s.c().calls(), 1, "a 400 is not retried");
    assert_eq!(s.h.calls("fb"), 0, "a 400 does not fail over");
}

async fn rate_limited(w: Wire) {
    let p = Upstream::new("p", &["m1"]).keys(&["k1", "k2"]).attempts(2);
    let s = Case::start(w, p, true).await;
    s.c().push_script([Behavior::RateLimited {
        retry_after_secs: 30,
    }]);
    let (status, headers, v) = s.h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(header(&headers, "x-switchyard-model"), PRIMARY);
    let (status, _, v) = s.h.post_chat(chat("auto", "again")).await;
    assert_eq!(status, 200, "{v}");
    let keys: Vec<Option<String>> = s.c().recorded().into_iter().map(|r| r.key).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(Option::is_some), "{keys:?}");
    assert_ne!(keys[0], keys[1], "the retry uses the other key");
    assert_eq!(keys[2], keys[1], "the rate-limited key is cooling down");
    assert_eq!(s.h.calls("fb"), 0);
}

/// `behavior` on every call of `p`: retried `attempts` times, then answered by `fb`, streaming
/// included.
async fn fails_over(w: Wire, behavior: Behavior, attempts: u32) {
    let s = Case::with_fallback(w, attempts).await;
    s.c().set_behavior(behavior.clone());
    let (status, headers, v) = s.h.post_chat(chat("auto", "hi")).await;
    assert_eq!(status, 200, "{behavior:?}: {v}");
    assert_eq!(header(&headers, "x-switchyard-model"), FALLBACK);
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .starts_with("[fb-1]"));
    assert_eq!(
        (s.c().calls(), s.h.calls("fb")),
        (attempts as usize, 1),
        "{behavior:?}"
    );
    let (status, headers, text) = s.h.stream_chat(chat_stream("auto", "hi", false)).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-switchyard-model"), FALLBACK);
    let events = sse_data(&text);
    assert!(sse_content(&events).starts_with("[fb-1]"), "{text}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

async fn upstream_500(w: Wire) {
    fails_over(w, w.server_error(), 2).await;
}

async fn overloaded(w: Wire) {
    fails_over(w, w.overloaded(), 2).await;
}

async fn malformed_body(w: Wire) {
    fails_over(w, Behavior::Malformed, 1).await;
    let s = Case::new(w).await;
    s.c().set_behavior(Behavior::Malformed);
    let limit = Duration::from_secs(5);
    let (status, _, v) = tokio::time::timeout(limit, s.h.post_chat(chat("auto", "hi")))
        .await
        .expect("no hang");
    assert_eq!(status, 502, "{v}");
    let err = assert_openai_error(&v);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("malformed"),
        "{v}"
    );
    let (status, _, text) =
        tokio::time::timeout(limit, s.h.stream_chat(chat_stream("auto", "hi", false)))
            .await
            .expect("no hang");
    if status == 200 {
        let events = sse_data(&text);
        assert!(
            chunks(&events).iter().any(|e| e.get("error").is_some()),
            "a broken stream ends with an error event: {text}"
        );
    } else {
        assert_eq!(status, 502, "{text}");
        assert_openai_error(&serde_json::from_str(&text).expect("JSON error"));
    }
}

/// Generates `mod <wire> { #[tokio::test] async fn <case>() }` for every case.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        conformance!(@wire openai, OpenAi, $($case),*);
        conformance!(@wire anthropic, Anthropic, $($case),*);
        conformance!(@wire gemini, Gemini, $($case),*);
    };
    (@wire $m:ident, $w:ident, $($case:ident),*) => {
        mod $m {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Wire::$w).await;
                }
            )*
        }
    };
}

conformance!(
    plain_chat,
    multi_turn,
    system_prompt,
    tools_round_trip,
    streaming_text,
    streaming_tool_call,
    stop_reason_length,
    usage,
    upstream_400,
    rate_limited,
    upstream_500,
    overloaded,
    malformed_body,
);
