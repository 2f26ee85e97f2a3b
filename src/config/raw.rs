//! Raw serde shapes of the YAML files, exactly as operators write them (phase one of two).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::classify::{Complexity, RawClassifier};

pub use super::endpoint::Endpoint;
pub use super::raw_access::*;
pub(crate) use super::toggle::Toggle;

/// The server file given to `serve --config`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Folder of provider files, relative to the server file.
    #[serde(default = "default_providers")]
    pub providers: PathBuf,
    /// Folder of policy files, relative to the server file.
    #[serde(default = "default_policies")]
    pub policies: PathBuf,
    /// Name of the policy used for requests that name no alias of another policy.
    pub policy: Option<String>,
    /// Usage ledger (JSON lines), relative to the server file; or a map with its `path`,
    /// `flush_ms` and `fsync`.
    #[serde(default)]
    pub ledger: super::ledger::RawLedgerSetting,
    #[serde(default)]
    pub log_format: LogFormat,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// On SIGTERM/SIGINT, how long open requests and streams may finish before the remaining
    /// streams are ended with an error event.
    #[serde(default = "default_grace")]
    pub shutdown_grace_ms: u64,
    /// After the grace period, how long connections still open may take to close before the
    /// process exits anyway (having flushed the ledger).
    #[serde(default = "default_shutdown_deadline")]
    pub shutdown_deadline_ms: u64,
    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection stays open.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// A second address serving only the operational endpoints (metrics, detailed health,
    /// the dashboard) without a key: for Prometheus and operators on an internal network.
    pub ops_listen: Option<String>,
    /// `None` when the file has no `auth:` block (then `mode: keys`).
    pub auth: Option<RawAuth>,
    /// Per-user limits and budgets by tier name; a key's `tier` picks one.
    #[serde(default)]
    pub tiers: BTreeMap<String, RawLimits>,
    /// The tier of keys that name none.
    pub default_tier: Option<String>,
    /// Limits and budgets shared by all members of a team.
    #[serde(default)]
    pub teams: BTreeMap<String, RawLimits>,
    /// Limits and budgets over every request.
    #[serde(default)]
    pub global: RawLimits,
    #[serde(default)]
    pub budgets: RawBudgets,
    #[serde(default)]
    pub state: RawState,
    #[serde(default)]
    pub cache: RawCache,
    /// Batch jobs (`POST /v1/batches`): off unless set.
    #[serde(default)]
    pub batches: Option<super::batches::RawBatches>,
    /// Bounds of the Responses API's stored answers.
    #[serde(default)]
    pub response_store: super::response_store::RawResponseStore,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_providers() -> PathBuf {
    "providers".into()
}
fn default_policies() -> PathBuf {
    "policies".into()
}
fn default_shutdown_deadline() -> u64 {
    5_000
}

fn default_header_timeout() -> u64 {
    10_000
}

fn default_grace() -> u64 {
    30_000
}
fn default_max_body() -> usize {
    8 * 1024 * 1024
}

/// The wire API a provider speaks; the seam where Anthropic and Gemini adapters plug in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    #[default]
    Openai,
    /// Anthropic Messages API (`POST {base_url}/messages`).
    Anthropic,
    /// Google Gemini API (`POST {base_url}/models/{model}:generateContent`).
    Gemini,
}

/// One provider file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub name: String,
    #[serde(default)]
    pub wire: Wire,
    pub base_url: String,
    #[serde(default)]
    pub keys: Vec<RawKey>,
    pub models: Vec<RawModel>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub retry: RawRetry,
    #[serde(default)]
    pub breaker: RawBreaker,
    /// Extra static headers sent with every call (e.g. an organisation id).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Most requests that may wait for a paced key of this provider at once.
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// Largest whole (non-streamed) answer or stream read from this provider; a larger one
    /// fails over like a broken answer instead of being held in memory.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// How the router's HTTP client talks to this provider.
    #[serde(default)]
    pub http: RawHttp,
}

/// A provider's HTTP settings: the protocol and the pool of idle connections kept for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawHttp {
    pub version: HttpVersion,
    /// Idle connections kept open per host for reuse.
    pub max_idle_per_host: usize,
    /// How long an idle pooled connection is kept.
    pub idle_timeout_ms: u64,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            version: HttpVersion::Auto,
            max_idle_per_host: 512,
            idle_timeout_ms: 90_000,
        }
    }
}

/// Which HTTP version the router speaks to a provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    /// HTTP/2 where TLS negotiates it (ALPN), HTTP/1.1 otherwise.
    #[default]
    Auto,
    /// HTTP/1.1 only, also over TLS: one request per connection at a time, no HTTP/2 framing.
    Http1,
    /// HTTP/2 only: over TLS by ALPN, over plain `http://` with prior knowledge (h2c, as
    /// self-hosted servers such as vLLM or Triton behind a sidecar offer); many requests share
    /// one connection.
    Http2,
}

