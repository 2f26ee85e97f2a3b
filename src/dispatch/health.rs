//! Runtime health of every model and provider (breakers, key pools), kept across config reloads.
//!
//! Operator overrides (a forced breaker, a drained or disabled key) survive a reload even when
//! the provider's settings changed and its state is rebuilt: they are carried over by model id
//! and by provider name and key variable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::breaker::Breaker;
use super::headroom::Headroom;
use super::keys::KeyPool;
use super::pacing::fallback_limits;
use crate::config::Config;
use crate::lock::lock;

/// Breakers by model index and key pools by provider index of one [`Config`]. Each entry is
/// behind its own small lock, held only for a state transition, never across an await.
#[derive(Debug)]
pub struct Health {
    pub breakers: Vec<Arc<Mutex<Breaker>>>,
    pub keys: Vec<Arc<Mutex<KeyPool>>>,
    /// Quota headroom of each provider's keys, by provider index.
    pub(crate) headroom: Vec<Arc<Mutex<Headroom>>>,
    /// Embeddings batches still taking members (per config: model indices are this config's).
    pub(crate) batches: super::coalesce::Coalescer,
}

impl Health {
    /// Fresh state for `config`, reusing `previous` state of providers whose settings did not
    /// change, so a reload neither closes an open breaker nor forgets a cooling key.
    pub fn new(config: &Config, previous: Option<(&Config, &Health)>) -> Self {
        let now = Instant::now();
        let mut old_keys = HashMap::new();
        let mut old_breakers = HashMap::new();
        let mut forced = HashMap::new();
        let mut key_states = HashMap::new();
        if let Some((old_cfg, old)) = previous {
            for (i, p) in old_cfg.providers.iter().enumerate() {
                old_keys.insert((p.name.clone(), p.fingerprint), old.keys[i].clone());
                let pool = lock(&old.keys[i]);
                for (k, key) in p.keys.iter().enumerate() {
                    key_states.insert((p.name.clone(), key.env.clone()), pool.state(k));
                }
            }
            for (i, m) in old_cfg.models.iter().enumerate() {
                let p = &old_cfg.providers[m.provider];
                old_breakers.insert((m.id.clone(), p.fingerprint), old.breakers[i].clone());
                if let Some(f) = lock(&old.breakers[i]).forced() {
                    forced.insert(m.id.clone(), f);
                }
            }
        }
        let keys = config
            .providers
            .iter()
            .map(|p| {
                old_keys
                    .get(&(p.name.clone(), p.fingerprint))
                    .cloned()
                    .unwrap_or_else(|| {
                        let share = config.server.state.expected_instances;
                        let limits = p.keys.iter().map(|k| fallback_limits(k.rpm, k.tpm, share));
                        let mut pool = KeyPool::with_limits(limits);
                        for (k, key) in p.keys.iter().enumerate() {
                            if let Some(s) = key_states.get(&(p.name.clone(), key.env.clone())) {
                                pool.set_state(k, *s);
                            }
                        }
                        Arc::new(Mutex::new(pool))
                    })
            })
            .collect();
        let breakers = config
            .models
            .iter()
            .map(|m| {
                let p = &config.providers[m.provider];
                old_breakers
                    .get(&(m.id.clone(), p.fingerprint))
                    .cloned()
                    .unwrap_or_else(|| {
                        let mut b = Breaker::new(p.breaker, now);
                        if let Some(f) = forced.get(&m.id) {
                            b.set_forced(Some(*f), now);
                        }
                        Arc::new(Mutex::new(b))
                    })
            })
            .collect();
        let headroom = config
            .providers
            .iter()
            .map(|p| {
                let limits: Vec<_> = p.keys.iter().map(|k| (k.rpm, k.tpm)).collect();
                let carried = previous.and_then(|(old_cfg, old)| {
                    let i = old_cfg.providers.iter().position(|o| o.name == p.name)?;
                    lock(&old.headroom[i]).carried(&limits)
                });
                Arc::new(Mutex::new(
                    carried.unwrap_or_else(|| Headroom::new(limits.iter().copied())),
                ))
            })
            .collect();
        Self {
            breakers,
            keys,
            headroom,
            batches: super::coalesce::Coalescer::default(),
        }
    }
}

impl Health {
    /// Whether a model could be tried now: its breaker is not open and a key is free.
    pub fn usable(&self, config: &Config, model: usize, now: Instant) -> bool {
        let provider = config.models[model].provider;
        lock(&self.breakers[model]).state(now) != super::breaker::BreakerState::Open
            && lock(&self.keys[provider]).any_available(now)
    }

    /// How long until some candidate of `plan` could be tried again: its breaker closing or
    /// one of its keys cooling off. `None` when one could be tried now.
    pub(crate) fn available_in(
        &self,
        config: &Config,
        plan: &crate::route::RoutePlan,
        now: Instant,
    ) -> Option<std::time::Duration> {
        let wait = |m: usize| {
            let breaker = lock(&self.breakers[m])
                .open_until(now)
                .map_or_else(Default::default, |t| t.saturating_duration_since(now));
            let keys = lock(&self.keys[config.models[m].provider]).free_in(now);
            breaker.max(keys)
        };
        let soonest = plan
            .groups
            .iter()
            .flat_map(|g| &g.members)
            .map(|m| wait(m.model))
            .min()?;
        (!soonest.is_zero()).then_some(soonest)
    }

    /// Readiness problems: every rule of every policy needs at least one usable candidate.
    pub fn unready_rules(&self, config: &Config, now: Instant) -> Vec<String> {
        let mut problems = Vec::new();
        for p in &config.policies {
            for r in &p.rules {
                let any = r
                    .route
                    .iter()
                    .flat_map(|g| &g.members)
                    .any(|m| self.usable(config, m.model, now));
                if !any {
                    problems.push(format!("policy `{}` rule `{}`: no usable candidate (breakers open or keys cooling)", p.name, r.name));
                }
            }
        }
        problems
    }
}

/// Applies one event to a breaker and reports a resulting state change as a metric.
pub fn breaker_event<R>(
    breaker: &Mutex<Breaker>,
    model: &str,
    event: impl FnOnce(&mut Breaker, Instant) -> R,
) -> R {
    let now = Instant::now();
    let mut b = lock(breaker);
    let before = b.state(now);
    let result = event(&mut b, now);
    let after = b.state(now);
    drop(b);
    if before != after {
        crate::metrics::record_transition(model, after);
    }
    result
}
