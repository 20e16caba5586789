//! The notification outbox: notices keygate owes to people (for example "your API key was
//! revoked because it was found in a public repository"), written in the same transaction as the
//! change they report and sent later by a delivery worker.
//!
//! A notice is idempotent through its `dedupe_key` (unique): writing the same event for the same
//! recipient twice stores it once, also when two transactions race, so a recipient is never told
//! twice. Deleting the project deletes its notices.

use diesel::prelude::*;
use keygate_domain::{EpochMillis, ProjectId};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::notification_outbox;
use crate::stored::parse_id;

/// One notice to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    /// The notice's id.
    pub id: Uuid,
    /// The project the notice is about.
    pub project_id: ProjectId,
    /// Identifies the event and recipient; a second notice with the same key is not stored.
    pub dedupe_key: String,
    /// Where to send it.
    pub recipient_email: String,
    /// The e-mail subject.
    pub subject: String,
    /// The plain-text body.
    pub body_text: String,
    /// The HTML body (user-supplied text in it is already escaped).
    pub body_html: String,
    /// When the notice was written.
    pub created_at_millis: EpochMillis,
    /// When it was sent; `None` while pending.
    pub sent_at_millis: Option<EpochMillis>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = notification_outbox, treat_none_as_default_value = false)]
struct NotificationRow {
    id: String,
    project_id: String,
    dedupe_key: String,
    recipient_email: String,
    subject: String,
    body_text: String,
    body_html: String,
    created_at_millis: i64,
    sent_at_millis: Option<i64>,
}

impl From<&NotificationRecord> for NotificationRow {
    fn from(notice: &NotificationRecord) -> Self {
        NotificationRow {
            id: notice.id.to_string(),
            project_id: notice.project_id.to_string(),
            dedupe_key: notice.dedupe_key.clone(),
            recipient_email: notice.recipient_email.clone(),
            subject: notice.subject.clone(),
            body_text: notice.body_text.clone(),
            body_html: notice.body_html.clone(),
            created_at_millis: notice.created_at_millis,
            sent_at_millis: notice.sent_at_millis,
        }
    }
}

impl TryFrom<NotificationRow> for NotificationRecord {
    type Error = StorageError;

    fn try_from(row: NotificationRow) -> Result<Self, StorageError> {
        Ok(NotificationRecord {
            id: parse_id("notification_outbox.id", &row.id)?,
            project_id: parse_id("notification_outbox.project_id", &row.project_id)?,
            dedupe_key: row.dedupe_key,
            recipient_email: row.recipient_email,
            subject: row.subject,
            body_text: row.body_text,
            body_html: row.body_html,
            created_at_millis: row.created_at_millis,
            sent_at_millis: row.sent_at_millis,
        })
    }
}

/// Stores the notice unless one with the same `dedupe_key` is already stored; returns whether
/// this call stored it. Inside a transaction, a concurrent writer of the same key waits for the
/// outcome, so exactly one of them gets `true`. An unknown project is
/// [`StorageError::ForeignKeyViolation`].
pub fn insert(conn: &mut DbConnection, notice: &NotificationRecord) -> Result<bool, StorageError> {
    let row = NotificationRow::from(notice);
    // The multi-backend connection has no ON CONFLICT support, but both backends do.
    let inserted = match conn {
        DbConnection::Sqlite(conn) => diesel::insert_into(notification_outbox::table)
            .values(&row)
            .on_conflict(notification_outbox::dedupe_key)
            .do_nothing()
            .execute(conn)?,
        DbConnection::Postgres(conn) => diesel::insert_into(notification_outbox::table)
            .values(&row)
            .on_conflict(notification_outbox::dedupe_key)
            .do_nothing()
            .execute(conn)?,
    };
    Ok(inserted == 1)
}

/// A notice claimed for one delivery attempt by [`claim_due`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedNotice {
    /// The notice.
    pub notice: NotificationRecord,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

/// What [`claim_due`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DueNotices {
    /// Claimed for an attempt now: send each, then record the outcome.
    pub claimed: Vec<ClaimedNotice>,
    /// Notices whose previous claim ran out with no outcome (the claiming node stopped while
    /// sending): marked failed here, never sent again, so no recipient is told twice.
    pub abandoned: usize,
}

