//! The check path's in-process cache of stored API-key rows, keyed by the key id embedded in the
//! key.
//!
//! **What is cached is the stored row, never a verdict.** A check still hashes the presented key
//! and compares it with the cached hash in constant time, compares the project, and evaluates
//! type, revocation and expiry against the clock of that check — so a cached row can never make
//! an expired key valid. Only the database round trip is saved.
//!
//! Two caches, both bounded: found rows are weighed by their size in bytes
//! ([`CheckCacheSettings::max_bytes`]); ids with no row at all ("unknown") live in a separate,
//! smaller cache with a short TTL, so a flood of well-formed unknown keys can neither evict the
//! good entries nor grow memory. An unknown id is remembered only on its second miss within a
//! while (a doorkeeper: one fixed array of fingerprints, as TinyLFU's): a key presented again
//! is spared the database from then on, while a flood of distinct unknown keys, each seen
//! once, costs one atomic store apiece instead of an insert and an eviction in the cache.
//!
//! **Revocation never lingers.** Every write that changes a key (revoke, description, deletion
//! of its owner) goes through [`Service::write_keys`](crate::Service), which calls
//! [`CheckCache::invalidate`] after it committed and before its response is sent. A check that read the database *before* that write must not put its stale row back
//! afterwards: each invalidation bumps a generation counter, a check takes a
//! [`CheckCache::ticket`] before it reads, and [`CheckCache::store`] drops its row when the
//! generation moved — re-checking after the insert, so an invalidation racing the insert removes
//! it again. Other nodes' writes arrive through Postgres `LISTEN/NOTIFY`; while that channel is
//! down the cache is not trusted ([`CheckCache::set_trusted`]): every check reads the database
//! and nothing is stored, and it is cleared when the channel is back.
//!
//! **Defence in depth: rows expire.** Every found row is dropped [`CheckCacheSettings::row_ttl`]
//! (60 s by default) after it was read, whatever the invalidations did — so a change that
//! escaped them (a hand edit of the database, a write by a process that announces nothing, a
//! bug) is seen within that time instead of being kept for as long as the key stays warm.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{ApiKey, ApiKeyId};
use keygate_storage::key_changes::KeyChangeEvent;
use moka::notification::RemovalCause;
use moka::sync::Cache;

pub use crate::cache_generation::CacheTicket;
use crate::cache_generation::Generation;
use crate::metrics::{CacheCounts, CacheStats};

/// Bounds of the check cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckCacheSettings {
    /// Approximate bytes the found rows may take (0 disables the cache of found rows).
    pub max_bytes: u64,
    /// How many unknown ids are remembered at most (0 disables the negative cache).
    pub max_unknown: u64,
    /// How long an unknown id is remembered.
    pub unknown_ttl: Duration,
    /// How long a found row is kept at most after it was read, invalidated or not (zero turns
    /// the cache of found rows off).
    pub row_ttl: Duration,
}

impl Default for CheckCacheSettings {
    /// 32 MiB of rows (about 50,000 keys) for at most 60 seconds each, 20,000 unknown ids
    /// (about 4 MiB) for 2 seconds.
    fn default() -> Self {
        CheckCacheSettings {
            max_bytes: 32 * 1024 * 1024,
            max_unknown: 20_000,
            unknown_ttl: Duration::from_secs(2),
            row_ttl: Duration::from_secs(60),
        }
    }
}

/// What the cache knows about a key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedLookup {
    /// The stored row (still to be verified by the caller).
    Found(Arc<ApiKey>),
    /// No row has this id, as of a moment ago.
    Unknown,
    /// Not cached, or the cache is not trusted right now: read the database.
    Miss,
}

/// The cache; shared by every worker of a node.
pub struct CheckCache {
    found: Cache<ApiKeyId, Arc<ApiKey>>,
    unknown: Cache<ApiKeyId, ()>,
    unknown_doorkeeper: Doorkeeper,
    generation: Generation,
    trusted: AtomicBool,
    stats: Arc<CacheStats>,
}

impl fmt::Debug for CheckCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckCache")
            .field("found", &self.found.entry_count())
            .field("unknown", &self.unknown.entry_count())
            .field("trusted", &self.is_trusted())
            .finish()
    }
}

