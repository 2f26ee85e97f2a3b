//! Shared integration-test harness: simulated upstreams, a config rendered around their URLs,
//! a ledger in a temp dir and the router served on 127.0.0.1:0.
#![allow(dead_code)]

pub mod browser;
mod own_process;

pub use own_process::own_process;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard::config::{Config, KeyMode, SourceFile, Sources};
use switchyard::sim::{self, SimControl, SimSettings, SimUpstream};
use switchyard::state::AppState;
use switchyard::usage::{Ledger, UsageRecord};
use tokio::sync::oneshot;

/// One model of an upstream: name, USD per 1M prompt / completion tokens, context window.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub name: String,
    pub input_per_1m: f64,
    pub output_per_1m: f64,
    pub context_window: u64,
    /// YAML list of endpoints, e.g. `[embeddings]`; the provider default when `None`.
    pub endpoints: Option<String>,
}

/// A simulated provider and the provider file the router gets for it.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub name: String,
    pub models: Vec<ModelSpec>,
    /// Key values; each is exposed to the config through env var `<NAME>_KEY_<i>`.
    pub keys: Vec<String>,
    pub attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub cooldown_ms: u64,
    pub failure_threshold: u32,
    pub recovery_ms: u64,
    pub success_threshold: u32,
    pub first_byte_ms: u64,
    pub idle_ms: u64,
    /// Replace the sim's base URL (e.g. a closed port for connect errors).
    pub base_url: Option<String>,
    /// The provider's `wire:` (`openai` when `None`).
    pub wire: Option<&'static str>,
    /// Tweak the simulator (latency, reply length, accepted keys).
    pub sim: Option<SimSettings>,
    /// `rpm` / `tpm` declared on every key.
    pub key_limits: (Option<u32>, Option<u32>),
    /// The provider's `max_queue` (the default when `None`).
    pub max_queue: Option<usize>,
}

