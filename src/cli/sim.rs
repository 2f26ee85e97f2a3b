//! `switchyard sim`: one simulated provider as its own process, for end-to-end tests and benchmarks.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::demo::SimWire;
use crate::sim::{Behavior, SimSettings};

/// What `switchyard sim` runs.
#[derive(Debug)]
pub struct Options<'a> {
    pub listen: &'a str,
    pub name: &'a str,
    /// Comma-separated model ids.
    pub models: &'a str,
    pub realistic: bool,
    pub wire: SimWire,
    /// Answer every call with this HTTP status (and the wire's error body).
    pub fail_status: Option<u16>,
    /// Requests a minute each API key may send (429 beyond), as `SimSettings::key_rpm`.
    pub key_rpm: Option<u32>,
    /// Tokens a minute each key is told it may use, as `SimSettings::key_tpm`.
    pub key_tpm: Option<u32>,
}

/// `--fault NAME[:ARG]`: makes every call misbehave as a hostile upstream of the chosen wire
/// would, so tests through the real binary can reach each failure the router must survive.
/// Flattened into the `sim` command's arguments.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct FaultArgs {
    /// Misbehave on every call: NAME[:ARG] (`--help` lists the faults).
    #[arg(long, value_name = "NAME[:ARG]", value_parser = parse_fault, long_help = fault_help())]
    pub fault: Option<Behavior>,
}

/// Every fault `--fault` knows, as `(syntax, what it does)`; parsed by [`parse_fault`].
pub const FAULTS: &[(&str, &str)] = &[
    ("ok", "answer normally (the default)"),
    ("status:CODE", "this HTTP status with the wire's own error body"),
    (
        "retry_after:TEXT",
        "429 whose Retry-After (Gemini: RetryInfo.retryDelay) is TEXT verbatim: 5, 1e20, -1, NaN, abc",
    ),
    ("retry_after_ms:TEXT", "429 with a retry-after-ms header of TEXT verbatim"),
    ("refuse", "accept each connection and reset it at once, before reading it"),
    ("reset_before_headers", "read the request, then reset the connection without a status line"),
    ("cut_after[:N]", "reset the connection after N content chunks (default 3)"),
    ("error_mid_stream[:N]", "send N content chunks (default 3), then the wire's error event"),
    ("stall", "take the request and never answer (until the sim stops)"),
    ("stall_mid_stream[:N]", "send N content chunks (default 3), then hang, connection open"),
    ("blanks[:MS]", "a stream of keep-alive blanks only (`data:`, `: ping`) every MS ms (default 1000)"),
    ("blanks_after:N[:MS]", "N content chunks, then only keep-alive blanks every MS ms (default 1000)"),
    ("no_done", "a complete answer whose stream ends without [DONE] / message_stop / finishReason"),
    ("truncated", "200 with the first half of the answer, then a clean end"),
    ("garbage", "200 whose body is not JSON (streaming: a broken first event)"),
    ("huge[:BYTES]", "200 answer with BYTES of content (default 50000000)"),
    ("huge_error[:STATUS[:BYTES]]", "STATUS (default 500) with an error message BYTES long (default 1000000)"),
    ("trickle[:MS]", "a normal answer whose chunks come MS ms apart (default 500)"),
    ("echo_key[:STATUS]", "STATUS (default 401) whose error message quotes the whole API key received"),
];

/// The `--fault` help: one line per fault.
fn fault_help() -> String {
    let mut help = String::from(
        "Misbehave on every call as a hostile upstream of the chosen wire would (overrides --fail-status):",
    );
    for (syntax, what) in FAULTS {
        let _ = write!(help, "\n  {syntax:<28} {what}");
    }
    help
}

