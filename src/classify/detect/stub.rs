//! Finds a function left for the reader to write: a signature whose next line opens its doc comment.

/// Openings of a function signature in the languages coding prompts use most.
const HEADERS: [&str; 10] = [
    "def ",
    "async def ",
    "function ",
    "async function ",
    "fn ",
    "pub fn ",
    "func ",
    "public ",
    "private ",
    "static ",
];

/// How a doc comment or a comment opens.
const DOCS: [&str; 5] = ["\"\"\"", "'''", "//", "/*", "#"];

/// Watches lines in order for a signature (`def f(x):`, `function f(x) {`, `fn f(x) -> T {`)
/// followed by a line that opens its docstring or comment: the shape of "complete this
/// function" prompts (HumanEval and its ports), which state a whole task without an
/// imperative verb, so no ask cue sees them.
#[derive(Debug, Default)]
pub(super) struct Stub {
    after_header: bool,
    found: bool,
}

impl Stub {
    /// Takes the next line of the text.
    pub(super) fn line(&mut self, line: &str) {
        if self.found {
            return;
        }
        let t = line.trim();
        if t.is_empty() {
            return;
        }
        if self.after_header && DOCS.iter().any(|d| t.starts_with(d)) {
            self.found = true;
            return;
        }
        self.after_header = is_signature(t);
    }

    pub(super) fn found(&self) -> bool {
        self.found
    }
}

/// Whether a trimmed line is a function signature that opens a body (`:` or `{` at its end).
fn is_signature(t: &str) -> bool {
    (t.ends_with(':') || t.ends_with('{'))
        && HEADERS.iter().any(|h| t.starts_with(h))
        && t.find('(').is_some_and(|open| t[open..].contains(')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stub(text: &str) -> bool {
        let mut s = Stub::default();
        text.lines().for_each(|l| s.line(l));
        s.found()
    }

    #[test]
    fn a_signature_with_its_docstring_is_a_function_to_write() {
        assert!(stub(
            "from typing import List\n\n\ndef below_zero(ops: List[int]) -> bool:\n    \"\"\" Return True if the balance falls below zero.\n    \"\"\"\n"
        ));
        assert!(stub(
            "function chunk(xs, n) {\n  // split xs into arrays of n\n}"
        ));
        assert!(stub(
            "pub fn rotate(v: &mut Vec<i32>, k: usize) {\n    /// rotate right by k\n}"
        ));
        assert!(stub(
            "func Reverse(s string) string {\n\n\t// Reverse returns s backwards\n}"
        ));
    }

    #[test]
    fn code_with_a_body_or_prose_about_functions_is_not() {
        assert!(!stub("def add(a, b):\n    return a + b\n"));
        assert!(!stub(
            "Write a function def f(x): that doubles x.\n# not a docstring"
        ));
        assert!(!stub("if (x > 0) {\n  // positive\n}"));
        assert!(!stub("def broken(:\n    \"\"\"doc\"\"\""));
        assert!(!stub("\"\"\"A docstring with no signature above it.\"\"\""));
    }
}