impl Upstream {
    /// A provider with one model per name (price 1/2 per 1M, 128k context), no keys, one try,
    /// no backoff and a breaker that never opens in ordinary tests.
    pub fn new(name: &str, models: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            models: models
                .iter()
                .map(|m| ModelSpec {
                    name: (*m).to_owned(),
                    input_per_1m: 1.0,
                    output_per_1m: 2.0,
                    context_window: 128_000,
                    endpoints: None,
                })
                .collect(),
            keys: Vec::new(),
            attempts: 1,
            backoff_base_ms: 0,
            backoff_max_ms: 0,
            cooldown_ms: 10_000,
            failure_threshold: 1_000,
            recovery_ms: 30_000,
            success_threshold: 1,
            first_byte_ms: 10_000,
            idle_ms: 10_000,
            base_url: None,
            wire: None,
            sim: None,
            key_limits: (None, None),
            max_queue: None,
        }
    }

    pub fn keys(mut self, keys: &[&str]) -> Self {
        self.keys = keys.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n;
        self
    }

    pub fn cooldown_ms(mut self, ms: u64) -> Self {
        self.cooldown_ms = ms;
        self
    }

    pub fn breaker(mut self, failure_threshold: u32, recovery_ms: u64, success: u32) -> Self {
        self.failure_threshold = failure_threshold;
        self.recovery_ms = recovery_ms;
        self.success_threshold = success;
        self
    }

    pub fn first_byte_ms(mut self, ms: u64) -> Self {
        self.first_byte_ms = ms;
        self
    }

    pub fn idle_ms(mut self, ms: u64) -> Self {
        self.idle_ms = ms;
        self
    }

    pub fn price(mut self, model: &str, input: f64, output: f64) -> Self {
        let m = self
            .models
            .iter_mut()
            .find(|m| m.name == model)
            .expect("price(): no such model");
        m.input_per_1m = input;
        m.output_per_1m = output;
        self
    }

    pub fn context_window(mut self, model: &str, window: u64) -> Self {
        let m = self
            .models
            .iter_mut()
            .find(|m| m.name == model)
            .expect("context_window(): no such model");
        m.context_window = window;
        self
    }

    /// Declares what a model serves (`[embeddings]`, `[chat, completions]`, ...).
    pub fn endpoints(mut self, model: &str, yaml_list: &str) -> Self {
        for m in self.models.iter_mut().filter(|m| m.name == model) {
            m.endpoints = Some(yaml_list.to_owned());
        }
        self
    }

    /// Sets the provider's wire API (`anthropic`, `gemini`); pair it with `base_url` of a sim
    /// speaking that wire.
    pub fn wire(mut self, wire: &'static str) -> Self {
        self.wire = Some(wire);
        self
    }

    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = Some(url.to_owned());
        self
    }

    pub fn sim_settings(mut self, s: SimSettings) -> Self {
        self.sim = Some(s);
        self
    }

    /// Declares `rpm` / `tpm` on every key of the provider file.
    pub fn key_limits(mut self, rpm: Option<u32>, tpm: Option<u32>) -> Self {
        self.key_limits = (rpm, tpm);
        self
    }

    /// Sets how many requests may wait for a paced key of this provider.
    pub fn max_queue(mut self, n: usize) -> Self {
        self.max_queue = Some(n);
        self
    }

    /// Makes the sim enforce `rpm` per key, answering 429 past it (see `SimSettings::key_rpm`).
    pub fn sim_key_rpm(mut self, rpm: u32) -> Self {
        let mut s = self.sim.take().unwrap_or_else(|| {
            SimSettings::fast(
                self.name.clone(),
                self.models.iter().map(|m| m.name.clone()),
            )
        });
        s.key_rpm = Some(rpm);
        self.sim = Some(s);
        self
    }

    /// Name of the env var holding key `i`.
    pub fn key_env(&self, i: usize) -> String {
        format!("{}_KEY_{i}", self.name.to_uppercase().replace('-', "_"))
    }

    /// The provider YAML for this upstream at `url`.
    pub fn render(&self, url: &str) -> String {
        let mut y = format!("name: {}\nbase_url: \"{url}\"\n", self.name);
        if let Some(w) = self.wire {
            y.push_str(&format!("wire: {w}\n"));
        }
        if !self.keys.is_empty() {
            y.push_str("keys:\n");
            for i in 0..self.keys.len() {
                y.push_str(&format!("  - env: {}\n", self.key_env(i)));
                for (name, limit) in [("rpm", self.key_limits.0), ("tpm", self.key_limits.1)] {
                    if let Some(n) = limit {
                        y.push_str(&format!("    {name}: {n}\n"));
                    }
                }
            }
        }
        if let Some(n) = self.max_queue {
            y.push_str(&format!("max_queue: {n}\n"));
        }
        y.push_str(&format!(
            "retry: {{attempts: {}, backoff_base_ms: {}, backoff_max_ms: {}, cooldown_ms: {}}}\n",
            self.attempts, self.backoff_base_ms, self.backoff_max_ms, self.cooldown_ms
        ));
        y.push_str(&format!(
            "breaker: {{failure_threshold: {}, recovery_ms: {}, success_threshold: {}}}\n",
            self.failure_threshold, self.recovery_ms, self.success_threshold
        ));
        y.push_str(&format!(
            "timeouts: {{first_byte_ms: {}, idle_ms: {}}}\n",
            self.first_byte_ms, self.idle_ms
        ));
        y.push_str("models:\n");
        for m in &self.models {
            y.push_str(&format!(
                "  - name: {}\n    input_per_1m: {}\n    output_per_1m: {}\n    context_window: {}\n",
                m.name, m.input_per_1m, m.output_per_1m, m.context_window
            ));
            if let Some(e) = &m.endpoints {
                y.push_str(&format!("    endpoints: {e}\n"));
            }
        }
        y
    }
}

/// The router under test with its simulated upstreams.
pub struct Harness {
    pub addr: std::net::SocketAddr,
    pub state: std::sync::Arc<AppState>,
    pub client: reqwest::Client,
    pub sims: HashMap<String, SimUpstream>,
    pub ledger_path: PathBuf,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// What the config was built from, so another instance can be started on it.
    sources: Sources,
    env: HashMap<String, String>,
}

impl Harness {
    /// Starts one sim per upstream, builds the config with `policy` (YAML) and serves the router.
    pub async fn start(upstreams: Vec<Upstream>, policy: &str) -> Self {
        Self::start_with_server(upstreams, policy, None).await
    }

    /// Like [`Harness::start`] with a server file text (e.g. `max_body_bytes: 2048`).
    pub async fn start_with_server(
        upstreams: Vec<Upstream>,
        policy: &str,
        server: Option<&str>,
    ) -> Self {
        Self::start_with_keys(upstreams, policy, server, None).await
    }

