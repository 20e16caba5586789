//! Create, list, read and update (revoke) user and team API keys.
//!
//! Each handler: body and authentication (extractors, in upstream's order), schema validation
//! (`me` resolved to the session user), then — in one database round trip — the stored key or
//! the named owner, the session user's standing in the owning team when a client acts on a team
//! key, the decision of `authorize_api_key`, and the change.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::{ApiKey, ApiKeyId, EpochMillis, KeyType, NewApiKey, Owner, ProjectId};
use keygate_permissions::{authorize_api_key, ApiKeyAction, Caller, ProjectSwitches};
use keygate_storage::repo::api_keys;
use keygate_storage::{DbConnection, StorageError};

use super::input::{read_create_body, read_owner_query, read_update_body};
use super::wire::{first_view_object, list_object, read_object};
use crate::auth::RequestAuth;
use crate::check_cache::write_keys;
use crate::conventions::json_response;
use crate::key_usage::KeyUsage;
use crate::request_body::RequestBody;
use crate::routes::team_standing::load_standing;
use crate::state::AppState;
use crate::validation::RequestCheck;
use crate::wire_error::{ApiError, KnownError};

/// Asks for the decision on `action`, loading the session user's standing in the owning team
/// first when the decision needs it.
fn authorize(
    conn: &mut DbConnection,
    caller: &Caller,
    switches: &ProjectSwitches,
    route: KeyType,
    project: ProjectId,
    action: &ApiKeyAction,
) -> Result<(), ApiError> {
    let standing = action
        .team_standing_needed(caller)
        .map(|(team, user)| load_standing(conn, project, team, user))
        .transpose()?;
    authorize_api_key(caller, switches, route, action, standing.as_ref())?;
    Ok(())
}

/// The key `id` of the project, if `caller` may read (or, with `for_update`, change) it through
/// the `route` type's endpoint. A missing key, a key of the other type, and a team key the
/// client may not manage are all `API_KEY_NOT_FOUND`.
fn load_authorized(
    conn: &mut DbConnection,
    caller: &Caller,
    switches: &ProjectSwitches,
    route: KeyType,
    project: ProjectId,
    id: ApiKeyId,
    for_update: bool,
) -> Result<ApiKey, ApiError> {
    let stored = api_keys::get(conn, project, id)?;
    let stored_owner = stored.as_ref().map(|key| key.owner);
    let action = if for_update {
        ApiKeyAction::Update { stored_owner }
    } else {
        ApiKeyAction::Read { stored_owner }
    };
    authorize(conn, caller, switches, route, project, &action)?;
    // The decision already refused a missing key; this only unwraps.
    stored.ok_or_else(|| KnownError::ApiKeyNotFound.into())
}

/// When each of `keys` was last used: the stored instant or this node's pending one, whichever
/// is later; keys never used are left out.
fn last_used_of(
    conn: &mut DbConnection,
    usage: &KeyUsage,
    keys: &[ApiKey],
) -> Result<HashMap<ApiKeyId, EpochMillis>, StorageError> {
    let ids: Vec<ApiKeyId> = keys.iter().map(|key| key.id).collect();
    let stored = api_keys::last_used(conn, &ids)?;
    Ok(ids
        .into_iter()
        .filter_map(|id| Some((id, usage.merged(id, stored.get(&id).copied())?)))
        .collect())
}

