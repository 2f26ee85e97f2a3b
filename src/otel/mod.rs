//! OpenTelemetry traces: one span per request with children for routing, each upstream attempt
//! and the stream relay, exported over OTLP/HTTP when the `OTEL_*` variables ask for it.
//!
//! Off by default: until [`init`] finds an endpoint configured, [`begin`] returns `None` and no
//! request builds, samples or records anything. When on, a request's [`RequestTrace`] (its ids,
//! taken from the client's `traceparent` when there is one) rides in its context; dispatch
//! records each attempt's facts with an id made up front (the upstream's `traceparent` names
//! it); the finish step turns it all into spans once, with their real start and end times
//! ([`emit`]), and hands them to the batch processor, which never blocks the request.

mod export;
mod spans;
mod traceparent;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue};
use opentelemetry::trace::TraceState;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId};
use opentelemetry::{Context, InstrumentationScope};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SamplingDecision, ShouldSample, SpanProcessor};

pub(crate) use spans::{Finished, RouteFacts, StreamFacts};
pub(crate) use traceparent::TraceParent;

/// The exporter and sampler, set once at start-up when tracing is configured.
struct Tracing {
    processor: BatchSpanProcessor,
    /// `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (parent-based always-on by default).
    sampler: Box<dyn ShouldSample>,
    scope: InstrumentationScope,
}

static TRACING: OnceLock<Tracing> = OnceLock::new();

/// Turns tracing on when the environment configures an OTLP endpoint; the exporter's requests
/// run on `rt`. Returns whether it is on. Called once, by `serve`.
pub(crate) fn init(rt: tokio::runtime::Handle) -> bool {
    let env = |k: &str| std::env::var(k).ok();
    if !export::wanted(&env) {
        return false;
    }
    let processor = match export::processor(rt) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "OpenTelemetry export is configured but cannot start; tracing stays off");
            return false;
        }
    };
    let tracing = Tracing {
        processor,
        sampler: opentelemetry_sdk::trace::Config::default().sampler,
        scope: InstrumentationScope::builder("switchyard")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    };
    let on = TRACING.set(tracing).is_ok();
    if on {
        tracing::info!("OpenTelemetry tracing on (OTLP over HTTP)");
    }
    on
}

/// Sends what is still queued and stops the exporter (waiting up to 5 s); called once the
/// server has finished its requests.
pub(crate) async fn shutdown() {
    if TRACING.get().is_none() {
        return;
    }
    let done = tokio::task::spawn_blocking(|| {
        if let Some(t) = TRACING.get() {
            if let Err(e) = t.processor.shutdown_with_timeout(Duration::from_secs(5)) {
                tracing::warn!(error = %e, "some spans were not exported at shutdown");
            }
        }
    });
    let _ = done.await;
}

/// A request's place in its trace: its own span, its caller's (when a `traceparent` came),
/// and the times the finish step cannot know.
#[derive(Debug, Clone)]
pub(crate) struct RequestTrace {
    /// The request span: its trace, its id, and whether it is sampled.
    pub span: TraceParent,
    /// The client's span, when the client sent a `traceparent`.
    pub remote_parent: Option<SpanId>,
    /// The client's `tracestate`, passed on to upstreams unchanged.
    pub tracestate: Option<HeaderValue>,
    pub start: SystemTime,
    /// When classification and route planning started and ended.
    pub route: Option<(SystemTime, SystemTime)>,
}

/// Starts a request's trace, or `None` (at the cost of one atomic load) when tracing is off.
/// The client's `traceparent` makes the request span its child, in its trace; the sampler
/// decides here, once, for the whole request.
pub(crate) fn begin(headers: &HeaderMap) -> Option<RequestTrace> {
    let t = TRACING.get()?;
    let client = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse);
    let trace_id = client.map_or_else(new_trace_id, |c| c.trace_id);
    let parent_cx = client.map(|c| {
        let flags = if c.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        Context::new().with_remote_span_context(SpanContext::new(
            c.trace_id,
            c.span_id,
            flags,
            true,
            TraceState::default(),
        ))
    });
    let decision = t.sampler.should_sample(
        parent_cx.as_ref(),
        trace_id,
        "request",
        &SpanKind::Server,
        &[],
        &[],
    );
    Some(RequestTrace {
        span: TraceParent {
            trace_id,
            span_id: new_span_id(),
            sampled: decision.decision == SamplingDecision::RecordAndSample,
        },
        remote_parent: client.map(|c| c.span_id),
        tracestate: client.and(headers.get("tracestate").cloned()),
        start: SystemTime::now(),
        route: None,
    })
}

/// What an upstream call needs to carry its trace: the request span and the client's state.
#[derive(Debug, Clone)]
pub(crate) struct Propagation {
    pub parent: TraceParent,
    pub tracestate: Option<HeaderValue>,
}

impl RequestTrace {
    /// What dispatch passes on to upstream calls.
    pub(crate) fn propagation(&self) -> Propagation {
        Propagation {
            parent: self.span,
            tracestate: self.tracestate.clone(),
        }
    }
}

impl Propagation {
    /// A new attempt's span id and the `traceparent` the upstream gets for it.
    pub(crate) fn attempt(&self) -> (SpanId, HeaderValue) {
        let id = new_span_id();
        let header = TraceParent {
            span_id: id,
            ..self.parent
        }
        .header();
        // hex digits and dashes only: always a valid header value
        let value = HeaderValue::from_str(&header).unwrap_or(HeaderValue::from_static(""));
        (id, value)
    }
}

/// One upstream call, recorded by dispatch when the request is sampled.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    /// Made before the call: the upstream's `traceparent` names it.
    pub span_id: SpanId,
    pub start: SystemTime,
    pub end: SystemTime,
    /// The configured provider's name.
    pub provider: Arc<str>,
    /// The wire's GenAI provider name (`openai`, `anthropic`, `gcp.gemini`).
    pub system: &'static str,
    /// The model's id in the router (`provider/name`).
    pub model_id: Arc<str>,
    /// The model name sent upstream.
    pub model: Arc<str>,
    /// The upstream's host and port.
    pub server: Option<(String, u16)>,
    /// Which of the provider's keys was used: the name of its variable, never the key.
    pub key_id: Option<String>,
    /// 0 for a candidate's first call, 1 for its first retry, …
    pub retry: u32,
    /// How many candidates were given up before this one.
    pub failover: u32,
    /// The upstream's HTTP status, when it answered.
    pub status: Option<u16>,
    /// What went wrong (`500`, `timeout`, `connect_error`, …); `None` for an answer.
    pub error: Option<String>,
}

impl Finished<'_> {
    /// Hands the request's spans to the exporter (a bounded queue: never waits).
    pub(crate) fn emit(&self) {
        let Some(t) = TRACING.get() else { return };
        if !self.trace.span.sampled {
            return;
        }
        for span in spans::build(self, &t.scope) {
            t.processor.on_end(span);
        }
    }
}

/// The GenAI provider name of a wire.
pub(crate) fn system_of(wire: crate::config::Wire) -> &'static str {
    match wire {
        crate::config::Wire::Openai => "openai",
        crate::config::Wire::Anthropic => "anthropic",
        crate::config::Wire::Gemini => "gcp.gemini",
    }
}

fn new_trace_id() -> TraceId {
    TraceId::from_bytes(rand::random::<u128>().max(1).to_be_bytes())
}

fn new_span_id() -> SpanId {
    SpanId::from_bytes(rand::random::<u64>().max(1).to_be_bytes())
}