    /// Like [`Harness::start_with_server`] with a virtual-key file text.
    pub async fn start_with_keys(
        upstreams: Vec<Upstream>,
        policy: &str,
        server: Option<&str>,
        keys: Option<&str>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sims = HashMap::new();
        let mut providers = Vec::new();
        let mut env: HashMap<String, String> = HashMap::new();
        for u in &upstreams {
            let settings = u.sim.clone().unwrap_or_else(|| {
                SimSettings::fast(u.name.clone(), u.models.iter().map(|m| m.name.clone()))
            });
            let sim = sim::spawn(settings).await.expect("spawn sim");
            let url = u.base_url.clone().unwrap_or_else(|| sim.base_url());
            providers.push(SourceFile {
                path: format!("providers/{}.yaml", u.name).into(),
                text: u.render(&url),
            });
            for (i, k) in u.keys.iter().enumerate() {
                env.insert(u.key_env(i), k.clone());
            }
            sims.insert(u.name.clone(), sim);
        }
        // tests that do not set up auth run open, as the demo does
        let server_text = server.map(|text| {
            if text.contains("auth:") {
                text.to_owned()
            } else {
                format!("auth:\n  mode: open\n{text}")
            }
        });
        let sources = Sources {
            keys: keys.map(|text| SourceFile {
                path: dir.path().join("keys.yaml"),
                text: text.to_owned(),
            }),
            server: server_text.map(|text| SourceFile {
                path: dir.path().join("switchyard.yaml"),
                text,
            }),
            providers,
            policies: vec![SourceFile {
                path: "policies/test.yaml".into(),
                text: policy.to_owned(),
            }],
        };
        let ledger_path = dir.path().join("ledger.jsonl");
        Self::serve(sources, env, sims, dir, ledger_path).await
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

    async fn serve(
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
        state.rebuild_spend(&ledger_path).expect("read ledger");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind router");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        let server = tokio::spawn(async move {
            let _ = switchyard::server::run(listener, served, async move {
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
            dir,
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

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("router answers");
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
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.calls(name) < n {
            assert!(
                Instant::now() < deadline,
                "sim {name} never reached {n} calls"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A one-message chat body.
pub fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// A one-message streaming chat body.
pub fn chat_stream(model: &str, text: &str, include_usage: bool) -> Value {
    let mut b = chat(model, text);
    b["stream"] = json!(true);
    if include_usage {
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

/// A header's value as a string ("" when missing).
pub fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts OpenAI's error shape `{"error":{"message","type","param","code"}}` and returns the
/// inner object.
pub fn assert_openai_error(body: &Value) -> &serde_json::Map<String, Value> {
    let err = body
        .get("error")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("not an OpenAI error body: {body}"));
    assert!(
        err.get("message")
            .is_some_and(|m| m.as_str().is_some_and(|s| !s.is_empty())),
        "error.message must be a non-empty string: {body}"
    );
    assert!(
        err.get("type").is_some_and(Value::is_string),
        "error.type must be a string: {body}"
    );
    for k in ["param", "code"] {
        let v = err
            .get(k)
            .unwrap_or_else(|| panic!("error.{k} must be present: {body}"));
        assert!(
            v.is_null() || v.is_string(),
            "error.{k} must be a string or null: {body}"
        );
    }
    err
}

/// The `data:` payloads of an SSE text, in order.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// The content text of chunk payloads, concatenated.
pub fn sse_content(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .flat_map(|v| {
            v["choices"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c["delta"]["content"].as_str().map(str::to_owned))
        })
        .collect()
}

/// The number of chunks carrying non-empty content.
pub fn content_chunks(events: &[String]) -> usize {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter(|v| {
            v["choices"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["delta"]["content"]
                        .as_str()
                        .is_some_and(|s| !s.is_empty())
                })
            })
        })
        .count()
}

/// The sim's prompt-token formula: Σ ceil(chars / 4) + 4 per message.
pub fn sim_prompt_tokens(texts: &[&str]) -> u64 {
    texts
        .iter()
        .map(|t| (t.chars().count() as u64).div_ceil(4) + 4)
        .sum()
}

/// A free local port that refuses connections.
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/v1")
}
