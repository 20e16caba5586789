//! User and team API keys, stored as the domain's [`ApiKey`]: a digest of the key and its last
//! four characters, never the key itself.
//!
//! The database enforces what the domain type already guarantees: exactly one owner (CHECK
//! `api_keys_exactly_one_owner`), an owner of the key's own project (composite foreign keys),
//! and a globally unique digest. Deleting the owning user or team deletes the key.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use keygate_domain::{
    ApiKey, ApiKeyId, EpochMillis, KeyHash, KeyPolicy, Owner, ProjectId, UsageCredits,
};

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::key_changes::KeyWrite;
use crate::schema::api_keys;
use crate::stored::{parse_hash, parse_id, parse_rate_limit, parse_usage_credits};

// Fields in the order of `ROW_COLUMNS`: `RETURNING` is read by position (the multi-backend
// connection cannot return a `Selectable`).
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys, treat_none_as_default_value = false)]
struct ApiKeyRow {
    id: String,
    project_id: String,
    user_id: Option<String>,
    team_id: Option<String>,
    description: String,
    is_public: bool,
    key_hash: Vec<u8>,
    last_four: String,
    created_at_millis: i64,
    expires_at_millis: Option<i64>,
    manually_revoked_at_millis: Option<i64>,
    scopes: String,
    metadata: Option<String>,
    rate_limit: Option<i64>,
    rate_window_millis: Option<i64>,
    remaining_uses: Option<i64>,
    refill_amount: Option<i64>,
    refill_interval_millis: Option<i64>,
    refilled_at_millis: Option<i64>,
}

/// Declares `ROW_COLUMNS` from one list of column names, as its type and its value (a `const`
/// needs both).
macro_rules! row_columns {
    ($($column:ident),* $(,)?) => {
        /// The columns of [`ApiKeyRow`], in its field order, for `RETURNING`.
        /// `last_used_at_millis` is not among them: it is bookkeeping written in batches, read
        /// only through [`last_used`].
        #[allow(clippy::type_complexity)] // one column per field: the tuple is the row
        const ROW_COLUMNS: ($(api_keys::$column,)*) = ($(api_keys::$column,)*);
    };
}

row_columns!(
    id,
    project_id,
    user_id,
    team_id,
    description,
    is_public,
    key_hash,
    last_four,
    created_at_millis,
    expires_at_millis,
    manually_revoked_at_millis,
    scopes,
    metadata,
    rate_limit,
    rate_window_millis,
    remaining_uses,
    refill_amount,
    refill_interval_millis,
    refilled_at_millis,
);

impl From<&ApiKey> for ApiKeyRow {
    fn from(key: &ApiKey) -> Self {
        let (user_id, team_id) = match key.owner {
            Owner::User(user) => (Some(user.to_string()), None),
            Owner::Team(team) => (None, Some(team.to_string())),
        };
        ApiKeyRow {
            id: key.id.to_string(),
            project_id: key.project_id.to_string(),
            user_id,
            team_id,
            description: key.description.clone(),
            is_public: key.is_public,
            key_hash: key.hash.as_bytes().to_vec(),
            last_four: key.last_four.clone(),
            created_at_millis: key.created_at_millis,
            expires_at_millis: key.expires_at_millis,
            manually_revoked_at_millis: key.manually_revoked_at_millis,
            // Scope ids contain no spaces (`keygate_domain::is_scope_id`).
            scopes: key.policy.scopes.join(" "),
            metadata: key.policy.metadata.clone(),
            rate_limit: key.policy.rate_limit.map(|rate| rate.limit),
            rate_window_millis: key.policy.rate_limit.map(|rate| rate.window_millis),
            remaining_uses: key.policy.usage.map(|usage| usage.remaining_uses),
            refill_amount: key
                .policy
                .usage
                .and_then(|usage| usage.refill)
                .map(|refill| refill.amount),
            refill_interval_millis: key
                .policy
                .usage
                .and_then(|usage| usage.refill)
                .map(|refill| refill.interval_millis),
            refilled_at_millis: key.policy.usage.map(|usage| usage.refilled_at_millis),
        }
    }
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StorageError;

    fn try_from(row: ApiKeyRow) -> Result<Self, StorageError> {
        let owner = match (row.user_id.as_deref(), row.team_id.as_deref()) {
            (Some(user), None) => Owner::User(parse_id("api_keys.user_id", user)?),
            (None, Some(team)) => Owner::Team(parse_id("api_keys.team_id", team)?),
            _ => {
                return Err(StorageError::CorruptValue {
                    column: "api_keys.user_id",
                })
            }
        };
        Ok(ApiKey {
            id: parse_id("api_keys.id", &row.id)?,
            project_id: parse_id("api_keys.project_id", &row.project_id)?,
            owner,
            description: row.description,
            is_public: row.is_public,
            hash: parse_hash("api_keys.key_hash", &row.key_hash)?,
            last_four: row.last_four,
            created_at_millis: row.created_at_millis,
            expires_at_millis: row.expires_at_millis,
            manually_revoked_at_millis: row.manually_revoked_at_millis,
            policy: KeyPolicy {
                scopes: row.scopes.split_whitespace().map(str::to_owned).collect(),
                metadata: row.metadata,
                rate_limit: parse_rate_limit(
                    "api_keys.rate_limit",
                    row.rate_limit,
                    row.rate_window_millis,
                )?,
                usage: parse_usage_credits(
                    row.remaining_uses,
                    row.refilled_at_millis,
                    row.refill_amount,
                    row.refill_interval_millis,
                )?,
            },
        })
    }
}

fn load_one(
    conn: &mut DbConnection,
    query: api_keys::BoxedQuery<'_, crate::connection::MultiBackend>,
) -> Result<Option<ApiKey>, StorageError> {
    query
        .select(ApiKeyRow::as_select())
        .get_result(conn)
        .optional()?
        .map(ApiKey::try_from)
        .transpose()
}

