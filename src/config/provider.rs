//! Validated providers and models: endpoints, keys resolved from the environment, prices.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};

use super::raw::{Endpoint, HttpVersion, RawBreaker, RawHttp, RawProvider, RawRetry, Wire};
use super::Problem;
use crate::scrub::Scrubber;
use crate::secret::Secret;

/// Where keys come from; the real environment in `serve`, a closure in tests and the demo.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A provider ready to call: every key present, every number in range.
#[derive(Debug)]
pub struct Provider {
    pub name: Arc<str>,
    pub wire: Wire,
    pub base_url: String,
    /// `{base_url}/{endpoint path}` for each [`Endpoint`] (OpenAI-compatible wire), parsed
    /// once instead of per request.
    pub urls: [axum::http::Uri; 6],
    pub keys: Vec<ProviderKey>,
    pub first_byte_timeout: Duration,
    /// Longest time without content progress in a stream (or a chunk of a body).
    pub idle_timeout: Duration,
    /// Longest a whole stream may last.
    pub stream_deadline: Option<Duration>,
    /// Largest answer (body or stream) read from this provider.
    pub max_response_bytes: usize,
    /// Cleans this provider's keys (and key-shaped strings) out of its error text.
    pub(crate) scrubber: Scrubber,
    pub retry: RetrySettings,
    pub breaker: BreakerSettings,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Most requests that may wait at once for a paced key of this provider.
    pub max_queue: usize,
    /// The HTTP version and connection pool the router's client uses for this provider.
    pub http: HttpSettings,
    /// A fingerprint of the file's settings, so a reload keeps runtime state of unchanged providers.
    pub fingerprint: u64,
}

/// How the router's HTTP client talks to one provider. Providers with the same settings share
/// one connection pool; the default's is the pool every other client of the router uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpSettings {
    pub version: HttpVersion,
    pub max_idle_per_host: usize,
    pub idle_timeout: Duration,
}

impl HttpSettings {
    /// HTTP/2 where TLS negotiates it, up to 512 idle connections per host kept 90 s.
    pub const DEFAULT: Self = Self {
        version: HttpVersion::Auto,
        max_idle_per_host: 512,
        idle_timeout: Duration::from_secs(90),
    };
}

/// A provider's `http:` block checked: an idle timeout of at least a second and at most a day
/// (pooled connections are re-checked by the OS's keepalive in between), at most 65,536 idle
/// connections per host.
fn validate_http(
    raw: &RawHttp,
    at: &dyn Fn(&str, Option<&str>, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> HttpSettings {
    if !(1_000..=86_400_000).contains(&raw.idle_timeout_ms) {
        problems.push(at(
            "http.idle_timeout_ms",
            Some("idle_timeout_ms"),
            format!(
                "must be from 1000 to 86400000 (one second to a day), got {}",
                raw.idle_timeout_ms
            ),
        ));
    }
    if raw.max_idle_per_host > 65_536 {
        problems.push(at(
            "http.max_idle_per_host",
            Some("max_idle_per_host"),
            format!("must be at most 65536, got {}", raw.max_idle_per_host),
        ));
    }
    HttpSettings {
        version: raw.version,
        max_idle_per_host: raw.max_idle_per_host,
        idle_timeout: Duration::from_millis(raw.idle_timeout_ms),
    }
}

/// One upstream key; only the env var's name is ever shown.
#[derive(Debug)]
pub struct ProviderKey {
    pub env: String,
    pub secret: Secret,
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    pub attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub cooldown: Duration,
    /// Clamp on a cooldown an upstream's `Retry-After` asks for.
    pub max_retry_after: Duration,
    /// Cooldown of a key the upstream rejected (401/403).
    pub auth_cooldown: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub recovery: Duration,
    pub success_threshold: u32,
}

/// A routable model: `provider/name`, its price and its context window.
#[derive(Debug)]
pub struct Model {
    /// `provider/name`, the id clients and policies use.
    pub id: Arc<str>,
    pub provider: usize,
    /// The id sent upstream.
    pub upstream: Arc<str>,
    pub price: Price,
    pub context_window: u64,
    /// Encoding used to count this model's tokens when the upstream reports none.
    pub encoding: crate::tokens::Encoding,
    /// The API surfaces this model serves; other requests skip it.
    pub endpoints: Vec<Endpoint>,
    /// Embeddings micro-batching (`batch_window_ms`), off when `None`.
    pub batching: Option<Batching>,
}

/// How concurrent embeddings requests to one model are coalesced into one upstream call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// How long the first request of a batch waits for others to join it.
    pub window: Duration,
    /// Most inputs one coalesced call carries; a request that would overflow it starts the
    /// next batch, and a request this large alone is sent on its own.
    pub max_inputs: usize,
}

/// The longest batching window accepted: past it, batching costs more latency than it saves.
const MAX_BATCH_WINDOW_MS: u64 = 1_000;

/// USD per 1M tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Price {
    pub input_per_1m: f64,
    pub output_per_1m: f64,
    /// Prompt tokens read from the provider's prompt cache; the input price when not declared.
    pub cached_input_per_1m: Option<f64>,
    /// Prompt tokens written to the provider's prompt cache; the input price when not declared.
    pub cache_write_per_1m: Option<f64>,
}

