//! The real binary: `keys create` prints a key once and stores only its digest, the key then
//! authenticates; `keys list` shows no digests; `keys revoke` disables it; mistakes exit 1.

use std::path::Path;
use std::process::{Command, Output};

use axum::http::{header, HeaderMap, HeaderValue};
use switchyard::{Config, KeyMode, Sources};

const POLICY: &str = "name: default\naliases: [auto]\nbaseline: acme/small\nrules:\n  - name: all\n    route: [acme/small]\n";
const PROVIDER: &str = "name: acme\nbase_url: http://127.0.0.1:9/v1\nmodels:\n  - name: small\n    input_per_1m: 0.1\n    output_per_1m: 0.4\n";

fn keys(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("keys")
        .args(args)
        .arg("-c")
        .arg(dir.join("switchyard.yaml"))
        .output()
        .expect("run switchyard keys")
}

fn config(dir: &Path) -> Config {
    let sources = Sources::read(&dir.join("switchyard.yaml")).expect("read");
    Config::build(&sources, &|_| None, KeyMode::Ignore).expect("valid config")
}

fn bearer(key: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
    );
    h
}

#[test]
fn create_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("providers")).unwrap();
    std::fs::create_dir(root.join("policies")).unwrap();
    std::fs::write(root.join("providers/acme.yaml"), PROVIDER).unwrap();
    std::fs::write(root.join("policies/default.yaml"), POLICY).unwrap();
    std::fs::write(
        root.join("switchyard.yaml"),
        "auth:\n  mode: keys\ntiers:\n  pro: {rpm: 60}\n",
    )
    .unwrap();

    let out = keys(
        root,
        &[
            "create", "--user", "alice", "--team", "research", "--tier", "pro",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("sk-sy-") && key.len() == 46, "{key}");
    let file = std::fs::read_to_string(root.join("keys.yaml")).unwrap();
    assert!(!file.contains(&key), "the key itself is never stored");
    assert!(file.contains(&switchyard::sha256_hex(&key)));

    let c = config(root);
    let tenant = switchyard::testing::authenticate(&c.access, &bearer(&key)).expect("key works");
    assert_eq!(tenant.user.as_deref(), Some("alice"));
    assert_eq!(tenant.limits.rpm, Some(60));

    // a second key appends, keeping the first
    let second = keys(root, &["create", "--user", "bob"]);
    assert!(second.status.success());
    let list = keys(root, &["list"]);
    let listed = String::from_utf8(list.stdout).unwrap();
    assert!(
        listed.contains("alice-1") && listed.contains("bob-1"),
        "{listed}"
    );
    assert!(!listed.contains(&switchyard::sha256_hex(&key)[..16]));

    assert!(keys(root, &["revoke", "--id", "alice-1"]).status.success());
    let c = config(root);
    assert!(switchyard::testing::authenticate(&c.access, &bearer(&key)).is_err());
    assert_eq!(c.access.keys.len(), 1, "bob's key is still there");

    for bad in [
        vec!["create", "--user", "carol", "--tier", "gold"],
        vec!["create", "--user", "dave", "--id", "bob-1"],
        vec!["revoke", "--id", "nobody"],
    ] {
        let out = keys(root, &bad);
        assert_eq!(out.status.code(), Some(1), "{bad:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    }
}
