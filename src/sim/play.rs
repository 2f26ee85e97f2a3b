//! Plays an answer out in the broken ways of the body-shaped fault modes, the same on every
//! wire: a stall or keep-alive blanks after some content, no terminal event, a truncated,
//! huge or trickling body.
//!
//! A wire describes its answer through [`Framing`]: the events before the content (`lead`:
//! OpenAI's role chunk, Anthropic's `message_start`…), one event per content chunk, the
//! events after the content (`tail`: finish, usage and the terminal marker), and the whole
//! non-streamed answer. [`answer`] then produces the response a [`Behavior`] asks for.
//! Content chunks are paced like normal answers (`token_delay`, or the `Trickle` interval);
//! every wait ends when the sim shuts down, cutting the response, so no mode outlives the sim.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::{stream, StreamExt};
use tokio::sync::watch;

use super::fault::{filler, huge_json, Wire, BLOCK, MARK};
use super::handler::json_response;
use super::sse::{cut_error, pause};
use super::Behavior;

/// How one wire frames one answer, for [`answer`].
pub(super) trait Framing: Send + Sync + 'static {
    /// The events before the first content chunk.
    fn lead(&self) -> Vec<Bytes>;
    /// The content event number `i`, carrying `text`.
    fn content(&self, i: usize, text: &str) -> Bytes;
    /// The events after `n` content events: finish and usage, then, with `terminal`, the
    /// wire's end marker (for Gemini, `terminal` is whether a `finishReason` is sent at all).
    fn tail(&self, n: usize, terminal: bool) -> Vec<Bytes>;
    /// The whole non-streamed answer carrying `text` (`terminal` as for `tail`).
    fn whole(&self, text: &str, terminal: bool) -> Vec<u8>;
}

/// Whether [`answer`] plays `b` (the modes that bend an answer rather than replace it).
pub(super) fn is_body_fault(b: &Behavior) -> bool {
    matches!(
        b,
        Behavior::StallMidStream { .. }
            | Behavior::Blanks { .. }
            | Behavior::NoTerminal
            | Behavior::Truncated
            | Behavior::Huge { .. }
            | Behavior::Trickle { .. }
            | Behavior::CutContent { .. }
            | Behavior::ErrorMidStream { .. }
    )
}

/// What playing an answer needs besides its framing.
pub(super) struct Play {
    pub wire: Wire,
    pub stream: bool,
    /// The answer's text, one piece per content chunk.
    pub pieces: Vec<String>,
    /// Delay before each content chunk, and its jitter (the sim's `token_delay`, `jitter`).
    pub pacing: (Duration, f64),
    pub shutdown: watch::Receiver<()>,
}

/// The response `behavior` asks for, or None if it is not a body fault.
pub(super) fn answer(behavior: &Behavior, frame: impl Framing, play: Play) -> Option<Response> {
    let Play {
        wire,
        stream,
        pieces,
        pacing,
        shutdown,
    } = play;
    if !stream {
        let text = pieces.concat();
        let whole = || frame.whole(&text, true);
        let body = match behavior {
            Behavior::NoTerminal => Body::from(frame.whole(&text, false)),
            Behavior::Truncated => {
                let mut w = whole();
                w.truncate(w.len() / 2);
                Body::from(w)
            }
            Behavior::StallMidStream { .. } => {
                let w = Bytes::from(whole());
                let part = w.slice(..w.len().min(24));
                Body::from_stream(stream::once(async { Ok(part) }).chain(stall(shutdown)))
            }
            Behavior::CutContent { .. } | Behavior::ErrorMidStream { .. } => {
                let w = Bytes::from(whole());
                let part = w.slice(..w.len().min(24));
                Body::from_stream(stream::iter([Ok(part), Err(cut_error())]))
            }
            Behavior::Blanks { every, .. } => newlines(*every, shutdown),
            Behavior::Huge { bytes } => huge_json(frame.whole(MARK, true), *bytes, shutdown),
            Behavior::Trickle { every } => {
                let w = Bytes::from(whole());
                let size = w.len().div_ceil(pieces.len().max(1)).max(1);
                let parts: Vec<Bytes> = (0..w.len())
                    .step_by(size)
                    .map(|at| w.slice(at..(at + size).min(w.len())))
                    .collect();
                paced(parts, *every, shutdown)
            }
            _ => return None,
        };
        return Some(ok(body, false));
    }

    if let Behavior::Huge { bytes } = behavior {
        return Some(ok(huge_stream(frame, *bytes, shutdown), true));
    }
    let terminal = *behavior != Behavior::NoTerminal;
    let mut events: VecDeque<(Bytes, Kind)> =
        frame.lead().into_iter().map(|b| (b, Kind::Lead)).collect();
    let n = pieces.len();
    events.extend(
        pieces
            .iter()
            .enumerate()
            .map(|(i, p)| (frame.content(i, p), Kind::Content)),
    );
    events.extend(frame.tail(n, terminal).into_iter().map(|b| (b, Kind::Tail)));
    if *behavior == Behavior::Truncated {
        let mut all: Vec<u8> = events.into_iter().flat_map(|(b, _)| b).collect();
        all.truncate(all.len() / 2);
        return Some(ok(Body::from(all), true));
    }
    let (delay, jitter) = pacing;
    let (delay, jitter, then) = match behavior {
        Behavior::StallMidStream { chunks } => (delay, jitter, Some((*chunks, Then::Stall))),
        Behavior::Blanks { chunks, every } => {
            (delay, jitter, Some((*chunks, Then::Blanks(*every))))
        }
        Behavior::CutContent { after, .. } => (delay, jitter, Some((*after, Then::Cut))),
        Behavior::ErrorMidStream { chunks } => (delay, jitter, Some((*chunks, Then::Error))),
        Behavior::NoTerminal => (delay, jitter, None),
        Behavior::Trickle { every } => (*every, 0.0, None),
        _ => return None,
    };
    let body = Player {
        events,
        delay,
        jitter,
        then,
        sent: 0,
        blanks: 0,
        wire,
        shutdown,
        done: false,
        cut_after: None,
    }
    .body();
    Some(ok(body, true))
}

