//! Rate limits and USD budgets per user, team and globally, kept in-process or in Redis.
//!
//! **Rate limits** (`rpm`, `rph`, `tpm`, `tpd` of a [`Subject`]'s user tier, team and global
//! limits) are token buckets computed with GCRA (`gcra.rs`): capacity is the limit, refilling
//! continuously at the limit per window (60 s, 3600 s, 60 s, 86400 s) — never a fixed window.
//! [`Limiter::admit`] costs 1 on request limits and the prompt's tokens on token limits, all or
//! nothing: if any rule refuses, nothing is taken. Completion tokens are taken afterwards
//! without a check ([`Limiter::add_tokens`]), which may put a bucket into debt. An admission
//! reports the most constraining request and token `Quota` (fewest remaining; `reset` is
//! the time until that bucket is full again, as `OpenAI`'s `x-ratelimit-reset-*`). A refusal
//! names the scope, the limit and `retry_after` (when enough is back for this request); a
//! request costing more than a bucket's capacity is refused as [`RateRefusal::TooLarge`].
//!
//! **Budgets** (`daily_usd`, `monthly_usd`) run over UTC calendar days and months (ids
//! `2026-11-23` / `2026-11`, from the `now` passed in). Money is held in integer
//! micro-dollars. [`Limiter::reserve`] refuses when, for any budget,
//! `spent + reserved + estimate > limit` (the estimate counts as at least one micro-dollar, so
//! a spent budget refuses even a free-looking request), else reserves the estimate on every
//! budget and returns a [`Hold`]. [`Limiter::settle`] releases the hold and adds the actual
//! cost to the hold's periods, returning each threshold it crossed: `warning` when spend
//! goes from below `warn_at × limit` to at or above it, `exceeded` likewise for the limit.
//! Crossings are decided atomically where spend is kept, so each fires once, even across
//! instances. Overspend is bounded by the reservations in flight (none when actual costs stay
//! within their estimates). Reservations lapse after [`HOLD_TTL`] if never settled.
//! [`Hold::unreserved`] charges requests let through without a reservation.
//!
//! **Scopes.** A subject without a user (or team) name skips the per-user (team) limits;
//! global limits always apply. A subject without any limit costs no lock and no round trip.
//!
//! **Stores.** Without Redis everything is in this process (`local.rs`). With Redis every
//! call is one Lua script (`remote.rs`, key layout in `keys.rs`), atomic across the request's
//! keys (on a Redis Cluster too: they share the prefix as hash tag, so one slot) and timed by
//! Redis's clock; GCRA there runs on float µs with a slack of 1/1000 of a unit against rounding. Keys expire: buckets once full,
//! budgets 3 (daily) or 40 (monthly) days after their last write. When a Redis call fails the
//! limiter refuses with `Unavailable` if configured fail-closed; otherwise that call uses this
//! instance's own state: its own buckets, and budgets kept no lower than the shared spend last
//! seen. Spend settled during an outage is queued (bounded, `replay.rs`) and replayed into
//! Redis after the next successful settlement (or [`Limiter::flush_pending`]); a replay does
//! not announce crossings again.

mod budget;
mod gcra;
mod hold;
mod inflight;
mod keys;
mod local;
mod outcome;
mod period;
mod remote;
mod replay;
mod subject;

use std::sync::Arc;
use std::time::SystemTime;

use crate::config::Limits;
use crate::shared::Shared;
use crate::usage::UsageRecord;
use budget::micros;
use hold::Place;
pub(crate) use inflight::InFlight;
use local::{Local, Settled};
use outcome::{exhausted, summarize};
use replay::{PendingSpend, Replay};
use subject::{refs_of, BudgetRef, GLOBAL_NAME};

pub(crate) use hold::Hold;
pub use outcome::{BudgetEvent, BudgetRefusal, Quotas, RateRefusal};
pub(crate) use outcome::{BudgetStatus, Crossing};
pub(crate) use subject::Period;
pub use subject::{LimitName, Scope, Subject};

/// Enforces rate limits and budgets for every request of this instance (shared with other
/// instances through Redis when configured).
pub struct Limiter {
    shared: Option<Arc<Shared>>,
    warn_at: f64,
    local: Local,
    replay: Replay,
    /// Settlements scheduled but not finished, for a clean shutdown.
    pub settling: InFlight,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("shared", &self.shared)
            .field("pending_spend", &self.replay.len())
            .finish_non_exhaustive()
    }
}

