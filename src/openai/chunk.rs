//! One stream chunk as relayed, with what the router reads from it, read where it is first parsed.

use std::ops::Range;

use super::chunk_scan::scan;
use super::{ChunkView, Usage};

/// A chunk's text and what the router reads from it. The OpenAI wire already parses every
/// chunk to check it; carrying what that parse found saves the dispatcher (which waits for
/// the first chunk that says something) and the relay (usage, text, finish) a parse each.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    data: String,
    /// `None` for a chunk the router cannot read as a chunk: relayed as is, nothing read.
    facts: Option<Facts>,
}

/// What one chunk says, as far as the router cares.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Facts {
    pub usage: Option<Usage>,
    /// Whether it has any `choices` (a usage-only chunk has none).
    pub has_choices: bool,
    /// A choice streams tool calls.
    pub tool_calls: bool,
    /// A choice has a `finish_reason`.
    pub finished: bool,
    text: Added,
}

/// Where the text a chunk adds is: most chunks add one unescaped piece, a slice of the chunk.
#[derive(Debug, Clone, Default, PartialEq)]
enum Added {
    #[default]
    Nothing,
    Slice(Range<usize>),
    Owned(String),
}

impl Chunk {
    /// `data` read leniently: a chunk that does not parse is relayed as is, with no facts.
    pub(crate) fn read(data: String) -> Self {
        if let Some(facts) = Facts::scanned(&data) {
            return Self {
                data,
                facts: Some(facts),
            };
        }
        let facts = serde_json::from_str::<ChunkView<'_>>(&data)
            .ok()
            .map(|view| Facts::of(&data, &view));
        Self { data, facts }
    }

    /// `data` read by `parse`, whose error is the caller's (the OpenAI wire reads strictly).
    pub(crate) fn parse_with<E>(
        data: String,
        parse: impl FnOnce(&str) -> Result<ChunkView<'_>, E>,
    ) -> Result<Self, E> {
        // the usual chunk is read without serde; whatever the scan declines, `parse` reads
        let facts = match Facts::scanned(&data) {
            Some(facts) => facts,
            None => Facts::of(&data, &parse(&data)?),
        };
        Ok(Self {
            data,
            facts: Some(facts),
        })
    }

    pub(crate) fn data(&self) -> &str {
        &self.data
    }

    pub(crate) fn into_data(self) -> String {
        self.data
    }

    pub(crate) fn facts(&self) -> Option<&Facts> {
        self.facts.as_ref()
    }

    /// The answer text this chunk adds (every choice's, and a relayed Responses delta's), if
    /// any and not empty.
    pub(crate) fn text(&self) -> Option<&str> {
        match &self.facts.as_ref()?.text {
            Added::Nothing => None,
            Added::Slice(r) => self.data.get(r.clone()),
            Added::Owned(s) => Some(s),
        }
    }

    /// Whether the chunk says something a client waits for: text, tool calls or usage (a
    /// stream is held back until one does, so one that dies before it still fails over).
    pub(crate) fn is_meaningful(&self) -> bool {
        self.text().is_some()
            || self
                .facts
                .as_ref()
                .is_some_and(|f| f.usage.is_some() || f.tool_calls)
    }
}

impl Facts {
    /// A chunk of the usual shape, read by [`scan`]; `None` when the scan declines.
    fn scanned(data: &str) -> Option<Self> {
        let s = scan(data)?;
        let pieces = s.first.into_iter().chain(s.more).map(|r| &data[r]);
        Some(Self {
            usage: None,
            has_choices: s.has_choices,
            tool_calls: s.tool_calls,
            finished: s.finished,
            text: Added::of(data, pieces),
        })
    }