impl Price {
    /// A price with no separate cache rates.
    pub fn new(input_per_1m: f64, output_per_1m: f64) -> Self {
        Self {
            input_per_1m,
            output_per_1m,
            cached_input_per_1m: None,
            cache_write_per_1m: None,
        }
    }

    /// Dollars for a request of this size, with no cache involved.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        self.cost_cached(prompt_tokens, 0, 0, completion_tokens)
    }

    /// Dollars when `cached` of the prompt tokens were cache reads and `written` cache writes
    /// (both are part of `prompt_tokens`, as in OpenAI's usage).
    pub fn cost_cached(
        &self,
        prompt_tokens: u64,
        cached: u64,
        written: u64,
        completion_tokens: u64,
    ) -> f64 {
        let fresh = prompt_tokens.saturating_sub(cached.saturating_add(written));
        (fresh as f64 * self.input_per_1m
            + cached as f64 * self.cached_input_per_1m.unwrap_or(self.input_per_1m)
            + written as f64 * self.cache_write_per_1m.unwrap_or(self.input_per_1m)
            + completion_tokens as f64 * self.output_per_1m)
            / 1_000_000.0
    }
}

/// Which keys to resolve: `check` and `classify` must work without secrets in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    Require,
    Ignore,
}

pub(super) struct ProviderCtx<'a> {
    pub file: &'a std::path::Path,
    pub text: &'a str,
    pub env: EnvLookup<'a>,
    pub keys: KeyMode,
}

