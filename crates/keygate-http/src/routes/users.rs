//! Users, as upstream's `usersCrud` and `currentUserCrud`:
//!
//! * `POST /api/v1/users` → 201, `GET`/`PATCH`/`DELETE /api/v1/users/{user_id}` — server and
//!   admin access;
//! * `GET`/`PATCH`/`DELETE /api/v1/users/me` — the session user, for every access type (a client
//!   sees the client shape of the user and may change only its client fields; clients may not
//!   delete themselves).
//!
//! keygate has no sign-in methods: the fields about them (`password`, `otp_auth_enabled`,
//! `primary_email_auth_enabled`, …) accept only their "none" value and otherwise answer a
//! `SCHEMA_ERROR` that says so. Primary e-mails are stored lowercased and unique within a
//! project (`409 USER_EMAIL_ALREADY_EXISTS`). Deleting a user deletes their sessions,
//! memberships, permission grants and API keys (the database cascades).
//!
//! The use cases (and the rules about a user's fields) are [`keygate_service::users`]'s: each
//! handler reads the request, checks the access type where upstream checks it before the
//! schema (the use case decides again), calls one use case and shapes the user object.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::{TeamId, UserId};
use keygate_permissions::{authorize_identity, IdentityAction};
use keygate_service::users::{NewUser, UserChanges, UserWithTeam};
use serde_json::Value;

use super::identity_objects::{metadata_text, UserObject, View, SUCCESS};

use super::identity_fields::{require_client_image, Email, ImageUrl, NoSignIn};
use crate::auth::RequestAuth;
use crate::request_body::RequestBody;
use crate::responses::json_response;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{FieldReader, RequestCheck, UserIdOrMe};
use crate::wire_error::{ApiError, KnownError};

/// Registers the user routes (`/users/me` before `/users/{user_id}`, so `me` is the session
/// user's resource).
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/users")
        .post(create_user)
        .register();
    routes
        .resource("/api/v1/users/me")
        .get(read_current_user)
        .patch(update_current_user)
        .delete(delete_current_user)
        .register();
    routes
        .resource("/api/v1/users/{user_id}")
        .get(read_user)
        .patch(update_user)
        .delete(delete_user)
        .register();
}

/// The user fields a request may set; `None` leaves a field as it is.
#[derive(Debug, Default)]
struct UserFields {
    display_name: Option<Option<String>>,
    profile_image_url: Option<Option<ImageUrl>>,
    client_metadata: Option<Value>,
    client_read_only_metadata: Option<Value>,
    server_metadata: Option<Value>,
    primary_email: Option<Option<Email>>,
    primary_email_verified: Option<bool>,
    selected_team_id: Option<Option<TeamId>>,
}

/// Declares the sign-in fields of upstream's schemas, which keygate accepts only as "none".
fn no_sign_in(o: &mut FieldReader<'_>, names: &[&str]) {
    for name in names {
        let _: Option<NoSignIn> = o.field::<NoSignIn>(name).optional();
    }
}

fn image_url(o: &mut FieldReader<'_>) -> Option<Option<ImageUrl>> {
    let max = o.limits().max_profile_image_url_chars;
    o.field::<Option<ImageUrl>>("profile_image_url")
        .max_chars(max)
        .optional()
}

/// `usersCrudServerUpdateSchema` (server and admin `PATCH`).
fn read_server_update(o: &mut FieldReader<'_>) -> UserFields {
    read_server_fields(o, ServerSchema::Update)
}

/// `usersCrudServerCreateSchema` (`POST /users`): the update fields without
/// `selected_team_id`, plus `oauth_providers`.
fn read_server_create(o: &mut FieldReader<'_>) -> UserFields {
    read_server_fields(o, ServerSchema::Create)
}

/// Which of upstream's two server-side user schemas a body is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerSchema {
    Create,
    Update,
}

