//! Keeps secrets out of upstream text the router passes on: error bodies and stream error
//! messages are capped and cleaned of key-like strings and of the provider's own keys.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use regex::Regex;

/// The most upstream error text a client or a log line ever gets.
pub(crate) const MAX_TEXT: usize = 2048;

/// What a removed secret is replaced with.
const MASK: &str = "[redacted]";

/// Strings shaped like the API keys of common providers (OpenAI `sk-…`, Anthropic `sk-ant-…`,
/// Google `AIza…`, Groq `gsk_…`, xAI `xai-…`, Switchyard's virtual `sk-sy-…`) and bearer tokens.
static KEY_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:sk-[A-Za-z0-9_\-]{6,}|AIza[0-9A-Za-z_\-]{10,}|gsk_[A-Za-z0-9]{10,}|xai-[A-Za-z0-9]{10,}|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*)",
    )
    .expect("the key pattern compiles")
});

/// Removes one provider's key values (and anything key-shaped) from text it sent. Built once
/// per provider when the config loads; shared by every call to it.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    /// The provider's key values long enough to be recognised without false matches.
    keys: Arc<[String]>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} keys)", self.keys.len())
    }
}

impl Scrubber {
    /// A scrubber for these key values; values under 6 characters are left to the pattern
    /// (replacing them literally would mangle ordinary words).
    pub(crate) fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .filter(|k| k.len() >= 6)
                .map(str::to_owned)
                .collect(),
        }
    }

    /// `text` capped at [`MAX_TEXT`] bytes (on a character boundary) with every secret masked.
    pub(crate) fn clean<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(cap(text));
        for key in self.keys.iter() {
            if out.contains(key.as_str()) {
                out = Cow::Owned(out.replace(key.as_str(), MASK));
            }
        }
        match KEY_LIKE.replace_all(&out, MASK) {
            Cow::Borrowed(_) => out,
            Cow::Owned(s) => Cow::Owned(s),
        }
    }

    /// Raw bytes cleaned as text (an error body that is not UTF-8 is read lossily).
    pub(crate) fn clean_bytes(&self, body: &[u8]) -> bytes::Bytes {
        let text = String::from_utf8_lossy(body);
        bytes::Bytes::from(self.clean(&text).into_owned())
    }
}

/// The longest prefix of `text` within [`MAX_TEXT`] bytes that ends on a character boundary.
fn cap(text: &str) -> &str {
    if text.len() <= MAX_TEXT {
        return text;
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_configured_keys_and_key_shapes() {
        let s = Scrubber::new(["local-secret-123", "abc"]);
        let text = "Incorrect API key provided: sk-proj-AbCdEf123456. Also local-secret-123, \
                    AIzaSyA1234567890abcdef, Bearer eyJhbGciOi.xyz and abc.";
        let out = s.clean(text);
        for secret in [
            "sk-proj-AbCdEf123456",
            "local-secret-123",
            "AIzaSyA1234567890abcdef",
            "eyJhbGciOi",
        ] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert!(
            out.contains("and abc."),
            "short values are not replaced literally: {out}"
        );
    }

    #[test]
    fn caps_long_text_on_a_character_boundary() {
        let text = "é".repeat(MAX_TEXT);
        let out = Scrubber::default().clean(&text);
        assert!(out.len() <= MAX_TEXT && out.chars().all(|c| c == 'é'));
        assert!(matches!(
            Scrubber::default().clean("plain"),
            Cow::Borrowed("plain")
        ));
    }
}
