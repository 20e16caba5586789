//! [`Service`]: what every use case shares — the database, the hasher for secrets, the clock and
//! the node's caches — and the two ways use cases reach the database: `Service::run` for
//! blocking work off the async workers, and `Service::write_keys`, the one path every change
//! to stored keys takes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{EpochMillis, KeyHasher};
use keygate_storage::key_changes::{self, KeyWrite};
use keygate_storage::repo::notification_outbox;
use keygate_storage::{Backend, Database, DbConnection};

use crate::batch_queue::{BatchQueue, BatchSettings};
use crate::check_cache::{CheckCache, CheckCacheSettings};
use crate::clock::Clock;
use crate::cors_cache::CorsCache;
use crate::error::ServiceError;
use crate::key_change_feed::{KeyChangeFeed, KeyChangeFeedSettings};
use crate::key_creates::KeyCreates;
use crate::key_credits::{CreditSettings, KeyCredits};
use crate::key_lookups::KeyLookups;
use crate::key_rate_limits::KeyRateLimiter;
use crate::key_usage::KeyUsage;
use crate::limits::Limits;
use crate::metrics::ServiceMetrics;
use crate::project_auth_cache::{ProjectAuthCache, ProjectAuthCacheSettings};
use crate::webhooks::WebhookSecrets;

