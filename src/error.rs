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
    /// A bug or an unexpected local failure; never carries secrets.
    #[error("Internal error: {0}")]
    Internal(String),
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
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
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
        (status, axum::Json(self.body())).into_response()
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