/// A 200 with `body`: an event stream (`sse`) or a JSON document.
fn ok(body: Body, sse: bool) -> Response {
    if sse {
        crate::sse::response(body)
    } else {
        json_response(StatusCode::OK, body)
    }
}

/// Never yields until the sim shuts down, then cuts the response.
fn stall(mut shutdown: watch::Receiver<()>) -> impl futures_util::Stream<Item = io::Result<Bytes>> {
    stream::once(async move {
        let _ = shutdown.changed().await;
        Err(cut_error())
    })
}

/// A newline every `every` (at least 1 ms) until the sim shuts down, then a cut: the
/// whitespace some gateways send before a JSON answer while the model works.
fn newlines(every: Duration, shutdown: watch::Receiver<()>) -> Body {
    let every = every.max(Duration::from_millis(1));
    Body::from_stream(stream::unfold(Some(shutdown), move |state| async move {
        let shutdown = state?;
        if pause(every, 0.0, &shutdown).await {
            Some((Ok(Bytes::from_static(b"\n")), Some(shutdown)))
        } else {
            Some((Err(cut_error()), None))
        }
    }))
}

/// `parts`, each `every` after the previous one (cut if the sim shuts down meanwhile).
fn paced(parts: Vec<Bytes>, every: Duration, shutdown: watch::Receiver<()>) -> Body {
    Body::from_stream(stream::iter(parts).then(move |part| {
        let shutdown = shutdown.clone();
        async move {
            if pause(every, 0.0, &shutdown).await {
                Ok(part)
            } else {
                Err(cut_error())
            }
        }
    }))
}

/// A stream with `bytes` bytes of content in [`BLOCK`]-sized chunks, built as it is sent.
fn huge_stream(frame: impl Framing, bytes: usize, shutdown: watch::Receiver<()>) -> Body {
    let frame = Arc::new(frame);
    let n = bytes.div_ceil(BLOCK);
    let block = filler(BLOCK.min(bytes));
    let lead = frame.lead();
    let tail = frame.tail(n, true);
    let contents = (0..n).map(move |i| {
        if shutdown.has_changed().is_err() {
            return Err(cut_error());
        }
        let len = (bytes - i * BLOCK).min(BLOCK);
        Ok(frame.content(i, &block[..len]))
    });
    Body::from_stream(
        stream::iter(lead.into_iter().map(Ok))
            .chain(stream::iter(contents))
            .chain(stream::iter(tail.into_iter().map(Ok))),
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lead,
    Content,
    Tail,
}

/// What a stream does once its content quota is sent.
enum Then {
    Stall,
    Blanks(Duration),
    /// The next content event's first bytes (cut inside its first multi-byte character,
    /// else halfway), then an aborted connection.
    Cut,
    /// The wire's error event, then the end of the body.
    Error,
}

/// An event list played one event per poll, with the fault of `then` after `n` content events.
struct Player {
    events: VecDeque<(Bytes, Kind)>,
    delay: Duration,
    jitter: f64,
    then: Option<(usize, Then)>,
    sent: usize,
    blanks: usize,
    wire: Wire,
    shutdown: watch::Receiver<()>,
    done: bool,
    /// A partial event was sent; the cut follows.
    cut_after: Option<usize>,
}

/// Where to cut an event so the cut falls inside its first multi-byte character (after that
/// character's first byte), or halfway through an event of ASCII only.
fn mid_char(event: &[u8]) -> usize {
    event
        .iter()
        .position(|b| *b >= 0x80)
        .map_or(event.len() / 2, |i| i + 1)
}

impl Player {
    fn body(self) -> Body {
        Body::from_stream(stream::unfold(self, |mut p| async move {
            let item = p.next().await?;
            Some((item, p))
        }))
    }

    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        if self.cut_after.take().is_some() {
            // after the part of the event the cut falls in, yield once so it is flushed
            tokio::task::yield_now().await;
            return Some(Err(cut_error()));
        }
        if self.done {
            return None;
        }
        if let Some((n, then)) = &self.then {
            let due = self.sent >= *n && self.events.front().is_none_or(|(_, k)| *k != Kind::Lead);
            if due {
                let go_on = match then {
                    Then::Cut => {
                        self.done = true;
                        if let Some((bytes, Kind::Content)) = self.events.pop_front() {
                            self.cut_after = Some(mid_char(&bytes));
                            return Some(Ok(bytes.slice(..mid_char(&bytes))));
                        }
                        tokio::task::yield_now().await;
                        return Some(Err(cut_error()));
                    }
                    Then::Error => {
                        self.done = true;
                        return Some(Ok(self.wire.error_event()));
                    }
                    Then::Stall => {
                        let _ = self.shutdown.changed().await;
                        false
                    }
                    Then::Blanks(every) => {
                        pause((*every).max(Duration::from_millis(1)), 0.0, &self.shutdown).await
                    }
                };
                if !go_on {
                    self.done = true;
                    return Some(Err(cut_error()));
                }
                self.blanks += 1;
                return Some(Ok(self.wire.blank(self.blanks - 1)));
            }
        }
        let (bytes, kind) = self.events.pop_front()?;
        if kind == Kind::Content {
            if !pause(self.delay, self.jitter, &self.shutdown).await {
                self.done = true;
                return Some(Err(cut_error()));
            }
            self.sent += 1;
        }
        Some(Ok(bytes))
    }
}
