//! Create, list, read, update (revoke) and rotate user and team API keys.
//!
//! Each handler: body and authentication (extractors, in upstream's order), schema validation
//! (`me` resolved to the session user), then the use case of `keygate_service::api_keys`
//! (decision, storage, cache) and the answer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::{ApiKeyId, KeyType, Owner};
use keygate_service::api_keys::{KeyChanges, NewKeyRequest};

use keygate_service::api_keys::ListWindow;

use super::input::{
    read_create_body, read_list_query, read_owner_query, read_rotate_body, read_update_body,
    ListCursor,
};
use super::wire::{first_view_object, list_object, read_object};
use crate::auth::RequestAuth;
use crate::project_objects::ScopeList;
use crate::request_body::RequestBody;
use crate::responses::{json_list_response, json_response};
use crate::state::AppState;
use crate::validation::{Pending, RequestCheck};
use crate::wire_error::ApiError;

/// `POST /api/v1/{type}-api-keys`: 200 with the first-view object (the only time the full key
/// is shown).
pub(super) async fn create(
    route: KeyType,
    body: RequestBody,
    auth: RequestAuth,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller();
    let mut check = RequestCheck::new(&request).with_current_user(caller.session_user);
    let body = check.body(&body, |o| read_create_body(o, route));
    let query = check.query(|_| ());
    let (body, ()) = check.finish((body, query))?;

    let request = NewKeyRequest {
        owner: body.owner,
        description: body.description,
        is_public: body.is_public,
        expires_at_millis: body.expires_at_millis,
        policy: body.policy,
    };
    let (key, plain) = state
        .service()
        .create_api_key(auth.actor(), route, request)
        .await?;
    json_response(
        StatusCode::OK,
        &first_view_object(&key, plain).seen_by(auth.access_type),
    )
}

/// `GET /api/v1/{type}-api-keys?user_id=|team_id=`: every key of the owner, newest first,
/// revoked and expired ones included; with `limit` (and `cursor`), one page of them. The answer
/// is written once, into a buffer of its exact size.
pub(super) async fn list(
    route: KeyType,
    auth: RequestAuth,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller();
    let mut check = RequestCheck::new(&request).with_current_user(caller.session_user);
    let query = read_list_query(&mut check, route);
    let (owner, window) = check.finish(query)?;

    let list = state
        .service()
        .list_api_keys(auth.actor(), route, owner, window)
        .await?;
    let page = match window {
        ListWindow::All => None,
        ListWindow::Page { .. } => Some(list.next.map(ListCursor::encode)),
    };
    json_list_response(
        StatusCode::OK,
        &list_object(&list.keys, &list.last_used, page, auth.access_type),
    )
}

/// Reads the `api_key_id` path parameter and the owner query (validated, then ignored: read and
/// update act on the stored owner).
fn read_key_id(
    check: &mut RequestCheck,
    route: KeyType,
) -> (Pending<ApiKeyId>, Pending<Option<Owner>>) {
    let id = check.params(|o| o.field::<ApiKeyId>("api_key_id").required());
    let query = read_owner_query(check, route);
    (id, query)
}

/// `GET /api/v1/{type}-api-keys/{api_key_id}`.
pub(super) async fn read(
    route: KeyType,
    auth: RequestAuth,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller();
    let mut check = RequestCheck::new(&request).with_current_user(caller.session_user);
    let pending = read_key_id(&mut check, route);
    let (id, _ignored_owner) = check.finish(pending)?;

    let read = state
        .service()
        .read_api_key(auth.actor(), route, id)
        .await?;
    json_response(
        StatusCode::OK,
        &read_object(&read.key, read.last_used_at_millis).seen_by(auth.access_type),
    )
}

/// `PATCH /api/v1/{type}-api-keys/{api_key_id}`: replaces the description and/or revokes the
/// key. Revocation is set once and never undone; revoking again keeps the first instant.
pub(super) async fn update(
    route: KeyType,
    body: RequestBody,
    auth: RequestAuth,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller();
    let mut check = RequestCheck::new(&request).with_current_user(caller.session_user);
    let changes = check.body(&body, read_update_body);
    let (id, query) = read_key_id(&mut check, route);
    let (changes, id, _ignored_owner) = check.finish((changes, id, query))?;

    let changes = KeyChanges {
        description: changes.description,
        revoke: changes.revoke,
    };
    let updated = state
        .service()
        .update_api_key(auth.actor(), route, id, changes)
        .await?;
    json_response(
        StatusCode::OK,
        &read_object(&updated.key, updated.last_used_at_millis).seen_by(auth.access_type),
    )
}

/// `POST /api/v1/{type}-api-keys/{api_key_id}/rotate` (keygate's own): 200 with the first-view
/// object of the new key (same owner, description, expiry, scopes and metadata); the old key
/// keeps working for `grace_period_millis`, or is revoked at once without one.
pub(super) async fn rotate(
    route: KeyType,
    body: RequestBody,
    auth: RequestAuth,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller();
    let mut check = RequestCheck::new(&request).with_current_user(caller.session_user);
    let grace = check.body(&body, read_rotate_body);
    let (id, query) = read_key_id(&mut check, route);
    let (grace, id, _ignored_owner) = check.finish((grace, id, query))?;

    let rotated = state
        .service()
        .rotate_api_key(auth.actor(), route, id, grace)
        .await?;
    json_response(
        StatusCode::OK,
        &first_view_object(&rotated.key, rotated.plain).seen_by(auth.access_type),
    )
}

/// `GET /api/v1/api-key-scopes` (keygate's own; client, server and admin access): the project's
/// scope catalogue, `{"items": [{"id", "description"}], "is_paginated": false}`, so that a client
/// (the prebuilt UI) can offer the scopes a new key may carry.
pub(super) async fn scope_catalogue(
    auth: RequestAuth,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request);
    let query = check.query(|_| ());
    check.finish(query)?;
    json_response(StatusCode::OK, &ScopeList::of(&auth.project.api_key_scopes))
}
