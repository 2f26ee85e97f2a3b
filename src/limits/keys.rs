//! Redis key names of buckets and budgets, safe whatever characters user and team names hold.
//!
//! Layout (after `{prefix}:`, braces included: the prefix is the Redis Cluster hash tag):
//! - `rl:{scope}:{name}:{limit}`: a bucket's TAT (µs of Redis time), e.g. `rl:user:ann:rpm`;
//! - `budget:{scope}:{name}:{period_id}`: a hash of `spent` and `reserved` micro-dollars;
//! - `budget:{scope}:{name}:{period_id}:holds`: the reservations in flight, a sorted set of
//!   `{id}:{amount}` scored by when each lapses (ms of Redis time).
//!
//! Names keep `[A-Za-z0-9_.@-]` and percent-encode every other byte (so `:`, `{` and spaces
//! cannot split or tag a key); a name whose encoding exceeds 100 bytes becomes `#` and a
//! SHA-256 prefix. Global counters use the name `all`.

use std::borrow::Cow;

use super::subject::{BudgetRef, RateRule};
use crate::shared::Shared;

const MAX_NAME: usize = 100;

fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'@' | b'-')
}

/// A name as it appears in keys.
pub(super) fn escape(name: &str) -> Cow<'_, str> {
    if name.len() <= MAX_NAME && name.bytes().all(plain) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if plain(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > MAX_NAME {
        let hex = crate::config::sha256_hex(name);
        return Cow::Owned(format!("#{}", &hex[..32]));
    }
    Cow::Owned(out)
}

/// The key of a rule's bucket.
pub(super) fn rate(sh: &Shared, r: &RateRule) -> String {
    sh.key(&format!(
        "rl:{}:{}:{}",
        r.scope.as_str(),
        escape(&r.name),
        r.limit.as_str()
    ))
}

/// The keys of a budget's hash and of its reservations.
pub(super) fn budget(sh: &Shared, b: &BudgetRef) -> (String, String) {
    let base = sh.key(&format!(
        "budget:{}:{}:{}",
        b.scope.as_str(),
        escape(&b.name),
        b.period_id
    ));
    let holds = format!("{base}:holds");
    (base, holds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_keys() {
        assert_eq!(escape("ann.b-c@x_1"), "ann.b-c@x_1");
        assert_eq!(escape("a:b"), "a%3Ab");
        assert_eq!(escape("{t} x"), "%7Bt%7D%20x");
        assert_eq!(escape("é"), "%C3%A9");
        assert_ne!(
            escape("a:b"),
            escape("a%3Ab"),
            "the escape character is escaped too"
        );
        let long = escape(&":".repeat(200)).into_owned();
        assert!(long.starts_with('#') && long.len() == 33, "{long}");
        assert_ne!(long, escape(&":".repeat(201)));
    }
}
