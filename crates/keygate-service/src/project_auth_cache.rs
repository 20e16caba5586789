//! The node's in-process cache of project authentication: which project a presented project key
//! (publishable client, secret server or super-secret admin key) opens, with that project's row
//! and switches. Without it every authenticated request — the key check above all — would spend
//! two database queries on proving who calls before doing any work.
//!
//! **Rows, not verdicts.** An entry holds the credential's lifetime and the project's row as they
//! were read; every request judges the lifetime by the domain's rule at its own clock, so a
//! cached credential never outlives its `expires_at_millis`. Only credentials that were valid when read are cached: an
//! unknown or wrong key always reads the database (there is no negative cache to outdate a
//! credential issued a moment later).
//!
//! **Bounded staleness.** A change made through this node's HTTP API (a project's switches or
//! name, a credential's revocation) clears the cache before the response is sent, and a read
//! that started before it is not stored afterwards (`crate::cache_generation`). A credential
//! changed anywhere (another node, `keygate project credentials revoke`) is announced over
//! Postgres `NOTIFY`; the node's key-change listener hands that to
//! [`ProjectAuthCache::on_key_change`], which clears the cache — as does losing or regaining the
//! listener, since announcements may have been missed. A change nobody announces — a project's
//! switches changed by another node or process, a hand edit, anything on SQLite made by another
//! process — is picked up when the entry is read again: an entry is fresh for
//! [`ProjectAuthCacheSettings::ttl`] (one second by default), so a warm node reads each
//! credential about once a second.
//!
//! **One read per refresh, and nobody waits for it.** The first request that finds an entry
//! older than the TTL is told to read it again ([`CachedProject::refresh`]) and is served the
//! entry meanwhile, as are all the others, until the new read replaces it. Were the entry simply
//! dropped at the TTL, every request in flight at that moment would miss and read it at once: on
//! a busy node that is dozens of blocking reads contending for the same cores, which stalled
//! every request for up to a second (`docs/benchmarks.md`). An entry that nobody refreshes (the
//! database is unreachable) is dropped at twice the TTL, so a change made elsewhere is seen
//! within the TTL plus one read, and never later than twice the TTL.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keygate_domain::{CredentialKind, EpochMillis, KeyHash, Lifetime, ProjectId};
use keygate_storage::key_changes::KeyChangeEvent;
use keygate_storage::repo::project_credentials::ProjectCredentialRecord;
use keygate_storage::repo::projects::ProjectRecord;
use moka::notification::RemovalCause;
use moka::sync::Cache;

use crate::cache_generation::{CacheTicket, Generation};
use crate::metrics::{CacheCounts, CacheStats};

/// Bounds of the project-authentication cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectAuthCacheSettings {
    /// How many presented keys are remembered at most (0 turns the cache off).
    pub max_entries: u64,
    /// How long an entry is fresh: the first request after that reads it again, while the others
    /// are still served it; it is dropped at twice this if nobody could. The bound on how late
    /// this node sees a change made elsewhere (plus one read).
    pub ttl: Duration,
}

impl Default for ProjectAuthCacheSettings {
    /// 10,000 keys for one second.
    fn default() -> Self {
        ProjectAuthCacheSettings {
            max_entries: 10_000,
            ttl: Duration::from_secs(1),
        }
    }
}

/// A project key as presented: the project it claims, which of the three keys it is, and its
/// digest (the key itself is never kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PresentedProjectKey {
    /// The project named by `x-stack-project-id`.
    pub project_id: ProjectId,
    /// Which header carried the key.
    pub kind: CredentialKind,
    /// The key's digest.
    pub hash: KeyHash,
}

/// What a valid presented key was found to open.
struct CachedCredential {
    /// The credential's expiry and revocation, judged on every use.
    lifetime: Lifetime,
    /// The project, as stored when the credential was read.
    project: Arc<ProjectRecord>,
    /// When the entry is due to be read again.
    refresh_at: Instant,
    /// Whether a request has been told to read it again.
    refresh_claimed: AtomicBool,
}

