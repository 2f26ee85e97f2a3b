//! Hot reload: a valid change applies to requests that start after the swap, with no failed
//! request under load; a broken change is rejected with file and line and the old config serves on.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use switchyard::sim::{self, Behavior, SimSettings, SimUpstream};
use switchyard::AppState;
use switchyard::Ledger;
use switchyard::{Config, KeyMode, Sources};

struct Served {
    url: String,
    state: Arc<AppState>,
    dir: tempfile::TempDir,
    sim: SimUpstream,
    client: reqwest::Client,
}

fn policy(simple_model: &str) -> String {
    format!("name: p\naliases: [auto]\nbaseline: up/big\nrules:\n  - name: pinned\n    route: [{simple_model}]\n")
}

async fn serve(watch: bool) -> Served {
    let sim = sim::spawn(SimSettings::fast("up", ["small", "big"]))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("providers")).unwrap();
    std::fs::create_dir_all(d.join("policies")).unwrap();
    std::fs::write(
        d.join("providers/up.yaml"),
        format!(
            "name: up\nbase_url: {}\nbreaker: {{failure_threshold: 1, recovery_ms: 60000, success_threshold: 1}}\nretry: {{attempts: 1}}\nmodels:\n  - {{name: small, input_per_1m: 1, output_per_1m: 1}}\n  - {{name: big, input_per_1m: 5, output_per_1m: 5}}\n",
            sim.base_url()
        ),
    )
    .unwrap();
    std::fs::write(d.join("policies/p.yaml"), policy("up/small")).unwrap();
    std::fs::write(
        d.join("switchyard.yaml"),
        "listen: 127.0.0.1:0\nledger: ledger.jsonl\nauth:\n  mode: open\n",
    )
    .unwrap();
    let path = d.join("switchyard.yaml");
    let sources = Sources::read(&path).unwrap();
    let config = Config::build(&sources, &|_| None, KeyMode::Require).unwrap();
    let ledger = Ledger::open(&d.join("ledger.jsonl")).unwrap();
    let state = AppState::new(config, ledger);
    state.set_source(path);
    if watch {
        switchyard::spawn_triggers(state.clone(), &sources).unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = state.clone();
    tokio::spawn(switchyard::run(listener, served, std::future::pending()));
    Served {
        url,
        state,
        dir,
        sim,
        client: reqwest::Client::new(),
    }
}

impl Served {
    async fn model(&self) -> (u16, String) {
        let r = self
            .client
            .post(format!("{}/v1/chat/completions", self.url))
            .json(&json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let model = r
            .headers()
            .get("x-switchyard-model")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, model)
    }

    async fn reload(&self) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}/admin/reload", self.url))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn detailed(&self) -> Value {
        self.client
            .get(format!("{}/health/detailed", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn write_policy(&self, text: &str) {
        let path = self.dir.path().join("policies/p.yaml");
        let tmp = self.dir.path().join("policies/.p.yaml.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, path).unwrap();
    }
}

fn dir_of(s: &Served) -> &Path {
    s.dir.path()
}

#[tokio::test]
async fn valid_change_applies_to_new_requests_and_broken_change_is_rejected() {
    let s = serve(false).await;
    assert_eq!(s.model().await, (200, "up/small".into()));
    s.write_policy(&policy("up/big"));
    let (code, status) = s.reload().await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["changed"], true);
    assert_eq!(s.model().await, (200, "up/big".into()));

    s.write_policy("name: p\naliases: [auto]\nbaseline: up/big\nrules:\n  - name: pinned\n    route: [up/nope]\n");
    let (code, status) = s.reload().await;
    assert_eq!(code, 422);
    let problem = status["problems"][0].as_str().unwrap();
    assert!(
        problem.contains("p.yaml:6") && problem.contains("up/nope"),
        "{problem}"
    );
    assert_eq!(
        s.model().await,
        (200, "up/big".into()),
        "old config keeps serving"
    );
    let health = s.detailed().await;
    assert_eq!(health["config"]["last_reload"]["ok"], false);
    assert!(health["config"]["last_reload"]["problems"][0]
        .as_str()
        .unwrap()
        .contains("up/nope"));
    assert!(dir_of(&s).join("ledger.jsonl").exists());
}

#[tokio::test]
async fn reloads_under_load_fail_no_request() {
    let s = Arc::new(serve(false).await);
    let mut load = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        load.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..40 {
                statuses.push(s.model().await.0);
            }
            statuses
        }));
    }
    for i in 0..6 {
        s.write_policy(&policy(if i % 2 == 0 { "up/big" } else { "up/small" }));
        assert_eq!(s.reload().await.0, 200);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut total = 0;
    for t in load {
        let statuses = t.await.unwrap();
        total += statuses.len();
        assert!(statuses.iter().all(|c| *c == 200), "{statuses:?}");
    }
    assert_eq!(total, 320);
}