/// What a cached row costs the process beyond the row's own size: the `Arc`, moka's entry,
/// its access-order and hash-table slots, the strings' allocations and the allocator's slack.
/// Measured, not derived: the server's RSS with a full cache minus its RSS with the cache off,
/// divided by the number of entries, came to about 670 bytes an entry for 176-byte rows
/// (docs/benchmarks.md). A smaller guess let a "32 MiB" cache take 72 MiB.
const ENTRY_OVERHEAD_BYTES: usize = 500;

/// moka's eviction listener that counts entries dropped for size into `stats`.
fn count_evictions<V>(
    stats: &Arc<CacheStats>,
) -> impl Fn(Arc<ApiKeyId>, V, RemovalCause) + Send + Sync + 'static {
    let stats = Arc::clone(stats);
    move |_, _, cause| {
        if cause == RemovalCause::Size {
            stats.evicted();
        }
    }
}

/// Which unknown ids missed once lately: one fingerprint per slot, overwritten by whichever id
/// hashes there next. It only decides what enters the unknown-id cache, so a collision or an
/// overwritten slot costs at most another database lookup, never a wrong answer. Hashed with
/// a per-process random key, so ids cannot be chosen to collide.
struct Doorkeeper {
    slots: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Doorkeeper {
    /// Room for about `capacity` ids (a power of two at least that large; none for 0).
    fn new(capacity: u64) -> Self {
        let len = if capacity == 0 {
            0
        } else {
            usize::try_from(capacity)
                .unwrap_or(usize::MAX)
                .checked_next_power_of_two()
                .unwrap_or(1 << 20)
                .min(1 << 20)
        };
        Doorkeeper {
            slots: (0..len).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// Whether `id` missed before (and its slot still says so); records this miss otherwise.
    fn seen_before(&self, id: ApiKeyId) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let hash = self.hasher.hash_one(id);
        // The slot comes from the low bits; the fingerprint is the whole hash, never 0 (empty).
        let slot = &self.slots[(hash as usize) & (self.slots.len() - 1)];
        let fingerprint = hash | 1;
        if slot.load(Ordering::Relaxed) == fingerprint {
            slot.store(0, Ordering::Relaxed);
            true
        } else {
            slot.store(fingerprint, Ordering::Relaxed);
            false
        }
    }
}

/// What a cached row costs the process, in bytes, for the cache's byte budget.
fn weight(key: &ApiKey) -> u32 {
    let total = std::mem::size_of::<ApiKey>()
        + ENTRY_OVERHEAD_BYTES
        + key.description.len()
        + key.last_four.len();
    u32::try_from(total).unwrap_or(u32::MAX)
}

impl CheckCache {
    /// An empty, trusted cache.
    pub fn new(settings: CheckCacheSettings) -> Self {
        let stats = Arc::new(CacheStats::default());
        CheckCache {
            found: Cache::builder()
                .max_capacity(if settings.row_ttl.is_zero() {
                    0
                } else {
                    settings.max_bytes
                })
                .weigher(|_id: &ApiKeyId, key: &Arc<ApiKey>| weight(key))
                .time_to_live(settings.row_ttl.max(Duration::from_millis(1)))
                .eviction_listener(count_evictions(&stats))
                .build(),
            unknown: Cache::builder()
                .max_capacity(settings.max_unknown)
                .time_to_live(settings.unknown_ttl)
                .eviction_listener(count_evictions(&stats))
                .build(),
            unknown_doorkeeper: Doorkeeper::new(settings.max_unknown),
            generation: Generation::default(),
            trusted: AtomicBool::new(true),
            stats,
        }
    }

    /// What is cached for `id`; always [`CachedLookup::Miss`] while the cache is not trusted.
    /// Counted as a hit or a miss (a lookup while untrusted is a miss).
    pub fn lookup(&self, id: ApiKeyId) -> CachedLookup {
        let found = self.lookup_uncounted(id);
        match found {
            CachedLookup::Miss => self.stats.miss(),
            CachedLookup::Found(_) | CachedLookup::Unknown => self.stats.hit(),
        }
        found
    }

    fn lookup_uncounted(&self, id: ApiKeyId) -> CachedLookup {
        if !self.is_trusted() {
            return CachedLookup::Miss;
        }
        if let Some(key) = self.found.get(&id) {
            return CachedLookup::Found(key);
        }
        if self.unknown.contains_key(&id) {
            return CachedLookup::Unknown;
        }
        CachedLookup::Miss
    }

    /// Hits, misses and size evictions so far (rows and unknown ids together).
    pub fn counts(&self) -> CacheCounts {
        self.stats.counts()
    }

    /// Entries held now (rows, unknown ids), as moka counts them (no pending work is run).
    pub fn entry_counts_estimate(&self) -> (u64, u64) {
        (self.found.entry_count(), self.unknown.entry_count())
    }

    /// Taken before reading the database for a key, to be handed to [`CheckCache::store`].
    pub fn ticket(&self) -> CacheTicket {
        self.generation.ticket()
    }

    /// Remembers what the database said about `id` (`None`: no row), unless the cache is not
    /// trusted or anything was invalidated since `ticket` was taken.
    pub fn store(&self, ticket: CacheTicket, id: ApiKeyId, stored: Option<&ApiKey>) {
        if !self.is_trusted() || !self.generation.is_current(ticket) {
            return;
        }
        match stored {
            Some(key) => self.found.insert(id, Arc::new(key.clone())),
            None if self.unknown_doorkeeper.seen_before(id) => self.unknown.insert(id, ()),
            None => return,
        }
        // An invalidation between the check above and the insert bumped the generation before
        // it removed entries; if it removed them before the insert, remove the insert here.
        if !self.generation.is_current(ticket) || !self.is_trusted() {
            self.forget(id);
        }
    }

    /// Forgets `ids` after a write that changed or deleted them (on this node or, through
    /// `NOTIFY`, another one). Checks already reading the database will not store what they read.
    pub fn invalidate(&self, ids: impl IntoIterator<Item = ApiKeyId>) {
        self.generation.advance();
        for id in ids {
            self.forget(id);
        }
    }

    /// Forgets a newly created key's id as unknown (a check may have guessed it just before).
    pub fn created(&self, id: ApiKeyId) {
        self.unknown.invalidate(&id);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.generation.advance();
        self.found.invalidate_all();
        self.unknown.invalidate_all();
    }

    /// Whether invalidations from other nodes are known to arrive. Setting it clears the cache
    /// either way: when trust is lost, what was cached may already be stale; when it comes back,
    /// invalidations sent while it was away were missed.
    pub fn set_trusted(&self, trusted: bool) {
        if trusted {
            self.clear();
            self.trusted.store(true, Ordering::SeqCst);
        } else {
            self.trusted.store(false, Ordering::SeqCst);
            self.clear();
        }
    }

    /// See [`CheckCache::set_trusted`].
    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::SeqCst)
    }

