//! The `switchyard` binary: parses the command line and runs one sub-command.

use clap::Parser;
use switchyard::cli::{execute, Cli};

/// mimalloc rather than glibc's malloc: a proxied request allocates and frees ~100 times, and
/// glibc spent ~24k instructions per request on it, with its arena lock contended between the
/// two workers at 50 connections (figures in docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
