//! OpenAI `/v1/embeddings` over Gemini's `batchEmbedContents`: text inputs in, vectors out in order.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::adapters::{transport, Call, FullReply, Unsupported, UpstreamError};

/// An embeddings request Gemini cannot express, naming the offending field; never retried.
fn invalid(message: &str, param: &str) -> UpstreamError {
    UpstreamError::Unsupported(Unsupported::new(message, Some(param)))
}

/// The texts to embed: `input` as a string or an array of strings (Gemini embeds text only).
fn texts(body: &Map<String, Value>) -> Result<Vec<&str>, UpstreamError> {
    let token_ids = || {
        invalid(
            "Gemini embedding models take text only: send `input` as a string or an array of strings, not token ids.",
            "input",
        )
    };
    match body.get("input") {
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.as_str()),
                Value::Number(_) | Value::Array(_) => Err(token_ids()),
                _ => Err(invalid(
                    "`input` must be a string or an array of strings.",
                    "input",
                )),
            })
            .collect(),
        Some(Value::Array(_)) => Err(invalid("`input` must not be empty.", "input")),
        None => Err(invalid("Missing required parameter: 'input'.", "input")),
        Some(_) => Err(invalid(
            "`input` must be a string or an array of strings.",
            "input",
        )),
    }
}

/// A translated request: the `batchEmbedContents` body and how to answer.
struct Batch {
    body: Value,
    count: usize,
    base64: bool,
}

/// OpenAI's body as one `EmbedContentRequest` per input; `dimensions` becomes
/// `outputDimensionality` and a non-standard `task_type` becomes `taskType`.
fn to_batch(body: &Map<String, Value>, model: &str) -> Result<Batch, UpstreamError> {
    let texts = texts(body)?;
    let dims =
        match body.get("dimensions") {
            None | Some(Value::Null) => None,
            Some(d) => Some(d.as_u64().filter(|d| *d > 0).ok_or_else(|| {
                invalid("`dimensions` must be a positive integer.", "dimensions")
            })?),
        };
    let base64 = match body.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(invalid(
                &format!("`encoding_format` must be float or base64, not {other:?}."),
                "encoding_format",
            ))
        }
    };
    let task = body.get("task_type").and_then(Value::as_str);
    let requests: Vec<Value> = texts
        .iter()
        .map(|t| {
            let mut r =
                json!({"model": format!("models/{model}"), "content": {"parts": [{"text": t}]}});
            if let Some(d) = dims {
                r["outputDimensionality"] = json!(d);
            }
            if let Some(t) = task {
                r["taskType"] = json!(t.to_ascii_uppercase());
            }
            r
        })
        .collect();
    Ok(Batch {
        body: json!({ "requests": requests }),
        count: texts.len(),
        base64,
    })
}

#[derive(Deserialize)]
struct BatchResponse {
    #[serde(default)]
    embeddings: Vec<ContentEmbedding>,
}

#[derive(Deserialize)]
struct ContentEmbedding {
    #[serde(default)]
    values: Vec<f64>,
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// OpenAI's `base64` format: the vector's f32 little-endian bytes, standard base64 with padding.
fn base64_f32(values: &[f64]) -> String {
    let bytes: Vec<u8> = values
        .iter()
        .flat_map(|v| (*v as f32).to_le_bytes())
        .collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let at = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (at(0) << 16) | (at(1) << 8) | at(2);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            let c = if i <= chunk.len() {
                ALPHABET[((n >> shift) & 63) as usize]
            } else {
                b'='
            };
            out.push(char::from(c));
        }
    }
    out
}

/// Gemini's `{"embeddings":[{"values"}]}` as OpenAI's list, in input order. Gemini reports no
/// usage, so none is given: the router prices the prompt tokens it counted itself.
fn to_openai(resp: &BatchResponse, batch: &Batch, model: &str) -> Result<Value, String> {
    if resp.embeddings.len() != batch.count {
        return Err(format!(
            "Gemini returned {} embeddings for {} inputs",
            resp.embeddings.len(),
            batch.count
        ));
    }
    let data: Vec<Value> = resp
        .embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let vector = if batch.base64 {
                json!(base64_f32(&e.values))
            } else {
                json!(e.values)
            };
            json!({"object": "embedding", "index": i, "embedding": vector})
        })
        .collect();
    Ok(json!({"object": "list", "data": data, "model": model}))
}

