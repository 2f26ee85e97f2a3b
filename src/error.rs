//! The client-facing error enum and its OpenAI-shaped JSON body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

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
    /// Every candidate failed or could not be tried; `summary` says which and why.
    #[error("All candidates failed: {summary}")]
    AllFailed {
        summary: String,
        /// 503 when nothing could even be attempted (breakers open, keys cooling), else 502.
        nothing_attempted: bool,
    },
    /// No key, or a key this router does not know (never echoed back).
    #[error("{message}")]
    Unauthorized { message: String, code: &'static str },
    /// A user, team or global rate limit is used up; `retry_after` goes in `Retry-After`.
    #[error("Rate limit reached for {scope} {limit}: limit {max}, retry after {} s.", retry_after.as_secs_f64().ceil())]
    RateLimited {
        scope: &'static str,
        limit: &'static str,
        max: u64,
        retry_after: std::time::Duration,
    },
    /// A dollar budget is spent; says which and when it resets.
    #[error("The {period} budget of {scope} `{name}` (${}) is spent (${} used); it resets at {resets_at}.", money(*limit), money(*spent))]
    BudgetExceeded {
        scope: &'static str,
        name: String,
        period: &'static str,
        limit: f64,
        spent: f64,
        resets_at: String,
        retry_after: std::time::Duration,
    },
    /// An input guardrail of the policy matched the prompt.
    #[error("The request was blocked by the guardrail `{rule}` of policy `{policy}`.")]
    ContentPolicy { rule: String, policy: String },
    /// Shared state (Redis) is unreachable and the router is configured to fail closed.
    #[error("Limits cannot be checked right now (shared state unavailable); try again shortly.")]
    StateUnavailable,
    /// A bug or an unexpected local failure; never carries secrets.
    #[error("Internal error: {0}")]
    Internal(String),
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
            Self::InvalidRequest { .. } | Self::ContextTooLong { .. } => StatusCode::BAD_REQUEST,
            Self::ModelNotFound { .. } => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Upstream { status, .. } => *status,
            Self::AllFailed {
                nothing_attempted: true,
                ..
            } => StatusCode::SERVICE_UNAVAILABLE,
            Self::AllFailed { .. } => StatusCode::BAD_GATEWAY,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } | Self::BudgetExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ContentPolicy { .. } => StatusCode::BAD_REQUEST,
            Self::StateUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// How long a refused client should wait, for `Retry-After`.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::RateLimited { retry_after, .. } | Self::BudgetExceeded { retry_after, .. } => {
                Some(*retry_after)
            }
            Self::StateUnavailable => Some(std::time::Duration::from_secs(1)),
            _ => None,
        }
    }

    /// A low-cardinality label for logs, the ledger and metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::ModelNotFound { .. } => "model_not_found",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::ContextTooLong { .. } => "context_length_exceeded",
            Self::Upstream { .. } => "upstream_client_error",
            Self::AllFailed {
                nothing_attempted: true,
                ..
            } => "no_candidate_available",
            Self::AllFailed { .. } => "all_candidates_failed",
            Self::Unauthorized { .. } => "unauthorized",
            Self::RateLimited { .. } => "rate_limited",
            Self::BudgetExceeded { .. } => "budget_exceeded",
            Self::ContentPolicy { .. } => "content_policy_violation",
            Self::StateUnavailable => "state_unavailable",
            Self::Internal(_) => "internal",
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
            Self::AllFailed {
                nothing_attempted: true,
                ..
            } => ("service_unavailable", Some("no_candidate_available")),
            Self::AllFailed { .. } => ("upstream_error", Some("all_candidates_failed")),
            Self::Unauthorized { code, .. } => ("invalid_request_error", Some(*code)),
            // OpenAI's own 429s say which kind of limit: `requests` or `tokens`
            Self::RateLimited { limit, .. } if limit.starts_with('t') => {
                ("tokens", Some("rate_limit_exceeded"))
            }
            Self::RateLimited { .. } => ("requests", Some("rate_limit_exceeded")),
            Self::BudgetExceeded { .. } => ("budget_exceeded", Some("budget_exceeded")),
            Self::ContentPolicy { .. } => {
                ("content_policy_violation", Some("content_policy_violation"))
            }
            Self::StateUnavailable => ("service_unavailable", Some("state_unavailable")),
            Self::Internal(_) => ("server_error", None),
        }
    }

    /// The OpenAI error object `{"error":{"message","type","param","code"}}`.
    pub fn body(&self) -> serde_json::Value {
        let (kind, code) = self.kind_and_code();
        let param = match self {
            Self::InvalidRequest { param, .. } => param.clone(),
            Self::ModelNotFound { .. } => Some("model".to_owned()),
            Self::ContextTooLong { .. } => Some("messages".to_owned()),
            _ => None,
        };
        json!({"error": {"message": self.to_string(), "type": kind, "param": param, "code": code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let Self::Upstream { body, .. } = &self {
            if serde_json::from_slice::<serde_json::Value>(body)
                .is_ok_and(|v| v.get("error").is_some_and(|e| e.is_object()))
            {
                let mut resp = (status, body.clone()).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return resp;
            }
            let message = format!(
                "Upstream answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(512)])
            );
            let wrapped = json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": "upstream_error"}});
            return (status, axum::Json(wrapped)).into_response();
        }
        let retry_after = self.retry_after();
        let mut resp = (status, axum::Json(self.body())).into_response();
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
        let b = e.body();
        assert_eq!(b["error"]["code"], "model_not_found");
        assert_eq!(b["error"]["param"], "model");
        assert!(b["error"]["message"].as_str().unwrap().contains("a/b"));
        let e = ApiError::AllFailed {
            summary: "s".into(),
            nothing_attempted: true,
        };
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let e = ApiError::AllFailed {
            summary: "s".into(),
            nothing_attempted: false,
        };
        assert_eq!(e.status_code(), StatusCode::BAD_GATEWAY);
    }
}
