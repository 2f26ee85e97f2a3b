//! The `input` of a `/v1/moderations` request: a string, an array of strings, or an array of
//! multi-modal parts (`{"type":"text","text":…}`, `{"type":"image_url","image_url":{…}}`).

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The input's text (parts joined by newlines) and whether it holds images; 400 naming `input`
/// for any other shape.
pub(crate) fn read_input(body: &Map<String, Value>) -> Result<(String, bool), ApiError> {
    let bad = |msg: &str| ApiError::invalid(msg, Some("input"));
    let value = body
        .get("input")
        .ok_or_else(|| bad("Missing required parameter: 'input'."))?;
    let mut text = String::new();
    let mut images = false;
    let mut push = |s: &str| {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(s);
    };
    match value {
        Value::String(s) => push(s),
        Value::Array(items) if items.is_empty() => return Err(bad("`input` must not be empty.")),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) => push(s),
                    Value::Object(part) => match part.get("type").and_then(Value::as_str) {
                        Some("text") => push(part.get("text").and_then(Value::as_str).ok_or_else(
                            || bad("A `text` input part needs a string `text`."),
                        )?),
                        Some("image_url") => images = true,
                        _ => return Err(bad("Each input part must have `type` `text` or `image_url`.")),
                    },
                    _ => {
                        return Err(bad(
                            "`input` must be a string, an array of strings, or an array of text and image_url parts.",
                        ))
                    }
                }
            }
        }
        _ => {
            return Err(bad(
                "`input` must be a string, an array of strings, or an array of text and image_url parts.",
            ))
        }
    }
    Ok((text, images))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<(String, bool), ApiError> {
        read_input(v.as_object().unwrap())
    }

    #[test]
    fn reads_every_shape_and_refuses_others_naming_input() {
        assert_eq!(read(json!({"input": "hi"})).unwrap(), ("hi".into(), false));
        assert_eq!(
            read(json!({"input": ["a", "b"]})).unwrap(),
            ("a\nb".into(), false)
        );
        let parts = json!({"input": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]});
        assert_eq!(read(parts).unwrap(), ("look".into(), true));
        for bad in [
            json!({}),
            json!({"input": 5}),
            json!({"input": []}),
            json!({"input": [{"type": "audio"}]}),
            json!({"input": [1, 2]}),
        ] {
            let e = read(bad).unwrap_err();
            assert_eq!(e.body().error.param.as_deref(), Some("input"));
        }
    }
}