/// A cached project that a presented key opens.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedProject {
    /// The project.
    pub project: Arc<ProjectRecord>,
    /// The entry is older than the TTL and this caller, alone, should read it again
    /// ([`ProjectAuthCache::store`] replaces it); it is still served meanwhile.
    pub refresh: bool,
}

/// The cache; shared by every worker of a node.
pub struct ProjectAuthCache {
    entries: Cache<PresentedProjectKey, Arc<CachedCredential>>,
    generation: Generation,
    stats: Arc<CacheStats>,
    ttl: Duration,
}

impl fmt::Debug for ProjectAuthCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectAuthCache")
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl ProjectAuthCache {
    /// An empty cache.
    pub fn new(settings: ProjectAuthCacheSettings) -> Self {
        let stats = Arc::new(CacheStats::default());
        let evictions = Arc::clone(&stats);
        ProjectAuthCache {
            entries: Cache::builder()
                .max_capacity(settings.max_entries)
                .time_to_live(settings.ttl.saturating_mul(2))
                .eviction_listener(move |_, _, cause| {
                    if cause == RemovalCause::Size {
                        evictions.evicted();
                    }
                })
                .build(),
            generation: Generation::default(),
            stats,
            ttl: settings.ttl,
        }
    }

    /// Hits, misses and size evictions so far.
    pub fn counts(&self) -> CacheCounts {
        self.stats.counts()
    }

    /// Entries held now, as moka counts them (no pending work is run).
    pub fn entry_count_estimate(&self) -> u64 {
        self.entries.entry_count()
    }

    /// The project `key` opens at `now`, if a valid credential for it is cached; `None` means
    /// "read the database" (not cached, or the cached credential has expired since). Of the
    /// requests that find the entry older than the TTL, the first is told to read it again.
    pub fn lookup(&self, key: &PresentedProjectKey, now: EpochMillis) -> Option<CachedProject> {
        let found = self
            .entries
            .get(key)
            .filter(|cached| cached.lifetime.is_valid(now))
            .map(|cached| CachedProject {
                project: Arc::clone(&cached.project),
                refresh: Instant::now() >= cached.refresh_at
                    && !cached.refresh_claimed.swap(true, Ordering::Relaxed),
            });
        match found {
            Some(_) => self.stats.hit(),
            None => self.stats.miss(),
        }
        found
    }

    /// Taken before reading the database for a key, to be handed to [`ProjectAuthCache::store`].
    pub fn ticket(&self) -> CacheTicket {
        self.generation.ticket()
    }

    /// Remembers that `key` matched the valid `credential` of `project`, unless anything was
    /// invalidated since `ticket` was taken.
    pub fn store(
        &self,
        ticket: CacheTicket,
        key: PresentedProjectKey,
        credential: &ProjectCredentialRecord,
        project: Arc<ProjectRecord>,
    ) {
        if !self.generation.is_current(ticket) {
            return;
        }
        let cached = CachedCredential {
            lifetime: credential.lifetime(),
            project,
            refresh_at: Instant::now() + self.ttl,
            refresh_claimed: AtomicBool::new(false),
        };
        self.entries.insert(key, Arc::new(cached));
        // An invalidation between the check above and the insert may have cleared the cache
        // before the insert landed: undo it.
        if !self.generation.is_current(ticket) {
            self.entries.invalidate(&key);
        }
    }

    /// Forgets `key`, which opens nothing now.
    pub fn forget(&self, key: &PresentedProjectKey) {
        self.entries.invalidate(key);
    }

    /// Forgets everything, after this node changed a project or its credentials. Changes are
    /// rare, so one project's change clears all projects' entries.
    pub fn invalidate_all(&self) {
        self.generation.advance();
        self.entries.invalidate_all();
    }

    /// Applies what the key-change listener reports: another node changed a credential, or the
    /// channel was lost or regained (announcements may have been missed) — forget everything.
    /// Key changes do not concern this cache.
    pub fn on_key_change(&self, event: &KeyChangeEvent) {
        match event {
            KeyChangeEvent::CredentialsChanged(_)
            | KeyChangeEvent::Listening
            | KeyChangeEvent::Lost => self.invalidate_all(),
            KeyChangeEvent::Changed(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use keygate_domain::ProjectSwitches;
    use uuid::Uuid;

    use super::*;

    fn project() -> Arc<ProjectRecord> {
        Arc::new(ProjectRecord {
            default_rate_limit: None,
            id: ProjectId::new_random(),
            display_name: "p".to_owned(),
            created_at_millis: 0,
            config: ProjectSwitches::default(),
            api_key_scopes: "[]".to_owned(),
        })
    }

    fn credential(
        project: &ProjectRecord,
        expires_at_millis: Option<i64>,
    ) -> ProjectCredentialRecord {
        ProjectCredentialRecord {
            id: Uuid::new_v4(),
            project_id: project.id,
            description: String::new(),
            created_at_millis: 0,
            expires_at_millis,
            revoked_at_millis: None,
            publishable_client_key_hash: None,
            secret_server_key_hash: None,
            super_secret_admin_key_hash: None,
            publishable_client_key_last_four: None,
            secret_server_key_last_four: None,
            super_secret_admin_key_last_four: None,
        }
    }

    fn presented(project: &ProjectRecord, secret: &str) -> PresentedProjectKey {
        PresentedProjectKey {
            project_id: project.id,
            kind: CredentialKind::SecretServerKey,
            hash: keygate_domain::KeyHasher::sha256().hash(secret),
        }
    }

    #[test]
    fn remembers_the_project_a_key_opens_and_nothing_else() {
        let cache = ProjectAuthCache::new(ProjectAuthCacheSettings::default());
        let project = project();
        let key = presented(&project, "ssk_a");
        assert_eq!(cache.lookup(&key, 0).map(|cached| cached.project), None);
        cache.store(
            cache.ticket(),
            key,
            &credential(&project, None),
            Arc::clone(&project),
        );
        assert_eq!(
            cache.lookup(&key, 0).map(|cached| cached.project),
            Some(Arc::clone(&project))
        );
        // Another digest, another kind or another project is a different key.
        assert_eq!(
            cache
                .lookup(&presented(&project, "ssk_b"), 0)
                .map(|cached| cached.project),
            None
        );
        let admin = PresentedProjectKey {
            kind: CredentialKind::SuperSecretAdminKey,
            ..key
        };
        assert_eq!(cache.lookup(&admin, 0).map(|cached| cached.project), None);
        let elsewhere = PresentedProjectKey {
            project_id: ProjectId::new_random(),
            ..key
        };
        assert_eq!(
            cache.lookup(&elsewhere, 0).map(|cached| cached.project),
            None
        );
    }

    #[test]
    fn expiry_is_evaluated_at_every_lookup() {
        let cache = ProjectAuthCache::new(ProjectAuthCacheSettings::default());
        let project = project();
        let key = presented(&project, "ssk_a");
        cache.store(
            cache.ticket(),
            key,
            &credential(&project, Some(1_000)),
            project,
        );
        assert!(
            cache
                .lookup(&key, 1_000)
                .map(|cached| cached.project)
                .is_some(),
            "valid through its expiry"
        );
        assert_eq!(cache.lookup(&key, 1_001).map(|cached| cached.project), None);
    }

    #[test]
    fn a_read_older_than_an_invalidation_is_not_stored() {
        let cache = ProjectAuthCache::new(ProjectAuthCacheSettings::default());
        let project = project();
        let key = presented(&project, "ssk_a");
        let ticket = cache.ticket();
        cache.invalidate_all();
        cache.store(
            ticket,
            key,
            &credential(&project, None),
            Arc::clone(&project),
        );
        assert_eq!(cache.lookup(&key, 0).map(|cached| cached.project), None);

        cache.store(cache.ticket(), key, &credential(&project, None), project);
        cache.invalidate_all();
        assert_eq!(cache.lookup(&key, 0).map(|cached| cached.project), None);
    }

    #[test]
    fn credential_changes_heard_from_other_nodes_clear_the_cache() {
        let cache = ProjectAuthCache::new(ProjectAuthCacheSettings::default());
        let project = project();
        let key = presented(&project, "ssk_a");
        let store = || {
            cache.store(
                cache.ticket(),
                key,
                &credential(&project, None),
                Arc::clone(&project),
            );
        };
        store();
        cache.on_key_change(&KeyChangeEvent::Changed(vec![
            keygate_storage::key_changes::ChangedKey {
                id: keygate_domain::ApiKeyId::new_random(),
                project: keygate_domain::ProjectId::new_random(),
            },
        ]));
        assert!(
            cache.lookup(&key, 0).map(|cached| cached.project).is_some(),
            "an API key's change is not a credential's"
        );
        for event in [
            KeyChangeEvent::CredentialsChanged(vec![Uuid::new_v4()]),
            KeyChangeEvent::Lost,
            KeyChangeEvent::Listening,
        ] {
            store();
            assert!(cache.lookup(&key, 0).map(|cached| cached.project).is_some());
            cache.on_key_change(&event);
            assert_eq!(
                cache.lookup(&key, 0).map(|cached| cached.project),
                None,
                "{event:?}"
            );
        }
    }

    #[test]
    fn an_entry_past_the_ttl_is_read_again_by_one_request_and_the_cache_is_bounded() {
        let cache = ProjectAuthCache::new(ProjectAuthCacheSettings {
            max_entries: 20,
            ttl: Duration::from_millis(50),
        });
        let project = project();
        let key = presented(&project, "ssk_a");
        cache.store(
            cache.ticket(),
            key,
            &credential(&project, None),
            Arc::clone(&project),
        );
        let fresh = cache.lookup(&key, 0).unwrap();
        assert!(!fresh.refresh, "fresh within the TTL");
        std::thread::sleep(Duration::from_millis(60));
        // Past the TTL: the first request is told to read it again, alone; all are served.
        let first = cache.lookup(&key, 0).unwrap();
        let second = cache.lookup(&key, 0).unwrap();
        assert!(first.refresh && !second.refresh);
        assert_eq!(second.project, project);
        // A new read replaces it, fresh again.
        cache.store(
            cache.ticket(),
            key,
            &credential(&project, None),
            Arc::clone(&project),
        );
        assert!(!cache.lookup(&key, 0).unwrap().refresh);
        // Nobody refreshes it: dropped at twice the TTL.
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.lookup(&key, 0).unwrap().refresh);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            cache.lookup(&key, 0).map(|cached| cached.project),
            None,
            "a change made elsewhere shows after twice the TTL at the latest"
        );

        for n in 0..1_000 {
            let key = presented(&project, &format!("ssk_{n}"));
            cache.store(
                cache.ticket(),
                key,
                &credential(&project, None),
                Arc::clone(&project),
            );
        }
        cache.entries.run_pending_tasks();
        assert!(
            cache.entries.entry_count() <= 20,
            "{}",
            cache.entries.entry_count()
        );
    }

    #[test]
    fn a_zero_bound_caches_nothing() {
        let cache = ProjectAuthCache::new(ProjectAuthCacheSettings {
            max_entries: 0,
            ..ProjectAuthCacheSettings::default()
        });
        let project = project();
        let key = presented(&project, "ssk_a");
        cache.store(cache.ticket(), key, &credential(&project, None), project);
        cache.entries.run_pending_tasks();
        assert_eq!(cache.lookup(&key, 0).map(|cached| cached.project), None);
    }
}
