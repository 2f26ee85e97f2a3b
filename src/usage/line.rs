//! A ledger line written field by field: the exact bytes `serde_json` writes for a [`UsageRecord`], at a fraction of the cost.
//!
//! The ledger's format is a contract with its readers (`report`, `tail`, Postgres import), so
//! this writer produces byte for byte what `serde_json::to_writer` gives for the derived
//! `Serialize` (same field order, same `skip_serializing_if` rules, same number and escape
//! text): keys are written as the fixed ASCII they are, strings without anything to escape are
//! copied as they are, and everything else (numbers, escapes, nested notes) goes through
//! `serde_json` itself. The test at the end holds the two equal for records that fill every
//! field, so a field added to [`UsageRecord`] without its line here fails it.

use serde::Serialize;

use super::UsageRecord;
use crate::classify::Complexity;

/// `,"name":`, whole at compile time, so each key is one copy.
macro_rules! key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}

/// Appends `r` as one compact JSON object (no newline), as `serde_json::to_writer` would.
pub(crate) fn write(r: &UsageRecord, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut w = Line { out };
    w.str("{\"ts\":", &r.ts);
    w.str(key!("request_id"), &r.request_id);
    w.str(key!("endpoint"), r.endpoint.as_str());
    w.opt_str(key!("user"), r.user.as_deref());
    w.opt_str(key!("team"), r.team.as_deref());
    w.opt_str(key!("key_id"), r.key_id.as_deref());
    w.str(key!("requested_model"), &r.requested_model);
    w.opt_str(key!("policy"), r.policy.as_deref());
    w.opt_str(key!("rule"), r.rule.as_deref());
    w.opt_str(key!("model"), r.model.as_deref());
    w.opt_str(key!("provider"), r.provider.as_deref());
    w.opt_str(key!("complexity"), r.complexity.map(Complexity::as_str));
    w.value(key!("score"), &r.score)?;
    w.value(key!("confidence"), &r.confidence)?;
    w.bool(key!("stream"), r.stream);
    w.value(key!("prompt_tokens"), &r.prompt_tokens)?;
    w.value(key!("completion_tokens"), &r.completion_tokens)?;
    w.value(key!("cached_tokens"), &r.cached_tokens)?;
    w.value(key!("cache_write_tokens"), &r.cache_write_tokens)?;
    w.bool(key!("tokens_estimated"), r.tokens_estimated);
    w.bool(key!("billed"), r.billed);
    w.value(key!("cost_usd"), &r.cost_usd)?;
    w.opt_str(key!("baseline_model"), r.baseline_model.as_deref());
    w.value(key!("baseline_cost_usd"), &r.baseline_cost_usd)?;
    w.value(key!("saving_usd"), &r.saving_usd)?;
    w.value(key!("latency_ms"), &r.latency_ms)?;
    w.value(key!("ttft_ms"), &r.ttft_ms)?;
    w.value(key!("overhead_ms"), &r.overhead_ms)?;
    w.value(key!("attempts"), &r.attempts)?;
    w.value(key!("failovers"), &r.failovers)?;
    w.bool(key!("cache_hit"), r.cache_hit);
    w.value(key!("cache_saving_usd"), &r.cache_saving_usd)?;
    w.bool(key!("degraded"), r.degraded);
    w.value(key!("redactions"), &r.redactions)?;
    w.value(key!("status"), &r.status)?;
    w.str(key!("outcome"), r.outcome.as_str());
    if let Some(id) = &r.batch_id {
        w.str(key!("batch_id"), id);
    }
    if let Some(n) = &r.batch_size {
        w.value(key!("batch_size"), n)?;
    }
    if let Some(note) = &r.resume {
        w.value(key!("resume"), note)?;
    }
    if !r.trace.is_empty() {
        w.value(key!("trace"), &r.trace)?;
    }
    if let Some(m) = &r.moderation {
        w.value(key!("moderation"), m)?;
    }
    if r.trimmed_messages != 0 {
        w.value(key!("trimmed_messages"), &r.trimmed_messages)?;
    }
    w.out.push(b'}');
    Ok(())
}