    fn of(data: &str, view: &ChunkView<'_>) -> Self {
        let mut tool_calls = false;
        let mut finished = false;
        for c in &view.choices {
            tool_calls |= c.delta.as_ref().is_some_and(|d| d.tool_calls.is_some());
            finished |= c.finish_reason.is_some();
        }
        let pieces = view
            .choices
            .iter()
            .filter_map(|c| c.text())
            .chain(view.native_text());
        Self {
            usage: view.usage,
            has_choices: !view.choices.is_empty(),
            tool_calls,
            finished,
            text: Added::of(data, pieces),
        }
    }
}

impl Added {
    /// The non-empty `pieces` of `data` a chunk adds: one is kept as its range in `data`.
    fn of<'a>(data: &str, pieces: impl Iterator<Item = &'a str>) -> Self {
        let mut pieces = pieces.filter(|t| !t.is_empty());
        match (pieces.next(), pieces.next()) {
            (None, _) => Added::Nothing,
            (Some(one), None) => {
                slice_of(data, one).map_or_else(|| Added::Owned(one.into()), Added::Slice)
            }
            (Some(a), Some(b)) => {
                let mut all = format!("{a}{b}");
                pieces.for_each(|t| all.push_str(t));
                Added::Owned(all)
            }
        }
    }
}

/// Where `piece` lies in `data`, when it is a slice of it (text without escapes is borrowed
/// from the chunk by the parse; unescaped text is a string of its own).
fn slice_of(data: &str, piece: &str) -> Option<Range<usize>> {
    let start = (piece.as_ptr() as usize).checked_sub(data.as_ptr() as usize)?;
    let range = start..start + piece.len();
    data.get(range.clone())
        .is_some_and(|s| std::ptr::eq(s, piece))
        .then_some(range)
}

#[cfg(test)]
mod scan_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(data: &str) -> Chunk {
        Chunk::read(data.to_owned())
    }

    #[test]
    fn a_content_delta_is_read_as_a_slice_of_the_chunk() {
        let c =
            chunk(r#"{"choices":[{"index":0,"delta":{"content":"Paris"},"finish_reason":null}]}"#);
        assert_eq!(c.text(), Some("Paris"));
        let f = c.facts().unwrap();
        assert!(matches!(f.text, Added::Slice(_)));
        assert!(f.has_choices && !f.finished && !f.tool_calls && f.usage.is_none());
        assert!(c.is_meaningful());
    }

    #[test]
    fn escaped_text_and_several_choices_are_read_whole() {
        let c = chunk(r#"{"choices":[{"delta":{"content":"caf\u00e9 \"x\""}}]}"#);
        assert_eq!(c.text(), Some("café \"x\""));
        let c = chunk(
            r#"{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}},{"index":2,"text":"c"}]}"#,
        );
        assert_eq!(c.text(), Some("abc"));
    }

    #[test]
    fn an_empty_role_delta_says_nothing_and_a_usage_chunk_does() {
        let role = chunk(r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#);
        assert_eq!(role.text(), None);
        assert!(!role.is_meaningful());
        let usage = chunk(r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#);
        let f = usage.facts().unwrap();
        assert!(!f.has_choices);
        assert_eq!(f.usage.map(|u| u.completion_tokens), Some(2));
        assert!(usage.is_meaningful());
    }

    #[test]
    fn finish_and_tool_calls_are_read() {
        let c = chunk(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0}]},"finish_reason":"tool_calls"}]}"#,
        );
        let f = c.facts().unwrap();
        assert!(f.tool_calls && f.finished);
        assert!(c.is_meaningful());
        assert_eq!(c.text(), None);
    }

    #[test]
    fn a_responses_text_delta_counts_as_text() {
        let c = chunk(r#"{"type":"response.output_text.delta","delta":"Hi"}"#);
        assert_eq!(c.text(), Some("Hi"));
    }

    #[test]
    fn an_unreadable_chunk_is_kept_as_sent_with_nothing_read() {
        let c = chunk("not json");
        assert!(c.facts().is_none());
        assert_eq!(c.text(), None);
        assert!(!c.is_meaningful());
        assert_eq!(c.into_data(), "not json");
    }
}
