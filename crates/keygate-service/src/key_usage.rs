//! When each API key was last used (`last_used_at_millis`), recorded with no database write on
//! the check path, and written at most once per key per precision.
//!
//! A check only notes the instant in memory ([`KeyUsage::record`]: a map of key id → latest
//! instant). A [`UsageFlusher`] thread writes the collected instants in one batch every few
//! seconds — sooner when many keys are pending — and once more when it is stopped at graceful
//! shutdown, so nothing recorded before shutdown is lost. The stored value only moves forward
//! (`api_keys::record_last_used`), so nodes flushing in any order agree. A failed flush keeps
//! its instants for the next one.
//!
//! **Key decision: the stored instant has a precision** (`last_used_precision_millis`, a minute
//! by default). A use less than that after the stored instant this node knows of (one it wrote,
//! or one a check's lookup read with the key's row) is not written: it would rewrite the key's
//! row to move its last use by seconds. So a key in steady use costs one row write per
//! precision per node, instead of one per flush; a node checking 200,000 distinct keys over and
//! over wrote 200,000 rows every 5 seconds, which cost Postgres as much as the lookups
//! themselves (`docs/benchmarks.md`). The first use of a key, and the first after a pause
//! longer than the precision, are written at the next flush as before. What this node knows is
//! kept only for instants within the precision of the newest one it saw, and for at most
//! [`MAX_KNOWN_STORED`] keys (beyond that a use is simply written).
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

/// How far a use may follow the stored last use without being written, by default.
pub const DEFAULT_LAST_USED_PRECISION: Duration = Duration::from_secs(60);

/// With this many keys pending, the flusher writes without waiting for the interval (bounds the
/// memory the map takes under a flood of distinct keys).
const EARLY_FLUSH_PENDING: usize = 50_000;

/// Most keys whose stored last use this node remembers (about 40 bytes each); a use of a key
/// beyond them is written as if nothing were known.
pub const MAX_KNOWN_STORED: usize = 1_000_000;

/// How often the flusher looks at the map between flushes.
const POLL: Duration = Duration::from_millis(100);

/// What the lock guards.
#[derive(Debug, Default)]
struct Instants {
    /// Uses not written yet: key → latest instant.
    pending: HashMap<ApiKeyId, EpochMillis>,
    /// The latest stored instant this node knows of, for keys whose instant is within the
    /// precision of `newest` (older ones cannot spare a write).
    stored: HashMap<ApiKeyId, EpochMillis>,
    /// The newest instant seen (recorded or read); `stored` is pruned against it.
    newest: EpochMillis,
}

impl Instants {
    /// Remembers that `at` is stored for `id`, if it can still spare a write.
    fn know_stored(&mut self, id: ApiKeyId, at: EpochMillis, precision: i64) {
        if at <= self.newest.saturating_sub(precision) {
            return;
        }
        if let Some(known) = self.stored.get_mut(&id) {
            *known = (*known).max(at);
        } else if self.stored.len() < MAX_KNOWN_STORED {
            self.stored.insert(id, at);
        }
    }

    fn add_pending(&mut self, id: ApiKeyId, at: EpochMillis) -> EpochMillis {
        let latest = self.pending.entry(id).or_insert(at);
        *latest = (*latest).max(at);
        *latest
    }
}

/// The pending last-use instants of this node.
#[derive(Debug)]
pub struct KeyUsage {
    instants: Mutex<Instants>,
    /// [`DEFAULT_LAST_USED_PRECISION`] or the setting, in milliseconds; 0 writes every use.
    precision_millis: i64,
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
        KeyUsage::new(DEFAULT_LAST_USED_PRECISION)
    }
}

impl KeyUsage {
    /// An empty record that leaves out uses within `precision` of the stored last use.
    pub fn new(precision: Duration) -> Self {
        KeyUsage {
            instants: Mutex::default(),
            precision_millis: i64::try_from(precision.as_millis()).unwrap_or(i64::MAX),
            created: Instant::now(),
            last_flushed_millis: AtomicU64::new(0),
            failed_flushes: AtomicU64::new(0),
        }
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

    fn lock(&self) -> MutexGuard<'_, Instants> {
        crate::locks::lock(&self.instants)
    }

    /// Notes that `id` was used at `at`, unless that is within the precision of the stored
    /// instant this node knows of; returns the key's last use as reads show it from now on
    /// (the later of that stored instant and the pending one).
    pub fn record(&self, id: ApiKeyId, at: EpochMillis) -> EpochMillis {
        let mut instants = self.lock();
        instants.newest = instants.newest.max(at);
        let known = instants.stored.get(&id).copied();
        if let Some(known) = known.filter(|known| at - *known < self.precision_millis) {
            let pending = instants.pending.get(&id).copied();
            return pending.map_or(known, |pending| pending.max(known));
        }
        instants.add_pending(id, at)
    }

    /// Notes that `at` is the stored last use of `id`, as a lookup read it at `now`: a use
    /// within the precision of it is then not written.
    pub fn note_stored(&self, id: ApiKeyId, at: EpochMillis, now: EpochMillis) {
        if self.precision_millis == 0 {
            return;
        }
        let mut instants = self.lock();
        instants.newest = instants.newest.max(now);
        instants.know_stored(id, at, self.precision_millis);
    }

    /// The later of `stored` and this node's pending instant for `id`.
    pub fn merged(&self, id: ApiKeyId, stored: Option<EpochMillis>) -> Option<EpochMillis> {
        let pending = self.lock().pending.get(&id).copied();
        stored.max(pending)
    }

    /// How many keys have an instant waiting to be written.
    pub fn pending_count(&self) -> usize {
        self.lock().pending.len()
    }

