//! `GET /handler/account-settings`: the hosted account-settings page with the API keys tab
//! (`<keygate-api-keys>`) and the team API keys section (`<keygate-team-api-keys>`), and
//! `POST /handler/access-token`, where the page's script gets the user's access token.
//!
//! The page needs the project id and its publishable client key: from the query
//! (`?project_id=…&publishable_client_key=…`), else from the cookies the demo sign-in sets
//! ([`PROJECT_COOKIE`], [`CLIENT_KEY_COOKIE`]). Every value is HTML-escaped; the page runs no
//! inline script, and its `content-security-policy` allows only keygate's own scripts and API.
//!
//! **Key decision: no session secret is readable by the page's JavaScript.** The session lives
//! in `HttpOnly` cookies (the access token `stack-access-token` and the refresh token
//! `stack-refresh-<project id>`). The server renders the components inside a `<template>`; the
//! page's own script (`/ui/account-settings.js`) configures them with a `getAccessToken` that
//! asks [`page_access_token`] (same origin only), then mounts them. That route answers the
//! access-token cookie while it has more than [`TOKEN_RENEWAL_MARGIN_MILLIS`] to live, else
//! mints a new one from the refresh cookie's open session and sets the cookie anew. The
//! components themselves are unchanged: this is the `getAccessToken` option any page may use.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::ProjectId;
use keygate_service::ServiceError;
use serde::Serialize;

use super::assets::PAGE_SCRIPT_PATH;
use super::paths::{
    page_cookie, refresh_token_cookie, request_cookie, ACCESS_TOKEN_COOKIE, ACCOUNT_SETTINGS_PATH,
    CLIENT_KEY_COOKIE, PROJECT_COOKIE,
};
use super::same_origin::{is_https, is_same_origin};
use keygate_service::html::escape_html;

use crate::request_body::RequestBody;
use crate::responses::json_response;
use crate::routes::sessions::issue_access_token;
use crate::state::AppState;
use crate::wire_error::{ApiError, PlainError};

/// The page's `content-security-policy`.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The id of the `<template>` holding the components until the page's script mounts them.
pub const COMPONENTS_TEMPLATE_ID: &str = "keygate-account-components";

/// [`page_access_token`] answers the cookie's token only while it has more than this to live;
/// closer to its expiry it mints a new one.
pub const TOKEN_RENEWAL_MARGIN_MILLIS: i64 = 60_000;

/// What the page is rendered with.
#[derive(Debug, Default)]
struct PageInput {
    project_id: Option<String>,
    publishable_client_key: Option<String>,
    signed_in: bool,
    user_label: Option<String>,
}

/// `GET /handler/account-settings`.
pub async fn account_settings(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(request.query_string().as_bytes())
            .into_owned()
            .collect();
    let from_query = |name: &str| {
        query
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.clone())
    };
    let from_cookie = |name: &str| request_cookie(&request, name);
    let project_id = from_query("project_id").or_else(|| from_cookie(PROJECT_COOKIE));
    let publishable_client_key =
        from_query("publishable_client_key").or_else(|| from_cookie(CLIENT_KEY_COOKIE));
    let access_token = from_cookie(ACCESS_TOKEN_COOKIE);
    let refresh_token = project_id
        .as_deref()
        .and_then(|project| from_cookie(&refresh_token_cookie(project)));

    // The name shown in the header comes from a token that verifies; an expired one still
    // counts as signed in (the page's script renews it), it just shows no name.
    let user_label = match (&access_token, &project_id) {
        (Some(token), Some(project)) if project.parse::<ProjectId>().is_ok() => state
            .access_tokens()
            .verify(token, project, state.now())
            .ok()
            .and_then(|claims| claims.email.or(claims.name)),
        _ => None,
    };
    let input = PageInput {
        signed_in: (access_token.is_some() || refresh_token.is_some()) && project_id.is_some(),
        project_id,
        publishable_client_key,
        user_label,
    };
    page_response(&render(&input))
}

/// What [`page_access_token`] answers.
#[derive(Debug, Serialize)]
struct PageAccessToken {
    access_token: String,
    /// Seconds the token has left (the script renews before then, by its own clock).
    expires_in_seconds: i64,
}