/// Stores a new key; the database adds it to its owner's key count (a trigger, migration
/// `api_key_counts`). A duplicate id or digest is [`StorageError::AlreadyExists`]; an owner that
/// is not in the key's project is [`StorageError::ForeignKeyViolation`].
pub fn insert(conn: &mut DbConnection, key: &ApiKey) -> Result<(), StorageError> {
    diesel::insert_into(api_keys::table)
        .values(ApiKeyRow::from(key))
        .execute(conn)?;
    Ok(())
}

/// Stores new keys, as [`insert`] does one, with one statement on Postgres (one per key on
/// SQLite, where a statement costs no round trip). Any failure stores none of them only inside
/// the caller's transaction.
pub fn insert_many(conn: &mut DbConnection, keys: &[&ApiKey]) -> Result<(), StorageError> {
    let rows: Vec<ApiKeyRow> = keys.iter().map(|key| ApiKeyRow::from(*key)).collect();
    match conn {
        DbConnection::Postgres(pg) => {
            diesel::insert_into(api_keys::table)
                .values(&rows)
                .execute(pg)?;
        }
        DbConnection::Sqlite(sqlite) => {
            for row in &rows {
                diesel::insert_into(api_keys::table)
                    .values(row)
                    .execute(sqlite)?;
            }
        }
    }
    Ok(())
}

/// The key `id` of `project`, if any (a key of another project is not found).
pub fn get(
    conn: &mut DbConnection,
    project: ProjectId,
    id: ApiKeyId,
) -> Result<Option<ApiKey>, StorageError> {
    let query = api_keys::table
        .filter(api_keys::project_id.eq(project.to_string()))
        .filter(api_keys::id.eq(id.to_string()))
        .into_boxed();
    load_one(conn, query)
}

/// The key `id` in any project (the caller compares projects).
pub fn get_by_id(conn: &mut DbConnection, id: ApiKeyId) -> Result<Option<ApiKey>, StorageError> {
    Ok(get_by_id_with_last_use(conn, id)?.map(|(key, _)| key))
}

/// The key `id` in any project with its stored last use.
///
/// Not boxed, unlike the other reads: a query whose type is fixed is found in Diesel's
/// prepared-statement cache by that type, without building its SQL first (on SQLite, this is
/// the query of every key check that misses the node's cache).
fn get_by_id_with_last_use(
    conn: &mut DbConnection,
    id: ApiKeyId,
) -> Result<Option<(ApiKey, Option<EpochMillis>)>, StorageError> {
    api_keys::table
        .find(id.to_string())
        .select((ApiKeyRow::as_select(), api_keys::last_used_at_millis))
        .get_result(conn)
        .optional()?
        .map(key_with_last_use)
        .transpose()
}

/// A row read with its last use, as `get_by_id_with_last_use` and `get_many_by_id` return it.
fn key_with_last_use(
    (row, last_used): (ApiKeyRow, Option<EpochMillis>),
) -> Result<(ApiKey, Option<EpochMillis>), StorageError> {
    Ok((ApiKey::try_from(row)?, last_used))
}

/// The keys among `ids` that exist, each once, in any order, with when each was last used as
/// stored (the check's batched lookup: the use a check records is left out when it is within
/// the usage record's precision of the stored one). On Postgres one statement reads them all
/// (`id = ANY($1)`: one prepared statement whatever the number of ids); on SQLite, in-process,
/// each is read by the prepared lookup by id, since an `IN` list is prepared anew for every
/// execution.
pub fn get_many_by_id(
    conn: &mut DbConnection,
    ids: &[ApiKeyId],
) -> Result<Vec<(ApiKey, Option<EpochMillis>)>, StorageError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    match conn {
        DbConnection::Postgres(_) => {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            api_keys::table
                .filter(api_keys::id.eq_any(ids))
                .select((ApiKeyRow::as_select(), api_keys::last_used_at_millis))
                .load(conn)?
                .into_iter()
                .map(key_with_last_use)
                .collect()
        }
        DbConnection::Sqlite(_) => {
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                found.extend(get_by_id_with_last_use(conn, id)?);
            }
            Ok(found)
        }
    }
}

/// The key with this digest in any project (credential-scanning revocation is global).
pub fn find_by_hash(
    conn: &mut DbConnection,
    hash: &KeyHash,
) -> Result<Option<ApiKey>, StorageError> {
    let query = api_keys::table
        .filter(api_keys::key_hash.eq(hash.as_bytes().to_vec()))
        .into_boxed();
    load_one(conn, query)
}

/// The owner's filter: its column equals its id (and the other owner column is NULL by CHECK).
fn owned_by(
    project: ProjectId,
    owner: Owner,
) -> api_keys::BoxedQuery<'static, crate::connection::MultiBackend> {
    let query = api_keys::table
        .filter(api_keys::project_id.eq(project.to_string()))
        .into_boxed();
    match owner {
        Owner::User(user) => query.filter(api_keys::user_id.eq(user.to_string())),
        Owner::Team(team) => query.filter(api_keys::team_id.eq(team.to_string())),
    }
}

/// Every key of the owner, revoked and expired ones included, newest first; keys created in the
/// same millisecond are ordered by id, descending.
pub fn list_for_owner(
    conn: &mut DbConnection,
    project: ProjectId,
    owner: Owner,
) -> Result<Vec<ApiKey>, StorageError> {
    owned_by(project, owner)
        .order((api_keys::created_at_millis.desc(), api_keys::id.desc()))
        .select(ApiKeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ApiKey::try_from)
        .collect()
}

/// Where a key sits in the order of [`list_for_owner`]: a page continues after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPosition {
    /// The key's creation instant.
    pub created_at_millis: EpochMillis,
    /// The key's id (the order's tie-breaker).
    pub id: ApiKeyId,
}

impl KeyPosition {
    /// The position of `key`.
    pub fn of(key: &ApiKey) -> Self {
        KeyPosition {
            created_at_millis: key.created_at_millis,
            id: key.id,
        }
    }
}

