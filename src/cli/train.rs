//! `switchyard train`: fits a policy's classifier weights and cut-offs on labelled prompts and
//! writes the policy back with them, plus a comment saying what it was fitted on and how it
//! did with each source held out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::classify_eval::{self, examples, load_classifier, samples, FitSettings};
use crate::classify::eval::Breakdown;
use crate::classify::train::{self, Fit};
use crate::classify::Classifier;

/// Options of one `train` run.
pub struct Options<'a> {
    pub labelled: &'a [PathBuf],
    pub policy: &'a Path,
    pub out: &'a Path,
    pub fit: FitSettings,
}

/// Marks the comment lines `train` writes (and replaces on the next run).
const MARK: &str = "# train: ";

/// Runs the fit; the process exit code.
pub fn run(opts: Options<'_>) -> i32 {
    match fit_policy(&opts) {
        Ok(summary) => {
            println!("{summary}");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn fit_policy(opts: &Options<'_>) -> Result<String, String> {
    let text = std::fs::read_to_string(opts.policy)
        .map_err(|e| format!("cannot read {}: {e}", opts.policy.display()))?;
    let (classifier, _) = load_classifier(None, Some(opts.policy)).map_err(|ps| ps.join("\n"))?;
    let (examples, bad) = examples(&classifier, opts.labelled)?;
    if !bad.is_empty() {
        eprintln!("{} line(s) skipped (first: {})", bad.len(), bad[0]);
    }
    if examples.is_empty() {
        return Err("no labelled prompts to fit on".into());
    }
    let data = samples(&examples, &opts.fit);
    let mut fit = train::fit(
        &data,
        classify_eval::constraints(&classifier),
        opts.fit.options(),
    )
    .ok_or("the labelled prompts carry no weight (check --source-weight)")?;
    keep_unseen(&classifier, &data, &mut fit);
    round(&mut fit);
    let (cv, _) = classify_eval::cross_validate(&classifier, &examples, &opts.fit);
    let mut loso = Breakdown::default();
    let mut seen = Breakdown::default();
    for (e, (_, predicted)) in examples.iter().zip(&cv) {
        let i = &e.item;
        loso.add(&i.source, i.language, &i.category, e.label, *predicted);
        let floored = classifier.tier_with_floor(fit.tier(&e.x), &e.x);
        seen.add(&i.source, i.language, &i.category, e.label, floored);
    }
    let comment = comment(opts, &examples, &loso, &seen);
    let written = rewrite(&text, &classifier, &fit, &comment)?;
    // the result must load and carry exactly the fitted numbers
    let raw = classify_eval::classifier_block(&written)?;
    let check = Classifier::compile(&raw).map_err(|e| format!("rewritten policy: {e:?}"))?;
    if check.weights() != fit.weights.as_slice()
        || check.thresholds() != (0.0, fit.medium, fit.complex)
    {
        return Err("internal: the rewritten policy does not carry the fitted weights".into());
    }
    std::fs::write(opts.out, written)
        .map_err(|e| format!("cannot write {}: {e}", opts.out.display()))?;
    let mut summary = format!("wrote {}\n", opts.out.display());
    for line in comment.lines() {
        let _ = writeln!(summary, "{}", line.trim_start_matches(MARK));
    }
    for (name, w) in classifier.names().iter().zip(&fit.weights) {
        let _ = writeln!(summary, "  {name:<24}{w:>8.3}");
    }
    Ok(summary)
}

/// Features that never vary in the labelled data (e.g. `turns` on single-turn prompts) say
/// nothing about the labels: they keep the policy's hand-set weights.
fn keep_unseen(classifier: &Classifier, data: &[train::Sample], fit: &mut Fit) {
    for (j, w) in fit.weights.iter_mut().enumerate() {
        let first = data.first().map_or(0.0, |s| s.x[j]);
        if data.iter().all(|s| s.x[j] == first) && first == 0.0 {
            *w = classifier.weights()[j];
        }
    }
}

/// Three decimals are plenty and keep the YAML readable.
fn round(fit: &mut Fit) {
    let r = |v: f64| (v * 1000.0).round() / 1000.0;
    for w in &mut fit.weights {
        *w = r(*w);
        if *w == 0.0 {
            *w = 0.0; // no "-0.0" in the file
        }
    }
    fit.medium = r(fit.medium);
    fit.complex = r(fit.complex);
    if fit.complex <= fit.medium {
        fit.complex = fit.medium + 0.001;
    }
}

fn comment(
    opts: &Options<'_>,
    examples: &[classify_eval::Example],
    loso: &Breakdown,
    seen: &Breakdown,
) -> String {
    let files: Vec<String> = opts
        .labelled
        .iter()
        .map(|p| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |f| f.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let weights: Vec<String> = opts
        .fit
        .source_weights
        .iter()
        .map(|(s, w)| format!("{s}={w}"))
        .collect();
    let o = &loso.overall;
    let mut c = String::new();
    let _ = writeln!(
        c,
        "{MARK}weights and thresholds fitted by `switchyard train` on {} ({} prompts, {} sources)",
        files.join(" + "),
        examples.len(),
        loso.by_source.len()
    );
    let _ = writeln!(
        c,
        "{MARK}ordinal logistic regression, l2={}, source balance n^-{}, source weights [{}], cut-offs tuned: {}",
        opts.fit.l2,
        opts.fit.balance,
        weights.join(", "),
        opts.fit.tune
    );
    let _ = writeln!(
        c,
        "{MARK}leave-one-source-out: agreement {:.1}%, complex->simple {:.1}%, simple->complex {:.1}%",
        100.0 * o.agreement(),
        100.0 * o.complex_to_simple(),
        100.0 * o.simple_to_complex()
    );
    let langs: Vec<String> = loso
        .by_language
        .iter()
        .map(|(l, r)| format!("{l} {:.1}%", 100.0 * r.agreement()))
        .collect();
    let _ = writeln!(
        c,
        "{MARK}  by language: {}; in-sample agreement {:.1}%",
        langs.join(", "),
        100.0 * seen.overall.agreement()
    );
    c
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// A meaningful line (not blank, not a comment).
fn content(l: &str) -> bool {
    !l.trim().is_empty() && !l.trim_start().starts_with('#')
}

/// The key of a `key: value` or `- key: value` line.
fn key_of(l: &str) -> Option<&str> {
    let t = l.trim_start().trim_start_matches("- ");
    t.split_once(':').map(|(k, _)| k.trim())
}

/// The line of `key` at exactly `depth` within `from..to`.
fn find(lines: &[String], from: usize, to: usize, depth: usize, key: &str) -> Option<usize> {
    (from..to).find(|&i| {
        content(&lines[i]) && indent(&lines[i]) == depth && key_of(&lines[i]) == Some(key)
    })
}

/// The children of the line at `parent`: their range and indentation.
fn children(lines: &[String], parent: usize, end: usize) -> (usize, usize, usize) {
    let d = indent(&lines[parent]);
    let stop = (parent + 1..end)
        .find(|&i| content(&lines[i]) && indent(&lines[i]) <= d)
        .unwrap_or(end);
    let inner = (parent + 1..stop)
        .find(|&i| content(&lines[i]))
        .map_or(d + 2, |i| indent(&lines[i]));
    (parent + 1, stop, inner)
}

/// Replaces the value of a `key: value` line, keeping its indentation and trailing comment.
fn set(lines: &mut [String], i: usize, value: f64) {
    let (head, rest) = lines[i].split_once(':').expect("found by key");
    let tail = rest.find(" #").map_or("", |p| &rest[p..]);
    lines[i] = format!("{head}: {value}{tail}");
}

fn missing(what: &str) -> String {
    format!("the classifier block has no `{what}:` line to write into; add it")
}

/// The policy text with the fitted numbers written in place (comments and layout kept) and the
/// fit comment above `classifier:`.
fn rewrite(
    text: &str,
    classifier: &Classifier,
    fit: &Fit,
    comment: &str,
) -> Result<String, String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(MARK))
        .map(str::to_owned)
        .collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == "classifier:")
        .ok_or("the policy has no block `classifier:` to write the fit into")?;
    let mut end = (start + 1..lines.len())
        .find(|&i| content(&lines[i]) && indent(&lines[i]) == 0)
        .unwrap_or(lines.len());
    let depth = (start + 1..end)
        .find(|&i| content(&lines[i]))
        .map_or(2, |i| indent(&lines[i]));
    if let Some(i) = find(&lines, start + 1, end, depth, "bias") {
        set(&mut lines, i, 0.0);
    } else {
        lines.insert(start + 1, format!("{}bias: 0", " ".repeat(depth)));
        end += 1;
    }
    let t =
        find(&lines, start + 1, end, depth, "thresholds").ok_or_else(|| missing("thresholds"))?;
    let (a, b, d) = children(&lines, t, end);
    let m = find(&lines, a, b, d, "medium").ok_or_else(|| missing("thresholds.medium"))?;
    set(&mut lines, m, fit.medium);
    let c = find(&lines, a, b, d, "complex").ok_or_else(|| missing("thresholds.complex"))?;
    set(&mut lines, c, fit.complex);
    for (j, section) in [(0, "length"), (1, "turns")] {
        let s = find(&lines, start + 1, end, depth, section).ok_or_else(|| missing(section))?;
        let (a, b, d) = children(&lines, s, end);
        let w =
            find(&lines, a, b, d, "weight").ok_or_else(|| missing(&format!("{section}.weight")))?;
        set(&mut lines, w, fit.weights[j]);
    }
    let names = &classifier.names()[2..];
    if !names.is_empty() {
        let s = find(&lines, start + 1, end, depth, "signals").ok_or_else(|| missing("signals"))?;
        let mut from = s + 1;
        for (k, name) in names.iter().enumerate() {
            let item = (from..end)
                .find(|&n| {
                    let l = lines[n].trim_start();
                    l.starts_with("- ")
                        && key_of(l) == Some("name")
                        && l.split_once(':').is_some_and(|(_, v)| {
                            v.trim().trim_matches(|c| c == '"' || c == '\'') == &**name
                        })
                })
                .ok_or_else(|| missing(&format!("signals[{k}].name: {name}")))?;
            let inner = indent(&lines[item]) + 2;
            let next = (item + 1..end)
                .find(|&n| content(&lines[n]) && indent(&lines[n]) < inner)
                .unwrap_or(end);
            let w = find(&lines, item + 1, next, inner, "weight")
                .or_else(|| (key_of(&lines[item]) == Some("weight")).then_some(item))
                .ok_or_else(|| missing(&format!("signals[{k}].weight")))?;
            set(&mut lines, w, fit.weights[2 + k]);
            from = next;
        }
    }
    let mut out = String::with_capacity(text.len() + comment.len());
    for (n, l) in lines.iter().enumerate() {
        if n == start {
            out.push_str(comment);
        }
        out.push_str(l);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::train::Fit;

    const POLICY: &str = "name: p\nclassifier:\n  # keep me\n  bias: 1.5\n  thresholds:\n    medium: -1\n    complex: 2 # cut\n  length:\n    weight: 0.7\n  turns:\n    weight: 0.1\n  signals:\n    - name: a\n      weight: 1\n      keywords: [x]\n    - name: b\n      direction: down\n      weight: -2\n      keywords: [y]\nrules:\n  - name: all\n    route: [m]\n";

    #[test]
    fn rewrite_puts_the_fit_in_place_and_keeps_comments() {
        let raw = classify_eval::classifier_block(POLICY).unwrap();
        let c = Classifier::compile(&raw).unwrap();
        let fit = Fit {
            weights: vec![0.25, 0.1, 1.5, -0.75],
            medium: -0.5,
            complex: 1.25,
        };
        let out = rewrite(POLICY, &c, &fit, "# train: fitted\n").unwrap();
        assert!(
            out.contains("# keep me") && out.contains("complex: 1.25 # cut"),
            "{out}"
        );
        assert!(out.contains("# train: fitted\nclassifier:"), "{out}");
        let again = Classifier::compile(&classify_eval::classifier_block(&out).unwrap()).unwrap();
        assert_eq!(again.weights(), fit.weights.as_slice());
        assert_eq!(again.thresholds(), (0.0, -0.5, 1.25));
        // a second run replaces the comment instead of stacking it
        let twice = rewrite(&out, &c, &fit, "# train: again\n").unwrap();
        assert!(
            !twice.contains("fitted") && twice.contains("# train: again"),
            "{twice}"
        );
        assert!(twice.ends_with("route: [m]\n"));
    }

    #[test]
    fn a_policy_without_the_lines_is_refused_with_a_reason() {
        let raw = classify_eval::classifier_block(POLICY).unwrap();
        let c = Classifier::compile(&raw).unwrap();
        let fit = Fit {
            weights: vec![0.0; 4],
            medium: 0.0,
            complex: 1.0,
        };
        let err = rewrite("name: p\nrules: []\n", &c, &fit, "").unwrap_err();
        assert!(err.contains("classifier"), "{err}");
        let no_length = POLICY.replace("  length:\n    weight: 0.7\n", "");
        let err = rewrite(&no_length, &c, &fit, "").unwrap_err();
        assert!(err.contains("length"), "{err}");
    }
}
