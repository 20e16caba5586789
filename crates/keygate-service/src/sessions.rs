//! Sessions: opening one for a user, finding the open session of a refresh token, signing out,
//! the OAuth client of the token endpoint, and whether an access token's session is still open.
//!
//! Key decisions: a session is stored with only the digest of its refresh token, which is
//! generated here and handed out once, by [`Service::create_session`]; the access token itself
//! is minted by the caller from the [`UserRecord`] these use cases return (signing is the HTTP
//! layer's). An access token names its session (`refresh_token_id`); every request that carries
//! one asks [`Service::session_state`], never a cache, so a sign-out or a deleted user ends the
//! session's access at once.
//!
//! Refresh-token rotation (optional; upstream does not rotate): [`Service::rotate_refresh_token`]
//! trades a refresh token for a new one, and the old one stops working. Presenting the token a
//! rotation retired again — or losing a race with another refresh of the same token — is reuse
//! (OAuth 2.0 Security BCP §4.14): the session is signed out, so both the thief's and the user's
//! tokens stop working, and the answer is that of an unknown token. There is no grace period:
//! of two concurrent refreshes with one token, the second ends the session.

use keygate_domain::{
    CredentialKind, EpochMillis, ProjectId, SecretToken, UserId, REFRESH_TOKEN_PREFIX,
};
use keygate_permissions::{AccessType, IdentityAction};
use keygate_storage::repo::sessions::{self, SessionRecord};
use keygate_storage::repo::users::{self, UserRecord};
use keygate_storage::StorageError;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::{self, AuditAction, AuditActor, Change};
use crate::error::{NotFound, ServiceError};
use crate::identity::authorize;
use crate::project_auth_cache::PresentedProjectKey;
use crate::Service;

/// A session just opened: the only time its refresh token is seen.
#[derive(Debug)]
pub struct OpenedSession {
    /// The session as stored.
    pub session: SessionRecord,
    /// Its refresh token (only its digest is stored).
    pub refresh_token: SecretToken,
    /// The signed-in user, as stored.
    pub user: UserRecord,
}

/// The open session a refresh token belongs to, with its user as currently stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshableSession {
    /// The session.
    pub session: SessionRecord,
    /// The signed-in user.
    pub user: UserRecord,
}

/// A refresh with rotation: the session, its user, and the refresh token that replaces the one
/// presented (shown only here).
#[derive(Debug)]
pub struct RotatedSession {
    /// The session, with its new refresh-token digest.
    pub session: SessionRecord,
    /// The signed-in user.
    pub user: UserRecord,
    /// The new refresh token.
    pub refresh_token: SecretToken,
}

/// Signs `session` out because one of its refresh tokens was used twice.
fn end_reused_session(
    conn: &mut keygate_storage::DbConnection,
    session: &SessionRecord,
    now: EpochMillis,
) -> Result<(), ServiceError> {
    tracing::warn!(
        session_id = %session.id,
        project_id = %session.project_id,
        "a rotated refresh token was presented again: signing the session out"
    );
    sessions::revoke(conn, session.project_id, session.id, now)?;
    Ok(())
}

/// What became of a session an access token names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Open: neither signed out nor expired.
    Open {
        /// The signed-in user.
        user_id: UserId,
        /// The session.
        session_id: Uuid,
    },
    /// There is no such session of that user (never was, or deleted with its user).
    Gone,
    /// Signed out or expired at this instant.
    Ended {
        /// When it was signed out, else when it expired.
        at: EpochMillis,
    },
}

impl Service {
    /// Opens a session of `lifetime_millis` (negative: already expired) for the user `user_id`
    /// (`POST /auth/sessions`).
    pub async fn create_session(
        &self,
        actor: Actor,
        user_id: UserId,
        lifetime_millis: i64,
    ) -> Result<OpenedSession, ServiceError> {
        let now = self.now();
        self.run(move |service, conn| {
            authorize(conn, &actor, &IdentityAction::CreateSession)?;
            let project = actor.project;
            let user =
                users::get(conn, project, user_id)?.ok_or(NotFound::SessionUser { user_id })?;
            let refresh_token = SecretToken::generate(REFRESH_TOKEN_PREFIX);
            let session = SessionRecord {
                id: Uuid::new_v4(),
                project_id: project,
                user_id,
                refresh_token_hash: service.hasher().hash(refresh_token.expose_secret()),
                created_at_millis: now,
                expires_at_millis: now.saturating_add(lifetime_millis),
                revoked_at_millis: None,
                last_used_at_millis: now,
            };
            sessions::insert(conn, &session).map_err(|error| match error {
                // The user was deleted meanwhile.
                StorageError::ForeignKeyViolation { .. } => {
                    NotFound::SessionUser { user_id }.into()
                }
                other => ServiceError::from(other),
            })?;
            Ok(OpenedSession {
                session,
                refresh_token,
                user,
            })
        })
        .await
    }

    /// The open session of `refresh_token` in `project`, with its user; a token that is
    /// unknown, another project's, signed out or expired, or whose user is gone, is
    /// [`NotFound::RefreshToken`].
    pub async fn session_of_refresh_token(
        &self,
        project: ProjectId,
        refresh_token: &str,
    ) -> Result<RefreshableSession, ServiceError> {
        let hash = self.hasher().hash(refresh_token);
        let now = self.now();
        self.run(move |_, conn| {
            let session = sessions::find_by_refresh_token_hash(conn, &hash)?
                .filter(|session| session.project_id == project)
                .filter(|session| session.lifetime().is_valid(now))
                .ok_or(NotFound::RefreshToken)?;
            let user = users::get(conn, project, session.user_id)?.ok_or(NotFound::RefreshToken)?;
            sessions::record_use(conn, session.id, now)?;
            Ok(RefreshableSession { session, user })
        })
        .await
    }

