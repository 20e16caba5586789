//! Team permissions of members, as upstream's `teamPermissionsCrud`:
//!
//! * `POST /api/v1/team-permissions/{team_id}/{user_id}/{permission_id}` (server, admin; body
//!   `{}`) grants a defined permission to a member → `201 {id, team_id, user_id}`; granting it
//!   again changes nothing;
//! * `DELETE` on the same path takes a directly granted permission back;
//! * `GET /api/v1/team-permissions?team_id=&user_id=&permission_id=&recursive=` lists what
//!   members hold — directly, or with `recursive=true` everything their grants contain
//!   (resolved by `keygate_permissions::PermissionCatalogue`). Clients may list only their own
//!   (`user_id=me`).
//!
//! Items are `{id, team_id, user_id}`, ordered by team, user and permission id, as upstream.
//! The handlers validate the request and shape the answer; the use cases are
//! `keygate_service::team_permissions`'.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::TeamId;
use keygate_permissions::{authorize_identity, IdentityAction};
use keygate_service::team_permissions::PermissionQuery;

use super::identity_fields::{PermissionIdField, TextFlag};
use super::identity_objects::{ListObject, TeamPermissionObject, SUCCESS};
use crate::auth::RequestAuth;
use crate::request_body::RequestBody;
use crate::responses::{json_list_response, json_response};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{Pending, RequestCheck, UserIdOrMe};
use crate::wire_error::ApiError;

/// Registers the team permission routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/team-permissions")
        .get(list_team_permissions)
        .register();
    routes
        .resource("/api/v1/team-permissions/{team_id}/{user_id}/{permission_id}")
        .post(grant_team_permission)
        .delete(revoke_team_permission)
        .register();
}

type GrantParams = (TeamId, UserIdOrMe, PermissionIdField);

fn grant_params(check: &mut RequestCheck) -> Pending<GrantParams> {
    check.params(|o| {
        (
            o.field::<TeamId>("team_id").required(),
            o.field::<UserIdOrMe>("user_id").required(),
            o.field::<PermissionIdField>("permission_id").required(),
        )
    })
}

/// `POST /api/v1/team-permissions/{team_id}/{user_id}/{permission_id}`.
async fn grant_team_permission(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::GrantTeamPermission, None)?;
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let body = check.body(&body, |_| ());
    let params = grant_params(&mut check);
    let query = check.query(|_| ());
    let ((), (team_id, user_id, permission_id), ()) = check.finish((body, params, query))?;
    let held = state
        .service()
        .grant_team_permission(auth.actor(), team_id, user_id.0, permission_id.0)
        .await?;
    json_response(StatusCode::CREATED, &TeamPermissionObject::new(&held))
}

/// `DELETE /api/v1/team-permissions/{team_id}/{user_id}/{permission_id}`.
async fn revoke_team_permission(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::RevokeTeamPermission, None)?;
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = grant_params(&mut check);
    let query = check.query(|_| ());
    let ((team_id, user_id, permission_id), ()) = check.finish((params, query))?;
    state
        .service()
        .revoke_team_permission(auth.actor(), team_id, user_id.0, permission_id.0)
        .await?;
    json_response(StatusCode::OK, &SUCCESS)
}

/// `GET /api/v1/team-permissions`.
async fn list_team_permissions(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|o| PermissionQuery {
        team_id: o.field::<TeamId>("team_id").optional(),
        user_id: o
            .field::<UserIdOrMe>("user_id")
            .optional()
            .map(|user| user.0),
        permission_id: o
            .field::<PermissionIdField>("permission_id")
            .optional()
            .map(|permission| permission.0),
        recursive: o
            .field::<TextFlag>("recursive")
            .optional()
            .is_some_and(|flag| flag.0),
    });
    let query = check.finish(query)?;
    let held = state
        .service()
        .list_team_permissions(auth.actor(), query)
        .await?;
    let items = held.iter().map(TeamPermissionObject::new).collect();
    json_list_response(StatusCode::OK, &ListObject::new(items))
}

#[cfg(test)]
mod tests;
