//! The one step every request ends in: prices it once, settles its limits and budgets, stores
//! a fresh answer in the cache, updates gauges and breakers, and queues exactly one ledger line.
//!
//! Every ending goes through [`finish`]: whole answers, streams (from the relay's summary),
//! cache hits, refusals, failures, and requests dropped before they ended. [`LedgerGuard`]
//! keeps the "exactly one ledger line" promise: it owns the request's context until the finish,
//! and finishes it as `client_disconnected` if it is dropped first.

use std::sync::Arc;

use crate::cache::Stored;
use crate::dispatch::health::breaker_event;
use crate::limits::{BudgetEvent, Hold, Subject};
use crate::live::Live;
use crate::notify::{budget_alert, BudgetAlert};
use crate::openai::Usage;
use crate::state::AppState;
use crate::stream::{self, StreamEnd, Summary};
use crate::usage::{ms, Billing, Outcome, Pending, UsageRecord};

use super::context::{CacheIntent, RequestCtx};

/// How a request ended, with what the ending tells the ledger.
pub(crate) enum Ending {
    /// A whole answer was sent.
    Answered {
        usage: Option<Usage>,
        /// The answer's text when no usage was reported, to count.
        uncounted: Option<String>,
        /// The body as sent, for the cache (when the request may be stored).
        body: bytes::Bytes,
    },
    /// A relayed stream ended.
    Streamed(Box<Summary>),
    /// Served from the response cache.
    CacheHit,
    /// Refused or failed before any answer.
    Failed { status: u16, outcome: Outcome },
    /// Dropped before it ended (the client went away, or shutdown cut it).
    Dropped,
}

/// Owns a request's context until its one finish; dropped unfinished, it finishes the request
/// as `client_disconnected`. A relay holds it for a stream and hands it back with the summary.
pub(crate) struct LedgerGuard(Option<RequestCtx>);

impl LedgerGuard {
    /// Starts guarding a request (counted in the in-flight gauge until it finishes).
    pub(super) fn new(ctx: RequestCtx) -> Self {
        crate::metrics::in_flight("requests", 1.0);
        Self(Some(ctx))
    }

    /// The context; present until [`LedgerGuard::finish`] consumes the guard.
    pub(super) fn ctx(&mut self) -> &mut RequestCtx {
        self.0
            .as_mut()
            .expect("a guard holds its context until it finishes")
    }

    /// Ends the request.
    pub(super) fn finish(mut self, ending: Ending) {
        if let Some(ctx) = self.0.take() {
            finish(ctx, ending);
        }
    }
}

impl Drop for LedgerGuard {
    fn drop(&mut self) {
        if let Some(ctx) = self.0.take() {
            finish(ctx, Ending::Dropped);
        }
    }
}

impl StreamEnd for LedgerGuard {
    fn ended(self, summary: Summary) {
        self.finish(Ending::Streamed(Box::new(summary)));
    }
}

