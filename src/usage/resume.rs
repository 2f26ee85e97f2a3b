//! What a ledger line says about a stream resumed on another candidate (`stream_resume`).

use serde::{Deserialize, Serialize};

/// A stream that broke after its first byte and what continued it. The line's `model` is the
/// one that finished the answer; its tokens and `cost_usd` add both parts, each part priced at
/// its own model's price.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ResumeNote {
    /// The model whose stream broke.
    pub from_model: String,
    /// The model that continued it; None when no candidate could (the stream then ended with
    /// its error event).
    pub to_model: Option<String>,
    /// Why the first stream broke (`stream_cut`, `timeout`, an upstream status).
    pub error: String,
    /// Characters of answer text sent before the break.
    pub at_chars: usize,
    /// The first part's tokens and cost (part of the line's totals).
    pub first_prompt_tokens: u64,
    pub first_completion_tokens: u64,
    pub first_cost_usd: f64,
    /// True when the first part's tokens were counted by the router (its upstream reported none).
    pub first_estimated: bool,
    /// Every candidate that did not answer, in order (`model: what each try met`), the broken
    /// stream included.
    pub trace: Vec<String>,
}

impl ResumeNote {
    /// The first part's prompt and completion tokens and cost, to take out of (and add back to)
    /// the continuation's pricing; zeros when nothing continued it.
    pub(crate) fn first_part(&self) -> (u64, u64, f64) {
        if self.to_model.is_none() {
            return (0, 0, 0.0);
        }
        (
            self.first_prompt_tokens,
            self.first_completion_tokens,
            self.first_cost_usd,
        )
    }
}
