//! Finds output-rule matches in text and rewrites them: the one matcher both answer paths share.

use super::OutputRule;
use crate::metrics;

/// One match chosen across all rules: which rule, and its byte range in the haystack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hit {
    pub rule: usize,
    pub start: usize,
    pub end: usize,
}

/// Non-overlapping, non-empty matches starting at or after `from`, leftmost first; when two
/// rules match at the same place the earlier rule wins and the later one is not tried there.
///
/// Text before `from` is only context for look-behind assertions (`\b`, multi-line `^`), so a
/// stream that keeps the last emitted character finds what a scan of the whole text finds.
/// Empty matches are ignored: they would insert the replacement between characters.
pub(super) fn hits(rules: &[OutputRule], hay: &str, from: usize) -> Vec<Hit> {
    // Each rule's next match at or after `pos`, kept until `pos` passes its start.
    let mut next: Vec<Option<(usize, usize)>> =
        rules.iter().map(|r| find_nonempty(r, hay, from)).collect();
    let mut pos = from;
    let mut out = Vec::new();
    loop {
        let mut best: Option<Hit> = None;
        for (i, slot) in next.iter_mut().enumerate() {
            if matches!(slot, Some((s, _)) if *s < pos) {
                *slot = rules.get(i).and_then(|r| find_nonempty(r, hay, pos));
            }
            if let Some((start, end)) = *slot {
                if best.is_none_or(|b| start < b.start) {
                    best = Some(Hit {
                        rule: i,
                        start,
                        end,
                    });
                }
            }
        }
        let Some(hit) = best else { return out };
        pos = hit.end;
        out.push(hit);
    }
}

/// The leftmost non-empty match of `rule` at or after `at`.
fn find_nonempty(rule: &OutputRule, hay: &str, mut at: usize) -> Option<(usize, usize)> {
    loop {
        let m = rule.regex.find_at(hay, at)?;
        if !m.is_empty() {
            return Some((m.start(), m.end()));
        }
        at = m.end() + hay.get(m.end()..)?.chars().next()?.len_utf8();
    }
}

/// Appends `hay[from..to]` to `out` with every hit (each must lie inside) replaced by its
/// rule's text, taken literally; reports each replacement and returns how many there were.
pub(super) fn rewrite(
    rules: &[OutputRule],
    hay: &str,
    from: usize,
    to: usize,
    hits: &[Hit],
    out: &mut String,
) -> u32 {
    let mut pos = from;
    let mut n = 0u32;
    for h in hits {
        let Some(rule) = rules.get(h.rule) else {
            continue;
        };
        out.push_str(hay.get(pos..h.start).unwrap_or_default());
        out.push_str(&rule.replace);
        metrics::guardrail(&rule.name, "redacted");
        pos = h.end;
        n = n.saturating_add(1);
    }
    out.push_str(hay.get(pos..to).unwrap_or_default());
    n
}

/// The whole text with every match replaced, or `None` when nothing matched.
pub(super) fn redact_text(rules: &[OutputRule], text: &str) -> Option<(String, u32)> {
    let hits = hits(rules, text, 0);
    if hits.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let n = rewrite(rules, text, 0, text.len(), &hits, &mut out);
    Some((out, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guardrails::test_guards;

    fn redact(spec: serde_json::Value, text: &str) -> Option<(String, u32)> {
        let g = test_guards(spec);
        redact_text(&g.output, text)
    }

    #[test]
    fn replaces_every_match_literally() {
        let spec = serde_json::json!({"output": [{"name": "key", "pattern": "sk-[a-z]+", "replace": "$0[K]"}]});
        assert_eq!(
            redact(spec, "a sk-abc b sk-de"),
            Some(("a $0[K] b $0[K]".into(), 2))
        );
    }

    #[test]
    fn leftmost_match_wins_across_rules_and_ties_go_to_the_first_rule() {
        let spec = serde_json::json!({"output": [
            {"name": "long", "pattern": "abcd", "replace": "<L>"},
            {"name": "short", "pattern": "bc|ab", "replace": "<S>"},
        ]});
        // Both rules match at 0 and the first wins; the second still finds "bc" later.
        assert_eq!(redact(spec, "abcd xbc"), Some(("<L> x<S>".into(), 2)));
    }

    #[test]
    fn empty_matches_are_ignored() {
        let spec = serde_json::json!({"output": [{"name": "e", "pattern": "x*", "replace": "#"}]});
        assert_eq!(redact(spec.clone(), "ab"), None);
        assert_eq!(redact(spec, "axxb"), Some(("a#b".into(), 1)));
    }

    #[test]
    fn context_before_from_feeds_look_behind() {
        let g = test_guards(
            serde_json::json!({"output": [{"name": "w", "pattern": r"\bkey", "replace": "#"}]}),
        );
        assert!(hits(&g.output, "akey", 1).is_empty());
        assert_eq!(hits(&g.output, " key", 1).len(), 1);
    }
}
