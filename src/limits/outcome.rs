//! What an admission or a budget check answers: quotas for headers, refusals, crossings.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::budget::usd;
use super::gcra::{Quota, Verdict};
use super::subject::{BudgetRef, LimitName, Period, RateRule, Scope};

/// The most constraining request and token quotas of an admission, for `x-ratelimit-*`
/// headers; `None` when no such limit applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Quotas {
    pub requests: Option<Quota>,
    pub tokens: Option<Quota>,
}

/// Why a request was not admitted (429, or 503 for `Unavailable`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateRefusal {
    #[error("{} {} limit reached; retry in {}s", scope.as_str(), limit.as_str(), whole_secs(*retry_after))]
    Limited {
        scope: Scope,
        limit: LimitName,
        /// When enough capacity is back for this request.
        retry_after: Duration,
        quotas: Quotas,
    },
    #[error("the request needs {cost} tokens but the {} {} limit is {capacity}, so it can never be admitted", scope.as_str(), limit.as_str())]
    TooLarge {
        scope: Scope,
        limit: LimitName,
        cost: u64,
        capacity: u64,
        quotas: Quotas,
    },
    #[error("rate limits cannot be checked while shared state is unavailable")]
    Unavailable,
}

impl RateRefusal {
    /// The quotas to report with the refusal (none when unavailable).
    pub fn quotas(&self) -> Quotas {
        match self {
            Self::Limited { quotas, .. } | Self::TooLarge { quotas, .. } => *quotas,
            Self::Unavailable => Quotas::default(),
        }
    }
}

/// Why a request was refused by a budget (402/429 per policy, or 503 for `Unavailable`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BudgetRefusal {
    #[error("the {} {} budget of ${limit_usd:.2} is spent (${spent_usd:.2} spent, ${reserved_usd:.2} reserved by requests in flight); it resets at {}", scope.as_str(), period.as_str(), humantime::format_rfc3339_seconds(*resets_at))]
    Exhausted {
        scope: Scope,
        /// The user or team (`all` for global).
        name: Arc<str>,
        period: Period,
        period_id: Arc<str>,
        limit_usd: f64,
        spent_usd: f64,
        reserved_usd: f64,
        /// The next UTC midnight or first of the month.
        resets_at: SystemTime,
    },
    #[error("budgets cannot be checked while shared state is unavailable")]
    Unavailable,
}

/// A budget threshold one settlement crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetEvent {
    /// Spend reached `warn_at × limit`.
    Warning,
    /// Spend reached the limit.
    Exceeded,
}

impl BudgetEvent {
    /// The label used in metrics and webhooks.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Exceeded => "exceeded",
        }
    }
}

/// A threshold crossing, for the webhook and logs; fires once per budget, period and event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Crossing {
    pub scope: Scope,
    pub name: Arc<str>,
    pub period: Period,
    pub period_id: Arc<str>,
    pub event: BudgetEvent,
    pub limit_usd: f64,
    pub spent_usd: f64,
}

/// One budget's state, for the dashboard and headers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BudgetStatus {
    pub scope: Scope,
    pub name: Arc<str>,
    pub period: Period,
    pub period_id: Arc<str>,
    pub limit_usd: f64,
    pub spent_usd: f64,
    pub reserved_usd: f64,
    #[serde(serialize_with = "rfc3339")]
    pub resets_at: SystemTime,
}

/// A time as RFC 3339 text, whole seconds, UTC.
fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_seconds(*t))
}

/// One rule's answer, from either store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RuleResult {
    Allowed(Quota),
    Denied { quota: Quota, retry_after: Duration },
    Never(Quota),
}

impl From<Verdict> for RuleResult {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Allow { quota, .. } => Self::Allowed(quota),
            Verdict::Deny { quota, retry_after } => Self::Denied { quota, retry_after },
            Verdict::Never { quota } => Self::Never(quota),
        }
    }
}

/// What a rule costs this request: 1 for request limits, the prompt for token limits.
pub(super) fn cost(rule: &RateRule, prompt_tokens: u64) -> u64 {
    if rule.limit.is_tokens() {
        prompt_tokens
    } else {
        1
    }
}

