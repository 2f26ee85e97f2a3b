//! Validated routing policies: aliases, baseline, classifier and ordered rules.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;

use super::raw::{
    BudgetAction, Endpoint, OnBusy, RawGroup, RawPolicy, RawUnitRange, RawWhen, Toggle,
};
use super::Problem;
use crate::classify::{Classifier, Complexity, RawClassifier};
use crate::guardrails::Guardrails;

/// A policy ready to route with: every model reference resolved, every regex compiled.
#[derive(Debug)]
pub struct Policy {
    pub name: Arc<str>,
    pub aliases: Vec<String>,
    /// Index into `Config::models` of the model savings are measured against.
    pub baseline: usize,
    pub classifier: Classifier,
    pub rules: Vec<Rule>,
    /// Extra groups for a concrete model requested by name, keyed by model index.
    pub fallbacks: HashMap<usize, Vec<Group>>,
    pub on_budget_exceeded: BudgetAction,
    pub pacing: Pacing,
    pub guardrails: Guardrails,
    /// The moderation pre-check, when the policy has one.
    pub(crate) moderation: Option<crate::moderation::settings::Moderation>,
    /// A hash of the policy file's text: cached answers made under an earlier version of the
    /// policy (other rules, other guardrails) are never served under this one.
    pub fingerprint: u64,
    /// `stream_resume: on`: a stream broken after its first byte is continued on the next
    /// candidate (see `crate::resume`).
    pub stream_resume: bool,
}

/// How long a request may wait for a paced upstream key before trying the next candidate.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Zero means "do not wait: move on".
    pub max_wait: std::time::Duration,
}

#[derive(Debug)]
pub struct Rule {
    pub name: Arc<str>,
    pub when: Conditions,
    pub route: Vec<Group>,
    /// The rule's own `stream_resume`, over the policy's.
    pub stream_resume: Option<bool>,
    /// What to do with a prompt too long for some of `route`'s models.
    pub on_context_overflow: super::OnContextOverflow,
}

/// The conditions of a rule; `None` means "any".
#[derive(Debug, Default)]
pub struct Conditions {
    pub endpoint: Option<Vec<Endpoint>>,
    pub complexity: Option<Vec<Complexity>>,
    pub min_tokens: Option<u64>,
    pub max_tokens: Option<u64>,
    pub model: Option<Vec<String>>,
    pub user: Option<Vec<String>>,
    pub tools: Option<bool>,
    pub images: Option<bool>,
    pub last_user_matches: Option<Regex>,
    /// Inclusive bounds on the classification's confidence.
    pub confidence: Option<UnitRange>,
    /// Inclusive bounds on the classification's probability of being complex.
    pub complex_probability: Option<UnitRange>,
}

/// Inclusive bounds within 0..=1, either end open.
#[derive(Debug, Clone, Copy)]
pub struct UnitRange {
    /// Lowest value matched; `None` for no lower bound.
    pub min: Option<f64>,
    /// Highest value matched; `None` for no upper bound.
    pub max: Option<f64>,
}

impl UnitRange {
    /// Whether `v` lies within both given ends (inclusive), so `{max: 0.6}` keeps 0.6.
    pub fn contains(self, v: f64) -> bool {
        self.min.is_none_or(|lo| v >= lo) && self.max.is_none_or(|hi| v <= hi)
    }
}

/// A weighted set of models tried as one tier; weights pick the first, the rest follow.
#[derive(Debug, Clone)]
pub struct Group {
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Copy)]
pub struct Member {
    pub model: usize,
    pub weight: u32,
}

pub(super) struct PolicyCtx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub models: &'a HashMap<String, usize>,
    /// Provider files that did not load: references to their models are counted, not
    /// reported one by one, so one typo in a provider file is one problem, not N.
    pub broken: &'a [BrokenProvider],
    pub unchecked: RefCell<BTreeMap<usize, usize>>,
}