#[tokio::test]
async fn breaker_state_survives_a_reload_that_leaves_the_provider_unchanged() {
    let s = serve(false).await;
    s.sim.control().set_behavior(Behavior::Status {
        status: 500,
        body: json!({"error": {"message": "down"}}),
    });
    assert_eq!(s.model().await.0, 502);
    let open = |h: &Value| {
        h["providers"][0]["models"][0]["breaker"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(open(&s.detailed().await), "open");
    s.write_policy(&policy("up/small").replace("name: pinned", "name: renamed"));
    assert_eq!(s.reload().await.0, 200);
    assert_eq!(
        open(&s.detailed().await),
        "open",
        "the breaker was not reset by the reload"
    );
}

#[tokio::test]
async fn a_file_change_is_picked_up_by_the_watcher() {
    let s = serve(true).await;
    assert_eq!(s.model().await.1, "up/small");
    s.write_policy(&policy("up/big"));
    let mut model = String::new();
    for _ in 0..100 {
        model = s.model().await.1;
        if model == "up/big" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(model, "up/big");
    assert_eq!(s.state.last_reload().unwrap().trigger, "file change");
}

/// A temperature-0 chat as `auto`: status, `x-switchyard-cache`, the answer's content.
async fn cached_ask(s: &Served) -> (u16, String, String) {
    let r = s
        .client
        .post(format!("{}/v1/chat/completions", s.url))
        .json(&json!({"model": "auto", "temperature": 0,
            "messages": [{"role": "user", "content": "tell me the secret"}]}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let cache = r.headers()["x-switchyard-cache"]
        .to_str()
        .unwrap()
        .to_owned();
    let v: Value = r.json().await.unwrap();
    let content = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, cache, content)
}

#[tokio::test]
async fn an_answer_cached_before_a_guardrail_was_added_is_not_served_after() {
    let s = serve(false).await;
    s.sim.control().set_behavior(Behavior::Content {
        chunks: vec!["the code is ".into(), "BANANA-42".into()],
    });
    assert_eq!(cached_ask(&s).await.1, "miss");
    let mut hit = false;
    for _ in 0..200 {
        if cached_ask(&s).await.1 == "hit" {
            hit = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(hit, "the answer was cached");
    let guarded = format!(
        "{}guardrails:\n  output:\n    - {{name: codes, pattern: 'BANANA-\\d+', replace: '[code]'}}\n",
        policy("up/small")
    );
    s.write_policy(&guarded);
    assert_eq!(s.reload().await.0, 200);
    let (status, cache, content) = cached_ask(&s).await;
    assert_eq!(status, 200);
    assert_eq!(
        cache, "miss",
        "the policy changed: the old entry is not used"
    );
    assert!(
        !content.contains("BANANA") && content.contains("[code]"),
        "{content}"
    );
}

#[tokio::test]
async fn the_413_names_the_limit_enforced_not_a_reloaded_one() {
    let s = serve(false).await;
    let server = dir_of(&s).join("switchyard.yaml");
    let text = std::fs::read_to_string(&server).unwrap();
    std::fs::write(&server, format!("{text}max_body_bytes: 4096\n")).unwrap();
    assert_eq!(s.reload().await.0, 200);
    let big = json!({"model": "auto", "messages": [{"role": "user", "content": "x".repeat(9 * 1024 * 1024)}]});
    let r = s
        .client
        .post(format!("{}/v1/chat/completions", s.url))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("4096") && message.contains(&(8 * 1024 * 1024).to_string()),
        "{message}"
    );
}
