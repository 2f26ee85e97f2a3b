//! Arbitrary upstream answers and SSE event sequences through each wire's translation
//! (OpenAI pass-through, Anthropic, Gemini): mutated valid answers, errors and events, damaged
//! text and garbage, under any status. Each ends as a translated answer (a JSON object), or an
//! error with a 4xx/5xx status and OpenAI's shape; a stream's chunks are JSON objects and a
//! broken stream ends with an OpenAI-shaped error. Never a panic.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{json, Map, Value};
use switchyard::testing::replay::{self, Answer};
use switchyard::testing::Endpoint;

use super::{check_error_shape, fuzz, gen};

/// Cases per wire and target: translation is pure and fast.
const ANSWER_CASES: u32 = 400;
const STREAM_CASES: u32 = 300;

const WIRES: [&str; 3] = ["openai", "anthropic", "gemini"];

fn answers(wire: &str) -> Vec<Value> {
    match wire {
        "anthropic" => vec![
            json!({"id": "msg_1", "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 5,
                    "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}}),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}),
        ],
        "gemini" => vec![
            json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"},
                {"text": "hmm", "thought": true}, {"functionCall": {"name": "f", "args": {"q": 1}}}]},
                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 2,
                    "totalTokenCount": 12, "cachedContentTokenCount": 4, "thoughtsTokenCount": 1}}),
            json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}),
            json!({"embeddings": [{"values": [0.5, -1.0]}, {"values": [0.25]}]}),
            json!({"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "22s"}]}}),
            json!([{"error": {"code": 400, "message": "API key not valid", "status": "INVALID_ARGUMENT",
                "details": [{"reason": "API_KEY_INVALID"}]}}]),
        ],
        _ => vec![
            json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
                    "prompt_tokens_details": {"cached_tokens": 1, "cache_creation_tokens": 1}}}),
            json!({"object": "list", "data": [{"object": "embedding", "index": 0,
                "embedding": [0.1, 0.2]}], "model": "m", "usage": {"prompt_tokens": 2, "total_tokens": 2}}),
            json!({"id": "cmpl-1", "object": "text_completion", "choices": [{"text": "hi", "index": 0}]}),
            json!({"error": {"message": "bad", "type": "invalid_request_error", "param": null, "code": null}}),
        ],
    }
}

fn streams(wire: &str) -> Vec<Vec<Value>> {
    match wire {
        "anthropic" => vec![
            vec![
                json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                "role": "assistant", "content": [], "stop_reason": null,
                "usage": {"input_tokens": 12, "output_tokens": 1, "cache_read_input_tokens": 4}}}),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                json!({"type": "ping"}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
                json!({"type": "content_block_stop", "index": 0}),
                json!({"type": "content_block_start", "index": 1, "content_block":
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
                json!({"type": "content_block_delta", "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
                json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null},
                "usage": {"output_tokens": 7}}),
                json!({"type": "message_stop"}),
            ],
            vec![
                json!({"type": "message_start", "message": {"id": "m", "usage": {}}}),
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ],
        ],
        "gemini" => vec![
            vec![
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1}}),
                json!({"candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "f", "args": {"q": "a"}}}]}, "index": 0}]}),
                json!({"candidates": [{"content": {"role": "model", "parts": [{"text": " there"}]},
                "finishReason": "MAX_TOKENS", "index": 0}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}}),
            ],
            vec![json!({"promptFeedback": {"blockReason": "SAFETY"}})],
            vec![json!({"error": {"code": 500, "message": "internal", "status": "INTERNAL"}})],
        ],
        _ => vec![vec![
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}),
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": null}]}),
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}),
            json!("[DONE]"),
        ]],
    }
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        4 => Just(200u16),
        3 => prop::sample::select(vec![400u16, 401, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504, 529]),
        1 => 100u16..1000,
    ]
}

/// An event's `data` text: JSON values as their text, `"[DONE]"` as the bare marker.
fn data(v: &Value) -> String {
    match v {
        Value::String(s) if s == "[DONE]" => s.clone(),
        v => v.to_string(),
    }
}

fn event(bases: Vec<Value>) -> impl Strategy<Value = String> {
    let texts: Vec<Vec<u8>> = bases.iter().map(|b| data(b).into_bytes()).collect();
    prop_oneof![
        5 => gen::mutated_any(bases).prop_map(|v| data(&v)),
        2 => prop::sample::select(texts).prop_flat_map(gen::garbled)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => gen::text(),
        1 => prop::sample::select(vec!["[DONE]", "", " ", ": comment", "{}", "null", "[]"]).prop_map(str::to_owned),
    ]
}

/// A valid sequence with a few events changed, dropped or added; or events at random.
fn sequence(wire: &str) -> impl Strategy<Value = Vec<String>> {
    let seqs = streams(wire);
    let all: Vec<Value> = seqs.iter().flatten().cloned().collect();
    let edited = prop::sample::select(seqs).prop_flat_map({
        let all = all.clone();
        move |seq| {
            let edits = prop::collection::vec((any::<usize>(), 0u8..3, event(all.clone())), 0..4);
            edits.prop_map(move |edits| {
                let mut s: Vec<String> = seq.iter().map(data).collect();
                for (i, op, e) in edits {
                    let at = i % (s.len() + 1);
                    match op {
                        0 if at < s.len() => s[at] = e,
                        1 if at < s.len() => {
                            s.remove(at);
                        }
                        _ => s.insert(at, e),
                    }
                }
                s
            })
        }
    });
    prop_oneof![
        3 => edited,
        1 => prop::collection::vec(event(all), 0..10),
    ]
}

