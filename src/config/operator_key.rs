//! The keys operators hold for the router's own endpoints: admin (`/admin/*`) and ops
//! (metrics, detailed health, the dashboard's data).

use super::access::{parse_digest, sha256, AccessCtx};
use super::Problem;

/// How one operator key is configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum OperatorKey {
    /// Not configured.
    #[default]
    None,
    /// The SHA-256 of the key (read from its variable, or given as `*_key_sha256`).
    Digest([u8; 32]),
    /// `*_key_env` names a variable that is not set: every call is refused, and the operator
    /// is told which variable to set.
    Unset { var: String },
}

impl OperatorKey {
    /// The digest to compare a presented key with.
    pub(crate) fn digest(&self) -> Option<&[u8; 32]> {
        match self {
            Self::Digest(d) => Some(d),
            _ => None,
        }
    }

    pub(crate) fn is_configured(&self) -> bool {
        !matches!(self, Self::None)
    }
}

/// The `role` key (`admin` or `ops`) from its `*_key_env` variable or `*_key_sha256` digest.
pub(super) fn operator_key(
    role: &str,
    env: Option<&str>,
    sha: Option<&str>,
    cx: &AccessCtx<'_>,
    problems: &mut Vec<Problem>,
) -> OperatorKey {
    if let Some(var) = env {
        return match (cx.env)(var) {
            Some(v) if !v.is_empty() => OperatorKey::Digest(sha256(&v)),
            _ => OperatorKey::Unset { var: var.into() },
        };
    }
    let Some(hex) = sha else {
        return OperatorKey::None;
    };
    if let Some(d) = parse_digest(hex) {
        return OperatorKey::Digest(d);
    }
    problems.push(cx.problem(
        &format!("auth.{role}_key_sha256"),
        Some(&format!("{role}_key_sha256")),
        format!("must be 64 hex digits (SHA-256 of the {role} key)"),
    ));
    OperatorKey::None
}
