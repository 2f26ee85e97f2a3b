//! The `switchyard` binary: parses the command line and runs one sub-command.

use clap::Parser;
use switchyard::cli::{execute, Cli};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let code = execute(Cli::parse().command).await?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}
