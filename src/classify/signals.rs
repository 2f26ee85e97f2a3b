//! Compiled pattern signals: validates `RawSignal`s, builds one regex per signal, counts matches.

use std::collections::HashSet;
use std::sync::Arc;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::settings::{RawSignal, Scope};
use super::PromptParts;

/// Names used by the built-in length/turns contributions, so signals cannot shadow them.
pub(crate) const RESERVED_NAMES: [&str; 2] = ["length", "turns"];

/// One signal ready to run: all its patterns joined into a single alternation, compiled once.
#[derive(Debug)]
pub(crate) struct CompiledSignal {
    pub(crate) name: Arc<str>,
    pub(crate) weight: f64,
    cap: usize,
    scope: Scope,
    min_tokens: u32,
    max_tokens: u32,
    /// The joined alternation, kept only for counted signals (`cap > 1`, run with `find_iter`
    /// after the set matched); presence-only signals live in the sets alone, saving memory.
    regex: Option<Regex>,
}

/// All signals plus one [`RegexSet`] per text, so presence is decided in a single pass.
#[derive(Debug)]
pub(crate) struct SignalSet {
    pub(crate) signals: Vec<CompiledSignal>,
    /// Signals looking at the user text, as indexes into `signals`, in set-pattern order.
    user: (RegexSet, Vec<usize>),
    /// Signals looking at the system text.
    system: (RegexSet, Vec<usize>),
}

impl SignalSet {
    /// Match counts (capped, length-gated) per signal, in configuration order.
    pub(crate) fn counts(&self, parts: &PromptParts<'_>, tokens: u32, out: &mut [usize]) {
        out.fill(0);
        for (text, (set, index)) in [(parts.last_user, &self.user), (parts.system, &self.system)] {
            if text.is_empty() || index.is_empty() {
                continue;
            }
            for hit in &set.matches(text) {
                let i = index[hit];
                let s = &self.signals[i];
                if tokens < s.min_tokens || tokens > s.max_tokens || out[i] >= s.cap {
                    continue;
                }
                out[i] += match &s.regex {
                    Some(re) => re.find_iter(text).take(s.cap - out[i]).count(),
                    None => 1,
                };
            }
        }
    }
}

/// Compile every signal, pushing `(path, message)` for each problem instead of stopping early.
pub(crate) fn compile_signals(raw: &[RawSignal], errors: &mut Vec<(String, String)>) -> SignalSet {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut signals = Vec::with_capacity(raw.len());
    let mut joined_all = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let path = format!("signals[{i}]");
        let before = errors.len();
        let name = s.name.trim();
        if name.is_empty() {
            errors.push((format!("{path}.name"), "must not be empty".into()));
        } else if RESERVED_NAMES.contains(&name) {
            errors.push((format!("{path}.name"), format!("`{name}` is reserved")));
        } else if !seen.insert(name) {
            errors.push((
                format!("{path}.name"),
                format!("duplicate signal name `{name}`"),
            ));
        }
        if !s.weight.is_finite() {
            errors.push((format!("{path}.weight"), "must be a finite number".into()));
        }
        if s.cap == 0 {
            errors.push((format!("{path}.cap"), "must be at least 1".into()));
        }
        let (min_tokens, max_tokens) =
            (s.min_tokens.unwrap_or(0), s.max_tokens.unwrap_or(u32::MAX));
        if min_tokens > max_tokens {
            errors.push((
                format!("{path}.min_tokens"),
                "must not exceed max_tokens".into(),
            ));
        }
        if s.patterns.is_empty() {
            errors.push((
                format!("{path}.patterns"),
                "needs at least one pattern".into(),
            ));
        }
        let mut parts = Vec::with_capacity(s.patterns.len());
        for (j, p) in s.patterns.iter().enumerate() {
            match ascii_boundaries(p) {
                Ok(p) => parts.push(format!("(?:{p})")),
                Err(e) => errors.push((format!("{path}.patterns[{j}]"), e)),
            }
        }
        if errors.len() != before {
            continue;
        }
        let flags = if s.case_sensitive { "" } else { "(?i)" };
        let joined = format!("{flags}{}", parts.join("|"));
        let counted = s.cap > 1;
        match (counted, build(&joined, false)) {
            (_, Err(e)) => {
                // only now compile patterns one by one, to name the broken one
                let before = errors.len();
                for (j, p) in parts.iter().enumerate() {
                    if let Err(e) = build(p, s.case_sensitive) {
                        errors.push((format!("{path}.patterns[{j}]"), e));
                    }
                }
                if errors.len() == before {
                    errors.push((format!("{path}.patterns"), e));
                }
            }
            (_, Ok(regex)) => {
                joined_all.push(joined);
                signals.push(CompiledSignal {
                    name: Arc::from(name),
                    weight: s.weight,
                    cap: s.cap as usize,
                    scope: s.scope,
                    min_tokens,
                    max_tokens,
                    regex: counted.then_some(regex),
                });
            }
        }
    }
    let mut set_for = |keep: fn(Scope) -> bool| {
        let index: Vec<usize> = (0..signals.len())
            .filter(|&i| keep(signals[i].scope))
            .collect();
        let set = RegexSetBuilder::new(index.iter().map(|&i| &joined_all[i]))
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build();
        match set {
            Ok(set) => (set, index),
            Err(e) => {
                errors.push(("signals".into(), format!("combined pattern set: {e}")));
                (RegexSet::empty(), Vec::new())
            }
        }
    };
    let user = set_for(|s| s != Scope::System);
    let system = set_for(|s| s != Scope::User);
    SignalSet {
        signals,
        user,
        system,
    }
}

