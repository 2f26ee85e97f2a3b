//! `switchyard keys`: creates (printing the key once), lists and revokes virtual keys.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use rand::Rng;

use crate::config::raw::{RawAuth, RawServer, RawVirtualKey};
use crate::config::sha256_hex;

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Create a key, append its digest to the key file and print the key (shown only once).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        team: Option<String>,
        /// A tier defined in the server file's `tiers:`.
        #[arg(long)]
        tier: Option<String>,
        /// A loggable name for the key (default `USER-N`).
        #[arg(long)]
        id: Option<String>,
    },
    /// List keys (ids, users, teams, tiers; never digests).
    List,
    /// Disable a key by id; takes effect at the next reload.
    Revoke {
        #[arg(long)]
        id: String,
    },
}

/// Runs the action; returns the exit code.
pub fn run(config: &Path, action: Action) -> i32 {
    match run_inner(config, action) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

fn run_inner(config: &Path, action: Action) -> Result<(), String> {
    let (server, keys_path) = key_file(config)?;
    let text = match std::fs::read_to_string(&keys_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", keys_path.display())),
    };
    let mut entries: Vec<RawVirtualKey> = if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_yaml::from_str(&text)
            .map_err(|e| format!("{} is not a list of keys: {e}", keys_path.display()))?
    };
    match action {
        Action::Create {
            user,
            team,
            tier,
            id,
        } => {
            if let Some(t) = &tier {
                if !server.tiers.contains_key(t) {
                    let known: Vec<&str> = server.tiers.keys().map(String::as_str).collect();
                    return Err(format!(
                        "no tier `{t}` in {} (tiers: {})",
                        config.display(),
                        known.join(", ")
                    ));
                }
            }
            let id = id.unwrap_or_else(|| {
                let n = entries.iter().filter(|e| e.user == user).count() + 1;
                format!("{user}-{n}")
            });
            if entries.iter().any(|e| e.id == id) {
                return Err(format!("a key with id `{id}` already exists"));
            }
            let key = new_key();
            let entry = RawVirtualKey {
                id: id.clone(),
                sha256: sha256_hex(&key),
                user,
                team,
                tier,
                created: Some(
                    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
                ),
                disabled: false,
            };
            let block = serde_yaml::to_string(&vec![&entry]).map_err(|e| e.to_string())?;
            // appending keeps the operator's comments; a file that is not a block list is rewritten
            let appendable = !has_content(&text) || text.lines().any(|l| l.starts_with("- "));
            let new_text = if appendable {
                let mut t = text.clone();
                if t.is_empty() {
                    t.push_str(HEADER);
                } else if !t.ends_with('\n') {
                    t.push('\n');
                }
                t.push_str(&block);
                t
            } else {
                entries.push(entry);
                rewrite(&entries)?
            };
            write_checked(&keys_path, &new_text)?;
            eprintln!(
                "created key `{id}` in {} (shown once; store it now)",
                keys_path.display()
            );
            println!("{key}");
        }
        Action::List => {
            println!(
                "{:<24} {:<16} {:<16} {:<12} {:<8} created",
                "id", "user", "team", "tier", "status"
            );
            for e in &entries {
                println!(
                    "{:<24} {:<16} {:<16} {:<12} {:<8} {}",
                    e.id,
                    e.user,
                    e.team.as_deref().unwrap_or("-"),
                    e.tier.as_deref().unwrap_or("-"),
                    if e.disabled { "revoked" } else { "active" },
                    e.created.as_deref().unwrap_or("-")
                );
            }
        }
        Action::Revoke { id } => {
            let Some(e) = entries.iter_mut().find(|e| e.id == id) else {
                return Err(format!("no key with id `{id}` in {}", keys_path.display()));
            };
            e.disabled = true;
            write_checked(&keys_path, &rewrite(&entries)?)?;
            eprintln!("revoked `{id}`; it stops working at the next reload (the file watcher does this by itself)");
        }
    }
    Ok(())
}

/// The server file's settings and the key file it names.
fn key_file(config: &Path) -> Result<(RawServer, PathBuf), String> {
    let text = std::fs::read_to_string(config)
        .map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let server: RawServer = crate::config::parse(config, &text).map_err(|p| p.to_string())?;
    let base = config.parent().unwrap_or(Path::new("."));
    let rel = server
        .auth
        .as_ref()
        .map_or_else(|| RawAuth::default().keys_file, |a| a.keys_file.clone());
    Ok((server, base.join(rel)))
}

const HEADER: &str =
    "# Switchyard virtual keys: SHA-256 digests only. Managed by `switchyard keys`.\n";

fn rewrite(entries: &[RawVirtualKey]) -> Result<String, String> {
    let body = serde_yaml::to_string(entries).map_err(|e| e.to_string())?;
    Ok(format!("{HEADER}{body}"))
}

fn has_content(text: &str) -> bool {
    text.lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

/// `sk-sy-` and 40 random base-62 characters (about 238 bits) from the OS-seeded CSPRNG.
fn new_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("sk-sy-{tail}")
}

/// Writes via a temporary file after checking the new text parses, so a crash or a bug never
/// leaves a broken key file behind.
fn write_checked(path: &Path, text: &str) -> Result<(), String> {
    serde_yaml::from_str::<Vec<RawVirtualKey>>(text)
        .map_err(|e| format!("refusing to write an unreadable key file: {e}"))?;
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}
