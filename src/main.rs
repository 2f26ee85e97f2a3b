//! The `switchyard` binary: parses the command line and runs one sub-command.

use clap::Parser;
use switchyard::cli::{execute, Cli};

#[tokio::main]
async fn main() {
    let code = match execute(Cli::parse().command).await {
        Ok(code) => code,
        // the error chain, never a backtrace: with RUST_BACKTRACE=1 set, anyhow's Debug output
        // would bury a config error's problems under sixty lines of frames
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    if code != 0 {
        std::process::exit(code);
    }
}
