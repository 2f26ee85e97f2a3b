//! Prometheus metrics: the names and labels Switchyard exports, recorded off the request path.
//!
//! Names are prefixed `switchyard_`, in base units (seconds, dollars, tokens), counters end in
//! `_total`, and labels stay low-cardinality (model, provider, complexity, rule, status and
//! outcome come from the config or fixed sets; never users, request ids or raw errors).

mod series;

use std::sync::{LazyLock, OnceLock};

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::dispatch::breaker::BreakerState;
use crate::usage::UsageRecord;
use series::Series;

const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// The process-wide recorder, installed on first use (one per process, as the `metrics` facade
/// requires); `None` if another recorder was installed first.
pub(crate) fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            spawn_upkeep(handle.clone());
            Some(handle)
        })
        .as_ref()
}

/// Folds histogram samples into their buckets every few seconds. The recorder keeps every
/// sample until a scrape or an upkeep drains it, so with nobody scraping `/metrics` its memory
/// grew by each request's samples for ever (`benches/soak.sh`: ~8 MB per 30 s at 5,000
/// requests/s).
fn spawn_upkeep(handle: PrometheusHandle) {
    let upkeep = move || loop {
        std::thread::sleep(std::time::Duration::from_secs(5));
        handle.run_upkeep();
    };
    if let Err(e) = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(upkeep)
    {
        tracing::warn!(error = %e, "cannot start the metrics upkeep thread");
    }
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "switchyard_requests_total",
        "Requests by endpoint, chosen model, provider, complexity, rule and status"
    );
    describe_counter!(
        "switchyard_prompt_tokens_total",
        Unit::Count,
        "Prompt tokens billed, by model"
    );
    describe_counter!(
        "switchyard_completion_tokens_total",
        Unit::Count,
        "Completion tokens billed, by model"
    );
    describe_gauge!(
        "switchyard_cost_usd_total",
        "Dollars spent (monotonic), by model"
    );
    describe_gauge!(
        "switchyard_saving_usd_total",
        "Dollars saved against the baseline model (can fall when a dearer model is chosen)"
    );
    describe_counter!(
        "switchyard_retries_total",
        "Upstream attempts beyond the first, by model"
    );
    describe_counter!(
        "switchyard_failovers_total",
        "Moves to a later candidate, by requested model"
    );
    describe_histogram!(
        "switchyard_request_duration_seconds",
        Unit::Seconds,
        "Whole request latency, by endpoint and model"
    );
    describe_histogram!(
        "switchyard_time_to_first_token_seconds",
        Unit::Seconds,
        "Time to the first streamed content, by model"
    );
    describe_histogram!(
        "switchyard_overhead_seconds",
        Unit::Seconds,
        "The router's own time per request (excludes upstream waits and backoff)"
    );
    describe_histogram!(
        "switchyard_upstream_duration_seconds",
        Unit::Seconds,
        "One upstream attempt, by provider, model and outcome"
    );
    describe_gauge!("switchyard_requests_in_flight", "Requests being handled");
    describe_gauge!("switchyard_streams_in_flight", "Streams being relayed");
    describe_gauge!(
        "switchyard_breaker_state",
        "0 closed, 1 half-open, 2 open, by model"
    );
    describe_counter!(
        "switchyard_breaker_transitions_total",
        "Breaker state changes, by model and new state"
    );
    describe_counter!(
        "switchyard_config_reloads_total",
        "Reload attempts by result"
    );
    describe_counter!(
        "switchyard_stream_resumes_total",
        "Streams broken after their first byte and continued on another candidate, by the model that broke and outcome"
    );
}

