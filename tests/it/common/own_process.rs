//! Runs one ignored test of this binary alone in a fresh process of its own, for tests that
//! assert exact totals of process-wide state (the Prometheus recorder).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

/// Re-runs this test binary on the ignored test `path` (its full path, e.g.
/// `"metrics::metrics_follow_a_known_sequence_of_requests"`) with one test thread, prints its
/// output as it comes (captured by the test harness like any test's output) and panics unless
/// exactly that one test ran and passed.
///
/// Why: every test in this binary shares one process, and the `metrics` facade allows one
/// recorder per process, so a test counting requests would also count its neighbours'. The
/// test body carries `#[ignore = "runs in its own process: see common::own_process"]` and a
/// plain `#[test]` calls this; it works the same under `cargo test` and `cargo nextest run`,
/// which both skip the ignored body. (So do not run this binary with `--include-ignored`: the
/// bodies would then also run beside everything else and see its metrics.)
pub fn own_process(path: &str) {
    let exe = std::env::current_exe().expect("the path of this test binary");
    let mut child = Command::new(exe)
        .args([
            path,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-run this test binary");
    let mut stderr = child.stderr.take().expect("child stderr");
    // stderr on a thread of its own so neither pipe can fill up and stall the child
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut stdout = String::new();
    for line in BufReader::new(child.stdout.take().expect("child stdout")).lines() {
        let line = line.expect("child stdout is text");
        println!("{line}");
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let status = child.wait().expect("wait for the child test process");
    let stderr = errors.join().expect("stderr reader");
    eprint!("{stderr}");
    assert!(
        status.success(),
        "{path} failed in its own process ({status}); its output is above"
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{path} did not run as exactly one test (no such ignored test?); its output is above"
    );
}
