//! What a reload changed, in an operator's words: the files that differ, and the policies,
//! rules, providers, models and keys added, removed or changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::Config;

/// One line per kind of change, e.g. `rules of policy default: added code, removed rest`;
/// empty when nothing differs.
pub(crate) fn describe(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let files = changed_files(&old.files, &new.files);
    if !files.is_empty() {
        out.push(format!("files: {}", files.join(", ")));
    }
    let policies = |c: &Config| -> BTreeMap<String, u64> {
        c.policies
            .iter()
            .map(|p| (p.name.to_string(), p.fingerprint))
            .collect()
    };
    push_sets(&mut out, "policies", &policies(old), &policies(new));
    for p in &new.policies {
        let Some(before) = old.policies.iter().find(|o| o.name == p.name) else {
            continue;
        };
        let rules = |pol: &super::Policy| -> BTreeMap<String, u64> {
            pol.rules.iter().map(|r| (r.name.to_string(), 0)).collect()
        };
        push_sets(
            &mut out,
            &format!("rules of policy {}", p.name),
            &rules(before),
            &rules(p),
        );
    }
    let providers = |c: &Config| -> BTreeMap<String, u64> {
        c.providers
            .iter()
            .map(|p| (p.name.to_string(), p.fingerprint))
            .collect()
    };
    push_sets(&mut out, "providers", &providers(old), &providers(new));
    let models = |c: &Config| -> BTreeMap<String, u64> {
        c.models.iter().map(|m| (m.id.to_string(), 0)).collect()
    };
    push_sets(&mut out, "models", &models(old), &models(new));
    let provider_keys = |c: &Config| -> BTreeMap<String, u64> {
        c.providers
            .iter()
            .flat_map(|p| {
                p.keys
                    .iter()
                    .map(move |k| (format!("{}:{}", p.name, k.env), 0))
            })
            .collect()
    };
    push_sets(
        &mut out,
        "provider keys",
        &provider_keys(old),
        &provider_keys(new),
    );
    let virtual_keys = |c: &Config| -> BTreeMap<String, u64> {
        c.access
            .keys
            .iter()
            .map(|k| (k.id.to_string(), 0))
            .collect()
    };
    push_sets(
        &mut out,
        "virtual keys",
        &virtual_keys(old),
        &virtual_keys(new),
    );
    out
}

/// Added, removed and (by fingerprint) changed names, as one line.
fn push_sets(
    out: &mut Vec<String>,
    what: &str,
    old: &BTreeMap<String, u64>,
    new: &BTreeMap<String, u64>,
) {
    let added: Vec<&str> = new
        .keys()
        .filter(|k| !old.contains_key(*k))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(String::as_str)
        .collect();
    let changed: Vec<&str> = new
        .iter()
        .filter(|(k, v)| old.get(*k).is_some_and(|o| o != *v))
        .map(|(k, _)| k.as_str())
        .collect();
    let parts: Vec<String> = [("added", added), ("removed", removed), ("changed", changed)]
        .into_iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(verb, names)| format!("{verb} {}", names.join(", ")))
        .collect();
    if !parts.is_empty() {
        out.push(format!("{what}: {}", parts.join("; ")));
    }
}

fn changed_files(old: &[(PathBuf, u64)], new: &[(PathBuf, u64)]) -> Vec<String> {
    let old: BTreeMap<&PathBuf, u64> = old.iter().map(|(p, h)| (p, *h)).collect();
    let new_paths: BTreeSet<&PathBuf> = new.iter().map(|(p, _)| p).collect();
    let mut out: Vec<String> = new
        .iter()
        .filter_map(|(p, h)| match old.get(p) {
            None => Some(format!("{} (new)", p.display())),
            Some(o) if o != h => Some(p.display().to_string()),
            Some(_) => None,
        })
        .collect();
    out.extend(
        old.keys()
            .filter(|p| !new_paths.contains(*p))
            .map(|p| format!("{} (deleted)", p.display())),
    );
    out
}
