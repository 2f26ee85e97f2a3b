//! The incremental SSE body of a streamed reply, with per-chunk delays and mid-stream cuts.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use futures_util::stream;
use tokio::sync::watch;

use super::reply::Reply;
use super::wire::{self, ChunkHead, Delta, Usage};

/// Sleeps `d` (scaled by a random factor in `1 ± jitter`) unless it is zero, in which case no
/// timer is armed at all. Returns false if the sim shut down meanwhile.
pub(super) async fn pause(d: Duration, jitter: f64, shutdown: &watch::Receiver<()>) -> bool {
    if d.is_zero() {
        return true;
    }
    let d = if jitter > 0.0 {
        d.mul_f64(rand::random_range((1.0 - jitter).max(0.0)..=1.0 + jitter))
    } else {
        d
    };
    let mut shutdown = shutdown.clone();
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        _ = shutdown.changed() => false,
    }
}

/// Error for a deliberately aborted response.
pub(super) fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "simulated upstream cut the response",
    )
}

/// The body error that makes hyper abort the connection. It first yields once: hyper flushes
/// what it has buffered only when the body is pending, so an immediate error would also drop
/// the headers and the chunks meant to arrive before the cut.
pub(super) async fn cut_connection() -> io::Result<Bytes> {
    tokio::task::yield_now().await;
    Err(cut_error())
}

#[derive(Clone, Copy)]
enum Step {
    Role,
    /// Content word `i`; past the last word it is the finish chunk.
    Content(usize),
    Usage,
    Done,
    End,
}

/// Builds the streaming body: role chunk, one chunk per word `token_delay` apart, finish chunk,
/// optional usage chunk, `[DONE]`; or, with `cut = Some(n)`, an abort after `n` words.
/// `pacing` is `(token_delay, jitter)`.
pub(super) fn sse_body(
    head: ChunkHead,
    reply: Reply,
    usage: Usage,
    cut: Option<usize>,
    pacing: (Duration, f64),
    shutdown: watch::Receiver<()>,
) -> Body {
    let state = SseState {
        head,
        reply,
        usage,
        cut,
        next: Step::Role,
        token_delay: pacing.0,
        jitter: pacing.1,
        shutdown,
    };
    Body::from_stream(stream::unfold(state, |mut s| async move {
        let item = s.next_event().await?;
        Some((item, s))
    }))
}

/// State of one incremental SSE body; produces one event per poll.
struct SseState {
    head: ChunkHead,
    reply: Reply,
    usage: Usage,
    cut: Option<usize>,
    next: Step,
    token_delay: Duration,
    jitter: f64,
    shutdown: watch::Receiver<()>,
}

impl SseState {
    async fn next_event(&mut self) -> Option<io::Result<Bytes>> {
        let event = match self.next {
            Step::End => return None,
            Step::Role => {
                self.next = Step::Content(0);
                self.head.choice(
                    Delta::Role {
                        role: "assistant",
                        content: "",
                    },
                    None,
                )
            }
            Step::Content(i) if self.cut.is_some_and(|c| i >= c.min(self.reply.words)) => {
                self.next = Step::End;
                return Some(cut_connection().await);
            }
            Step::Content(i) if i < self.reply.words => {
                if !pause(self.token_delay, self.jitter, &self.shutdown).await {
                    self.next = Step::End;
                    return Some(Err(cut_error()));
                }
                self.next = Step::Content(i + 1);
                self.head.choice(
                    Delta::Content {
                        content: self.reply.piece(i),
                    },
                    None,
                )
            }
            Step::Content(_) => {
                if !pause(self.token_delay, self.jitter, &self.shutdown).await {
                    self.next = Step::End;
                    return Some(Err(cut_error()));
                }
                self.next = if self.head.include_usage {
                    Step::Usage
                } else {
                    Step::Done
                };
                self.head.choice(Delta::Empty {}, Some(self.reply.finish))
            }
            Step::Usage => {
                self.next = Step::Done;
                self.head.usage(self.usage)
            }
            Step::Done => {
                self.next = Step::End;
                Bytes::from_static(wire::DONE)
            }
        };
        Some(Ok(event))
    }
}
