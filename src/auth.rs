//! Authenticates a request's virtual key (`Authorization: Bearer …`) into the tenant it acts for.

use std::sync::Arc;

use axum::http::{header, HeaderMap};

use crate::config::{digest_prefix, sha256, Access, AuthMode, Limits, OperatorKey};
use crate::error::ApiError;

/// Who a request acts for, and the limits that apply to them.
#[derive(Debug, Clone, Default)]
pub struct Tenant {
    /// The key's loggable id; `None` in open mode.
    pub key_id: Option<Arc<str>>,
    pub user: Option<Arc<str>>,
    pub team: Option<Arc<str>>,
    /// Per-user limits from the key's tier.
    pub limits: Limits,
}

/// The tenant behind a request's bearer key; in open mode an anonymous tenant.
pub fn authenticate(access: &Access, headers: &HeaderMap) -> Result<Tenant, ApiError> {
    if access.mode == AuthMode::Open {
        return Ok(Tenant::default());
    }
    let Some(presented) = bearer(headers) else {
        crate::metrics::auth_failure("missing");
        return Err(ApiError::Unauthorized {
            message: "You didn't provide an API key. Send your Switchyard virtual key as `Authorization: Bearer <key>` (the OpenAI SDKs do this with api_key).".into(),
            code: "missing_api_key",
        });
    };
    if let Some(i) = find(access, presented) {
        let k = &access.keys[i];
        Ok(Tenant {
            key_id: Some(k.id.clone()),
            user: Some(k.user.clone()),
            team: k.team.clone(),
            limits: k.limits,
        })
    } else {
        crate::metrics::auth_failure("unknown");
        let message = if access.keys.is_empty() {
            "Incorrect API key provided. No virtual keys are configured on this router: create one with `switchyard keys create`."
        } else {
            "Incorrect API key provided. Use a virtual key issued for this router."
        };
        Err(ApiError::Unauthorized {
            message: message.into(),
            code: "invalid_api_key",
        })
    }
}

/// Which operator endpoints a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// `/admin/*`: the admin key.
    Admin,
    /// `/metrics*`, `/health/detailed`, the dashboard's data: the ops key or the admin key.
    Ops,
}

/// Checks an operator key. A configured key must be presented as `Authorization: Bearer`;
/// with none configured the endpoints are open only in open mode (keys mode refuses them, so
/// nothing about providers, keys or spend is shown to anyone who can reach the port).
pub(crate) fn authorize(access: &Access, role: Role, headers: &HeaderMap) -> Result<(), ApiError> {
    let keys: &[&OperatorKey] = match role {
        Role::Admin => &[&access.admin],
        Role::Ops => &[&access.ops, &access.admin],
    };
    let presented = bearer(headers).map(sha256);
    let matches = |k: &&OperatorKey| {
        k.digest()
            .zip(presented.as_ref())
            .is_some_and(|(want, got)| constant_time_eq(want, got))
    };
    let configured = keys.iter().any(|k| k.is_configured());
    if keys.iter().any(matches) || (!configured && access.mode == AuthMode::Open) {
        return Ok(());
    }
    crate::metrics::auth_failure(match role {
        Role::Admin => "admin",
        Role::Ops => "ops",
    });
    let (what, var_hint) = match role {
        Role::Admin => ("Admin endpoints", "`auth.admin_key_env`"),
        Role::Ops => (
            "Operational endpoints",
            "`auth.ops_key_env` (or `auth.admin_key_env`), or serve them on `ops_listen`",
        ),
    };
    let unset = keys.iter().find_map(|k| match k {
        OperatorKey::Unset { var } => Some(var.as_str()),
        _ => None,
    });
    let message = match (configured, unset) {
        (_, Some(var)) if !keys.iter().any(|k| k.digest().is_some()) => format!(
            "{what} are disabled: the key variable `{var}` is not set in the router's environment."
        ),
        (false, _) => format!("{what} are disabled: set {var_hint} in the server file."),
        _ => format!("{what} need the operator key as `Authorization: Bearer <key>`."),
    };
    Err(ApiError::Unauthorized {
        message,
        code: "invalid_api_key",
    })
}

