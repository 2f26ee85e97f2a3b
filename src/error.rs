//! The client-facing error enum and its OpenAI-shaped JSON body.

use std::time::{Duration, SystemTime};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::limits::{LimitName, Period, Scope};
use crate::openai::{json_response, ErrorBody};
use crate::usage::Outcome;

/// Everything a request can fail with, as the client sees it. Each variant knows its HTTP
/// status and OpenAI error `type`/`code`, so SDKs raise the exception class users expect.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON, or a field has the wrong shape.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
        code: Option<&'static str>,
    },
    /// `model` names nothing this router knows; the message lists what it does know.
    #[error("The model `{model}` does not exist or is not routed by Switchyard. Valid models and aliases: {valid}")]
    ModelNotFound { model: String, valid: String },
    /// The body is larger than `max_body_bytes`.
    #[error("Request body is larger than the limit of {limit} bytes.")]
    PayloadTooLarge { limit: usize },
    /// No candidate's context window fits the prompt plus `max_tokens`.
    #[error("This request needs {needed} tokens (prompt plus max_tokens) but the largest context window among its candidates is {largest} tokens.")]
    ContextTooLong { needed: u64, largest: u64 },
    /// A non-retryable upstream answer (a 4xx other than 429), passed through as sent.
    #[error("upstream answered {status}")]
    Upstream { status: StatusCode, body: Bytes },
    /// The request is well formed but no candidate's wire can express it (`n > 1` on
    /// Anthropic, token ids on Gemini embeddings, an endpoint the wire lacks).
    #[error("{}", .0.message)]
    Unsupported(crate::adapters::Unsupported),
    /// Every candidate failed or could not be tried; `summary` says which and why.
    #[error("All candidates failed: {summary}")]
    AllFailed {
        summary: String,
        /// 503 when nothing could even be attempted (breakers open, keys cooling), else 502.
        nothing_attempted: bool,
        /// When a candidate may be available again (its breaker closing or a key cooling
        /// off), for `Retry-After`; `None` when one is available now.
        retry_after: Option<Duration>,
    },
    /// Every provider called rejected the router's own keys (401/403): a configuration
    /// problem of the router, reported without the upstream's body (it may echo a key).
    #[error("The upstream providers rejected the router's API keys ({summary}). This is a problem with the router's provider keys, not with your key; tell the router's operator.")]
    UpstreamAuth { summary: String },
    /// No key, or a key this router does not know (never echoed back).
    #[error("{message}")]
    Unauthorized { message: String, code: &'static str },
    /// A user, team or global rate limit is used up; `retry_after` goes in `Retry-After`.
    #[error("Rate limit reached for {} {}: limit {max}, retry after {} s.", scope.as_str(), limit.as_str(), retry_after.as_secs_f64().ceil())]
    RateLimited {
        scope: Scope,
        limit: LimitName,
        max: u64,
        retry_after: Duration,
    },
    /// A dollar budget is spent; says which and when it resets.
    #[error("The {} budget of {} `{name}` (${}) is spent (${} used); it resets at {}.", period.as_str(), scope.as_str(), money(*limit), money(*spent), humantime::format_rfc3339_seconds(*resets_at))]
    BudgetExceeded {
        scope: Scope,
        name: String,
        period: Period,
        limit: f64,
        spent: f64,
        resets_at: SystemTime,
    },
    /// An input guardrail of the policy matched the prompt.
    #[error("The request was blocked by the guardrail `{rule}` of policy `{policy}`.")]
    ContentPolicy { rule: String, policy: String },
    /// The policy's moderation model flagged the request in categories the policy refuses.
    #[error("The request was flagged by moderation (policy `{policy}`) for: {}.", categories.join(", "))]
    ModerationFlagged {
        policy: String,
        categories: Vec<String>,
    },
    /// The moderation pre-check got no verdict and the policy fails closed (see
    /// the moderation module for why 503).
    #[error("The request could not be checked by moderation ({reason}) and this policy lets no unchecked request through; try again shortly.")]
    ModerationUnavailable { reason: String },
    /// An operator override could not be written to the shared state, so other instances
    /// would not follow it; nothing was changed.
    #[error("The override could not be written to the shared state ({reason}), so other instances would not follow it; nothing was changed. Try again shortly.")]
    OverrideNotShared { reason: String },
    /// Shared state (Redis) is unreachable and the router is configured to fail closed.
    #[error("Limits cannot be checked right now (shared state unavailable); try again shortly.")]
    StateUnavailable,
    /// A bug or an unexpected local failure; never carries secrets.
    #[error("Internal error: {0}")]
    Internal(String),
    /// Something the request refers to (other than `model`) does not exist for this tenant,
    /// e.g. a `previous_response_id`.
    #[error("{message}")]
    NotFound {
        message: String,
        param: Option<String>,
        code: &'static str,
    },
}