/// Finishes one request; see the module doc.
fn finish(mut ctx: RequestCtx, ending: Ending) {
    crate::metrics::in_flight("requests", -1.0);
    let answer_model = match &ending {
        Ending::Answered { body, .. } if ctx.otel.is_some() => super::spans::answer_model(body),
        _ => None,
    };
    let mut usage = None;
    let mut uncounted = None;
    let mut ttft = None;
    let mut fresh = None;
    let mut resume = None;
    let (status, outcome) = match ending {
        Ending::Answered {
            usage: u,
            uncounted: text,
            body,
        } => {
            (usage, uncounted, fresh) = (u, text, Some(Stored::Full(body)));
            (200, Outcome::Ok)
        }
        Ending::Streamed(summary) => {
            let s = *summary;
            crate::metrics::in_flight("streams", -1.0);
            (usage, uncounted, ttft) = (s.usage, Some(s.text), s.ttft);
            ctx.redactions = s.redactions;
            fresh = s.kept.map(Stored::Chunks);
            // a failed resume already counted the broken model's failure
            let counted = s.resume.as_ref().is_some_and(|r| r.to.is_none());
            resume = s.resume.map(|r| resume_note(&mut ctx, &r));
            match s.ending {
                stream::Ending::Completed => (200, Outcome::Ok),
                stream::Ending::Interrupted if counted => (200, Outcome::StreamInterrupted),
                stream::Ending::Interrupted => {
                    // a provider that dies mid-stream is as unhealthy as one that fails first
                    count_stream_failure(&ctx);
                    (200, Outcome::StreamInterrupted)
                }
                stream::Ending::Shutdown => (200, Outcome::Shutdown),
                stream::Ending::ClientGone => (499, Outcome::ClientDisconnected),
            }
        }
        Ending::CacheHit => (200, Outcome::CacheHit),
        Ending::Failed { status, outcome } => (status, outcome),
        Ending::Dropped => (499, Outcome::ClientDisconnected),
    };
    if let (Some(stored), CacheIntent::Miss { store: Some(key) }) = (fresh, &ctx.cache) {
        if outcome == Outcome::Ok {
            if let Some((model, provider)) = ctx.chosen() {
                ctx.state.cache.store_later(
                    *key,
                    stored,
                    model.id.to_string(),
                    provider.name.to_string(),
                    usage,
                );
            }
        }
    }
    let mut record = ledger_record(&ctx, status, outcome);
    record.ttft_ms = ttft.map(ms);
    record.resume = resume;
    let billing = match &ctx.cache {
        CacheIntent::Hit(entry) => {
            usage = entry.usage;
            Billing::CacheHit {
                answer_price: answer_price(&ctx, &entry.model),
            }
        }
        _ if ctx.answered => Billing::Billed,
        _ => Billing::Unbilled,
    };
    super::spans::emit(&ctx, &record, usage, ttft, answer_model.as_deref());
    let pending = Pending {
        record,
        price: ctx.chosen().map(|(m, _)| m.price),
        baseline_price: ctx.baseline().map(|m| m.price),
        reported: usage,
        uncounted: uncounted
            .filter(|_| usage.is_none())
            .map(|t| (t, ctx.chosen().map(|(m, _)| m.encoding).unwrap_or_default())),
        billing,
        at: std::time::SystemTime::now(),
        done: false,
    };
    match settlement(&mut ctx) {
        Some(settle) => settle_and_record(&ctx.state, pending, settle),
        None => ctx.state.ledger.record(pending),
    }
}

/// The ledger line's facts, from the context.
fn ledger_record(ctx: &RequestCtx, status: u16, outcome: Outcome) -> UsageRecord {
    let decision = ctx.decision.as_ref();
    let classification = decision.and_then(|d| d.classification.as_ref());
    let (model, provider) = match (&ctx.cache, ctx.chosen()) {
        (CacheIntent::Hit(e), _) => (Some(e.model.clone()), Some(e.provider.clone())),
        (_, Some((m, p))) => (Some(m.id.to_string()), Some(p.name.to_string())),
        _ => (None, None),
    };
    UsageRecord {
        request_id: ctx.id.clone(),
        endpoint: ctx.surface,
        user: ctx.user().map(str::to_owned),
        team: ctx.tenant.team.as_deref().map(str::to_owned),
        key_id: ctx.tenant.key_id.as_deref().map(str::to_owned),
        requested_model: ctx.request.requested_model.clone(),
        policy: ctx.policy().map(|p| p.name.to_string()),
        rule: decision.map(|d| d.plan.rule.to_string()),
        model,
        provider,
        complexity: classification.map(|c| c.complexity),
        score: classification.map(|c| c.score),
        confidence: classification.map(|c| c.confidence),
        stream: ctx.request.stream,
        prompt_tokens: ctx.prompt_tokens,
        baseline_model: ctx.baseline().map(|m| m.id.to_string()),
        latency_ms: ms(ctx.started.elapsed()),
        overhead_ms: ms(ctx.overhead()),
        attempts: ctx.trace.attempts,
        failovers: ctx.trace.failovers,
        degraded: ctx.degraded,
        redactions: ctx.redactions,
        status,
        outcome,
        batch_id: ctx.batch.as_deref().map(str::to_owned),
        batch_size: ctx.trace.batch.map(|b| b.requests),
        trace: ctx.trace.notes.iter().map(ToString::to_string).collect(),
        moderation: ctx.moderation.clone(),
        trimmed_messages: ctx.trimmed as u64,
        ..UsageRecord::default()
    }
}

/// What the model that made a cached answer charges, to record what the hit saved.
fn answer_price(ctx: &RequestCtx, model: &str) -> Option<crate::config::Price> {
    let config = &ctx.live.config;
    match config.resolve(model)? {
        crate::config::Target::Model(m) => Some(config.models[m].price),
        crate::config::Target::Policy(_) => None,
    }
}

