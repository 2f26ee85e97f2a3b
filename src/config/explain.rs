//! Turns the YAML parser's and serde's error texts into messages an operator can act on: the
//! bad value with the valid ones, the indentation mistake behind a syntax error, no path twice.

/// A parse failure rewritten for people: the field it is about and what to do.
pub(crate) struct Explained {
    pub field: String,
    pub message: String,
}

/// `path` is serde_path_to_error's path (`.` for the root, `?` where the parser gave up),
/// `raw` the parser's message, `line` the parser's 1-based line in `text`.
pub(crate) fn explain(path: &str, raw: &str, text: &str, line: Option<usize>) -> Explained {
    let message = without_location(raw);
    let message = without_path_prefix(message, path);
    // `?` marks where the parser stopped understanding the structure: a syntax error, whose
    // path is noise (`models[1].?`); the enclosing item is named in the message instead
    let syntax = syntax_hint(message);
    if path.contains('?') || syntax.is_some() {
        let within = path
            .split('?')
            .next()
            .unwrap_or("")
            .trim_end_matches('.')
            .trim_start_matches('.');
        let mut out = String::from("YAML syntax: ");
        out.push_str(syntax.unwrap_or(message));
        if !within.is_empty() {
            out.push_str(&format!(" (inside `{within}`)"));
        }
        if let Some(hint) = line.and_then(|l| indentation_hint(text, l)) {
            out.push_str("; ");
            out.push_str(&hint);
        }
        return Explained {
            field: String::new(),
            message: out,
        };
    }
    let field = if path == "." {
        String::new()
    } else {
        path.to_owned()
    };
    let message = if let Some(m) = unknown_variant(message) {
        m
    } else if let Some(m) = unknown_field(message) {
        m
    } else if message.starts_with("invalid type: string") {
        match line.and_then(|l| continuation_hint(text, l)) {
            Some(hint) => format!("{message}; {hint}"),
            None => message.to_owned(),
        }
    } else {
        message.to_owned()
    };
    Explained { field, message }
}

/// The parser appends "at line X column Y" (and a context); the line is printed separately.
fn without_location(msg: &str) -> &str {
    msg.find(" at line ").map_or(msg, |i| &msg[..i])
}

/// serde_norway starts a message with its own path (`retry: unknown field`), which the problem
/// already prints as its field.
fn without_path_prefix<'m>(msg: &'m str, path: &str) -> &'m str {
    match msg.split_once(": ") {
        Some((prefix, rest))
            if !prefix.is_empty()
                && !prefix.contains(' ')
                && (path.starts_with(prefix) || prefix.contains('?')) =>
        {
            rest
        }
        _ => msg,
    }
}

/// The libyaml problems a hand-edited config runs into, said in terms of what to fix.
fn syntax_hint(msg: &str) -> Option<&'static str> {
    Some(match msg {
        "mapping values are not allowed in this context" => {
            "a `key: value` is not allowed where this line puts it; the line is probably indented more than the key above it"
        }
        "did not find expected key" => {
            "expected another key at this indentation; a line is probably indented less or more than the keys around it"
        }
        "did not find expected '-' indicator" => {
            "expected a `- ` list item at this indentation; a line is probably indented differently from the items above it"
        }
        "block sequence entries are not allowed in this context" => {
            "a `- ` list item is not allowed here; put the list on its own lines under its key"
        }
        "found character that cannot start any token" => {
            "a character that cannot start a YAML value (tabs cannot indent YAML; use spaces)"
        }
        "did not find expected node content" => "a value is missing or starts with a character YAML reserves (quote it)",
        "could not find expected ':'" => "a key without `:` (or an unclosed quote)",
        "found unexpected end of stream" => "the file ends inside a quoted value or a bracket",
        "found undefined tag handle" | "found unknown escape character" => {
            "an unusual character sequence; quote the value with single quotes"
        }
        _ => return None,
    })
}

/// Names the line whose indentation is out of step with the line before it, when one is.
fn indentation_hint(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let at = line.checked_sub(1)?;
    let here = *lines.get(at)?;
    let prev_idx = (0..at).rev().find(|&i| !is_blank(lines[i]))?;
    let (ind_here, ind_prev) = (indent(here), indent(lines[prev_idx]));
    if ind_here > ind_prev && !lines[prev_idx].trim_end().ends_with(':') {
        Some(format!(
            "line {line} is indented {ind_here} spaces, line {} only {ind_prev}: line the keys of one mapping up",
            prev_idx + 1
        ))
    } else {
        None
    }
}

