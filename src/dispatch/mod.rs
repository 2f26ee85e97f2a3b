//! Runs a route plan: picks a model per group by weight, a key by rotation, asks the breaker,
//! calls the adapter with retries and backoff, and fails over until something answers.

pub(crate) mod backoff;
pub(crate) mod breaker;
mod coalesce;
mod fleet;
pub(crate) mod headroom;
pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod pacing;
pub(crate) mod quota;
mod span;
pub(crate) mod sync;
mod wait;
pub(crate) mod weighted;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::adapters::http::Client;
use crate::adapters::{Adapter, Call, EventStream, FullReply, UpstreamError};
use crate::config::Endpoint;
use crate::error::ApiError;
use crate::live::Live;
use crate::lock::lock;
use crate::openai::Chunk;
use crate::route::RoutePlan;
use breaker::Permit;
use health::breaker_event;
use span::AttemptSpan;

/// What a request asks of its upstream: which endpoint, streamed or not, and what pacing
/// needs to know about it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Op {
    pub endpoint: Endpoint,
    pub stream: bool,
    /// How long the policy lets it wait for a key at its rpm/tpm limit (zero: move on).
    pub max_wait: Duration,
    /// Its estimated size for tpm pacing: prompt tokens plus the requested `max_tokens`.
    pub tokens: u64,
    /// A batch line: it takes a paced key only when no interactive request waits for one,
    /// and never books a slot ahead (see `wait.rs`).
    pub background: bool,
}

/// How long a batch line may wait for a paced key before its candidate is passed over.
pub(crate) const BACKGROUND_MAX_WAIT: Duration = Duration::from_secs(600);

/// An answer that is ready to go back to the client.
pub(crate) enum Reply {
    Full(FullReply),
    /// A stream whose first meaningful chunks already arrived (held, not yet sent), so every
    /// failure before them could still fail over.
    Stream {
        head: Vec<Chunk>,
        rest: EventStream,
    },
}

impl Reply {
    /// A stream keeps its key's lease until it ends, so a drained key's in-flight count
    /// covers the whole stream.
    fn holding(self, lease: Option<KeyLease>) -> Self {
        match self {
            Self::Stream { head, rest } => Self::Stream {
                head,
                rest: Box::pin(rest.map(move |item| {
                    let _held = &lease;
                    item
                })),
            },
            full @ Self::Full(_) => full,
        }
    }
}

/// One call made with a provider key, counted in the key's in-flight calls until dropped.
struct KeyLease {
    pool: Arc<std::sync::Mutex<keys::KeyPool>>,
    key: usize,
}

impl KeyLease {
    fn start(pool: Arc<std::sync::Mutex<keys::KeyPool>>, key: usize) -> Self {
        lock(&pool).call_started(key);
        Self { pool, key }
    }
}

impl Drop for KeyLease {
    fn drop(&mut self) {
        lock(&self.pool).call_ended(self.key);
    }
}

/// How the plan was carried out, for headers, the ledger and the stream relay.
#[derive(Debug, Default, Clone)]
pub(crate) struct Trace {
    pub attempts: u32,
    pub failovers: u32,
    /// Time spent waiting on upstreams and in backoff sleeps, excluded from router overhead.
    pub waited: Duration,
    /// One entry per candidate that did not answer.
    pub notes: Vec<CandidateNote>,
    /// Every upstream call, for its span (kept only for a request that is traced and sampled).
    pub spans: Vec<crate::otel::Attempt>,
    /// Set when the answer came from an embeddings call shared with other requests.
    pub batch: Option<BatchNote>,
}

/// The coalesced upstream call an embeddings answer came from ([`coalesce`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchNote {
    /// Requests that shared the call, this one included.
    pub requests: u32,
    /// Inputs the call carried in all.
    pub inputs: u32,
}

/// Why a candidate was passed over without calling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SkipReason {
    BreakerOpen,
    /// An operator forced the breaker open (`POST /admin/breakers/{model}`).
    ForcedOpen,
    /// An operator drained or disabled every key of the provider.
    KeysOff,
    /// Every key is cooling down after 429s.
    KeysCooling,
    /// Every key is at its rpm/tpm limit and the policy does not wait that long.
    Paced,
    /// The provider's pacing queue is full.
    QueueFull,
    /// The candidate's wire cannot express the request (decided when routing; never called).
    Unsupported(crate::capability::Lack),
}

impl SkipReason {
    /// How the reason reads in summaries and logs.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::BreakerOpen => "breaker open",
            Self::ForcedOpen => "breaker forced open by an operator",
            Self::KeysOff => "every key drained or disabled by an operator",
            Self::KeysCooling => "all keys cooling down",
            Self::Paced => "keys at rpm/tpm limit",
            Self::QueueFull => "pacing queue full",
            Self::Unsupported(lack) => lack.as_str(),
        }
    }
}

