//! Validated protection settings: virtual keys (hashed), tiers, teams, global limits, budgets,
//! shared state and response-cache settings.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::operator_key::{operator_key, OperatorKey};
use super::raw::{AuthMode, CacheScope, OnUnavailable, RawLimits, RawServer, RawVirtualKey};
use super::{EnvLookup, Problem, SourceFile};
use crate::secret::Secret;

/// Rate limits and budgets of one scope; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub rpm: Option<u64>,
    pub rph: Option<u64>,
    pub tpm: Option<u64>,
    pub tpd: Option<u64>,
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
}

impl Limits {
    /// Whether any rate limit (not budget) is set.
    pub fn has_rates(&self) -> bool {
        self.rpm.is_some() || self.rph.is_some() || self.tpm.is_some() || self.tpd.is_some()
    }

    /// Whether any budget is set.
    pub fn has_budget(&self) -> bool {
        self.daily_usd.is_some() || self.monthly_usd.is_some()
    }
}

impl From<RawLimits> for Limits {
    fn from(r: RawLimits) -> Self {
        Self {
            rpm: r.rpm,
            rph: r.rph,
            tpm: r.tpm,
            tpd: r.tpd,
            daily_usd: r.daily_usd,
            monthly_usd: r.monthly_usd,
        }
    }
}

/// One virtual key as loaded: only its digest is kept.
#[derive(Debug, Clone)]
pub struct VirtualKey {
    /// A loggable name of the key.
    pub id: Arc<str>,
    pub digest: [u8; 32],
    pub user: Arc<str>,
    pub team: Option<Arc<str>>,
    pub tier: Option<Arc<str>>,
    /// The tier's per-user limits (default when the key names no tier).
    pub limits: Limits,
}

/// Who may call, and the limits and budgets that apply to them.
#[derive(Debug, Default)]
pub struct Access {
    pub mode: AuthMode,
    pub keys: Vec<VirtualKey>,
    /// Key indexes by the first 8 bytes of their digest, so lookup is cheap and the full
    /// comparison is constant-time.
    pub by_prefix: HashMap<u64, Vec<usize>>,
    /// The key `/admin/*` needs.
    pub admin: OperatorKey,
    /// The key the operational endpoints need (besides the admin key).
    pub ops: OperatorKey,
    /// Limits and budgets of each team, by name.
    pub teams: HashMap<Arc<str>, Limits>,
    pub global: Limits,
    pub budgets: BudgetSettings,
}

#[derive(Debug, Clone, Default)]
pub struct BudgetSettings {
    pub warn_at: f64,
    pub webhook: Option<reqwest::Url>,
    pub reserve_completion_tokens: u64,
}

/// Where counters live. Read once at start: changing it needs a restart.
#[derive(Debug, Clone)]
pub struct StateSettings {
    pub redis: Option<Secret>,
    pub prefix: String,
    pub on_unavailable: OnUnavailable,
    pub timeout: Duration,
    /// Instances sharing the provider keys; see [`crate::dispatch::pacing::fallback_limits`].
    pub expected_instances: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CacheSettings {
    pub enabled: bool,
    pub max_entries: u64,
    pub max_bytes: u64,
    pub ttl: Duration,
    pub scope: CacheScope,
}

/// Hex SHA-256 of a secret, as stored in the key file.
pub fn sha256_hex(secret: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// SHA-256 of a secret.
pub(crate) fn sha256(secret: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(secret.as_bytes()).into()
}

pub(super) fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The lookup prefix of a digest.
pub(crate) fn digest_prefix(d: &[u8; 32]) -> u64 {
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

pub(super) struct AccessCtx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub env: EnvLookup<'a>,
}

impl Access {
    /// What works but is probably not what the operator meant: an operator key variable that
    /// is not set (its endpoints then refuse every call), keys mode without any virtual key.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (field, key) in [("admin_key_env", &self.admin), ("ops_key_env", &self.ops)] {
            if let OperatorKey::Unset { var } = key {
                out.push(format!(
                    "auth.{field} names `{var}`, which is not set in this environment: the endpoints it guards refuse every call"
                ));
            }
        }
        if self.mode == AuthMode::Keys && self.keys.is_empty() {
            out.push("auth.mode is keys but no virtual keys are configured: every request will get 401; create one with `switchyard keys create --user NAME`".into());
        }
        out
    }
}

impl AccessCtx<'_> {
    pub(super) fn problem(
        &self,
        field: &str,
        needle: Option<&str>,
        msg: impl Into<String>,
    ) -> Problem {
        Problem::at(self.file, self.text, field, needle, msg)
    }
}

