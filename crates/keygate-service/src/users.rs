//! The user use cases.

use keygate_domain::UserId;
use keygate_permissions::IdentityAction;
use keygate_storage::repo::users;

use crate::actor::Actor;
use crate::error::{NotFound, ServiceError};
use crate::identity::authorize;
use crate::Service;

impl Service {
    /// Deletes the user `user_id` (through `DELETE /users/{id}`, or `/users/me` with
    /// `current`) with everything that is theirs; their API keys leave the check cache before
    /// this returns.
    pub async fn delete_user(
        &self,
        actor: Actor,
        user_id: UserId,
        current: bool,
    ) -> Result<(), ServiceError> {
        let action = if current {
            IdentityAction::DeleteCurrentUser
        } else {
            IdentityAction::DeleteUser
        };
        self.run(move |service, conn| {
            authorize(conn, &actor, &action)?;
            service
                .write_keys(conn, |write| {
                    Ok(users::delete(write, actor.project, user_id)?)
                })
                .map_err(|error| error.missing_as(NotFound::User))
        })
        .await
    }
}
