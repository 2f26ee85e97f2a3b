//! The Redis store: every check and update of a request is one Lua script, atomic across all
//! of its keys and timed by the Redis clock, so any number of instances share one state.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::budget::{warn_threshold, Crossed};
use super::gcra::Quota;
use super::hold::HOLD_TTL;
use super::keys;
use super::local::Settled;
use super::outcome::{cost, RuleResult};
use super::subject::{BudgetRef, Period, RateRule};
use crate::shared::{Shared, SharedError};

const COMMON: &str = include_str!("lua/common.lua");

static RATE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/rate.lua")));
static RESERVE: LazyLock<Script> = LazyLock::new(|| budget_script(include_str!("lua/reserve.lua")));
static SETTLE: LazyLock<Script> = LazyLock::new(|| budget_script(include_str!("lua/settle.lua")));
static USAGE: LazyLock<Script> = LazyLock::new(|| budget_script(include_str!("lua/usage.lua")));

fn budget_script(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

/// How long a budget's keys outlive their last write: past the period, never forever.
fn budget_ttl(p: Period) -> u64 {
    match p {
        Period::Daily => 3 * 86_400,
        Period::Monthly => 40 * 86_400,
    }
}

/// A reply's integers; a short or odd reply reads as zeros rather than panicking.
struct Reply(Vec<i64>);

impl Reply {
    fn at(&self, i: usize) -> i64 {
        self.0.get(i).copied().unwrap_or(0)
    }

    fn u(&self, i: usize) -> u64 {
        u64::try_from(self.at(i)).unwrap_or(0)
    }
}

async fn run(sh: &Shared, inv: redis::ScriptInvocation<'static>) -> Result<Reply, SharedError> {
    let mut conn = sh.conn();
    let v: Vec<i64> = sh
        .run(async move { inv.invoke_async(&mut conn).await })
        .await?;
    Ok(Reply(v))
}

/// Checks every rule and takes from all buckets only if all allow (`take`: takes without a
/// check, for completion tokens).
pub(super) async fn rate(
    sh: &Shared,
    rules: &[RateRule],
    prompt_tokens: u64,
    take: bool,
) -> Result<Vec<RuleResult>, SharedError> {
    let mut inv = RATE.prepare_invoke();
    inv.arg(if take { "take" } else { "check" });
    for r in rules {
        inv.key(keys::rate(sh, r))
            .arg(r.rate.window().as_micros() as u64)
            .arg(r.rate.limit())
            .arg(cost(r, prompt_tokens));
    }
    let reply = run(sh, inv).await?;
    Ok(rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let quota = Quota {
                limit: r.rate.limit(),
                remaining: reply.u(4 * i + 1),
                reset: Duration::from_micros(reply.u(4 * i + 2)),
            };
            match reply.at(4 * i) {
                0 => RuleResult::Allowed(quota),
                2 => RuleResult::Never(quota),
                _ => RuleResult::Denied {
                    quota,
                    retry_after: Duration::from_micros(reply.u(4 * i + 3)),
                },
            }
        })
        .collect())
}

fn budget_keys(sh: &Shared, inv: &mut redis::ScriptInvocation<'static>, refs: &[BudgetRef]) {
    for b in refs {
        let (hash, holds) = keys::budget(sh, b);
        inv.key(hash).key(holds);
    }
}

/// Reserves `amount` as `member` on every budget if it fits on all; else the index of the
/// first where it does not. Returns each budget's (spent, reserved) before reserving.
pub(super) async fn reserve(
    sh: &Shared,
    refs: &[BudgetRef],
    member: &str,
    amount: u64,
) -> Result<(Option<usize>, Vec<(u64, u64)>), SharedError> {
    let mut inv = RESERVE.prepare_invoke();
    budget_keys(sh, &mut inv, refs);
    inv.arg(member).arg(amount).arg(HOLD_TTL.as_millis() as u64);
    for b in refs {
        inv.arg(b.limit).arg(budget_ttl(b.period));
    }
    let reply = run(sh, inv).await?;
    let refused = usize::try_from(reply.at(0)).ok().filter(|i| *i > 0);
    let usage = (0..refs.len())
        .map(|i| (reply.u(1 + 2 * i), reply.u(2 + 2 * i)))
        .collect();
    Ok((refused.map(|i| i - 1), usage))
}

/// Releases `member` (if given and not lapsed) and adds `actual` to every budget.
pub(super) async fn settle(
    sh: &Shared,
    refs: &[BudgetRef],
    member: Option<&str>,
    actual: u64,
    warn_at: f64,
) -> Result<Vec<Settled>, SharedError> {
    let mut inv = SETTLE.prepare_invoke();
    budget_keys(sh, &mut inv, refs);
    inv.arg(member.unwrap_or("")).arg(actual);
    for b in refs {
        inv.arg(b.limit)
            .arg(warn_threshold(b.limit, warn_at))
            .arg(budget_ttl(b.period));
    }
    let reply = run(sh, inv).await?;
    Ok((0..refs.len())
        .map(|i| Settled {
            after: reply.u(3 * i),
            crossed: Crossed {
                warning: reply.at(3 * i + 1) == 1,
                exceeded: reply.at(3 * i + 2) == 1,
            },
        })
        .collect())
}

/// Each budget's (spent, reserved).
pub(super) async fn usage(sh: &Shared, refs: &[BudgetRef]) -> Result<Vec<(u64, u64)>, SharedError> {
    let mut inv = USAGE.prepare_invoke();
    budget_keys(sh, &mut inv, refs);
    let reply = run(sh, inv).await?;
    Ok((0..refs.len())
        .map(|i| (reply.u(2 * i), reply.u(2 * i + 1)))
        .collect())
}
