//! Users. Deleting a user deletes their sessions, memberships, permission grants and API keys
//! (all by the database's foreign keys).

use std::collections::HashMap;

use diesel::prelude::*;
use keygate_domain::{EpochMillis, Owner, ProjectId, TeamId, UserId};

use crate::connection::{DbConnection, MultiBackend};
use crate::error::StorageError;
use crate::key_changes::KeyWrite;
use crate::repo::api_keys;
use crate::repo::memberships::{self, MemberProfile};
use crate::schema::{team_memberships, users};
use crate::stored::{parse_id, parse_optional_id};

/// A user as stored. Metadata fields hold JSON text, stored and returned verbatim.
///
/// `primary_email` is unique within a project as stored (callers normalise case first if they
/// want case-insensitive uniqueness); a duplicate is [`StorageError::AlreadyExists`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user's id.
    pub id: UserId,
    /// Their project.
    pub project_id: ProjectId,
    /// Their name.
    pub display_name: Option<String>,
    /// Their e-mail address.
    pub primary_email: Option<String>,
    /// Whether the e-mail address was verified.
    pub primary_email_verified: bool,
    /// URL of their picture.
    pub profile_image_url: Option<String>,
    /// JSON readable and writable by clients.
    pub client_metadata: Option<String>,
    /// JSON readable by clients, writable by servers.
    pub client_read_only_metadata: Option<String>,
    /// JSON for servers only.
    pub server_metadata: Option<String>,
    /// The team they selected; must be a team of the same project, and is cleared when that
    /// team is deleted.
    pub selected_team_id: Option<TeamId>,
    /// When they signed up.
    pub signed_up_at_millis: EpochMillis,
    /// When they were last seen.
    pub last_active_at_millis: EpochMillis,
}

impl UserRecord {
    /// A new user of `project_id` who signed up at `at`: a random id, `display_name`, and
    /// nothing else yet (no e-mail, no metadata, no selected team).
    pub fn new(project_id: ProjectId, display_name: Option<String>, at: EpochMillis) -> Self {
        UserRecord {
            id: UserId::new_random(),
            project_id,
            display_name,
            primary_email: None,
            primary_email_verified: false,
            profile_image_url: None,
            client_metadata: None,
            client_read_only_metadata: None,
            server_metadata: None,
            selected_team_id: None,
            signed_up_at_millis: at,
            last_active_at_millis: at,
        }
    }
}

/// Changes to a user. The outer `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserUpdate {
    /// A new name.
    pub display_name: Option<Option<String>>,
    /// A new e-mail address.
    pub primary_email: Option<Option<String>>,
    /// A new verification state.
    pub primary_email_verified: Option<bool>,
    /// A new picture URL.
    pub profile_image_url: Option<Option<String>>,
    /// New client metadata (JSON text).
    pub client_metadata: Option<Option<String>>,
    /// New client read-only metadata (JSON text).
    pub client_read_only_metadata: Option<Option<String>>,
    /// New server metadata (JSON text).
    pub server_metadata: Option<Option<String>>,
    /// A new selected team (of the same project, else [`StorageError::ForeignKeyViolation`]).
    pub selected_team_id: Option<Option<TeamId>>,
    /// A new last-seen time.
    pub last_active_at_millis: Option<EpochMillis>,
}

// `RETURNING` names the fields' columns (`returned_columns`) and is read by position: the
// multi-backend connection cannot return a `Selectable`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
struct UserRow {
    id: String,
    project_id: String,
    display_name: Option<String>,
    primary_email: Option<String>,
    primary_email_verified: bool,
    profile_image_url: Option<String>,
    client_metadata: Option<String>,
    client_read_only_metadata: Option<String>,
    server_metadata: Option<String>,
    selected_team_id: Option<String>,
    signed_up_at_millis: i64,
    last_active_at_millis: i64,
}

/// The columns of [`UserRow`], in its field order.
fn returned_columns() -> <UserRow as Selectable<MultiBackend>>::SelectExpression {
    <UserRow as Selectable<MultiBackend>>::construct_selection()
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChangeset<'a> {
    display_name: Option<Option<&'a str>>,
    primary_email: Option<Option<&'a str>>,
    primary_email_verified: Option<bool>,
    profile_image_url: Option<Option<&'a str>>,
    client_metadata: Option<Option<&'a str>>,
    client_read_only_metadata: Option<Option<&'a str>>,
    server_metadata: Option<Option<&'a str>>,
    selected_team_id: Option<Option<String>>,
    last_active_at_millis: Option<i64>,
}

