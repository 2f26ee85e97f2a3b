//! The HTML report as a reader sees it in headless Chromium at 1400 px: the per-model table is
//! there without `--by`, no table needs horizontal scrolling, and money and axis labels are
//! consistent. Skipped (with a message) when Chromium is not installed; scripts/test-all
//! installs it. Screenshots stay under target/test-output/.

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn report_html(args: &[&str], out: &Path) -> String {
    let status = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .current_dir(ROOT)
        .args([
            "report",
            "--ledger",
            "examples/ledger-sample.jsonl",
            "--format",
            "html",
            "--out",
        ])
        .arg(out)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(out).unwrap()
}

/// Loads `html` at 1400×1000 with a probe script appended; returns the DOM after load, whose
/// `<body data-overflow>` lists every element wider than its box.
fn measure(browser: &Path, html: &str, name: &str) -> String {
    let dir = Path::new(ROOT).join("target/test-output");
    std::fs::create_dir_all(&dir).unwrap();
    let probe = r#"<script>
const wide = [...document.querySelectorAll('.card, main, body')]
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => (e.className || e.tagName) + ':' + e.scrollWidth + '>' + e.clientWidth);
document.body.dataset.overflow = JSON.stringify(wide);
document.body.dataset.docwidth = document.documentElement.scrollWidth;
</script></body>"#;
    let page = dir.join(format!("{name}.probe.html"));
    std::fs::write(&page, html.replace("</body>", probe)).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: &[String]| {
        let out = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[format!(
        "--screenshot={}",
        dir.join(format!("{name}-1400.png")).display()
    )]);
    run(&["--dump-dom".to_owned()])
}

fn overflow(dom: &str) -> String {
    let start = dom.find("data-overflow=\"").expect("probe ran") + "data-overflow=\"".len();
    dom[start..start + dom[start..].find('"').unwrap()].replace("&quot;", "\"")
}

#[test]
fn without_by_the_html_report_has_the_per_model_table() {
    let dir = tempfile::tempdir().unwrap();
    let html = report_html(&[], &dir.path().join("r.html"));
    assert!(html.contains("<h2>By model</h2>"), "per-model section");
    for model in ["atlas/atlas-ultra", "lumen/lumen-pro", "swift/swift-mini"] {
        assert!(
            html.contains(&format!("<td class=\"l\">{model}</td>")),
            "{model} row"
        );
    }
    // both tables end in a TOTAL row, with the same money precision as the rows
    assert_eq!(
        html.matches("<tr class=\"total\"><td class=\"l\">TOTAL</td>")
            .count(),
        2
    );
    assert!(
        html.contains("$0.0150"),
        "the sample's cost at demo scale is not $0.01"
    );
    assert!(
        !html.contains("<td>$0.00</td>"),
        "no cent-rounded amounts in a sub-dollar report"
    );
}

#[test]
fn no_table_needs_horizontal_scrolling_at_1400_px() {
    let Some(browser) = chromium() else {
        eprintln!("chromium not installed; skipping the layout check");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [
        ("report-totals", vec![]),
        ("report-by-model-day", vec!["--by", "model", "--by", "day"]),
    ] {
        let html = report_html(&args, &dir.path().join(format!("{name}.html")));
        let dom = measure(&browser, &html, name);
        assert_eq!(
            overflow(&dom),
            "[]",
            "{name}: elements wider than their box"
        );
    }
}
