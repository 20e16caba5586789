//! Webhooks: a project's endpoints, and the deliveries of events to them with their log.
//!
//! A delivery is written in the transaction of the change it reports (deduplicated by its
//! `dedupe_key`), then claimed, sent and recorded by a worker like the notification outbox
//! (`super::notification_outbox`), with one difference: a claim whose lease ran out with no
//! outcome is claimed again — webhooks are delivered at least once, and receivers deduplicate by
//! the delivery id (`webhook-id`), which every attempt of one delivery shares.

use diesel::prelude::*;
use keygate_domain::{EpochMillis, ProjectId};
use uuid::Uuid;

use crate::connection::DbConnection;
use crate::error::StorageError;
use crate::schema::{webhook_deliveries, webhook_endpoints};
use crate::stored::parse_id;

/// A project's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpointRecord {
    /// The endpoint's id.
    pub id: Uuid,
    /// Its project.
    pub project_id: ProjectId,
    /// Where events are POSTed.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// The event types it receives; empty means all.
    pub event_types: Vec<String>,
    /// Whether deliveries to it are paused (none are queued while it is).
    pub disabled: bool,
    /// When it was created.
    pub created_at_millis: EpochMillis,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = webhook_endpoints, treat_none_as_default_value = false)]
struct EndpointRow {
    id: String,
    project_id: String,
    url: String,
    description: String,
    event_types: String,
    disabled: bool,
    created_at_millis: i64,
}

impl From<&WebhookEndpointRecord> for EndpointRow {
    fn from(endpoint: &WebhookEndpointRecord) -> Self {
        EndpointRow {
            id: endpoint.id.to_string(),
            project_id: endpoint.project_id.to_string(),
            url: endpoint.url.clone(),
            description: endpoint.description.clone(),
            event_types: endpoint.event_types.join(","),
            disabled: endpoint.disabled,
            created_at_millis: endpoint.created_at_millis,
        }
    }
}

impl TryFrom<EndpointRow> for WebhookEndpointRecord {
    type Error = StorageError;

    fn try_from(row: EndpointRow) -> Result<Self, StorageError> {
        Ok(WebhookEndpointRecord {
            id: parse_id("webhook_endpoints.id", &row.id)?,
            project_id: parse_id("webhook_endpoints.project_id", &row.project_id)?,
            url: row.url,
            description: row.description,
            event_types: row
                .event_types
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect(),
            disabled: row.disabled,
            created_at_millis: row.created_at_millis,
        })
    }
}

/// Stores a new endpoint (an unknown project is [`StorageError::ForeignKeyViolation`]).
pub fn insert_endpoint(
    conn: &mut DbConnection,
    endpoint: &WebhookEndpointRecord,
) -> Result<(), StorageError> {
    diesel::insert_into(webhook_endpoints::table)
        .values(EndpointRow::from(endpoint))
        .execute(conn)?;
    Ok(())
}

fn endpoint_row(
    project: ProjectId,
    id: Uuid,
) -> diesel::dsl::Filter<
    diesel::dsl::Filter<
        webhook_endpoints::table,
        diesel::dsl::Eq<webhook_endpoints::project_id, String>,
    >,
    diesel::dsl::Eq<webhook_endpoints::id, String>,
> {
    webhook_endpoints::table
        .filter(webhook_endpoints::project_id.eq(project.to_string()))
        .filter(webhook_endpoints::id.eq(id.to_string()))
}

/// The endpoint `id` of `project`, if it has one.
pub fn get_endpoint(
    conn: &mut DbConnection,
    project: ProjectId,
    id: Uuid,
) -> Result<Option<WebhookEndpointRecord>, StorageError> {
    endpoint_row(project, id)
        .select(EndpointRow::as_select())
        .get_result(conn)
        .optional()?
        .map(WebhookEndpointRecord::try_from)
        .transpose()
}

