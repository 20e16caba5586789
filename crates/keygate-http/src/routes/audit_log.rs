//! `GET /api/v1/internal/audit-log`: a project's audit log, newest first (contract A7; the use
//! case and what is recorded are `keygate_service::audit`).
//!
//! **Callers** are those of the project's credential routes (`super::projects`): admin access
//! to the project, or the operator token with `x-stack-project-id`.
//!
//! **Query** (every parameter optional, validated with upstream's `SCHEMA_ERROR`): `action` (a
//! dotted action name), `object_type`, `object_id`, `actor_type` (`user`, `client`, `server`,
//! `admin`, `operator`, `scanner`, `system`), `actor_user_id`, `target_user_id`, `since_millis`
//! (inclusive), `until_millis` (exclusive), `limit` (1 to `limits.max_page_size`, default the
//! largest) and `cursor` (a previous page's `next_cursor`).
//!
//! **Answer**: upstream's paginated shape `{"items", "is_paginated": true, "pagination":
//! {"next_cursor"}}`; each item is `{id, created_at_millis, action, object_type, object_id,
//! actor_type, actor_user_id, actor_label, target_user_id, request_id, client_address,
//! metadata}`, absent values as `null`, `metadata` an object.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::UserId;
use keygate_service::audit::{ActorType, AuditAction};
use keygate_service::records::AuditFilter;
use serde_json::Value;

use super::projects::managed_project;
use crate::audit_objects::{audit_page, AuditCursor};
use crate::page_cursor;
use crate::responses::json_list_response;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{FieldContext, FieldValue, Rejection, RequestCheck};
use crate::wire_error::ApiError;

/// The route's path.
pub const PATH: &str = "/api/v1/internal/audit-log";

/// Registers the route.
pub fn configure(routes: &mut Routes<'_>) {
    routes.resource(PATH).get(list).register();
}

/// A parameter whose value is one of a fixed set of names.
trait NamedValue: Copy + 'static {
    /// Every value.
    fn all() -> &'static [Self];
    /// The value's name.
    fn name(self) -> &'static str;
}

impl NamedValue for AuditAction {
    fn all() -> &'static [Self] {
        &AuditAction::ALL
    }
    fn name(self) -> &'static str {
        AuditAction::name(self)
    }
}

impl NamedValue for ActorType {
    fn all() -> &'static [Self] {
        &ActorType::ALL
    }
    fn name(self) -> &'static str {
        ActorType::name(self)
    }
}

/// A query parameter naming one of `T`'s values.
#[derive(Debug, Clone, Copy)]
struct Named<T>(T);

impl<T: NamedValue> fmt::Display for Named<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl<T: NamedValue + fmt::Debug> FieldValue for Named<T> {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        Named(T::all()[0])
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        Self::from_text(value.as_str().ok_or(Rejection::NotType)?, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        T::all()
            .iter()
            .copied()
            .find(|value| value.name() == text)
            .map(Named)
            .ok_or_else(|| {
                let names: Vec<&str> = T::all().iter().map(|value| value.name()).collect();
                Rejection::Invalid(format!(
                    "must be one of the following values: {}",
                    names.join(", ")
                ))
            })
    }
}

/// `GET /api/v1/internal/audit-log`.
async fn list(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let query = check.query(|o| {
        let filter = AuditFilter {
            action: o
                .field::<Named<AuditAction>>("action")
                .optional()
                .map(|action| action.0.name().to_owned()),
            object_type: o.field::<String>("object_type").optional(),
            object_id: o.field::<String>("object_id").optional(),
            actor_type: o
                .field::<Named<ActorType>>("actor_type")
                .optional()
                .map(|actor| actor.0.name().to_owned()),
            actor_user_id: o.field::<UserId>("actor_user_id").optional(),
            target_user_id: o.field::<UserId>("target_user_id").optional(),
            since_millis: o.field::<i64>("since_millis").optional(),
            until_millis: o.field::<i64>("until_millis").optional(),
        };
        let limit = page_cursor::read_page_size(o);
        let cursor = o.field::<AuditCursor>("cursor").optional();
        (filter, limit, cursor)
    });
    let (filter, limit, cursor) = check.finish(query)?;
    let page = state
        .service()
        .list_audit_events(project.id, filter, limit, cursor.map(|cursor| cursor.0))
        .await?;
    json_list_response(StatusCode::OK, &audit_page(&page.events, page.next))
}

#[cfg(test)]
mod tests;
