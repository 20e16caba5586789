//! Work that waits in one queue and is served in batches by at most a few blocking runners:
//! what lets concurrent cache misses share one lookup query ([`crate::key_lookups`]) and
//! concurrent creates share one transaction ([`crate::key_creates`]).
//!
//! **Key decision: no timer and no waiting for a batch to fill.** An item that arrives while
//! fewer than [`BatchSettings::max_concurrent`] runners run starts one at once and is served
//! alone; items that arrive while every runner is busy wait, and the next runner that is free
//! takes all of them (up to [`BatchSettings::max_batch`]). So a lone request never waits for
//! company, and under load the batches grow by themselves with the load. The number of runners
//! also bounds the database work the queue causes: each holds at most one pooled connection.

use std::sync::{Arc, Mutex, MutexGuard};

/// How a queue is served (`[key_lookups]` and `[key_creates]` in the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Most runners serving the queue at once (each holds one pooled connection).
    pub max_concurrent: usize,
    /// Most items one batch takes.
    pub max_batch: usize,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            max_concurrent: 2,
            max_batch: 64,
        }
    }
}

/// The waiting items of one kind and the runners serving them.
#[derive(Debug)]
pub(crate) struct BatchQueue<T> {
    settings: BatchSettings,
    queue: Mutex<Waiting<T>>,
}

#[derive(Debug)]
struct Waiting<T> {
    items: Vec<T>,
    runners: usize,
}

impl<T: Send + 'static> BatchQueue<T> {
    /// Nothing waiting; `settings` are validated by the caller (both at least 1).
    pub(crate) fn new(settings: BatchSettings) -> Self {
        BatchQueue {
            settings: BatchSettings {
                max_concurrent: settings.max_concurrent.max(1),
                max_batch: settings.max_batch.max(1),
            },
            queue: Mutex::new(Waiting {
                items: Vec::new(),
                runners: 0,
            }),
        }
    }

    /// Queues `item`; when fewer than `max_concurrent` runners run, starts one on the blocking
    /// thread pool, which calls `serve` with batches until none waits. `serve` must answer
    /// every item it is given; an item left in the queue by a runner that panicked is dropped
    /// (its answer channel closes) if no other runner is left to serve it.
    pub(crate) fn submit(self: &Arc<Self>, item: T, serve: impl Fn(Vec<T>) + Send + 'static) {
        if self.enqueue(item) {
            let mut runner = Runner {
                queue: Arc::clone(self),
                done: false,
            };
            tokio::task::spawn_blocking(move || runner.serve_until_empty(serve));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Waiting<T>> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `item`; returns whether the caller must start a runner (fewer than
    /// `max_concurrent` run).
    fn enqueue(&self, item: T) -> bool {
        let mut queue = self.lock();
        queue.items.push(item);
        if queue.runners < self.settings.max_concurrent {
            queue.runners += 1;
            true
        } else {
            false
        }
    }

    /// The next batch for a runner: the oldest waiting items, at most `max_batch`. Empty when
    /// none waits, and then the runner has stopped (counted under the same lock, so an item
    /// queued after this starts a runner of its own).
    fn next_batch(&self) -> Vec<T> {
        let mut queue = self.lock();
        if queue.items.is_empty() {
            queue.runners -= 1;
            return Vec::new();
        }
        let take = queue.items.len().min(self.settings.max_batch);
        queue.items.drain(..take).collect()
    }

    /// A runner ended without reaching an empty queue (it panicked, or its runtime shut down
    /// before it ran): it no longer counts, and if no other runner is left, the items it would
    /// have served are dropped, so that their callers are told rather than left waiting for
    /// the next item to start a runner.
    fn runner_lost(&self) {
        let mut queue = self.lock();
        queue.runners -= 1;
        if queue.runners == 0 {
            queue.items.clear();
        }
    }
}

/// One runner's claim on [`Waiting::runners`]: released by [`BatchQueue::next_batch`] when the
/// queue is empty, or by [`BatchQueue::runner_lost`] when the runner ends otherwise.
struct Runner<T: Send + 'static> {
    queue: Arc<BatchQueue<T>>,
    done: bool,
}

impl<T: Send + 'static> Runner<T> {
    fn serve_until_empty(&mut self, serve: impl Fn(Vec<T>)) {
        loop {
            let batch = self.queue.next_batch();
            if batch.is_empty() {
                break;
            }
            serve(batch);
        }
        self.done = true;
    }
}

