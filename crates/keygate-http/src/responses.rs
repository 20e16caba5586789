//! The answers every route shares: JSON success bodies, and upstream's plain-text 404 and 405.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::wire_error::{ApiError, PlainError, JSON_CONTENT_TYPE};

/// Upstream-like plain-text 404 for a path keygate does not serve. The text names the path (and
/// query) only, never a host: the host comes from the client's `Host` / `X-Forwarded-Host`
/// headers, and building a URL from a hostile one fails (actix's `full_url` panics on
/// `Host: a b`).
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    let text = format!(
        "404 — this page does not exist in keygate's API.\n\nkeygate serves the REST API of Stack Auth's API keys (and the identity subset it needs) under /api/v1.\n\nPath: {}",
        request
            .uri()
            .path_and_query()
            .map_or_else(|| request.path(), |path| path.as_str())
    );
    PlainError::new(StatusCode::NOT_FOUND, text).to_response()
}

/// Plain-text 405 for a method a known path does not serve.
pub async fn method_not_allowed() -> HttpResponse {
    PlainError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed").to_response()
}

/// A JSON success answer with `content-type: application/json; charset=utf-8`.
pub fn json_response<T: Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<HttpResponse, ApiError> {
    // Most answers are a few hundred bytes: one allocation instead of a series of regrowths.
    let mut body = Vec::with_capacity(1024);
    serde_json::to_writer(&mut body, value).map_err(|error| ApiError::internal(&error))?;
    Ok(HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        ))
        .body(body))
}
