//! Team permissions: each project's permission definitions (system ones such as
//! `$manage_api_keys` and custom ones such as `team_admin`), which permissions contain which,
//! and the grants of permissions to team members.
//!
//! Only persistence lives here. Which permissions a project starts with, and what holding a
//! permission recursively means, are decided by `keygate-permissions`; callers seed the defaults.

use std::collections::BTreeMap;

use diesel::prelude::*;
use keygate_domain::{ProjectId, TeamId, UserId};

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::{
    team_permission_containment, team_permission_definitions, team_permission_grants,
};
use crate::stored::parse_id;

/// A permission defined in a project, with the permissions it directly contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionDefinitionRecord {
    /// The project.
    pub project_id: ProjectId,
    /// The permission id, e.g. `$manage_api_keys` or `team_admin`; unique within the project.
    pub id: String,
    /// What it allows.
    pub description: String,
    /// Whether it is one of the built-in `$…` permissions.
    pub is_system: bool,
    /// Ids of the permissions it directly contains (sorted when read back).
    pub contained_permission_ids: Vec<String>,
}

/// A permission granted to a member of a team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    /// The project.
    pub project_id: ProjectId,
    /// The team.
    pub team_id: TeamId,
    /// The member.
    pub user_id: UserId,
    /// The granted permission's id.
    pub permission_id: String,
}

/// Which grants of a project to list; every `Some` narrows the result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrantFilter {
    /// Only grants in this team.
    pub team_id: Option<TeamId>,
    /// Only grants to this user.
    pub user_id: Option<UserId>,
    /// Only grants of this permission.
    pub permission_id: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = team_permission_definitions)]
struct DefinitionRow {
    project_id: String,
    id: String,
    description: String,
    is_system: bool,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = team_permission_containment)]
struct ContainmentRow {
    project_id: String,
    permission_id: String,
    contained_permission_id: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = team_permission_grants)]
struct GrantRow {
    project_id: String,
    team_id: String,
    user_id: String,
    permission_id: String,
}

impl From<&GrantRecord> for GrantRow {
    fn from(grant: &GrantRecord) -> Self {
        GrantRow {
            project_id: grant.project_id.to_string(),
            team_id: grant.team_id.to_string(),
            user_id: grant.user_id.to_string(),
            permission_id: grant.permission_id.clone(),
        }
    }
}

impl TryFrom<GrantRow> for GrantRecord {
    type Error = StorageError;

    fn try_from(row: GrantRow) -> Result<Self, StorageError> {
        Ok(GrantRecord {
            project_id: parse_id("team_permission_grants.project_id", &row.project_id)?,
            team_id: parse_id("team_permission_grants.team_id", &row.team_id)?,
            user_id: parse_id("team_permission_grants.user_id", &row.user_id)?,
            permission_id: row.permission_id,
        })
    }
}

/// Stores a permission definition and its containment, atomically. Contained permissions must
/// already be defined in the project ([`StorageError::ForeignKeyViolation`] otherwise), so seed
/// system permissions before the ones containing them. An id already defined in the project is
/// [`StorageError::AlreadyExists`].
pub fn insert_definition(
    conn: &mut DbConnection,
    definition: &PermissionDefinitionRecord,
) -> Result<(), StorageError> {
    let project = definition.project_id.to_string();
    conn.transaction::<_, StorageError, _>(|conn| {
        diesel::insert_into(team_permission_definitions::table)
            .values(DefinitionRow {
                project_id: project.clone(),
                id: definition.id.clone(),
                description: definition.description.clone(),
                is_system: definition.is_system,
            })
            .execute(conn)?;
        for contained in &definition.contained_permission_ids {
            diesel::insert_into(team_permission_containment::table)
                .values(ContainmentRow {
                    project_id: project.clone(),
                    permission_id: definition.id.clone(),
                    contained_permission_id: contained.clone(),
                })
                .execute(conn)?;
        }
        Ok(())
    })
}

