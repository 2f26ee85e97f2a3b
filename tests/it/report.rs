//! `switchyard report`: arithmetic against hand-computed figures, grouping, time filters,
//! percentiles, rounding (table) versus full precision (JSON, CSV), bad lines, empty input.

use std::io::Write;
use std::process::{Command, Output};

use serde_json::Value;

// Prices per 1M tokens: cheap/c-1 0.5 in / 2.0 out; premium/p-1 (the baseline) 10 / 30.
// 1: 1000 + 500 tokens on c-1:      cost 0.0005 + 0.001 = 0.0015;  baseline 0.01 + 0.015 = 0.025
// 2: 2M + 1M tokens on c-1:         cost 1 + 2 = 3;                 baseline 20 + 30 = 50
// 3: 100k + 20k on p-1, 1 failover: cost 1 + 0.6 = 1.6;             baseline 1.6, saving 0
// 4: failed (502), nothing billed
// 5: cache hit: costs 0, baseline 5000 + 2500 tokens = 0.05 + 0.075 = 0.125, all saved
const LEDGER: &str = r#"{"ts":"2026-03-01T10:00:00.000Z","request_id":"r1","user":"alice","requested_model":"auto","rule":"simple","model":"cheap/c-1","provider":"cheap","complexity":"simple","prompt_tokens":1000,"completion_tokens":500,"cost_usd":0.0015,"baseline_model":"premium/p-1","baseline_cost_usd":0.025,"saving_usd":0.0235,"latency_ms":100.0,"ttft_ms":20.0,"failovers":0,"status":200,"outcome":"ok"}
{"ts":"2026-03-01T11:00:00.000Z","request_id":"r2","user":"bob","requested_model":"auto","rule":"medium","model":"cheap/c-1","provider":"cheap","complexity":"medium","prompt_tokens":2000000,"completion_tokens":1000000,"cost_usd":3.0,"baseline_model":"premium/p-1","baseline_cost_usd":50.0,"saving_usd":47.0,"latency_ms":300.0,"ttft_ms":null,"failovers":0,"status":200,"outcome":"ok"}
{"ts":"2026-03-02T09:00:00.000Z","request_id":"r3","user":"alice","requested_model":"auto","rule":"complex","model":"premium/p-1","provider":"premium","complexity":"complex","prompt_tokens":100000,"completion_tokens":20000,"cost_usd":1.6,"baseline_model":"premium/p-1","baseline_cost_usd":1.6,"saving_usd":0.0,"latency_ms":900.0,"ttft_ms":50.0,"failovers":1,"status":200,"outcome":"ok"}
{"ts":"2026-03-02T12:00:00.000Z","request_id":"r4","user":null,"requested_model":"auto","rule":"complex","model":"premium/p-1","provider":"premium","complexity":"complex","prompt_tokens":50,"completion_tokens":0,"cost_usd":0.0,"baseline_model":"premium/p-1","baseline_cost_usd":0.0,"saving_usd":0.0,"latency_ms":1200.0,"ttft_ms":null,"failovers":0,"status":502,"outcome":"all_candidates_failed"}
{"ts":"2026-03-03T08:00:00.000Z","request_id":"r5","requested_model":"auto","rule":"simple","model":"cheap/c-1","provider":"cheap","complexity":"simple","prompt_tokens":5000,"completion_tokens":2500,"cost_usd":0.0,"baseline_model":"premium/p-1","baseline_cost_usd":0.125,"saving_usd":0.0,"latency_ms":2.0,"ttft_ms":null,"failovers":0,"status":200,"outcome":"cache_hit"}
"#;

