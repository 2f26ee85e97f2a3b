//! One request's context: everything the phases learn about it, read by the headers and the finish step.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::decide::Decision;
use crate::auth::Tenant;
use crate::cache::{CacheKey, Entry};
use crate::config::{Endpoint, Model, Policy, Provider, Target};
use crate::dispatch::Trace;
use crate::limits::{Hold, Quotas, Subject};
use crate::live::Live;
use crate::state::AppState;

/// What the parse phase keeps of the request for the rest of its life (the body itself goes
/// to dispatch and is not held here).
#[derive(Debug, Default)]
pub(crate) struct RequestFacts {
    /// `model` as the client sent it.
    pub requested_model: String,
    /// The request's `user` field.
    pub user: Option<String>,
    pub stream: bool,
    /// Whether the client asked for the final usage chunk.
    pub include_usage: bool,
}

/// What the response cache does for this request.
#[derive(Debug, Default)]
pub(crate) enum CacheIntent {
    /// The lookup phase was not reached.
    #[default]
    Unasked,
    /// Not cacheable (or the cache is off).
    Bypass,
    /// Looked up and not found (or not looked up for `no-cache`); a fresh answer is stored
    /// under `store` when set.
    Miss { store: Option<CacheKey> },
    /// Answered from the cache.
    Hit(Arc<Entry>),
}

impl CacheIntent {
    /// The `x-switchyard-cache` value.
    pub(super) fn label(&self) -> Option<&'static str> {
        match self {
            Self::Unasked => None,
            Self::Bypass => Some("bypass"),
            Self::Miss { .. } => Some("miss"),
            Self::Hit(_) => Some("hit"),
        }
    }
}

/// One request's context, built at the door and filled in by each phase in turn; the
/// response headers and the finish step read it, nothing re-derives it.
pub(crate) struct RequestCtx {
    pub state: Arc<AppState>,
    /// The config snapshot taken once, when the request arrived.
    pub live: Arc<Live>,
    pub id: String,
    pub endpoint: Endpoint,
    /// The API the client called, as the ledger and metrics name it: `endpoint`, except for
    /// the Responses and Messages surfaces, which are routed as chat.
    pub surface: Endpoint,
    pub started: Instant,
    /// Time spent waiting on upstreams and in backoff sleeps, excluded from the overhead.
    pub waited: Duration,
    /// The router's own time, frozen when the response starts.
    overhead: Option<Duration>,
    pub tenant: Tenant,
    pub request: RequestFacts,
    /// What `model` names.
    pub target: Option<Target>,
    /// The policy whose rules apply (guardrails, budgets, pacing, baseline).
    pub policy: Option<usize>,
    /// Counted once, before routing.
    pub prompt_tokens: u64,
    /// Everyone the request is charged to, once admitted.
    pub subject: Option<Subject>,
    /// The tightest rate limits, for `x-ratelimit-*`.
    pub quotas: Quotas,
    pub cache: CacheIntent,
    pub decision: Option<Decision>,
    /// Money reserved on the budgets, settled by the finish step.
    pub hold: Option<Hold>,
    /// Narrowed to the cheapest candidates because a budget was spent.
    pub degraded: bool,
    /// The model that answered, or the last one tried when none did.
    pub chosen: Option<usize>,
    /// An upstream answer was committed to the client: only then is anything billed.
    pub answered: bool,
    pub trace: Trace,
    /// Output guardrail replacements in a whole answer.
    pub redactions: u32,
    /// The batch job this request is a line of: its tenant is the job's (no key to check),
    /// its pacing yields to interactive requests, and its ledger line carries the batch id.
    pub batch: Option<Arc<str>>,
    /// The request's trace, when OpenTelemetry is on (`None` costs nothing).
    pub otel: Option<crate::otel::RequestTrace>,
    /// What the policy's moderation pre-check found, when it ran.
    pub moderation: Option<crate::moderation::record::ModerationRecord>,
    /// The policy's rule a moderation flag routes the request with.
    pub moderation_rule: Option<usize>,
    /// Messages dropped by `on_context_overflow: trim`.
    pub trimmed: usize,
}

impl RequestCtx {
    /// A new request's context, with the config snapshot it will use throughout.
    pub(super) fn new(state: Arc<AppState>, id: String, endpoint: Endpoint) -> Self {
        Self {
            live: state.live(),
            state,
            id,
            endpoint,
            surface: endpoint,
            started: Instant::now(),
            waited: Duration::ZERO,
            overhead: None,
            tenant: Tenant::default(),
            request: RequestFacts::default(),
            target: None,
            policy: None,
            prompt_tokens: 0,
            subject: None,
            quotas: Quotas::default(),
            cache: CacheIntent::Unasked,
            decision: None,
            hold: None,
            degraded: false,
            chosen: None,
            answered: false,
            trace: Trace::default(),
            redactions: 0,
            batch: None,
            otel: None,
            moderation: None,
            moderation_rule: None,
            trimmed: 0,
        }
    }

    /// The policy that applies, once the target is resolved.
    pub(super) fn policy(&self) -> Option<&Policy> {
        self.policy.map(|p| &self.live.config.policies[p])
    }

    /// The chosen model and its provider.
    pub(super) fn chosen(&self) -> Option<(&Model, &Provider)> {
        let config = &self.live.config;
        self.chosen.map(|m| {
            let model = &config.models[m];
            (model, &config.providers[model.provider])
        })
    }

    /// The baseline model savings are priced against, once the policy is known.
    pub(super) fn baseline(&self) -> Option<&Model> {
        self.policy().map(|p| &self.live.config.models[p.baseline])
    }

    /// The ledger's user: the virtual key's, else (open mode) the request's `user` field.
    pub(super) fn user(&self) -> Option<&str> {
        self.tenant.user.as_deref().or(self.request.user.as_deref())
    }

    /// The router's own time: everything but upstream waits, up to the moment the response
    /// started (or until now, if it has not).
    pub(super) fn overhead(&self) -> Duration {
        self.overhead
            .unwrap_or_else(|| self.started.elapsed().saturating_sub(self.waited))
    }

    /// Fixes the overhead at this moment (a stream's relay time is the upstream's pace).
    pub(super) fn freeze_overhead(&mut self) -> Duration {
        let d = self.overhead();
        self.overhead = Some(d);
        d
    }
}
