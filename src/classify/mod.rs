//! Prompt-complexity classifier: scores a request and maps it to a model tier (simple/medium/complex).

mod chars;
mod detect;
pub(crate) mod eval;
mod keywords;
pub(crate) mod labelled;
mod patterns;
pub(crate) mod settings;
mod signals;
#[cfg(test)]
pub(crate) mod testgen;
pub(crate) mod train;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub(crate) use settings::Direction;
pub(crate) use settings::RawClassifier;
use signals::SignalSet;

/// Complexity tier of a prompt; decides which model tier (cheap / mid / premium) serves it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Complexity {
    /// Short factual lookups, definitions, conversions: the cheap tier.
    Simple,
    /// Explanations, summaries, creative writing, extraction: the mid tier.
    Medium,
    /// Multi-step reasoning, non-trivial code, design, proofs: the premium tier.
    Complex,
}

impl Complexity {
    /// Every tier in ascending order, for iterating reports and configs.
    pub const ALL: [Complexity; 3] = [Complexity::Simple, Complexity::Medium, Complexity::Complex];

    /// Lowercase name as used in YAML, logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Complexity::Simple => "simple",
            Complexity::Medium => "medium",
            Complexity::Complex => "complex",
        }
    }
}

impl fmt::Display for Complexity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Complexity {
    type Err = String;

    /// Parses "simple" / "medium" / "complex", ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Complexity::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown complexity `{s}` (expected simple, medium or complex)"))
    }
}

/// What the classifier looks at, borrowed from the request (the caller extracts message text).
#[derive(Debug, Clone, Copy, Default)]
pub struct PromptParts<'a> {
    /// All system/developer message text joined with "\n" ("" if none).
    pub system: &'a str,
    /// Text of the last user message (or the legacy prompt).
    pub last_user: &'a str,
    /// Number of messages in the conversation.
    pub turns: usize,
}

/// Result of classifying one request, logged and used to pick the model tier.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Classification {
    /// Prompt tokens (given by the caller, counted once elsewhere).
    pub tokens: u32,
    /// Tier the score falls into.
    pub complexity: Complexity,
    /// Linear score compared against the thresholds.
    pub score: f64,
    /// How sure the classifier is of `complexity` (0.5..1): σ of the score's distance to the
    /// nearest cut-off, the score being the log-odds of the ordinal logistic model that
    /// `switchyard train` fits. Rules match on it to send uncertain prompts up a tier.
    pub confidence: f64,
    /// The probability that the prompt is complex under the same model, σ(score − complex
    /// cut-off), from the score before any floor: what a rule should read to send a medium
    /// verdict up, since a medium close to the *simple* cut-off is uncertain too but needs no
    /// stronger model.
    pub complex_probability: f64,
    /// Signals that contributed a non-zero amount, in configuration order.
    pub signals: Vec<FiredSignal>,
}

/// One contribution to a score, so operators can see why a prompt got its tier.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FiredSignal {
    /// Signal name from the configuration (or `length` / `turns`).
    #[serde(serialize_with = "serialize_name")]
    pub name: Arc<str>,
    /// Its contribution to the score.
    pub weight: f64,
}

/// `Arc<str>` as a plain string (serde's `rc` feature is not enabled in the router).
fn serialize_name<S: serde::Serializer>(name: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name)
}

/// Compiled classifier: matchers, weights and thresholds, built once and shared across requests.
///
/// The score is linear in a feature vector (`length`, `turns`, then one value per signal, in
/// configuration order), so the trainer can refit the weights on the same features the router
/// computes.
#[derive(Debug)]
pub struct Classifier {
    bias: f64,
    medium: f64,
    complex: f64,
    length_min: f64,
    length_max: f64,
    system_discount: f64,
    turns_max: usize,
    /// Feature names: `length`, `turns`, then the signals.
    names: Vec<Arc<str>>,
    /// One weight per feature.
    weights: Vec<f64>,
    /// Which side of zero each weight must stay on when refitted.
    directions: Vec<Direction>,
    /// The weights a refit is pulled towards (see `RawSignal::prior`).
    priors: Vec<f64>,
    /// The lowest tier each feature imposes when non-zero (see `RawSignal::floor`).
    floors: Vec<Option<Complexity>>,
    signals: SignalSet,
}

