//! Sessions, as upstream's session routes:
//!
//! * `POST /api/v1/auth/sessions` (server, admin) opens a session for a user and answers
//!   `200 {access_token, refresh_token}`;
//! * `POST /api/v1/auth/sessions/current/refresh` trades the `x-stack-refresh-token` header for
//!   a new access token;
//! * `DELETE /api/v1/auth/sessions/current` signs the access token's session out;
//! * `GET /api/v1/auth/sessions?user_id=` lists a user's open sessions (a client: its own), as
//!   upstream's account settings page shows them: when each was opened and last used (its
//!   refresh token last traded for an access token), and which one the request itself uses;
//! * `DELETE /api/v1/auth/sessions/{id}?user_id=` signs one of them out from that list (a
//!   client: only its own user's; never the request's own session, which is
//!   `CANNOT_DELETE_CURRENT_SESSION`), recorded in the audit log as `session.revoked`;
//! * `POST /api/v1/auth/oauth/token` is the OAuth 2.0 refresh-token grant the official SDK uses
//!   (contract A6): form-encoded, the project id as `client_id` and a publishable client key as
//!   `client_secret` (in the body or as HTTP Basic credentials), no `x-stack-*` headers.
//!
//! A session is a row holding only the hash of its refresh token. Refresh tokens are opaque
//! random strings shown once, when the session is created; access tokens are short-lived JWTs
//! whose `refresh_token_id` is the session's id, issued from the user as currently stored (name,
//! e-mail, selected team). A signed-out or expired session refreshes nothing
//! (`REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED`) and its access tokens are refused at once.
//!
//! With `refresh_tokens.rotation` on ([`AppState::refresh_token_rotation`]), both refresh routes
//! replace the refresh token: the OAuth grant answers the new one in `refresh_token` (where
//! upstream echoes the old one), the sessions route adds an optional `refresh_token` to its
//! answer, and a token already replaced ends its session
//! ([`Service::rotate_refresh_token`](keygate_service::Service::rotate_refresh_token)).
//!
//! The use cases are [`keygate_service::sessions`]'s (they store sessions and find them by their
//! refresh tokens); the handlers read the request, mint the access token from the user a use
//! case returns, and shape the answer, OAuth's included.

use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use keygate_domain::{EpochMillis, ProjectId, SecretToken};
use keygate_permissions::{authorize_identity, IdentityAction};
use keygate_service::records::UserRecord;
use serde_json::Value;
use uuid::Uuid;

use super::identity_objects::{
    ListObject, OAuthErrorObject, OAuthTokenObject, SessionObject, SessionTokensObject, SUCCESS,
};
use crate::access_token::{AccessTokenSubject, IssuedAccessToken, BRANCH_ID};
use crate::auth::RequestAuth;
use crate::rate_limits::limit_oauth_token;
use crate::request_body::{RequestBody, SmallBody};
use crate::responses::{json_list_response, json_response};
use crate::route_table::Routes;
use crate::stack_headers::{stack_header, REFRESH_TOKEN};
use crate::state::{AppState, DEFAULT_REFRESH_TOKEN_LIFETIME_MILLIS};
use crate::validation::{FieldContext, FieldValue, Rejection, RequestCheck, UserIdOrMe};
use crate::wire_error::{ApiError, KnownError};

/// Longest session a creator may ask for: 367 days (upstream's `MAX_AUTH_SESSION_EXPIRATION_MS`).
pub const MAX_SESSION_LIFETIME_MILLIS: i64 = 367 * 24 * 60 * 60 * 1000;

