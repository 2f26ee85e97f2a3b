//! How a request ended, as one low-cardinality label shared by the ledger, metrics and logs.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a request ended. Serialised as the same snake_case labels ledgers have always carried,
/// so old ledgers still read; a label this version does not know is kept as [`Outcome::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Outcome {
    /// Answered by an upstream, completely.
    #[default]
    Ok,
    /// Answered from the response cache.
    CacheHit,
    /// The client went away before the answer was complete.
    ClientDisconnected,
    /// A stream broke after its first byte (error event sent).
    StreamInterrupted,
    /// A stream still open when the shutdown grace period ended.
    Shutdown,
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    ContextLengthExceeded,
    /// An upstream refused the request as the client's fault (a 4xx other than 429).
    UpstreamClientError,
    /// No candidate's wire could express the request.
    UnsupportedRequest,
    /// Every candidate was skipped (breakers open, keys cooling) before any attempt.
    NoCandidateAvailable,
    AllCandidatesFailed,
    /// Every provider called rejected the router's own keys.
    UpstreamAuthFailed,
    Unauthorized,
    RateLimited,
    BudgetExceeded,
    ContentPolicyViolation,
    StateUnavailable,
    Internal,
    /// The policy's moderation model flagged the request and the policy refuses flags.
    ModerationFlagged,
    /// The moderation pre-check got no verdict and the policy fails closed.
    ModerationUnavailable,
    /// A label written by another version.
    Other(String),
}

impl Outcome {
    const KNOWN: [Outcome; 22] = [
        Self::Ok,
        Self::CacheHit,
        Self::ClientDisconnected,
        Self::StreamInterrupted,
        Self::Shutdown,
        Self::InvalidRequest,
        Self::ModelNotFound,
        Self::PayloadTooLarge,
        Self::ContextLengthExceeded,
        Self::UpstreamClientError,
        Self::UnsupportedRequest,
        Self::NoCandidateAvailable,
        Self::AllCandidatesFailed,
        Self::UpstreamAuthFailed,
        Self::Unauthorized,
        Self::RateLimited,
        Self::BudgetExceeded,
        Self::ContentPolicyViolation,
        Self::StateUnavailable,
        Self::Internal,
        Self::ModerationFlagged,
        Self::ModerationUnavailable,
    ];

    /// The label in the ledger, metrics and logs.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ok => "ok",
            Self::CacheHit => "cache_hit",
            Self::ClientDisconnected => "client_disconnected",
            Self::StreamInterrupted => "stream_interrupted",
            Self::Shutdown => "shutdown",
            Self::InvalidRequest => "invalid_request",
            Self::ModelNotFound => "model_not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::UpstreamClientError => "upstream_client_error",
            Self::UnsupportedRequest => "unsupported_request",
            Self::NoCandidateAvailable => "no_candidate_available",
            Self::AllCandidatesFailed => "all_candidates_failed",
            Self::UpstreamAuthFailed => "upstream_auth_failed",
            Self::Unauthorized => "unauthorized",
            Self::RateLimited => "rate_limited",
            Self::BudgetExceeded => "budget_exceeded",
            Self::ContentPolicyViolation => "content_policy_violation",
            Self::StateUnavailable => "state_unavailable",
            Self::Internal => "internal",
            Self::ModerationFlagged => "moderation_flagged",
            Self::ModerationUnavailable => "moderation_unavailable",
            Self::Other(label) => label,
        }
    }

    /// The outcome a label names.
    pub fn from_label(label: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|o| o.as_str() == label)
            .unwrap_or_else(|| Self::Other(label.to_owned()))
    }

    /// Whether the request was answered (from an upstream or the cache) without an error.
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Ok | Self::CacheHit)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Outcome {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Outcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let label = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(Self::from_label(&label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_unknown_ones_are_kept() {
        for o in Outcome::KNOWN {
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(serde_json::from_str::<Outcome>(&json).unwrap(), o);
        }
        let other: Outcome = serde_json::from_str("\"stream_cut\"").unwrap();
        assert_eq!(other, Outcome::Other("stream_cut".into()));
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"stream_cut\"");
        assert!(Outcome::CacheHit.is_success() && !other.is_success());
    }
}
