//! Replays a workload through each strategy without calling any upstream, pricing every choice.

use std::collections::HashSet;

use indicatif::ProgressBar;
use rand::SeedableRng;
use serde_json::json;

use super::comparison::{summarize, Choice, ModelInfo, OutputTokens, RequestRow, Simulation};
use super::strategy::Strategy;
use super::workitem::{Recorded, WorkItem, Workload};
use crate::classify::{Classification, Complexity, PromptParts};
use crate::config::{Config, Model, Target};
use crate::dispatch::weighted::weighted_order;
use crate::openai::ChatRequest;
use crate::pipeline::decide;
use crate::route::{self, Facts, RoutePlan};

/// Knobs of one simulation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    /// Seeds every strategy's weighted choices (each strategy gets its own generator).
    pub seed: u64,
    pub output_tokens: OutputTokens,
    /// Model every request is also priced on; default: the reference policy's baseline.
    pub baseline: Option<String>,
}

/// The reference view of one request: tokens, class, completion tokens.
struct Basis {
    prompt_tokens: u64,
    complexity: Complexity,
    completion_tokens: u64,
    estimated: bool,
}

/// Replays every item through every strategy. `reference` supplies the catalog (prices,
/// context windows), the classifier whose classes drive output estimates and the quality-risk
/// figure, and the default baseline. Items the reference cannot route are skipped and
/// returned as bad lines. Prompts are counted once (the reference's count) so every strategy
/// is priced on the same tokens.
pub(crate) async fn simulate(
    reference: &Config,
    strategies: &[&Strategy],
    workload: &Workload,
    settings: &Settings,
    progress: &ProgressBar,
) -> Result<(Simulation, Vec<super::input::BadLine>), String> {
    let baseline = match &settings.baseline {
        Some(id) => find(reference, id).ok_or_else(|| format!("no baseline model `{id}`"))?,
        None => &reference.models[reference.default_policy().baseline],
    };
    let premium: HashSet<&str> = reference
        .models
        .iter()
        .filter(|m| m.price.output_per_1m >= baseline.price.output_per_1m)
        .map(|m| &*m.id)
        .collect();
    let mut rngs: Vec<rand::rngs::StdRng> = strategies
        .iter()
        .map(|_| rand::rngs::StdRng::seed_from_u64(settings.seed))
        .collect();
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for (line, item) in &workload.items {
        progress.inc(1);
        let basis = match basis(reference, item, &settings.output_tokens).await {
            Ok(b) => b,
            Err(reason) => {
                bad.push(super::input::BadLine {
                    line: *line,
                    reason,
                });
                continue;
            }
        };
        let (p, c) = (basis.prompt_tokens, basis.completion_tokens);
        let mut routes = Vec::new();
        for (s, rng) in strategies.iter().zip(&mut rngs) {
            let picked = pick(reference, s, item, &basis, rng).await;
            routes.push(match picked {
                Ok((model, rule, uncertain)) => Choice {
                    strategy: s.name(),
                    cost_usd: model.price.cost(p, c),
                    premium: premium.contains(&*model.id),
                    model: Some(model.id.to_string()),
                    rule,
                    uncertain,
                    error: None,
                },
                Err(e) => Choice {
                    strategy: s.name(),
                    model: None,
                    rule: None,
                    cost_usd: 0.0,
                    premium: false,
                    uncertain: false,
                    error: Some(e),
                },
            });
        }
        rows.push(RequestRow {
            line: *line,
            id: item.id().unwrap_or_else(|| json!(line)),
            prompt_tokens: p,
            completion_tokens: c,
            completion_estimated: basis.estimated,
            complexity: basis.complexity,
            baseline_cost_usd: baseline.price.cost(p, c),
            routes,
        });
    }
    let summaries = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| summarize(s, i, &rows))
        .collect();
    let used: HashSet<&str> = rows
        .iter()
        .flat_map(|r| r.routes.iter().filter_map(|c| c.model.as_deref()))
        .chain([&*baseline.id])
        .collect();
    let mut models: Vec<ModelInfo> = reference
        .models
        .iter()
        .filter(|m| used.contains(&*m.id))
        .map(|m| ModelInfo {
            id: m.id.to_string(),
            input_per_1m: m.price.input_per_1m,
            output_per_1m: m.price.output_per_1m,
            premium: premium.contains(&*m.id),
        })
        .collect();
    models.sort_by(|a, b| {
        a.output_per_1m
            .total_cmp(&b.output_per_1m)
            .then(a.input_per_1m.total_cmp(&b.input_per_1m))
            .then(a.id.cmp(&b.id))
    });
    let sim = Simulation {
        seed: settings.seed,
        requests_simulated: rows.len(),
        lines_skipped: workload.bad.len() + bad.len(),
        baseline_model: baseline.id.to_string(),
        premium_rule: format!(
            "output price >= the baseline's ${}/1M",
            baseline.price.output_per_1m
        ),
        premium_models: {
            let mut p: Vec<String> = premium.iter().map(|m| (*m).to_owned()).collect();
            p.sort();
            p
        },
        output_tokens: settings.output_tokens,
        models,
        strategies: summaries,
        requests: rows,
    };
    Ok((sim, bad))
}

fn find<'a>(config: &'a Config, id: &str) -> Option<&'a Model> {
    match config.resolve(id) {
        Some(Target::Model(m)) => Some(&config.models[m]),
        _ => None,
    }
}

