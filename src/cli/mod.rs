//! The command line: `serve`, `demo`, `check`, `classify` and `sim`.

pub mod check;
pub mod classify;
pub mod logging;
pub mod serve;
pub mod sim;
pub mod workload;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Run one simulated OpenAI-compatible provider (for end-to-end tests and benchmarks).
    Sim {
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
    },
    /// Classify and route workload lines (stdin or FILE) without calling any upstream.
    Classify {
        /// Server config; defaults to the embedded providers/ and policies/.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// One JSON object per output line (carrying each input's `id`).
        #[arg(long)]
        json: bool,
        /// Score lines that carry a `label` (simple/medium/complex): agreement and confusion matrix.
        #[arg(long)]
        eval: bool,
        /// With --eval, also list each disagreement.
        #[arg(long)]
        misses: bool,
        /// Workload file (JSON lines); stdin when absent or `-`.
        file: Option<PathBuf>,
    },
}
