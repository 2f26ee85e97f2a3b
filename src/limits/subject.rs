//! Who a request is charged to, and the rate rules and budgets that therefore apply to it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::budget::micros;
use super::gcra::Rate;
use super::period;
use crate::config::Limits;

/// The caller of one request and every limit that applies to it, as resolved by auth.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The virtual key's user; `None` skips per-user limits (nobody to count them against).
    pub user: Option<Arc<str>>,
    /// The key's team; `None` skips team limits.
    pub team: Option<Arc<str>>,
    /// The key's tier limits, applied per user.
    pub user_limits: Limits,
    pub team_limits: Limits,
    pub global: Limits,
}

/// Which counter a limit is kept in: one per user, one per team, or one for everybody.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    User,
    Team,
    Global,
}

impl Scope {
    /// The label used in metrics, keys, headers and refusals.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Team => "team",
            Self::Global => "global",
        }
    }
}

/// The name a global counter is kept under (scopes never mix, so it cannot collide).
pub(super) const GLOBAL_NAME: &str = "all";

/// One of the four rate limits of a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitName {
    Rpm,
    Rph,
    Tpm,
    Tpd,
}

impl LimitName {
    /// The label used in metrics, keys and refusals.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rpm => "rpm",
            Self::Rph => "rph",
            Self::Tpm => "tpm",
            Self::Tpd => "tpd",
        }
    }

    /// How long an empty bucket takes to fill up again.
    pub fn window(self) -> Duration {
        Duration::from_secs(match self {
            Self::Rpm | Self::Tpm => 60,
            Self::Rph => 3600,
            Self::Tpd => 86_400,
        })
    }

    /// Whether it counts tokens (else requests).
    pub fn is_tokens(self) -> bool {
        matches!(self, Self::Tpm | Self::Tpd)
    }
}

/// A calendar period a budget runs over (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Monthly,
}

impl Period {
    /// The label used in metrics and refusals.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }
}

/// One bucket a request is checked against.
#[derive(Debug, Clone)]
pub(super) struct RateRule {
    pub scope: Scope,
    pub name: Arc<str>,
    pub limit: LimitName,
    pub rate: Rate,
}

/// One budget a request is charged to, fixed to the period it was reserved in.
#[derive(Debug, Clone)]
pub(super) struct BudgetRef {
    pub scope: Scope,
    pub name: Arc<str>,
    pub period: Period,
    /// `2026-11-23` or `2026-11`.
    pub period_id: Arc<str>,
    /// Micro-dollars.
    pub limit: u64,
    /// When the period ends.
    pub resets_at: SystemTime,
}

/// The scopes that apply, with the counter name each is kept under.
fn scopes(s: &Subject) -> impl Iterator<Item = (Scope, Arc<str>, &Limits)> {
    let user = s.user.clone().map(|u| (Scope::User, u, &s.user_limits));
    let team = s.team.clone().map(|t| (Scope::Team, t, &s.team_limits));
    let global = Some((Scope::Global, Arc::from(GLOBAL_NAME), &s.global));
    [user, team, global].into_iter().flatten()
}

impl Subject {
    /// Whether any rate limit applies (else admission is free: no lock, no round trip).
    pub fn has_rates(&self) -> bool {
        (self.user.is_some() && self.user_limits.has_rates())
            || (self.team.is_some() && self.team_limits.has_rates())
            || self.global.has_rates()
    }

    /// Whether any budget applies (else reservation is free: no lock, no round trip).
    pub fn has_budget(&self) -> bool {
        (self.user.is_some() && self.user_limits.has_budget())
            || (self.team.is_some() && self.team_limits.has_budget())
            || self.global.has_budget()
    }

    pub(super) fn rate_rules(&self) -> Vec<RateRule> {
        let mut out = Vec::new();
        if !self.has_rates() {
            return out;
        }
        for (scope, name, l) in scopes(self) {
            for (limit, value) in [
                (LimitName::Rpm, l.rpm),
                (LimitName::Rph, l.rph),
                (LimitName::Tpm, l.tpm),
                (LimitName::Tpd, l.tpd),
            ] {
                // a zero limit is rejected by config validation; treat it as no limit here
                if let Some(v) = value.filter(|v| *v > 0) {
                    out.push(RateRule {
                        scope,
                        name: name.clone(),
                        limit,
                        rate: Rate::new(v, limit.window()),
                    });
                }
            }
        }
        out
    }

    pub(super) fn budget_refs(&self, now: SystemTime) -> Vec<BudgetRef> {
        if !self.has_budget() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (scope, name, l) in scopes(self) {
            out.extend(refs_of(scope, &name, l, now));
        }
        out
    }
}

/// The budgets of one scope's limits.
pub(super) fn refs_of(
    scope: Scope,
    name: &Arc<str>,
    l: &Limits,
    now: SystemTime,
) -> Vec<BudgetRef> {
    let ids = period::Ids::at(now);
    let mut out = Vec::new();
    for (period, value) in [
        (Period::Daily, l.daily_usd),
        (Period::Monthly, l.monthly_usd),
    ] {
        if let Some(usd) = value {
            let (id, resets_at) = match period {
                Period::Daily => (&ids.day, &ids.day_ends),
                Period::Monthly => (&ids.month, &ids.month_ends),
            };
            out.push(BudgetRef {
                scope,
                name: name.clone(),
                period,
                period_id: id.as_str().into(),
                limit: micros(usd),
                resets_at: *resets_at,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_limits_of_named_scopes_become_rules() {
        let l = Limits {
            rpm: Some(10),
            tpd: Some(1000),
            daily_usd: Some(1.5),
            ..Limits::default()
        };
        let s = Subject {
            user: Some("ann".into()),
            team: None,
            user_limits: l,
            team_limits: l,
            global: Limits::default(),
        };
        let rules = s.rate_rules();
        assert_eq!(rules.len(), 2, "no team name, no global limits");
        assert_eq!(rules[0].limit, LimitName::Rpm);
        assert_eq!(rules[1].limit, LimitName::Tpd);
        let refs = s.budget_refs(SystemTime::UNIX_EPOCH);
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].limit, 1_500_000);
        assert_eq!(&*refs[0].period_id, "1970-01-01");
        assert!(!Subject::default().has_rates() && !Subject::default().has_budget());
    }
}
