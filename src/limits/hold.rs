//! A budget reservation a request carries until it settles its actual cost.

use std::time::{Duration, SystemTime};

use super::budget::usd;
use super::subject::{BudgetRef, Subject};

/// How long a reservation counts if its request never settles (the instance died, or the
/// settle was lost); a request running longer settles its spend but no longer holds budget.
pub(crate) const HOLD_TTL: Duration = Duration::from_secs(600);

/// Where a hold's reservation is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// Nothing was reserved: settling only adds spend.
    Unreserved,
    /// In this instance's accounts (no Redis, or Redis was down when reserving).
    Local,
    /// In Redis.
    Shared,
}

/// A reservation on every budget of a subject, for the period it was made in; hand it to
/// [`super::Limiter::settle`] once the cost is known (it may be moved to a spawned task).
#[derive(Debug)]
#[must_use = "settle the hold, or its reservation counts until it lapses"]
pub struct Hold {
    pub(super) id: u64,
    pub(super) budgets: Vec<BudgetRef>,
    /// Micro-dollars reserved on each budget.
    pub(super) amount: u64,
    pub(super) place: Place,
}

impl Hold {
    pub(super) fn new(budgets: Vec<BudgetRef>, amount: u64, place: Place) -> Self {
        Self {
            id: rand::random(),
            budgets,
            amount,
            place,
        }
    }

    /// A hold reserving nothing, for requests let through without a reservation (policy
    /// `degrade`): settling it still charges the subject's budgets of the period of `now`.
    pub fn unreserved(subject: &Subject, now: SystemTime) -> Self {
        Self::new(subject.budget_refs(now), 0, Place::Unreserved)
    }

    /// Whether no budget applies (settling it does nothing).
    pub fn is_empty(&self) -> bool {
        self.budgets.is_empty()
    }

    /// The USD reserved on each budget.
    pub fn reserved_usd(&self) -> f64 {
        if self.place == Place::Unreserved {
            0.0
        } else {
            usd(self.amount)
        }
    }

    /// The reservation's name in Redis: unique, and carrying its amount so an expired one
    /// can be subtracted without another lookup.
    pub(super) fn member(&self) -> String {
        format!("{:016x}:{}", self.id, self.amount)
    }
}
