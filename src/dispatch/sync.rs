//! Shares breaker openings and key cooldowns between instances through Redis: each publishes
//! its own and adopts the others'.
//!
//! Every [`TICK`] an instance writes, for every breaker its own failures opened,
//! `{prefix}:breaker:{model_id}` = open-until (epoch ms) and, for every key its own 429s cooled,
//! `{prefix}:cooldown:{provider}:{key_env}` = cooling-until (never the secret), each expiring
//! when it ends. It then reads all such keys and opens or cools its own state until the
//! published instant. Adopted state is marked as such and not published again, so two
//! instances never keep an opening alive by echoing it back and forth.
//!
//! Operator overrides (`POST /admin/breakers/…`, `/admin/keys/…`) are shared too, differently:
//! the admin endpoint writes `{prefix}:override:breaker:{model_id}` (`open` | `closed`) or
//! `{prefix}:override:key:{provider}:{key_env}` (`drain` | `disable`) without expiry, or deletes
//! it for `auto` / `active`, before applying it locally. Every round each instance reads them
//! and makes its own overrides match: with Redis configured, Redis holds the fleet's overrides.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::breaker::Forced;
use super::health::breaker_event;
use super::keys::KeyState;
use crate::live::Live;
use crate::lock::lock;
use crate::shared::Shared;

/// How often state is published and read.
pub(crate) const TICK: Duration = Duration::from_millis(500);

/// A published instant within this much of the local one is the same event (clock reads
/// between instants and wall time differ by a few microseconds each tick).
const SLACK: Duration = Duration::from_millis(50);

/// Starts publishing and adopting every [`TICK`]. `live` gives the current config and health
/// (so the task follows reloads); it returning `None` (the app is gone) ends the task.
pub fn spawn_sync(
    shared: Arc<Shared>,
    live: impl Fn() -> Option<Arc<Live>> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(live) = live() else { return };
            if let Err(e) = sync_once(&shared, &live).await {
                tracing::debug!(error = %e, "could not share breakers and key cooldowns");
            }
        }
    })
}

/// What a Redis key read back stands for.
enum Slot {
    Breaker(usize),
    Key { provider: usize, key: usize },
    BreakerOverride(usize),
    KeyOverride { provider: usize, key: usize },
}

/// The Redis key of an operator's breaker override for `model`.
pub(crate) fn breaker_override(shared: &Shared, model: &str) -> String {
    shared.key(&format!("override:breaker:{model}"))
}

/// The Redis key of an operator's override of `provider`'s key `env` (its variable's name).
pub(crate) fn key_override(shared: &Shared, provider: &str, env: &str) -> String {
    shared.key(&format!("override:key:{provider}:{env}"))
}

/// Writes an override for every instance (`Some`), or clears it (`None`).
pub(crate) async fn publish_override(
    shared: &Shared,
    name: &str,
    value: Option<&str>,
) -> Result<(), crate::shared::SharedError> {
    let mut conn = shared.conn();
    let mut cmd = redis::cmd(if value.is_some() { "SET" } else { "DEL" });
    cmd.arg(name);
    if let Some(v) = value {
        cmd.arg(v);
    }
    shared
        .run(async move { cmd.query_async::<()>(&mut conn).await })
        .await
}

/// One publish-and-adopt round.
pub(crate) async fn sync_once(
    shared: &Shared,
    live: &Live,
) -> Result<(), crate::shared::SharedError> {
    let (config, health) = (&live.config, &live.health);
    let now = Instant::now();
    let wall = wall_ms();
    let mut pipe = redis::pipe();
    let mut ours = HashSet::new();
    let mut slots = Vec::new();
    let mut names = Vec::new();
    let mut publish = |pipe: &mut redis::Pipeline, name: &str, until: Instant| {
        let left = until.saturating_duration_since(now);
        let px = u64::try_from(left.as_millis()).unwrap_or(u64::MAX).max(1);
        pipe.cmd("SET")
            .arg(name)
            .arg(to_epoch_ms(until, now, wall))
            .arg("PX")
            .arg(px)
            .ignore();
        ours.insert(name.to_owned());
    };
    for (m, model) in config.models.iter().enumerate() {
        let name = shared.key(&format!("breaker:{}", model.id));
        let local = lock(&health.breakers[m]).local_open_until(now);
        if let Some(until) = local {
            publish(&mut pipe, &name, until);
        }
        slots.push(Slot::Breaker(m));
        names.push(name);
        slots.push(Slot::BreakerOverride(m));
        names.push(breaker_override(shared, &model.id));
    }
    for (p, provider) in config.providers.iter().enumerate() {
        let local = lock(&health.keys[p]).local_cooldowns(now);
        for (i, k) in provider.keys.iter().enumerate() {
            let name = shared.key(&format!("cooldown:{}:{}", provider.name, k.env));
            if let Some(&(_, until)) = local.iter().find(|(j, _)| *j == i) {
                publish(&mut pipe, &name, until);
            }
            slots.push(Slot::Key {
                provider: p,
                key: i,
            });
            names.push(name);
            slots.push(Slot::KeyOverride {
                provider: p,
                key: i,
            });
            names.push(key_override(shared, &provider.name, &k.env));
        }
    }
    if names.is_empty() {
        return Ok(());
    }
    pipe.cmd("MGET").arg(&names);
    let mut conn = shared.conn();
    let (values,): (Vec<Option<String>>,) = shared
        .run(async { pipe.query_async(&mut conn).await })
        .await?;
    let now = Instant::now();
    let wall = wall_ms();
    for ((slot, name), value) in slots.iter().zip(&names).zip(values) {
        match *slot {
            Slot::BreakerOverride(m) => {
                adopt_breaker_override(live, m, value.as_deref());
                continue;
            }
            Slot::KeyOverride { provider, key } => {
                adopt_key_override(live, provider, key, value.as_deref());
                continue;
            }
            Slot::Breaker(_) | Slot::Key { .. } => {}
        }
        let Some(until) = value
            .and_then(|v| v.parse().ok())
            .and_then(|ms| from_epoch_ms(ms, now, wall))
        else {
            continue;
        };
        if ours.contains(name) {
            continue;
        }
        match *slot {
            Slot::Breaker(m) => {
                let model = &config.models[m].id;
                let breaker = &health.breakers[m];
                let local = lock(breaker).open_until(now);
                if newer(local, until)
                    && breaker_event(breaker, model, |b, now| b.force_open(now, until))
                {
                    let open_ms = until.saturating_duration_since(now).as_millis() as u64;
                    tracing::info!(%model, open_ms, "breaker opened by another instance");
                }
            }
            Slot::Key { provider, key } => {
                let adopted = {
                    let mut pool = lock(&health.keys[provider]);
                    newer(pool.cooling_until(key, now), until) && pool.adopt_cooldown(key, until)
                };
                if adopted {
                    let p = &config.providers[provider];
                    let cool_ms = until.saturating_duration_since(now).as_millis() as u64;
                    tracing::info!(provider = %p.name, key = %p.keys[key].env, cool_ms, "key cooled down by another instance");
                }
            }
            Slot::BreakerOverride(_) | Slot::KeyOverride { .. } => {}
        }
    }
    Ok(())
}

