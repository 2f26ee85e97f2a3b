//! The results of a simulation: per-request choices and per-strategy totals, and the
//! per-class output-token estimates.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::Serialize;
use serde_json::Value;

use super::aggregate::pct;
use super::strategy::Strategy;
use crate::classify::Complexity;

/// Completion tokens assumed per complexity class when a line has no `output_tokens` (and, for
/// a ledger line, no recorded completion). Defaults: simple 150, medium 400, complex 900 —
/// a short answer, a few paragraphs, a long reasoned answer or a code listing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutputTokens {
    pub simple: u64,
    pub medium: u64,
    pub complex: u64,
}

impl Default for OutputTokens {
    fn default() -> Self {
        Self {
            simple: 150,
            medium: 400,
            complex: 900,
        }
    }
}

impl OutputTokens {
    /// The estimate for a class.
    pub fn get(&self, c: Complexity) -> u64 {
        match c {
            Complexity::Simple => self.simple,
            Complexity::Medium => self.medium,
            Complexity::Complex => self.complex,
        }
    }
}

impl FromStr for OutputTokens {
    type Err = String;

    /// `simple=150,medium=400,complex=900`; classes left out keep their default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = Self::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (class, n) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected class=tokens"))?;
            let n: u64 = n
                .trim()
                .parse()
                .map_err(|_| format!("`{part}`: `{}` is not a token count", n.trim()))?;
            match class.parse::<Complexity>()? {
                Complexity::Simple => out.simple = n,
                Complexity::Medium => out.medium = n,
                Complexity::Complex => out.complex = n,
            }
        }
        Ok(out)
    }
}

/// What one strategy did with one request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Choice {
    pub strategy: String,
    pub model: Option<String>,
    /// The policy rule that matched (policies only).
    pub rule: Option<String>,
    pub cost_usd: f64,
    pub premium: bool,
    /// Routed by a rule that matches on the classifier's confidence: what trusting the
    /// classifier less costs is the cost of these requests.
    pub uncertain: bool,
    /// Why the strategy could not route this request (it then costs nothing).
    pub error: Option<String>,
}

/// One replayed request, as every strategy priced it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestRow {
    pub line: usize,
    pub id: Value,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// True when `completion_tokens` is the per-class estimate.
    pub completion_estimated: bool,
    /// The reference (first) policy's classification.
    pub complexity: Complexity,
    pub baseline_cost_usd: f64,
    pub routes: Vec<Choice>,
}

/// A model's share of one strategy's routed requests.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Share {
    pub model: String,
    pub requests: u64,
    pub share_pct: f64,
    pub cost_usd: f64,
}

/// One strategy's totals over the whole workload.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StrategySummary {
    pub name: String,
    pub kind: &'static str,
    pub routed: u64,
    pub errors: u64,
    pub cost_usd: f64,
    pub cost_per_request_usd: Option<f64>,
    /// The baseline model's cost for the same (routed) requests.
    pub baseline_cost_usd: f64,
    pub saving_usd: f64,
    pub saving_pct: Option<f64>,
    pub traffic: Vec<Share>,
    /// Routed requests the reference classifier calls complex…
    pub complex_requests: u64,
    /// …and how many of them went to a non-premium model (the quality risk).
    pub complex_to_non_premium: u64,
    pub quality_risk_pct: Option<f64>,
    /// Requests routed by a rule that matches on confidence, and what they cost.
    pub uncertain_requests: u64,
    pub uncertain_cost_usd: f64,
}

/// A model that appears in the comparison, with its prices (USD per 1M tokens).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ModelInfo {
    pub id: String,
    pub input_per_1m: f64,
    pub output_per_1m: f64,
    pub premium: bool,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Simulation {
    pub seed: u64,
    pub requests_simulated: usize,
    pub lines_skipped: usize,
    pub baseline_model: String,
    /// Premium = output price at least the baseline's; sending a complex prompt elsewhere is
    /// counted as a quality risk.
    pub premium_rule: String,
    /// Every premium model of the catalog.
    pub premium_models: Vec<String>,
    pub output_tokens: OutputTokens,
    pub models: Vec<ModelInfo>,
    pub strategies: Vec<StrategySummary>,
    pub requests: Vec<RequestRow>,
}

/// One strategy's totals, summed from the per-request rows (so they always agree).
pub(crate) fn summarize(s: &Strategy, i: usize, rows: &[RequestRow]) -> StrategySummary {
    let (mut routed, mut errors, mut cost, mut baseline) = (0u64, 0u64, 0.0, 0.0);
    let (mut complex, mut risky) = (0u64, 0u64);
    let (mut uncertain, mut uncertain_cost) = (0u64, 0.0);
    let mut traffic: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for r in rows {
        let c = &r.routes[i];
        let Some(model) = c.model.as_deref() else {
            errors += 1;
            continue;
        };
        routed += 1;
        cost += c.cost_usd;
        baseline += r.baseline_cost_usd;
        let t = traffic.entry(model).or_default();
        t.0 += 1;
        t.1 += c.cost_usd;
        if c.uncertain {
            uncertain += 1;
            uncertain_cost += c.cost_usd;
        }
        if r.complexity == Complexity::Complex {
            complex += 1;
            risky += u64::from(!c.premium);
        }
    }
    let mut traffic: Vec<Share> = traffic
        .into_iter()
        .map(|(m, (n, c))| Share {
            model: m.to_owned(),
            requests: n,
            share_pct: pct(n as f64, routed as f64).unwrap_or(0.0),
            cost_usd: c,
        })
        .collect();
    traffic.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.model.cmp(&b.model)));
    StrategySummary {
        name: s.name(),
        kind: s.kind(),
        routed,
        errors,
        cost_usd: cost,
        cost_per_request_usd: (routed > 0).then(|| cost / routed as f64),
        baseline_cost_usd: baseline,
        saving_usd: baseline - cost,
        saving_pct: pct(baseline - cost, baseline),
        traffic,
        complex_requests: complex,
        complex_to_non_premium: risky,
        quality_risk_pct: pct(risky as f64, complex as f64),
        uncertain_requests: uncertain,
        uncertain_cost_usd: uncertain_cost,
    }
}
