//! What the real binary logs on a reload: which files changed and what that changed, that
//! nothing changed, that a rejected change was fixed, and when only a restart can help.

use std::time::Duration;

use crate::common::process::RouterProcess;
use crate::common::wait_until;

const PROVIDER: &str = "name: up\nbase_url: http://127.0.0.1:9/v1\nmodels:\n  - {name: small, input_per_1m: 1, output_per_1m: 1}\n  - {name: big, input_per_1m: 5, output_per_1m: 5}\n";
const POLICY: &str =
    "name: p\naliases: [auto]\nbaseline: up/big\nrules:\n  - name: pinned\n    route: [up/small]\n";

fn start() -> RouterProcess {
    RouterProcess::start(
        "auth: {mode: open}\nledger: ledger.jsonl\n",
        &[("up", PROVIDER.to_owned())],
        &[("p", POLICY)],
        None,
        &[],
    )
}

fn log(r: &RouterProcess) -> String {
    std::fs::read_to_string(r.path("router.log")).unwrap_or_default()
}

/// Writes a file in one step (rename), as editors do.
fn write(r: &RouterProcess, rel: &str, text: &str) {
    let tmp = r.path(&format!("{rel}.tmp~"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, r.path(rel)).unwrap();
}

async fn admin_reload(r: &RouterProcess) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/admin/reload", r.url))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn wait_for_log(r: &RouterProcess, what: &str) -> String {
    wait_until(what, Duration::from_secs(20), async || {
        log(r).contains(what)
    })
    .await;
    log(r)
}

/// The log lines (JSON) whose message contains `what`.
fn lines_with(log: &str, what: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"].as_str().is_some_and(|m| m.contains(what)))
        .collect()
}

#[tokio::test]
async fn a_reload_says_which_files_changed_and_what_that_changed() {
    let r = start();
    let policy = "name: p\naliases: [auto]\nbaseline: up/big\nrules:\n  - name: premium\n    when: {model: [best]}\n    route: [two/large]\n  - name: pinned\n    route: [up/small]\n";
    let second = "name: two\nbase_url: http://127.0.0.1:9/v1\nmodels:\n  - {name: large, input_per_1m: 3, output_per_1m: 3}\n";
    std::fs::write(r.path("providers/two.yaml"), second).unwrap();
    write(&r, "policies/p.yaml", policy);
    let (status, _) = admin_reload(&r).await;
    assert_eq!(status, 200);
    let log = wait_for_log(&r, "rules of policy p").await;
    // the watcher may have applied the two files in two reloads: read every reload line
    let msg: String = lines_with(&log, "config reloaded: ")
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(msg.contains("policies/p.yaml"), "{msg}");
    assert!(msg.contains("providers/two.yaml (new)"), "{msg}");
    assert!(msg.contains("policies: changed p"), "{msg}");
    assert!(msg.contains("rules of policy p: added premium"), "{msg}");
    assert!(msg.contains("providers: added two"), "{msg}");
    assert!(msg.contains("models: added two/large"), "{msg}");
    assert!(!msg.contains("virtual keys"), "{msg}");
}

#[tokio::test]
async fn nothing_changed_is_logged_as_unchanged() {
    let r = start();
    let (status, body) = admin_reload(&r).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], false, "{body}");
    let log = wait_for_log(&r, "config unchanged").await;
    assert!(!log.contains("config reloaded"), "{log}");
}

#[tokio::test]
async fn fixing_a_rejected_change_back_to_the_running_version_logs_recovered() {
    let r = start();
    write(
        &r,
        "policies/p.yaml",
        &POLICY.replace("up/small", "up/smal"),
    );
    let (status, _) = admin_reload(&r).await;
    assert_eq!(status, 422);
    wait_for_log(&r, "config reload rejected").await;
    write(&r, "policies/p.yaml", POLICY);
    admin_reload(&r).await;
    let log = wait_for_log(&r, "config recovered").await;
    let line = &lines_with(&log, "config recovered")[0];
    assert_eq!(line["level"], "INFO", "{line}");
    assert!(
        line["message"].as_str().unwrap().contains("(unchanged)"),
        "{line}"
    );
}

#[tokio::test]
async fn a_provider_added_with_a_key_variable_not_in_the_environment_needs_a_restart() {
    let r = start();
    let var = "SWITCHYARD_RELOAD_TEST_UNSET_KEY_41";
    let added = format!("name: late\nbase_url: http://127.0.0.1:9/v1\nkeys:\n  - env: {var}\nmodels:\n  - {{name: m, input_per_1m: 1, output_per_1m: 1}}\n");
    std::fs::write(r.path("providers/late.yaml"), added).unwrap();
    // a key is only required of providers a policy routes to
    write(&r, "policies/p.yaml", &POLICY.replace("up/small", "late/m"));
    let (status, body) = admin_reload(&r).await;
    assert_eq!(status, 422, "{body}");
    let problems = body.to_string();
    assert!(problems.contains(var), "{problems}");
    assert!(
        problems.contains("export it and restart switchyard"),
        "{problems}"
    );
    let log = wait_for_log(&r, "export it and restart switchyard").await;
    assert!(log.contains(var), "{log}");
}
