//! The HTTP round trip every adapter shares: provider headers, the first-byte timeout, and
//! reading a body under the idle timeout. Adapters only build the request and translate.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;

use super::http::{RequestBuilder, Response};
use super::{Call, UpstreamError};

/// A non-2xx answer, for the adapter to turn into its OpenAI-shaped error.
pub(crate) struct Rejection {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// The most of an error body read from an upstream; the rest is never buffered.
const ERROR_BODY_CAP: usize = 64 * 1024;

/// Sends `req` (URL, auth and body set by the adapter) with the provider's static headers
/// under its first-byte timeout. `Ok(Err(_))` is an answer with an error status, its body
/// capped and scrubbed of secrets.
pub(crate) async fn send(
    call: &Call<'_>,
    mut req: RequestBuilder<'_>,
) -> Result<Result<Response, Rejection>, UpstreamError> {
    for (name, value) in &call.provider.headers {
        req = req.header(name, value.clone());
    }
    if let Some((parent, state)) = call.trace {
        req = req.header("traceparent", parent.clone());
        if let Some(state) = state {
            req = req.header("tracestate", state.clone());
        }
    }
    let limit = call.provider.first_byte_timeout;
    let resp = match tokio::time::timeout(limit, req.send()).await {
        Err(_) => return Err(UpstreamError::Timeout(limit)),
        Ok(Err(e)) if e.is_timeout() => return Err(UpstreamError::Timeout(limit)),
        Ok(Err(e)) => return Err(UpstreamError::Connect(e.to_string())),
        Ok(Ok(r)) => r,
    };
    if let Some((headroom, key)) = call.meter {
        if let Some(r) = crate::dispatch::headroom::Reported::from_headers(resp.headers()) {
            crate::lock::lock(headroom).reported(key, r, tokio::time::Instant::now());
        }
    }
    if resp.status().is_success() {
        return Ok(Ok(resp));
    }
    if let Some(e) = unexpected_status(resp.status().as_u16()) {
        return Err(e);
    }
    let status = resp.status();
    let retry_after = retry_after(resp.headers(), call.provider.retry.max_retry_after);
    let idle = call.provider.idle_timeout;
    let raw = match read_capped(resp, idle, idle, ERROR_BODY_CAP).await {
        Ok(b) | Err(Read::TooLarge(b)) => b,
        Err(_) => Bytes::new(),
    };
    Ok(Err(Rejection {
        status,
        retry_after,
        body: call.provider.scrubber.clean_bytes(&raw),
    }))
}

/// A status that is neither success nor an error (1xx, 3xx, 600-999) is a broken upstream:
/// passed on, it would reach clients as a status their SDKs cannot read (a body on a 304).
pub(crate) fn unexpected_status(status: u16) -> Option<UpstreamError> {
    (!(200..600).contains(&status) || (300..400).contains(&status))
        .then(|| UpstreamError::Malformed(format!("unexpected status {status}")))
}

/// A whole answer body: each wait bounded by the idle timeout, the whole by the first-byte
/// timeout (a body trickling blanks must not hold a request forever), the size by the
/// provider's `max_response_bytes` (a larger answer fails like a broken one).
pub(crate) async fn read_body(call: &Call<'_>, resp: Response) -> Result<Bytes, UpstreamError> {
    let p = call.provider;
    read_capped(
        resp,
        p.idle_timeout,
        p.first_byte_timeout,
        p.max_response_bytes,
    )
    .await
    .map_err(|e| match e {
        Read::Idle => UpstreamError::Timeout(p.idle_timeout),
        Read::Deadline => UpstreamError::Timeout(p.first_byte_timeout),
        Read::TooLarge(_) => UpstreamError::TooLarge(p.max_response_bytes),
        Read::Cut(e) => UpstreamError::StreamCut(e),
    })
}

/// Why a capped read stopped early.
enum Read {
    /// No chunk within the idle timeout.
    Idle,
    /// The whole body took longer than allowed.
    Deadline,
    /// Over the cap: what fitted.
    TooLarge(Bytes),
    Cut(String),
}

async fn read_capped(
    mut resp: Response,
    idle: Duration,
    total: Duration,
    cap: usize,
) -> Result<Bytes, Read> {
    let deadline = tokio::time::Instant::now() + total;
    let mut buf = bytes::BytesMut::new();
    loop {
        let until = deadline.min(tokio::time::Instant::now() + idle);
        match tokio::time::timeout_at(until, resp.chunk()).await {
            Err(_) if until == deadline => return Err(Read::Deadline),
            Err(_) => return Err(Read::Idle),
            Ok(Err(e)) => return Err(Read::Cut(e.to_string())),
            Ok(Ok(None)) => return Ok(buf.freeze()),
            Ok(Ok(Some(chunk))) => {
                if buf.len() + chunk.len() > cap {
                    let room = cap - buf.len();
                    buf.extend_from_slice(&chunk[..room]);
                    return Err(Read::TooLarge(buf.freeze()));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

/// `retry-after-ms` (OpenAI) or `retry-after` in seconds, at most `max`; `None` when absent
/// or not a usable number (negative, NaN, an HTTP date).
pub(crate) fn retry_after(headers: &HeaderMap, max: Duration) -> Option<Duration> {
    let get = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let secs = get("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| get("retry-after"))?;
    seconds(secs, max)
}

/// An upstream's wait of `secs` seconds, clamped to `max`; `None` for NaN or a negative value.
pub(crate) fn seconds(secs: f64, max: Duration) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs.min(max.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_secs(300);

    #[test]
    fn statuses_that_are_neither_success_nor_error_are_malformed() {
        for s in [100, 101, 301, 304, 399, 600, 999] {
            assert!(
                matches!(unexpected_status(s), Some(UpstreamError::Malformed(_))),
                "{s}"
            );
        }
        for s in [200, 204, 400, 429, 500, 599] {
            assert!(unexpected_status(s).is_none(), "{s}");
        }
    }

    #[test]
    fn parses_retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h, MAX), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "1500".parse().unwrap());
        assert_eq!(retry_after(&h, MAX), Some(Duration::from_millis(1500)));
        assert_eq!(retry_after(&HeaderMap::new(), MAX), None);
    }

    #[test]
    fn hostile_retry_after_values_are_clamped_or_ignored() {
        for (value, want) in [
            ("1e20", Some(MAX)),
            ("inf", Some(MAX)),
            ("1e308", Some(MAX)),
            ("-1", None),
            ("NaN", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("0", Some(Duration::ZERO)),
        ] {
            let mut h = HeaderMap::new();
            h.insert("retry-after", value.parse().unwrap());
            assert_eq!(retry_after(&h, MAX), want, "{value}");
        }
    }
}
