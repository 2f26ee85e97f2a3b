//! A batch input file read line by line: each line one request `{custom_id, method, url, body}`.
//!
//! [`parse`] checks what the upload can check alone (JSON, the four fields, unique
//! `custom_id`s, a known URL, no streaming) and names the first bad line; [`mismatches`]
//! checks the lines against the batch's `endpoint` when a batch is created from the file.

use serde_json::{Map, Value};

use super::job::BatchError;
use crate::config::Endpoint;

/// The most lines one file may hold (OpenAI's limit).
pub(crate) const MAX_LINES: usize = 50_000;

/// The endpoints a batch can run, as OpenAI's `endpoint` / `url` strings.
pub(crate) const ENDPOINTS: [(&str, Endpoint); 3] = [
    ("/v1/chat/completions", Endpoint::Chat),
    ("/v1/embeddings", Endpoint::Embeddings),
    ("/v1/completions", Endpoint::Completions),
];

/// The pipeline endpoint an OpenAI URL names.
pub(crate) fn endpoint_of(url: &str) -> Option<Endpoint> {
    ENDPOINTS.iter().find(|(u, _)| *u == url).map(|(_, e)| *e)
}

/// One request of a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InputLine {
    /// Its 0-based position among the file's requests (blank lines are not counted).
    pub index: usize,
    pub custom_id: String,
    pub url: String,
    /// The request body, sent as the client would have sent it.
    pub body: Map<String, Value>,
}

/// What is wrong with a file, and on which 1-based line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineProblem {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Every request of `file`, or the first line that is not one.
pub(crate) fn parse(file: &[u8]) -> Result<Vec<InputLine>, LineProblem> {
    let text = std::str::from_utf8(file).map_err(|e| LineProblem {
        line: 1 + String::from_utf8_lossy(&file[..e.valid_up_to()])
            .matches('\n')
            .count(),
        message: "the file is not UTF-8 text".into(),
    })?;
    let mut lines = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let problem = |message: String| LineProblem { line, message };
        if lines.len() == MAX_LINES {
            return Err(problem(format!(
                "a batch file holds at most {MAX_LINES} requests"
            )));
        }
        let input = one(raw).map_err(problem)?;
        if !seen.insert(input.0.clone()) {
            return Err(problem(format!(
                "custom_id `{}` is used by an earlier line; every line needs its own",
                input.0
            )));
        }
        lines.push(InputLine {
            index: lines.len(),
            custom_id: input.0,
            url: input.1,
            body: input.2,
        });
    }
    if lines.is_empty() {
        return Err(LineProblem {
            line: 1,
            message: "the file holds no requests".into(),
        });
    }
    Ok(lines)
}

/// `(custom_id, url, body)` of one line, or what is wrong with it.
fn one(raw: &str) -> Result<(String, String, Map<String, Value>), String> {
    let Ok(Value::Object(mut v)) = serde_json::from_str::<Value>(raw) else {
        return Err("not a JSON object".into());
    };
    let custom_id = match v.remove("custom_id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 512 => s,
        _ => return Err("`custom_id` must be a string of 1 to 512 characters".into()),
    };
    match v.remove("method") {
        Some(Value::String(m)) if m == "POST" => {}
        _ => return Err("`method` must be \"POST\"".into()),
    }
    let url = match v.remove("url") {
        Some(Value::String(u)) if endpoint_of(&u).is_some() => u,
        _ => {
            let known: Vec<&str> = ENDPOINTS.iter().map(|(u, _)| *u).collect();
            return Err(format!("`url` must be one of {}", known.join(", ")));
        }
    };
    let Some(Value::Object(body)) = v.remove("body") else {
        return Err("`body` must be a JSON object (the request)".into());
    };
    if body.get("stream") == Some(&Value::Bool(true)) {
        return Err("`stream: true` cannot be batched; the answers are written to a file".into());
    }
    if let Some(extra) = v.keys().next() {
        return Err(format!("unknown field `{extra}`"));
    }
    Ok((custom_id, url, body))
}

/// The lines whose `url` is not the batch's `endpoint`, as the batch's errors.
pub(crate) fn mismatches(lines: &[InputLine], endpoint: &str) -> Vec<BatchError> {
    lines
        .iter()
        .filter(|l| l.url != endpoint)
        .take(100)
        .map(|l| BatchError {
            code: "mismatched_endpoint".into(),
            message: format!(
                "The line's url `{}` is not the batch's endpoint `{endpoint}`.",
                l.url
            ),
            param: Some("url".into()),
            line: Some(l.index as u64 + 1),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, url: &str) -> String {
        format!(
            r#"{{"custom_id":"{id}","method":"POST","url":"{url}","body":{{"model":"m","messages":[]}}}}"#
        )
    }

    #[test]
    fn reads_requests_in_order_skipping_blank_lines() {
        let file = format!(
            "{}\n\n{}\n",
            line("a", "/v1/chat/completions"),
            line("b", "/v1/embeddings")
        );
        let lines = parse(file.as_bytes()).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[1].index, lines[1].custom_id.as_str()), (1, "b"));
        assert_eq!(lines[0].body["model"], "m");
        let errors = mismatches(&lines, "/v1/chat/completions");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, Some(2));
    }

    #[test]
    fn names_the_first_bad_line() {
        let good = line("a", "/v1/chat/completions");
        let cases = [
            ("nope".to_owned(), "not a JSON object"),
            (line("a", "/v1/chat/completions"), "custom_id `a`"),
            (line("b", "/v1/images"), "`url` must be one of"),
            (good.replace("POST", "GET").replace("\"a\"", "\"c\""), "`method`"),
            (
                r#"{"custom_id":"d","method":"POST","url":"/v1/completions","body":{"stream":true}}"#
                    .into(),
                "stream",
            ),
            (
                r#"{"custom_id":"e","method":"POST","url":"/v1/completions"}"#.into(),
                "`body`",
            ),
        ];
        for (bad, says) in cases {
            let file = format!("{good}\n{bad}\n");
            let p = parse(file.as_bytes()).unwrap_err();
            assert_eq!(p.line, 2, "{bad}");
            assert!(p.message.contains(says), "{bad}: {}", p.message);
        }
        assert_eq!(
            parse(b"\n\n").unwrap_err().message,
            "the file holds no requests"
        );
        assert_eq!(parse(b"{}\n\xff").unwrap_err().line, 2);
        assert_eq!(parse(b"{}\xff").unwrap_err().line, 1);
    }
}