/// Registers the session routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/auth/sessions")
        .get(list_sessions)
        .post(create_session)
        .register();
    routes
        .resource("/api/v1/auth/sessions/current/refresh")
        .post(refresh_session)
        .register();
    routes
        .resource("/api/v1/auth/sessions/current")
        .delete(sign_out)
        .register();
    // After `current`, which it would otherwise match.
    routes
        .resource("/api/v1/auth/sessions/{session_id}")
        .delete(revoke_session)
        .register();
    routes
        .resource("/api/v1/auth/oauth/token")
        // A handful of short form fields: no reason to read megabytes before refusing.
        .app_data(SmallBody)
        .post(oauth_token)
        // Unauthenticated: limited per client address (`rate_limits`).
        .register_wrapped(|resource| resource.wrap(from_fn(limit_oauth_token)));
}

/// `expires_in_millis`: any number up to [`MAX_SESSION_LIFETIME_MILLIS`] (yup's
/// `number().max(…)`), in whole milliseconds. A negative one makes a session that has already
/// expired, as upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SessionLifetime(i64);

impl FieldValue for SessionLifetime {
    const TYPE_NAME: &'static str = "number";
    fn placeholder() -> Self {
        SessionLifetime(0)
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        Self::checked(value.as_f64().ok_or(Rejection::NotType)?)
    }
    fn from_text(text: &str, context: &FieldContext) -> Result<Self, Rejection> {
        Self::checked(f64::from_text(text, context)?)
    }
}

impl SessionLifetime {
    fn checked(millis: f64) -> Result<Self, Rejection> {
        if millis > MAX_SESSION_LIFETIME_MILLIS as f64 {
            return Err(Rejection::Invalid(format!(
                "must be less than or equal to {MAX_SESSION_LIFETIME_MILLIS}"
            )));
        }
        // `as` saturates: a huge negative number is simply a long-expired session.
        Ok(SessionLifetime(millis.floor() as i64))
    }
}

#[derive(Debug)]
struct CreateSession {
    user_id: UserIdOrMe,
    expires_in_millis: Option<SessionLifetime>,
}

/// Issues an access token at `now` for the session `session_id` of `user` (as stored now: its
/// name, e-mail and selected team).
pub(crate) fn issue_access_token(
    state: &AppState,
    user: &UserRecord,
    session_id: Uuid,
    now: EpochMillis,
) -> Result<IssuedAccessToken, ApiError> {
    state
        .access_tokens()
        .issue(&AccessTokenSubject::for_session(user, session_id), now)
        .map_err(|error| ApiError::internal(&error))
}

/// `POST /api/v1/auth/sessions`.
async fn create_session(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::CreateSession, None)?;
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let input = check.body(&body, |o| {
        let input = CreateSession {
            user_id: o.field::<UserIdOrMe>("user_id").required(),
            expires_in_millis: o.field::<SessionLifetime>("expires_in_millis").optional(),
        };
        // keygate has no separate impersonation sessions: such a session is an ordinary one.
        let _: Option<bool> = o.field::<bool>("is_impersonation").optional();
        let _: Option<Option<String>> = o
            .field::<Option<String>>("reason")
            .max_chars(500)
            .optional();
        input
    });
    let query = check.query(|_| ());
    let (input, ()) = check.finish((input, query))?;

    let lifetime = input
        .expires_in_millis
        .map_or(DEFAULT_REFRESH_TOKEN_LIFETIME_MILLIS, |l| l.0);
    let opened = state
        .service()
        .create_session(auth.actor(), input.user_id.0, lifetime)
        .await?;
    // The access token is issued at the instant the session was opened.
    let access = issue_access_token(
        &state,
        &opened.user,
        opened.session.id,
        opened.session.created_at_millis,
    )?;
    json_response(
        StatusCode::OK,
        &SessionTokensObject {
            access_token: access.token.as_str(),
            refresh_token: Some(opened.refresh_token.expose_secret()),
        },
    )
}

/// `user_id` of the sessions routes: required (upstream's query schema, which the delete shares
/// although it reads only the path).
fn user_id_query(check: &mut RequestCheck) -> crate::validation::Pending<UserIdOrMe> {
    check.query(|o| o.field::<UserIdOrMe>("user_id").required())
}

