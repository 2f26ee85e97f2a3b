//! Operator-written regex patterns compiled for the classifier: ASCII word boundaries, size
//! limits, and a bounded memo so a reload or `check` does not compile the same patterns again.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

/// Upper bound on compiled regex / lazy-DFA cache sizes (bytes).
const SIZE_LIMIT: usize = 16 << 20;

/// How many compiled regexes (and sets) the process keeps for the next load of the config.
const MEMO_ENTRIES: usize = 256;

/// Compiled regexes and sets by pattern, kept across loads of the config: compiling the
/// default signals takes tens of milliseconds, and a reload or `check` mostly compiles the same
/// patterns again. Bounded: once it holds [`MEMO_ENTRIES`], new patterns are compiled each
/// time (the entries kept are the first seen: the config the process started with).
static REGEXES: LazyLock<Mutex<HashMap<(String, bool), Regex>>> = LazyLock::new(Mutex::default);
static SETS: LazyLock<Mutex<HashMap<Vec<String>, RegexSet>>> = LazyLock::new(Mutex::default);

/// `key`'s value from `memo`, else `make()`'s (remembered when it succeeds).
fn memoized<K: std::hash::Hash + Eq + Clone, V: Clone>(
    memo: &Mutex<HashMap<K, V>>,
    key: K,
    make: impl FnOnce() -> Result<V, String>,
) -> Result<V, String> {
    if let Some(v) = crate::lock::lock(memo).get(&key) {
        return Ok(v.clone());
    }
    let v = make()?;
    let mut m = crate::lock::lock(memo);
    if m.len() < MEMO_ENTRIES {
        m.insert(key, v.clone());
    }
    Ok(v)
}

/// One pattern, compiled once per process (case-insensitive unless asked).
pub(super) fn build(pattern: &str, case_sensitive: bool) -> Result<Regex, String> {
    memoized(&REGEXES, (pattern.to_owned(), case_sensitive), || {
        RegexBuilder::new(pattern)
            .case_insensitive(!case_sensitive)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| e.to_string())
    })
}

/// Every regex signal's patterns as one set, so a text is scanned once.
pub(super) fn build_set(patterns: Vec<String>) -> Result<RegexSet, String> {
    memoized(&SETS, patterns.clone(), || {
        RegexSetBuilder::new(&patterns)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| e.to_string())
    })
}

/// Rewrite `\b` to the ASCII word boundary `(?-u:\b)`, which keeps every pattern in the fast
/// DFA on any text (a Unicode `\b` falls back to a slow engine on non-ASCII input). It is exact
/// around Latin words; since it never fires next to a non-ASCII letter, such use is an error.
pub(super) fn ascii_boundaries(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let (mut i, mut in_class) = (0, false);
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let next = chars[i + 1];
            if next == 'b' && !in_class && chars.get(i + 2) != Some(&'{') {
                let before = i.checked_sub(1).map(|k| chars[k]);
                let after = chars.get(i + 2).copied();
                if before.is_some_and(|c| c.is_alphabetic() && !c.is_ascii())
                    || after.is_some_and(|c| c.is_alphabetic() && !c.is_ascii())
                {
                    return Err(
                        "`\\b` is an ASCII word boundary here and never matches next to a \
                         non-ASCII letter; drop it (match the stem) or use (?:^|\\P{L})"
                            .into(),
                    );
                }
                out.push_str("(?-u:\\b)");
            } else {
                out.push(c);
                out.push(next);
            }
            i += 2;
            continue;
        }
        match c {
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}