    /// Like [`Service::session_of_refresh_token`], but the token is replaced by a new one (see
    /// the module documentation): a token already rotated away, or one another refresh is
    /// replacing at the same time, ends its session and is [`NotFound::RefreshToken`].
    pub async fn rotate_refresh_token(
        &self,
        project: ProjectId,
        refresh_token: &str,
    ) -> Result<RotatedSession, ServiceError> {
        let hash = self.hasher().hash(refresh_token);
        let now = self.now();
        self.run(move |service, conn| {
            let Some(session) = sessions::find_by_refresh_token_hash(conn, &hash)?
                .filter(|session| session.project_id == project)
            else {
                let retired = sessions::find_by_retired_refresh_token_hash(conn, &hash)?
                    .filter(|session| session.project_id == project);
                if let Some(session) = retired {
                    end_reused_session(conn, &session, now)?;
                }
                return Err(NotFound::RefreshToken.into());
            };
            if !session.lifetime().is_valid(now) {
                return Err(NotFound::RefreshToken.into());
            }
            let user = users::get(conn, project, session.user_id)?.ok_or(NotFound::RefreshToken)?;
            let refresh_token = SecretToken::generate(REFRESH_TOKEN_PREFIX);
            let new_hash = service.hasher().hash(refresh_token.expose_secret());
            if !sessions::rotate_refresh_token(conn, session.id, &hash, &new_hash, now)? {
                // Another refresh with the same token got there first: it was used twice.
                end_reused_session(conn, &session, now)?;
                return Err(NotFound::RefreshToken.into());
            }
            Ok(RotatedSession {
                session: SessionRecord {
                    refresh_token_hash: new_hash,
                    last_used_at_millis: now,
                    ..session
                },
                user,
                refresh_token,
            })
        })
        .await
    }

    /// Signs the session `session_id` of the actor's project out now (the first sign-out is
    /// kept); a session that is not there is [`NotFound::RefreshToken`].
    pub async fn sign_out(&self, actor: Actor, session_id: Uuid) -> Result<(), ServiceError> {
        let now = self.now();
        self.run(move |_, conn| {
            sessions::revoke(conn, actor.project, session_id, now)
                .map_err(|error| ServiceError::from(error).missing_as(NotFound::RefreshToken))?;
            Ok(())
        })
        .await
    }

    /// The open sessions of `user_id` (upstream's sessions list), most recently opened first,
    /// at most [`Limits::max_page_size`](crate::Limits) of them.
    pub async fn list_sessions(
        &self,
        actor: Actor,
        user_id: UserId,
    ) -> Result<Vec<SessionRecord>, ServiceError> {
        let now = self.now();
        let limit = i64::try_from(self.limits().max_page_size).unwrap_or(i64::MAX);
        self.run(move |_, conn| {
            authorize(conn, &actor, &IdentityAction::ListSessions { user_id })?;
            Ok(sessions::list_open_for_user(
                conn,
                actor.project,
                user_id,
                now,
                limit,
            )?)
        })
        .await
    }

    /// Signs the open session `session_id` out from the sessions list. A client may only end
    /// its own user's sessions: another user's, like a session that is not open, is
    /// [`NotFound::Session`]. Recorded in the audit log as `session.revoked`.
    pub async fn revoke_session(&self, actor: Actor, session_id: Uuid) -> Result<(), ServiceError> {
        let now = self.now();
        self.run(move |_, conn| {
            authorize(conn, &actor, &IdentityAction::RevokeSession)?;
            conn.in_transaction_with(|conn| {
                let session = sessions::get(conn, actor.project, session_id)?
                    .filter(|session| session.lifetime().is_valid(now))
                    .filter(|session| {
                        actor.caller.access_type != AccessType::Client
                            || actor.session_user() == Some(session.user_id)
                    })
                    .ok_or(NotFound::Session)?;
                sessions::revoke(conn, actor.project, session_id, now)?;
                let change = Change::new(AuditAction::SessionRevoked, session_id.to_string())
                    .target(Some(session.user_id))
                    .fact("user_id", session.user_id.to_string());
                Ok(audit::record(
                    conn,
                    actor.project,
                    &AuditActor::of(&actor),
                    change,
                    now,
                )?)
            })
        })
        .await
    }

    /// Whether `client_secret` is one of `project`'s valid publishable client keys: the client
    /// authentication of the OAuth token endpoint (the project as `client_id`).
    pub async fn is_oauth_client(
        &self,
        project: ProjectId,
        client_secret: &str,
    ) -> Result<bool, ServiceError> {
        let presented = PresentedProjectKey {
            project_id: project,
            kind: CredentialKind::PublishableClientKey,
            hash: self.hasher().hash(client_secret),
        };
        Ok(self.project_opened_by(presented).await?.is_some())
    }

    /// The state of the session `session_id` of `user_id` in `project`, now.
    pub async fn session_state(
        &self,
        project: ProjectId,
        user_id: UserId,
        session_id: Uuid,
    ) -> Result<SessionState, ServiceError> {
        let now = self.now();
        let stored = self
            .run(move |_, conn| Ok(sessions::get(conn, project, session_id)?))
            .await?;
        let Some(record) = stored.filter(|s| s.user_id == user_id) else {
            return Ok(SessionState::Gone);
        };
        Ok(match record.lifetime().check(now) {
            Ok(()) => SessionState::Open {
                user_id: record.user_id,
                session_id: record.id,
            },
            // Signed out or expired: when that happened.
            Err(_) => SessionState::Ended {
                at: record.revoked_at_millis.unwrap_or(record.expires_at_millis),
            },
        })
    }
}
