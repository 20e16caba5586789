//! Sessions: whether an access token's session is still open.
//!
//! An access token names its session (`refresh_token_id`); every request that carries one asks
//! [`Service::session_state`], never a cache, so a sign-out or a deleted user ends the session's
//! access at once.

use keygate_domain::{EpochMillis, ProjectId, UserId};
use keygate_storage::repo::sessions;
use uuid::Uuid;

use crate::error::ServiceError;
use crate::Service;

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
