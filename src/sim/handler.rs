//! What every simulated endpoint's handler shares: the sim's state, the key check and JSON responses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tokio::sync::watch;

use super::ratelimit::{KeyQuota, KeyRate};
use super::request::{self, ApiError};
use super::sse::pause;
use super::{SimControl, SimSettings};

/// Everything a request handler needs, shared by all connections of one sim.
pub(super) struct AppState {
    pub(super) settings: SimSettings,
    pub(super) control: SimControl,
    pub(super) shutdown: watch::Receiver<()>,
    pub(super) key_rate: Option<KeyRate>,
    /// The `x-ratelimit-*` figures answers carry (with `key_rpm` / `key_tpm` set).
    pub(super) key_quota: Option<KeyQuota>,
}

impl AppState {
    pub(super) fn new(
        settings: SimSettings,
        control: SimControl,
        shutdown: watch::Receiver<()>,
    ) -> Self {
        Self {
            key_rate: KeyRate::new(settings.key_rpm),
            key_quota: KeyQuota::new(settings.key_rpm, settings.key_tpm),
            settings,
            control,
            shutdown,
        }
    }

    /// Adds the key's `x-ratelimit-*` headers to `resp`, counting this request of
    /// `body_len` bytes (nothing without `key_rpm` / `key_tpm`).
    pub(super) fn with_quota(
        &self,
        key: Option<&str>,
        body_len: usize,
        mut resp: Response,
    ) -> Response {
        let Some(q) = &self.key_quota else {
            return resp;
        };
        let tokens = (body_len as u64).div_ceil(4);
        for (name, value) in q.record(key.unwrap_or_default(), tokens, tokio::time::Instant::now())
        {
            if let Ok(v) = HeaderValue::from_str(&value) {
                resp.headers_mut().insert(name, v);
            }
        }
        resp
    }

    /// Sleeps `d` (with jitter) unless it is zero; returns false if the sim shut down meanwhile.
    pub(super) async fn pause(&self, d: Duration) -> bool {
        pause(d, self.settings.jitter, &self.shutdown).await
    }
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let key = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(key.trim().to_owned())
}

/// The 401 OpenAI sends for a missing or wrong key, or None if the key is accepted.
pub(super) fn check_key(settings: &SimSettings, key: Option<&str>) -> Option<ApiError> {
    let keys = settings.keys.as_ref()?;
    let message = match key {
        Some(k) if keys.iter().any(|ok| ok == k) => return None,
        Some(k) => {
            let tail: String = k.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            format!("Incorrect API key provided: ...{tail}. (simulated provider '{}')", settings.name)
        }
        None => "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".to_owned(),
    };
    Some(ApiError {
        status: 401,
        body: request::error_body(
            &message,
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
    })
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(super) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(super) fn error_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, serde_json::to_vec(body).unwrap_or_default())
}
