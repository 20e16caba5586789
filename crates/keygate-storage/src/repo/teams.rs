//! Teams. Deleting a team deletes its memberships, their permission grants and the team's API
//! keys, and clears it as anyone's selected team (all by the database's foreign keys).

use diesel::prelude::*;
use keygate_domain::{EpochMillis, Owner, ProjectId, TeamId, UserId};

use crate::connection::{DbConnection, MultiBackend};
use crate::error::StorageError;
use crate::key_changes::KeyWrite;
use crate::repo::api_keys;
use crate::schema::{team_memberships, teams};
use crate::stored::parse_id;

/// A team as stored. Metadata fields hold JSON text, stored and returned verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamRecord {
    /// The team's id.
    pub id: TeamId,
    /// Its project.
    pub project_id: ProjectId,
    /// Its name.
    pub display_name: String,
    /// URL of its picture.
    pub profile_image_url: Option<String>,
    /// JSON readable and writable by clients.
    pub client_metadata: Option<String>,
    /// JSON readable by clients, writable by servers.
    pub client_read_only_metadata: Option<String>,
    /// JSON for servers only.
    pub server_metadata: Option<String>,
    /// When it was created.
    pub created_at_millis: EpochMillis,
}

/// Changes to a team. The outer `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TeamUpdate {
    /// A new name.
    pub display_name: Option<String>,
    /// A new picture URL.
    pub profile_image_url: Option<Option<String>>,
    /// New client metadata (JSON text).
    pub client_metadata: Option<Option<String>>,
    /// New client read-only metadata (JSON text).
    pub client_read_only_metadata: Option<Option<String>>,
    /// New server metadata (JSON text).
    pub server_metadata: Option<Option<String>>,
}

// `RETURNING` names the fields' columns (`returned_columns`) and is read by position: the
// multi-backend connection cannot return a `Selectable`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = teams, treat_none_as_default_value = false)]
struct TeamRow {
    id: String,
    project_id: String,
    display_name: String,
    profile_image_url: Option<String>,
    client_metadata: Option<String>,
    client_read_only_metadata: Option<String>,
    server_metadata: Option<String>,
    created_at_millis: i64,
}

/// The columns of [`TeamRow`], in its field order.
fn returned_columns() -> <TeamRow as Selectable<MultiBackend>>::SelectExpression {
    <TeamRow as Selectable<MultiBackend>>::construct_selection()
}

#[derive(AsChangeset)]
#[diesel(table_name = teams)]
struct TeamChangeset<'a> {
    display_name: Option<&'a str>,
    profile_image_url: Option<Option<&'a str>>,
    client_metadata: Option<Option<&'a str>>,
    client_read_only_metadata: Option<Option<&'a str>>,
    server_metadata: Option<Option<&'a str>>,
}

impl From<&TeamRecord> for TeamRow {
    fn from(team: &TeamRecord) -> Self {
        TeamRow {
            id: team.id.to_string(),
            project_id: team.project_id.to_string(),
            display_name: team.display_name.clone(),
            profile_image_url: team.profile_image_url.clone(),
            client_metadata: team.client_metadata.clone(),
            client_read_only_metadata: team.client_read_only_metadata.clone(),
            server_metadata: team.server_metadata.clone(),
            created_at_millis: team.created_at_millis,
        }
    }
}

impl TryFrom<TeamRow> for TeamRecord {
    type Error = StorageError;

    fn try_from(row: TeamRow) -> Result<Self, StorageError> {
        Ok(TeamRecord {
            id: parse_id("teams.id", &row.id)?,
            project_id: parse_id("teams.project_id", &row.project_id)?,
            display_name: row.display_name,
            profile_image_url: row.profile_image_url,
            client_metadata: row.client_metadata,
            client_read_only_metadata: row.client_read_only_metadata,
            server_metadata: row.server_metadata,
            created_at_millis: row.created_at_millis,
        })
    }
}

fn to_records(rows: Vec<TeamRow>) -> Result<Vec<TeamRecord>, StorageError> {
    rows.into_iter().map(TeamRecord::try_from).collect()
}