/// Dollars with cents, or with enough digits to tell a tiny amount from nothing.
fn money(x: f64) -> String {
    if x == 0.0 || x.abs() >= 0.01 {
        format!("{x:.2}")
    } else {
        format!("{x:.6}")
    }
}

impl ApiError {
    /// Shorthand for a 400 with the offending parameter named.
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
            code: None,
        }
    }

    /// The HTTP status the client receives.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. }
            | Self::ContextTooLong { .. }
            | Self::Unsupported(_)
            | Self::ContentPolicy { .. }
            | Self::ModerationFlagged { .. } => StatusCode::BAD_REQUEST,
            Self::ModelNotFound { .. } | Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Upstream { status, .. } => *status,
            Self::AllFailed {
                nothing_attempted: true,
                ..
            }
            | Self::StateUnavailable
            | Self::ModerationUnavailable { .. }
            | Self::OverrideNotShared { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::AllFailed { .. } | Self::UpstreamAuth { .. } => StatusCode::BAD_GATEWAY,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } | Self::BudgetExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// How long a refused client should wait, for `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::BudgetExceeded { resets_at, .. } => Some(
                resets_at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::from_secs(60)),
            ),
            Self::StateUnavailable
            | Self::ModerationUnavailable { .. }
            | Self::OverrideNotShared { .. } => Some(Duration::from_secs(1)),
            // SDKs retry 502/503 after a fraction of a second; say when it can help
            Self::AllFailed { retry_after, .. } => {
                Some(retry_after.unwrap_or(Duration::from_secs(1)))
            }
            _ => None,
        }
    }

    /// How the request ended, for the ledger, metrics and logs.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::InvalidRequest { .. } | Self::NotFound { .. } => Outcome::InvalidRequest,
            Self::ModelNotFound { .. } => Outcome::ModelNotFound,
            Self::PayloadTooLarge { .. } => Outcome::PayloadTooLarge,
            Self::ContextTooLong { .. } => Outcome::ContextLengthExceeded,
            Self::Upstream { .. } => Outcome::UpstreamClientError,
            Self::Unsupported(_) => Outcome::UnsupportedRequest,
            Self::AllFailed {
                nothing_attempted: true,
                ..
            } => Outcome::NoCandidateAvailable,
            Self::AllFailed { .. } => Outcome::AllCandidatesFailed,
            Self::UpstreamAuth { .. } => Outcome::UpstreamAuthFailed,
            Self::Unauthorized { .. } => Outcome::Unauthorized,
            Self::RateLimited { .. } => Outcome::RateLimited,
            Self::BudgetExceeded { .. } => Outcome::BudgetExceeded,
            Self::ContentPolicy { .. } => Outcome::ContentPolicyViolation,
            Self::ModerationFlagged { .. } => Outcome::ModerationFlagged,
            Self::ModerationUnavailable { .. } => Outcome::ModerationUnavailable,
            Self::StateUnavailable | Self::OverrideNotShared { .. } => Outcome::StateUnavailable,
            Self::Internal(_) => Outcome::Internal,
        }
    }

    fn kind_and_code(&self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::InvalidRequest { code, .. } => ("invalid_request_error", *code),
            Self::ModelNotFound { .. } => ("invalid_request_error", Some("model_not_found")),
            Self::PayloadTooLarge { .. } => ("invalid_request_error", Some("request_too_large")),
            Self::ContextTooLong { .. } => {
                ("invalid_request_error", Some("context_length_exceeded"))
            }
            Self::Upstream { .. } => ("invalid_request_error", None),
            Self::Unsupported(u) => ("invalid_request_error", u.code),
            Self::AllFailed {
                nothing_attempted: true,
                ..
            } => ("service_unavailable", Some("no_candidate_available")),
            Self::AllFailed { .. } => ("upstream_error", Some("all_candidates_failed")),
            Self::UpstreamAuth { .. } => ("upstream_error", Some("upstream_auth_failed")),
            Self::Unauthorized { code, .. } | Self::NotFound { code, .. } => {
                ("invalid_request_error", Some(*code))
            }
            // OpenAI's own 429s say which kind of limit: `requests` or `tokens`
            Self::RateLimited { limit, .. } if limit.is_tokens() => {
                ("tokens", Some("rate_limit_exceeded"))
            }
            Self::RateLimited { .. } => ("requests", Some("rate_limit_exceeded")),
            Self::BudgetExceeded { .. } => ("budget_exceeded", Some("budget_exceeded")),
            Self::ContentPolicy { .. } => {
                ("content_policy_violation", Some("content_policy_violation"))
            }
            Self::StateUnavailable | Self::OverrideNotShared { .. } => {
                ("service_unavailable", Some("state_unavailable"))
            }
            Self::ModerationFlagged { .. } => {
                ("invalid_request_error", Some("content_policy_violation"))
            }
            Self::ModerationUnavailable { .. } => {
                ("service_unavailable", Some("moderation_unavailable"))
            }
            Self::Internal(_) => ("server_error", None),
        }
    }

    /// The OpenAI error object `{"error":{"message","type","param","code"}}`.
    pub fn body(&self) -> ErrorBody {
        let (kind, code) = self.kind_and_code();
        let param = match self {
            Self::InvalidRequest { param, .. } | Self::NotFound { param, .. } => param.as_deref(),
            Self::Unsupported(u) => u.param.as_deref(),
            Self::ModelNotFound { .. } => Some("model"),
            Self::ContextTooLong { .. } => Some("messages"),
            _ => None,
        };
        ErrorBody::new(self.to_string(), kind, param, code)
    }
}

