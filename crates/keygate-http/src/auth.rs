//! Who is calling: the project, the access type proven by a project key, and the session user of
//! an access token — upstream's `parseAuth`, in its order.
//!
//! 1. No `x-stack-access-type`: with a project key that is `PROJECT_KEY_WITHOUT_ACCESS_TYPE`,
//!    without one the request is anonymous (an endpoint that needs a project answers
//!    `ACCESS_TYPE_REQUIRED`).
//! 2. An access type other than `client`/`server`/`admin` is `INVALID_ACCESS_TYPE`; no
//!    `x-stack-project-id` is `ACCESS_TYPE_WITHOUT_PROJECT_ID`.
//! 3. An access token is verified first (signature, expiry, then project binding).
//! 4. The access type's key must be present (`*_AUTHENTICATION_REQUIRED`) and valid for the
//!    project (`INVALID_*_KEY`). An unknown project fails here too, so a caller without a valid
//!    key never learns whether a project exists. Which project a key opens comes from the
//!    node's [`ProjectAuthCache`](keygate_service::project_auth_cache::ProjectAuthCache) when it is warm
//!    (expiry still checked per request), so a warm request needs no database work for it.
//! 5. The token's session must still be open: a signed-out session, or one whose user was
//!    deleted, answers `ACCESS_TOKEN_EXPIRED` so that upstream's SDK refreshes, fails, and signs
//!    the user out — an access token never outlives its session here (upstream lets it live
//!    until it expires).
//!
//! The session is never cached. Every header is also read under its `x-hexclave-` name.
//!
//! A wrong project key or operator token is a failed authentication, counted against the
//! client's address ([`crate::rate_limits`]); an address over its budget is answered
//! `RATE_LIMITED` before any key it presents is checked.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::{web, FromRequest, HttpRequest};
use keygate_domain::{CredentialKind, ProjectId, UserId};
use keygate_permissions::{AccessType, Caller, ProjectSwitches};
use keygate_service::audit::{AuditActor, RequestOrigin};
use keygate_service::project_auth_cache::PresentedProjectKey;
use keygate_service::records::ProjectRecord;
use keygate_service::sessions::SessionState;
use keygate_service::Actor;
use uuid::Uuid;

use crate::stack_headers::{
    stack_header, StackHeader, ACCESS_TOKEN, ACCESS_TYPE, PROJECT_ID, PUBLISHABLE_CLIENT_KEY,
    SECRET_SERVER_KEY, SUPER_SECRET_ADMIN_KEY,
};
use crate::state::AppState;
use crate::wire_error::{ApiError, KnownError};
use crate::wire_middleware::RequestId;

/// The session user proven by a valid access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionUser {
    /// The signed-in user.
    pub user_id: UserId,
    /// The session (the token's `refresh_token_id`).
    pub session_id: Uuid,
}

/// An authenticated request to a project: the extractor of every endpoint that needs one.
#[derive(Debug, Clone)]
pub struct RequestAuth {
    /// The project, as stored (shared with the [`ProjectAuthCache`]).
    ///
    /// [`ProjectAuthCache`]: keygate_service::project_auth_cache::ProjectAuthCache
    pub project: Arc<ProjectRecord>,
    /// The access type its key proved.
    pub access_type: AccessType,
    /// The session user, when an access token was sent.
    pub session: Option<SessionUser>,
    /// Where the request came from, for the audit log.
    pub origin: RequestOrigin,
}

impl RequestAuth {
    /// The caller, as the permission decisions see it.
    pub fn caller(&self) -> Caller {
        Caller::new(self.access_type, self.session.map(|s| s.user_id))
    }

    /// The project's switches.
    pub fn switches(&self) -> ProjectSwitches {
        self.project.config
    }

    /// Who acts in which project, as the use cases take it.
    pub fn actor(&self) -> Actor {
        Actor {
            project: self.project.id,
            switches: self.switches(),
            default_rate_limit: self.project.default_rate_limit,
            caller: self.caller(),
            origin: self.origin,
        }
    }

