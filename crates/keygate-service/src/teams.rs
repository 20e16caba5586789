//! The team use cases: create, list, read, update and delete the teams of a project.
//!
//! Each asks `keygate_permissions` for its decision — [`authorize_create_team`] for a new team
//! (which also names the creator), `identity::authorize` for the rest, which loads the caller's standing
//! in the team when a client acts — and does its database work in one blocking task. Creating a
//! team with a creator is one transaction: the team, the check that the creator exists and the
//! creator's membership with the grants of [`MembershipKind::Creator`] are stored together or not
//! at all. Deleting a team deletes its API keys too, so it goes through `Service::write_keys`.

use keygate_domain::{ProjectId, TeamId, UserId};
use keygate_permissions::{authorize_create_team, AccessType, IdentityAction, MembershipKind};
use keygate_storage::repo::teams::{self, TeamRecord, TeamUpdate};
use keygate_storage::repo::{memberships, users};
use keygate_storage::DbConnection;

use crate::actor::Actor;
use crate::audit::{self, AuditAction, AuditActor, Change};
use crate::error::{NotFound, Refusal, ServiceError};
use crate::identity::{add_member, authorize, ensure_team_exists, ensure_user_exists};
use crate::Service;

/// A team to create, with its metadata as stored (JSON text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTeam {
    /// The team's name.
    pub display_name: String,
    /// Its profile image URL.
    pub profile_image_url: Option<String>,
    /// Metadata clients may read and write.
    pub client_metadata: Option<String>,
    /// Metadata clients may only read.
    pub client_read_only_metadata: Option<String>,
    /// Metadata only servers see.
    pub server_metadata: Option<String>,
}

/// Refuses a team a client would create once its user belongs to `limit` teams. The user's row
/// is locked first, so concurrent creates by one user count each other.
fn refuse_over_team_cap(
    conn: &mut DbConnection,
    project: ProjectId,
    user: UserId,
    limit: u64,
) -> Result<(), ServiceError> {
    if !users::lock(conn, project, user)? {
        return Err(NotFound::User.into());
    }
    if memberships::count_for_user(conn, project, user)? >= limit {
        return Err(Refusal::TeamLimitReached { limit }.into());
    }
    Ok(())
}

impl Service {
    /// Creates a team; `requested_creator` (if the decision lets it, or the client's own user)
    /// joins it with the creator's grants. An unknown creator creates nothing.
    pub async fn create_team(
        &self,
        actor: Actor,
        team: NewTeam,
        requested_creator: Option<UserId>,
    ) -> Result<TeamRecord, ServiceError> {
        let creator = authorize_create_team(&actor.caller, &actor.switches, requested_creator)?;
        let now = self.now();
        // Only a client's creations are capped (servers and admins are trusted with their own).
        let team_cap = (actor.caller.access_type == AccessType::Client)
            .then_some(self.limits().max_client_teams_per_user);
        let record = TeamRecord {
            id: TeamId::new_random(),
            project_id: actor.project,
            display_name: team.display_name,
            profile_image_url: team.profile_image_url,
            client_metadata: team.client_metadata,
            client_read_only_metadata: team.client_read_only_metadata,
            server_metadata: team.server_metadata,
            created_at_millis: now,
        };
        let by = AuditActor::of(&actor);
        self.run(move |_, conn| {
            conn.in_transaction_with(|conn| {
                if let Some(limit) = team_cap {
                    if let Some(creator) = creator {
                        refuse_over_team_cap(conn, record.project_id, creator, limit)?;
                    }
                }
                teams::insert(conn, &record)?;
                if let Some(creator) = creator {
                    ensure_user_exists(conn, record.project_id, creator)?;
                    add_member(
                        conn,
                        record.project_id,
                        record.id,
                        creator,
                        MembershipKind::Creator,
                        &by,
                        now,
                    )?;
                }
                Ok::<_, ServiceError>(())
            })?;
            Ok(record.clone())
        })
        .await
    }

    /// The teams of the project, or with `user_id` the teams that user is a member of.
    pub async fn list_teams(
        &self,
        actor: Actor,
        user_id: Option<UserId>,
    ) -> Result<Vec<TeamRecord>, ServiceError> {
        self.run(move |_, conn| {
            authorize(conn, &actor, &IdentityAction::ListTeams { user_id })?;
            Ok(match user_id {
                Some(user) => teams::list_for_user(conn, actor.project, user)?,
                None => teams::list_for_project(conn, actor.project)?,
            })
        })
        .await
    }

    /// The team `team_id`.
    pub async fn read_team(
        &self,
        actor: Actor,
        team_id: TeamId,
    ) -> Result<TeamRecord, ServiceError> {
        self.run(move |_, conn| {
            authorize(conn, &actor, &IdentityAction::ReadTeam { team_id })?;
            ensure_team_exists(conn, actor.project, team_id)
        })
        .await
    }

    /// Applies `changes` to the team `team_id`; returns the team as stored afterwards.
    pub async fn update_team(
        &self,
        actor: Actor,
        team_id: TeamId,
        changes: TeamUpdate,
    ) -> Result<TeamRecord, ServiceError> {
        self.run(move |_, conn| {
            authorize(conn, &actor, &IdentityAction::UpdateTeam { team_id })?;
            teams::update(conn, actor.project, team_id, &changes)
                .map_err(|error| ServiceError::from(error).missing_as(NotFound::Team { team_id }))
        })
        .await
    }

    /// Deletes the team `team_id` with everything that belongs to it; its API keys leave the
    /// check cache before this returns.
    pub async fn delete_team(&self, actor: Actor, team_id: TeamId) -> Result<(), ServiceError> {
        let now = self.now();
        self.run(move |service, conn| {
            authorize(conn, &actor, &IdentityAction::DeleteTeam { team_id })?;
            service
                .write_keys(conn, |write| {
                    let deleted_keys = teams::delete(write, actor.project, team_id)?;
                    let change = Change::new(AuditAction::TeamDeleted, team_id)
                        .fact("deleted_api_keys", deleted_keys);
                    let by = AuditActor::of(&actor);
                    Ok(audit::record(
                        write.conn(),
                        actor.project,
                        &by,
                        change,
                        now,
                    )?)
                })
                .map_err(|error| error.missing_as(NotFound::Team { team_id }))
        })
        .await
    }
}