/// Every endpoint of `project`, oldest first (at most `limit`).
pub fn list_endpoints(
    conn: &mut DbConnection,
    project: ProjectId,
    limit: u32,
) -> Result<Vec<WebhookEndpointRecord>, StorageError> {
    webhook_endpoints::table
        .filter(webhook_endpoints::project_id.eq(project.to_string()))
        .order((
            webhook_endpoints::created_at_millis.asc(),
            webhook_endpoints::id.asc(),
        ))
        .limit(i64::from(limit))
        .select(EndpointRow::as_select())
        .load(conn)?
        .into_iter()
        .map(WebhookEndpointRecord::try_from)
        .collect()
}

/// How many endpoints `project` has.
pub fn count_endpoints(conn: &mut DbConnection, project: ProjectId) -> Result<u64, StorageError> {
    let count: i64 = webhook_endpoints::table
        .filter(webhook_endpoints::project_id.eq(project.to_string()))
        .count()
        .get_result(conn)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Replaces the stored endpoint with `endpoint` (same project and id); [`StorageError::NotFound`]
/// if there is none.
pub fn update_endpoint(
    conn: &mut DbConnection,
    endpoint: &WebhookEndpointRecord,
) -> Result<(), StorageError> {
    let updated = diesel::update(endpoint_row(endpoint.project_id, endpoint.id))
        .set(EndpointRow::from(endpoint))
        .execute(conn)?;
    if updated == 0 {
        return Err(StorageError::NotFound {
            entity: "webhook endpoint",
        });
    }
    Ok(())
}

/// Deletes the endpoint with its deliveries; [`StorageError::NotFound`] if there is none.
pub fn delete_endpoint(
    conn: &mut DbConnection,
    project: ProjectId,
    id: Uuid,
) -> Result<(), StorageError> {
    let deleted = diesel::delete(endpoint_row(project, id)).execute(conn)?;
    if deleted == 0 {
        return Err(StorageError::NotFound {
            entity: "webhook endpoint",
        });
    }
    Ok(())
}

/// One event for one endpoint, with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDeliveryRecord {
    /// The delivery's id: the `webhook-id` of every attempt.
    pub id: String,
    /// Its project.
    pub project_id: ProjectId,
    /// The endpoint it goes to.
    pub endpoint_id: Uuid,
    /// Keeps one event from being queued twice for one endpoint.
    pub dedupe_key: String,
    /// The event type, e.g. `user_api_key.revoked`.
    pub event_type: String,
    /// The JSON body sent.
    pub payload: String,
    /// When it was queued.
    pub created_at_millis: EpochMillis,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it is due (again).
    pub next_attempt_at_millis: EpochMillis,
    /// When its last attempt was claimed, while that attempt has no outcome.
    pub claimed_at_millis: Option<EpochMillis>,
    /// When the endpoint accepted it (a 2xx).
    pub delivered_at_millis: Option<EpochMillis>,
    /// When it was given up.
    pub failed_at_millis: Option<EpochMillis>,
    /// The HTTP status of the last attempt, if one came back.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries, treat_none_as_default_value = false)]
struct DeliveryRow {
    id: String,
    project_id: String,
    endpoint_id: String,
    dedupe_key: String,
    event_type: String,
    payload: String,
    created_at_millis: i64,
    attempts: i32,
    next_attempt_at_millis: i64,
    claimed_at_millis: Option<i64>,
    delivered_at_millis: Option<i64>,
    failed_at_millis: Option<i64>,
    last_status: Option<i32>,
    last_error: Option<String>,
}

impl From<&WebhookDeliveryRecord> for DeliveryRow {
    fn from(delivery: &WebhookDeliveryRecord) -> Self {
        DeliveryRow {
            id: delivery.id.clone(),
            project_id: delivery.project_id.to_string(),
            endpoint_id: delivery.endpoint_id.to_string(),
            dedupe_key: delivery.dedupe_key.clone(),
            event_type: delivery.event_type.clone(),
            payload: delivery.payload.clone(),
            created_at_millis: delivery.created_at_millis,
            attempts: i32::try_from(delivery.attempts).unwrap_or(i32::MAX),
            next_attempt_at_millis: delivery.next_attempt_at_millis,
            claimed_at_millis: delivery.claimed_at_millis,
            delivered_at_millis: delivery.delivered_at_millis,
            failed_at_millis: delivery.failed_at_millis,
            last_status: delivery.last_status.map(i32::from),
            last_error: delivery.last_error.clone(),
        }
    }
}

impl TryFrom<DeliveryRow> for WebhookDeliveryRecord {
    type Error = StorageError;

    fn try_from(row: DeliveryRow) -> Result<Self, StorageError> {
        Ok(WebhookDeliveryRecord {
            id: row.id,
            project_id: parse_id("webhook_deliveries.project_id", &row.project_id)?,
            endpoint_id: parse_id("webhook_deliveries.endpoint_id", &row.endpoint_id)?,
            dedupe_key: row.dedupe_key,
            event_type: row.event_type,
            payload: row.payload,
            created_at_millis: row.created_at_millis,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at_millis: row.next_attempt_at_millis,
            claimed_at_millis: row.claimed_at_millis,
            delivered_at_millis: row.delivered_at_millis,
            failed_at_millis: row.failed_at_millis,
            last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.last_error,
        })
    }
}

/// Queues `delivery` unless one with its `dedupe_key` is queued already; returns whether this
/// call queued it.
pub fn insert_delivery(
    conn: &mut DbConnection,
    delivery: &WebhookDeliveryRecord,
) -> Result<bool, StorageError> {
    let row = DeliveryRow::from(delivery);
    // The multi-backend connection has no ON CONFLICT support, but both backends do.
    let inserted = match conn {
        DbConnection::Sqlite(conn) => diesel::insert_into(webhook_deliveries::table)
            .values(&row)
            .on_conflict(webhook_deliveries::dedupe_key)
            .do_nothing()
            .execute(conn)?,
        DbConnection::Postgres(conn) => diesel::insert_into(webhook_deliveries::table)
            .values(&row)
            .on_conflict(webhook_deliveries::dedupe_key)
            .do_nothing()
            .execute(conn)?,
    };
    Ok(inserted == 1)
}

/// A delivery claimed for one attempt, with where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// The delivery (its `attempts` counts this one).
    pub delivery: WebhookDeliveryRecord,
    /// The endpoint's URL.
    pub url: String,
}

