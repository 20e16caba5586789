//! Projects: the tenants. Each has its own users, teams, keys and the switches of A3
//! ([`ProjectSwitches`], the domain's type, stored one column per switch).

use diesel::prelude::*;
use keygate_domain::{EpochMillis, ProjectId, ProjectSwitches, RateLimit};

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::projects;
use crate::stored::{parse_id, parse_rate_limit};

/// A project as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRecord {
    /// The project's id.
    pub id: ProjectId,
    /// Its name.
    pub display_name: String,
    /// When it was created.
    pub created_at_millis: EpochMillis,
    /// Its switches (the `config` object of the projects API).
    pub config: ProjectSwitches,
    /// The scopes its API keys may carry: a JSON array of `{"id", "description"}`, stored and
    /// returned verbatim (the application layer reads and writes it).
    pub api_key_scopes: String,
    /// The rate limit of keys created without one of their own, if any.
    pub default_rate_limit: Option<RateLimit>,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectUpdate {
    /// A new name.
    pub display_name: Option<String>,
    /// New value of [`ProjectSwitches::allow_user_api_keys`].
    pub allow_user_api_keys: Option<bool>,
    /// New value of [`ProjectSwitches::allow_team_api_keys`].
    pub allow_team_api_keys: Option<bool>,
    /// New value of [`ProjectSwitches::client_team_creation_enabled`].
    pub client_team_creation_enabled: Option<bool>,
    /// A new scope catalogue (see [`ProjectRecord::api_key_scopes`]).
    pub api_key_scopes: Option<String>,
    /// A new default rate limit (`Some(None)` removes it).
    pub default_rate_limit: Option<Option<RateLimit>>,
}

// Fields in table order: `RETURNING table::all_columns` is read by position (the
// multi-backend connection cannot return a `Selectable`).
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
struct ProjectRow {
    id: String,
    display_name: String,
    created_at_millis: i64,
    allow_user_api_keys: bool,
    allow_team_api_keys: bool,
    client_team_creation_enabled: bool,
    api_key_scopes: String,
    default_rate_limit: Option<i64>,
    default_rate_window_millis: Option<i64>,
}

#[derive(AsChangeset)]
#[diesel(table_name = projects)]
struct ProjectChangeset<'a> {
    display_name: Option<&'a str>,
    allow_user_api_keys: Option<bool>,
    allow_team_api_keys: Option<bool>,
    client_team_creation_enabled: Option<bool>,
    api_key_scopes: Option<&'a str>,
    default_rate_limit: Option<Option<i64>>,
    default_rate_window_millis: Option<Option<i64>>,
}

impl From<&ProjectRecord> for ProjectRow {
    fn from(project: &ProjectRecord) -> Self {
        ProjectRow {
            id: project.id.to_string(),
            display_name: project.display_name.clone(),
            created_at_millis: project.created_at_millis,
            allow_user_api_keys: project.config.allow_user_api_keys,
            allow_team_api_keys: project.config.allow_team_api_keys,
            client_team_creation_enabled: project.config.client_team_creation_enabled,
            api_key_scopes: project.api_key_scopes.clone(),
            default_rate_limit: project.default_rate_limit.map(|rate| rate.limit),
            default_rate_window_millis: project.default_rate_limit.map(|rate| rate.window_millis),
        }
    }
}

impl TryFrom<ProjectRow> for ProjectRecord {
    type Error = StorageError;

    fn try_from(row: ProjectRow) -> Result<Self, StorageError> {
        Ok(ProjectRecord {
            id: parse_id("projects.id", &row.id)?,
            display_name: row.display_name,
            created_at_millis: row.created_at_millis,
            config: ProjectSwitches {
                allow_user_api_keys: row.allow_user_api_keys,
                allow_team_api_keys: row.allow_team_api_keys,
                client_team_creation_enabled: row.client_team_creation_enabled,
            },
            api_key_scopes: row.api_key_scopes,
            default_rate_limit: parse_rate_limit(
                "projects.default_rate_limit",
                row.default_rate_limit,
                row.default_rate_window_millis,
            )?,
        })
    }
}

/// Stores a new project. A duplicate id is [`StorageError::AlreadyExists`].
pub fn insert(conn: &mut DbConnection, project: &ProjectRecord) -> Result<(), StorageError> {
    diesel::insert_into(projects::table)
        .values(ProjectRow::from(project))
        .execute(conn)?;
    Ok(())
}

/// The project with this id, if any.
pub fn get(conn: &mut DbConnection, id: ProjectId) -> Result<Option<ProjectRecord>, StorageError> {
    projects::table
        .find(id.to_string())
        .select(ProjectRow::as_select())
        .get_result(conn)
        .optional()?
        .map(ProjectRecord::try_from)
        .transpose()
}

