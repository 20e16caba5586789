//! The team permission use cases: grant a permission to a member of a team, take a directly
//! granted one back, and list what members hold.
//!
//! Decisions come from `identity::authorize`. A grant or revocation needs the user and the membership to
//! exist (checked in that order, in the same transaction as the change); a grant also needs the
//! permission to be defined in the project's catalogue, and granting a held permission again
//! changes nothing. Listing resolves each member's grants through the project's
//! [`PermissionCatalogue`](keygate_permissions::PermissionCatalogue) — directly granted ids, or
//! with `recursive` everything they contain — and only then narrows to the asked-for permission,
//! so a permission held through containment is found by its own id.

use keygate_domain::{TeamId, UserId};
use keygate_permissions::{IdentityAction, PermissionId};
use keygate_storage::repo::team_permissions::{self, GrantFilter, GrantRecord};
use keygate_storage::{DbConnection, StorageError};

use crate::actor::Actor;
use crate::audit::{self, AuditAction, AuditActor, Change};
use crate::error::{NotFound, ServiceError};
use crate::identity::{authorize, ensure_membership};
use crate::team_standing::load_catalogue;
use crate::Service;

/// A permission a member holds in a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPermission {
    /// The team.
    pub team_id: TeamId,
    /// The member.
    pub user_id: UserId,
    /// The permission's id.
    pub permission_id: String,
}

/// Which held permissions to list; `None` does not narrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionQuery {
    /// Only in this team.
    pub team_id: Option<TeamId>,
    /// Only of this user.
    pub user_id: Option<UserId>,
    /// Only this permission (matched after the expansion).
    pub permission_id: Option<PermissionId>,
    /// Everything the grants contain, not only what was granted directly.
    pub recursive: bool,
}

/// The stored grant of `permission_id` to `user_id` in `team_id` of the actor's project.
fn grant_record(
    actor: &Actor,
    team_id: TeamId,
    user_id: UserId,
    permission_id: &PermissionId,
) -> GrantRecord {
    GrantRecord {
        project_id: actor.project,
        team_id,
        user_id,
        permission_id: permission_id.as_str().to_owned(),
    }
}

/// The audit record of granting or revoking `grant`.
fn grant_change(action: AuditAction, grant: &GrantRecord) -> Change {
    let object = format!(
        "{}/{}/{}",
        grant.team_id, grant.user_id, grant.permission_id
    );
    Change::new(action, object)
        .target(Some(grant.user_id))
        .fact("team_id", grant.team_id.to_string())
        .fact("user_id", grant.user_id.to_string())
        .fact("permission_id", grant.permission_id.clone())
}

impl Service {
    /// Grants `permission_id` to `user_id` in `team_id`; returns what the member now holds.
    pub async fn grant_team_permission(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: UserId,
        permission_id: PermissionId,
    ) -> Result<HeldPermission, ServiceError> {
        let grant = grant_record(&actor, team_id, user_id, &permission_id);
        let now = self.now();
        self.run(move |_, conn| {
            authorize(conn, &actor, &IdentityAction::GrantTeamPermission)?;
            conn.in_transaction_with(|conn| {
                ensure_membership(conn, grant.project_id, grant.team_id, grant.user_id)?;
                if !load_catalogue(conn, grant.project_id)?.is_defined(&grant.permission_id) {
                    return Err(NotFound::PermissionDefinition {
                        permission_id: grant.permission_id.clone(),
                    }
                    .into());
                }
                if team_permissions::grant(conn, &grant)? {
                    let change = grant_change(AuditAction::TeamPermissionGranted, &grant);
                    audit::record(conn, grant.project_id, &AuditActor::of(&actor), change, now)?;
                }
                Ok::<_, ServiceError>(())
            })?;
            Ok(HeldPermission {
                team_id: grant.team_id,
                user_id: grant.user_id,
                permission_id: grant.permission_id.clone(),
            })
        })
        .await
    }

    /// Takes back `permission_id`, granted directly to `user_id` in `team_id`.
    pub async fn revoke_team_permission(
        &self,
        actor: Actor,
        team_id: TeamId,
        user_id: UserId,
        permission_id: PermissionId,
    ) -> Result<(), ServiceError> {
        let grant = grant_record(&actor, team_id, user_id, &permission_id);
        let now = self.now();
        self.run(move |_, conn| {
            authorize(conn, &actor, &IdentityAction::RevokeTeamPermission)?;
            conn.in_transaction_with(|conn| {
                ensure_membership(conn, grant.project_id, grant.team_id, grant.user_id)?;
                team_permissions::delete_grant(conn, &grant).map_err(|error| {
                    ServiceError::from(error).missing_as(NotFound::TeamPermission {
                        team_id: grant.team_id,
                        user_id: grant.user_id,
                        permission_id: grant.permission_id.clone(),
                    })
                })?;
                let change = grant_change(AuditAction::TeamPermissionRevoked, &grant);
                Ok(audit::record(
                    conn,
                    grant.project_id,
                    &AuditActor::of(&actor),
                    change,
                    now,
                )?)
            })
        })
        .await
    }

    /// The permissions members hold, ordered by team, user and permission id.
    pub async fn list_team_permissions(
        &self,
        actor: Actor,
        query: PermissionQuery,
    ) -> Result<Vec<HeldPermission>, ServiceError> {
        self.run(move |_, conn| {
            authorize(
                conn,
                &actor,
                &IdentityAction::ListTeamPermissions {
                    user_id: query.user_id,
                },
            )?;
            Ok(held_permissions(conn, &actor, &query)?)
        })
        .await
    }
}

/// Per member (grants come ordered by team, then user), what they hold directly or
/// recursively, narrowed to the query's permission after the expansion.
fn held_permissions(
    conn: &mut DbConnection,
    actor: &Actor,
    query: &PermissionQuery,
) -> Result<Vec<HeldPermission>, StorageError> {
    let grants = team_permissions::list_grants(
        conn,
        actor.project,
        &GrantFilter {
            team_id: query.team_id,
            user_id: query.user_id,
            permission_id: None,
        },
    )?;
    let catalogue = load_catalogue(conn, actor.project)?;
    let wanted = query.permission_id.as_ref().map(PermissionId::as_str);
    let mut items = Vec::new();
    for member in grants.chunk_by(|a, b| a.team_id == b.team_id && a.user_id == b.user_id) {
        let (team_id, user_id) = (member[0].team_id, member[0].user_id);
        let held = catalogue.resolve(member.iter().map(|grant| grant.permission_id.as_str()));
        let ids: Vec<&str> = if query.recursive {
            held.all().map(|id| id.as_str()).collect()
        } else {
            held.direct().map(|id| id.as_str()).collect()
        };
        items.extend(
            ids.into_iter()
                .filter(|id| wanted.is_none_or(|wanted| wanted == *id))
                .map(|id| HeldPermission {
                    team_id,
                    user_id,
                    permission_id: id.to_owned(),
                }),
        );
    }
    Ok(items)
}
