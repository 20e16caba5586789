//! `GET /api/v1/internal/keys`: a project's user and team API keys across owners, for its
//! operator (keygate's own route; upstream has none).
//!
//! **Callers** are those of the project's credential routes (`super::projects`): admin access
//! to the project, or the operator token with `x-stack-project-id`; client and server access
//! are refused with `INSUFFICIENT_ACCESS_TYPE`, no caller with `ACCESS_TYPE_REQUIRED`.
//!
//! **Query** (every parameter optional, validated with upstream's `SCHEMA_ERROR`): `user_id` or
//! `team_id` (one owner, not both), `state` (`valid`, `revoked` or `expired`, judged by the
//! domain's one rule at the server's clock: revocation before expiry), `last_used_before` (epoch
//! ms; keys never used included; the stored instant, written in batches), `limit` (1 to
//! `limits.max_page_size`, default the largest) and `cursor` (a previous page's `next_cursor`).
//!
//! **Answer**: always a page, upstream's paginated shape `{"items", "is_paginated": true,
//! "pagination": {"next_cursor"}}`, newest first, each item the user/team key read object
//! (`super::api_keys::wire`), `next_cursor` `null` on the last page. The use case is
//! `keygate_service::operator_keys`.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::{Owner, TeamId, UserId};
use keygate_service::operator_keys::{KeyFilter, KeyState};
use serde_json::Value;

use super::api_keys::input::ListCursor;
use super::api_keys::wire::list_object;
use super::projects::managed_project;
use crate::page_cursor;
use crate::responses::json_list_response;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{FieldContext, FieldValue, Rejection, RequestCheck};
use crate::wire_error::ApiError;

/// The route's path.
pub const PATH: &str = "/api/v1/internal/keys";

/// Registers the route.
pub fn configure(routes: &mut Routes<'_>) {
    routes.resource(PATH).get(list).register();
}

/// The `state` parameter: one of [`StateParam::ALL`], by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StateParam(KeyState);

impl StateParam {
    const ALL: [StateParam; 3] = [
        StateParam(KeyState::ALL[0]),
        StateParam(KeyState::ALL[1]),
        StateParam(KeyState::ALL[2]),
    ];

    fn name(self) -> &'static str {
        self.0.name()
    }
}

impl fmt::Display for StateParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FieldValue for StateParam {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        StateParam(KeyState::Valid)
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        Self::from_text(value.as_str().ok_or(Rejection::NotType)?, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Self::ALL
            .into_iter()
            .find(|state| state.name() == text)
            .ok_or_else(|| {
                Rejection::Invalid(
                    "must be one of the following values: valid, revoked, expired".to_owned(),
                )
            })
    }
}

/// `GET /api/v1/internal/keys`.
async fn list(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let query = check.query(|o| {
        let user = o.field::<UserId>("user_id").optional();
        let team = o.field::<TeamId>("team_id").optional();
        let key_state = o.field::<StateParam>("state").optional();
        let last_used_before = o.field::<i64>("last_used_before").optional();
        let limit = page_cursor::read_page_size(o);
        let cursor = o.field::<ListCursor>("cursor").optional();
        (user, team, key_state, last_used_before, limit, cursor)
    });
    let (user, team, key_state, last_used_before, limit, cursor) = check.finish(query)?;
    let owner = match (user, team) {
        (Some(_), Some(_)) => {
            return Err(ApiError::schema(
                "At most one of user_id and team_id may be given.",
            ))
        }
        (Some(user), None) => Some(Owner::User(user)),
        (None, Some(team)) => Some(Owner::Team(team)),
        (None, None) => None,
    };
    let filter = KeyFilter {
        owner,
        state: key_state.map(|state| state.0),
        last_used_before,
    };
    let list = state
        .service()
        .list_project_keys(project.id, filter, limit, cursor.map(|cursor| cursor.0))
        .await?;
    json_list_response(
        StatusCode::OK,
        &list_object(
            &list.keys,
            &list.last_used,
            Some(list.next.map(ListCursor::encode)),
            // Admin access or the operator: the whole key object.
            keygate_permissions::AccessType::Admin,
        ),
    )
}

#[cfg(test)]
mod tests;