/// One try of a candidate that did not answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TryNote {
    Skipped(SkipReason),
    /// Called, and failed with this label (`500`, `timeout`, `connect_error`, ...).
    Failed(String),
    /// Called, and the upstream rejected the router's key (401/403).
    KeyRejected(String),
}

/// A candidate that did not answer, and what each try met.
#[derive(Debug, Clone)]
pub(crate) struct CandidateNote {
    pub model: Arc<str>,
    pub tries: Vec<TryNote>,
}

impl CandidateNote {
    /// Whether the candidate was actually called (not only skipped).
    pub(crate) fn attempted(&self) -> bool {
        self.tries
            .iter()
            .any(|t| matches!(t, TryNote::Failed(_) | TryNote::KeyRejected(_)))
    }

    /// Whether no call made met anything but a rejected key.
    fn only_keys_rejected(&self) -> bool {
        self.tries.iter().all(|t| !matches!(t, TryNote::Failed(_)))
    }
}

impl std::fmt::Display for CandidateNote {
    /// `openai/gpt-4.1: 500, 500` or `anthropic/claude: skipped: breaker open`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.model)?;
        for (i, t) in self.tries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match t {
                TryNote::Skipped(r) => write!(f, "skipped: {}", r.as_str())?,
                TryNote::Failed(label) => f.write_str(label)?,
                TryNote::KeyRejected(label) => write!(f, "{label} key rejected")?,
            }
        }
        Ok(())
    }
}

/// A successful dispatch.
pub(crate) struct Dispatched {
    pub model: usize,
    pub reply: Reply,
    pub trace: Trace,
}

/// A failed dispatch: the client's error and what was tried.
pub(crate) struct Failed {
    pub error: ApiError,
    pub trace: Trace,
    pub model: Option<usize>,
}

/// Tries the plan's candidates in order until one answers; with `otel`, each call carries the
/// request's trace to the upstream (`traceparent`).
pub(crate) async fn dispatch(
    live: &Arc<Live>,
    fleet: Option<&Arc<crate::shared::Shared>>,
    client: &Client,
    plan: &RoutePlan,
    body: &Map<String, Value>,
    op: Op,
    otel: Option<&crate::otel::Propagation>,
) -> Result<Dispatched, Failed> {
    let bodies = Bodies {
        default: body,
        prefill: None,
    };
    dispatch_bodies(live, fleet, client, plan, bodies, op, otel).await
}

/// The request body each candidate gets: the client's, or, for a resumed stream, one that asks
/// to continue a partial answer (with a native assistant prefill where the wire takes one).
#[derive(Clone, Copy)]
pub(crate) struct Bodies<'a> {
    pub default: &'a Map<String, Value>,
    /// For wires that continue a trailing assistant turn natively (Anthropic).
    pub prefill: Option<&'a Map<String, Value>>,
}

impl<'a> Bodies<'a> {
    fn for_wire(self, wire: crate::config::Wire) -> &'a Map<String, Value> {
        match (wire, self.prefill) {
            (crate::config::Wire::Anthropic, Some(p)) => p,
            _ => self.default,
        }
    }
}

/// [`dispatch`] with a body per wire.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn dispatch_bodies(
    live: &Arc<Live>,
    fleet: Option<&Arc<crate::shared::Shared>>,
    client: &Client,
    plan: &RoutePlan,
    body: Bodies<'_>,
    op: Op,
    otel: Option<&crate::otel::Propagation>,
) -> Result<Dispatched, Failed> {
    let mut trace = Trace::default();
    // candidates routing passed over for what their wire lacks: never called, but reported
    for (m, lack) in &plan.unsupported {
        trace.notes.push(CandidateNote {
            model: live.config.models[*m].id.clone(),
            tries: vec![TryNote::Skipped(SkipReason::Unsupported(*lack))],
        });
    }
    let mut last_model = None;
    let mut candidates = 0u32;
    for group in &plan.groups {
        let order = weighted::weighted_order(&group.members, &mut rand::rng());
        for m in order {
            if candidates > 0 {
                trace.failovers += 1;
            }
            candidates += 1;
            last_model = Some(m);
            let mut tries = Vec::new();
            let at = Candidate { m, otel };
            match try_candidate(live, fleet, client, at, body, op, &mut trace, &mut tries).await {
                Ok(reply) => {
                    return Ok(Dispatched {
                        model: m,
                        reply,
                        trace,
                    })
                }
                Err(Some(fatal)) => {
                    return Err(Failed {
                        error: fatal,
                        trace,
                        model: Some(m),
                    })
                }
                Err(None) => {}
            }
            trace.notes.push(CandidateNote {
                model: live.config.models[m].id.clone(),
                tries,
            });
        }
    }
    let summary = trace
        .notes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let attempted = trace.notes.iter().any(CandidateNote::attempted);
    let keys_rejected = attempted && trace.notes.iter().all(CandidateNote::only_keys_rejected);
    let error = if keys_rejected {
        ApiError::UpstreamAuth { summary }
    } else {
        ApiError::AllFailed {
            summary,
            nothing_attempted: !attempted,
            retry_after: live.health.available_in(&live.config, plan, Instant::now()),
        }
    };
    Err(Failed {
        error,
        trace,
        model: last_model,
    })
}

