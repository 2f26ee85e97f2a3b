//! The phases a request goes through, each a function over its context, in the order [`run`] lists them.

use std::sync::Arc;
use std::time::SystemTime;

use axum::http::HeaderMap;
use bytes::Bytes;

use super::budget::{cheapest_only, estimate_usd};
use super::context::{CacheIntent, RequestCtx};
use super::decide::{count_prompt, plan, policy_index, resolve};
use crate::adapters::{EventStream, FullReply};
use crate::cache::{Decision as CacheDecision, Entry, Partition};
use crate::config::{BudgetAction, CacheScope, Endpoint, Target};
use crate::dispatch::{self, Op, Reply};
use crate::error::ApiError;
use crate::limits::{BudgetRefusal, Hold, RateRefusal, Subject};
use crate::openai::ChatRequest;

/// An answer ready to be sent by the pipeline.
pub(super) enum Ready {
    Full(FullReply),
    /// A stream whose first chunks arrived; failures after them end it with an error event.
    Stream {
        head: Vec<crate::openai::Chunk>,
        rest: EventStream,
        /// Continues the stream elsewhere if it breaks after content (`stream_resume: on`).
        resume: Option<Box<crate::resume::Resumer>>,
    },
    /// A response-cache hit; nothing was sent upstream.
    Cached(Arc<Entry>),
}

/// Runs the phases in order; the first refusal ends the request.
pub(super) async fn run(
    ctx: &mut RequestCtx,
    headers: &HeaderMap,
    body: Result<Bytes, ApiError>,
) -> Result<Ready, ApiError> {
    if ctx.batch.is_none() {
        authenticate(ctx, headers)?;
    }
    let mut req = parse(ctx, &body?)?;
    guard_input(ctx, &req)?;
    count(ctx, &req).await?;
    admit(ctx).await?;
    moderate(ctx, &req).await?;
    route(ctx, &mut req).await?;
    if let Some(entry) = cache_lookup(ctx, &req, headers).await {
        return Ok(Ready::Cached(entry));
    }
    reserve(ctx, &req).await?;
    dispatch(ctx, &req).await
}

/// Who the request acts for: a virtual key's tenant (401 otherwise), or anonymous in open mode.
fn authenticate(ctx: &mut RequestCtx, headers: &HeaderMap) -> Result<(), ApiError> {
    ctx.tenant = crate::auth::authenticate(&ctx.live.config.access, headers)?;
    Ok(())
}

/// The body, validated once, and what its `model` names (404 for nothing known).
fn parse(ctx: &mut RequestCtx, body: &[u8]) -> Result<ChatRequest, ApiError> {
    let mut req = ChatRequest::parse_for(ctx.endpoint, body)?;
    ctx.request.requested_model.clone_from(&req.model);
    ctx.request.user.clone_from(&req.user);
    ctx.request.stream = req.stream;
    ctx.request.include_usage = req.include_usage;
    let config = &ctx.live.config;
    let target = resolve(config, &req)?;
    ctx.target = Some(target);
    ctx.policy = Some(policy_index(config, target));
    if ctx
        .policy()
        .is_some_and(|p| !p.guardrails.output.is_empty())
    {
        // output rules redact chat answers: a Responses request is then always translated
        req.body
            .remove(crate::adapters::responses::RESPONSES_NATIVE);
    }
    Ok(req)
}

/// The policy's input guardrails (400 naming the rule that matched).
fn guard_input(ctx: &RequestCtx, req: &ChatRequest) -> Result<(), ApiError> {
    let Some(policy) = ctx.policy() else {
        return Ok(());
    };
    match policy.guardrails.check_input(&req.all_text) {
        Ok(()) => Ok(()),
        Err(rule) => {
            tracing::info!(rule = %rule.name, policy = %policy.name, "request blocked by a guardrail");
            Err(ApiError::ContentPolicy {
                rule: rule.name.clone(),
                policy: policy.name.to_string(),
            })
        }
    }
}

/// The prompt's tokens, counted once.
async fn count(ctx: &mut RequestCtx, req: &ChatRequest) -> Result<(), ApiError> {
    if let Some(target) = ctx.target {
        ctx.prompt_tokens = count_prompt(&ctx.live.config, target, req).await?;
    }
    Ok(())
}

/// Rate limits of the tenant's tier, team and everyone (429 when one is used up).
async fn admit(ctx: &mut RequestCtx) -> Result<(), ApiError> {
    let subject = subject(ctx);
    let result = ctx.state.limiter.admit(&subject, ctx.prompt_tokens).await;
    ctx.subject = Some(subject);
    ctx.quotas = match &result {
        Ok(q) => *q,
        Err(r) => r.quotas(),
    };
    match result {
        Ok(_) => Ok(()),
        Err(RateRefusal::Unavailable) => Err(ApiError::StateUnavailable),
        Err(RateRefusal::Limited {
            scope,
            limit,
            retry_after,
            quotas,
        }) => {
            let quota = if limit.is_tokens() {
                quotas.tokens
            } else {
                quotas.requests
            };
            Err(ApiError::RateLimited {
                scope,
                limit,
                max: quota.map_or(0, |q| q.limit),
                retry_after,
            })
        }
        Err(RateRefusal::TooLarge {
            scope,
            limit,
            cost,
            capacity,
            ..
        }) => Err(ApiError::invalid(
            format!(
                "This request needs {cost} tokens but the {} {} limit is {capacity}, so it can never be admitted; send a shorter prompt.",
                scope.as_str(),
                limit.as_str()
            ),
            Some("messages"),
        )),
    }
}

