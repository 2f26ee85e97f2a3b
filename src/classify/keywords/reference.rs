//! The tests' oracle for the keyword scan: the search it replaced (an overlapping Aho-Corasick
//! search over every byte, keeping matches that start a word), checked against the trie scan on
//! generated text and, when `../shared/eval` is present, on every labelled prompt.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::{patterns, Found, Hits, KeywordRule, KeywordSet, Lines, Target};
use crate::classify::chars::is_word_char;
use crate::classify::settings::RawClassifier;
use crate::classify::testgen::Rng;

/// The replaced search: every pattern occurrence, overlapping, at any position.
struct Overlapping {
    automaton: AhoCorasick,
    targets: Vec<Vec<Target>>,
}

impl Overlapping {
    fn build(lists: &[(&[String], &[String])]) -> Overlapping {
        let (patterns, targets) = patterns(lists).expect("keywords build");
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .expect("automaton builds");
        Overlapping { automaton, targets }
    }

    fn scan(&self, text: &str, rules: &[KeywordRule], wanted: impl Fn(usize) -> bool) -> Hits {
        let mut hits = Hits {
            main: vec![0; rules.len()],
            also: vec![false; rules.len()],
        };
        let lines = Lines::of(text);
        for m in self.automaton.find_overlapping_iter(text) {
            let (start, end) = (m.start(), m.end());
            if text[..start].chars().next_back().is_some_and(is_word_char) {
                continue;
            }
            let ends_word = !text[end..].chars().next().is_some_and(is_word_char);
            let found = Found { start, ends_word };
            found.count(
                &self.targets[m.pattern().as_usize()],
                rules,
                &lines,
                &wanted,
                &mut hits,
            );
        }
        hits
    }
}

/// The default policy's keyword lists and rules, with caps raised so counts are compared
/// beyond the shipped caps too.
struct Policy {
    raw: RawClassifier,
}

impl Policy {
    fn lists(&self) -> Vec<(&[String], &[String])> {
        self.raw
            .signals
            .iter()
            .map(|s| (s.keywords.as_slice(), s.also.as_slice()))
            .collect()
    }

    fn rules(&self, uncapped: bool) -> Vec<KeywordRule> {
        self.raw
            .signals
            .iter()
            .map(|s| KeywordRule {
                cap: if uncapped { usize::MAX } else { s.cap as usize },
                at: s.at,
            })
            .collect()
    }
}

/// Both scans agree on `text`, for every signal and for every other one, capped and not.
fn assert_same(old: &Overlapping, new: &KeywordSet, policy: &Policy, text: &str) {
    for uncapped in [false, true] {
        let rules = policy.rules(uncapped);
        let all: [fn(usize) -> bool; 2] = [|_| true, |s| s % 2 == 1];
        for wanted in all {
            let expected = old.scan(text, &rules, wanted);
            let mut got = Hits {
                main: vec![0; rules.len()],
                also: vec![false; rules.len()],
            };
            new.scan(text, &rules, wanted, &mut got);
            assert_eq!(
                (&got.main, &got.also),
                (&expected.main, &expected.also),
                "{text:?}"
            );
        }
    }
}

/// Text built from keywords, their pieces and case forms, glued directly or by separators
/// that do and do not end words, so keywords overlap, nest and touch.
fn generated(rng: &mut Rng, words: &[String]) -> String {
    const GLUE: [&str; 16] = [
        " ", " ", " ", "", "\n", "\n\n", "-", "'", ", ", ". ", "«", "\u{a0}", "7", "ё", "\u{483}",
        "ʼ",
    ];
    let mut text = String::new();
    for _ in 0..=rng.below(30) {
        let w = &words[rng.below(words.len())];
        let cut = w
            .char_indices()
            .map(|(i, _)| i)
            .chain([w.len()])
            .nth(1 + rng.below(w.chars().count()))
            .unwrap_or(w.len());
        let piece = if rng.below(4) == 0 { &w[..cut] } else { w };
        match rng.below(4) {
            0 => text.push_str(&piece.to_uppercase()),
            1 => {
                let mut chars = piece.chars();
                text.extend(chars.next().into_iter().flat_map(char::to_uppercase));
                text.push_str(chars.as_str());
            }
            _ => text.push_str(piece),
        }
        text.push_str(GLUE[rng.below(GLUE.len())]);
    }
    text
}

/// The default policy and both searches built from its keyword lists.
fn default_searches() -> (Policy, Overlapping, KeywordSet) {
    let policy = Policy {
        raw: RawClassifier::default(),
    };
    let lists = policy.lists();
    let (old, new) = (
        Overlapping::build(&lists),
        KeywordSet::build(&lists).unwrap(),
    );
    (policy, old, new)
}

#[test]
fn trie_scan_counts_as_the_overlapping_search_on_generated_text() {
    let (policy, old, new) = default_searches();
    let lists = policy.lists();
    let mut words: Vec<String> = lists
        .iter()
        .flat_map(|(m, a)| m.iter().chain(a.iter()))
        .map(|k| k.trim_end_matches('*').to_string())
        .collect();
    words.extend(["x", "a1", "Über", "東京", "ok."].map(String::from));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..4000 {
        assert_same(&old, &new, &policy, &generated(&mut rng, &words));
    }
}

#[test]
fn trie_scan_counts_as_the_overlapping_search_on_the_labelled_prompts() {
    let Some(items) = crate::classify::labelled::shared_eval_items() else {
        return;
    };
    let (policy, old, new) = default_searches();
    for item in &items {
        assert_same(&old, &new, &policy, &item.prompt);
    }
}

#[test]
fn the_trie_stays_small() {
    let policy = Policy {
        raw: RawClassifier::default(),
    };
    let set = KeywordSet::build(&policy.lists()).unwrap();
    let bytes = set.automaton.as_ref().unwrap().heap_bytes();
    eprintln!("trie: {bytes} bytes");
    assert!(bytes < 1 << 20, "{bytes} bytes");
}
