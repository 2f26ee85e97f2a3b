//! The live dashboard in real headless Chromium: after known traffic its numbers match `/metrics/json`.
//! One test function, because the Prometheus recorder is process-wide.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{chat, chat_stream, Harness, Upstream};
use serde_json::{json, Value};
use switchyard::sim::Behavior;

const CHROMIUM: &str = "/usr/bin/chromium";

const POLICY: &str = r#"
name: p
aliases: [auto]
baseline: premium/large
rules:
  - name: hard
    when: {complexity: complex}
    route: [premium/large]
  - name: rest
    route: [cheap/mini]
"#;

const SIMPLE: &[&str] = &[
    "What is the capital of France?",
    "Say hello in Spanish.",
    "How many days are in a week?",
    "Name a primary colour.",
    "What is 2 + 2?",
];

const COMPLEX: &str = "Design a sharded, multi-region rate limiter for an API gateway. Prove that \
it never over-admits under concurrent requests and clock skew, compare token bucket, sliding \
window and GCRA step by step, analyse the trade-offs in latency and memory, and write the Rust \
implementation with tests.";

/// What one headless Chromium run printed.
struct Run {
    stdout: String,
    stderr: String,
}

/// Runs Chromium with the shared headless flags plus `extra`, letting the page run for
/// `virtual_ms` of virtual time, off the async runtime (the router under test is served by this
/// runtime); kills it after 90 s.
async fn chromium(virtual_ms: u32, extra: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let profile = tempfile::tempdir().expect("chromium profile dir");
        let out_path = profile.path().join("stdout.txt");
        let err_path = profile.path().join("stderr.txt");
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--virtual-time-budget={virtual_ms}"))
            .arg(format!(
                "--user-data-dir={}",
                profile.path().join("p").display()
            ))
            .args(&extra)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).expect("stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("stderr file"))
            .spawn()
            .expect("start chromium");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if child.try_wait().expect("wait for chromium").is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chromium did not finish within 90 s: {}",
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Run {
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        }
    })
    .await
    .expect("chromium task")
}

/// The page's DOM after its script has polled a few times.
async fn dump_dom(url: &str) -> String {
    let run = chromium(5000, vec!["--dump-dom".into(), url.into()]).await;
    assert!(
        run.stdout.contains("<body"),
        "chromium printed no DOM; stderr:\n{}",
        run.stderr
    );
    run.stdout
}

/// The opening tag of the first element carrying `key="value"`.
fn tag_with<'a>(dom: &'a str, key: &str, value: &str) -> Option<&'a str> {
    let at = dom.find(&format!("{key}=\"{value}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    Some(&dom[start..=end])
}

/// Attribute `attr` of the first element carrying `key="value"`; panics with the tag if absent.
fn attr(dom: &str, key: &str, value: &str, attr: &str) -> String {
    let tag = tag_with(dom, key, value)
        .unwrap_or_else(|| panic!("no element with {key}=\"{value}\" in the page"));
    let needle = format!(" {attr}=\"");
    let at = tag
        .find(&needle)
        .unwrap_or_else(|| panic!("{tag} has no {attr}"))
        + needle.len();
    tag[at..at + tag[at..].find('"').expect("closing quote")].to_owned()
}

/// The machine-readable `data-value` of the element `data-metric="name"`.
fn metric(dom: &str, name: &str) -> String {
    attr(dom, "data-metric", name, "data-value")
}

fn metric_f64(dom: &str, name: &str) -> f64 {
    let v = metric(dom, name);
    v.parse()
        .unwrap_or_else(|_| panic!("data-metric {name} is not a number: {v:?}"))
}

/// Samples of `name` in a `/metrics/json` body.
fn samples<'a>(metrics: &'a Value, name: &str) -> &'a [Value] {
    metrics["metrics"][name]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn sum(list: &[Value]) -> f64 {
    list.iter().map(|s| s["value"].as_f64().unwrap()).sum()
}