/// Parses `NAME[:ARG[:ARG]]` (see [`FAULTS`]) into the behavior every call then gets.
pub fn parse_fault(spec: &str) -> Result<Behavior, String> {
    let (name, rest) = match spec.split_once(':') {
        Some((name, rest)) => (name, Some(rest)),
        None => (spec, None),
    };
    let args: Vec<&str> = rest.map(|r| r.split(':').collect()).unwrap_or_default();
    let takes = |max: usize| {
        if args.len() > max {
            Err(format!(
                "`{name}` takes at most {max} argument(s), got `{spec}`"
            ))
        } else {
            Ok(())
        }
    };
    let num = |i: usize, default: Option<u64>| -> Result<u64, String> {
        match args.get(i) {
            Some(a) => a
                .parse()
                .map_err(|_| format!("`{name}`: `{a}` is not a whole number")),
            None => default.ok_or_else(|| format!("`{name}` needs an argument: see --help")),
        }
    };
    let status = |i: usize, default: Option<u64>| -> Result<u16, String> {
        let code = num(i, default)?;
        match u16::try_from(code) {
            Ok(c) if (100..=999).contains(&c) => Ok(c),
            _ => Err(format!("`{name}`: {code} is not an HTTP status")),
        }
    };
    let count = |i: usize, default: Option<u64>| num(i, default).map(|n| n as usize);
    let ms = |i: usize, default: u64| num(i, Some(default)).map(Duration::from_millis);
    let text = || {
        rest.map(str::to_owned)
            .ok_or_else(|| format!("`{name}` needs :TEXT"))
    };
    let behavior = match name {
        "ok" => takes(0).map(|()| Behavior::Ok)?,
        "status" => {
            takes(1)?;
            Behavior::WireError {
                status: status(0, None)?,
            }
        }
        "retry_after" => Behavior::RateLimitedRaw {
            retry_after: Some(text()?),
            retry_after_ms: None,
        },
        "retry_after_ms" => Behavior::RateLimitedRaw {
            retry_after: None,
            retry_after_ms: Some(text()?),
        },
        "refuse" => takes(0).map(|()| Behavior::Refuse)?,
        "reset_before_headers" => takes(0).map(|()| Behavior::ResetBeforeHeaders)?,
        "cut_after" => {
            takes(1)?;
            Behavior::CutStreamAfter {
                chunks: count(0, Some(3))?,
            }
        }
        "error_mid_stream" => {
            takes(1)?;
            Behavior::ErrorMidStream {
                chunks: count(0, Some(3))?,
            }
        }
        "stall" => takes(0).map(|()| Behavior::Stall)?,
        "stall_mid_stream" => {
            takes(1)?;
            Behavior::StallMidStream {
                chunks: count(0, Some(3))?,
            }
        }
        "blanks" => {
            takes(1)?;
            Behavior::Blanks {
                chunks: 0,
                every: ms(0, 1000)?,
            }
        }
        "blanks_after" => {
            takes(2)?;
            Behavior::Blanks {
                chunks: count(0, None)?,
                every: ms(1, 1000)?,
            }
        }
        "no_done" => takes(0).map(|()| Behavior::NoTerminal)?,
        "truncated" => takes(0).map(|()| Behavior::Truncated)?,
        "garbage" => takes(0).map(|()| Behavior::Malformed)?,
        "huge" => {
            takes(1)?;
            Behavior::Huge {
                bytes: count(0, Some(50_000_000))?,
            }
        }
        "huge_error" => {
            takes(2)?;
            Behavior::HugeError {
                status: status(0, Some(500))?,
                bytes: count(1, Some(1_000_000))?,
            }
        }
        "trickle" => {
            takes(1)?;
            Behavior::Trickle { every: ms(0, 500)? }
        }
        "echo_key" => {
            takes(1)?;
            Behavior::EchoKey {
                status: status(0, Some(401))?,
            }
        }
        _ => {
            let names: Vec<&str> = FAULTS
                .iter()
                .filter_map(|(s, _)| s.split([':', '[']).next())
                .collect();
            return Err(format!(
                "unknown fault `{name}`; one of: {}",
                names.join(", ")
            ));
        }
    };
    Ok(behavior)
}

