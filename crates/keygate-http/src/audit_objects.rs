//! The audit-log JSON and its list cursor, shared by `GET /api/v1/internal/audit-log` and the
//! `keygate audit` command, so both print the same events and take the same cursors.

use std::fmt;

use keygate_service::records::{AuditEventRecord, AuditPosition};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page_cursor;
use crate::validation::{FieldContext, FieldValue, Rejection};

/// An opaque cursor (`crate::page_cursor`): the position of the last event of the previous page.
#[derive(Debug, Clone, Copy)]
pub struct AuditCursor(pub AuditPosition);

impl AuditCursor {
    /// The cursor's text.
    pub fn encode(position: AuditPosition) -> String {
        page_cursor::encode(position.created_at_millis, &position.id.to_string())
    }

    /// The position `text` names, if it is a cursor keygate handed out.
    pub fn decode(text: &str) -> Option<AuditPosition> {
        let (created_at_millis, id) = page_cursor::decode(text).ok()?;
        Some(AuditPosition {
            created_at_millis,
            id: Uuid::try_parse(&id).ok()?,
        })
    }
}

impl fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Self::encode(self.0))
    }
}

impl FieldValue for AuditCursor {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        AuditCursor(AuditPosition {
            created_at_millis: 0,
            id: Uuid::nil(),
        })
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        Self::from_text(value.as_str().ok_or(Rejection::NotType)?, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Self::decode(text)
            .map(AuditCursor)
            .ok_or_else(|| Rejection::Invalid(page_cursor::NOT_A_CURSOR.to_owned()))
    }
}

/// One event on the wire.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = AuditEvent,
    description = "One recorded change: what (`action`, dotted), to which object, who (`actor_*`), when and from where (`request_id`, `client_address`), and non-secret facts (`metadata`). Absent values are `null`."
)]
pub(crate) struct AuditEventObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    created_at_millis: i64,
    action: &'a str,
    object_type: &'a str,
    object_id: &'a str,
    actor_type: &'a str,
    actor_user_id: Option<String>,
    actor_label: Option<&'a str>,
    target_user_id: Option<String>,
    request_id: Option<&'a str>,
    client_address: Option<&'a str>,
    #[schema(value_type = Object)]
    metadata: Value,
}

impl<'a> AuditEventObject<'a> {
    fn new(event: &'a AuditEventRecord) -> Self {
        AuditEventObject {
            id: event.id.to_string(),
            created_at_millis: event.created_at_millis,
            action: &event.action,
            object_type: &event.object_type,
            object_id: &event.object_id,
            actor_type: &event.actor_type,
            actor_user_id: event.actor_user_id.map(|id| id.to_string()),
            actor_label: event.actor_label.as_deref(),
            target_user_id: event.target_user_id.map(|id| id.to_string()),
            request_id: event.request_id.as_deref(),
            client_address: event.client_address.as_deref(),
            // Written by keygate as an object; anything else is shown as an empty one.
            metadata: serde_json::from_str(&event.metadata)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEventList, description = "A page of audit events, newest first.")]
pub struct AuditEventList<'a> {
    items: Vec<AuditEventObject<'a>>,
    is_paginated: bool,
    pagination: Pagination,
}

/// Where the next page starts; `null` on the last page.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditPagination)]
struct Pagination {
    next_cursor: Option<String>,
}

/// A page of `events`: upstream's paginated shape, `next` the position after its last event
/// (`None` on the last page).
pub fn audit_page(events: &[AuditEventRecord], next: Option<AuditPosition>) -> AuditEventList<'_> {
    AuditEventList {
        items: events.iter().map(AuditEventObject::new).collect(),
        is_paginated: true,
        pagination: Pagination {
            next_cursor: next.map(AuditCursor::encode),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let position = AuditPosition {
            created_at_millis: 1_745_000_000_123,
            id: Uuid::new_v4(),
        };
        assert_eq!(
            AuditCursor::decode(&AuditCursor::encode(position)),
            Some(position)
        );
        assert_eq!(AuditCursor::decode("x"), None);
        assert_eq!(AuditCursor::decode("MTIzLm5vdC1hLXV1aWQ"), None);
    }
}