/// At most `limit` keys of the owner in the order of [`list_for_owner`], starting right after
/// `after` (from the first when `None`): a keyset page, so a page costs the same however deep it
/// is and a key created meanwhile is never listed twice.
pub fn list_page_for_owner(
    conn: &mut DbConnection,
    project: ProjectId,
    owner: Owner,
    after: Option<KeyPosition>,
    limit: usize,
) -> Result<Vec<ApiKey>, StorageError> {
    let filter = ProjectKeyFilter {
        owner: Some(owner),
        ..ProjectKeyFilter::default()
    };
    list_page_for_project(conn, project, &filter, after, limit)
}

/// Which of a project's keys an operator listing shows. Every field narrows; the default shows
/// every key. Whether a key is valid, revoked or expired is not a storage question: the service
/// filters pages by the domain's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProjectKeyFilter {
    /// Only this user's or team's keys.
    pub owner: Option<Owner>,
    /// Only keys whose stored last use is before this instant, never-used keys included (the
    /// stored instant lags the node's in-memory uses by at most one flush).
    pub last_used_before: Option<EpochMillis>,
}

/// At most `limit` keys of `project`, across owners, that pass `filter`, in the order of
/// [`list_for_owner`] (newest first, ties by id descending), starting right after `after`: a
/// keyset page, like [`list_page_for_owner`].
pub fn list_page_for_project(
    conn: &mut DbConnection,
    project: ProjectId,
    filter: &ProjectKeyFilter,
    after: Option<KeyPosition>,
    limit: usize,
) -> Result<Vec<ApiKey>, StorageError> {
    let mut query = match filter.owner {
        Some(owner) => owned_by(project, owner),
        None => api_keys::table
            .filter(api_keys::project_id.eq(project.to_string()))
            .into_boxed(),
    };
    if let Some(before) = filter.last_used_before {
        query = query.filter(
            api_keys::last_used_at_millis
                .is_null()
                .or(api_keys::last_used_at_millis.lt(before)),
        );
    }
    if let Some(after) = after {
        query = query.filter(
            api_keys::created_at_millis
                .lt(after.created_at_millis)
                .or(api_keys::created_at_millis
                    .eq(after.created_at_millis)
                    .and(api_keys::id.lt(after.id.to_string()))),
        );
    }
    query
        .order((api_keys::created_at_millis.desc(), api_keys::id.desc()))
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select(ApiKeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ApiKey::try_from)
        .collect()
}

/// At most `limit` keys of every project whose `expires_at_millis` is in `(from, until]`,
/// soonest first (ties by id): the window the expiry-warning scan reads. Which of them are still
/// worth a warning (not revoked) is the caller's judgement, by the domain's rule.
pub fn list_expiring_between(
    conn: &mut DbConnection,
    from: EpochMillis,
    until: EpochMillis,
    limit: u32,
) -> Result<Vec<ApiKey>, StorageError> {
    api_keys::table
        .filter(api_keys::expires_at_millis.gt(from))
        .filter(api_keys::expires_at_millis.le(until))
        .order((api_keys::expires_at_millis.asc(), api_keys::id.asc()))
        .limit(i64::from(limit))
        .select(ApiKeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(ApiKey::try_from)
        .collect()
}

/// How many keys the owner has, revoked and expired ones included, counted row by row: what the
/// owner's stored count (`users.api_key_count`, `teams.api_key_count`, read by
/// `lock_key_counts`) must equal. For tests; the cap reads the stored count.
#[cfg(any(test, feature = "test-support"))]
pub fn count_for_owner(
    conn: &mut DbConnection,
    project: ProjectId,
    owner: Owner,
) -> Result<u64, StorageError> {
    let count: i64 = owned_by(project, owner).count().get_result(conn)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// The ids of every key of the owner, in the order of [`list_for_owner`].
pub fn list_ids_for_owner(
    conn: &mut DbConnection,
    project: ProjectId,
    owner: Owner,
) -> Result<Vec<ApiKeyId>, StorageError> {
    owned_by(project, owner)
        .order((api_keys::created_at_millis.desc(), api_keys::id.desc()))
        .select(api_keys::id)
        .load::<String>(conn)?
        .iter()
        .map(|id| parse_id("api_keys.id", id))
        .collect()
}

/// Replaces the description and returns the key; [`StorageError::NotFound`] if the project has
/// no such key.
pub fn update_description(
    write: &mut KeyWrite<'_>,
    project: ProjectId,
    id: ApiKeyId,
    description: &str,
) -> Result<ApiKey, StorageError> {
    write.changed(project, [id]);
    diesel::update(
        api_keys::table
            .filter(api_keys::project_id.eq(project.to_string()))
            .filter(api_keys::id.eq(id.to_string())),
    )
    .set(api_keys::description.eq(description))
    .returning(ROW_COLUMNS)
    .get_result::<ApiKeyRow>(write.conn())
    .map_err(StorageError::not_found_as("API key"))?
    .try_into()
}

/// Makes the key expire at `at` unless it already expires earlier, and returns it;
/// [`StorageError::NotFound`] if the project has no such key. (A rotation's grace period.)
pub fn expire_by(
    write: &mut KeyWrite<'_>,
    project: ProjectId,
    id: ApiKeyId,
    at: EpochMillis,
) -> Result<ApiKey, StorageError> {
    write.changed(project, [id]);
    let conn = write.conn();
    diesel::update(
        api_keys::table
            .filter(api_keys::project_id.eq(project.to_string()))
            .filter(api_keys::id.eq(id.to_string()))
            .filter(
                api_keys::expires_at_millis
                    .is_null()
                    .or(api_keys::expires_at_millis.gt(at)),
            ),
    )
    .set(api_keys::expires_at_millis.eq(at))
    .execute(conn)?;
    get(conn, project, id)?.ok_or(StorageError::NotFound { entity: "API key" })
}

/// Locks the key's row until the end of the transaction (a write that changes nothing: the row
/// lock on Postgres, the write lock on SQLite) and returns its usage credits as stored; `None`
/// for a key without credits, [`StorageError::NotFound`] for no key at all. Every change of the
/// stored count goes through this first, so concurrent leases never both take the same credits.
pub fn lock_credits(
    conn: &mut DbConnection,
    id: ApiKeyId,
) -> Result<Option<UsageCredits>, StorageError> {
    let row: ApiKeyRow = diesel::update(api_keys::table.filter(api_keys::id.eq(id.to_string())))
        .set(api_keys::remaining_uses.eq(api_keys::remaining_uses))
        .returning(ROW_COLUMNS)
        .get_result(conn)
        .map_err(StorageError::not_found_as("API key"))?;
    Ok(ApiKey::try_from(row)?.policy.usage)
}

/// Stores the count of a key's credits and the start of the period it belongs to (call it after
/// [`lock_credits`], in the same transaction). Not a key write for the caches: they never
/// decide with the stored count.
pub fn set_credits(
    conn: &mut DbConnection,
    id: ApiKeyId,
    remaining_uses: i64,
    refilled_at_millis: EpochMillis,
) -> Result<(), StorageError> {
    diesel::update(api_keys::table.filter(api_keys::id.eq(id.to_string())))
        .set((
            api_keys::remaining_uses.eq(remaining_uses),
            api_keys::refilled_at_millis.eq(refilled_at_millis),
        ))
        .execute(conn)?;
    Ok(())
}

/// A key after [`revoke`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// The key as stored afterwards.
    pub key: ApiKey,
    /// Whether this call revoked it (`false`: it was revoked before, and keeps that instant).
    pub by_this_call: bool,
}

/// Revokes the key at `now` unless it already is revoked (the first time is kept; there is no
/// un-revoke) and returns it; [`StorageError::NotFound`] if the project has no such key.
pub fn revoke(
    write: &mut KeyWrite<'_>,
    project: ProjectId,
    id: ApiKeyId,
    now: EpochMillis,
) -> Result<Revoked, StorageError> {
    write.changed(project, [id]);
    let conn = write.conn();
    let this_key = api_keys::table
        .filter(api_keys::project_id.eq(project.to_string()))
        .filter(api_keys::id.eq(id.to_string()));
    let revoked_now = diesel::update(
        this_key
            .clone()
            .filter(api_keys::manually_revoked_at_millis.is_null()),
    )
    .set(api_keys::manually_revoked_at_millis.eq(now))
    .returning(ROW_COLUMNS)
    .get_result::<ApiKeyRow>(conn)
    .optional()?;
    let by_this_call = revoked_now.is_some();
    let row = match revoked_now {
        Some(row) => row,
        None => this_key
            .select(ApiKeyRow::as_select())
            .get_result(conn)
            .map_err(StorageError::not_found_as("API key"))?,
    };
    Ok(Revoked {
        key: row.try_into()?,
        by_this_call,
    })
}

/// When each of `ids` was last used, for those used at all (keys of any project; ids without a
/// row are left out).
pub fn last_used(
    conn: &mut DbConnection,
    ids: &[ApiKeyId],
) -> Result<HashMap<ApiKeyId, EpochMillis>, StorageError> {
    let mut found = HashMap::new();
    // Bounded statements, whatever the number of ids (SQLite allows 32766 parameters).
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, Option<i64>)> = api_keys::table
            .filter(api_keys::id.eq_any(chunk.iter().map(ToString::to_string)))
            .filter(api_keys::last_used_at_millis.is_not_null())
            .select((api_keys::id, api_keys::last_used_at_millis))
            .load(conn)?;
        for (id, used_at) in rows {
            if let Some(used_at) = used_at {
                found.insert(parse_id("api_keys.id", &id)?, used_at);
            }
        }
    }
    Ok(found)
}