/// Every project, oldest first.
pub fn list(conn: &mut DbConnection) -> Result<Vec<ProjectRecord>, StorageError> {
    projects::table
        .order((projects::created_at_millis.asc(), projects::id.asc()))
        .select(ProjectRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ProjectRecord::try_from)
        .collect()
}

/// Applies `changes` and returns the project as now stored; [`StorageError::NotFound`] if there
/// is no such project.
pub fn update(
    conn: &mut DbConnection,
    id: ProjectId,
    changes: &ProjectUpdate,
) -> Result<ProjectRecord, StorageError> {
    if *changes == ProjectUpdate::default() {
        // Nothing to set (an empty SET clause is invalid SQL): report the project as it is.
        return get(conn, id)?.ok_or(StorageError::NotFound { entity: "project" });
    }
    let changeset = ProjectChangeset {
        display_name: changes.display_name.as_deref(),
        allow_user_api_keys: changes.allow_user_api_keys,
        allow_team_api_keys: changes.allow_team_api_keys,
        client_team_creation_enabled: changes.client_team_creation_enabled,
        api_key_scopes: changes.api_key_scopes.as_deref(),
        default_rate_limit: changes
            .default_rate_limit
            .map(|rate| rate.map(|rate| rate.limit)),
        default_rate_window_millis: changes
            .default_rate_limit
            .map(|rate| rate.map(|rate| rate.window_millis)),
    };
    diesel::update(projects::table.find(id.to_string()))
        .set(changeset)
        .returning(projects::all_columns)
        .get_result::<ProjectRow>(conn)
        .map_err(StorageError::not_found_as("project"))?
        .try_into()
}

/// How many projects exist (zero on a fresh database, which triggers the first-start set-up).
pub fn count(conn: &mut DbConnection) -> Result<u64, StorageError> {
    let count: i64 = projects::table.count().get_result(conn)?;
    Ok(u64::try_from(count).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::insert_project;

    crate::backend_tests! {
        fn inserts_gets_lists_and_counts(db) {
            let mut conn = db.conn();
            assert_eq!(count(&mut conn).unwrap(), 0);
            assert!(list(&mut conn).unwrap().is_empty());

            let newer = ProjectRecord {
                id: ProjectId::new_random(),
                display_name: "newer".to_owned(),
                created_at_millis: 5_000,
                config: ProjectSwitches {
                    allow_user_api_keys: true,
                    allow_team_api_keys: false,
                    client_team_creation_enabled: true,
                },
                api_key_scopes: "[]".to_owned(),
                default_rate_limit: RateLimit::new(100, 60_000),
            };
            insert(&mut conn, &newer).unwrap();
            let older = insert_project(&mut conn);

            assert_eq!(get(&mut conn, newer.id).unwrap(), Some(newer.clone()));
            assert_eq!(get(&mut conn, ProjectId::new_random()).unwrap(), None);
            assert_eq!(list(&mut conn).unwrap(), vec![older, newer]);
            assert_eq!(count(&mut conn).unwrap(), 2);
        }

        fn duplicate_id_is_already_exists(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn);
            assert!(matches!(
                insert(&mut conn, &project),
                Err(StorageError::AlreadyExists { .. })
            ));
        }

        fn updates_name_and_switches(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn);

            let renamed = update(
                &mut conn,
                project.id,
                &ProjectUpdate {
                    display_name: Some("renamed".to_owned()),
                    allow_team_api_keys: Some(false),
                    ..ProjectUpdate::default()
                },
            )
            .unwrap();
            assert_eq!(renamed.display_name, "renamed");
            assert_eq!(
                renamed.config,
                ProjectSwitches {
                    allow_user_api_keys: true,
                    allow_team_api_keys: false,
                    client_team_creation_enabled: false,
                }
            );
            assert_eq!(get(&mut conn, project.id).unwrap(), Some(renamed.clone()));

            let switched = update(
                &mut conn,
                project.id,
                &ProjectUpdate {
                    allow_user_api_keys: Some(false),
                    client_team_creation_enabled: Some(true),
                    ..ProjectUpdate::default()
                },
            )
            .unwrap();
            assert_eq!(switched.display_name, "renamed");
            assert!(!switched.config.allow_user_api_keys);
            assert!(switched.config.client_team_creation_enabled);

            // An empty update changes nothing and returns the project.
            assert_eq!(update(&mut conn, project.id, &ProjectUpdate::default()).unwrap(), switched);
        }

        fn updating_a_missing_project_is_not_found(db) {
            let mut conn = db.conn();
            for changes in [
                ProjectUpdate::default(),
                ProjectUpdate { display_name: Some("x".to_owned()), ..ProjectUpdate::default() },
            ] {
                assert!(matches!(
                    update(&mut conn, ProjectId::new_random(), &changes),
                    Err(StorageError::NotFound { entity: "project" })
                ));
            }
        }
    }
}