fn default_max_queue() -> usize {
    64
}

fn default_max_response_bytes() -> usize {
    16 * 1024 * 1024
}

/// A key is named by the environment variable that holds it, never written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKey {
    pub env: String,
    /// Requests per minute this key may send; the router paces calls to stay under it.
    pub rpm: Option<u32>,
    /// Tokens per minute this key may use (prompt + `max_tokens`, counted when sent).
    pub tpm: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModel {
    /// The provider's own model id, sent upstream as `model`.
    pub name: String,
    /// USD per 1M prompt tokens.
    pub input_per_1m: f64,
    /// USD per 1M completion tokens.
    pub output_per_1m: f64,
    /// USD per 1M prompt tokens served from the provider's prompt cache (default: input price).
    pub cached_input_per_1m: Option<f64>,
    /// USD per 1M prompt tokens written to the provider's prompt cache (default: input price).
    pub cache_write_per_1m: Option<f64>,
    #[serde(default = "default_context")]
    pub context_window: u64,
    /// A tiktoken encoding name (`o200k_base`, `cl100k_base`) for non-OpenAI model names.
    pub tokenizer: Option<String>,
    /// What the model serves; default `[chat, completions]` on OpenAI-compatible providers and
    /// `[chat]` on the others (an embedding model says `[embeddings]`).
    pub endpoints: Option<Vec<Endpoint>>,
    /// Embeddings micro-batching: concurrent requests arriving within this many milliseconds
    /// are sent upstream as one call and split back (off when absent).
    pub batch_window_ms: Option<u64>,
    /// Most inputs one coalesced embeddings call carries (default: 2048 on OpenAI-compatible
    /// wires, 100 on Gemini, their own per-request limits).
    pub max_batch_inputs: Option<usize>,
}