/// Validates the protection part of the server file and the key file. `open_default` is the
/// mode when the server file has no `auth:` block (open only when there is no server file).
pub(super) fn validate_access(
    raw: &RawServer,
    keys_file: Option<&SourceFile>,
    cx: &AccessCtx<'_>,
    open_default: bool,
    problems: &mut Vec<Problem>,
) -> Access {
    let mode = match &raw.auth {
        Some(a) => a.mode,
        None if open_default => AuthMode::Open,
        None => AuthMode::Keys,
    };
    let mut check = |field: &str, l: &RawLimits| {
        for (name, v) in [
            ("rpm", l.rpm),
            ("rph", l.rph),
            ("tpm", l.tpm),
            ("tpd", l.tpd),
        ] {
            if v == Some(0) {
                problems.push(cx.problem(
                    field,
                    Some(name),
                    format!("`{name}: 0` would refuse everything; remove it for no limit"),
                ));
            }
        }
        for (name, v) in [("daily_usd", l.daily_usd), ("monthly_usd", l.monthly_usd)] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                problems.push(cx.problem(field, Some(name), format!("`{name}` must be ≥ 0")));
            }
        }
    };
    for (name, l) in &raw.tiers {
        check(&format!("tiers.{name}"), l);
    }
    for (name, l) in &raw.teams {
        check(&format!("teams.{name}"), l);
    }
    check("global", &raw.global);
    let default_limits = match &raw.default_tier {
        Some(t) => {
            if let Some(l) = raw.tiers.get(t) {
                Limits::from(*l)
            } else {
                problems.push(cx.problem(
                    "default_tier",
                    Some(t),
                    format!("no tier `{t}` in `tiers`"),
                ));
                Limits::default()
            }
        }
        None => Limits::default(),
    };
    let auth = raw.auth.as_ref();
    let admin = operator_key(
        "admin",
        auth.and_then(|a| a.admin_key_env.as_deref()),
        auth.and_then(|a| a.admin_key_sha256.as_deref()),
        cx,
        problems,
    );
    let ops = operator_key(
        "ops",
        auth.and_then(|a| a.ops_key_env.as_deref()),
        auth.and_then(|a| a.ops_key_sha256.as_deref()),
        cx,
        problems,
    );
    let budgets = super::BudgetSettings {
        warn_at: raw.budgets.warn_at,
        webhook: raw
            .budgets
            .webhook
            .as_ref()
            .and_then(|u| match reqwest::Url::parse(u) {
                Ok(url) => Some(url),
                Err(e) => {
                    problems.push(cx.problem(
                        "budgets.webhook",
                        Some("webhook"),
                        format!("not a URL: {e}"),
                    ));
                    None
                }
            }),
        reserve_completion_tokens: raw.budgets.reserve_completion_tokens,
    };
    if !(0.0..=1.0).contains(&raw.budgets.warn_at) {
        problems.push(cx.problem(
            "budgets.warn_at",
            Some("warn_at"),
            "must be a fraction between 0 and 1 (e.g. 0.8)",
        ));
    }
    let mut access = Access {
        mode,
        admin,
        ops,
        teams: raw
            .teams
            .iter()
            .map(|(n, l)| (Arc::from(n.as_str()), Limits::from(*l)))
            .collect(),
        global: raw.global.into(),
        budgets,
        ..Default::default()
    };
    if let Some(f) = keys_file {
        load_keys(f, raw, default_limits, &mut access, problems);
    }
    access
}

fn load_keys(
    f: &SourceFile,
    raw: &RawServer,
    default_limits: Limits,
    access: &mut Access,
    problems: &mut Vec<Problem>,
) {
    let entries: Vec<RawVirtualKey> = if f.text.trim().is_empty() {
        Vec::new()
    } else {
        match super::parse(&f.path, &f.text) {
            Ok(v) => v,
            Err(p) => {
                problems.push(p);
                return;
            }
        }
    };
    let mut ids = std::collections::HashSet::new();
    for (i, k) in entries.into_iter().enumerate() {
        let at = |field: &str, msg: String| {
            Problem::at(&f.path, &f.text, format!("[{i}].{field}"), Some(&k.id), msg)
        };
        if !ids.insert(k.id.clone()) {
            problems.push(at("id", format!("key id `{}` is listed twice", k.id)));
        }
        let Some(digest) = parse_digest(&k.sha256) else {
            problems.push(at("sha256", "must be 64 hex digits".into()));
            continue;
        };
        if k.disabled {
            continue;
        }
        let limits = match &k.tier {
            Some(t) => {
                if let Some(l) = raw.tiers.get(t) {
                    Limits::from(*l)
                } else {
                    problems.push(at("tier", format!("no tier `{t}` in the server file")));
                    continue;
                }
            }
            None => default_limits,
        };
        if let Some(team) = &k.team {
            access.teams.entry(Arc::from(team.as_str())).or_default();
        }
        access
            .by_prefix
            .entry(digest_prefix(&digest))
            .or_default()
            .push(access.keys.len());
        access.keys.push(VirtualKey {
            id: k.id.as_str().into(),
            digest,
            user: k.user.as_str().into(),
            team: k.team.as_deref().map(Arc::from),
            tier: k.tier.as_deref().map(Arc::from),
            limits,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_round_trip_through_hex() {
        let hex = sha256_hex("sk-sy-test");
        assert_eq!(parse_digest(&hex), Some(sha256("sk-sy-test")));
        assert_eq!(parse_digest("zz"), None);
    }
}