/// `POST /handler/access-token` (form field `project_id`, else the project cookie): the
/// signed-in user's access token for the page's script, from the `HttpOnly` cookies (see the
/// module documentation). 403 from another site; 401 without an open session.
pub async fn page_access_token(
    request: HttpRequest,
    body: Result<RequestBody, ApiError>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !is_same_origin(&request, state.ui().settings()) {
        return Ok(PlainError::new(
            StatusCode::FORBIDDEN,
            "The page's access token is only handed to the page itself.",
        )
        .to_response());
    }
    let signed_out = || {
        Ok(PlainError::new(
            StatusCode::UNAUTHORIZED,
            "No session in this browser: sign in again.",
        )
        .to_response())
    };
    let from_body = match &body {
        Ok(RequestBody::Form(fields)) => fields.get("project_id").map(str::to_owned),
        _ => None,
    };
    let Some(project) = from_body
        .or_else(|| request_cookie(&request, PROJECT_COOKIE))
        .and_then(|text| text.parse::<ProjectId>().ok())
    else {
        return signed_out();
    };
    let now = state.now();
    if let Some(token) = request_cookie(&request, ACCESS_TOKEN_COOKIE) {
        if let Ok(claims) = state
            .access_tokens()
            .verify(&token, &project.to_string(), now)
        {
            let left_millis = claims.exp.saturating_mul(1000).saturating_sub(now);
            if left_millis > TOKEN_RENEWAL_MARGIN_MILLIS {
                return json_response(
                    StatusCode::OK,
                    &PageAccessToken {
                        access_token: token,
                        expires_in_seconds: left_millis / 1000,
                    },
                );
            }
        }
    }
    let Some(refresh) = request_cookie(&request, &refresh_token_cookie(project)) else {
        return signed_out();
    };
    let session = match state
        .service()
        .session_of_refresh_token(project, &refresh)
        .await
    {
        Ok(session) => session,
        Err(ServiceError::NotFound(_)) => return signed_out(),
        Err(other) => return Err(other.into()),
    };
    let issued = issue_access_token(&state, &session.user, session.session.id, now)?;
    let token = issued.token.as_str().to_owned();
    let cookie = page_cookie(
        ACCESS_TOKEN_COOKIE,
        &token,
        (session.session.expires_at_millis - now).max(0) / 1000,
        is_https(&request, state.ui().settings()),
    );
    let mut response = json_response(
        StatusCode::OK,
        &PageAccessToken {
            access_token: token,
            expires_in_seconds: issued.claims.exp.saturating_mul(1000).saturating_sub(now) / 1000,
        },
    )?;
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(|error| ApiError::internal(&error))?,
    );
    Ok(response)
}

fn page_response(html: &str) -> HttpResponse {
    HttpResponse::build(StatusCode::OK)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(html.to_owned())
}

