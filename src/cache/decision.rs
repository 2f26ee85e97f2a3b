//! Whether a request may read or write the response cache, from its body and headers.

use axum::http::{header, HeaderMap};
use serde_json::Value;

use super::key::{CacheKey, Partition};
use crate::config::Endpoint;
use crate::openai::ChatRequest;

/// The opt-in header: `on` caches a request that is not deterministic by its parameters,
/// `off` keeps any request out of the cache.
pub(super) const OPT_HEADER: &str = "x-switchyard-cache";

/// What the cache may do for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The cache is not consulted; the reason is a label for logs and metrics.
    Bypass(&'static str),
    /// Look the answer up under `key` when `read`, store the fresh answer when `write`.
    Use {
        key: CacheKey,
        read: bool,
        write: bool,
    },
}

/// Decides for `req` routed to `route_id`. Only deterministic requests are cached, since a
/// cached answer to a sampled request would silently remove the variety the caller asked for:
/// `temperature` exactly 0, embeddings, or the opt-in header. `Cache-Control: no-cache` skips
/// the lookup but stores the fresh answer; `no-store` skips both.
pub(crate) fn decide(
    req: &ChatRequest,
    partition: &Partition<'_>,
    headers: &HeaderMap,
) -> Decision {
    let opt = opt_in(headers);
    if opt == Some(false) {
        return Decision::Bypass("opted_out");
    }
    let (no_cache, no_store) = cache_control(headers);
    if no_store {
        return Decision::Bypass("no_store");
    }
    let deterministic = req.endpoint == Endpoint::Embeddings
        || opt == Some(true)
        || is_zero(req.body.get("temperature"));
    if !deterministic {
        return Decision::Bypass("not_deterministic");
    }
    Decision::Use {
        key: CacheKey::for_request(req, partition),
        read: !no_cache,
        write: true,
    }
}

fn is_zero(v: Option<&Value>) -> bool {
    v.and_then(Value::as_f64) == Some(0.0)
}

/// `Some(true)` for `on`, `Some(false)` for `off`, `None` when absent or unrecognised.
fn opt_in(headers: &HeaderMap) -> Option<bool> {
    let v = headers.get(OPT_HEADER)?.to_str().ok()?.trim();
    if v.eq_ignore_ascii_case("on") {
        Some(true)
    } else if v.eq_ignore_ascii_case("off") {
        Some(false)
    } else {
        None
    }
}

/// (`no-cache`, `no-store`) across every `Cache-Control` header.
fn cache_control(headers: &HeaderMap) -> (bool, bool) {
    let mut flags = (false, false);
    let directives = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for d in directives {
        let name = d.split('=').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("no-cache") {
            flags.0 = true;
        } else if name.eq_ignore_ascii_case("no-store") {
            flags.1 = true;
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn req(temperature: &str) -> ChatRequest {
        let body = format!(
            r#"{{"model":"auto","messages":[{{"role":"user","content":"hi"}}]{temperature}}}"#
        );
        ChatRequest::parse(body.as_bytes()).expect("valid request")
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn part(route: &str) -> Partition<'_> {
        Partition {
            route,
            scope: "global",
            policy: 0,
        }
    }

    fn rw(d: Decision) -> Option<(bool, bool)> {
        match d {
            Decision::Use { read, write, .. } => Some((read, write)),
            Decision::Bypass(_) => None,
        }
    }

    #[test]
    fn temperature_zero_reads_and_writes() {
        let d = decide(
            &req(r#","temperature":0,"n":3"#),
            &part("r"),
            &HeaderMap::new(),
        );
        assert_eq!(rw(d), Some((true, true)));
        assert_eq!(
            rw(decide(
                &req(r#","temperature":0.0"#),
                &part("r"),
                &HeaderMap::new()
            )),
            Some((true, true))
        );
    }

    #[test]
    fn sampled_requests_bypass_unless_opted_in() {
        for t in [r#","temperature":0.7"#, "", r#","temperature":"0""#] {
            assert_eq!(
                decide(&req(t), &part("r"), &HeaderMap::new()),
                Decision::Bypass("not_deterministic")
            );
        }
        let on = headers(&[(OPT_HEADER, "On")]);
        assert_eq!(
            rw(decide(&req(r#","temperature":0.7"#), &part("r"), &on)),
            Some((true, true))
        );
    }

    #[test]
    fn opt_out_and_no_store_bypass_even_at_temperature_zero() {
        let zero = req(r#","temperature":0"#);
        let off = headers(&[(OPT_HEADER, "off")]);
        assert_eq!(
            decide(&zero, &part("r"), &off),
            Decision::Bypass("opted_out")
        );
        let store = headers(&[("cache-control", "max-age=0, No-Store")]);
        assert_eq!(
            decide(&zero, &part("r"), &store),
            Decision::Bypass("no_store")
        );
    }

    #[test]
    fn no_cache_skips_the_lookup_but_stores() {
        let zero = req(r#","temperature":0"#);
        let h = headers(&[("cache-control", "private"), ("cache-control", "no-cache")]);
        assert_eq!(rw(decide(&zero, &part("r"), &h)), Some((false, true)));
    }

    #[test]
    fn embeddings_are_deterministic() {
        let emb = ChatRequest::parse_for(Endpoint::Embeddings, br#"{"model":"e","input":"hi"}"#)
            .expect("valid");
        assert_eq!(
            rw(decide(&emb, &part("e"), &HeaderMap::new())),
            Some((true, true))
        );
    }
}