impl ApiError {
    /// The response body's bytes: [`ApiError::body`], except that an upstream's own error
    /// object is passed on as sent and any other upstream body is wrapped in OpenAI's shape.
    pub(crate) fn response_body(&self) -> Bytes {
        let Self::Upstream { status, body } = self else {
            return self.body().to_bytes();
        };
        if serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|v| v.get("error").is_some_and(serde_json::Value::is_object))
        {
            return body.clone();
        }
        let message = format!(
            "Upstream answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(512)])
        );
        ErrorBody::new(
            message,
            "invalid_request_error",
            None,
            Some("upstream_error"),
        )
        .to_bytes()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let Self::Upstream { .. } = &self {
            return json_response(status, self.response_body());
        }
        let retry_after = self.retry_after();
        let mut resp = json_response(status, self.response_body());
        if let Some(d) = retry_after {
            let secs = d.as_secs_f64().ceil().max(1.0) as u64;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_shapes() {
        let e = ApiError::ModelNotFound {
            model: "x".into(),
            valid: "auto, a/b".into(),
        };
        assert_eq!(e.status_code(), StatusCode::NOT_FOUND);
        let b = e.body().error;
        assert_eq!(b.code.as_deref(), Some("model_not_found"));
        assert_eq!(b.param.as_deref(), Some("model"));
        assert!(b.message.contains("a/b"));
        let e = ApiError::AllFailed {
            summary: "s".into(),
            nothing_attempted: true,
            retry_after: None,
        };
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let e = ApiError::AllFailed {
            summary: "s".into(),
            nothing_attempted: false,
            retry_after: None,
        };
        assert_eq!(e.status_code(), StatusCode::BAD_GATEWAY);
    }
}
