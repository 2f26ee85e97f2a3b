//! `switchyard simulate`: replays a workload through several policies and built-in strategies
//! offline and compares what each would cost.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use super::report::{emit, Format};
use crate::config::{Config, KeyMode, SourceFile, Sources};
use crate::report::comparison::OutputTokens;
use crate::report::html::write_svgs;
use crate::report::simulate::{simulate, Settings};
use crate::report::simulate_view;
use crate::report::strategy::{self, Strategy};
use crate::report::workitem::read_workload;

/// Options of one `simulate` run.
pub struct Options<'a> {
    pub workload: &'a Path,
    /// Read ledger lines from the Postgres sink (URL, table) instead of `workload`.
    pub postgres: Option<(&'a str, &'a str)>,
    pub config: Option<&'a Path>,
    pub policies: &'a [PathBuf],
    pub strategies: &'a [String],
    pub seed: u64,
    pub output_tokens: OutputTokens,
    pub baseline: Option<&'a str>,
    pub format: Format,
    pub out: Option<&'a Path>,
    pub svg_dir: Option<&'a Path>,
}

fn problems(ps: Vec<crate::config::Problem>) -> i32 {
    for p in ps {
        eprintln!("error: {p}");
    }
    1
}

/// Returns the exit code: 0, or 1 when the config, a policy or the workload cannot be read.
/// Bad workload lines are reported on stderr with their line numbers and skipped.
pub async fn run(opts: Options<'_>) -> i32 {
    let base = match opts.config {
        Some(p) => Sources::read(p),
        None => Ok(Sources::embedded()),
    };
    let base = match base {
        Ok(b) => b,
        Err(p) => return problems(p),
    };
    let mut files = Vec::new();
    for p in opts.policies {
        match std::fs::read_to_string(p) {
            Ok(text) => files.push(SourceFile {
                path: p.clone(),
                text,
            }),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", p.display());
                return 1;
            }
        }
    }
    let mut strategies = match strategy::policies(&base.providers, files) {
        Ok(s) => s,
        Err(p) => return problems(p),
    };
    // Without --policy, the config's own (default) policy is the one compared.
    if strategies.is_empty() {
        match Config::build(&base, &|_| None, KeyMode::Ignore) {
            Ok(c) => strategies.push(Strategy::Policy {
                name: c.default_policy().name.to_string(),
                config: Box::new(c),
            }),
            Err(p) => return problems(p),
        }
    }
    let Strategy::Policy {
        config: reference, ..
    } = &strategies[0]
    else {
        unreachable!("the first strategy is a policy")
    };
    let mut builtins = Vec::new();
    for spec in opts.strategies {
        match Strategy::builtin(spec, reference) {
            Ok(s) => builtins.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
    let workload = match super::report::open_source(opts.workload, opts.postgres) {
        Ok(r) => read_workload(r),
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let source = super::report::source_name(opts.workload, opts.postgres);
    for b in &workload.bad {
        eprintln!("{source}: {b}");
    }
    let progress = progress_bar(workload.items.len() as u64);
    let settings = Settings {
        seed: opts.seed,
        output_tokens: opts.output_tokens,
        baseline: opts.baseline.map(str::to_owned),
    };
    let reference: &Config = reference;
    let all: Vec<&Strategy> = strategies.iter().chain(&builtins).collect();
    let result = simulate(reference, &all, &workload, &settings, &progress).await;
    progress.finish_and_clear();
    let (sim, unroutable) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    for b in &unroutable {
        eprintln!("{source}: {b}");
    }
    let text = match opts.format {
        Format::Table => simulate_view::text(&sim, &source),
        Format::Csv => simulate_view::summary_table(&sim).csv(),
        Format::Json => serde_json::to_string_pretty(&sim).unwrap_or_default() + "\n",
        Format::Html => simulate_view::html(&sim, &source),
    };
    let mut code = 0;
    if let Err(e) = emit(opts.out, &text) {
        eprintln!("error: {e}");
        code = 1;
    }
    if let Some(dir) = opts.svg_dir {
        if let Err(e) = write_svgs(dir, &simulate_view::charts(&sim)) {
            eprintln!("error: cannot write charts to {}: {e}", dir.display());
            code = 1;
        }
    }
    if sim.lines_skipped > 0 {
        eprintln!("{} bad line(s) skipped", sim.lines_skipped);
    }
    code
}

/// A progress bar on stderr, hidden when stderr is not a terminal (pipes, CI, tests).
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() || len < 2 {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("simulating {bar:40.cyan/blue} {pos}/{len} (eta {eta})")
    {
        pb.set_style(style);
    }
    pb
}
