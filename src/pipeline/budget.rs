//! Budget arithmetic on a route plan: what to reserve before calling, and the cheapest
//! candidates a `degrade` policy falls back to.

use crate::config::{Config, Group, Member};
use crate::route::RoutePlan;

/// The most this request could cost: its prompt plus `max_tokens` (or the configured
/// assumption) at the dearest candidate's prices, so concurrent requests cannot overspend
/// beyond what is reserved for those in flight.
pub(super) fn estimate_usd(
    config: &Config,
    plan: &RoutePlan,
    prompt_tokens: u64,
    completion: u64,
) -> f64 {
    plan.groups
        .iter()
        .flat_map(|g| &g.members)
        .map(|m| config.models[m.model].price.cost(prompt_tokens, completion))
        .fold(0.0, f64::max)
}

/// The plan cut down to its cheapest candidates (for these token counts), in one group.
pub(super) fn cheapest_only(
    config: &Config,
    plan: &RoutePlan,
    prompt_tokens: u64,
    completion: u64,
) -> RoutePlan {
    let cost = |m: &Member| config.models[m.model].price.cost(prompt_tokens, completion);
    let members: Vec<&Member> = plan.groups.iter().flat_map(|g| &g.members).collect();
    let min = members
        .iter()
        .map(|m| cost(m))
        .fold(f64::INFINITY, f64::min);
    let mut cheapest: Vec<Member> = Vec::new();
    for m in members {
        if cost(m) <= min * (1.0 + 1e-9) && !cheapest.iter().any(|c| c.model == m.model) {
            cheapest.push(*m);
        }
    }
    RoutePlan {
        groups: vec![Group { members: cheapest }],
        ..plan.clone()
    }
}
