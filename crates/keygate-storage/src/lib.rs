//! keygate's storage: projects, credentials, users, sessions, teams, memberships, team
//! permissions and API keys, in SQLite or Postgres.
//!
//! **Key design decision:** one code base serves both backends. Every query is written once
//! against [`DbConnection`], a `#[derive(diesel::MultiConnection)]` enum over
//! `SqliteConnection` and `PgConnection`, and every test runs on both (module `testing`,
//! feature `test-support`). The backend is chosen from the URL scheme by keygate itself, never
//! by trial, so a typo can not silently create a SQLite file:
//!
//! | URL | Backend |
//! |---|---|
//! | `sqlite://path`, `sqlite:path`, or a plain path | SQLite (file created if missing, mode `0600`) |
//! | `postgres://…`, `postgresql://…` | Postgres |
//! | anything else with a scheme (`postgress://`, `sqlit:`, …) | error naming the scheme |
//!
//! This crate maps records to rows and back; it makes no business decisions (those live in
//! `keygate-domain` and `keygate-permissions`). In particular no query compares an expiry or
//! checks a revocation: lookups return the row, and the caller judges its
//! [`keygate_domain::Lifetime`]. Storage conventions, identical on both
//! backends (migrations in `migrations/sqlite` and `migrations/postgres`, embedded):
//! - ids are UUIDs stored as TEXT (hyphenated, lowercase); permission ids are their own text;
//! - instants are BIGINT epoch milliseconds, always passed in by the caller: no SQL clock;
//! - secrets (API keys, project credentials, refresh tokens) are stored only as their 32-byte
//!   digests ([`keygate_domain::KeyHash`]), as BLOB / BYTEA;
//! - metadata is JSON text, stored and returned verbatim;
//! - every child row carries its `project_id` and references its parent with a composite
//!   foreign key `(project_id, parent_id)`, so a membership, grant, session or key can never
//!   point at a user or team of another project; deleting a user or a team deletes, through
//!   `ON DELETE CASCADE`, their keys, sessions, memberships and grants on both backends;
//! - a lookup by a primary or unique key reads with `get_result`, never `first`: `first` adds
//!   `LIMIT ?`, and SQLite re-prepares a statement whose LIMIT is a bound parameter on every
//!   execution, so the prepared-statement cache saved nothing and each lookup re-parsed its SQL
//!   (a third of a cache-missing key check's CPU time, see `docs/benchmarks.md`).
//!
//! Nodes sharing one Postgres database learn of each other's key changes through
//! [`key_changes`] (`NOTIFY` in the writing transaction, `LISTEN` on a dedicated connection).
//!
//! API shape: functions in [`repo`] take `&mut DbConnection` and block (async callers use a
//! blocking thread pool). `get`-style reads return `Ok(None)` for a missing row; updates and
//! deletes of a missing row return [`StorageError::NotFound`]; constraint violations come back
//! as [`StorageError::AlreadyExists`], [`StorageError::ForeignKeyViolation`] or
//! [`StorageError::ConstraintViolation`], the same on both backends.

mod backend;
mod connection;
mod connection_loss;
mod database_url;
mod error;
pub mod key_changes;
mod listener_tls;
pub mod repo;
mod schema;
mod sqlite_file;
mod stored;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use backend::Backend;
pub use connection::{
    migration_versions, Database, DbConnection, DbConnectionManager, PoolOptions, PoolStatus,
    PooledDbConnection, POSTGRES_MIGRATIONS, SQLITE_BUSY_TIMEOUT, SQLITE_MIGRATIONS,
};
pub use connection_loss::ConnectionLoss;
pub use error::StorageError;