/// The tenant behind a request's key without refusing or counting anything: the Responses
/// surface needs it to find stored conversations before the pipeline authenticates (and, on a
/// bad key, refuses and records) the request itself.
pub(crate) fn identify(access: &Access, headers: &HeaderMap) -> Option<Tenant> {
    if access.mode == AuthMode::Open {
        return Some(Tenant::default());
    }
    let k = &access.keys[find(access, bearer(headers)?)?];
    Some(Tenant {
        key_id: Some(k.id.clone()),
        user: Some(k.user.clone()),
        team: k.team.clone(),
        limits: k.limits,
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The index of the key whose digest equals the presented key's; digests are compared in
/// constant time, and only keys sharing the digest's first 8 bytes are compared at all.
fn find(access: &Access, presented: &str) -> Option<usize> {
    let digest = sha256(presented);
    let mut found = None;
    for &i in access.by_prefix.get(&digest_prefix(&digest))? {
        if constant_time_eq(&access.keys[i].digest, &digest) {
            found = Some(i);
        }
    }
    found
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VirtualKey;
    use axum::http::HeaderValue;

    fn access_with(secret: &str) -> Access {
        let digest = sha256(secret);
        let mut a = Access {
            mode: AuthMode::Keys,
            ..Default::default()
        };
        a.by_prefix.insert(digest_prefix(&digest), vec![0]);
        a.keys.push(VirtualKey {
            id: "alice-1".into(),
            digest,
            user: "alice".into(),
            team: Some("research".into()),
            tier: Some("pro".into()),
            limits: Limits {
                rpm: Some(5),
                ..Default::default()
            },
        });
        a
    }

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn known_key_maps_to_its_tenant() {
        let a = access_with("sk-sy-good");
        let t = authenticate(&a, &headers("Bearer sk-sy-good")).unwrap();
        assert_eq!(t.user.as_deref(), Some("alice"));
        assert_eq!(t.team.as_deref(), Some("research"));
        assert_eq!(t.limits.rpm, Some(5));
        let t = authenticate(&a, &headers("bearer   sk-sy-good ")).unwrap();
        assert_eq!(t.key_id.as_deref(), Some("alice-1"));
    }

    #[test]
    fn missing_or_unknown_keys_are_401_without_echoing_the_key() {
        let a = access_with("sk-sy-good");
        for h in [
            HeaderMap::new(),
            headers("Bearer"),
            headers("Basic sk-sy-good"),
            headers("Bearer sk-sy-bad-secret"),
        ] {
            let e = authenticate(&a, &h).unwrap_err();
            assert_eq!(e.status_code(), axum::http::StatusCode::UNAUTHORIZED);
            assert!(!e.body().to_string().contains("sk-sy"), "{}", e.body());
        }
    }

    #[test]
    fn open_mode_lets_everyone_in_and_admin_needs_its_key() {
        let mut a = access_with("sk-sy-good");
        a.mode = AuthMode::Open;
        assert!(authenticate(&a, &HeaderMap::new()).is_ok());
        assert!(authorize(&a, Role::Admin, &HeaderMap::new()).is_ok());
        a.mode = AuthMode::Keys;
        assert!(authorize(&a, Role::Admin, &headers("Bearer anything")).is_err());
        a.admin = OperatorKey::Digest(sha256("admin-secret"));
        assert!(authorize(&a, Role::Admin, &headers("Bearer admin-secret")).is_ok());
        assert!(authorize(&a, Role::Admin, &headers("Bearer admin-secreT")).is_err());
        assert!(authorize(&a, Role::Admin, &HeaderMap::new()).is_err());
    }

    #[test]
    fn ops_endpoints_take_the_ops_or_admin_key_and_say_why_not() {
        let mut a = access_with("sk-sy-good");
        let e = authorize(&a, Role::Ops, &HeaderMap::new()).unwrap_err();
        assert!(e.to_string().contains("ops_listen"), "{e}");
        a.ops = OperatorKey::Digest(sha256("ops-secret"));
        a.admin = OperatorKey::Digest(sha256("admin-secret"));
        assert!(authorize(&a, Role::Ops, &headers("Bearer ops-secret")).is_ok());
        assert!(authorize(&a, Role::Ops, &headers("Bearer admin-secret")).is_ok());
        assert!(authorize(&a, Role::Admin, &headers("Bearer ops-secret")).is_err());
        assert!(authorize(&a, Role::Ops, &headers("Bearer sk-sy-good")).is_err());
        a.admin = OperatorKey::Unset {
            var: "SWITCHYARD_ADMIN_KEY".into(),
        };
        let e = authorize(&a, Role::Admin, &HeaderMap::new()).unwrap_err();
        assert!(e.to_string().contains("SWITCHYARD_ADMIN_KEY"), "{e}");
    }
}
