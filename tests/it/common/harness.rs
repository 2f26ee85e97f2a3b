//! The router under test: starts the sims, builds the config, serves on 127.0.0.1:0 and
//! sends requests to it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;
use switchyard::sim::{SimControl, SimUpstream};
use switchyard::AppState;
use switchyard::{Config, KeyMode, Sources};
use switchyard::{Ledger, UsageRecord};
use tokio::sync::oneshot;

use super::{wait_until, HarnessBuilder, Upstream};

/// The router under test with its simulated upstreams.
pub struct Harness {
    pub addr: std::net::SocketAddr,
    pub state: std::sync::Arc<AppState>,
    pub client: reqwest::Client,
    pub sims: HashMap<String, SimUpstream>,
    pub ledger_path: PathBuf,
    /// The temp folder holding the ledger, removed when the harness is dropped.
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// What the config was built from, so another instance can be started on it.
    sources: Sources,
    env: HashMap<String, String>,
}

impl Harness {
    /// Starts describing a router over `upstreams` (one sim each); say its policy, and
    /// optionally its server and virtual-key files, then `start()` it.
    pub fn builder(upstreams: Vec<Upstream>) -> HarnessBuilder {
        HarnessBuilder::new(upstreams)
    }

    /// Another router instance on the same config and upstreams (sims stay with `self`), with
    /// its own ledger: for tests of state shared through Redis.
    pub async fn twin(&self) -> Harness {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger_path = dir.path().join("ledger.jsonl");
        Self::serve(
            self.sources.clone(),
            self.env.clone(),
            HashMap::new(),
            dir,
            ledger_path,
        )
        .await
    }

    /// Stops this instance and starts a new one on the same config and ledger file, as a
    /// process restart would (the sims and the ledger's folder stay with `self`).
    pub async fn restarted(&mut self) -> Harness {
        self.begin_shutdown();
        self.wait_stopped().await;
        let dir = tempfile::tempdir().expect("tempdir");
        Self::serve(
            self.sources.clone(),
            self.env.clone(),
            HashMap::new(),
            dir,
            self.ledger_path.clone(),
        )
        .await
    }

    /// Like [`Harness::restarted`], with `server` (YAML, open auth) as the new server file.
    pub async fn restarted_with_server(&mut self, server: &str) -> Harness {
        if let Some(file) = &mut self.sources.server {
            file.text = format!("auth:\n  mode: open\n{server}");
        }
        self.restarted().await
    }

    /// Builds the config from `sources` (provider keys looked up in `env`, never the process
    /// environment) and serves it on 127.0.0.1:0.
    pub(super) async fn serve(
        sources: Sources,
        env: HashMap<String, String>,
        sims: HashMap<String, SimUpstream>,
        dir: tempfile::TempDir,
        ledger_path: PathBuf,
    ) -> Self {
        let lookup = |k: &str| env.get(k).cloned();
        let config = match Config::build(&sources, &lookup, KeyMode::Require) {
            Ok(c) => c,
            Err(problems) => panic!(
                "test config is invalid:\n{}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        };
        let ledger = Ledger::open(&ledger_path).expect("open ledger");
        let state = AppState::new(config, ledger);
        state
            .rebuild_spend_at_start(&ledger_path)
            .await
            .expect("read ledger");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind router");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        let server = tokio::spawn(async move {
            let _ = switchyard::run(listener, served, async move {
                let _ = rx.await;
            })
            .await;
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        Self {
            addr,
            state,
            client,
            sims,
            ledger_path,
            _dir: dir,
            shutdown: Some(tx),
            server: Some(server),
            sources,
            env,
        }
    }

    /// Sends the shutdown signal (as SIGTERM would) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits until the server has drained and returned (the ledger is flushed by then).
    pub async fn wait_stopped(&mut self) {
        if let Some(task) = self.server.take() {
            task.await.expect("server task");
        }
    }

    /// The router's URL for `path` (e.g. `/health/detailed`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The control handle of the sim named `name`.
    pub fn sim(&self, name: &str) -> SimControl {
        self.sims
            .get(name)
            .unwrap_or_else(|| panic!("no sim named {name}"))
            .control()
    }

    /// How many requests the sim named `name` has received: what reached the upstream.
    pub fn calls(&self, name: &str) -> usize {
        self.sim(name).calls()
    }

    /// POSTs a JSON body to /v1/chat/completions; the answer as JSON (Null if it is not JSON).
    pub async fn post_chat(&self, body: Value) -> (StatusCode, HeaderMap, Value) {
        self.post_raw("/v1/chat/completions", serde_json::to_vec(&body).unwrap())
            .await
    }

    /// POSTs raw bytes as application/json to `path`.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (StatusCode, HeaderMap, Value) {
        self.post_as(None, path, body).await
    }

    /// POSTs a chat body with `Authorization: Bearer key`.
    pub async fn post_chat_as(&self, key: &str, body: Value) -> (StatusCode, HeaderMap, Value) {
        self.post_as(
            Some(key),
            "/v1/chat/completions",
            serde_json::to_vec(&body).unwrap(),
        )
        .await
    }

    /// POSTs raw bytes as application/json to `path`, with a bearer key when given.
    pub async fn post_as(
        &self,
        key: Option<&str>,
        path: &str,
        body: Vec<u8>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, json)
    }

