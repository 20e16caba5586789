//! The team use cases.

use keygate_domain::TeamId;
use keygate_permissions::IdentityAction;
use keygate_storage::repo::teams;

use crate::actor::Actor;
use crate::error::{NotFound, ServiceError};
use crate::identity::authorize;
use crate::Service;

impl Service {
    /// Deletes the team `team_id` with everything that belongs to it; its API keys leave the
    /// check cache before this returns.
    pub async fn delete_team(&self, actor: Actor, team_id: TeamId) -> Result<(), ServiceError> {
        self.run(move |service, conn| {
            authorize(conn, &actor, &IdentityAction::DeleteTeam { team_id })?;
            service
                .write_keys(conn, |write| {
                    Ok(teams::delete(write, actor.project, team_id)?)
                })
                .map_err(|error| error.missing_as(NotFound::Team { team_id }))
        })
        .await
    }
}