impl Limiter {
    /// A limiter on `shared` (or in-process only); budgets warn at `warn_at × limit`.
    pub fn new(shared: Option<Arc<Shared>>, warn_at: f64) -> Self {
        Self {
            shared,
            warn_at,
            local: Local::new(),
            replay: Replay::default(),
            settling: InFlight::default(),
        }
    }

    /// Admits a request of `prompt_tokens` against every rate limit of `s`, or says why not.
    pub async fn admit(&self, s: &Subject, prompt_tokens: u64) -> Result<Quotas, RateRefusal> {
        if !s.has_rates() {
            return Ok(Quotas::default());
        }
        let rules = s.rate_rules();
        let results = match &self.shared {
            Some(sh) => match remote::rate(sh, &rules, prompt_tokens, false).await {
                Ok(r) => r,
                Err(_) if sh.fail_closed => return Err(RateRefusal::Unavailable),
                Err(_) => self.local.admit(&rules, prompt_tokens),
            },
            None => self.local.admit(&rules, prompt_tokens),
        };
        let out = summarize(&rules, &results, prompt_tokens);
        if let Err(
            RateRefusal::Limited { scope, limit, .. } | RateRefusal::TooLarge { scope, limit, .. },
        ) = &out
        {
            crate::metrics::rate_limited(scope.as_str(), limit.as_str());
        }
        out
    }

    /// Takes a finished request's completion tokens from its token limits, without a check.
    pub async fn add_tokens(&self, s: &Subject, tokens: u64) {
        if tokens == 0 || !s.has_rates() {
            return;
        }
        let rules: Vec<_> = s
            .rate_rules()
            .into_iter()
            .filter(|r| r.limit.is_tokens())
            .collect();
        if rules.is_empty() {
            return;
        }
        if let Some(sh) = &self.shared {
            if remote::rate(sh, &rules, tokens, true).await.is_ok() {
                return;
            }
        }
        self.local.take_tokens(&rules, tokens);
    }

    /// Reserves `estimate_usd` on every budget of `s` for the periods of `now`, or refuses.
    pub async fn reserve(
        &self,
        s: &Subject,
        estimate_usd: f64,
        now: SystemTime,
    ) -> Result<Hold, BudgetRefusal> {
        let refs = s.budget_refs(now);
        if refs.is_empty() {
            return Ok(Hold::new(refs, 0, Place::Unreserved));
        }
        let amount = micros(estimate_usd).max(1);
        let mut hold = Hold::new(refs, amount, Place::Shared);
        if let Some(sh) = &self.shared {
            match remote::reserve(sh, &hold.budgets, &hold.member(), amount).await {
                Ok((refused, usage)) => {
                    self.local.observe(&hold.budgets, &usage);
                    return verdict(hold, refused, &usage);
                }
                Err(_) if sh.fail_closed => return Err(BudgetRefusal::Unavailable),
                Err(_) => {}
            }
        }
        hold.place = Place::Local;
        let (refused, usage) = self.local.reserve(&hold.budgets, hold.id, amount);
        verdict(hold, refused, &usage)
    }

    /// Releases `hold` and charges `actual_usd`; returns the thresholds this crossed.
    pub async fn settle(&self, hold: Hold, actual_usd: f64) -> Vec<Crossing> {
        if hold.budgets.is_empty() {
            return Vec::new();
        }
        let actual = micros(actual_usd);
        let local_id = (hold.place == Place::Local).then_some(hold.id);
        // local spend follows shared spend too, so an outage starts from a recent figure
        let local = self
            .local
            .settle(&hold.budgets, local_id, actual, self.warn_at);
        let settled = match &self.shared {
            None => local,
            Some(sh) => {
                let member = (hold.place == Place::Shared).then(|| hold.member());
                if let Ok(settled) =
                    remote::settle(sh, &hold.budgets, member.as_deref(), actual, self.warn_at).await
                {
                    self.flush(sh).await;
                    settled
                } else {
                    self.replay.push(PendingSpend {
                        budgets: hold.budgets.clone(),
                        member,
                        actual,
                    });
                    local
                }
            }
        };
        crossings(&hold.budgets, &settled)
    }

    /// The spend, reservations and limit of every budget of `s` in the periods of `now`.
    pub async fn spend(&self, s: &Subject, now: SystemTime) -> Vec<BudgetStatus> {
        self.status(s.budget_refs(now)).await
    }