    /// Applies what the key-change listener reports: other nodes' changes are invalidated, and
    /// the cache is trusted only while the listener is subscribed.
    pub fn on_key_change(&self, event: KeyChangeEvent) {
        match event {
            KeyChangeEvent::Listening => self.set_trusted(true),
            KeyChangeEvent::Changed(changed) => {
                self.invalidate(changed.iter().map(|change| change.id));
            }
            KeyChangeEvent::Lost => self.set_trusted(false),
            // Project credentials are the project-authentication cache's concern.
            KeyChangeEvent::CredentialsChanged(_) => {}
        }
    }

    fn forget(&self, id: ApiKeyId) {
        self.found.invalidate(&id);
        self.unknown.invalidate(&id);
    }

    /// Entries counted by the cache (approximate until its pending work runs; for tests and
    /// diagnostics).
    pub fn entry_counts(&self) -> (u64, u64) {
        self.found.run_pending_tasks();
        self.unknown.run_pending_tasks();
        (self.found.entry_count(), self.unknown.entry_count())
    }
}

#[cfg(test)]
mod tests {
    use keygate_domain::{KeyHasher, NewApiKey, Owner, ProjectId, UserId};

    use super::*;

    fn key() -> ApiKey {
        NewApiKey {
            project_id: ProjectId::new_random(),
            owner: Owner::User(UserId::new_random()),
            description: "ci".to_owned(),
            is_public: false,
            expires_at_millis: None,
            policy: Default::default(),
        }
        .generate(1_000, &KeyHasher::sha256())
        .0
    }