/// One finished request, from the ledger writer thread (never on the request path).
pub(crate) fn record_usage(r: &UsageRecord) {
    static REQUESTS: LazyLock<Series<Counter>> = LazyLock::new(Series::new);
    static BY_MODEL: LazyLock<Series<ModelSeries>> = LazyLock::new(Series::new);
    static DURATION: LazyLock<Series<Histogram>> = LazyLock::new(Series::new);
    static FAILOVERS: LazyLock<Series<Counter>> = LazyLock::new(Series::new);
    static OVERHEAD: LazyLock<Series<Histogram>> = LazyLock::new(Series::new);

    let model = r.model.as_deref().unwrap_or("none");
    let mut status = [0; 5];
    let values = [
        r.endpoint.as_str(),
        model,
        r.provider.as_deref().unwrap_or("none"),
        r.complexity.map_or("unclassified", |c| c.as_str()),
        r.rule.as_deref().unwrap_or("none"),
        digits(r.status, &mut status),
        r.outcome.as_str(),
    ];
    REQUESTS
        .get(&values, || {
            let [endpoint, model, provider, complexity, rule, status, outcome] =
                values.map(str::to_owned);
            counter!("switchyard_requests_total", "endpoint" => endpoint, "model" => model,
                "provider" => provider, "complexity" => complexity, "rule" => rule,
                "status" => status, "outcome" => outcome)
        })
        .increment(1);
    let m = BY_MODEL.get(&[model], || ModelSeries::register(model));
    if r.billed {
        m.prompt_tokens.increment(r.prompt_tokens);
        m.completion_tokens.increment(r.completion_tokens);
    }
    m.cost.increment(r.cost_usd);
    m.saving.increment(r.saving_usd);
    m.retries
        .increment(u64::from(r.attempts.saturating_sub(1 + r.failovers)));
    if let Some(t) = r.ttft_ms {
        m.ttft.record(t / 1000.0);
    }
    FAILOVERS
        .get(
            &[&r.requested_model],
            || counter!("switchyard_failovers_total", "requested" => r.requested_model.clone()),
        )
        .increment(u64::from(r.failovers));
    DURATION
        .get(&[r.endpoint.as_str(), model], || {
            histogram!("switchyard_request_duration_seconds",
                "endpoint" => r.endpoint.as_str(), "model" => model.to_owned())
        })
        .record(r.latency_ms / 1000.0);
    OVERHEAD
        .get(&[], || histogram!("switchyard_overhead_seconds"))
        .record(r.overhead_ms / 1000.0);
}

/// The per-model series of [`record_usage`], registered together.
#[derive(Clone)]
struct ModelSeries {
    prompt_tokens: Counter,
    completion_tokens: Counter,
    cost: Gauge,
    saving: Gauge,
    retries: Counter,
    ttft: Histogram,
}

impl ModelSeries {
    fn register(model: &str) -> Self {
        let by_model = [("model", model.to_owned())];
        Self {
            prompt_tokens: counter!("switchyard_prompt_tokens_total", &by_model),
            completion_tokens: counter!("switchyard_completion_tokens_total", &by_model),
            cost: gauge!("switchyard_cost_usd_total", &by_model),
            saving: gauge!("switchyard_saving_usd_total", &by_model),
            retries: counter!("switchyard_retries_total", &by_model),
            ttft: histogram!("switchyard_time_to_first_token_seconds", &by_model),
        }
    }
}

/// `n`'s decimal digits written into `buf`, so a status label costs no allocation.
fn digits(mut n: u16, buf: &mut [u8; 5]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// One upstream attempt.
pub(crate) fn record_attempt(provider: &str, model: &str, outcome: &str, seconds: f64) {
    static ATTEMPTS: LazyLock<Series<Histogram>> = LazyLock::new(Series::new);
    ATTEMPTS
        .get(&[provider, model, outcome], || {
            histogram!("switchyard_upstream_duration_seconds", "provider" => provider.to_owned(),
                "model" => model.to_owned(), "outcome" => outcome.to_owned())
        })
        .record(seconds);
}

/// A breaker changed state.
pub(crate) fn record_transition(model: &str, to: BreakerState) {
    counter!("switchyard_breaker_transitions_total", "model" => model.to_owned(), "to" => to.as_str()).increment(1);
}

/// The current state of one breaker, refreshed at scrape time.
pub(crate) fn set_breaker_state(model: &str, state: BreakerState) {
    let v = match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    };
    gauge!("switchyard_breaker_state", "model" => model.to_owned()).set(v);
}

