//! A policy's `moderation:` block: its raw YAML shape and the validated settings.

use std::time::Duration;

use serde::Deserialize;

/// Every moderation category of OpenAI's API, in its order: what `categories` may list, and
/// what the sim answers with.
pub(crate) const CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

/// `moderation:` as written in a policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModeration {
    /// `provider/model` of a model serving `/v1/moderations`.
    pub model: String,
    /// The categories that count; empty (the default) means any flag counts.
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub on_flag: RawOnFlag,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub on_error: OnError,
}

fn default_timeout_ms() -> u64 {
    2_000
}

/// `on_flag: refuse` or `on_flag: {rule: NAME}`.
#[derive(Debug, Default, Deserialize)]
#[serde(try_from = "OnFlagShape")]
pub(crate) enum RawOnFlag {
    #[default]
    Refuse,
    Rule(String),
}

/// The two ways `on_flag` is written.
#[derive(Deserialize)]
#[serde(untagged)]
enum OnFlagShape {
    Word(String),
    Rule(RuleRef),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleRef {
    rule: String,
}

impl TryFrom<OnFlagShape> for RawOnFlag {
    type Error = String;

    fn try_from(shape: OnFlagShape) -> Result<Self, String> {
        match shape {
            OnFlagShape::Word(w) if w == "refuse" => Ok(Self::Refuse),
            OnFlagShape::Word(w) => Err(format!(
                "unknown on_flag `{w}`: write `refuse` or `{{rule: NAME}}`"
            )),
            OnFlagShape::Rule(r) => Ok(Self::Rule(r.rule)),
        }
    }
}

/// What a check that could not be made (timeout, upstream failure) does to the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnError {
    /// Let the request through unchecked (logged, counted).
    #[default]
    Open,
    /// Refuse it with 503 `moderation_unavailable`.
    Closed,
}

/// What a flag does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnFlag {
    /// 400 `content_policy_violation` naming the categories.
    Refuse,
    /// Route with the policy's rule of this index instead of the first matching one.
    Rule(usize),
}

/// A policy's validated moderation pre-check.
#[derive(Debug, Clone)]
pub(crate) struct Moderation {
    /// Index into `Config::models` of the moderation model.
    pub model: usize,
    pub categories: Vec<String>,
    pub on_flag: OnFlag,
    pub timeout: Duration,
    pub on_error: OnError,
}

/// Phase two of `moderation:`: the model (already resolved by the caller, `None` when it is
/// unknown and reported), known categories, an existing rule and a usable timeout. Problems go
/// to `problem(field, needle, message)`.
pub(crate) fn validate(
    raw: RawModeration,
    model: Option<usize>,
    rules: &[&str],
    problem: &mut dyn FnMut(String, Option<String>, String),
) -> Option<Moderation> {
    let mut ok = model.is_some();
    for (i, c) in raw.categories.iter().enumerate() {
        if !CATEGORIES.contains(&c.as_str()) {
            ok = false;
            problem(
                format!("moderation.categories[{i}]"),
                Some(c.clone()),
                format!(
                    "unknown moderation category `{c}` (one of: {})",
                    CATEGORIES.join(", ")
                ),
            );
        }
    }
    let on_flag = match raw.on_flag {
        RawOnFlag::Refuse => OnFlag::Refuse,
        RawOnFlag::Rule(name) => {
            if let Some(i) = rules.iter().position(|r| *r == name) {
                OnFlag::Rule(i)
            } else {
                ok = false;
                problem(
                    "moderation.on_flag.rule".into(),
                    Some(name.clone()),
                    format!(
                        "no rule `{name}` in this policy (rules: {})",
                        rules.join(", ")
                    ),
                );
                OnFlag::Refuse
            }
        }
    };
    if raw.timeout_ms == 0 {
        ok = false;
        problem(
            "moderation.timeout_ms".into(),
            Some("timeout_ms".into()),
            "must be greater than 0".into(),
        );
    }
    Some(Moderation {
        model: model?,
        categories: raw.categories,
        on_flag,
        timeout: Duration::from_millis(raw.timeout_ms),
        on_error: raw.on_error,
    })
    .filter(|_| ok)
}