impl From<&UserRecord> for UserRow {
    fn from(user: &UserRecord) -> Self {
        UserRow {
            id: user.id.to_string(),
            project_id: user.project_id.to_string(),
            display_name: user.display_name.clone(),
            primary_email: user.primary_email.clone(),
            primary_email_verified: user.primary_email_verified,
            profile_image_url: user.profile_image_url.clone(),
            client_metadata: user.client_metadata.clone(),
            client_read_only_metadata: user.client_read_only_metadata.clone(),
            server_metadata: user.server_metadata.clone(),
            selected_team_id: user.selected_team_id.map(|team| team.to_string()),
            signed_up_at_millis: user.signed_up_at_millis,
            last_active_at_millis: user.last_active_at_millis,
        }
    }
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StorageError;

    fn try_from(row: UserRow) -> Result<Self, StorageError> {
        Ok(UserRecord {
            id: parse_id("users.id", &row.id)?,
            project_id: parse_id("users.project_id", &row.project_id)?,
            display_name: row.display_name,
            primary_email: row.primary_email,
            primary_email_verified: row.primary_email_verified,
            profile_image_url: row.profile_image_url,
            client_metadata: row.client_metadata,
            client_read_only_metadata: row.client_read_only_metadata,
            server_metadata: row.server_metadata,
            selected_team_id: parse_optional_id(
                "users.selected_team_id",
                row.selected_team_id.as_deref(),
            )?,
            signed_up_at_millis: row.signed_up_at_millis,
            last_active_at_millis: row.last_active_at_millis,
        })
    }
}

/// The rows of one user: matched by project and id, so another project's user is never touched.
fn user_row(
    project: ProjectId,
    id: UserId,
) -> diesel::dsl::Filter<
    diesel::dsl::Filter<users::table, diesel::dsl::Eq<users::project_id, String>>,
    diesel::dsl::Eq<users::id, String>,
> {
    users::table
        .filter(users::project_id.eq(project.to_string()))
        .filter(users::id.eq(id.to_string()))
}

/// Stores a new user. A primary e-mail already used in the project is
/// [`StorageError::AlreadyExists`]; an unknown project, or a selected team of another project, is
/// [`StorageError::ForeignKeyViolation`].
pub fn insert(conn: &mut DbConnection, user: &UserRecord) -> Result<(), StorageError> {
    diesel::insert_into(users::table)
        .values(UserRow::from(user))
        .execute(conn)?;
    Ok(())
}

/// The user `id` of `project`, if any (a user of another project is not found).
pub fn get(
    conn: &mut DbConnection,
    project: ProjectId,
    id: UserId,
) -> Result<Option<UserRecord>, StorageError> {
    user_row(project, id)
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()?
        .map(UserRecord::try_from)
        .transpose()
}

/// The members of `team` in `project` with their profiles there, in the order they joined.
pub fn list_members_of_team(
    conn: &mut DbConnection,
    project: ProjectId,
    team: TeamId,
) -> Result<Vec<(UserRecord, MemberProfile)>, StorageError> {
    let profiles = memberships::list_profiles_for_team(conn, project, team)?;
    let members = memberships::team_rows(project, team).select(team_memberships::user_id);
    let mut by_id = users::table
        .filter(users::project_id.eq(project.to_string()))
        .filter(users::id.eq_any(members))
        .select(UserRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| UserRecord::try_from(row).map(|user| (user.id, user)))
        .collect::<Result<HashMap<_, _>, _>>()?;
    // A member who joined between the two reads is left out; one who left is not found.
    Ok(profiles
        .into_iter()
        .filter_map(|(user_id, profile)| by_id.remove(&user_id).map(|user| (user, profile)))
        .collect())
}

/// Whether `project` has a user `id`.
pub fn exists(
    conn: &mut DbConnection,
    project: ProjectId,
    id: UserId,
) -> Result<bool, StorageError> {
    Ok(diesel::select(diesel::dsl::exists(user_row(project, id))).get_result(conn)?)
}