    /// How many keys' stored instants this node knows of (each may spare a write).
    pub fn known_stored_count(&self) -> usize {
        self.lock().stored.len()
    }

    /// Writes every pending instant in one batch; on failure they stay pending. Returns how many
    /// keys were written.
    pub fn flush(&self, database: &Database) -> Result<usize, StorageError> {
        let batch: Vec<(ApiKeyId, EpochMillis)> = {
            let mut instants = self.lock();
            // What can no longer spare a write is forgotten.
            let oldest_useful = instants.newest.saturating_sub(self.precision_millis);
            instants.stored.retain(|_, at| *at > oldest_useful);
            std::mem::take(&mut instants.pending).into_iter().collect()
        };
        if batch.is_empty() {
            self.flushed_now();
            return Ok(0);
        }
        let written = database
            .get()
            .and_then(|mut conn| api_keys::record_last_used(&mut conn, &batch));
        // A thousand keys a lock, so that the checks recording uses meanwhile (which take the
        // same lock) wait microseconds, not the whole batch.
        let chunks = batch.chunks(1_000);
        if written.is_err() {
            self.failed_flushes.fetch_add(1, Ordering::Relaxed);
            for chunk in chunks {
                let mut instants = self.lock();
                for (id, at) in chunk {
                    instants.add_pending(*id, *at);
                }
            }
        } else {
            if self.precision_millis > 0 {
                for chunk in chunks {
                    let mut instants = self.lock();
                    for (id, at) in chunk {
                        instants.know_stored(*id, *at, self.precision_millis);
                    }
                }
            }
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
        let usage = KeyUsage::default();
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
        let usage = KeyUsage::default();
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
        let usage = Arc::new(KeyUsage::new(Duration::ZERO));
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

    #[test]
    fn a_use_within_the_precision_of_what_this_node_wrote_is_not_written() {
        let database = TestDatabase::sqlite();
        let (_, id) = stored_key(&database);
        let usage = KeyUsage::new(Duration::from_millis(60_000));
        assert_eq!(usage.record(id, 100_000), 100_000);
        assert_eq!(usage.flush(&database).unwrap(), 1);
        assert_eq!(usage.known_stored_count(), 1);
        // Within a minute of the written instant: nothing pending, reads show the stored one.
        assert_eq!(usage.record(id, 159_999), 100_000);
        assert_eq!(usage.pending_count(), 0);
        assert_eq!(usage.merged(id, Some(100_000)), Some(100_000));
        // A minute later it is written again.
        assert_eq!(usage.record(id, 160_000), 160_000);
        assert_eq!(usage.flush(&database).unwrap(), 1);
        let stored = api_keys::last_used(&mut database.conn(), &[id]).unwrap();
        assert_eq!(stored[&id], 160_000);
        // With no precision, every use is written.
        let exact = KeyUsage::new(Duration::ZERO);
        exact.record(id, 170_000);
        assert_eq!(exact.flush(&database).unwrap(), 1);
        assert_eq!(exact.record(id, 170_001), 170_001);
        assert_eq!(exact.pending_count(), 1);
        assert_eq!(exact.known_stored_count(), 0);
    }

    #[test]
    fn a_stored_instant_read_by_a_lookup_spares_the_write_of_a_use_near_it() {
        let usage = KeyUsage::new(Duration::from_millis(60_000));
        let (near, old, unknown) = (
            ApiKeyId::new_random(),
            ApiKeyId::new_random(),
            ApiKeyId::new_random(),
        );
        usage.note_stored(near, 50_000, 100_000);
        // Stored longer than the precision ago: it cannot spare anything, and is not kept.
        usage.note_stored(old, 30_000, 100_000);
        assert_eq!(usage.known_stored_count(), 1);
        assert_eq!(usage.record(near, 100_000), 50_000);
        assert_eq!(usage.record(old, 100_000), 100_000);
        assert_eq!(usage.record(unknown, 100_000), 100_000);
        assert_eq!(usage.pending_count(), 2);
    }

    #[test]
    fn what_is_known_stored_is_forgotten_once_it_cannot_spare_a_write() {
        let database = TestDatabase::sqlite();
        let (_, first) = stored_key(&database);
        let (_, second) = stored_key(&database);
        let usage = KeyUsage::new(Duration::from_millis(1_000));
        usage.record(first, 10_000);
        usage.flush(&database).unwrap();
        usage.record(second, 10_500);
        usage.flush(&database).unwrap();
        assert_eq!(usage.known_stored_count(), 2);
        // The newest instant seen moves past the first key's precision: the next flush drops it.
        assert_eq!(usage.record(second, 11_200), 10_500, "within the precision");
        assert_eq!(usage.flush(&database).unwrap(), 0);
        assert_eq!(usage.known_stored_count(), 1);
        assert_eq!(usage.record(first, 11_300), 11_300, "written again");
        assert_eq!(usage.pending_count(), 1);
    }

    #[test]
    fn a_failed_flush_keeps_its_uses_pending_and_knows_nothing_stored() {
        let database = TestDatabase::sqlite();
        let (_, id) = stored_key(&database);
        let usage = KeyUsage::new(Duration::from_millis(60_000));
        usage.record(id, 100_000);
        // The write fails: the table is gone.
        database.execute("ALTER TABLE api_keys RENAME TO api_keys_gone");
        assert!(usage.flush(&database).is_err());
        assert_eq!(usage.failed_flushes(), 1);
        assert_eq!(usage.pending_count(), 1);
        assert_eq!(usage.known_stored_count(), 0);
        assert_eq!(usage.record(id, 100_001), 100_001);
    }
}
