//! Redacts a streamed answer chunk by chunk, catching matches that span several chunks.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::tail::Tail;
use super::{Guardrails, OutputRule};

/// Which streamed text of a choice a tail belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    /// Chat `delta.content`.
    Content,
    /// Legacy completions `text`.
    Text,
    /// Chat `delta.tool_calls[]` with this `index`: its `function.arguments`.
    Args(u64),
}

/// Chunk fields copied into the chunks the redactor adds.
const META: [&str; 5] = ["id", "object", "created", "model", "system_fingerprint"];

/// Rewrites an SSE stream's data payloads so no output-rule match reaches the client, even one
/// split across chunks.
///
/// Each choice's content, legacy text and tool-call arguments keep their own held-back tail
/// (see `Tail::push` for the cut). Held text is sent, redacted, in a chunk inserted before
/// the chunk that finishes its choice, before `[DONE]`, or by [`StreamRedactor::finish`].
/// Chunks whose text is all held and that carry nothing else are dropped; payloads that are
/// not JSON pass through unchanged, as do chunks with no text. Rewritten chunks are
/// re-serialised (key order may change). Logprobs are not redacted.
#[derive(Debug)]
pub struct StreamRedactor {
    rules: Arc<Vec<OutputRule>>,
    /// Characters held back: the longest `max_match_chars` of any rule.
    hold: usize,
    tails: BTreeMap<(u64, Slot), Tail>,
    /// `META` fields of the chunks seen so far, latest value each.
    meta: Map<String, Value>,
    redactions: u32,
}

impl Guardrails {
    /// A redactor for one streamed answer, or `None` when there are no output rules (so the
    /// stream can be relayed untouched).
    pub fn stream_redactor(&self) -> Option<StreamRedactor> {
        let hold = self.output.iter().map(|r| r.max_match_chars).max()?;
        Some(StreamRedactor {
            rules: Arc::clone(&self.output),
            hold: hold.max(1),
            tails: BTreeMap::new(),
            meta: Map::new(),
            redactions: 0,
        })
    }
}

impl StreamRedactor {
    /// Takes one SSE data payload and returns the payloads to send in its place, in order.
    pub fn push(&mut self, data: &str) -> Vec<String> {
        if data.trim() == "[DONE]" {
            let mut out = self.finish();
            out.push(data.to_owned());
            return out;
        }
        let Ok(Value::Object(mut chunk)) = serde_json::from_str::<Value>(data) else {
            return vec![data.to_owned()];
        };
        for k in META {
            if let Some(v) = chunk.get(k) {
                self.meta.insert(k.to_owned(), v.clone());
            }
        }
        let Some(Value::Array(choices)) = chunk.get_mut("choices") else {
            return vec![data.to_owned()];
        };
        let mut changed = false;
        let mut before = Vec::new();
        for (pos, choice) in choices.iter_mut().enumerate() {
            if let Value::Object(choice) = choice {
                let (c, split) = self.choice(pos, choice);
                changed |= c;
                before.extend(split);
            }
        }
        if !changed {
            return vec![data.to_owned()];
        }
        let mut out = Vec::new();
        if !before.is_empty() {
            out.push(self.chunk(before));
        }
        if !idle(&chunk) {
            out.push(Value::Object(chunk).to_string());
        }
        out
    }

    /// Sends whatever is still held, redacted; for a stream that ends without `[DONE]`.
    pub fn finish(&mut self) -> Vec<String> {
        let mut by_choice: BTreeMap<u64, Map<String, Value>> = BTreeMap::new();
        for ((index, slot), mut tail) in std::mem::take(&mut self.tails) {
            let (text, n) = tail.flush(&self.rules);
            self.redactions = self.redactions.saturating_add(n);
            if text.is_empty() {
                continue;
            }
            let choice = by_choice
                .entry(index)
                .or_insert_with(|| Map::from_iter([("index".to_owned(), json!(index))]));
            if let Some(field) = field(choice, slot, true) {
                field.push_str(&text);
            }
        }
        by_choice
            .into_values()
            .map(|mut choice| {
                if choice.contains_key("text") {
                    choice.insert("logprobs".into(), Value::Null);
                }
                choice.insert("finish_reason".into(), Value::Null);
                self.chunk(vec![Value::Object(choice)])
            })
            .collect()
    }

    /// Replacements made so far, for the ledger.
    pub fn redactions(&self) -> u32 {
        self.redactions
    }

