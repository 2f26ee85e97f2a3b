//! Applies a policy to a classified request: the first matching rule's candidate groups,
//! minus models whose context window is too small (the rule's `on_context_overflow` says
//! whether a prompt too long for them falls back, is refused or is to be trimmed).

use std::sync::Arc;

use crate::adapters::Unsupported;
use crate::capability::{self, Lack, Needs};
use crate::classify::Classification;
use crate::config::{Config, Endpoint, Group, Member, OnContextOverflow, Rule, Target};
use crate::error::ApiError;

/// What rules can match on, gathered from the request once.
pub(crate) struct Facts<'a> {
    pub endpoint: Endpoint,
    pub requested: &'a str,
    pub user: Option<&'a str>,
    pub has_tools: bool,
    pub has_images: bool,
    pub last_user: &'a str,
    pub classification: Option<&'a Classification>,
    pub prompt_tokens: u64,
    /// Prompt tokens plus the requested `max_tokens` (0 when not given).
    pub needed_tokens: u64,
    /// What the request needs of a candidate's wire (`n > 1`, `logprobs`).
    pub needs: Needs,
    /// A rule of the policy to use instead of the first matching one (a moderation flag's
    /// `on_flag: {rule: NAME}`).
    pub rule: Option<usize>,
}

/// The ordered candidates for one request and why they were chosen.
#[derive(Debug, Clone)]
pub struct RoutePlan {
    pub policy: Arc<str>,
    /// The matching rule's name, or `direct` for a concrete model.
    pub rule: Arc<str>,
    pub groups: Vec<Group>,
    /// Models dropped because the prompt does not fit their context window.
    pub skipped: Vec<usize>,
    /// Models dropped because their wire cannot express the request, and what it lacks.
    pub(crate) unsupported: Vec<(usize, Lack)>,
    /// Set (to the largest candidate's context window) when the prompt fits no candidate and
    /// the rule says `on_context_overflow: trim`: the plan has no groups; the caller trims the
    /// prompt to fit and routes again.
    pub(crate) trim_to: Option<u64>,
}

