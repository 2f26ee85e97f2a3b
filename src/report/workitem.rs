//! One replayable request of a simulation: a workload line (prompt text) or a ledger line
//! (recorded token counts).

use crate::config::Endpoint;
use std::io::BufRead;

use serde_json::Value;

use super::input::{read_lines, BadLine};
use crate::classify::Complexity;
use crate::workload::WorkloadLine;

/// A request to replay.
#[derive(Debug)]
pub(crate) enum WorkItem {
    /// `classify`'s workload format: the prompt is classified and routed like a live request.
    Prompt(WorkloadLine),
    /// A ledger line: no text, so its recorded tokens and complexity stand in for it.
    Recorded(Recorded),
}

/// What a ledger line tells about a past request.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub id: String,
    pub requested_model: String,
    /// The endpoint it arrived on (`chat` when the line does not say).
    pub endpoint: Endpoint,
    pub user: Option<String>,
    pub prompt_tokens: u64,
    /// Recorded completion tokens of an answered request; none when it failed.
    pub completion_tokens: Option<u64>,
    pub complexity: Option<Complexity>,
}

impl WorkItem {
    /// Parses a workload line (has `prompt` or `messages`) or a ledger line (has
    /// `requested_model` and `prompt_tokens`).
    pub(crate) fn parse(line: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let Some(obj) = v.as_object() else {
            return Err("not a JSON object".into());
        };
        if obj.contains_key("prompt") || obj.contains_key("messages") {
            return WorkloadLine::parse(line).map(WorkItem::Prompt);
        }
        if !(obj.contains_key("requested_model") && obj.contains_key("prompt_tokens")) {
            return Err(
                "needs `prompt` or `messages` (or be a ledger line with `requested_model` and `prompt_tokens`)"
                    .into(),
            );
        }
        let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        let prompt_tokens = obj["prompt_tokens"]
            .as_u64()
            .ok_or("`prompt_tokens` is not a non-negative integer")?;
        let ok = text("outcome").is_none_or(|o| o == "ok");
        let completion_tokens = obj
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .filter(|_| ok);
        let complexity = match text("complexity") {
            Some(c) => Some(c.parse::<Complexity>()?),
            None => None,
        };
        Ok(WorkItem::Recorded(Recorded {
            id: text("request_id").unwrap_or_default(),
            requested_model: text("requested_model").unwrap_or_default(),
            // the Responses and Messages surfaces are routed as chat
            endpoint: match text("endpoint").and_then(|e| Endpoint::from_label(&e)) {
                None | Some(Endpoint::Responses | Endpoint::Messages) => Endpoint::Chat,
                Some(e) => e,
            },
            user: text("user"),
            prompt_tokens,
            completion_tokens,
            complexity,
        }))
    }

    /// The line's own id, if it has one.
    pub(crate) fn id(&self) -> Option<Value> {
        match self {
            WorkItem::Prompt(w) => w.id.clone(),
            WorkItem::Recorded(r) => (!r.id.is_empty()).then(|| Value::String(r.id.clone())),
        }
    }
}

/// A whole workload: the items with their line numbers, and the skipped lines.
#[derive(Debug, Default)]
pub(crate) struct Workload {
    pub items: Vec<(usize, WorkItem)>,
    pub bad: Vec<BadLine>,
}

/// Reads a workload (or ledger) file; bad lines are kept aside, never fatal.
pub(crate) fn read_workload<R: BufRead>(reader: R) -> Workload {
    let mut items = Vec::new();
    let bad = read_lines(reader, |n, text| {
        items.push((n, WorkItem::parse(text)?));
        Ok(())
    });
    Workload { items, bad }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_and_ledger_lines() {
        assert!(matches!(
            WorkItem::parse(r#"{"prompt":"hi","output_tokens":5}"#),
            Ok(WorkItem::Prompt(_))
        ));
        let r = WorkItem::parse(
            r#"{"request_id":"r1","requested_model":"auto","prompt_tokens":12,"completion_tokens":40,"complexity":"medium","outcome":"ok"}"#,
        )
        .unwrap();
        let WorkItem::Recorded(r) = r else { panic!() };
        assert_eq!(
            (r.prompt_tokens, r.completion_tokens, r.complexity),
            (12, Some(40), Some(Complexity::Medium))
        );
        let failed = WorkItem::parse(
            r#"{"requested_model":"auto","prompt_tokens":12,"completion_tokens":0,"outcome":"all_candidates_failed"}"#,
        )
        .unwrap();
        assert!(matches!(
            failed,
            WorkItem::Recorded(Recorded {
                completion_tokens: None,
                ..
            })
        ));
        assert!(WorkItem::parse(r#"{"id":"x"}"#).is_err());
        assert!(WorkItem::parse(r#"{"requested_model":"a","prompt_tokens":-1}"#).is_err());
        assert!(WorkItem::parse("[]").is_err());
    }
}
