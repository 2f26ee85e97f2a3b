//! OpenTelemetry through the real binary: a real OTLP/HTTP receiver started here (the official
//! protobufs) gets the request span (child of the client's `traceparent`) with its route,
//! attempt and stream children; each upstream call carries its attempt span's `traceparent`;
//! no secret is in any attribute; spans queued at shutdown are flushed; off by default.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use switchyard::sim::{self, Behavior, SimSettings, SimUpstream};

use crate::common::process::RouterProcess;

const BAD_KEY: &str = "sk-bad-0123456789abcdefghijklmnop";
const GOOD_KEY: &str = "sk-good-0123456789abcdefghijklmnop";
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// Spans received, each with its resource's `service.name`.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

/// An OTLP/HTTP trace receiver on 127.0.0.1:0: decodes every `POST /v1/traces`.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let app = axum::Router::new()
        .route("/v1/traces", post(export))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

async fn export(
    State(got): State<Received>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let req = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    let mut got = got.lock().unwrap();
    for rs in req.resource_spans {
        let service = rs
            .resource
            .as_ref()
            .and_then(|r| str_attr(&r.attributes, "service.name"))
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                got.push((service.clone(), span));
            }
        }
    }
    let resp = ExportTraceServiceResponse::default().encode_to_vec();
    ([("content-type", "application/x-protobuf")], resp)
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Any> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn str_attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    match attr(attrs, key)? {
        Any::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int_attr(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attrs, key)? {
        Any::IntValue(n) => Some(*n),
        _ => None,
    }
}

fn provider(name: &str, url: &str, env: &str) -> String {
    format!(
        "name: {name}\nbase_url: {url}\nkeys: [{{env: {env}}}]\nretry: {{attempts: 2, backoff_base_ms: 1, backoff_max_ms: 2}}\nbreaker: {{failure_threshold: 100}}\nmodels:\n  - {{name: m, input_per_1m: 1, output_per_1m: 2}}\n"
    )
}

const POLICY: &str = "name: default\naliases: [auto]\nbaseline: good/m\nrules:\n  - name: all\n    route: [bad/m, good/m]\n";

/// A router in front of a failing and a working sim, with `env` added.
async fn router(env: &[(&str, &str)]) -> (RouterProcess, SimUpstream, SimUpstream) {
    let bad = sim::spawn(SimSettings::fast("bad", ["m"])).await.unwrap();
    bad.control().set_behavior(Behavior::Status {
        status: 500,
        body: serde_json::json!({"error": {"message": "boom"}}),
    });
    let good = sim::spawn(SimSettings::fast("good", ["m"])).await.unwrap();
    let mut all = vec![("SY_BAD_KEY", BAD_KEY), ("SY_GOOD_KEY", GOOD_KEY)];
    all.extend_from_slice(env);
    let r = RouterProcess::start(
        "auth:\n  mode: open\n",
        &[
            ("bad", provider("bad", &bad.base_url(), "SY_BAD_KEY")),
            ("good", provider("good", &good.base_url(), "SY_GOOD_KEY")),
        ],
        &[("default", POLICY)],
        None,
        &all,
    );
    (r, bad, good)
}

