//! Where the prebuilt UI lives and the cookies it uses: shared by the hosted page and the demo
//! sign-in, which sets the cookies the page reads. Every such cookie is made by `page_cookie`:
//! `HttpOnly`, `SameSite=Strict`, scoped to `/handler`.

use actix_web::http::header;
use actix_web::HttpRequest;

/// Where the page is served.
pub const ACCOUNT_SETTINGS_PATH: &str = "/handler/account-settings";

/// The cookie with the signed-in user's access token (the seed's name).
pub const ACCESS_TOKEN_COOKIE: &str = "stack-access-token";

/// The path every cookie of the hosted page is scoped to (they are all `HttpOnly`: only the
/// server reads them).
pub const HANDLER_COOKIE_PATH: &str = "/handler";

/// Where the hosted page's script gets the access token (from the `HttpOnly` cookies).
pub const PAGE_ACCESS_TOKEN_PATH: &str = "/handler/access-token";

/// The name of the cookie with the refresh token of `project` (upstream's name).
pub fn refresh_token_cookie(project: impl std::fmt::Display) -> String {
    format!("stack-refresh-{project}")
}

/// The cookie with the project id the page shows (set by the demo sign-in).
pub const PROJECT_COOKIE: &str = "keygate-ui-project-id";

/// The cookie with the publishable client key the page uses (set by the demo sign-in).
pub const CLIENT_KEY_COOKIE: &str = "keygate-ui-client-key";

/// Where the demo sign-in is served.
pub const DEMO_SIGN_IN_PATH: &str = "/handler/demo-sign-in";

/// One `set-cookie` value of the hosted page: `HttpOnly`, `SameSite=Strict`, scoped to
/// `/handler`, `Secure` when `secure`. keygate's cookie values (JWTs, ids, generated keys)
/// need no quoting.
pub(crate) fn page_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    let mut text = format!(
        "{name}={value}; Path={HANDLER_COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    );
    if secure {
        text.push_str("; Secure");
    }
    text
}

/// The value of cookie `name` in the request's `cookie` headers, if present and not empty.
/// (Values are used as sent: keygate's own cookies hold only URL-safe characters.)
pub(crate) fn request_cookie(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let request = actix_web::test::TestRequest::get()
            .insert_header(("cookie", "a=1; stack-access-token=tok; empty="))
            .append_header(("cookie", "b=2"))
            .to_http_request();
        assert_eq!(
            request_cookie(&request, "stack-access-token").as_deref(),
            Some("tok")
        );
        assert_eq!(request_cookie(&request, "b").as_deref(), Some("2"));
        assert_eq!(request_cookie(&request, "empty"), None);
        assert_eq!(request_cookie(&request, "stack-access"), None);
    }
}