/// Phase two for one provider file: check every value and resolve keys.
/// Missing key variables go to `missing_keys`, not `problems`: they are errors only for
/// providers a policy routes to (the caller decides, once the policies are read).
pub(super) fn validate_provider(
    raw: RawProvider,
    index: usize,
    cx: &ProviderCtx<'_>,
    problems: &mut Vec<Problem>,
    missing_keys: &mut Vec<Problem>,
) -> (Provider, Vec<Model>) {
    let at = |field: &str, needle: Option<&str>, msg: String| {
        Problem::at(cx.file, cx.text, field, needle, msg)
    };
    if raw.name.is_empty() || raw.name.contains('/') || raw.name.contains(char::is_whitespace) {
        problems.push(at(
            "name",
            Some("name:"),
            format!(
                "provider name `{}` must be non-empty with no `/` or spaces",
                raw.name
            ),
        ));
    }
    let base_url = raw.base_url.trim_end_matches('/').to_owned();
    if reqwest::Url::parse(&base_url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        problems.push(at(
            "base_url",
            Some(&raw.base_url),
            format!("`{}` is not an http(s) URL", raw.base_url),
        ));
    }
    let mut keys = Vec::new();
    for (i, k) in raw.keys.iter().enumerate() {
        let value = match cx.keys {
            KeyMode::Require => match (cx.env)(&k.env) {
                Some(v) if !v.trim().is_empty() => v.trim().to_owned(),
                _ => {
                    missing_keys.push(at(
                        &format!("keys[{i}].env"),
                        Some(&k.env),
                        format!(
                            "environment variable {} is not set (provider `{}` needs it)",
                            k.env, raw.name
                        ),
                    ));
                    continue;
                }
            },
            KeyMode::Ignore => String::new(),
        };
        for (name, v) in [("rpm", k.rpm), ("tpm", k.tpm)] {
            if v == Some(0) {
                problems.push(at(
                    &format!("keys[{i}].{name}"),
                    Some(name),
                    format!("{name} must be at least 1"),
                ));
            }
        }
        keys.push(ProviderKey {
            env: k.env.clone(),
            secret: Secret::new(value),
            rpm: k.rpm,
            tpm: k.tpm,
        });
    }
    let mut headers = Vec::new();
    for (name, value) in &raw.headers {
        match (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            (Ok(n), Ok(v)) => headers.push((n, v)),
            _ => problems.push(at(
                &format!("headers.{name}"),
                Some(name),
                "not a valid HTTP header".into(),
            )),
        }
    }
    let retry = validate_retry(&raw.retry, &at, problems);
    let http = validate_http(&raw.http, &at, problems);
    let breaker = validate_breaker(&raw.breaker, &at, problems);
    for (field, v) in [
        ("timeouts.first_byte_ms", raw.timeouts.first_byte_ms),
        ("timeouts.idle_ms", raw.timeouts.idle_ms),
    ] {
        if v == 0 {
            problems.push(at(
                field,
                Some(field.split('.').nth(1).unwrap_or(field)),
                "must be greater than 0".into(),
            ));
        }
    }
    if raw.models.is_empty() {
        problems.push(at(
            "models",
            Some("models"),
            "a provider needs at least one model".into(),
        ));
    }
    let name: Arc<str> = raw.name.as_str().into();
    let mut models = Vec::new();
    let mut declared: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (i, m) in raw.models.iter().enumerate() {
        let field = |f: &str| format!("models[{i}].{f}");
        if let Some(&first) = declared.get(m.name.as_str()) {
            let first_line =
                super::locate::line_at(cx.text, &format!("models[{first}].name"), None)
                    .map_or_else(String::new, |l| format!(" (first at line {l})"));
            problems.push(at(
                &field("name"),
                None,
                format!(
                    "model `{}` is declared twice in this provider{first_line}",
                    m.name
                ),
            ));
        }
        declared.entry(&m.name).or_insert(i);
        for (f, v) in [
            ("input_per_1m", m.input_per_1m),
            ("cached_input_per_1m", m.cached_input_per_1m.unwrap_or(0.0)),
            ("cache_write_per_1m", m.cache_write_per_1m.unwrap_or(0.0)),
            ("output_per_1m", m.output_per_1m),
        ] {
            if !v.is_finite() || v < 0.0 {
                problems.push(at(
                    &field(f),
                    Some(&m.name),
                    format!("price must be a non-negative number, got {v}"),
                ));
            }
        }
        if m.context_window == 0 {
            problems.push(at(
                &field("context_window"),
                Some(&m.name),
                "must be greater than 0".into(),
            ));
        }
        if let Some(t) = &m.tokenizer {
            if crate::tokens::Encoding::from_name(t).is_none() {
                problems.push(at(&field("tokenizer"), Some(t), format!("unknown tokenizer `{t}` (use o200k_base, cl100k_base, p50k_base or r50k_base)")));
            }
        }
        let batching = validate_batching(raw.wire, m, &mut |f: &str, msg: String| {
            problems.push(at(&field(f), Some(f), msg));
        });
        models.push(Model {
            id: format!("{}/{}", raw.name, m.name).into(),
            provider: index,
            upstream: m.name.as_str().into(),
            price: Price {
                input_per_1m: m.input_per_1m,
                output_per_1m: m.output_per_1m,
                cached_input_per_1m: m.cached_input_per_1m,
                cache_write_per_1m: m.cache_write_per_1m,
            },
            context_window: m.context_window,
            encoding: crate::tokens::Encoding::for_model(&m.name, m.tokenizer.as_deref()),
            endpoints: model_endpoints(raw.wire, m.endpoints.as_deref(), &mut |msg| {
                problems.push(at(&field("endpoints"), Some(&m.name), msg));
            }),
            batching,
        });
    }
    let fingerprint = fingerprint(&raw, &keys);
    // normalised by the URL standard's parser (as `base_url` was checked), sent as is
    let urls = Endpoint::ALL.map(|e| {
        reqwest::Url::parse(&format!("{base_url}/{}", e.path()))
            .ok()
            .and_then(|u| axum::http::Uri::try_from(u.as_str()).ok())
            .unwrap_or_else(|| axum::http::Uri::from_static("http://invalid.invalid/"))
    });
    let scrubber = Scrubber::new(keys.iter().map(|k| k.secret.expose()));
    let provider = Provider {
        name,
        wire: raw.wire,
        base_url,
        urls,
        keys,
        first_byte_timeout: Duration::from_millis(raw.timeouts.first_byte_ms),
        idle_timeout: Duration::from_millis(raw.timeouts.idle_ms),
        stream_deadline: raw.timeouts.stream_deadline_ms.map(Duration::from_millis),
        max_response_bytes: raw.max_response_bytes,
        scrubber,
        retry,
        breaker,
        headers,
        max_queue: raw.max_queue,
        http,
        fingerprint,
    };
    (provider, models)
}

