//! The in-process store: this instance's buckets and budget accounts behind short-held locks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::budget::{crossed, Account, Crossed};
use super::gcra::{Bucket, Verdict};
use super::hold::HOLD_TTL;
use super::outcome::{cost, RuleResult};
use super::subject::{BudgetRef, LimitName, Period, RateRule, Scope};
use crate::lock::lock;

type BucketKey = (Scope, Arc<str>, LimitName);
/// Daily and monthly period ids differ in shape, so the id also tells the period.
type AccountKey = (Scope, Arc<str>, Arc<str>);

/// Buckets and accounts of this instance.
pub(super) struct Local {
    epoch: Instant,
    rates: Mutex<Rates>,
    budgets: Mutex<Accounts>,
}

#[derive(Default)]
struct Rates {
    buckets: HashMap<BucketKey, (Bucket, super::gcra::Rate)>,
    /// Full buckets are forgotten when the map reaches this size.
    prune_at: usize,
}

#[derive(Default)]
struct Accounts {
    map: HashMap<AccountKey, Account>,
    /// The newest day and month seen; older periods are dropped when a new one starts.
    day: Arc<str>,
    month: Arc<str>,
}

/// One budget's spend before and after a settlement, and what that crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Settled {
    pub after: u64,
    pub crossed: Crossed,
}

fn account_key(b: &BudgetRef) -> AccountKey {
    (b.scope, b.name.clone(), b.period_id.clone())
}

impl Local {
    pub(super) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            rates: Mutex::new(Rates::default()),
            budgets: Mutex::new(Accounts::default()),
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Checks every rule and, only if all allow, takes from every bucket.
    pub(super) fn admit(&self, rules: &[RateRule], prompt_tokens: u64) -> Vec<RuleResult> {
        let now = self.now();
        let mut rates = lock(&self.rates);
        let verdicts: Vec<Verdict> = rules
            .iter()
            .map(|r| {
                let b = rates.bucket(r);
                r.rate.check(&b, now, cost(r, prompt_tokens))
            })
            .collect();
        if verdicts.iter().all(|v| matches!(v, Verdict::Allow { .. })) {
            for (r, v) in rules.iter().zip(&verdicts) {
                if let Verdict::Allow { bucket, .. } = v {
                    rates.store(r, *bucket);
                }
            }
            rates.prune(now);
        }
        verdicts.into_iter().map(RuleResult::from).collect()
    }

    /// Takes `tokens` from every token bucket without a check.
    pub(super) fn take_tokens(&self, rules: &[RateRule], tokens: u64) {
        let now = self.now();
        let mut rates = lock(&self.rates);
        for r in rules.iter().filter(|r| r.limit.is_tokens()) {
            let b = r.rate.take(&rates.bucket(r), now, tokens);
            rates.store(r, b);
        }
    }

    /// Reserves `amount` on every budget if it fits on all; else the index of the first
    /// budget it does not fit. Returns each budget's (spent, reserved) before reserving.
    pub(super) fn reserve(
        &self,
        refs: &[BudgetRef],
        id: u64,
        amount: u64,
    ) -> (Option<usize>, Vec<(u64, u64)>) {
        let now = self.now();
        let mut acc = lock(&self.budgets);
        acc.roll(refs);
        let mut usage = Vec::with_capacity(refs.len());
        let mut refused = None;
        for (i, b) in refs.iter().enumerate() {
            let a = acc.map.entry(account_key(b)).or_default();
            a.purge(now);
            usage.push((a.spent, a.reserved()));
            if refused.is_none() && !a.fits(amount, b.limit) {
                refused = Some(i);
            }
        }
        if refused.is_none() {
            for b in refs {
                if let Some(a) = acc.map.get_mut(&account_key(b)) {
                    a.hold(id, amount, now + HOLD_TTL);
                }
            }
        }
        (refused, usage)
    }

    /// Releases hold `id` (when given) and adds `actual` to every budget's spend.
    pub(super) fn settle(
        &self,
        refs: &[BudgetRef],
        id: Option<u64>,
        actual: u64,
        warn_at: f64,
    ) -> Vec<Settled> {
        let mut acc = lock(&self.budgets);
        refs.iter()
            .map(|b| {
                let a = acc.map.entry(account_key(b)).or_default();
                let (before, after) = a.settle(id, actual);
                let warn = super::budget::warn_threshold(b.limit, warn_at);
                Settled {
                    after,
                    crossed: crossed(before, after, b.limit, warn),
                }
            })
            .collect()
    }

    /// Each budget's (spent, reserved).
    pub(super) fn usage(&self, refs: &[BudgetRef]) -> Vec<(u64, u64)> {
        let now = self.now();
        let mut acc = lock(&self.budgets);
        refs.iter()
            .map(|b| match acc.map.get_mut(&account_key(b)) {
                Some(a) => {
                    a.purge(now);
                    (a.spent, a.reserved())
                }
                None => (0, 0),
            })
            .collect()
    }

    /// Raises local spend to what the shared store reported, so an outage starts from the
    /// last known shared spend instead of zero.
    pub(super) fn observe(&self, refs: &[BudgetRef], usage: &[(u64, u64)]) {
        let mut acc = lock(&self.budgets);
        for (b, (spent, _)) in refs.iter().zip(usage) {
            let a = acc.map.entry(account_key(b)).or_default();
            a.spent = a.spent.max(*spent);
        }
    }

    /// Adds spend without any reservation (ledger rebuild).
    pub(super) fn add_spent(
        &self,
        scope: Scope,
        name: Arc<str>,
        period: Period,
        period_id: Arc<str>,
        amount: u64,
    ) {
        let mut acc = lock(&self.budgets);
        acc.roll_to(period, &period_id);
        let a = acc.map.entry((scope, name, period_id)).or_default();
        a.spent = a.spent.saturating_add(amount);
    }
}

impl Rates {
    fn bucket(&self, r: &RateRule) -> Bucket {
        self.buckets
            .get(&(r.scope, r.name.clone(), r.limit))
            .map_or_else(Bucket::default, |(b, _)| *b)
    }

    fn store(&mut self, r: &RateRule, b: Bucket) {
        self.buckets
            .insert((r.scope, r.name.clone(), r.limit), (b, r.rate));
    }

    /// Forgets full buckets once the map has doubled since the last pruning.
    fn prune(&mut self, now: Duration) {
        if self.buckets.len() < self.prune_at.max(1024) {
            return;
        }
        self.buckets.retain(|_, (b, rate)| !rate.is_full(b, now));
        self.prune_at = self.buckets.len() * 2;
    }
}

impl Accounts {
    /// Drops accounts of periods older than the newest one in `refs`.
    fn roll(&mut self, refs: &[BudgetRef]) {
        for b in refs {
            self.roll_to(b.period, &b.period_id);
        }
    }

    /// Drops accounts of periods older than `id` once a newer period starts.
    fn roll_to(&mut self, period: Period, id: &Arc<str>) {
        let latest = match period {
            Period::Daily => &mut self.day,
            Period::Monthly => &mut self.month,
        };
        if **id > **latest {
            *latest = id.clone();
            self.map
                .retain(|(_, _, old), _| old.len() != id.len() || **old >= **id);
        }
    }
}
