//! The answers every route shares: JSON success bodies (lists written into a buffer of their exact
//! size), and upstream's plain-text 404 and 405.

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

/// [`method_not_allowed`] with the `allow` header RFC 9110 asks of a 405: the methods the path
/// does serve (`GET, PATCH`).
pub fn method_not_allowed_allowing(allow: &HeaderValue) -> HttpResponse {
    let mut response =
        PlainError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed").to_response();
    response.headers_mut().insert(header::ALLOW, allow.clone());
    response
}

/// A JSON success answer with `content-type: application/json; charset=utf-8`.
pub fn json_response<T: Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<HttpResponse, ApiError> {
    // Most answers are a few hundred bytes: one allocation instead of a series of regrowths.
    let mut body = Vec::with_capacity(1024);
    serde_json::to_writer(&mut body, value).map_err(|error| ApiError::internal(&error))?;
    Ok(json_body(status, body))
}

/// A JSON success answer for a list: written into a buffer of exactly its size (the value is
/// serialized twice, once only to count its bytes), so a large answer exists once in memory —
/// never in a buffer that doubled past it, never next to the copy it outgrew.
pub fn json_list_response<T: Serialize>(
    status: StatusCode,
    value: &T,
) -> Result<HttpResponse, ApiError> {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, value).map_err(|error| ApiError::internal(&error))?;
    let mut body = Vec::with_capacity(counter.0);
    serde_json::to_writer(&mut body, value).map_err(|error| ApiError::internal(&error))?;
    Ok(json_body(status, body))
}

/// An answer of `status` with the JSON text `body`.
fn json_body(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        ))
        .body(body)
}

/// A writer that only counts what it is given.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_answers_are_written_into_a_buffer_of_their_exact_size() {
        let items: Vec<String> = (0..1_000).map(|i| format!("item {i}")).collect();
        let response = json_list_response(StatusCode::OK, &items).unwrap();
        let bytes = actix_web::body::MessageBody::try_into_bytes(response.into_body())
            .expect("buffered body");
        assert_eq!(bytes, serde_json::to_vec(&items).unwrap());
    }
}
