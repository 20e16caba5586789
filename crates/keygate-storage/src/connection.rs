//! The connection type over both backends, the pool, and the embedded migrations.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::r2d2::event::{CheckoutEvent, TimeoutEvent};
use diesel::r2d2::{
    CustomizeConnection, HandleError, HandleEvent, ManageConnection, Pool, PooledConnection,
};
use diesel::sqlite::Sqlite;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::backend::Backend;
use crate::connection_loss::{completed_statements, ConnectionLoss, StatementTally};
use crate::database_url::DatabaseTarget;
use crate::error::StorageError;
use crate::sqlite_file::prepare_sqlite_file;

/// The migrations for SQLite, compiled in from `migrations/sqlite` at the workspace root.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
/// The migrations for Postgres, compiled in from `migrations/postgres` at the workspace root.
/// Same version names as [`SQLITE_MIGRATIONS`].
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// The `busy_timeout` set on every SQLite connection: how long a writer waits for another
/// writer's lock before failing with "database is locked".
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

// The derive generates a backend (`MultiBackend`) and helper types next to the enum; they are
// Diesel internals, so the lint asking for Debug on every public type does not apply to them.
#[allow(missing_debug_implementations)]
mod multi {
    /// One database connection, to SQLite or to Postgres. Every repository function takes
    /// `&mut DbConnection`, so the same query code serves both backends; code that needs a
    /// backend-specific statement matches on the variant.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// A connection to a SQLite file.
        Sqlite(diesel::SqliteConnection),
        /// A connection to a Postgres database.
        Postgres(diesel::PgConnection),
    }
}

pub use multi::DbConnection;
/// The backend type Diesel generated for [`DbConnection`]; named by boxed queries.
pub(crate) use multi::MultiBackend;

impl fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbConnection::Sqlite(_) => f.write_str("DbConnection::Sqlite"),
            DbConnection::Postgres(_) => f.write_str("DbConnection::Postgres"),
        }
    }
}

impl DbConnection {
    /// At the start of every transaction, takes SQLite's write lock (a write statement that
    /// changes nothing): keygate's transactions read and then write, and a deferred transaction
    /// that upgrades from reading to writing fails at once with `database is locked` when
    /// another writer committed since its read, while one that starts by writing waits for the
    /// lock (`busy_timeout`). Nothing on Postgres, whose row locks do this job.
    fn take_sqlite_write_lock(&mut self) -> Result<(), StorageError> {
        if let DbConnection::Sqlite(conn) = self {
            diesel::RunQueryDsl::execute(
                diesel::sql_query("UPDATE server_secrets SET name = name WHERE 0"),
                conn,
            )?;
        }
        Ok(())
    }

    /// Which backend this connection talks to.
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Sqlite(_) => Backend::Sqlite,
            DbConnection::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs `work` in a transaction: committed when it returns `Ok`, rolled back otherwise. On
    /// SQLite the transaction holds the write lock from its start, so a read followed by a
    /// write never fails because another writer came in between: it waits instead.
    pub fn in_transaction<T>(
        &mut self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.in_transaction_with(work)
    }

    /// Like [`DbConnection::in_transaction`], for work whose errors are the caller's own type
    /// (e.g. a refusal decided half-way): any `Err` rolls the transaction back and is returned
    /// unchanged; a failure of the database itself comes back as a [`StorageError`] converted
    /// into `E`.
    pub fn in_transaction_with<T, E: From<StorageError>>(
        &mut self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E> {
        enum Failure<E> {
            Database(diesel::result::Error),
            Work(E),
        }
        impl<E> From<diesel::result::Error> for Failure<E> {
            fn from(error: diesel::result::Error) -> Self {
                Failure::Database(error)
            }
        }
        diesel::Connection::transaction(self, |conn| {
            conn.take_sqlite_write_lock()
                .map_err(|error| Failure::Work(E::from(error)))?;
            work(conn).map_err(Failure::Work)
        })
        .map_err(|failure| match failure {
            Failure::Database(error) => E::from(StorageError::from(error)),
            Failure::Work(error) => error,
        })
    }

    /// Runs a trivial query: proves the connection still reaches the database (readiness).
    pub fn ping(&mut self) -> Result<(), StorageError> {
        use diesel::connection::SimpleConnection;
        self.batch_execute("SELECT 1")?;
        Ok(())
    }
}

/// Opens connections for the pool, always to the backend chosen from the URL (never by trial).
/// Only visible as part of [`PooledDbConnection`].
pub struct DbConnectionManager {
    target: DatabaseTarget,
}

impl fmt::Debug for DbConnectionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConnectionManager")
            .field("target", &self.target)
            .finish()
    }
}