/// The object being written; each method takes its key's whole text, separator included
/// (`{"ts":` first, then [`key!`]'s `,"name":`): fixed ASCII names that need no escaping.
struct Line<'a> {
    out: &'a mut Vec<u8>,
}

impl Line<'_> {
    fn key(&mut self, key: &str) {
        self.out.extend_from_slice(key.as_bytes());
    }

    fn str(&mut self, key: &str, s: &str) {
        self.key(key);
        string(self.out, s);
    }

    fn opt_str(&mut self, key: &str, s: Option<&str>) {
        if let Some(s) = s {
            self.str(key, s);
        } else {
            self.key(key);
            self.out.extend_from_slice(b"null");
        }
    }

    fn bool(&mut self, key: &str, b: bool) {
        self.key(key);
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
    }

    /// Numbers, options of numbers and nested notes, as `serde_json` writes them.
    fn value<T: Serialize + ?Sized>(&mut self, key: &str, v: &T) -> serde_json::Result<()> {
        self.key(key);
        serde_json::to_writer(&mut *self.out, v)
    }
}

/// A JSON string: copied between quotes when nothing in it needs escaping, else `serde_json`'s
/// escaping.
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // writing a string into a Vec cannot fail
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Endpoint;
    use crate::moderation::record::ModerationRecord;
    use crate::usage::{Outcome, ResumeNote};

    fn same_bytes(r: &UsageRecord) {
        let mut line = Vec::new();
        write(r, &mut line).unwrap();
        let derived = serde_json::to_vec(r).unwrap();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            String::from_utf8(derived).unwrap()
        );
    }

    #[test]
    fn writes_what_serde_json_writes() {
        same_bytes(&UsageRecord::default());
        let full = UsageRecord {
            ts: "2026-11-30T18:12:09.123Z".into(),
            request_id: "req-\"1\"\\\n\u{1}é".into(),
            endpoint: Endpoint::Embeddings,
            user: Some("ana\u{7f}".into()),
            team: Some("t".into()),
            key_id: Some("k".into()),
            requested_model: "auto".into(),
            policy: Some("p".into()),
            rule: Some("r\t".into()),
            model: Some("gpt-4.1".into()),
            provider: Some("openai".into()),
            complexity: Some(Complexity::Complex),
            score: Some(0.123_456_789),
            confidence: Some(f64::NAN),
            stream: true,
            prompt_tokens: u64::MAX,
            completion_tokens: 7,
            cached_tokens: 3,
            cache_write_tokens: 2,
            tokens_estimated: true,
            billed: true,
            cost_usd: 2.4e-7,
            baseline_model: Some("big".into()),
            baseline_cost_usd: 1e21,
            saving_usd: -0.5,
            latency_ms: 12.345,
            ttft_ms: Some(f64::INFINITY),
            overhead_ms: 0.0,
            attempts: 2,
            failovers: 1,
            cache_hit: true,
            cache_saving_usd: 1.0,
            degraded: true,
            redactions: 4,
            status: 499,
            outcome: Outcome::Other("new \"label\"".into()),
            batch_id: Some("batch_1".into()),
            batch_size: Some(8),
            resume: Some(ResumeNote {
                from_model: "a".into(),
                to_model: Some("b".into()),
                error: "cut\n".into(),
                at_chars: 10,
                first_prompt_tokens: 1,
                first_completion_tokens: 2,
                first_cost_usd: 0.1,
                first_estimated: true,
                trace: vec!["x: 500".into()],
            }),
            trace: vec!["openai/gpt-4.1: 500, 500".into(), "é\u{0}".into()],
            moderation: Some(ModerationRecord {
                model: "m".into(),
                result: "flagged".into(),
                categories: vec!["hate".into()],
                cached: true,
                cost_usd: 0.25,
                action: "refused".into(),
            }),
            trimmed_messages: 3,
        };
        same_bytes(&full);
        for outcome in [Outcome::Ok, Outcome::ClientDisconnected, Outcome::CacheHit] {
            for complexity in [None, Some(Complexity::Simple)] {
                same_bytes(&UsageRecord {
                    outcome: outcome.clone(),
                    complexity,
                    endpoint: Endpoint::Messages,
                    ..full.clone()
                });
            }
        }
    }
}
