//! The web components' script and the hosted page's own small script, compiled into the binary
//! with `include_str!`.
//!
//! Served with `content-type: text/javascript`, a strong `ETag` (a digest of the content, so it
//! changes with every release that changes the script), `cache-control: public, max-age=300`
//! (browsers revalidate within minutes of an upgrade) and `access-control-allow-origin: *`,
//! because the script is public and customers load it from their own sites (it carries no
//! credentials; the API's own CORS policy is per project, see [`crate::cors`]).

use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// Where the components are served.
pub const COMPONENTS_PATH: &str = "/ui/keygate-components.js";

/// The script itself.
pub const COMPONENTS_JS: &str = include_str!("../../assets/ui/keygate-components.js");

/// `cache-control` of the script.
pub const COMPONENTS_CACHE_CONTROL: &str = "public, max-age=300";

/// Where the hosted account-settings page's script is served (it mounts the components with
/// a `getAccessToken` that asks the server; see [`super::page`]).
pub const PAGE_SCRIPT_PATH: &str = "/ui/account-settings.js";

/// The hosted page's script.
pub const PAGE_JS: &str = include_str!("../../assets/ui/account-settings.js");

/// The script's `ETag`: the first 16 bytes of its SHA-256, quoted.
pub fn components_etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| etag_of(COMPONENTS_JS))
}

/// The page script's `ETag`, made like [`components_etag`].
pub fn page_script_etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| etag_of(PAGE_JS))
}

fn etag_of(script: &str) -> String {
    let digest = Sha256::digest(script.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// `GET /ui/keygate-components.js`: the script, or 304 when the client's copy is current.
pub async fn components_js(request: HttpRequest) -> HttpResponse {
    script_response(&request, COMPONENTS_JS, components_etag())
}

/// `GET /ui/account-settings.js`: the hosted page's script, served like the components.
pub async fn page_js(request: HttpRequest) -> HttpResponse {
    script_response(&request, PAGE_JS, page_script_etag())
}

fn script_response(
    request: &HttpRequest,
    script: &'static str,
    etag: &'static str,
) -> HttpResponse {
    let current = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
        });
    let mut response = if current {
        HttpResponse::build(StatusCode::NOT_MODIFIED)
    } else {
        HttpResponse::build(StatusCode::OK)
    };
    response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        ))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, COMPONENTS_CACHE_CONTROL))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if current {
        response.finish()
    } else {
        response.body(script)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    crate::http_tests! {
        fn the_components_are_served_with_caching_headers(app) {
            let response = app.send(TestRequest::get().uri(COMPONENTS_PATH)).await;
            assert_eq!(response.status, StatusCode::OK);
            assert_eq!(response.header("content-type"), Some("text/javascript; charset=utf-8"));
            assert_eq!(response.header("cache-control"), Some(COMPONENTS_CACHE_CONTROL));
            assert_eq!(response.header("etag"), Some(components_etag()));
            assert_eq!(response.header("access-control-allow-origin"), Some("*"));
            assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
            assert!(response.body.contains("customElements.define(\"keygate-api-keys\""));
            assert!(response.body.contains("customElements.define(\"keygate-team-api-keys\""));

            let revalidated = app
                .send(
                    TestRequest::get()
                        .uri(COMPONENTS_PATH)
                        .insert_header(("if-none-match", components_etag())),
                )
                .await;
            assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
            assert!(revalidated.body.is_empty());

            let stale = app
                .send(
                    TestRequest::get()
                        .uri(COMPONENTS_PATH)
                        .insert_header(("if-none-match", "\"something-else\"")),
                )
                .await;
            assert_eq!(stale.status, StatusCode::OK);

            let posted = app.send(TestRequest::post().uri(COMPONENTS_PATH)).await;
            assert_eq!(posted.status, StatusCode::METHOD_NOT_ALLOWED);
        }

        fn the_page_script_is_served_like_the_components(app) {
            let response = app.send(TestRequest::get().uri(PAGE_SCRIPT_PATH)).await;
            assert_eq!(response.status, StatusCode::OK);
            assert_eq!(response.header("content-type"), Some("text/javascript; charset=utf-8"));
            assert_eq!(response.header("etag"), Some(page_script_etag()));
            assert_ne!(page_script_etag(), components_etag());
            assert!(response.body.contains("getAccessToken"), "{}", response.body);
        }
    }

    #[test]
    fn the_etag_is_a_quoted_digest() {
        let etag = components_etag();
        assert_eq!(etag.len(), 34);
        assert!(etag.starts_with('"') && etag.ends_with('"'));
    }
}
