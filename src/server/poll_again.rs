//! Polls a connection's future again at once when it wakes itself while being polled.
//!
//! A hyper connection wakes its own task in the middle of a poll on every request: the request
//! body is handed from the connection's reader to the handler, both in the same task, through
//! a channel whose signals wake that task. Tokio then re-queues the task as if it had yielded,
//! at the back of the worker's queue, and wakes an idle worker to come and steal it: a futex
//! wake-up, two context switches and often a hop to the other worker, for work the current
//! worker was about to do anyway. [`poll_again`] gives the future a waker of its own: a wake
//! that arrives while the future is being polled only asks for one more poll, done straight
//! away (at most [`ROUNDS`] in a row, then the task yields as before); any other wake is passed
//! on to the task's waker.
//!
//! States: `IDLE` (not being polled: a wake goes to the task), `POLLING`, `WOKEN` (woken while
//! being polled). A poll sets `POLLING`, and after it moves `POLLING` back to `IDLE`; finding
//! `WOKEN` instead, it polls again. A wake moves `POLLING` to `WOKEN`, or wakes the task when
//! `IDLE`, so no wake-up is lost whichever thread it comes from.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Polls in a row for one wake-up of the task, after which a future that keeps waking itself
/// yields to the scheduler (as a self-woken task always does), so others get their turn.
const ROUNDS: usize = 8;

const IDLE: u8 = 0;
const POLLING: u8 = 1;
const WOKEN: u8 = 2;

/// The state shared by the inner future's waker and the poll.
#[derive(Default)]
struct Shared {
    state: AtomicU8,
    /// The task's own waker, for wakes that arrive between polls.
    task: AtomicWaker,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) | Err(WOKEN) => {}
            Err(_) => self.task.wake(),
        }
    }
}

/// `fut`, polled again in place when it wakes itself during a poll (see the module doc).
pub(crate) async fn poll_again<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let shared = Arc::new(Shared::default());
    let waker = Waker::from(Arc::clone(&shared));
    std::future::poll_fn(move |cx| {
        shared.task.register(cx.waker());
        let mut inner = Context::from_waker(&waker);
        for _ in 0..ROUNDS {
            shared.state.store(POLLING, Ordering::Release);
            let polled = fut.as_mut().poll(&mut inner);
            let woken = shared
                .state
                .compare_exchange(POLLING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                .is_err();
            if polled.is_ready() || !woken {
                shared.state.store(IDLE, Ordering::Release);
                return polled;
            }
        }
        shared.state.store(IDLE, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Pending `n` times, waking itself during each of those polls; counts its polls.
    struct SelfWaking<'a> {
        left: usize,
        polls: &'a AtomicUsize,
    }

    impl Future for SelfWaking<'_> {
        type Output = &'static str;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            if self.left == 0 {
                return Poll::Ready("done");
            }
            self.left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    /// A waker counting how often the task was woken.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn self_wakes_are_polled_in_place_then_the_task_yields_after_the_rounds() {
        let polls = AtomicUsize::new(0);
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(Arc::clone(&woken));
        let mut cx = Context::from_waker(&task);
        let mut fut = pin!(poll_again(SelfWaking {
            left: ROUNDS + 2,
            polls: &polls,
        }));
        // the first task poll absorbs ROUNDS self-wakes, then yields: one wake of the task
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::Relaxed), ROUNDS);
        assert_eq!(woken.0.load(Ordering::Relaxed), 1);
        // the second finishes without waking the task again
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready("done"));
        assert_eq!(polls.load(Ordering::Relaxed), ROUNDS + 3);
        assert_eq!(woken.0.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_from_other_tasks_between_polls_reach_the_task() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
        let sum = tokio::spawn(poll_again(async move {
            let mut sum = 0;
            while let Some(n) = rx.recv().await {
                sum += n;
            }
            sum
        }));
        for n in 1..=1000 {
            tx.send(n).await.unwrap();
        }
        drop(tx);
        assert_eq!(sum.await.unwrap(), 500_500);
    }
}
