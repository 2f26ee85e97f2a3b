//! Keyword signals: every keyword of every signal in one trie, matched at word starts in a
//! single pass over the text, case-insensitively in Latin and Cyrillic.
//!
//! A keyword is a lowercase word or phrase; a trailing `*` makes it a stem (`докаж*` matches
//! `докажите`), otherwise it must end at a word end. Latin case is folded by the trie; for
//! other scripts each keyword is also added Capitalised and in UPPER case, which covers how
//! words appear in prompts without lowercasing the text on the hot path.
//!
//! Every keyword starts with a letter or digit and must start a word, so the scan only walks
//! the trie where a word begins (the previous character is not a word character) and reports
//! every pattern found along the walk: the same hits as an overlapping search over every
//! position that keeps the matches at word starts, for a fraction of the work.

#[cfg(test)]
mod reference;
mod trie;

use super::chars::{is_cyrillic_letter_lead, is_word_char, past_word, word_char_at};
use super::settings::Position;
use std::ops::Range;
use trie::Trie;

/// Where one pattern counts.
#[derive(Debug, Clone, Copy)]
struct Target {
    signal: u32,
    /// From the signal's `also:` list (a second condition) rather than `keywords:`.
    also: bool,
    /// Prefix match: no word end required.
    stem: bool,
}

/// The compiled trie and, per pattern, the signals it feeds.
#[derive(Debug)]
pub(crate) struct KeywordSet {
    automaton: Option<Trie>,
    targets: Vec<Vec<Target>>,
}

/// What one keyword signal needs at match time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeywordRule {
    pub cap: usize,
    pub at: Position,
}

/// Keyword counts of one text, per signal index.
#[derive(Debug, Default)]
pub(crate) struct Hits {
    pub main: Vec<usize>,
    pub also: Vec<bool>,
}

/// Where a keyword hit may start, for `at:` (the first word, the first and the last line).
struct Lines {
    first: usize,
    first_line_end: usize,
    last_line_start: usize,
    /// The question asked last: the last line when it ends with a question mark, or the line
    /// before a short last one that only says how to answer ("Question: …?\nAnswer:").
    question: Range<usize>,
}

/// The longest last line, in bytes, read as a format for the answer to the question above it
/// ("Answer:", "Ответь только числом.") rather than as an ask of its own.
const ANSWER_FORMAT_BYTES: usize = 48;

impl Lines {
    fn of(text: &str) -> Lines {
        let first = text
            .char_indices()
            .find(|(_, c)| is_word_char(*c))
            .map_or(text.len(), |(i, _)| i);
        let trimmed = text.trim_end();
        let last_line_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        let above = trimmed[..last_line_start].trim_end();
        let question = if trimmed.ends_with('?') {
            last_line_start..trimmed.len()
        } else if trimmed.len() - last_line_start <= ANSWER_FORMAT_BYTES && above.ends_with('?') {
            above.rfind('\n').map_or(0, |i| i + 1)..above.len()
        } else {
            0..0
        };
        Lines {
            first,
            first_line_end: text[first..].find('\n').map_or(text.len(), |i| first + i),
            last_line_start,
            question,
        }
    }

    fn allow(&self, at: Position, start: usize) -> bool {
        match at {
            Position::Anywhere => true,
            Position::Start => start == self.first,
            Position::FirstLine => start < self.first_line_end,
            Position::LastLine => start >= self.last_line_start,
            Position::LastQuestion => self.question.contains(&start),
        }
    }
}

/// One keyword occurrence at a word start: whether it also ends a word (non-stems must).
struct Found {
    start: usize,
    ends_word: bool,
}

impl Found {
    /// Adds this occurrence to every signal its pattern feeds that `wanted` selects.
    fn count(
        &self,
        targets: &[Target],
        rules: &[KeywordRule],
        lines: &Lines,
        wanted: impl Fn(usize) -> bool,
        hits: &mut Hits,
    ) {
        for t in targets {
            let s = t.signal as usize;
            if !wanted(s) || (!t.stem && !self.ends_word) {
                continue;
            }
            if t.also {
                hits.also[s] = true;
                continue;
            }
            let rule = &rules[s];
            if lines.allow(rule.at, self.start) && hits.main[s] < rule.cap {
                hits.main[s] += 1;
            }
        }
    }
}

