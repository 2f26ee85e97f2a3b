//! The moderation pre-check's part of a ledger line.

/// The moderation part of a ledger line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ModerationRecord {
    /// The moderation model (`provider/model`).
    pub model: String,
    /// `passed`, `flagged` or `error` (no verdict: timeout or upstream failure).
    pub result: String,
    /// The flagged categories that counted under the policy.
    pub categories: Vec<String>,
    /// The verdict came from the in-process cache (no call, no cost).
    pub cached: bool,
    /// The call's cost at the moderation model's price (0 when cached or free).
    pub cost_usd: f64,
    /// What the check did: `none`, `refused`, `routed` (to the rule on the line),
    /// `failed_open` or `failed_closed`.
    pub action: String,
}
