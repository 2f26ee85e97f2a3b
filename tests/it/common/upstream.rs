//! A simulated provider as the tests describe it, and the provider YAML rendered for it.

use switchyard::sim::SimSettings;

/// One model of an upstream: name, USD per 1M prompt / completion tokens, context window.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub name: String,
    pub input_per_1m: f64,
    pub output_per_1m: f64,
    pub context_window: u64,
    /// YAML list of endpoints, e.g. `[embeddings]`; the provider default when `None`.
    pub endpoints: Option<String>,
    /// More settings of this model, as YAML lines indented under it (e.g. `batch_window_ms: 20`).
    pub extra: Vec<String>,
}

/// A simulated provider and the provider file the router gets for it.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub name: String,
    pub models: Vec<ModelSpec>,
    /// Key values; each is exposed to the config as env var `<NAME>_KEY_<i>` of the harness's
    /// own lookup (not the process environment).
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
    /// More top-level provider settings, as YAML lines (e.g. `max_response_bytes: 1024`).
    pub extra: String,
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
                    extra: Vec::new(),
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
            extra: String::new(),
        }
    }

    /// Declares the provider's keys (values the sim sees as Bearer tokens), in rotation order.
    pub fn keys(mut self, keys: &[&str]) -> Self {
        self.keys = keys.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    /// Tries per request on this provider before failing over (retry `attempts`).
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n;
        self
    }

    /// How long a key sits out after a 429 without Retry-After.
    pub fn cooldown_ms(mut self, ms: u64) -> Self {
        self.cooldown_ms = ms;
        self
    }

    /// The circuit breaker: failures to open, time until half-open, probe successes to close.
    pub fn breaker(mut self, failure_threshold: u32, recovery_ms: u64, success: u32) -> Self {
        self.failure_threshold = failure_threshold;
        self.recovery_ms = recovery_ms;
        self.success_threshold = success;
        self
    }

    /// How long to wait for the upstream's first byte before the try counts as failed.
    pub fn first_byte_ms(mut self, ms: u64) -> Self {
        self.first_byte_ms = ms;
        self
    }

    /// How long a stream may go silent before it counts as cut.
    pub fn idle_ms(mut self, ms: u64) -> Self {
        self.idle_ms = ms;
        self
    }

    /// Prices `model` in USD per 1M prompt / completion tokens (costs and savings follow).
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

    /// Sets `model`'s context window in tokens (longer prompts are refused or rerouted).
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

    /// Adds a setting to `model` (one YAML `field: value`, e.g. `batch_window_ms: 20`).
    pub fn model_setting(mut self, model: &str, yaml: &str) -> Self {
        for m in self.models.iter_mut().filter(|m| m.name == model) {
            m.extra.push(yaml.to_owned());
        }
        self
    }

    /// Sets the provider's wire API (`anthropic`, `gemini`); pair it with `base_url` of a sim
    /// speaking that wire.
    pub fn wire(mut self, wire: &'static str) -> Self {
        self.wire = Some(wire);
        self
    }

    /// Points the provider somewhere else than its sim (a closed port, another wire's sim).
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = Some(url.to_owned());
        self
    }

    /// Replaces the sim's settings (latency, reply length, accepted keys).
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
    /// Adds top-level provider settings (YAML lines ending in a newline).
    pub fn extra(mut self, yaml: &str) -> Self {
        self.extra.push_str(yaml);
        self
    }

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

    /// Name of the env var holding key `i`, as the provider file names it; the harness answers
    /// it from a map of its own, so two harnesses with the same provider name never clash.
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
        y.push_str(&self.extra);
        y.push_str("models:\n");
        for m in &self.models {
            y.push_str(&format!(
                "  - name: {}\n    input_per_1m: {}\n    output_per_1m: {}\n    context_window: {}\n",
                m.name, m.input_per_1m, m.output_per_1m, m.context_window
            ));
            if let Some(e) = &m.endpoints {
                y.push_str(&format!("    endpoints: {e}\n"));
            }
            for line in &m.extra {
                y.push_str(&format!("    {line}\n"));
            }
        }
        y
    }
}