impl RoutePlan {
    /// `anthropic/claude: unsupported n>1; ...`: the candidates passed over for what their
    /// wire lacks, for `x-switchyard-skipped` and error summaries.
    pub(crate) fn unsupported_summary(&self, config: &Config) -> String {
        self.unsupported
            .iter()
            .map(|(m, lack)| format!("{}: {}", config.models[*m].id, lack.as_str()))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The rule name used when a request names a concrete model.
pub(crate) const DIRECT_RULE: &str = "direct";

/// Picks the candidates for a request.
pub(crate) fn route(
    config: &Config,
    target: Target,
    facts: &Facts<'_>,
) -> Result<RoutePlan, ApiError> {
    let (policy, rule, groups, overflow) = match target {
        Target::Model(m) => {
            let policy = config.default_policy();
            let mut groups = vec![Group {
                members: vec![Member {
                    model: m,
                    weight: 1,
                }],
            }];
            groups.extend(policy.fallbacks.get(&m).into_iter().flatten().cloned());
            let overflow = OnContextOverflow::Fallback;
            (policy, Arc::from(DIRECT_RULE), groups, overflow)
        }
        Target::Policy(p) => {
            let policy = &config.policies[p];
            let rule = facts
                .rule
                .and_then(|i| policy.rules.get(i))
                .or_else(|| policy.rules.iter().find(|r| matches(r, facts)))
                .or(policy.rules.last())
                .expect("validated: policies have a catch-all rule");
            let overflow = rule.on_context_overflow;
            (policy, rule.name.clone(), rule.route.clone(), overflow)
        }
    };
    if overflow == OnContextOverflow::Refuse {
        if let Some(window) = first_window_short(config, &groups, facts) {
            return Err(ApiError::ContextTooLong {
                needed: facts.needed_tokens,
                largest: window,
            });
        }
    }
    let mut skipped = Vec::new();
    let mut unsupported = Vec::new();
    let mut largest = 0;
    let groups: Vec<Group> = groups
        .into_iter()
        .map(|g| Group {
            members: g
                .members
                .into_iter()
                .filter(|mem| config.models[mem.model].endpoints.contains(&facts.endpoint))
                .filter(|mem| {
                    let wire = config.providers[config.models[mem.model].provider].wire;
                    let lack = capability::lacking(wire, facts.needs);
                    if let Some(lack) = lack {
                        if !unsupported.iter().any(|(m, _)| *m == mem.model) {
                            unsupported.push((mem.model, lack));
                        }
                    }
                    lack.is_none()
                })
                .filter(|mem| {
                    let window = config.models[mem.model].context_window;
                    largest = largest.max(window);
                    let fits = window >= facts.needed_tokens;
                    if !fits {
                        skipped.push(mem.model);
                    }
                    fits
                })
                .collect(),
        })
        .filter(|g| !g.members.is_empty())
        .collect();
    if groups.is_empty() && skipped.is_empty() {
        if let Some((_, lack)) = unsupported.first() {
            let who: Vec<String> = unsupported
                .iter()
                .map(|(m, l)| format!("{} ({})", config.models[*m].id, l.as_str()))
                .collect();
            return Err(ApiError::Unsupported(Unsupported {
                message: format!(
                    "No candidate behind `{}` can serve this request: {}. Candidates passed over: {}.",
                    facts.requested,
                    lack.explain(),
                    who.join(", ")
                ),
                param: Some(lack.param().into()),
                code: Some("unsupported_parameter"),
            }));
        }
    }
    if groups.is_empty() && largest == 0 {
        return Err(ApiError::InvalidRequest {
            message: format!(
                "No model behind `{}` serves /v1/{}.",
                facts.requested,
                facts.endpoint.path()
            ),
            param: Some("model".into()),
            code: Some("unsupported_endpoint"),
        });
    }
    let trim_to = (groups.is_empty() && overflow == OnContextOverflow::Trim).then_some(largest);
    if groups.is_empty() && trim_to.is_none() {
        return Err(ApiError::ContextTooLong {
            needed: facts.needed_tokens,
            largest,
        });
    }
    Ok(RoutePlan {
        policy: policy.name.clone(),
        rule,
        groups,
        skipped,
        unsupported,
        trim_to,
    })
}

/// `on_context_overflow: refuse`: the smallest context window in the first candidate group
/// (the first whose models serve the request at all) when the prompt does not fit it.
fn first_window_short(config: &Config, groups: &[Group], facts: &Facts<'_>) -> Option<u64> {
    let serves = |m: &Member| {
        let model = &config.models[m.model];
        model.endpoints.contains(&facts.endpoint)
            && capability::lacking(config.providers[model.provider].wire, facts.needs).is_none()
    };
    let first = groups.iter().find(|g| g.members.iter().any(serves))?;
    first
        .members
        .iter()
        .filter(|m| serves(m))
        .map(|m| config.models[m.model].context_window)
        .min()
        .filter(|w| *w < facts.needed_tokens)
}

/// Whether every condition the rule states holds for this request.
pub(crate) fn matches(rule: &Rule, f: &Facts<'_>) -> bool {
    let w = &rule.when;
    let complexity = f.classification.map(|c| c.complexity);
    w.endpoint
        .as_ref()
        .is_none_or(|es| es.contains(&f.endpoint))
        && w.complexity
            .as_ref()
            .is_none_or(|cs| complexity.is_some_and(|c| cs.contains(&c)))
        && w.min_tokens.is_none_or(|min| f.prompt_tokens >= min)
        && w.max_tokens.is_none_or(|max| f.prompt_tokens <= max)
        && w.model
            .as_ref()
            .is_none_or(|ms| ms.iter().any(|m| m == f.requested))
        && w.user
            .as_ref()
            .is_none_or(|us| f.user.is_some_and(|u| us.iter().any(|x| x == u)))
        && w.tools.is_none_or(|t| t == f.has_tools)
        && w.images.is_none_or(|i| i == f.has_images)
        && w.last_user_matches
            .as_ref()
            .is_none_or(|re| re.is_match(f.last_user))
        && w.confidence
            .is_none_or(|r| f.classification.is_some_and(|c| r.contains(c.confidence)))
        && w.complex_probability.is_none_or(|r| {
            f.classification
                .is_some_and(|c| r.contains(c.complex_probability))
        })
}
