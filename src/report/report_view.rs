//! Renders a ledger [`Report`] as a text table, CSV, JSON or an HTML page with charts.

use serde_json::{json, Value};

use super::aggregate::{Report, Summary};
use super::charts::{bar_chart, line_chart, stacked_share, Series};
use super::html::{page, Chart, Section};
use super::svg::Unit;
use super::table::{fixed_usd, full, ms, pct, thousands, Money, Table};

/// What the report covered, shown above tables and in JSON.
#[derive(Debug, Clone, Default)]
pub(crate) struct Meta {
    pub source: String,
    pub since: Option<String>,
    pub until: Option<String>,
    pub lines_read: usize,
    pub lines_skipped: usize,
}

impl Meta {
    /// One line of context: file, window, lines skipped.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("Ledger {}", self.source);
        match (&self.since, &self.until) {
            (Some(a), Some(b)) => s += &format!(", from {a} until {b}"),
            (Some(a), None) => s += &format!(", since {a}"),
            (None, Some(b)) => s += &format!(", until {b}"),
            (None, None) => {}
        }
        s += &format!(
            "; {} line(s) read, {} skipped.",
            self.lines_read, self.lines_skipped
        );
        s
    }
}

const HEADERS: [&str; 16] = [
    "requests",
    "prompt tok",
    "compl tok",
    "cost",
    "baseline",
    "saving",
    "saving %",
    "cache hits",
    "cache saved",
    "failovers",
    "errors",
    "error %",
    "p50 ms",
    "p95 ms",
    "ttft p50",
    "ttft p95",
];

fn key_headers(r: &Report) -> Vec<String> {
    if r.by.is_empty() {
        vec![String::new()]
    } else {
        r.by.iter().map(|d| d.as_str().to_owned()).collect()
    }
}

fn rows(r: &Report) -> impl Iterator<Item = (Vec<String>, &Summary)> {
    let width = r.by.len().max(1);
    let mut total = vec![String::new(); width];
    total[0] = "TOTAL".into();
    r.groups
        .iter()
        .map(|g| (g.values.clone(), &g.summary))
        .chain(std::iter::once((total, &r.total)))
}

/// The aligned text table: one dollar precision for the whole table, from its largest amount.
pub(crate) fn table(r: &Report) -> Table {
    table_of(key_headers(r), rows(r))
}

/// The per-model table (with its TOTAL row), shown in the HTML report when there is no `--by`.
pub(crate) fn model_table(r: &Report) -> Table {
    let models = r
        .models
        .iter()
        .map(|(m, s)| (vec![m.clone()], s))
        .chain(std::iter::once((vec!["TOTAL".to_owned()], &r.total)));
    table_of(vec!["model".to_owned()], models)
}

fn table_of<'r>(
    mut headers: Vec<String>,
    rows: impl Iterator<Item = (Vec<String>, &'r Summary)>,
) -> Table {
    let rows: Vec<(Vec<String>, &Summary)> = rows.collect();
    let money = Money::for_amounts(rows.iter().flat_map(|(_, s)| {
        [
            s.cost_usd,
            s.baseline_cost_usd,
            s.saving_usd,
            s.cache_saving_usd,
        ]
    }));
    let left = headers.len();
    headers.extend(HEADERS.iter().map(|h| (*h).to_owned()));
    let mut t = Table::new(headers, left);
    for (mut cells, s) in rows {
        cells.extend([
            thousands(s.requests),
            thousands(s.prompt_tokens),
            thousands(s.completion_tokens),
            money.fmt(s.cost_usd),
            money.fmt(s.baseline_cost_usd),
            money.saving(s.cost_usd, s.baseline_cost_usd, s.saving_usd),
            pct(s.saving_pct),
            thousands(s.cache_hits),
            money.fmt(s.cache_saving_usd),
            thousands(s.failovers),
            thousands(s.errors),
            pct(s.error_rate_pct),
            ms(s.latency_p50_ms),
            ms(s.latency_p95_ms),
            ms(s.ttft_p50_ms),
            ms(s.ttft_p95_ms),
        ]);
        t.rows.push(cells);
    }
    t
}

/// CSV, one row per group and a `TOTAL` row last; dollars fixed to 1e-10 (no float noise).
pub(crate) fn csv(r: &Report) -> String {
    let mut headers: Vec<String> = if r.by.is_empty() {
        vec!["group".into()]
    } else {
        r.by.iter().map(|d| d.as_str().to_owned()).collect()
    };
    let left = headers.len();
    headers.extend(
        [
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "baseline_cost_usd",
            "saving_usd",
            "saving_pct",
            "cache_hits",
            "cache_saving_usd",
            "failovers",
            "errors",
            "error_rate_pct",
            "latency_p50_ms",
            "latency_p95_ms",
            "ttft_p50_ms",
            "ttft_p95_ms",
        ]
        .map(str::to_owned),
    );
    let mut t = Table::new(headers, left);
    for (mut cells, s) in rows(r) {
        cells.extend([
            s.requests.to_string(),
            s.prompt_tokens.to_string(),
            s.completion_tokens.to_string(),
            fixed_usd(s.cost_usd),
            fixed_usd(s.baseline_cost_usd),
            fixed_usd(s.saving_usd),
            full(s.saving_pct),
            s.cache_hits.to_string(),
            fixed_usd(s.cache_saving_usd),
            s.failovers.to_string(),
            s.errors.to_string(),
            full(s.error_rate_pct),
            full(s.latency_p50_ms),
            full(s.latency_p95_ms),
            full(s.ttft_p50_ms),
            full(s.ttft_p95_ms),
        ]);
        t.rows.push(cells);
    }
    t.csv()
}

