//! When each API key was last used (`last_used_at_millis`), recorded with no database write on
//! the check path.
//!
//! A check only notes the instant in memory ([`KeyUsage::record`]: a map of key id → latest
//! instant). A [`UsageFlusher`] thread writes the collected instants in one batch every few
//! seconds — sooner when many keys are pending — and once more when it is stopped at graceful
//! shutdown, so nothing recorded before shutdown is lost. The stored value only moves forward
//! (`api_keys::record_last_used`), so nodes flushing in any order agree. A failed flush keeps
//! its instants for the next one.
//!
//! Reads merge both: the stored instant and this node's pending one ([`KeyUsage::merged`]). A
//! pending instant of another node shows up on this one after that node's next flush.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keygate_domain::{ApiKeyId, EpochMillis};
use keygate_storage::repo::api_keys;
use keygate_storage::{Database, StorageError};

/// How often pending instants are written by default.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// With this many keys pending, the flusher writes without waiting for the interval (bounds the
/// memory the map takes under a flood of distinct keys).
const EARLY_FLUSH_PENDING: usize = 50_000;

/// How often the flusher looks at the map between flushes.
const POLL: Duration = Duration::from_millis(100);

/// The pending last-use instants of this node.
#[derive(Debug)]
pub struct KeyUsage {
    pending: Mutex<HashMap<ApiKeyId, EpochMillis>>,
    /// When this record was made; the flush instant below counts from it.
    created: Instant,
    /// Milliseconds from `created` to the end of the last successful flush (for metrics:
    /// the flush lag). Starts at 0: a new record has nothing unwritten.
    last_flushed_millis: AtomicU64,
    /// Flushes that failed (their instants stayed pending).
    failed_flushes: AtomicU64,
}

impl Default for KeyUsage {
    fn default() -> Self {
        KeyUsage {
            pending: Mutex::default(),
            created: Instant::now(),
            last_flushed_millis: AtomicU64::new(0),
            failed_flushes: AtomicU64::new(0),
        }
    }
}

impl KeyUsage {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long ago the last successful flush ended (or this record was made, if none has):
    /// the oldest an unwritten instant can be, give or take the flush interval.
    pub fn since_last_flush(&self) -> Duration {
        let at = Duration::from_millis(self.last_flushed_millis.load(Ordering::Relaxed));
        self.created.elapsed().saturating_sub(at)
    }

    /// How many flushes failed so far.
    pub fn failed_flushes(&self) -> u64 {
        self.failed_flushes.load(Ordering::Relaxed)
    }

