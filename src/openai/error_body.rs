//! OpenAI's error object, `{"error":{"message","type","param","code"}}`: the one shape every error the router sends takes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// An error as OpenAI's SDKs parse it: they raise the exception class its status and `type`
/// name, with `message`, `param` and `code` as attributes. Used for client errors, the
/// server's fallbacks, stream error events and every adapter's translated upstream error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ErrorBody {
    /// An error of `kind` (OpenAI's `type`), naming the offending `param` and a stable `code`.
    pub fn new(
        message: impl Into<String>,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.to_owned(),
                param: param.map(str::to_owned),
                code: code.map(str::to_owned),
            },
        }
    }

    /// The JSON text, for a response body or an SSE event.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"error":{"message":"error","type":"server_error","param":null,"code":null}}"#.into()
        })
    }

    /// The JSON bytes, for a response body.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.to_json())
    }

    /// A JSON response with this body and `status`.
    pub fn into_response(self, status: StatusCode) -> Response {
        json_response(status, self.to_bytes())
    }
}

impl std::fmt::Display for ErrorBody {
    /// The JSON text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_json())
    }
}

/// A response carrying a JSON body as it is.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_openai_shape_with_nulls() {
        let e = ErrorBody::new("nope", "invalid_request_error", None, Some("bad"));
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"message": "nope", "type": "invalid_request_error", "param": null, "code": "bad"}})
        );
    }
}