    /// The project's id.
    pub fn project_id(&self) -> ProjectId {
        self.project.id
    }

    /// The session user's id, if any.
    pub fn session_user_id(&self) -> Option<UserId> {
        self.session.map(|s| s.user_id)
    }
}

/// The headers that matter for authentication, read once and borrowed from the request.
#[derive(Debug, Default)]
struct AuthHeaders<'a> {
    access_type: Option<Cow<'a, str>>,
    project_id: Option<Cow<'a, str>>,
    publishable_client_key: Option<Cow<'a, str>>,
    secret_server_key: Option<Cow<'a, str>>,
    super_secret_admin_key: Option<Cow<'a, str>>,
    access_token: Option<Cow<'a, str>>,
}

impl<'a> AuthHeaders<'a> {
    fn read(headers: &'a HeaderMap) -> Self {
        // An empty header counts as absent, as in upstream (`!value`).
        let get = |header: &StackHeader| stack_header(headers, header).filter(|v| !v.is_empty());
        AuthHeaders {
            access_type: get(&ACCESS_TYPE),
            project_id: get(&PROJECT_ID),
            publishable_client_key: get(&PUBLISHABLE_CLIENT_KEY),
            secret_server_key: get(&SECRET_SERVER_KEY),
            super_secret_admin_key: get(&SUPER_SECRET_ADMIN_KEY),
            access_token: get(&ACCESS_TOKEN),
        }
    }

    fn has_project_key(&self) -> bool {
        self.publishable_client_key.is_some()
            || self.secret_server_key.is_some()
            || self.super_secret_admin_key.is_some()
    }
}

/// The open session of an access token's `refresh_token_id`, for `user_id` in `project_id`.
/// Never cached. A session that is gone, signed out or expired is `ACCESS_TOKEN_EXPIRED`, so
/// upstream's SDK refreshes, fails, and signs the user out.
async fn token_session(
    state: &AppState,
    project_id: ProjectId,
    user_id: UserId,
    session_id: &str,
) -> Result<SessionUser, ApiError> {
    let session = match Uuid::parse_str(session_id) {
        Ok(session_id) => {
            state
                .service()
                .session_state(project_id, user_id, session_id)
                .await?
        }
        Err(_) => SessionState::Gone,
    };
    match session {
        SessionState::Open {
            user_id,
            session_id,
        } => Ok(SessionUser {
            user_id,
            session_id,
        }),
        SessionState::Gone => Err(KnownError::AccessTokenExpired {
            expired_at_millis: None,
        }
        .into()),
        SessionState::Ended { at } => Err(KnownError::AccessTokenExpired {
            expired_at_millis: Some(at),
        }
        .into()),
    }
}

