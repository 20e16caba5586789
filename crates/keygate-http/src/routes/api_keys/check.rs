//! `POST /api/v1/{type}-api-keys/check`: turns a key into the user or team it authenticates as
//! (server and admin access only).
//!
//! Order: access type (it wins over schema problems, as upstream) → schema → the route's
//! switch → the key's format → lookup in the caller's project → wrong type → revoked → expired.
//! A string that is not a well-formed key (length, characters, prefix, type, marker, checksum)
//! is `API_KEY_NOT_FOUND` before any database work (A1): the key is parsed before the handler
//! asks for a connection. A well-formed key is found by the id embedded in it — in the node's
//! [`CheckCache`](crate::check_cache::CheckCache), else in the database — and its hash is
//! compared in constant time, so a forged key with a real id is not found either; a key of
//! another project is not found. The cache holds rows, not verdicts: revocation and expiry are
//! evaluated on every check.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::{parse_api_key, KeyType};
use keygate_permissions::{authorize_api_key, ApiKeyAction, Denial};
use keygate_storage::repo::api_keys;

use super::input::read_api_key_body;
use super::wire::read_object;
use crate::auth::RequestAuth;
use crate::check_cache::CachedLookup;
use crate::conventions::json_response;
use crate::request_body::RequestBody;
use crate::state::AppState;
use crate::validation::RequestCheck;
use crate::wire_error::{ApiError, KnownError};

/// The check handler of the `route` key type.
pub(super) async fn check(
    route: KeyType,
    body: RequestBody,
    auth: RequestAuth,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller();
    let decision = authorize_api_key(&caller, &auth.switches(), route, &ApiKeyAction::Check, None);
    // Upstream validates the access type together with the body and reports it first.
    if let Err(denial @ Denial::InsufficientAccessType { .. }) = decision {
        return Err(denial.into());
    }
    let mut check = RequestCheck::new(&request).with_current_user(caller.session_user);
    let presented = check.body(&body, read_api_key_body);
    let query = check.query(|_| ());
    let (presented, ()) = check.finish((presented, query))?;
    decision?;

    let Ok(parsed) = parse_api_key(&presented) else {
        return Err(KnownError::ApiKeyNotFound.into());
    };
    let stored = match state.check_cache().lookup(parsed.id) {
        CachedLookup::Found(key) => Some(key),
        CachedLookup::Unknown => None,
        CachedLookup::Miss => {
            let cache = Arc::clone(state.check_cache());
            let id = parsed.id;
            state
                .with_conn(move |conn| {
                    let ticket = cache.ticket();
                    let stored = api_keys::get_by_id(conn, id)?;
                    cache.store(ticket, id, stored.as_ref());
                    Ok(stored.map(Arc::new))
                })
                .await?
        }
    };
    // Verified on every check, cached row or not: the digest (constant time), the project, then
    // type, revocation and expiry at this check's clock.
    let key = stored
        .filter(|stored| state.hasher().verify(&presented, &stored.hash))
        .filter(|stored| stored.project_id == auth.project_id())
        .ok_or(KnownError::ApiKeyNotFound)?;
    let now = state.now();
    key.check(route, now)?;
    // A valid check is a use: noted in memory, written later in a batch (`crate::key_usage`).
    let last_used = state.key_usage().record(key.id, now);
    tracing::debug!(api_key_id = %key.id, owner = ?key.owner, "checked API key: valid");
    json_response(StatusCode::OK, &read_object(&key, Some(last_used)))
}