async fn chat(router: &RouterProcess, stream: bool, traceparent: Option<&str>) -> String {
    let body = serde_json::json!({
        "model": "auto",
        "stream": stream,
        "messages": [{"role": "user", "content": "hello there"}],
    });
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", router.url))
        .json(&body);
    if let Some(tp) = traceparent {
        req = req.header("traceparent", tp);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

/// The trace id of a `traceparent` value, and its span id.
fn ids(tp: &str) -> (String, String) {
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_follow_a_request_through_failover_and_streaming() {
    let (url, got) = receiver().await;
    // a long schedule: only the flush at shutdown can deliver these spans
    let (mut router, bad, good) = router(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_SERVICE_NAME", "switchyard-test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
    ])
    .await;
    let client_tp = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    chat(&router, false, Some(&client_tp)).await;
    let streamed = chat(&router, true, None).await;
    assert!(streamed.contains("[DONE]"), "{streamed}");
    assert!(
        router.terminate(Duration::from_secs(15)).is_some(),
        "the router did not stop"
    );
    let spans = got.lock().unwrap().clone();
    assert!(!spans.is_empty(), "no span was exported before exit");
    assert!(spans.iter().all(|(s, _)| s == "switchyard-test"));
    let spans: Vec<Span> = spans.into_iter().map(|(_, s)| s).collect();
    let hex = |b: &[u8]| {
        b.iter().fold(String::new(), |mut s, x| {
            s.push_str(&format!("{x:02x}"));
            s
        })
    };
    let children = |parent: &Span| -> Vec<&Span> {
        spans
            .iter()
            .filter(|s| s.trace_id == parent.trace_id && s.parent_span_id == parent.span_id)
            .collect()
    };

    // the client's trace: the request span is the child of the client's span
    let request = spans
        .iter()
        .find(|s| hex(&s.trace_id) == CLIENT_TRACE && s.kind == SpanKind::Server as i32)
        .expect("a request span in the client's trace");
    assert_eq!(hex(&request.parent_span_id), CLIENT_SPAN);
    let a = &request.attributes;
    assert_eq!(
        str_attr(a, "gen_ai.operation.name").as_deref(),
        Some("chat")
    );
    assert_eq!(str_attr(a, "gen_ai.request.model").as_deref(), Some("auto"));
    assert_eq!(str_attr(a, "gen_ai.response.model").as_deref(), Some("m"));
    assert_eq!(
        str_attr(a, "gen_ai.provider.name").as_deref(),
        Some("openai")
    );
    assert!(int_attr(a, "gen_ai.usage.input_tokens").unwrap() > 0);
    assert!(int_attr(a, "gen_ai.usage.output_tokens").unwrap() > 0);
    assert_eq!(int_attr(a, "http.response.status_code"), Some(200));
    assert!(request.end_time_unix_nano >= request.start_time_unix_nano);

    let kids = children(request);
    let route = kids
        .iter()
        .find(|s| s.name == "route")
        .expect("a route span");
    assert_eq!(
        str_attr(&route.attributes, "switchyard.policy").as_deref(),
        Some("default")
    );
    assert_eq!(
        str_attr(&route.attributes, "switchyard.rule").as_deref(),
        Some("all")
    );
    let mut attempts: Vec<&&Span> = kids
        .iter()
        .filter(|s| s.kind == SpanKind::Client as i32)
        .collect();
    attempts.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(attempts.len(), 3, "two tries of bad, then good");
    for (s, (prov, retry, failover, status)) in
        attempts
            .iter()
            .zip([("bad", 0, 0, 500), ("bad", 1, 0, 500), ("good", 0, 1, 200)])
    {
        let a = &s.attributes;
        assert_eq!(s.name, "chat m");
        assert_eq!(str_attr(a, "switchyard.provider").as_deref(), Some(prov));
        assert_eq!(str_attr(a, "gen_ai.request.model").as_deref(), Some("m"));
        assert_eq!(str_attr(a, "gen_ai.system").as_deref(), Some("openai"));
        assert_eq!(int_attr(a, "switchyard.retry"), Some(retry));
        assert_eq!(int_attr(a, "switchyard.failover"), Some(failover));
        assert_eq!(int_attr(a, "http.response.status_code"), Some(status));
        assert_eq!(str_attr(a, "server.address").as_deref(), Some("127.0.0.1"));
        assert!(int_attr(a, "server.port").unwrap() > 0);
        let key_id = if prov == "bad" {
            "SY_BAD_KEY"
        } else {
            "SY_GOOD_KEY"
        };
        assert_eq!(str_attr(a, "switchyard.key_id").as_deref(), Some(key_id));
        assert_eq!(
            str_attr(a, "error.type").as_deref(),
            (status == 500).then_some("500")
        );
        assert!(s.start_time_unix_nano >= request.start_time_unix_nano);
        assert!(s.end_time_unix_nano <= request.end_time_unix_nano);
    }
    assert_eq!(
        int_attr(&attempts[2].attributes, "gen_ai.usage.output_tokens"),
        int_attr(&request.attributes, "gen_ai.usage.output_tokens")
    );

    // each upstream call carried its attempt span's context
    let seen = |tps: Vec<String>| -> Vec<(String, String)> {
        tps.iter()
            .map(|t| ids(t))
            .filter(|(t, _)| t == CLIENT_TRACE)
            .collect()
    };
    let bad_calls = seen(bad.control().traceparents());
    let good_calls = seen(good.control().traceparents());
    assert_eq!(bad_calls.len(), 2, "{bad_calls:?}");
    assert_eq!(good_calls.len(), 1, "{good_calls:?}");
    assert_eq!(bad_calls[0].1, hex(&attempts[0].span_id));
    assert_eq!(bad_calls[1].1, hex(&attempts[1].span_id));
    assert_eq!(good_calls[0].1, hex(&attempts[2].span_id));

    // the streamed request: a new trace (no traceparent came), with a stream span
    let root = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32 && hex(&s.trace_id) != CLIENT_TRACE)
        .expect("the streamed request's span");
    assert!(root.parent_span_id.is_empty(), "a root span");
    assert_eq!(
        str_attr(&root.attributes, "gen_ai.response.model").as_deref(),
        Some("m"),
        "the upstream's model name, not the router's id"
    );
    let kids = children(root);
    let stream = kids
        .iter()
        .find(|s| s.name == "stream")
        .expect("a stream span");
    assert_eq!(
        str_attr(&stream.attributes, "switchyard.outcome").as_deref(),
        Some("ok")
    );
    let good_last = good.control().traceparents();
    let (trace, _) = ids(good_last.last().unwrap());
    assert_eq!(trace, hex(&root.trace_id));

    // no secret in any attribute of any span
    for s in &spans {
        for kv in &s.attributes {
            let v = format!("{:?}", kv.value);
            for secret in [BAD_KEY, GOOD_KEY] {
                assert!(!v.contains(secret), "{} carries a key: {v}", kv.key);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_when_not_configured_or_disabled() {
    let (url, got) = receiver().await;
    let client_tp = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    for env in [
        vec![],
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
            ("OTEL_SDK_DISABLED", "true"),
        ],
    ] {
        let (mut router, bad, good) = router(&env).await;
        chat(&router, false, Some(&client_tp)).await;
        assert!(router.terminate(Duration::from_secs(15)).is_some());
        // nothing traced: no span exported, and no traceparent of ours went upstream
        assert!(got.lock().unwrap().is_empty(), "{env:?}");
        assert!(bad.control().traceparents().is_empty(), "{env:?}");
        assert!(good.control().traceparents().is_empty(), "{env:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_the_sampler_drops_still_propagates_its_trace() {
    let (url, got) = receiver().await;
    let (mut router, _bad, good) = router(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_TRACES_SAMPLER", "always_off"),
    ])
    .await;
    let client_tp = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    chat(&router, false, Some(&client_tp)).await;
    assert!(router.terminate(Duration::from_secs(15)).is_some());
    assert!(
        got.lock().unwrap().is_empty(),
        "a dropped trace exported spans"
    );
    let tps = good.control().traceparents();
    assert_eq!(tps.len(), 1, "{tps:?}");
    let (trace, span) = ids(&tps[0]);
    assert_eq!(trace, CLIENT_TRACE, "the client's trace goes on upstream");
    assert_ne!(span, CLIENT_SPAN, "named after the router's own attempt");
    assert!(tps[0].ends_with("-00"), "flagged not sampled: {}", tps[0]);
}
