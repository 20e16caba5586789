//! Server-wide values generated once and shared by every node on the same database: the
//! access-token signing secret when none is configured, and one-time markers such as "the first
//! start has been handled".
//!
//! Writes are insert-if-absent, so when several nodes start at once the first writer wins and
//! every node reads back that same value. Configured secrets (the pepper, a configured JWT
//! secret, the operator token) are never stored here.

use std::fmt;

use diesel::prelude::*;
use keygate_domain::EpochMillis;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::server_secrets;

/// A stored server-wide value. `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerSecretRecord {
    /// What the value is, e.g. `"access_token_secret"`.
    pub name: String,
    /// The value.
    pub value: Vec<u8>,
    /// When it was first stored.
    pub created_at_millis: EpochMillis,
}

impl fmt::Debug for ServerSecretRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSecretRecord")
            .field("name", &self.name)
            .field(
                "value",
                &format_args!("<{} bytes redacted>", self.value.len()),
            )
            .field("created_at_millis", &self.created_at_millis)
            .finish()
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = server_secrets)]
struct ServerSecretRow {
    name: String,
    value: Vec<u8>,
    created_at_millis: i64,
}

/// Stores `value` under `name` unless a value is already stored there; returns whether this
/// call stored it. Never overwrites. Safe against concurrent callers on both backends: exactly
/// one of them gets `true`. Inside a transaction, the claim lasts only if the transaction
/// commits (a concurrent caller waits for the outcome).
pub fn insert_if_absent(
    conn: &mut DbConnection,
    name: &str,
    value: &[u8],
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let row = ServerSecretRow {
        name: name.to_owned(),
        value: value.to_vec(),
        created_at_millis: now,
    };
    // The multi-backend connection has no ON CONFLICT support, but both backends do.
    let inserted = match conn {
        DbConnection::Sqlite(conn) => diesel::insert_into(server_secrets::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(conn)?,
        DbConnection::Postgres(conn) => diesel::insert_into(server_secrets::table)
            .values(&row)
            .on_conflict_do_nothing()
            .execute(conn)?,
    };
    Ok(inserted == 1)
}

/// The value stored under `name`, if any.
pub fn get(
    conn: &mut DbConnection,
    name: &str,
) -> Result<Option<ServerSecretRecord>, StorageError> {
    Ok(server_secrets::table
        .find(name)
        .select(ServerSecretRow::as_select())
        .get_result(conn)
        .optional()?
        .map(|row| ServerSecretRecord {
            name: row.name,
            value: row.value,
            created_at_millis: row.created_at_millis,
        }))
}

/// The value stored under `name`, storing `candidate` first if there is none. Every caller gets
/// the same value, even when several race: the insert is conditional and the read follows it.
pub fn get_or_insert(
    conn: &mut DbConnection,
    name: &str,
    candidate: &[u8],
    now: EpochMillis,
) -> Result<ServerSecretRecord, StorageError> {
    insert_if_absent(conn, name, candidate, now)?;
    get(conn, name)?.ok_or(StorageError::NotFound {
        entity: "server secret",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::backend_tests! {
        fn insert_if_absent_never_overwrites(db) {
            let mut conn = db.conn();
            assert_eq!(get(&mut conn, "a").unwrap(), None);
            assert!(insert_if_absent(&mut conn, "a", b"first", 1_000).unwrap());
            assert!(!insert_if_absent(&mut conn, "a", b"second", 2_000).unwrap());
            let stored = get(&mut conn, "a").unwrap().unwrap();
            assert_eq!(stored, ServerSecretRecord {
                name: "a".to_owned(),
                value: b"first".to_vec(),
                created_at_millis: 1_000,
            });
            // Other names are independent.
            assert!(insert_if_absent(&mut conn, "b", &[0, 255, 7], 3_000).unwrap());
            assert_eq!(get(&mut conn, "b").unwrap().unwrap().value, vec![0, 255, 7]);
        }

        fn get_or_insert_returns_the_first_value(db) {
            let mut conn = db.conn();
            let first = get_or_insert(&mut conn, "jwt", &[1; 32], 1_000).unwrap();
            assert_eq!(first.value, vec![1; 32]);
            let again = get_or_insert(&mut conn, "jwt", &[2; 32], 2_000).unwrap();
            assert_eq!(again, first);
        }

        fn racing_callers_all_read_the_winners_value(db) {
            let values: Vec<Vec<u8>> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..3u8)
                    .map(|i| {
                        let database = db.database().clone();
                        scope.spawn(move || {
                            let mut conn = database.get().unwrap();
                            get_or_insert(&mut conn, "shared", &[i; 32], 1_000).unwrap().value
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(values.windows(2).all(|pair| pair[0] == pair[1]), "{values:?}");
        }

        fn a_claim_in_a_rolled_back_transaction_is_released(db) {
            let mut conn = db.conn();
            let outcome: Result<(), StorageError> = conn.in_transaction(|conn| {
                assert!(insert_if_absent(conn, "claim", b"x", 1_000)?);
                Err(StorageError::NotFound { entity: "test rollback" })
            });
            assert!(outcome.is_err());
            assert_eq!(get(&mut conn, "claim").unwrap(), None);
            assert!(insert_if_absent(&mut conn, "claim", b"y", 2_000).unwrap());
        }

        fn debug_never_shows_the_value(db) {
            let mut conn = db.conn();
            let stored = get_or_insert(&mut conn, "hidden", b"super-secret-bytes", 1_000).unwrap();
            let printed = format!("{stored:?}");
            assert!(!printed.contains("super"), "{printed}");
            assert!(printed.contains("18 bytes redacted"), "{printed}");
        }
    }
}
