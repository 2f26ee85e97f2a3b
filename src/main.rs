//! The `switchyard` binary: parses the command line and runs one sub-command.

use clap::Parser;
use switchyard::cli::{execute, Cli};

/// mimalloc rather than glibc's malloc: a proxied request allocates and frees ~100 times, and
/// glibc spent ~24k instructions per request on it, with its arena lock contended between the
/// two workers at 50 connections (figures in docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc keeps memory it has freed committed for 10 ms (100 ms in its arenas) and purges
/// only when next called, so a router that had just started, or gone quiet after a burst, held
/// 15-20 MB of freed memory (43.8 MB RSS after start instead of 27.6; docs/benchmarks.md).
/// `MIMALLOC_PURGE_DELAY=0` returns it at once, for about 0.1 more `madvise` per request. The
/// option is read from the environment when the allocator starts, before `main` (setting it
/// later takes unsafe code, which this crate forbids), so the binary re-executes itself once
/// with it set, unless the environment already sets it (any value, `10` for mimalloc's own).
/// If the re-execution fails the router simply runs as it is.
fn purge_freed_memory_promptly() {
    use std::os::unix::process::CommandExt;
    const OPTION: &str = "MIMALLOC_PURGE_DELAY";
    if std::env::var_os(OPTION).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new(exe);
    if let Some(name) = args.next() {
        again.arg0(name);
    }
    // returns only if the exec failed
    let _ = again.args(args).env(OPTION, "0").exec();
}

fn main() {
    purge_freed_memory_promptly();
    run();
}

#[tokio::main]
async fn run() {
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