fn ledger(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn report(file: &tempfile::NamedTempFile, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("report")
        .arg("--ledger")
        .arg(file.path())
        .args(args)
        .output()
        .unwrap()
}

fn json(file: &tempfile::NamedTempFile, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = report(file, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(v: &Value, expected: f64) {
    let got = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((got - expected).abs() < 1e-9, "{got} != {expected}");
}

fn group<'a>(j: &'a Value, key: &[(&str, &str)]) -> &'a Value {
    j["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| key.iter().all(|(k, v)| g["key"][k] == *v))
        .unwrap_or_else(|| panic!("no group {key:?} in {}", j["groups"]))
}

#[test]
fn totals_match_hand_computed_figures_at_full_precision() {
    let f = ledger(LEDGER);
    let j = json(&f, &[]);
    let t = &j["total"];
    assert_eq!(t["requests"], 5);
    assert_eq!(t["prompt_tokens"], 1000 + 2_000_000 + 100_000 + 50 + 5000);
    assert_eq!(t["completion_tokens"], 500 + 1_000_000 + 20_000 + 2500);
    close(&t["cost_usd"], 0.0015 + 3.0 + 1.6);
    close(&t["baseline_cost_usd"], 0.025 + 50.0 + 1.6 + 0.125);
    // saving: 0.0235 + 47 + 0 + 0 + the cache hit's 0.125
    close(&t["saving_usd"], 47.1485);
    close(&t["saving_pct"], 47.1485 / 51.75 * 100.0);
    assert_eq!(t["cache_hits"], 1);
    close(&t["cache_saving_usd"], 0.125);
    assert_eq!(t["failovers"], 1);
    assert_eq!(t["errors"], 1);
    close(&t["error_rate_pct"], 20.0);
    // latencies 2, 100, 300, 900, 1200 (nearest rank): p50 = 3rd, p95 = 5th
    close(&t["latency_p50_ms"], 300.0);
    close(&t["latency_p95_ms"], 1200.0);
    // TTFT only on the two streamed requests: 20, 50
    close(&t["ttft_p50_ms"], 20.0);
    close(&t["ttft_p95_ms"], 50.0);
    assert_eq!(j["lines_skipped"], 0);
    assert_eq!(
        j["groups"].as_array().unwrap().len(),
        0,
        "no --by: totals only"
    );
}

#[test]
fn table_rounds_to_the_cent_csv_keeps_full_precision() {
    let f = ledger(LEDGER);
    let out = report(&f, &["--by", "model"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let total = text.lines().find(|l| l.starts_with("TOTAL")).unwrap();
    for cell in ["$4.60", "$51.75", "$47.15", "91.1%", "$0.13", "20.0%"] {
        assert!(total.contains(cell), "{cell} missing from: {total}");
    }
    let c1 = text.lines().find(|l| l.starts_with("cheap/c-1")).unwrap();
    // 0.0015 + 3 + 0 = 3.0015 -> $3.00; baseline 50.15; saving 47.1485 -> $47.15
    assert!(
        c1.contains("$3.00") && c1.contains("$50.15") && c1.contains("$47.15"),
        "{c1}"
    );

    let csv = String::from_utf8(report(&f, &["--by", "model", "--format", "csv"]).stdout).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("model,requests,prompt_tokens,completion_tokens,cost_usd,"));
    let total: Vec<&str> = csv.lines().last().unwrap().split(',').collect();
    assert_eq!(total[0], "TOTAL");
    assert!(
        (total[4].parse::<f64>().unwrap() - 4.6015).abs() < 1e-12,
        "{total:?}"
    );
    assert!(
        (total[6].parse::<f64>().unwrap() - 47.1485).abs() < 1e-9,
        "{total:?}"
    );
}

#[test]
fn groups_by_one_and_two_keys() {
    let f = ledger(LEDGER);
    let j = json(&f, &["--by", "model"]);
    assert_eq!(j["groups"].as_array().unwrap().len(), 2);
    let cheap = group(&j, &[("model", "cheap/c-1")]);
    assert_eq!(cheap["requests"], 3);
    close(&cheap["cost_usd"], 3.0015);
    close(&cheap["baseline_cost_usd"], 50.15);
    let premium = group(&j, &[("model", "premium/p-1")]);
    assert_eq!(
        (premium["requests"].as_u64(), premium["errors"].as_u64()),
        (Some(2), Some(1))
    );
    close(&premium["saving_pct"], 0.0);

    let j = json(&f, &["--by", "model", "--by", "day"]);
    let keys: Vec<(String, String)> = j["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"]["model"].as_str().unwrap().into(),
                g["key"]["day"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("cheap/c-1".into(), "2026-03-01".into()),
            ("cheap/c-1".into(), "2026-03-03".into()),
            ("premium/p-1".into(), "2026-03-02".into()),
        ]
    );
    assert_eq!(
        group(&j, &[("model", "cheap/c-1"), ("day", "2026-03-01")])["requests"],
        2
    );

    // Comma-separated works too; a missing user is its own group.
    let j = json(&f, &["--by", "user,complexity"]);
    assert_eq!(
        group(&j, &[("user", "alice"), ("complexity", "simple")])["requests"],
        1
    );
    assert_eq!(
        group(&j, &[("user", "(none)"), ("complexity", "complex")])["requests"],
        1
    );
    for by in ["provider", "rule", "complexity", "user", "day"] {
        assert!(report(&f, &["--by", by]).status.success(), "--by {by}");
    }
    assert!(!report(&f, &["--by", "colour"]).status.success());
}

#[test]
fn time_filters_dates_and_rfc3339() {
    let f = ledger(LEDGER);
    let n = |args: &[&str]| json(&f, args)["total"]["requests"].as_u64().unwrap();
    assert_eq!(n(&["--since", "2026-03-02"]), 3);
    // A bare --until date includes that whole day.
    assert_eq!(n(&["--until", "2026-03-01"]), 2);
    assert_eq!(
        n(&[
            "--since",
            "2026-03-01T10:30:00Z",
            "--until",
            "2026-03-02T10:00:00Z"
        ]),
        2
    );
    // until is exclusive
    assert_eq!(n(&["--until", "2026-03-01T11:00:00Z"]), 1);
    assert_eq!(
        n(&[
            "--since",
            "2026-03-01T13:00:00+03:00",
            "--until",
            "2026-03-01T14:00:00+03:00"
        ]),
        1
    );
    assert_eq!(n(&["--since", "2027-01-01"]), 0);
    let j = json(&f, &["--since", "2026-03-02", "--until", "2026-03-02"]);
    close(&j["total"]["cost_usd"], 1.6);
    assert_eq!(j["since"], "2026-03-02");
    let bad = report(&f, &["--since", "last tuesday"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("last tuesday"));
}

#[test]
fn bad_lines_are_reported_skipped_and_counted() {
    let text = format!(
        "{LEDGER}not json\n{{\"ts\":\"yesterday\"}}\n\n{{\"ts\":\"2026-03-04T00:00:00Z\",\"cost_usd\":\"free\"}}\n"
    );
    let f = ledger(&text);
    let out = report(&f, &["--format", "json"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for n in ["line 6:", "line 7:", "line 9:", "3 bad line(s) skipped"] {
        assert!(stderr.contains(n), "{n} missing from stderr: {stderr}");
    }
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["lines_skipped"], 3);
    assert_eq!(j["lines_read"], 8);
    assert_eq!(j["total"]["requests"], 5);
    close(&j["total"]["cost_usd"], 4.6015);
}

#[test]
fn empty_ledger_gives_an_empty_report() {
    let f = ledger("");
    for format in ["table", "csv", "json", "html"] {
        let out = report(&f, &["--by", "model", "--format", format]);
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty());
    }
    let j = json(&f, &["--by", "model"]);
    assert_eq!(j["total"]["requests"], 0);
    assert_eq!(j["groups"], serde_json::json!([]));
    assert!(j["total"]["saving_pct"].is_null());
    let missing = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["report", "--ledger", "/nonexistent/ledger.jsonl"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn example_ledger_reads_cleanly() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ledger-sample.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "report", "--ledger", path, "--by", "provider", "--format", "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["lines_skipped"], 0);
    assert!(j["total"]["requests"].as_u64().unwrap() >= 50);
    assert!(
        j["total"]["failovers"].as_u64().unwrap() > 0,
        "the sample has atlas failing"
    );
    let sum: f64 = j["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["cost_usd"].as_f64().unwrap())
        .sum();
    close(&j["total"]["cost_usd"], sum);
}
