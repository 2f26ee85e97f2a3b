//! A rule's `on_context_overflow:` what to do with a prompt too long for some of its candidates.

use serde::Deserialize;

/// What a rule does when the prompt (plus `max_tokens`) does not fit a candidate's context
/// window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnContextOverflow {
    /// Skip the candidates it does not fit and use those it fits; none: 400
    /// `context_length_exceeded`.
    #[default]
    Fallback,
    /// Drop the oldest turns until it fits the largest candidate, then route.
    Trim,
    /// 400 `context_length_exceeded` unless it fits the rule's first candidate group.
    Refuse,
}
