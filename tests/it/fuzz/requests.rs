//! Hostile request bodies on /v1/chat/completions, /v1/completions and /v1/embeddings through
//! the real router (served on 127.0.0.1:0) to simulated upstreams of every wire: structured
//! mutations of valid bodies (wrong types, edge numbers, deep nesting, unicode, missing and
//! extra fields), damaged JSON text and garbage. Every answer is a 2xx, or a 4xx in OpenAI's
//! error shape; never a 5xx of the router's making, an empty reply or a dropped connection;
//! the router still answers a valid request afterwards.

use std::collections::BTreeMap;
use std::sync::Mutex;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Value};

use super::{check_error_shape, fuzz, gen};
use crate::common::{Harness, Upstream};

const POLICY: &str = r#"
name: p
aliases: [auto, embed]
baseline: up/small
rules:
  - name: vectors
    when: {endpoint: embeddings}
    route: [up/emb]
  - name: text
    route: [up/small]
"#;

/// Cases per endpoint; a debug build answers a few hundred per second.
const CASES: u32 = 300;

fn router(rt: &tokio::runtime::Runtime) -> Harness {
    rt.block_on(
        Harness::builder(vec![
            Upstream::new("up", &["small", "emb"]).endpoints("emb", "[embeddings]"),
            Upstream::new("anth", &["c"]).wire("anthropic"),
            Upstream::new("gem", &["g", "gemb"])
                .wire("gemini")
                .endpoints("gemb", "[embeddings]"),
        ])
        .policy(POLICY)
        .start(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn chat_bases() -> Vec<Value> {
    let mut out = Vec::new();
    for model in ["auto", "up/small", "anth/c", "gem/g"] {
        out.push(json!({"model": model, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello."}],
            "max_tokens": 16, "temperature": 0.2}));
        out.push(json!({"model": model, "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}],
            "n": 1, "stop": ["\n\n"], "top_p": 0.9, "user": "u1"}));
        out.push(json!({"model": model, "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
            "tools": [{"type": "function", "function": {"name": "weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
            "tool_choice": "auto", "response_format": {"type": "json_object"}, "seed": 7}));
    }
    out
}

fn completion_bases() -> Vec<Value> {
    vec![
        json!({"model": "auto", "prompt": "Say hello", "max_tokens": 5, "echo": false}),
        json!({"model": "up/small", "prompt": ["a", "b"], "stream": true, "logprobs": 2}),
        json!({"model": "auto", "prompt": [1, 2, 3], "suffix": "x", "temperature": 0}),
    ]
}

fn embedding_bases() -> Vec<Value> {
    vec![
        json!({"model": "embed", "input": "hello"}),
        json!({"model": "up/emb", "input": ["a", "b"], "encoding_format": "float"}),
        json!({"model": "gem/gemb", "input": ["a", "b"], "dimensions": 8}),
        json!({"model": "gem/gemb", "input": "x", "encoding_format": "base64"}),
        json!({"model": "embed", "input": [[1, 2], [3]]}),
    ]
}

/// Sends `body` to `path`; checks what came back and counts its status in `seen`.
async fn check(
    h: &Harness,
    path: &str,
    body: Vec<u8>,
    seen: &Mutex<BTreeMap<u16, u32>>,
) -> Result<(), TestCaseError> {
    let resp = h
        .client
        .post(h.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
    let status = resp.status().as_u16();
    *seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(status)
        .or_default() += 1;
    let sse = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| TestCaseError::fail(format!("answer cut: {e}")))?;
    let text = String::from_utf8_lossy(&bytes);
    prop_assert!(status < 500, "{status}: {text}");
    if status >= 400 {
        return check_error_shape(&bytes);
    }
    prop_assert!((200..300).contains(&status), "{status}: {text}");
    if sse {
        // a stream ends with [DONE], or with an OpenAI-shaped error event
        let last = text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .last()
            .unwrap_or_default();
        if last != "[DONE]" {
            check_error_shape(last.as_bytes())?;
        }
    } else {
        prop_assert!(
            serde_json::from_slice::<Value>(&bytes).is_ok_and(|v| v.is_object()),
            "a 2xx that is not a JSON object: {text}"
        );
    }
    Ok(())
}

/// Fuzzes `path` with bodies grown from `bases`; the router must still serve `valid` after.
fn endpoint(target: &str, path: &str, bases: Vec<Value>) {
    let rt = runtime();
    let h = router(&rt);
    let valid = bases[0].to_string().into_bytes();
    let seen = Mutex::new(BTreeMap::new());
    fuzz(target, CASES, gen::body(bases), |body| {
        rt.block_on(check(&h, path, body, &seen))
    });
    println!(
        "fuzz {target}: answers by status {:?}",
        seen.into_inner().unwrap_or_default()
    );
    let resp = rt.block_on(
        h.client
            .post(h.url(path))
            .header("content-type", "application/json")
            .body(valid)
            .send(),
    );
    assert_eq!(resp.expect("router answers").status(), 200, "still serving");
    let (status, _) = rt.block_on(h.get("/health"));
    assert_eq!(status, 200);
}

#[test]
fn chat_completion_bodies() {
    endpoint("request_chat", "/v1/chat/completions", chat_bases());
}

#[test]
fn completion_bodies() {
    endpoint("request_completions", "/v1/completions", completion_bases());
}

#[test]
fn embedding_bodies() {
    endpoint("request_embeddings", "/v1/embeddings", embedding_bases());
}

/// Chat bodies straight through the Anthropic and Gemini request translation (most hostile
/// bodies never get past the router's own checks): a body for the upstream, or a 400 in
/// OpenAI's shape; never a panic.
#[test]
fn chat_bodies_through_request_translation() {
    for wire in ["anthropic", "gemini"] {
        let bases = chat_bases();
        let cases = (gen::mutated_any(bases), any::<bool>());
        fuzz(
            &format!("request_translate_{wire}"),
            2 * CASES,
            cases,
            |(body, stream)| {
                let Value::Object(body) = body else {
                    return Ok(());
                };
                match switchyard::testing::replay::request(wire, &body, stream) {
                    Ok(v) => {
                        prop_assert!(v.is_object(), "{}", v);
                        Ok(())
                    }
                    Err(switchyard::testing::replay::Answer::Error { status, body }) => {
                        prop_assert!((400..500).contains(&status), "status {}", status);
                        check_error_shape(&body)
                    }
                    Err(other) => Err(TestCaseError::fail(format!("{other:?}"))),
                }
            },
        );
    }
}