/// A key indented under a `key: value` line is read as the rest of that value
/// (`input_per_1m: 2.0` + `  output_per_1m: 8.0` = the string `2.0 output_per_1m`).
fn continuation_hint(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = *lines.get(line.checked_sub(1)?)?;
    let next = lines.get(line)?;
    (indent(next) > indent(here) && next.contains(':')).then(|| {
        format!(
            "line {} is indented more than line {line}, so YAML read it as part of this value: line it up with the key above",
            line + 1
        )
    })
}

fn indent(line: &str) -> usize {
    let t = line.trim_start_matches(' ');
    let list = t
        .strip_prefix("- ")
        .map_or(0, |r| 2 + r.len() - r.trim_start().len());
    line.len() - t.len() + list
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// "unknown variant `meduim`, expected one of `simple`, ..." → the bad value and the valid ones.
fn unknown_variant(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown variant `")?;
    let (bad, expected) = rest.split_once('`')?;
    let valid = names(expected);
    Some(format!(
        "`{bad}` is not a valid value; expected {}{}",
        list(&valid),
        did_you_mean(bad, &valid)
    ))
}

/// "unknown field `attemps`, expected one of ..." → with a likely intended name first.
fn unknown_field(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (bad, expected) = rest.split_once('`')?;
    let valid = names(expected);
    let close = did_you_mean(bad, &valid);
    Some(if valid.is_empty() {
        format!("unknown field `{bad}`: this map takes no fields")
    } else {
        format!(
            "unknown field `{bad}`{close}; valid fields: {}",
            valid.join(", ")
        )
    })
}

/// The back-quoted names in serde's "expected one of `a`, `b`" / "expected `a` or `b`".
fn names(expected: &str) -> Vec<String> {
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn list(valid: &[String]) -> String {
    match valid {
        [] => "no value here".into(),
        [one] => format!("`{one}`"),
        _ => format!("one of: {}", valid.join(", ")),
    }
}

/// ` (did you mean `x`?)` for the valid name within two edits, if any.
fn did_you_mean(bad: &str, valid: &[String]) -> String {
    valid
        .iter()
        .map(|v| (edit_distance(&bad.to_lowercase(), v), v))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| format!(" (did you mean `{v}`?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(cur)
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_enum_value_names_value_and_valid_ones() {
        let e = explain(
            "rules[0].when.complexity",
            "rules[0].when: unknown variant `meduim`, expected one of `simple`, `medium`, `complex` at line 7 column 19",
            "",
            Some(7),
        );
        assert_eq!(e.field, "rules[0].when.complexity");
        assert_eq!(
            e.message,
            "`meduim` is not a valid value; expected one of: simple, medium, complex (did you mean `medium`?)"
        );
    }

    #[test]
    fn unknown_field_is_not_prefixed_by_its_path_twice() {
        let e = explain(
            "retry.attemps",
            "retry: unknown field `attemps`, expected one of `attempts`, `cooldown_ms` at line 6 column 3",
            "",
            Some(6),
        );
        assert_eq!(e.field, "retry.attemps");
        assert_eq!(
            e.message,
            "unknown field `attemps` (did you mean `attempts`?); valid fields: attempts, cooldown_ms"
        );
    }

    #[test]
    fn over_indented_key_is_a_syntax_problem_without_a_question_mark_path() {
        let text = "models:\n  - name: large\n      input_per_1m: 2.0\n";
        let e = explain(
            "models[0].?",
            "models[0]: mapping values are not allowed in this context at line 3 column 19",
            text,
            Some(3),
        );
        assert_eq!(e.field, "");
        assert!(!e.message.contains('?'), "{}", e.message);
        assert!(e.message.starts_with("YAML syntax: "), "{}", e.message);
        assert!(e.message.contains("inside `models[0]`"), "{}", e.message);
        assert!(
            e.message
                .contains("line 3 is indented 6 spaces, line 2 only 4"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_key_swallowed_into_a_value_is_explained() {
        let text = "models:\n  - name: large\n    input_per_1m: 2.0\n      output_per_1m: 8.0\n";
        let e = explain(
            "models[0].input_per_1m",
            "models[0].input_per_1m: invalid type: string \"2.0 output_per_1m\", expected f64 at line 3 column 19",
            text,
            Some(3),
        );
        assert!(
            e.message.contains(
                "line 4 is indented more than line 3, so YAML read it as part of this value"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(edit_distance("meduim", "medium"), 2);
        assert_eq!(edit_distance("attemps", "attempts"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
