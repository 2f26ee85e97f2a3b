//! Locking a std mutex that guards a small state machine, where a poisoned lock still holds valid state.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering the guard if another thread panicked while holding it: every state
/// guarded this way is updated in one step, so it is never left half-written.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