    #[test]
    fn stores_found_rows_and_unknown_ids() {
        let cache = CheckCache::new(CheckCacheSettings::default());
        let stored = key();
        let unknown = ApiKeyId::new_random();
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
        let ticket = cache.ticket();
        cache.store(ticket, stored.id, Some(&stored));
        remember_unknown(&cache, unknown);
        assert_eq!(
            cache.lookup(stored.id),
            CachedLookup::Found(Arc::new(stored.clone()))
        );
        assert_eq!(cache.lookup(unknown), CachedLookup::Unknown);

        cache.invalidate([stored.id, unknown]);
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
        assert_eq!(cache.lookup(unknown), CachedLookup::Miss);
    }

    #[test]
    fn lookups_count_hits_and_misses_and_size_evictions_are_counted() {
        let cache = CheckCache::new(CheckCacheSettings {
            max_unknown: 1,
            ..CheckCacheSettings::default()
        });
        let stored = key();
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
        cache.store(cache.ticket(), stored.id, Some(&stored));
        assert!(matches!(cache.lookup(stored.id), CachedLookup::Found(_)));
        let counts = cache.counts();
        assert_eq!((counts.hits, counts.misses), (1, 1));

        // One unknown id fits; storing many evicts some (moka decides which, on maintenance).
        for _ in 0..50 {
            remember_unknown(&cache, ApiKeyId::new_random());
        }
        let _ = cache.entry_counts();
        assert!(cache.counts().evictions > 0, "{:?}", cache.counts());
        // Invalidations are not evictions.
        let before = cache.counts().evictions;
        cache.invalidate([stored.id]);
        let _ = cache.entry_counts();
        assert_eq!(cache.counts().evictions, before);
    }

    #[test]
    fn a_read_older_than_an_invalidation_is_not_stored() {
        let cache = CheckCache::new(CheckCacheSettings::default());
        let stored = key();
        let ticket = cache.ticket();
        // Another key's write still bumps the generation: the read may predate any write.
        cache.invalidate([ApiKeyId::new_random()]);
        cache.store(ticket, stored.id, Some(&stored));
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
        cache.store(cache.ticket(), stored.id, Some(&stored));
        assert!(matches!(cache.lookup(stored.id), CachedLookup::Found(_)));
    }

    #[test]
    fn an_untrusted_cache_answers_nothing_and_stores_nothing() {
        let cache = CheckCache::new(CheckCacheSettings::default());
        let stored = key();
        cache.store(cache.ticket(), stored.id, Some(&stored));
        cache.set_trusted(false);
        assert!(!cache.is_trusted());
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
        cache.store(cache.ticket(), stored.id, Some(&stored));
        cache.set_trusted(true);
        // Back, but empty: what was cached before may have changed meanwhile.
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
    }

    #[test]
    fn the_listener_decides_trust_and_invalidates_other_nodes_changes() {
        let cache = CheckCache::new(CheckCacheSettings::default());
        let stored = key();
        cache.on_key_change(KeyChangeEvent::Lost);
        cache.store(cache.ticket(), stored.id, Some(&stored));
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
        cache.on_key_change(KeyChangeEvent::Listening);
        cache.store(cache.ticket(), stored.id, Some(&stored));
        assert!(matches!(cache.lookup(stored.id), CachedLookup::Found(_)));
        cache.on_key_change(KeyChangeEvent::Changed(vec![
            keygate_storage::key_changes::ChangedKey {
                id: stored.id,
                project: stored.project_id,
            },
        ]));
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
    }

    #[test]
    fn a_created_key_is_no_longer_unknown() {
        let cache = CheckCache::new(CheckCacheSettings::default());
        let id = ApiKeyId::new_random();
        remember_unknown(&cache, id);
        cache.created(id);
        assert_eq!(cache.lookup(id), CachedLookup::Miss);
    }