/// In-flight requests or streams (`kind` is `requests` or `streams`).
pub(crate) fn in_flight(kind: &'static str, delta: f64) {
    static STREAMS: LazyLock<Series<Gauge>> = LazyLock::new(Series::new);
    static REQUESTS: LazyLock<Series<Gauge>> = LazyLock::new(Series::new);
    match kind {
        "streams" => STREAMS.get(&[], || gauge!("switchyard_streams_in_flight")),
        _ => REQUESTS.get(&[], || gauge!("switchyard_requests_in_flight")),
    }
    .increment(delta);
}

/// A reload attempt's result.
pub(crate) fn record_reload(ok: bool) {
    counter!("switchyard_config_reloads_total", "result" => if ok { "ok" } else { "rejected" })
        .increment(1);
}

/// Whether shared state (Redis) is reachable: 1 up, 0 down (serving on local state or refusing).
pub(crate) fn shared_state_up(up: bool) {
    gauge!("switchyard_shared_state_up").set(if up { 1.0 } else { 0.0 });
}

/// A request refused by a rate limit; `scope` is `user`, `team` or `global`, `limit` one of
/// `rpm`, `rph`, `tpm`, `tpd`.
pub(crate) fn rate_limited(scope: &'static str, limit: &'static str) {
    counter!("switchyard_rate_limited_total", "scope" => scope, "limit" => limit).increment(1);
}

/// A budget crossed its warning threshold or ran out; `period` is `daily` or `monthly`,
/// `event` is `warning`, `exceeded` or `degraded`.
pub(crate) fn budget_event(scope: &'static str, period: &'static str, event: &'static str) {
    counter!("switchyard_budget_events_total", "scope" => scope, "period" => period, "event" => event)
        .increment(1);
}

/// A response-cache decision: `hit`, `miss`, `bypass` or `store`.
pub(crate) fn cache_event(outcome: &'static str) {
    static EVENTS: LazyLock<Series<Counter>> = LazyLock::new(Series::new);
    EVENTS
        .get(
            &[outcome],
            || counter!("switchyard_cache_requests_total", "outcome" => outcome),
        )
        .increment(1);
}

/// The response cache's current size.
pub(crate) fn cache_size(entries: u64, bytes: u64) {
    gauge!("switchyard_cache_entries").set(entries as f64);
    gauge!("switchyard_cache_bytes").set(bytes as f64);
}

/// Requests waiting for a paced upstream key of `provider` (+1 on entry, -1 on exit).
pub(crate) fn pacing_queue(provider: &str, delta: f64) {
    gauge!("switchyard_pacing_queue_depth", "provider" => provider.to_owned()).increment(delta);
}

/// How a wait for a paced key ended: `waited` (then sent), `gave_up` (moved on after the
/// longest wait) or `queue_full` / `skipped` (moved on at once); with the time waited.
pub(crate) fn pacing_wait(provider: &str, outcome: &'static str, seconds: f64) {
    histogram!("switchyard_pacing_wait_seconds", "provider" => provider.to_owned(), "outcome" => outcome)
        .record(seconds);
}

/// A guardrail rule fired: `blocked` a request or `redacted` part of an answer.
pub(crate) fn guardrail(rule: &str, action: &'static str) {
    counter!("switchyard_guardrail_events_total", "rule" => rule.to_owned(), "action" => action)
        .increment(1);
}

/// One moderation pre-check: `result` is `passed`, `flagged` or `error`.
pub(crate) fn moderation_check(model: &str, result: &str, cached: bool) {
    counter!("switchyard_moderation_checks_total", "model" => model.to_owned(), "result" => result.to_owned(),
        "cached" => if cached { "true" } else { "false" })
    .increment(1);
}