/// The answer for a create whose owner is not in the project (the insert's foreign key).
fn owner_not_found(owner: Owner) -> ApiError {
    match owner {
        Owner::User(_) => KnownError::UserNotFound.into(),
        Owner::Team(team_id) => KnownError::TeamNotFound { team_id }.into(),
    }
}

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

    let switches = auth.switches();
    let project = auth.project_id();
    let now = state.now();
    let hasher = state.hasher().clone();
    let cache = Arc::clone(state.check_cache());
    let (key, plain) = state
        .with_conn(move |conn| {
            let action = ApiKeyAction::Create { owner: body.owner };
            authorize(conn, &caller, &switches, route, project, &action)?;
            let (key, plain) = NewApiKey {
                project_id: project,
                owner: body.owner,
                description: body.description,
                is_public: body.is_public,
                expires_at_millis: body.expires_at_millis,
            }
            .generate(now, &hasher);
            let inserted = api_keys::insert(conn, &key);
            cache.created(key.id);
            match inserted {
                Ok(()) => Ok((key, plain)),
                Err(StorageError::ForeignKeyViolation { .. }) => Err(owner_not_found(key.owner)),
                Err(other) => Err(other.into()),
            }
        })
        .await?;
    tracing::debug!(
        api_key_id = %key.id,
        owner = ?key.owner,
        last_four = %key.last_four,
        "created API key"
    );
    json_response(StatusCode::OK, &first_view_object(&key, plain))
}

/// `GET /api/v1/{type}-api-keys?user_id=|team_id=`: every key of the owner, newest first,
/// revoked and expired ones included.
pub(super) async fn list(
    route: KeyType,
    auth: RequestAuth,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller();
    let mut check = RequestCheck::new(&request).with_current_user(caller.session_user);
    let owner = read_owner_query(&mut check, route);
    let owner = check.finish(owner)?;

    let switches = auth.switches();
    let project = auth.project_id();
    let usage = Arc::clone(state.key_usage());
    let (keys, last_used) = state
        .with_conn(move |conn| {
            authorize(
                conn,
                &caller,
                &switches,
                route,
                project,
                &ApiKeyAction::List { owner },
            )?;
            // The decision refuses a list without an owner, so `None` never gets here.
            let keys = match owner {
                Some(owner) => api_keys::list_for_owner(conn, project, owner)?,
                None => Vec::new(),
            };
            let last_used = last_used_of(conn, &usage, &keys)?;
            Ok((keys, last_used))
        })
        .await?;
    json_response(StatusCode::OK, &list_object(&keys, &last_used))
}

/// Reads the `api_key_id` path parameter and the owner query (validated, then ignored: read and
/// update act on the stored owner).
fn read_key_id(
    check: &mut RequestCheck,
    route: KeyType,
) -> (
    crate::validation::Pending<ApiKeyId>,
    crate::validation::Pending<Option<Owner>>,
) {
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

    let switches = auth.switches();
    let project = auth.project_id();
    let usage = Arc::clone(state.key_usage());
    let (key, last_used) = state
        .with_conn(move |conn| {
            let key = load_authorized(conn, &caller, &switches, route, project, id, false)?;
            let last_used = last_used_of(conn, &usage, std::slice::from_ref(&key))?;
            Ok((key, last_used))
        })
        .await?;
    json_response(
        StatusCode::OK,
        &read_object(&key, last_used.get(&key.id).copied()),
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

    let switches = auth.switches();
    let project = auth.project_id();
    let now = state.now();
    let cache = Arc::clone(state.check_cache());
    let usage = Arc::clone(state.key_usage());
    let (key, last_used) = state
        .with_conn(move |conn| {
            let stored = load_authorized(conn, &caller, &switches, route, project, id, true)?;
            let last_used = last_used_of(conn, &usage, std::slice::from_ref(&stored))?;
            let last_used = last_used.get(&id).copied();
            if changes.description.is_none() && !changes.revoke {
                return Ok((stored, last_used));
            }
            write_keys(conn, &cache, |conn| {
                let mut key = stored;
                if let Some(description) = &changes.description {
                    key = api_keys::update_description(conn, project, id, description)?;
                }
                if changes.revoke {
                    key = api_keys::revoke(conn, project, id, now)?;
                }
                Ok(((key, last_used), vec![id]))
            })
            .map_err(|error| match error {
                // Deleted (with its owner) between the read and the write.
                StorageError::NotFound { .. } => KnownError::ApiKeyNotFound.into(),
                other => ApiError::from(other),
            })
        })
        .await?;
    if changes.revoke {
        tracing::debug!(api_key_id = %key.id, "revoked API key");
    }
    json_response(StatusCode::OK, &read_object(&key, last_used))
}
