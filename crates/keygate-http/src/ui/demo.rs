//! `GET /handler/demo-sign-in`: signs a demo user of the first-start `default` project in and
//! redirects to the account-settings page, so a new user sees the UI within a minute of
//! `cargo run --release`.
//!
//! What it does, on every visit:
//! 1. signs the demo user of the project named `default` in for 7 days
//!    ([`Service::demo_sign_in`](keygate_service::Service::demo_sign_in): the user, with a team
//!    it created, is made on first use through the user, team and session use cases);
//! 2. mints an access token for that session;
//! 3. sets the seed's `stack-access-token` cookie and upstream's
//!    `stack-refresh-<project id>` cookie (both readable by the page's script, which sends the
//!    access token in a header and refreshes it with the refresh token);
//! 4. gives the page a publishable client key: one credential, publishable key only, minted
//!    for the demo and valid 30 days. Keys are stored hashed, so the plain key exists only in
//!    this process's memory (reused until a day before it expires) and in an `HttpOnly` cookie
//!    scoped to `/handler`; a restart mints a new one;
//! 5. answers `303 See Other` to `/handler/account-settings`.
//!
//! **When it works** ([`is_available`]): never with [`DemoSignIn::Disabled`]; always with
//! [`DemoSignIn::Enabled`]; with [`DemoSignIn::Auto`] only when the server is bound to a
//! loopback address, the request comes from a loopback address, names a loopback host
//! (`localhost`, `*.localhost`, `127.x.y.z`, `[::1]` — which also defeats DNS rebinding) and
//! carries no proxy forwarding header. Otherwise the path answers the plain 404 of an unknown
//! route, so a server reachable from the network does not even reveal that it has a demo.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_service::demo::DemoSession;
use keygate_service::projects::CredentialKeys;

use super::paths::{ACCESS_TOKEN_COOKIE, ACCOUNT_SETTINGS_PATH, CLIENT_KEY_COOKIE, PROJECT_COOKIE};
use super::{DemoClientKey, DemoSignIn, UiSettings};
use crate::responses::not_found;
use crate::routes::sessions::issue_access_token;
use crate::state::AppState;
use crate::wire_error::{ApiError, PlainError};

/// How long a demo session lasts.
pub const DEMO_SESSION_LIFETIME_MILLIS: i64 = 7 * DAY_MILLIS;

/// How long the demo's publishable client key is valid.
pub const DEMO_CLIENT_KEY_LIFETIME_MILLIS: i64 = 30 * DAY_MILLIS;

/// The description of the credential minted for the demo page.
pub const DEMO_CREDENTIAL_DESCRIPTION: &str =
    "publishable client key of the demo sign-in (account settings page)";

const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Headers that show the request came through a proxy (and so not from this machine's user).
const FORWARDING_HEADERS: [&str; 4] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
];

/// Whether the demo sign-in answers `request` (see the module documentation).
pub fn is_available(request: &HttpRequest, settings: &UiSettings) -> bool {
    match settings.demo_sign_in {
        DemoSignIn::Disabled => false,
        DemoSignIn::Enabled => true,
        DemoSignIn::Auto => {
            let bound_to_loopback = settings
                .bind
                .is_some_and(|bind| bind.ip().to_canonical().is_loopback());
            let from_loopback = request
                .peer_addr()
                .is_some_and(|peer| peer.ip().to_canonical().is_loopback());
            let forwarded = FORWARDING_HEADERS
                .iter()
                .any(|name| request.headers().contains_key(*name));
            bound_to_loopback && from_loopback && !forwarded && names_loopback_host(request)
        }
    }
}

/// Whether the request's `host` (or HTTP/2 authority) is a loopback name.
fn names_loopback_host(request: &HttpRequest) -> bool {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    host.is_some_and(is_loopback_host)
}

/// Whether `host` (`name[:port]`, `[v6][:port]`) is a loopback name or address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, _)) => inner,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// `GET /handler/demo-sign-in`.
pub async fn demo_sign_in(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !is_available(&request, state.ui().settings()) {
        return Ok(not_found(request).await);
    }
    let now = state.now();
    let Some(DemoSession { project_id, opened }) = state
        .service()
        .demo_sign_in(DEMO_SESSION_LIFETIME_MILLIS)
        .await?
    else {
        return Ok(PlainError::new(
            StatusCode::NOT_FOUND,
            "The demo sign-in uses the project named \"default\", which keygate creates on the first start of an empty database. This server has no such project.",
        )
        .to_response());
    };
    let access_token = issue_access_token(&state, &opened.user, opened.session.id, now)?;
    let client_key = demo_client_key(&state, project_id, now).await?;

    let secure = request.connection_info().scheme() == "https";
    let session_seconds = DEMO_SESSION_LIFETIME_MILLIS / 1000;
    let key_seconds = (client_key.expires_at_millis - now).max(0) / 1000;
    let cookies = [
        cookie(
            ACCESS_TOKEN_COOKIE,
            access_token.token.as_str(),
            "/",
            session_seconds,
            false,
            secure,
        ),
        cookie(
            &format!("stack-refresh-{project_id}"),
            opened.refresh_token.expose_secret(),
            "/",
            session_seconds,
            false,
            secure,
        ),
        cookie(
            PROJECT_COOKIE,
            &project_id.to_string(),
            "/handler",
            session_seconds,
            true,
            secure,
        ),
        cookie(
            CLIENT_KEY_COOKIE,
            client_key.key.expose_secret(),
            "/handler",
            key_seconds,
            true,
            secure,
        ),
    ];
    let mut response = HttpResponse::build(StatusCode::SEE_OTHER);
    response.insert_header((header::LOCATION, ACCOUNT_SETTINGS_PATH));
    for value in cookies {
        let value = HeaderValue::from_str(&value).map_err(|error| ApiError::internal(&error))?;
        response.append_header((header::SET_COOKIE, value));
    }
    Ok(response.finish())
}

/// One `set-cookie` value. keygate's cookie values (JWTs, ids, generated keys) need no quoting.
fn cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
    secure: bool,
) -> String {
    let mut text = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if secure {
        text.push_str("; Secure");
    }
    text
}

/// The page's publishable client key: the one this process minted for the project, reused
/// until a day before it expires, else a new credential with only that key.
async fn demo_client_key(
    state: &AppState,
    project: keygate_domain::ProjectId,
    now: keygate_domain::EpochMillis,
) -> Result<DemoClientKey, ApiError> {
    if let Some(key) = state.ui().demo_client_key(project, now, DAY_MILLIS) {
        return Ok(key);
    }
    let expires_at_millis = now.saturating_add(DEMO_CLIENT_KEY_LIFETIME_MILLIS);
    let issued = state
        .service()
        .issue_credential(
            project,
            DEMO_CREDENTIAL_DESCRIPTION.to_owned(),
            Some(expires_at_millis),
            CredentialKeys {
                publishable_client_key: true,
                secret_server_key: false,
                super_secret_admin_key: false,
            },
        )
        .await?;
    let key = issued.publishable_client_key.ok_or_else(|| {
        ApiError::internal(&std::io::Error::other(
            "a credential asked for a publishable key came without one",
        ))
    })?;
    let minted = DemoClientKey {
        project_id: project,
        key,
        expires_at_millis,
    };
    state.ui().remember_demo_client_key(minted.clone());
    Ok(minted)
}

#[cfg(test)]
mod tests;