/// Stores a new team. An unknown project is [`StorageError::ForeignKeyViolation`].
pub fn insert(conn: &mut DbConnection, team: &TeamRecord) -> Result<(), StorageError> {
    diesel::insert_into(teams::table)
        .values(TeamRow::from(team))
        .execute(conn)?;
    Ok(())
}

/// The team `id` of `project`, if any (a team of another project is not found).
pub fn get(
    conn: &mut DbConnection,
    project: ProjectId,
    id: TeamId,
) -> Result<Option<TeamRecord>, StorageError> {
    teams::table
        .filter(teams::project_id.eq(project.to_string()))
        .filter(teams::id.eq(id.to_string()))
        .select(TeamRow::as_select())
        .get_result(conn)
        .optional()?
        .map(TeamRecord::try_from)
        .transpose()
}

/// Locks the rows of those of `ids` that are teams of `project` until the end of the
/// transaction and returns each one's number of API keys (revoked and expired ones included; the
/// database adds every inserted key to its owner's count). On Postgres a row lock in id order
/// (`FOR NO KEY UPDATE`: it writes no new row version, does not block inserts that reference the
/// row, and two transactions locking overlapping sets never deadlock); on SQLite the
/// transaction's write lock (taken at its start by [`DbConnection::in_transaction`]) is the lock.
pub fn lock_key_counts(
    conn: &mut DbConnection,
    project: ProjectId,
    ids: &[TeamId],
) -> Result<Vec<(TeamId, u64)>, StorageError> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let rows = teams::table
        .filter(teams::project_id.eq(project.to_string()))
        .filter(teams::id.eq_any(ids))
        .order(teams::id)
        .select((teams::id, teams::api_key_count));
    let locked: Vec<(String, i64)> = match conn {
        DbConnection::Postgres(pg) => rows.for_no_key_update().load(pg)?,
        DbConnection::Sqlite(_) => rows.load(conn)?,
    };
    locked
        .iter()
        .map(|(id, count)| {
            Ok((
                parse_id("teams.id", id)?,
                u64::try_from(*count).unwrap_or(0),
            ))
        })
        .collect()
}

/// Applies `changes` and returns the team as now stored; [`StorageError::NotFound`] if the
/// project has no such team.
pub fn update(
    conn: &mut DbConnection,
    project: ProjectId,
    id: TeamId,
    changes: &TeamUpdate,
) -> Result<TeamRecord, StorageError> {
    if *changes == TeamUpdate::default() {
        return get(conn, project, id)?.ok_or(StorageError::NotFound { entity: "team" });
    }
    let changeset = TeamChangeset {
        display_name: changes.display_name.as_deref(),
        profile_image_url: changes.profile_image_url.as_ref().map(Option::as_deref),
        client_metadata: changes.client_metadata.as_ref().map(Option::as_deref),
        client_read_only_metadata: changes
            .client_read_only_metadata
            .as_ref()
            .map(Option::as_deref),
        server_metadata: changes.server_metadata.as_ref().map(Option::as_deref),
    };
    diesel::update(
        teams::table
            .filter(teams::project_id.eq(project.to_string()))
            .filter(teams::id.eq(id.to_string())),
    )
    .set(changeset)
    .returning(returned_columns())
    .get_result::<TeamRow>(conn)
    .map_err(StorageError::not_found_as("team"))?
    .try_into()
}

/// Deletes the team with everything that belongs to it and returns how many API keys went with
/// it; [`StorageError::NotFound`] if the
/// project has no such team.
pub fn delete(
    write: &mut KeyWrite<'_>,
    project: ProjectId,
    id: TeamId,
) -> Result<usize, StorageError> {
    let keys = api_keys::list_ids_for_owner(write.conn(), project, Owner::Team(id))?;
    let deleted_keys = keys.len();
    write.changed(project, keys);
    let deleted = diesel::delete(
        teams::table
            .filter(teams::project_id.eq(project.to_string()))
            .filter(teams::id.eq(id.to_string())),
    )
    .execute(write.conn())?;
    if deleted == 0 {
        return Err(StorageError::NotFound { entity: "team" });
    }
    Ok(deleted_keys)
}

