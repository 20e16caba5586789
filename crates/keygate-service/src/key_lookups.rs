//! Looking up the keys that checks did not find in the check cache: concurrent lookups share
//! one query, and at most a few queries run at once.
//!
//! **Key decision:** a check that misses the cache does not get a database call of its own. It
//! waits in one queue; at most [`KeyLookupSettings::max_concurrent`] runners (blocking tasks,
//! each with a pooled connection) take every waiting id, up to
//! [`KeyLookupSettings::max_batch`], and read them at once ([`api_keys::get_many_by_id`]: one
//! statement on Postgres). When checks arrive one at a time, each is looked up at once,
//! alone, so nothing waits for a batch to fill; under load, the lookups that arrive while the
//! runners are busy go together in the next query. This bounds the database work that misses
//! cause, whatever their number: a flood of distinct well-formed keys that do not exist
//! (nothing tells them apart from real keys before the lookup) costs at most `max_concurrent`
//! statements at a time and leaves the rest of the pool to everything else, and it shares
//! each query with the real keys' lookups instead of queueing them behind its own. The same id
//! asked for by several checks at once is read once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use keygate_domain::{ApiKey, ApiKeyId};
use keygate_storage::repo::api_keys;
use keygate_storage::StorageError;
use tokio::sync::oneshot;

use crate::check_cache::CacheTicket;
use crate::error::ServiceError;
use crate::service::Service;

/// How misses of the check cache are looked up (`[key_lookups]` in the settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyLookupSettings {
    /// Most lookup queries running at once (each holds one pooled connection).
    pub max_concurrent: usize,
    /// Most ids one query reads.
    pub max_batch: usize,
}

impl Default for KeyLookupSettings {
    fn default() -> Self {
        KeyLookupSettings {
            max_concurrent: 2,
            max_batch: 64,
        }
    }
}

/// What a waiting check is told: the key if it exists and the check cache's ticket taken before
/// the query (the check stores the answer itself, so that the runner goes on to the next query
/// at once), or the query's failure (shared by every check of the batch).
type LookupAnswer = Result<(Option<Arc<ApiKey>>, CacheTicket), Arc<StorageError>>;

/// The waiting lookups and the runners serving them.
#[derive(Debug)]
pub struct KeyLookups {
    settings: KeyLookupSettings,
    queue: Mutex<LookupQueue>,
}

#[derive(Debug, Default)]
struct LookupQueue {
    waiting: Vec<(ApiKeyId, oneshot::Sender<LookupAnswer>)>,
    runners: usize,
}

