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

/// Up to `limit` notices not sent yet, of every project, oldest first (ties by id).
pub fn list_pending(
    conn: &mut DbConnection,
    limit: u32,
) -> Result<Vec<NotificationRecord>, StorageError> {
    notification_outbox::table
        .filter(notification_outbox::sent_at_millis.is_null())
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

/// How many notices are not sent yet, counting at most `cap` (a bounded read of their ids,
/// for metrics sampled at scrape time: a huge backlog costs no more than `cap` rows).
pub fn count_pending(conn: &mut DbConnection, cap: u32) -> Result<u32, StorageError> {
    let ids: Vec<String> = notification_outbox::table
        .filter(notification_outbox::sent_at_millis.is_null())
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
