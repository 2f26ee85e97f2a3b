//! The command line: `serve`, `demo`, `check`, `classify`, `sim`, `report` and `simulate`.

pub mod check;
pub mod classify;
pub mod classify_eval;
mod execute;
pub mod keys;
pub mod logging;
pub mod report;
pub mod serve;
pub mod sim;
pub mod simulate;
pub mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use execute::execute;

use crate::report::aggregate::Dimension;
use crate::report::comparison::OutputTokens;

/// Switchyard: a smart multi-provider LLM router with an OpenAI-compatible API.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the router from a server config file.
    Serve {
        #[arg(long, short, default_value = "switchyard.yaml")]
        config: PathBuf,
    },
    /// Run the router with built-in simulated providers: no keys, no network.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Where the demo writes its usage ledger.
        #[arg(long, default_value = "demo-ledger.jsonl")]
        ledger: PathBuf,
        /// Simulated providers answer at once instead of with realistic latency.
        #[arg(long)]
        fast: bool,
    },
    /// Validate the config, providers and policies; print every problem; exit 1 if any.
    Check {
        #[arg(long, short, default_value = "switchyard.yaml")]
        config: PathBuf,
        /// Do not require provider key environment variables to be set.
        #[arg(long)]
        no_keys: bool,
    },
    /// Run one simulated provider (for end-to-end tests and benchmarks); prints
    /// `sim listening on BASE_URL`.
    Sim {
        /// Address to bind, on any wire; port 0 picks a free port (the first stdout line
        /// names the address chosen).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        #[arg(long, default_value = "sim")]
        name: String,
        /// Comma-separated model ids it serves.
        #[arg(long, default_value = "sim-small,sim-large")]
        models: String,
        /// Answer with realistic latency instead of at once.
        #[arg(long)]
        realistic: bool,
        /// The wire API it speaks.
        #[arg(long, value_enum, default_value = "openai")]
        wire: crate::demo::SimWire,
        /// Fail every call with this HTTP status and the wire's error body (for failover tests).
        #[arg(long, value_parser = clap::value_parser!(u16).range(400..600))]
        fail_status: Option<u16>,
        /// Enforce this many requests a minute per API key (burst of two), answering 429
        /// with Retry-After beyond it, as a provider does.
        #[arg(long)]
        key_rpm: Option<u32>,
        /// Advertise this many tokens a minute per API key in `x-ratelimit-*-tokens` headers
        /// (not enforced); with `--key-rpm` or this, answers carry OpenAI's quota headers.
        #[arg(long)]
        key_tpm: Option<u32>,
        #[command(flatten)]
        fault: sim::FaultArgs,
    },
    /// Classify and route workload lines (stdin or FILE) without calling any upstream.
    Classify {
        /// Server config; defaults to the embedded providers/ and policies/.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// One JSON object per output line (carrying each input's `id`).
        #[arg(long)]
        json: bool,
        /// Score labelled files (JSON lines with `prompt`, `label`, optionally `source` and
        /// `source_category`): agreement, confusion matrix, complex->simple and simple->complex
        /// rates, overall and by source, language and category.
        #[arg(long)]
        eval: bool,
        /// With --eval, also list each disagreement with the signals that fired.
        #[arg(long)]
        misses: bool,
        /// With --eval: refit the weights with each source held out in turn and score the
        /// held-out one (how the classifier does on sources it never saw).
        #[arg(long, value_enum)]
        cv: Option<classify_eval::CvMode>,
        /// With --eval: the policy file whose classifier is scored (default: the config's).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// With --cv: L2 penalty of each refit (as `train --l2`).
        #[arg(long, default_value_t = 0.01)]
        l2: f64,
        /// With --cv: weigh examples whose source contains SUBSTRING by W (as `train`); repeat.
        #[arg(long = "source-weight", value_parser = classify_eval::parse_source_weight)]
        source_weights: Vec<(String, f64)>,
        /// With --cv: each example counts n^-BALANCE, n its source's size (as `train`).
        #[arg(long, default_value_t = 0.5)]
        balance: f64,
        /// With --cv: keep the likelihood fit's cut-offs instead of tuning them for agreement.
        #[arg(long)]
        no_tune: bool,
        /// Workload files (JSON lines, or plain text lines taken as prompts); stdin when
        /// absent or `-`.
        files: Vec<PathBuf>,
    },
    /// Manage virtual keys in the server file's key file (stored as SHA-256 digests).
    Keys {
        #[command(subcommand)]
        action: keys::Action,
        #[arg(long, short, default_value = "switchyard.yaml", global = true)]
        config: PathBuf,
    },
    /// Cost report from a usage ledger: cost, baseline cost and saving per group, with totals.
    Report {
        /// The ledger file (JSON lines); `-` for stdin.
        #[arg(long, required_unless_present = "postgres")]
        ledger: Option<PathBuf>,
        /// Read the ledger from this Postgres database (the `ledger.postgres` sink) instead.
        #[arg(long, conflicts_with = "ledger")]
        postgres: Option<String>,
        /// The sink's table, with `--postgres`.
        #[arg(long, default_value = "switchyard_ledger")]
        table: String,
        /// Only requests at or after this time (RFC 3339 or YYYY-MM-DD, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Only requests before this time; a bare date includes that whole day.
        #[arg(long)]
        until: Option<String>,
        /// Group by model, provider, complexity, rule, user or day; repeat (or comma-separate)
        /// to group by the combination.
        #[arg(long, value_delimiter = ',')]
        by: Vec<Dimension>,
        #[arg(long, value_enum, default_value = "table")]
        format: report::Format,
        /// Write the report here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write each chart as a standalone SVG file into this folder.
        #[arg(long)]
        svg_dir: Option<PathBuf>,
    },
    /// Replay a workload through several policies and strategies offline and compare costs.
    Simulate {
        /// Workload lines (`classify`'s format) or ledger lines; `-` for stdin.
        #[arg(long, required_unless_present = "postgres")]
        workload: Option<PathBuf>,
        /// Read ledger lines from this Postgres database (the `ledger.postgres` sink) instead.
        #[arg(long, conflicts_with = "workload")]
        postgres: Option<String>,
        /// The sink's table, with `--postgres`.
        #[arg(long, default_value = "switchyard_ledger")]
        table: String,
        /// Server config whose providers/ are used; defaults to the embedded providers/.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// A policy file to compare (repeat); the first is the reference for classes and
        /// baseline. Default: the config's own policy.
        #[arg(long = "policy")]
        policies: Vec<PathBuf>,
        /// A built-in strategy (repeat): `always:provider/model` or `cheapest`.
        #[arg(long = "strategy")]
        strategies: Vec<String>,
        /// Seed of the weighted choices: the same seed gives the same result.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Completion tokens assumed per class when a line has no `output_tokens`.
        #[arg(long, default_value = "simple=150,medium=400,complex=900")]
        output_tokens: OutputTokens,
        /// Price savings against this model instead of the first policy's baseline.
        #[arg(long)]
        baseline: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: report::Format,
        /// Write the comparison here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write each chart as a standalone SVG file into this folder.
        #[arg(long)]
        svg_dir: Option<PathBuf>,
    },
    /// Fit a policy's classifier (weights, bias, thresholds) on labelled prompts and write the
    /// policy with them; the fit's leave-one-source-out figures go in a comment.
    Train {
        /// Labelled files (JSON lines with `prompt`, `label`, optionally `source`).
        #[arg(long, required = true, num_args = 1..)]
        labelled: Vec<PathBuf>,
        /// The policy whose signals are fitted.
        #[arg(long)]
        policy: PathBuf,
        /// Where the fitted policy is written (may be the same file).
        #[arg(long)]
        out: PathBuf,
        /// L2 penalty on standardised weights.
        #[arg(long, default_value_t = 0.01)]
        l2: f64,
        /// Weigh examples whose source contains SUBSTRING by W (e.g. a noisy source); repeat.
        #[arg(long = "source-weight", value_parser = classify_eval::parse_source_weight)]
        source_weights: Vec<(String, f64)>,
        /// Each example counts n^-BALANCE, n its source's size (0: examples alike, 1: sources alike).
        #[arg(long, default_value_t = 0.5)]
        balance: f64,
        /// Keep the likelihood fit's cut-offs instead of tuning them for agreement.
        #[arg(long)]
        no_tune: bool,
    },
}
