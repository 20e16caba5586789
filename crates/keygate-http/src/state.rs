//! What every handler shares: the application layer ([`Service`]: database, hasher, clock,
//! caches), the access-token signer, the operator token, the prebuilt UI's state and the
//! per-address rate limits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{EpochMillis, KeyHash, KeyHasher};
use keygate_service::batch_queue::BatchSettings;
use keygate_service::check_cache::{CheckCache, CheckCacheSettings};
use keygate_service::clock::Clock;
use keygate_service::key_change_feed::KeyChangeFeedSettings;
use keygate_service::key_credits::CreditSettings;
use keygate_service::key_usage::KeyUsage;
use keygate_service::project_auth_cache::{ProjectAuthCache, ProjectAuthCacheSettings};
use keygate_service::{Limits, Service};
use keygate_storage::Database;

use crate::access_token::AccessTokenSigner;
use crate::metrics::{Metrics, MetricsExposure};
use crate::rate_limits::{RateLimitSettings, RateLimits};
use crate::request_body::BodyLimits;
use crate::ui::{UiSettings, UiState};

/// How long a session's refresh token lives unless the creator asks for less (upstream: 365 days).
pub const DEFAULT_REFRESH_TOKEN_LIFETIME_MILLIS: i64 = 365 * 24 * 60 * 60 * 1000;

/// Everything the server is configured with, handed to [`AppState::new`].
pub struct AppConfig {
    /// The database.
    pub database: Database,
    /// Hashes keys, credentials and refresh tokens for storage and lookup.
    pub hasher: KeyHasher,
    /// Signs and verifies session access tokens.
    pub access_tokens: AccessTokenSigner,
    /// The operator token that manages projects; `None` disables the operator endpoints.
    pub operator_token: Option<String>,
    /// The clock.
    pub clock: Clock,
}

impl fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppConfig")
            .field("database", &self.database)
            .field("hasher", &self.hasher)
            .field(
                "operator_token",
                &self.operator_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// Shared state of the HTTP layer; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
    /// The application layer: use cases, caches, database, hasher and clock.
    service: Service,
    /// The prebuilt UI's settings and demo state; see [`AppState::with_ui`].
    ui: Arc<UiState>,
    /// How large a request body may be; see [`AppState::with_limits`].
    body_limits: BodyLimits,
    /// Per-address rate limits; see [`AppState::with_rate_limits`].
    rate_limits: Arc<RateLimits>,
    /// Whether a refresh replaces the refresh token; see
    /// [`AppState::with_refresh_token_rotation`].
    refresh_token_rotation: bool,
    /// Prometheus metrics, when on; see [`AppState::with_metrics`].
    metrics: Option<Arc<Metrics>>,
}

