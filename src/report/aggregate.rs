//! Groups ledger entries by model, provider, complexity, rule, user and/or day, with totals.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::SystemTime;

use serde::Serialize;

use super::ledger_read::Entry;
use super::table::round_usd;

/// What a report groups by (`--by`); several give one row per distinct tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Model,
    Provider,
    Complexity,
    Rule,
    User,
    Day,
}

impl Dimension {
    /// Lowercase name, as on the command line and in JSON keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Model => "model",
            Dimension::Provider => "provider",
            Dimension::Complexity => "complexity",
            Dimension::Rule => "rule",
            Dimension::User => "user",
            Dimension::Day => "day",
        }
    }

    /// This entry's value for the dimension; `(none)` when the ledger has none (e.g. a request
    /// refused before any model was chosen, or one without a `user`).
    pub fn value(self, e: &Entry) -> String {
        let v = match self {
            Dimension::Model => e.model.clone(),
            Dimension::Provider => e.provider.clone(),
            Dimension::Complexity => e.complexity.map(|c| c.as_str().to_owned()),
            Dimension::Rule => e.rule.clone(),
            Dimension::User => e.user.clone(),
            Dimension::Day => e.time.map(super::time::utc_day),
        };
        v.filter(|s| !s.is_empty())
            .unwrap_or_else(|| NONE.to_owned())
    }
}

/// The group value shown when an entry has no value for a dimension.
pub(crate) const NONE: &str = "(none)";

impl FromStr for Dimension {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use Dimension::{Complexity, Day, Model, Provider, Rule, User};
        [Model, Provider, Complexity, Rule, User, Day]
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown grouping `{s}` (model, provider, complexity, rule, user, day)")
            })
    }
}

/// Running sums for one group; [`Totals::summary`] turns them into report figures.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    requests: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
    cost: f64,
    baseline: f64,
    saving: f64,
    cache_hits: u64,
    cache_saving: f64,
    failovers: u64,
    errors: u64,
    latencies: Vec<f64>,
    ttfts: Vec<f64>,
}

impl Totals {
    /// Adds one ledger entry. A cache hit saves its baseline cost minus whatever it did cost;
    /// that amount is part of `saving` and is also shown on its own as `cache_saving`.
    pub(crate) fn add(&mut self, e: &Entry) {
        self.requests += 1;
        // ledger numbers come from upstreams: saturate rather than overflow
        self.prompt_tokens = self.prompt_tokens.saturating_add(e.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(e.completion_tokens);
        self.cost += e.cost_usd;
        self.baseline += e.baseline_cost_usd;
        if e.is_cache_hit() {
            let saved = e.baseline_cost_usd - e.cost_usd;
            self.cache_hits += 1;
            self.cache_saving += saved;
            self.saving += saved;
        } else {
            self.saving += e.saving_usd;
        }
        self.failovers += u64::from(e.failovers);
        self.errors += u64::from(e.is_error());
        self.latencies.push(e.latency_ms);
        self.ttfts.extend(e.ttft_ms.filter(|t| t.is_finite()));
    }

    /// The figures of this group.
    pub(crate) fn summary(&self) -> Summary {
        let mut lat = self.latencies.clone();
        let mut ttft = self.ttfts.clone();
        lat.sort_by(f64::total_cmp);
        ttft.sort_by(f64::total_cmp);
        Summary {
            requests: self.requests,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            // sums of many lines carry float noise: every output keeps 1e-10 USD
            cost_usd: round_usd(self.cost),
            baseline_cost_usd: round_usd(self.baseline),
            saving_usd: round_usd(self.saving),
            saving_pct: pct(self.saving, self.baseline),
            cache_hits: self.cache_hits,
            cache_saving_usd: round_usd(self.cache_saving),
            failovers: self.failovers,
            errors: self.errors,
            error_rate_pct: pct(self.errors as f64, self.requests as f64),
            latency_p50_ms: percentile(&lat, 50.0),
            latency_p95_ms: percentile(&lat, 95.0),
            ttft_p50_ms: percentile(&ttft, 50.0),
            ttft_p95_ms: percentile(&ttft, 95.0),
        }
    }
}

/// One row of a report, in USD at full precision (tables round to the cent when printing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Summary {
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    /// Baseline cost minus cost (cache savings included).
    pub saving_usd: f64,
    /// Saving as a percentage of the baseline cost; none when the baseline cost is 0.
    pub saving_pct: Option<f64>,
    pub cache_hits: u64,
    pub cache_saving_usd: f64,
    pub failovers: u64,
    pub errors: u64,
    pub error_rate_pct: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Over streamed requests only (the others have no time to first token).
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
}