/// Records that each key was used at the given instant, in one transaction; a key's value only
/// ever moves forward (an older instant than the stored one changes nothing), and ids without a
/// row (deleted meanwhile) are skipped. Returns how many keys moved.
///
/// On Postgres one statement writes [`LAST_USED_PER_STATEMENT`] keys (a statement per key made
/// the flush of a busy node as many round trips as it had keys, competing with the checks);
/// keys are written in id order, so that nodes flushing at once lock rows in the same order.
pub fn record_last_used(
    conn: &mut DbConnection,
    uses: &[(ApiKeyId, EpochMillis)],
) -> Result<usize, StorageError> {
    if uses.is_empty() {
        return Ok(0);
    }
    // The latest instant of each key, in id order.
    let mut latest: HashMap<ApiKeyId, EpochMillis> = HashMap::with_capacity(uses.len());
    for (id, at) in uses {
        let stored = latest.entry(*id).or_insert(*at);
        *stored = (*stored).max(*at);
    }
    let mut uses: Vec<(String, EpochMillis)> = latest
        .into_iter()
        .map(|(id, at)| (id.to_string(), at))
        .collect();
    uses.sort_unstable();
    conn.in_transaction(|conn| {
        let mut moved = 0;
        match conn {
            DbConnection::Postgres(pg) => {
                for chunk in uses.chunks(LAST_USED_PER_STATEMENT) {
                    let (ids, instants): (Vec<&str>, Vec<EpochMillis>) =
                        chunk.iter().map(|(id, at)| (id.as_str(), *at)).unzip();
                    moved += diesel::sql_query(
                        "UPDATE api_keys SET last_used_at_millis = used.at \
                         FROM unnest($1::text[], $2::bigint[]) AS used(id, at) \
                         WHERE api_keys.id = used.id \
                         AND (api_keys.last_used_at_millis IS NULL \
                              OR api_keys.last_used_at_millis < used.at)",
                    )
                    .bind::<Array<Text>, _>(ids)
                    .bind::<Array<BigInt>, _>(instants)
                    .execute(pg)?;
                }
            }
            DbConnection::Sqlite(_) => {
                // In-process: a statement per key costs no round trip.
                for (id, used_at) in &uses {
                    moved += diesel::update(
                        api_keys::table.filter(api_keys::id.eq(id)).filter(
                            api_keys::last_used_at_millis
                                .is_null()
                                .or(api_keys::last_used_at_millis.lt(*used_at)),
                        ),
                    )
                    .set(api_keys::last_used_at_millis.eq(*used_at))
                    .execute(conn)?;
                }
            }
        }
        Ok(moved)
    })
}

/// Keys one Postgres statement of [`record_last_used`] writes at most.
pub const LAST_USED_PER_STATEMENT: usize = 1_000;

