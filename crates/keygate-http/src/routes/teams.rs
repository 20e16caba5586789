//! Teams, as upstream's `teamsCrud`:
//!
//! * `POST /api/v1/teams` → 201: server and admin freely (with or without a creator); a client
//!   only when the project has `client_team_creation_enabled`, as its own creator. The creator
//!   joins with `team_admin`.
//! * `GET /api/v1/teams` lists every team of the project (server, admin) or, with `user_id`, the
//!   teams of that user; a client must ask for its own (`user_id=me`).
//! * `GET`/`PATCH`/`DELETE /api/v1/teams/{team_id}`: server and admin freely; a client must be a
//!   member, and needs `$update_team` / `$delete_team` to change or delete the team.
//!
//! The handlers validate the request and shape the answer; the use cases are
//! `keygate_service::teams`' (who may do what is decided by `keygate_permissions` there).
//! Deleting a team deletes its memberships, permission grants and API keys, and clears it as
//! anyone's selected team (the database cascades).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::TeamId;
use keygate_permissions::authorize_create_team;
use keygate_service::records::TeamUpdate;
use keygate_service::teams::NewTeam;
use serde_json::Value;

use super::identity_fields::{require_client_image, ImageUrl};
use super::identity_objects::{metadata_text, ListObject, TeamObject, View, SUCCESS};
use crate::auth::RequestAuth;
use crate::request_body::RequestBody;
use crate::responses::{json_list_response, json_response};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{FieldReader, RequestCheck, UserIdOrMe};
use crate::wire_error::ApiError;

/// Registers the team routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/teams")
        .post(create_team)
        .get(list_teams)
        .register();
    routes
        .resource("/api/v1/teams/{team_id}")
        .get(read_team)
        .patch(update_team)
        .delete(delete_team)
        .register();
}

/// The team fields a request may set; `None` leaves a field as it is.
#[derive(Debug, Default)]
struct TeamFields {
    display_name: Option<String>,
    profile_image_url: Option<Option<ImageUrl>>,
    client_metadata: Option<Value>,
    client_read_only_metadata: Option<Value>,
    server_metadata: Option<Value>,
}

/// `teamsCrud`'s update schemas (and, with `display_name` required, its create schemas); clients
/// may not set the read-only and server metadata.
fn read_fields(o: &mut FieldReader<'_>, view: View, creating: bool) -> TeamFields {
    let limits = o.limits();
    let display_name = if creating {
        Some(
            o.field::<String>("display_name")
                .max_chars(limits.max_display_name_chars)
                .required(),
        )
    } else {
        o.field::<String>("display_name")
            .max_chars(limits.max_display_name_chars)
            .optional()
    };
    let profile_image_url = o
        .field::<Option<ImageUrl>>("profile_image_url")
        .max_chars(limits.max_profile_image_url_chars)
        .optional();
    let client_metadata = o
        .field::<Value>("client_metadata")
        .max_json_bytes(limits.max_metadata_bytes)
        .optional();
    let (client_read_only_metadata, server_metadata) = match view {
        View::Client => (None, None),
        View::Server => (
            o.field::<Value>("client_read_only_metadata")
                .max_json_bytes(limits.max_metadata_bytes)
                .optional(),
            o.field::<Value>("server_metadata")
                .max_json_bytes(limits.max_metadata_bytes)
                .optional(),
        ),
    };
    TeamFields {
        display_name,
        profile_image_url,
        client_metadata,
        client_read_only_metadata,
        server_metadata,
    }
}

fn client_image(fields: &TeamFields, view: View) -> Result<(), ApiError> {
    match view {
        View::Client => require_client_image(
            fields
                .profile_image_url
                .as_ref()
                .and_then(|url| url.as_ref().map(|url| url.0.as_str())),
        ),
        View::Server => Ok(()),
    }
}

/// `POST /api/v1/teams`.
async fn create_team(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = View::of(auth.access_type);
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let input = check.body(&body, |o| {
        let fields = read_fields(o, view, true);
        let creator = o.field::<UserIdOrMe>("creator_user_id").optional();
        (fields, creator)
    });
    let query = check.query(|_| ());
    let ((fields, creator), ()) = check.finish((input, query))?;

    let actor = auth.actor();
    let creator = creator.map(|creator| creator.0);
    // The decision comes before the client image rule, as upstream; the use case decides again.
    authorize_create_team(&actor.caller, &actor.switches, creator)?;
    client_image(&fields, view)?;

    let team = NewTeam {
        display_name: fields.display_name.unwrap_or_default(),
        profile_image_url: fields.profile_image_url.flatten().map(|url| url.0),
        client_metadata: fields.client_metadata.as_ref().and_then(metadata_text),
        client_read_only_metadata: fields
            .client_read_only_metadata
            .as_ref()
            .and_then(metadata_text),
        server_metadata: fields.server_metadata.as_ref().and_then(metadata_text),
    };
    let team = state.service().create_team(actor, team, creator).await?;
    json_response(StatusCode::CREATED, &TeamObject::new(&team, view))
}

/// `GET /api/v1/teams`.
async fn list_teams(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|o| o.field::<UserIdOrMe>("user_id").optional());
    let user_id = check.finish(query)?.map(|user| user.0);
    let found = state.service().list_teams(auth.actor(), user_id).await?;
    let view = View::of(auth.access_type);
    let items = found
        .iter()
        .map(|team| TeamObject::new(team, view))
        .collect();
    json_list_response(StatusCode::OK, &ListObject::new(items))
}

fn team_id_param(check: &mut RequestCheck) -> crate::validation::Pending<TeamId> {
    check.params(|o| o.field::<TeamId>("team_id").required())
}

/// `GET /api/v1/teams/{team_id}`.
async fn read_team(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = team_id_param(&mut check);
    let query = check.query(|_| ());
    let (team_id, ()) = check.finish((params, query))?;
    let team = state.service().read_team(auth.actor(), team_id).await?;
    json_response(
        StatusCode::OK,
        &TeamObject::new(&team, View::of(auth.access_type)),
    )
}

/// `PATCH /api/v1/teams/{team_id}`.
async fn update_team(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = View::of(auth.access_type);
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let fields = check.body(&body, |o| read_fields(o, view, false));
    let params = team_id_param(&mut check);
    let query = check.query(|_| ());
    let (fields, team_id, ()) = check.finish((fields, params, query))?;
    client_image(&fields, view)?;

    let changes = TeamUpdate {
        display_name: fields.display_name,
        profile_image_url: fields.profile_image_url.map(|url| url.map(|url| url.0)),
        client_metadata: fields.client_metadata.as_ref().map(metadata_text),
        client_read_only_metadata: fields.client_read_only_metadata.as_ref().map(metadata_text),
        server_metadata: fields.server_metadata.as_ref().map(metadata_text),
    };
    let team = state
        .service()
        .update_team(auth.actor(), team_id, changes)
        .await?;
    json_response(StatusCode::OK, &TeamObject::new(&team, view))
}

/// `DELETE /api/v1/teams/{team_id}`.
async fn delete_team(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = team_id_param(&mut check);
    let query = check.query(|_| ());
    let (team_id, ()) = check.finish((params, query))?;
    state.service().delete_team(auth.actor(), team_id).await?;
    json_response(StatusCode::OK, &SUCCESS)
}

#[cfg(test)]
mod tests;