/// Serves until Ctrl-C; the first stdout line is `sim listening on BASE_URL`, where BASE_URL is
/// what a provider file's `base_url` must be (`http://ADDR/v1`, or `http://ADDR/v1beta` for
/// Gemini). With a `fault`, every call misbehaves as it says (see [`FaultArgs`]); it takes
/// precedence over `fail_status`.
pub async fn run(o: Options<'_>, fault: Option<Behavior>) -> anyhow::Result<()> {
    let models: Vec<&str> = o
        .models
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .collect();
    let mut settings = if o.realistic {
        SimSettings::realistic(o.name, models)
    } else {
        SimSettings::fast(o.name, models)
    };
    settings.key_rpm = o.key_rpm;
    settings.key_tpm = o.key_tpm;
    let addr: SocketAddr = o
        .listen
        .parse()
        .with_context(|| format!("`{}` is not a socket address", o.listen))?;
    let upstream = o
        .wire
        .spawn_on(settings, addr)
        .await
        .with_context(|| format!("binding {}", o.listen))?;
    if let Some(status) = o.fail_status {
        upstream.control().set_behavior(o.wire.outage(status));
    }
    if let Some(fault) = fault {
        upstream.control().set_behavior(fault);
    }
    println!("sim listening on {}", o.wire.base_url(&upstream));
    crate::cli::serve::shutdown_signal().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        fault: FaultArgs,
    }

    fn parse(spec: &str) -> Result<Behavior, String> {
        Cli::try_parse_from(["sim", "--fault", spec])
            .map(|c| c.fault.fault.unwrap_or(Behavior::Ok))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_fault_parses_with_and_without_arguments() {
        let ms = Duration::from_millis;
        let cases = [
            ("ok", Behavior::Ok),
            ("status:503", Behavior::WireError { status: 503 }),
            (
                "retry_after:1e20",
                Behavior::RateLimitedRaw {
                    retry_after: Some("1e20".into()),
                    retry_after_ms: None,
                },
            ),
            (
                "retry_after:Wed, 21 Oct 2015 07:28:00 GMT",
                Behavior::RateLimitedRaw {
                    retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
                    retry_after_ms: None,
                },
            ),
            (
                "retry_after_ms:-1",
                Behavior::RateLimitedRaw {
                    retry_after: None,
                    retry_after_ms: Some("-1".into()),
                },
            ),
            ("refuse", Behavior::Refuse),
            ("reset_before_headers", Behavior::ResetBeforeHeaders),
            ("cut_after", Behavior::CutStreamAfter { chunks: 3 }),
            ("cut_after:0", Behavior::CutStreamAfter { chunks: 0 }),
            ("error_mid_stream:2", Behavior::ErrorMidStream { chunks: 2 }),
            ("stall", Behavior::Stall),
            ("stall_mid_stream", Behavior::StallMidStream { chunks: 3 }),
            ("stall_mid_stream:5", Behavior::StallMidStream { chunks: 5 }),
            (
                "blanks",
                Behavior::Blanks {
                    chunks: 0,
                    every: ms(1000),
                },
            ),
            (
                "blanks:250",
                Behavior::Blanks {
                    chunks: 0,
                    every: ms(250),
                },
            ),
            (
                "blanks_after:2:50",
                Behavior::Blanks {
                    chunks: 2,
                    every: ms(50),
                },
            ),
            ("no_done", Behavior::NoTerminal),
            ("truncated", Behavior::Truncated),
            ("garbage", Behavior::Malformed),
            ("huge", Behavior::Huge { bytes: 50_000_000 }),
            ("huge:1000", Behavior::Huge { bytes: 1000 }),
            (
                "huge_error",
                Behavior::HugeError {
                    status: 500,
                    bytes: 1_000_000,
                },
            ),
            (
                "huge_error:413:10",
                Behavior::HugeError {
                    status: 413,
                    bytes: 10,
                },
            ),
            ("trickle:20", Behavior::Trickle { every: ms(20) }),
            ("echo_key", Behavior::EchoKey { status: 401 }),
            ("echo_key:403", Behavior::EchoKey { status: 403 }),
        ];
        for (spec, want) in &cases {
            assert_eq!(parse(spec).as_ref(), Ok(want), "{spec}");
        }
        for (syntax, _) in FAULTS {
            let name = syntax.split([':', '[']).next().unwrap_or_default();
            assert!(
                cases
                    .iter()
                    .any(|(spec, _)| spec.split(':').next() == Some(name)),
                "no parse case for `{name}`"
            );
        }
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for spec in [
            "",
            "nope",
            "status",
            "status:42",
            "status:70000",
            "huge:lots",
            "stall:1",
            "stall_mid_stream:1:2",
            "blanks_after",
            "retry_after",
            "echo_key:-1",
        ] {
            let err = parse(spec).expect_err(spec);
            assert!(err.contains("fault") || err.contains('`'), "{spec}: {err}");
        }
    }

    #[test]
    fn help_lists_every_fault_on_its_own_line() {
        let help = Cli::command().render_long_help().to_string();
        for (syntax, what) in FAULTS {
            let line = help
                .lines()
                .find(|l| l.trim_start().starts_with(syntax))
                .unwrap_or_else(|| panic!("`{syntax}` missing from\n{help}"));
            assert!(line.contains(what), "{line}");
        }
    }
}