/// Upper bound on compiled regex / lazy-DFA cache sizes (bytes).
const SIZE_LIMIT: usize = 16 << 20;

fn build(pattern: &str, case_sensitive: bool) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .case_insensitive(!case_sensitive)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// Rewrite `\b` to the ASCII word boundary `(?-u:\b)`, which keeps every pattern in the fast
/// DFA on any text (a Unicode `\b` falls back to a slow engine on non-ASCII input). It is exact
/// around Latin words; since it never fires next to a non-ASCII letter, such use is an error.
fn ascii_boundaries(pattern: &str) -> Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(name: &str, patterns: &[&str]) -> RawSignal {
        RawSignal {
            name: name.into(),
            weight: 1.0,
            cap: 1,
            scope: Scope::User,
            max_tokens: None,
            min_tokens: None,
            case_sensitive: false,
            direction: None,
            patterns: patterns
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        }
    }

    fn counts(raw: &[RawSignal], system: &str, user: &str, tokens: u32) -> Vec<usize> {
        let mut errors = Vec::new();
        let set = compile_signals(raw, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let mut out = vec![0; set.signals.len()];
        let parts = PromptParts {
            system,
            last_user: user,
            turns: 1,
        };
        set.counts(&parts, tokens, &mut out);
        out
    }

    #[test]
    fn bad_pattern_reports_its_path() {
        let mut errors = Vec::new();
        let set = compile_signals(
            &[sig("a", &["ok"]), sig("b", &["fine", "(unclosed"])],
            &mut errors,
        );
        assert_eq!(set.signals.len(), 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, "signals[1].patterns[1]");
    }

    #[test]
    fn duplicate_and_reserved_names_are_rejected() {
        let mut errors = Vec::new();
        compile_signals(
            &[sig("a", &["x"]), sig("a", &["y"]), sig("length", &["z"])],
            &mut errors,
        );
        let paths: Vec<_> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(paths, ["signals[1].name", "signals[2].name"]);
    }

    #[test]
    fn counts_are_capped_and_scoped() {
        let mut s = sig("num", &[r"\d+"]);
        s.cap = 3;
        s.scope = Scope::Both;
        let mut only_system = sig("sys", &["expert"]);
        only_system.scope = Scope::System;
        let raw = [s, only_system];
        assert_eq!(counts(&raw, "", "1 and 2", 5), [2, 0]);
        assert_eq!(counts(&raw, "7 expert", "1 and 2", 5), [3, 1]);
        assert_eq!(counts(&raw, "7 8 9", "1 2 3 4 expert", 5), [3, 0]);
    }

    #[test]
    fn boundaries_are_ascii_and_cyrillic_stems_match_case_insensitively() {
        let raw = [
            sig("en", &[r"\bfix\b"]),
            sig("ru", &[r"(?:^|\P{L})докаж\w*"]),
        ];
        assert_eq!(counts(&raw, "", "Please FIX это", 9), [1, 0]);
        assert_eq!(counts(&raw, "", "prefix fixture", 9), [0, 0]);
        assert_eq!(
            counts(&raw, "", "ДОКАЖИТЕ, что корень из 2 иррационален", 9),
            [0, 1]
        );
        assert_eq!(counts(&raw, "", "недокажешь", 9), [0, 0]);
    }

    #[test]
    fn boundary_next_to_cyrillic_is_an_error() {
        let mut errors = Vec::new();
        compile_signals(&[sig("ru", &[r"\bпривет"])], &mut errors);
        assert_eq!(errors[0].0, "signals[0].patterns[0]");
        assert_eq!(
            ascii_boundaries(r"[\b]x\\b\b{start}").unwrap(),
            r"[\b]x\\b\b{start}"
        );
        assert_eq!(ascii_boundaries(r"\bx\b").unwrap(), r"(?-u:\b)x(?-u:\b)");
    }

    #[test]
    fn token_gates_apply() {
        let mut s = sig("short", &["who"]);
        s.max_tokens = Some(20);
        assert_eq!(counts(&[s.clone()], "", "who is it", 10), [1]);
        assert_eq!(counts(&[s], "", "who is it", 30), [0]);
    }
}