/// Index of the first signal in the feature vector (after `length` and `turns`).
const FIRST_SIGNAL: usize = 2;

impl Classifier {
    /// Compile and validate; every problem is returned as (field path, message).
    pub fn compile(raw: &RawClassifier) -> Result<Classifier, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut finite = |path: &str, v: f64| {
            if !v.is_finite() {
                errors.push((path.to_string(), "must be a finite number".to_string()));
            }
        };
        finite("bias", raw.bias);
        finite("thresholds.medium", raw.thresholds.medium);
        finite("thresholds.complex", raw.thresholds.complex);
        finite("length.weight", raw.length.weight);
        finite("length.system_share", raw.length.system_share);
        finite("turns.weight", raw.turns.weight);
        let t = &raw.thresholds;
        if t.medium.is_finite() && t.complex.is_finite() && t.medium >= t.complex {
            errors.push((
                "thresholds.complex".into(),
                format!("must be greater than thresholds.medium ({})", t.medium),
            ));
        }
        let l = &raw.length;
        if l.min_tokens == 0 {
            errors.push(("length.min_tokens".into(), "must be at least 1".into()));
        }
        if l.max_tokens <= l.min_tokens {
            errors.push((
                "length.max_tokens".into(),
                "must be greater than min_tokens".into(),
            ));
        }
        if !(0.0..=1.0).contains(&l.system_share) {
            errors.push((
                "length.system_share".into(),
                "must be between 0 and 1".into(),
            ));
        }
        let signals = signals::compile_signals(&raw.signals, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut names: Vec<Arc<str>> = vec![Arc::from("length"), Arc::from("turns")];
        let mut weights = vec![l.weight, raw.turns.weight];
        let mut directions = vec![Direction::Up, Direction::Up];
        let mut priors = vec![0.0, 0.0];
        let mut floors = vec![None, None];
        for (s, r) in signals.signals.iter().zip(&raw.signals) {
            floors.push(r.floor);
            names.push(Arc::clone(&s.name));
            weights.push(s.weight);
            directions.push(Direction::or_sign_of(r.direction, r.weight));
            priors.push(r.prior.unwrap_or(0.0));
        }
        Ok(Classifier {
            bias: raw.bias,
            medium: t.medium,
            complex: t.complex,
            length_min: f64::from(l.min_tokens),
            length_max: f64::from(l.max_tokens),
            system_discount: 1.0 - l.system_share,
            turns_max: raw.turns.max as usize,
            names,
            weights,
            directions,
            priors,
            floors,
            signals,
        })
    }

    /// Score a prompt; `tokens` is the request's prompt token count (counted by the caller).
    pub fn classify(&self, prompt: &PromptParts<'_>, tokens: u32) -> Classification {
        let x = self.features(prompt, tokens);
        let mut score = self.bias;
        let mut fired = Vec::new();
        for ((name, w), v) in self.names.iter().zip(&self.weights).zip(&x) {
            let contribution = w * v;
            if contribution != 0.0 {
                score += contribution;
                fired.push(FiredSignal {
                    name: Arc::clone(name),
                    weight: contribution,
                });
            }
        }
        let by_score = self.tier(score);
        let complexity = self.floor(&x).map_or(by_score, |f| f.max(by_score));
        let confidence = if complexity == by_score {
            self.confidence(score, complexity)
        } else {
            floored_confidence(score, self.complex, complexity)
        };
        Classification {
            tokens,
            complexity,
            score,
            confidence,
            complex_probability: complex_probability(score, self.complex),
            signals: fired,
        }
    }