impl ManageConnection for DbConnectionManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        let (mut conn, database) = match &self.target {
            DatabaseTarget::Sqlite(path) => {
                // Diesel treats the string as a file name (or a `file:` URI, excluded when the
                // URL was parsed).
                let path = path.to_string_lossy();
                let conn = DbConnection::Sqlite(SqliteConnection::establish(&path)?);
                (conn, path.into_owned())
            }
            DatabaseTarget::Postgres(url) => (
                DbConnection::Postgres(PgConnection::establish(url)?),
                url.clone(),
            ),
        };
        conn.set_instrumentation(StatementTally { database });
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::r2d2::R2D2Connection;
        std::thread::panicking() || conn.is_broken()
    }
}

/// Applies keygate's SQLite settings to every new pooled connection: enforce foreign keys (off by
/// default in SQLite, and the cascades depend on them), write-ahead logging so readers do not
/// block the writer, a busy timeout so concurrent writers wait instead of failing, and
/// `synchronous=NORMAL`, which is durable enough under WAL.
#[derive(Debug, Clone, Copy)]
struct SqliteConnectionSettings;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for SqliteConnectionSettings {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        if let DbConnection::Sqlite(sqlite) = conn {
            sqlite
                .batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; \
                     PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                    SQLITE_BUSY_TIMEOUT.as_millis()
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}

/// Reports pool errors (a connection that could not be opened in the background) through
/// `tracing` rather than r2d2's default `log` output.
#[derive(Debug, Clone, Copy)]
struct TracingPoolErrors;

impl HandleError<diesel::r2d2::Error> for TracingPoolErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(%error, "database pool could not open a connection");
    }
}

/// Sizing of the connection pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most connections open at once.
    pub max_size: u32,
    /// Connections kept open while idle; `None` keeps `max_size` open.
    pub min_idle: Option<u32>,
    /// How long [`Database::get`] waits for a free connection before failing.
    pub connection_timeout: Duration,
}

impl PoolOptions {
    /// Rejects settings the pool cannot work with (r2d2 would panic on them).
    fn validate(&self) -> Result<(), StorageError> {
        let reason = if self.max_size == 0 {
            "max_size must be at least 1"
        } else if self.connection_timeout.is_zero() {
            "connection_timeout must be positive"
        } else if self
            .min_idle
            .is_some_and(|min_idle| min_idle > self.max_size)
        {
            "min_idle must not exceed max_size"
        } else {
            return Ok(());
        };
        Err(StorageError::InvalidPoolOptions { reason })
    }
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 10,
            min_idle: None,
            connection_timeout: Duration::from_secs(30),
        }
    }
}

/// A connection checked out of the pool; dereferences to [`DbConnection`] and goes back to the
/// pool when dropped.
pub type PooledDbConnection = PooledConnection<DbConnectionManager>;

/// keygate's database: a pool of connections to one SQLite file or one Postgres database.
/// Cheap to clone (the pool is shared). All calls block; async callers run them on a blocking
/// thread pool.
#[derive(Clone)]
pub struct Database {
    pool: Pool<DbConnectionManager>,
    backend: Backend,
    checkouts: Arc<CheckoutStats>,
}