/// The definition of permission `id` in the project, if any.
pub fn get_definition(
    conn: &mut DbConnection,
    project: ProjectId,
    id: &str,
) -> Result<Option<PermissionDefinitionRecord>, StorageError> {
    let Some(row) = team_permission_definitions::table
        .filter(team_permission_definitions::project_id.eq(project.to_string()))
        .filter(team_permission_definitions::id.eq(id))
        .select(DefinitionRow::as_select())
        .get_result(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let contained_permission_ids = team_permission_containment::table
        .filter(team_permission_containment::project_id.eq(project.to_string()))
        .filter(team_permission_containment::permission_id.eq(id))
        .order(team_permission_containment::contained_permission_id.asc())
        .select(team_permission_containment::contained_permission_id)
        .load(conn)?;
    Ok(Some(PermissionDefinitionRecord {
        project_id: project,
        id: row.id,
        description: row.description,
        is_system: row.is_system,
        contained_permission_ids,
    }))
}

/// Every permission defined in the project, by id, each with its contained permissions.
pub fn list_definitions(
    conn: &mut DbConnection,
    project: ProjectId,
) -> Result<Vec<PermissionDefinitionRecord>, StorageError> {
    let rows = team_permission_definitions::table
        .filter(team_permission_definitions::project_id.eq(project.to_string()))
        .order(team_permission_definitions::id.asc())
        .select(DefinitionRow::as_select())
        .load(conn)?;
    let containment = team_permission_containment::table
        .filter(team_permission_containment::project_id.eq(project.to_string()))
        .order((
            team_permission_containment::permission_id.asc(),
            team_permission_containment::contained_permission_id.asc(),
        ))
        .select(ContainmentRow::as_select())
        .load(conn)?;
    let mut contained_by_permission: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in containment {
        contained_by_permission
            .entry(row.permission_id)
            .or_default()
            .push(row.contained_permission_id);
    }
    Ok(rows
        .into_iter()
        .map(|row| PermissionDefinitionRecord {
            project_id: project,
            contained_permission_ids: contained_by_permission.remove(&row.id).unwrap_or_default(),
            id: row.id,
            description: row.description,
            is_system: row.is_system,
        })
        .collect())
}

/// Grants the permission; granting it again changes nothing (upsert). Returns whether this call
/// granted it. The user must be a member of the team and the permission defined in the project,
/// else [`StorageError::ForeignKeyViolation`].
pub fn grant(conn: &mut DbConnection, grant: &GrantRecord) -> Result<bool, StorageError> {
    let row = GrantRow::from(grant);
    // The multi-backend connection has no ON CONFLICT support, but both backends do.
    let inserted = match conn {
        DbConnection::Sqlite(conn) => diesel::insert_into(team_permission_grants::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(conn)?,
        DbConnection::Postgres(conn) => diesel::insert_into(team_permission_grants::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(conn)?,
    };
    Ok(inserted == 1)
}

/// Takes the permission back; [`StorageError::NotFound`] if it was not granted.
pub fn delete_grant(conn: &mut DbConnection, grant: &GrantRecord) -> Result<(), StorageError> {
    let deleted = diesel::delete(
        team_permission_grants::table
            .filter(team_permission_grants::project_id.eq(grant.project_id.to_string()))
            .filter(team_permission_grants::team_id.eq(grant.team_id.to_string()))
            .filter(team_permission_grants::user_id.eq(grant.user_id.to_string()))
            .filter(team_permission_grants::permission_id.eq(&grant.permission_id)),
    )
    .execute(conn)?;
    if deleted == 0 {
        return Err(StorageError::NotFound {
            entity: "team permission grant",
        });
    }
    Ok(())
}

/// The project's grants matching `filter`, ordered by team, user and permission.
pub fn list_grants(
    conn: &mut DbConnection,
    project: ProjectId,
    filter: &GrantFilter,
) -> Result<Vec<GrantRecord>, StorageError> {
    let mut query = team_permission_grants::table
        .filter(team_permission_grants::project_id.eq(project.to_string()))
        .select(GrantRow::as_select())
        .into_boxed();
    if let Some(team) = filter.team_id {
        query = query.filter(team_permission_grants::team_id.eq(team.to_string()));
    }
    if let Some(user) = filter.user_id {
        query = query.filter(team_permission_grants::user_id.eq(user.to_string()));
    }
    if let Some(permission) = &filter.permission_id {
        query = query.filter(team_permission_grants::permission_id.eq(permission.clone()));
    }
    query
        .order((
            team_permission_grants::team_id.asc(),
            team_permission_grants::user_id.asc(),
            team_permission_grants::permission_id.asc(),
        ))
        .load(conn)?
        .into_iter()
        .map(GrantRecord::try_from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::memberships::{self, MembershipRecord};
    use crate::testing::{insert_project, insert_team, insert_user};

    fn definition(project: ProjectId, id: &str, contains: &[&str]) -> PermissionDefinitionRecord {
        PermissionDefinitionRecord {
            project_id: project,
            id: id.to_owned(),
            description: format!("{id} description"),
            is_system: id.starts_with('$'),
            contained_permission_ids: contains.iter().map(|&c| c.to_owned()).collect(),
        }
    }

    fn seed(conn: &mut DbConnection, project: ProjectId) {
        for definition in [
            definition(project, "$read_members", &[]),
            definition(project, "$manage_api_keys", &[]),
            definition(project, "$invite_members", &[]),
            definition(
                project,
                "team_member",
                &["$read_members", "$invite_members"],
            ),
            definition(project, "team_admin", &["$manage_api_keys", "team_member"]),
        ] {
            insert_definition(conn, &definition).unwrap();
        }
    }

    fn join(conn: &mut DbConnection, project: ProjectId, team: TeamId, user: UserId) {
        memberships::insert(
            conn,
            &MembershipRecord {
                project_id: project,
                team_id: team,
                user_id: user,
                created_at_millis: 1,
            },
        )
        .unwrap();
    }

    fn grant_of(project: ProjectId, team: TeamId, user: UserId, permission: &str) -> GrantRecord {
        GrantRecord {
            project_id: project,
            team_id: team,
            user_id: user,
            permission_id: permission.to_owned(),
        }
    }

    crate::backend_tests! {
        fn stores_and_lists_definitions_with_containment(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            seed(&mut conn, project);
            let other_project = insert_project(&mut conn).id;
            insert_definition(&mut conn, &definition(other_project, "custom", &[])).unwrap();

            let listed = list_definitions(&mut conn, project).unwrap();
            let ids: Vec<&str> = listed.iter().map(|d| d.id.as_str()).collect();
            assert_eq!(
                ids,
                ["$invite_members", "$manage_api_keys", "$read_members", "team_admin", "team_member"]
            );
            let admin = definition(project, "team_admin", &["$manage_api_keys", "team_member"]);
            assert_eq!(listed[3], admin);
            assert_eq!(listed[4].contained_permission_ids, ["$invite_members", "$read_members"]);
            assert!(listed[0].is_system && listed[0].contained_permission_ids.is_empty());

            assert_eq!(get_definition(&mut conn, project, "team_admin").unwrap(), Some(admin));
            assert_eq!(
                get_definition(&mut conn, project, "$read_members").unwrap(),
                Some(definition(project, "$read_members", &[]))
            );
            assert_eq!(get_definition(&mut conn, project, "custom").unwrap(), None);
            assert_eq!(list_definitions(&mut conn, other_project).unwrap().len(), 1);
        }

        fn definition_errors_leave_nothing_behind(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            seed(&mut conn, project);
            assert!(matches!(
                insert_definition(&mut conn, &definition(project, "team_admin", &[])),
                Err(StorageError::AlreadyExists { .. })
            ));
            // Containing an undefined permission fails as a whole: no half-stored definition.
            assert!(matches!(
                insert_definition(&mut conn, &definition(project, "broken", &["$read_members", "nope"])),
                Err(StorageError::ForeignKeyViolation { .. })
            ));
            assert_eq!(get_definition(&mut conn, project, "broken").unwrap(), None);
            // Permissions of another project cannot be contained.
            let other_project = insert_project(&mut conn).id;
            assert!(matches!(
                insert_definition(&mut conn, &definition(other_project, "x", &["$read_members"])),
                Err(StorageError::ForeignKeyViolation { .. })
            ));
        }

        fn grants_are_idempotent_and_filterable(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            seed(&mut conn, project);
            let team_a = insert_team(&mut conn, project).id;
            let team_b = insert_team(&mut conn, project).id;
            let user_1 = insert_user(&mut conn, project).id;
            let user_2 = insert_user(&mut conn, project).id;
            for (team, user) in [(team_a, user_1), (team_a, user_2), (team_b, user_1)] {
                join(&mut conn, project, team, user);
            }
            let a1_admin = grant_of(project, team_a, user_1, "team_admin");
            let a1_member = grant_of(project, team_a, user_1, "team_member");
            let a2_member = grant_of(project, team_a, user_2, "team_member");
            let b1_member = grant_of(project, team_b, user_1, "team_member");
            for grant_record in [&a1_admin, &a1_member, &a2_member, &b1_member, &a1_admin] {
                grant(&mut conn, grant_record).unwrap();
            }

            let sorted = |mut grants: Vec<GrantRecord>| {
                grants.sort_by(|x, y| {
                    (x.team_id, x.user_id, &x.permission_id).cmp(&(y.team_id, y.user_id, &y.permission_id))
                });
                grants
            };
            let all = list_grants(&mut conn, project, &GrantFilter::default()).unwrap();
            assert_eq!(all.len(), 4, "granting twice stores one grant");
            assert_eq!(
                all,
                sorted(vec![a1_admin.clone(), a1_member.clone(), a2_member.clone(), b1_member.clone()])
            );

            let by_team_and_user = GrantFilter {
                team_id: Some(team_a),
                user_id: Some(user_1),
                ..GrantFilter::default()
            };
            assert_eq!(
                list_grants(&mut conn, project, &by_team_and_user).unwrap(),
                vec![a1_admin.clone(), a1_member.clone()]
            );
            let by_team = GrantFilter { team_id: Some(team_b), ..GrantFilter::default() };
            assert_eq!(list_grants(&mut conn, project, &by_team).unwrap(), vec![b1_member.clone()]);
            let by_user = GrantFilter { user_id: Some(user_2), ..GrantFilter::default() };
            assert_eq!(list_grants(&mut conn, project, &by_user).unwrap(), vec![a2_member.clone()]);
            let by_permission = GrantFilter {
                permission_id: Some("team_member".to_owned()),
                ..GrantFilter::default()
            };
            assert_eq!(
                list_grants(&mut conn, project, &by_permission).unwrap(),
                sorted(vec![a1_member.clone(), a2_member, b1_member])
            );
            let other_project = insert_project(&mut conn).id;
            assert!(list_grants(&mut conn, other_project, &GrantFilter::default()).unwrap().is_empty());

            delete_grant(&mut conn, &a1_admin).unwrap();
            assert_eq!(list_grants(&mut conn, project, &by_team_and_user).unwrap(), vec![a1_member]);
            assert!(matches!(
                delete_grant(&mut conn, &a1_admin),
                Err(StorageError::NotFound { entity: "team permission grant" })
            ));
        }

        fn grants_need_a_membership_and_a_defined_permission(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            seed(&mut conn, project);
            let team = insert_team(&mut conn, project).id;
            let member = insert_user(&mut conn, project).id;
            let outsider = insert_user(&mut conn, project).id;
            join(&mut conn, project, team, member);
            let other_project = insert_project(&mut conn).id;
            seed(&mut conn, other_project);

            for rejected in [
                grant_of(project, team, outsider, "team_member"),
                grant_of(project, team, member, "undefined"),
                grant_of(other_project, team, member, "team_member"),
            ] {
                let error = grant(&mut conn, &rejected).unwrap_err();
                assert!(matches!(error, StorageError::ForeignKeyViolation { .. }), "{error:?}");
            }
            assert!(list_grants(&mut conn, project, &GrantFilter::default()).unwrap().is_empty());
        }
    }
}
