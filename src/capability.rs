//! What each wire API can express of a chat request, so routing passes over candidates that
//! cannot serve it instead of letting the first pick's adapter answer 400.
//!
//! A candidate whose wire lacks something the request needs is dropped from the plan before
//! dispatch: no attempt is counted, its breaker is not touched and no paced key slot is taken.
//! The skip is reported (`x-switchyard-skipped`, the trace, `classify`), and only when no
//! candidate is left does the client get a 400 naming what nothing could serve.
//!
//! | need | OpenAI-compatible | Anthropic | Gemini |
//! |---|---|---|---|
//! | `n > 1` | yes | no (one answer per call) | yes (`candidateCount`) |
//! | `logprobs` / `top_logprobs` | yes | no | yes (`responseLogprobs`, `logprobs`) |

use serde_json::{Map, Value};

use crate::config::{Endpoint, Wire};

/// What a request needs of its candidate's wire, read once from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Chat choices asked for (`n`); 1 when absent.
    pub n: u64,
    /// Token log probabilities asked for (`logprobs: true` or `top_logprobs`).
    pub logprobs: bool,
}

impl Default for Needs {
    /// One answer, nothing else: what every wire can serve.
    fn default() -> Self {
        Self {
            n: 1,
            logprobs: false,
        }
    }
}

impl Needs {
    /// The needs of a body sent to `endpoint` (only chat requests have any today).
    pub(crate) fn of(endpoint: Endpoint, body: &Map<String, Value>) -> Self {
        if endpoint != Endpoint::Chat {
            return Self::default();
        }
        Self {
            n: body.get("n").and_then(Value::as_u64).unwrap_or(1),
            logprobs: body.get("logprobs").and_then(Value::as_bool) == Some(true)
                || body.get("top_logprobs").is_some_and(|v| !v.is_null()),
        }
    }
}

/// Something a wire cannot express, as the trace and the client's 400 name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lack {
    /// `n > 1`: the wire returns one answer per call.
    ManyChoices,
    /// `logprobs`: the vendor reports none.
    Logprobs,
}

impl Lack {
    /// The skip reason in headers, traces and `classify`: `unsupported n>1`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ManyChoices => "unsupported n>1",
            Self::Logprobs => "unsupported logprobs",
        }
    }

    /// The request field at fault.
    pub(crate) fn param(self) -> &'static str {
        match self {
            Self::ManyChoices => "n",
            Self::Logprobs => "logprobs",
        }
    }

    /// Why, for the 400 a client gets when no candidate can serve the request.
    pub(crate) fn explain(self) -> &'static str {
        match self {
            Self::ManyChoices => "n > 1 needs a model on an OpenAI-compatible or Gemini wire",
            Self::Logprobs => "logprobs need a model on an OpenAI-compatible or Gemini wire",
        }
    }
}

/// The first thing `wire` cannot express of `needs`, if any.
pub(crate) fn lacking(wire: Wire, needs: Needs) -> Option<Lack> {
    match wire {
        Wire::Anthropic if needs.n > 1 => Some(Lack::ManyChoices),
        Wire::Anthropic if needs.logprobs => Some(Lack::Logprobs),
        Wire::Openai | Wire::Gemini | Wire::Anthropic => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn needs(v: Value) -> Needs {
        Needs::of(Endpoint::Chat, v.as_object().unwrap())
    }

    #[test]
    fn reads_needs_from_the_body() {
        assert_eq!(
            needs(json!({})),
            Needs {
                n: 1,
                logprobs: false
            }
        );
        assert_eq!(needs(json!({"n": 3})).n, 3);
        assert!(needs(json!({"logprobs": true})).logprobs);
        assert!(needs(json!({"top_logprobs": 2})).logprobs);
        assert!(!needs(json!({"logprobs": false, "top_logprobs": null})).logprobs);
        let embed = Needs::of(Endpoint::Embeddings, json!({"n": 4}).as_object().unwrap());
        assert_eq!(embed.n, 1);
    }

    #[test]
    fn anthropic_lacks_many_choices_and_logprobs() {
        let many = needs(json!({"n": 2}));
        let lp = needs(json!({"logprobs": true}));
        assert_eq!(lacking(Wire::Anthropic, many), Some(Lack::ManyChoices));
        assert_eq!(lacking(Wire::Anthropic, lp), Some(Lack::Logprobs));
        assert_eq!(lacking(Wire::Anthropic, needs(json!({"n": 1}))), None);
        for wire in [Wire::Openai, Wire::Gemini] {
            assert_eq!(lacking(wire, many), None);
            assert_eq!(lacking(wire, lp), None);
        }
        assert_eq!(Lack::ManyChoices.as_str(), "unsupported n>1");
    }
}