/// Every team of the project, oldest first (ties by id).
pub fn list_for_project(
    conn: &mut DbConnection,
    project: ProjectId,
) -> Result<Vec<TeamRecord>, StorageError> {
    let rows = teams::table
        .filter(teams::project_id.eq(project.to_string()))
        .order((teams::created_at_millis.asc(), teams::id.asc()))
        .select(TeamRow::as_select())
        .load(conn)?;
    to_records(rows)
}

/// The teams `user` is a member of, oldest team first (ties by id).
pub fn list_for_user(
    conn: &mut DbConnection,
    project: ProjectId,
    user: UserId,
) -> Result<Vec<TeamRecord>, StorageError> {
    let rows = teams::table
        .inner_join(team_memberships::table)
        .filter(teams::project_id.eq(project.to_string()))
        .filter(team_memberships::project_id.eq(project.to_string()))
        .filter(team_memberships::user_id.eq(user.to_string()))
        .order((teams::created_at_millis.asc(), teams::id.asc()))
        .select(TeamRow::as_select())
        .load(conn)?;
    to_records(rows)
}

#[cfg(test)]
mod tests {
    use keygate_domain::Owner;

    use super::*;
    use crate::repo::memberships::{self, MembershipRecord};
    use crate::repo::team_permissions::{
        self, GrantFilter, GrantRecord, PermissionDefinitionRecord,
    };
    use crate::repo::{api_keys, users};
    use crate::testing::{
        insert_api_key, insert_project, insert_team, insert_user, write_keys_uncached,
    };

