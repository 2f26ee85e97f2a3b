//! The HTTP round trip every adapter shares: provider headers, the first-byte timeout, and
//! reading a body under the idle timeout. Adapters only build the request and translate.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;

use super::{Call, UpstreamError};

/// A non-2xx answer, for the adapter to turn into its OpenAI-shaped error.
pub(crate) struct Rejection {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Sends `req` (URL, auth and body set by the adapter) with the provider's static headers
/// under its first-byte timeout. `Ok(Err(_))` is an answer with an error status.
pub(crate) async fn send(
    call: &Call<'_>,
    mut req: reqwest::RequestBuilder,
) -> Result<Result<reqwest::Response, Rejection>, UpstreamError> {
    for (name, value) in &call.provider.headers {
        req = req.header(name, value);
    }
    let limit = call.provider.first_byte_timeout;
    let resp = match tokio::time::timeout(limit, req.send()).await {
        Err(_) => return Err(UpstreamError::Timeout(limit)),
        Ok(Err(e)) if e.is_timeout() => return Err(UpstreamError::Timeout(limit)),
        Ok(Err(e)) => return Err(UpstreamError::Connect(e.without_url().to_string())),
        Ok(Ok(r)) => r,
    };
    if resp.status().is_success() {
        return Ok(Ok(resp));
    }
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let retry_after = retry_after(resp.headers());
    let body = tokio::time::timeout(call.provider.idle_timeout, resp.bytes())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    Ok(Err(Rejection {
        status,
        retry_after,
        body,
    }))
}

/// A whole answer body, each wait bounded by the idle timeout.
pub(crate) async fn read_body(
    call: &Call<'_>,
    resp: reqwest::Response,
) -> Result<Bytes, UpstreamError> {
    let limit = call.provider.idle_timeout;
    match tokio::time::timeout(limit, resp.bytes()).await {
        Err(_) => Err(UpstreamError::Timeout(limit)),
        Ok(Err(e)) => Err(UpstreamError::StreamCut(e.without_url().to_string())),
        Ok(Ok(b)) => Ok(b),
    }
}

/// `retry-after-ms` (OpenAI) or `retry-after` in seconds.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    get("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| get("retry-after").map(Duration::from_secs_f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
