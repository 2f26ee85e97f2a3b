//! Policy, server and virtual-key file texts shared by the feature tests, written once.

use switchyard::sha256_hex;

/// Policy `default` (alias `auto`) whose one rule `all` routes to `alpha/a-1`, also the
/// baseline: for tests of what happens around routing (auth, keys, limits, shared state).
pub const ALPHA: &str = "name: default
aliases: [auto]
baseline: alpha/a-1
rules:
  - name: all
    route: [alpha/a-1]
";

/// Policy `default` (alias `auto`) whose one rule `all` routes to `route` (a YAML list of
/// candidates, groups or weights), priced against `baseline`: the shape most tests need.
/// Policy-wide settings such as `pacing:` can be put in front of it.
pub fn route_all(baseline: &str, route: &str) -> String {
    format!(
        "name: default\naliases: [auto]\nbaseline: {baseline}\nrules:\n  - name: all\n    route: {route}\n"
    )
}

/// The start of a server file that requires virtual keys; more `auth:` fields (indented by two),
/// then `tiers:`, `budgets:` and the rest follow it.
pub const KEYS_AUTH: &str = "auth:\n  mode: keys\n";

/// One entry of a virtual-key file for `key` (stored as its SHA-256 only, as `keys add` does),
/// with its other fields inline, e.g. `user: ann, team: blue, tier: small`.
pub fn key_entry(id: &str, key: &str, fields: &str) -> String {
    format!("- {{id: {id}, sha256: {}, {fields}}}\n", sha256_hex(key))
}
