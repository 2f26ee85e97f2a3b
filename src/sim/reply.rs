//! Deterministic, lazily generated reply text that mentions the model and echoes the prompt.

use std::fmt;

use serde::Serialize;

use super::request::ChatRequest;

/// Filler vocabulary: router-flavoured so demo output reads as on-topic.
#[rustfmt::skip]
const FILLER: &[&str] = &[
    "routing", "latency", "tokens", "budget", "provider", "request", "context", "quality",
    "cheaper", "faster", "reliable", "stream", "cache", "fallback", "savings", "policy", "the",
    "a", "model", "answer", "because", "and", "with", "should", "usually", "balances", "cost",
    "throughput", "retry", "prompt", "so", "it", "every", "upstream", "choice", "depends", "on",
];
/// Opening words of every reply, before the echo of the user's question.
const INTRO: &[&str] = &["Here", "is", "an", "answer", "about"];
/// Used as the echo when there is no user text.
const NO_ECHO: &[&str] = &["your", "question"];

fn mix(mut z: u64) -> u64 {
    // splitmix64 finaliser: random-access pseudo-random words without per-reply state.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A reply whose words are computed on demand, so streaming allocates nothing per word.
pub(super) struct Reply {
    tag: String,
    echo: Vec<String>,
    seed: u64,
    /// Number of words, i.e. content chunks and `completion_tokens`.
    pub words: usize,
    /// `"length"` when `max_tokens` cut the natural reply short, else `"stop"`.
    pub finish: &'static str,
    /// Scripted pieces ([`super::Behavior::Content`]) sent instead of generated words.
    script: Vec<String>,
}

impl Reply {
    /// Plans the reply to `req`: `reply_tokens` words, capped by the request's `max_tokens`.
    /// Takes the echo words out of `req` rather than copying them.
    pub(super) fn new(req: &mut ChatRequest, reply_tokens: usize) -> Self {
        let (words, finish) = match req.max_tokens {
            Some(max) if max < reply_tokens => (max, "length"),
            _ => (reply_tokens, "stop"),
        };
        let echo = if req.echo.is_empty() {
            NO_ECHO.iter().map(|w| (*w).to_owned()).collect()
        } else {
            std::mem::take(&mut req.echo)
        };
        Self {
            tag: format!("[{}]", req.model),
            echo,
            seed: req.seed,
            words,
            finish,
            script: Vec::new(),
        }
    }

    /// The reply `behavior` asks for: its scripted pieces ([`super::Behavior::Content`],
    /// [`super::Behavior::CutContent`]) or generated words; for a request continuing a partial
    /// answer, only the part after it (see [`Reply::continued`]).
    pub(super) fn planned(
        behavior: &super::Behavior,
        req: &mut ChatRequest,
        reply_tokens: usize,
    ) -> Self {
        let cap = req.max_tokens;
        if req.continues.is_some() {
            // the whole answer is planned, then capped after the part already given
            req.max_tokens = None;
        }
        let reply = match behavior {
            super::Behavior::Content { chunks } | super::Behavior::CutContent { chunks, .. } => {
                Self::scripted(chunks.clone())
            }
            _ => Self::new(req, reply_tokens),
        };
        match req.continues.take() {
            Some(partial) => reply.continued(&partial, cap),
            None => reply,
        }
    }

    /// What is left of this reply after `partial`, when the reply starts with it (a model
    /// continuing its own answer), in the same pieces (the one `partial` ends in cut where it
    /// ends), at most `cap` of them; the whole reply otherwise.
    fn continued(self, partial: &str, cap: Option<usize>) -> Self {
        let pieces: Vec<String> = (0..self.words).map(|i| self.piece(i).to_string()).collect();
        if !pieces.concat().starts_with(partial) {
            return self;
        }
        let mut at = 0;
        let mut rest = Vec::new();
        for p in pieces {
            let end = at + p.len();
            if end > partial.len() {
                let from = partial.len().saturating_sub(at);
                rest.push(p[from..].to_owned());
            }
            at = end;
        }
        let finish = self.finish;
        let capped = cap.is_some_and(|c| rest.len() > c);
        rest.truncate(cap.unwrap_or(usize::MAX));
        Self {
            finish: if capped { "length" } else { finish },
            ..Self::scripted(rest)
        }
    }

    /// A reply of exactly these pieces, one content chunk each.
    pub(super) fn scripted(chunks: Vec<String>) -> Self {
        Self {
            tag: String::new(),
            echo: Vec::new(),
            seed: 0,
            words: chunks.len(),
            finish: "stop",
            script: chunks,
        }
    }

    fn word(&self, i: usize) -> (&str, &'static str) {
        if i == 0 {
            return (&self.tag, "");
        }
        let i = i - 1;
        if let Some(w) = INTRO.get(i) {
            return (w, "");
        }
        let i = i - INTRO.len();
        if let Some(w) = self.echo.get(i) {
            let punct = if i + 1 == self.echo.len() { ":" } else { "" };
            return (w, punct);
        }
        let j = i - self.echo.len();
        let w = FILLER[(mix(self.seed.wrapping_add(j as u64)) % FILLER.len() as u64) as usize];
        (w, if j % 11 == 10 { "." } else { "" })
    }

    /// The `i`-th streamed piece: the word with its leading space (none for the first).
    pub(super) fn piece(&self, i: usize) -> Piece<'_> {
        if let Some(word) = self.script.get(i) {
            return Piece {
                space: false,
                word,
                punct: "",
            };
        }
        let (word, mut punct) = self.word(i);
        if i + 1 == self.words && self.finish == "stop" {
            punct = ".";
        }
        Piece {
            space: i > 0,
            word,
            punct,
        }
    }

    /// The whole reply text, equal to the concatenation of all pieces.
    pub(super) fn text(&self) -> String {
        use fmt::Write;
        let mut out = String::with_capacity(self.words * 9 + self.tag.len());
        for i in 0..self.words {
            let _ = write!(out, "{}", self.piece(i));
        }
        out
    }
}