    fn team_at(project: ProjectId, created_at_millis: i64) -> TeamRecord {
        TeamRecord {
            id: TeamId::new_random(),
            project_id: project,
            display_name: format!("team {created_at_millis}"),
            profile_image_url: Some("https://example.com/t.png".to_owned()),
            client_metadata: Some(r#"{"a":1}"#.to_owned()),
            client_read_only_metadata: None,
            server_metadata: Some(r#"{"secret":true}"#.to_owned()),
            created_at_millis,
        }
    }

    crate::backend_tests! {
        fn inserts_gets_and_lists_teams_of_a_project(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let later = team_at(project, 9_000);
            let earlier = team_at(project, 4_000);
            insert(&mut conn, &later).unwrap();
            insert(&mut conn, &earlier).unwrap();
            let other_project = insert_project(&mut conn).id;
            let elsewhere = insert_team(&mut conn, other_project);

            assert_eq!(get(&mut conn, project, later.id).unwrap(), Some(later.clone()));
            assert_eq!(get(&mut conn, project, elsewhere.id).unwrap(), None);
            assert_eq!(list_for_project(&mut conn, project).unwrap(), vec![earlier, later]);
            assert_eq!(list_for_project(&mut conn, other_project).unwrap(), vec![elsewhere]);
        }

        fn inserting_into_a_missing_project_is_a_foreign_key_violation(db) {
            let mut conn = db.conn();
            assert!(matches!(
                insert(&mut conn, &team_at(ProjectId::new_random(), 1)),
                Err(StorageError::ForeignKeyViolation { .. })
            ));
        }

        fn updates_and_clears_fields(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let team = team_at(project, 1_000);
            insert(&mut conn, &team).unwrap();

            let updated = update(&mut conn, project, team.id, &TeamUpdate {
                display_name: Some("renamed".to_owned()),
                profile_image_url: Some(None),
                client_read_only_metadata: Some(Some("[1]".to_owned())),
                ..TeamUpdate::default()
            })
            .unwrap();
            let expected = TeamRecord {
                display_name: "renamed".to_owned(),
                profile_image_url: None,
                client_read_only_metadata: Some("[1]".to_owned()),
                ..team.clone()
            };
            assert_eq!(updated, expected);
            assert_eq!(get(&mut conn, project, team.id).unwrap(), Some(expected.clone()));
            assert_eq!(update(&mut conn, project, team.id, &TeamUpdate::default()).unwrap(), expected);

            let other_project = insert_project(&mut conn).id;
            for changes in [TeamUpdate::default(), TeamUpdate {
                server_metadata: Some(None),
                ..TeamUpdate::default()
            }] {
                assert!(matches!(
                    update(&mut conn, other_project, team.id, &changes),
                    Err(StorageError::NotFound { entity: "team" })
                ));
            }
        }

        fn lists_the_teams_of_a_user(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let second = team_at(project, 7_000);
            let first = team_at(project, 6_000);
            let not_joined = insert_team(&mut conn, project);
            for team in [&second, &first] {
                insert(&mut conn, team).unwrap();
                memberships::insert(&mut conn, &MembershipRecord {
                    project_id: project,
                    team_id: team.id,
                    user_id: user,
                    created_at_millis: 8_000,
                })
                .unwrap();
            }
            let other_user = insert_user(&mut conn, project).id;
            memberships::insert(&mut conn, &MembershipRecord {
                project_id: project,
                team_id: not_joined.id,
                user_id: other_user,
                created_at_millis: 8_000,
            })
            .unwrap();

            assert_eq!(list_for_user(&mut conn, project, user).unwrap(), vec![first, second]);
            assert_eq!(list_for_user(&mut conn, project, other_user).unwrap(), vec![not_joined]);
            let other_project = insert_project(&mut conn).id;
            assert!(list_for_user(&mut conn, other_project, user).unwrap().is_empty());
        }

        fn deleting_a_team_cascades_to_keys_memberships_grants_and_selection(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let team = insert_team(&mut conn, project);
            let kept_team = insert_team(&mut conn, project);
            let user = insert_user(&mut conn, project).id;
            team_permissions::insert_definition(&mut conn, &PermissionDefinitionRecord {
                project_id: project,
                id: "$read_members".to_owned(),
                description: "Read members".to_owned(),
                is_system: true,
                contained_permission_ids: vec![],
            })
            .unwrap();
            for team_id in [team.id, kept_team.id] {
                memberships::insert(&mut conn, &MembershipRecord {
                    project_id: project,
                    team_id,
                    user_id: user,
                    created_at_millis: 1,
                })
                .unwrap();
                team_permissions::grant(&mut conn, &GrantRecord {
                    project_id: project,
                    team_id,
                    user_id: user,
                    permission_id: "$read_members".to_owned(),
                })
                .unwrap();
            }
            let key = insert_api_key(&mut conn, project, Owner::Team(team.id), 1);
            let kept_key = insert_api_key(&mut conn, project, Owner::Team(kept_team.id), 1);
            users::update(&mut conn, project, user, &users::UserUpdate {
                selected_team_id: Some(Some(team.id)),
                ..users::UserUpdate::default()
            })
            .unwrap();

            write_keys_uncached(&mut conn, |w| delete(w, project, team.id)).unwrap();

            assert_eq!(get(&mut conn, project, team.id).unwrap(), None);
            assert_eq!(api_keys::get_by_id(&mut conn, key.id).unwrap(), None);
            assert_eq!(api_keys::get_by_id(&mut conn, kept_key.id).unwrap(), Some(kept_key));
            assert!(!memberships::exists(&mut conn, project, team.id, user).unwrap());
            assert!(memberships::exists(&mut conn, project, kept_team.id, user).unwrap());
            let grants = team_permissions::list_grants(&mut conn, project, &GrantFilter {
                user_id: Some(user),
                ..GrantFilter::default()
            })
            .unwrap();
            assert_eq!(grants.iter().map(|g| g.team_id).collect::<Vec<_>>(), vec![kept_team.id]);
            let user_record = users::get(&mut conn, project, user).unwrap().unwrap();
            assert_eq!(user_record.selected_team_id, None);
        }

        fn deleting_a_missing_team_is_not_found(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let team = insert_team(&mut conn, project);
            let other_project = insert_project(&mut conn).id;
            assert!(matches!(
                write_keys_uncached(&mut conn, |w| delete(w, other_project, team.id)),
                Err(StorageError::NotFound { entity: "team" })
            ));
            assert!(get(&mut conn, project, team.id).unwrap().is_some());
        }
    }
}