impl KeywordSet {
    /// Builds the trie; `lists[i]` is signal i's `(keywords, also)` (both empty for signals of
    /// other kinds). Errors are `(signal index, message)`.
    pub(crate) fn build(lists: &[(&[String], &[String])]) -> Result<KeywordSet, (usize, String)> {
        let (patterns, targets) = patterns(lists)?;
        let automaton =
            (!patterns.is_empty()).then(|| Trie::new(patterns.iter().map(String::as_str)));
        Ok(KeywordSet { automaton, targets })
    }

    /// Counts keyword hits in `text` for the signals `wanted` selects, into `hits`. Kept out of
    /// line (called once per text) so profiles show its cost apart from the detectors'.
    #[inline(never)]
    pub(crate) fn scan(
        &self,
        text: &str,
        rules: &[KeywordRule],
        wanted: impl Fn(usize) -> bool,
        hits: &mut Hits,
    ) {
        let Some(trie) = &self.automaton else {
            return;
        };
        let bytes = text.as_bytes();
        let mut counting = Counting {
            text,
            targets: &self.targets,
            rules,
            lines: Lines::of(text),
            wanted,
            hits,
        };
        // `start` is always where a word may begin: at 0, or after a non-word character
        let mut start = 0;
        while start < bytes.len() {
            // no keyword starts with a non-word character, and the next one may start a word
            let b = bytes[start];
            if b < 0x80 {
                if !b.is_ascii_alphanumeric() {
                    start += 1;
                    continue;
                }
            } else if !is_cyrillic_letter_lead(b) {
                // (a Cyrillic letter starts a word: no decoding for the usual case)
                let (word, width) = word_char_at(text, start);
                if !word {
                    start += width;
                    continue;
                }
            }
            trie.walk(bytes, start, |pattern, end| {
                counting.add(pattern, start, end);
            });
            // the next place a keyword may start is past this word and the character that ends
            // it: found from the word's start, not from where the walk stopped, so the next
            // word's walk does not wait for this one's (the walks' loads are what takes the time)
            start = past_word(text, start);
        }
    }
}

/// What counting a found keyword needs, gathered in one place so the scan's loop keeps only
/// its own few values in registers.
struct Counting<'a, W> {
    text: &'a str,
    targets: &'a [Vec<Target>],
    rules: &'a [KeywordRule],
    lines: Lines,
    wanted: W,
    hits: &'a mut Hits,
}

impl<W: Fn(usize) -> bool> Counting<'_, W> {
    /// Counts `pattern`, found at `start..end`. Out of line: a pattern is found at a few words
    /// in a hundred, and inlined it would crowd the trie walk's registers.
    #[inline(never)]
    fn add(&mut self, pattern: usize, start: usize, end: usize) {
        let ends_word = end >= self.text.len() || !word_char_at(self.text, end).0;
        let found = Found { start, ends_word };
        found.count(
            &self.targets[pattern],
            self.rules,
            &self.lines,
            &self.wanted,
            self.hits,
        );
    }
}

/// The patterns to search (each keyword's [`variants`], once each) and, per pattern, the
/// signals it feeds; `lists` as for [`KeywordSet::build`].
#[allow(clippy::type_complexity)]
fn patterns(
    lists: &[(&[String], &[String])],
) -> Result<(Vec<String>, Vec<Vec<Target>>), (usize, String)> {
    let mut patterns: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut targets: Vec<Vec<Target>> = Vec::new();
    for (signal, (main, also)) in lists.iter().enumerate() {
        for (is_also, list) in [(false, main), (true, also)] {
            for k in *list {
                let (word, stem) = match k.strip_suffix('*') {
                    Some(w) => (w, true),
                    None => (k.as_str(), false),
                };
                if word.trim().is_empty() || word.trim() != word {
                    return Err((
                        signal,
                        format!("keyword `{k}` is empty or has spaces at its ends"),
                    ));
                }
                if word.contains('*') {
                    return Err((
                        signal,
                        format!(
                            "keyword `{k}`: `*` may only end a keyword (a stem); list each form \
                             of a phrase whose inner words vary"
                        ),
                    ));
                }
                if !word.chars().next().is_some_and(char::is_alphanumeric) {
                    return Err((
                        signal,
                        format!("keyword `{k}` must start with a letter or digit"),
                    ));
                }
                for variant in variants(word) {
                    let i = *index.entry(variant.clone()).or_insert_with(|| {
                        patterns.push(variant);
                        targets.push(Vec::new());
                        targets.len() - 1
                    });
                    targets[i].push(Target {
                        signal: signal as u32,
                        also: is_also,
                        stem,
                    });
                }
            }
        }
    }
    Ok((patterns, targets))
}