fn check_answer(wire: &str, endpoint: Endpoint, answer: &Answer) -> Result<(), TestCaseError> {
    match answer {
        Answer::Ok(body) => {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                TestCaseError::fail(format!(
                    "answer is not JSON ({e}): {:?}",
                    String::from_utf8_lossy(body)
                ))
            })?;
            prop_assert!(v.is_object(), "answer is not a JSON object: {v}");
            if wire != "openai" {
                let object = if endpoint == Endpoint::Embeddings {
                    "list"
                } else {
                    "chat.completion"
                };
                prop_assert_eq!(&v["object"], object, "{}", v);
            }
            Ok(())
        }
        Answer::Error { status, body } => {
            prop_assert!(
                (400..600).contains(status),
                "status {} to the client: {:?}",
                status,
                body
            );
            check_error_shape(body)
        }
    }
}

fn answers_of(wire: &'static str) {
    let request: Map<String, Value> = json!({"model": "m", "input": ["a", "b"]})
        .as_object()
        .cloned()
        .unwrap_or_default();
    let endpoints = match wire {
        "anthropic" => vec![Endpoint::Chat],
        _ => vec![Endpoint::Chat, Endpoint::Embeddings],
    };
    let body = prop_oneof![
        6 => gen::mutated_any(answers(wire)).prop_map(|v| v.to_string().into_bytes()),
        1 => prop::sample::select(answers(wire)).prop_map(|v| v.to_string().into_bytes()),
        2 => prop::sample::select(answers(wire).iter().map(|v| v.to_string().into_bytes()).collect::<Vec<_>>())
            .prop_flat_map(gen::garbled),
        1 => gen::garbage(),
    ];
    let cases = (prop::sample::select(endpoints), status(), body);
    fuzz(
        &format!("upstream_answer_{wire}"),
        ANSWER_CASES,
        cases,
        |(endpoint, status, body)| {
            let answer = replay::answer(wire, endpoint, &request, status, &body);
            check_answer(wire, endpoint, &answer)
        },
    );
}

fn streams_of(wire: &'static str) {
    fuzz(
        &format!("upstream_stream_{wire}"),
        STREAM_CASES,
        sequence(wire),
        |events| {
            let out = replay::stream(wire, &events);
            for c in &out.chunks {
                let v: Value = serde_json::from_str(c).map_err(|e| {
                    TestCaseError::fail(format!("relayed chunk is not JSON ({e}): {c:?}"))
                })?;
                prop_assert!(v.is_object(), "relayed chunk is not an object: {}", c);
                if wire != "openai" {
                    prop_assert_eq!(&v["object"], "chat.completion.chunk", "{}", c);
                }
            }
            match &out.error {
                None => Ok(()),
                Some((status, body)) => {
                    if let Some(s) = status {
                        prop_assert!((400..600).contains(s), "status {}", s);
                    }
                    check_error_shape(body)
                }
            }
        },
    );
}

#[test]
fn upstream_answers_of_every_wire() {
    for wire in WIRES {
        answers_of(wire);
    }
}

#[test]
fn upstream_streams_of_every_wire() {
    for wire in WIRES {
        streams_of(wire);
    }
}

/// The relay strips the `"usage": null` that asking upstream for usage adds, with a byte
/// scanner over each chunk's text: whatever the chunk, no panic, and a JSON object stays the
/// same object minus that member.
#[test]
fn null_usage_is_stripped_from_any_chunk() {
    let bases: Vec<Value> = streams("openai")
        .into_iter()
        .flatten()
        .filter(Value::is_object)
        .map(|mut v| {
            v["usage"] = Value::Null;
            v
        })
        .collect();
    let texts: Vec<Vec<u8>> = bases.iter().map(|v| v.to_string().into_bytes()).collect();
    let chunk = prop_oneof![
        4 => gen::mutated_any(bases).prop_map(|v| v.to_string()),
        2 => prop::sample::select(texts).prop_flat_map(gen::garbled)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => gen::text(),
    ];
    fuzz("sse_null_usage", STREAM_CASES, chunk, |data| {
        let out = switchyard::testing::without_null_usage(&data);
        let Ok(Value::Object(before)) = serde_json::from_str::<Value>(&data) else {
            return Ok(());
        };
        let after: Value = serde_json::from_str(&out)
            .map_err(|e| TestCaseError::fail(format!("stripping broke the JSON ({e}): {out}")))?;
        let after = after
            .as_object()
            .ok_or_else(|| TestCaseError::fail(format!("no longer an object: {out}")))?;
        for (k, v) in &before {
            if k != "usage" {
                prop_assert_eq!(after.get(k), Some(v), "member {} changed: {}", k, out);
            }
        }
        prop_assert!(after.keys().all(|k| before.contains_key(k)));
        Ok(())
    });
}