    /// The global budgets in the periods of `now`.
    pub async fn global_spend(&self, global: &Limits, now: SystemTime) -> Vec<BudgetStatus> {
        self.status(refs_of(Scope::Global, &Arc::from(GLOBAL_NAME), global, now))
            .await
    }

    /// Adds the billed cost of ledger records of the current UTC day and month to user, team
    /// and global spend (for in-process state after a restart; with Redis, spend survives
    /// there). Returns how many records counted.
    pub fn rebuild_from_ledger(
        &self,
        records: impl Iterator<Item = UsageRecord>,
        now: SystemTime,
    ) -> usize {
        let current = period::Ids::at(now);
        let all: Arc<str> = Arc::from(GLOBAL_NAME);
        let mut counted = 0;
        for r in records {
            let amount = micros(r.cost_usd);
            if !r.billed || amount == 0 {
                continue;
            }
            let Ok(ts) = humantime::parse_rfc3339_weak(r.ts.trim()) else {
                continue;
            };
            let at = period::Ids::at(ts);
            let periods = [
                (Period::Daily, at.day == current.day, &current.day),
                (Period::Monthly, at.month == current.month, &current.month),
            ];
            let names = [
                (Scope::User, r.user.as_deref().map(Arc::from)),
                (Scope::Team, r.team.as_deref().map(Arc::from)),
                (Scope::Global, Some(all.clone())),
            ];
            let mut used = false;
            for (period, _, id) in periods.iter().filter(|p| p.1) {
                for (scope, name) in &names {
                    if let Some(name) = name {
                        self.local.add_spent(
                            *scope,
                            name.clone(),
                            *period,
                            id.as_str().into(),
                            amount,
                        );
                        used = true;
                    }
                }
            }
            counted += usize::from(used);
        }
        counted
    }

    /// How many settlements made during a Redis outage still wait to be replayed.
    pub fn pending_spend(&self) -> usize {
        self.replay.len()
    }

    /// Replays spend settled during a Redis outage, if Redis answers (settlements do this on
    /// their own; call it to catch up without traffic).
    pub async fn flush_pending(&self) {
        if let Some(sh) = &self.shared {
            self.flush(sh).await;
        }
    }

    async fn flush(&self, sh: &Shared) {
        if self.replay.len() == 0 {
            return;
        }
        let mut queue = self.replay.take();
        let total = queue.len();
        while let Some(p) = queue.pop_front() {
            let r = remote::settle(sh, &p.budgets, p.member.as_deref(), p.actual, self.warn_at);
            if r.await.is_err() {
                queue.push_front(p);
                self.replay.put_back(queue);
                return;
            }
        }
        tracing::info!(
            settlements = total,
            "replayed spend settled while redis was unreachable"
        );
    }

    async fn status(&self, refs: Vec<BudgetRef>) -> Vec<BudgetStatus> {
        if refs.is_empty() {
            return Vec::new();
        }
        let usage = match &self.shared {
            Some(sh) => match remote::usage(sh, &refs).await {
                Ok(u) => u,
                Err(_) => self.local.usage(&refs),
            },
            None => self.local.usage(&refs),
        };
        refs.iter()
            .zip(usage)
            .map(|(b, (spent, reserved))| outcome::status(b, spent, reserved))
            .collect()
    }
}

/// The hold, or the refusal naming the budget it did not fit.
fn verdict(
    hold: Hold,
    refused: Option<usize>,
    usage: &[(u64, u64)],
) -> Result<Hold, BudgetRefusal> {
    match refused.and_then(|i| hold.budgets.get(i).map(|b| (i, b))) {
        None => Ok(hold),
        Some((i, b)) => {
            let (spent, reserved) = usage.get(i).copied().unwrap_or_default();
            Err(exhausted(b, spent, reserved))
        }
    }
}

/// The crossings of a settlement, also counted in metrics.
fn crossings(budgets: &[BudgetRef], settled: &[Settled]) -> Vec<Crossing> {
    let mut out = Vec::new();
    for (b, s) in budgets.iter().zip(settled) {
        for (hit, event) in [
            (s.crossed.warning, BudgetEvent::Warning),
            (s.crossed.exceeded, BudgetEvent::Exceeded),
        ] {
            if hit {
                crate::metrics::budget_event(b.scope.as_str(), b.period.as_str(), event.as_str());
                out.push(Crossing {
                    scope: b.scope,
                    name: b.name.clone(),
                    period: b.period,
                    period_id: b.period_id.clone(),
                    event,
                    limit_usd: budget::usd(b.limit),
                    spent_usd: budget::usd(s.after),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