/// Tokens, class and completion tokens of one item, from the reference config.
async fn basis(reference: &Config, item: &WorkItem, out: &OutputTokens) -> Result<Basis, String> {
    let policy = reference.default_policy();
    let (prompt_tokens, complexity, recorded, given) = match item {
        WorkItem::Prompt(w) => {
            let req =
                ChatRequest::parse(&w.request_body(&policy.name)).map_err(|e| e.to_string())?;
            let d = decide(reference, &req).await.map_err(|e| e.to_string())?;
            let class = d
                .classification
                .map_or(Complexity::Medium, |c| c.complexity);
            (d.prompt_tokens, class, None, w.output_tokens)
        }
        WorkItem::Recorded(r) => {
            let class = r.complexity.unwrap_or_else(|| {
                classify_tokens(reference, reference.default_policy, r).complexity
            });
            (r.prompt_tokens, class, r.completion_tokens, None)
        }
    };
    let (completion_tokens, estimated) = match given.or(recorded) {
        Some(n) => (n, false),
        None => (out.get(complexity), true),
    };
    Ok(Basis {
        prompt_tokens,
        complexity,
        completion_tokens,
        estimated,
    })
}

/// A ledger line has no text: its class comes from its token count alone.
fn classify_tokens(config: &Config, policy: usize, r: &Recorded) -> Classification {
    let tokens = u32::try_from(r.prompt_tokens).unwrap_or(u32::MAX);
    match r.complexity {
        Some(complexity) => Classification {
            tokens,
            complexity,
            score: 0.0,
            confidence: 1.0,
            complex_probability: if complexity == Complexity::Complex {
                1.0
            } else {
                0.0
            },
            signals: Vec::new(),
        },
        None => config.policies[policy]
            .classifier
            .classify(&PromptParts::default(), tokens),
    }
}

/// The model a strategy sends one request to, the rule that chose it, and whether that rule
/// matched on the classifier's confidence or complex probability (the uncertain share).
async fn pick<'a>(
    reference: &'a Config,
    s: &'a Strategy,
    item: &WorkItem,
    b: &Basis,
    rng: &mut rand::rngs::StdRng,
) -> Result<(&'a Model, Option<String>, bool), String> {
    let needed = b.prompt_tokens.saturating_add(b.completion_tokens);
    match s {
        Strategy::Always { model } => {
            let m = find(reference, model).ok_or_else(|| format!("no model `{model}`"))?;
            if m.context_window < needed {
                return Err(format!("context too long for {} ({needed} tokens)", m.id));
            }
            Ok((m, None, false))
        }
        Strategy::Cheapest => reference
            .models
            .iter()
            // a chat prompt is never priced on a model that serves only embeddings or moderations
            .filter(|m| m.endpoints.contains(&endpoint_of(item)))
            .filter(|m| m.context_window >= needed)
            .min_by(|a, b2| {
                a.price
                    .cost(b.prompt_tokens, b.completion_tokens)
                    .total_cmp(&b2.price.cost(b.prompt_tokens, b.completion_tokens))
                    .then_with(|| a.id.cmp(&b2.id))
            })
            .map(|m| (m, None, false))
            .ok_or_else(|| format!("no model fits {needed} tokens")),
        Strategy::Policy { config, .. } => {
            let plan = plan(config, item).await?;
            let first = plan.groups.first().ok_or("empty route")?;
            let m = *weighted_order(&first.members, rng)
                .first()
                .ok_or("empty group")?;
            let uncertain = config
                .policies
                .iter()
                .filter(|p| p.name == plan.policy)
                .flat_map(|p| &p.rules)
                .find(|r| r.name == plan.rule)
                .is_some_and(|r| {
                    r.when.confidence.is_some() || r.when.complex_probability.is_some()
                });
            Ok((&config.models[m], Some(plan.rule.to_string()), uncertain))
        }
    }
}

/// The endpoint an item stands for: a workload prompt is a chat request.
fn endpoint_of(item: &WorkItem) -> crate::config::Endpoint {
    match item {
        WorkItem::Prompt(_) => crate::config::Endpoint::Chat,
        WorkItem::Recorded(r) => r.endpoint,
    }
}

/// The route plan a policy config makes for an item. A `model` the config does not know is
/// routed through the policy under test (its aliases may differ from the workload's).
async fn plan(config: &Config, item: &WorkItem) -> Result<RoutePlan, String> {
    let policy_name = config.default_policy().name.to_string();
    match item {
        WorkItem::Prompt(w) => {
            let model = w
                .model
                .as_deref()
                .filter(|m| config.resolve(m).is_some())
                .unwrap_or(&policy_name);
            let req = ChatRequest::parse(&w.request_body(model)).map_err(|e| e.to_string())?;
            decide(config, &req)
                .await
                .map(|d| d.plan)
                .map_err(|e| e.to_string())
        }
        WorkItem::Recorded(r) => {
            let target = config
                .resolve(&r.requested_model)
                .unwrap_or(Target::Policy(config.default_policy));
            let class = match target {
                Target::Policy(p) => Some(classify_tokens(config, p, r)),
                Target::Model(_) => None,
            };
            let facts = Facts {
                endpoint: r.endpoint,
                requested: &r.requested_model,
                user: r.user.as_deref(),
                has_tools: false,
                has_images: false,
                last_user: "",
                classification: class.as_ref(),
                prompt_tokens: r.prompt_tokens,
                needed_tokens: r.prompt_tokens,
                needs: crate::capability::Needs::default(),
                rule: None,
            };
            route::route(config, target, &facts).map_err(|e| e.to_string())
        }
    }
}