impl<T: Send + 'static> Drop for Runner<T> {
    fn drop(&mut self) {
        if !self.done {
            self.queue.runner_lost();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;

    fn waiting<T: Send + 'static>(queue: &BatchQueue<T>) -> (usize, usize) {
        let queue = queue.lock();
        (queue.items.len(), queue.runners)
    }

    #[test]
    fn runners_start_up_to_the_limit_and_then_items_wait_for_the_next_batch() {
        let queue = BatchQueue::new(BatchSettings {
            max_concurrent: 2,
            max_batch: 3,
        });
        let started: Vec<bool> = (0..6).map(|item| queue.enqueue(item)).collect();
        // The first two start a runner each; the rest wait for one of them.
        assert_eq!(started, [true, true, false, false, false, false]);
        assert_eq!(waiting(&queue), (6, 2));
        // Batches are the oldest items, at most max_batch.
        assert_eq!(queue.next_batch(), [0, 1, 2]);
        assert_eq!(queue.next_batch(), [3, 4, 5]);
        // With nothing left, each runner stops, and the next item starts one again.
        assert!(queue.next_batch().is_empty());
        assert_eq!(waiting(&queue), (0, 1));
        assert!(queue.next_batch().is_empty());
        assert_eq!(waiting(&queue), (0, 0));
        assert!(queue.enqueue(6));
    }

    #[test]
    fn a_lost_runner_stops_counting_and_the_last_one_lets_no_item_wait_forever() {
        let queue = BatchQueue::new(BatchSettings {
            max_concurrent: 2,
            max_batch: 8,
        });
        let mut answers = Vec::new();
        for _ in 0..3 {
            let (answer, answered) = oneshot::channel::<()>();
            queue.enqueue(answer);
            answers.push(answered);
        }
        assert_eq!(waiting(&queue), (3, 2));
        // One runner panics: the other still serves the queue.
        queue.runner_lost();
        assert_eq!(waiting(&queue), (3, 1));
        assert!(answers.iter_mut().all(|answered| matches!(
            answered.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )));
        // The last one goes too: the waiting callers are told, and the next starts a runner.
        queue.runner_lost();
        assert_eq!(waiting(&queue), (0, 0));
        for mut answered in answers {
            assert!(matches!(
                answered.try_recv(),
                Err(oneshot::error::TryRecvError::Closed)
            ));
        }
        let (answer, _answered) = oneshot::channel();
        assert!(queue.enqueue(answer));
    }

    #[tokio::test]
    async fn submitted_items_are_all_served_and_the_runners_stop() {
        let queue = Arc::new(BatchQueue::new(BatchSettings {
            max_concurrent: 2,
            max_batch: 4,
        }));
        let mut answers = Vec::new();
        for item in 0..50_u32 {
            let (answer, answered) = oneshot::channel();
            queue.submit((item, answer), |batch: Vec<(u32, oneshot::Sender<u32>)>| {
                for (item, answer) in batch {
                    let _ = answer.send(item * 2);
                }
            });
            answers.push(answered);
        }
        for (item, answered) in (0..50_u32).zip(answers) {
            assert_eq!(answered.await.unwrap(), item * 2);
        }
        // The runners stop once the queue is empty (shortly after the last answer).
        for _ in 0..100 {
            if waiting(&queue) == (0, 0) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the runners did not stop: {:?}", waiting(&queue));
    }
}