/// The fields of the server-side user schemas, declared in upstream's order (which is the order
/// of the `SCHEMA_ERROR` lines).
fn read_server_fields(o: &mut FieldReader<'_>, schema: ServerSchema) -> UserFields {
    let limits = o.limits();
    let display_name = o
        .field::<Option<String>>("display_name")
        .max_chars(limits.max_display_name_chars)
        .optional();
    let profile_image_url = image_url(o);
    let client_metadata = o
        .field::<Value>("client_metadata")
        .max_json_bytes(limits.max_metadata_bytes)
        .optional();
    let client_read_only_metadata = o
        .field::<Value>("client_read_only_metadata")
        .max_json_bytes(limits.max_metadata_bytes)
        .optional();
    let server_metadata = o
        .field::<Value>("server_metadata")
        .max_json_bytes(limits.max_metadata_bytes)
        .optional();
    let primary_email = o.field::<Option<Email>>("primary_email").optional();
    let primary_email_verified = o.field::<bool>("primary_email_verified").optional();
    let mut sign_in_fields = vec![
        "primary_email_auth_enabled",
        "passkey_auth_enabled",
        "password",
        "password_hash",
        "otp_auth_enabled",
        "totp_secret_base64",
    ];
    if schema == ServerSchema::Create {
        sign_in_fields.push("oauth_providers");
    }
    no_sign_in(o, &sign_in_fields);
    let selected_team_id = match schema {
        ServerSchema::Update => o.field::<Option<TeamId>>("selected_team_id").optional(),
        ServerSchema::Create => None,
    };
    let _: Option<bool> = o.field::<bool>("is_anonymous").one_of(&[false]).optional();
    UserFields {
        display_name,
        profile_image_url,
        client_metadata,
        client_read_only_metadata,
        server_metadata,
        primary_email,
        primary_email_verified,
        selected_team_id,
    }
}

/// `currentUserCrud`'s client update schema (`PATCH /users/me` with client access).
fn read_client_update(o: &mut FieldReader<'_>) -> UserFields {
    let limits = o.limits();
    let display_name = o
        .field::<Option<String>>("display_name")
        .max_chars(limits.max_display_name_chars)
        .optional();
    let profile_image_url = image_url(o);
    let client_metadata = o
        .field::<Value>("client_metadata")
        .max_json_bytes(limits.max_metadata_bytes)
        .optional();
    let primary_email = o.field::<Option<Email>>("primary_email").optional();
    no_sign_in(
        o,
        &[
            "passkey_auth_enabled",
            "otp_auth_enabled",
            "totp_secret_base64",
        ],
    );
    let selected_team_id = o.field::<Option<TeamId>>("selected_team_id").optional();
    UserFields {
        display_name,
        profile_image_url,
        client_metadata,
        primary_email,
        selected_team_id,
        ..UserFields::default()
    }
}

impl UserFields {
    /// The fields as the changes of the update use case (e-mail normalised, metadata as text).
    fn into_changes(self) -> UserChanges {
        UserChanges {
            display_name: self.display_name,
            primary_email: self.primary_email.map(|email| email.map(|email| email.0)),
            primary_email_verified: self.primary_email_verified,
            profile_image_url: self.profile_image_url.map(|url| url.map(|url| url.0)),
            client_metadata: self.client_metadata.as_ref().map(metadata_text),
            client_read_only_metadata: self.client_read_only_metadata.as_ref().map(metadata_text),
            server_metadata: self.server_metadata.as_ref().map(metadata_text),
            selected_team_id: self.selected_team_id,
        }
    }
}

/// `POST /api/v1/users`.
async fn create_user(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::CreateUser, None)?;
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let fields = check.body(&body, read_server_create);
    let query = check.query(|_| ());
    let (fields, ()) = check.finish((fields, query))?;

    let new = NewUser {
        display_name: fields.display_name.flatten(),
        primary_email: fields.primary_email.flatten().map(|email| email.0),
        primary_email_verified: fields.primary_email_verified.unwrap_or(false),
        profile_image_url: fields.profile_image_url.flatten().map(|url| url.0),
        client_metadata: fields.client_metadata.as_ref().and_then(metadata_text),
        client_read_only_metadata: fields
            .client_read_only_metadata
            .as_ref()
            .and_then(metadata_text),
        server_metadata: fields.server_metadata.as_ref().and_then(metadata_text),
    };
    let user = state.service().create_user(auth.actor(), new).await?;
    json_response(
        StatusCode::CREATED,
        &UserObject::new(&user, None, View::Server),
    )
}

