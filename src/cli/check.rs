//! `switchyard check`: validates every file and prints each problem with file, line and field.

use std::path::Path;

use crate::config::{Config, KeyMode, Sources};

/// Returns the process exit code: 0 when the config is valid, 1 otherwise.
pub fn run(config: &Path, no_keys: bool) -> i32 {
    let keys = if no_keys {
        KeyMode::Ignore
    } else {
        KeyMode::Require
    };
    let env = |k: &str| std::env::var(k).ok();
    let result = Sources::read(config).and_then(|s| Config::build(&s, &env, keys));
    match result {
        Ok(c) => {
            println!(
                "ok: {} providers, {} models, {} policies (default `{}`), version {}",
                c.providers.len(),
                c.models.len(),
                c.policies.len(),
                c.default_policy().name,
                c.version
            );
            for w in c.access.warnings() {
                eprintln!("warning: {w}");
            }
            0
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {p}");
            }
            eprintln!("{} problem(s) found", problems.len());
            1
        }
    }
}
