//! Reads a stream chunk of the usual shape in one pass over its bytes, or declines to.
//!
//! Nearly every chunk of a chat stream is a small object of plain strings, integers and
//! `null`s with the answer's next piece in `choices[].delta.content`. A typed serde parse of
//! such a chunk costs ~4,000 instructions, and a 500-token answer is 500 chunks. [`scan`]
//! reads the same facts in one walk, but only where that is certain: it declines (`None`)
//! whenever anything is out of the ordinary — an escape or a control character in a string, a
//! number with an exponent or many digits, deep nesting, a repeated field the router reads,
//! a field of the wrong type, a `usage` that is not `null`, a Responses event or an `error` —
//! and the full parse decides those. So every text it accepts is one the full parse accepts
//! too, with the same facts (a test holds it to that on generated and mutated chunks).

use std::ops::Range;

/// What [`scan`] found in a chunk, as byte ranges of its text.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    /// The text the first choice that adds any adds (its `delta.content`, or else its legacy
    /// `text`); `more` holds the other choices' (rare: only with `n` > 1).
    pub first: Option<Range<usize>>,
    pub more: Vec<Range<usize>>,
    pub has_choices: bool,
    pub tool_calls: bool,
    pub finished: bool,
}

/// Nesting deeper than this is left to the full parse (which refuses past 128).
const MAX_DEPTH: usize = 16;

/// Numbers longer than this are left to the full parse (which refuses beyond `f64`'s range).
const MAX_NUMBER: usize = 24;

/// The facts of `data` when it is a chunk of the usual shape (see the module doc), else `None`.
pub(super) fn scan(data: &str) -> Option<Scanned> {
    let mut p = Bytes {
        b: data.as_bytes(),
        i: 0,
    };
    let mut out = Scanned::default();
    let (mut choices, mut usage) = (None, None);
    p.object(|p, key| match key {
        b"choices" => once(&mut choices, p.choices(&mut out)),
        // a usage object (once per stream) is read by the full parse
        b"usage" => once(&mut usage, p.null()),
        // a Responses event, or an error object: the full parse and the error check decide
        b"type" | b"delta" | b"error" => None,
        _ => p.skip(1),
    })?;
    p.space();
    (p.i == p.b.len()).then_some(out)
}

/// Keeps a field's `value` (`None` declines) the first time the field is met; declines a
/// repeat, as the full parse refuses a repeated field it reads.
fn once<T>(slot: &mut Option<T>, value: Option<T>) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value?);
    Some(())
}

/// A cursor over a chunk's bytes; every method returns `None` to decline.
struct Bytes<'a> {
    b: &'a [u8],
    i: usize,
}

impl Bytes<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.space();
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        self.b
            .get(self.i..)?
            .starts_with(w)
            .then(|| self.i += w.len())
    }

    /// A string with no escapes and no control characters; its contents' range.
    fn string(&mut self) -> Option<Range<usize>> {
        self.eat(b'"')?;
        let start = self.i;
        let rest = self.b.get(start..)?;
        let len = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        (rest[len] == b'"').then_some(())?;
        self.i = start + len + 1;
        Some(start..start + len)
    }

    /// `null` (after optional space).
    fn null(&mut self) -> Option<()> {
        self.space();
        self.word(b"null")
    }

    /// `null` (`Some(None)`), or a value read by `value`.
    fn null_or<T>(&mut self, value: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        self.space();
        if self.peek()? == b'n' {
            return self.word(b"null").map(|()| None);
        }
        value(self).map(Some)
    }

    /// `null`, or a string's range.
    fn null_or_string(&mut self) -> Option<Option<Range<usize>>> {
        self.null_or(Self::string)
    }

    /// A number without an exponent: `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, at most [`MAX_NUMBER`] bytes.
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let before = self.i;
            self.digits();
            (self.i > before).then_some(())?;
        }
        // an exponent, or a digit after a leading zero, is left to the full parse
        (!matches!(self.peek(), Some(b'e' | b'E' | b'0'..=b'9'))).then_some(())?;
        (self.i - start <= MAX_NUMBER).then_some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    /// Any value, read for its syntax only, nested at most [`MAX_DEPTH`] deep.
    fn skip(&mut self, depth: usize) -> Option<()> {
        (depth <= MAX_DEPTH).then_some(())?;
        self.space();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|p, _| p.skip(depth + 1)),
            b'[' => self.array(|p| p.skip(depth + 1)),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            _ => self.number(),
        }
    }

    /// An object, each member's value read by `value` (given the key).
    fn object(&mut self, mut value: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.list(b'{', b'}', |p| {
            let key = p.string()?;
            p.eat(b':')?;
            let b = p.b;
            value(p, &b[key])
        })
    }

    /// An array, each element read by `element`.
    fn array(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.list(b'[', b']', element)
    }

    /// `open`, items read by `item` separated by commas, `close`.
    fn list(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        self.space();
        if self.peek()? == close {
            self.i += 1;
            return Some(());
        }
        loop {
            item(self)?;
            self.space();
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `choices`: a list of choice objects.
    fn choices(&mut self, out: &mut Scanned) -> Option<()> {
        self.array(|p| {
            out.has_choices = true;
            p.choice(out)
        })
    }

    /// One choice: what it adds (`delta.content`, else `text`), its tool calls and its finish.
    fn choice(&mut self, out: &mut Scanned) -> Option<()> {
        let (mut delta, mut text, mut finish) = (None, None, None);
        self.object(|p, key| match key {
            b"delta" => once(&mut delta, p.null_or(|p| p.delta(out))),
            b"text" => once(&mut text, p.null_or_string()),
            b"finish_reason" => once(&mut finish, p.null_or_string()),
            _ => p.skip(2),
        })?;
        out.finished |= finish.flatten().is_some();
        match delta.flatten().flatten().or(text.flatten()) {
            Some(piece) if piece.is_empty() => {}
            Some(piece) if out.first.is_none() => out.first = Some(piece),
            Some(piece) => out.more.push(piece),
            None => {}
        }
        Some(())
    }

    /// A choice's `delta` object: its `content`, if any; notes tool calls.
    fn delta(&mut self, out: &mut Scanned) -> Option<Option<Range<usize>>> {
        let (mut content, mut tools) = (None, None);
        self.object(|p, key| match key {
            b"content" => once(&mut content, p.null_or_string()),
            b"tool_calls" => once(&mut tools, p.null_or(|p| p.skip(3))),
            _ => p.skip(3),
        })?;
        out.tool_calls |= tools.flatten().is_some();
        Some(content.flatten())
    }
}
