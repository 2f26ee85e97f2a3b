//! The `o200k_base` counter against tiktoken itself: random text over every character class the
//! split pattern distinguishes, long runs, and real files.

use rand::{Rng, SeedableRng};

use super::o200k;

fn tiktoken(text: &str) -> u64 {
    tiktoken_rs::o200k_base_singleton().count_ordinary(text) as u64
}

/// Characters from every class and boundary case of the pattern.
const ALPHABET: &[&str] = &[
    "a", "e", "z", "s", "t", "d", "m", "l", "r", "v", "A", "E", "S", "T", "L", "Z", " ", " ", " ",
    "  ", "\t", "\n", "\r", "\r\n", "\u{a0}", "\u{2003}", "'", "'s", "'S", "'re", "'LL", "'ve",
    "'m", "'d", "'t", "'ſ", "ſ", "0", "7", "9", "123", "٣", "Ⅻ", "½", ".", ",", "!", "?", "(", ")",
    "/", "-", "_", "\"", "#", "@", "{", "}", "*", "ж", "Ж", "я", "Я", "é", "É", "\u{301}",
    "\u{308}", "中", "文", "ひ", "カ", "한", "ʰ", "ǅ", "ǆ", "Ǆ", "😀", "🇺🇸", "𝐀", "𝐚", "𝟎", "𠀀",
    "\u{200d}", "\u{feff}", "\u{7f}", "\u{1}", "Ω", "ω", "ß", "ﬁ", "İ", "ı",
];

fn random_text(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect()
}

#[test]
fn random_text_counts_as_tiktoken_counts() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2026);
    for case in 0..3_000 {
        let len = rng.random_range(0..40);
        let text = random_text(&mut rng, len);
        assert_eq!(
            o200k::count(&text),
            tiktoken(&text),
            "case {case}: {text:?}"
        );
    }
}

#[test]
fn long_runs_count_as_tiktoken_counts() {
    for text in [
        " ".repeat(1_000),
        "=".repeat(1_000),
        "-_".repeat(700),
        format!("a{}b", " ".repeat(300)),
        "x".repeat(5_000),
        "ж".repeat(2_000),
        "😀".repeat(300),
        "\n\n \t ".repeat(200),
        "1234567890".repeat(50),
    ] {
        assert_eq!(o200k::count(&text), tiktoken(&text), "{:?}", &text[..20]);
    }
}

#[test]
fn real_text_counts_as_tiktoken_counts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts: Vec<String> = [
        "README.md",
        "src/lib.rs",
        "src/tokens/o200k.rs",
        "policies/default.yaml",
    ]
    .iter()
    .filter_map(|f| std::fs::read_to_string(root.join(f)).ok())
    .collect();
    // the labelled prompts, when present: many languages, code, maths
    if let Ok(dev) = std::fs::read_to_string(root.join("../shared/eval/complexity_dev.jsonl")) {
        texts.extend(dev.lines().filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            v["prompt"].as_str().map(str::to_owned)
        }));
    }
    assert!(texts.len() >= 3);
    for t in &texts {
        assert_eq!(
            o200k::count(t),
            tiktoken(t),
            "{:?}",
            t.chars().take(60).collect::<String>()
        );
    }
}
