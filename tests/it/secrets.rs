//! No configured secret (provider keys, virtual keys, the admin and ops keys) appears in any
//! response body or header, log line, metric, ledger line or file the router writes: checked
//! by grepping everything after a run of the real binary whose upstream echoes keys back.

use crate::common::process::RouterProcess;
use switchyard::sha256_hex;
use switchyard::sim::{self, Behavior, SimSettings};

const PROVIDER_KEY: &str = "sk-proj-provider-AAAA0123456789abcdefghij";
const ECHOED_KEY: &str = "sk-proj-echoed-BBBB0123456789abcdefghijk";
const VIRTUAL_KEY: &str = "sk-sy-tenant-CCCC0123456789abcdefghijklm";
const ADMIN_KEY: &str = "admin-DDDD0123456789abcdefghijklmn";
const OPS_KEY: &str = "ops-EEEE0123456789abcdefghijklmnop";
/// A key whose upstream echoes it in a 400: an error that is passed on to the client.
const PASSED_ON_KEY: &str = "sk-proj-passed-FFFF0123456789abcdefghijk";
const SECRETS: [&str; 6] = [
    PROVIDER_KEY,
    ECHOED_KEY,
    VIRTUAL_KEY,
    ADMIN_KEY,
    OPS_KEY,
    PASSED_ON_KEY,
];

fn provider(name: &str, url: &str, env: &str) -> String {
    format!(
        "name: {name}\nbase_url: {url}\nkeys: [{{env: {env}}}]\nretry: {{attempts: 1}}\nmodels:\n  - {{name: m, input_per_1m: 1, output_per_1m: 2}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_output_of_the_router() {
    let good = sim::spawn(SimSettings::fast("good", ["m"]))
        .await
        .expect("sim");
    let echo = sim::spawn(SimSettings::fast("echo", ["m"]))
        .await
        .expect("sim");
    echo.control()
        .set_behavior(Behavior::EchoKey { status: 401 });
    let echo400 = sim::spawn(SimSettings::fast("echo400", ["m"]))
        .await
        .expect("sim");
    echo400
        .control()
        .set_behavior(Behavior::EchoKey { status: 400 });
    let policy = "name: default\naliases: [auto]\nbaseline: good/m\nrules:\n  - name: all\n    route: [echo/m, good/m]\n";
    let passed_on = "name: passed\naliases: [passed]\nbaseline: good/m\nrules:\n  - name: all\n    route: [echo400/m]\n";
    let server = format!(
        "auth:\n  mode: keys\n  admin_key_env: SY_ADMIN\n  ops_key_sha256: {}\nledger: ledger.jsonl\n",
        sha256_hex(OPS_KEY)
    );
    let keys = format!(
        "- {{id: tenant, sha256: {}, user: ann}}\n",
        sha256_hex(VIRTUAL_KEY)
    );
    let router = RouterProcess::start(
        &server,
        &[
            ("good", provider("good", &good.base_url(), "SY_GOOD_KEY")),
            ("echo", provider("echo", &echo.base_url(), "SY_ECHO_KEY")),
            (
                "echo400",
                provider("echo400", &echo400.base_url(), "SY_PASSED_KEY"),
            ),
        ],
        &[("default", policy), ("passed", passed_on)],
        Some(&keys),
        &[
            ("SY_GOOD_KEY", PROVIDER_KEY),
            ("SY_ECHO_KEY", ECHOED_KEY),
            ("SY_PASSED_KEY", PASSED_ON_KEY),
            ("SY_ADMIN", ADMIN_KEY),
            ("RUST_LOG", "switchyard=debug,info"),
        ],
    );
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", router.url);
    let chat =
        serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]});
    let mut stream = chat.clone();
    stream["stream"] = true.into();
    let mut passed = chat.clone();
    passed["model"] = "passed".into();
    let mut passed_stream = passed.clone();
    passed_stream["stream"] = true.into();
    let mut seen = String::new();
    let requests = [
        client
            .post(url("/v1/chat/completions"))
            .bearer_auth(VIRTUAL_KEY)
            .json(&chat),
        client
            .post(url("/v1/chat/completions"))
            .bearer_auth(VIRTUAL_KEY)
            .json(&stream),
        client
            .post(url("/v1/chat/completions"))
            .bearer_auth("sk-sy-not-the-key")
            .json(&chat),
        client.post(url("/v1/chat/completions")).json(&chat),
        client.post(url("/admin/reload")).bearer_auth(ADMIN_KEY),
        client.post(url("/admin/reload")).bearer_auth(OPS_KEY),
        client.get(url("/metrics")).bearer_auth(OPS_KEY),
        client.get(url("/metrics/json")).bearer_auth(OPS_KEY),
        client.get(url("/health/detailed")).bearer_auth(ADMIN_KEY),
        client.get(url("/v1/models")).bearer_auth(VIRTUAL_KEY),
        // the upstream's 400 echoing its key is passed on to the client (scrubbed)
        client
            .post(url("/v1/chat/completions"))
            .bearer_auth(VIRTUAL_KEY)
            .json(&passed),
        client
            .post(url("/v1/chat/completions"))
            .bearer_auth(VIRTUAL_KEY)
            .json(&passed_stream),
        client.get(url("/dashboard")).bearer_auth(OPS_KEY),
    ];
    let mut statuses = Vec::new();
    for r in requests {
        let resp = r.send().await.expect("router answers");
        statuses.push(resp.status().as_u16());
        seen.push_str(&format!("{:?}\n", resp.headers()));
        seen.push_str(&resp.text().await.unwrap_or_default());
    }
    assert_eq!(
        statuses,
        [200, 200, 401, 401, 200, 401, 200, 200, 200, 200, 400, 400, 200],
        "{seen}"
    );
    assert_eq!(
        echo.control().calls(),
        1,
        "called once, then its key was benched"
    );
    let mut router = router;
    let exited = tokio::task::spawn_blocking(move || {
        let took = router.terminate(std::time::Duration::from_secs(20));
        (took, router)
    })
    .await
    .expect("terminate");
    let (took, router) = exited;
    assert!(took.is_some(), "the router exited");
    // everything the router wrote: its folder (ledger, logs, key file, configs we wrote hold
    // only variable names and digests) and every answer it gave
    let mut written = seen;
    for entry in walk(router.dir.path()) {
        written.push_str(&String::from_utf8_lossy(
            &std::fs::read(&entry).unwrap_or_default(),
        ));
    }
    assert!(
        written.contains("Incorrect API key provided"),
        "the upstream's 400 reached the client"
    );
    assert!(
        written.contains("\"level\":\"DEBUG\""),
        "the run logged at debug level"
    );
    assert!(written.contains("\"request_id\""), "the ledger was read");
    assert!(
        written.contains("key rejected") || written.contains("upstream rejected"),
        "the key refusal is logged"
    );
    for secret in SECRETS {
        assert!(!written.contains(secret), "{secret} leaked");
        // nor a recognisable piece of it
        let piece = &secret[secret.len() - 16..];
        assert!(!written.contains(piece), "a piece of {secret} leaked");
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