    #[test]
    fn both_caches_are_bounded() {
        let settings = CheckCacheSettings {
            max_bytes: 64 * 1024,
            max_unknown: 50,
            unknown_ttl: Duration::from_secs(60),
            row_ttl: Duration::from_secs(60),
        };
        let cache = CheckCache::new(settings);
        let good: Vec<ApiKey> = (0..20).map(|_| key()).collect();
        for stored in &good {
            cache.store(cache.ticket(), stored.id, Some(stored));
        }
        // A flood of unknown ids fills only the unknown cache, which stays within its bound.
        for _ in 0..5_000 {
            cache.store(cache.ticket(), ApiKeyId::new_random(), None);
        }
        let (found, unknown) = cache.entry_counts();
        assert_eq!(found, 20);
        assert!(unknown <= 50, "{unknown}");
        assert!(good
            .iter()
            .all(|k| matches!(cache.lookup(k.id), CachedLookup::Found(_))));
        // Found rows are bounded by their weight.
        for _ in 0..5_000 {
            let stored = key();
            cache.store(cache.ticket(), stored.id, Some(&stored));
        }
        let (found, _) = cache.entry_counts();
        let per_entry = u64::from(weight(&good[0]));
        assert!(found * per_entry <= settings.max_bytes, "{found}");
    }

    #[test]
    fn found_rows_expire_even_without_an_invalidation() {
        let cache = CheckCache::new(CheckCacheSettings {
            row_ttl: Duration::from_millis(50),
            ..CheckCacheSettings::default()
        });
        let stored = key();
        cache.store(cache.ticket(), stored.id, Some(&stored));
        assert!(matches!(cache.lookup(stored.id), CachedLookup::Found(_)));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
    }

    #[test]
    fn a_zero_row_ttl_caches_no_rows() {
        let cache = CheckCache::new(CheckCacheSettings {
            row_ttl: Duration::ZERO,
            ..CheckCacheSettings::default()
        });
        let stored = key();
        cache.store(cache.ticket(), stored.id, Some(&stored));
        cache.entry_counts();
        assert_eq!(cache.lookup(stored.id), CachedLookup::Miss);
    }

    #[test]
    fn the_default_row_lifetime_is_a_minute() {
        assert_eq!(
            CheckCacheSettings::default().row_ttl,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn unknown_ids_expire() {
        let cache = CheckCache::new(CheckCacheSettings {
            unknown_ttl: Duration::from_millis(50),
            ..CheckCacheSettings::default()
        });
        let id = ApiKeyId::new_random();
        remember_unknown(&cache, id);
        assert_eq!(cache.lookup(id), CachedLookup::Unknown);
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(cache.lookup(id), CachedLookup::Miss);
    }

    /// Stores `id` as unknown twice: the second miss is the one remembered.
    fn remember_unknown(cache: &CheckCache, id: ApiKeyId) {
        cache.store(cache.ticket(), id, None);
        cache.store(cache.ticket(), id, None);
    }

    #[test]
    fn an_unknown_id_is_remembered_on_its_second_miss_only() {
        let cache = CheckCache::new(CheckCacheSettings::default());
        let id = ApiKeyId::new_random();
        cache.store(cache.ticket(), id, None);
        assert_eq!(cache.lookup(id), CachedLookup::Miss);
        cache.store(cache.ticket(), id, None);
        assert_eq!(cache.lookup(id), CachedLookup::Unknown);

        // A flood of distinct ids, each seen once, enters nothing.
        for _ in 0..10_000 {
            cache.store(cache.ticket(), ApiKeyId::new_random(), None);
        }
        assert_eq!(cache.entry_counts().1, 1);
    }

    #[test]
    fn without_an_unknown_cache_nothing_is_remembered() {
        let cache = CheckCache::new(CheckCacheSettings {
            max_unknown: 0,
            ..CheckCacheSettings::default()
        });
        let id = ApiKeyId::new_random();
        remember_unknown(&cache, id);
        remember_unknown(&cache, id);
        assert_eq!(cache.lookup(id), CachedLookup::Miss);
    }
}
