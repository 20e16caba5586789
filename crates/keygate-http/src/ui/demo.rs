//! The demo sign-in: with the one-time link keygate prints at start
//! (`/handler/demo-sign-in?token=…`), signs a demo user of the first-start project in and
//! redirects to the account-settings page, so a new user sees the UI within a minute of
//! `cargo run --release`.
//!
//! * `GET /handler/demo-sign-in?token=…` with the current token answers a small page (no
//!   script, `no-store`, a strict CSP, `frame-ancestors 'none'`, no referrer) whose button
//!   `POST`s the token. It changes nothing, so a link preview or prefetch cannot use it up.
//! * `POST /handler/demo-sign-in` (form field `token`) checks the token in constant time
//!   ([`UiState::consume_demo_token`](super::UiState)), refuses a request from another site with
//!   403 (`same_origin::is_same_origin`), uses the token up and has a new link announced for next time, then
//!   1. signs the demo user in for 7 days
//!      ([`Service::demo_sign_in`](keygate_service::Service::demo_sign_in): the project the
//!      first start recorded, by id; the user and its team made on first use; the user's other
//!      sessions signed out, so there is one demo session);
//!   2. sets the page's cookies, all `HttpOnly`, `SameSite=Strict`, scoped to `/handler`, and
//!      `Secure` when the server is reached over https (`same_origin::is_https`): the access token
//!      (`stack-access-token`), upstream's refresh cookie `stack-refresh-<project id>`, the
//!      project id and a publishable client key — one credential, publishable key only, minted
//!      for the demo and valid 30 days, kept in this process's memory (reused until a day before
//!      it expires; its hash is stored like every credential's);
//!   3. answers `303 See Other` to `/handler/account-settings`.
//!
//! Without the current token (none, a wrong one, a used one), with the demo off
//! ([`is_available`]), or for any other method, the path answers the plain 404 of an unknown
//! route, so a server does not even reveal that it has a demo. The token lives only in memory
//! (a restart or a second node has its own) and is shown only on standard output, like the
//! first start's keys.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_service::audit::AuditActor;
use keygate_service::demo::DemoSession;
use keygate_service::html::escape_html;
use keygate_service::projects::CredentialKeys;

use super::paths::page_cookie;
use super::paths::{
    refresh_token_cookie, ACCESS_TOKEN_COOKIE, ACCOUNT_SETTINGS_PATH, CLIENT_KEY_COOKIE,
    DEMO_SIGN_IN_PATH, PROJECT_COOKIE,
};
use super::same_origin::{is_https, is_same_origin};
use super::{DemoClientKey, DemoSignIn, UiSettings};
use crate::request_body::{RequestBody, TextFields};
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

/// Whether the demo sign-in is on: never with [`DemoSignIn::Disabled`], always with
/// [`DemoSignIn::Enabled`], and with [`DemoSignIn::Auto`] when the server is bound to a loopback
/// address. Being on only means a one-time link is issued; the link is what lets a browser in.
pub fn is_available(settings: &UiSettings) -> bool {
    match settings.demo_sign_in {
        DemoSignIn::Disabled => false,
        DemoSignIn::Enabled => true,
        DemoSignIn::Auto => settings
            .bind
            .is_some_and(|bind| bind.ip().to_canonical().is_loopback()),
    }
}

/// The `content-security-policy` of the sign-in form: nothing but its own inline styles and a
/// form posting to this server; never framed.
pub const DEMO_FORM_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// `GET /handler/demo-sign-in?token=…`: the form that posts the token, or the plain 404.
pub async fn demo_sign_in_form(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = TextFields::parse_urlencoded(request.query_string());
    let token = query.get("token").unwrap_or_default();
    let ui = state.ui();
    if !is_available(ui.settings()) || token.is_empty() || !ui.is_demo_token(token) {
        return not_found(request).await;
    }
    HttpResponse::build(StatusCode::OK)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, DEMO_FORM_CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(demo_form_html(token))
}

