//! Team member profiles, as upstream's team page reads them ("Members", "Team user name"):
//!
//! * `GET /api/v1/team-member-profiles?team_id=[&user_id=]` — the team's members, in the order
//!   they joined (or one of them);
//! * `GET /api/v1/team-member-profiles/{team_id}/{user_id}` — one member's profile.
//!
//! A client must be a member of the team, and needs `$read_members` for anyone's profile but
//! its own (`keygate_permissions`). Servers also get the member's user object (`user`).
//!
//! Key decision: keygate keeps no per-team name or picture, so a member's team profile is their
//! user profile (upstream's fallback when a member set none), and there is no route to change
//! one. Unlike upstream, `team_id` is required for every access type: keygate does not list the
//! memberships of a whole project in one unpaginated answer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::{TeamId, UserId};
use keygate_service::users::UserWithTeam;
use serde::Serialize;
use utoipa::ToSchema;

use super::identity_objects::{ListObject, UserObject, View};
use crate::auth::RequestAuth;
use crate::responses::{json_list_response, json_response};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{RequestCheck, UserIdOrMe};
use crate::wire_error::ApiError;

/// Registers the team-member-profile routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/team-member-profiles")
        .get(list_profiles)
        .register();
    routes
        .resource("/api/v1/team-member-profiles/{team_id}/{user_id}")
        .get(read_profile)
        .register();
}

/// A member's profile in a team: `{team_id, user_id, display_name, profile_image_url}`, and
/// for servers `user`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TeamMemberProfile)]
pub(crate) struct TeamMemberProfileObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    team_id: TeamId,
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    display_name: Option<&'a str>,
    profile_image_url: Option<&'a str>,
    /// The member's user (server and admin access only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    user: Option<UserObject<'a>>,
}

impl<'a> TeamMemberProfileObject<'a> {
    fn new(team_id: TeamId, member: &'a UserWithTeam, view: View) -> Self {
        let user = &member.user;
        TeamMemberProfileObject {
            team_id,
            user_id: user.id,
            display_name: user.display_name.as_deref(),
            profile_image_url: user.profile_image_url.as_deref(),
            user: (view == View::Server)
                .then(|| UserObject::new(user, member.selected_team.as_ref(), view)),
        }
    }
}

/// `GET /api/v1/team-member-profiles?team_id=[&user_id=]`.
async fn list_profiles(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|o| {
        (
            o.field::<TeamId>("team_id").required(),
            o.field::<UserIdOrMe>("user_id").optional(),
        )
    });
    let (team_id, user_id) = check.finish(query)?;
    let members = state
        .service()
        .list_team_member_profiles(auth.actor(), team_id, user_id.map(|user| user.0))
        .await?;
    let view = View::of(auth.access_type);
    let items = members
        .iter()
        .map(|member| TeamMemberProfileObject::new(team_id, member, view))
        .collect();
    json_list_response(StatusCode::OK, &ListObject::new(items))
}

/// `GET /api/v1/team-member-profiles/{team_id}/{user_id}`.
async fn read_profile(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = check.params(|o| {
        (
            o.field::<TeamId>("team_id").required(),
            o.field::<UserIdOrMe>("user_id").required(),
        )
    });
    let query = check.query(|_| ());
    let ((team_id, user_id), ()) = check.finish((params, query))?;
    let member = state
        .service()
        .read_team_member_profile(auth.actor(), team_id, user_id.0)
        .await?;
    json_response(
        StatusCode::OK,
        &TeamMemberProfileObject::new(team_id, &member, View::of(auth.access_type)),
    )
}

#[cfg(test)]
mod tests;
