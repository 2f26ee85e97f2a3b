//! `switchyard classify`: classifies and routes workload lines offline, or scores a labelled file.

use std::io::{BufRead, Write};
use std::path::Path;

use serde_json::{json, Value};

use crate::classify::eval::EvalReport;
use crate::classify::Complexity;
use crate::config::{Config, KeyMode, Sources};
use crate::openai::ChatRequest;
use crate::pipeline::{decide, Decision};

/// Options of one `classify` run.
pub struct Options<'a> {
    pub config: Option<&'a Path>,
    pub json: bool,
    pub eval: bool,
    pub misses: bool,
    pub file: Option<&'a Path>,
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
    let input: Box<dyn BufRead> = match opts.file {
        Some(p) if p != Path::new("-") => match std::fs::File::open(p) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", p.display());
                return 1;
            }
        },
        _ => Box::new(std::io::stdin().lock()),
    };
    let default_model = config.default_policy().name.to_string();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut report = EvalReport::default();
    let mut bad = 0usize;
    for (n, line) in input.lines().enumerate() {
        let line = match line {
            Ok(l) if l.trim().is_empty() => continue,
            Ok(l) => l,
            Err(e) => {
                eprintln!("line {}: cannot read: {e}", n + 1);
                bad += 1;
                continue;
            }
        };
        let w = match crate::workload::WorkloadLine::parse(&line) {
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
        if opts.eval {
            let expected = w
                .label
                .as_deref()
                .and_then(|l| l.parse::<Complexity>().ok());
            let predicted = decision
                .as_ref()
                .ok()
                .and_then(|d| d.classification.as_ref())
                .map(|c| c.complexity);
            if let (Some(e), Some(p)) = (expected, predicted) {
                report.add(e, p);
                if opts.misses && e != p {
                    let text = w
                        .prompt
                        .as_deref()
                        .unwrap_or("(messages)")
                        .replace('\n', " ");
                    let _ = writeln!(
                        out,
                        "{id}\texpected {}\tgot {}\t{}",
                        e.as_str(),
                        p.as_str(),
                        text.chars().take(100).collect::<String>()
                    );
                }
            } else {
                bad += 1;
            }
            continue;
        }
        let _ = match (&decision, opts.json) {
            (Ok(d), true) => writeln!(out, "{}", describe(&config, &id, d)),
            (Ok(d), false) => writeln!(out, "{}", text_line(&config, &id, d)),
            (Err(e), true) => writeln!(out, "{}", json!({"id": id, "error": e.body().error})),
            (Err(e), false) => writeln!(out, "{id}\terror: {e}"),
        };
    }
    if opts.eval {
        let _ = if opts.json {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&report).unwrap_or_default()
            )
        } else {
            writeln!(out, "{report}")
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

/// The JSON form of one decision.
pub fn describe(config: &Config, id: &Value, d: &Decision) -> Value {
    let c = d.classification.as_ref();
    json!({
        "id": id,
        "tokens": d.prompt_tokens,
        "complexity": c.map(|c| c.complexity.as_str()),
        "score": c.map(|c| c.score),
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
    format!(
        "{id}\ttokens={}\t{}\tscore={:.2}\trule={}\troute={}\tsignals={}{skipped}",
        d.prompt_tokens,
        c.map_or("unclassified", |c| c.complexity.as_str()),
        c.map_or(0.0, |c| c.score),
        d.plan.rule,
        route.join(" > "),
        signals
    )
}
