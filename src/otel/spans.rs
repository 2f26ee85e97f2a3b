//! A finished request's facts -> its spans, named and attributed after the GenAI semantic
//! conventions: the request (server), route, each upstream attempt (client) and the stream.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use super::{Attempt, RequestTrace};

/// What the finish step knows of a request, for its spans.
pub(crate) struct Finished<'a> {
    pub trace: &'a RequestTrace,
    pub request_id: &'a str,
    /// `gen_ai.operation.name`: `chat`, `text_completion` or `embeddings`.
    pub operation: &'static str,
    /// `model` as the client sent it.
    pub requested_model: &'a str,
    /// The HTTP status the client got.
    pub status: u16,
    /// The ledger's outcome label (`ok`, `upstream_error`, `client_disconnected`, …).
    pub outcome: &'a str,
    pub route: Option<RouteFacts<'a>>,
    pub attempts: &'a [Attempt],
    /// The model that answered, as the upstream named it.
    pub response_model: Option<&'a str>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_hit: bool,
    pub stream: Option<StreamFacts>,
    pub end: SystemTime,
}

/// The routing decision.
pub(crate) struct RouteFacts<'a> {
    pub policy: &'a str,
    pub rule: &'a str,
    pub complexity: Option<&'static str>,
    pub score: Option<f64>,
    pub candidates: usize,
}

/// The relay of a streamed answer: from the upstream's first chunks to its end.
pub(crate) struct StreamFacts {
    pub start: SystemTime,
    /// From the request's start to its first content.
    pub ttft: Option<Duration>,
}

/// The request's spans, the request span first.
pub(super) fn build(f: &Finished<'_>, scope: &InstrumentationScope) -> Vec<SpanData> {
    let t = f.trace;
    let own = t.span.span_id;
    let mut out = Vec::with_capacity(3 + f.attempts.len());
    let mut attrs = vec![
        KeyValue::new("gen_ai.operation.name", f.operation),
        KeyValue::new("gen_ai.request.model", f.requested_model.to_owned()),
        KeyValue::new("http.response.status_code", i64::from(f.status)),
        KeyValue::new("switchyard.request_id", f.request_id.to_owned()),
        KeyValue::new("switchyard.outcome", f.outcome.to_owned()),
        KeyValue::new("switchyard.attempts", f.attempts.len() as i64),
        KeyValue::new("switchyard.cache_hit", f.cache_hit),
    ];
    if let Some(last) = f.attempts.last() {
        attrs.push(KeyValue::new("gen_ai.provider.name", last.system));
        attrs.push(KeyValue::new("gen_ai.system", last.system));
    }
    push_answer(&mut attrs, f);
    let failed = f.status >= 400;
    if failed {
        attrs.push(KeyValue::new("error.type", f.outcome.to_owned()));
    }
    out.push(span(
        t,
        Parent::of_request(t),
        own,
        format!("{} {}", f.operation, f.requested_model),
        SpanKind::Server,
        (t.start, f.end),
        attrs,
        if f.status >= 500 {
            Status::error(f.outcome.to_owned())
        } else {
            Status::Unset
        },
        scope,
    ));
    if let (Some(r), Some((start, end))) = (&f.route, t.route) {
        let mut attrs = vec![
            KeyValue::new("switchyard.policy", r.policy.to_owned()),
            KeyValue::new("switchyard.rule", r.rule.to_owned()),
            KeyValue::new("switchyard.candidates", r.candidates as i64),
        ];
        if let Some(c) = r.complexity {
            attrs.push(KeyValue::new("switchyard.complexity", c));
        }
        if let Some(s) = r.score {
            attrs.push(KeyValue::new("switchyard.score", s));
        }
        out.push(span(
            t,
            Parent::local(own),
            super::new_span_id(),
            "route".into(),
            SpanKind::Internal,
            (start, end),
            attrs,
            Status::Unset,
            scope,
        ));
    }
    let answered = f.status < 400 && !f.cache_hit;
    for (i, a) in f.attempts.iter().enumerate() {
        let mut attrs = vec![
            KeyValue::new("gen_ai.operation.name", f.operation),
            KeyValue::new("gen_ai.provider.name", a.system),
            KeyValue::new("gen_ai.system", a.system),
            KeyValue::new("gen_ai.request.model", a.model.to_string()),
            KeyValue::new("switchyard.provider", a.provider.to_string()),
            KeyValue::new("switchyard.model", a.model_id.to_string()),
            KeyValue::new("switchyard.retry", i64::from(a.retry)),
            KeyValue::new("switchyard.failover", i64::from(a.failover)),
        ];
        if let Some((host, port)) = &a.server {
            attrs.push(KeyValue::new("server.address", host.clone()));
            attrs.push(KeyValue::new("server.port", i64::from(*port)));
        }
        if let Some(k) = &a.key_id {
            attrs.push(KeyValue::new("switchyard.key_id", k.clone()));
        }
        if let Some(s) = a.status {
            attrs.push(KeyValue::new("http.response.status_code", i64::from(s)));
        }
        let status = match &a.error {
            Some(e) => {
                attrs.push(KeyValue::new("error.type", e.clone()));
                Status::error(e.clone())
            }
            None => Status::Unset,
        };
        // the last attempt that succeeded is the one whose answer the request got
        if answered && a.error.is_none() && i + 1 == f.attempts.len() {
            push_answer(&mut attrs, f);
        }
        out.push(span(
            t,
            Parent::local(own),
            a.span_id,
            format!("{} {}", f.operation, a.model),
            SpanKind::Client,
            (a.start, a.end),
            attrs,
            status,
            scope,
        ));
    }
    if let Some(s) = &f.stream {
        let mut attrs = vec![KeyValue::new("switchyard.outcome", f.outcome.to_owned())];
        if let Some(ttft) = s.ttft {
            attrs.push(KeyValue::new(
                "gen_ai.response.time_to_first_chunk",
                ttft.as_secs_f64(),
            ));
        }
        if let Some(n) = f.output_tokens {
            attrs.push(KeyValue::new("gen_ai.usage.output_tokens", n as i64));
        }
        out.push(span(
            t,
            Parent::local(own),
            super::new_span_id(),
            "stream".into(),
            SpanKind::Internal,
            (s.start, f.end),
            attrs,
            if f.outcome == "ok" {
                Status::Unset
            } else {
                Status::error(f.outcome.to_owned())
            },
            scope,
        ));
    }
    out
}