/// One word of a reply, written without building an intermediate string.
pub(super) struct Piece<'a> {
    space: bool,
    word: &'a str,
    punct: &'static str,
}

impl fmt::Display for Piece<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.space {
            f.write_str(" ")?;
        }
        f.write_str(self.word)?;
        f.write_str(self.punct)
    }
}

impl Serialize for Piece<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(r: &Reply) -> Vec<String> {
        (0..r.words).map(|i| r.piece(i).to_string()).collect()
    }

    fn script(chunks: &[&str]) -> Reply {
        Reply::scripted(chunks.iter().map(|c| (*c).to_owned()).collect())
    }

    #[test]
    fn a_continued_reply_is_what_follows_the_partial_text_in_the_same_pieces() {
        let r = script(&["The qu", "ick brown", " fox."]).continued("The quick", None);
        assert_eq!(pieces(&r), [" brown", " fox."]);
        let r = script(&["Un caf", "é crème"]).continued("Un caf", None);
        assert_eq!(pieces(&r), ["é crème"]);
        let whole = script(&["The quick", " brown."]).continued("The quick brown.", None);
        assert_eq!((whole.words, whole.finish), (0, "stop"));
    }

    #[test]
    fn a_reply_that_does_not_start_with_the_partial_text_is_given_whole() {
        let r = script(&["Other", " text"]).continued("The quick", None);
        assert_eq!(pieces(&r), ["Other", " text"]);
    }

    #[test]
    fn the_cap_applies_after_the_partial_text() {
        let r = script(&["a", " b", " c", " d"]).continued("a", Some(2));
        assert_eq!(
            (pieces(&r), r.finish),
            (vec![" b".to_owned(), " c".to_owned()], "length")
        );
    }
}
