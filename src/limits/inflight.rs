//! Counts budget settlements still running, so shutdown can let them land before exiting.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The number of settlements in flight.
#[derive(Debug, Default)]
pub struct InFlight(Arc<AtomicUsize>);

/// One settlement in flight; dropping it (done, or its task cancelled) counts it out.
#[derive(Debug)]
pub struct Settling(Arc<AtomicUsize>);

impl InFlight {
    /// Counts one settlement in, from the moment it is scheduled.
    pub fn start(&self) -> Settling {
        self.0.fetch_add(1, Ordering::SeqCst);
        Settling(Arc::clone(&self.0))
    }

    /// Waits until none is running or `max` has passed; returns how many are still running.
    pub async fn wait(&self, max: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let n = self.0.load(Ordering::SeqCst);
            if n == 0 || tokio::time::Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Settling {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_running_settlements_up_to_the_limit() {
        let f = InFlight::default();
        assert_eq!(f.wait(Duration::from_secs(1)).await, 0);
        let a = f.start();
        let b = f.start();
        drop(a);
        assert_eq!(f.wait(Duration::from_millis(50)).await, 1, "b still runs");
        let waiter = async { f.wait(Duration::from_secs(5)).await };
        let finisher = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(b);
        };
        let (left, ()) = tokio::join!(waiter, finisher);
        assert_eq!(left, 0);
    }
}