/// Every limit and budget that applies to the tenant: their tier, their team, everyone.
fn subject(ctx: &RequestCtx) -> Subject {
    let access = &ctx.live.config.access;
    let tenant = &ctx.tenant;
    Subject {
        user: tenant.user.clone(),
        team: tenant.team.clone(),
        user_limits: tenant.limits,
        team_limits: tenant
            .team
            .as_ref()
            .and_then(|t| access.teams.get(t).copied())
            .unwrap_or_default(),
        global: access.global,
    }
}

/// The policy's moderation pre-check (chat and completions): a flag refuses the request (400)
/// or names the rule to route it with; a check without a verdict lets it through or refuses
/// it (503), as the policy says.
async fn moderate(ctx: &mut RequestCtx, req: &ChatRequest) -> Result<(), ApiError> {
    let live = Arc::clone(&ctx.live);
    let Some(policy) = ctx.policy.map(|p| &live.config.policies[p]) else {
        return Ok(());
    };
    let Some(settings) = &policy.moderation else {
        return Ok(());
    };
    if !matches!(ctx.endpoint, Endpoint::Chat | Endpoint::Completions) {
        return Ok(());
    }
    let checked =
        crate::moderation::check(&ctx.state, &live, policy, settings, &req.all_text).await;
    ctx.moderation = Some(checked.record);
    ctx.moderation_rule = checked.outcome?;
    Ok(())
}

/// Classifies (for policy targets) and picks the candidates.
async fn route(ctx: &mut RequestCtx, req: &mut ChatRequest) -> Result<(), ApiError> {
    let Some(target) = ctx.target else {
        return Ok(());
    };
    // a moderation flag's rule is one of the request's policy, whatever `model` named
    let target = match (ctx.moderation_rule, ctx.policy) {
        (Some(_), Some(p)) => Target::Policy(p),
        _ => target,
    };
    let rule = ctx.moderation_rule;
    let started = ctx.otel.is_some().then(SystemTime::now);
    let decision = plan(&ctx.live.config, target, req, ctx.prompt_tokens, rule)?;
    ctx.decision = Some(match decision.plan.trim_to {
        Some(window) => super::overflow::trim_and_route(ctx, req, target, window).await?,
        None => decision,
    });
    if let (Some(t), Some(start)) = (&mut ctx.otel, started) {
        t.route = Some((start, SystemTime::now()));
    }
    Ok(())
}

/// A deterministic request may be answered from the response cache; a miss says whether the
/// fresh answer is to be stored.
async fn cache_lookup(
    ctx: &mut RequestCtx,
    req: &ChatRequest,
    headers: &HeaderMap,
) -> Option<Arc<Entry>> {
    let config = &ctx.live.config;
    let route = match ctx.target? {
        Target::Policy(p) => &*config.policies[p].name,
        Target::Model(m) => &*config.models[m].id,
    };
    let tenant = &ctx.tenant;
    let scope = cache_scope(
        config.server.cache.scope,
        tenant.user.as_deref(),
        tenant.team.as_deref(),
    );
    let partition = Partition {
        route,
        scope: &scope,
        policy: ctx.policy()?.fingerprint,
    };
    let cache = &ctx.state.cache;
    ctx.cache = match cache.decide(req, &partition, headers) {
        CacheDecision::Bypass(_) => CacheIntent::Bypass,
        CacheDecision::Use { key, read, write } => {
            let hit = if read { cache.get(&key).await } else { None };
            if let Some(entry) = hit {
                ctx.cache = CacheIntent::Hit(Arc::clone(&entry));
                return Some(entry);
            }
            CacheIntent::Miss {
                store: write.then_some(key),
            }
        }
    };
    None
}

/// Whose cached answers a request may get: its virtual key's user's, its team's, or anyone's.
/// Tenants are virtual keys; in open mode (one tenant) the body's `user` does not split it.
pub(crate) fn cache_scope(scope: CacheScope, user: Option<&str>, team: Option<&str>) -> String {
    match scope {
        CacheScope::User => format!("user:{}", user.unwrap_or_default()),
        CacheScope::Team => format!("team:{}", team.unwrap_or_default()),
        CacheScope::Global => "global".into(),
    }
}