/// Prometheus' histogram_quantile over all series of a histogram's `_bucket` samples.
fn quantile(q: f64, buckets: &[Value]) -> Option<f64> {
    let mut by_le: Vec<(f64, f64)> = Vec::new();
    for s in buckets {
        let le = s["labels"]["le"].as_str()?;
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        let v = s["value"].as_f64()?;
        match by_le.iter_mut().find(|(b, _)| *b == bound) {
            Some(e) => e.1 += v,
            None => by_le.push((bound, v)),
        }
    }
    by_le.sort_by(|a, b| a.0.total_cmp(&b.0));
    let &(last, count) = by_le.last()?;
    if by_le.len() < 2 || last != f64::INFINITY || count <= 0.0 {
        return None;
    }
    let rank = q * count;
    let i = by_le.iter().position(|(_, c)| *c >= rank)?;
    if i == by_le.len() - 1 {
        return Some(by_le[i - 1].0);
    }
    let (upper, cumulative) = by_le[i];
    if i == 0 && upper <= 0.0 {
        return Some(upper);
    }
    let (lower, below) = if i == 0 { (0.0, 0.0) } else { by_le[i - 1] };
    Some(lower + (upper - lower) * ((rank - below) / (cumulative - below)))
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(1.0)
}

fn screenshot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("test-output").join("dashboard.png")
}

