//! Labelled prompts for evaluation and training: one JSON object per line (`prompt`, `label`,
//! optional `id`, `source`, `source_category`) or, for classifying only, a plain text line.

use serde::Deserialize;

use super::Complexity;

/// One input line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Labelled {
    pub id: String,
    pub prompt: String,
    /// The expected tier, when the line carries one.
    pub label: Option<Complexity>,
    /// The source, grouped (see [`source_group`]); `-` when absent.
    pub source: String,
    /// The source's own category; `-` when absent.
    pub category: String,
    /// `en`, `ru` or `uk`: from a `ru:`/`uk:` category prefix, else from the script.
    pub language: &'static str,
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    id: Option<serde_json::Value>,
    prompt: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    source_category: Option<String>,
}

impl Labelled {
    /// Parses a JSON line, or takes a line that does not start with `{` as the prompt itself.
    /// `n` (1-based line number) is the id when the line has none.
    pub(crate) fn parse(line: &str, n: usize) -> Result<Labelled, String> {
        if !line.trim_start().starts_with('{') {
            let prompt = line.trim().to_string();
            return Ok(Labelled {
                id: n.to_string(),
                language: language("", &prompt),
                prompt,
                label: None,
                source: "-".into(),
                category: "-".into(),
            });
        }
        let l: Line =
            serde_json::from_str(line).map_err(|e| format!("not a labelled line: {e}"))?;
        let label = match l.label.as_deref() {
            Some(s) => Some(s.parse::<Complexity>()?),
            None => None,
        };
        let category = l.source_category.unwrap_or_else(|| "-".into());
        Ok(Labelled {
            id: match l.id {
                Some(serde_json::Value::String(s)) => s,
                Some(v) => v.to_string(),
                None => n.to_string(),
            },
            language: language(&category, &l.prompt),
            source: l.source.as_deref().map_or_else(|| "-".into(), source_group),
            category,
            label,
            prompt: l.prompt,
        })
    }
}

/// Reads every line of `files`; bad lines are reported as `file:line: message`.
pub(crate) fn read_files(
    files: &[std::path::PathBuf],
) -> Result<(Vec<Labelled>, Vec<String>), String> {
    let mut items = Vec::new();
    let mut bad = Vec::new();
    for path in files {
        let text = if path.as_os_str() == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(path)
        }
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match Labelled::parse(line, i + 1) {
                Ok(l) => items.push(l),
                Err(e) => bad.push(format!("{}:{}: {e}", path.display(), i + 1)),
            }
        }
    }
    Ok((items, bad))
}

/// A source as a unit of cross-validation: a data set that ships one problem per file
/// (`…/algebra/123.json`) is one source per folder (`…/algebra/*.json`).
pub(crate) fn source_group(source: &str) -> String {
    let (dir, file) = source.rsplit_once('/').unwrap_or(("", source));
    match file.split_once('.') {
        Some((stem, ext)) if !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{dir}/*.{ext}")
        }
        _ => source.to_string(),
    }
}

/// `ru`/`uk` from a category prefix; otherwise `ru` when most letters are Cyrillic, else `en`.
pub(crate) fn language(category: &str, prompt: &str) -> &'static str {
    if category.starts_with("ru:") {
        return "ru";
    }
    if category.starts_with("uk:") {
        return "uk";
    }
    let (mut cyrillic, mut letters) = (0usize, 0usize);
    for c in prompt.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        cyrillic += usize::from(('\u{0400}'..='\u{04FF}').contains(&c));
    }
    if letters > 0 && cyrillic * 2 > letters {
        "ru"
    } else {
        "en"
    }
}

/// The labelled prompts of `../shared/eval` (dev + train) for tests that check something over
/// real prompts; `None`, saying SKIPPED, when the folder is absent.
#[cfg(test)]
pub(crate) fn shared_eval_items() -> Option<Vec<Labelled>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/eval");
    let files: Vec<_> = ["complexity_dev.jsonl", "complexity_train.jsonl"]
        .iter()
        .map(|f| dir.join(f))
        .filter(|p| p.is_file())
        .collect();
    if files.is_empty() {
        eprintln!("SKIPPED: no labelled prompts under {}", dir.display());
        return None;
    }
    let (items, _) = read_files(&files).expect("labelled files read");
    assert!(items.len() > 100);
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_and_plain_lines() {
        let l = Labelled::parse(
            r#"{"id":"a1","prompt":"hi","label":"simple","source":"o/r:data/x.jsonl","source_category":"uk:mc"}"#,
            3,
        )
        .unwrap();
        assert_eq!(l.id, "a1");
        assert_eq!(l.label, Some(Complexity::Simple));
        assert_eq!(l.language, "uk");
        assert_eq!(l.source, "o/r:data/x.jsonl");
        let plain = Labelled::parse("  Докажите теорему Пифагора ", 7).unwrap();
        assert_eq!(
            (plain.id.as_str(), plain.prompt.as_str(), plain.label),
            ("7", "Докажите теорему Пифагора", None)
        );
        assert_eq!(plain.language, "ru");
        assert!(Labelled::parse(r#"{"prompt":"x","label":"hard"}"#, 1).is_err());
        assert!(Labelled::parse(r#"{"label":"simple"}"#, 1).is_err());
    }

    #[test]
    fn one_file_per_problem_sources_group_by_folder() {
        assert_eq!(
            source_group("a/b:data/math/train/algebra/123.json"),
            "a/b:data/math/train/algebra/*.json"
        );
        assert_eq!(source_group("a/b:tasks/begin.md"), "a/b:tasks/begin.md");
        assert_eq!(source_group("plain"), "plain");
    }
}
