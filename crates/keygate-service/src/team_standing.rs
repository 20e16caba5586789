//! Loading what the permission decisions need from storage: a project's team-permission
//! catalogue, a user's standing in a team, and the members who hold a permission there.
//! Resolution itself (recursion over contained permissions) is `keygate-permissions`'.

use keygate_domain::{ProjectId, TeamId, UserId};
use keygate_permissions::{
    PermissionCatalogue, PermissionDefinition, PermissionId, SystemPermission, TeamStanding,
};
use keygate_storage::repo::memberships;
use keygate_storage::repo::team_permissions::{self, GrantFilter, GrantRecord};
use keygate_storage::{DbConnection, StorageError};

/// The project's catalogue: the system permissions plus its stored custom definitions. A stored
/// id that is not a valid permission id cannot be granted meaningfully and is left out.
pub(crate) fn load_catalogue(
    conn: &mut DbConnection,
    project: ProjectId,
) -> Result<PermissionCatalogue, StorageError> {
    let mut catalogue = PermissionCatalogue::system_only();
    for record in team_permissions::list_definitions(conn, project)? {
        if record.is_system {
            continue;
        }
        let Ok(id) = PermissionId::parse(&record.id) else {
            tracing::warn!(permission_id = %record.id, "stored permission id is not valid; ignored");
            continue;
        };
        let definition = PermissionDefinition {
            id,
            description: Some(record.description),
            contained_permission_ids: record
                .contained_permission_ids
                .iter()
                .filter_map(|contained| PermissionId::parse(contained).ok())
                .collect(),
        };
        // Only system ids are refused, and those were skipped above.
        let _ = catalogue.define(definition);
    }
    Ok(catalogue)
}

/// The grants of `team`, optionally only those of `user`.
fn team_grants(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
    user: Option<UserId>,
) -> Result<Vec<GrantRecord>, StorageError> {
    team_permissions::list_grants(
        conn,
        project,
        &GrantFilter {
            team_id: Some(team),
            user_id: user,
            permission_id: None,
        },
    )
}

/// `user`'s standing in `team`: not a member (also when the team does not exist), or a member
/// with the permissions their grants resolve to.
pub(crate) fn load_standing(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
    user: UserId,
) -> Result<TeamStanding, StorageError> {
    if !memberships::exists(conn, project, team, user)? {
        return Ok(TeamStanding::NotMember);
    }
    let grants = team_grants(conn, project, team, Some(user))?;
    let catalogue = load_catalogue(conn, project)?;
    Ok(TeamStanding::Member(catalogue.resolve(
        grants.iter().map(|grant| grant.permission_id.as_str()),
    )))
}

/// The members of `team` who hold `permission` (recursively), in membership order.
pub(crate) fn members_holding(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
    permission: SystemPermission,
) -> Result<Vec<UserId>, StorageError> {
    let members = memberships::list_for_team(conn, project, team)?;
    let grants = team_grants(conn, project, team, None)?;
    let catalogue = load_catalogue(conn, project)?;
    Ok(members
        .into_iter()
        .filter(|member| {
            let granted = grants
                .iter()
                .filter(|grant| grant.user_id == member.user_id)
                .map(|grant| grant.permission_id.as_str());
            catalogue.resolve(granted).holds(permission)
        })
        .map(|member| member.user_id)
        .collect())
}
