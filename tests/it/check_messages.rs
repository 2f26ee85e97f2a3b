//! What `check` and `serve` say about the config mistakes a new operator makes: one test per
//! message (bad enum value, indentation, typo'd field, cascade, repeated names, backtraces).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROVIDER: &str = "name: acme
base_url: https://api.acme.test/v1
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
  - name: hard
    when:
      complexity: complex
    route: [acme/large]
  - name: code
    when:
      tools: true
    route: [acme/large, acme/small]
  - name: rest
    route:
      - acme/small
      - acme/large
";

fn write_config(provider: &str, policy: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("providers")).unwrap();
    std::fs::create_dir(root.join("policies")).unwrap();
    std::fs::write(root.join("providers/acme.yaml"), provider).unwrap();
    std::fs::write(root.join("policies/default.yaml"), policy).unwrap();
    let server = root.join("switchyard.yaml");
    std::fs::write(
        &server,
        "listen: 127.0.0.1:0\npolicy: default\nauth: {mode: open}\n",
    )
    .unwrap();
    (dir, server)
}

fn run(args: &[&str], server: &Path, backtrace: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args).arg("--config").arg(server);
    if backtrace {
        cmd.env("RUST_BACKTRACE", "1");
    }
    cmd.output().expect("run switchyard")
}

/// `check` on a broken config: exit 1, and the `error:` lines of stderr.
fn problems(provider: &str, policy: &str) -> Vec<String> {
    let (_dir, server) = write_config(provider, policy);
    let out = run(&["check", "--no-keys"], &server, false);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_configs_here_are_valid_before_they_are_broken() {
    let (_dir, server) = write_config(PROVIDER, POLICY);
    let out = run(&["check", "--no-keys"], &server, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_enum_value_names_field_value_and_valid_values() {
    let policy = POLICY.replace("complexity: complex", "complexity: meduim");
    let p = problems(PROVIDER, &policy);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].ends_with(
            "policies/default.yaml:7: rules[0].when.complexity: `meduim` is not a valid value; \
             expected one of: simple, medium, complex (did you mean `medium`?)"
        ),
        "{p:#?}"
    );
    assert!(!p[0].contains("untagged"), "{p:#?}");
}

#[test]
fn bad_enum_value_inside_a_list_is_named_with_its_index() {
    let policy = POLICY.replace("complexity: complex", "complexity: [medium, compelx]");
    let p = problems(PROVIDER, &policy);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].contains("rules[0].when.complexity[1]"), "{p:#?}");
    assert!(p[0].contains("`compelx` is not a valid value"), "{p:#?}");
    assert!(p[0].contains("simple, medium, complex"), "{p:#?}");
}

#[test]
fn over_indented_key_is_explained_without_a_question_mark_path() {
    let provider = PROVIDER.replace("    input_per_1m: 2.0\n", "      input_per_1m: 2.0\n");
    let p = problems(&provider, POLICY);
    let first = &p[0];
    assert!(first.contains("acme.yaml:10: YAML syntax:"), "{p:#?}");
    assert!(!first.contains(".?"), "no parser path: {p:#?}");
    assert!(
        first.contains("line 10 is indented 6 spaces, line 9 only 4"),
        "{p:#?}"
    );
    assert!(first.contains("inside `models[1]`"), "{p:#?}");
}

#[test]
fn key_indented_under_a_value_is_explained() {
    let provider = PROVIDER.replace("    output_per_1m: 8.0\n", "      output_per_1m: 8.0\n");
    let p = problems(&provider, POLICY);
    assert!(
        p[0].contains("acme.yaml:10: models[1].input_per_1m:"),
        "{p:#?}"
    );
    assert!(
        p[0].contains(
            "line 11 is indented more than line 10, so YAML read it as part of this value"
        ),
        "{p:#?}"
    );
}

#[test]
fn typo_in_a_field_path_prints_the_path_once() {
    let provider = PROVIDER.replace("  attempts: 2", "  attemps: 2");
    let p = problems(&provider, POLICY);
    let first = &p[0];
    assert!(
        first.contains(
            "acme.yaml:4: retry.attemps: unknown field `attemps` (did you mean `attempts`?)"
        ),
        "{p:#?}"
    );
    assert_eq!(
        first.matches("attemps").count(),
        2,
        "path printed once: {first}"
    );
    assert!(!first.contains(": retry: "), "path printed once: {first}");
}

#[test]
fn a_typo_in_a_provider_file_is_reported_once_not_per_reference() {
    let provider = PROVIDER.replace("  attempts: 2", "  attemps: 2");
    let p = problems(&provider, POLICY);
    // the policy names acme's models six times; none of them is a problem of its own
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].contains("attemps"), "{p:#?}");
    assert!(
        p[1].contains("default.yaml: 6 reference(s) to provider `acme` not checked"),
        "{p:#?}"
    );
    assert!(p[1].contains("providers/acme.yaml did not load"), "{p:#?}");
    assert!(!p.iter().any(|l| l.contains("unknown model")), "{p:#?}");
}

#[test]
fn a_provider_file_that_is_not_yaml_at_all_still_groups_its_consequences() {
    let provider = PROVIDER.replace("name: acme\n", "name: acme\nbase_url: [\n");
    let p = problems(&provider, POLICY);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[1].contains("provider `acme` not checked"), "{p:#?}");
}

#[test]
fn a_real_unknown_model_is_still_reported_next_to_a_broken_provider() {
    let provider = PROVIDER.replace("  attempts: 2", "  attemps: 2");
    let policy = POLICY.replace("route: [acme/large]", "route: [other/model]");
    let p = problems(&provider, &policy);
    assert!(
        p.iter()
            .any(|l| l.contains("default.yaml:8: rules[0].route[0]: unknown model `other/model`")),
        "{p:#?}"
    );
    assert!(p.iter().any(|l| l.contains("5 reference(s)")), "{p:#?}");
}

#[test]
fn a_model_named_several_times_is_reported_at_each_line() {
    // `acme/huge` appears in the baseline (line 3), rule hard (line 8) and rule code (line 12)
    let policy = POLICY.replace("acme/large", "acme/huge");
    let p = problems(PROVIDER, &policy);
    let lines: Vec<&str> = p
        .iter()
        .map(|l| l.split(": ").nth(1).unwrap_or_default())
        .collect();
    let expected = [
        "policies/default.yaml:3",
        "policies/default.yaml:8",
        "policies/default.yaml:12",
        "policies/default.yaml:16",
    ];
    assert_eq!(lines.len(), expected.len(), "{p:#?}");
    for (got, want) in lines.iter().zip(expected) {
        assert!(got.ends_with(want), "{got} vs {want}: {p:#?}");
    }
}

#[test]
fn a_model_declared_twice_in_a_provider_points_at_both() {
    let provider =
        format!("{PROVIDER}  - name: small\n    input_per_1m: 1\n    output_per_1m: 1\n");
    let p = problems(&provider, POLICY);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("acme.yaml:12: models[2].name: model `small` is declared twice in this provider (first at line 6)"),
        "{p:#?}"
    );
}

#[test]
fn serve_with_a_broken_config_prints_problems_not_a_backtrace() {
    let policy = POLICY.replace("complexity: complex", "complexity: meduim");
    let (_dir, server) = write_config(PROVIDER, &policy);
    let out = run(&["serve"], &server, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`meduim` is not a valid value"), "{stderr}");
    assert!(
        stderr.contains("error: 1 configuration problem(s); nothing started"),
        "{stderr}"
    );
    assert!(!stderr.contains("Stack backtrace"), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");
    assert!(stderr.lines().count() <= 3, "{stderr}");
}
