//! Counts tokens exactly as tiktoken does: the model's own encoding for OpenAI models,
//! `o200k_base` otherwise; `o200k_base` (policy routing and current models) with a counter of
//! its own that is several times faster and holds a fraction of tiktoken's memory.

mod classes;
#[cfg(test)]
mod exact_tests;
mod o200k;
mod ranks;
mod slot_hash;

use tiktoken_rs::tokenizer::{get_tokenizer, Tokenizer};
use tiktoken_rs::CoreBPE;

/// Tokens OpenAI adds per chat message (role and separators) and per reply priming.
pub(crate) const PER_MESSAGE: u64 = 4;
pub(crate) const PER_REPLY: u64 = 3;

/// A tiktoken encoding, resolved once per model at config load: looking it up per request
/// would cost an error (with a captured backtrace) for every non-OpenAI model name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// The encoding of current OpenAI models, and the documented fallback for all others
    /// (an approximation for other vendors' models, typically within ~10–15%).
    #[default]
    O200k,
    Cl100k,
    P50k,
    R50k,
}

impl Encoding {
    /// A provider file's `tokenizer:` name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "o200k_base" => Some(Self::O200k),
            "cl100k_base" => Some(Self::Cl100k),
            "p50k_base" => Some(Self::P50k),
            "r50k_base" => Some(Self::R50k),
            _ => None,
        }
    }

    /// The declared tokenizer, else tiktoken's mapping for OpenAI model names, else `o200k_base`.
    pub fn for_model(model: &str, tokenizer: Option<&str>) -> Self {
        if let Some(e) = tokenizer.and_then(Self::from_name) {
            return e;
        }
        match get_tokenizer(model) {
            Some(Tokenizer::Cl100kBase) => Self::Cl100k,
            Some(Tokenizer::P50kBase | Tokenizer::P50kEdit) => Self::P50k,
            Some(Tokenizer::R50kBase | Tokenizer::Gpt2) => Self::R50k,
            _ => Self::O200k,
        }
    }

    /// Tokens of plain text.
    pub fn count(self, text: &str) -> u64 {
        match self {
            Self::O200k => o200k::count(text),
            other => other.tiktoken().count_ordinary(text) as u64,
        }
    }

    /// Prompt tokens of a chat: the text of every message plus OpenAI's per-message framing.
    pub(crate) fn count_chat(self, text: &str, messages: usize) -> u64 {
        self.count(text) + PER_MESSAGE * messages as u64 + PER_REPLY
    }

    /// tiktoken's tables for the older encodings, loaded when a model that uses one is first
    /// counted and shared for the life of the process.
    fn tiktoken(self) -> &'static CoreBPE {
        match self {
            Self::O200k => tiktoken_rs::o200k_base_singleton(),
            Self::Cl100k => tiktoken_rs::cl100k_base_singleton(),
            Self::P50k => tiktoken_rs::p50k_base_singleton(),
            Self::R50k => tiktoken_rs::r50k_base_singleton(),
        }
    }
}

/// Loads what counting needs at start-up (o200k's Unicode classes; its token table is compiled
/// in and needs no loading) so the first request does not pay for it; other encodings load
/// when a model that uses them is first counted.
pub(crate) fn warm() {
    o200k::warm();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_encodings_and_counts_with_framing() {
        assert_eq!(
            Encoding::for_model("some-vendor/llama", None),
            Encoding::O200k
        );
        assert_eq!(Encoding::for_model("gpt-4", None), Encoding::Cl100k);
        assert_eq!(Encoding::for_model("gpt-4o", None), Encoding::O200k);
        assert_eq!(
            Encoding::for_model("llama", Some("cl100k_base")),
            Encoding::Cl100k
        );
        assert_eq!(Encoding::from_name("llama"), None);
        let o200k = Encoding::O200k;
        let plain = o200k.count("Hello, world!");
        assert!((3..=5).contains(&plain), "{plain}");
        assert_eq!(o200k.count_chat("Hello, world!", 2), plain + 8 + 3);
        // the two encodings split Russian differently
        let ru = "Привет, как дела? Объясни квантовую запутанность простыми словами.";
        assert_ne!(Encoding::Cl100k.count(ru), o200k.count(ru));
    }
}
