//! The protection stages of a request: rate limits (with `x-ratelimit-*` headers), the budget
//! reservation (refuse or degrade), and settling both once the answer is finished.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::HeaderMap;

use super::budget::{cheapest_only, estimate_usd};
use super::{put, Decision};
use crate::auth::Tenant;
use crate::config::{BudgetAction, Config, Policy};
use crate::error::ApiError;
use crate::limits::{BudgetRefusal, Hold, Quota, Quotas, RateRefusal, Subject};
use crate::notify::{budget_alert, BudgetAlert};
use crate::openai::ChatRequest;
use crate::state::AppState;
use crate::usage::Recorder;

/// Every limit and budget that applies to the tenant: their tier, their team, everyone.
pub(super) fn subject(config: &Config, tenant: &Tenant) -> Subject {
    let access = &config.access;
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

/// Admits the request against its rate limits, writing the `x-ratelimit-*` headers either way.
pub(super) async fn admit(
    state: &AppState,
    subject: &Subject,
    prompt_tokens: u64,
    headers: &mut HeaderMap,
) -> Result<(), ApiError> {
    let result = state.limiter.admit(subject, prompt_tokens).await;
    let quotas = match &result {
        Ok(q) => *q,
        Err(r) => r.quotas(),
    };
    ratelimit_headers(&quotas, headers);
    match result {
        Ok(_) => Ok(()),
        Err(RateRefusal::Unavailable) => Err(ApiError::StateUnavailable),
        Err(RateRefusal::Limited {
            scope,
            limit,
            retry_after,
            quotas,
        }) => Err(ApiError::RateLimited {
            scope: scope.as_str(),
            limit: limit.as_str(),
            max: quota_of(&quotas, limit.is_tokens()).map_or(0, |q| q.limit),
            retry_after,
        }),
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

fn quota_of(q: &Quotas, tokens: bool) -> Option<Quota> {
    if tokens {
        q.tokens
    } else {
        q.requests
    }
}

/// OpenAI's rate-limit headers for the tightest request and token limits that apply.
fn ratelimit_headers(q: &Quotas, headers: &mut HeaderMap) {
    for (kind, quota) in [("requests", q.requests), ("tokens", q.tokens)] {
        let Some(quota) = quota else { continue };
        let (limit, remaining, reset) = match kind {
            "requests" => (
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ),
            _ => (
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
            ),
        };
        put(headers, limit, &quota.limit.to_string());
        put(headers, remaining, &quota.remaining.to_string());
        put(headers, reset, &reset_text(quota.reset));
    }
}

/// A duration as OpenAI writes resets: `20ms`, `1s`, `6m0s`, `1h2m3s` (seconds may carry a
/// fraction, e.g. `8.64s`).
pub fn reset_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let secs = if rest % 1000 == 0 {
        format!("{}s", rest / 1000)
    } else {
        let s = format!("{:.3}", rest as f64 / 1000.0);
        format!("{}s", s.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// Reserves the request's most expensive possible cost on every budget; at a spent budget,
/// refuses (429 `budget_exceeded`) or, when the policy says `degrade`, narrows the plan to
/// its cheapest candidates and lets the request through unreserved.
pub(super) async fn reserve(
    state: &AppState,
    config: &Config,
    policy: &Policy,
    subject: &Subject,
    req: &ChatRequest,
    decision: &mut Decision,
    rec: &mut Recorder,
) -> Result<Option<Hold>, ApiError> {
    if !subject.has_budget() {
        return Ok(None);
    }
    let completion = req
        .max_tokens
        .unwrap_or(config.access.budgets.reserve_completion_tokens);
    let prompt = decision.prompt_tokens;
    let estimate = estimate_usd(config, &decision.plan, prompt, completion);
    let now = SystemTime::now();
    match state.limiter.reserve(subject, estimate, now).await {
        Ok(hold) => Ok(Some(hold)),
        Err(BudgetRefusal::Unavailable) => Err(ApiError::StateUnavailable),
        Err(BudgetRefusal::Exhausted { scope, period, .. })
            if policy.on_budget_exceeded == BudgetAction::Degrade =>
        {
            crate::metrics::budget_event(scope.as_str(), period.as_str(), "degraded");
            decision.plan = cheapest_only(config, &decision.plan, prompt, completion);
            rec.record.degraded = true;
            Ok(Some(Hold::unreserved(subject, now)))
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
            let retry_after = humantime::parse_rfc3339_weak(&resets_at)
                .ok()
                .and_then(|t| t.duration_since(now).ok())
                .unwrap_or(Duration::from_secs(60));
            Err(ApiError::BudgetExceeded {
                scope: scope.as_str(),
                name: name.to_string(),
                period: period.as_str(),
                limit: limit_usd,
                spent: spent_usd,
                resets_at: resets_at.to_string(),
                retry_after,
            })
        }
    }
}

/// Once the request's ledger line is final (its cost known), settles the budget hold with the
/// actual cost and adds the completion tokens to the token limits, in the background; budget
/// thresholds crossed by this request raise alerts.
pub(super) fn settle_after(
    state: &AppState,
    subject: Subject,
    hold: Option<Hold>,
    rec: &mut Recorder,
) {
    if hold.is_none() && !subject.has_rates() {
        return;
    }
    let limiter = Arc::clone(&state.limiter);
    let client = state.client.clone();
    let access_budgets = state.live().config.access.budgets.clone();
    rec.after = Some(Box::new(move |r| {
        let (tokens, cost) = (r.completion_tokens, r.cost_usd);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        // counted from now, so a shutdown waits for it (see `server::run`)
        let settling = limiter.settling.start();
        rt.spawn(async move {
            let _settling = settling;
            limiter.add_tokens(&subject, tokens).await;
            let Some(hold) = hold else { return };
            for c in limiter.settle(hold, cost).await {
                budget_alert(
                    &client,
                    access_budgets.webhook.as_ref(),
                    BudgetAlert {
                        event: match c.event {
                            crate::limits::BudgetEvent::Warning => "budget_warning",
                            crate::limits::BudgetEvent::Exceeded => "budget_exceeded",
                        },
                        scope: c.scope.as_str(),
                        name: c.name.to_string(),
                        period: c.period.as_str(),
                        limit_usd: c.limit_usd,
                        spent_usd: c.spent_usd,
                        threshold: access_budgets.warn_at,
                        period_id: c.period_id.to_string(),
                    },
                );
            }
        });
    }));
}

#[cfg(test)]
mod tests {
    use super::reset_text;
    use std::time::Duration;

    #[test]
    fn resets_read_like_openai() {
        assert_eq!(reset_text(Duration::from_millis(20)), "20ms");
        assert_eq!(reset_text(Duration::from_secs(1)), "1s");
        assert_eq!(reset_text(Duration::from_millis(8640)), "8.64s");
        assert_eq!(reset_text(Duration::from_secs(360)), "6m0s");
        assert_eq!(reset_text(Duration::from_secs(3723)), "1h2m3s");
    }
}
