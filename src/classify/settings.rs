//! Raw YAML shape of the `classifier:` block of a routing policy, and the embedded default.

use serde::Deserialize;

use super::detect::Detector;

/// The shipped default policy; its `classifier:` block is the built-in default, so there is
/// one source of truth and the router classifies even with no policy file.
const DEFAULT_POLICY: &str = include_str!("../../policies/default.yaml");

/// Raw `classifier:` block as written by an operator; [`super::Classifier::compile`] validates it.
///
/// The score is `bias + length + turns + Σ signal contributions`; it is mapped to a tier by
/// [`RawThresholds`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClassifier {
    /// Constant added to every score, so thresholds can stay readable.
    #[serde(default)]
    pub bias: f64,
    /// Score cut-offs between tiers.
    pub thresholds: RawThresholds,
    /// How prompt length (in tokens) contributes.
    #[serde(default)]
    pub length: RawLength,
    /// How the number of messages in the conversation contributes.
    #[serde(default)]
    pub turns: RawTurns,
    /// Pattern-based signals; order only matters for the order of fired signals in logs.
    #[serde(default)]
    pub signals: Vec<RawSignal>,
}

/// Score cut-offs: `score >= medium` is at least medium, `score >= complex` is complex.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    /// Lowest score classified as medium.
    pub medium: f64,
    /// Lowest score classified as complex; must be greater than `medium`.
    pub complex: f64,
}

/// Length contribution: `weight * ln(clamp(tokens, min_tokens, max_tokens) / min_tokens)`.
///
/// `tokens` is the request's token count with the system prompt's estimated share scaled by
/// `system_share` (a long fixed system prompt should not make every request look complex).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLength {
    /// Score per natural-log unit of length above `min_tokens`.
    #[serde(default)]
    pub weight: f64,
    /// Prompts at or below this many tokens get no length contribution.
    #[serde(default = "default_min_tokens")]
    pub min_tokens: u32,
    /// Length stops adding score above this many tokens (pasted documents are not harder).
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Fraction (0..=1) of the system prompt's tokens (estimated as chars / 4) that counts.
    #[serde(default = "default_system_share")]
    pub system_share: f64,
}

impl Default for RawLength {
    fn default() -> Self {
        RawLength {
            weight: 0.0,
            min_tokens: default_min_tokens(),
            max_tokens: default_max_tokens(),
            system_share: default_system_share(),
        }
    }
}

fn default_min_tokens() -> u32 {
    10
}
fn default_max_tokens() -> u32 {
    2000
}
fn default_system_share() -> f64 {
    0.25
}

/// Conversation-depth contribution: `weight * min(turns - 1, max)`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTurns {
    /// Score per message beyond the first.
    #[serde(default)]
    pub weight: f64,
    /// Messages beyond this many stop adding score.
    #[serde(default)]
    pub max: u32,
}

/// Which text a signal's patterns are matched against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The last user message (the default).
    #[default]
    User,
    /// The system/developer prompt only.
    System,
    /// Both; matches are counted in each and added.
    Both,
}

/// One named signal: regex patterns whose match count (capped) times `weight` is its contribution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignal {
    /// Unique name reported in [`super::FiredSignal`].
    pub name: String,
    /// Contribution per counted match (negative pushes towards simple).
    pub weight: f64,
    /// Matches counted up to this many; 1 (the default) means "present or not".
    #[serde(default = "default_cap")]
    pub cap: u32,
    /// Hits up to this many count nothing; only those beyond do (value `min(hits, cap) -
    /// above`): a word problem's first few quantities are any problem's, the later ones are
    /// its extra steps. Default 0.
    #[serde(default)]
    pub above: u32,
    /// Text the patterns look at.
    #[serde(default)]
    pub scope: Scope,
    /// Only fire when the last user message has at most this many tokens (the request count
    /// for a lone message, else its chars / 4 + 7).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Only fire when the last user message has at least this many tokens (as for `max_tokens`).
    #[serde(default)]
    pub min_tokens: Option<u32>,
    /// Patterns are case-insensitive unless this is true.
    #[serde(default)]
    pub case_sensitive: bool,
    /// Which way the cue pushes (`up` towards complex, `down` towards simple): `switchyard
    /// train` keeps the fitted weight on this side of zero. Default: the sign of `weight`.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// The weight `switchyard train` pulls this one towards (its L2 penalty is on the distance
    /// from here, default 0): a hand-set prior the data has to argue with, which keeps cues
    /// that the labelled data barely covers (chat-style explanations, say) from being zeroed.
    #[serde(default)]
    pub prior: Option<f64>,
    /// The lowest tier a prompt gets when this signal fires, whatever its score: the labelling
    /// rule stated directly (an ask to explain or write is at least medium, a proof complex).
    /// Not fitted: the trainer's data cannot argue a rule away.
    #[serde(default)]
    pub floor: Option<super::Complexity>,
    /// Regex patterns (Rust `regex` syntax, Unicode-aware); any match counts. A signal has
    /// exactly one of `patterns`, `keywords` and `detect`.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// Lowercase words or phrases matched at word starts, case-insensitively in any script;
    /// a trailing `*` matches a stem (`implement*`, `реализ*`). Each hit counts (up to `cap`).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// With `keywords`: the signal fires only when one of these also occurs in the same text
    /// (e.g. a build verb *and* a programming language).
    #[serde(default)]
    pub also: Vec<String>,
    /// With `keywords`: where a hit must start (default anywhere).
    #[serde(default)]
    pub at: Position,
    /// A built-in structural detector instead of words (see `classify/detect.rs`).
    #[serde(default)]
    pub detect: Option<Detector>,
    /// Only counts when the named signal (listed earlier) fired too, e.g. quantities only
    /// in a prompt that asks for a calculation.
    #[serde(default)]
    pub with: Option<String>,
    /// Only counts when none of the named signals (listed earlier; one name or a list) fired,
    /// e.g. an "explain" or "why" cue in the stem of a multiple-choice question, which picks an
    /// answer, not writes one.
    #[serde(default, deserialize_with = "one_or_many")]
    pub without: Vec<String>,
}

