//! `GET /api/v1/team-invitations?team_id=` (a team's outstanding invitations) and
//! `?user_id=` (those a user received), as upstream's team page reads them.
//!
//! Key decision: keygate has no invitations — members are added by a server
//! (`POST /team-memberships/{team_id}/{user_id}`) — so both lists are always empty. They still
//! answer only whom upstream answers: exactly one of `team_id` and `user_id`; for a team, a
//! client must be a member holding `$read_members` and `$invite_members`, and the team must
//! exist; for a user, a client must ask about itself, and the user must exist.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::TeamId;
use serde_json::Value;

use super::identity_objects::ListObject;
use crate::auth::RequestAuth;
use crate::responses::json_list_response;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{RequestCheck, UserIdOrMe};
use crate::wire_error::{ApiError, PlainError};

/// Registers the route.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/team-invitations")
        .get(list_invitations)
        .register();
}

/// `GET /api/v1/team-invitations?team_id=` or `?user_id=`.
async fn list_invitations(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|o| {
        (
            o.field::<TeamId>("team_id").optional(),
            o.field::<UserIdOrMe>("user_id").optional(),
        )
    });
    let service = state.service();
    match check.finish(query)? {
        (Some(_), Some(_)) => return Err(PlainError::invitations_by_team_and_user().into()),
        (None, None) => return Err(PlainError::invitations_need_team_or_user().into()),
        (Some(team_id), None) => {
            service
                .authorize_team_invitations_list(auth.actor(), team_id)
                .await?
        }
        (None, Some(user_id)) => {
            service
                .authorize_received_invitations_list(auth.actor(), user_id.0)
                .await?
        }
    }
    json_list_response(StatusCode::OK, &ListObject::<Value>::new(Vec::new()))
}

#[cfg(test)]
mod tests;
