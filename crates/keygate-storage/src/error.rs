//! The one error type of the storage layer, and how Diesel's errors map onto it.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::backend::Backend;

/// Everything that can go wrong in the storage layer.
///
/// Constraint violations are split by kind so callers can answer with the right wire error
/// (`AlreadyExists` → 409 `TEAM_MEMBERSHIP_ALREADY_EXISTS` / `USER_EMAIL_ALREADY_EXISTS`,
/// `ForeignKeyViolation` → "the referenced user/team/permission does not exist in this
/// project"). The same kinds come back from SQLite and Postgres.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database URL names a scheme keygate does not serve (e.g. a typo like `postgress://`).
    /// Only the scheme is echoed, never the rest of the URL (it may hold a password).
    #[error(
        "unsupported database URL scheme `{scheme}:` (use `sqlite://<path>`, `sqlite:<path>` or \
         a plain path for SQLite, `postgres://…` or `postgresql://…` for Postgres)"
    )]
    UnsupportedScheme {
        /// The scheme as written, without the colon.
        scheme: String,
    },

    /// The database URL has a supported scheme but cannot be used.
    #[error("invalid database URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },

    /// The pool sizing cannot work (zero connections, zero timeout, or more idle connections
    /// than the maximum).
    #[error("invalid database pool options: {reason}")]
    InvalidPoolOptions {
        /// What is wrong with them.
        reason: &'static str,
    },

    /// The database server or file could not be opened; `message` is the driver's own reason.
    #[error("could not connect to the {backend} database: {message}")]
    Connection {
        /// Which backend was being opened.
        backend: Backend,
        /// The driver's error message.
        message: String,
    },

    /// No pooled connection became available (pool exhausted or the database went away).
    #[error("could not get a database connection from the pool: {0}")]
    Pool(#[source] diesel::r2d2::PoolError),

    /// Applying the embedded migrations failed.
    #[error("database migration failed: {message}")]
    Migration {
        /// The migration harness's error message.
        message: String,
    },

    /// The row the operation targets does not exist (in this project).
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for, e.g. `"user"`.
        entity: &'static str,
    },

    /// A unique constraint rejected the write (duplicate id, e-mail, membership, key hash, …).
    #[error("already exists: {message}")]
    AlreadyExists {
        /// The database's message, naming the constraint.
        message: String,
    },

    /// A foreign key rejected the write: the referenced row does not exist in the same project.
    #[error("referenced row does not exist: {message}")]
    ForeignKeyViolation {
        /// The database's message.
        message: String,
    },

    /// A CHECK or NOT NULL constraint rejected the write (e.g. an API key with two owners).
    #[error("constraint violated: {message}")]
    ConstraintViolation {
        /// The database's message, naming the constraint where the backend reports it.
        message: String,
    },

    /// A value read from the database does not have the expected shape (e.g. an id that is not a
    /// UUID). Only possible if the database was edited by hand.
    #[error("invalid value stored in column `{column}`")]
    CorruptValue {
        /// The column that held the value.
        column: &'static str,
    },

    /// The connection to the database was lost (Postgres closed it, or the statement could not
    /// be sent): the work did not finish. See `connection_loss` for when it is run again.
    #[error("lost the database connection: {message}")]
    ConnectionLost {
        /// The driver's message.
        message: String,
    },

    /// Any other database error.
    #[error("database query failed: {0}")]
    Query(#[source] DieselError),
}

impl StorageError {
    /// Maps Diesel's "no row" to [`StorageError::NotFound`] for `entity`, and every other error as
    /// [`From`] does.
    pub(crate) fn not_found_as(entity: &'static str) -> impl FnOnce(DieselError) -> StorageError {
        move |error| match error {
            DieselError::NotFound => StorageError::NotFound { entity },
            other => StorageError::from(other),
        }
    }
}

impl From<DieselError> for StorageError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::DatabaseError(kind, info) => {
                let message = match info.constraint_name() {
                    Some(constraint) => format!("{} (constraint {constraint})", info.message()),
                    None => info.message().to_owned(),
                };
                match kind {
                    DatabaseErrorKind::UniqueViolation => StorageError::AlreadyExists { message },
                    DatabaseErrorKind::ForeignKeyViolation => {
                        StorageError::ForeignKeyViolation { message }
                    }
                    DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                        StorageError::ConstraintViolation { message }
                    }
                    DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand => {
                        StorageError::ConnectionLost { message }
                    }
                    other_kind => StorageError::Query(DieselError::DatabaseError(other_kind, info)),
                }
            }
            other => StorageError::Query(other),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StorageError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        StorageError::Pool(error)
    }
}
