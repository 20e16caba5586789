//! The audit log: one row per change to keys, credentials, projects, memberships and team
//! permissions, inserted by the application layer in the same transaction as the change.
//!
//! Rows are inserted, listed newest first in keyset pages, and deleted oldest first past the
//! retention setting — never updated. The action, object and actor kinds are the application
//! layer's names, stored as text; the metadata is a JSON object stored verbatim.

use diesel::prelude::*;
use keygate_domain::{EpochMillis, ProjectId, UserId};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::audit_events;
use crate::stored::{parse_id, parse_optional_id};

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEventRecord {
    /// The event's id.
    pub id: Uuid,
    /// The project the change belongs to.
    pub project_id: ProjectId,
    /// When the change was made.
    pub created_at_millis: EpochMillis,
    /// What happened, e.g. `user_api_key.revoked`.
    pub action: String,
    /// The kind of object changed, e.g. `user_api_key`.
    pub object_type: String,
    /// The changed object's id (a team permission's is `<team id>/<user id>/<permission id>`).
    pub object_id: String,
    /// Who made the change: `user`, `server`, `admin`, `operator`, `scanner` or `system`.
    pub actor_type: String,
    /// The acting user, when a user acted.
    pub actor_user_id: Option<UserId>,
    /// A readable name of the actor (e.g. which credential), never a secret.
    pub actor_label: Option<String>,
    /// The user the change affects (a key's owner, a member), if one.
    pub target_user_id: Option<UserId>,
    /// The `x-stack-request-id` of the request that made the change, if one did.
    pub request_id: Option<String>,
    /// The client's address, if a request made the change.
    pub client_address: Option<String>,
    /// A JSON object of non-secret facts about the change.
    pub metadata: String,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
struct AuditEventRow {
    id: String,
    project_id: String,
    created_at_millis: i64,
    action: String,
    object_type: String,
    object_id: String,
    actor_type: String,
    actor_user_id: Option<String>,
    actor_label: Option<String>,
    target_user_id: Option<String>,
    request_id: Option<String>,
    client_address: Option<String>,
    metadata: String,
}

impl From<&AuditEventRecord> for AuditEventRow {
    fn from(event: &AuditEventRecord) -> Self {
        AuditEventRow {
            id: event.id.to_string(),
            project_id: event.project_id.to_string(),
            created_at_millis: event.created_at_millis,
            action: event.action.clone(),
            object_type: event.object_type.clone(),
            object_id: event.object_id.clone(),
            actor_type: event.actor_type.clone(),
            actor_user_id: event.actor_user_id.map(|id| id.to_string()),
            actor_label: event.actor_label.clone(),
            target_user_id: event.target_user_id.map(|id| id.to_string()),
            request_id: event.request_id.clone(),
            client_address: event.client_address.clone(),
            metadata: event.metadata.clone(),
        }
    }
}

impl TryFrom<AuditEventRow> for AuditEventRecord {
    type Error = StorageError;

    fn try_from(row: AuditEventRow) -> Result<Self, StorageError> {
        Ok(AuditEventRecord {
            id: parse_id("audit_events.id", &row.id)?,
            project_id: parse_id("audit_events.project_id", &row.project_id)?,
            created_at_millis: row.created_at_millis,
            action: row.action,
            object_type: row.object_type,
            object_id: row.object_id,
            actor_type: row.actor_type,
            actor_user_id: parse_optional_id(
                "audit_events.actor_user_id",
                row.actor_user_id.as_deref(),
            )?,
            actor_label: row.actor_label,
            target_user_id: parse_optional_id(
                "audit_events.target_user_id",
                row.target_user_id.as_deref(),
            )?,
            request_id: row.request_id,
            client_address: row.client_address,
            metadata: row.metadata,
        })
    }
}

/// Stores `event` (call it inside the transaction of the change it records).
pub fn insert(conn: &mut DbConnection, event: &AuditEventRecord) -> Result<(), StorageError> {
    insert_many(conn, std::slice::from_ref(event))
}

/// Stores `events`, as [`insert`] does one, with one statement on Postgres (one per event on
/// SQLite, where a statement costs no round trip).
pub fn insert_many(
    conn: &mut DbConnection,
    events: &[AuditEventRecord],
) -> Result<(), StorageError> {
    let rows: Vec<AuditEventRow> = events.iter().map(AuditEventRow::from).collect();
    match conn {
        DbConnection::Postgres(pg) => {
            diesel::insert_into(audit_events::table)
                .values(&rows)
                .execute(pg)?;
        }
        DbConnection::Sqlite(sqlite) => {
            for row in &rows {
                diesel::insert_into(audit_events::table)
                    .values(row)
                    .execute(sqlite)?;
            }
        }
    }
    Ok(())
}

/// Where a page of events ends: the last event's instant and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditPosition {
    /// The last listed event's `created_at_millis`.
    pub created_at_millis: EpochMillis,
    /// The last listed event's id.
    pub id: Uuid,
}

