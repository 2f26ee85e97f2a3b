//! Failure injection and call recording shared between the sim server and its controllers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many calls [`SimControl::recorded`] keeps; older ones are dropped so long benchmark
/// runs stay bounded in memory.
pub const RECORD_LIMIT: usize = 10_000;

/// What the simulated provider does with a chat request, so tests can reproduce each upstream
/// failure the router must survive.
#[derive(Clone, Debug, PartialEq)]
pub enum Behavior {
    /// Answer normally.
    Ok,
    /// Answer with this HTTP status and JSON body verbatim (e.g. a 400 or 500 error body).
    Status {
        /// HTTP status code; an invalid code is answered as 500.
        status: u16,
        /// Body sent as `application/json`.
        body: serde_json::Value,
    },
    /// 429 with a `Retry-After` header and OpenAI's `rate_limit_exceeded` error body.
    RateLimited {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// Accept the request and never answer until the server is dropped: for timeout tests.
    Stall,
    /// Streaming: send the role chunk and `chunks` content chunks, then abort the connection
    /// (no finish chunk, no `[DONE]`). Non-streaming: send the headers and part of the body,
    /// then abort.
    CutStreamAfter {
        /// Number of content chunks delivered before the cut.
        chunks: usize,
    },
    /// 200 whose body is not valid JSON (streaming: the first `data:` line is broken JSON).
    Malformed,
    /// Answer normally (OpenAI wire) with exactly this content: streamed one element per
    /// content chunk, whole as their concatenation; `completion_tokens` is the element count.
    Content {
        /// The content chunks, in order.
        chunks: Vec<String>,
    },
}

/// One chat request as the simulated provider saw it.
#[derive(Clone, Debug)]
pub struct RecordedCall {
    /// Bearer key from the `Authorization` header, if any: lets tests check key rotation.
    pub key: Option<String>,
    /// Requested model (empty when the body had none or was not JSON).
    pub model: String,
    /// Whether `"stream": true` was requested.
    pub stream: bool,
    /// The parsed request body (`Null` when it was not JSON).
    pub body: serde_json::Value,
    /// What was done with it. Requests rejected before failure injection (401, 400, 404)
    /// are recorded as the [`Behavior::Status`] that was sent, and consume no script entry.
    pub behavior: Behavior,
}

#[derive(Debug)]
struct State {
    default: Behavior,
    script: VecDeque<Behavior>,
    recorded: VecDeque<RecordedCall>,
}

#[derive(Debug)]
struct Inner {
    calls: AtomicUsize,
    rate_limited: AtomicUsize,
    next_id: AtomicU64,
    state: Mutex<State>,
}

/// Handle to steer a running sim and inspect what it received; clones share the same state.
#[derive(Clone, Debug)]
pub struct SimControl {
    inner: Arc<Inner>,
}

impl Default for SimControl {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                calls: AtomicUsize::new(0),
                rate_limited: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                state: Mutex::new(State {
                    default: Behavior::Ok,
                    script: VecDeque::new(),
                    recorded: VecDeque::new(),
                }),
            }),
        }
    }
}

impl SimControl {
    /// Sets what every call does once the script is exhausted (initially [`Behavior::Ok`]).
    pub fn set_behavior(&self, b: Behavior) {
        self.lock().default = b;
    }

    /// Queues behaviors for the next calls, in order; afterwards calls use the default again.
    /// Appends to any script already queued.
    pub fn push_script(&self, seq: impl IntoIterator<Item = Behavior>) {
        self.lock().script.extend(seq);
    }

    /// Number of chat requests received, failed and rejected ones included.
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Number of 429 answers sent: key rate limits enforced (`key_rpm`) and scripted ones.
    pub fn rate_limited(&self) -> usize {
        self.inner.rate_limited.load(Ordering::Relaxed)
    }

    /// The last (up to [`RECORD_LIMIT`]) chat requests, oldest first.
    pub fn recorded(&self) -> Vec<RecordedCall> {
        self.lock().recorded.iter().cloned().collect()
    }

    /// Clears the call and 429 counters, the record and the script; the default behavior is kept.
    pub fn reset(&self) {
        let mut state = self.lock();
        state.script.clear();
        state.recorded.clear();
        self.inner.calls.store(0, Ordering::Relaxed);
        self.inner.rate_limited.store(0, Ordering::Relaxed);
    }

    /// Counts and records a call. With `forced` (a validation error) the script is left alone;
    /// otherwise the next scripted behavior, or the default, is taken and returned.
    pub(super) fn register(
        &self,
        key: Option<String>,
        model: String,
        stream: bool,
        body: serde_json::Value,
        forced: Option<Behavior>,
    ) -> Behavior {
        let mut state = self.lock();
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        let behavior = match forced {
            Some(b) => b,
            None => match state.script.pop_front() {
                Some(b) => b,
                None => state.default.clone(),
            },
        };
        if matches!(
            behavior,
            Behavior::RateLimited { .. } | Behavior::Status { status: 429, .. }
        ) {
            self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        if state.recorded.len() >= RECORD_LIMIT {
            state.recorded.pop_front();
        }
        state.recorded.push_back(RecordedCall {
            key,
            model,
            stream,
            body,
            behavior: behavior.clone(),
        });
        behavior
    }

    /// Allocates the number used in `chatcmpl-sim-<n>` ids.
    pub(super) fn next_id(&self) -> u64 {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent; keep serving.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
