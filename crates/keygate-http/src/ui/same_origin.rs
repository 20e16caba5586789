//! Whether a state-changing request of the UI (the demo sign-in, the hosted page's token
//! request) comes from a page of this server itself, not from another site's form or script.
//!
//! **Key decision:** the browser's own statements decide, never a header a page could set:
//! `Sec-Fetch-Site` when present (`same-origin`, or `none` for a user-initiated navigation;
//! anything else is refused), else an `Origin` equal to the server's own origin — the public
//! URL's, or `http(s)://` + the request's `Host` (the scheme is `https` only when the connection
//! itself is TLS: forwarding headers are not trusted). A request with neither header is refused
//! (browsers send at least one on a `POST`).

use actix_web::http::header;
use actix_web::HttpRequest;

use super::UiSettings;

/// Whether `request` comes from this server's own pages (see the module documentation).
pub(crate) fn is_same_origin(request: &HttpRequest, settings: &UiSettings) -> bool {
    let headers = request.headers();
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    if settings
        .public_origin()
        .is_some_and(|own| own.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let scheme = if request.app_config().secure() {
        "https"
    } else {
        "http"
    };
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    host.is_some_and(|host| origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")))
}

/// Whether cookies set for `request` should be `Secure`: the connection is TLS, or the server's
/// public URL is `https://` (TLS ends at a proxy in front). Never from forwarding headers.
pub(crate) fn is_https(request: &HttpRequest, settings: &UiSettings) -> bool {
    request.app_config().secure() || settings.public_url_is_https()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn settings(public_url: Option<&str>) -> UiSettings {
        UiSettings {
            public_url: public_url.map(str::to_owned),
            ..UiSettings::default()
        }
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        let plain = settings(None);
        for (site, allowed) in [
            ("same-origin", true),
            ("none", true),
            ("same-site", false),
            ("cross-site", false),
        ] {
            let request = TestRequest::post()
                .insert_header(("sec-fetch-site", site))
                // An Origin never overrides fetch metadata.
                .insert_header(("origin", "http://localhost:8102"))
                .insert_header(("host", "localhost:8102"))
                .to_http_request();
            assert_eq!(is_same_origin(&request, &plain), allowed, "{site}");
        }
    }

    #[test]
    fn otherwise_the_origin_must_be_the_servers_own() {
        let public = settings(Some("https://keys.example.com"));
        let request = |origin: Option<&str>, host: &str| {
            let mut request = TestRequest::post().insert_header(("host", host.to_owned()));
            if let Some(origin) = origin {
                request = request.insert_header(("origin", origin.to_owned()));
            }
            request.to_http_request()
        };
        assert!(is_same_origin(
            &request(Some("http://localhost:8102"), "localhost:8102"),
            &public
        ));
        assert!(is_same_origin(
            &request(Some("https://keys.example.com"), "10.0.0.5:8102"),
            &public
        ));
        assert!(!is_same_origin(
            &request(Some("https://evil.example"), "localhost:8102"),
            &public
        ));
        assert!(!is_same_origin(
            &request(Some("null"), "localhost:8102"),
            &public
        ));
        // The connection is not TLS: an https origin for the Host is someone else's claim.
        assert!(!is_same_origin(
            &request(Some("https://localhost:8102"), "localhost:8102"),
            &settings(None)
        ));
        assert!(!is_same_origin(&request(None, "localhost:8102"), &public));
    }

    #[test]
    fn cookies_are_secure_only_for_tls_or_an_https_public_url() {
        let forwarded = TestRequest::post()
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header(("forwarded", "proto=https"))
            .to_http_request();
        assert!(!is_https(
            &forwarded,
            &settings(Some("http://localhost:8102"))
        ));
        assert!(is_https(
            &forwarded,
            &settings(Some("https://keys.example.com"))
        ));
    }
}