/// The answer's model and token counts, on the request span and the answering attempt's.
fn push_answer(attrs: &mut Vec<KeyValue>, f: &Finished<'_>) {
    if let Some(m) = f.response_model {
        attrs.push(KeyValue::new("gen_ai.response.model", m.to_owned()));
    }
    if let Some(n) = f.input_tokens {
        attrs.push(KeyValue::new("gen_ai.usage.input_tokens", n as i64));
    }
    if let Some(n) = f.output_tokens {
        attrs.push(KeyValue::new("gen_ai.usage.output_tokens", n as i64));
    }
}

/// A span's parent: the client's (remote) span, one of ours, or none (a root).
struct Parent {
    id: SpanId,
    remote: bool,
}

impl Parent {
    fn of_request(t: &RequestTrace) -> Self {
        match t.remote_parent {
            Some(id) => Self { id, remote: true },
            None => Self {
                id: SpanId::INVALID,
                remote: false,
            },
        }
    }

    fn local(id: SpanId) -> Self {
        Self { id, remote: false }
    }
}

#[allow(clippy::too_many_arguments)]
fn span(
    t: &RequestTrace,
    parent: Parent,
    id: SpanId,
    name: String,
    kind: SpanKind,
    (start, end): (SystemTime, SystemTime),
    attributes: Vec<KeyValue>,
    status: Status,
    scope: &InstrumentationScope,
) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            t.span.trace_id,
            id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: parent.id,
        parent_span_is_remote: parent.remote,
        span_kind: kind,
        name: name.into(),
        start_time: start,
        end_time: end.max(start),
        attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: scope.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel::TraceParent;
    use std::sync::Arc;

    fn attempt(retry: u32, error: Option<&str>) -> Attempt {
        Attempt {
            span_id: SpanId::from_bytes([0, 0, 0, 0, 0, 0, 0, 10 + retry as u8]),
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(2),
            end: SystemTime::UNIX_EPOCH + Duration::from_secs(3),
            provider: Arc::from("p"),
            system: "anthropic",
            model_id: Arc::from("p/m"),
            model: Arc::from("m-upstream"),
            server: Some(("api.example".into(), 443)),
            key_id: Some("P_KEY".into()),
            retry,
            failover: 0,
            status: error.map_or(Some(200), |_| Some(503)),
            error: error.map(str::to_owned),
        }
    }

    fn get<'a>(s: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    #[test]
    fn a_failed_request_marks_its_span_and_each_failed_attempt_as_errors() {
        let trace = RequestTrace {
            span: TraceParent {
                trace_id: opentelemetry::trace::TraceId::from_bytes([7; 16]),
                span_id: SpanId::from_bytes([1; 8]),
                sampled: true,
            },
            remote_parent: None,
            tracestate: None,
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(1),
            route: None,
        };
        let attempts = [attempt(0, Some("503")), attempt(1, Some("503"))];
        let f = Finished {
            trace: &trace,
            request_id: "r1",
            operation: "chat",
            requested_model: "auto",
            status: 503,
            outcome: "upstream_error",
            route: None,
            attempts: &attempts,
            response_model: None,
            input_tokens: None,
            output_tokens: None,
            cache_hit: false,
            stream: None,
            end: SystemTime::UNIX_EPOCH + Duration::from_secs(4),
        };
        let spans = build(&f, &InstrumentationScope::builder("t").build());
        assert_eq!(
            spans.len(),
            3,
            "the request and two attempts; no route was made"
        );
        let request = &spans[0];
        assert_eq!(request.span_kind, SpanKind::Server);
        assert_eq!(request.parent_span_id, SpanId::INVALID, "a root span");
        assert!(matches!(request.status, Status::Error { .. }));
        assert_eq!(
            get(request, "error.type")
                .map(ToString::to_string)
                .as_deref(),
            Some("upstream_error")
        );
        assert!(get(request, "gen_ai.usage.input_tokens").is_none());
        for (i, a) in spans[1..].iter().enumerate() {
            assert_eq!(a.span_kind, SpanKind::Client);
            assert_eq!(a.parent_span_id, trace.span.span_id);
            assert_eq!(a.span_context.trace_id(), trace.span.trace_id);
            assert_eq!(a.span_context.span_id(), attempts[i].span_id);
            assert_eq!(a.name, "chat m-upstream");
            assert!(matches!(a.status, Status::Error { .. }));
            assert_eq!(
                get(a, "switchyard.retry").map(ToString::to_string),
                Some(i.to_string())
            );
            assert_eq!(
                get(a, "gen_ai.provider.name")
                    .map(ToString::to_string)
                    .as_deref(),
                Some("anthropic")
            );
            assert!(get(a, "gen_ai.response.model").is_none());
        }
    }
}
