//! Compiled signals: validates `RawSignal`s and counts, per prompt, each signal's matches —
//! keywords (one automaton pass), built-in detectors, or regex patterns (one set pass).

use std::collections::HashSet;
use std::sync::Arc;

use regex::{Regex, RegexSet};

use super::detect::{Detector, Shapes};
use super::keywords::{Hits, KeywordRule, KeywordSet};
use super::patterns::{ascii_boundaries, build, build_set};
use super::settings::{Position, RawSignal, Scope};
use super::PromptParts;

/// Names used by the built-in length/turns contributions, so signals cannot shadow them.
pub(crate) const RESERVED_NAMES: [&str; 2] = ["length", "turns"];

/// How a signal looks at text.
#[derive(Debug)]
enum Kind {
    /// Words and phrases from the shared keyword automaton.
    Keywords { needs_also: bool },
    /// A built-in structural detector.
    Detect(Detector),
    /// Regex patterns from the shared set; the joined alternation is kept only for counted
    /// signals (`cap > 1`, run with `find_iter` after the set matched).
    Regex(Option<Regex>),
}

/// One signal ready to run.
#[derive(Debug)]
pub(crate) struct CompiledSignal {
    pub(crate) name: Arc<str>,
    pub(crate) weight: f64,
    cap: usize,
    /// Hits that count nothing (see `RawSignal::above`).
    above: f64,
    scope: Scope,
    min_tokens: u32,
    max_tokens: u32,
    /// Index of the signal that must have fired for this one to count.
    with: Option<usize>,
    /// Indices of the signals none of which may have fired for this one to count.
    without: Vec<usize>,
    kind: Kind,
}

/// All signals, with one keyword automaton and one [`RegexSet`] per text, so each text is
/// scanned once per engine.
#[derive(Debug)]
pub(crate) struct SignalSet {
    pub(crate) signals: Vec<CompiledSignal>,
    keywords: KeywordSet,
    rules: Vec<KeywordRule>,
    /// Regex signals looking at the user text, as indexes into `signals`, in set-pattern order.
    user: (RegexSet, Vec<usize>),
    /// Regex signals looking at the system text.
    system: (RegexSet, Vec<usize>),
}

impl SignalSet {
    /// Each signal's value (capped count, or a detector's value), length-gated, in
    /// configuration order; `length` is the prompt's length feature (for `detect: passage`).
    pub(crate) fn counts(
        &self,
        parts: &PromptParts<'_>,
        tokens: u32,
        length: f64,
        out: &mut [f64],
    ) {
        out.fill(0.0);
        let n = self.signals.len();
        let mut hits = Hits {
            main: vec![0; n],
            also: vec![false; n],
        };
        let texts = [
            (parts.last_user, Scope::System),
            (parts.system, Scope::User),
        ];
        for (text, excluded) in texts {
            if !text.is_empty() {
                self.keywords.scan(
                    text,
                    &self.rules,
                    |i| self.signals[i].scope != excluded,
                    &mut hits,
                );
            }
        }
        // each text's shapes are found once, and only if some detector signal looks at them
        let mut shapes: [Option<Shapes>; 2] = [None, None];
        for (i, s) in self.signals.iter().enumerate() {
            if tokens < s.min_tokens || tokens > s.max_tokens {
                continue;
            }
            out[i] = match &s.kind {
                Kind::Keywords { needs_also } => {
                    if *needs_also && !hits.also[i] {
                        0.0
                    } else {
                        hits.main[i] as f64
                    }
                }
                Kind::Detect(d) => {
                    let mut v = 0.0;
                    for ((text, excluded), found) in texts.iter().zip(&mut shapes) {
                        if !text.is_empty() && s.scope != *excluded {
                            v += found
                                .get_or_insert_with(|| Shapes::of(text))
                                .value(*d, length);
                        }
                    }
                    if *d == Detector::Passage {
                        v
                    } else {
                        v.min(s.cap as f64)
                    }
                }
                Kind::Regex(_) => 0.0,
            };
        }
        for (text, (set, index)) in [(parts.last_user, &self.user), (parts.system, &self.system)] {
            if text.is_empty() || index.is_empty() {
                continue;
            }
            for hit in &set.matches(text) {
                let i = index[hit];
                let s = &self.signals[i];
                let have = out[i] as usize;
                if tokens < s.min_tokens || tokens > s.max_tokens || have >= s.cap {
                    continue;
                }
                let more = match &s.kind {
                    Kind::Regex(Some(re)) => re.find_iter(text).take(s.cap - have).count(),
                    _ => 1,
                };
                out[i] = (have + more) as f64;
            }
        }
        for i in 0..n {
            let s = &self.signals[i];
            if s.with.is_some_and(|w| out[w] == 0.0) || s.without.iter().any(|&w| out[w] != 0.0) {
                out[i] = 0.0;
            }
        }
        // after the gates, which ask whether a signal fired at all
        for (v, s) in out.iter_mut().zip(&self.signals) {
            if s.above > 0.0 {
                *v = (*v - s.above).max(0.0);
            }
        }
    }
}

