//! What a use case answers when it does not succeed: the application layer's own outcome type.
//!
//! [`ServiceError`] names what went wrong in the terms of the use cases — denied by a permission
//! decision, a key rejected by the check, something not found, a conflict, a refusal, or the
//! database failing — and never a status code or a wire message: the HTTP layer maps each to the
//! contract's wire error in one place.

use std::sync::Arc;

use keygate_domain::api_key::CheckRejection;
use keygate_domain::{TeamId, UserId};
use keygate_permissions::Denial;
use keygate_storage::{ConnectionLoss, StorageError};

use crate::key_rate_limits::RateVerdict;

/// Why a use case did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A permission decision refused the caller.
    #[error("denied: {0}")]
    Denied(#[from] Denial),
    /// The presented API key is not valid for this check (wrong type, revoked, expired).
    #[error("rejected: {0}")]
    Rejected(#[from] CheckRejection),
    /// What the request names does not exist (in the caller's project).
    #[error("not found: {0:?}")]
    NotFound(NotFound),
    /// The change conflicts with what is stored.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// The request is well-formed but refused by a rule of the use case.
    #[error("refused: {0:?}")]
    Refused(Refusal),
    /// The database failed (unreachable, or a broken invariant).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The database failed under work shared by several requests (a batched key lookup): each
    /// of them gets the one error.
    #[error(transparent)]
    SharedStorage(Arc<StorageError>),
    /// A fault of keygate itself (e.g. a blocking task that panicked).
    #[error("internal error: {0}")]
    Internal(String),
}

/// What was not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotFound {
    /// An API key (also: not well-formed, another project's, or hidden from the caller).
    ApiKey,
    /// A user of the project.
    User,
    /// A user named as the subject of a new session.
    SessionUser {
        /// The id that was given.
        user_id: UserId,
    },
    /// A session of the project (for a client, of its own user).
    Session,
    /// A team of the project.
    Team {
        /// The id that was given.
        team_id: TeamId,
    },
    /// A membership of a user in a team.
    Membership {
        /// The team.
        team_id: TeamId,
        /// The user.
        user_id: UserId,
    },
    /// A team permission definition.
    PermissionDefinition {
        /// The permission id that was given.
        permission_id: String,
    },
    /// A granted team permission.
    TeamPermission {
        /// The team.
        team_id: TeamId,
        /// The user.
        user_id: UserId,
        /// The permission id.
        permission_id: String,
    },
    /// The caller's project no longer exists.
    Project {
        /// The project id as given.
        project_id: String,
    },
    /// A refresh token that is unknown, signed out or expired.
    RefreshToken,
    /// A credential of the project (`GET`/`PATCH /internal/api-keys/{id}`).
    ProjectCredential,
    /// A webhook endpoint of the project (`/internal/webhooks/{id}`).
    Webhook,
}

/// What a change conflicts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Another user of the project has this primary e-mail.
    UserEmailTaken {
        /// The e-mail.
        email: String,
    },
    /// The user already is a member of the team.
    AlreadyMember,
}

/// A rule of a use case that refuses a well-formed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A credential scanner reported a public key, which is meant to be seen.
    PublicApiKeyCannotBeRevoked,
    /// A valid key was checked for scopes it does not carry.
    ApiKeyScopeMissing {
        /// The required scopes it lacks, in the order asked.
        missing: Vec<String>,
    },
    /// A valid key was checked more often than its rate limit allows in this window.
    ApiKeyRateLimited(RateVerdict),
    /// A valid key has fewer usage credits left than the check costs.
    ApiKeyUsageExceeded,
    /// A key was to be created with scopes that are not in its project's catalogue.
    UnknownScopes {
        /// The unknown scope ids, in the order given.
        scopes: Vec<String>,
    },
    /// A client tried to set a part of a key's policy that only the project's server (or admin)
    /// may set: its metadata, rate limit or usage credits.
    ServerOnlyPolicy {
        /// What the client tried to set, in words ("metadata", "rate limit").
        field: &'static str,
    },
    /// A user's e-mail would be verified without an address to verify.
    VerifiedEmailWithoutAddress,
    /// The project already has as many credentials as one project may have.
    TooManyProjectCredentials {
        /// The cap ([`Limits::max_credentials_per_project`](crate::Limits)).
        limit: u64,
    },
    /// The project already has as many webhook endpoints as one project may have.
    TooManyWebhooks {
        /// The cap ([`Limits::max_webhooks_per_project`](crate::Limits)).
        limit: u64,
    },
    /// The owner already has as many API keys as [`Limits`](crate::Limits) allows.
    ApiKeyLimitReached {
        /// The cap.
        limit: u64,
    },
    /// The user already belongs to as many teams as a client may create up to.
    TeamLimitReached {
        /// The cap.
        limit: u64,
    },
}

impl From<NotFound> for ServiceError {
    fn from(missing: NotFound) -> Self {
        ServiceError::NotFound(missing)
    }
}

impl From<Conflict> for ServiceError {
    fn from(conflict: Conflict) -> Self {
        ServiceError::Conflict(conflict)
    }
}

impl From<Refusal> for ServiceError {
    fn from(refusal: Refusal) -> Self {
        ServiceError::Refused(refusal)
    }
}

impl ConnectionLoss for ServiceError {
    fn is_connection_lost(&self) -> bool {
        match self {
            ServiceError::Storage(error) => error.is_connection_lost(),
            ServiceError::SharedStorage(error) => error.is_connection_lost(),
            _ => false,
        }
    }
}

impl ServiceError {
    /// Storage's "no such row" becomes `missing`; any other error is kept.
    pub(crate) fn missing_as(self, missing: NotFound) -> ServiceError {
        match self {
            ServiceError::Storage(StorageError::NotFound { .. }) => missing.into(),
            other => other,
        }
    }
}