/// Locks the user's row until the end of the transaction; `false` when the project has no such
/// user. On Postgres a row lock (`FOR NO KEY UPDATE`: it writes no new row version, and does not
/// block inserts that reference the row); on SQLite, which has no row locks, the write lock, taken
/// by a write that changes nothing.
pub fn lock(conn: &mut DbConnection, project: ProjectId, id: UserId) -> Result<bool, StorageError> {
    let row = users::table
        .filter(users::project_id.eq(project.to_string()))
        .filter(users::id.eq(id.to_string()));
    let locked = match conn {
        DbConnection::Postgres(pg) => row
            .select(users::id)
            .for_no_key_update()
            .get_result::<String>(pg)
            .optional()?
            .is_some(),
        DbConnection::Sqlite(_) => {
            diesel::update(row)
                .set(users::display_name.eq(users::display_name))
                .execute(conn)?
                == 1
        }
    };
    Ok(locked)
}

/// Locks the rows of those of `ids` that are users of `project` until the end of the
/// transaction, as [`lock`] does one, and returns each one's number of API keys (revoked and
/// expired ones included; the database adds every inserted key to its owner's count). On
/// Postgres the rows are locked in id order, so that two transactions locking overlapping sets
/// never deadlock; on SQLite the transaction's write lock (taken at its start by
/// [`DbConnection::in_transaction`]) is the lock.
pub fn lock_key_counts(
    conn: &mut DbConnection,
    project: ProjectId,
    ids: &[UserId],
) -> Result<Vec<(UserId, u64)>, StorageError> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let rows = users::table
        .filter(users::project_id.eq(project.to_string()))
        .filter(users::id.eq_any(ids))
        .order(users::id)
        .select((users::id, users::api_key_count));
    let locked: Vec<(String, i64)> = match conn {
        DbConnection::Postgres(pg) => rows.for_no_key_update().load(pg)?,
        DbConnection::Sqlite(_) => rows.load(conn)?,
    };
    locked
        .iter()
        .map(|(id, count)| {
            Ok((
                parse_id("users.id", id)?,
                u64::try_from(*count).unwrap_or(0),
            ))
        })
        .collect()
}

/// Applies `changes` and returns the user as now stored; [`StorageError::NotFound`] if the
/// project has no such user.
pub fn update(
    conn: &mut DbConnection,
    project: ProjectId,
    id: UserId,
    changes: &UserUpdate,
) -> Result<UserRecord, StorageError> {
    if *changes == UserUpdate::default() {
        return get(conn, project, id)?.ok_or(StorageError::NotFound { entity: "user" });
    }
    let changeset = UserChangeset {
        display_name: changes.display_name.as_ref().map(Option::as_deref),
        primary_email: changes.primary_email.as_ref().map(Option::as_deref),
        primary_email_verified: changes.primary_email_verified,
        profile_image_url: changes.profile_image_url.as_ref().map(Option::as_deref),
        client_metadata: changes.client_metadata.as_ref().map(Option::as_deref),
        client_read_only_metadata: changes
            .client_read_only_metadata
            .as_ref()
            .map(Option::as_deref),
        server_metadata: changes.server_metadata.as_ref().map(Option::as_deref),
        selected_team_id: changes
            .selected_team_id
            .map(|team| team.map(|team| team.to_string())),
        last_active_at_millis: changes.last_active_at_millis,
    };
    diesel::update(user_row(project, id))
        .set(changeset)
        .returning(returned_columns())
        .get_result::<UserRow>(conn)
        .map_err(StorageError::not_found_as("user"))?
        .try_into()
}

/// Deletes the user with everything that belongs to them and returns how many API keys went
/// with them; [`StorageError::NotFound`] if the
/// project has no such user.
pub fn delete(
    write: &mut KeyWrite<'_>,
    project: ProjectId,
    id: UserId,
) -> Result<usize, StorageError> {
    let keys = api_keys::list_ids_for_owner(write.conn(), project, Owner::User(id))?;
    let deleted_keys = keys.len();
    write.changed(project, keys);
    let deleted = diesel::delete(user_row(project, id)).execute(write.conn())?;
    if deleted == 0 {
        return Err(StorageError::NotFound { entity: "user" });
    }
    Ok(deleted_keys)
}

#[cfg(test)]
mod tests {
    use keygate_domain::Owner;

    use super::*;
    use crate::repo::memberships::{self, MembershipRecord};
    use crate::repo::team_permissions::{
        self, GrantFilter, GrantRecord, PermissionDefinitionRecord,
    };
    use crate::repo::{api_keys, sessions};
    use crate::testing::{
        insert_api_key, insert_project, insert_team, insert_user, random_hash, write_keys_uncached,
    };

