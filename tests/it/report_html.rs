//! The HTML report and comparison open in headless Chromium without errors and contain their
//! SVG charts; screenshots are kept under target/test-output/ for a look. Skipped (with a
//! message) when Chromium is not installed; scripts/test-all installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn output_dir() -> PathBuf {
    let d = Path::new(ROOT).join("target/test-output");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs headless Chromium on the page: its DOM after load, and a screenshot at `shot`.
fn open_in_chromium(browser: &Path, page: &Path, shot: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let common = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    };
    let url = format!("file://{}", page.display());
    let mut dump = Command::new(browser);
    common(&mut dump);
    let out = dump.arg("--dump-dom").arg(&url).output().unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    let mut screenshot = Command::new(browser);
    common(&mut screenshot);
    let out = screenshot
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2000")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::metadata(shot).is_ok_and(|m| m.len() > 10_000),
        "screenshot written"
    );
    dom
}

fn assert_charts(dom: &str, titles: &[&str]) {
    assert!(dom.contains("</html>"), "the page loaded");
    assert!(!dom.contains("ERR_"), "no browser error page");
    let charts = dom.matches("<svg").count();
    assert!(charts >= titles.len(), "{charts} <svg> elements");
    for t in titles {
        assert!(dom.contains(t), "chart title `{t}` missing");
    }
    assert!(dom.contains("<rect"), "bars drawn");
    assert!(
        !dom.contains("NaN") && !dom.contains("inf\""),
        "no broken numbers"
    );
}

/// Eight days of traffic over three models, so the over-time chart has a line to draw.
fn ledger_fixture() -> String {
    let models = [
        ("openai/gpt-4.1-nano", 0.10, 0.40, "simple"),
        ("openai/gpt-4.1-mini", 0.40, 1.60, "medium"),
        ("openai/gpt-4.1", 2.00, 8.00, "complex"),
    ];
    let mut out = String::new();
    for day in 1..=8u64 {
        for i in 0..(10 + day * 3) {
            let (model, pin, pout, class) = models[((i + day) % 3) as usize];
            let (p, c) = (400 + i * 37, 150 + (i * 53) % 700);
            let cost = (p as f64 * pin + c as f64 * pout) / 1e6;
            let base = (p as f64 * 2.0 + c as f64 * 8.0) / 1e6;
            out.push_str(&serde_json::json!({
                "ts": format!("2026-05-{day:02}T{:02}:15:00.000Z", i % 24),
                "request_id": format!("r{day}-{i}"), "requested_model": "auto",
                "model": model, "provider": model.split('/').next(), "complexity": class,
                "rule": class, "user": if i % 2 == 0 { "ana" } else { "ben" },
                "prompt_tokens": p, "completion_tokens": c, "cost_usd": cost,
                "baseline_cost_usd": base, "saving_usd": base - cost,
                "latency_ms": 200.0 + i as f64 * 10.0, "ttft_ms": 80.0, "failovers": u32::from(i % 7 == 0),
                "status": 200, "outcome": "ok"
            }).to_string());
            out.push('\n');
        }
    }
    out
}

#[test]
fn html_report_and_comparison_render_in_chromium() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install -y chromium, or run scripts/test-all)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    std::fs::write(&ledger, ledger_fixture()).unwrap();
    let report = dir.path().join("report.html");
    let svgs = dir.path().join("svg");
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["report", "--by", "model", "--format", "html", "--ledger"])
        .arg(&ledger)
        .arg("--out")
        .arg(&report)
        .arg("--svg-dir")
        .arg(&svgs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "self-contained: nothing to fetch"
    );
    assert!(
        !html.contains("<script") && !html.contains("<link"),
        "no scripts, no external CSS"
    );
    for name in ["cost-per-model", "traffic-share", "cost-over-time"] {
        let svg = std::fs::read_to_string(svgs.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    }
    let out_dir = output_dir();
    let dom = open_in_chromium(&browser, &report, &out_dir.join("report.png"));
    assert_charts(
        &dom,
        &[
            "Cost per model",
            "Traffic share per model",
            "Cost and saving over time",
        ],
    );
    assert!(
        dom.contains("2026-05-08") && dom.contains("polyline"),
        "a line per day"
    );
    std::fs::copy(&report, out_dir.join("report.html")).unwrap();

    let compare = dir.path().join("simulate.html");
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "simulate",
            "--format",
            "html",
            "--seed",
            "42",
            "--strategy",
            "cheapest",
        ])
        .args(["--strategy", "always:openai/gpt-4.1", "--workload"])
        .arg(Path::new(ROOT).join("examples/workload.jsonl"))
        .arg("--policy")
        .arg(Path::new(ROOT).join("policies/default.yaml"))
        .arg("--policy")
        .arg(Path::new(ROOT).join("examples/policies/budget.yaml"))
        .arg("--out")
        .arg(&compare)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = open_in_chromium(&browser, &compare, &out_dir.join("simulate.png"));
    assert_charts(
        &dom,
        &[
            "Total cost per strategy",
            "Traffic share per model",
            "Quality risk",
        ],
    );
    for s in ["default", "budget", "cheapest", "always:openai/gpt-4.1"] {
        assert!(dom.contains(s), "strategy {s} shown");
    }
    std::fs::copy(&compare, out_dir.join("simulate.html")).unwrap();
}
