//! Hot reload: on a file change, SIGHUP or `POST /admin/reload`, re-read and validate every
//! file, then swap the config atomically; a bad change is reported and the old config serves on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, KeyMode, Sources};
use crate::state::{AppState, ReloadStatus};

/// Bursts of file events (editors write several) are folded into one reload.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Re-reads the server file, providers and policies; swaps them in only if all are valid.
///
/// Every attempt leaves one log line an operator can read on its own: what changed (files,
/// policies, rules, providers, models, keys), "unchanged", "recovered" after a rejected one,
/// or each problem of a rejected change.
pub(crate) async fn reload(state: &Arc<AppState>, trigger: &str) -> ReloadStatus {
    let at = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let current = state.live().config.version.clone();
    let failing_before = state.last_reload().is_some_and(|r| !r.ok);
    let Some(path) = state.source().cloned() else {
        return ReloadStatus {
            at,
            trigger: trigger.into(),
            ok: false,
            changed: false,
            version: current,
            problems: vec!["this process has no config file to reload (demo mode)".into()],
            changes: vec![],
        };
    };
    let built = tokio::task::spawn_blocking(move || {
        let env = |k: &str| std::env::var(k).ok();
        Sources::read(&path).and_then(|s| Config::build(&s, &env, KeyMode::Require))
    })
    .await;
    let status = match built {
        Ok(Ok(config)) => {
            let version = config.version.clone();
            let changed = version != current;
            let changes = if changed {
                crate::config::diff::describe(&state.live().config, &config)
            } else {
                vec![]
            };
            if changed {
                warn_restart_only(&state.live().config, &config);
                state.replace_config(config);
                let recovered = if failing_before {
                    "; recovered from the rejected change before"
                } else {
                    ""
                };
                tracing::info!(
                    trigger,
                    old = %current,
                    new = %version,
                    "config reloaded: {}{recovered}",
                    changes.join("; ")
                );
            } else if failing_before {
                tracing::info!(
                    trigger,
                    version = %version,
                    "config recovered: the files are valid again and match the running config (unchanged)"
                );
            } else {
                tracing::info!(trigger, version = %version, "config unchanged: nothing to reload");
            }
            ReloadStatus {
                at,
                trigger: trigger.into(),
                ok: true,
                changed,
                version,
                problems: vec![],
                changes,
            }
        }
        Ok(Err(problems)) => {
            let running = state.live();
            for p in &problems {
                let restart = needs_restart(p, &running.config);
                tracing::error!(trigger, problem = %p, "config reload rejected{restart}; the previous config keeps serving");
            }
            let problems = problems
                .iter()
                .map(|p| format!("{p}{}", needs_restart(p, &running.config)))
                .collect();
            ReloadStatus {
                at,
                trigger: trigger.into(),
                ok: false,
                changed: false,
                version: current,
                problems,
                changes: vec![],
            }
        }
        Err(e) => ReloadStatus {
            at,
            trigger: trigger.into(),
            ok: false,
            changed: false,
            version: current,
            problems: vec![format!("reload task failed: {e}")],
            changes: vec![],
        },
    };
    if status.changed || !status.ok {
        crate::metrics::record_reload(status.ok);
    }
    state.set_last_reload(status.clone());
    status
}

/// A key variable missing from the environment cannot be fixed by a reload: the process's
/// environment was fixed when it started. Says so for a provider key the running config does
/// not have (a provider or key added by this change).
fn needs_restart(p: &crate::config::Problem, running: &Config) -> &'static str {
    let is_key_env = p.field.starts_with("keys[") && p.field.ends_with("].env");
    if !is_key_env || !p.message.contains("is not set") {
        return "";
    }
    let var = p.message.split_whitespace().nth(2).unwrap_or_default();
    let known = running
        .providers
        .iter()
        .any(|prov| prov.keys.iter().any(|k| k.env == var));
    if known {
        ""
    } else {
        " (a running process cannot see variables set after it started: export it and restart switchyard)"
    }
}

/// Settings read only at start-up; a change to them is logged, not applied.
fn warn_restart_only(old: &Config, new: &Config) {
    let (a, b) = (&old.server, &new.server);
    if a.listen != b.listen || a.ledger != b.ledger || a.max_body_bytes != b.max_body_bytes {
        tracing::warn!("listen, ledger and max_body_bytes changes take effect after a restart");
    }
    let state = |s: &crate::config::StateSettings| {
        (
            s.redis.as_ref().map(|r| r.expose().to_owned()),
            s.prefix.clone(),
            s.on_unavailable,
            s.timeout,
            s.expected_instances,
        )
    };
    if state(&a.state) != state(&b.state)
        || a.cache != b.cache
        || old.access.budgets.warn_at != new.access.budgets.warn_at
    {
        tracing::warn!("state, cache and budgets.warn_at changes take effect after a restart");
    }
}

/// Starts the SIGHUP listener and a watcher on every folder the config was read from.
pub fn spawn_triggers(state: Arc<AppState>, sources: &Sources) -> notify::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<&'static str>(16);
    let dirs = watched_dirs(sources);
    let events = tx.clone();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // only YAML files: the ledger may live in the same folder and changes constantly
        let relevant = res.is_ok_and(|e| {
            !e.kind.is_access()
                && e.paths
                    .iter()
                    .any(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        });
        if relevant {
            let _ = events.try_send("file change");
        }
    })?;
    for dir in &dirs {
        notify::Watcher::watch(&mut watcher, dir, notify::RecursiveMode::NonRecursive)?;
    }
    #[cfg(unix)]
    {
        let hup = tx.clone();
        tokio::spawn(async move {
            let Ok(mut sig) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while sig.recv().await.is_some() {
                let _ = hup.send("SIGHUP").await;
            }
        });
    }
    tokio::spawn(async move {
        let _watcher = watcher; // lives as long as this task
        while let Some(mut trigger) = rx.recv().await {
            // fold a burst of events into one reload
            while let Ok(Some(t)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                trigger = t;
            }
            reload(&state, trigger).await;
        }
    });
    tracing::info!(dirs = ?dirs, "watching config files for changes");
    Ok(())
}

fn watched_dirs(sources: &Sources) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = sources
        .server
        .iter()
        .chain(&sources.keys)
        .chain(&sources.providers)
        .chain(&sources.policies)
        .filter_map(|f| f.path.parent().map(Path::to_path_buf))
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d
            }
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}
