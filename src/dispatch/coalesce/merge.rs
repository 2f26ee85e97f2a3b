//! The pure part of embeddings micro-batching: which requests may share a call, the one body
//! they are sent as, and the combined answer split back into one answer per request.
//!
//! Requests share a call when everything but `input` is the same (`dimensions`,
//! `encoding_format`, `user`, any other field), so the upstream treats every input exactly as
//! it would have alone. Only text inputs (a string or an array of strings) are coalesced;
//! token-id inputs go upstream on their own. The combined body is the first member's with
//! `input` replaced by every member's texts in order; member `k`'s answer is the combined
//! `data` entries at its offsets, re-indexed from 0, with its share of the usage.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::openai::Usage;

/// What the batch needs to know of one request: how many texts it brings, and the options
/// that must match for it to share a call (everything but `model` and `input`, as JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    pub inputs: usize,
    pub options: String,
}

/// The request's shape when it can be coalesced: text input only.
pub(crate) fn shape(body: &Map<String, Value>) -> Option<Shape> {
    let inputs = match body.get("input")? {
        Value::String(_) => 1,
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
            items.len()
        }
        _ => return None,
    };
    // sorted keys, so the same options written in another order still match
    let options: std::collections::BTreeMap<&String, &Value> = body
        .iter()
        .filter(|(k, _)| k.as_str() != "input" && k.as_str() != "model")
        .collect();
    Some(Shape {
        inputs,
        options: serde_json::to_string(&options).ok()?,
    })
}

/// The one body a batch is sent as: the first member's options, every member's texts in order.
pub(crate) fn merge<'a>(
    bodies: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> Map<String, Value> {
    let mut out = Map::new();
    let mut texts = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        if i == 0 {
            out.clone_from(body);
        }
        match body.get("input") {
            Some(Value::Array(items)) => texts.extend(items.iter().cloned()),
            Some(v) => texts.push(v.clone()),
            None => {}
        }
    }
    out.insert("input".into(), Value::Array(texts));
    out
}

/// `total` split in proportion to `weights` (largest remainder, so the parts add up to
/// `total` exactly); equal parts when every weight is zero.
pub(crate) fn shares(total: u64, weights: &[u64]) -> Vec<u64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let (weights, sum): (Vec<u128>, u128) = if sum == 0 {
        (vec![1; weights.len()], weights.len() as u128)
    } else {
        (weights.iter().map(|&w| u128::from(w)).collect(), sum)
    };
    let total128 = u128::from(total);
    let mut parts: Vec<u64> = weights
        .iter()
        .map(|w| u64::try_from(total128 * w / sum).unwrap_or(u64::MAX))
        .collect();
    let given: u64 = parts.iter().sum();
    // hand the remainder out to the largest fractional parts, earliest first on ties
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(total128 * weights[i] % sum));
    for &i in order
        .iter()
        .take(usize::try_from(total - given).unwrap_or(0))
    {
        parts[i] += 1;
    }
    parts
}

/// One member's answer: its body and the usage it is billed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub body: Bytes,
    /// The member's share of the upstream's usage; `None` when the upstream reported none
    /// (the router then counts the member's own prompt, as for any such answer).
    pub usage: Option<Usage>,
}

