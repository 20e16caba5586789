//! Each node's count of checks per rate-limited key and window (`key_rate_counts`), so that the
//! nodes sharing a database learn what the others admitted.
//!
//! A node writes its own counts in batches ([`record`], one statement per chunk, never per
//! check) and reads the sum of everyone else's ([`others`]); a row belongs to one node, so two
//! nodes never write the same row. Rows are kept only until their window is over ([`prune`]).
//! There is no foreign key to `api_keys`: a deleted key's rows go with their window.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::upsert::excluded;
use keygate_domain::{ApiKeyId, EpochMillis};

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::key_rate_counts;
use crate::stored::parse_id;

/// How many checks one node admitted for one key in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowCount {
    /// The key.
    pub api_key_id: ApiKeyId,
    /// When the window started (epoch-aligned: every node agrees).
    pub window_start_millis: EpochMillis,
    /// When it ends (for pruning).
    pub window_end_millis: EpochMillis,
    /// Checks admitted in it so far.
    pub checks: i64,
}

#[derive(Insertable)]
#[diesel(table_name = key_rate_counts)]
struct CountRow<'a> {
    api_key_id: String,
    window_start_millis: i64,
    node_id: &'a str,
    checks: i64,
    window_end_millis: i64,
}

/// Most rows per statement (5 parameters each, well under SQLite's 32,766).
const CHUNK: usize = 500;

/// Stores `node`'s current counts (each replaces that node's previous count of the same key and
/// window), in one transaction.
pub fn record(
    conn: &mut DbConnection,
    node: &str,
    counts: &[WindowCount],
) -> Result<(), StorageError> {
    if counts.is_empty() {
        return Ok(());
    }
    conn.in_transaction(|conn| {
        for chunk in counts.chunks(CHUNK) {
            let rows: Vec<CountRow<'_>> = chunk
                .iter()
                .map(|count| CountRow {
                    api_key_id: count.api_key_id.to_string(),
                    window_start_millis: count.window_start_millis,
                    node_id: node,
                    checks: count.checks,
                    window_end_millis: count.window_end_millis,
                })
                .collect();
            let conflict = (
                key_rate_counts::api_key_id,
                key_rate_counts::window_start_millis,
                key_rate_counts::node_id,
            );
            // The multi-backend connection has no ON CONFLICT support, but both backends do;
            // Diesel's SQLite has no batch upsert, so there it is one statement per row (in
            // the one transaction, without a round trip).
            match conn {
                DbConnection::Sqlite(conn) => {
                    for row in &rows {
                        diesel::insert_into(key_rate_counts::table)
                            .values(row)
                            .on_conflict(conflict)
                            .do_update()
                            .set(key_rate_counts::checks.eq(excluded(key_rate_counts::checks)))
                            .execute(conn)?;
                    }
                    rows.len()
                }
                DbConnection::Postgres(conn) => diesel::insert_into(key_rate_counts::table)
                    .values(&rows)
                    .on_conflict(conflict)
                    .do_update()
                    .set(key_rate_counts::checks.eq(excluded(key_rate_counts::checks)))
                    .execute(conn)?,
            };
        }
        Ok(())
    })
}

/// What the other nodes admitted in one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OthersCount {
    /// Their checks, summed.
    pub checks: i64,
    /// How many nodes counted any.
    pub nodes: u32,
}

/// What every node but `node` admitted in each of `windows` (key, window start); windows no
/// other node counted are left out.
pub fn others(
    conn: &mut DbConnection,
    node: &str,
    windows: &[(ApiKeyId, EpochMillis)],
) -> Result<HashMap<(ApiKeyId, EpochMillis), OthersCount>, StorageError> {
    let mut sums = HashMap::new();
    for chunk in windows.chunks(CHUNK) {
        let starts = chunk.iter().map(|(_, start)| *start);
        let (Some(earliest), Some(latest)) = (starts.clone().min(), starts.max()) else {
            continue;
        };
        let rows: Vec<(String, i64, i64)> = key_rate_counts::table
            .filter(key_rate_counts::api_key_id.eq_any(chunk.iter().map(|(id, _)| id.to_string())))
            .filter(key_rate_counts::window_start_millis.between(earliest, latest))
            .filter(key_rate_counts::node_id.ne(node))
            .select((
                key_rate_counts::api_key_id,
                key_rate_counts::window_start_millis,
                key_rate_counts::checks,
            ))
            .load(conn)?;
        for (id, start, checks) in rows {
            let id: ApiKeyId = parse_id("key_rate_counts.api_key_id", &id)?;
            if chunk.contains(&(id, start)) {
                let sum: &mut OthersCount = sums.entry((id, start)).or_default();
                sum.checks += checks;
                sum.nodes += 1;
            }
        }
    }
    Ok(sums)
}

/// Deletes the counts of windows that ended before `before`; returns how many.
pub fn prune(conn: &mut DbConnection, before: EpochMillis) -> Result<usize, StorageError> {
    Ok(
        diesel::delete(
            key_rate_counts::table.filter(key_rate_counts::window_end_millis.lt(before)),
        )
        .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(id: ApiKeyId, start: i64, checks: i64) -> WindowCount {
        WindowCount {
            api_key_id: id,
            window_start_millis: start,
            window_end_millis: start + 1_000,
            checks,
        }
    }

    crate::backend_tests! {
        fn each_node_sees_the_sum_of_the_others(db) {
            let mut conn = db.conn();
            let (hot, cold) = (ApiKeyId::new_random(), ApiKeyId::new_random());
            record(&mut conn, "a", &[count(hot, 1_000, 3), count(cold, 1_000, 1)]).unwrap();
            record(&mut conn, "b", &[count(hot, 1_000, 4), count(hot, 0, 9)]).unwrap();
            // A node's later count replaces its earlier one.
            record(&mut conn, "a", &[count(hot, 1_000, 5)]).unwrap();

            let sum = |checks, nodes| OthersCount { checks, nodes };
            let asked = [(hot, 1_000), (cold, 1_000), (ApiKeyId::new_random(), 1_000)];
            assert_eq!(others(&mut conn, "a", &asked).unwrap(), HashMap::from([((hot, 1_000), sum(4, 1))]));
            assert_eq!(
                others(&mut conn, "b", &asked).unwrap(),
                HashMap::from([((hot, 1_000), sum(5, 1)), ((cold, 1_000), sum(1, 1))])
            );
            assert_eq!(
                others(&mut conn, "c", &[(hot, 1_000), (hot, 0)]).unwrap(),
                HashMap::from([((hot, 1_000), sum(9, 2)), ((hot, 0), sum(9, 1))])
            );

            // Only windows over before the instant go.
            assert_eq!(prune(&mut conn, 1_001).unwrap(), 1);
            assert_eq!(others(&mut conn, "c", &[(hot, 0)]).unwrap(), HashMap::new());
            assert_eq!(prune(&mut conn, 2_001).unwrap(), 3);
        }

        fn large_batches_are_recorded_in_chunks(db) {
            let mut conn = db.conn();
            let counts: Vec<WindowCount> =
                (0..1_201).map(|n| count(ApiKeyId::new_random(), 0, n)).collect();
            record(&mut conn, "a", &counts).unwrap();
            let asked: Vec<(ApiKeyId, i64)> =
                counts.iter().map(|c| (c.api_key_id, c.window_start_millis)).collect();
            let seen = others(&mut conn, "b", &asked).unwrap();
            assert_eq!(seen.len(), 1_201);
            assert_eq!(seen.values().map(|sum| sum.checks).sum::<i64>(), (0..1_201).sum::<i64>());
        }
    }
}
