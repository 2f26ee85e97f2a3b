//! Every shell command shown in README.md and docs/*.md runs as written: each fenced `sh` /
//! `bash` block is split into commands and run with `bash -o pipefail` against a demo this test
//! starts (its port replaces `8080`), in a scratch folder holding the repository's examples,
//! policies, providers and server file, with the built `switchyard` first on the PATH. A
//! command passes when it exits 0 and prints no OpenAI error object. Pages added later are
//! picked up by themselves; the few commands that cannot run here are listed in [`SKIP`], each
//! with its reason, and every entry must still match a command.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Commands not run, by how they start, and why.
const SKIP: &[(&str, &str)] = &[
    (
        "cargo install",
        "builds and installs the release binary; this test runs the binary cargo built",
    ),
    (
        "scripts/test-all",
        "runs the whole test suite, this test included",
    ),
    (
        "switchyard demo",
        "runs until Ctrl-C; this test starts the demo itself",
    ),
    (
        "switchyard serve",
        "runs until stopped, against real providers",
    ),
    (
        "export OPENAI_API_KEY=...",
        "placeholders for real provider keys",
    ),
    (
        "switchyard check --config switchyard.yaml    #",
        "needs the real providers' key variables (the --no-keys form runs)",
    ),
    (
        "DURATION=10 benches/proxy.sh",
        "a benchmark: a release build and minutes of load",
    ),
    (
        "DURATION=8 benches/features.sh",
        "a benchmark: a release build and minutes of load",
    ),
    (
        "BIN=target/debug/switchyard DURATION=5 benches/embed_batching.sh",
        "a benchmark: about two minutes of load",
    ),
];

/// One command of a page, with where it was written.
struct DocCommand {
    file: String,
    line: usize,
    text: String,
}

/// The commands of the fenced shell blocks of `path`, continuation lines joined.
fn commands(path: &Path) -> Vec<DocCommand> {
    let file = path
        .strip_prefix(ROOT)
        .unwrap_or(path)
        .display()
        .to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut in_shell = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            in_shell = !in_shell && matches!(lang.trim(), "sh" | "bash" | "shell");
            continue;
        }
        if !in_shell {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
        if joined.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            joined.push_str(head);
            joined.push(' ');
            pending = Some((start, joined));
        } else {
            joined.push_str(line);
            out.push(DocCommand {
                file: file.clone(),
                line: start,
                text: joined.trim().to_owned(),
            });
        }
    }
    out
}

/// README.md, then every docs/*.md in name order.
fn pages() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "md"))
                .collect()
        })
        .unwrap_or_default();
    docs.sort();
    std::iter::once(Path::new(ROOT).join("README.md"))
        .chain(docs)
        .collect()
}

struct Demo {
    child: Child,
    port: u16,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo(dir: &Path, bin_dir: &Path) -> Demo {
    let mut child = Command::new(bin_dir.join("switchyard"))
        .args(["demo", "--fast", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("Switchyard demo is running at ")
                .map(str::to_owned)
        })
        .expect("the demo names its URL");
    std::thread::spawn(move || lines.for_each(drop));
    let port = url.rsplit(':').next().unwrap().parse().unwrap();
    Demo { child, port }
}

/// A scratch folder with what the pages' commands read, so nothing they write lands in the
/// repository.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["examples", "policies", "providers", "switchyard.yaml"] {
        std::os::unix::fs::symlink(Path::new(ROOT).join(name), dir.path().join(name)).unwrap();
    }
    dir
}

fn run(cmd: &str, dir: &Path, path_var: &str) -> (bool, String) {
    let mut child = Command::new("bash")
        .args(["-o", "pipefail", "-c", cmd])
        .current_dir(dir)
        .env("PATH", path_var)
        .env_remove("OPENAI_API_KEY")
        .env_remove("GROQ_API_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return (false, "did not finish within 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let error_object = text.contains("\"error\":{") || text.contains("\"error\": {");
    (out.status.success() && !error_object, text)
}

/// Waits until the demo's ledger has a line for each request sent so far (it flushes within
/// 50 ms of each), so a `report` command sees all of them.
fn wait_for_ledger(dir: &Path, requests: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lines =
            std::fs::read_to_string(dir.join("demo-ledger.jsonl")).map_or(0, |t| t.lines().count());
        if lines >= requests || Instant::now() > deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn reset_demo(dir: &Path, path_var: &str, port: u16) {
    for p in ["swift", "atlas", "lumen", "zenith"] {
        let (ok, out) = run(
            &format!("curl -sf -X POST localhost:{port}/demo/providers/{p}/behavior -d '{{\"mode\":\"ok\"}}'"),
            dir,
            path_var,
        );
        assert!(ok, "{out}");
    }
}

#[test]
fn every_command_in_the_readme_and_docs_runs_as_written() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_switchyard"));
    let bin_dir = bin.parent().unwrap().to_owned();
    let path_var = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = scratch();
    let demo = start_demo(dir.path(), &bin_dir);
    let mut skipped = vec![0usize; SKIP.len()];
    let mut failures = Vec::new();
    let (mut ran, mut requests) = (0, 0);
    for page in pages() {
        let list = commands(&page);
        for c in &list {
            if let Some(i) = SKIP.iter().position(|(start, _)| c.text.starts_with(start)) {
                skipped[i] += 1;
                eprintln!("skip {}:{}: {} ({})", c.file, c.line, c.text, SKIP[i].1);
                continue;
            }
            let text = c
                .text
                .replace("localhost:8080", &format!("localhost:{}", demo.port))
                .replace("127.0.0.1:8080", &format!("127.0.0.1:{}", demo.port));
            if text.contains("demo-ledger.jsonl") {
                wait_for_ledger(dir.path(), requests);
            }
            let (ok, out) = run(&text, dir.path(), &path_var);
            ran += 1;
            requests += text.matches("curl").count() * usize::from(text.contains("/v1/"));
            eprintln!(
                "{} {}:{}: {}",
                if ok { "ok  " } else { "FAIL" },
                c.file,
                c.line,
                c.text
            );
            if !ok {
                failures.push(format!("{}:{}: {}\n{}", c.file, c.line, c.text, out));
            }
        }
        reset_demo(dir.path(), &path_var, demo.port);
    }
    assert!(
        failures.is_empty(),
        "{} command(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        ran >= 20,
        "only {ran} commands found: is the extraction broken?"
    );
    for (i, n) in skipped.iter().enumerate() {
        assert!(
            *n > 0,
            "skip entry `{}` matches no command any more: remove it",
            SKIP[i].0
        );
    }
}

#[test]
fn commands_are_extracted_with_continuations_and_without_comments() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("p.md");
    std::fs::write(
        &page,
        "text\n```sh\n# a comment\nswitchyard report \\\n    --by model\n\ncurl -s x # trailing\n```\n```text\nnot a command\n```\n```python\nprint(1)\n```\n",
    )
    .unwrap();
    let got: Vec<(usize, String)> = commands(&page)
        .into_iter()
        .map(|c| (c.line, c.text))
        .collect();
    assert_eq!(
        got,
        [
            (4, "switchyard report      --by model".to_owned()),
            (7, "curl -s x # trailing".to_owned())
        ]
    );
}
