//! Looking up the keys that checks did not find in the check cache: concurrent lookups share
//! one query, and at most a few queries run at once.
//!
//! **Key decision:** a check that misses the cache does not get a database call of its own. It
//! waits in one [`BatchQueue`]; at most [`BatchSettings::max_concurrent`] runners (blocking
//! tasks, each with a pooled connection) take every waiting id, up to
//! [`BatchSettings::max_batch`], and read them at once ([`api_keys::get_many_by_id`]: one
//! statement on Postgres). When checks arrive one at a time, each is looked up at once,
//! alone, so nothing waits for a batch to fill; under load, the lookups that arrive while the
//! runners are busy go together in the next query. This bounds the database work that misses
//! cause, whatever their number: a flood of distinct well-formed keys that do not exist
//! (nothing tells them apart from real keys before the lookup) costs at most `max_concurrent`
//! statements at a time and leaves the rest of the pool to everything else, and it shares
//! each query with the real keys' lookups instead of queueing them behind its own. The same id
//! asked for by several checks at once is read once. Each key's stored last use comes with its
//! row and goes to the usage record (`key_usage`), so that a use within its precision of that
//! is not written again.

use std::collections::HashMap;
use std::sync::Arc;

use keygate_domain::{ApiKey, ApiKeyId};
use keygate_storage::repo::api_keys;
use keygate_storage::StorageError;
use tokio::sync::oneshot;

use crate::batch_queue::BatchQueue;
#[cfg(doc)]
use crate::batch_queue::BatchSettings;
use crate::check_cache::CacheTicket;
use crate::error::ServiceError;
use crate::service::Service;

/// What a waiting check is told: the key if it exists and the check cache's ticket taken before
/// the query (the check stores the answer itself, so that the runner goes on to the next query
/// at once), or the query's failure (shared by every check of the batch).
type LookupAnswer = Result<(Option<Arc<ApiKey>>, CacheTicket), Arc<StorageError>>;

/// The waiting lookups: an id and where its answer goes.
pub(crate) type KeyLookups = BatchQueue<(ApiKeyId, oneshot::Sender<LookupAnswer>)>;

impl Service {
    /// The stored key `id` (in any project; the caller compares), read through the batched
    /// lookups, and remembered by the check cache (found or not) on the caller's thread.
    pub(crate) async fn look_up_key(
        &self,
        id: ApiKeyId,
    ) -> Result<Option<Arc<ApiKey>>, ServiceError> {
        let (answer, answered) = oneshot::channel();
        let service = self.clone();
        self.key_lookups()
            .submit((id, answer), move |batch| service.look_up_keys(batch));
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

    /// Reads one batch of lookups with one query and answers each.
    fn look_up_keys(&self, batch: Vec<(ApiKeyId, oneshot::Sender<LookupAnswer>)>) {
        let ids: Vec<ApiKeyId> = batch.iter().map(|(id, _)| *id).collect();
        let ticket = self.check_cache().ticket();
        let found = self
            .database()
            .with_connection(|conn| api_keys::get_many_by_id(conn, &ids));
        match found {
            Ok(keys) => {
                let now = self.now();
                let found: HashMap<ApiKeyId, Arc<ApiKey>> = keys
                    .into_iter()
                    .map(|(key, last_used)| {
                        if let Some(last_used) = last_used {
                            self.key_usage().note_stored(key.id, last_used, now);
                        }
                        (key.id, Arc::new(key))
                    })
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