/// `GET /api/v1/auth/sessions?user_id=`.
async fn list_sessions(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = user_id_query(&mut check);
    let user_id = check.finish(query)?.0;
    let sessions = state.service().list_sessions(auth.actor(), user_id).await?;
    let current = auth.session.map(|session| session.session_id);
    let items = sessions
        .iter()
        .map(|session| SessionObject::new(session, current))
        .collect();
    json_list_response(StatusCode::OK, &ListObject::new(items))
}

/// `DELETE /api/v1/auth/sessions/{session_id}?user_id=`.
async fn revoke_session(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = check.params(|o| o.field::<Uuid>("session_id").required());
    let query = user_id_query(&mut check);
    let (session_id, _) = check.finish((params, query))?;
    if auth
        .session
        .is_some_and(|session| session.session_id == session_id)
    {
        return Err(KnownError::CannotDeleteCurrentSession.into());
    }
    state
        .service()
        .revoke_session(auth.actor(), session_id)
        .await?;
    json_response(StatusCode::OK, &SUCCESS)
}

/// A served refresh: who, which session, and the new refresh token when it was rotated.
struct Refreshed {
    user: UserRecord,
    session_id: Uuid,
    new_refresh_token: Option<SecretToken>,
}

/// Trades `refresh_token` of `project` for the session it opens, rotating it when the server
/// is set to.
async fn refresh(
    state: &AppState,
    project: ProjectId,
    refresh_token: &str,
) -> Result<Refreshed, ApiError> {
    if state.refresh_token_rotation() {
        let rotated = state
            .service()
            .rotate_refresh_token(project, refresh_token)
            .await?;
        Ok(Refreshed {
            user: rotated.user,
            session_id: rotated.session.id,
            new_refresh_token: Some(rotated.refresh_token),
        })
    } else {
        let found = state
            .service()
            .session_of_refresh_token(project, refresh_token)
            .await?;
        Ok(Refreshed {
            user: found.user,
            session_id: found.session.id,
            new_refresh_token: None,
        })
    }
}

/// `POST /api/v1/auth/sessions/current/refresh`.
async fn refresh_session(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|_| ());
    check.finish(query)?;
    let Some(refresh_token) = stack_header(request.headers(), &REFRESH_TOKEN) else {
        return Err(ApiError::schema(format!(
            "Request validation failed on {} {}:\n  - headers.x-stack-refresh-token must be defined",
            request.method(),
            request.path()
        )));
    };
    let refreshed = refresh(&state, auth.project_id(), &refresh_token).await?;
    let access = issue_access_token(&state, &refreshed.user, refreshed.session_id, state.now())?;
    json_response(
        StatusCode::OK,
        &SessionTokensObject {
            access_token: access.token.as_str(),
            refresh_token: refreshed
                .new_refresh_token
                .as_ref()
                .map(SecretToken::expose_secret),
        },
    )
}

/// `DELETE /api/v1/auth/sessions/current`.
async fn sign_out(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|_| ());
    check.finish(query)?;
    // Upstream answers a request without a session's access token like an expired one.
    let Some(session) = auth.session else {
        return Err(KnownError::AccessTokenExpired {
            expired_at_millis: Some(state.now()),
        }
        .into());
    };
    state
        .service()
        .sign_out(auth.actor(), session.session_id)
        .await?;
    json_response(StatusCode::OK, &SUCCESS)
}

/// The `grant_type`s upstream's token endpoint knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantType {
    AuthorizationCode,
    RefreshToken,
}

impl FieldValue for GrantType {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        GrantType::RefreshToken
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        Self::from_text(value.as_str().ok_or(Rejection::NotType)?, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        match text {
            "authorization_code" => Ok(GrantType::AuthorizationCode),
            "refresh_token" => Ok(GrantType::RefreshToken),
            _ => Err(Rejection::Invalid(
                "must be one of the following values: authorization_code, refresh_token".to_owned(),
            )),
        }
    }
}

