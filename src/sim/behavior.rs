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
    // The fault modes below behave the same on every wire (OpenAI, Anthropic, Gemini), each
    // framed as that wire's real API would misbehave; see `sim/fault.rs` and `sim/play.rs`.
    /// This HTTP status with the wire's own error body (OpenAI `{"error":{"message","type",
    /// "param","code"}}`, Anthropic `{"type":"error","error":{"type","message"}}`, Gemini
    /// `{"error":{"code","message","status"}}`), its type picked from the status as that API
    /// does, so one case list can fail every wire. An invalid code is answered as 500.
    WireError {
        /// HTTP status code.
        status: u16,
    },
    /// 429 carrying a rate-limit hint as raw text, hostile values included (`1e20`, `-1`, `NaN`,
    /// `abc`, an HTTP date): the router must parse what providers really send defensively.
    /// Control characters, which no header can carry, are dropped.
    RateLimitedRaw {
        /// OpenAI and Anthropic: the `Retry-After` header; Gemini: `RetryInfo.retryDelay` in
        /// the error body (verbatim: write `"5s"` for a well-formed delay). `None` sends neither.
        retry_after: Option<String>,
        /// The `retry-after-ms` header (OpenAI sends it), on whichever wire it is set.
        retry_after_ms: Option<String>,
    },
    /// Close each new connection at once, before reading it, with a TCP reset (`SO_LINGER` 0):
    /// as close to "connection refused" as a listening server can get. Decided when the
    /// connection is accepted, so it takes the script entry (and counts as a call) then; a
    /// request arriving on a connection that was already open is reset as
    /// [`Behavior::ResetBeforeHeaders`] instead.
    Refuse,
    /// Read the whole request, then reset the connection without sending a status line.
    ResetBeforeHeaders,
    /// Streaming: the lead events and `chunks` content chunks, then nothing (the connection
    /// stays open) until the sim is dropped, which cuts it. Non-streaming: the headers and the
    /// first bytes of the body, then the same.
    StallMidStream {
        /// Content chunks delivered before the stall.
        chunks: usize,
    },
    /// Streaming: `chunks` content chunks, then only keep-alive blanks, one every `every`, never
    /// more content, until the sim is dropped (which cuts the stream). Blanks alternate an
    /// empty `data:` line and an SSE comment (`: ping`); Anthropic alternates its own `ping`
    /// event and a comment. Non-streaming: the headers, then a newline every `every` (the
    /// leading whitespace some gateways send while a model works), never the answer.
    Blanks {
        /// Content chunks delivered before the blanks (0: none at all).
        chunks: usize,
        /// Interval between blanks (at least 1 ms).
        every: std::time::Duration,
    },
    /// A complete answer whose stream then ends cleanly without the wire's terminal event:
    /// OpenAI after the `finish_reason` chunk (and usage chunk) without `data: [DONE]`;
    /// Anthropic after `message_delta` without `message_stop`; Gemini, whose stream simply
    /// ends, without any `finishReason` (whole answers too). OpenAI and Anthropic whole
    /// answers are unaffected.
    NoTerminal,
    /// 200 with the first half of the answer's bytes, then a clean end (the `Content-Length`
    /// is the half's): half a JSON object, or a stream ending mid-event.
    Truncated,
    /// 200 answer whose content text is `bytes` bytes long, generated while it is sent (the sim
    /// never holds it in memory); streaming, in content chunks of 64 KiB.
    Huge {
        /// Size of the content text in bytes (the body is a few hundred bytes more).
        bytes: usize,
    },
    /// This status with the wire's error body whose message is `bytes` bytes long.
    HugeError {
        /// HTTP status code (an invalid one is answered as 500).
        status: u16,
        /// Size of the error message in bytes.
        bytes: usize,
    },
    /// A normal answer that makes slow, steady progress: streaming, every content chunk comes
    /// `every` after the previous one; non-streaming, the body comes in one piece per word,
    /// `every` apart.
    Trickle {
        /// Interval between chunks.
        every: std::time::Duration,
    },
    /// Streaming, on every wire: the lead events (OpenAI's role chunk, Anthropic's
    /// `message_start`…), then the content events of `chunks[..after]`, then the first bytes of
    /// content event `after` (up to the middle of its first multi-byte character, else half of
    /// it) when there is one, then an aborted connection: no finish, no usage, no terminal
    /// event. `after == chunks.len()` cuts after the last content, before the finish.
    /// Non-streaming: the headers and the first bytes of the body, then the same cut.
    /// Streaming: the lead events and `chunks` content chunks, then the wire's error event
    /// (OpenAI `data: {"error":{..}}`, Anthropic `event: error`, Gemini `data: {"error":{..}}`)
    /// and the end of the body. Non-streaming: the headers and the first bytes of the body,
    /// then a cut.
    ErrorMidStream {
        /// Content chunks delivered before the error event.
        chunks: usize,
    },
    CutContent {
        /// The answer's content chunks.
        chunks: Vec<String>,
        /// How many of them are delivered whole before the cut.
        after: usize,
    },
    /// This status with the wire's authentication error whose message quotes the full key the
    /// request carried, as OpenAI does for a 401 (`Incorrect API key provided: sk-…`): lets
    /// tests check that the router never passes a key on.
    EchoKey {
        /// HTTP status code (401 is what the APIs send; Gemini sends 400).
        status: u16,
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
    /// The `traceparent` header of each chat request that carried one (OpenAI wire).
    traceparents: VecDeque<String>,
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
                    traceparents: VecDeque::new(),
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

    /// Number of chat requests received, failed and rejected ones included; a connection
    /// closed by [`Behavior::Refuse`] counts as one.
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::Relaxed)
    }

    /// Number of 429 answers sent: key rate limits enforced (`key_rpm`) and scripted ones
    /// (`RateLimited`, `RateLimitedRaw`, and `Status` or `WireError` with 429).
    pub fn rate_limited(&self) -> usize {
        self.inner.rate_limited.load(Ordering::Relaxed)
    }

    /// The last (up to [`RECORD_LIMIT`]) chat requests, oldest first.
    pub fn recorded(&self) -> Vec<RecordedCall> {
        self.lock().recorded.iter().cloned().collect()
    }

    /// The `traceparent` headers chat requests arrived with (the last [`RECORD_LIMIT`],
    /// oldest first): lets tests follow a trace from the router into the upstream.
    pub fn traceparents(&self) -> Vec<String> {
        self.lock().traceparents.iter().cloned().collect()
    }

    /// Keeps a chat request's `traceparent`, if it has one.
    pub(super) fn note_traceparent(&self, headers: &axum::http::HeaderMap) {
        let Some(tp) = headers.get("traceparent").and_then(|v| v.to_str().ok()) else {
            return;
        };
        let mut state = self.lock();
        if state.traceparents.len() >= RECORD_LIMIT {
            state.traceparents.pop_front();
        }
        state.traceparents.push_back(tp.to_owned());
    }

    /// Clears the call and 429 counters, the record and the script; the default behavior is kept.
    pub fn reset(&self) {
        let mut state = self.lock();
        state.script.clear();
        state.recorded.clear();
        state.traceparents.clear();
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
        let behavior = match forced {
            Some(b) => b,
            None => match state.script.pop_front() {
                Some(b) => b,
                None => state.default.clone(),
            },
        };
        self.count(
            &mut state,
            RecordedCall {
                key,
                model,
                stream,
                body,
                behavior: behavior.clone(),
            },
        );
        behavior
    }

    /// At accept time, before anything is read: whether the next behavior is
    /// [`Behavior::Refuse`]. If so it is taken from the script (or the default) and counted
    /// as a call with no key, model or body.
    pub(super) fn take_refusal(&self) -> bool {
        let mut state = self.lock();
        let next = state.script.front().unwrap_or(&state.default);
        if *next != Behavior::Refuse {
            return false;
        }
        state.script.pop_front();
        self.count(
            &mut state,
            RecordedCall {
                key: None,
                model: String::new(),
                stream: false,
                body: serde_json::Value::Null,
                behavior: Behavior::Refuse,
            },
        );
        true
    }

    fn count(&self, state: &mut State, call: RecordedCall) {
        self.inner.calls.fetch_add(1, Ordering::Relaxed);
        if matches!(
            call.behavior,
            Behavior::RateLimited { .. }
                | Behavior::RateLimitedRaw { .. }
                | Behavior::Status { status: 429, .. }
                | Behavior::WireError { status: 429 }
        ) {
            self.inner.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        if state.recorded.len() >= RECORD_LIMIT {
            state.recorded.pop_front();
        }
        state.recorded.push_back(call);
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
