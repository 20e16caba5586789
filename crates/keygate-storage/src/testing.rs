//! Test support: a fresh, migrated database per test on SQLite and on Postgres, the
//! [`backend_tests!`](crate::backend_tests) macro that runs one test body on both, and small
//! fixtures.
//!
//! Available to this crate's tests and, through the `test-support` feature, to other crates'
//! tests (`keygate-storage = { workspace = true, features = ["test-support"] }` under
//! `[dev-dependencies]`).
//!
//! Postgres tests create a database `keygate_test_<random>` through the server named by the
//! environment variable [`POSTGRES_URL_ENV`] and drop it afterwards, also when the test fails.
//! Without the variable they are skipped with a message, except on CI (`CI=true`), where a
//! missing Postgres fails the test instead of passing silently.

use std::ops::Deref;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use keygate_domain::{ApiKey, ApiKeyId, KeyHash, Owner, ProjectId, ProjectSwitches, TeamId};
use uuid::Uuid;

use crate::connection::{Database, PoolOptions, PooledDbConnection};
use crate::error::StorageError;
use crate::key_changes::{write_keys, KeyWrite};
use crate::repo::project_credentials::ProjectCredentialRecord;
use crate::repo::projects::ProjectRecord;
use crate::repo::teams::TeamRecord;
use crate::repo::users::UserRecord;
use crate::repo::{api_keys, project_credentials, projects, teams, users};
use crate::DbConnection;

/// The environment variable naming a Postgres server for tests, as a URL to a database the
/// tests may connect to in order to create and drop their own (e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`).
pub const POSTGRES_URL_ENV: &str = "KEYGATE_TEST_POSTGRES_URL";

/// Where [`observe_statements`] sends the statements.
static STATEMENT_OBSERVER: std::sync::OnceLock<fn(&str, &str)> = std::sync::OnceLock::new();

/// Reports every statement run from now on, on every pooled connection, to `observer`, as
/// `(database, statement)`: `database` is the SQLite file's path or the Postgres URL (match it
/// with `contains`), `statement` the SQL with its binds as Diesel prints them. The first
/// observer stays for the process (installing another is ignored).
pub fn observe_statements(observer: fn(&str, &str)) {
    let _ = STATEMENT_OBSERVER.set(observer);
}

/// Called by the connections' instrumentation for each statement.
pub(crate) fn observed_statement(database: &str, statement: &str) {
    if let Some(observer) = STATEMENT_OBSERVER.get() {
        observer(database, statement);
    }
}

/// The file name of a test SQLite database inside its temporary directory.
const SQLITE_FILE_NAME: &str = "keygate-test.db";

/// Pool settings for tests: small, so many parallel tests stay under Postgres's connection limit.
fn test_pool_options() -> PoolOptions {
    PoolOptions {
        max_size: 3,
        min_idle: Some(1),
        connection_timeout: Duration::from_secs(30),
    }
}

/// A fresh, migrated database that is deleted when dropped. Dereferences to [`Database`].
#[derive(Debug)]
pub struct TestDatabase {
    // Declared first so the pool closes before the database behind it is removed.
    database: Database,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    /// The directory holding the SQLite file (and its WAL files); removed on drop.
    Sqlite(tempfile::TempDir),
    /// The Postgres database; dropped on drop.
    Postgres(PostgresDatabaseGuard),
}

impl TestDatabase {
    /// A migrated SQLite database in a new temporary directory.
    ///
    /// # Panics
    /// If the file cannot be created or migrated (a test set-up failure).
    pub fn sqlite() -> TestDatabase {
        let directory = tempfile::tempdir().expect("create a temporary directory");
        let path = directory.path().join(SQLITE_FILE_NAME);
        let url = format!("sqlite://{}", path.display());
        let database = Database::connect(&url, test_pool_options()).expect("open test SQLite");
        database.run_migrations().expect("migrate test SQLite");
        TestDatabase {
            database,
            cleanup: Cleanup::Sqlite(directory),
        }
    }

    /// A migrated Postgres database created for this test on the server named by
    /// [`POSTGRES_URL_ENV`], or `None` when the variable is unset (the caller skips the test).
    ///
    /// # Panics
    /// If the variable is unset while `CI=true`, or if the database cannot be created or
    /// migrated.
    pub fn postgres() -> Option<TestDatabase> {
        let admin_url = postgres_admin_url_from_env()?;
        let guard = PostgresDatabaseGuard::create(&admin_url);
        let database =
            Database::connect(&guard.url, test_pool_options()).expect("open test Postgres");
        database.run_migrations().expect("migrate test Postgres");
        Some(TestDatabase {
            database,
            cleanup: Cleanup::Postgres(guard),
        })
    }

