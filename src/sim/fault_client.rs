//! Test client of every wire for the fault-mode tests: starts a sim, sends it a chat request as
//! that wire's SDKs do, and reads back what a client would observe, event by event.

use std::time::Duration;

use axum::body::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::fault::Wire;
use super::{spawn, spawn_anthropic, spawn_gemini, SimSettings, SimUpstream};

/// The key every request carries (what `EchoKey` must quote whole).
pub(super) const KEY: &str = "sk-proj-SIMSECRET-0123456789abcdef";

/// Words of every answer, so content chunks of a whole stream.
pub(super) const WORDS: usize = 6;

/// Instantiates `async fn case(w: Wire)` once per wire, as `openai::case`, `anthropic::case`
/// and `gemini::case`.
macro_rules! per_wire {
    ($($case:ident),* $(,)?) => {
        mod openai {
            $(#[tokio::test]
            async fn $case() {
                super::$case($crate::sim::fault::Wire::OpenAi).await;
            })*
        }
        mod anthropic {
            $(#[tokio::test]
            async fn $case() {
                super::$case($crate::sim::fault::Wire::Anthropic).await;
            })*
        }
        mod gemini {
            $(#[tokio::test]
            async fn $case() {
                super::$case($crate::sim::fault::Wire::Gemini).await;
            })*
        }
    };
}
pub(super) use per_wire;

/// A fast sim of wire `w` serving model `m1` with [`WORDS`]-word answers.
pub(super) async fn spawn_wire(w: Wire) -> SimUpstream {
    let mut settings = SimSettings::fast("fault-sim", ["m1"]);
    settings.reply_tokens = WORDS;
    match w {
        Wire::OpenAi => spawn(settings).await,
        Wire::Anthropic => spawn_anthropic(settings).await,
        Wire::Gemini => spawn_gemini(settings).await,
    }
    .expect("sim starts")
}

/// A client that opens a new connection for every request (keeps none idle), so a
/// connection-level fault always meets a fresh connection.
pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// A client that keeps its connections open between requests.
pub(super) fn pooled_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// A chat request to `up` as wire `w`'s clients send it, carrying [`KEY`].
pub(super) fn request(
    c: &reqwest::Client,
    up: &SimUpstream,
    w: Wire,
    stream: bool,
) -> reqwest::RequestBuilder {
    let addr = up.addr();
    let messages = json!([{"role": "user", "content": "Explain routing"}]);
    match w {
        Wire::OpenAi => c
            .post(format!("http://{addr}/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&json!({"model": "m1", "stream": stream, "messages": messages})),
        Wire::Anthropic => c
            .post(format!("http://{addr}/v1/messages"))
            .header("x-api-key", KEY)
            .header("anthropic-version", "2023-06-01")
            .json(
                &json!({"model": "m1", "max_tokens": 64, "stream": stream, "messages": messages}),
            ),
        Wire::Gemini => {
            let method = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            c.post(format!("http://{addr}/v1beta/models/m1:{method}"))
                .header("x-goog-api-key", KEY)
                .json(&json!({"contents": [{"role": "user", "parts": [{"text": "Explain routing"}]}]}))
        }
    }
}

/// Sends a chat request with `c`.
pub(super) async fn send(
    c: &reqwest::Client,
    up: &SimUpstream,
    w: Wire,
    stream: bool,
) -> reqwest::Result<reqwest::Response> {
    request(c, up, w, stream).send().await
}

/// A response body read as a client does: frame by frame, split into SSE events.
pub(super) struct Reader {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    buf: String,
    /// Raw bytes received so far.
    pub raw: Vec<u8>,
    /// Body frames received so far.
    pub frames: usize,
    /// Whether the body ended with an error (a cut) rather than cleanly.
    pub failed: bool,
    ended: bool,
}

impl Reader {
    pub(super) fn new(resp: reqwest::Response) -> Self {
        Self {
            body: resp.bytes_stream().boxed(),
            buf: String::new(),
            raw: Vec::new(),
            frames: 0,
            failed: false,
            ended: false,
        }
    }

    /// The next frame's bytes, or None at the end (clean or failed).
    pub(super) async fn frame(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        match self.body.next().await {
            Some(Ok(b)) => {
                self.frames += 1;
                self.raw.extend_from_slice(&b);
                Some(b)
            }
            Some(Err(_)) => {
                self.failed = true;
                self.ended = true;
                None
            }
            None => {
                self.ended = true;
                None
            }
        }
    }

    /// The next complete SSE event (lines up to a blank line, `\r\n` read as `\n`).
    pub(super) async fn event(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let event = self.buf[..at].to_owned();
                self.buf.drain(..at + 2);
                return Some(event);
            }
            let frame = self.frame().await?;
            self.buf
                .push_str(&String::from_utf8_lossy(&frame).replace("\r\n", "\n"));
        }
    }

    /// Every remaining event until the body ends.
    pub(super) async fn rest(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(e) = self.event().await {
            out.push(e);
        }
        out
    }

    /// Bytes received after the last complete event (an event cut in the middle).
    pub(super) fn leftover(&self) -> &str {
        &self.buf
    }
}