/// What the pool reports about its connections, for metrics: how many it holds and how many
/// of those are idle (r2d2's `State`), and what checkouts cost (counted by [`CheckoutStats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections the pool holds (idle or checked out).
    pub connections: u32,
    /// Connections waiting in the pool.
    pub idle_connections: u32,
    /// The pool's maximum size.
    pub max_size: u32,
    /// Checkouts that got a connection.
    pub checkouts: u64,
    /// Checkouts that waited at least [`SLOW_CHECKOUT`] for a connection (the pool was
    /// exhausted, or a connection had to be opened).
    pub slow_checkouts: u64,
    /// Total time checkouts spent waiting, in microseconds.
    pub checkout_wait_micros: u64,
    /// Checkouts that gave up after the pool's connection timeout.
    pub timeouts: u64,
}

/// A checkout slower than this had to wait for a connection (a ready idle connection is
/// handed out in microseconds: it is not probed).
pub const SLOW_CHECKOUT: Duration = Duration::from_millis(5);

/// Counts the pool's checkouts (r2d2's event handler: plain atomics, no lock, no allocation).
#[derive(Debug, Default)]
struct CheckoutStats {
    checkouts: AtomicU64,
    slow: AtomicU64,
    wait_micros: AtomicU64,
    timeouts: AtomicU64,
}

impl HandleEvent for CheckoutCounter {
    fn handle_checkout(&self, event: CheckoutEvent) {
        let waited = event.duration();
        self.0.checkouts.fetch_add(1, Ordering::Relaxed);
        if waited >= SLOW_CHECKOUT {
            self.0.slow.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.0.wait_micros.fetch_add(micros, Ordering::Relaxed);
    }

    fn handle_timeout(&self, _event: TimeoutEvent) {
        self.0.timeouts.fetch_add(1, Ordering::Relaxed);
    }
}

/// r2d2's handler over the shared [`CheckoutStats`].
#[derive(Debug)]
struct CheckoutCounter(Arc<CheckoutStats>);

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend)
            .field("pool_size", &self.pool.max_size())
            .finish()
    }
}

impl Database {
    /// Opens the database at `url` (see the crate docs for the accepted forms). One connection is
    /// opened right away, so an unreachable server, a wrong password or an unwritable path is
    /// reported here with the driver's own message. A SQLite file is created if missing, with
    /// mode `0600` (an existing one readable by others is tightened, see `sqlite_file`);
    /// nothing is created for a URL that is rejected.
    pub fn connect(url: &str, options: PoolOptions) -> Result<Database, StorageError> {
        options.validate()?;
        let target = DatabaseTarget::parse(url)?;
        let backend = target.backend();
        if let DatabaseTarget::Sqlite(path) = &target {
            // Before SQLite opens it: created (or tightened) owner-only, so the -wal and -shm
            // files SQLite makes next to it are owner-only too.
            prepare_sqlite_file(path);
        }
        let manager = DbConnectionManager { target };

        // Open (and configure) one connection directly to surface the real error; r2d2 would
        // only report a timeout.
        let mut probe = manager
            .connect()
            .map_err(|error| connection_error(backend, error))?;
        SqliteConnectionSettings
            .on_acquire(&mut probe)
            .map_err(|error| connection_error(backend, error))?;
        drop(probe);

        let checkouts = Arc::new(CheckoutStats::default());
        let pool = Pool::builder()
            // Never probed on checkout: that would be a second round trip on every call. A
            // connection that died while idle is found by the work's first statement, and
            // `with_connection` runs the work again on a live one (see `connection_loss`).
            .test_on_check_out(false)
            .max_size(options.max_size)
            .min_idle(options.min_idle)
            .connection_timeout(options.connection_timeout)
            .connection_customizer(Box::new(SqliteConnectionSettings))
            .error_handler(Box::new(TracingPoolErrors))
            .event_handler(Box::new(CheckoutCounter(Arc::clone(&checkouts))))
            .build(manager)
            .map_err(StorageError::Pool)?;
        Ok(Database {
            pool,
            backend,
            checkouts,
        })
    }