/// Authenticates `request` against the project it names; `Ok(None)` for an anonymous request
/// (no access type and no project key).
pub async fn authenticate(
    request: &HttpRequest,
    state: &AppState,
) -> Result<Option<RequestAuth>, ApiError> {
    let headers = AuthHeaders::read(request.headers());
    if headers.has_project_key() {
        // An address over its failed-authentication budget gets no further key checked.
        state.rate_limits().check_failed_auth_budget(request)?;
    }
    let Some(access_type_text) = headers.access_type.as_deref() else {
        if headers.has_project_key() {
            return Err(KnownError::ProjectKeyWithoutAccessType.into());
        }
        return Ok(None);
    };
    let access_type: AccessType =
        access_type_text
            .parse()
            .map_err(|_| KnownError::InvalidAccessType {
                access_type: access_type_text.to_owned(),
            })?;
    let project_id_text =
        headers
            .project_id
            .as_deref()
            .ok_or(KnownError::AccessTypeWithoutProjectId {
                request_type: access_type,
            })?;

    let now = state.now();
    let token_claims = match &headers.access_token {
        Some(token) => Some(state.access_tokens().verify(token, project_id_text, now)?),
        None => None,
    };

    let (kind, presented_key, missing) = match access_type {
        AccessType::Client => (
            CredentialKind::PublishableClientKey,
            headers.publishable_client_key.as_deref(),
            KnownError::ClientAuthenticationRequired,
        ),
        AccessType::Server => (
            CredentialKind::SecretServerKey,
            headers.secret_server_key.as_deref(),
            KnownError::ServerAuthenticationRequired,
        ),
        AccessType::Admin => (
            CredentialKind::SuperSecretAdminKey,
            headers.super_secret_admin_key.as_deref(),
            KnownError::AdminAuthenticationRequired,
        ),
    };
    let presented_key = presented_key.ok_or(missing)?;
    let invalid = || -> ApiError {
        state.rate_limits().record_failed_auth(request);
        let project_id = project_id_text.to_owned();
        match kind {
            CredentialKind::PublishableClientKey => {
                KnownError::InvalidPublishableClientKey { project_id }
            }
            CredentialKind::SecretServerKey => KnownError::InvalidSecretServerKey { project_id },
            CredentialKind::SuperSecretAdminKey => {
                KnownError::InvalidSuperSecretAdminKey { project_id }
            }
        }
        .into()
    };
    // A project id that is not a UUID cannot match any project: the key is simply invalid.
    let Ok(project_id) = project_id_text.parse::<ProjectId>() else {
        return Err(invalid());
    };
    let presented = PresentedProjectKey {
        project_id,
        kind,
        hash: state.hasher().hash(presented_key),
    };
    let Some(project) = state.service().project_opened_by(presented).await? else {
        return Err(invalid());
    };

    let session = match token_claims {
        None => None,
        Some(claims) => {
            Some(token_session(state, project_id, claims.sub, &claims.refresh_token_id).await?)
        }
    };

    Ok(Some(RequestAuth {
        project,
        access_type,
        session,
        origin: request_origin(request, state, Some(presented_key)),
    }))
}

impl FromRequest for RequestAuth {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let state = app_state(&request)?;
            authenticate(&request, &state)
                .await?
                .ok_or_else(|| KnownError::AccessTypeRequired.into())
        })
    }
}

/// Where `request` came from: its request id, its client's address and the last four
/// characters of the project key it presented, if any (for the audit log).
pub fn request_origin(
    request: &HttpRequest,
    state: &AppState,
    presented_key: Option<&str>,
) -> RequestOrigin {
    RequestOrigin {
        request_id: RequestId::of(request).and_then(|id| Uuid::try_parse(id.as_str()).ok()),
        client_address: state.rate_limits().client_address_of(request),
        key_last_four: presented_key.and_then(RequestOrigin::last_four_of),
    }
}

/// The operator, proven by `authorization: Bearer <operator token>` (contract A3). It manages
/// projects only; it is never a project credential.
#[derive(Debug, Clone, Copy)]
pub struct Operator {
    /// Where the request came from, for the audit log.
    pub origin: RequestOrigin,
}

impl Operator {
    /// The operator as the audit log names it.
    pub fn audit_actor(&self) -> AuditActor {
        AuditActor::operator_token(self.origin)
    }
}

/// Reads the bearer token of `authorization`, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks the operator token of `request`.
pub fn authenticate_operator(
    request: &HttpRequest,
    state: &AppState,
) -> Result<Operator, ApiError> {
    let Some(token) = bearer_token(request.headers()) else {
        return Err(KnownError::OperatorAuthenticationRequired.into());
    };
    state.rate_limits().check_failed_auth_budget(request)?;
    if state.is_operator_token(token) {
        Ok(Operator {
            origin: request_origin(request, state, None),
        })
    } else {
        state.rate_limits().record_failed_auth(request);
        Err(KnownError::InvalidOperatorToken.into())
    }
}

impl FromRequest for Operator {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        std::future::ready(
            app_state(request).and_then(|state| authenticate_operator(request, &state)),
        )
    }
}

/// The shared state registered on the app.
pub fn app_state(request: &HttpRequest) -> Result<AppState, ApiError> {
    request
        .app_data::<web::Data<AppState>>()
        .map(|data| data.get_ref().clone())
        .ok_or_else(|| {
            ApiError::internal(&std::io::Error::other(
                "AppState is not registered on the app",
            ))
        })
}
