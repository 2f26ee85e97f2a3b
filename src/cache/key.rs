//! The cache key: SHA-256 of a request normalised to the fields that change the answer.

use std::io::Write;

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::openai::ChatRequest;

/// Body fields that do not change the answer: the model is replaced by the resolved route, and
/// the rest only affect delivery, billing or logging.
const IGNORED: [&str; 9] = [
    "model",
    "stream",
    "stream_options",
    "user",
    "metadata",
    "store",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
];

/// Bumped when the normalisation or the stored format changes, so old entries are never read.
const VERSION: &str = "switchyard-cache-v2";

/// Identifies one cacheable answer: equal keys mean requests that deserve the same answer.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

/// What besides the body decides whether two requests may share an answer.
#[derive(Debug, Clone, Copy)]
pub struct Partition<'a> {
    /// The resolved policy name or model id: the same messages sent to different routes never
    /// share an answer.
    pub route: &'a str,
    /// Whose answers these are (`user:NAME`, `team:NAME` or `global`, per `cache.scope`): one
    /// tenant never receives an answer another tenant's request produced.
    pub scope: &'a str,
    /// The applying policy's fingerprint: an answer made before its rules or guardrails
    /// changed is not served after.
    pub policy: u64,
}

impl CacheKey {
    /// The key of `req` within `partition`.
    pub fn for_request(req: &ChatRequest, partition: &Partition<'_>) -> Self {
        let body: Map<String, Value> = req
            .body
            .iter()
            .filter(|(k, _)| !IGNORED.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // an array keeps the parts apart whatever characters the route id holds
        let framed = Value::Array(vec![
            Value::from(VERSION),
            Value::from(partition.route),
            Value::from(partition.scope),
            Value::from(partition.policy),
            Value::from(req.endpoint.as_str()),
            Value::Bool(req.stream),
            Value::Object(body),
        ]);
        let mut out = Vec::with_capacity(256);
        write_canonical(&framed, &mut out);
        Self(Sha256::digest(&out).into())
    }

    /// Lower-case hex, for the Redis key and logs.
    pub fn hex(&self) -> String {
        crate::config::hex(&self.0)
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({})", self.hex())
    }
}

/// JSON with object keys sorted at every depth and integral floats written as integers
/// (`0.0` and `0` are one temperature). serde_json's map order is not relied upon.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
    }
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    // below 2^53 an integral float converts to i64 exactly
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < EXACT => {
            let _ = write!(out, "{}", f as i64);
        }
        _ => {
            let _ = write!(out, "{n}");
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // writing into a Vec cannot fail, and serde_json's escaping is deterministic
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Endpoint;

    fn part(route: &str) -> Partition<'_> {
        Partition {
            route,
            scope: "global",
            policy: 0,
        }
    }

    fn key(body: &str, route: &str) -> CacheKey {
        let req = ChatRequest::parse(body.as_bytes()).expect("valid request");
        CacheKey::for_request(&req, &part(route))
    }

    const BASE: &str =
        r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#;

    #[test]
    fn key_order_does_not_matter_at_any_depth() {
        let a = key(
            r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"a":1,"b":2}}}"#,
            "r",
        );
        let b = key(
            r#"{"response_format":{"json_schema":{"b":2,"a":1},"type":"json_schema"},"messages":[{"content":"hi","role":"user"}],"temperature":0,"model":"auto"}"#,
            "r",
        );
        assert_eq!(a, b);
    }

    #[test]
    fn answer_changing_fields_change_the_key() {
        let base = key(BASE, "r");
        for other in [
            r#"{"model":"auto","temperature":0.7,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"hello"}]}"#,
            r#"{"model":"auto","temperature":0,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"auto","temperature":0,"n":2,"messages":[{"role":"user","content":"hi"}]}"#,
        ] {
            assert_ne!(base, key(other, "r"), "{other}");
        }
        assert_ne!(base, key(BASE, "other-route"));
    }

    #[test]
    fn tenants_and_policy_versions_never_share_a_key() {
        let req = ChatRequest::parse(BASE.as_bytes()).expect("valid request");
        let at = |scope, policy| {
            CacheKey::for_request(
                &req,
                &Partition {
                    route: "r",
                    scope,
                    policy,
                },
            )
        };
        assert_ne!(at("user:alice", 1), at("user:bob", 1));
        assert_ne!(at("user:alice", 1), at("user:alice", 2));
        assert_ne!(at("team:t", 1), at("global", 1));
        assert_eq!(at("user:alice", 1), at("user:alice", 1));
    }

    #[test]
    fn delivery_fields_and_the_model_alias_are_ignored() {
        let noisy = r#"{"model":"another-alias","temperature":0,"messages":[{"role":"user","content":"hi"}],"user":"u1","metadata":{"k":"v"},"store":true,"service_tier":"flex","safety_identifier":"s","prompt_cache_key":"p","stream_options":{"include_usage":true},"stream":false}"#;
        assert_eq!(key(BASE, "r"), key(noisy, "r"));
        let float_zero =
            r#"{"model":"auto","temperature":0.0,"messages":[{"role":"user","content":"hi"}]}"#;
        assert_eq!(key(BASE, "r"), key(float_zero, "r"));
    }

    #[test]
    fn stream_and_endpoint_make_separate_entries() {
        let streamed = r#"{"model":"auto","temperature":0,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
        assert_ne!(key(BASE, "r"), key(streamed, "r"));
        let emb = |endpoint| {
            let req =
                ChatRequest::parse_for(endpoint, br#"{"model":"e","input":"hi","prompt":"hi"}"#)
                    .expect("valid");
            CacheKey::for_request(&req, &part("r"))
        };
        assert_ne!(emb(Endpoint::Embeddings), emb(Endpoint::Completions));
        assert_eq!(key(BASE, "r").hex().len(), 64);
    }
}