fn demo_form_html(token: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="referrer" content="no-referrer">
  <title>Demo sign-in · keygate</title>
  <style>body {{ font: 15px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; color: #111827; }} button {{ font: inherit; background: #4f46e5; color: #fff; border: 0; border-radius: 8px; padding: 9px 16px; cursor: pointer; }} button:focus-visible {{ outline: 2px solid #6366f1; outline-offset: 2px; }}</style>
</head>
<body>
  <main>
    <h1>Demo sign-in</h1>
    <p>Sign in as the demo user of the project keygate created on its first start and open the account settings with its API keys. This link works once; keygate prints a new one afterwards.</p>
    <form method="post" action="{DEMO_SIGN_IN_PATH}">
      <input type="hidden" name="token" value="{token}">
      <button type="submit" autofocus>Sign in as the demo user</button>
    </form>
  </main>
</body>
</html>
"#,
        token = escape_html(token),
    )
}

/// `POST /handler/demo-sign-in`: signs the demo user in (see the module documentation).
pub async fn demo_sign_in(
    request: HttpRequest,
    body: Result<RequestBody, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = match &body {
        Ok(RequestBody::Form(fields)) => fields.get("token").unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    let ui = state.ui();
    if !is_available(ui.settings()) || token.is_empty() || !ui.is_demo_token(&token) {
        return Ok(not_found(request).await);
    }
    if !is_same_origin(&request, ui.settings()) {
        // The token stays valid: the operator's own browser may still use it.
        return Ok(PlainError::new(
            StatusCode::FORBIDDEN,
            "The demo sign-in only accepts its own form, not a request from another site.",
        )
        .to_response());
    }
    if !ui.consume_demo_token(&token) {
        // A concurrent request used it first.
        return Ok(not_found(request).await);
    }
    if ui.issue_demo_link().is_some() && ui.settings().demo_link_announcer.is_some() {
        tracing::info!(
            "the demo sign-in link was used; a new one-time link was printed on standard output"
        );
    }

    let now = state.now();
    let Some(DemoSession { project_id, opened }) = state
        .service()
        .demo_sign_in(DEMO_SESSION_LIFETIME_MILLIS)
        .await?
    else {
        return Ok(PlainError::new(
            StatusCode::NOT_FOUND,
            "The demo sign-in uses the project keygate creates on the first start of an empty database. This database has none (it was first started by an older keygate, or the project was deleted).",
        )
        .to_response());
    };
    let access_token = issue_access_token(&state, &opened.user, opened.session.id, now)?;
    let client_key = demo_client_key(&state, project_id, now).await?;

    let secure = is_https(&request, ui.settings());
    let session_seconds = DEMO_SESSION_LIFETIME_MILLIS / 1000;
    let key_seconds = (client_key.expires_at_millis - now).max(0) / 1000;
    let cookies = [
        (
            ACCESS_TOKEN_COOKIE.to_owned(),
            access_token.token.as_str().to_owned(),
            session_seconds,
        ),
        (
            refresh_token_cookie(project_id),
            opened.refresh_token.expose_secret().to_owned(),
            session_seconds,
        ),
        (
            PROJECT_COOKIE.to_owned(),
            project_id.to_string(),
            session_seconds,
        ),
        (
            CLIENT_KEY_COOKIE.to_owned(),
            client_key.key.expose_secret().to_owned(),
            key_seconds,
        ),
    ];
    let mut response = HttpResponse::build(StatusCode::SEE_OTHER);
    response.insert_header((header::LOCATION, ACCOUNT_SETTINGS_PATH));
    for (name, value, max_age) in cookies {
        let value = HeaderValue::from_str(&page_cookie(&name, &value, max_age, secure))
            .map_err(|error| ApiError::internal(&error))?;
        response.append_header((header::SET_COOKIE, value));
    }
    Ok(response.finish())
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
            AuditActor::system("demo sign-in"),
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
