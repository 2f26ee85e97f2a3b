//! The continuation request: the client's chat body plus the text already streamed, as a
//! partial assistant turn (a native prefill on Anthropic, a turn and an instruction elsewhere).

use serde_json::{json, Map, Value};

/// What the wires without a native prefill are asked after the partial assistant turn.
pub(crate) const CONTINUE_INSTRUCTION: &str = "Your previous reply was cut off. Continue it exactly where it stopped, starting with the next character. Do not repeat any of it and do not add any preamble or comment.";

/// The text sent so far, split where the continuation request takes it: Anthropic rejects a
/// final assistant turn ending in whitespace, so the trailing whitespace stays out of every
/// wire's request and is dropped again from the start of the continuation (the client has it).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Partial<'a> {
    /// The text without its trailing whitespace: the partial assistant turn.
    pub turn: &'a str,
    /// How many whitespace characters were left out of `turn`.
    pub trailing: usize,
}

impl<'a> Partial<'a> {
    pub(crate) fn of(text: &'a str) -> Self {
        let turn = text.trim_end();
        Self {
            turn,
            trailing: text[turn.len()..].chars().count(),
        }
    }
}

/// The body for wires that continue a trailing assistant turn (Anthropic's prefill).
pub(crate) fn prefilled(
    body: &Map<String, Value>,
    partial: &Partial<'_>,
    spent: u64,
) -> Map<String, Value> {
    continuation(body, partial, spent, false)
}

/// The body for the other wires: the partial turn and an instruction to continue it.
pub(crate) fn instructed(
    body: &Map<String, Value>,
    partial: &Partial<'_>,
    spent: u64,
) -> Map<String, Value> {
    continuation(body, partial, spent, true)
}

/// `body` with the partial turn (and the instruction) appended and what is left of the
/// completion-token caps after the `spent` tokens of the first part. An empty turn (only
/// whitespace was sent) asks the original question again.
fn continuation(
    body: &Map<String, Value>,
    partial: &Partial<'_>,
    spent: u64,
    instruct: bool,
) -> Map<String, Value> {
    let mut out = body.clone();
    if !partial.turn.is_empty() {
        if let Some(Value::Array(messages)) = out.get_mut("messages") {
            messages.push(json!({"role": "assistant", "content": partial.turn}));
            if instruct {
                messages.push(json!({"role": "user", "content": CONTINUE_INSTRUCTION}));
            }
        }
    }
    for cap in ["max_tokens", "max_completion_tokens"] {
        if let Some(max) = out.get(cap).and_then(Value::as_u64) {
            out.insert(cap.into(), max.saturating_sub(spent).max(1).into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Map<String, Value> {
        let v = json!({"model": "auto", "stream": true, "max_tokens": 100,
            "messages": [{"role": "user", "content": "Tell me"}]});
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn trailing_whitespace_stays_out_of_the_turn() {
        assert_eq!(
            Partial::of("The quick \n"),
            Partial {
                turn: "The quick",
                trailing: 2
            }
        );
        assert_eq!(
            Partial::of("Café"),
            Partial {
                turn: "Café",
                trailing: 0
            }
        );
        assert_eq!(
            Partial::of("  "),
            Partial {
                turn: "",
                trailing: 2
            }
        );
    }

    #[test]
    fn prefill_ends_with_the_assistant_turn() {
        let b = prefilled(&body(), &Partial::of("The quick "), 30);
        let messages = b["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(
            messages[1],
            json!({"role": "assistant", "content": "The quick"})
        );
        assert_eq!(b["max_tokens"], 70);
        assert_eq!(
            body()["messages"].as_array().unwrap().len(),
            1,
            "the original is untouched"
        );
    }

    #[test]
    fn instructed_adds_the_instruction_after_the_turn() {
        let b = instructed(&body(), &Partial::of("The quick"), 500);
        let messages = b["messages"].as_array().unwrap();
        assert_eq!(messages[1]["role"], "assistant");
        assert_eq!(
            messages[2],
            json!({"role": "user", "content": CONTINUE_INSTRUCTION})
        );
        assert_eq!(b["max_tokens"], 1, "a spent cap still leaves one token");
    }

    #[test]
    fn whitespace_only_asks_again() {
        let b = instructed(&body(), &Partial::of("\n\n"), 0);
        assert_eq!(b["messages"].as_array().unwrap().len(), 1);
    }
}