/// The payload of an event's `data:` line, if it has one.
pub(super) fn data(event: &str) -> Option<&str> {
    event
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
}

fn data_json(event: &str) -> Value {
    data(event)
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null)
}

/// The content text an event carries (empty for events without content).
pub(super) fn content(w: Wire, event: &str) -> String {
    let v = data_json(event);
    let text = match w {
        Wire::OpenAi => &v["choices"][0]["delta"]["content"],
        Wire::Anthropic => &v["delta"]["text"],
        Wire::Gemini => &v["candidates"][0]["content"]["parts"][0]["text"],
    };
    text.as_str().unwrap_or_default().to_owned()
}

/// Whether an event is a content chunk.
pub(super) fn is_content(w: Wire, event: &str) -> bool {
    !content(w, event).is_empty()
}

/// Whether an event is the wire's terminal marker (Gemini: a chunk with a `finishReason`).
pub(super) fn is_terminal(w: Wire, event: &str) -> bool {
    match w {
        Wire::OpenAi => data(event) == Some("[DONE]"),
        Wire::Anthropic => event.starts_with("event: message_stop"),
        Wire::Gemini => data_json(event)["candidates"][0]
            .get("finishReason")
            .is_some(),
    }
}

/// Whether an event is a keep-alive blank: only comments and empty `data:` lines (or
/// Anthropic's `ping` event).
pub(super) fn is_blank(event: &str) -> bool {
    event.starts_with("event: ping\n")
        || event
            .lines()
            .all(|l| l.starts_with(':') || l.trim() == "data:")
}

/// The content text of a whole (non-streamed) answer.
pub(super) fn whole_text(w: Wire, v: &Value) -> String {
    let text = match w {
        Wire::OpenAi => &v["choices"][0]["message"]["content"],
        Wire::Anthropic => &v["content"][0]["text"],
        Wire::Gemini => &v["candidates"][0]["content"]["parts"][0]["text"],
    };
    text.as_str().unwrap_or_default().to_owned()
}

/// The message of an error body, checking it has the wire's error shape.
pub(super) fn error_message(w: Wire, v: &Value) -> String {
    let error = &v["error"];
    match w {
        Wire::OpenAi => {
            assert!(error["type"].is_string(), "{v}");
            assert!(
                error.get("param").is_some() && error.get("code").is_some(),
                "{v}"
            );
        }
        Wire::Anthropic => {
            assert_eq!(v["type"], "error", "{v}");
            assert!(error["type"].is_string(), "{v}");
        }
        Wire::Gemini => {
            assert!(error["code"].is_u64() && error["status"].is_string(), "{v}");
        }
    }
    error["message"].as_str().unwrap_or_default().to_owned()
}