/// `without: options` and `without: [options, factoid_question]` both read.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    crate::config::raw::OneOrMany::<String>::deserialize(d)
        .map(crate::config::raw::OneOrMany::into_vec)
}

/// Where a keyword hit must start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// Anywhere in the text.
    #[default]
    Anywhere,
    /// At the text's first letter (its opening word).
    Start,
    /// In the first line.
    FirstLine,
    /// In the last non-empty line (the ask after a pasted passage).
    LastLine,
    /// In the last non-empty line when it ends with a question mark (or in the line above a
    /// short last line that only sets the answer's format, "Answer:"): a question asked after
    /// a passage, not the passage's own last line when the ask came first.
    LastQuestion,
}

/// The side of zero a fitted weight must stay on, so a fit cannot turn a cue around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Towards complex: weight >= 0.
    Up,
    /// Towards simple: weight <= 0.
    Down,
    /// Either sign.
    Free,
    /// Not fitted: the weight stays at its `prior`. For a cue the labelled data barely
    /// covers, or covers with labels that contradict the labelling rule (short how-to
    /// lookups in Code Alpaca are labelled by answer length), so a handful of items cannot
    /// argue it away.
    Fixed,
}

impl Direction {
    /// The declared direction, or the sign of the hand-set weight when none is declared.
    pub fn or_sign_of(declared: Option<Direction>, weight: f64) -> Direction {
        declared.unwrap_or(if weight > 0.0 {
            Direction::Up
        } else if weight < 0.0 {
            Direction::Down
        } else {
            Direction::Free
        })
    }

    /// The nearest value on the allowed side of zero.
    pub fn clamp(self, w: f64) -> f64 {
        match self {
            Direction::Up => w.max(0.0),
            Direction::Down => w.min(0.0),
            Direction::Free | Direction::Fixed => w,
        }
    }
}

fn default_cap() -> u32 {
    1
}

impl Default for RawClassifier {
    /// The `classifier:` block of the shipped `policies/default.yaml`.
    fn default() -> Self {
        #[derive(Deserialize)]
        struct Policy {
            classifier: RawClassifier,
        }
        serde_yaml::from_str::<Policy>(DEFAULT_POLICY)
            .expect("embedded policies/default.yaml must parse")
            .classifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parses_and_has_signals() {
        let raw = RawClassifier::default();
        assert!(raw.signals.len() >= 8);
        assert!(raw.thresholds.medium < raw.thresholds.complex);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_yaml::from_str::<RawClassifier>(
            "thresholds: {medium: 1, complex: 2}\nbogus: 1\n",
        );
        assert!(err.is_err());
        let err = serde_yaml::from_str::<RawClassifier>(
            "thresholds: {medium: 1, complex: 2}\nsignals:\n  - {name: a, weight: 1, patterns: [x], wat: 2}\n",
        );
        assert!(err.is_err());
    }

    #[test]
    fn minimal_block_uses_defaults() {
        let raw =
            serde_yaml::from_str::<RawClassifier>("thresholds: {medium: 1, complex: 2}\n").unwrap();
        assert_eq!(raw.length.min_tokens, 10);
        assert!(raw.signals.is_empty());
        assert_eq!(raw.bias, 0.0);
    }
}