/// A provider file that failed to parse, with its provider's name when it could be read.
#[derive(Debug)]
pub(super) struct BrokenProvider {
    pub name: Option<String>,
    pub file: PathBuf,
}

impl BrokenProvider {
    /// Reads what it can of a provider file that failed to parse: its top-level `name`.
    pub(super) fn new(file: &Path, text: &str) -> Self {
        let from_value = serde_yaml::from_str::<serde_yaml::Value>(text)
            .ok()
            .and_then(|v| v.get("name").and_then(|n| n.as_str().map(str::to_owned)));
        let from_line = || {
            text.lines().find_map(|l| {
                let v = l.strip_prefix("name:")?.split(" #").next()?.trim();
                let v = v.trim_matches(|c| c == '"' || c == '\'');
                (!v.is_empty()).then(|| v.to_owned())
            })
        };
        Self {
            name: from_value.or_else(from_line),
            file: file.to_owned(),
        }
    }
}

impl PolicyCtx<'_> {
    fn problem(
        &self,
        field: impl Into<String>,
        needle: Option<&str>,
        msg: impl Into<String>,
    ) -> Problem {
        Problem::at(self.file, self.text, field, needle, msg)
    }

    fn model(&self, field: &str, id: &str, problems: &mut Vec<Problem>) -> Option<usize> {
        let found = self.models.get(id).copied();
        if found.is_none() {
            if let Some(b) = self.broken_source(id) {
                *self.unchecked.borrow_mut().entry(b).or_default() += 1;
                return None;
            }
            problems.push(self.problem(
                field,
                Some(id),
                format!("unknown model `{id}` (write provider/model as declared in providers/)"),
            ));
        }
        found
    }

    /// The broken provider file an unknown model probably comes from: the one named by its
    /// `provider/` prefix, else (prefix of no loaded provider, or a bare name) an unnamed one.
    fn broken_source(&self, id: &str) -> Option<usize> {
        let provider = id.split_once('/').map(|(p, _)| p);
        if let Some(p) = provider {
            if let Some(i) = self
                .broken
                .iter()
                .position(|b| b.name.as_deref() == Some(p))
            {
                return Some(i);
            }
            let prefix = format!("{p}/");
            if self.models.keys().any(|k| k.starts_with(&prefix)) {
                return None;
            }
        }
        self.broken
            .iter()
            .position(|b| b.name.is_none())
            .or_else(|| {
                provider
                    .is_none()
                    .then_some(0)
                    .filter(|_| !self.broken.is_empty())
            })
    }

    /// One problem per broken provider file this policy refers to, instead of one per reference.
    pub(super) fn unchecked_problems(&self) -> Vec<Problem> {
        self.unchecked
            .borrow()
            .iter()
            .map(|(&b, &n)| {
                let broken = &self.broken[b];
                let whose = broken
                    .name
                    .as_ref()
                    .map_or_else(|| "its models".to_owned(), |p| format!("provider `{p}`"));
                Problem {
                    file: self.file.to_owned(),
                    line: None,
                    field: String::new(),
                    message: format!(
                        "{n} reference(s) to {whose} not checked: {} did not load (its problem is reported above)",
                        broken.file.display()
                    ),
                }
            })
            .collect()
    }

    fn groups(&self, field: &str, raw: &[RawGroup], problems: &mut Vec<Problem>) -> Vec<Group> {
        let mut out = Vec::new();
        for (g, group) in raw.iter().enumerate() {
            let field = format!("{field}[{g}]");
            let entries: Vec<(String, u32)> = match group {
                RawGroup::One(m) => vec![(m.clone(), 1)],
                RawGroup::List(ms) => ms.iter().map(|m| (m.clone(), 1)).collect(),
                RawGroup::Weighted(ws) => ws
                    .iter()
                    .filter_map(|(m, w)| {
                        let weight = w.as_u64().and_then(|w| u32::try_from(w).ok());
                        if let (Some(m), Some(w)) = (m.as_str(), weight) { Some((m.to_owned(), w)) } else {
                            problems.push(self.problem(
                                &field,
                                m.as_str(),
                                "write weighted candidates as `provider/model: weight` with a whole-number weight",
                            ));
                            None
                        }
                    })
                    .collect(),
            };
            if entries.is_empty() {
                problems.push(self.problem(
                    &field,
                    None,
                    "a candidate group needs at least one model",
                ));
            }
            if entries.iter().all(|(_, w)| *w == 0) && !entries.is_empty() {
                problems.push(self.problem(
                    &field,
                    None,
                    "at least one weight must be greater than 0",
                ));
            }
            let members = entries
                .iter()
                .filter_map(|(m, w)| {
                    self.model(&field, m, problems)
                        .map(|model| Member { model, weight: *w })
                })
                .collect();
            out.push(Group { members });
        }
        out
    }
}