fn default_context() -> u64 {
    128_000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawTimeouts {
    /// Until the upstream's response headers (non-streaming: the whole answer's headers).
    pub first_byte_ms: u64,
    /// Longest time a stream may go without content progress, or a body without a chunk
    /// (blank events and comments are not progress).
    pub idle_ms: u64,
    /// Longest a whole stream may last, however steadily it progresses (off when absent).
    pub stream_deadline_ms: Option<u64>,
}

impl Default for RawTimeouts {
    fn default() -> Self {
        Self {
            first_byte_ms: 120_000,
            idle_ms: 60_000,
            stream_deadline_ms: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRetry {
    /// Tries per candidate, the first included.
    pub attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Key cooldown after a 429 that carries no `Retry-After`.
    pub cooldown_ms: u64,
    /// The longest cooldown an upstream's `Retry-After` may impose on a key.
    pub max_retry_after_ms: u64,
    /// Key cooldown after the upstream rejects the key itself (401 or 403).
    pub auth_cooldown_ms: u64,
}

impl Default for RawRetry {
    fn default() -> Self {
        Self {
            attempts: 2,
            backoff_base_ms: 100,
            backoff_max_ms: 2_000,
            cooldown_ms: 10_000,
            max_retry_after_ms: 300_000,
            auth_cooldown_ms: 600_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawBreaker {
    pub failure_threshold: u32,
    pub recovery_ms: u64,
    pub success_threshold: u32,
}

impl Default for RawBreaker {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            recovery_ms: 30_000,
            success_threshold: 2,
        }
    }
}

/// One policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The model every request is priced against to compute the saving.
    pub baseline: String,
    #[serde(default)]
    pub classifier: Option<RawClassifier>,
    pub rules: Vec<RawRule>,
    /// Groups tried after a concrete model that was requested by name.
    #[serde(default)]
    pub fallbacks: BTreeMap<String, Vec<RawGroup>>,
    /// What happens to a request whose user, team or global budget is spent.
    #[serde(default)]
    pub on_budget_exceeded: BudgetAction,
    /// What a request does when every key of a candidate's provider is at its rpm/tpm.
    #[serde(default)]
    pub pacing: RawPacing,
    #[serde(default)]
    pub guardrails: RawGuardrails,
    /// A moderation model asked before the model call (see the moderation module).
    #[serde(default)]
    pub moderation: Option<crate::moderation::settings::RawModeration>,
    /// `on` continues a stream that broke after its first byte on the next candidate.
    #[serde(default)]
    pub stream_resume: Toggle,
}

/// The answer to a spent budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetAction {
    /// 429 `budget_exceeded`, naming the budget and when it resets.
    #[default]
    Refuse,
    /// Route only to the cheapest candidates the rule allows.
    Degrade,
}

/// Whether to wait for a paced key or move to the next candidate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnBusy {
    /// Queue (bounded by the provider's `max_queue`) for up to `max_wait_ms`.
    #[default]
    Wait,
    /// Go straight to the next candidate.
    Next,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawPacing {
    pub on_busy: OnBusy,
    pub max_wait_ms: u64,
}

impl Default for RawPacing {
    fn default() -> Self {
        Self {
            on_busy: OnBusy::Wait,
            max_wait_ms: 5_000,
        }
    }
}

/// Named regex rules: `input` rules block a request, `output` rules redact the answer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGuardrails {
    #[serde(default)]
    pub input: Vec<RawInputRule>,
    #[serde(default)]
    pub output: Vec<RawOutputRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInputRule {
    pub name: String,
    pub pattern: String,
    #[serde(default)]
    pub case_sensitive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutputRule {
    pub name: String,
    pub pattern: String,
    #[serde(default = "default_redaction")]
    pub replace: String,
    /// Longest text a match can span; that much of a stream is held back to catch matches
    /// split across chunks.
    #[serde(default = "default_max_match")]
    pub max_match_chars: usize,
}

fn default_redaction() -> String {
    "[REDACTED]".into()
}

fn default_max_match() -> usize {
    256
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub name: String,
    #[serde(default)]
    pub when: RawWhen,
    pub route: Vec<RawGroup>,
    /// Overrides the policy's `stream_resume` for requests this rule routes.
    #[serde(default)]
    pub stream_resume: Option<Toggle>,
    /// What to do with a prompt too long for some candidates (default `fallback`).
    #[serde(default)]
    pub on_context_overflow: super::overflow::OnContextOverflow,
}

/// Conditions of a rule; all given ones must hold; none given means catch-all.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWhen {
    pub endpoint: Option<OneOrMany<Endpoint>>,
    pub complexity: Option<OneOrMany<Complexity>>,
    pub tokens: Option<RawRange>,
    pub model: Option<OneOrMany<String>>,
    pub user: Option<OneOrMany<String>>,
    pub tools: Option<bool>,
    pub images: Option<bool>,
    pub last_user_matches: Option<String>,
    /// The classifier's confidence in its tier (0..=1), e.g. `{max: 0.6}` for uncertain ones.
    pub confidence: Option<RawUnitRange>,
    /// The probability that the prompt is complex (0..=1), e.g. `{min: 0.4}` for a medium
    /// verdict close to the complex cut-off.
    pub complex_probability: Option<RawUnitRange>,
}

/// A range within 0..=1; either end may be left open.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUnitRange {
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl RawWhen {
    /// No condition written: the rule matches everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.endpoint.is_none()
            && self.complexity.is_none()
            && self.tokens.is_none()
            && self.model.is_none()
            && self.user.is_none()
            && self.tools.is_none()
            && self.images.is_none()
            && self.last_user_matches.is_none()
            && self.confidence.is_none()
            && self.complex_probability.is_none()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRange {
    pub min: Option<u64>,
    pub max: Option<u64>,
}

/// A scalar or a list, so `complexity: complex` and `complexity: [medium, complex]` both read.
/// Read by shape (list or not), not `untagged`, so a bad value is reported as itself
/// (`meduim` is not one of simple, medium, complex) rather than as "no variant matched".
#[derive(Debug)]
pub(crate) enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub(crate) fn into_vec(self) -> Vec<T> {
        match self {
            Self::One(t) => vec![t],
            Self::Many(v) => v,
        }
    }
}

/// A candidate group: `model`, `[a, b]` (equal weights) or `{a: 70, b: 30}` (kept in the
/// order written, which is also the failover order among equal draws).
/// Read by shape like [`OneOrMany`], so a wrong one says what a group may be.
#[derive(Debug)]
pub(crate) enum RawGroup {
    One(String),
    List(Vec<String>),
    Weighted(serde_yaml::Mapping),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::value::{
            BoolDeserializer, F64Deserializer, I64Deserializer, SeqAccessDeserializer,
            StrDeserializer, U64Deserializer,
        };
        use serde::de::{Error, SeqAccess, Visitor};
        struct ByShape<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ByShape<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(StrDeserializer::<E>::new(v)).map(OneOrMany::One)
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<Self::Value, E> {
                T::deserialize(BoolDeserializer::<E>::new(v)).map(OneOrMany::One)
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(I64Deserializer::<E>::new(v)).map(OneOrMany::One)
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
                T::deserialize(U64Deserializer::<E>::new(v)).map(OneOrMany::One)
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
                T::deserialize(F64Deserializer::<E>::new(v)).map(OneOrMany::One)
            }
        }
        d.deserialize_any(ByShape(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for RawGroup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        use serde::de::{Error, MapAccess, SeqAccess, Visitor};
        struct ByShape;
        impl<'de> Visitor<'de> for ByShape {
            type Value = RawGroup;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a model (`provider/model`), a list of models or a map of `provider/model: weight`",
                )
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawGroup::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(RawGroup::List)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                serde_yaml::Mapping::deserialize(MapAccessDeserializer::new(map))
                    .map(RawGroup::Weighted)
            }
        }
        d.deserialize_any(ByShape)
    }
}