#[cfg(test)]
mod tests {
    use keygate_domain::{TeamId, UserId};

    use super::*;
    use crate::testing::{
        insert_api_key, insert_project, insert_team, insert_user, random_hash, write_keys_uncached,
    };

    fn key_for(project: ProjectId, owner: Owner, created_at_millis: i64) -> ApiKey {
        ApiKey {
            id: ApiKeyId::new_random(),
            project_id: project,
            owner,
            description: "CI deploys".to_owned(),
            is_public: true,
            hash: random_hash(),
            last_four: "9f3c".to_owned(),
            created_at_millis,
            expires_at_millis: Some(created_at_millis + 1_000),
            manually_revoked_at_millis: None,
            policy: Default::default(),
        }
    }

    /// Stores a key of `owner` with the given expiry.
    fn insert_raw_key(
        conn: &mut DbConnection,
        project: ProjectId,
        owner: Owner,
        expires_at_millis: Option<i64>,
    ) -> ApiKey {
        let key = ApiKey {
            expires_at_millis,
            ..key_for(project, owner, 1)
        };
        insert(conn, &key).unwrap();
        key
    }

    /// Inserts a raw row, bypassing the domain type, to test what the database itself allows.
    fn insert_raw(
        conn: &mut DbConnection,
        project: ProjectId,
        user_id: Option<UserId>,
        team_id: Option<TeamId>,
    ) -> Result<(), StorageError> {
        let mut row = ApiKeyRow::from(&key_for(project, Owner::User(UserId::new_random()), 1));
        row.user_id = user_id.map(|id| id.to_string());
        row.team_id = team_id.map(|id| id.to_string());
        diesel::insert_into(api_keys::table)
            .values(row)
            .execute(conn)?;
        Ok(())
    }