/// Phase two for one policy file.
pub(super) fn validate_policy(
    raw: RawPolicy,
    cx: &PolicyCtx<'_>,
    problems: &mut Vec<Problem>,
) -> Option<Policy> {
    let before = problems.len();
    let baseline = cx.model("baseline", &raw.baseline, problems);
    let classifier =
        match Classifier::compile(raw.classifier.as_ref().unwrap_or(&RawClassifier::default())) {
            Ok(c) => Some(c),
            Err(errs) => {
                for (path, msg) in errs {
                    let needle = path
                        .rsplit('.')
                        .next()
                        .map(|s| s.split('[').next().unwrap_or(s).to_owned());
                    problems.push(cx.problem(format!("classifier.{path}"), needle.as_deref(), msg));
                }
                None
            }
        };
    if raw.rules.is_empty() {
        problems.push(cx.problem("rules", Some("rules"), "a policy needs at least one rule"));
    }
    let mut rules = Vec::new();
    let mut names = HashSet::new();
    let mut catch_all_at: Option<usize> = None;
    for (i, r) in raw.rules.into_iter().enumerate() {
        let field = format!("rules[{i}]");
        if !names.insert(r.name.clone()) {
            problems.push(cx.problem(
                format!("{field}.name"),
                Some(&r.name),
                format!("duplicate rule name `{}`", r.name),
            ));
        }
        if let Some(at) = catch_all_at {
            problems.push(cx.problem(
                &field,
                Some(&r.name),
                format!(
                    "rule `{}` can never match: rule #{at} before it is a catch-all",
                    r.name
                ),
            ));
        }
        // judged on what was written, so a condition that failed to validate (a bad regex)
        // does not turn its rule into a catch-all
        let catch_all = r.when.is_empty();
        let when = conditions(r.when, &format!("{field}.when"), cx, problems);
        if catch_all && catch_all_at.is_none() {
            catch_all_at = Some(i);
        }
        if r.route.is_empty() {
            problems.push(cx.problem(
                format!("{field}.route"),
                Some(&r.name),
                "a rule needs at least one candidate group",
            ));
        }
        let route = cx.groups(&format!("{field}.route"), &r.route, problems);
        rules.push(Rule {
            name: r.name.into(),
            when,
            route,
            stream_resume: r.stream_resume.map(Toggle::is_on),
            on_context_overflow: r.on_context_overflow,
        });
    }
    if catch_all_at.is_none() && !rules.is_empty() {
        problems.push(cx.problem(
            "rules",
            Some("rules"),
            "no catch-all rule: add a last rule without `when` so every request has a route",
        ));
    }
    let mut fallbacks = HashMap::new();
    for (model, groups) in &raw.fallbacks {
        let field = format!("fallbacks.{model}");
        if let Some(m) = cx.model(&field, model, problems) {
            fallbacks.insert(m, cx.groups(&field, groups, problems));
        }
    }
    let moderation = raw.moderation.and_then(|m| {
        let model = cx.model("moderation.model", &m.model, problems);
        let names: Vec<&str> = rules.iter().map(|r| &*r.name).collect();
        crate::moderation::settings::validate(m, model, &names, &mut |field, needle, msg| {
            problems.push(cx.problem(field, needle.as_deref(), msg));
        })
    });
    if problems.len() > before {
        return None;
    }
    let guardrails = match Guardrails::compile(&raw.guardrails) {
        Ok(g) => Some(g),
        Err(errs) => {
            for (field, name, msg) in errs {
                problems.push(cx.problem(field, Some(&name), msg));
            }
            None
        }
    };
    let pacing = Pacing {
        max_wait: match raw.pacing.on_busy {
            OnBusy::Wait => std::time::Duration::from_millis(raw.pacing.max_wait_ms),
            OnBusy::Next => std::time::Duration::ZERO,
        },
    };
    Some(Policy {
        name: raw.name.into(),
        aliases: raw.aliases,
        baseline: baseline?,
        classifier: classifier?,
        rules,
        fallbacks,
        on_budget_exceeded: raw.on_budget_exceeded,
        pacing,
        guardrails: guardrails?,
        stream_resume: raw.stream_resume.is_on(),
        moderation,
        fingerprint: {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            cx.text.hash(&mut h);
            h.finish()
        },
    })
}