#[derive(Debug)]
struct TokenRequest {
    grant_type: GrantType,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

/// An OAuth 2.0 error answer (RFC 6749 §5.2), as upstream's OAuth library writes them.
fn oauth_error(error: &str, description: &str) -> Result<HttpResponse, ApiError> {
    json_response(
        StatusCode::BAD_REQUEST,
        &OAuthErrorObject {
            error,
            error_description: description,
        },
    )
}

/// The client credentials of HTTP Basic authentication (`client_secret_basic`), if sent.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The project a client id names: `<project id>` or `<project id>#main`.
fn client_project(client_id: &str) -> Option<ProjectId> {
    let (project, branch) = match client_id.split_once('#') {
        Some((project, branch)) => (project, Some(branch)),
        None => (client_id, None),
    };
    if branch.is_some_and(|branch| branch != BRANCH_ID) {
        return None;
    }
    project.parse().ok()
}

/// Checks the OAuth client: an existing project and one of its valid publishable client keys.
async fn authenticate_client(
    state: &AppState,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> Result<ProjectId, ApiError> {
    let invalid = {
        let client_id = client_id.clone();
        move || -> ApiError { KnownError::InvalidOAuthClientIdOrSecret { client_id }.into() }
    };
    let (Some(project), Some(secret)) = (
        client_id.as_deref().and_then(client_project),
        client_secret.filter(|secret| !secret.is_empty()),
    ) else {
        return Err(invalid());
    };
    if state.service().is_oauth_client(project, &secret).await? {
        Ok(project)
    } else {
        Err(invalid())
    }
}

/// `POST /api/v1/auth/oauth/token`.
async fn oauth_token(
    request: HttpRequest,
    body: RequestBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    // Like upstream (and RFC 6749 §3.2), parameters this endpoint does not use are ignored.
    let extra: Vec<String> = match &body {
        RequestBody::Form(fields) => fields.names().map(str::to_owned).collect(),
        RequestBody::Json(json) => json
            .value()
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut check = RequestCheck::new(&request);
    let input = check.body(&body, |o| {
        let input = TokenRequest {
            grant_type: o.field::<GrantType>("grant_type").required(),
            client_id: o.field::<String>("client_id").optional(),
            client_secret: o.field::<String>("client_secret").optional(),
            refresh_token: o.field::<String>("refresh_token").optional(),
        };
        for name in &extra {
            if !["grant_type", "client_id", "client_secret", "refresh_token"]
                .contains(&name.as_str())
            {
                let _: Option<Value> = o.field::<Value>(name).optional();
            }
        }
        input
    });
    let query = check.query(|_| ());
    let (input, ()) = check.finish((input, query))?;

    let (client_id, client_secret) = match (input.client_id, input.client_secret) {
        (None, None) => match basic_credentials(request.headers()) {
            Some((id, secret)) => (Some(id), Some(secret)),
            None => (None, None),
        },
        given => given,
    };
    let project = authenticate_client(&state, client_id, client_secret).await?;

    if input.grant_type != GrantType::RefreshToken {
        return oauth_error(
            "unsupported_grant_type",
            "keygate has no OAuth sign-in; only the refresh_token grant is supported.",
        );
    }
    let Some(refresh_token) = input.refresh_token.filter(|token| !token.is_empty()) else {
        return oauth_error("invalid_request", "Missing parameter: `refresh_token`");
    };
    let refreshed = refresh(&state, project, &refresh_token).await?;
    let access = issue_access_token(&state, &refreshed.user, refreshed.session_id, state.now())?;
    let mut response = json_response(
        StatusCode::OK,
        &OAuthTokenObject::bearer(
            access.token.as_str(),
            access.claims.exp - access.claims.iat,
            // Upstream echoes the presented token; with rotation, the one that replaces it.
            refreshed
                .new_refresh_token
                .as_ref()
                .map_or(refresh_token.as_str(), SecretToken::expose_secret),
        ),
    )?;
    response.headers_mut().insert(
        actix_web::http::header::PRAGMA,
        actix_web::http::header::HeaderValue::from_static("no-cache"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests;
