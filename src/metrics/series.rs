//! Metric handles remembered by their label values, so a series is registered once and every
//! later sample is an atomic update.
//!
//! The `metrics` macros look a series up in the recorder on every call, cloning each label into
//! a new key; with seven labels per request that was most of the ledger writer's time.

use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;

use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::lock::lock;

/// Handles of one metric (a `Counter`, `Gauge` or `Histogram`) by label values. Its size is
/// bounded by the label sets the router emits, which are low-cardinality by design.
pub(crate) struct Series<T> {
    by_hash: Mutex<FxHashMap<u64, Vec<Kept<T>>>>,
}

/// One registered series: its label values and its handle.
type Kept<T> = (Box<[Box<str>]>, T);

impl<T: Clone> Series<T> {
    pub(crate) fn new() -> Self {
        Self {
            by_hash: Mutex::default(),
        }
    }

    /// The handle for `values` (in the metric's label order), registered by `register` the
    /// first time these values are seen.
    pub(crate) fn get(&self, values: &[&str], register: impl FnOnce() -> T) -> T {
        // a recorder must be installed before a handle is kept, or it would stay a no-op
        super::handle();
        let mut h = FxBuildHasher.build_hasher();
        for v in values {
            h.write(v.as_bytes());
            h.write_u8(0xff);
        }
        let mut map = lock(&self.by_hash);
        let bucket = map.entry(h.finish()).or_default();
        let same = |kept: &[Box<str>]| {
            kept.len() == values.len() && kept.iter().zip(values).all(|(k, v)| **k == **v)
        };
        if let Some((_, handle)) = bucket.iter().find(|(kept, _)| same(kept)) {
            return handle.clone();
        }
        let handle = register();
        bucket.push((
            values.iter().map(|v| Box::from(*v)).collect(),
            handle.clone(),
        ));
        handle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn registers_each_label_set_once() {
        let series = Series::new();
        let made = Cell::new(0);
        let make = || {
            made.set(made.get() + 1);
            made.get()
        };
        assert_eq!(series.get(&["a", "b"], make), 1);
        assert_eq!(series.get(&["a", "b"], make), 1);
        // the separator keeps ["ab", ""] apart from ["a", "b"]
        assert_eq!(series.get(&["ab", ""], make), 2);
        assert_eq!(series.get(&["a"], make), 3);
        assert_eq!(series.get(&["a", "b"], make), 1);
        assert_eq!(made.get(), 3);
    }
}
