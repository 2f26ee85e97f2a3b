//! The `switchyard` binary: parses the command line and runs one sub-command.

use clap::Parser;
use switchyard::cli::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => switchyard::cli::serve::run(&config).await,
        Command::Demo {
            listen,
            ledger,
            fast,
        } => switchyard::demo::run(&listen, &ledger, fast).await,
        Command::Keys { action, config } => {
            std::process::exit(switchyard::cli::keys::run(&config, action))
        }
        Command::Check { config, no_keys } => {
            std::process::exit(switchyard::cli::check::run(&config, no_keys))
        }
        Command::Sim {
            listen,
            name,
            models,
            realistic,
            wire,
            fail_status,
        } => {
            switchyard::cli::sim::run(switchyard::cli::sim::Options {
                listen: &listen,
                name: &name,
                models: &models,
                realistic,
                wire,
                fail_status,
            })
            .await
        }
        Command::Classify {
            config,
            json,
            eval,
            misses,
            file,
        } => {
            let opts = switchyard::cli::classify::Options {
                config: config.as_deref(),
                json,
                eval,
                misses,
                file: file.as_deref(),
            };
            std::process::exit(switchyard::cli::classify::run(opts).await)
        }
        Command::Report {
            ledger,
            since,
            until,
            by,
            format,
            out,
            svg_dir,
        } => std::process::exit(switchyard::cli::report::run(
            switchyard::cli::report::Options {
                ledger: &ledger,
                since: since.as_deref(),
                until: until.as_deref(),
                by: &by,
                format,
                out: out.as_deref(),
                svg_dir: svg_dir.as_deref(),
            },
        )),
        Command::Simulate {
            workload,
            config,
            policies,
            strategies,
            seed,
            output_tokens,
            baseline,
            format,
            out,
            svg_dir,
        } => {
            let opts = switchyard::cli::simulate::Options {
                workload: &workload,
                config: config.as_deref(),
                policies: &policies,
                strategies: &strategies,
                seed,
                output_tokens,
                baseline: baseline.as_deref(),
                format,
                out: out.as_deref(),
                svg_dir: svg_dir.as_deref(),
            };
            std::process::exit(switchyard::cli::simulate::run(opts).await)
        }
    }
}