/// Compile every signal, pushing `(path, message)` for each problem instead of stopping early.
pub(crate) fn compile_signals(raw: &[RawSignal], errors: &mut Vec<(String, String)>) -> SignalSet {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut signals = Vec::with_capacity(raw.len());
    let mut joined_all: Vec<Option<String>> = Vec::with_capacity(raw.len());
    let mut lists: Vec<(&[String], &[String])> = Vec::with_capacity(raw.len());
    let mut rules = Vec::with_capacity(raw.len());
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
        if s.above >= s.cap {
            errors.push((format!("{path}.above"), "must be less than cap".into()));
        }
        let (min_tokens, max_tokens) =
            (s.min_tokens.unwrap_or(0), s.max_tokens.unwrap_or(u32::MAX));
        if min_tokens > max_tokens {
            errors.push((
                format!("{path}.min_tokens"),
                "must not exceed max_tokens".into(),
            ));
        }
        let kinds = usize::from(!s.patterns.is_empty())
            + usize::from(!s.keywords.is_empty())
            + usize::from(s.detect.is_some());
        if kinds != 1 {
            errors.push((
                format!("{path}.keywords"),
                "needs exactly one of `keywords`, `detect` and `patterns`".into(),
            ));
        }
        if s.keywords.is_empty() && (!s.also.is_empty() || s.at != Position::Anywhere) {
            errors.push((
                format!("{path}.also"),
                "`also` and `at` go with `keywords`".into(),
            ));
        }
        let gate = |field: &str, name: Option<&str>, errors: &mut Vec<(String, String)>| {
            let w = name?;
            let found = raw[..i].iter().position(|r| r.name.trim() == w);
            if found.is_none() {
                errors.push((
                    format!("{path}.{field}"),
                    format!("`{w}` is not the name of an earlier signal"),
                ));
            }
            found
        };
        let with = gate("with", s.with.as_deref(), errors);
        let without = s
            .without
            .iter()
            .filter_map(|w| gate("without", Some(w), errors))
            .collect();
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
        let (kind, joined) = if let Some(d) = s.detect {
            (Kind::Detect(d), None)
        } else if !s.keywords.is_empty() {
            (
                Kind::Keywords {
                    needs_also: !s.also.is_empty(),
                },
                None,
            )
        } else {
            let flags = if s.case_sensitive { "" } else { "(?i)" };
            let joined = format!("{flags}{}", parts.join("|"));
            match build(&joined, false) {
                Err(e) => {
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
                    continue;
                }
                Ok(regex) => (Kind::Regex((s.cap > 1).then_some(regex)), Some(joined)),
            }
        };
        joined_all.push(joined);
        lists.push((&s.keywords, &s.also));
        rules.push(KeywordRule {
            cap: s.cap as usize,
            at: s.at,
        });
        signals.push(CompiledSignal {
            name: Arc::from(name),
            weight: s.weight,
            cap: s.cap as usize,
            above: f64::from(s.above),
            scope: s.scope,
            min_tokens,
            max_tokens,
            with,
            without,
            kind,
        });
    }
    let keywords = match KeywordSet::build(&lists) {
        Ok(k) => k,
        Err((i, e)) => {
            errors.push((format!("signals[{i}].keywords"), e));
            KeywordSet::build(&[]).expect("an empty keyword set builds")
        }
    };
    let mut set_for = |keep: fn(Scope) -> bool| {
        let index: Vec<usize> = (0..signals.len())
            .filter(|&i| keep(signals[i].scope) && joined_all[i].is_some())
            .collect();
        if index.is_empty() {
            return (RegexSet::empty(), index);
        }
        let patterns: Vec<String> = index
            .iter()
            .filter_map(|&i| joined_all[i].clone())
            .collect();
        match build_set(patterns) {
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
        keywords,
        rules,
        user,
        system,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(name: &str, patterns: &[&str]) -> RawSignal {
        RawSignal {
            name: name.into(),
            weight: 1.0,
            cap: 1,
            above: 0,
            scope: Scope::User,
            max_tokens: None,
            min_tokens: None,
            case_sensitive: false,
            direction: None,
            prior: None,
            floor: None,
            keywords: Vec::new(),
            also: Vec::new(),
            at: Position::Anywhere,
            detect: None,
            with: None,
            without: Vec::new(),
            patterns: patterns
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        }
    }

    fn counts(raw: &[RawSignal], system: &str, user: &str, tokens: u32) -> Vec<f64> {
        let mut errors = Vec::new();
        let set = compile_signals(raw, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let mut out = vec![0.0; set.signals.len()];
        let parts = PromptParts {
            system,
            last_user: user,
            turns: 1,
        };
        set.counts(&parts, tokens, 0.0, &mut out);
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
        assert_eq!(counts(&raw, "", "1 and 2", 5), [2.0, 0.0]);
        assert_eq!(counts(&raw, "7 expert", "1 and 2", 5), [3.0, 1.0]);
        assert_eq!(counts(&raw, "7 8 9", "1 2 3 4 expert", 5), [3.0, 0.0]);
    }

    #[test]
    fn boundaries_are_ascii_and_cyrillic_stems_match_case_insensitively() {
        let raw = [
            sig("en", &[r"\bfix\b"]),
            sig("ru", &[r"(?:^|\P{L})докаж\w*"]),
        ];
        assert_eq!(counts(&raw, "", "Please FIX это", 9), [1.0, 0.0]);
        assert_eq!(counts(&raw, "", "prefix fixture", 9), [0.0, 0.0]);
        assert_eq!(
            counts(&raw, "", "ДОКАЖИТЕ, что корень из 2 иррационален", 9),
            [0.0, 1.0]
        );
        assert_eq!(counts(&raw, "", "недокажешь", 9), [0.0, 0.0]);
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

    fn kw(name: &str, keywords: &[&str]) -> RawSignal {
        RawSignal {
            patterns: Vec::new(),
            keywords: keywords.iter().map(|k| (*k).to_string()).collect(),
            ..sig(name, &[])
        }
    }

    #[test]
    fn keyword_detector_and_gated_signals_count_together() {
        let mut build = kw("build", &["write", "напиш*"]);
        build.also = vec!["python".into(), "sql".into()];
        let mut wh = kw("wh", &["who", "кто"]);
        wh.at = Position::Start;
        let numbers = RawSignal {
            patterns: Vec::new(),
            detect: Some(Detector::Numbers),
            cap: 3,
            ..sig("numbers", &[])
        };
        let mut calc = kw("calc", &["how many", "сколько"]);
        calc.cap = 2;
        let mut quantities = RawSignal {
            detect: Some(Detector::Numbers),
            patterns: Vec::new(),
            cap: 9,
            ..sig("quantities", &[])
        };
        quantities.with = Some("calc".into());
        let raw = [build, wh, numbers, calc, quantities];
        assert_eq!(
            counts(&raw, "", "Напишите SQL-запрос: 1 2 3 4 5", 9),
            [1.0, 0.0, 3.0, 0.0, 0.0]
        );
        assert_eq!(
            counts(&raw, "", "Кто купил 2 яблока и 3 груши? Сколько всего?", 9),
            [0.0, 1.0, 2.0, 1.0, 2.0]
        );
        assert_eq!(counts(&raw, "", "Write a poem", 9), [0.0; 5]);
    }

    #[test]
    fn hits_up_to_above_count_nothing_and_do_not_stop_a_gate() {
        let calc = kw("calc", &["how many"]);
        let many = RawSignal {
            detect: Some(Detector::Numbers),
            patterns: Vec::new(),
            cap: 6,
            above: 2,
            with: Some("calc".into()),
            ..sig("many", &[])
        };
        let mut after = kw("after", &["left"]);
        after.with = Some("many".into());
        let raw = [calc, many, after];
        let ask = |n: usize| {
            let nums: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
            format!("Ann had {} apples. How many are left?", nums.join(" and "))
        };
        assert_eq!(counts(&raw, "", &ask(2), 9), [1.0, 0.0, 1.0]);
        assert_eq!(counts(&raw, "", &ask(5), 9), [1.0, 3.0, 1.0]);
        assert_eq!(counts(&raw, "", &ask(9), 9), [1.0, 4.0, 1.0]);
        let mut bad = raw[1].clone();
        bad.above = 6;
        let mut errors = Vec::new();
        compile_signals(&[bad], &mut errors);
        assert!(
            errors.iter().any(|(path, _)| path == "signals[0].above"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_signal_needs_exactly_one_kind_and_a_known_gate() {
        let mut errors = Vec::new();
        let mut both = kw("both", &["x"]);
        both.patterns = vec!["y".into()];
        let mut gated = kw("gated", &["z"]);
        gated.with = Some("later".into());
        let mut stray = sig("stray", &["q"]);
        stray.also = vec!["w".into()];
        let mut unless = kw("unless", &["v"]);
        unless.without = vec!["nowhere".into()];
        compile_signals(&[both, gated, stray, unless], &mut errors);
        let paths: Vec<_> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "signals[0].keywords",
                "signals[1].with",
                "signals[2].also",
                "signals[3].without"
            ]
        );
    }

    #[test]
    fn without_silences_a_signal_when_the_named_one_fired() {
        let options = RawSignal {
            detect: Some(Detector::Options),
            patterns: Vec::new(),
            cap: 9,
            ..sig("options", &[])
        };
        let mut why = kw("why", &["why"]);
        why.without = vec!["options".into()];
        let raw = [options.clone(), why];
        assert_eq!(counts(&raw, "", "Why is the sky blue?", 9), [0.0, 1.0]);
        let quiz = "Why is the sky blue?\nA. dust\nB. scattering\nC. the sea";
        assert_eq!(counts(&raw, "", quiz, 9), [3.0, 0.0]);
        // with a list, any one of the named signals silences it
        let who = kw("who", &["who"]);
        let mut song = kw("song", &["song"]);
        song.without = vec!["options".into(), "who".into()];
        let raw = [options, who, song];
        assert_eq!(
            counts(&raw, "", "Write a song about rain", 9),
            [0.0, 0.0, 1.0]
        );
        assert_eq!(counts(&raw, "", "who sang the song", 9), [0.0, 1.0, 0.0]);
        let quiz = "Which song?\nA. one\nB. two\nC. three";
        assert_eq!(counts(&raw, "", quiz, 9), [3.0, 0.0, 0.0]);
    }

    #[test]
    fn token_gates_apply() {
        let mut s = sig("short", &["who"]);
        s.max_tokens = Some(20);
        assert_eq!(counts(&[s.clone()], "", "who is it", 10), [1.0]);
        assert_eq!(counts(&[s], "", "who is it", 30), [0.0]);
    }
}