    /// The highest floor among the signals that fired (see `RawSignal::floor`).
    pub fn floor(&self, x: &[f64]) -> Option<Complexity> {
        self.floors
            .iter()
            .zip(x)
            .filter(|(_, v)| **v != 0.0)
            .filter_map(|(f, _)| *f)
            .max()
    }

    /// The tier for a score and feature vector: the score's tier, raised to any floor.
    pub fn tier_with_floor(&self, score_tier: Complexity, x: &[f64]) -> Complexity {
        self.floor(x).map_or(score_tier, |f| f.max(score_tier))
    }

    /// The feature vector the score is linear in: `[length, turns, signal…]` (see [`Self::names`]).
    pub fn features(&self, prompt: &PromptParts<'_>, tokens: u32) -> Vec<f64> {
        let effective = self.effective_tokens(prompt.system, tokens);
        let mut x = vec![0.0; self.names.len()];
        let len = f64::from(effective).clamp(self.length_min, self.length_max);
        x[0] = (len / self.length_min).ln();
        x[1] = prompt.turns.saturating_sub(1).min(self.turns_max) as f64;
        let length = x[0];
        self.signals.counts(
            prompt,
            user_tokens(prompt, tokens),
            length,
            &mut x[FIRST_SIGNAL..],
        );
        x
    }

    /// Feature names, in feature-vector order.
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    /// Current weights, in feature-vector order.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Declared directions, in feature-vector order (`length` and `turns` push up).
    pub fn directions(&self) -> &[Direction] {
        &self.directions
    }

    /// Prior weights, in feature-vector order (0 for `length` and `turns`).
    pub fn priors(&self) -> &[f64] {
        &self.priors
    }

    /// `(bias, medium threshold, complex threshold)`.
    pub fn thresholds(&self) -> (f64, f64, f64) {
        (self.bias, self.medium, self.complex)
    }

    /// Map a score to its tier using the configured thresholds.
    pub fn tier(&self, score: f64) -> Complexity {
        tier_of(score, self.medium, self.complex)
    }

    /// The confidence in a tier given the score (see [`Classification::confidence`]).
    pub fn confidence(&self, score: f64, tier: Complexity) -> f64 {
        tier_probability(score, self.medium, self.complex, tier)
    }

    /// Request tokens with the system prompt's estimated tokens (chars / 4) scaled by its share.
    fn effective_tokens(&self, system: &str, tokens: u32) -> u32 {
        if system.is_empty() || self.system_discount == 0.0 {
            return tokens;
        }
        let system_tokens = system.chars().count() as f64 / 4.0;
        let discounted = f64::from(tokens) - self.system_discount * system_tokens;
        discounted.max(1.0) as u32
    }
}

/// `score` against two cut-offs: below `medium` is simple, at or above `complex` is complex.
pub(crate) fn tier_of(score: f64, medium: f64, complex: f64) -> Complexity {
    if score >= complex {
        Complexity::Complex
    } else if score >= medium {
        Complexity::Medium
    } else {
        Complexity::Simple
    }
}

/// Confidence in `tier`: σ(d), d being the score's distance to the nearest cut-off of the
/// tier, in the score's log-odds units — the probability, under the fitted logistic model,
/// that the prompt lies on this side of that cut-off. 0.5 on a cut-off, towards 1 far from it.
pub(crate) fn tier_probability(score: f64, medium: f64, complex: f64, tier: Complexity) -> f64 {
    let d = match tier {
        Complexity::Simple => medium - score,
        Complexity::Medium => (score - medium).min(complex - score),
        Complexity::Complex => score - complex,
    };
    1.0 / (1.0 + (-d.max(0.0)).exp())
}

/// P(complex) under the fitted ordinal logistic model: σ(score − complex cut-off).
pub(crate) fn complex_probability(score: f64, complex: f64) -> f64 {
    1.0 / (1.0 + (complex - score).exp())
}

