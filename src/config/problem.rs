//! A configuration mistake with the file, line and field path an operator needs to fix it.

use std::fmt;
use std::path::{Path, PathBuf};

/// One mistake found while loading; all of them are collected before giving up, so an operator
/// fixes a broken config in one pass instead of one error per restart.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl Problem {
    /// A problem at a field; the line is the parser's position of `needle` inside the field
    /// (else of the field itself), so a name written several times is reported where it
    /// stands. Only a field that is not in the text falls back to `needle`'s first line.
    pub fn at(
        file: &Path,
        text: &str,
        field: impl Into<String>,
        needle: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        let field = field.into();
        Self {
            file: file.to_owned(),
            line: super::locate::line_at(text, &field, needle)
                .or_else(|| needle.and_then(|n| line_of(text, n))),
            field,
            message: message.into(),
        }
    }

    /// Turns a parse failure into a problem with the exact field path and the parser's line.
    pub fn from_parse(
        file: &Path,
        text: &str,
        err: serde_path_to_error::Error<serde_yaml::Error>,
    ) -> Self {
        let path = err.path().to_string();
        let inner = err.inner();
        let line = inner.location().map(|l| l.line());
        let parsed = super::explain::explain(&path, &inner.to_string(), text, line);
        Self {
            file: file.to_owned(),
            line,
            field: parsed.field,
            message: parsed.message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The 1-based line where `needle` first appears as a YAML value or key.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let code = l.split(" #").next().unwrap_or(l);
            code.contains(needle)
        })
        .map(|i| i + 1)
}

/// The 1-based line where a YAML text's second document starts: a `---` marker after a
/// document has begun (by content or its own marker), or content after a `...` end marker.
/// Comments, blank lines and `%` directives begin nothing.
pub(super) fn second_document_line(text: &str) -> Option<usize> {
    let mut begun = false;
    let mut ended = false;
    for (i, line) in text.lines().enumerate() {
        let marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        let content = !line.trim().is_empty()
            && !line.trim_start().starts_with('#')
            && !line.starts_with('%');
        if marker("---") {
            if begun || ended {
                return Some(i + 1);
            }
            begun = true;
        } else if marker("...") {
            ended = begun;
            begun = false;
        } else if content {
            if ended {
                return Some(i + 1);
            }
            begun = true;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_line_and_formats() {
        let p = Problem::at(
            Path::new("p.yaml"),
            "name: x\n# rules\nbaseline: nope/model\n",
            "baseline",
            Some("nope/model"),
            "unknown model",
        );
        assert_eq!(p.to_string(), "p.yaml:3: baseline: unknown model");
    }

    #[test]
    fn finds_where_the_second_document_starts() {
        for (text, line) in [
            ("a: 1\n---\nb: 2\n", Some(2)),
            ("# head\n---\na: 1\n\n--- # two\nb: 2\n", Some(5)),
            ("---\n---\n", Some(2)),
            ("%YAML 1.2\n---\na: 1\n...\n# c\nb: 2\n", Some(6)),
            ("a: 1\nb: '---'\n", None),
            ("a: 1\n", None),
        ] {
            assert_eq!(second_document_line(text), line, "{text:?}");
        }
    }
}
