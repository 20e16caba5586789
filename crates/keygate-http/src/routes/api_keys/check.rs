//! `POST /api/v1/{type}-api-keys/check`: turns a key into the user or team it authenticates as
//! (server and admin access only).
//!
//! Order: access type (it wins over schema problems, as upstream) → schema → the route's
//! switch → the key's format → lookup in the caller's project → wrong type → revoked → expired.
//! A string that is not a well-formed key (length, characters, prefix, type, marker, checksum)
//! is `API_KEY_NOT_FOUND` before any database work (A1). The lookup, verification and
//! validity are [`Service::check_api_key`](keygate_service::Service::check_api_key)'s, and so
//! are keygate's policies after them (scopes, then the rate limit); a check the key's rate limit
//! counted carries the `ratelimit-*` headers (`crate::ratelimit_headers`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::KeyType;
use keygate_permissions::{authorize_api_key, ApiKeyAction, Denial};

use super::input::read_check_body;
use super::wire::read_object;
use crate::auth::RequestAuth;
use crate::ratelimit_headers;
use crate::request_body::RequestBody;
use crate::responses::json_response;
use crate::state::AppState;
use crate::validation::RequestCheck;
use crate::wire_error::ApiError;

/// The check handler of the `route` key type.
pub(super) async fn check(
    route: KeyType,
    body: RequestBody,
    auth: RequestAuth,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let actor = auth.actor();
    // Upstream validates the access type together with the body and reports it first; the use
    // case decides the rest (the route's switch) after the schema.
    let decision = authorize_api_key(
        &actor.caller,
        &actor.switches,
        route,
        &ApiKeyAction::Check,
        None,
    );
    if let Err(denial @ Denial::InsufficientAccessType { .. }) = decision {
        return Err(denial.into());
    }
    let mut check = RequestCheck::new(&request).with_current_user(actor.session_user());
    let presented = check.body(&body, read_check_body);
    let query = check.query(|_| ());
    let ((presented, policy), ()) = check.finish((presented, query))?;

    let checked = state
        .service()
        .check_api_key(
            actor,
            route,
            &presented,
            &policy.required_scopes,
            policy.cost,
        )
        .await?;
    let mut response = json_response(
        StatusCode::OK,
        &read_object(&checked.key, Some(checked.last_used_at_millis))
            .with_remaining_uses(checked.remaining_uses),
    )?;
    if let Some(rate) = checked.rate {
        let headers = response.headers_mut();
        for (name, value) in ratelimit_headers::headers(
            rate.limit,
            rate.remaining,
            rate.reset_after_millis,
            rate.window_millis,
        ) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}