/// A resume's ledger note; the attempts it made join the request's trace, and the model that
/// continued becomes the one that answered.
fn resume_note(ctx: &mut RequestCtx, r: &crate::resume::Record) -> crate::usage::ResumeNote {
    r.merge_into(&ctx.live, &mut ctx.trace);
    if let Some(to) = r.to {
        ctx.chosen = Some(to);
    }
    let models = &ctx.live.config.models;
    let from = &models[r.from];
    crate::usage::ResumeNote {
        from_model: from.id.to_string(),
        to_model: r.to.map(|m| models[m].id.to_string()),
        error: r.error.clone(),
        at_chars: r.at_chars,
        first_prompt_tokens: r.first.prompt_tokens,
        first_completion_tokens: r.first.completion_tokens,
        first_cost_usd: crate::usage::round_usd(
            from.price
                .cost(r.first.prompt_tokens, r.first.completion_tokens),
        ),
        first_estimated: r.first_estimated,
        trace: ctx.trace.notes.iter().map(ToString::to_string).collect(),
    }
}

fn count_stream_failure(ctx: &RequestCtx) {
    if let Some(m) = ctx.chosen {
        let breaker = &ctx.live.health.breakers[m];
        breaker_event(breaker, &ctx.live.config.models[m].id, |b, now| {
            b.on_failure(now);
        });
    }
}

/// The limits and budgets a finished request still owes: its completion tokens and actual cost.
struct Settlement {
    subject: Subject,
    hold: Option<Hold>,
    /// The request's own config snapshot (its budget webhook and warning threshold).
    live: Arc<Live>,
}

/// A hold is always settled (a failed request releases it); completion tokens are owed only
/// by answered requests.
fn settlement(ctx: &mut RequestCtx) -> Option<Settlement> {
    let hold = ctx.hold.take();
    let subject = ctx.subject.take()?;
    let owes_tokens = ctx.answered && subject.has_rates();
    (hold.is_some() || owes_tokens).then(|| Settlement {
        subject,
        hold,
        live: Arc::clone(&ctx.live),
    })
}

/// Prices the request now (its cost is needed), writes its line, and settles in the background;
/// counting completion text, when no usage was reported, runs on the blocking pool. A shutdown
/// waits for the settlement (see `server::run`).
fn settle_and_record(state: &Arc<AppState>, pending: Pending, settle: Settlement) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        state.ledger.record(pending);
        return;
    };
    let settling = state.limiter.settling.start();
    let state = Arc::clone(state);
    if !pending.needs_counting() {
        let record = pending.finish();
        let owed = (record.completion_tokens, record.cost_usd);
        state.ledger.record(Pending::finished(record));
        rt.spawn(async move {
            let _settling = settling;
            settle_owed(&state, settle, owed).await;
        });
        return;
    }
    rt.spawn(async move {
        let _settling = settling;
        let record = match tokio::task::spawn_blocking(move || pending.finish()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "pricing a request failed; its ledger line is lost");
                return;
            }
        };
        let owed = (record.completion_tokens, record.cost_usd);
        state.ledger.record(Pending::finished(record));
        settle_owed(&state, settle, owed).await;
    });
}

/// Adds the completion tokens to the token limits and settles the budget hold with the actual
/// cost; budget thresholds crossed by it raise alerts.
async fn settle_owed(state: &AppState, settle: Settlement, (tokens, cost): (u64, f64)) {
    let limiter = &state.limiter;
    limiter.add_tokens(&settle.subject, tokens).await;
    let Some(hold) = settle.hold else { return };
    let budgets = &settle.live.config.access.budgets;
    for c in limiter.settle(hold, cost).await {
        budget_alert(
            &state.client,
            budgets.webhook.as_ref(),
            BudgetAlert {
                event: match c.event {
                    BudgetEvent::Warning => "budget_warning",
                    BudgetEvent::Exceeded => "budget_exceeded",
                },
                scope: c.scope.as_str(),
                name: c.name.to_string(),
                period: c.period.as_str(),
                limit_usd: c.limit_usd,
                spent_usd: c.spent_usd,
                threshold: budgets.warn_at,
                period_id: c.period_id.to_string(),
            },
        );
    }
}
