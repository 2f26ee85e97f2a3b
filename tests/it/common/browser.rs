//! Headless Chromium for tests of the pages the router serves: run it, dump the DOM, read
//! attributes and metric samples.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Debian's Chromium, installed by scripts/test-all.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// What one headless Chromium run printed.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
}

/// Runs Chromium with the shared headless flags plus `extra`, letting the page run for
/// `virtual_ms` of virtual time, off the async runtime (the router under test is served by this
/// runtime); kills it after 90 s.
pub async fn chromium(virtual_ms: u32, extra: Vec<String>) -> Run {
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
pub async fn dump_dom(url: &str) -> String {
    let run = chromium(5000, vec!["--dump-dom".into(), url.into()]).await;
    assert!(
        run.stdout.contains("<body"),
        "chromium printed no DOM; stderr:\n{}",
        run.stderr
    );
    run.stdout
}

/// The opening tag of the first element carrying `key="value"`.
pub fn tag_with<'a>(dom: &'a str, key: &str, value: &str) -> Option<&'a str> {
    let at = dom.find(&format!("{key}=\"{value}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    Some(&dom[start..=end])
}

/// Attribute `attr` of the first element carrying `key="value"`; panics with the tag if absent.
pub fn attr(dom: &str, key: &str, value: &str, attr: &str) -> String {
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
pub fn metric(dom: &str, name: &str) -> String {
    attr(dom, "data-metric", name, "data-value")
}

/// [`metric`] as a number, panicking with the text when the page shows something else.
pub fn metric_f64(dom: &str, name: &str) -> f64 {
    let v = metric(dom, name);
    v.parse()
        .unwrap_or_else(|_| panic!("data-metric {name} is not a number: {v:?}"))
}

/// Samples of `name` in a `/metrics/json` body.
pub fn samples<'a>(metrics: &'a Value, name: &str) -> &'a [Value] {
    metrics["metrics"][name]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// The total of samples' values, as the dashboard adds a family's series up.
pub fn sum(list: &[Value]) -> f64 {
    list.iter().map(|s| s["value"].as_f64().unwrap()).sum()
}

/// Prometheus' histogram_quantile over all series of a histogram's `_bucket` samples.
pub fn quantile(q: f64, buckets: &[Value]) -> Option<f64> {
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

/// Whether `a` and `b` agree within `tolerance` (relative, absolute below 1): the page rounds.
pub fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(1.0)
}
