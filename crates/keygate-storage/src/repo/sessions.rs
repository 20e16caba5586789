//! Sessions: one per refresh token. The token itself is never stored, only its digest.
//!
//! With refresh-token rotation, a refresh replaces the session's digest by a new one in one
//! compare-and-swap ([`rotate_refresh_token`]) and keeps the replaced digest in
//! `retired_refresh_tokens` (one per session, the latest), so a retired token presented again
//! can be traced to its session ([`find_by_retired_refresh_token_hash`]).

use diesel::prelude::*;
use keygate_domain::{EpochMillis, KeyHash, Lifetime, ProjectId, UserId};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::{retired_refresh_tokens, sessions};
use crate::stored::{parse_hash, parse_id};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's id (the access token's `refresh_token_id`).
    pub id: Uuid,
    /// The project of the user.
    pub project_id: ProjectId,
    /// The signed-in user.
    pub user_id: UserId,
    /// Digest of the refresh token; unique across all sessions.
    pub refresh_token_hash: KeyHash,
    /// When the session started.
    pub created_at_millis: EpochMillis,
    /// When its refresh token stops working (it still works at this instant).
    pub expires_at_millis: EpochMillis,
    /// When it was signed out; set once, never cleared.
    pub revoked_at_millis: Option<EpochMillis>,
    /// When it was last used: opened, or its refresh token traded for an access token.
    pub last_used_at_millis: EpochMillis,
}

impl SessionRecord {
    /// The session's expiry and sign-out, for the domain's validity rule
    /// ([`Lifetime::check`]); storage itself never decides whether a session is open.
    pub const fn lifetime(&self) -> Lifetime {
        Lifetime::new(Some(self.expires_at_millis), self.revoked_at_millis)
    }
}

// Fields in table order: `RETURNING table::all_columns` is read by position (the
// multi-backend connection cannot return a `Selectable`).
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
struct SessionRow {
    id: String,
    project_id: String,
    user_id: String,
    refresh_token_hash: Vec<u8>,
    created_at_millis: i64,
    expires_at_millis: i64,
    revoked_at_millis: Option<i64>,
    last_used_at_millis: i64,
}

impl From<&SessionRecord> for SessionRow {
    fn from(session: &SessionRecord) -> Self {
        SessionRow {
            id: session.id.to_string(),
            project_id: session.project_id.to_string(),
            user_id: session.user_id.to_string(),
            refresh_token_hash: session.refresh_token_hash.as_bytes().to_vec(),
            created_at_millis: session.created_at_millis,
            expires_at_millis: session.expires_at_millis,
            revoked_at_millis: session.revoked_at_millis,
            last_used_at_millis: session.last_used_at_millis,
        }
    }
}

impl TryFrom<SessionRow> for SessionRecord {
    type Error = StorageError;

    fn try_from(row: SessionRow) -> Result<Self, StorageError> {
        Ok(SessionRecord {
            id: parse_id("sessions.id", &row.id)?,
            project_id: parse_id("sessions.project_id", &row.project_id)?,
            user_id: parse_id("sessions.user_id", &row.user_id)?,
            refresh_token_hash: parse_hash("sessions.refresh_token_hash", &row.refresh_token_hash)?,
            created_at_millis: row.created_at_millis,
            expires_at_millis: row.expires_at_millis,
            revoked_at_millis: row.revoked_at_millis,
            last_used_at_millis: row.last_used_at_millis,
        })
    }
}

/// Stores a new session. A user that is not in the project is
/// [`StorageError::ForeignKeyViolation`]; a refresh-token digest already stored is
/// [`StorageError::AlreadyExists`].
pub fn insert(conn: &mut DbConnection, session: &SessionRecord) -> Result<(), StorageError> {
    diesel::insert_into(sessions::table)
        .values(SessionRow::from(session))
        .execute(conn)?;
    Ok(())
}

/// The session whose refresh token has this digest, whatever its state (the caller decides
/// whether an expired or revoked session still counts).
pub fn find_by_refresh_token_hash(
    conn: &mut DbConnection,
    hash: &KeyHash,
) -> Result<Option<SessionRecord>, StorageError> {
    sessions::table
        .filter(sessions::refresh_token_hash.eq(hash.as_bytes().to_vec()))
        .select(SessionRow::as_select())
        .get_result(conn)
        .optional()?
        .map(SessionRecord::try_from)
        .transpose()
}

