//! `switchyard classify --eval`: scores a policy's classifier on labelled files, overall and by
//! source, language and category; `--cv source` refits it with each source held out in turn.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::classify::eval::Breakdown;
use crate::classify::labelled::{read_files, Labelled};
use crate::classify::train::{self, Sample};
use crate::classify::{Classifier, Complexity, PromptParts, RawClassifier};
use crate::config::{Config, KeyMode, Sources};
use crate::tokens::Encoding;

/// How `--cv` splits the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CvMode {
    /// Hold out one source at a time (the figure that predicts unseen sources).
    Source,
}

/// How a fit weighs and penalises (shared by `classify --cv` and `train`).
#[derive(Debug, Clone)]
pub struct FitSettings {
    /// L2 penalty on standardised weights.
    pub l2: f64,
    /// `(substring of source, weight)`: examples from matching sources count this much.
    pub source_weights: Vec<(String, f64)>,
    /// Each example also counts `n^-balance`, n being its source's size: 0 weighs every
    /// example alike, 1 every source alike.
    pub balance: f64,
    /// Tune the cut-offs for agreement after the likelihood fit.
    pub tune: bool,
}

impl FitSettings {
    /// The weight of an example from `source`: the first matching `--source-weight`, else 1.
    pub fn weight_of(&self, source: &str) -> f64 {
        self.source_weights
            .iter()
            .find(|(s, _)| source.contains(s.as_str()))
            .map_or(1.0, |(_, w)| *w)
    }

    pub(crate) fn options(&self) -> train::Options {
        train::Options {
            l2: self.l2,
            tune_thresholds: self.tune,
            ..train::Options::default()
        }
    }
}

/// Parses `SUBSTRING=WEIGHT` for `--source-weight`.
pub fn parse_source_weight(s: &str) -> Result<(String, f64), String> {
    let (k, v) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("`{s}`: expected SOURCE_SUBSTRING=WEIGHT"))?;
    let w: f64 = v.parse().map_err(|_| format!("`{v}` is not a number"))?;
    if !(w.is_finite() && w >= 0.0) {
        return Err(format!("weight `{v}` must be a number >= 0"));
    }
    Ok((k.to_string(), w))
}

/// Options of one evaluation run.
pub struct Options<'a> {
    pub config: Option<&'a Path>,
    pub policy: Option<&'a Path>,
    pub files: &'a [PathBuf],
    pub cv: Option<CvMode>,
    pub misses: bool,
    pub json: bool,
    pub fit: FitSettings,
}

/// The classifier of a policy file (`--policy`), else of the config's default policy.
pub fn load_classifier(
    config: Option<&Path>,
    policy: Option<&Path>,
) -> Result<(Classifier, RawClassifier), Vec<String>> {
    if let Some(p) = policy {
        let text = std::fs::read_to_string(p)
            .map_err(|e| vec![format!("cannot read {}: {e}", p.display())])?;
        let raw = classifier_block(&text).map_err(|e| vec![format!("{}: {e}", p.display())])?;
        let c = Classifier::compile(&raw).map_err(|errors| {
            errors
                .into_iter()
                .map(|(path, msg)| format!("{}: classifier.{path}: {msg}", p.display()))
                .collect::<Vec<_>>()
        })?;
        return Ok((c, raw));
    }
    let env = |k: &str| std::env::var(k).ok();
    let sources = match config {
        Some(p) => Sources::read(p),
        None => Ok(Sources::embedded()),
    };
    let to_strings =
        |ps: Vec<crate::config::Problem>| ps.into_iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let sources = sources.map_err(to_strings)?;
    let config = Config::build(&sources, &env, KeyMode::Ignore).map_err(to_strings)?;
    let name = &*config.default_policy().name;
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    let file = sources
        .policies
        .iter()
        .find(|f| serde_yaml::from_str::<Named>(&f.text).is_ok_and(|n| n.name == name))
        .ok_or_else(|| {
            vec![format!(
                "default policy `{name}` not found among the policy files"
            )]
        })?;
    let raw =
        classifier_block(&file.text).map_err(|e| vec![format!("{}: {e}", file.path.display())])?;
    let c = Classifier::compile(&raw).map_err(|errors| {
        errors
            .into_iter()
            .map(|(path, msg)| format!("classifier.{path}: {msg}"))
            .collect::<Vec<_>>()
    })?;
    Ok((c, raw))
}

/// The `classifier:` block of a policy file (the embedded default when it has none).
pub fn classifier_block(text: &str) -> Result<RawClassifier, String> {
    #[derive(serde::Deserialize)]
    struct Only {
        #[serde(default)]
        classifier: Option<RawClassifier>,
    }
    let only: Only = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    Ok(only.classifier.unwrap_or_default())
}

/// One labelled prompt with its features, as both `--eval` and `train` use them.
pub(crate) struct Example {
    pub item: Labelled,
    pub label: Complexity,
    pub tokens: u32,
    pub x: Vec<f64>,
}