/// Reads the `user_id` path parameter of `/users/{user_id}`.
fn user_id_param(
    request: &HttpRequest,
    auth: &RequestAuth,
    body: Option<&RequestBody>,
    read_body: fn(&mut FieldReader<'_>) -> UserFields,
) -> Result<(UserId, UserFields), ApiError> {
    let mut check = RequestCheck::new(request).with_current_user(auth.session_user_id());
    let fields = body.map(|body| check.body(body, read_body));
    let params = check.params(|o| o.field::<UserIdOrMe>("user_id").required());
    let query = check.query(|_| ());
    match fields {
        Some(fields) => {
            let (fields, user, ()) = check.finish((fields, params, query))?;
            Ok((user.0, fields))
        }
        None => {
            let (user, ()) = check.finish((params, query))?;
            Ok((user.0, UserFields::default()))
        }
    }
}

/// The user object of `loaded` in the `view` shape.
fn respond_with_user(loaded: &UserWithTeam, view: View) -> Result<HttpResponse, ApiError> {
    json_response(
        StatusCode::OK,
        &UserObject::new(&loaded.user, loaded.selected_team.as_ref(), view),
    )
}

/// `GET /api/v1/users/{user_id}`.
async fn read_user(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::ReadUser, None)?;
    let (user_id, _) = user_id_param(&request, &auth, None, read_server_update)?;
    let loaded = state
        .service()
        .read_user(auth.actor(), user_id, false)
        .await?;
    respond_with_user(&loaded, View::Server)
}

/// `PATCH /api/v1/users/{user_id}`.
async fn update_user(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::UpdateUser, None)?;
    let (user_id, fields) = user_id_param(&request, &auth, Some(&body), read_server_update)?;
    let updated = state
        .service()
        .update_user(auth.actor(), user_id, fields.into_changes(), false)
        .await?;
    respond_with_user(&updated, View::Server)
}

/// `DELETE /api/v1/users/{user_id}`.
async fn delete_user(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::DeleteUser, None)?;
    let (user_id, _) = user_id_param(&request, &auth, None, read_server_update)?;
    state
        .service()
        .delete_user(auth.actor(), user_id, false)
        .await?;
    json_response(StatusCode::OK, &SUCCESS)
}

/// The session user after `action` was allowed (which requires one).
fn session_user(auth: &RequestAuth) -> Result<UserId, ApiError> {
    auth.session_user_id()
        .ok_or_else(|| KnownError::CannotGetOwnUserWithoutUser.into())
}

/// `GET /api/v1/users/me`.
async fn read_current_user(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|_| ());
    check.finish(query)?;
    authorize_identity(&auth.caller(), &IdentityAction::ReadCurrentUser, None)?;
    let user_id = session_user(&auth)?;
    let loaded = state
        .service()
        .read_user(auth.actor(), user_id, true)
        .await?;
    respond_with_user(&loaded, View::of(auth.access_type))
}

/// `PATCH /api/v1/users/me`.
async fn update_current_user(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let view = View::of(auth.access_type);
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let fields = check.body(
        &body,
        match view {
            View::Client => read_client_update,
            View::Server => read_server_update,
        },
    );
    let query = check.query(|_| ());
    let (fields, ()) = check.finish((fields, query))?;
    authorize_identity(&auth.caller(), &IdentityAction::UpdateCurrentUser, None)?;
    if view == View::Client {
        require_client_image(
            fields
                .profile_image_url
                .as_ref()
                .and_then(|url| url.as_ref().map(|url| url.0.as_str())),
        )?;
    }
    let user_id = session_user(&auth)?;
    let updated = state
        .service()
        .update_user(auth.actor(), user_id, fields.into_changes(), true)
        .await?;
    respond_with_user(&updated, view)
}

/// `DELETE /api/v1/users/me`.
async fn delete_current_user(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|_| ());
    check.finish(query)?;
    authorize_identity(&auth.caller(), &IdentityAction::DeleteCurrentUser, None)?;
    let user_id = session_user(&auth)?;
    state
        .service()
        .delete_user(auth.actor(), user_id, true)
        .await?;
    json_response(StatusCode::OK, &SUCCESS)
}

#[cfg(test)]
mod tests;