/// Reserves the request's most expensive possible cost on every budget; at a spent budget,
/// refuses (429 `budget_exceeded`) or, when the policy says `degrade`, narrows the plan to its
/// cheapest candidates and lets the request through unreserved.
async fn reserve(ctx: &mut RequestCtx, req: &ChatRequest) -> Result<(), ApiError> {
    let (Some(subject), Some(decision)) = (&ctx.subject, &mut ctx.decision) else {
        return Ok(());
    };
    if !subject.has_budget() {
        return Ok(());
    }
    let config = &ctx.live.config;
    let completion = req
        .max_tokens
        .unwrap_or(config.access.budgets.reserve_completion_tokens);
    let prompt = decision.prompt_tokens;
    let estimate = estimate_usd(config, &decision.plan, prompt, completion);
    let now = SystemTime::now();
    let degrade = ctx
        .policy
        .is_some_and(|p| config.policies[p].on_budget_exceeded == BudgetAction::Degrade);
    match ctx.state.limiter.reserve(subject, estimate, now).await {
        Ok(hold) => ctx.hold = Some(hold),
        Err(BudgetRefusal::Unavailable) => return Err(ApiError::StateUnavailable),
        Err(BudgetRefusal::Exhausted { scope, period, .. }) if degrade => {
            crate::metrics::budget_event(scope.as_str(), period.as_str(), "degraded");
            decision.plan = cheapest_only(config, &decision.plan, prompt, completion);
            ctx.degraded = true;
            ctx.hold = Some(Hold::unreserved(subject, now));
        }
        Err(BudgetRefusal::Exhausted {
            scope,
            name,
            period,
            limit_usd,
            spent_usd,
            resets_at,
            ..
        }) => {
            return Err(ApiError::BudgetExceeded {
                scope,
                name: name.to_string(),
                period,
                limit: limit_usd,
                spent: spent_usd,
                resets_at,
            })
        }
    }
    Ok(())
}

/// Calls the plan's candidates until one answers; a whole answer gets its usage (when the
/// upstream reported none for embeddings) and output guardrails applied here.
async fn dispatch(ctx: &mut RequestCtx, req: &ChatRequest) -> Result<Ready, ApiError> {
    let Some(decision) = &ctx.decision else {
        return Err(ApiError::Internal("dispatch before routing".into()));
    };
    let policy = ctx.policy();
    let op = Op {
        endpoint: ctx.endpoint,
        stream: req.stream,
        max_wait: match ctx.batch {
            Some(_) => dispatch::BACKGROUND_MAX_WAIT,
            None => policy.map(|p| p.pacing.max_wait).unwrap_or_default(),
        },
        background: ctx.batch.is_some(),
        tokens: decision
            .prompt_tokens
            .saturating_add(req.max_tokens.unwrap_or(0)),
    };
    let outcome = dispatch::dispatch(
        &ctx.live,
        ctx.state.shared.as_ref(),
        &ctx.state.client,
        &decision.plan,
        &req.body,
        op,
        ctx.otel
            .as_ref()
            .map(crate::otel::RequestTrace::propagation)
            .as_ref(),
    )
    .await;
    let resume = outcome.as_ref().ok().and_then(|d| {
        crate::resume::Resumer::prepare(
            &ctx.live,
            policy,
            ctx.state.shared.as_ref(),
            &ctx.state.client,
            &decision.plan,
            &req.body,
            op,
            d.model,
            &d.trace,
            decision.prompt_tokens,
        )
        .map(Box::new)
    });
    let (trace, chosen, result) = match outcome {
        Ok(d) => (d.trace, Some(d.model), Ok(d.reply)),
        Err(f) => (f.trace, f.model, Err(f.error)),
    };
    ctx.waited = trace.waited;
    ctx.trace = trace;
    ctx.chosen = chosen;
    let reply = result?;
    ctx.answered = true;
    Ok(match reply {
        Reply::Full(mut full) => {
            if full.usage.is_none() && ctx.endpoint == Endpoint::Embeddings {
                full.body = with_counted_usage(full.body, ctx.prompt_tokens);
            }
            if let Some((body, n)) = ctx
                .policy()
                .and_then(|p| p.guardrails.redact_body(&full.body))
            {
                full.body = body.into();
                ctx.redactions = n;
            }
            Ready::Full(full)
        }
        Reply::Stream { head, rest } => Ready::Stream { head, rest, resume },
    })
}

/// Adds the router's own prompt count as `usage` to an embeddings answer whose upstream reports
/// none (Gemini), since OpenAI's clients expect it.
fn with_counted_usage(body: Bytes, prompt_tokens: u64) -> Bytes {
    let Ok(serde_json::Value::Object(mut v)) = serde_json::from_slice(&body) else {
        return body;
    };
    if v.get("object").and_then(|o| o.as_str()) != Some("list") || v.contains_key("usage") {
        return body;
    }
    v.insert(
        "usage".into(),
        serde_json::json!({"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}),
    );
    serde_json::to_vec(&v).map(Bytes::from).unwrap_or(body)
}
