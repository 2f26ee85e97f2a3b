//! Reads a `multipart/form-data` upload (`POST /v1/files`): its named fields and the one file,
//! from the whole body, without a streaming parser (the body is already bounded in size).

use bytes::Bytes;

/// One part of the form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub name: String,
    /// Set for a file part.
    pub filename: Option<String>,
    pub data: Bytes,
}

/// The boundary a `Content-Type: multipart/form-data; boundary=…` header names.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim().eq_ignore_ascii_case("boundary") && !v.is_empty()).then(|| v.to_owned())
    })
}

/// Every part of `body` split at `boundary`, or why the body is not a form.
pub(crate) fn parse(body: &Bytes, boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut at = find(body, d, 0).ok_or("the body has no multipart boundary")? + d.len();
    let mut parts = Vec::new();
    loop {
        if body[at..].starts_with(b"--") {
            return Ok(parts);
        }
        let start = skip_newline(body, at);
        let head_end =
            find(body, b"\r\n\r\n", start).ok_or("a multipart part has no header end")?;
        let head = std::str::from_utf8(&body[start..head_end])
            .map_err(|_| "a multipart part's headers are not text")?;
        let data_start = head_end + 4;
        let next = find(body, d, data_start).ok_or("the multipart body is not closed")?;
        // the part's data ends before the CRLF that precedes the next delimiter
        let data_end = if next >= 2 && &body[next - 2..next] == b"\r\n" {
            next - 2
        } else {
            next
        };
        let (name, filename) = disposition(head).ok_or("a multipart part has no name")?;
        parts.push(Part {
            name,
            filename,
            data: body.slice(data_start..data_end.max(data_start)),
        });
        at = next + d.len();
    }
}

fn skip_newline(body: &[u8], at: usize) -> usize {
    if body[at..].starts_with(b"\r\n") {
        at + 2
    } else {
        at
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// `name` and `filename` of a part's `Content-Disposition: form-data; name="…"; filename="…"`.
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let line = head.lines().find(|l| {
        l.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
    })?;
    let (_, value) = line.split_once(':')?;
    let mut name = None;
    let mut filename = None;
    for p in value.split(';').skip(1) {
        let Some((k, v)) = p.trim().split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_owned();
        match k.trim() {
            "name" => name = Some(v),
            "filename" => filename = Some(v),
            _ => {}
        }
    }
    Some((name?, filename))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_the_file() {
        let ct = "multipart/form-data; boundary=\"xyz\"";
        let b = boundary(ct).unwrap();
        assert_eq!(b, "xyz");
        let body = Bytes::from_static(
            b"--xyz\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\
Content-Type: application/octet-stream\r\n\r\n{\"a\":1}\r\n{\"b\":2}\n\r\n--xyz--\r\n",
        );
        let parts = parse(&body, &b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), &parts[0].data[..]),
            ("purpose", &b"batch"[..])
        );
        assert_eq!(parts[1].filename.as_deref(), Some("in.jsonl"));
        assert_eq!(&parts[1].data[..], b"{\"a\":1}\r\n{\"b\":2}\n");
    }

    #[test]
    fn refuses_what_is_not_a_form() {
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        let b =
            Bytes::from_static(b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nopen");
        assert!(parse(&b, "xyz").is_err());
        assert!(parse(&Bytes::from_static(b"plain"), "xyz").is_err());
    }
}