/// Splits a combined answer (OpenAI's embeddings list) among members bringing `counts` texts
/// each, the usage shared in proportion to `tokens` (each member's prompt as the router
/// counted it). An answer whose entries do not match the inputs one for one is an error.
pub(crate) fn split(answer: &[u8], counts: &[usize], tokens: &[u64]) -> Result<Vec<Part>, String> {
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(answer) else {
        return Err("the combined embeddings answer is not a JSON object".into());
    };
    let Some(Value::Array(data)) = top.remove("data") else {
        return Err("the combined embeddings answer has no `data` list".into());
    };
    let total: usize = counts.iter().sum();
    if data.len() != total {
        return Err(format!(
            "the upstream returned {} embeddings for {total} inputs",
            data.len()
        ));
    }
    let mut slots: Vec<Option<Value>> = vec![None; total];
    for (pos, mut entry) in data.into_iter().enumerate() {
        let i = entry
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
            .unwrap_or(pos);
        match slots.get_mut(i) {
            Some(slot @ None) => {
                if let Value::Object(e) = &mut entry {
                    e.remove("index");
                }
                *slot = Some(entry);
            }
            _ => return Err(format!("embedding index {i} is out of range or repeated")),
        }
    }
    let usage: Option<Usage> = top
        .remove("usage")
        .and_then(|u| serde_json::from_value(u).ok());
    let prompt_shares = usage.map(|u| shares(u.prompt_tokens, tokens));
    let mut slots = slots.into_iter();
    let mut parts = Vec::with_capacity(counts.len());
    for (k, &n) in counts.iter().enumerate() {
        let data: Vec<Value> = slots
            .by_ref()
            .take(n)
            .enumerate()
            .map(|(j, e)| {
                let mut e = match e {
                    Some(Value::Object(e)) => e,
                    _ => Map::new(),
                };
                e.insert("index".into(), Value::from(j));
                Value::Object(e)
            })
            .collect();
        let mut body = top.clone();
        body.insert("data".into(), Value::Array(data));
        let usage = prompt_shares.as_ref().map(|s| Usage {
            prompt_tokens: s[k],
            ..Usage::default()
        });
        if let Some(u) = &usage {
            body.insert(
                "usage".into(),
                serde_json::json!({"prompt_tokens": u.prompt_tokens, "total_tokens": u.prompt_tokens}),
            );
        }
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        parts.push(Part {
            body: body.into(),
            usage,
        });
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn only_text_inputs_have_a_shape_and_options_must_match() {
        let a = shape(&body(json!({"model": "m", "input": "x", "dimensions": 8}))).unwrap();
        let b = shape(&body(
            json!({"dimensions": 8, "model": "other", "input": ["y", "z"]}),
        ))
        .unwrap();
        assert_eq!((a.inputs, b.inputs), (1, 2));
        assert_eq!(a.options, b.options, "model and key order do not matter");
        let c = shape(&body(json!({"model": "m", "input": "x", "dimensions": 4}))).unwrap();
        assert_ne!(a.options, c.options);
        let d = shape(&body(json!({"input": "x", "encoding_format": "base64"}))).unwrap();
        assert_ne!(a.options, d.options);
        for v in [
            json!({"input": [1, 2, 3]}),
            json!({"input": [[1, 2]]}),
            json!({"input": []}),
            json!({"input": ["a", 1]}),
            json!({"model": "m"}),
        ] {
            assert!(shape(&body(v.clone())).is_none(), "{v}");
        }
    }

    #[test]
    fn merge_keeps_options_and_concatenates_texts_in_order() {
        let a = body(json!({"model": "m", "input": "one", "dimensions": 3}));
        let b = body(json!({"model": "m", "input": ["two", "three"], "dimensions": 3}));
        let m = merge([&a, &b]);
        assert_eq!(
            Value::Object(m),
            json!({"model": "m", "input": ["one", "two", "three"], "dimensions": 3})
        );
    }

    #[test]
    fn shares_add_up_and_follow_the_weights() {
        assert_eq!(shares(10, &[1, 1]), vec![5, 5]);
        assert_eq!(shares(10, &[1, 2, 2]), vec![2, 4, 4]);
        assert_eq!(shares(7, &[1, 1, 1]).iter().sum::<u64>(), 7);
        assert_eq!(shares(3, &[0, 0, 0]), vec![1, 1, 1]);
        assert_eq!(shares(0, &[5, 9]), vec![0, 0]);
        assert_eq!(
            shares(9, &[3, 6]),
            vec![3, 6],
            "exact when the counts agree"
        );
        assert!(shares(5, &[]).is_empty());
    }

    #[test]
    fn split_reindexes_each_member_and_shares_usage() {
        let answer = json!({"object": "list", "model": "emb", "data": [
            {"object": "embedding", "index": 2, "embedding": [0.3]},
            {"object": "embedding", "index": 0, "embedding": [0.1]},
            {"object": "embedding", "index": 1, "embedding": [0.2]},
        ], "usage": {"prompt_tokens": 9, "total_tokens": 9}});
        let parts = split(answer.to_string().as_bytes(), &[1, 2], &[3, 6]).unwrap();
        let first: Value = serde_json::from_slice(&parts[0].body).unwrap();
        let second: Value = serde_json::from_slice(&parts[1].body).unwrap();
        assert_eq!(
            first,
            json!({"object": "list", "model": "emb", "data": [
                {"object": "embedding", "index": 0, "embedding": [0.1]}],
                "usage": {"prompt_tokens": 3, "total_tokens": 3}})
        );
        assert_eq!(second["data"][0]["embedding"], json!([0.2]));
        assert_eq!(second["data"][1]["index"], 1);
        assert_eq!(second["data"][1]["embedding"], json!([0.3]));
        assert_eq!(parts[1].usage.unwrap().prompt_tokens, 6);
    }

    #[test]
    fn split_without_usage_leaves_counting_to_the_router() {
        let answer = json!({"object": "list", "data": [{"embedding": [1]}, {"embedding": [2]}]});
        let parts = split(answer.to_string().as_bytes(), &[1, 1], &[1, 1]).unwrap();
        assert!(parts.iter().all(|p| p.usage.is_none()));
        let v: Value = serde_json::from_slice(&parts[1].body).unwrap();
        assert_eq!(v["data"], json!([{"embedding": [2], "index": 0}]));
        assert!(v.get("usage").is_none());
    }

    #[test]
    fn split_refuses_answers_that_do_not_match_the_inputs() {
        let short = json!({"data": [{"index": 0, "embedding": []}]}).to_string();
        assert!(split(short.as_bytes(), &[1, 1], &[1, 1]).is_err());
        let repeated =
            json!({"data": [{"index": 0, "embedding": []}, {"index": 0, "embedding": []}]})
                .to_string();
        assert!(split(repeated.as_bytes(), &[1, 1], &[1, 1]).is_err());
        let outside =
            json!({"data": [{"index": 0, "embedding": []}, {"index": 5, "embedding": []}]})
                .to_string();
        assert!(split(outside.as_bytes(), &[2], &[1]).is_err());
        assert!(split(b"[1]", &[1], &[1]).is_err());
        assert!(split(b"{}", &[1], &[1]).is_err());
    }
}