/// JSON at full precision: the window, skipped lines, groups and totals.
pub(crate) fn json(r: &Report, meta: &Meta) -> Value {
    json!({
        "ledger": meta.source,
        "since": meta.since,
        "until": meta.until,
        "lines_read": meta.lines_read,
        "lines_skipped": meta.lines_skipped,
        "by": r.by,
        "groups": r.groups,
        "total": r.total,
    })
}

/// The three report charts: cost per model, traffic share per model by day, cost over time.
pub(crate) fn charts(r: &Report) -> Vec<Chart> {
    let models: Vec<String> = r.models.iter().map(|(m, _)| m.clone()).collect();
    let pick =
        |f: fn(&Summary) -> f64| -> Vec<f64> { r.models.iter().map(|(_, s)| f(s)).collect() };
    let cost = bar_chart(
        "Cost per model",
        "What was spent, what the same tokens would have cost on the baseline model, and the saving",
        &models,
        &[
            Series { name: "Cost".into(), values: pick(|s| s.cost_usd) },
            Series { name: "Baseline cost".into(), values: pick(|s| s.baseline_cost_usd) },
            Series { name: "Saving".into(), values: pick(|s| s.saving_usd) },
        ],
        Unit::Usd,
        "USD",
    );
    let mut share_rows: Vec<(String, Vec<f64>)> = Vec::new();
    if r.traffic.len() > 1 {
        let all = models
            .iter()
            .map(|m| {
                r.traffic
                    .values()
                    .map(|d| d.get(m).copied().unwrap_or(0) as f64)
                    .sum()
            })
            .collect();
        share_rows.push(("all days".into(), all));
    }
    for (day, per) in &r.traffic {
        let v = models
            .iter()
            .map(|m| per.get(m).copied().unwrap_or(0) as f64)
            .collect();
        share_rows.push((day.clone(), v));
    }
    let share = stacked_share(
        "Traffic share per model",
        "Share of requests each model served, per UTC day",
        &share_rows,
        &models,
    );
    let days: Vec<String> = r.days.iter().map(|(d, _)| d.clone()).collect();
    let per_day =
        |f: fn(&Summary) -> f64| -> Vec<f64> { r.days.iter().map(|(_, s)| f(s)).collect() };
    // A line needs a few points; over one to three days, bars read better.
    let draw = if days.len() > 3 {
        line_chart
    } else {
        bar_chart
    };
    let over_time = draw(
        "Cost and saving over time",
        "Per UTC day: actual cost, the baseline model's cost for the same tokens, and the saving",
        &days,
        &[
            Series {
                name: "Cost".into(),
                values: per_day(|s| s.cost_usd),
            },
            Series {
                name: "Baseline cost".into(),
                values: per_day(|s| s.baseline_cost_usd),
            },
            Series {
                name: "Saving".into(),
                values: per_day(|s| s.saving_usd),
            },
        ],
        Unit::Usd,
        "USD per day",
    );
    vec![
        Chart {
            slug: "cost-per-model".into(),
            title: "Cost per model".into(),
            svg: cost,
        },
        Chart {
            slug: "traffic-share".into(),
            title: "Traffic share per model".into(),
            svg: share,
        },
        Chart {
            slug: "cost-over-time".into(),
            title: "Cost and saving over time".into(),
            svg: over_time,
        },
    ]
}

/// The self-contained HTML report.
pub(crate) fn html(r: &Report, meta: &Meta) -> String {
    let by = if r.by.is_empty() {
        "Totals".to_owned()
    } else {
        format!(
            "By {}",
            r.by.iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>()
                .join(" × ")
        )
    };
    let note = "One dollar precision per table, from its largest amount (JSON and CSV keep \
                1e-10). Saving = baseline cost − cost; errors are HTTP status ≥ 400 or a failed \
                outcome; latency percentiles are nearest-rank.";
    let mut sections = vec![Section {
        heading: by,
        note: note.into(),
        table: Some((table(r), true)),
    }];
    // without --by the main table is one TOTAL row: the per-model table goes with the charts
    if r.by.is_empty() && !r.models.is_empty() {
        sections.push(Section {
            heading: "By model".into(),
            note: "The same figures per model, as charted below.".into(),
            table: Some((model_table(r), true)),
        });
    }
    page(
        "Switchyard cost report",
        &meta.describe(),
        &sections,
        &charts(r),
    )
}