fn render(input: &PageInput) -> String {
    let who = match (&input.user_label, input.signed_in) {
        (Some(label), true) => format!(
            r#"<div class="who"><span class="avatar" aria-hidden="true">{initial}</span><span><span class="who-label">Signed in as</span> <strong>{label}</strong></span></div>"#,
            initial = escape_html(
                &label
                    .chars()
                    .next()
                    .unwrap_or('?')
                    .to_uppercase()
                    .to_string()
            ),
            label = escape_html(label),
        ),
        _ => String::new(),
    };
    let main = if input.signed_in {
        let attributes = format!(
            r#"project-id="{project}"{key}"#,
            project = escape_html(input.project_id.as_deref().unwrap_or_default()),
            key = input
                .publishable_client_key
                .as_deref()
                .map(|key| format!(r#" publishable-client-key="{}""#, escape_html(key)))
                .unwrap_or_default(),
        );
        format!(
            r#"<h1 id="page-title">API keys</h1>
      <p class="lead">Create keys for your scripts, CI jobs and other programs, see when each was made and when it expires, and revoke any you no longer trust.</p>
      <template id="{COMPONENTS_TEMPLATE_ID}">
        <keygate-api-keys {attributes}></keygate-api-keys>
        <keygate-team-api-keys {attributes}></keygate-team-api-keys>
      </template>"#
        )
    } else {
        let action = r#"<p>Open this page from your application after signing in, or embed the components in your own pages (see <code>docs/ui.md</code>). On a server you started yourself with the demo sign-in on, open the one-time demo link keygate printed.</p>"#;
        format!(
            r#"<h1 id="page-title">Sign in to manage your API keys</h1>
      <div class="panel">
        <p>This page shows the API keys of a signed-in user. No session was found in this browser.</p>
        {action}
      </div>"#
        )
    };
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>API keys · Account settings</title>
  <style>{PAGE_CSS}</style>
</head>
<body>
  <a class="skip" href="#content">Skip to content</a>
  <header class="topbar">
    <div class="brand"><span class="logo" aria-hidden="true"></span>keygate</div>
    {who}
  </header>
  <div class="layout">
    <nav class="sidebar" aria-label="Account settings">
      <p class="nav-title">Account settings</p>
      <a href="{ACCOUNT_SETTINGS_PATH}" aria-current="page">API keys</a>
    </nav>
    <main id="content" aria-labelledby="page-title" tabindex="-1">
      {main}
    </main>
  </div>
  <script src="/ui/keygate-components.js"></script>
  <script src="{PAGE_SCRIPT_PATH}"></script>
</body>
</html>
"##
    )
}

/// The page's own styles (the components style themselves inside their shadow roots).
const PAGE_CSS: &str = r#"
:root { color-scheme: light; --bg: #f6f7f9; --text: #111827; --muted: #6b7280; --border: #e5e7eb; --primary: #4f46e5; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 15px/1.5 ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; -webkit-font-smoothing: antialiased; }
.skip { position: absolute; left: -9999px; top: 8px; background: #fff; padding: 8px 12px; border-radius: 8px; }
.skip:focus { left: 8px; z-index: 10; }
.topbar { display: flex; align-items: center; justify-content: space-between; gap: 16px; padding: 14px 32px; background: #fff; border-bottom: 1px solid var(--border); }
.brand { display: flex; align-items: center; gap: 10px; font-weight: 650; font-size: 16px; letter-spacing: -0.01em; }
.logo { width: 26px; height: 26px; border-radius: 7px; background: linear-gradient(135deg, #6366f1, #4338ca); box-shadow: inset 0 0 0 6px rgba(255,255,255,.0); position: relative; }
.logo::after { content: ""; position: absolute; inset: 8px; border: 2px solid #fff; border-radius: 50%; }
.who { display: flex; align-items: center; gap: 10px; font-size: 14px; color: var(--muted); min-width: 0; }
.who strong { color: var(--text); font-weight: 600; overflow-wrap: anywhere; }
.avatar { flex: none; width: 30px; height: 30px; border-radius: 50%; background: #eef2ff; color: #4338ca; display: grid; place-items: center; font-weight: 600; font-size: 13px; }
.layout { display: grid; grid-template-columns: 220px minmax(0, 1fr); gap: 40px; max-width: 1120px; margin: 0 auto; padding: 40px 32px 64px; }
.sidebar { display: flex; flex-direction: column; gap: 2px; }
.nav-title { margin: 0 0 8px; font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.sidebar a { display: block; padding: 8px 12px; border-radius: 8px; color: var(--text); text-decoration: none; font-weight: 500; font-size: 14px; }
.sidebar a[aria-current="page"] { background: #eef2ff; color: #3730a3; }
main { display: grid; gap: 24px; align-content: start; min-width: 0; }
main:focus { outline: none; }
h1 { margin: 0; font-size: 26px; line-height: 1.25; letter-spacing: -0.02em; font-weight: 700; }
.lead { margin: -16px 0 0; color: var(--muted); max-width: 60ch; }
.panel { background: #fff; border: 1px solid var(--border); border-radius: 12px; padding: 24px; box-shadow: 0 1px 2px rgba(16,24,40,.05); }
.panel p { margin: 0 0 12px; }
.panel p:last-child { margin-bottom: 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; background: #f3f4f6; padding: 1px 5px; border-radius: 5px; }
.button { display: inline-block; background: var(--primary); color: #fff; text-decoration: none; font-weight: 500; font-size: 14px; padding: 9px 16px; border-radius: 8px; }
.button:hover { background: #4338ca; }
a:focus-visible, .button:focus-visible { outline: 2px solid #6366f1; outline-offset: 2px; }
@media (max-width: 760px) {
  .topbar { padding: 12px 16px; }
  .who-label { display: none; }
  .layout { grid-template-columns: 1fr; gap: 16px; padding: 16px 12px 40px; }
  .sidebar { flex-direction: row; align-items: center; gap: 8px; overflow-x: auto; }
  .nav-title { display: none; }
  h1 { font-size: 22px; }
  .lead { margin-top: -12px; font-size: 14px; }
}
"#;

#[cfg(test)]
mod tests;
