//! Simulated OpenAI-compatible upstream provider for the demo, integration tests and benchmarks.
//!
//! One in-process HTTP server per [`spawn`] call speaks the OpenAI Chat Completions wire API
//! (`POST /v1/chat/completions`, `GET /v1/models`, plus `GET /health`). It produces plausible,
//! deterministic text (same model + last user message → same answer), streams it word by word,
//! and can be told through [`SimControl`] to misbehave ([`Behavior`]) so the router's retry,
//! key-rotation and failover paths can be exercised without network access or real keys.
//! A request offering `tools` (and not answering a tool call) gets one `tool_calls` entry
//! instead of text, whole or streamed as argument deltas. `POST /v1/responses` answers
//! OpenAI's Responses API natively (`responses.rs`), whole or as its event stream, so tests
//! can tell a passed-through Responses request (recorded body with `input`) from a translated
//! one (`messages`).
//!
//! Token accounting (documented because tests assert on it):
//! - `prompt_tokens` = Σ over messages of `ceil(chars(text content) / 4) + 4`.
//! - `completion_tokens` = number of words in the reply, which is also the number of streamed
//!   content chunks.
//!
//! Timing: streaming waits `first_byte_latency` before the headers, then `token_delay` before
//! every content chunk and the final chunk. Non-streaming waits `first_byte_latency` plus
//! `words × token_delay / 4` (a quarter of the streaming generation time, so longer answers are
//! slower without making the demo sluggish). With zero latencies no timer is ever armed.
//!
//! Fault modes: every wire (OpenAI here, Anthropic in `anthropic.rs`, Gemini in `gemini.rs`) can
//! be told to misbehave as a hostile upstream of that wire would, each a [`Behavior`] variant:
//! error statuses in the wire's own shape, hostile rate-limit hints, refused and reset
//! connections, cuts, stalls before and after the first byte, keep-alive blanks, a missing
//! terminal event, truncated, garbage, huge and trickling bodies, error bodies echoing the key.
//! `conn.rs` refuses and resets connections, `fault.rs` answers the modes that need no answer,
//! `play.rs` plays the ones that bend an answer; `cli/sim.rs` names them for the command line
//! (`--fault NAME[:ARG]`). Every wait of every mode ends when the sim is dropped.

pub mod anthropic;
mod behavior;
mod conn;
mod fault;
mod gemini;
mod gemini_embed;
mod handler;
mod legacy;
mod moderation;
mod play;
mod ratelimit;
mod reply;
mod request;
mod responses;
mod server;
mod sse;
mod tools;
mod wire;

#[cfg(test)]
mod fault_body_tests;
#[cfg(test)]
mod fault_client;
#[cfg(test)]
mod fault_conn_tests;
#[cfg(test)]
mod fault_error_tests;
#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use anthropic::{spawn_anthropic, spawn_anthropic_on};
pub use behavior::{Behavior, RecordedCall, SimControl, RECORD_LIMIT};
pub use gemini::{spawn_gemini, spawn_gemini_on};

/// How a simulated provider looks and how fast it answers.
#[derive(Clone, Debug)]
pub struct SimSettings {
    /// Provider name, shown in `/health`, `/v1/models` (`owned_by`) and logs.
    pub name: String,
    /// Model ids this provider serves; any other model gets a 404 `model_not_found`.
    pub models: Vec<String>,
    /// Accepted bearer keys; `None` accepts any key or none, otherwise a wrong or missing key
    /// gets a 401 `invalid_api_key` (this is what key-rotation tests rely on).
    pub keys: Option<Vec<String>>,
    /// Delay before the response headers (and the first stream chunk) are sent.
    pub first_byte_latency: Duration,
    /// Delay between streamed chunks; zero means the stream is produced without any sleep.
    pub token_delay: Duration,
    /// Reply length in words when the request sets no `max_tokens` / `max_completion_tokens`
    /// (those cap the length, and a capped reply ends with `finish_reason: "length"`).
    pub reply_tokens: usize,
    /// Random variation applied to every non-zero delay, as a fraction (0.2 = ±20%).
    /// Zero keeps timings exact, which is what tests want; the demo uses it to look alive.
    pub jitter: f64,
    /// Requests a minute each bearer key may send to chat completions (OpenAI wire), as a
    /// provider enforces them: a bucket of two requests per key refilling at `rpm / 60` a
    /// second; past it the answer is a 429 `rate_limit_exceeded` with `retry-after`.
    /// `None` (the default) enforces nothing.
    pub key_rpm: Option<u32>,
    /// Tokens a minute each key may use, advertised (not enforced) in the `x-ratelimit-*-tokens`
    /// headers of OpenAI-wire answers, counting a request as its body's length / 4. With
    /// `key_rpm` or this set, every answer carries `x-ratelimit-limit-*`, `-remaining-*` and
    /// `-reset-*` for the key's current minute, as OpenAI sends them.
    pub key_tpm: Option<u32>,
    /// `/v1/moderations` flags an input containing one of these words (case-insensitive) in
    /// the word's category (`violence`, `hate`, ...); [`DEFAULT_FLAG_WORDS`] by default.
    pub flag_words: Vec<(String, String)>,
}