/// The quotas to report and, if any rule refused, the refusal: one that can never fit first,
/// else the one that frees up last. On a refusal nothing was taken, so quotas are as before.
pub(super) fn summarize(
    rules: &[RateRule],
    results: &[RuleResult],
    prompt_tokens: u64,
) -> Result<Quotas, RateRefusal> {
    let mut refusal: Option<RateRefusal> = None;
    for (rule, result) in rules.iter().zip(results) {
        match *result {
            RuleResult::Allowed(_) => {}
            RuleResult::Denied { retry_after, .. } => {
                let later = match &refusal {
                    None => true,
                    Some(RateRefusal::Limited { retry_after: r, .. }) => retry_after > *r,
                    Some(_) => false,
                };
                if later {
                    refusal = Some(RateRefusal::Limited {
                        scope: rule.scope,
                        limit: rule.limit,
                        retry_after,
                        quotas: Quotas::default(),
                    });
                }
            }
            RuleResult::Never(_) => {
                if !matches!(refusal, Some(RateRefusal::TooLarge { .. })) {
                    refusal = Some(RateRefusal::TooLarge {
                        scope: rule.scope,
                        limit: rule.limit,
                        cost: cost(rule, prompt_tokens),
                        capacity: rule.rate.limit(),
                        quotas: Quotas::default(),
                    });
                }
            }
        }
    }
    let mut quotas = Quotas::default();
    for (rule, result) in rules.iter().zip(results) {
        let quota = match *result {
            RuleResult::Allowed(q) if refusal.is_some() => untaken(q, rule, prompt_tokens),
            RuleResult::Allowed(quota)
            | RuleResult::Denied { quota, .. }
            | RuleResult::Never(quota) => quota,
        };
        let slot = if rule.limit.is_tokens() {
            &mut quotas.tokens
        } else {
            &mut quotas.requests
        };
        if slot.is_none_or(|s| tighter(&quota, &s)) {
            *slot = Some(quota);
        }
    }
    match refusal {
        None => Ok(quotas),
        Some(mut r) => {
            if let RateRefusal::Limited { quotas: q, .. }
            | RateRefusal::TooLarge { quotas: q, .. } = &mut r
            {
                *q = quotas;
            }
            Err(r)
        }
    }
}

/// The quota as it was before an allowed rule's cost was (not, after all) taken.
fn untaken(q: Quota, rule: &RateRule, prompt_tokens: u64) -> Quota {
    let n = cost(rule, prompt_tokens);
    let back = rule.rate.window().as_nanos() * u128::from(n) / u128::from(rule.rate.limit());
    Quota {
        limit: q.limit,
        remaining: q.remaining.saturating_add(n).min(q.limit),
        reset: q.reset.saturating_sub(Duration::from_nanos(
            u64::try_from(back).unwrap_or(u64::MAX),
        )),
    }
}

/// Fewer remaining, or as few but longer until full.
fn tighter(a: &Quota, b: &Quota) -> bool {
    (a.remaining, std::cmp::Reverse(a.reset)) < (b.remaining, std::cmp::Reverse(b.reset))
}

fn whole_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// The refusal for budget `b` with its current spend and reservations.
pub(super) fn exhausted(b: &BudgetRef, spent: u64, reserved: u64) -> BudgetRefusal {
    BudgetRefusal::Exhausted {
        scope: b.scope,
        name: b.name.clone(),
        period: b.period,
        period_id: b.period_id.clone(),
        limit_usd: usd(b.limit),
        spent_usd: usd(spent),
        reserved_usd: usd(reserved),
        resets_at: b.resets_at,
    }
}

/// The status of budget `b`.
pub(super) fn status(b: &BudgetRef, spent: u64, reserved: u64) -> BudgetStatus {
    BudgetStatus {
        scope: b.scope,
        name: b.name.clone(),
        period: b.period,
        period_id: b.period_id.clone(),
        limit_usd: usd(b.limit),
        spent_usd: usd(spent),
        reserved_usd: usd(reserved),
        resets_at: b.resets_at,
    }
}