/// `part / whole` in percent, or none for an empty whole.
pub(crate) fn pct(part: f64, whole: f64) -> Option<f64> {
    (whole != 0.0).then(|| part / whole * 100.0)
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `p`% of the
/// values at or below it (so p50 of `[1,2,3,4]` is 2, p95 of 1..=20 is 19). None when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Which entries a report covers: `since` inclusive, `until` exclusive.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Window {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl Window {
    /// Whether the entry's time falls in the window.
    pub(crate) fn contains(&self, e: &Entry) -> bool {
        let Some(t) = e.time else { return false };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// One group: its key (one value per `--by` dimension) and figures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GroupRow {
    pub key: BTreeMap<&'static str, String>,
    #[serde(skip)]
    pub values: Vec<String>,
    #[serde(flatten)]
    pub summary: Summary,
}

/// A finished report: rows sorted by key, totals, and the per-day and per-model series the
/// HTML charts draw.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub by: Vec<Dimension>,
    pub groups: Vec<GroupRow>,
    pub total: Summary,
    /// Cost, baseline and saving per UTC day (for the over-time chart).
    #[serde(skip)]
    pub days: Vec<(String, Summary)>,
    /// Cost, baseline and saving per model (for the cost chart).
    #[serde(skip)]
    pub models: Vec<(String, Summary)>,
    /// Requests per (day, model) (for the traffic-share chart).
    #[serde(skip)]
    pub traffic: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Groups the entries inside `window` by the `by` dimensions (none: a single total).
pub(crate) fn aggregate(entries: &[Entry], window: Window, by: &[Dimension]) -> Report {
    let mut groups: BTreeMap<Vec<String>, Totals> = BTreeMap::new();
    let mut days: BTreeMap<String, Totals> = BTreeMap::new();
    let mut models: BTreeMap<String, Totals> = BTreeMap::new();
    let mut traffic: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut total = Totals::default();
    for e in entries.iter().filter(|e| window.contains(e)) {
        let key: Vec<String> = by.iter().map(|d| d.value(e)).collect();
        groups.entry(key).or_default().add(e);
        let day = Dimension::Day.value(e);
        days.entry(day.clone()).or_default().add(e);
        models.entry(Dimension::Model.value(e)).or_default().add(e);
        *traffic
            .entry(day)
            .or_default()
            .entry(Dimension::Model.value(e))
            .or_default() += 1;
        total.add(e);
    }
    let groups = if by.is_empty() {
        Vec::new()
    } else {
        groups
            .into_iter()
            .map(|(values, t)| GroupRow {
                key: by.iter().map(|d| d.as_str()).zip(values.clone()).collect(),
                values,
                summary: t.summary(),
            })
            .collect()
    };
    Report {
        by: by.to_vec(),
        groups,
        total: total.summary(),
        days: days.into_iter().map(|(d, t)| (d, t.summary())).collect(),
        models: models.into_iter().map(|(m, t)| (m, t.summary())).collect(),
        traffic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::UsageRecord;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(10.0));
        assert_eq!(percentile(&v, 95.0), Some(19.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn cache_hits_save_their_baseline() {
        let mut t = Totals::default();
        t.add(&Entry::from(UsageRecord {
            cost_usd: 0.0,
            baseline_cost_usd: 0.25,
            saving_usd: 0.0,
            outcome: crate::usage::Outcome::CacheHit,
            status: 200,
            ..UsageRecord::default()
        }));
        t.add(&Entry::from(UsageRecord {
            cost_usd: 0.1,
            baseline_cost_usd: 0.5,
            saving_usd: 0.4,
            outcome: crate::usage::Outcome::Ok,
            status: 200,
            ..UsageRecord::default()
        }));
        let s = t.summary();
        assert_eq!((s.cache_hits, s.errors), (1, 0));
        assert!((s.cache_saving_usd - 0.25).abs() < 1e-12);
        assert!((s.saving_usd - 0.65).abs() < 1e-12);
        assert!((s.saving_pct.unwrap() - 86.666_666_666).abs() < 1e-6);
    }
}