/// The application layer of one node; cheap to clone (one shared allocation).
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    database: Database,
    hasher: KeyHasher,
    clock: Clock,
    check_cache: Arc<CheckCache>,
    project_auth_cache: Arc<ProjectAuthCache>,
    cors_cache: Arc<CorsCache>,
    key_usage: Arc<KeyUsage>,
    key_rate_limiter: Arc<KeyRateLimiter>,
    key_credits: Arc<KeyCredits>,
    key_change_feed: Arc<KeyChangeFeed>,
    key_lookups: Arc<KeyLookups>,
    key_creates: Arc<KeyCreates>,
    metrics: Arc<ServiceMetrics>,
    limits: Limits,
    webhook_secrets: WebhookSecrets,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("database", &self.inner.database)
            .field("hasher", &self.inner.hasher)
            .field("check_cache", &self.inner.check_cache)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `database` with the default cache bounds.
    pub fn new(database: Database, hasher: KeyHasher, clock: Clock) -> Self {
        Service {
            inner: Arc::new(Inner {
                database,
                hasher,
                clock,
                check_cache: Arc::new(CheckCache::new(CheckCacheSettings::default())),
                project_auth_cache: Arc::new(ProjectAuthCache::new(
                    ProjectAuthCacheSettings::default(),
                )),
                cors_cache: Arc::new(CorsCache::new(ProjectAuthCacheSettings::default())),
                key_usage: Arc::new(KeyUsage::default()),
                key_rate_limiter: Arc::new(KeyRateLimiter::new()),
                key_credits: Arc::new(KeyCredits::new(CreditSettings::default())),
                key_change_feed: Arc::new(KeyChangeFeed::new(KeyChangeFeedSettings::default())),
                key_lookups: Arc::new(BatchQueue::new(BatchSettings::default())),
                key_creates: Arc::new(BatchQueue::new(BatchSettings::default())),
                metrics: Arc::new(ServiceMetrics::default()),
                limits: Limits::default(),
                webhook_secrets: WebhookSecrets::random(),
            }),
        }
    }

    /// The same service with a check cache of other bounds (set up before serving).
    pub fn with_check_cache(self, settings: CheckCacheSettings) -> Self {
        Service {
            inner: Arc::new(Inner {
                check_cache: Arc::new(CheckCache::new(settings)),
                ..Inner::clone(&self.inner)
            }),
        }
    }

    /// The same service with project-authentication and CORS caches of other bounds (set up
    /// before serving).
    pub fn with_project_auth_cache(self, settings: ProjectAuthCacheSettings) -> Self {
        Service {
            inner: Arc::new(Inner {
                project_auth_cache: Arc::new(ProjectAuthCache::new(settings)),
                cors_cache: Arc::new(CorsCache::new(settings)),
                ..Inner::clone(&self.inner)
            }),
        }
    }

    /// The same service with another precision of keys' last use (the default:
    /// [`DEFAULT_LAST_USED_PRECISION`](crate::key_usage::DEFAULT_LAST_USED_PRECISION); set up
    /// before serving).
    pub fn with_last_used_precision(self, precision: Duration) -> Self {
        Service {
            inner: Arc::new(Inner {
                key_usage: Arc::new(KeyUsage::new(precision)),
                ..Inner::clone(&self.inner)
            }),
        }
    }

    /// The same service with other caps (the default: [`Limits::default`]).
    pub fn with_limits(self, limits: Limits) -> Self {
        Service {
            inner: Arc::new(Inner {
                limits,
                ..Inner::clone(&self.inner)
            }),
        }
    }

    /// The same service with webhook secrets derived from `secrets` (set up before serving;
    /// every node of a deployment must use the same).
    pub fn with_webhook_secrets(self, secrets: WebhookSecrets) -> Self {
        Service {
            inner: Arc::new(Inner {
                webhook_secrets: secrets,
                ..Inner::clone(&self.inner)
            }),
        }
    }

    /// How webhook endpoints' secrets are derived and deliveries signed.
    pub fn webhook_secrets(&self) -> &WebhookSecrets {
        &self.inner.webhook_secrets
    }

    /// The caps on what one caller may store.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.inner.database
    }

    /// The hasher for stored secrets.
    pub fn hasher(&self) -> &KeyHasher {
        &self.inner.hasher
    }

    /// The current time, from the service's clock.
    pub fn now(&self) -> EpochMillis {
        (self.inner.clock)()
    }

    /// The check path's cache of stored keys (for the binary's cross-node listener, and for
    /// tests and diagnostics). Writes reach it only through `Service::write_keys`.
    pub fn check_cache(&self) -> &Arc<CheckCache> {
        &self.inner.check_cache
    }

    /// Which project a presented project key opens.
    pub fn project_auth_cache(&self) -> &Arc<ProjectAuthCache> {
        &self.inner.project_auth_cache
    }

    /// Each project's CORS settings.
    pub fn cors_cache(&self) -> &Arc<CorsCache> {
        &self.inner.cors_cache
    }

    /// Forgets what this node cached about projects (which project a key opens, CORS settings),
    /// after a project, its settings or its credentials changed; called before the change's
    /// response is sent.
    pub fn project_settings_changed(&self) {
        self.inner.project_auth_cache.invalidate_all();
        self.inner.cors_cache.invalidate_all();
    }

    /// This node's record of when keys were last used (flushed by a
    /// [`UsageFlusher`](crate::key_usage::UsageFlusher) the binary runs).
    pub fn key_usage(&self) -> &Arc<KeyUsage> {
        &self.inner.key_usage
    }

    /// This node's counts of rate-limited checks (exchanged with the other nodes by the
    /// [`KeyPolicySync`](crate::key_rate_limits::KeyPolicySync) the binary runs).
    pub fn key_rate_limiter(&self) -> &Arc<KeyRateLimiter> {
        &self.inner.key_rate_limiter
    }

    /// This node's leases of usage credits (given back when idle by the
    /// [`KeyPolicySync`](crate::key_rate_limits::KeyPolicySync) the binary runs).
    pub fn key_credits(&self) -> &Arc<KeyCredits> {
        &self.inner.key_credits
    }

    /// The feed of key changes this node passes on to the protected services' clients.
    pub fn key_change_feed(&self) -> &Arc<KeyChangeFeed> {
        &self.inner.key_change_feed
    }

    /// The batched lookups of keys the check cache did not hold.
    pub(crate) fn key_lookups(&self) -> &Arc<KeyLookups> {
        &self.inner.key_lookups
    }

    /// The same service with cache misses looked up as `settings` say (set up before serving).
    pub fn with_key_lookup_settings(self, settings: BatchSettings) -> Self {
        Service {
            inner: Arc::new(Inner {
                key_lookups: Arc::new(BatchQueue::new(settings)),
                ..Inner::clone(&self.inner)
            }),
        }
    }

    /// The queue of creates of keys waiting to be committed together.
    pub(crate) fn key_creates(&self) -> &Arc<KeyCreates> {
        &self.inner.key_creates
    }

    /// The same service with concurrent creates of keys committed together as `settings` say
    /// (set up before serving).
    pub fn with_key_create_settings(self, settings: BatchSettings) -> Self {
        Service {
            inner: Arc::new(Inner {
                key_creates: Arc::new(BatchQueue::new(settings)),
                ..Inner::clone(&self.inner)
            }),
        }
    }

    /// The same service with a key-change feed of other bounds (set up before serving).
    pub fn with_key_change_feed(self, settings: KeyChangeFeedSettings) -> Self {
        Service {
            inner: Arc::new(Inner {
                key_change_feed: Arc::new(KeyChangeFeed::new(settings)),
                ..Inner::clone(&self.inner)
            }),
        }
    }

    /// The same service with usage credits leased as `settings` say (set up before serving).
    pub fn with_credit_settings(self, settings: CreditSettings) -> Self {
        Service {
            inner: Arc::new(Inner {
                key_credits: Arc::new(KeyCredits::new(settings)),
                ..Inner::clone(&self.inner)
            }),
        }
    }

    /// This node's counters for metrics (check outcomes, the listener's state).
    pub fn metrics(&self) -> &Arc<ServiceMetrics> {
        &self.inner.metrics
    }

    /// Pending notices in the outbox, counting at most `cap` (for metrics, sampled at scrape
    /// time on the blocking pool).
    pub async fn outbox_backlog(&self, cap: u32) -> Result<u32, ServiceError> {
        self.run(move |_, conn| Ok(notification_outbox::count_pending(conn, cap)?))
            .await
    }

    /// Proves that the database answers (readiness): one trivial query on a pooled connection.
    /// Returns the backend it talks to.
    pub async fn ping_database(&self) -> Result<Backend, ServiceError> {
        self.run(|_, conn| {
            conn.ping()?;
            Ok(conn.backend())
        })
        .await
    }

    /// Runs blocking database `work` with a pooled connection on the runtime's blocking thread
    /// pool, so async workers never wait on the database. The work runs to completion even if
    /// the caller stops waiting. It runs a second time, on a live connection, when its first
    /// statement found the pooled connection dead ([`Database::with_connection`]), so it has no
    /// effect outside the database before its first statement.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, ServiceError>
    where
        F: Fn(&Service, &mut DbConnection) -> Result<T, ServiceError> + Send + 'static,
        T: Send + 'static,
    {
        let service = self.clone();
        tokio::task::spawn_blocking(move || {
            service
                .inner
                .database
                .with_connection(|conn| work(&service, conn))
        })
        .await
        .map_err(|error| ServiceError::Internal(format!("database task failed: {error}")))?
    }

    /// The one path every change to stored keys takes: runs `work` in a transaction through
    /// [`key_changes::write_keys`] (which announces the changed keys to the other nodes), and
    /// invalidates them in this node's check cache and passes them on to its key-change feed
    /// before returning, so a response sent after this returns is never contradicted by a
    /// cached row, here or in a protected service's client.
    pub(crate) fn write_keys<T>(
        &self,
        conn: &mut DbConnection,
        work: impl FnOnce(&mut KeyWrite<'_>) -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        key_changes::write_keys(
            conn,
            |changed| {
                self.inner
                    .check_cache
                    .invalidate(changed.iter().map(|change| change.id));
                self.inner.key_change_feed.publish(changed);
            },
            work,
        )
    }
}