/// Confidence in a tier that a floor imposed over a lower score: a medium floor is as sure
/// as the score is far from the complex cut-off; a complex floor is a stated rule (0.75).
fn floored_confidence(score: f64, complex: f64, tier: Complexity) -> f64 {
    match tier {
        Complexity::Medium => 1.0 / (1.0 + (-(complex - score).max(0.0)).exp()),
        _ => 0.75,
    }
}

/// Tokens of the last user message, used by signal length gates: the request count when it is
/// the only message, otherwise an estimate (chars / 4 plus the per-request overhead of 7).
fn user_tokens(prompt: &PromptParts<'_>, tokens: u32) -> u32 {
    if prompt.turns <= 1 && prompt.system.is_empty() {
        return tokens;
    }
    let estimate = prompt.last_user.chars().count() / 4 + 7;
    tokens.min(u32::try_from(estimate).unwrap_or(u32::MAX))
}

impl Default for Classifier {
    /// The classifier built from the shipped default settings.
    fn default() -> Self {
        Classifier::compile(&RawClassifier::default())
            .expect("the classifier block of policies/default.yaml must compile")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> PromptParts<'_> {
        PromptParts {
            system: "",
            last_user: text,
            turns: 1,
        }
    }

    /// Rough token estimate for tests (the router counts with o200k_base).
    fn toks(text: &str) -> u32 {
        (text.chars().count() / 4 + 7) as u32
    }

    fn classify(c: &Classifier, text: &str) -> Classification {
        c.classify(&user(text), toks(text))
    }

    #[test]
    fn complexity_round_trips_through_str() {
        for c in Complexity::ALL {
            assert_eq!(c.as_str().to_uppercase().parse::<Complexity>(), Ok(c));
            assert_eq!(Complexity::ALL[c as usize], c);
        }
        assert!("hard".parse::<Complexity>().is_err());
        assert_eq!(
            serde_json::to_string(&Complexity::Medium).unwrap(),
            "\"medium\""
        );
    }

    #[test]
    fn classifier_is_send_sync() {
        fn check<T: Send + Sync + fmt::Debug>() {}
        check::<Classifier>();
    }

    #[test]
    fn thresholds_must_increase_and_be_finite() {
        let mut raw = RawClassifier::default();
        raw.thresholds.complex = raw.thresholds.medium;
        raw.bias = f64::NAN;
        let errors = Classifier::compile(&raw).unwrap_err();
        let paths: Vec<_> = errors.iter().map(|e| e.0.as_str()).collect();
        assert!(paths.contains(&"thresholds.complex"), "{paths:?}");
        assert!(paths.contains(&"bias"), "{paths:?}");
    }

    #[test]
    fn factual_questions_are_simple() {
        let c = Classifier::default();
        for q in [
            "who wrote the novel war and peace",
            "What is the capital of Australia?",
            "Translate 'good morning' into French.",
            "Кто написал роман «Война и мир»?",
            "Hi there!",
        ] {
            assert_eq!(classify(&c, q).complexity, Complexity::Simple, "{q}");
        }
    }

    #[test]
    fn explanations_and_writing_are_medium() {
        let c = Classifier::default();
        for q in [
            "Explain the difference between server-side and client-side rendering.",
            "Write a short poem about autumn leaves falling in the park.",
            "Объясните, чем отличается TCP от UDP, и приведите примеры использования.",
        ] {
            assert_eq!(classify(&c, q).complexity, Complexity::Medium, "{q}");
        }
    }

    #[test]
    fn code_and_reasoning_are_complex() {
        let c = Classifier::default();
        for q in [
            "Write a Python function that merges overlapping intervals in O(n log n) time and handle edge cases.",
            "Напишите функцию на Rust, которая находит кратчайший путь в графе алгоритмом Дейкстры.",
            "Prove that the square root of 2 is irrational.",
            "Find the bug in my code:\n```js\nfunction add(a, b) {\n  return a - b;\n}\n```",
            "Design the architecture of a multi-region payments platform with exactly-once processing.",
            "Спроектируй систему уведомлений для миллиона пользователей с гарантией доставки.",
            "Напиши на Go реализацию LRU-кэша с TTL и потокобезопасным доступом.",
        ] {
            assert_eq!(classify(&c, q).complexity, Complexity::Complex, "{q}");
        }
    }