/// The words the sim's `/v1/moderations` flags unless told otherwise, with their category.
pub const DEFAULT_FLAG_WORDS: &[(&str, &str)] = &[
    ("kill", "violence"),
    ("gore", "violence/graphic"),
    ("hateful", "hate"),
    ("harass", "harassment"),
    ("bomb", "illicit/violent"),
    ("shoplift", "illicit"),
];

impl SimSettings {
    /// Zero latency, no key check, short replies: for tests and the benchmark.
    pub fn fast(
        name: impl Into<String>,
        models: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            name: name.into(),
            models: models.into_iter().map(Into::into).collect(),
            keys: None,
            first_byte_latency: Duration::ZERO,
            token_delay: Duration::ZERO,
            reply_tokens: 16,
            jitter: 0.0,
            key_rpm: None,
            key_tpm: None,
            flag_words: DEFAULT_FLAG_WORDS
                .iter()
                .map(|(w, c)| ((*w).to_owned(), (*c).to_owned()))
                .collect(),
        }
    }

    /// Latency and length resembling a hosted model (≈350 ms to first byte, ≈40 words/s), for
    /// the demo. Adjust the fields to make cheaper/faster or premium/slower tiers.
    pub fn realistic(
        name: impl Into<String>,
        models: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            first_byte_latency: Duration::from_millis(350),
            token_delay: Duration::from_millis(25),
            reply_tokens: 48,
            jitter: 0.2,
            ..Self::fast(name, models)
        }
    }
}

/// A running simulated provider; dropping it shuts the server down (stalled requests and
/// in-flight streams are ended too, so no task outlives it for long).
pub struct SimUpstream {
    addr: SocketAddr,
    control: SimControl,
    // Dropping the sender is the shutdown signal: every receiver's `changed()` then resolves.
    _shutdown: watch::Sender<()>,
}

impl SimUpstream {
    /// The bound socket address (127.0.0.1 and an OS-chosen port for [`spawn`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL to configure as a provider endpoint, e.g. `http://127.0.0.1:4321/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Handle for scripting failures and inspecting received calls; cheap to clone.
    pub fn control(&self) -> SimControl {
        self.control.clone()
    }
}

impl std::fmt::Debug for SimUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimUpstream")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Starts a simulated provider on 127.0.0.1 with an OS-chosen port (no collisions between
/// parallel tests). Must be called inside a tokio runtime; the server runs in a spawned task.
pub async fn spawn(settings: SimSettings) -> std::io::Result<SimUpstream> {
    spawn_on(settings, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Like [`spawn`] but on a chosen address, for a demo that wants a stable port to curl.
pub async fn spawn_on(settings: SimSettings, addr: SocketAddr) -> std::io::Result<SimUpstream> {
    serve(addr, settings.name.clone(), |control, shutdown| {
        server::router(Arc::new(handler::AppState::new(
            settings, control, shutdown,
        )))
    })
    .await
}

/// Binds `addr` and serves the router `build` makes (given the sim's control handle and its
/// shutdown signal) until the returned [`SimUpstream`] is dropped; shared by every wire's sim.
pub(crate) async fn serve(
    addr: SocketAddr,
    name: String,
    build: impl FnOnce(SimControl, watch::Receiver<()>) -> axum::Router,
) -> std::io::Result<SimUpstream> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = watch::channel(());
    let control = SimControl::default();
    let listener = conn::SimListener::new(listener, control.clone());
    let app = build(control.clone(), shutdown_rx.clone())
        .into_make_service_with_connect_info::<conn::Conn>();
    let mut signal = shutdown_rx;
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // Resolves with Err once the SimUpstream (the only sender) is dropped.
                let _ = signal.changed().await;
            })
            .await;
        if let Err(err) = served {
            tracing::warn!(sim = %name, %err, "simulated upstream stopped with an error");
        }
    });
    tracing::debug!(%addr, "simulated upstream listening");
    Ok(SimUpstream {
        addr,
        control,
        _shutdown: shutdown_tx,
    })
}