    /// POSTs a streaming request; the whole raw SSE text.
    pub async fn stream_chat(&self, body: Value) -> (StatusCode, HeaderMap, String) {
        let resp = self
            .client
            .post(self.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .await
            .expect("router answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("SSE body");
        (status, headers, text)
    }

    /// GETs `path`; the answer as JSON (Null if it is not JSON).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.get_as(None, path).await
    }

    /// GETs `path` with `key` as bearer token (an operator key for the ops endpoints in keys
    /// mode); the answer as JSON (Null if it is not JSON).
    pub async fn get_as(&self, key: Option<&str>, path: &str) -> (StatusCode, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.expect("router answers");
        let status = resp.status();
        let json = resp.json().await.unwrap_or(Value::Null);
        (status, json)
    }

    /// Every ledger line written so far (waits for queued ones first).
    pub async fn ledger_lines(&self) -> Vec<UsageRecord> {
        self.state.ledger.flush().await;
        let text = std::fs::read_to_string(&self.ledger_path).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad ledger line {l}: {e}")))
            .collect()
    }

    /// The raw ledger file text (after a flush).
    pub async fn ledger_text(&self) -> String {
        self.state.ledger.flush().await;
        std::fs::read_to_string(&self.ledger_path).unwrap_or_default()
    }

    /// Polls the sim's call counter until it reaches `n` (panics after 5 s).
    pub async fn wait_calls(&self, name: &str, n: usize) {
        let what = format!("sim {name} reached {n} calls");
        wait_until(&what, Duration::from_secs(5), async || {
            self.calls(name) >= n
        })
        .await;
    }

    /// The state `/metrics/circuit-breakers` reports for `model`: `closed`, `open` or
    /// `half_open` (an open breaker past its recovery time reads half-open), so tests wait for
    /// a transition instead of sleeping through the recovery time.
    pub async fn breaker_state(&self, model: &str) -> String {
        let (_, v) = self.get("/metrics/circuit-breakers").await;
        v["breakers"]
            .as_array()
            .and_then(|all| all.iter().find(|b| b["model"] == model))
            .and_then(|b| b["state"].as_str())
            .unwrap_or_else(|| panic!("no breaker for {model}: {v}"))
            .to_owned()
    }

    /// Whether `/health/detailed` reports any key of `provider` cooling down after a 429, so
    /// tests wait for a key to rejoin instead of sleeping through its Retry-After.
    pub async fn any_key_cooling(&self, provider: &str) -> bool {
        let (_, v) = self.get("/health/detailed").await;
        let found = v["providers"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == provider))
            .unwrap_or_else(|| panic!("no provider {provider} in /health/detailed: {v}"));
        found["keys"]
            .as_array()
            .expect("keys of the provider")
            .iter()
            .any(|k| !k["cooling_down_s"].is_null())
    }
}

impl Harness {
    /// Swaps in the config built from this harness's sources after `edit` changed them, as a
    /// reload would (runtime health is carried over by the state's own rules).
    pub fn replace_config(&self, edit: impl FnOnce(&mut Sources)) {
        let mut sources = self.sources.clone();
        edit(&mut sources);
        let lookup = |k: &str| self.env.get(k).cloned();
        let config = Config::build(&sources, &lookup, KeyMode::Require)
            .unwrap_or_else(|p| panic!("edited config is invalid: {p:?}"));
        self.state.replace_config(config);
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