/// Tries one model up to its provider's attempt limit. `Err(None)` means "move on";
/// `Err(Some(e))` means stop: a non-retryable upstream answer for the client.
#[allow(clippy::too_many_arguments)]
async fn try_candidate(
    live: &Arc<Live>,
    fleet: Option<&Arc<crate::shared::Shared>>,
    client: &Client,
    Candidate { m, otel }: Candidate<'_>,
    body: Bodies<'_>,
    op: Op,
    trace: &mut Trace,
    tries: &mut Vec<TryNote>,
) -> Result<Reply, Option<ApiError>> {
    let provider = &live.config.providers[live.config.models[m].provider];
    let body = body.for_wire(provider.wire);
    for attempt in 0..provider.retry.attempts {
        // an embeddings request to a batching model may share this attempt's call with others
        let called =
            if let Some(called) = coalesce::join(live, fleet, client, m, body, op, trace).await {
                called
            } else {
                let at = Attempt {
                    otel,
                    retry: attempt,
                };
                call_once(live, fleet, client, m, body, op, trace, at).await
            };
        let err = match called {
            Called::Answered(reply) => return Ok(reply),
            Called::Skipped(skip) => {
                tries.push(TryNote::Skipped(skip));
                return Err(None);
            }
            Called::Unsupported(u) => return Err(Some(ApiError::Unsupported(u))),
            Called::Failed(err) => err,
        };
        if err.is_key_rejected() {
            tries.push(TryNote::KeyRejected(err.label()));
            continue;
        }
        if !err.is_retryable() {
            if let UpstreamError::Status { status, body, .. } = err {
                return Err(Some(ApiError::Upstream { status, body }));
            }
        }
        tries.push(TryNote::Failed(err.label()));
        if attempt + 1 < provider.retry.attempts && !err.is_rate_limit() {
            let pause = backoff::backoff(&provider.retry, attempt, &mut rand::rng());
            let slept = Instant::now();
            tokio::time::sleep(pause).await;
            trace.waited += slept.elapsed();
        }
    }
    Err(None)
}

/// What one call of a candidate met: an answer, a reason it was not made, or a failure
/// (already counted on the breaker, the key pool and the metrics).
pub(crate) enum Called {
    Answered(Reply),
    Skipped(SkipReason),
    /// The wire cannot express the request; nothing was sent.
    Unsupported(crate::adapters::Unsupported),
    Failed(UpstreamError),
}

