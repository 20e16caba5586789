//! The team-membership use cases (upstream's `teamMembershipsCrud`): adding a user to a team
//! with the member defaults, and removing a membership.
//!
//! Key decision: each change runs in one transaction with the existence checks upstream makes
//! before it, in upstream's order (the user, then the team or the membership), so a concurrent
//! change never leaves a half-made membership; removing a member also clears the team as the
//! user's selected team, since a selection must be a team of theirs.

use keygate_domain::{ProjectId, TeamId, UserId};
use keygate_permissions::{IdentityAction, MembershipKind};
use keygate_storage::repo::memberships;
use keygate_storage::repo::users::{self, UserUpdate};
use keygate_storage::DbConnection;

use crate::actor::Actor;
use crate::audit::{self, AuditAction, AuditActor, Change};
use crate::error::{Conflict, NotFound, ServiceError};
use crate::identity::{
    add_member, authorize, ensure_membership, ensure_team_exists, ensure_user_exists,
};
use crate::Service;

impl Service {
    /// Adds the user `user_id` to the team `team_id` with the permissions granted to members
    /// on joining (`POST /team-memberships/{team_id}/{user_id}`).
    pub async fn add_team_member(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: UserId,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        self.run(move |_, conn| {
            authorize(conn, &actor, &IdentityAction::AddTeamMember)?;
            let project = actor.project;
            conn.in_transaction_with(|conn| {
                ensure_user_exists(conn, project, user_id)?;
                ensure_team_exists(conn, project, team_id)?;
                if memberships::exists(conn, project, team_id, user_id)? {
                    return Err(Conflict::AlreadyMember.into());
                }
                let by = AuditActor::of(&actor);
                add_member(
                    conn,
                    project,
                    team_id,
                    user_id,
                    MembershipKind::Member,
                    &by,
                    now,
                )
            })
        })
        .await
    }

    /// Removes the user `user_id` from the team `team_id`, with their grants there
    /// (`DELETE /team-memberships/{team_id}/{user_id}`).
    pub async fn remove_team_member(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: UserId,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        self.run(move |_, conn| {
            authorize(
                conn,
                &actor,
                &IdentityAction::RemoveTeamMember { team_id, user_id },
            )?;
            conn.in_transaction_with(|conn| {
                remove(conn, actor.project, team_id, user_id)?;
                let change = Change::new(
                    AuditAction::TeamMembershipDeleted,
                    format!("{team_id}/{user_id}"),
                )
                .target(Some(user_id))
                .fact("team_id", team_id.to_string())
                .fact("user_id", user_id.to_string());
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
}

/// Removes the membership, and the team as the user's selection if it was selected.
fn remove(
    conn: &mut DbConnection,
    project: ProjectId,
    team_id: TeamId,
    user_id: UserId,
) -> Result<(), ServiceError> {
    ensure_membership(conn, project, team_id, user_id)?;
    memberships::delete(conn, project, team_id, user_id).map_err(|error| {
        ServiceError::from(error).missing_as(NotFound::Membership { team_id, user_id })
    })?;
    let selected = users::get(conn, project, user_id)?
        .is_some_and(|user| user.selected_team_id == Some(team_id));
    if selected {
        let clear = UserUpdate {
            selected_team_id: Some(None),
            ..UserUpdate::default()
        };
        users::update(conn, project, user_id, &clear)?;
    }
    Ok(())
}
