//! User and team API keys (contract B2 with the decisions of A1 and A2), and the
//! credential-scanning endpoint that revokes a leaked key.
//!
//! | Method & path | Access | Module |
//! |---|---|---|
//! | `POST /api/v1/{user,team}-api-keys` | client, server, admin | `crud` |
//! | `GET /api/v1/{user,team}-api-keys` | client, server, admin | `crud` |
//! | `GET`, `PATCH /api/v1/{user,team}-api-keys/{api_key_id}` | client, server, admin | `crud` |
//! | `POST /api/v1/{user,team}-api-keys/{api_key_id}/rotate` | client, server, admin | `crud` |
//! | `POST /api/v1/{user,team}-api-keys/check` | server, admin | `check` |
//! | `GET /api/v1/api-key-scopes` | client, server, admin | `crud` |
//! | `GET /api/v1/api-key-changes` (server-sent events) | server, admin | `change_feed` |
//! | `POST /api/v1/integrations/credential-scanning/revoke` | none | `credential_scanning` |
//!
//! Every handler reads its input in upstream's order — body parsing, authentication, schema
//! validation — then calls its use case in `keygate_service` (which asks
//! `keygate_permissions::authorize_api_key` for every decision) and shapes the answer (`wire`).
//! Only a key's hash and last four characters are stored, and the full key exists only in the
//! create response.
//!
//! Differences from upstream (contract A1): a key read or patched through the other type's
//! route is `API_KEY_NOT_FOUND` (upstream: 500); `team_id` in the create body is validated as a
//! UUID; `expires_at_millis: null` is "never" and every number, 0 included, is an instant; a
//! string that is not a well-formed key is `API_KEY_NOT_FOUND` without a database query; a
//! create for a user or team the project does not have is `USER_NOT_FOUND` / `TEAM_NOT_FOUND`
//! (upstream: a database error); a description containing a NUL character is refused with
//! `SCHEMA_ERROR` (Postgres cannot store it; upstream answers 500).
//!
//! Additions (issue 12, all optional for upstream's clients): a description is capped at
//! `limits.max_description_chars` (yup's `must be at most N characters`), an owner at
//! `limits.max_keys_per_owner` keys (`409 API_KEY_LIMIT_REACHED`), and the list takes `limit` and
//! `cursor` for upstream's paginated shape; without them its answer is unchanged.

mod change_feed;
mod check;
mod credential_scanning;
mod crud;
pub(crate) mod input;
pub(crate) mod wire;

#[cfg(test)]
mod tests;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest};
use keygate_domain::KeyType;

use crate::auth::RequestAuth;
use crate::rate_limits::limit_credential_scanning;
use crate::request_body::{RequestBody, SmallBody};
use crate::route_table::Routes;
use crate::state::AppState;

/// Registers the API-key routes of both key types and the credential-scanning endpoint.
pub fn configure(routes: &mut Routes<'_>) {
    for route in [KeyType::User, KeyType::Team] {
        configure_key_type(routes, route);
    }
    routes
        .resource(change_feed::PATH)
        .get(change_feed::follow)
        .register();
    routes
        .resource(SCOPES_PATH)
        .get(crud::scope_catalogue)
        .register();
    routes
        .resource(credential_scanning::REVOKE_PATH)
        .app_data(SmallBody)
        .post(credential_scanning::revoke)
        // Unauthenticated: limited per client address (`rate_limits`).
        .register_wrapped(|resource| resource.wrap(from_fn(limit_credential_scanning)));
}

/// The project's scope catalogue, readable by clients (keygate's own).
pub(crate) const SCOPES_PATH: &str = "/api/v1/api-key-scopes";

/// The collection path of one key type, e.g. `/api/v1/user-api-keys`.
fn collection_path(route: KeyType) -> String {
    format!("/api/v1/{}-api-keys", route.as_str())
}

fn configure_key_type(routes: &mut Routes<'_>, route: KeyType) {
    let collection = collection_path(route);
    routes
        .resource(collection.clone())
        .post(
            move |body: RequestBody,
                  auth: RequestAuth,
                  request: HttpRequest,
                  state: web::Data<AppState>| {
                crud::create(route, body, auth, request, state)
            },
        )
        .get(
            move |auth: RequestAuth, request: HttpRequest, state: web::Data<AppState>| {
                crud::list(route, auth, request, state)
            },
        )
        .register();
    // Registered before `{api_key_id}`, so `check` is never taken for an id.
    routes
        .resource(format!("{collection}/check"))
        // Named by its pattern: the metrics' route label, borrowed on the hot path
        // (`match_pattern` would build a `String` per request).
        .name(&format!("{collection}/check"))
        // One key (and, later, a few policy fields): a small body limit.
        .app_data(SmallBody)
        .post(
            move |body: RequestBody,
                  auth: RequestAuth,
                  request: HttpRequest,
                  state: web::Data<AppState>| {
                check::check(route, body, auth, request, state)
            },
        )
        .register();
    routes
        .resource(format!("{collection}/{{api_key_id}}"))
        .get(
            move |auth: RequestAuth, request: HttpRequest, state: web::Data<AppState>| {
                crud::read(route, auth, request, state)
            },
        )
        .patch(
            move |body: RequestBody,
                  auth: RequestAuth,
                  request: HttpRequest,
                  state: web::Data<AppState>| {
                crud::update(route, body, auth, request, state)
            },
        )
        .register();
    routes
        .resource(format!("{collection}/{{api_key_id}}/rotate"))
        .app_data(SmallBody)
        .post(
            move |body: RequestBody,
                  auth: RequestAuth,
                  request: HttpRequest,
                  state: web::Data<AppState>| {
                crud::rotate(route, body, auth, request, state)
            },
        )
        .register();
}
