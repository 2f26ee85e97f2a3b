//! Server-sent-event framing of OpenAI chunk payloads, shared by the live relay, cache replays and error events.

use std::borrow::Cow;
use std::sync::LazyLock;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use memchr::memmem::Finder;

/// The event that ends every OpenAI stream.
pub(crate) const DONE: &[u8] = b"data: [DONE]\n\n";

/// A 200 event stream (`text/event-stream`, not cached): the router's streamed answers and the
/// sim's.
pub(crate) fn response(body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Appends one `data:` event carrying `data` to `out`.
pub(crate) fn write_event(out: &mut Vec<u8>, data: &str) {
    out.reserve(data.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// One `data:` event carrying `data`.
pub(crate) fn event(data: &str) -> Bytes {
    let mut out = Vec::new();
    write_event(&mut out, data);
    out.into()
}

/// The chunk without its top-level `"usage": null` member, which upstreams add to every chunk
/// once usage is asked for; a client that did not ask for usage should not see it. Any spacing
/// is accepted; `usage` elsewhere (inside strings or nested objects) is left alone. Borrowed
/// when there is nothing to remove.
pub fn without_null_usage(data: &str) -> Cow<'_, str> {
    // memchr's vectorised search, its searcher built once: this runs on every chunk relayed
    // to such a client
    static KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"usage\""));
    if KEY.find(data.as_bytes()).is_none() {
        return Cow::Borrowed(data);
    }
    match null_usage_span(data.as_bytes()) {
        Some((start, end)) => {
            let mut out = String::with_capacity(data.len());
            out.push_str(&data[..start]);
            out.push_str(&data[end..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(data),
    }
}

/// Whether a chunk's text may carry a `usage` that is not `null`, judged on its bytes so a chunk
/// that cannot need not be parsed. It may when the quoted key `"usage"` appears followed by
/// `:` and something other than `null` (anywhere, strings included: that errs towards
/// parsing), or when any `\u` escape appears (a key can be written `"us\u0061ge"`; no other
/// escape yields a letter).
pub(crate) fn may_carry_usage(data: &str) -> bool {
    const KEY: &str = "\"usage\"";
    let ws: &[char] = &[' ', '\t', '\n', '\r'];
    data.contains("\\u")
        || data.match_indices(KEY).any(|(i, _)| {
            data[i + KEY.len()..]
                .trim_start_matches(ws)
                .strip_prefix(':')
                .is_some_and(|v| !v.trim_start_matches(ws).starts_with("null"))
        })
}

/// The byte range to cut for a top-level `"usage": null` member: from the comma before it, or
/// (when it is the first member) through the comma and spaces after it.
fn null_usage_span(b: &[u8]) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut i = 0;
    // where the current top-level member starts (its leading comma, or just after `{`)
    let mut member_start = 0;
    let mut first = false;
    let mut expect_key = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let start = i;
                i = string_end(b, i)?;
                if depth == 1 && expect_key {
                    expect_key = false;
                    let colon = skip_ws(b, i);
                    if b.get(colon) != Some(&b':') {
                        return None;
                    }
                    let value = skip_ws(b, colon + 1);
                    if &b[start..i] == b"\"usage\"" && b[value..].starts_with(b"null") {
                        let end = value + 4;
                        if !first {
                            return Some((member_start, end));
                        }
                        let after = skip_ws(b, end);
                        return Some(match b.get(after) {
                            Some(b',') => (member_start, skip_ws(b, after + 1)),
                            _ => (member_start, end),
                        });
                    }
                }
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth == 1 && b[i] == b'{' {
                    expect_key = true;
                    first = true;
                    member_start = i + 1;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => {
                expect_key = true;
                first = false;
                member_start = i;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index just past the string starting at `b[start] == '"'`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_one_event() {
        assert_eq!(&event("{}")[..], b"data: {}\n\n");
    }

    #[test]
    fn removes_a_top_level_null_usage_in_any_spacing_and_position() {
        for (input, want) in [
            (r#"{"id":"c","usage":null}"#, r#"{"id":"c"}"#),
            (r#"{"id":"c", "usage" : null }"#, r#"{"id":"c" }"#),
            (r#"{"usage":null,"id":"c"}"#, r#"{"id":"c"}"#),
            (r#"{ "usage": null, "id": "c"}"#, r#"{"id": "c"}"#),
            (r#"{"usage":null}"#, r#"{}"#),
        ] {
            assert_eq!(without_null_usage(input), want, "{input}");
        }
    }

    #[test]
    fn a_chunk_that_may_carry_usage_is_told_from_its_bytes() {
        for (data, may) in [
            (r#"{"choices":[],"usage":{"prompt_tokens":3}}"#, true),
            (
                "{\"choices\":[],\"usage\"\n :\r\n\t{\"prompt_tokens\":3}}",
                true,
            ),
            (r#"{"choices":[],"us\u0061ge":{"prompt_tokens":3}}"#, true),
            (
                r#"{"choices":[{"delta":{"content":"caf\u00e9"}}],"usage":null}"#,
                true,
            ),
            (r#"{"usage":null,"usage":{"prompt_tokens":1}}"#, true),
            (
                r#"{"choices":[{"delta":{"content":"\"usage\":1"}}]}"#,
                false,
            ),
            (r#"{"choices":[{"delta":{"content":"hi"}}]}"#, false),
            (
                r#"{"choices":[{"delta":{"content":"hi"}}],"usage":null}"#,
                false,
            ),
            (
                r#"{"choices":[{"delta":{"content":"hi"}}], "usage" : null }"#,
                false,
            ),
            (
                r#"{"choices":[{"delta":{"content":"the usage is"}}]}"#,
                false,
            ),
            (r#"{"choices":[{"delta":{"content":"usage"}}]}"#, false),
        ] {
            assert_eq!(may_carry_usage(data), may, "{data}");
            // never says no to a chunk that has usage
            let parsed = serde_json::from_str::<serde_json::Value>(data)
                .ok()
                .and_then(|v| v.get("usage").cloned())
                .is_some_and(|u| !u.is_null());
            assert!(may || !parsed, "{data}");
        }
    }

    #[test]
    fn leaves_usage_with_a_value_nested_or_quoted() {
        for input in [
            r#"{"id":"c","usage":{"prompt_tokens":1}}"#,
            r#"{"choices":[{"delta":{"usage":null}}]}"#,
            r#"{"choices":[{"delta":{"content":"\"usage\":null"}}]}"#,
            r#"{"id":"c"}"#,
            r#"{"id":"unterminated"#,
        ] {
            assert!(
                matches!(without_null_usage(input), Cow::Borrowed(_)),
                "{input}"
            );
        }
    }
}
