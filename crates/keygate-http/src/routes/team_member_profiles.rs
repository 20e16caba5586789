//! Team member profiles, as upstream's team page reads them ("Members", "Team user name"):
//!
//! * `GET /api/v1/team-member-profiles?team_id=[&user_id=]` — the team's members, in the order
//!   they joined (or one of them);
//! * `GET /api/v1/team-member-profiles/{team_id}/{user_id}` — one member's profile;
//! * `PATCH /api/v1/team-member-profiles/{team_id}/{user_id}` — a member's name and picture in
//!   the team (`display_name`, `profile_image_url`; a client: its own), audited as
//!   `team_member_profile.updated`.
//!
//! A client must be a member of the team, and needs `$read_members` for anyone's profile but
//! its own (`keygate_permissions`). Servers also get the member's user object (`user`).
//!
//! Key decision: a member's name and picture in a team fall back to the user's own, field by
//! field, as upstream's do, so a member who set nothing shows as their user. Unlike upstream,
//! `team_id` is required for every access type: keygate does not list the memberships of a
//! whole project in one unpaginated answer. keygate stores a picture as the URL given (upstream
//! uploads `data:` URLs to its file storage); it is capped like a user's.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::{TeamId, UserId};
use keygate_service::account_settings::TeamMemberProfile;
use keygate_service::records::MemberProfileUpdate;
use serde::Serialize;
use utoipa::ToSchema;

use super::identity_fields::ImageUrl;
use super::identity_objects::{ListObject, UserObject, View};
use crate::auth::RequestAuth;
use crate::request_body::RequestBody;
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
        .patch(update_profile)
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
    fn new(team_id: TeamId, found: &'a TeamMemberProfile, view: View) -> Self {
        let user = &found.member.user;
        let profile = &found.profile;
        TeamMemberProfileObject {
            team_id,
            user_id: user.id,
            display_name: profile
                .display_name
                .as_deref()
                .or(user.display_name.as_deref()),
            profile_image_url: profile
                .profile_image_url
                .as_deref()
                .or(user.profile_image_url.as_deref()),
            user: (view == View::Server)
                .then(|| UserObject::new(user, found.member.selected_team.as_ref(), view)),
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

/// `PATCH /api/v1/team-member-profiles/{team_id}/{user_id}`.
async fn update_profile(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let update = check.body(&body, |o| {
        let limits = o.limits();
        MemberProfileUpdate {
            display_name: o
                .field::<Option<String>>("display_name")
                .max_chars(limits.max_display_name_chars)
                .optional(),
            profile_image_url: o
                .field::<Option<ImageUrl>>("profile_image_url")
                .max_chars(limits.max_profile_image_url_chars)
                .optional()
                .map(|url| url.map(|url| url.0)),
        }
    });
    let params = check.params(|o| {
        (
            o.field::<TeamId>("team_id").required(),
            o.field::<UserIdOrMe>("user_id").required(),
        )
    });
    let query = check.query(|_| ());
    let (update, (team_id, user_id), ()) = check.finish((update, params, query))?;
    let updated = state
        .service()
        .update_team_member_profile(auth.actor(), team_id, user_id.0, update)
        .await?;
    json_response(
        StatusCode::OK,
        &TeamMemberProfileObject::new(team_id, &updated, View::of(auth.access_type)),
    )
}

#[cfg(test)]
mod tests;