    fn flushed_now(&self) {
        let millis = u64::try_from(self.created.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_flushed_millis.store(millis, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ApiKeyId, EpochMillis>> {
        crate::locks::lock(&self.pending)
    }

    /// Notes that `id` was used at `at` (the latest instant wins); returns the key's latest
    /// pending instant.
    pub fn record(&self, id: ApiKeyId, at: EpochMillis) -> EpochMillis {
        let mut pending = self.lock();
        let latest = pending.entry(id).or_insert(at);
        *latest = (*latest).max(at);
        *latest
    }

    /// The later of `stored` and this node's pending instant for `id`.
    pub fn merged(&self, id: ApiKeyId, stored: Option<EpochMillis>) -> Option<EpochMillis> {
        let pending = self.lock().get(&id).copied();
        stored.max(pending)
    }

    /// How many keys have an instant waiting to be written.
    pub fn pending_count(&self) -> usize {
        self.lock().len()
    }

    /// Writes every pending instant in one batch; on failure they stay pending. Returns how many
    /// keys were written.
    pub fn flush(&self, database: &Database) -> Result<usize, StorageError> {
        let batch: Vec<(ApiKeyId, EpochMillis)> =
            std::mem::take(&mut *self.lock()).into_iter().collect();
        if batch.is_empty() {
            self.flushed_now();
            return Ok(0);
        }
        let written = database
            .get()
            .and_then(|mut conn| api_keys::record_last_used(&mut conn, &batch));
        if written.is_err() {
            self.failed_flushes.fetch_add(1, Ordering::Relaxed);
            for (id, at) in &batch {
                self.record(*id, *at);
            }
        } else {
            self.flushed_now();
        }
        written.map(|_| batch.len())
    }
}

/// The thread that flushes a [`KeyUsage`] in the background; [`UsageFlusher::stop`] flushes a
/// last time.
pub struct UsageFlusher {
    usage: Arc<KeyUsage>,
    database: Database,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for UsageFlusher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageFlusher")
            .field("pending", &self.usage.pending_count())
            .finish_non_exhaustive()
    }
}

impl UsageFlusher {
    /// Starts flushing `usage` into `database` every `interval`.
    pub fn start(usage: Arc<KeyUsage>, database: Database, interval: Duration) -> Self {
        let stopping = Arc::new(AtomicBool::new(false));
        let thread = {
            let (usage, database, stopping) =
                (Arc::clone(&usage), database.clone(), Arc::clone(&stopping));
            std::thread::Builder::new()
                .name("keygate-key-usage".to_owned())
                .spawn(move || {
                    let mut last = Instant::now();
                    while !stopping.load(Ordering::SeqCst) {
                        std::thread::sleep(POLL);
                        let due = last.elapsed() >= interval
                            || usage.pending_count() >= EARLY_FLUSH_PENDING;
                        if due {
                            last = Instant::now();
                            if let Err(error) = usage.flush(&database) {
                                tracing::warn!(%error, "could not record when API keys were last used; will retry");
                            }
                        }
                    }
                })
                .ok()
        };
        if thread.is_none() {
            tracing::warn!("could not start the key-usage thread; usage is written at shutdown");
        }
        UsageFlusher {
            usage,
            database,
            stopping,
            thread,
        }
    }

    /// Stops the thread and writes what is still pending (graceful shutdown).
    pub fn stop(mut self) -> Result<usize, StorageError> {
        self.stopping.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.usage.flush(&self.database)
    }
}

#[cfg(test)]
mod tests {
    use keygate_domain::{Owner, ProjectId};
    use keygate_storage::repo::api_keys;
    use keygate_storage::testing::{insert_api_key, insert_project, insert_user, TestDatabase};

    use super::*;

    fn stored_key(database: &TestDatabase) -> (ProjectId, ApiKeyId) {
        let mut conn = database.conn();
        let project = insert_project(&mut conn).id;
        let user = insert_user(&mut conn, project).id;
        (
            project,
            insert_api_key(&mut conn, project, Owner::User(user), 1).id,
        )
    }

    #[test]
    fn records_the_latest_instant_and_merges_with_the_stored_one() {
        let usage = KeyUsage::new();
        let id = ApiKeyId::new_random();
        assert_eq!(usage.merged(id, None), None);
        assert_eq!(usage.record(id, 2_000), 2_000);
        assert_eq!(usage.record(id, 1_000), 2_000);
        assert_eq!(usage.merged(id, Some(1_500)), Some(2_000));
        assert_eq!(usage.merged(id, Some(3_000)), Some(3_000));
        assert_eq!(usage.merged(ApiKeyId::new_random(), Some(9)), Some(9));
        assert_eq!(usage.pending_count(), 1);
    }

    #[test]
    fn a_flush_writes_one_batch_and_empties_the_map() {
        let database = TestDatabase::sqlite();
        let (_, id) = stored_key(&database);
        let usage = KeyUsage::new();
        usage.record(id, 5_000);
        usage.record(ApiKeyId::new_random(), 6_000);
        std::thread::sleep(Duration::from_millis(20));
        assert!(usage.since_last_flush() >= Duration::from_millis(20));
        assert_eq!(usage.flush(&database).unwrap(), 2);
        assert!(usage.since_last_flush() < Duration::from_millis(20));
        assert_eq!(usage.failed_flushes(), 0);
        assert_eq!(usage.pending_count(), 0);
        assert_eq!(usage.flush(&database).unwrap(), 0);
        let stored = api_keys::last_used(&mut database.conn(), &[id]).unwrap();
        assert_eq!(stored[&id], 5_000);
    }

    #[test]
    fn the_flusher_writes_in_the_background_and_once_more_when_stopped() {
        let database = TestDatabase::sqlite();
        let (_, id) = stored_key(&database);
        let usage = Arc::new(KeyUsage::new());
        let flusher = UsageFlusher::start(
            Arc::clone(&usage),
            database.database().clone(),
            Duration::from_millis(200),
        );
        usage.record(id, 1_000);
        let deadline = Instant::now() + Duration::from_secs(5);
        while usage.pending_count() > 0 {
            assert!(Instant::now() < deadline, "never flushed");
            std::thread::sleep(Duration::from_millis(20));
        }
        usage.record(id, 2_000);
        flusher.stop().unwrap();
        let stored = api_keys::last_used(&mut database.conn(), &[id]).unwrap();
        assert_eq!(stored[&id], 2_000);
    }
}