    #[test]
    fn code_prompts_outscore_factual_questions_in_both_languages() {
        let c = Classifier::default();
        let fact = classify(&c, "when did the first world war end").score;
        let en = classify(
            &c,
            "Implement a function in JavaScript that debounces another function.",
        );
        let ru = classify(
            &c,
            "Напишите скрипт на Python, который парсит CSV-файл и считает среднее.",
        );
        assert!(en.score > fact + 1.0, "{} vs {fact}", en.score);
        assert!(ru.score > fact + 1.0, "{} vs {fact}", ru.score);
        assert!(
            en.signals.iter().any(|s| &*s.name == "code_task"),
            "{:?}",
            en.signals
        );
        assert!(
            ru.signals.iter().any(|s| &*s.name == "code_task"),
            "{:?}",
            ru.signals
        );
    }

    #[test]
    fn long_system_prompt_counts_only_partly() {
        let c = Classifier::default();
        let system = "You are a helpful assistant. ".repeat(200);
        let q = "what is the capital of france";
        let alone = c.classify(&user(q), toks(q));
        let with_sys = PromptParts {
            system: &system,
            last_user: q,
            turns: 2,
        };
        let both = c.classify(&with_sys, toks(q) + toks(&system));
        assert!(both.score > alone.score);
        assert!(
            both.score - alone.score < 2.0,
            "{} vs {}",
            both.score,
            alone.score
        );
    }

    #[test]
    fn confidence_grows_with_the_distance_to_the_nearest_cut_off() {
        let (m, c) = (0.0, 2.0);
        let at = |s: f64| tier_probability(s, m, c, tier_of(s, m, c));
        assert!((at(0.0) - 0.5).abs() < 1e-12);
        assert!((at(2.0) - 0.5).abs() < 1e-12);
        assert!(at(1.0) > at(0.5) && at(0.5) > at(0.1));
        assert!(at(-3.0) > at(-1.0) && at(5.0) > at(3.0));
        assert!(at(-30.0) < 1.0 + 1e-12 && at(-30.0) > 0.99);
        let classified = Classifier::default().classify(&user("hi"), 8);
        assert!((0.5..=1.0).contains(&classified.confidence));
    }

    #[test]
    fn complex_probability_is_one_half_on_the_complex_cut_off_and_grows_with_the_score() {
        assert!((complex_probability(2.0, 2.0) - 0.5).abs() < 1e-12);
        assert!(complex_probability(3.0, 2.0) > 0.5 && complex_probability(1.0, 2.0) < 0.5);
        assert!(complex_probability(30.0, 2.0) > 0.99 && complex_probability(-30.0, 2.0) < 0.01);
        let c = Classifier::default();
        let proof = c.classify(&user("Prove that there are infinitely many primes."), 12);
        let hello = c.classify(&user("hi"), 8);
        // the score's probability, before any floor
        assert_eq!(
            proof.complex_probability,
            complex_probability(proof.score, c.complex)
        );
        assert!(proof.complex_probability > 0.3, "{proof:?}");
        assert!(hello.complex_probability < 0.1, "{hello:?}");
    }

    #[test]
    fn fired_signals_sum_to_score() {
        let c = Classifier::default();
        let r = classify(
            &c,
            "Write a function in Go that parses JSON and fix the bug.",
        );
        let sum: f64 = r.signals.iter().map(|s| s.weight).sum();
        assert!((r.score - sum - RawClassifier::default().bias).abs() < 1e-9);
        assert!(r.signals.iter().all(|s| s.weight != 0.0));
    }
}