/// The forms a lowercase keyword is searched in: as written, and for non-ASCII words also
/// Capitalised and UPPER case (ASCII case is folded by the automaton). A labelled keyword
/// ("вопрос: кто") is also searched with both words Capitalised, as a form's field reads
/// ("Вопрос: Кто…").
fn variants(word: &str) -> Vec<String> {
    let lower = word.to_lowercase();
    let mut out = vec![lower.clone()];
    if !lower.is_ascii() {
        let capitalised = capitalise(&lower);
        if let Some((label, rest)) = capitalised.split_once(": ") {
            out.push(format!("{label}: {}", capitalise(rest)));
        }
        out.push(capitalised);
        out.push(lower.to_uppercase());
    }
    out.dedup();
    out.sort();
    out.dedup();
    out
}

/// `word` with its first letter in upper case.
fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(main: &[&str], also: &[&str], at: Position, text: &str) -> usize {
        let main: Vec<String> = main.iter().map(|s| (*s).to_string()).collect();
        let also: Vec<String> = also.iter().map(|s| (*s).to_string()).collect();
        let set = KeywordSet::build(&[(&main, &also)]).unwrap();
        let rules = [KeywordRule { cap: 5, at }];
        let mut hits = Hits {
            main: vec![0],
            also: vec![false],
        };
        set.scan(text, &rules, |_| true, &mut hits);
        if !also.is_empty() && !hits.also[0] {
            0
        } else {
            hits.main[0]
        }
    }

    #[test]
    fn whole_words_stems_and_case_in_both_scripts() {
        let any = Position::Anywhere;
        assert_eq!(
            count(&["fix"], &[], any, "Please FIX this, fixture prefix"),
            1
        );
        assert_eq!(count(&["fix*"], &[], any, "fixture prefix fixes"), 2);
        assert_eq!(
            count(&["докаж*"], &[], any, "ДОКАЖИТЕ, что… Докажи! недокажешь"),
            2
        );
        assert_eq!(count(&["show that"], &[], any, "Show that x; showthat"), 1);
        assert_eq!(count(&["ґрунт*"], &[], any, "Ґрунти України"), 1);
    }

    #[test]
    fn positions_and_the_also_condition() {
        assert_eq!(
            count(&["who"], &[], Position::Start, "  Who wrote it? who"),
            1
        );
        assert_eq!(
            count(&["who"], &[], Position::Start, "Tell me who wrote it"),
            0
        );
        let text = "Long passage about who did what.\n\nWhat year was it?";
        assert_eq!(count(&["what"], &[], Position::LastLine, text), 1);
        assert_eq!(count(&["what"], &[], Position::FirstLine, text), 1);
        assert_eq!(count(&["what"], &[], Position::LastQuestion, text), 1);
        let ask_first = "What year was it? Answer from the text.\n\nIt was the year what it was.";
        assert_eq!(count(&["what"], &[], Position::LastLine, ask_first), 1);
        assert_eq!(count(&["what"], &[], Position::LastQuestion, ask_first), 0);
        let answer_format = "It was the year it was.\nQuestion: what year was it?\nAnswer:";
        assert_eq!(
            count(&["what"], &[], Position::LastQuestion, answer_format),
            1
        );
        let second_ask =
            "What year was it?\nNow write a four-paragraph essay about what happened in that year.";
        assert_eq!(count(&["what"], &[], Position::LastQuestion, second_ask), 0);
        assert_eq!(
            count(
                &["write"],
                &["python", "sql"],
                Position::Anywhere,
                "Write a Python script"
            ),
            1
        );
        assert_eq!(
            count(&["write"], &["python"], Position::Anywhere, "Write a poem"),
            0
        );
    }

    #[test]
    fn a_labelled_keyword_matches_a_capitalised_field() {
        let text = "Контекст: музей.\nВопрос: Кто основал музей?";
        assert_eq!(
            count(&["вопрос: кто"], &[], Position::LastQuestion, text),
            1
        );
        assert_eq!(
            count(&["вопрос: кто"], &[], Position::Anywhere, "вопрос: кто это"),
            1
        );
        assert_eq!(
            count(&["вопрос: кто"], &[], Position::Anywhere, "ВОПРОС: КТО это"),
            1
        );
    }

    #[test]
    fn bad_keywords_are_rejected() {
        let none: Vec<String> = Vec::new();
        for bad in [" x", "*", "-x", "двоичн* дерев*"] {
            let list = vec![bad.to_string()];
            assert!(KeywordSet::build(&[(&list, &none)]).is_err(), "{bad}");
        }
        assert!(KeywordSet::build(&[]).unwrap().automaton.is_none());
    }
}
