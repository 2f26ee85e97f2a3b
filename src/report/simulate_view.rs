//! Renders a [`Simulation`] as a side-by-side table, JSON, or an HTML page with charts.

use super::charts::{bar_chart, stacked_share, Series};
use super::comparison::Simulation;
use super::html::{page, Chart, Section};
use super::svg::Unit;
use super::table::{pct, thousands, usd_small, Money, Table};

/// One line of context: how many requests, seed, baseline, premium models, estimates.
pub(crate) fn describe(sim: &Simulation, source: &str) -> String {
    let premium = &sim.premium_models;
    let estimated = sim
        .requests
        .iter()
        .filter(|r| r.completion_estimated)
        .count();
    let o = sim.output_tokens;
    format!(
        "{} requests from {source} (seed {}, {} line(s) skipped). Baseline: {}. Premium \
         ({}): {}. Completion tokens estimated for {estimated} requests (simple {}, medium {}, \
         complex {}).",
        sim.requests_simulated,
        sim.seed,
        sim.lines_skipped,
        sim.baseline_model,
        sim.premium_rule,
        premium.join(", "),
        o.simple,
        o.medium,
        o.complex,
    )
}

/// The side-by-side comparison: one row per strategy.
pub(crate) fn summary_table(sim: &Simulation) -> Table {
    let mut t = Table::new(
        [
            "strategy",
            "requests",
            "errors",
            "cost",
            "cost/request",
            "baseline",
            "saving",
            "saving %",
            "complex→non-premium",
            "uncertain (cost)",
        ]
        .map(str::to_owned)
        .to_vec(),
        1,
    );
    let money = Money::for_amounts(
        sim.strategies
            .iter()
            .flat_map(|s| [s.cost_usd, s.baseline_cost_usd, s.saving_usd]),
    );
    for s in &sim.strategies {
        t.rows.push(vec![
            s.name.clone(),
            thousands(s.routed),
            thousands(s.errors),
            money.fmt(s.cost_usd),
            s.cost_per_request_usd.map_or("-".into(), usd_small),
            money.fmt(s.baseline_cost_usd),
            money.saving(s.cost_usd, s.baseline_cost_usd, s.saving_usd),
            pct(s.saving_pct),
            format!(
                "{} ({}/{})",
                pct(s.quality_risk_pct),
                s.complex_to_non_premium,
                s.complex_requests
            ),
            format!(
                "{} ({})",
                thousands(s.uncertain_requests),
                money.fmt(s.uncertain_cost_usd)
            ),
        ]);
    }
    t
}

/// Traffic share per model (rows) under each strategy (columns).
pub(crate) fn share_table(sim: &Simulation) -> Table {
    let mut headers = vec!["model".to_owned(), "$/1M in/out".to_owned()];
    headers.extend(sim.strategies.iter().map(|s| s.name.clone()));
    let mut t = Table::new(headers, 1);
    for m in &sim.models {
        let mut row = vec![
            format!("{}{}", m.id, if m.premium { " *" } else { "" }),
            format!("{}/{}", m.input_per_1m, m.output_per_1m),
        ];
        for s in &sim.strategies {
            let share = s.traffic.iter().find(|x| x.model == m.id);
            row.push(share.map_or("-".into(), |x| format!("{:.1}%", x.share_pct)));
        }
        t.rows.push(row);
    }
    t
}

/// The plain-text output of `simulate`.
pub(crate) fn text(sim: &Simulation, source: &str) -> String {
    format!(
        "{}\n\n{}\nTraffic share per model (* premium)\n\n{}",
        describe(sim, source),
        summary_table(sim).render(false),
        share_table(sim).render(false)
    )
}

/// Cost per strategy, traffic share per model, and the quality risk.
pub(crate) fn charts(sim: &Simulation) -> Vec<Chart> {
    let names: Vec<String> = sim.strategies.iter().map(|s| s.name.clone()).collect();
    let cost = bar_chart(
        "Total cost per strategy",
        &format!(
            "{} simulated requests; the baseline sends every request to {}",
            sim.requests_simulated, sim.baseline_model
        ),
        &names,
        &[
            Series {
                name: "Cost".into(),
                values: sim.strategies.iter().map(|s| s.cost_usd).collect(),
            },
            Series {
                name: format!("Baseline ({})", sim.baseline_model),
                values: sim.strategies.iter().map(|s| s.baseline_cost_usd).collect(),
            },
        ],
        Unit::Usd,
        "USD",
    );
    let models: Vec<String> = sim.models.iter().map(|m| m.id.clone()).collect();
    let rows: Vec<(String, Vec<f64>)> = sim
        .strategies
        .iter()
        .map(|s| {
            let v = models
                .iter()
                .map(|m| {
                    s.traffic
                        .iter()
                        .find(|x| &x.model == m)
                        .map_or(0.0, |x| x.requests as f64)
                })
                .collect();
            (s.name.clone(), v)
        })
        .collect();
    let share = stacked_share(
        "Traffic share per model",
        "Share of requests each strategy sends to each model (cheapest models first)",
        &rows,
        &models,
    );
    let risk = bar_chart(
        "Quality risk: complex prompts sent to non-premium models",
        &format!(
            "Share of the prompts the reference classifier calls complex; premium = {}",
            sim.premium_rule
        ),
        &names,
        &[Series {
            name: "Complex → non-premium".into(),
            values: sim
                .strategies
                .iter()
                .map(|s| s.quality_risk_pct.unwrap_or(0.0))
                .collect(),
        }],
        Unit::Percent,
        "% of complex prompts",
    );
    vec![
        Chart {
            slug: "cost-per-strategy".into(),
            title: "Total cost per strategy".into(),
            svg: cost,
        },
        Chart {
            slug: "traffic-share".into(),
            title: "Traffic share per model".into(),
            svg: share,
        },
        Chart {
            slug: "quality-risk".into(),
            title: "Quality risk".into(),
            svg: risk,
        },
    ]
}

/// The self-contained HTML comparison.
pub(crate) fn html(sim: &Simulation, source: &str) -> String {
    let sections = [
        Section {
            heading: "Strategies side by side".into(),
            note: "Dollars rounded to the cent (JSON keeps full precision). Saving is against \
                   sending the same requests to the baseline model."
                .into(),
            table: Some((summary_table(sim), false)),
        },
        Section {
            heading: "Traffic share per model".into(),
            note: "* premium model".into(),
            table: Some((share_table(sim), false)),
        },
    ];
    page(
        "Switchyard strategy comparison",
        &describe(sim, source),
        &sections,
        &charts(sim),
    )
}