/// Claims up to `limit` due notices (`next_attempt_at_millis <= now`, neither sent nor
/// failed), oldest first, for one attempt each: their attempt count goes up and they are not
/// due again until `now + lease_millis`. On Postgres the rows are read `FOR UPDATE SKIP
/// LOCKED`, so nodes sharing the database claim different notices; the update re-checks that
/// each is still due, so a notice is never claimed twice at once on either backend. A due
/// notice that was claimed before and has no outcome is marked failed instead (see
/// [`DueNotices::abandoned`]).
pub fn claim_due(
    conn: &mut DbConnection,
    now: EpochMillis,
    lease_millis: i64,
    limit: u32,
) -> Result<DueNotices, StorageError> {
    use notification_outbox::dsl as o;
    conn.in_transaction(|conn| {
        let due = o::notification_outbox
            .filter(o::sent_at_millis.is_null())
            .filter(o::failed_at_millis.is_null())
            .filter(o::next_attempt_at_millis.le(now))
            .order((o::next_attempt_at_millis.asc(), o::id.asc()))
            .limit(i64::from(limit))
            .select((o::id, o::claimed_at_millis));
        let rows: Vec<(String, Option<i64>)> = match conn {
            DbConnection::Sqlite(conn) => due.load(conn)?,
            DbConnection::Postgres(conn) => due.for_update().skip_locked().load(conn)?,
        };
        let (abandoned, fresh): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|(_, claimed)| claimed.is_some());
        let abandoned_ids: Vec<String> = abandoned.into_iter().map(|(id, _)| id).collect();
        let abandoned = diesel::update(
            o::notification_outbox
                .filter(o::id.eq_any(&abandoned_ids))
                .filter(o::sent_at_millis.is_null())
                .filter(o::failed_at_millis.is_null()),
        )
        .set((
            o::failed_at_millis.eq(now),
            o::claimed_at_millis.eq(None::<i64>),
            o::last_error.eq(Some(
                "the node stopped while sending; not sent again (at most once)",
            )),
        ))
        .execute(conn)?;
        let fresh_ids: Vec<String> = fresh.into_iter().map(|(id, _)| id).collect();
        diesel::update(
            o::notification_outbox
                .filter(o::id.eq_any(&fresh_ids))
                .filter(o::sent_at_millis.is_null())
                .filter(o::failed_at_millis.is_null())
                .filter(o::next_attempt_at_millis.le(now)),
        )
        .set((
            o::claimed_at_millis.eq(Some(now)),
            o::attempts.eq(o::attempts + 1),
            o::next_attempt_at_millis.eq(now.saturating_add(lease_millis)),
        ))
        .execute(conn)?;
        // The rows this transaction just claimed (locked by it on Postgres; SQLite has one
        // writer), read back.
        let claimed: Vec<(NotificationRow, i32)> = o::notification_outbox
            .filter(o::id.eq_any(&fresh_ids))
            .filter(o::claimed_at_millis.eq(Some(now)))
            .filter(o::next_attempt_at_millis.eq(now.saturating_add(lease_millis)))
            .select((NotificationRow::as_select(), o::attempts))
            .load(conn)?;
        let mut claimed = claimed
            .into_iter()
            .map(|(row, attempts)| {
                Ok(ClaimedNotice {
                    notice: NotificationRecord::try_from(row)?,
                    attempt: u32::try_from(attempts).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        claimed.sort_by_key(|c| (c.notice.created_at_millis, c.notice.id));
        Ok(DueNotices { claimed, abandoned })
    })
}

/// How a delivery attempt of a notice ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    /// Accepted by the mail server.
    Sent,
    /// Refused or unreachable; try again at this instant.
    RetryAt {
        /// When the notice is due again.
        at: EpochMillis,
        /// Why this attempt failed.
        error: String,
    },
    /// Refused for good, or out of attempts.
    Failed {
        /// Why.
        error: String,
    },
}

/// Records how the attempt on the notice `id` ended, at `now`, and releases its claim.
pub fn record_outcome(
    conn: &mut DbConnection,
    id: Uuid,
    outcome: &NoticeOutcome,
    now: EpochMillis,
) -> Result<(), StorageError> {
    use notification_outbox::dsl as o;
    let row = o::notification_outbox.filter(o::id.eq(id.to_string()));
    let released = o::claimed_at_millis.eq(None::<i64>);
    match outcome {
        NoticeOutcome::Sent => diesel::update(row)
            .set((
                o::sent_at_millis.eq(Some(now)),
                released,
                o::last_error.eq(None::<String>),
            ))
            .execute(conn)?,
        NoticeOutcome::RetryAt { at, error } => diesel::update(row)
            .set((
                o::next_attempt_at_millis.eq(*at),
                released,
                o::last_error.eq(Some(error)),
            ))
            .execute(conn)?,
        NoticeOutcome::Failed { error } => diesel::update(row)
            .set((
                o::failed_at_millis.eq(Some(now)),
                released,
                o::last_error.eq(Some(error)),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// A notice with its delivery state, as an operator inspects it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct NoticeDelivery {
    /// The notice's id.
    pub id: String,
    /// Where it goes.
    pub recipient_email: String,
    /// How many attempts were made.
    pub attempts: i32,
    /// When it was sent, if it was.
    pub sent_at_millis: Option<i64>,
    /// When it was given up, if it was.
    pub failed_at_millis: Option<i64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

/// The delivery state of the notice with `dedupe_key`, if there is one.
pub fn delivery_of(
    conn: &mut DbConnection,
    dedupe_key: &str,
) -> Result<Option<NoticeDelivery>, StorageError> {
    use notification_outbox::dsl as o;
    Ok(o::notification_outbox
        .filter(o::dedupe_key.eq(dedupe_key))
        .select((
            o::id,
            o::recipient_email,
            o::attempts,
            o::sent_at_millis,
            o::failed_at_millis,
            o::last_error,
        ))
        .get_result(conn)
        .optional()?)
}

/// Up to `limit` notices neither sent nor failed, of every project, oldest first (ties by id).
pub fn list_pending(
    conn: &mut DbConnection,
    limit: u32,
) -> Result<Vec<NotificationRecord>, StorageError> {
    notification_outbox::table
        .filter(notification_outbox::sent_at_millis.is_null())
        .filter(notification_outbox::failed_at_millis.is_null())
        .order((
            notification_outbox::created_at_millis.asc(),
            notification_outbox::id.asc(),
        ))
        .limit(i64::from(limit))
        .select(NotificationRow::as_select())
        .load(conn)?
        .into_iter()
        .map(NotificationRecord::try_from)
        .collect()
}

/// How many notices are neither sent nor failed, counting at most `cap` (a bounded read of
/// their ids, for metrics sampled at scrape time: a huge backlog costs no more than `cap` rows).
pub fn count_pending(conn: &mut DbConnection, cap: u32) -> Result<u32, StorageError> {
    let ids: Vec<String> = notification_outbox::table
        .filter(notification_outbox::sent_at_millis.is_null())
        .filter(notification_outbox::failed_at_millis.is_null())
        .select(notification_outbox::id)
        .limit(i64::from(cap))
        .load(conn)?;
    Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::projects;
    use crate::testing::insert_project;

    fn notice(project: ProjectId, dedupe_key: &str, created_at_millis: i64) -> NotificationRecord {
        NotificationRecord {
            id: Uuid::new_v4(),
            project_id: project,
            dedupe_key: dedupe_key.to_owned(),
            recipient_email: format!("{dedupe_key}@example.com"),
            subject: "API Key Revoked: ci".to_owned(),
            body_text: "text".to_owned(),
            body_html: "<p>html &amp; more</p>".to_owned(),
            created_at_millis,
            sent_at_millis: None,
        }
    }

    crate::backend_tests! {
        fn due_notices_are_claimed_once_retried_and_never_sent_twice(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let first = notice(project, "a", 100);
            let second = notice(project, "b", 200);
            insert(&mut conn, &first).unwrap();
            insert(&mut conn, &second).unwrap();

            // Both are due at once (next attempt 0); one claim takes them, the next finds none.
            let due = claim_due(&mut conn, 1_000, 60_000, 10).unwrap();
            assert_eq!(due.claimed.iter().map(|c| (&c.notice.dedupe_key[..], c.attempt)).collect::<Vec<_>>(), [("a", 1), ("b", 1)]);
            assert_eq!(due.abandoned, 0);
            assert_eq!(claim_due(&mut conn, 2_000, 60_000, 10).unwrap(), DueNotices::default());

            record_outcome(&mut conn, first.id, &NoticeOutcome::Sent, 1_500).unwrap();
            record_outcome(&mut conn, second.id, &NoticeOutcome::RetryAt { at: 5_000, error: "421 busy".into() }, 1_500).unwrap();
            assert_eq!(count_pending(&mut conn, 10).unwrap(), 1);
            let retried = claim_due(&mut conn, 5_000, 60_000, 10).unwrap();
            assert_eq!(retried.claimed.len(), 1);
            assert_eq!((retried.claimed[0].notice.id, retried.claimed[0].attempt), (second.id, 2));
            let state = delivery_of(&mut conn, "b").unwrap().unwrap();
            assert_eq!((state.attempts, state.last_error.as_deref()), (2, Some("421 busy")));

            // The node stops mid-send: after the lease the notice is marked failed, not resent.
            let abandoned = claim_due(&mut conn, 70_000, 60_000, 10).unwrap();
            assert!(abandoned.claimed.is_empty());
            assert_eq!(abandoned.abandoned, 1);
            let state = delivery_of(&mut conn, "b").unwrap().unwrap();
            assert_eq!(state.failed_at_millis, Some(70_000));
            assert_eq!(count_pending(&mut conn, 10).unwrap(), 0);
            assert_eq!(delivery_of(&mut conn, "a").unwrap().unwrap().sent_at_millis, Some(1_500));

            let third = notice(project, "c", 300);
            insert(&mut conn, &third).unwrap();
            claim_due(&mut conn, 80_000, 60_000, 10).unwrap();
            record_outcome(&mut conn, third.id, &NoticeOutcome::Failed { error: "550 no such user".into() }, 80_001).unwrap();
            assert_eq!(delivery_of(&mut conn, "c").unwrap().unwrap().last_error.as_deref(), Some("550 no such user"));
            assert!(claim_due(&mut conn, 999_999, 60_000, 10).unwrap().claimed.is_empty());
        }

        fn concurrent_claims_never_take_the_same_notice(db) {
            let project = insert_project(&mut db.conn()).id;
            let ids: Vec<Uuid> = (0..60)
                .map(|i| {
                    let record = notice(project, &format!("n{i}"), i);
                    insert(&mut db.conn(), &record).unwrap();
                    record.id
                })
                .collect();
            // Two claimers (two nodes) race in small batches until nothing is due.
            let claimers: Vec<_> = (0..2)
                .map(|_| {
                    let database = db.database().clone();
                    std::thread::spawn(move || {
                        let mut conn = database.get().unwrap();
                        let mut mine = Vec::new();
                        loop {
                            let due = claim_due(&mut conn, 1_000, 60_000, 7).unwrap();
                            if due.claimed.is_empty() {
                                return mine;
                            }
                            mine.extend(due.claimed.into_iter().map(|c| c.notice.id));
                        }
                    })
                })
                .collect();
            let mut claimed: Vec<Uuid> = claimers.into_iter().flat_map(|t| t.join().unwrap()).collect();
            let total = claimed.len();
            claimed.sort_unstable();
            claimed.dedup();
            assert_eq!(claimed.len(), total, "no notice claimed twice");
            let mut expected = ids;
            expected.sort_unstable();
            assert_eq!(claimed, expected, "every notice claimed");
        }

        fn stores_notices_and_lists_pending_ones_oldest_first(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let other_project = insert_project(&mut conn).id;
            let newest = notice(project, "c", 300);
            let oldest = notice(other_project, "a", 100);
            let middle = notice(project, "b", 200);
            let sent = NotificationRecord { sent_at_millis: Some(250), ..notice(project, "d", 50) };
            for record in [&newest, &oldest, &middle, &sent] {
                assert!(insert(&mut conn, record).unwrap());
            }

            assert_eq!(
                list_pending(&mut conn, 10).unwrap(),
                vec![oldest.clone(), middle.clone(), newest]
            );
            assert_eq!(list_pending(&mut conn, 2).unwrap(), vec![oldest, middle]);
            assert!(list_pending(&mut conn, 0).unwrap().is_empty());
            // The backlog counts pending notices only, up to its cap.
            assert_eq!(count_pending(&mut conn, 10).unwrap(), 3);
            assert_eq!(count_pending(&mut conn, 2).unwrap(), 2);
        }

        fn a_dedupe_key_is_stored_once(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let first = notice(project, "revoked/key/alice@example.com", 100);
            assert!(insert(&mut conn, &first).unwrap());
            let again = NotificationRecord { subject: "second".to_owned(), ..notice(project, &first.dedupe_key, 200) };
            assert!(!insert(&mut conn, &again).unwrap());
            // Also inside a transaction: the skipped insert does not abort it.
            let stored_in_transaction = conn
                .in_transaction(|conn| {
                    assert!(!insert(conn, &again)?);
                    insert(conn, &notice(project, "other", 300))
                })
                .unwrap();
            assert!(stored_in_transaction);
            let pending = list_pending(&mut conn, 10).unwrap();
            assert_eq!(pending.len(), 2);
            assert_eq!(pending[0], first);
        }

        fn notices_need_their_project_and_go_with_it(db) {
            let mut conn = db.conn();
            let error = insert(&mut conn, &notice(ProjectId::new_random(), "x", 1)).unwrap_err();
            assert!(matches!(error, StorageError::ForeignKeyViolation { .. }), "{error:?}");

            let project = insert_project(&mut conn).id;
            assert!(insert(&mut conn, &notice(project, "y", 1)).unwrap());
            diesel::delete(projects::table.filter(projects::id.eq(project.to_string())))
                .execute(&mut *conn)
                .unwrap();
            assert!(list_pending(&mut conn, 10).unwrap().is_empty());
        }
    }
}