/// Reads labelled files and computes every prompt's features once. Unlabelled lines are
/// counted in the returned skip list.
pub(crate) fn examples(
    classifier: &Classifier,
    files: &[PathBuf],
) -> Result<(Vec<Example>, Vec<String>), String> {
    let (items, mut bad) = read_files(files)?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(label) = item.label else {
            bad.push(format!("{}: no label", item.id));
            continue;
        };
        let tokens = u32::try_from(Encoding::O200k.count_chat(&item.prompt, 1)).unwrap_or(u32::MAX);
        let x = classifier.features(&user(&item.prompt), tokens);
        out.push(Example {
            item,
            label,
            tokens,
            x,
        });
    }
    Ok((out, bad))
}

fn user(prompt: &str) -> PromptParts<'_> {
    PromptParts {
        system: "",
        last_user: prompt,
        turns: 1,
    }
}

/// Training samples with their weights (source weight times the balancing factor).
pub(crate) fn samples(examples: &[Example], fit: &FitSettings) -> Vec<Sample> {
    let mut sizes: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for e in examples {
        *sizes.entry(e.item.source.as_str()).or_default() += 1;
    }
    examples
        .iter()
        .map(|e| Sample {
            x: e.x.clone(),
            label: e.label,
            weight: fit.weight_of(&e.item.source)
                * (sizes[e.item.source.as_str()] as f64).powf(-fit.balance),
        })
        .collect()
}

/// The classifier's declared directions and priors, as the trainer takes them.
pub(crate) fn constraints(classifier: &Classifier) -> train::Constraints<'_> {
    train::Constraints {
        directions: classifier.directions(),
        priors: classifier.priors(),
    }
}

/// Held-out (score, tier) per example, and each held-out source's fitted weights.
pub(crate) type HeldOut = (
    Vec<(f64, Complexity)>,
    std::collections::HashMap<String, Vec<f64>>,
);

/// Leave-one-source-out predictions (score, tier) for `examples`.
pub(crate) fn cross_validate(
    classifier: &Classifier,
    examples: &[Example],
    fit: &FitSettings,
) -> HeldOut {
    let samples = samples(examples, fit);
    let groups: Vec<&str> = examples.iter().map(|e| e.item.source.as_str()).collect();
    let (mut pred, fits) =
        train::cross_validate(&samples, &groups, constraints(classifier), fit.options());
    for (p, e) in pred.iter_mut().zip(examples) {
        p.1 = classifier.tier_with_floor(p.1, &e.x);
    }
    let weights = fits
        .into_iter()
        .map(|(g, f)| (g.to_string(), f.weights))
        .collect();
    (pred, weights)
}

/// Runs the evaluation; the process exit code.
pub fn run(opts: Options<'_>) -> i32 {
    let (classifier, _) = match load_classifier(opts.config, opts.policy) {
        Ok(c) => c,
        Err(problems) => {
            for p in problems {
                eprintln!("error: {p}");
            }
            return 1;
        }
    };
    // no FILE: the labelled lines come from stdin, as for plain `classify`
    let stdin = [std::path::PathBuf::from("-")];
    let files = if opts.files.is_empty() {
        &stdin[..]
    } else {
        opts.files
    };
    let (examples, bad) = match examples(&classifier, files) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let (predictions, fold_weights) = match opts.cv {
        Some(CvMode::Source) => cross_validate(&classifier, &examples, &opts.fit),
        None => (
            examples
                .iter()
                .map(|e| {
                    let c = classifier.classify(&user(&e.item.prompt), e.tokens);
                    (c.score, c.complexity)
                })
                .collect(),
            std::collections::HashMap::new(),
        ),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut breakdown = Breakdown::default();
    for (e, (score, predicted)) in examples.iter().zip(&predictions) {
        let i = &e.item;
        breakdown.add(&i.source, i.language, &i.category, e.label, *predicted);
        if opts.misses && e.label != *predicted {
            let weights = fold_weights
                .get(&i.source)
                .map_or(classifier.weights(), Vec::as_slice);
            let fired: Vec<String> = classifier
                .names()
                .iter()
                .zip(weights)
                .zip(&e.x)
                .filter(|((_, w), v)| **w * **v != 0.0)
                .map(|((n, w), v)| format!("{n}({:+.2})", w * v))
                .collect();
            let text: String = i.prompt.replace('\n', " ").chars().take(100).collect();
            let _ = if opts.json {
                writeln!(
                    out,
                    "{}",
                    json!({"id": i.id, "source": i.source, "expected": e.label, "got": predicted,
                           "score": score, "signals": fired, "prompt": text})
                )
            } else {
                writeln!(
                    out,
                    "{}\texpected {}\tgot {}\tscore={score:.2}\t{}\t{text}",
                    i.id,
                    e.label,
                    predicted,
                    fired.join(" ")
                )
            };
        }
    }
    let (bias, medium, complex) = classifier.thresholds();
    let header = match opts.cv {
        Some(CvMode::Source) => format!(
            "leave-one-source-out: refitted on all sources but one ({} sources), l2={}",
            breakdown.by_source.len(),
            opts.fit.l2
        ),
        None => {
            format!("policy as written: bias {bias}, thresholds medium {medium}, complex {complex}")
        }
    };
    let _ = if opts.json {
        writeln!(out, "{}", json!({"mode": header, "report": breakdown}))
    } else {
        writeln!(out, "{header}\n{breakdown}")
    };
    let _ = out.flush();
    if !bad.is_empty() {
        for b in bad.iter().take(5) {
            eprintln!("skipped {b}");
        }
        eprintln!("{} line(s) skipped", bad.len());
    }
    0
}