#[tokio::test]
async fn dashboard_shows_the_numbers_metrics_json_reports() {
    let h = Harness::start(
        vec![
            Upstream::new("cheap", &["mini"]).price("mini", 0.5, 1.5),
            Upstream::new("premium", &["large"]).price("large", 10.0, 30.0),
            Upstream::new("flaky", &["f"])
                .price("f", 2.0, 6.0)
                .breaker(1, 600_000, 1),
        ],
        POLICY,
    )
    .await;

    // The page and its assets are served from the binary with the right content types.
    for (path, kind, marker) in [
        ("/dashboard", "text/html", "/dashboard/app.js"),
        ("/dashboard/app.js", "text/javascript", "/metrics/json"),
        ("/dashboard/style.css", "text/css", ":root"),
    ] {
        let resp = h.client.get(h.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{path} served as {ct}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(marker), "{path} lacks {marker}");
        for remote in ["src=\"http", "href=\"http", "url(http", "@import", "//cdn"] {
            assert!(
                !body.contains(remote),
                "{path} must not load anything from the network ({remote})"
            );
        }
    }

    if !Path::new(CHROMIUM).exists() {
        eprintln!(
            "SKIPPING the browser part of the dashboard test: {CHROMIUM} is missing \
             (install Debian's `chromium` package, as scripts/test-all does)"
        );
        return;
    }
    let page = h.url("/dashboard");

    // No traffic yet: the page renders all zeros without a script error.
    let dom = dump_dom(&page).await;
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script never finished a refresh:\n{dom}"
    );
    assert!(!dom.contains("data-js-error"), "script error:\n{dom}");
    assert_eq!(metric(&dom, "requests_total"), "0");
    assert_eq!(metric(&dom, "spend_usd"), "0.000000");
    assert_eq!(metric(&dom, "error_rate"), "0.000000");
    assert_eq!(metric(&dom, "latency_p50"), "", "no latency samples yet");
    assert_eq!(
        attr(&dom, "data-breaker", "flaky/f", "data-state"),
        "closed"
    );
    for placeholder in ["cache_hit_rate", "budget_usage"] {
        assert_eq!(
            attr(&dom, "data-metric", placeholder, "data-state"),
            "not_configured"
        );
    }

    // Known traffic: five simple answers, one complex stream, one failure that opens a breaker.
    for text in SIMPLE {
        let (status, _, _) = h.post_chat(chat("auto", text)).await;
        assert_eq!(status, 200);
    }
    let (status, _, _) = h.stream_chat(chat_stream("auto", COMPLEX, true)).await;
    assert_eq!(status, 200);
    h.sim("flaky").set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down", "type": "server_error", "param": null, "code": null}}),
    });
    let (status, _, _) = h.post_chat(chat("flaky/f", "hello")).await;
    assert_eq!(status, 502);
    assert_eq!(h.ledger_lines().await.len(), 7); // flushes: the ledger writer records metrics

    let metrics: Value = h.get("/metrics/json").await.1;
    let breakers: Value = h.get("/metrics/circuit-breakers").await.1;
    let dom = dump_dom(&page).await;
    assert!(dom.contains("data-ready=\"1\""), "no refresh:\n{dom}");
    assert!(!dom.contains("data-js-error"), "script error:\n{dom}");

    let requests = samples(&metrics, "switchyard_requests_total");
    let total = sum(requests);
    assert_eq!(total, 7.0);
    assert_eq!(metric(&dom, "requests_total"), "7");
    let errors = sum(&requests
        .iter()
        .filter(|s| {
            s["labels"]["status"]
                .as_str()
                .unwrap()
                .parse::<u16>()
                .unwrap()
                >= 400
        })
        .cloned()
        .collect::<Vec<_>>());
    assert_eq!(errors, 1.0);
    assert_eq!(metric(&dom, "errors_total"), "1");
    assert!(close(metric_f64(&dom, "error_rate"), errors / total, 1e-6));

    let spend = sum(samples(&metrics, "switchyard_cost_usd_total"));
    let saving = sum(samples(&metrics, "switchyard_saving_usd_total"));
    assert!(
        spend > 0.0 && saving > 0.0,
        "spend {spend}, saving {saving}"
    );
    assert_eq!(metric(&dom, "spend_usd"), format!("{spend:.6}"));
    assert_eq!(metric(&dom, "saving_usd"), format!("{saving:.6}"));
    assert!(close(
        metric_f64(&dom, "saving_pct"),
        saving / (spend + saving),
        1e-6
    ));

    let mut by_model: BTreeMap<String, f64> = BTreeMap::new();
    for s in requests {
        *by_model
            .entry(s["labels"]["model"].as_str().unwrap().to_owned())
            .or_default() += s["value"].as_f64().unwrap();
    }
    assert!(by_model.len() >= 2, "{by_model:?}");
    for (model, n) in &by_model {
        assert_eq!(
            attr(&dom, "data-model", model, "data-count"),
            n.to_string(),
            "{model}"
        );
        let share: f64 = attr(&dom, "data-model", model, "data-share")
            .parse()
            .unwrap();
        assert!(close(share, n / total, 1e-6), "{model}: {share}");
    }
    assert_eq!(by_model["cheap/mini"], 5.0);

    for (name, family) in [
        ("latency", "switchyard_request_duration_seconds_bucket"),
        ("ttft", "switchyard_time_to_first_token_seconds_bucket"),
    ] {
        for (q, p) in [(0.5, "p50"), (0.95, "p95")] {
            let want = quantile(q, samples(&metrics, family)).expect(family);
            let shown = metric_f64(&dom, &format!("{name}_{p}"));
            assert!(close(shown, want, 1e-9), "{name} {p}: {shown} vs {want}");
        }
    }

    let failed = breakers["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["model"] == "flaky/f")
        .expect("flaky/f breaker");
    assert_eq!(failed["state"], "open");
    assert_eq!(attr(&dom, "data-breaker", "flaky/f", "data-state"), "open");
    let row = &dom[dom.find("data-breaker=\"flaky/f\"").unwrap()..];
    let row = &row[..row.find("</li>").unwrap()];
    assert!(row.contains(">open</span>"), "breaker row: {row}");
    assert_eq!(
        attr(&dom, "data-breaker", "cheap/mini", "data-state"),
        "closed"
    );

    // A screenshot for people, under the test's output, taken while traffic flows so the
    // throughput chart has something to draw.
    let shot = screenshot_path();
    std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&shot);
    h.sim("flaky").set_behavior(Behavior::Ok);
    let h = std::sync::Arc::new(h);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let traffic = {
        let h = h.clone();
        tokio::spawn(async move {
            for i in 0usize.. {
                let text = if i % 7 == 3 {
                    COMPLEX
                } else {
                    SIMPLE[i % SIMPLE.len()]
                };
                tokio::select! {
                    _ = h.post_chat(chat("auto", text)) => {}
                    _ = stopped.changed() => break,
                }
                let pause = Duration::from_millis(20 + (i as u64 * 37) % 90);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stopped.changed() => break,
                }
            }
        })
    };
    let run = chromium(
        20_000,
        vec![
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000".into(),
            page.clone(),
        ],
    )
    .await;
    let _ = stop.send(true);
    traffic.await.unwrap();
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "no screenshot at {} ({size} bytes); stderr:\n{}",
        shot.display(),
        run.stderr
    );
    eprintln!("dashboard screenshot: {}", shot.display());
}