    crate::backend_tests! {
        fn many_keys_are_inserted_locked_and_counted_per_owner(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let other_project = insert_project(&mut conn).id;
            let alice = insert_user(&mut conn, project).id;
            let bob = insert_user(&mut conn, project).id;
            let stranger = insert_user(&mut conn, other_project).id;
            let team = insert_team(&mut conn, project).id;
            let keys = [
                key_for(project, Owner::User(alice), 1),
                key_for(project, Owner::User(alice), 2),
                key_for(project, Owner::Team(team), 3),
            ];
            let lock_counts = |conn: &mut DbConnection| {
                let mut users =
                    crate::repo::users::lock_key_counts(conn, project, &[stranger, bob, alice])?;
                users.sort();
                let teams =
                    crate::repo::teams::lock_key_counts(conn, project, &[team, TeamId::new_random()])?;
                Ok::<_, StorageError>((users, teams))
            };
            conn.in_transaction(|conn| {
                // Only the project's own owners are locked (and so found).
                let (users, teams) = lock_counts(conn)?;
                let mut expected = vec![(alice, 0), (bob, 0)];
                expected.sort();
                assert_eq!(users, expected);
                assert_eq!(teams, [(team, 0)]);
                insert_many(conn, &keys.iter().collect::<Vec<_>>())
            })
            .unwrap();
            for key in &keys {
                assert_eq!(get(&mut conn, project, key.id).unwrap().as_ref(), Some(key));
            }
            // The database added every inserted key to its owner's count.
            let (users, teams) = conn.in_transaction(lock_counts).unwrap();
            let mut expected = vec![(alice, 2), (bob, 0)];
            expected.sort();
            assert_eq!(users, expected);
            assert_eq!(teams, [(team, 1)]);
            // A duplicate in the batch stores none of it, and counts none of it.
            let again = [key_for(project, Owner::User(bob), 4), keys[0].clone()];
            let failed = conn.in_transaction(|conn| insert_many(conn, &again.iter().collect::<Vec<_>>()));
            assert!(matches!(failed, Err(StorageError::AlreadyExists { .. })), "{failed:?}");
            assert_eq!(count_for_owner(&mut conn, project, Owner::User(bob)).unwrap(), 0);
            assert_eq!(conn.in_transaction(lock_counts).unwrap(), (users, teams));
        }

        fn the_migration_counts_the_keys_stored_before_it(db) {
            db.revert_migrations_from("20261206170000").unwrap();
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let (alice, bob) = (insert_user(&mut conn, project).id, insert_user(&mut conn, project).id);
            let team = insert_team(&mut conn, project).id;
            for (owner, at) in [(Owner::User(alice), 1), (Owner::User(alice), 2), (Owner::Team(team), 3)] {
                insert(&mut conn, &key_for(project, owner, at)).unwrap();
            }
            drop(conn);
            db.run_migrations().unwrap();
            let mut conn = db.conn();
            let (mut users, teams) = conn
                .in_transaction(|conn| {
                    Ok::<_, StorageError>((
                        crate::repo::users::lock_key_counts(conn, project, &[alice, bob])?,
                        crate::repo::teams::lock_key_counts(conn, project, &[team])?,
                    ))
                })
                .unwrap();
            users.sort();
            let mut expected = vec![(alice, 2), (bob, 0)];
            expected.sort();
            assert_eq!(users, expected);
            assert_eq!(teams, [(team, 1)]);
            // And from then on the database counts each insert, one by one too.
            insert(&mut conn, &key_for(project, Owner::User(bob), 4)).unwrap();
            let bob_count = conn
                .in_transaction(|conn| crate::repo::users::lock_key_counts(conn, project, &[bob]))
                .unwrap();
            assert_eq!(bob_count, [(bob, 1)]);
        }

        fn stores_and_reads_user_and_team_keys(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let team = insert_team(&mut conn, project).id;
            let user_key = key_for(project, Owner::User(user), 1_000);
            let team_key = ApiKey {
                is_public: false,
                expires_at_millis: None,
                manually_revoked_at_millis: Some(1_500),
                ..key_for(project, Owner::Team(team), 1_000)
            };
            insert(&mut conn, &user_key).unwrap();
            insert(&mut conn, &team_key).unwrap();

            for key in [&user_key, &team_key] {
                assert_eq!(get(&mut conn, project, key.id).unwrap().as_ref(), Some(key));
                assert_eq!(get_by_id(&mut conn, key.id).unwrap().as_ref(), Some(key));
                assert_eq!(find_by_hash(&mut conn, &key.hash).unwrap().as_ref(), Some(key));
            }
            let other_project = insert_project(&mut conn).id;
            assert_eq!(get(&mut conn, other_project, user_key.id).unwrap(), None);
            assert_eq!(get(&mut conn, project, ApiKeyId::new_random()).unwrap(), None);
            assert_eq!(get_by_id(&mut conn, ApiKeyId::new_random()).unwrap(), None);
            assert_eq!(find_by_hash(&mut conn, &random_hash()).unwrap(), None);
        }

        fn many_keys_are_read_by_id_at_once(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let stored: Vec<ApiKey> = (0..5)
                .map(|i| key_for(project, Owner::User(user), 1_000 + i))
                .collect();
            for key in &stored {
                insert(&mut conn, key).unwrap();
            }
            record_last_used(&mut conn, &[(stored[4].id, 9_000)]).unwrap();
            assert_eq!(get_many_by_id(&mut conn, &[]).unwrap(), Vec::new());
            // Stored and unknown ids, one of them twice.
            let unknown = ApiKeyId::new_random();
            for asked in [
                vec![stored[0].id],
                vec![unknown],
                vec![stored[1].id, unknown, stored[2].id],
                vec![stored[3].id, stored[3].id, stored[4].id, unknown, stored[0].id],
            ] {
                let mut found: Vec<ApiKey> = get_many_by_id(&mut conn, &asked)
                    .unwrap()
                    .into_iter()
                    .map(|(key, last_used)| {
                        let expected = (key.id == stored[4].id).then_some(9_000);
                        assert_eq!(last_used, expected, "the stored last use of {}", key.id);
                        key
                    })
                    .collect();
                found.sort_by_key(|key| key.created_at_millis);
                let mut expected: Vec<ApiKey> =
                    stored.iter().filter(|key| asked.contains(&key.id)).cloned().collect();
                expected.sort_by_key(|key| key.created_at_millis);
                assert_eq!(found, expected, "asked for {asked:?}");
            }
        }

        fn pages_continue_after_a_position_in_the_list_order(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let other_user = insert_user(&mut conn, project).id;
            for created_at_millis in [100, 200, 200, 200, 300, 400] {
                insert_api_key(&mut conn, project, Owner::User(user), created_at_millis);
            }
            insert_api_key(&mut conn, project, Owner::User(other_user), 250);
            let owner = Owner::User(user);
            let all = list_for_owner(&mut conn, project, owner).unwrap();
            assert_eq!(count_for_owner(&mut conn, project, owner).unwrap(), 6);
            assert_eq!(count_for_owner(&mut conn, project, Owner::User(other_user)).unwrap(), 1);
            for limit in 1..=7 {
                let mut walked = Vec::new();
                let mut after = None;
                loop {
                    let page = list_page_for_owner(&mut conn, project, owner, after, limit).unwrap();
                    assert!(page.len() <= limit);
                    let Some(last) = page.last() else { break };
                    after = Some(KeyPosition::of(last));
                    walked.extend(page);
                }
                assert_eq!(walked, all, "limit {limit}");
            }
            // From the middle of a tie: the rest of the tie, then the older keys.
            let page = list_page_for_owner(&mut conn, project, owner, Some(KeyPosition::of(&all[2])), 10).unwrap();
            assert_eq!(page, all[3..]);
        }

        fn project_pages_walk_every_owners_keys_and_filter(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let team = insert_team(&mut conn, project).id;
            let mut all = Vec::new();
            for (created_at_millis, owner) in [
                (100, Owner::User(user)),
                (200, Owner::Team(team)),
                (200, Owner::User(user)),
                (300, Owner::Team(team)),
                (400, Owner::User(user)),
            ] {
                all.push(insert_api_key(&mut conn, project, owner, created_at_millis));
            }
            // Another project's key is never listed.
            let other_project = insert_project(&mut conn).id;
            let stranger = insert_user(&mut conn, other_project).id;
            insert_api_key(&mut conn, other_project, Owner::User(stranger), 250);
            // One page holding everything: newest first, exactly this project's keys.
            let listed = list_page_for_project(&mut conn, project, &ProjectKeyFilter::default(), None, 100).unwrap();
            let created: Vec<i64> = listed.iter().map(|k| k.created_at_millis).collect();
            assert_eq!(created, [400, 300, 200, 200, 100]);
            let mut inserted_ids: Vec<String> = all.iter().map(|k| k.id.to_string()).collect();
            let mut listed_ids: Vec<String> = listed.iter().map(|k| k.id.to_string()).collect();
            inserted_ids.sort();
            listed_ids.sort();
            assert_eq!(listed_ids, inserted_ids);
            let all = listed;

            let walk = |conn: &mut DbConnection, filter: &ProjectKeyFilter, limit: usize| {
                let mut walked = Vec::new();
                let mut after = None;
                loop {
                    let page = list_page_for_project(conn, project, filter, after, limit).unwrap();
                    assert!(page.len() <= limit);
                    let Some(last) = page.last() else { break };
                    after = Some(KeyPosition::of(last));
                    walked.extend(page);
                }
                walked
            };
            for limit in 1..=6 {
                assert_eq!(walk(&mut conn, &ProjectKeyFilter::default(), limit), all, "limit {limit}");
            }
            for owner in [Owner::User(user), Owner::Team(team)] {
                let filter = ProjectKeyFilter { owner: Some(owner), ..ProjectKeyFilter::default() };
                let expected: Vec<ApiKey> = all.iter().filter(|k| k.owner == owner).cloned().collect();
                assert_eq!(walk(&mut conn, &filter, 2), expected);
            }
            // A user of another project owns nothing here.
            let filter = ProjectKeyFilter { owner: Some(Owner::User(stranger)), ..ProjectKeyFilter::default() };
            assert_eq!(walk(&mut conn, &filter, 2), Vec::<ApiKey>::new());

            // Last used: stored uses at 50 and 500; never-used keys count as "before".
            record_last_used(&mut conn, &[(all[0].id, 50), (all[1].id, 500)]).unwrap();
            let filter = ProjectKeyFilter { last_used_before: Some(100), ..ProjectKeyFilter::default() };
            let ids: Vec<ApiKeyId> = walk(&mut conn, &filter, 2).iter().map(|k| k.id).collect();
            assert_eq!(ids, [all[0].id, all[2].id, all[3].id, all[4].id]);
        }

        fn locking_an_owner_finds_it_only_in_its_project(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let other_project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let team = insert_team(&mut conn, project).id;
            conn.in_transaction(|conn| {
                assert!(crate::repo::users::lock(conn, project, user)?);
                assert_eq!(crate::repo::teams::lock_key_counts(conn, project, &[team])?, [(team, 0)]);
                assert!(!crate::repo::users::lock(conn, other_project, user)?);
                assert!(crate::repo::teams::lock_key_counts(conn, project, &[TeamId::new_random()])?.is_empty());
                Ok(())
            })
            .unwrap();
        }

        fn lists_an_owners_keys_newest_first(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let other_user = insert_user(&mut conn, project).id;
            let team = insert_team(&mut conn, project).id;
            let oldest = insert_api_key(&mut conn, project, Owner::User(user), 100);
            let newest = insert_api_key(&mut conn, project, Owner::User(user), 300);
            let tied_a = insert_api_key(&mut conn, project, Owner::User(user), 200);
            let tied_b = insert_api_key(&mut conn, project, Owner::User(user), 200);
            insert_api_key(&mut conn, project, Owner::User(other_user), 400);
            let team_key = insert_api_key(&mut conn, project, Owner::Team(team), 500);
            write_keys_uncached(&mut conn, |w| revoke(w, project, oldest.id, 600)).unwrap();

            let (tied_high, tied_low) =
                if tied_a.id > tied_b.id { (tied_a, tied_b) } else { (tied_b, tied_a) };
            let listed = list_for_owner(&mut conn, project, Owner::User(user)).unwrap();
            let expected_ids = vec![newest.id, tied_high.id, tied_low.id, oldest.id];
            assert_eq!(listed.iter().map(|k| k.id).collect::<Vec<_>>(), expected_ids);
            assert_eq!(listed[0], newest);
            assert_eq!(listed[3].manually_revoked_at_millis, Some(600), "revoked keys stay listed");
            assert_eq!(
                list_ids_for_owner(&mut conn, project, Owner::User(user)).unwrap(),
                expected_ids
            );

            assert_eq!(list_for_owner(&mut conn, project, Owner::Team(team)).unwrap(), vec![team_key.clone()]);
            assert_eq!(list_ids_for_owner(&mut conn, project, Owner::Team(team)).unwrap(), vec![team_key.id]);
            let other_project = insert_project(&mut conn).id;
            assert!(list_for_owner(&mut conn, other_project, Owner::User(user)).unwrap().is_empty());
            assert!(list_ids_for_owner(&mut conn, other_project, Owner::Team(team)).unwrap().is_empty());
        }

        fn updates_the_description(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let key = insert_api_key(&mut conn, project, Owner::User(user), 1);

            let updated = write_keys_uncached(&mut conn, |w| update_description(w, project, key.id, "")).unwrap();
            assert_eq!(updated, ApiKey { description: String::new(), ..key.clone() });
            assert_eq!(get(&mut conn, project, key.id).unwrap(), Some(updated));

            let other_project = insert_project(&mut conn).id;
            assert!(matches!(
                write_keys_uncached(&mut conn, |w| update_description(w, other_project, key.id, "x")),
                Err(StorageError::NotFound { entity: "API key" })
            ));
        }

        fn revoke_sets_the_time_once(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let team = insert_team(&mut conn, project).id;
            let key = insert_api_key(&mut conn, project, Owner::Team(team), 1);

            let revoked = write_keys_uncached(&mut conn, |w| revoke(w, project, key.id, 5_000)).unwrap();
            assert!(revoked.by_this_call);
            assert_eq!(revoked.key, ApiKey { manually_revoked_at_millis: Some(5_000), ..key.clone() });
            let again = write_keys_uncached(&mut conn, |w| revoke(w, project, key.id, 9_000)).unwrap();
            assert!(!again.by_this_call, "the first revocation wins");
            assert_eq!(again.key.manually_revoked_at_millis, Some(5_000));
            assert_eq!(get_by_id(&mut conn, key.id).unwrap(), Some(revoked.key));

            let other_project = insert_project(&mut conn).id;
            for (project, id) in [(other_project, key.id), (project, ApiKeyId::new_random())] {
                assert!(matches!(
                    write_keys_uncached(&mut conn, |w| revoke(w, project, id, 1)),
                    Err(StorageError::NotFound { entity: "API key" })
                ));
            }
        }

        fn expire_by_only_brings_the_expiry_forward(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let never = insert_raw_key(&mut conn, project, Owner::User(user), None);
            let soon = insert_raw_key(&mut conn, project, Owner::User(user), Some(3_000));

            let expired = write_keys_uncached(&mut conn, |w| expire_by(w, project, never.id, 5_000)).unwrap();
            assert_eq!(expired, ApiKey { expires_at_millis: Some(5_000), ..never.clone() });
            let kept = write_keys_uncached(&mut conn, |w| expire_by(w, project, soon.id, 5_000)).unwrap();
            assert_eq!(kept.expires_at_millis, Some(3_000), "an earlier expiry is kept");
            let earlier = write_keys_uncached(&mut conn, |w| expire_by(w, project, soon.id, 2_000)).unwrap();
            assert_eq!(earlier.expires_at_millis, Some(2_000));
            assert_eq!(get_by_id(&mut conn, soon.id).unwrap(), Some(earlier));

            let other_project = insert_project(&mut conn).id;
            assert!(matches!(
                write_keys_uncached(&mut conn, |w| expire_by(w, other_project, never.id, 1)),
                Err(StorageError::NotFound { entity: "API key" })
            ));
        }

        fn credits_are_read_under_the_row_lock_and_set(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let usage = UsageCredits {
                remaining_uses: 40,
                refill: keygate_domain::Refill::new(100, 86_400_000),
                refilled_at_millis: 1,
            };
            let metered = ApiKey {
                policy: KeyPolicy { usage: Some(usage), ..KeyPolicy::default() },
                ..key_for(project, Owner::User(user), 1)
            };
            insert(&mut conn, &metered).unwrap();
            let unmetered = insert_raw_key(&mut conn, project, Owner::User(user), None);

            let locked = conn.in_transaction(|conn| {
                let locked = lock_credits(conn, metered.id)?;
                set_credits(conn, metered.id, 7, 86_400_001)?;
                Ok::<_, StorageError>(locked)
            }).unwrap();
            assert_eq!(locked, Some(usage));
            let stored = get_by_id(&mut conn, metered.id).unwrap().unwrap().policy.usage.unwrap();
            assert_eq!((stored.remaining_uses, stored.refilled_at_millis, stored.refill), (7, 86_400_001, usage.refill));
            assert_eq!(lock_credits(&mut conn, unmetered.id).unwrap(), None);
            assert!(matches!(
                lock_credits(&mut conn, ApiKeyId::new_random()),
                Err(StorageError::NotFound { entity: "API key" })
            ));
        }

        fn last_used_only_moves_forward(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let used = insert_api_key(&mut conn, project, Owner::User(user), 1);
            let unused = insert_api_key(&mut conn, project, Owner::User(user), 2);
            let gone = ApiKeyId::new_random();
            assert!(last_used(&mut conn, &[used.id, unused.id, gone]).unwrap().is_empty());
            assert_eq!(record_last_used(&mut conn, &[]).unwrap(), 0);

            assert_eq!(record_last_used(&mut conn, &[(used.id, 5_000), (gone, 6_000)]).unwrap(), 1);
            // Older and equal instants change nothing; a newer one moves it.
            assert_eq!(record_last_used(&mut conn, &[(used.id, 4_000), (used.id, 5_000)]).unwrap(), 0);
            let read = last_used(&mut conn, &[used.id, unused.id, gone]).unwrap();
            assert_eq!(read, HashMap::from([(used.id, 5_000)]));
            assert_eq!(record_last_used(&mut conn, &[(used.id, 7_000)]).unwrap(), 1);
            assert_eq!(last_used(&mut conn, &[used.id]).unwrap()[&used.id], 7_000);

            // The key itself is untouched, and revoking still returns it whole.
            assert_eq!(get(&mut conn, project, used.id).unwrap(), Some(used.clone()));
            assert_eq!(write_keys_uncached(&mut conn, |w| revoke(w, project, used.id, 8_000)).unwrap().key.id, used.id);
            // Many ids at once, beyond one statement's chunk.
            let many: Vec<ApiKeyId> = (0..1_200).map(|_| ApiKeyId::new_random()).collect();
            assert_eq!(last_used(&mut conn, &many).unwrap().len(), 0);
        }

        fn last_use_of_many_keys_is_recorded_beyond_one_statement(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let keys: Vec<ApiKey> = (0..LAST_USED_PER_STATEMENT + 5)
                .map(|n| insert_api_key(&mut conn, project, Owner::User(user), n as i64))
                .collect();
            let mut uses: Vec<(ApiKeyId, EpochMillis)> =
                keys.iter().enumerate().map(|(n, key)| (key.id, 10_000 + n as i64)).collect();
            // The same key twice in one flush: the later instant wins.
            uses.push((keys[0].id, 99_000));
            uses.push((keys[0].id, 98_000));
            assert_eq!(record_last_used(&mut conn, &uses).unwrap(), keys.len());
            let ids: Vec<ApiKeyId> = keys.iter().map(|key| key.id).collect();
            let read = last_used(&mut conn, &ids).unwrap();
            assert_eq!(read.len(), keys.len());
            assert_eq!(read[&keys[0].id], 99_000);
            assert_eq!(read[&keys[LAST_USED_PER_STATEMENT + 4].id], 10_000 + LAST_USED_PER_STATEMENT as i64 + 4);
        }

        fn id_and_hash_are_unique(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let key = insert_api_key(&mut conn, project, Owner::User(user), 1);
            let same_hash = ApiKey { hash: key.hash, ..key_for(project, Owner::User(user), 2) };
            let same_id = ApiKey { id: key.id, ..key_for(project, Owner::User(user), 2) };
            for duplicate in [same_hash, same_id] {
                let error = insert(&mut conn, &duplicate).unwrap_err();
                assert!(matches!(error, StorageError::AlreadyExists { .. }), "{error:?}");
            }
        }

        fn owners_must_exist_in_the_keys_project(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let other_project = insert_project(&mut conn).id;
            let foreign_user = insert_user(&mut conn, other_project).id;
            let foreign_team = insert_team(&mut conn, other_project).id;
            for owner in [
                Owner::User(foreign_user),
                Owner::Team(foreign_team),
                Owner::User(UserId::new_random()),
                Owner::Team(TeamId::new_random()),
            ] {
                let error = insert(&mut conn, &key_for(project, owner, 1)).unwrap_err();
                assert!(matches!(error, StorageError::ForeignKeyViolation { .. }), "{error:?}");
            }
            let user = insert_user(&mut conn, project).id;
            let error = insert(&mut conn, &key_for(ProjectId::new_random(), Owner::User(user), 1))
                .unwrap_err();
            assert!(matches!(error, StorageError::ForeignKeyViolation { .. }), "{error:?}");
        }

        fn the_database_requires_exactly_one_owner(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let team = insert_team(&mut conn, project).id;
            for (user_id, team_id) in [(Some(user), Some(team)), (None, None)] {
                let error = insert_raw(&mut conn, project, user_id, team_id).unwrap_err();
                assert!(matches!(error, StorageError::ConstraintViolation { .. }), "{error:?}");
            }
            insert_raw(&mut conn, project, Some(user), None).unwrap();
            insert_raw(&mut conn, project, None, Some(team)).unwrap();
        }
    }
}