/// A request refused at authentication: `missing`, `unknown` or `admin`.
pub(crate) fn auth_failure(reason: &'static str) {
    counter!("switchyard_auth_failures_total", "reason" => reason).increment(1);
}

/// A global budget's limit and spend in the current period (`daily` or `monthly`), for the
/// dashboard; refreshed at scrape time.
pub(crate) fn global_budget(period: &'static str, limit_usd: f64, spent_usd: f64) {
    gauge!("switchyard_budget_limit_usd", "scope" => "global", "period" => period).set(limit_usd);
    gauge!("switchyard_budget_spent_usd", "scope" => "global", "period" => period).set(spent_usd);
}

/// One coalesced embeddings call made to `model`, carrying `requests` client requests.
pub(crate) fn embedding_batch(model: &str, requests: usize) {
    counter!("switchyard_embedding_batches_total", "model" => model.to_owned()).increment(1);
    counter!("switchyard_embedding_batched_requests_total", "model" => model.to_owned())
        .increment(requests as u64);
}

/// A provider key that just passed 90% of a limit (`measure`: `requests` or `tokens`).
pub(crate) fn quota_warning(provider: &str, key_id: &str, measure: &'static str) {
    counter!("switchyard_upstream_quota_warnings_total", "provider" => provider.to_owned(),
        "key_id" => key_id.to_owned(), "measure" => measure)
    .increment(1);
}

/// One provider key's quota use, for [`key_headroom`]: (used, limit) pairs.
pub(crate) struct KeyQuota {
    /// Requests sent this minute, and the declared `rpm`.
    pub requests: (u64, Option<u64>),
    /// Tokens sent this minute, and the declared `tpm`.
    pub tokens: (u64, Option<u64>),
    /// Used and limit from the provider's last `x-ratelimit-*-requests` headers.
    pub provider_requests: Option<(u64, u64)>,
    /// Used and limit from the provider's last `x-ratelimit-*-tokens` headers.
    pub provider_tokens: Option<(u64, u64)>,
    /// The most used quota's fraction (0 when no limit is known).
    pub fraction: f64,
}

/// A provider key's quota gauges (labels: provider and key id, the env var's name); refreshed
/// at scrape time. Limits the key does not have are not exported.
pub(crate) fn key_headroom(provider: &str, key_id: &str, q: KeyQuota) {
    let labels = |source: &'static str| {
        [
            ("provider", provider.to_owned()),
            ("key_id", key_id.to_owned()),
            ("source", source.to_owned()),
        ]
    };
    let set = |name: &'static str, source: &'static str, used: u64, limit: Option<u64>| {
        gauge!(
            format!("switchyard_upstream_key_{name}_used"),
            &labels(source)
        )
        .set(used as f64);
        if let Some(l) = limit {
            gauge!(
                format!("switchyard_upstream_key_{name}_limit"),
                &labels(source)
            )
            .set(l as f64);
        }
    };
    set("requests", "declared", q.requests.0, q.requests.1);
    set("tokens", "declared", q.tokens.0, q.tokens.1);
    if let Some((used, limit)) = q.provider_requests {
        set("requests", "provider", used, Some(limit));
    }
    if let Some((used, limit)) = q.provider_tokens {
        set("tokens", "provider", used, Some(limit));
    }
    gauge!("switchyard_upstream_key_headroom_used_ratio", "provider" => provider.to_owned(), "key_id" => key_id.to_owned())
        .set(q.fraction);
}

/// A stream of `model` broke after its first byte under `stream_resume`: `resumed` on another
/// candidate, or `failed` (no candidate could continue; the client got the error event).
pub(crate) fn stream_resume(model: &str, outcome: &'static str) {
    counter!("switchyard_stream_resumes_total", "model" => model.to_owned(), "outcome" => outcome)
        .increment(1);
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_digits() {
        let mut buf = [0; 5];
        assert_eq!(super::digits(0, &mut buf), "0");
        assert_eq!(super::digits(200, &mut buf), "200");
        assert_eq!(super::digits(u16::MAX, &mut buf), "65535");
    }
}