impl AuditPosition {
    /// The position of `event`.
    pub fn of(event: &AuditEventRecord) -> Self {
        AuditPosition {
            created_at_millis: event.created_at_millis,
            id: event.id,
        }
    }
}

/// Which events a listing shows; every field narrows, the default shows all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<String>,
    /// Only changes to objects of this kind.
    pub object_type: Option<String>,
    /// Only changes to this object.
    pub object_id: Option<String>,
    /// Only this kind of actor.
    pub actor_type: Option<String>,
    /// Only changes made by this user.
    pub actor_user_id: Option<UserId>,
    /// Only changes affecting this user.
    pub target_user_id: Option<UserId>,
    /// Only changes made at or after this instant.
    pub since_millis: Option<EpochMillis>,
    /// Only changes made before this instant.
    pub until_millis: Option<EpochMillis>,
}

/// At most `limit` events of `project` that pass `filter`, newest first (ties by id,
/// descending), starting right after `after`: a keyset page.
pub fn list_page(
    conn: &mut DbConnection,
    project: ProjectId,
    filter: &AuditFilter,
    after: Option<AuditPosition>,
    limit: usize,
) -> Result<Vec<AuditEventRecord>, StorageError> {
    let mut query = audit_events::table
        .filter(audit_events::project_id.eq(project.to_string()))
        .into_boxed();
    if let Some(action) = &filter.action {
        query = query.filter(audit_events::action.eq(action.clone()));
    }
    if let Some(object_type) = &filter.object_type {
        query = query.filter(audit_events::object_type.eq(object_type.clone()));
    }
    if let Some(object_id) = &filter.object_id {
        query = query.filter(audit_events::object_id.eq(object_id.clone()));
    }
    if let Some(actor_type) = &filter.actor_type {
        query = query.filter(audit_events::actor_type.eq(actor_type.clone()));
    }
    if let Some(user) = filter.actor_user_id {
        query = query.filter(audit_events::actor_user_id.eq(user.to_string()));
    }
    if let Some(user) = filter.target_user_id {
        query = query.filter(audit_events::target_user_id.eq(user.to_string()));
    }
    if let Some(since) = filter.since_millis {
        query = query.filter(audit_events::created_at_millis.ge(since));
    }
    if let Some(until) = filter.until_millis {
        query = query.filter(audit_events::created_at_millis.lt(until));
    }
    if let Some(after) = after {
        query = query.filter(
            audit_events::created_at_millis
                .lt(after.created_at_millis)
                .or(audit_events::created_at_millis
                    .eq(after.created_at_millis)
                    .and(audit_events::id.lt(after.id.to_string()))),
        );
    }
    query
        .order((
            audit_events::created_at_millis.desc(),
            audit_events::id.desc(),
        ))
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select(AuditEventRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AuditEventRecord::try_from)
        .collect()
}

