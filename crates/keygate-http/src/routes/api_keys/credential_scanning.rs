//! `POST /api/v1/integrations/credential-scanning/revoke`: a secret scanner (e.g. GitHub's
//! partner program) reports a key found in public; keygate revokes it and tells its owner
//! ([`Service::revoke_leaked_api_key`](keygate_service::Service::revoke_leaked_api_key)).
//!
//! No project authentication: any `x-stack-*` headers are ignored. Answers, as upstream: a
//! string that is not a well-formed key or no stored key is `API_KEY_NOT_FOUND`; a public key
//! `PUBLIC_API_KEY_CANNOT_BE_REVOKED`; an expired key `API_KEY_EXPIRED`; a revoked key (now or
//! before) `{"success": true}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::input::read_api_key_body;
use crate::auth::request_origin;
use crate::request_body::RequestBody;
use crate::responses::json_response;
use crate::state::AppState;
use crate::validation::RequestCheck;
use crate::wire_error::ApiError;

/// The endpoint's path.
pub(super) const REVOKE_PATH: &str = "/api/v1/integrations/credential-scanning/revoke";

/// The handler.
pub(super) async fn revoke(
    body: RequestBody,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request);
    let presented = check.body(&body, read_api_key_body);
    let query = check.query(|_| ());
    let (presented, ()) = check.finish((presented, query))?;
    let origin = request_origin(&request, &state, None);
    state
        .service()
        .revoke_leaked_api_key(&presented, origin)
        .await?;
    json_response(StatusCode::OK, &json!({"success": true}))
}
