//! Switchyard: a smart multi-provider LLM router with an OpenAI-compatible API.
//!
//! A request walks these stages, one module each. [`pipeline`] runs them as phases over one
//! per-request context (the config snapshot, tenant, decision, trace and timings) and ends
//! every request in one finish step:
//!
//! 1. [`server`] / [`api`]: axum accepts `POST /v1/chat/completions`, `/v1/completions` and
//!    `/v1/embeddings`; thin handlers read the body (bounded by `max_body_bytes`) and call
//!    [`pipeline::handle`].
//! 2. [`auth`]: the `Authorization: Bearer` virtual key becomes a [`auth::Tenant`] (user, team,
//!    tier limits); 401 otherwise (open mode skips this).
//! 3. [`openai`]: the body is parsed once into [`openai::ChatRequest`]: the untouched JSON map
//!    plus the routing view (texts, tools, images, `max_tokens`, user); `model` is resolved.
//! 4. [`guardrails`]: the policy's input rules may block the prompt (400).
//! 5. [`tokens`]: prompt tokens are counted once with tiktoken.
//! 6. [`limits`]: token-bucket rate limits per user, team and global (429 + `x-ratelimit-*`);
//!    then the policy's [`moderation`] pre-check may refuse the prompt (400) or name the rule
//!    to route it with.
//! 7. [`classify`] + [`route`]: the policy's classifier gives a
//!    [`classify::Classification`]; its first matching rule yields a [`route::RoutePlan`] of
//!    ordered weighted candidates, minus models that do not serve the endpoint or whose
//!    context window is too small.
//! 8. [`cache`]: a deterministic request may be answered from the response cache.
//! 9. [`limits`] again: the request's most expensive possible cost is reserved on every
//!    budget (refuse, or `degrade` to the cheapest candidates).
//! 10. [`dispatch`]: weighted order within a group, key rotation and pacing
//!     ([`dispatch::keys`], [`dispatch::pacing`]), circuit breakers ([`dispatch::breaker`]),
//!     retries with backoff ([`dispatch::backoff`]), failover to the next candidate and group;
//!     [`adapters`] speak each wire API (OpenAI-compatible, Anthropic, Gemini) and translate to
//!     and from OpenAI's shapes, every stream through one driver.
//! 11. [`stream`]: streamed answers are relayed as SSE ([`sse`] framing; output guardrails
//!     redact); failover is possible until the first chunk, after which a failure ends the
//!     stream with an error event, or, with `stream_resume: on`, [`resume`] continues the
//!     answer on the next candidate in the same stream. The relay reports a summary when it ends.
//! 12. The finish step prices the request once against its model and the baseline, settles
//!     its budget hold and token limits, stores a fresh answer in the cache and queues exactly
//!     one [`usage`] ledger line, written off the request path; the ledger feeds [`metrics`].
//!     When OpenTelemetry is configured, it also hands the request's spans (request, route,
//!     each upstream attempt, stream) to [`otel`]'s exporter.
//!
//! [`pipeline`] runs the stages in this order. With Redis configured, [`shared`] makes limits,
//! budgets, key cooldowns, breaker openings and the cache common to every instance.
//!
//! Around the pipeline: [`config`] loads and validates providers/ and policies/, [`reload`]
//! swaps in a new config atomically, [`state`] holds the [`live`] config and its health; [`report`] turns the
//! ledger into cost reports and replays [`workload`]s through policies (`simulate`); [`sim`]
//! simulates providers of every wire for the demo, tests and benchmarks; [`demo`] wires them
//! together; [`cli`] is the command line.

// The public surface: what the `switchyard` binary, the integration tests and an application
// embedding the router need; everything else is `pub(crate)`.

/// The command line the `switchyard` binary runs ([`cli::execute`]).
pub mod cli;
/// Simulated providers of every wire: the demo, the tests and the benchmarks call them.
pub mod sim;

/// Embedding the router: read and validate a config, build the state, serve it (and follow
/// file changes); every request leaves a [`UsageRecord`] in the [`Ledger`].
pub use config::{sha256_hex, Config, KeyMode, Problem, SourceFile, Sources};
/// The moderation pre-check's part of a ledger line.
pub use moderation::record::ModerationRecord;
pub use reload::spawn_triggers;
pub use server::{app, run};
pub use state::AppState;
pub use usage::{Ledger, Outcome, ResumeNote, UsageRecord};

/// Internals the integration tests observe directly (cache keys, key pools, breakers, token
/// counts, the metrics text); not a stable API.
#[doc(hidden)]
pub mod testing {
    /// Upstream answers and streams through each wire's translation (the fuzz tests).
    pub use crate::adapters::replay;
    pub use crate::api::metrics::parse_exposition;
    pub use crate::auth::authenticate;
    pub use crate::cache::{replay, CacheKey, Entry, Partition, ResponseCache, Stored};
    pub use crate::classify::Complexity;
    pub use crate::config::{
        CacheScope, CacheSettings, Endpoint, Limits, OnUnavailable, StateSettings,
    };
    pub use crate::dispatch::breaker::{Breaker, BreakerState};
    pub use crate::dispatch::health::{breaker_event, Health};
    pub use crate::dispatch::keys::KeyPool;
    pub use crate::dispatch::sync::spawn_sync;
    pub use crate::limits::{
        BudgetEvent, BudgetRefusal, LimitName, Limiter, Quotas, RateRefusal, Scope, Subject,
    };
    pub use crate::live::Live;
    pub use crate::lock::lock;
    pub use crate::openai::{ChatRequest, Usage};
    pub use crate::pipeline::cache_key;
    pub use crate::secret::Secret;
    pub use crate::shared::Conn as SharedConn;
    pub use crate::shared::Shared;
    pub use crate::sse::without_null_usage;
    pub use crate::tokens::Encoding;
}

pub(crate) mod adapters;
pub(crate) mod api;
pub(crate) mod auth;
pub(crate) mod batch;
pub(crate) mod cache;
pub(crate) mod capability;
pub mod classify;
pub(crate) mod config;
pub(crate) mod demo;
pub(crate) mod dispatch;
pub(crate) mod error;
pub(crate) mod guardrails;
pub(crate) mod limits;
pub(crate) mod live;
pub(crate) mod lock;
pub(crate) mod messages;
pub(crate) mod metrics;
pub(crate) mod moderation;
pub(crate) mod notify;
pub(crate) mod openai;
pub(crate) mod otel;
pub(crate) mod pipeline;
pub(crate) mod reload;
pub(crate) mod report;
pub(crate) mod response_store;
pub(crate) mod responses;
pub(crate) mod resume;
pub(crate) mod route;
pub(crate) mod scrub;
pub(crate) mod secret;
pub(crate) mod server;
pub(crate) mod shared;
pub(crate) mod sse;
pub(crate) mod state;
pub(crate) mod stream;
pub(crate) mod tokens;
pub(crate) mod trim;
pub(crate) mod usage;
pub(crate) mod workload;