/// Deletes at most `batch` of the oldest events (of every project) made before `before`;
/// returns how many it deleted. Called repeatedly until it deletes fewer than `batch`, so one
/// statement never holds a lock over a huge range.
pub fn delete_older_than(
    conn: &mut DbConnection,
    before: EpochMillis,
    batch: u32,
) -> Result<usize, StorageError> {
    let ids: Vec<String> = audit_events::table
        .filter(audit_events::created_at_millis.lt(before))
        .order(audit_events::created_at_millis.asc())
        .select(audit_events::id)
        .limit(i64::from(batch))
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(audit_events::table.filter(audit_events::id.eq_any(ids))).execute(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::insert_project;

    fn event(project: ProjectId, action: &str, at: EpochMillis) -> AuditEventRecord {
        AuditEventRecord {
            id: Uuid::new_v4(),
            project_id: project,
            created_at_millis: at,
            action: action.to_owned(),
            object_type: action.split('.').next().unwrap_or_default().to_owned(),
            object_id: Uuid::new_v4().to_string(),
            actor_type: "server".to_owned(),
            actor_user_id: None,
            actor_label: Some("secret server key …abcd".to_owned()),
            target_user_id: Some(UserId::new_random()),
            request_id: Some("0123456789abcdef0123456789abcdef".to_owned()),
            client_address: Some("192.0.2.7".to_owned()),
            metadata: r#"{"description":"ci"}"#.to_owned(),
        }
    }

    crate::backend_tests! {
        fn events_round_trip_and_list_newest_first_in_pages(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let other = insert_project(&mut conn).id;
            let events: Vec<AuditEventRecord> = (0..5)
                .map(|i| event(project, "user_api_key.created", 100 + i))
                .collect();
            for e in &events {
                insert(&mut conn, e).unwrap();
            }
            insert(&mut conn, &event(other, "user_api_key.created", 50)).unwrap();

            let all = list_page(&mut conn, project, &AuditFilter::default(), None, 10).unwrap();
            let newest_first: Vec<_> = events.iter().rev().cloned().collect();
            assert_eq!(all, newest_first, "every field round-trips; other projects left out");

            let first = list_page(&mut conn, project, &AuditFilter::default(), None, 2).unwrap();
            let after = AuditPosition::of(first.last().unwrap());
            let second =
                list_page(&mut conn, project, &AuditFilter::default(), Some(after), 2).unwrap();
            assert_eq!([first, second].concat(), newest_first[..4].to_vec());
        }

        fn every_filter_narrows(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            let created = event(project, "user_api_key.created", 100);
            let revoked = AuditEventRecord {
                actor_type: "user".to_owned(),
                actor_user_id: Some(UserId::new_random()),
                ..event(project, "user_api_key.revoked", 200)
            };
            let team = event(project, "team_api_key.created", 300);
            for e in [&created, &revoked, &team] {
                insert(&mut conn, e).unwrap();
            }
            let listed = |conn: &mut DbConnection, filter: AuditFilter| {
                list_page(conn, project, &filter, None, 10)
                    .unwrap()
                    .into_iter()
                    .map(|e| e.id)
                    .collect::<Vec<_>>()
            };
            let cases = [
                (AuditFilter { action: Some("user_api_key.revoked".into()), ..AuditFilter::default() }, vec![revoked.id]),
                (AuditFilter { object_type: Some("team_api_key".into()), ..AuditFilter::default() }, vec![team.id]),
                (AuditFilter { object_id: Some(created.object_id.clone()), ..AuditFilter::default() }, vec![created.id]),
                (AuditFilter { actor_type: Some("user".into()), ..AuditFilter::default() }, vec![revoked.id]),
                (AuditFilter { actor_user_id: revoked.actor_user_id, ..AuditFilter::default() }, vec![revoked.id]),
                (AuditFilter { target_user_id: team.target_user_id, ..AuditFilter::default() }, vec![team.id]),
                (AuditFilter { since_millis: Some(200), until_millis: Some(300), ..AuditFilter::default() }, vec![revoked.id]),
            ];
            for (filter, expected) in cases {
                assert_eq!(listed(&mut conn, filter.clone()), expected, "{filter:?}");
            }
        }

        fn retention_deletes_the_oldest_in_batches(db) {
            let mut conn = db.conn();
            let project = insert_project(&mut conn).id;
            for at in [10, 20, 30, 40] {
                insert(&mut conn, &event(project, "project.updated", at)).unwrap();
            }
            assert_eq!(delete_older_than(&mut conn, 35, 2).unwrap(), 2);
            assert_eq!(delete_older_than(&mut conn, 35, 2).unwrap(), 1);
            assert_eq!(delete_older_than(&mut conn, 35, 2).unwrap(), 0);
            let left = list_page(&mut conn, project, &AuditFilter::default(), None, 10).unwrap();
            assert_eq!(left.iter().map(|e| e.created_at_millis).collect::<Vec<_>>(), vec![40]);
        }
    }
}