fn conditions(
    w: RawWhen,
    field: &str,
    cx: &PolicyCtx<'_>,
    problems: &mut Vec<Problem>,
) -> Conditions {
    let (min_tokens, max_tokens) = match &w.tokens {
        Some(r) => {
            if let (Some(lo), Some(hi)) = (r.min, r.max) {
                if lo > hi {
                    problems.push(cx.problem(
                        format!("{field}.tokens"),
                        Some("tokens"),
                        format!("min {lo} is greater than max {hi}"),
                    ));
                }
            }
            (r.min, r.max)
        }
        None => (None, None),
    };
    let confidence = unit_range(w.confidence.as_ref(), field, "confidence", cx, problems);
    let complex_probability = unit_range(
        w.complex_probability.as_ref(),
        field,
        "complex_probability",
        cx,
        problems,
    );
    let last_user_matches = w
        .last_user_matches
        .as_ref()
        .and_then(|re| match Regex::new(re) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.push(cx.problem(
                    format!("{field}.last_user_matches"),
                    Some("last_user_matches"),
                    format!("invalid regex: {e}"),
                ));
                None
            }
        });
    let endpoint = w.endpoint.map(super::raw::OneOrMany::into_vec);
    if endpoint
        .iter()
        .flatten()
        .any(|e| matches!(e, Endpoint::Responses | Endpoint::Messages))
    {
        problems.push(cx.problem(
            format!("{field}.endpoint"),
            Some("endpoint"),
            "`/v1/responses` and `/v1/messages` requests are routed as chat: match them with `endpoint: chat`",
        ));
    }
    Conditions {
        endpoint,
        complexity: w.complexity.map(super::raw::OneOrMany::into_vec),
        min_tokens,
        max_tokens,
        model: w.model.map(super::raw::OneOrMany::into_vec),
        user: w.user.map(super::raw::OneOrMany::into_vec),
        tools: w.tools,
        images: w.images,
        last_user_matches,
        confidence,
        complex_probability,
    }
}

/// A `{min, max}` condition on a probability: both ends within 0..=1 and in order.
fn unit_range(
    raw: Option<&RawUnitRange>,
    field: &str,
    name: &str,
    cx: &PolicyCtx<'_>,
    problems: &mut Vec<Problem>,
) -> Option<UnitRange> {
    let r = raw?;
    for (end, v) in [("min", r.min), ("max", r.max)] {
        if v.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            problems.push(cx.problem(
                format!("{field}.{name}.{end}"),
                Some(name),
                "must be between 0 and 1".to_string(),
            ));
        }
    }
    if let (Some(lo), Some(hi)) = (r.min, r.max) {
        if lo > hi {
            problems.push(cx.problem(
                format!("{field}.{name}"),
                Some(name),
                format!("min {lo} is greater than max {hi}"),
            ));
        }
    }
    Some(UnitRange {
        min: r.min,
        max: r.max,
    })
}