/// A model's endpoints: as declared, or the wire's default (chat, plus legacy completions on
/// OpenAI-compatible providers); Gemini adds embeddings, Anthropic serves chat only.
fn model_endpoints(
    wire: Wire,
    declared: Option<&[Endpoint]>,
    problem: &mut dyn FnMut(String),
) -> Vec<Endpoint> {
    let supported: &[Endpoint] = match wire {
        Wire::Openai => &[
            Endpoint::Chat,
            Endpoint::Completions,
            Endpoint::Embeddings,
            Endpoint::Moderations,
            Endpoint::Responses,
        ],
        Wire::Gemini => &[Endpoint::Chat, Endpoint::Embeddings],
        Wire::Anthropic => &[Endpoint::Chat],
    };
    match declared {
        None if wire == Wire::Openai => vec![Endpoint::Chat, Endpoint::Completions],
        None => vec![Endpoint::Chat],
        Some([]) => {
            problem(
                "list at least one of chat, completions, embeddings, moderations, responses".into(),
            );
            vec![]
        }
        Some(list) => {
            for e in list.iter().filter(|e| !supported.contains(e)) {
                problem(format!(
                    "the {wire:?} wire does not serve {} yet",
                    e.as_str()
                ));
            }
            list.to_vec()
        }
    }
}

/// A model's embeddings batching: on with `batch_window_ms` (1 to 1000 ms) on a model that
/// serves embeddings; `max_batch_inputs` defaults to the wire's own per-request input limit.
fn validate_batching(
    wire: Wire,
    m: &super::raw::RawModel,
    problem: &mut dyn FnMut(&str, String),
) -> Option<Batching> {
    let Some(window) = m.batch_window_ms else {
        if m.max_batch_inputs.is_some() {
            problem(
                "max_batch_inputs",
                "max_batch_inputs has no effect without batch_window_ms (batching is off)".into(),
            );
        }
        return None;
    };
    let mut ok = true;
    if !(1..=MAX_BATCH_WINDOW_MS).contains(&window) {
        problem(
            "batch_window_ms",
            format!("must be between 1 and {MAX_BATCH_WINDOW_MS} (milliseconds), got {window}"),
        );
        ok = false;
    }
    if m.max_batch_inputs == Some(0) {
        problem("max_batch_inputs", "must be at least 1".into());
        ok = false;
    }
    if !m
        .endpoints
        .as_deref()
        .is_some_and(|e| e.contains(&Endpoint::Embeddings))
    {
        problem(
            "batch_window_ms",
            format!(
                "batching applies to embeddings only; model `{}` does not list `embeddings` in its endpoints",
                m.name
            ),
        );
        ok = false;
    }
    let default = if wire == Wire::Gemini { 100 } else { 2048 };
    ok.then(|| Batching {
        window: Duration::from_millis(window),
        max_inputs: m.max_batch_inputs.unwrap_or(default),
    })
}

fn validate_retry(
    r: &RawRetry,
    at: &dyn Fn(&str, Option<&str>, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> RetrySettings {
    if r.attempts == 0 {
        problems.push(at(
            "retry.attempts",
            Some("attempts"),
            "must be at least 1 (the first try counts)".into(),
        ));
    }
    if r.backoff_base_ms > r.backoff_max_ms {
        problems.push(at(
            "retry.backoff_base_ms",
            Some("backoff_base_ms"),
            "must not exceed backoff_max_ms".into(),
        ));
    }
    RetrySettings {
        attempts: r.attempts.max(1),
        backoff_base: Duration::from_millis(r.backoff_base_ms),
        backoff_max: Duration::from_millis(r.backoff_max_ms),
        cooldown: Duration::from_millis(r.cooldown_ms),
        max_retry_after: Duration::from_millis(r.max_retry_after_ms),
        auth_cooldown: Duration::from_millis(r.auth_cooldown_ms),
    }
}

fn validate_breaker(
    b: &RawBreaker,
    at: &dyn Fn(&str, Option<&str>, String) -> Problem,
    problems: &mut Vec<Problem>,
) -> BreakerSettings {
    for (f, v) in [
        ("breaker.failure_threshold", b.failure_threshold),
        ("breaker.success_threshold", b.success_threshold),
    ] {
        if v == 0 {
            problems.push(at(
                f,
                Some(f.split('.').nth(1).unwrap_or(f)),
                "must be at least 1".into(),
            ));
        }
    }
    BreakerSettings {
        failure_threshold: b.failure_threshold.max(1),
        recovery: Duration::from_millis(b.recovery_ms),
        success_threshold: b.success_threshold.max(1),
    }
}

fn fingerprint(raw: &RawProvider, keys: &[ProviderKey]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{raw:?}").hash(&mut h);
    for k in keys {
        k.secret.expose().hash(&mut h);
    }
    h.finish()
}