struct Inner {
    access_tokens: AccessTokenSigner,
    /// Only the digest of the operator token is kept, and compared in constant time.
    operator_token_hash: Option<KeyHash>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("service", &self.service)
            .field("operator_token", &self.inner.operator_token_hash.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state from its configuration.
    pub fn new(config: AppConfig) -> Self {
        let operator_token_hash = config
            .operator_token
            .as_deref()
            .map(|token| config.hasher.hash(token));
        AppState {
            inner: Arc::new(Inner {
                access_tokens: config.access_tokens,
                operator_token_hash,
            }),
            service: Service::new(config.database, config.hasher, config.clock),
            ui: Arc::new(UiState::new(UiSettings::default())),
            body_limits: BodyLimits::default(),
            rate_limits: Arc::new(RateLimits::default()),
            refresh_token_rotation: false,
            metrics: None,
        }
    }

    /// The same state with other caps: on what a caller may store (the service's) and on request
    /// bodies (the `[limits]` settings; the defaults: [`Limits::default`],
    /// [`BodyLimits::default`]).
    pub fn with_limits(self, limits: Limits, body_limits: BodyLimits) -> Self {
        AppState {
            service: self.service.with_limits(limits),
            body_limits,
            ..self
        }
    }

    /// How large a request body may be.
    pub fn body_limits(&self) -> BodyLimits {
        self.body_limits
    }

    /// The same state with webhook secrets derived from `secrets` (every node of a deployment
    /// must use the same; the default is a random root of this process).
    pub fn with_webhook_secrets(self, secrets: keygate_service::webhooks::WebhookSecrets) -> Self {
        AppState {
            service: self.service.with_webhook_secrets(secrets),
            ..self
        }
    }

    /// The application layer every handler calls.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The same state with a check cache of other bounds (the default: [`CheckCacheSettings`]).
    pub fn with_check_cache(self, settings: CheckCacheSettings) -> Self {
        AppState {
            service: self.service.with_check_cache(settings),
            ..self
        }
    }

    /// The same state with another precision of keys' last use (see
    /// [`Service::with_last_used_precision`]).
    pub fn with_last_used_precision(self, precision: Duration) -> Self {
        AppState {
            service: self.service.with_last_used_precision(precision),
            ..self
        }
    }

    /// The same state with usage credits leased as `settings` say (the default:
    /// [`CreditSettings::default`]).
    pub fn with_credit_settings(self, settings: CreditSettings) -> Self {
        AppState {
            service: self.service.with_credit_settings(settings),
            ..self
        }
    }

    /// The same state with a key-change feed of other bounds (the default:
    /// [`KeyChangeFeedSettings::default`]).
    pub fn with_key_change_feed(self, settings: KeyChangeFeedSettings) -> Self {
        AppState {
            service: self.service.with_key_change_feed(settings),
            ..self
        }
    }

    /// The same state with cache misses looked up as `settings` say (the default:
    /// [`BatchSettings::default`]).
    pub fn with_key_lookup_settings(self, settings: BatchSettings) -> Self {
        AppState {
            service: self.service.with_key_lookup_settings(settings),
            ..self
        }
    }

    /// The same state with concurrent creates of keys committed together as `settings` say
    /// (the default: [`BatchSettings::default`]).
    pub fn with_key_create_settings(self, settings: BatchSettings) -> Self {
        AppState {
            service: self.service.with_key_create_settings(settings),
            ..self
        }
    }

    /// The check path's cache of stored keys (see [`Service::check_cache`]).
    pub fn check_cache(&self) -> &Arc<CheckCache> {
        self.service.check_cache()
    }

    /// The same state with a project-authentication cache of other bounds (the default:
    /// [`ProjectAuthCacheSettings`]).
    pub fn with_project_auth_cache(self, settings: ProjectAuthCacheSettings) -> Self {
        AppState {
            service: self.service.with_project_auth_cache(settings),
            ..self
        }
    }

    /// Which project a presented project key opens (see [`Service::project_auth_cache`]).
    pub fn project_auth_cache(&self) -> &Arc<ProjectAuthCache> {
        self.service.project_auth_cache()
    }

    /// This node's record of when keys were last used (see [`Service::key_usage`]).
    pub fn key_usage(&self) -> &Arc<KeyUsage> {
        self.service.key_usage()
    }

    /// The same state with the prebuilt UI configured (the demo sign-in is off until this says
    /// otherwise).
    pub fn with_ui(self, settings: UiSettings) -> Self {
        AppState {
            ui: Arc::new(UiState::new(settings)),
            ..self
        }
    }

    /// The prebuilt UI's settings and demo state.
    pub fn ui(&self) -> &UiState {
        &self.ui
    }

    /// The same state with other rate limits (the default: [`RateLimitSettings::default`]),
    /// starting with no address remembered.
    pub fn with_rate_limits(self, settings: &RateLimitSettings) -> Self {
        AppState {
            rate_limits: Arc::new(RateLimits::new(settings)),
            ..self
        }
    }

    /// The same state with refresh-token rotation on or off (off by default, as upstream):
    /// with it, every refresh issues a new refresh token and a reused one ends its session
    /// ([`Service::rotate_refresh_token`]).
    pub fn with_refresh_token_rotation(self, rotate: bool) -> Self {
        AppState {
            refresh_token_rotation: rotate,
            ..self
        }
    }

    /// The same state with Prometheus metrics on, `GET /metrics` served as `exposure` says
    /// (off by default: then `/metrics` is an unknown route).
    pub fn with_metrics(self, exposure: MetricsExposure) -> Self {
        AppState {
            metrics: Some(Arc::new(Metrics::new(exposure))),
            ..self
        }
    }

    /// This node's metrics, when on.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.metrics.as_ref()
    }

    /// Whether the public app serves `GET /metrics`.
    pub fn serves_metrics_publicly(&self) -> bool {
        self.metrics
            .as_ref()
            .is_some_and(|metrics| metrics.exposure() == MetricsExposure::Public)
    }

    /// Whether refreshes rotate the refresh token.
    pub fn refresh_token_rotation(&self) -> bool {
        self.refresh_token_rotation
    }

    /// This node's per-address rate limits.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.rate_limits
    }

    /// The hasher for stored secrets.
    pub fn hasher(&self) -> &KeyHasher {
        self.service.hasher()
    }

    /// The access-token signer.
    pub fn access_tokens(&self) -> &AccessTokenSigner {
        &self.inner.access_tokens
    }

    /// The current time in epoch milliseconds.
    pub fn now(&self) -> EpochMillis {
        self.service.now()
    }

    /// Whether `presented` is the operator token (constant-time); always false when none is set.
    pub fn is_operator_token(&self, presented: &str) -> bool {
        match &self.inner.operator_token_hash {
            Some(hash) => self.hasher().verify(presented, hash),
            None => false,
        }
    }
}