/// One call of model `m`: a key (waiting for pacing if the policy allows), the breaker's
/// permit, the adapter's round trip, and what the outcome means for the breaker, the key's
/// cooldown, its quota headroom and the metrics.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn call_once(
    live: &Live,
    fleet: Option<&Arc<crate::shared::Shared>>,
    client: &Client,
    m: usize,
    body: &Map<String, Value>,
    op: Op,
    trace: &mut Trace,
    at: Attempt<'_>,
) -> Called {
    let model = &live.config.models[m];
    let provider = &live.config.providers[model.provider];
    let breaker = &live.health.breakers[m];
    let pool = &live.health.keys[model.provider];
    let adapter = Adapter::for_wire(provider.wire);
    // keys first: a skip for cooling keys must not take the breaker's half-open probe
    // boxed: a wait holds its booking across the sleep, and callers' futures stay small
    let key = match Box::pin(wait::acquire(provider, pool, fleet, op, trace)).await {
        Ok(key) => key,
        Err(skip) => return Called::Skipped(skip),
    };
    let (permit, forced) = breaker_event(breaker, &model.id, |b, now| (b.acquire(now), b.forced()));
    if permit == Permit::Refused {
        return Called::Skipped(if forced == Some(breaker::Forced::Open) {
            SkipReason::ForcedOpen
        } else {
            SkipReason::BreakerOpen
        });
    }
    // the key counts as in flight (for a drain) until the call, or its stream, ends
    let lease = key.map(|i| KeyLease::start(Arc::clone(pool), i));
    let headroom = &live.health.headroom[model.provider];
    let span = at
        .otel
        .map(|p| AttemptSpan::start(p, key.map(|i| provider.keys[i].env.as_str())));
    let call = Call {
        client,
        provider,
        model,
        key: key.map(|i| &provider.keys[i].secret),
        body,
        trace: span
            .as_ref()
            .map(|s| (&s.traceparent, s.tracestate.as_ref())),
        meter: key.map(|i| (&**headroom, i)),
    };
    trace.attempts += 1;
    let started = Instant::now();
    let result = if op.stream {
        open_stream(adapter, &call, op.endpoint)
            .await
            .map(|reply| reply.holding(lease))
    } else {
        adapter.request(&call, op.endpoint).await.map(Reply::Full)
    };
    trace.waited += started.elapsed();
    if let Some(s) = span {
        let err = result.as_ref().err();
        let failover = trace.failovers;
        trace
            .spans
            .extend(s.end(provider, model, at.retry, failover, err));
    }
    // a request the wire cannot express was never sent: it uses none of the key's quota
    if let (Some(i), false) = (key, matches!(result, Err(UpstreamError::Unsupported(_)))) {
        lock(headroom).sent(i, op.tokens, started);
        quota::check(live, client, model.provider, i);
    }
    let err = match result {
        Ok(reply) => {
            crate::metrics::record_attempt(
                &provider.name,
                &model.id,
                "ok",
                started.elapsed().as_secs_f64(),
            );
            breaker_event(breaker, &model.id, breaker::Breaker::on_success);
            return Called::Answered(reply);
        }
        Err(UpstreamError::Unsupported(u)) => {
            // nothing was sent; a half-open probe taken for it is handed back
            breaker_event(breaker, &model.id, breaker::Breaker::on_success);
            return Called::Unsupported(u);
        }
        Err(e) => e,
    };
    crate::metrics::record_attempt(
        &provider.name,
        &model.id,
        &err.label(),
        started.elapsed().as_secs_f64(),
    );
    tracing::debug!(model = %model.id, error = %err, "upstream attempt failed");
    if let (Some(wait), Some(i)) = (key_cooldown(&err, provider), key) {
        lock(pool).cool_down(i, Instant::now() + wait);
    }
    if err.is_key_rejected() {
        // our key is bad, not the client's request: never pass the upstream's body on
        let env = key.map_or("(no key)", |i| provider.keys[i].env.as_str());
        tracing::warn!(provider = %provider.name, key = env, error = %err, "the upstream rejected the key; cooling it down and trying the next");
        breaker_event(breaker, &model.id, breaker::Breaker::on_success);
        return Called::Failed(err);
    }
    // a 4xx (429 included) is a well-formed answer: the provider is up, so it counts as
    // a success for the breaker (and frees a half-open probe)
    if err.is_provider_fault() {
        breaker_event(breaker, &model.id, breaker::Breaker::on_failure);
    } else {
        breaker_event(breaker, &model.id, breaker::Breaker::on_success);
    }
    Called::Failed(err)
}

/// How long a failure benches the key it was made with: a 429 for its `Retry-After` (already
/// clamped to `max_retry_after`) or the provider's cooldown; a rejected key for `auth_cooldown`.
fn key_cooldown(err: &UpstreamError, provider: &crate::config::Provider) -> Option<Duration> {
    if err.is_key_rejected() {
        return Some(provider.retry.auth_cooldown);
    }
    if !err.is_rate_limit() {
        return None;
    }
    Some(match err {
        UpstreamError::Status {
            retry_after: Some(d),
            ..
        } => *d,
        _ => provider.retry.cooldown,
    })
}

/// Opens a stream and holds it until a chunk with content (or the end) arrives, so a stream
/// that dies before saying anything still fails over.
async fn open_stream(
    adapter: Adapter,
    call: &Call<'_>,
    endpoint: Endpoint,
) -> Result<Reply, UpstreamError> {
    let mut rest = adapter.stream(call, endpoint).await?;
    let mut head = Vec::new();
    loop {
        match rest.next().await {
            Some(Ok(chunk)) => {
                if chunk.facts().is_none() {
                    return Err(UpstreamError::Malformed(
                        "stream chunk is not a readable chunk".into(),
                    ));
                }
                let meaningful = chunk.is_meaningful();
                head.push(chunk);
                if meaningful || head.len() >= 8 {
                    return Ok(Reply::Stream { head, rest });
                }
            }
            Some(Err(e)) => return Err(e),
            None if head.is_empty() => {
                return Err(UpstreamError::Malformed(
                    "stream ended before any chunk".into(),
                ))
            }
            None => return Ok(Reply::Stream { head, rest }),
        }
    }
}

/// A candidate of the plan and the trace its calls carry.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    m: usize,
    otel: Option<&'a crate::otel::Propagation>,
}

/// What one call carries beyond the request: the trace it propagates (if any) and which retry
/// of its candidate it is, for its span.
#[derive(Clone, Copy, Default)]
pub(crate) struct Attempt<'a> {
    pub otel: Option<&'a crate::otel::Propagation>,
    pub retry: u32,
}