/// Embeddings for every input in one `batchEmbedContents` call.
pub(crate) async fn embeddings(call: &Call<'_>) -> Result<FullReply, UpstreamError> {
    let model = call.model.upstream.trim_start_matches("models/");
    let batch = to_batch(call.body, model)?;
    let base = call.provider.base_url.trim_end_matches('/');
    let url = crate::adapters::http::uri(&format!("{base}/models/{model}:batchEmbedContents"))?;
    let mut req = call
        .client
        .post_with(&call.provider.http, url)
        .json(batch.body.to_string());
    if let Some(key) = call.key {
        req = req.secret_header("x-goog-api-key", key.expose());
    }
    let resp = transport::send(call, req)
        .await?
        .map_err(|r| super::rejection(call, &r))?;
    let raw = transport::read_body(call, resp).await?;
    let parsed: BatchResponse =
        serde_json::from_slice(&raw).map_err(|e| UpstreamError::Malformed(e.to_string()))?;
    let answer =
        to_openai(&parsed, &batch, &call.model.upstream).map_err(UpstreamError::Malformed)?;
    Ok(FullReply::unmetered(Bytes::from(answer.to_string())))
}

/// What [`embeddings`] makes of a 200 answer `raw` to `request`, without the network.
pub(super) fn replay(request: &Map<String, Value>, raw: &[u8]) -> Result<FullReply, UpstreamError> {
    let batch = to_batch(request, "replayed")?;
    let parsed: BatchResponse =
        serde_json::from_slice(raw).map_err(|e| UpstreamError::Malformed(e.to_string()))?;
    let answer = to_openai(&parsed, &batch, "replayed").map_err(UpstreamError::Malformed)?;
    Ok(FullReply::unmetered(Bytes::from(answer.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn maps_inputs_dimensions_and_task_type() {
        let b = to_batch(
            &body(json!({"input": ["a", "b"], "dimensions": 8, "task_type": "retrieval_query"})),
            "emb",
        )
        .unwrap();
        assert_eq!(b.count, 2);
        assert!(!b.base64);
        assert_eq!(
            b.body["requests"][1],
            json!({"model": "models/emb", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8, "taskType": "RETRIEVAL_QUERY"})
        );
        let one = to_batch(&body(json!({"input": "x"})), "emb").unwrap();
        assert_eq!(one.body["requests"].as_array().unwrap().len(), 1);
        assert!(one.body["requests"][0]
            .get("outputDimensionality")
            .is_none());
    }

    #[test]
    fn rejects_token_ids_and_bad_options() {
        for bad in [
            json!({"input": [1, 2, 3]}),
            json!({"input": [[1, 2]]}),
            json!({"input": []}),
            json!({"input": "x", "dimensions": 0}),
            json!({"input": "x", "encoding_format": "int8"}),
        ] {
            let err = to_batch(&body(bad.clone()), "m").err().expect("rejected");
            assert!(!err.is_retryable(), "{bad}");
        }
    }

    #[test]
    fn base64_is_f32_little_endian() {
        // 1.0f32 = 00 00 80 3f; 2.0f32 = 00 00 00 40
        assert_eq!(base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(base64_f32(&[1.0, 2.0]), "AACAPwAAAEA=");
        assert_eq!(base64_f32(&[]), "");
    }

    #[test]
    fn answers_in_order_and_checks_the_count() {
        let b = to_batch(&body(json!({"input": ["a", "b"]})), "m").unwrap();
        let resp: BatchResponse = serde_json::from_value(
            json!({"embeddings": [{"values": [0.5]}, {"values": [0.25, 1.0]}]}),
        )
        .unwrap();
        let v = to_openai(&resp, &b, "m").unwrap();
        assert_eq!(
            v["data"][1],
            json!({"object": "embedding", "index": 1, "embedding": [0.25, 1.0]})
        );
        assert!(v.get("usage").is_none());
        let short: BatchResponse = serde_json::from_value(json!({"embeddings": []})).unwrap();
        assert!(to_openai(&short, &b, "m").is_err());
    }
}