/// Makes model `m`'s breaker override what the fleet's says (none when `value` is absent).
fn adopt_breaker_override(live: &Live, m: usize, value: Option<&str>) {
    let wanted = match value {
        Some("open") => Some(Forced::Open),
        Some("closed") => Some(Forced::Closed),
        _ => None,
    };
    let breaker = &live.health.breakers[m];
    if lock(breaker).forced() == wanted {
        return;
    }
    let model = &live.config.models[m].id;
    breaker_event(breaker, model, |b, now| b.set_forced(wanted, now));
    tracing::info!(%model, forced = wanted.map_or("auto", Forced::as_str), "breaker override adopted from the fleet");
}

/// Makes a key's state what the fleet's override says (active when `value` is absent).
fn adopt_key_override(live: &Live, provider: usize, key: usize, value: Option<&str>) {
    let wanted = match value {
        Some("drain") => KeyState::Drain,
        Some("disable") => KeyState::Disable,
        _ => KeyState::Active,
    };
    let changed = {
        let mut pool = lock(&live.health.keys[provider]);
        pool.state(key) != wanted && pool.set_state(key, wanted)
    };
    if changed {
        let p = &live.config.providers[provider];
        tracing::info!(provider = %p.name, key = %p.keys[key].env, state = wanted.as_str(), "key state adopted from the fleet");
    }
}

/// Whether a published end lies meaningfully past the local one.
fn newer(local: Option<Instant>, published: Instant) -> bool {
    local.is_none_or(|t| t + SLACK < published)
}

/// Milliseconds since the Unix epoch now.
fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `until` as epoch ms, given that `now` is `wall` epoch ms.
fn to_epoch_ms(until: Instant, now: Instant, wall: i64) -> i64 {
    let left = until.saturating_duration_since(now).as_millis();
    wall.saturating_add(i64::try_from(left).unwrap_or(i64::MAX))
}

/// An epoch-ms instant as an `Instant`, if it lies in the future (at most a day ahead: a
/// garbage value must not bench anything for years).
fn from_epoch_ms(ms: i64, now: Instant, wall: i64) -> Option<Instant> {
    let left = u64::try_from(ms.checked_sub(wall)?)
        .ok()
        .filter(|&l| l > 0)?;
    Some(now + Duration::from_millis(left.min(24 * 60 * 60 * 1000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn epoch_ms_round_trips_and_rejects_the_past() {
        let now = Instant::now();
        let wall = 1_700_000_000_000;
        let until = now + Duration::from_millis(1_500);
        let ms = to_epoch_ms(until, now, wall);
        assert_eq!(ms, wall + 1_500);
        assert_eq!(from_epoch_ms(ms, now, wall), Some(until));
        assert_eq!(from_epoch_ms(wall, now, wall), None);
        assert_eq!(from_epoch_ms(wall - 5, now, wall), None);
        assert_eq!(from_epoch_ms(i64::MIN, now, wall), None);
        let far = from_epoch_ms(i64::MAX, now, wall).expect("future");
        assert_eq!(far, now + Duration::from_secs(24 * 60 * 60));
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_meaningfully_later_end_is_adopted() {
        let now = Instant::now();
        let t = now + Duration::from_secs(3);
        assert!(newer(None, t));
        assert!(!newer(Some(t), t + Duration::from_millis(1)));
        assert!(newer(Some(t), t + Duration::from_secs(1)));
        assert!(!newer(Some(t + Duration::from_secs(1)), t));
    }
}