/// The sessions of `user` in `project` that are open at `now` (neither signed out nor expired),
/// most recently opened first, at most `limit` of them.
pub fn list_open_for_user(
    conn: &mut DbConnection,
    project: ProjectId,
    user: UserId,
    now: EpochMillis,
    limit: i64,
) -> Result<Vec<SessionRecord>, StorageError> {
    sessions::table
        .filter(sessions::project_id.eq(project.to_string()))
        .filter(sessions::user_id.eq(user.to_string()))
        .filter(sessions::revoked_at_millis.is_null())
        .filter(sessions::expires_at_millis.ge(now))
        .order((sessions::created_at_millis.desc(), sessions::id.desc()))
        .limit(limit)
        .select(SessionRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SessionRecord::try_from)
        .collect()
}

/// Records that session `id` was used at `now` (a later use already recorded is kept).
pub fn record_use(conn: &mut DbConnection, id: Uuid, now: EpochMillis) -> Result<(), StorageError> {
    diesel::update(
        sessions::table
            .filter(sessions::id.eq(id.to_string()))
            .filter(sessions::last_used_at_millis.lt(now)),
    )
    .set(sessions::last_used_at_millis.eq(now))
    .execute(conn)?;
    Ok(())
}

/// The session `id` of `project`, whatever its state (the access-token check reads it to refuse
/// tokens of signed-out sessions).
pub fn get(
    conn: &mut DbConnection,
    project: ProjectId,
    id: Uuid,
) -> Result<Option<SessionRecord>, StorageError> {
    sessions::table
        .filter(sessions::project_id.eq(project.to_string()))
        .filter(sessions::id.eq(id.to_string()))
        .select(SessionRow::as_select())
        .get_result(conn)
        .optional()?
        .map(SessionRecord::try_from)
        .transpose()
}

/// Signs the session out at `now`, unless it already was (the first time is kept), and returns
/// it; [`StorageError::NotFound`] if the project has no such session.
pub fn revoke(
    conn: &mut DbConnection,
    project: ProjectId,
    id: Uuid,
    now: EpochMillis,
) -> Result<SessionRecord, StorageError> {
    let this_session = sessions::table
        .filter(sessions::project_id.eq(project.to_string()))
        .filter(sessions::id.eq(id.to_string()));
    let revoked_now = diesel::update(
        this_session
            .clone()
            .filter(sessions::revoked_at_millis.is_null()),
    )
    .set(sessions::revoked_at_millis.eq(now))
    .returning(sessions::all_columns)
    .get_result::<SessionRow>(conn)
    .optional()?;
    let row = match revoked_now {
        Some(row) => row,
        None => this_session
            .select(SessionRow::as_select())
            .get_result(conn)
            .map_err(StorageError::not_found_as("session"))?,
    };
    row.try_into()
}

/// Signs every other session of `user` in `project` out at `now` (those not yet signed out),
/// keeping `keep`; returns how many it signed out.
pub fn revoke_others_of_user(
    conn: &mut DbConnection,
    project: ProjectId,
    user: UserId,
    keep: Uuid,
    now: EpochMillis,
) -> Result<usize, StorageError> {
    Ok(diesel::update(
        sessions::table
            .filter(sessions::project_id.eq(project.to_string()))
            .filter(sessions::user_id.eq(user.to_string()))
            .filter(sessions::id.ne(keep.to_string()))
            .filter(sessions::revoked_at_millis.is_null()),
    )
    .set(sessions::revoked_at_millis.eq(now))
    .execute(conn)?)
}