    /// Where the database lives, for messages: the SQLite file or the Postgres database name.
    pub fn location(&self) -> String {
        match &self.cleanup {
            Cleanup::Sqlite(directory) => {
                format!(
                    "SQLite file {}",
                    directory.path().join(SQLITE_FILE_NAME).display()
                )
            }
            Cleanup::Postgres(guard) => format!("Postgres database {}", guard.name),
        }
    }

    /// The URL of the Postgres database, or `None` on SQLite (for tests that open connections of
    /// their own, like the key-change listener's).
    pub fn postgres_url(&self) -> Option<&str> {
        match &self.cleanup {
            Cleanup::Sqlite(_) => None,
            Cleanup::Postgres(guard) => Some(&guard.url),
        }
    }

    /// Terminates every connection to this Postgres database (its pools' and listeners', in
    /// this process or another), as a restart of the server or an idle timeout would, and
    /// waits until those backends are gone; returns how many there were.
    ///
    /// Connections opened after the termination (a listener that reconnects, a pool that
    /// refills) are not waited for: the terminated backends' own pids are.
    ///
    /// # Panics
    /// On SQLite, or if the terminated backends do not go away within two seconds.
    pub fn terminate_connections(&self) -> usize {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let url = self.postgres_url().expect("a Postgres test database");
        let mut admin = PgConnection::establish(url).expect("connect to the test database");
        #[derive(diesel::QueryableByName)]
        struct Terminated {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
            #[diesel(sql_type = diesel::sql_types::Bool)]
            terminated: bool,
        }
        let terminated: Vec<Terminated> = diesel::RunQueryDsl::load(
            diesel::sql_query(
                "SELECT pid, pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            ),
            &mut admin,
        )
        .expect("terminate the connections");
        let pids: Vec<i32> = terminated
            .iter()
            .filter(|row| row.terminated)
            .map(|row| row.pid)
            .collect();
        for _ in 0..100 {
            let left: Count = diesel::RunQueryDsl::get_result(
                diesel::sql_query("SELECT count(*) AS n FROM pg_stat_activity WHERE pid = ANY($1)")
                    .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(&pids),
                &mut admin,
            )
            .expect("look for the terminated connections");
            if left.n == 0 {
                return pids.len();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the terminated connections did not go away");
    }

    /// Runs `sql` on a pooled connection: set-up no repository function does, such as breaking
    /// a table to make writes fail.
    ///
    /// # Panics
    /// If the statements fail.
    pub fn execute(&self, sql: &str) {
        diesel::connection::SimpleConnection::batch_execute(&mut *self.conn(), sql)
            .expect("run the test's SQL");
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// A pooled connection.
    ///
    /// # Panics
    /// If the pool cannot hand one out.
    pub fn conn(&self) -> PooledDbConnection {
        self.database.get().expect("get a pooled test connection")
    }
}

impl Deref for TestDatabase {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.database
    }
}

/// The admin URL for Postgres tests from [`POSTGRES_URL_ENV`], or `None` when the test should be
/// skipped.
///
/// # Panics
/// If the variable is unset while `CI=true`: on CI, Postgres tests must not pass by skipping.
pub fn postgres_admin_url_from_env() -> Option<String> {
    postgres_admin_url(
        std::env::var(POSTGRES_URL_ENV).ok(),
        std::env::var("CI").ok(),
    )
    .unwrap_or_else(|message| panic!("{message}"))
}

/// Decides from the values of [`POSTGRES_URL_ENV`] and `CI` whether Postgres tests run (with
/// this admin URL), are skipped (`Ok(None)`), or must fail (unset on CI).
fn postgres_admin_url(url: Option<String>, ci: Option<String>) -> Result<Option<String>, String> {
    match url {
        Some(url) if !url.trim().is_empty() => Ok(Some(url)),
        _ if ci.as_deref() == Some("true") => Err(format!(
            "{POSTGRES_URL_ENV} must be set on CI (CI=true): Postgres tests may not be skipped there"
        )),
        _ => Ok(None),
    }
}

/// Creates a throw-away Postgres database and drops it (terminating its connections) on drop,
/// which also runs while a failing test unwinds.
pub(crate) struct PostgresDatabaseGuard {
    admin_url: String,
    name: String,
    /// URL of the created database.
    pub(crate) url: String,
}

impl std::fmt::Debug for PostgresDatabaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDatabaseGuard")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PostgresDatabaseGuard {
    /// Creates an empty database on the server of `admin_url`.
    ///
    /// # Panics
    /// If the server cannot be reached or the database cannot be created.
    pub(crate) fn create(admin_url: &str) -> PostgresDatabaseGuard {
        let name = format!("keygate_test_{}", Uuid::new_v4().simple());
        let mut url = url::Url::parse(admin_url)
            .unwrap_or_else(|error| panic!("{POSTGRES_URL_ENV} is not a URL: {error}"));
        url.set_path(&format!("/{name}"));
        let mut admin = PgConnection::establish(admin_url)
            .unwrap_or_else(|error| panic!("connect to {POSTGRES_URL_ENV}: {error}"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|error| panic!("create test database {name}: {error}"));
        PostgresDatabaseGuard {
            admin_url: admin_url.to_owned(),
            name,
            url: url.into(),
        }
    }
}

impl Drop for PostgresDatabaseGuard {
    fn drop(&mut self) {
        let dropped = PgConnection::establish(&self.admin_url)
            .map_err(|error| error.to_string())
            .and_then(|mut admin| {
                admin
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                        self.name
                    ))
                    .map_err(|error| error.to_string())
            });
        if let Err(error) = dropped {
            // Panicking here could abort a test that is already unwinding.
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// Runs each test body twice: as `<name>::sqlite` on a fresh SQLite file and as
/// `<name>::postgres` on a fresh Postgres database (skipped, with a message, when
/// `KEYGATE_TEST_POSTGRES_URL` is unset; failing when it is unset on CI). The body gets the
/// database as `&TestDatabase` under the name given in parentheses; the enclosing module's
/// items are in scope.
///
/// ```ignore
/// keygate_storage::backend_tests! {
///     fn counts_projects(db) {
///         let mut conn = db.conn();
///         assert_eq!(keygate_storage::repo::projects::count(&mut conn).unwrap(), 0);
///     }
/// }
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($($(#[$attr:meta])* fn $name:ident($db:ident) $body:block)*) => {
        $(
            $(#[$attr])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn body($db: &$crate::testing::TestDatabase) $body

                #[test]
                fn sqlite() {
                    body(&$crate::testing::TestDatabase::sqlite());
                }

                #[test]
                fn postgres() {
                    match $crate::testing::TestDatabase::postgres() {
                        Some(db) => body(&db),
                        None => eprintln!(
                            "skipped {}::postgres: {} is not set",
                            module_path!(),
                            $crate::testing::POSTGRES_URL_ENV
                        ),
                    }
                }
            }
        )*
    };
}

/// A digest that no other call returns (random), for keys, credentials and refresh tokens.
pub fn random_hash() -> KeyHash {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    KeyHash::from_bytes(bytes)
}

/// Inserts a project with both key types enabled, created at `1_000`.
///
/// # Panics
/// If the insert fails.
pub fn insert_project(conn: &mut DbConnection) -> ProjectRecord {
    let project = ProjectRecord {
        default_rate_limit: None,
        id: ProjectId::new_random(),
        display_name: "test project".to_owned(),
        created_at_millis: 1_000,
        config: ProjectSwitches {
            allow_user_api_keys: true,
            allow_team_api_keys: true,
            client_team_creation_enabled: false,
        },
        api_key_scopes: "[]".to_owned(),
    };
    projects::insert(conn, &project).expect("insert test project");
    project
}

/// Inserts a credential of `project` with a secret server key (a random digest), created at
/// `1_000`, and returns its id.
///
/// # Panics
/// If the insert fails.
pub fn insert_credential(conn: &mut DbConnection, project: ProjectId) -> Uuid {
    let credential = ProjectCredentialRecord {
        id: Uuid::new_v4(),
        project_id: project,
        description: "test credential".to_owned(),
        created_at_millis: 1_000,
        expires_at_millis: None,
        revoked_at_millis: None,
        publishable_client_key_hash: None,
        secret_server_key_hash: Some(random_hash()),
        super_secret_admin_key_hash: None,
        publishable_client_key_last_four: None,
        secret_server_key_last_four: Some("abcd".to_owned()),
        super_secret_admin_key_last_four: None,
    };
    project_credentials::insert(conn, &credential).expect("insert test credential");
    credential.id
}

/// Inserts a user without e-mail into `project`, signed up at `2_000`.
///
/// # Panics
/// If the insert fails.
pub fn insert_user(conn: &mut DbConnection, project: ProjectId) -> UserRecord {
    let user = UserRecord::new(project, Some("test user".to_owned()), 2_000);
    users::insert(conn, &user).expect("insert test user");
    user
}

/// Inserts a team into `project`, created at `3_000`.
///
/// # Panics
/// If the insert fails.
pub fn insert_team(conn: &mut DbConnection, project: ProjectId) -> TeamRecord {
    let team = TeamRecord {
        id: TeamId::new_random(),
        project_id: project,
        display_name: "test team".to_owned(),
        profile_image_url: None,
        client_metadata: None,
        client_read_only_metadata: None,
        server_metadata: None,
        created_at_millis: 3_000,
    };
    teams::insert(conn, &team).expect("insert test team");
    team
}

/// Inserts a secret, never-expiring API key for `owner`, created at `created_at_millis`.
///
/// # Panics
/// If the insert fails.
pub fn insert_api_key(
    conn: &mut DbConnection,
    project: ProjectId,
    owner: Owner,
    created_at_millis: i64,
) -> ApiKey {
    let key = ApiKey {
        id: ApiKeyId::new_random(),
        project_id: project,
        owner,
        description: "test key".to_owned(),
        is_public: false,
        hash: random_hash(),
        last_four: "53a0".to_owned(),
        created_at_millis,
        expires_at_millis: None,
        manually_revoked_at_millis: None,
        policy: Default::default(),
    };
    api_keys::insert(conn, &key).expect("insert test API key");
    key
}

/// One stored value: where it is and its bytes (text as UTF-8, blobs as they are, numbers as
/// their decimal text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredValue {
    /// The table.
    pub table: String,
    /// The column.
    pub column: String,
    /// The value's bytes.
    pub bytes: Vec<u8>,
}

/// Every non-NULL value of every column of every table in the database, Diesel's own migration
/// table included: for tests that prove something is stored nowhere (e.g. a full API key).
/// Tables and columns are discovered from the database itself (`sqlite_master` /
/// `information_schema`), so a table added later is scanned too.
///
/// # Panics
/// If the database cannot be read.
pub fn all_stored_values(conn: &mut DbConnection) -> Vec<StoredValue> {
    use diesel::sql_types::{Binary, Nullable, Text};
    use diesel::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    #[derive(diesel::QueryableByName)]
    struct PgColumn {
        #[diesel(sql_type = Text)]
        table_name: String,
        #[diesel(sql_type = Text)]
        column_name: String,
        #[diesel(sql_type = Text)]
        data_type: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Value {
        #[diesel(sql_type = Nullable<Binary>)]
        value: Option<Vec<u8>>,
    }
    fn quoted(identifier: &str) -> String {
        format!("\"{}\"", identifier.replace('"', "\"\""))
    }

    let mut found = Vec::new();
    let mut collect = |table: &str, column: &str, values: Vec<Value>| {
        found.extend(
            values
                .into_iter()
                .filter_map(|v| v.value)
                .map(|bytes| StoredValue {
                    table: table.to_owned(),
                    column: column.to_owned(),
                    bytes,
                }),
        );
    };
    match conn {
        DbConnection::Sqlite(sqlite) => {
            let tables: Vec<Name> = diesel::sql_query(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .load(sqlite)
            .expect("list SQLite tables");
            for table in tables {
                let columns: Vec<Name> = diesel::sql_query("SELECT name FROM pragma_table_info(?)")
                    .bind::<Text, _>(&table.name)
                    .load(sqlite)
                    .expect("list SQLite columns");
                for column in columns {
                    let values: Vec<Value> = diesel::sql_query(format!(
                        "SELECT CAST({} AS BLOB) AS value FROM {}",
                        quoted(&column.name),
                        quoted(&table.name)
                    ))
                    .load(sqlite)
                    .expect("read SQLite column");
                    collect(&table.name, &column.name, values);
                }
            }
        }
        DbConnection::Postgres(pg) => {
            let columns: Vec<PgColumn> = diesel::sql_query(
                "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                 data_type::text AS data_type FROM information_schema.columns \
                 WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
            )
            .load(pg)
            .expect("list Postgres columns");
            for column in columns {
                let name = quoted(&column.column_name);
                let expression = if column.data_type == "bytea" {
                    name
                } else {
                    format!("convert_to({name}::text, 'UTF8')")
                };
                let values: Vec<Value> = diesel::sql_query(format!(
                    "SELECT {expression} AS value FROM {}",
                    quoted(&column.table_name)
                ))
                .load(pg)
                .expect("read Postgres column");
                collect(&column.table_name, &column.column_name, values);
            }
        }
    }
    found
}

/// Runs key-changing `work` through [`write_keys`] with no cache to invalidate: for tests of
/// storage itself (the service layer always passes its check cache).
pub fn write_keys_uncached<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut KeyWrite<'_>) -> Result<T, StorageError>,
) -> Result<T, StorageError> {
    write_keys(conn, |_| {}, work)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use diesel::RunQueryDsl;

    use super::*;

    #[test]
    fn postgres_tests_run_skip_or_fail_by_environment() {
        let url = "postgres://postgres@127.0.0.1/postgres".to_owned();
        assert_eq!(
            postgres_admin_url(Some(url.clone()), None),
            Ok(Some(url.clone()))
        );
        assert_eq!(
            postgres_admin_url(Some(url.clone()), Some("true".to_owned())),
            Ok(Some(url))
        );
        assert_eq!(postgres_admin_url(None, None), Ok(None));
        assert_eq!(
            postgres_admin_url(Some(" ".to_owned()), Some("false".to_owned())),
            Ok(None)
        );
        let on_ci = postgres_admin_url(None, Some("true".to_owned())).unwrap_err();
        assert!(on_ci.contains(POSTGRES_URL_ENV), "{on_ci}");
        assert!(postgres_admin_url(Some(String::new()), Some("true".to_owned())).is_err());
    }

    #[test]
    fn sqlite_test_database_lives_in_a_directory_removed_on_drop() {
        let db = TestDatabase::sqlite();
        let location = db.location();
        let path = PathBuf::from(location.strip_prefix("SQLite file ").unwrap());
        assert!(path.is_file(), "{location}");
        drop(db);
        assert!(!path.exists());
        assert!(!path.parent().unwrap().exists());
    }

    #[test]
    fn postgres_test_database_is_dropped_even_when_the_test_panics() {
        let Some(admin_url) = postgres_admin_url_from_env() else {
            eprintln!("skipped: {POSTGRES_URL_ENV} is not set");
            return;
        };
        let name = std::panic::catch_unwind(|| {
            let db = TestDatabase::postgres().expect("the variable is set");
            let location = db.location();
            let name = location
                .strip_prefix("Postgres database ")
                .unwrap()
                .to_owned();
            assert!(database_exists(&admin_url, &name));
            std::panic::panic_any(name);
        })
        .expect_err("the closure panics")
        .downcast::<String>()
        .expect("the panic carries the database name");
        assert!(name.starts_with("keygate_test_"), "{name}");
        assert!(
            !database_exists(&admin_url, &name),
            "{name} was not dropped"
        );
    }

    crate::backend_tests! {
        fn all_stored_values_reads_every_table_and_column(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project);
            let key = insert_api_key(&mut conn, project, Owner::User(user.id), 4_242);
            let values = all_stored_values(&mut conn);
            let has = |table: &str, column: &str, bytes: &[u8]| {
                values
                    .iter()
                    .any(|v| v.table == table && v.column == column && v.bytes == bytes)
            };
            assert!(has("users", "display_name", b"test user"));
            assert!(has("api_keys", "key_hash", key.hash.as_bytes()));
            assert!(has("api_keys", "created_at_millis", b"4242"));
            assert!(has("api_keys", "id", key.id.to_string().as_bytes()));
            assert!(values.iter().any(|v| v.table == "__diesel_schema_migrations"));
        }
    }

    fn database_exists(admin_url: &str, name: &str) -> bool {
        let mut admin = PgConnection::establish(admin_url).expect("connect as admin");
        let found = diesel::sql_query(format!(
            "SELECT datname::text AS name FROM pg_database WHERE datname = '{name}'"
        ))
        .load::<DatabaseName>(&mut admin)
        .expect("list databases");
        found.iter().any(|row| row.name == name)
    }

    #[derive(diesel::QueryableByName)]
    struct DatabaseName {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
}
