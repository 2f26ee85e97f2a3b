//! Spend settled locally while Redis was unreachable, kept (bounded) to be replayed into Redis
//! once it answers again, so an outage loses no spend.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::subject::BudgetRef;
use crate::lock::lock;

/// At most this many settlements wait; beyond it the oldest are dropped (and logged).
pub(super) const MAX_PENDING: usize = 10_000;

/// One settlement Redis has not seen.
#[derive(Debug, Clone)]
pub(super) struct PendingSpend {
    pub budgets: Vec<BudgetRef>,
    /// The Redis reservation to release, if the hold was made there.
    pub member: Option<String>,
    /// Micro-dollars.
    pub actual: u64,
}

/// The queue of settlements to replay.
#[derive(Default)]
pub(super) struct Replay {
    items: Mutex<VecDeque<PendingSpend>>,
    len: AtomicUsize,
    dropped: AtomicUsize,
}

impl Replay {
    /// How many settlements wait (a lock-free read, so the common case costs nothing).
    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Queues one settlement, dropping the oldest when full.
    pub(super) fn push(&self, p: PendingSpend) {
        let mut q = lock(&self.items);
        if q.len() >= MAX_PENDING {
            q.pop_front();
            if self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    max = MAX_PENDING,
                    "too much spend settled while redis is unreachable; the oldest is no longer kept for replay"
                );
            }
        }
        q.push_back(p);
        self.len.store(q.len(), Ordering::Relaxed);
    }

    /// Takes everything queued (so one caller replays it).
    pub(super) fn take(&self) -> VecDeque<PendingSpend> {
        let mut q = lock(&self.items);
        self.len.store(0, Ordering::Relaxed);
        std::mem::take(&mut *q)
    }

    /// Puts back what could not be replayed, ahead of anything queued since.
    pub(super) fn put_back(&self, mut rest: VecDeque<PendingSpend>) {
        if rest.is_empty() {
            return;
        }
        let mut q = lock(&self.items);
        rest.extend(q.drain(..));
        while rest.len() > MAX_PENDING {
            rest.pop_front();
        }
        *q = rest;
        self.len.store(q.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(actual: u64) -> PendingSpend {
        PendingSpend {
            budgets: Vec::new(),
            member: None,
            actual,
        }
    }

    #[test]
    fn bounded_and_order_kept_across_put_back() {
        let r = Replay::default();
        for i in 0..(MAX_PENDING as u64 + 5) {
            r.push(spend(i));
        }
        assert_eq!(r.len(), MAX_PENDING);
        let mut all = r.take();
        assert_eq!(r.len(), 0);
        assert_eq!(
            all.front().map(|p| p.actual),
            Some(5),
            "the oldest went first"
        );
        let rest = all.split_off(1);
        r.push(spend(99));
        r.put_back(rest);
        let q = r.take();
        assert_eq!(q.front().map(|p| p.actual), Some(6));
        assert_eq!(q.back().map(|p| p.actual), Some(99));
    }
}
