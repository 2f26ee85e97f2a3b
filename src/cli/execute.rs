//! Runs one parsed sub-command: the whole of what the `switchyard` binary does.

use super::{check, classify, classify_eval, keys, report, serve, sim, simulate, train, Command};

/// Runs `command` to the end; the process exit code (0 for commands that succeed by
/// returning, such as `serve` after a clean shutdown).
pub async fn execute(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Serve { config } => serve::run(&config).await.map(|()| 0),
        Command::Demo {
            listen,
            ledger,
            fast,
        } => crate::demo::run(&listen, &ledger, fast).await.map(|()| 0),
        Command::Keys { action, config } => Ok(keys::run(&config, action)),
        Command::Check { config, no_keys } => Ok(check::run(&config, no_keys)),
        Command::Sim {
            listen,
            name,
            models,
            realistic,
            wire,
            fail_status,
            key_rpm,
            key_tpm,
            fault,
        } => sim::run(
            sim::Options {
                listen: &listen,
                name: &name,
                models: &models,
                realistic,
                wire,
                fail_status,
                key_rpm,
                key_tpm,
            },
            fault.fault,
        )
        .await
        .map(|()| 0),
        Command::Classify {
            config,
            json,
            eval,
            misses,
            cv,
            policy,
            l2,
            source_weights,
            balance,
            no_tune,
            files,
        } => {
            if eval {
                return Ok(classify_eval::run(classify_eval::Options {
                    config: config.as_deref(),
                    policy: policy.as_deref(),
                    files: &files,
                    cv,
                    misses,
                    json,
                    fit: classify_eval::FitSettings {
                        l2,
                        source_weights,
                        balance,
                        tune: !no_tune,
                    },
                }));
            }
            let opts = classify::Options {
                config: config.as_deref(),
                json,
                files: &files,
            };
            Ok(classify::run(opts).await)
        }
        Command::Report {
            ledger,
            postgres,
            table,
            since,
            until,
            by,
            format,
            out,
            svg_dir,
        } => Ok(report::run(report::Options {
            ledger: ledger.as_deref().unwrap_or(std::path::Path::new("-")),
            postgres: postgres.as_deref().map(|url| (url, table.as_str())),
            since: since.as_deref(),
            until: until.as_deref(),
            by: &by,
            format,
            out: out.as_deref(),
            svg_dir: svg_dir.as_deref(),
        })),
        Command::Simulate {
            workload,
            postgres,
            table,
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
            let opts = simulate::Options {
                workload: workload.as_deref().unwrap_or(std::path::Path::new("-")),
                postgres: postgres.as_deref().map(|url| (url, table.as_str())),
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
            Ok(simulate::run(opts).await)
        }
        Command::Train {
            labelled,
            policy,
            out,
            l2,
            source_weights,
            balance,
            no_tune,
        } => Ok(train::run(train::Options {
            labelled: &labelled,
            policy: &policy,
            out: &out,
            fit: classify_eval::FitSettings {
                l2,
                source_weights,
                balance,
                tune: !no_tune,
            },
        })),
    }
}