impl KeyLookups {
    /// No lookup waiting; `settings` are validated by the caller (both at least 1).
    pub fn new(settings: KeyLookupSettings) -> Self {
        KeyLookups {
            settings: KeyLookupSettings {
                max_concurrent: settings.max_concurrent.max(1),
                max_batch: settings.max_batch.max(1),
            },
            queue: Mutex::new(LookupQueue::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LookupQueue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `id`; returns whether the caller must start a runner (fewer than
    /// `max_concurrent` run).
    fn enqueue(&self, id: ApiKeyId, answer: oneshot::Sender<LookupAnswer>) -> bool {
        let mut queue = self.lock();
        queue.waiting.push((id, answer));
        if queue.runners < self.settings.max_concurrent {
            queue.runners += 1;
            true
        } else {
            false
        }
    }

    /// The next batch for a runner: the oldest waiting lookups, at most `max_batch`. Empty
    /// when none waits, and then the runner has stopped (counted under the same lock, so a
    /// lookup queued after this starts a runner of its own).
    fn next_batch(&self) -> Vec<(ApiKeyId, oneshot::Sender<LookupAnswer>)> {
        let mut queue = self.lock();
        if queue.waiting.is_empty() {
            queue.runners -= 1;
            return Vec::new();
        }
        let take = queue.waiting.len().min(self.settings.max_batch);
        queue.waiting.drain(..take).collect()
    }

    /// A runner ended without reaching an empty queue (it panicked, or its runtime shut down
    /// before it ran): it no longer counts, and if no other runner is left, the lookups it
    /// would have served are told that their lookup stopped, rather than waiting for the next
    /// lookup to start a runner.
    fn runner_lost(&self) {
        let mut queue = self.lock();
        queue.runners -= 1;
        if queue.runners == 0 {
            queue.waiting.clear();
        }
    }
}

/// One runner's claim on [`LookupQueue::runners`]: released by [`KeyLookups::next_batch`] when
/// the queue is empty, or by [`KeyLookups::runner_lost`] when the runner ends otherwise.
struct Runner {
    service: Service,
    done: bool,
}

impl Runner {
    fn run(&mut self) {
        self.service.run_key_lookups();
        self.done = true;
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if !self.done {
            self.service.key_lookups().runner_lost();
        }
    }
}

impl Service {
    /// The stored key `id` (in any project; the caller compares), read through the batched
    /// lookups, and remembered by the check cache (found or not) on the caller's thread.
    pub(crate) async fn look_up_key(
        &self,
        id: ApiKeyId,
    ) -> Result<Option<Arc<ApiKey>>, ServiceError> {
        let (answer, answered) = oneshot::channel();
        if self.key_lookups().enqueue(id, answer) {
            let mut runner = Runner {
                service: self.clone(),
                done: false,
            };
            tokio::task::spawn_blocking(move || runner.run());
        }
        match answered.await {
            Ok(Ok((key, ticket))) => {
                self.check_cache().store(ticket, id, key.as_deref());
                Ok(key)
            }
            Ok(Err(error)) => Err(ServiceError::SharedStorage(error)),
            Err(_) => Err(ServiceError::Internal(
                "the key lookup stopped without an answer".to_owned(),
            )),
        }
    }

    /// A runner: reads batches until none waits (then [`KeyLookups::next_batch`] has released
    /// its claim).
    fn run_key_lookups(&self) {
        loop {
            let batch = self.key_lookups().next_batch();
            if batch.is_empty() {
                return;
            }
            let ids: Vec<ApiKeyId> = batch.iter().map(|(id, _)| *id).collect();
            let ticket = self.check_cache().ticket();
            let found = self
                .database()
                .with_connection(|conn| api_keys::get_many_by_id(conn, &ids));
            match found {
                Ok(keys) => {
                    let found: HashMap<ApiKeyId, Arc<ApiKey>> = keys
                        .into_iter()
                        .map(|key| (key.id, Arc::new(key)))
                        .collect();
                    for (id, answer) in batch {
                        // A check that stopped waiting (its client went away) is not told.
                        let _ = answer.send(Ok((found.get(&id).cloned(), ticket)));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, keys = ids.len(), "could not look up API keys");
                    let error = Arc::new(error);
                    for (_, answer) in batch {
                        let _ = answer.send(Err(Arc::clone(&error)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(lookups: &KeyLookups) -> (usize, usize) {
        let queue = lookups.lock();
        (queue.waiting.len(), queue.runners)
    }

    #[test]
    fn runners_start_up_to_the_limit_and_then_lookups_wait_for_the_next_batch() {
        let lookups = KeyLookups::new(KeyLookupSettings {
            max_concurrent: 2,
            max_batch: 3,
        });
        let ids: Vec<ApiKeyId> = (0..6).map(|_| ApiKeyId::new_random()).collect();
        let mut answers = Vec::new();
        let mut started = Vec::new();
        for id in &ids {
            let (answer, answered) = oneshot::channel();
            started.push(lookups.enqueue(*id, answer));
            answers.push(answered);
        }
        // The first two start a runner each; the rest wait for one of them.
        assert_eq!(started, [true, true, false, false, false, false]);
        assert_eq!(waiting(&lookups), (6, 2));
        // Batches are the oldest lookups, at most max_batch.
        let first: Vec<ApiKeyId> = lookups.next_batch().into_iter().map(|(id, _)| id).collect();
        assert_eq!(first, ids[..3]);
        let second: Vec<ApiKeyId> = lookups.next_batch().into_iter().map(|(id, _)| id).collect();
        assert_eq!(second, ids[3..]);
        // With nothing left, each runner stops, and the next lookup starts one again.
        assert!(lookups.next_batch().is_empty());
        assert_eq!(waiting(&lookups), (0, 1));
        assert!(lookups.next_batch().is_empty());
        assert_eq!(waiting(&lookups), (0, 0));
        let (answer, _answered) = oneshot::channel();
        assert!(lookups.enqueue(ids[0], answer));
    }

    #[test]
    fn a_lost_runner_stops_counting_and_the_last_one_lets_no_lookup_wait_forever() {
        let lookups = KeyLookups::new(KeyLookupSettings {
            max_concurrent: 2,
            max_batch: 8,
        });
        let mut answers = Vec::new();
        for _ in 0..3 {
            let (answer, answered) = oneshot::channel();
            lookups.enqueue(ApiKeyId::new_random(), answer);
            answers.push(answered);
        }
        assert_eq!(waiting(&lookups), (3, 2));
        // One runner panics: the other still serves the queue.
        lookups.runner_lost();
        assert_eq!(waiting(&lookups), (3, 1));
        assert!(answers.iter_mut().all(|answered| matches!(
            answered.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        )));
        // The last one goes too: the waiting lookups are told, and the next starts a runner.
        lookups.runner_lost();
        assert_eq!(waiting(&lookups), (0, 0));
        for mut answered in answers {
            assert!(matches!(
                answered.try_recv(),
                Err(oneshot::error::TryRecvError::Closed)
            ));
        }
        let (answer, _answered) = oneshot::channel();
        assert!(lookups.enqueue(ApiKeyId::new_random(), answer));
    }
}