    /// Redacts one choice in place. Returns whether it changed and, when the choice finishes
    /// here with text to send, that text split off as a choice for a chunk sent just before.
    fn choice(&mut self, pos: usize, choice: &mut Map<String, Value>) -> (bool, Option<Value>) {
        let index = choice
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(pos as u64);
        let finishing = choice.get("finish_reason").is_some_and(|f| !f.is_null());
        let mut slots = present_slots(choice);
        if finishing {
            let held = self
                .tails
                .range((index, Slot::Content)..=(index, Slot::Args(u64::MAX)));
            slots.extend(held.map(|(&(_, s), _)| s));
            slots.sort();
            slots.dedup();
        }
        let mut changed = false;
        let mut any_text = false;
        for slot in slots {
            let own = field(choice, slot, false).map(std::mem::take);
            let tail = self.tails.entry((index, slot)).or_default();
            let (mut text, mut n) = tail.push(&self.rules, self.hold, own.as_deref().unwrap_or(""));
            if finishing {
                let (rest, m) = tail.flush(&self.rules);
                text.push_str(&rest);
                n = n.saturating_add(m);
                self.tails.remove(&(index, slot));
            }
            self.redactions = self.redactions.saturating_add(n);
            any_text |= !text.is_empty();
            changed |= own.as_deref() != Some(text.as_str()) && !(own.is_none() && text.is_empty());
            if own.is_some() || !text.is_empty() {
                if let Some(f) = field(choice, slot, true) {
                    *f = text;
                }
            }
        }
        prune_tool_calls(choice);
        if !(finishing && any_text) {
            return (changed, None);
        }
        let mut split = Map::from_iter([("index".to_owned(), json!(index))]);
        if let Some(delta) = choice.get_mut("delta") {
            split.insert("delta".into(), std::mem::replace(delta, json!({})));
        }
        if let Some(text) = choice.get_mut("text") {
            split.insert("text".into(), std::mem::replace(text, json!("")));
            split.insert("logprobs".into(), Value::Null);
        }
        split.insert("finish_reason".into(), Value::Null);
        (true, Some(Value::Object(split)))
    }

    /// A chunk of the redactor's own, with the latest chunk's id, object, created and model.
    fn chunk(&self, choices: Vec<Value>) -> String {
        let mut c = self.meta.clone();
        c.insert("choices".into(), Value::Array(choices));
        Value::Object(c).to_string()
    }
}

/// The slots a choice carries text for in this chunk.
fn present_slots(choice: &Map<String, Value>) -> Vec<Slot> {
    let mut slots = Vec::new();
    if choice.get("text").is_some_and(Value::is_string) {
        slots.push(Slot::Text);
    }
    let Some(delta) = choice.get("delta") else {
        return slots;
    };
    if delta.get("content").is_some_and(Value::is_string) {
        slots.push(Slot::Content);
    }
    if let Some(Value::Array(calls)) = delta.get("tool_calls") {
        for (pos, call) in calls.iter().enumerate() {
            if call
                .pointer("/function/arguments")
                .is_some_and(Value::is_string)
            {
                slots.push(Slot::Args(call_index(call, pos)));
            }
        }
    }
    slots
}

/// A tool-call delta's `index`, or its place in the array when it has none.
fn call_index(call: &Value, pos: usize) -> u64 {
    call.get("index")
        .and_then(Value::as_u64)
        .unwrap_or(pos as u64)
}

/// The text field of `slot` in a choice; with `create`, made (empty) where missing or null.
fn field(choice: &mut Map<String, Value>, slot: Slot, create: bool) -> Option<&mut String> {
    let (map, key) = match slot {
        Slot::Text => (choice, "text"),
        Slot::Content => (object(choice, "delta", create)?, "content"),
        Slot::Args(j) => {
            let delta = object(choice, "delta", create)?;
            if create && !delta.get("tool_calls").is_some_and(Value::is_array) {
                delta.insert("tool_calls".into(), json!([]));
            }
            let calls = delta.get_mut("tool_calls")?.as_array_mut()?;
            let pos = calls
                .iter()
                .enumerate()
                .position(|(p, c)| call_index(c, p) == j);
            let call = match pos {
                Some(p) => calls.get_mut(p)?,
                None if create => {
                    calls.push(json!({"index": j}));
                    calls.last_mut()?
                }
                None => return None,
            };
            (
                object(call.as_object_mut()?, "function", create)?,
                "arguments",
            )
        }
    };
    if create && !map.get(key).is_some_and(Value::is_string) {
        map.insert(key.into(), json!(""));
    }
    match map.get_mut(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The object under `key`; with `create`, made empty where missing or null.
fn object<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    if create && map.get(key).is_none_or(Value::is_null) {
        map.insert(key.into(), json!({}));
    }
    map.get_mut(key)?.as_object_mut()
}

/// Drops tool-call deltas left with nothing but an index and empty arguments.
fn prune_tool_calls(choice: &mut Map<String, Value>) {
    let Some(Value::Object(delta)) = choice.get_mut("delta") else {
        return;
    };
    let Some(Value::Array(calls)) = delta.get_mut("tool_calls") else {
        return;
    };
    let before = calls.len();
    calls.retain(|c| {
        c.as_object()
            .is_none_or(|c| c.iter().any(|(k, v)| k != "index" && !blank(v)))
    });
    if calls.is_empty() && before > 0 {
        delta.remove("tool_calls");
    }
}

/// Whether a chunk carries nothing worth sending: every choice blank and no usage.
fn idle(chunk: &Map<String, Value>) -> bool {
    let Some(Value::Array(choices)) = chunk.get("choices") else {
        return false;
    };
    !choices.is_empty()
        && chunk.get("usage").is_none_or(Value::is_null)
        && choices.iter().all(|c| {
            c.as_object()
                .is_some_and(|c| c.iter().all(|(k, v)| k == "index" || blank(v)))
        })
}

/// Null, an empty string or array, or an object of blanks (an emptied delta).
fn blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(blank),
        _ => false,
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
