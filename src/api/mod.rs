//! Thin HTTP handlers: extract, call one pipeline function, return a response.

pub(crate) mod admin;
pub(crate) mod batches;
pub(crate) mod chat;
pub(crate) mod dashboard;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod messages;
pub(crate) mod metrics;
pub(crate) mod models;
pub(crate) mod operator;
pub(crate) mod responses;

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};

use crate::error::ApiError;

/// Turns a body-read failure into the OpenAI-shaped error (413 for an over-limit body).
pub(crate) fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::invalid(
            format!("Could not read the request body: {rejection}"),
            None,
        )
    }
}

/// The client's `x-request-id` when it is safe to echo and to write to the ledger and logs
/// (1 to 128 of `A-Z a-z 0-9 . _ : -`), else a fresh one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    let safe = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-');
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(safe))
        .map_or_else(
            || format!("req_{:016x}", rand::random::<u64>()),
            str::to_owned,
        )
}
