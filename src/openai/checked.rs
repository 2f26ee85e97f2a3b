//! Reads typed views out of JSON text while accepting exactly the texts a `serde_json::Value` parse accepts.
//!
//! A typed view (`#[derive(Deserialize)]`) skips the fields it does not read with
//! `serde::de::IgnoredAny`, which checks their syntax, escapes and control characters but not
//! three things a `Value` parse refuses: a `\u` escape that is a lone surrogate, a number
//! beyond `f64`'s range, and nesting past the parser's depth limit (128). A body the router
//! relays must be one it could parse in full (an output guardrail, the cache and the client
//! all do), so [`read_object`] first looks at the bytes for anything that could be one of the
//! three (a `\u`, a digit followed by `e`/`E`, 300 digits in all, 100 `[`/`{` in all) and only
//! then checks the text in full with [`check_object`]: a visitor that takes every value
//! `deserialize_any` offers and keeps none, which is how `Value` itself is read, so it
//! accepts exactly what `Value` accepts, without allocating for strings that have no escapes.
//! Ordinary answers take one typed pass and no `Value`; ordinary stream chunks not even that
//! (`super::chunk_scan` reads them, and declines to this path whatever is unusual).

use std::fmt;

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

/// `T` read out of `text`, which must be one JSON object that a `serde_json::Value` parse
/// would accept (see the module doc). Duplicate keys of fields `T` reads are refused.
pub(crate) fn read_object<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, serde_json::Error> {
    let first = text
        .bytes()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(b'{') {
        return Err(serde_json::Error::custom("not a JSON object"));
    }
    if may_hide_a_refusal(text.as_bytes()) {
        check_object(text.as_bytes())?;
    }
    serde_json::from_str(text)
}

/// Whether the bytes may hold something a typed pass skips over but a `Value` parse refuses:
/// a `\u` escape, a number with an exponent or 300 digits, or nesting 100 deep. Counts over
/// the whole text, strings included, so it errs only towards checking in full.
fn may_hide_a_refusal(b: &[u8]) -> bool {
    let Some(rest) = b.get(1..) else {
        return false;
    };
    // each byte with the one before it, in blocks with small counters so the loop vectorises
    let (mut open, mut digits, mut risky) = (0usize, 0usize, 0u8);
    for (before, block) in b.chunks(128).zip(rest.chunks(128)) {
        let (mut o, mut d) = (0u8, 0u8);
        for (&p, &c) in before.iter().zip(block) {
            o += u8::from(c == b'[') | u8::from(c == b'{');
            d += u8::from(c.is_ascii_digit());
            risky |= (u8::from(p == b'\\') & u8::from(c == b'u'))
                | (u8::from(p.is_ascii_digit()) & u8::from((c | 0x20) == b'e'));
        }
        open += usize::from(o);
        digits += usize::from(d);
    }
    risky != 0 || open >= 100 || digits >= 300
}

/// Whether `text` is one JSON object that a `serde_json::Value` parse would accept, and why not.
pub(crate) fn check_object(text: &[u8]) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    de.deserialize_map(Checked)?;
    de.end()
}

/// A value read in full and dropped.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(Checked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What a full parse says of `text`: a JSON object or not.
    fn value_says(text: &[u8]) -> bool {
        matches!(serde_json::from_slice::<Value>(text), Ok(Value::Object(_)))
    }

    #[test]
    fn accepts_exactly_what_a_value_parse_accepts() {
        let deep = format!("{{\"x\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let deep_ok = format!("{{\"x\":{}1{}}}", "[".repeat(120), "]".repeat(120));
        let cases: [&[u8]; 22] = [
            br#"{"id":"c","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":1}}"#,
            br#"{}"#,
            br#" { "a" : [ 1 , -2.5e-3 , true , null , "\n\u00e9" ] } "#,
            br#"{"x":"\ud83d\ude00"}"#,
            br#"{"x":"\ud800"}"#,
            br#"{"x":"\udc00 lone trail"}"#,
            br#"{"x":1e400}"#,
            br#"{"x":-1e400}"#,
            br#"{"x":1e-400}"#,
            br#"{"x":01}"#,
            br#"{"x":"\q"}"#,
            b"{\"x\":\"\xff\"}",
            b"{\"x\":\"tab\there\"}",
            br#"{"x":1} trailing"#,
            br#"{"x":1,}"#,
            br#"[{"x":1}]"#,
            br#""text""#,
            br#"42"#,
            br#"null"#,
            br#"{"x":"#,
            deep.as_bytes(),
            deep_ok.as_bytes(),
        ];
        for text in cases {
            assert_eq!(
                check_object(text).is_ok(),
                value_says(text),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        assert!(check_object(deep_ok.as_bytes()).is_ok());
        assert!(check_object(deep.as_bytes()).is_err());
        assert!(
            check_object(br#"{"x":"\ud800"}"#).is_err(),
            "a lone surrogate"
        );
        assert!(check_object(br#"{"x":1e400}"#).is_err(), "out of range");
    }

    /// A view that reads one field and skips the rest, as the router's views do.
    #[derive(serde::Deserialize)]
    struct View {
        #[serde(default)]
        #[allow(dead_code)]
        id: Option<String>,
    }

    #[test]
    fn a_view_is_read_from_exactly_what_a_value_parse_accepts() {
        let mut cases: Vec<String> = [
            r#"{"id":"c","rest":{"a":[1,2.5,-3,true,null,"x\n"]}}"#,
            r#" {"skip":"\ud83d\ude00"} "#,
            r#"{"skip":"\ud800"}"#,
            r#"{"skip":["\udc00"]}"#,
            r#"{"skip":{"\ud800":1}}"#,
            r#"{"skip":1e400}"#,
            r#"{"skip":-1E+400}"#,
            r#"{"skip":1.5e-400}"#,
            r#"{"skip":1e5}"#,
            r#"{"skip":"\x"}"#,
            "{\"skip\":\"a\u{1}b\"}",
            r#"{"skip":01}"#,
            r#"{"skip":[1,]}"#,
            r#"{"id":"a"}x"#,
            r#"[{"id":"a"}]"#,
            "[]",
            "\"s\"",
            "7",
            "",
            "   ",
        ]
        .map(str::to_owned)
        .to_vec();
        cases.push(format!("{{\"skip\":{}}}", "9".repeat(320)));
        cases.push(format!("{{\"skip\":{}}}", "9".repeat(290)));
        for depth in [90, 99, 120, 126, 127, 128, 200] {
            cases.push(format!(
                "{{\"skip\":{}1{}}}",
                "[".repeat(depth),
                "]".repeat(depth)
            ));
        }
        for text in &cases {
            assert_eq!(
                read_object::<View>(text).is_ok(),
                value_says(text.as_bytes()),
                "{text}"
            );
        }
    }

    #[test]
    fn the_depth_limit_is_the_parsers() {
        for depth in 120..135 {
            let text = format!("{{\"x\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(
                check_object(text.as_bytes()).is_ok(),
                value_says(text.as_bytes()),
                "{depth}"
            );
        }
    }
}