    /// The backend chosen from the URL.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool's connections and its checkouts so far (cheap: no connection is used).
    pub fn pool_status(&self) -> PoolStatus {
        let state = self.pool.state();
        PoolStatus {
            connections: state.connections,
            idle_connections: state.idle_connections,
            max_size: self.pool.max_size(),
            checkouts: self.checkouts.checkouts.load(Ordering::Relaxed),
            slow_checkouts: self.checkouts.slow.load(Ordering::Relaxed),
            checkout_wait_micros: self.checkouts.wait_micros.load(Ordering::Relaxed),
            timeouts: self.checkouts.timeouts.load(Ordering::Relaxed),
        }
    }

    /// Checks a connection out of the pool. It is not probed: a connection that died while idle
    /// fails its first statement. Prefer [`Database::with_connection`], which recovers from that.
    pub fn get(&self) -> Result<PooledDbConnection, StorageError> {
        Ok(self.pool.get()?)
    }

    /// Runs `work` on a pooled connection. If the connection turns out to have died while idle
    /// (the work failed with a lost connection before any of its statements completed, so
    /// nothing ran), the work runs once more on a connection proven alive, so a restart of the
    /// database server or an idle timeout never fails a request by itself. Work that lost the
    /// connection after a statement completed is not repeated: its error is returned.
    ///
    /// `work` must therefore have no effect outside the database before its first statement.
    pub fn with_connection<T, E>(
        &self,
        work: impl Fn(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StorageError> + ConnectionLoss,
    {
        let mut conn = self.get()?;
        let completed_before = completed_statements();
        match work(&mut conn) {
            Err(error)
                if error.is_connection_lost() && completed_statements() == completed_before =>
            {
                // Diesel marked the connection broken: the pool drops it instead of keeping it.
                drop(conn);
                tracing::info!(
                    backend = %self.backend,
                    "a pooled database connection had died while idle; running the work on a live one"
                );
                let mut conn = self.get_live()?;
                work(&mut conn)
            }
            result => result,
        }
    }

    /// A connection that answered a trivial query: after one was found dead, others in the
    /// pool may have died with it (a server restart kills them all), so each is tried in turn,
    /// at most the pool's size plus one (a fresh connection), before giving up.
    fn get_live(&self) -> Result<PooledDbConnection, StorageError> {
        let mut last_error = None;
        for _ in 0..=self.pool.max_size() {
            let mut conn = self.get()?;
            match conn.ping() {
                Ok(()) => return Ok(conn),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or(StorageError::ConnectionLost {
            message: "no live database connection".to_owned(),
        }))
    }

    /// Applies every embedded migration not yet applied and returns the versions it applied
    /// (empty when the schema was already current).
    pub fn run_migrations(&self) -> Result<Vec<String>, StorageError> {
        let mut conn = self.get()?;
        let migration_error =
            |error: Box<dyn std::error::Error + Send + Sync>| StorageError::Migration {
                message: error.to_string(),
            };
        let applied = match &mut *conn {
            DbConnection::Sqlite(sqlite) => sqlite
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(migration_error)?,
            DbConnection::Postgres(pg) => pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(migration_error)?,
        };
        let applied: Vec<String> = applied.iter().map(ToString::to_string).collect();
        if !applied.is_empty() {
            tracing::info!(backend = %self.backend, versions = ?applied, "applied database migrations");
        }
        Ok(applied)
    }

    /// Reverts applied migrations, newest first, while the newest applied one is `version` or
    /// later, so a test can put data into the schema as it was before a data migration and then
    /// run it ([`Database::run_migrations`]).
    #[cfg(any(test, feature = "test-support"))]
    pub fn revert_migrations_from(&self, version: &str) -> Result<(), StorageError> {
        fn revert<C: MigrationHarness<DB>, DB: diesel::backend::Backend>(
            conn: &mut C,
            source: impl Fn() -> EmbeddedMigrations,
            version: &str,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            while conn
                .applied_migrations()?
                .iter()
                .max()
                .is_some_and(|newest| newest.to_string().as_str() >= version)
            {
                conn.revert_last_migration(source())?;
            }
            Ok(())
        }
        let mut conn = self.get()?;
        match &mut *conn {
            DbConnection::Sqlite(sqlite) => revert(sqlite, || SQLITE_MIGRATIONS, version),
            DbConnection::Postgres(pg) => revert(pg, || POSTGRES_MIGRATIONS, version),
        }
        .map_err(|error| StorageError::Migration {
            message: error.to_string(),
        })
    }
}

fn connection_error(backend: Backend, error: diesel::r2d2::Error) -> StorageError {
    StorageError::Connection {
        backend,
        message: error.to_string().trim_end().to_owned(),
    }
}

/// The versions of the migrations embedded for `backend`, in order (as recorded in Diesel's
/// `__diesel_schema_migrations` table and returned by [`Database::run_migrations`]).
pub fn migration_versions(backend: Backend) -> Result<Vec<String>, StorageError> {
    let to_storage_error =
        |error: Box<dyn std::error::Error + Send + Sync>| StorageError::Migration {
            message: error.to_string(),
        };
    let names = match backend {
        Backend::Sqlite => MigrationSource::<Sqlite>::migrations(&SQLITE_MIGRATIONS)
            .map_err(to_storage_error)?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect(),
        Backend::Postgres => MigrationSource::<Pg>::migrations(&POSTGRES_MIGRATIONS)
            .map_err(to_storage_error)?
            .iter()
            .map(|m| m.name().version().to_string())
            .collect(),
    };
    Ok(names)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use diesel::sql_types::{BigInt, Text};
    use diesel::RunQueryDsl;

    use super::*;
    use crate::testing::{postgres_admin_url_from_env, PostgresDatabaseGuard, POSTGRES_URL_ENV};

    fn small_pool() -> PoolOptions {
        PoolOptions {
            max_size: 3,
            min_idle: Some(1),
            connection_timeout: Duration::from_secs(10),
        }
    }

    fn files_containing(directory: &Path, marker: &str) -> Vec<PathBuf> {
        std::fs::read_dir(directory)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.to_string_lossy().contains(marker))
            .collect()
    }

    #[test]
    fn sqlite_url_forms_open_and_create_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path().display();
        for url in [
            format!("sqlite://{dir}/a.db"),
            format!("sqlite:{dir}/b.db"),
            format!("{dir}/c.db"),
        ] {
            let database = Database::connect(&url, small_pool()).unwrap();
            assert_eq!(database.backend(), Backend::Sqlite);
            assert_eq!(database.get().unwrap().backend(), Backend::Sqlite);
        }
        for file in ["a.db", "b.db", "c.db"] {
            assert!(
                directory.path().join(file).is_file(),
                "{file} was not created"
            );
        }
        let database = Database::connect(&format!("{dir}/d.db"), PoolOptions::default()).unwrap();
        assert!(format!("{database:?}").contains("Sqlite"));
    }

    #[test]
    fn typos_in_the_scheme_never_create_a_file() {
        let marker = format!("typo{}", uuid::Uuid::new_v4().simple());
        let directory = tempfile::tempdir().unwrap();
        let dir = directory.path().display();
        let urls = [
            format!("sqlit:{marker}.db"),
            format!("sqlit://{marker}.db"),
            format!("sqlite3:{marker}.db"),
            format!("postgress:{marker}.db"),
            format!("postgress://localhost/{marker}"),
            format!("postgress://{dir}/{marker}.db"),
            format!("sqlit:{dir}/{marker}.db"),
            format!("pg:{dir}/{marker}.db"),
        ];
        for url in &urls {
            let error = Database::connect(url, small_pool()).unwrap_err();
            assert!(
                matches!(error, StorageError::UnsupportedScheme { .. }),
                "{url}: {error:?}"
            );
        }
        let cwd = std::env::current_dir().unwrap();
        assert!(files_containing(&cwd, &marker).is_empty());
        assert!(files_containing(directory.path(), &marker).is_empty());
    }

    #[test]
    fn unusable_pool_options_are_rejected_before_connecting() {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/never.db", directory.path().display());
        for options in [
            PoolOptions {
                max_size: 0,
                ..small_pool()
            },
            PoolOptions {
                connection_timeout: Duration::ZERO,
                ..small_pool()
            },
            PoolOptions {
                min_idle: Some(4),
                ..small_pool()
            },
        ] {
            let error = Database::connect(&url, options).unwrap_err();
            assert!(
                matches!(error, StorageError::InvalidPoolOptions { .. }),
                "{error:?}"
            );
        }
        assert!(!directory.path().join("never.db").exists());
    }

    #[test]
    fn an_exhausted_pool_is_a_pool_error() {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/busy.db", directory.path().display());
        let options = PoolOptions {
            max_size: 1,
            min_idle: None,
            connection_timeout: Duration::from_millis(50),
        };
        let database = Database::connect(&url, options).unwrap();
        let _held = database.get().unwrap();
        let error = database.get().unwrap_err();
        assert!(matches!(error, StorageError::Pool(_)), "{error:?}");

        // What metrics see of it: one connection in use, one checkout, one timeout.
        let status = database.pool_status();
        assert_eq!(
            (status.connections, status.idle_connections, status.max_size),
            (1, 0, 1),
            "{status:?}"
        );
        assert_eq!((status.checkouts, status.timeouts), (1, 1), "{status:?}");
    }

    #[test]
    fn an_unopenable_sqlite_path_reports_the_driver_error() {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/missing-dir/k.db", directory.path().display());
        match Database::connect(&url, small_pool()).unwrap_err() {
            StorageError::Connection { backend, message } => {
                assert_eq!(backend, Backend::Sqlite);
                assert!(
                    message.to_lowercase().contains("unable to open"),
                    "{message}"
                );
            }
            other => panic!("expected a connection error, got {other:?}"),
        }
    }

    #[test]
    fn an_unreachable_postgres_server_reports_the_driver_error() {
        // Port 1 is never a Postgres server: the connection is refused at once.
        let error =
            Database::connect("postgres://keygate@127.0.0.1:1/keygate", small_pool()).unwrap_err();
        match &error {
            StorageError::Connection { backend, message } => {
                assert_eq!(*backend, Backend::Postgres);
                assert!(message.to_lowercase().contains("refused"), "{message}");
            }
            other => panic!("expected a connection error, got {other:?}"),
        }
        assert!(error
            .to_string()
            .starts_with("could not connect to the Postgres database: "));
    }

    #[test]
    fn a_missing_postgres_database_reports_the_servers_error() {
        let Some(admin_url) = postgres_admin_url_from_env() else {
            eprintln!("skipped: {POSTGRES_URL_ENV} is not set");
            return;
        };
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path("/keygate_no_such_database");
        match Database::connect(url.as_str(), small_pool()).unwrap_err() {
            StorageError::Connection { backend, message } => {
                assert_eq!(backend, Backend::Postgres);
                assert!(message.contains("keygate_no_such_database"), "{message}");
                assert!(message.contains("does not exist"), "{message}");
            }
            other => panic!("expected a connection error, got {other:?}"),
        }
    }

    #[test]
    fn migration_version_names_are_identical_on_both_backends() {
        let sqlite = migration_versions(Backend::Sqlite).unwrap();
        let postgres = migration_versions(Backend::Postgres).unwrap();
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, postgres);

        // The directories on disk too, each with both scripts.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let list = |backend: &str| {
            let mut names: Vec<String> = std::fs::read_dir(root.join(backend))
                .unwrap()
                .map(|entry| entry.unwrap())
                .filter(|entry| entry.path().is_dir())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for name in &names {
                for script in ["up.sql", "down.sql"] {
                    assert!(
                        root.join(backend).join(name).join(script).is_file(),
                        "{backend}/{name}/{script}"
                    );
                }
            }
            names
        };
        let directories = list("sqlite");
        assert_eq!(directories, list("postgres"));
        // Diesel's version is the directory name up to the first `_`, without dashes.
        let versions: Vec<String> = directories
            .iter()
            .map(|name| name.split('_').next().unwrap().replace('-', ""))
            .collect();
        assert_eq!(versions, sqlite);
    }

    #[test]
    fn migrations_apply_once_on_a_fresh_sqlite_file() {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/fresh.db", directory.path().display());
        let database = Database::connect(&url, small_pool()).unwrap();
        assert_eq!(
            database.run_migrations().unwrap(),
            migration_versions(Backend::Sqlite).unwrap()
        );
        assert!(database.run_migrations().unwrap().is_empty());
    }

    #[test]
    fn migrations_apply_once_on_a_fresh_postgres_database() {
        let Some(admin_url) = postgres_admin_url_from_env() else {
            eprintln!("skipped: {POSTGRES_URL_ENV} is not set");
            return;
        };
        let guard = PostgresDatabaseGuard::create(&admin_url);
        let database = Database::connect(&guard.url, small_pool()).unwrap();
        assert_eq!(database.backend(), Backend::Postgres);
        assert_eq!(
            database.run_migrations().unwrap(),
            migration_versions(Backend::Postgres).unwrap()
        );
        assert!(database.run_migrations().unwrap().is_empty());
        drop(database);
    }

    #[derive(diesel::QueryableByName)]
    struct PragmaInteger {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }

    #[derive(diesel::QueryableByName)]
    struct PragmaText {
        #[diesel(sql_type = Text)]
        value: String,
    }

    #[test]
    fn every_pooled_sqlite_connection_gets_keygates_settings() {
        let directory = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/pragmas.db", directory.path().display());
        let database = Database::connect(&url, small_pool()).unwrap();
        // Hold all three connections at once so each is a distinct pooled connection.
        let mut connections: Vec<PooledDbConnection> =
            (0..3).map(|_| database.get().unwrap()).collect();
        for conn in &mut connections {
            let DbConnection::Sqlite(sqlite) = &mut **conn else {
                panic!("a sqlite:// URL opens SQLite connections");
            };
            let integer = |sqlite: &mut SqliteConnection, pragma: &str, column: &str| {
                diesel::sql_query(format!("SELECT {column} AS value FROM pragma_{pragma}"))
                    .get_result::<PragmaInteger>(sqlite)
                    .unwrap()
                    .value
            };
            assert_eq!(integer(sqlite, "foreign_keys", "foreign_keys"), 1);
            assert_eq!(
                i128::from(integer(sqlite, "busy_timeout", "timeout")),
                i128::try_from(SQLITE_BUSY_TIMEOUT.as_millis()).unwrap()
            );
            assert_eq!(
                integer(sqlite, "synchronous", "synchronous"),
                1,
                "1 is NORMAL"
            );
            let journal_mode =
                diesel::sql_query("SELECT journal_mode AS value FROM pragma_journal_mode")
                    .get_result::<PragmaText>(sqlite)
                    .unwrap()
                    .value;
            assert_eq!(journal_mode, "wal");
        }
    }

    crate::backend_tests! {
        fn knows_its_backend_and_migrates_only_once(db) {
            let conn = db.get().unwrap();
            assert_eq!(conn.backend(), db.backend());
            assert_eq!(format!("{:?}", *conn), format!("DbConnection::{:?}", db.backend()));
            assert!(db.run_migrations().unwrap().is_empty());
        }

        fn in_transaction_with_returns_the_callers_own_error_after_rolling_back(db) {
            use crate::repo::projects;
            #[derive(Debug, PartialEq)]
            enum Refusal { NotToday, Storage }
            impl From<StorageError> for Refusal {
                fn from(_: StorageError) -> Self { Refusal::Storage }
            }
            let mut conn = db.get().unwrap();
            let kept = crate::testing::insert_project(&mut conn);
            let result: Result<(), Refusal> = conn.in_transaction_with(|conn| {
                projects::update(conn, kept.id, &projects::ProjectUpdate {
                    display_name: Some("renamed".into()),
                    ..Default::default()
                })?;
                Err(Refusal::NotToday)
            });
            assert_eq!(result, Err(Refusal::NotToday));
            assert_eq!(projects::get(&mut conn, kept.id).unwrap().unwrap().display_name, kept.display_name);
        }

        fn ping_reaches_the_database(db) {
            db.get().unwrap().ping().unwrap();
        }

        fn in_transaction_commits_on_ok_and_rolls_back_on_err(db) {
            use crate::repo::projects;
            let mut conn = db.get().unwrap();
            let kept = crate::testing::insert_project(&mut conn);
            let result: Result<(), StorageError> = conn.in_transaction(|conn| {
                projects::update(conn, kept.id, &projects::ProjectUpdate {
                    display_name: Some("renamed".into()),
                    ..Default::default()
                })?;
                Err(StorageError::NotFound { entity: "test" })
            });
            assert!(result.is_err());
            assert_eq!(projects::get(&mut conn, kept.id).unwrap().unwrap().display_name, kept.display_name);
            conn.in_transaction(|conn| {
                projects::update(conn, kept.id, &projects::ProjectUpdate {
                    display_name: Some("renamed".into()),
                    ..Default::default()
                })
            }).unwrap();
            assert_eq!(projects::get(&mut conn, kept.id).unwrap().unwrap().display_name, "renamed");
        }

        fn pooled_connections_write_concurrently(db) {
            let writers: Vec<_> = (0..3)
                .map(|_| {
                    let database = db.database().clone();
                    std::thread::spawn(move || {
                        for _ in 0..10 {
                            let mut conn = database.get().unwrap();
                            crate::testing::insert_project(&mut conn);
                        }
                    })
                })
                .collect();
            for writer in writers {
                writer.join().unwrap();
            }
            assert_eq!(crate::repo::projects::count(&mut db.conn()).unwrap(), 30);
        }
    }

    #[test]
    fn work_whose_idle_connection_died_runs_again_on_a_live_one() {
        let Some(test_db) = crate::testing::TestDatabase::postgres() else {
            eprintln!("skipped: {POSTGRES_URL_ENV} is not set");
            return;
        };
        let url = test_db.postgres_url().unwrap().to_owned();
        let db = Database::connect(&url, small_pool()).unwrap();
        // Three connections open and idle in the pool.
        let held: Vec<_> = (0..3).map(|_| db.get().unwrap()).collect();
        drop(held);
        assert!(test_db.terminate_connections() >= 3);

        // Unprobed, a pooled connection that died idle fails its first statement.
        let error = db.get().unwrap().ping().unwrap_err();
        assert!(error.is_connection_lost(), "{error:?}");

        // Through with_connection, the work is run again on a live connection and succeeds,
        // although every other pooled connection is dead too.
        let runs = std::cell::Cell::new(0);
        let answer = db.with_connection(|conn| {
            runs.set(runs.get() + 1);
            #[derive(diesel::QueryableByName)]
            struct Answer {
                #[diesel(sql_type = Text)]
                word: String,
            }
            let answer: Answer = diesel::sql_query("SELECT 'alive' AS word").get_result(conn)?;
            Ok::<_, StorageError>(answer.word)
        });
        assert_eq!(answer.unwrap(), "alive");
        assert_eq!(runs.get(), 2);
        // The dead connections were dropped, not put back: the next work runs once.
        runs.set(0);
        for _ in 0..5 {
            db.with_connection(|conn| {
                runs.set(runs.get() + 1);
                conn.ping()
            })
            .unwrap();
        }
        assert_eq!(runs.get(), 5);
    }

    #[test]
    fn work_that_lost_its_connection_after_a_statement_is_not_run_again() {
        let Some(test_db) = crate::testing::TestDatabase::postgres() else {
            eprintln!("skipped: {POSTGRES_URL_ENV} is not set");
            return;
        };
        let runs = std::cell::Cell::new(0);
        let result = test_db.database().with_connection(|conn| {
            runs.set(runs.get() + 1);
            // A statement completes (it could have been a committed write) ...
            conn.ping()?;
            // ... then the connection is lost.
            diesel::sql_query("SELECT pg_terminate_backend(pg_backend_pid())").execute(conn)?;
            Ok::<_, StorageError>(())
        });
        let error = result.unwrap_err();
        assert!(error.is_connection_lost(), "{error:?}");
        assert_eq!(
            runs.get(),
            1,
            "work that may have written must not run twice"
        );
        // The pool still serves.
        test_db
            .database()
            .with_connection(|conn| conn.ping())
            .unwrap();
    }
}
