//! `switchyard report`: spend, baseline cost and saving from a usage ledger, grouped, with totals.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::report::aggregate::{aggregate, Dimension, Window};
use crate::report::html::write_svgs;
use crate::report::ledger_read::read_ledger;
use crate::report::report_view::{self, Meta};
use crate::report::time::parse_bound;

/// Output formats of `report` and `simulate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns; dollar decimals from the table's largest amount.
    Table,
    /// Comma-separated; dollars to 1e-10 in fixed notation.
    Csv,
    /// One JSON document; dollars to 1e-10.
    Json,
    /// One self-contained HTML page with charts.
    Html,
}

/// Options of one `report` run.
pub struct Options<'a> {
    pub ledger: &'a Path,
    /// Read from the Postgres sink (URL, table) instead of `ledger`.
    pub postgres: Option<(&'a str, &'a str)>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub by: &'a [Dimension],
    pub format: Format,
    pub out: Option<&'a Path>,
    pub svg_dir: Option<&'a Path>,
}

/// Opens a file, or stdin for `-`.
pub(crate) fn open(path: &Path) -> std::io::Result<Box<dyn BufRead>> {
    if path == Path::new("-") {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    Ok(Box::new(std::io::BufReader::new(std::fs::File::open(
        path,
    )?)))
}

/// The ledger's lines: from the Postgres sink (URL, table) when given, else the file.
pub(crate) fn open_source(
    path: &Path,
    postgres: Option<(&str, &str)>,
) -> Result<Box<dyn BufRead>, String> {
    let Some((url, table)) = postgres else {
        return open(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    };
    // a runtime of its own on its own thread: callers may or may not already be in one
    let (url, table) = (url.to_owned(), table.to_owned());
    let lines = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(crate::usage::postgres::read_all(&url, &table))
    })
    .join()
    .map_err(|_| "reading postgres failed".to_owned())??;
    let mut text = lines.join("\n");
    text.push('\n');
    Ok(Box::new(std::io::Cursor::new(text.into_bytes())))
}

/// Where the lines came from, for messages and report metadata (never the URL: it may hold
/// a password).
pub(crate) fn source_name(path: &Path, postgres: Option<(&str, &str)>) -> String {
    match postgres {
        Some((_, table)) => format!("postgres table {table}"),
        None => path.display().to_string(),
    }
}

/// Writes the output to `out`, or stdout when absent.
pub(crate) fn emit(out: Option<&Path>, text: &str) -> Result<(), String> {
    if let Some(p) = out {
        std::fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
    } else {
        let mut o = std::io::stdout().lock();
        o.write_all(text.as_bytes())
            .and_then(|()| o.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))
    }
}

/// Returns the exit code: 0, or 1 when an argument is wrong or the ledger cannot be read.
/// Bad ledger lines are reported on stderr with their line numbers and skipped.
pub fn run(opts: Options<'_>) -> i32 {
    let bound = |s: Option<&str>, end| s.map(|s| parse_bound(s, end)).transpose();
    let window = match (bound(opts.since, false), bound(opts.until, true)) {
        (Ok(since), Ok(until)) => Window { since, until },
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let source = source_name(opts.ledger, opts.postgres);
    let input = match open_source(opts.ledger, opts.postgres) {
        Ok(r) => read_ledger(r),
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    for b in &input.bad {
        eprintln!("{source}: {b}");
    }
    let report = aggregate(&input.entries, window, opts.by);
    let meta = Meta {
        source,
        since: opts.since.map(str::to_owned),
        until: opts.until.map(str::to_owned),
        lines_read: input.entries.len() + input.bad.len(),
        lines_skipped: input.bad.len(),
    };
    let text = match opts.format {
        Format::Table => format!(
            "{}\n\n{}",
            meta.describe(),
            report_view::table(&report).render(true)
        ),
        Format::Csv => report_view::csv(&report),
        Format::Json => {
            serde_json::to_string_pretty(&report_view::json(&report, &meta)).unwrap_or_default()
                + "\n"
        }
        Format::Html => report_view::html(&report, &meta),
    };
    if let Some(note) = empty_note(&input.entries, report.total.requests, &meta) {
        eprintln!("note: {note}");
    }
    let mut code = 0;
    if let Err(e) = emit(opts.out, &text) {
        eprintln!("error: {e}");
        code = 1;
    }
    if let Some(dir) = opts.svg_dir {
        if let Err(e) = write_svgs(dir, &report_view::charts(&report)) {
            eprintln!("error: cannot write charts to {}: {e}", dir.display());
            code = 1;
        }
    }
    if !input.bad.is_empty() {
        eprintln!("{} bad line(s) skipped", input.bad.len());
    }
    code
}

/// Why a report came out empty, when it did: an empty ledger, or a window no line falls in
/// (with the span the ledger does cover, so the fix is obvious).
fn empty_note(
    entries: &[crate::report::ledger_read::Entry],
    in_window: u64,
    meta: &Meta,
) -> Option<String> {
    if in_window > 0 {
        return None;
    }
    if entries.is_empty() {
        return Some(format!(
            "{} has no usage lines: the report is empty",
            meta.source
        ));
    }
    let times: Vec<std::time::SystemTime> = entries.iter().filter_map(|e| e.time).collect();
    let span = match (times.iter().min(), times.iter().max()) {
        (Some(a), Some(b)) => format!(
            "; its lines run from {} to {}",
            humantime::format_rfc3339_seconds(*a),
            humantime::format_rfc3339_seconds(*b)
        ),
        _ => String::new(),
    };
    let window = match (&meta.since, &meta.until) {
        (Some(a), Some(b)) => format!("from {a} until {b}"),
        (Some(a), None) => format!("since {a}"),
        (None, Some(b)) => format!("until {b}"),
        (None, None) => "selected".to_owned(),
    };
    Some(format!(
        "none of the {} line(s) of {} is in the window {window}{span}: the report is empty",
        entries.len(),
        meta.source
    ))
}
