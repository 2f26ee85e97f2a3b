//! An upstream call's span while it runs: its id, made before the call so the upstream's
//! `traceparent` can name it, and the facts the finish step turns into the attempt span.

use std::time::SystemTime;

use axum::http::HeaderValue;
use opentelemetry::trace::SpanId;

use crate::adapters::UpstreamError;
use crate::config::{Model, Provider};
use crate::otel::{Attempt, Propagation};

/// An upstream call being traced: its span id (named by the `traceparent` it sends) and start.
pub(super) struct AttemptSpan {
    id: SpanId,
    pub traceparent: HeaderValue,
    pub tracestate: Option<HeaderValue>,
    start: SystemTime,
    key_id: Option<String>,
    sampled: bool,
}

impl AttemptSpan {
    pub(super) fn start(p: &Propagation, key_env: Option<&str>) -> Self {
        let (id, traceparent) = p.attempt();
        Self {
            id,
            traceparent,
            tracestate: p.tracestate.clone(),
            start: SystemTime::now(),
            key_id: key_env.map(str::to_owned),
            sampled: p.parent.sampled,
        }
    }

    /// The call's facts for its span (an unsampled request keeps none: see `Trace::spans`).
    pub(super) fn end(
        self,
        provider: &Provider,
        model: &Model,
        retry: u32,
        failover: u32,
        err: Option<&UpstreamError>,
    ) -> Option<Attempt> {
        let url = &provider.urls[0];
        self.sampled.then(|| Attempt {
            span_id: self.id,
            start: self.start,
            end: SystemTime::now(),
            provider: provider.name.clone(),
            system: crate::otel::system_of(provider.wire),
            model_id: model.id.clone(),
            model: model.upstream.clone(),
            server: url.host().map(|h| {
                let default = if url.scheme_str() == Some("https") {
                    443
                } else {
                    80
                };
                (h.to_owned(), url.port_u16().unwrap_or(default))
            }),
            key_id: self.key_id,
            retry,
            failover,
            status: match err {
                None => Some(200),
                Some(UpstreamError::Status { status, .. }) => Some(status.as_u16()),
                Some(_) => None,
            },
            error: err.map(UpstreamError::label),
        })
    }
}
