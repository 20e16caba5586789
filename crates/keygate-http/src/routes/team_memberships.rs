//! Team memberships, as upstream's `teamMembershipsCrud`:
//!
//! * `POST /api/v1/team-memberships/{team_id}/{user_id}` (server, admin; body `{}`) adds the
//!   user with the member defaults (`team_member`) and answers `201 {team_id, user_id}`;
//! * `DELETE` on the same path removes the membership with the member's grants there, and clears
//!   the team as the user's selected team. Clients may remove themselves, and others only with
//!   `$remove_members` (decided by `keygate_permissions`).
//!
//! The use cases are [`keygate_service::memberships`]'s; this module reads the request and
//! shapes the answer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::TeamId;
use keygate_permissions::{authorize_identity, IdentityAction};

use super::identity_objects::{MembershipObject, SUCCESS};
use crate::auth::RequestAuth;
use crate::request_body::RequestBody;
use crate::responses::json_response;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{Pending, RequestCheck, UserIdOrMe};
use crate::wire_error::ApiError;

/// Registers the membership routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/team-memberships/{team_id}/{user_id}")
        .post(add_team_member)
        .delete(remove_team_member)
        .register();
}

fn membership_params(check: &mut RequestCheck) -> Pending<(TeamId, UserIdOrMe)> {
    check.params(|o| {
        (
            o.field::<TeamId>("team_id").required(),
            o.field::<UserIdOrMe>("user_id").required(),
        )
    })
}

/// `POST /api/v1/team-memberships/{team_id}/{user_id}`.
async fn add_team_member(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::AddTeamMember, None)?;
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let body = check.body(&body, |_| ());
    let params = membership_params(&mut check);
    let query = check.query(|_| ());
    let ((), (team_id, user), ()) = check.finish((body, params, query))?;
    let user_id = user.0;
    state
        .service()
        .add_team_member(auth.actor(), team_id, user_id)
        .await?;
    json_response(StatusCode::CREATED, &MembershipObject { team_id, user_id })
}

/// `DELETE /api/v1/team-memberships/{team_id}/{user_id}`.
async fn remove_team_member(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = membership_params(&mut check);
    let query = check.query(|_| ());
    let ((team_id, user), ()) = check.finish((params, query))?;
    state
        .service()
        .remove_team_member(auth.actor(), team_id, user.0)
        .await?;
    json_response(StatusCode::OK, &SUCCESS)
}

#[cfg(test)]
mod tests;
