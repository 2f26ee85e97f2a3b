//! Reads JSON-lines input line by line, keeping every bad line's number and reason.

use std::io::BufRead;

use serde::Serialize;

/// A line that was skipped, so the caller can report it on stderr and count it in the output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct BadLine {
    /// 1-based line number in the input file.
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}; skipped", self.line, self.reason)
    }
}

/// Calls `each` with the number and text of every non-blank line; a line that cannot be read or
/// that `each` rejects becomes a [`BadLine`] instead of stopping the whole run.
pub(crate) fn read_lines<R: BufRead>(
    reader: R,
    mut each: impl FnMut(usize, &str) -> Result<(), String>,
) -> Vec<BadLine> {
    let mut bad = Vec::new();
    for (i, line) in reader.split(b'\n').enumerate() {
        let n = i + 1;
        let bytes = match line {
            Ok(b) => b,
            Err(e) => {
                bad.push(BadLine {
                    line: n,
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t.trim(),
            Err(e) => {
                bad.push(BadLine {
                    line: n,
                    reason: format!("not UTF-8: {e}"),
                });
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        if let Err(reason) = each(n, text) {
            bad.push(BadLine { line: n, reason });
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_are_ignored_and_rejections_keep_their_number() {
        let input: &[u8] = b"a\n\n  \nb\n\xff\nc\n";
        let mut seen = Vec::new();
        let bad = read_lines(input, |n, t| {
            seen.push((n, t.to_owned()));
            if t == "b" {
                Err("no b".into())
            } else {
                Ok(())
            }
        });
        assert_eq!(seen, [(1, "a".into()), (4, "b".into()), (6, "c".into())]);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].line, 4);
        assert_eq!(bad[1].line, 5);
        assert!(bad[0].to_string().starts_with("line 4: no b"));
    }
}
