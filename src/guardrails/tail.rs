//! One streamed text's held-back tail: releases only text no later chunk can turn into a match.

use super::scan::{hits, rewrite};
use super::OutputRule;

/// Held text beyond this many bytes is released (redacted as it stands) to bound memory.
pub(super) const MAX_HELD: usize = 64 * 1024;

/// The unsent end of one streamed text (one choice's content, legacy text or tool arguments).
#[derive(Debug, Default)]
pub(super) struct Tail {
    /// The last character already sent (look-behind context for `\b`, `^`), then the held text.
    buf: String,
    /// Where the held text starts in `buf`.
    from: usize,
}

impl Tail {
    /// Adds `text` and returns the redacted text that is now safe to send, with its count of
    /// replacements.
    ///
    /// The cut is `hold` characters before the end of the held text, moved back to the start
    /// of any match that reaches past it: that match could still grow (or, for a pattern with
    /// alternatives, turn into another one) with the next chunk. Matches wholly before the cut
    /// are replaced; everything from the cut on is held.
    pub(super) fn push(&mut self, rules: &[OutputRule], hold: usize, text: &str) -> (String, u32) {
        self.buf.push_str(text);
        if self.buf.len() - self.from > MAX_HELD {
            return self.flush(rules);
        }
        let found = hits(rules, &self.buf, self.from);
        let mut cut = hold_start(&self.buf, self.from, hold);
        if let Some(h) = found.iter().find(|h| h.start < cut && h.end > cut) {
            cut = h.start;
        }
        let done = found.iter().take_while(|h| h.end <= cut).count();
        self.release(rules, &found[..done], cut)
    }

    /// Sends everything held, redacted: the text has ended.
    pub(super) fn flush(&mut self, rules: &[OutputRule]) -> (String, u32) {
        let found = hits(rules, &self.buf, self.from);
        self.release(rules, &found, self.buf.len())
    }

    /// Rewrites the held text up to `cut` and keeps the rest, plus one character of context.
    fn release(
        &mut self,
        rules: &[OutputRule],
        found: &[super::scan::Hit],
        cut: usize,
    ) -> (String, u32) {
        let mut out = String::new();
        let n = rewrite(rules, &self.buf, self.from, cut, found, &mut out);
        let keep = self
            .buf
            .get(..cut)
            .and_then(|s| s.char_indices().next_back())
            .map_or(cut, |(i, _)| i);
        self.buf.drain(..keep);
        self.from = cut - keep;
        (out, n)
    }
}

/// Byte index in `buf` where its last `hold` characters begin, never before `from`.
fn hold_start(buf: &str, from: usize, hold: usize) -> usize {
    let held = buf.get(from..).unwrap_or_default();
    match hold.checked_sub(1) {
        None => buf.len(),
        Some(skip) => held
            .char_indices()
            .rev()
            .nth(skip)
            .map_or(from, |(i, _)| from + i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::test_guards;
    use serde_json::json;

    fn key_rule(hold: usize) -> crate::guardrails::Guardrails {
        test_guards(json!({"output": [{
            "name": "key", "pattern": "sk-[A-Za-z0-9]{8,}", "replace": "[K]", "max_match_chars": hold
        }]}))
    }

    #[test]
    fn holds_the_last_hold_characters() {
        let g = key_rule(4);
        let mut t = Tail::default();
        assert_eq!(t.push(&g.output, 4, "héllo wörld"), ("héllo w".into(), 0));
        assert_eq!(t.push(&g.output, 4, "!"), ("ö".into(), 0));
        assert_eq!(t.flush(&g.output), ("rld!".into(), 0));
        assert_eq!(t.flush(&g.output), (String::new(), 0));
    }

    #[test]
    fn a_match_reaching_the_end_is_held_from_its_start() {
        let g = key_rule(4);
        let mut t = Tail::default();
        assert_eq!(t.push(&g.output, 4, "x sk-abcdefgh"), ("x ".into(), 0));
        assert_eq!(
            t.push(&g.output, 4, "ijkl and more"),
            ("[K] and ".into(), 1)
        );
        assert_eq!(t.flush(&g.output), ("more".into(), 0));
    }

    #[test]
    fn a_match_straddling_the_cut_is_held_from_its_start() {
        let g = key_rule(4);
        let mut t = Tail::default();
        // The match ends two characters before the end: inside the held part.
        assert_eq!(t.push(&g.output, 4, "a sk-abcdefgh."), ("a ".into(), 0));
        assert_eq!(t.flush(&g.output), ("[K].".into(), 1));
    }

    #[test]
    fn too_much_held_text_is_released_redacted() {
        let g = key_rule(MAX_HELD * 2);
        let mut t = Tail::default();
        let big = "a".repeat(MAX_HELD);
        assert_eq!(t.push(&g.output, MAX_HELD * 2, &big), (String::new(), 0));
        let (out, n) = t.push(&g.output, MAX_HELD * 2, " sk-abcdefgh");
        assert_eq!((out.len(), n), (MAX_HELD + 4, 1));
    }

    #[test]
    fn hold_start_counts_characters() {
        assert_eq!(hold_start("aпривет", 0, 2), "aприв".len());
        assert_eq!(hold_start("ab", 0, 5), 0);
        assert_eq!(hold_start("xab", 1, 2), 1);
        assert_eq!(hold_start("ab", 0, 0), 2);
    }
}
