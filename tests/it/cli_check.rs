//! The real binary: `check` reports broken configs with file, line and field; `classify --json`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const KEY_VAR: &str = "SWITCHYARD_CLI_TEST_KEY_7F3A";

const PROVIDER: &str = "name: acme
base_url: https://api.acme.test/v1
keys:
  - env: SWITCHYARD_CLI_TEST_KEY_7F3A
retry:
  attempts: 2
models:
  - name: small
    input_per_1m: 0.1
    output_per_1m: 0.4
  - name: large
    input_per_1m: 2.0
    output_per_1m: 8.0
";

const POLICY: &str = "name: default
aliases: [auto]
baseline: acme/large
rules:
  - name: code
    when:
      last_user_matches: \"(?i)\\\\bfn\\\\b\"
    route: [acme/large]
  - name: rest
    route:
      - acme/small
      - acme/large
";

/// A config dir with a server file, one provider file and one policy file.
fn write_config(provider: &str, policy: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("providers")).unwrap();
    std::fs::create_dir(root.join("policies")).unwrap();
    std::fs::write(root.join("providers/acme.yaml"), provider).unwrap();
    std::fs::write(root.join("policies/default.yaml"), policy).unwrap();
    let server = root.join("switchyard.yaml");
    std::fs::write(&server, "listen: 127.0.0.1:8080\npolicy: default\n").unwrap();
    (dir, server)
}

fn check(server: &Path, key: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.arg("check").arg("--config").arg(server);
    match key {
        Some(k) => cmd.env(KEY_VAR, k),
        None => cmd.env_remove(KEY_VAR),
    };
    cmd.output().expect("run switchyard check")
}

/// Runs `check` on a broken config and returns stderr, asserting a non-zero exit.
fn check_fails(provider: &str, policy: &str) -> String {
    let (_dir, server) = write_config(provider, policy);
    let out = check(&server, Some("sk-test"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "check accepted a broken config; stderr: {stderr}"
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    stderr
}

#[test]
fn valid_config_exits_zero() {
    let (_dir, server) = write_config(PROVIDER, POLICY);
    let out = check(&server, Some("sk-test"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok:"), "{stdout}");
    assert!(
        stdout.contains("1 providers") && stdout.contains("2 models"),
        "{stdout}"
    );
}

#[test]
fn unknown_field_names_file_line_and_path() {
    let provider = PROVIDER.replace("  attempts: 2\n", "  attempts: 2\n  atempts_max: 3\n");
    let stderr = check_fails(&provider, POLICY);
    // `atempts_max` is on line 7 of the provider file.
    assert!(stderr.contains("acme.yaml:7"), "file and line: {stderr}");
    assert!(stderr.contains("retry"), "field path: {stderr}");
    assert!(
        stderr.contains("atempts_max"),
        "the unknown field: {stderr}"
    );
}

#[test]
fn unknown_model_in_policy_is_named() {
    let policy = POLICY.replace("      - acme/small\n", "      - acme/smal\n");
    let stderr = check_fails(PROVIDER, &policy);
    assert!(
        stderr.contains("default.yaml:11"),
        "file and line: {stderr}"
    );
    assert!(stderr.contains("rules[1].route[0]"), "field path: {stderr}");
    assert!(stderr.contains("acme/smal"), "{stderr}");
}

#[test]
fn missing_catch_all_rule_is_reported() {
    let policy = POLICY.replace(
        "  - name: rest\n",
        "  - name: rest\n    when: {tools: true}\n",
    );
    let stderr = check_fails(PROVIDER, &policy);
    assert!(stderr.contains("default.yaml"), "{stderr}");
    assert!(stderr.contains("catch-all"), "{stderr}");
}

#[test]
fn missing_key_env_var_names_the_variable() {
    let (_dir, server) = write_config(PROVIDER, POLICY);
    let out = check(&server, None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(KEY_VAR), "{stderr}");
    assert!(stderr.contains("acme.yaml:4"), "file and line: {stderr}");
    assert!(stderr.contains("keys[0].env"), "{stderr}");
    // ... and `--no-keys` accepts the same config.
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["check", "--no-keys", "--config"])
        .arg(&server)
        .env_remove(KEY_VAR)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn bad_regex_is_reported_with_its_field() {
    let policy = POLICY.replace("(?i)\\\\bfn\\\\b", "(unclosed");
    let stderr = check_fails(PROVIDER, &policy);
    assert!(stderr.contains("default.yaml:7"), "file and line: {stderr}");
    assert!(
        stderr.contains("rules[0].when.last_user_matches"),
        "{stderr}"
    );
    assert!(stderr.contains("regex"), "{stderr}");
}

#[test]
fn probability_bounds_outside_zero_to_one_or_reversed_are_reported() {
    let policy = POLICY.replace(
        "      last_user_matches: \"(?i)\\\\bfn\\\\b\"",
        "      complex_probability: {min: 1.5}\n      confidence: {min: 0.9, max: 0.6}",
    );
    assert_ne!(policy, POLICY);
    let stderr = check_fails(PROVIDER, &policy);
    assert!(
        stderr.contains("rules[0].when.complex_probability.min"),
        "{stderr}"
    );
    assert!(stderr.contains("between 0 and 1"), "{stderr}");
    assert!(stderr.contains("rules[0].when.confidence"), "{stderr}");
    assert!(stderr.contains("greater than max"), "{stderr}");
}

#[test]
fn every_problem_is_listed_in_one_run() {
    let policy = POLICY
        .replace("(?i)\\\\bfn\\\\b", "(unclosed")
        .replace("baseline: acme/large", "baseline: acme/nope");
    let stderr = check_fails(PROVIDER, &policy);
    assert!(stderr.contains("acme/nope"), "{stderr}");
    assert!(stderr.contains("last_user_matches"), "{stderr}");
}

#[test]
fn invalid_regex_does_not_turn_its_rule_into_a_catch_all() {
    let policy = POLICY.replace("(?i)\\\\bfn\\\\b", "(unclosed");
    let stderr = check_fails(PROVIDER, &policy);
    assert!(stderr.contains("last_user_matches"), "{stderr}");
    assert!(!stderr.contains("can never match"), "{stderr}");
    assert!(stderr.contains("1 problem(s)"), "{stderr}");
}

#[test]
fn classify_json_prints_one_object_per_line_with_ids() {
    let (_dir, server) = write_config(PROVIDER, POLICY);
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["classify", "--json", "--config"])
        .arg(&server)
        .env_remove(KEY_VAR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"id\": \"first\", \"prompt\": \"What is 2+2?\"}\n{\"id\": 42, \"prompt\": \"Write fn main in Rust\"}\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["id"], "first");
    assert_eq!(lines[1]["id"], 42);
    assert_eq!(lines[0]["rule"], "rest");
    assert_eq!(lines[1]["rule"], "code");
    assert_eq!(lines[1]["candidates"][0][0]["model"], "acme/large");
    for l in &lines {
        assert_eq!(l["policy"], "default");
        assert!(l["tokens"].as_u64().is_some_and(|t| t > 0), "{l}");
        assert!(l["complexity"].is_string(), "{l}");
    }
}