    fn full_user(project: ProjectId, email: &str) -> UserRecord {
        UserRecord {
            id: UserId::new_random(),
            project_id: project,
            display_name: Some("Ada".to_owned()),
            primary_email: Some(email.to_owned()),
            primary_email_verified: true,
            profile_image_url: Some("https://example.com/ada.png".to_owned()),
            client_metadata: Some(r#"{"theme":"dark"}"#.to_owned()),
            client_read_only_metadata: Some("{}".to_owned()),
            server_metadata: Some(r#"{"plan":"pro"}"#.to_owned()),
            selected_team_id: None,
            signed_up_at_millis: 1_234,
            last_active_at_millis: 5_678,
        }
    }

    crate::backend_tests! {
        fn inserts_gets_and_checks_existence(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = full_user(project, "ada@example.com");
            insert(&mut conn, &user).unwrap();

            assert_eq!(get(&mut conn, project, user.id).unwrap(), Some(user.clone()));
            assert!(exists(&mut conn, project, user.id).unwrap());
            assert!(!exists(&mut conn, project, UserId::new_random()).unwrap());

            let other_project = insert_project(&mut conn).id;
            assert_eq!(get(&mut conn, other_project, user.id).unwrap(), None);
            assert!(!exists(&mut conn, other_project, user.id).unwrap());
        }

        fn primary_email_is_unique_per_project(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            insert(&mut conn, &full_user(project, "ada@example.com")).unwrap();
            assert!(matches!(
                insert(&mut conn, &full_user(project, "ada@example.com")),
                Err(StorageError::AlreadyExists { .. })
            ));
            // The same address in another project, and users without address, are fine.
            let other_project = insert_project(&mut conn).id;
            insert(&mut conn, &full_user(other_project, "ada@example.com")).unwrap();
            insert_user(&mut conn, project);
            insert_user(&mut conn, project);

            // Changing an address to a taken one is refused as well.
            let second = full_user(project, "grace@example.com");
            insert(&mut conn, &second).unwrap();
            assert!(matches!(
                update(&mut conn, project, second.id, &UserUpdate {
                    primary_email: Some(Some("ada@example.com".to_owned())),
                    ..UserUpdate::default()
                }),
                Err(StorageError::AlreadyExists { .. })
            ));
        }

        fn inserting_into_a_missing_project_is_a_foreign_key_violation(db) {
            let mut conn = db.conn();
            assert!(matches!(
                insert(&mut conn, &full_user(ProjectId::new_random(), "a@example.com")),
                Err(StorageError::ForeignKeyViolation { .. })
            ));
        }

        fn updates_and_clears_fields(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = full_user(project, "ada@example.com");
            insert(&mut conn, &user).unwrap();
            let team = insert_team(&mut conn, project).id;

            let updated = update(&mut conn, project, user.id, &UserUpdate {
                display_name: Some(None),
                primary_email: Some(Some("lovelace@example.com".to_owned())),
                primary_email_verified: Some(false),
                profile_image_url: Some(None),
                client_metadata: Some(Some("[]".to_owned())),
                client_read_only_metadata: Some(None),
                server_metadata: Some(Some("null".to_owned())),
                selected_team_id: Some(Some(team)),
                last_active_at_millis: Some(9_999),
            })
            .unwrap();
            let expected = UserRecord {
                id: user.id,
                project_id: project,
                display_name: None,
                primary_email: Some("lovelace@example.com".to_owned()),
                primary_email_verified: false,
                profile_image_url: None,
                client_metadata: Some("[]".to_owned()),
                client_read_only_metadata: None,
                server_metadata: Some("null".to_owned()),
                selected_team_id: Some(team),
                signed_up_at_millis: user.signed_up_at_millis,
                last_active_at_millis: 9_999,
            };
            assert_eq!(updated, expected);
            assert_eq!(get(&mut conn, project, user.id).unwrap(), Some(expected.clone()));
            assert_eq!(update(&mut conn, project, user.id, &UserUpdate::default()).unwrap(), expected);

            let cleared = update(&mut conn, project, user.id, &UserUpdate {
                selected_team_id: Some(None),
                ..UserUpdate::default()
            })
            .unwrap();
            assert_eq!(cleared.selected_team_id, None);
        }

        fn updating_or_deleting_a_missing_user_is_not_found(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let other_project = insert_project(&mut conn).id;
            for changes in [UserUpdate::default(), UserUpdate {
                last_active_at_millis: Some(1),
                ..UserUpdate::default()
            }] {
                assert!(matches!(
                    update(&mut conn, other_project, user, &changes),
                    Err(StorageError::NotFound { entity: "user" })
                ));
            }
            assert!(matches!(
                write_keys_uncached(&mut conn, |w| delete(w, other_project, user)),
                Err(StorageError::NotFound { entity: "user" })
            ));
            assert!(exists(&mut conn, project, user).unwrap());
        }

        fn selected_team_must_belong_to_the_users_project(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let other_project = insert_project(&mut conn).id;
            let foreign_team = insert_team(&mut conn, other_project).id;
            let user = insert_user(&mut conn, project).id;

            assert!(matches!(
                update(&mut conn, project, user, &UserUpdate {
                    selected_team_id: Some(Some(foreign_team)),
                    ..UserUpdate::default()
                }),
                Err(StorageError::ForeignKeyViolation { .. })
            ));
            let with_foreign_team = UserRecord {
                selected_team_id: Some(foreign_team),
                ..full_user(project, "x@example.com")
            };
            assert!(matches!(
                insert(&mut conn, &with_foreign_team),
                Err(StorageError::ForeignKeyViolation { .. })
            ));
            assert_eq!(get(&mut conn, project, user).unwrap().unwrap().selected_team_id, None);
        }

        fn deleting_a_user_cascades_to_keys_sessions_memberships_and_grants(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let kept_user = insert_user(&mut conn, project).id;
            let team = insert_team(&mut conn, project).id;
            team_permissions::insert_definition(&mut conn, &PermissionDefinitionRecord {
                project_id: project,
                id: "$invite_members".to_owned(),
                description: "Invite members".to_owned(),
                is_system: true,
                contained_permission_ids: vec![],
            })
            .unwrap();
            let mut refresh_hashes = Vec::new();
            for user_id in [user, kept_user] {
                memberships::insert(&mut conn, &MembershipRecord {
                    project_id: project,
                    team_id: team,
                    user_id,
                    created_at_millis: 1,
                })
                .unwrap();
                team_permissions::grant(&mut conn, &GrantRecord {
                    project_id: project,
                    team_id: team,
                    user_id,
                    permission_id: "$invite_members".to_owned(),
                })
                .unwrap();
                let session = sessions::SessionRecord {
                    id: uuid::Uuid::new_v4(),
                    project_id: project,
                    user_id,
                    refresh_token_hash: random_hash(),
                    created_at_millis: 1,
                    expires_at_millis: 100,
                    revoked_at_millis: None,
                    last_used_at_millis: 1,
                };
                sessions::insert(&mut conn, &session).unwrap();
                refresh_hashes.push(session.refresh_token_hash);
            }
            let key = insert_api_key(&mut conn, project, Owner::User(user), 1);
            let kept_key = insert_api_key(&mut conn, project, Owner::User(kept_user), 1);
            let team_key = insert_api_key(&mut conn, project, Owner::Team(team), 1);

            write_keys_uncached(&mut conn, |w| delete(w, project, user)).unwrap();

            assert!(!exists(&mut conn, project, user).unwrap());
            assert_eq!(api_keys::get_by_id(&mut conn, key.id).unwrap(), None);
            assert_eq!(api_keys::get_by_id(&mut conn, kept_key.id).unwrap(), Some(kept_key));
            assert_eq!(api_keys::get_by_id(&mut conn, team_key.id).unwrap(), Some(team_key));
            assert_eq!(sessions::find_by_refresh_token_hash(&mut conn, &refresh_hashes[0]).unwrap(), None);
            assert!(sessions::find_by_refresh_token_hash(&mut conn, &refresh_hashes[1]).unwrap().is_some());
            assert!(!memberships::exists(&mut conn, project, team, user).unwrap());
            assert!(memberships::exists(&mut conn, project, team, kept_user).unwrap());
            let grants = team_permissions::list_grants(&mut conn, project, &GrantFilter {
                team_id: Some(team),
                ..GrantFilter::default()
            })
            .unwrap();
            assert_eq!(grants.iter().map(|g| g.user_id).collect::<Vec<_>>(), vec![kept_user]);
        }
    }
}
