//! Counts tokens with tiktoken: the model's own encoding for OpenAI models, `o200k_base` otherwise.

use tiktoken_rs::CoreBPE;

/// Tokens OpenAI adds per chat message (role and separators) and per reply priming.
pub const PER_MESSAGE: u64 = 4;
pub const PER_REPLY: u64 = 3;

/// Whether `name` is an encoding a provider file may declare as `tokenizer`.
pub fn is_known_encoding(name: &str) -> bool {
    matches!(
        name,
        "o200k_base" | "cl100k_base" | "p50k_base" | "r50k_base"
    )
}

/// The encoding for an upstream model: its declared `tokenizer`, else tiktoken's mapping for
/// OpenAI model names, else `o200k_base` (the encoding of current OpenAI models; for other
/// vendors' models it is an approximation, typically within ~10–15%).
pub fn encoding_for(model: &str, tokenizer: Option<&str>) -> &'static CoreBPE {
    match tokenizer {
        Some("cl100k_base") => tiktoken_rs::cl100k_base_singleton(),
        Some("p50k_base") => tiktoken_rs::p50k_base_singleton(),
        Some("r50k_base") => tiktoken_rs::r50k_base_singleton(),
        Some(_) => tiktoken_rs::o200k_base_singleton(),
        None => tiktoken_rs::bpe_for_model(model)
            .unwrap_or_else(|_| tiktoken_rs::o200k_base_singleton()),
    }
}

/// The encoding used to classify policy-routed requests, before any model is chosen.
pub fn default_encoding() -> &'static CoreBPE {
    tiktoken_rs::o200k_base_singleton()
}

/// Loads the BPE tables at start-up so the first request does not pay for it.
pub fn warm() {
    let _ = default_encoding().count_ordinary("warm up");
    let _ = tiktoken_rs::cl100k_base_singleton().count_ordinary("warm up");
}

/// Tokens of plain text.
pub fn count(bpe: &CoreBPE, text: &str) -> u64 {
    bpe.count_ordinary(text) as u64
}

/// Prompt tokens of a chat: the text of every message plus OpenAI's per-message framing.
pub fn count_chat(bpe: &CoreBPE, text: &str, messages: usize) -> u64 {
    count(bpe, text) + PER_MESSAGE * messages as u64 + PER_REPLY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_with_framing_and_falls_back_for_unknown_models() {
        let bpe = encoding_for("some-vendor/llama", None);
        let plain = count(bpe, "Hello, world!");
        assert!((3..=5).contains(&plain), "{plain}");
        assert_eq!(count_chat(bpe, "Hello, world!", 2), plain + 8 + 3);
        assert!(is_known_encoding("cl100k_base") && !is_known_encoding("llama"));
        // gpt-4 maps to cl100k, gpt-4o to o200k: a Russian sentence differs between them.
        let ru = "Привет, как дела? Объясни квантовую запутанность простыми словами.";
        assert_ne!(
            count(encoding_for("gpt-4", None), ru),
            count(encoding_for("gpt-4o", None), ru)
        );
    }
}
