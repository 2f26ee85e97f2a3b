//! `switchyard classify`: classifies and routes workload lines offline, or scores a labelled file.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::{json, Value};

use crate::config::{Config, KeyMode, Sources};
use crate::openai::ChatRequest;
use crate::pipeline::{decide, Decision};

/// Options of one `classify` run.
pub struct Options<'a> {
    pub config: Option<&'a Path>,
    pub json: bool,
    /// Input files; stdin when empty or `-`.
    pub files: &'a [std::path::PathBuf],
}

/// Returns the exit code: 0, or 1 when the config or input cannot be read.
pub async fn run(opts: Options<'_>) -> i32 {
    let env = |k: &str| std::env::var(k).ok();
    let sources = match opts.config {
        Some(p) => Sources::read(p),
        None => Ok(Sources::embedded()),
    };
    let config = match sources.and_then(|s| Config::build(&s, &env, KeyMode::Ignore)) {
        Ok(c) => c,
        Err(problems) => {
            for p in problems {
                eprintln!("error: {p}");
            }
            return 1;
        }
    };
    let mut inputs: Vec<Box<dyn BufRead>> = Vec::new();
    for p in opts.files {
        if p == Path::new("-") {
            inputs.push(Box::new(std::io::stdin().lock()));
            continue;
        }
        match std::fs::File::open(p) {
            Ok(f) => inputs.push(Box::new(std::io::BufReader::new(f))),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", p.display());
                return 1;
            }
        }
    }
    if inputs.is_empty() {
        inputs.push(Box::new(std::io::stdin().lock()));
    }
    let default_model = config.default_policy().name.to_string();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut bad = 0usize;
    let lines = inputs.into_iter().flat_map(BufRead::lines).enumerate();
    for (n, line) in lines {
        let line = match line {
            Ok(l) if l.trim().is_empty() => continue,
            Ok(l) => l,
            Err(e) => {
                eprintln!("line {}: cannot read: {e}", n + 1);
                bad += 1;
                continue;
            }
        };
        let w = match crate::workload::WorkloadLine::parse_or_text(&line) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("line {}: {e}; skipped", n + 1);
                bad += 1;
                continue;
            }
        };
        let id = w.id.clone().unwrap_or_else(|| json!(n + 1));
        let decision = match ChatRequest::parse(&w.request_body(&default_model)) {
            Ok(req) => decide(&config, &req).await,
            Err(e) => Err(e),
        };
        let _ = match (&decision, opts.json) {
            (Ok(d), true) => writeln!(out, "{}", describe(&config, &id, d)),
            (Ok(d), false) => writeln!(out, "{}", text_line(&config, &id, d)),
            (Err(e), true) => writeln!(out, "{}", json!({"id": id, "error": e.body().error})),
            (Err(e), false) => writeln!(out, "{id}\terror: {e}"),
        };
    }
    let _ = out.flush();
    if bad > 0 {
        eprintln!("{bad} line(s) skipped");
    }
    0
}

fn candidates(config: &Config, d: &Decision) -> Vec<Vec<Value>> {
    d.plan
        .groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .map(|m| json!({"model": &*config.models[m.model].id, "weight": m.weight}))
                .collect()
        })
        .collect()
}

/// The cut-offs (medium, complex) of the policy that made a decision.
fn cut_offs(config: &Config, d: &Decision) -> Option<(f64, f64)> {
    d.classification.as_ref()?;
    let p = config.policies.iter().find(|p| p.name == d.plan.policy)?;
    let (bias, medium, complex) = p.classifier.thresholds();
    Some((medium - bias, complex - bias))
}

/// The JSON form of one decision.
pub fn describe(config: &Config, id: &Value, d: &Decision) -> Value {
    let c = d.classification.as_ref();
    json!({
        "id": id,
        "tokens": d.prompt_tokens,
        "complexity": c.map(|c| c.complexity.as_str()),
        "score": c.map(|c| c.score),
        "confidence": c.map(|c| c.confidence),
        "complex_probability": c.map(|c| c.complex_probability),
        "thresholds": cut_offs(config, d).map(|(m, x)| json!({"medium": m, "complex": x})),
        "signals": c.map(|c| &c.signals),
        "policy": &*d.plan.policy,
        "rule": &*d.plan.rule,
        "candidates": candidates(config, d),
        "skipped": d.plan.skipped.iter().map(|m| &*config.models[*m].id).collect::<Vec<_>>(),
        "unsupported": d.plan.unsupported.iter()
            .map(|(m, lack)| json!({"model": &*config.models[*m].id, "reason": lack.as_str()}))
            .collect::<Vec<_>>(),
    })
}

fn text_line(config: &Config, id: &Value, d: &Decision) -> String {
    let c = d.classification.as_ref();
    let route: Vec<String> = d
        .plan
        .groups
        .iter()
        .map(|g| {
            g.members
                .iter()
                .map(|m| format!("{}:{}", config.models[m.model].id, m.weight))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    let signals = c.map_or(String::new(), |c| {
        c.signals
            .iter()
            .map(|s| format!("{}({:+.2})", s.name, s.weight))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let skipped = if d.plan.unsupported.is_empty() {
        String::new()
    } else {
        format!("\tskipped={}", d.plan.unsupported_summary(config))
    };
    let cuts = cut_offs(config, d).map_or(String::new(), |(m, x)| {
        format!(" (medium>={m:.2}, complex>={x:.2})")
    });
    format!(
        "{id}\ttokens={}\t{}\tscore={:.2}{cuts}\tconfidence={:.2}\tp(complex)={:.2}\trule={}\troute={}\tsignals={}{skipped}",
        d.prompt_tokens,
        c.map_or("unclassified", |c| c.complexity.as_str()),
        c.map_or(0.0, |c| c.score),
        c.map_or(0.0, |c| c.confidence),
        c.map_or(0.0, |c| c.complex_probability),
        d.plan.rule,
        route.join(" > "),
        signals
    )
}