/// Replaces the refresh-token digest of session `id` by `new` if it is still `old`, and keeps
/// `old` as the session's retired digest (replacing the one before), in one transaction.
/// `Ok(false)` when the session's digest is no longer `old` (another refresh replaced it first,
/// or there is no such session): nothing is changed.
pub fn rotate_refresh_token(
    conn: &mut DbConnection,
    id: Uuid,
    old: &KeyHash,
    new: &KeyHash,
    now: EpochMillis,
) -> Result<bool, StorageError> {
    let id = id.to_string();
    conn.transaction::<_, StorageError, _>(|conn| {
        // The compare-and-swap: of two refreshes with the same token, one updates the row and
        // the other (blocked on the row, or reading it afterwards) updates nothing.
        let replaced = diesel::update(
            sessions::table
                .filter(sessions::id.eq(&id))
                .filter(sessions::refresh_token_hash.eq(old.as_bytes().to_vec())),
        )
        .set((
            sessions::refresh_token_hash.eq(new.as_bytes().to_vec()),
            sessions::last_used_at_millis.eq(now),
        ))
        .execute(conn)?;
        if replaced == 0 {
            return Ok(false);
        }
        diesel::delete(
            retired_refresh_tokens::table.filter(retired_refresh_tokens::session_id.eq(&id)),
        )
        .execute(conn)?;
        diesel::insert_into(retired_refresh_tokens::table)
            .values((
                retired_refresh_tokens::refresh_token_hash.eq(old.as_bytes().to_vec()),
                retired_refresh_tokens::session_id.eq(&id),
                retired_refresh_tokens::retired_at_millis.eq(now),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// The session whose last rotation retired the refresh token with this digest, whatever the
/// session's state.
pub fn find_by_retired_refresh_token_hash(
    conn: &mut DbConnection,
    hash: &KeyHash,
) -> Result<Option<SessionRecord>, StorageError> {
    let session_id: Option<String> = retired_refresh_tokens::table
        .filter(retired_refresh_tokens::refresh_token_hash.eq(hash.as_bytes().to_vec()))
        .select(retired_refresh_tokens::session_id)
        .get_result(conn)
        .optional()?;
    let Some(session_id) = session_id else {
        return Ok(None);
    };
    sessions::table
        .filter(sessions::id.eq(session_id))
        .select(SessionRow::as_select())
        .get_result(conn)
        .optional()?
        .map(SessionRecord::try_from)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{insert_project, insert_user, random_hash};

    fn session(project: ProjectId, user: UserId) -> SessionRecord {
        SessionRecord {
            id: Uuid::new_v4(),
            project_id: project,
            user_id: user,
            refresh_token_hash: random_hash(),
            created_at_millis: 1_000,
            expires_at_millis: 1_000 + 365 * 24 * 3600 * 1000,
            revoked_at_millis: None,
            last_used_at_millis: 1_000,
        }
    }

    crate::backend_tests! {
        fn revoking_a_users_other_sessions_keeps_one_and_spares_other_users(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let other_user = insert_user(&mut conn, project).id;
            let (a, b, keep) = (session(project, user), session(project, user), session(project, user));
            let theirs = session(project, other_user);
            for s in [&a, &b, &keep, &theirs] {
                insert(&mut conn, s).unwrap();
            }
            revoke(&mut conn, project, a.id, 2_000).unwrap();
            assert_eq!(revoke_others_of_user(&mut conn, project, user, keep.id, 3_000).unwrap(), 1);
            let get = |conn: &mut DbConnection, id| get(conn, project, id).unwrap().unwrap();
            assert_eq!(get(&mut conn, a.id).revoked_at_millis, Some(2_000));
            assert_eq!(get(&mut conn, b.id).revoked_at_millis, Some(3_000));
            assert_eq!(get(&mut conn, keep.id).revoked_at_millis, None);
            assert_eq!(get(&mut conn, theirs.id).revoked_at_millis, None);
        }

        fn inserts_and_finds_by_refresh_token_hash(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let stored = session(project, user);
            insert(&mut conn, &stored).unwrap();
            insert(&mut conn, &session(project, user)).unwrap();

            let found = find_by_refresh_token_hash(&mut conn, &stored.refresh_token_hash);
            assert_eq!(found.unwrap(), Some(stored));
            assert_eq!(find_by_refresh_token_hash(&mut conn, &random_hash()).unwrap(), None);
        }

        fn gets_by_id_within_its_project(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let other_project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let stored = session(project, user);
            insert(&mut conn, &stored).unwrap();

            assert_eq!(get(&mut conn, project, stored.id).unwrap(), Some(stored.clone()));
            assert_eq!(get(&mut conn, other_project, stored.id).unwrap(), None);
            assert_eq!(get(&mut conn, project, Uuid::new_v4()).unwrap(), None);
        }

        fn refresh_token_hash_is_unique(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let stored = session(project, user);
            insert(&mut conn, &stored).unwrap();
            let same_token = SessionRecord { id: Uuid::new_v4(), ..stored };
            assert!(matches!(
                insert(&mut conn, &same_token),
                Err(StorageError::AlreadyExists { .. })
            ));
        }

        fn a_session_needs_a_user_of_its_project(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let other_project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, other_project).id;
            for user in [user, UserId::new_random()] {
                assert!(matches!(
                    insert(&mut conn, &session(project, user)),
                    Err(StorageError::ForeignKeyViolation { .. })
                ));
            }
        }

        fn revoke_keeps_the_first_time(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let stored = session(project, user);
            insert(&mut conn, &stored).unwrap();

            let revoked = revoke(&mut conn, project, stored.id, 5_000).unwrap();
            assert_eq!(revoked, SessionRecord { revoked_at_millis: Some(5_000), ..stored.clone() });
            let again = revoke(&mut conn, project, stored.id, 6_000).unwrap();
            assert_eq!(again.revoked_at_millis, Some(5_000));
            let found = find_by_refresh_token_hash(&mut conn, &stored.refresh_token_hash).unwrap();
            assert_eq!(found.unwrap().revoked_at_millis, Some(5_000));
        }

        fn a_users_open_sessions_list_newest_first_and_a_use_only_moves_forward(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let other_user = insert_user(&mut conn, project).id;
            let older = session(project, user);
            let newer = SessionRecord { id: Uuid::new_v4(), refresh_token_hash: random_hash(), created_at_millis: 2_000, ..older.clone() };
            let signed_out = SessionRecord { id: Uuid::new_v4(), refresh_token_hash: random_hash(), revoked_at_millis: Some(2_500), ..older.clone() };
            let expired = SessionRecord { id: Uuid::new_v4(), refresh_token_hash: random_hash(), expires_at_millis: 2_999, ..older.clone() };
            let someone_elses = session(project, other_user);
            for stored in [&older, &newer, &signed_out, &expired, &someone_elses] {
                insert(&mut conn, stored).unwrap();
            }
            assert_eq!(list_open_for_user(&mut conn, project, user, 3_000, 10).unwrap(), vec![newer.clone(), older.clone()]);
            assert_eq!(list_open_for_user(&mut conn, project, user, 3_000, 1).unwrap(), vec![newer.clone()]);

            record_use(&mut conn, older.id, 5_000).unwrap();
            record_use(&mut conn, older.id, 4_000).unwrap();
            assert_eq!(get(&mut conn, project, older.id).unwrap().unwrap().last_used_at_millis, 5_000);
            assert_eq!(get(&mut conn, project, newer.id).unwrap().unwrap().last_used_at_millis, 1_000);
        }

        fn rotation_is_a_compare_and_swap_that_keeps_the_last_retired_digest(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let stored = session(project, user);
            insert(&mut conn, &stored).unwrap();
            let first = stored.refresh_token_hash;
            let (second, third) = (random_hash(), random_hash());

            assert!(rotate_refresh_token(&mut conn, stored.id, &first, &second, 2_000).unwrap());
            // The loser of a race with the same token changes nothing.
            assert!(!rotate_refresh_token(&mut conn, stored.id, &first, &third, 2_001).unwrap());
            let current = find_by_refresh_token_hash(&mut conn, &second).unwrap().unwrap();
            // A rotation is a use of the session; the loser's is not.
            assert_eq!(
                current,
                SessionRecord { refresh_token_hash: second, last_used_at_millis: 2_000, ..stored.clone() }
            );
            assert_eq!(find_by_refresh_token_hash(&mut conn, &first).unwrap(), None);
            assert_eq!(find_by_retired_refresh_token_hash(&mut conn, &first).unwrap(), Some(current.clone()));

            // The next rotation retires `second`; only the latest retired digest is kept.
            assert!(rotate_refresh_token(&mut conn, stored.id, &second, &third, 3_000).unwrap());
            assert_eq!(find_by_retired_refresh_token_hash(&mut conn, &first).unwrap(), None);
            assert_eq!(
                find_by_retired_refresh_token_hash(&mut conn, &second).unwrap().map(|s| s.id),
                Some(stored.id)
            );
            assert!(!rotate_refresh_token(&mut conn, Uuid::new_v4(), &third, &first, 3_001).unwrap());
        }

        fn retired_digests_go_with_their_session(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let stored = session(project, user);
            insert(&mut conn, &stored).unwrap();
            let next = random_hash();
            assert!(rotate_refresh_token(&mut conn, stored.id, &stored.refresh_token_hash, &next, 2_000).unwrap());
            diesel::delete(sessions::table.filter(sessions::id.eq(stored.id.to_string())))
                .execute(&mut conn)
                .unwrap();
            let left: i64 = retired_refresh_tokens::table.count().get_result(&mut conn).unwrap();
            assert_eq!(left, 0);
        }

        fn revoking_a_missing_session_is_not_found(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let user = insert_user(&mut conn, project).id;
            let stored = session(project, user);
            insert(&mut conn, &stored).unwrap();
            let other_project = insert_project(&mut conn).id;
            for (project, id) in [(project, Uuid::new_v4()), (other_project, stored.id)] {
                assert!(matches!(
                    revoke(&mut conn, project, id, 1),
                    Err(StorageError::NotFound { entity: "session" })
                ));
            }
        }
    }
}
