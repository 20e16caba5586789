//! What the identity use cases (users, sessions, teams, memberships, team permissions) share:
//! their decisions ([`authorize`] loads the caller's standing in a team when the decision needs
//! it and asks `keygate_permissions::authorize_identity`), the existence checks upstream makes
//! before a change, and adding a member with the permissions granted on joining.

use keygate_domain::{EpochMillis, ProjectId, TeamId, UserId};
use keygate_permissions::{authorize_identity, IdentityAction, MembershipKind};
use keygate_storage::repo::memberships::{self, MembershipRecord};
use keygate_storage::repo::team_permissions::{self, GrantRecord};
use keygate_storage::repo::teams::{self, TeamRecord};
use keygate_storage::repo::users::{self, UserRecord};
use keygate_storage::{DbConnection, StorageError};

use crate::actor::Actor;
use crate::audit::{self, AuditAction, AuditActor, Change};
use crate::error::{Conflict, NotFound, ServiceError};
use crate::team_standing::{load_catalogue, load_standing};
use crate::users::UserWithTeam;

/// Asks `keygate_permissions` whether the actor may perform `action`, loading the caller's
/// standing in the team first when the decision needs it.
pub(crate) fn authorize(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &IdentityAction,
) -> Result<(), ServiceError> {
    let standing = match action.team_standing_needed(&actor.caller) {
        Some((team, user)) => Some(load_standing(conn, actor.project, team, user)?),
        None => None,
    };
    authorize_identity(&actor.caller, action, standing.as_ref())?;
    Ok(())
}

/// Not found (the user) unless the project has the user (upstream's `ensureUserExists`).
pub(crate) fn ensure_user_exists(
    conn: &mut DbConnection,
    project: ProjectId,
    user: UserId,
) -> Result<(), ServiceError> {
    if users::exists(conn, project, user)? {
        Ok(())
    } else {
        Err(NotFound::User.into())
    }
}

/// The team, or not found (the team) if the project has no such team.
pub(crate) fn ensure_team_exists(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
) -> Result<TeamRecord, ServiceError> {
    teams::get(conn, project, team)?.ok_or_else(|| NotFound::Team { team_id: team }.into())
}

/// Not found (the user, then the membership) unless the user is a member of the team
/// (upstream's `ensureTeamMembershipExists`).
pub(crate) fn ensure_membership(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
    user: UserId,
) -> Result<(), ServiceError> {
    ensure_user_exists(conn, project, user)?;
    if memberships::exists(conn, project, team, user)? {
        Ok(())
    } else {
        Err(NotFound::Membership {
            team_id: team,
            user_id: user,
        }
        .into())
    }
}

/// Adds `user` to `team` with the permissions granted on joining as `kind` (the creator gets
/// `team_admin`, a member `team_member`). The caller has checked that both exist; a user who
/// already is a member is a conflict.
pub(crate) fn add_member(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
    user: UserId,
    kind: MembershipKind,
    by: &AuditActor,
    now: EpochMillis,
) -> Result<(), ServiceError> {
    memberships::insert(
        conn,
        &MembershipRecord {
            project_id: project,
            team_id: team,
            user_id: user,
            created_at_millis: now,
        },
    )
    .map_err(|error| match error {
        StorageError::AlreadyExists { .. } => Conflict::AlreadyMember.into(),
        other => ServiceError::from(other),
    })?;
    let catalogue = load_catalogue(conn, project)?;
    let mut granted = Vec::new();
    for permission in kind.default_grants() {
        // A project whose operator removed a default definition simply grants nothing for it.
        if !catalogue.is_defined(permission.as_str()) {
            continue;
        }
        granted.push(permission.as_str().to_owned());
        team_permissions::grant(
            conn,
            &GrantRecord {
                project_id: project,
                team_id: team,
                user_id: user,
                permission_id: permission.as_str().to_owned(),
            },
        )?;
    }
    let change = Change::new(AuditAction::TeamMembershipCreated, format!("{team}/{user}"))
        .target(Some(user))
        .fact("team_id", team.to_string())
        .fact("user_id", user.to_string())
        .fact("granted_permission_ids", granted);
    audit::record(conn, project, by, change, now)?;
    Ok(())
}

/// The user `user` of `project` with the team they selected, if the project has the user.
pub(crate) fn load_user(
    conn: &mut DbConnection,
    project: ProjectId,
    user: UserId,
) -> Result<Option<UserWithTeam>, StorageError> {
    users::get(conn, project, user)?
        .map(|record| with_selected_team(conn, project, record))
        .transpose()
}

/// `user` with the team they selected, read from `project`.
pub(crate) fn with_selected_team(
    conn: &mut DbConnection,
    project: ProjectId,
    user: UserRecord,
) -> Result<UserWithTeam, StorageError> {
    let selected_team = match user.selected_team_id {
        Some(team) => teams::get(conn, project, team)?,
        None => None,
    };
    Ok(UserWithTeam {
        user,
        selected_team,
    })
}
