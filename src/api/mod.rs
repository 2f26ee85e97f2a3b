//! Thin HTTP handlers: extract, call one pipeline function, return a response.

pub mod admin;
pub mod chat;
pub mod dashboard;
pub mod health;
pub mod metrics;
pub mod models;

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};

use crate::error::ApiError;

/// Turns a body-read failure into the OpenAI-shaped error (413 for an over-limit body).
pub fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::invalid(
            format!("Could not read the request body: {rejection}"),
            None,
        )
    }
}

/// The client's `x-request-id` when it is sane, else a fresh one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(
            || format!("req_{:016x}", rand::random::<u64>()),
            str::to_owned,
        )
}
