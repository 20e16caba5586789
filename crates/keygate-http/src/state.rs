//! What every handler shares: the database, the hasher for secrets, the access-token signer, the
//! operator token and the clock.

use std::fmt;
use std::sync::Arc;

use actix_web::web;
use keygate_domain::{EpochMillis, KeyHash, KeyHasher};
use keygate_storage::{Database, DbConnection};

use crate::access_token::AccessTokenSigner;
use crate::check_cache::{CheckCache, CheckCacheSettings};
use crate::key_usage::KeyUsage;
use crate::project_auth_cache::{ProjectAuthCache, ProjectAuthCacheSettings};
use crate::ui::{UiSettings, UiState};
use crate::wire_error::ApiError;

/// Where "now" comes from. Always the Rust clock in production; tests move it to check expiry.
pub type Clock = Arc<dyn Fn() -> EpochMillis + Send + Sync>;

/// The system clock in epoch milliseconds.
pub fn system_clock() -> Clock {
    Arc::new(crate::access_token::now_millis)
}

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
    /// The prebuilt UI's settings and demo state; see [`AppState::with_ui`].
    ui: Arc<UiState>,
    /// The check path's cache of stored keys; see [`AppState::with_check_cache`].
    check_cache: Arc<CheckCache>,
    /// Which project a presented project key opens; see [`AppState::with_project_auth_cache`].
    project_auth_cache: Arc<ProjectAuthCache>,
    /// When keys were last used, pending their next batched write.
    key_usage: Arc<KeyUsage>,
}

struct Inner {
    database: Database,
    hasher: KeyHasher,
    access_tokens: AccessTokenSigner,
    /// Only the digest of the operator token is kept, and compared in constant time.
    operator_token_hash: Option<KeyHash>,
    clock: Clock,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("database", &self.inner.database)
            .field("hasher", &self.inner.hasher)
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
                database: config.database,
                hasher: config.hasher,
                access_tokens: config.access_tokens,
                operator_token_hash,
                clock: config.clock,
            }),
            ui: Arc::new(UiState::new(UiSettings::default())),
            check_cache: Arc::new(CheckCache::new(CheckCacheSettings::default())),
            project_auth_cache: Arc::new(
                ProjectAuthCache::new(ProjectAuthCacheSettings::default()),
            ),
            key_usage: Arc::new(KeyUsage::new()),
        }
    }

    /// The same state with a check cache of other bounds (the default: [`CheckCacheSettings`]).
    pub fn with_check_cache(self, settings: CheckCacheSettings) -> Self {
        AppState {
            check_cache: Arc::new(CheckCache::new(settings)),
            ..self
        }
    }

    /// The check path's cache of stored keys. Every write that changes or deletes a key
    /// invalidates it here before its response is sent.
    pub fn check_cache(&self) -> &Arc<CheckCache> {
        &self.check_cache
    }

    /// The same state with a project-authentication cache of other bounds (the default:
    /// [`ProjectAuthCacheSettings`]).
    pub fn with_project_auth_cache(self, settings: ProjectAuthCacheSettings) -> Self {
        AppState {
            project_auth_cache: Arc::new(ProjectAuthCache::new(settings)),
            ..self
        }
    }

    /// Which project a presented project key opens. Every change this node makes to a project
    /// or its credentials clears it before its response is sent.
    pub fn project_auth_cache(&self) -> &Arc<ProjectAuthCache> {
        &self.project_auth_cache
    }

    /// This node's record of when keys were last used (flushed by a
    /// [`UsageFlusher`](crate::key_usage::UsageFlusher) the binary runs).
    pub fn key_usage(&self) -> &Arc<KeyUsage> {
        &self.key_usage
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

    /// The database.
    pub fn database(&self) -> &Database {
        &self.inner.database
    }

    /// The hasher for stored secrets.
    pub fn hasher(&self) -> &KeyHasher {
        &self.inner.hasher
    }

    /// The access-token signer.
    pub fn access_tokens(&self) -> &AccessTokenSigner {
        &self.inner.access_tokens
    }

    /// The current time in epoch milliseconds.
    pub fn now(&self) -> EpochMillis {
        (self.inner.clock)()
    }

    /// Whether `presented` is the operator token (constant-time); always false when none is set.
    pub fn is_operator_token(&self, presented: &str) -> bool {
        match &self.inner.operator_token_hash {
            Some(hash) => self.inner.hasher.verify(presented, hash),
            None => false,
        }
    }

    /// Runs blocking database work on actix's blocking thread pool with a pooled connection, so
    /// the async workers never wait on the database.
    pub async fn with_conn<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let database = self.inner.database.clone();
        web::block(move || {
            let mut conn = database.get()?;
            work(&mut conn)
        })
        .await
        .map_err(|error| ApiError::internal(&error))?
    }
}