/// Claims up to `limit` due deliveries (`next_attempt_at_millis <= now`, neither delivered nor
/// failed) of enabled endpoints, oldest first, for one attempt each: their attempt count goes
/// up and they are not due again until `now + lease_millis`. On Postgres the rows are read
/// `FOR UPDATE SKIP LOCKED`, so nodes sharing the database claim different deliveries; the
/// update re-checks that each is still due.
pub fn claim_due_deliveries(
    conn: &mut DbConnection,
    now: EpochMillis,
    lease_millis: i64,
    limit: u32,
) -> Result<Vec<ClaimedDelivery>, StorageError> {
    use webhook_deliveries::dsl as d;
    conn.in_transaction(|conn| {
        let enabled = webhook_endpoints::table
            .filter(webhook_endpoints::disabled.eq(false))
            .select(webhook_endpoints::id);
        let due = d::webhook_deliveries
            .filter(d::delivered_at_millis.is_null())
            .filter(d::failed_at_millis.is_null())
            .filter(d::next_attempt_at_millis.le(now))
            .filter(d::endpoint_id.eq_any(enabled))
            .order((d::next_attempt_at_millis.asc(), d::id.asc()))
            .limit(i64::from(limit))
            .select(d::id);
        let ids: Vec<String> = match conn {
            DbConnection::Sqlite(conn) => due.load(conn)?,
            DbConnection::Postgres(conn) => due.for_update().skip_locked().load(conn)?,
        };
        diesel::update(
            d::webhook_deliveries
                .filter(d::id.eq_any(&ids))
                .filter(d::delivered_at_millis.is_null())
                .filter(d::failed_at_millis.is_null())
                .filter(d::next_attempt_at_millis.le(now)),
        )
        .set((
            d::claimed_at_millis.eq(Some(now)),
            d::attempts.eq(d::attempts + 1),
            d::next_attempt_at_millis.eq(now.saturating_add(lease_millis)),
        ))
        .execute(conn)?;
        // The rows this transaction just claimed (locked by it on Postgres; SQLite has one
        // writer), read back.
        let claimed: Vec<DeliveryRow> = d::webhook_deliveries
            .filter(d::id.eq_any(&ids))
            .filter(d::claimed_at_millis.eq(Some(now)))
            .filter(d::next_attempt_at_millis.eq(now.saturating_add(lease_millis)))
            .select(DeliveryRow::as_select())
            .load(conn)?;
        let mut out = Vec::with_capacity(claimed.len());
        for row in claimed {
            let delivery = WebhookDeliveryRecord::try_from(row)?;
            let url = webhook_endpoints::table
                .filter(webhook_endpoints::id.eq(delivery.endpoint_id.to_string()))
                .select(webhook_endpoints::url)
                .get_result(conn)?;
            out.push(ClaimedDelivery { delivery, url });
        }
        out.sort_by_key(|c| (c.delivery.created_at_millis, c.delivery.id.clone()));
        Ok(out)
    })
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The endpoint answered 2xx with this status.
    Delivered {
        /// The status.
        status: u16,
    },
    /// It did not; try again at `at`.
    RetryAt {
        /// When the delivery is due again.
        at: EpochMillis,
        /// The status, if an answer came.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
    /// It did not, and this was the last attempt.
    Failed {
        /// The status, if an answer came.
        status: Option<u16>,
        /// What went wrong.
        error: String,
    },
}

/// Records how the attempt on the delivery `id` ended, at `now`, and releases its claim.
pub fn record_delivery_outcome(
    conn: &mut DbConnection,
    id: &str,
    outcome: &DeliveryOutcome,
    now: EpochMillis,
) -> Result<(), StorageError> {
    use webhook_deliveries::dsl as d;
    let row = d::webhook_deliveries.filter(d::id.eq(id));
    let released = d::claimed_at_millis.eq(None::<i64>);
    match outcome {
        DeliveryOutcome::Delivered { status } => diesel::update(row)
            .set((
                d::delivered_at_millis.eq(Some(now)),
                released,
                d::last_status.eq(Some(i32::from(*status))),
                d::last_error.eq(None::<String>),
            ))
            .execute(conn)?,
        DeliveryOutcome::RetryAt { at, status, error } => diesel::update(row)
            .set((
                d::next_attempt_at_millis.eq(*at),
                released,
                d::last_status.eq(status.map(i32::from)),
                d::last_error.eq(Some(error)),
            ))
            .execute(conn)?,
        DeliveryOutcome::Failed { status, error } => diesel::update(row)
            .set((
                d::failed_at_millis.eq(Some(now)),
                released,
                d::last_status.eq(status.map(i32::from)),
                d::last_error.eq(Some(error)),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// Where a page of deliveries ends: the last one's instant and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPosition {
    /// The last listed delivery's `created_at_millis`.
    pub created_at_millis: EpochMillis,
    /// The last listed delivery's id.
    pub id: String,
}

/// At most `limit` deliveries to the endpoint `endpoint` of `project`, newest first (ties by
/// id, descending), starting right after `after`.
pub fn list_deliveries(
    conn: &mut DbConnection,
    project: ProjectId,
    endpoint: Uuid,
    after: Option<&DeliveryPosition>,
    limit: usize,
) -> Result<Vec<WebhookDeliveryRecord>, StorageError> {
    use webhook_deliveries::dsl as d;
    let mut query = d::webhook_deliveries
        .filter(d::project_id.eq(project.to_string()))
        .filter(d::endpoint_id.eq(endpoint.to_string()))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(
            d::created_at_millis
                .lt(after.created_at_millis)
                .or(d::created_at_millis
                    .eq(after.created_at_millis)
                    .and(d::id.lt(after.id.clone()))),
        );
    }
    query
        .order((d::created_at_millis.desc(), d::id.desc()))
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select(DeliveryRow::as_select())
        .load(conn)?
        .into_iter()
        .map(WebhookDeliveryRecord::try_from)
        .collect()
}

#[cfg(test)]
mod tests;
