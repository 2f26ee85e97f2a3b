//! Small things a new user meets on the command line: `sim --help` tells the truth about
//! `--listen`, logs piped to a file carry no colour codes, and `demo` says it stopped and
//! flushed its ledger.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

fn switchyard() -> Command {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
}

#[test]
fn sim_help_does_not_restrict_listen_for_any_wire() {
    let out = switchyard().args(["sim", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!help.contains("only 127.0.0.1:0"), "{help}");
    assert!(help.contains("on any wire"), "{help}");
}

#[test]
fn a_gemini_sim_binds_the_address_it_is_given() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = switchyard()
        .args([
            "sim",
            "--wire",
            "gemini",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        first.trim(),
        format!("sim listening on http://127.0.0.1:{port}/v1beta")
    );
}

#[test]
fn demo_logs_without_colour_when_piped_and_says_it_flushed_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("demo-ledger.jsonl");
    let mut child = switchyard()
        .args(["demo", "--fast", "--listen", "127.0.0.1:0", "--ledger"])
        .arg(&ledger)
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
        .expect("the demo's welcome names its URL");
    std::thread::spawn(move || lines.for_each(drop));
    // one request, so there is a ledger line to flush
    let answered = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{url}/v1/chat/completions"))
        .args([
            "-d",
            r#"{"model":"auto","messages":[{"role":"user","content":"hi"}]}"#,
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&answered.stdout), "200");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI codes in a piped log: {stderr:?}"
    );
    assert!(stderr.contains("demo stopped; ledger flushed"), "{stderr}");
    let written = std::fs::read_to_string(&ledger).unwrap();
    assert_eq!(written.lines().count(), 1, "{written}");
}
