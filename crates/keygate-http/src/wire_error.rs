//! Errors as a client sees them on the wire.
//!
//! Three shapes leave keygate (contract B1):
//!
//! * [`KnownError`] — upstream's typed errors: a 4xx status, header `x-stack-known-error: CODE`,
//!   and the JSON body `{"code", "details"?, "error"}` written with a 2-space indent. Codes,
//!   statuses, messages and `details` are copied from upstream's
//!   `packages/stack-shared/src/known-errors.tsx`, because the official SDK rebuilds each error
//!   from its code and details (A6) and throws on codes it does not know. All four facts about
//!   an error sit together in one table, one row per variant (`KnownError::spec`); this is the
//!   only place a known error's wire text is spelled.
//! * [`PlainError`] — upstream's plain `StatusError`: a 4xx status and a `text/plain` body, no
//!   known-error header (used for "feature disabled", "other user's keys", 404/405/413). The
//!   texts of the permission denials are its named constructors.
//! * Server faults — [`ApiError::Unavailable`] and [`ApiError::Internal`].
//!
//! # Server faults: 503 for outages, 500 for bugs
//!
//! The contract (A1) says no input a client can send may yield a 5xx. Every client mistake is
//! therefore a [`KnownError`] or a [`PlainError`], both of which are 4xx by construction. What
//! remains are faults that are not caused by the request at all:
//!
//! * the database (or another backing service) is unreachable, times out or fails —
//!   [`ApiError::unavailable`] answers **503** with `retry-after: 1`. A 4xx would be a lie that
//!   makes clients give up or, worse, treat a valid API key as invalid (the SDK maps the
//!   `API_KEY_*` errors to "no such key"); a 503 tells clients and load balancers the truth —
//!   retry later — and fails closed.
//! * a broken invariant or a panic — [`ApiError::internal`] answers **500**. This is a bug by the
//!   contract's own definition, and the log line says so.
//!
//! Both log their cause chain with `tracing` at the moment they are built (inside the request's
//! span, so the log line carries the request id); the client only gets a generic text. Causes
//! must never contain a secret: keygate's own error types redact keys and tokens, and callers
//! must not wrap a secret into a cause.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use chrono::{DateTime, SecondsFormat};
use keygate_domain::{KeyType, TeamId, UserId};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::ratelimit_headers;

/// Response header naming the code of a [`KnownError`].
pub const KNOWN_ERROR_HEADER: &str = "x-stack-known-error";

/// `content-type` of every JSON body keygate writes.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// `content-type` of every plain-text body keygate writes.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

pub use keygate_permissions::AccessType;

/// Upstream's link at the end of the access-type messages (kept verbatim: the SDK shows it).
const REST_AUTH_DOCS: &str = "For more information, see the docs on REST API authentication: https://docs.stack-auth.com/rest-api/overview#authentication";

/// Every upstream known error keygate sends (contract B6 and B9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownError {
    /// 404: no such API key (or, deliberately, a team key the client may not manage).
    ApiKeyNotFound,
    /// 401: the API key has expired.
    ApiKeyExpired,
    /// 401: the API key has been revoked.
    ApiKeyRevoked,
    /// 400: a user key was checked on the team route or the reverse.
    WrongApiKeyType {
        /// The route's type.
        expected_type: KeyType,
        /// The key's type.
        actual_type: KeyType,
    },
    /// 400: the secret-scanner revoke endpoint was given a public key.
    PublicApiKeyCannotBeRevoked,
    /// 403 (keygate's own): a valid key lacks scopes the check required.
    ApiKeyScopeMissing {
        /// The required scopes it lacks.
        missing_scopes: Vec<String>,
    },
    /// 429 (keygate's own): a valid key was checked more often than its rate limit allows in
    /// this window. Sent with `retry-after` and the `ratelimit-*` headers
    /// (`crate::ratelimit_headers`); details `{limit, remaining, reset_at_millis}`.
    ApiKeyRateLimited {
        /// Checks allowed per window.
        limit: i64,
        /// Checks left in the window (0).
        remaining: i64,
        /// When the window ends.
        reset_at_millis: i64,
        /// How long until then.
        reset_after_millis: i64,
        /// The window's length.
        window_millis: i64,
    },
    /// 429 (keygate's own): a valid key has fewer usage credits left than the check costs.
    ApiKeyUsageExceeded,
    /// 409 (keygate's own): the owner already has as many API keys as the `limits` allow.
    ApiKeyLimitReached {
        /// The cap (`limits.max_keys_per_owner`).
        limit: u64,
    },
    /// 409 (keygate's own): the user already belongs to as many teams as a client may create up
    /// to.
    TeamLimitReached {
        /// The cap (`limits.max_client_teams_per_user`).
        limit: u64,
    },
    /// 400: the request failed validation; `message` is the whole text (see `validation`).
    SchemaError {
        /// Sent both as `error` and as `details.message`.
        message: String,
    },
    /// 400: the body could not be parsed (not JSON, unknown content type).
    BodyParsingError {
        /// The human-readable reason.
        message: String,
    },
    /// 401: the endpoint needs a session user and none was given.
    UserAuthenticationRequired,
    /// 400: `me` was used without a session user.
    CannotGetOwnUserWithoutUser,
    /// 401: the endpoint does not allow this access type.
    InsufficientAccessType {
        /// The access type of the request.
        actual_access_type: AccessType,
        /// The access types the endpoint allows, in the order the message lists them.
        allowed_access_types: Vec<AccessType>,
    },
    /// 400: the endpoint needs project authentication and `x-stack-access-type` is missing.
    AccessTypeRequired,
    /// 400: a project key was sent without `x-stack-access-type`.
    ProjectKeyWithoutAccessType,
    /// 400: `x-stack-access-type` was given without `x-stack-project-id`.
    AccessTypeWithoutProjectId {
        /// The access type that was given.
        request_type: AccessType,
    },
    /// 400: `x-stack-access-type` is not `client`, `server` or `admin`.
    InvalidAccessType {
        /// The value that was given, as sent.
        access_type: String,
    },
    /// 400: no project has the id in `x-stack-project-id`.
    CurrentProjectNotFound {
        /// The id as sent (it may not even be a UUID).
        project_id: String,
    },
    /// 401: client access without `x-stack-publishable-client-key`.
    ClientAuthenticationRequired,
    /// 401: server access without `x-stack-secret-server-key`.
    ServerAuthenticationRequired,
    /// 401: admin access without `x-stack-super-secret-admin-key`.
    AdminAuthenticationRequired,
    /// 401: the publishable client key is not valid for the project.
    InvalidPublishableClientKey {
        /// The project id as sent.
        project_id: String,
    },
    /// 401: the secret server key is not valid for the project.
    InvalidSecretServerKey {
        /// The project id as sent.
        project_id: String,
    },
    /// 401: the super secret admin key is not valid for the project.
    InvalidSuperSecretAdminKey {
        /// The project id as sent.
        project_id: String,
    },
    /// 401: `x-stack-access-token` is not a token keygate issued (garbage, bad signature).
    UnparsableAccessToken,
    /// 401: the access token has expired.
    AccessTokenExpired {
        /// When it expired (epoch milliseconds), if known.
        expired_at_millis: Option<i64>,
    },
    /// 401: the access token belongs to another project.
    InvalidProjectForAccessToken {
        /// The project of the request (`x-stack-project-id`).
        expected_project_id: String,
        /// The project the token was issued for.
        actual_project_id: String,
    },
    /// 401: refresh with an unknown, expired or signed-out refresh token.
    RefreshTokenNotFoundOrExpired,
    /// 400: revoking, from the sessions list, the session the request itself uses.
    CannotDeleteCurrentSession,
    /// 404: no such user in the project.
    UserNotFound,
    /// 400: a body refers to a user that does not exist.
    UserIdDoesNotExist {
        /// The user id from the body.
        user_id: UserId,
    },
    /// 409: the primary email is already used in the project.
    UserEmailAlreadyExists {
        /// The email.
        email: String,
        /// Upstream's hint that signing in would work once the existing email is verified.
        would_work_if_email_was_verified: bool,
    },
    /// 404: no such team in the project.
    TeamNotFound {
        /// The team id.
        team_id: TeamId,
    },
    /// 409: the user is already a member of the team.
    TeamMembershipAlreadyExists,
    /// 404: the user is not a member of the team.
    TeamMembershipNotFound {
        /// The team id.
        team_id: TeamId,
        /// The user id.
        user_id: UserId,
    },
    /// 401 (keygate's own): an operator endpoint was called without `authorization: Bearer`.
    OperatorAuthenticationRequired,
    /// 401 (keygate's own): the bearer token is not the operator token (or none is configured).
    InvalidOperatorToken,
    /// 401: the session user is a member of the team but lacks a permission the endpoint needs.
    TeamPermissionRequired {
        /// The team.
        team_id: TeamId,
        /// The session user.
        user_id: UserId,
        /// The permission that is missing.
        permission_id: String,
    },
    /// 404: the permission id is not defined.
    PermissionNotFound {
        /// The permission id as given.
        permission_id: String,
    },
    /// 401: revoking a team permission the member does not hold directly.
    TeamPermissionNotFound {
        /// The team.
        team_id: TeamId,
        /// The member.
        user_id: UserId,
        /// The permission id as given.
        permission_id: String,
    },
    /// 429 (keygate's own; the contract names no upstream rate-limit error): too many
    /// requests, or too many failed authentications, from the client's address
    /// (`crate::rate_limits`). Sent with `retry-after` in whole seconds.
    RateLimited {
        /// How long until a request from the address can pass again.
        retry_after_millis: u64,
    },
    /// 400 (keygate's own): the HTTP parser refused the request line or a header
    /// (`crate::server`).
    MalformedHttpRequest,
    /// 414 (keygate's own): the request URI is longer than the HTTP parser accepts.
    UriTooLong {
        /// The longest URI accepted, in bytes.
        max_bytes: usize,
    },
    /// 431 (keygate's own): more headers, or a larger head, than the HTTP parser accepts.
    RequestHeadTooLarge,
    /// 408 (keygate's own): the request head did not arrive in time.
    RequestHeadTimeout,
    /// 400: the OAuth token endpoint was given a client id that is not a project, or a client
    /// secret that is not one of its publishable client keys.
    InvalidOAuthClientIdOrSecret {
        /// The client id as sent, if any.
        client_id: Option<String>,
    },
}

/// Quotes a string the way JavaScript's `JSON.stringify` does (used inside some messages).
fn json_quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// Formats epoch milliseconds like JavaScript's `Date.prototype.toISOString`.
fn iso_millis(millis: i64) -> Option<String> {
    DateTime::from_timestamp_millis(millis).map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Everything the wire says about one [`KnownError`]: one row of the table in
/// [`KnownError::spec`].
struct Spec {
    code: &'static str,
    status: StatusCode,
    message: Cow<'static, str>,
    details: Option<Vec<(&'static str, Value)>>,
}

/// A row of the table, without `details` until [`Spec::details`] adds them.
fn row(code: &'static str, status: StatusCode, message: impl Into<Cow<'static, str>>) -> Spec {
    Spec {
        code,
        status,
        message: message.into(),
        details: None,
    }
}

impl Spec {
    /// The `details` object, in upstream's key order.
    fn details<const N: usize>(self, details: [(&'static str, Value); N]) -> Spec {
        Spec {
            details: Some(details.into()),
            ..self
        }
    }

    /// The JSON body `{"code", "details"?, "error"}`, pretty-printed with a 2-space indent.
    fn into_json_body(self) -> String {
        let body = KnownErrorBody {
            code: self.code,
            details: self.details.map(OrderedObject),
            error: self.message,
        };
        // Serializing strings, numbers and arrays into a String cannot fail.
        serde_json::to_string_pretty(&body).unwrap_or_default()
    }
}

/// A JSON string of `value`'s text (ids, key types and access types are sent that way).
fn text(value: impl fmt::Display) -> Value {
    Value::String(value.to_string())
}

/// `null` or the value.
fn or_null(value: Option<impl Into<Value>>) -> Value {
    value.map_or(Value::Null, Into::into)
}

/// `retry-after` in whole seconds: rounded up, at least 1 (a client must wait, not spin).
pub(crate) fn retry_after_seconds(millis: u64) -> u64 {
    millis.div_ceil(1000).max(1)
}

/// Message of both `TEAM_PERMISSION_REQUIRED` and `TEAM_PERMISSION_NOT_FOUND`.
fn missing_team_permission(team_id: &TeamId, user_id: &UserId, permission_id: &str) -> String {
    format!("User {user_id} does not have permission {permission_id} in team {team_id}.")
}

impl KnownError {
    /// The table: code, status, message and `details` of each error, as upstream has them
    /// (the two operator errors are keygate's own). Adding an error means adding a variant and
    /// its row here.
    fn spec(&self) -> Spec {
        use KnownError::*;
        const BAD_REQUEST: StatusCode = StatusCode::BAD_REQUEST;
        const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
        const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
        const CONFLICT: StatusCode = StatusCode::CONFLICT;
        match self {
            ApiKeyNotFound => row("API_KEY_NOT_FOUND", NOT_FOUND, "API key not found."),
            ApiKeyExpired => row("API_KEY_EXPIRED", UNAUTHORIZED, "API key has expired."),
            ApiKeyRevoked => row("API_KEY_REVOKED", UNAUTHORIZED, "API key has been revoked."),
            WrongApiKeyType { expected_type, actual_type } => row(
                "WRONG_API_KEY_TYPE",
                BAD_REQUEST,
                format!("This endpoint is for {expected_type} API keys, but a {actual_type} API key was provided."),
            )
            .details([("expected_type", text(expected_type)), ("actual_type", text(actual_type))]),
            PublicApiKeyCannotBeRevoked => row(
                "PUBLIC_API_KEY_CANNOT_BE_REVOKED",
                BAD_REQUEST,
                "Public API keys cannot be revoked by the secretscanner endpoint.",
            ),
            ApiKeyScopeMissing { missing_scopes } => row(
                "API_KEY_SCOPE_MISSING",
                StatusCode::FORBIDDEN,
                format!("The API key lacks required scopes: {}.", missing_scopes.join(", ")),
            )
            .details([("missing_scopes", Value::from(missing_scopes.clone()))]),
            ApiKeyRateLimited {
                limit,
                remaining,
                reset_at_millis,
                reset_after_millis,
                ..
            } => row(
                "API_KEY_RATE_LIMITED",
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "The API key is over its rate limit of {limit} checks per window. Try again in {} seconds.",
                    ratelimit_headers::seconds(*reset_after_millis)
                ),
            )
            .details([
                ("limit", Value::from(*limit)),
                ("remaining", Value::from(*remaining)),
                ("reset_at_millis", Value::from(*reset_at_millis)),
            ]),
            ApiKeyUsageExceeded => row(
                "API_KEY_USAGE_EXCEEDED",
                StatusCode::TOO_MANY_REQUESTS,
                "The API key has no usage credits left for this check.",
            ),
            ApiKeyLimitReached { limit } => row(
                "API_KEY_LIMIT_REACHED",
                CONFLICT,
                format!("This owner already has the maximum number of API keys ({limit}); keys are counted whether revoked, expired or valid."),
            )
            .details([("limit", Value::from(*limit))]),
            TeamLimitReached { limit } => row(
                "TEAM_LIMIT_REACHED",
                CONFLICT,
                format!("This user already belongs to the maximum number of teams a client may create ({limit})."),
            )
            .details([("limit", Value::from(*limit))]),
            SchemaError { message } => row("SCHEMA_ERROR", BAD_REQUEST, message.clone())
                .details([("message", text(message))]),
            BodyParsingError { message } => row("BODY_PARSING_ERROR", BAD_REQUEST, message.clone()),
            UserAuthenticationRequired => row(
                "USER_AUTHENTICATION_REQUIRED",
                UNAUTHORIZED,
                "User authentication required for this endpoint.",
            ),
            CannotGetOwnUserWithoutUser => row(
                "CANNOT_GET_OWN_USER_WITHOUT_USER",
                BAD_REQUEST,
                "You have specified 'me' as a userId, but did not provide authentication for a user.",
            ),
            InsufficientAccessType { actual_access_type, allowed_access_types } => {
                let allowed: Vec<String> =
                    allowed_access_types.iter().map(|t| format!("'{t}'")).collect();
                row(
                    "INSUFFICIENT_ACCESS_TYPE",
                    UNAUTHORIZED,
                    format!(
                        "The x-stack-access-type header must be {}, but was '{actual_access_type}'.",
                        allowed.join(" or ")
                    ),
                )
                .details([
                    ("actual_access_type", text(actual_access_type)),
                    (
                        "allowed_access_types",
                        allowed_access_types.iter().map(text).collect(),
                    ),
                ])
            }
            AccessTypeRequired => row(
                "ACCESS_TYPE_REQUIRED",
                BAD_REQUEST,
                format!("You must specify an access level for this Stack project. Make sure project API keys are provided (eg. x-stack-publishable-client-key) and you set the x-stack-access-type header to 'client', 'server', or 'admin'.\n\n{REST_AUTH_DOCS}"),
            ),
            ProjectKeyWithoutAccessType => row(
                "PROJECT_KEY_WITHOUT_ACCESS_TYPE",
                BAD_REQUEST,
                "Either an API key or an admin access token was provided, but the x-stack-access-type header is missing. Set it to 'client', 'server', or 'admin' as appropriate.",
            ),
            AccessTypeWithoutProjectId { request_type } => row(
                "ACCESS_TYPE_WITHOUT_PROJECT_ID",
                BAD_REQUEST,
                format!("The x-stack-access-type header was '{request_type}', but the x-stack-project-id header was not provided.\n\n{REST_AUTH_DOCS}"),
            )
            .details([("request_type", text(request_type))]),
            InvalidAccessType { access_type } => row(
                "INVALID_ACCESS_TYPE",
                BAD_REQUEST,
                format!("The x-stack-access-type header must be 'client', 'server', or 'admin', but was '{access_type}'."),
            ),
            CurrentProjectNotFound { project_id } => row(
                "CURRENT_PROJECT_NOT_FOUND",
                BAD_REQUEST,
                format!("The current project with ID {project_id} was not found. Please check the value of the x-stack-project-id header."),
            )
            .details([("project_id", text(project_id))]),
            ClientAuthenticationRequired => row(
                "CLIENT_AUTHENTICATION_REQUIRED",
                UNAUTHORIZED,
                "The publishable client key must be provided.",
            ),
            ServerAuthenticationRequired => row(
                "SERVER_AUTHENTICATION_REQUIRED",
                UNAUTHORIZED,
                "The secret server key must be provided.",
            ),
            AdminAuthenticationRequired => row(
                "ADMIN_AUTHENTICATION_REQUIRED",
                UNAUTHORIZED,
                "The super secret admin key must be provided.",
            ),
            InvalidPublishableClientKey { project_id } => row(
                "INVALID_PUBLISHABLE_CLIENT_KEY",
                UNAUTHORIZED,
                format!("The publishable key is not valid for the project {}. Does the project and/or the key exist?", json_quoted(project_id)),
            )
            .details([("project_id", text(project_id))]),
            InvalidSecretServerKey { project_id } => row(
                "INVALID_SECRET_SERVER_KEY",
                UNAUTHORIZED,
                format!("The secret server key is not valid for the project {}. Does the project and/or the key exist?", json_quoted(project_id)),
            )
            .details([("project_id", text(project_id))]),
            InvalidSuperSecretAdminKey { project_id } => row(
                "INVALID_SUPER_SECRET_ADMIN_KEY",
                UNAUTHORIZED,
                format!("The super secret admin key is not valid for the project {}. Does the project and/or the key exist?", json_quoted(project_id)),
            )
            .details([("project_id", text(project_id))]),
            UnparsableAccessToken => {
                row("UNPARSABLE_ACCESS_TOKEN", UNAUTHORIZED, "Access token is not parsable.")
            }
            AccessTokenExpired { expired_at_millis } => {
                let when = expired_at_millis
                    .and_then(iso_millis)
                    .map(|iso| format!(" (The access token expired at {iso}.)"))
                    .unwrap_or_default();
                row(
                    "ACCESS_TOKEN_EXPIRED",
                    UNAUTHORIZED,
                    format!("Access token has expired. Please refresh it and try again.{when}"),
                )
                .details([("expired_at_millis", or_null(*expired_at_millis))])
            }
            InvalidProjectForAccessToken { expected_project_id, actual_project_id } => row(
                "INVALID_PROJECT_FOR_ACCESS_TOKEN",
                UNAUTHORIZED,
                format!(
                    "Access token not valid for this project. Expected project ID {}, but the token is for project ID {}.",
                    json_quoted(expected_project_id),
                    json_quoted(actual_project_id)
                ),
            )
            .details([
                ("expected_project_id", text(expected_project_id)),
                ("actual_project_id", text(actual_project_id)),
            ]),
            RefreshTokenNotFoundOrExpired => row(
                "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED",
                UNAUTHORIZED,
                "Refresh token not found for this project, or the session has expired/been revoked.",
            ),
            CannotDeleteCurrentSession => row(
                "CANNOT_DELETE_CURRENT_SESSION",
                BAD_REQUEST,
                "Cannot delete the current session.",
            ),
            UserNotFound => row("USER_NOT_FOUND", NOT_FOUND, "User not found."),
            UserIdDoesNotExist { user_id } => row(
                "USER_ID_DOES_NOT_EXIST",
                BAD_REQUEST,
                format!("The given user with the ID {user_id} does not exist."),
            )
            .details([("user_id", text(user_id))]),
            UserEmailAlreadyExists { email, would_work_if_email_was_verified } => {
                let tail = if *would_work_if_email_was_verified {
                    " but the email is not verified. Please login to your existing account with the method you used to sign up, and then verify your email to sign in with this login method."
                } else {
                    "."
                };
                row(
                    "USER_EMAIL_ALREADY_EXISTS",
                    CONFLICT,
                    format!("A user with email {} already exists{tail}", json_quoted(email)),
                )
                .details([
                    ("email", text(email)),
                    (
                        "would_work_if_email_was_verified",
                        Value::Bool(*would_work_if_email_was_verified),
                    ),
                ])
            }
            TeamNotFound { team_id } => {
                row("TEAM_NOT_FOUND", NOT_FOUND, format!("Team {team_id} not found."))
                    .details([("team_id", text(team_id))])
            }
            TeamMembershipAlreadyExists => row(
                "TEAM_MEMBERSHIP_ALREADY_EXISTS",
                CONFLICT,
                "Team membership already exists.",
            ),
            TeamMembershipNotFound { team_id, user_id } => row(
                "TEAM_MEMBERSHIP_NOT_FOUND",
                NOT_FOUND,
                format!("User {user_id} is not found in team {team_id}."),
            )
            .details([("team_id", text(team_id)), ("user_id", text(user_id))]),
            PermissionNotFound { permission_id } => row(
                "PERMISSION_NOT_FOUND",
                NOT_FOUND,
                format!("Permission \"{permission_id}\" not found. Make sure you created it on the dashboard."),
            )
            .details([("permission_id", text(permission_id))]),
            TeamPermissionRequired { team_id, user_id, permission_id } => row(
                "TEAM_PERMISSION_REQUIRED",
                UNAUTHORIZED,
                missing_team_permission(team_id, user_id, permission_id),
            )
            .details([
                ("team_id", text(team_id)),
                ("user_id", text(user_id)),
                ("permission_id", text(permission_id)),
            ]),
            TeamPermissionNotFound { team_id, user_id, permission_id } => row(
                "TEAM_PERMISSION_NOT_FOUND",
                UNAUTHORIZED,
                missing_team_permission(team_id, user_id, permission_id),
            )
            .details([
                ("team_id", text(team_id)),
                ("user_id", text(user_id)),
                ("permission_id", text(permission_id)),
            ]),
            InvalidOAuthClientIdOrSecret { client_id } => row(
                "INVALID_OAUTH_CLIENT_ID_OR_SECRET",
                BAD_REQUEST,
                "The OAuth client ID or secret is invalid. The client ID must be equal to the project ID (potentially with a hash and a branch ID), and the client secret must be a publishable client key.",
            )
            .details([("client_id", or_null(client_id.clone()))]),
            RateLimited { retry_after_millis } => row(
                "RATE_LIMITED",
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many requests from this address. Try again in {} seconds.",
                    retry_after_seconds(*retry_after_millis)
                ),
            )
            .details([("retry_after_millis", Value::from(*retry_after_millis))]),
            MalformedHttpRequest => row(
                "MALFORMED_HTTP_REQUEST",
                BAD_REQUEST,
                "The request is not valid HTTP/1.1: its request line or a header could not be parsed.",
            ),
            UriTooLong { max_bytes } => row(
                "URI_TOO_LONG",
                StatusCode::URI_TOO_LONG,
                format!("The request URI is longer than the {max_bytes} bytes keygate accepts."),
            )
            .details([("max_bytes", Value::from(*max_bytes))]),
            RequestHeadTooLarge => row(
                "REQUEST_HEADER_FIELDS_TOO_LARGE",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "The request has too many headers (at most 96) or too large a head (at most 128 KiB).",
            ),
            RequestHeadTimeout => row(
                "REQUEST_TIMEOUT",
                StatusCode::REQUEST_TIMEOUT,
                "The request's head did not arrive in time.",
            ),
            OperatorAuthenticationRequired => row(
                "OPERATOR_AUTHENTICATION_REQUIRED",
                UNAUTHORIZED,
                "This endpoint is for the operator of this keygate server: send the operator token as `authorization: Bearer <token>`.",
            ),
            InvalidOperatorToken => row(
                "INVALID_OPERATOR_TOKEN",
                UNAUTHORIZED,
                "The operator token is not valid (or this server has no operator token configured).",
            ),
        }
    }

    /// The HTTP status (always 4xx).
    pub fn status(&self) -> StatusCode {
        self.spec().status
    }

    /// The code, e.g. `"API_KEY_NOT_FOUND"`.
    pub fn code(&self) -> &'static str {
        self.spec().code
    }

    /// The human-readable message (the `error` field), exactly as upstream words it.
    pub fn message(&self) -> Cow<'static, str> {
        self.spec().message
    }

    /// The `details` object, in upstream's key order, or `None` when upstream sends none.
    pub fn details(&self) -> Option<Vec<(&'static str, Value)>> {
        self.spec().details
    }

    /// The JSON body `{"code", "details"?, "error"}`, pretty-printed with a 2-space indent.
    pub fn to_json_body(&self) -> String {
        self.spec().into_json_body()
    }

    /// The full response: status, `x-stack-known-error` and the JSON body (and `retry-after`
    /// for [`KnownError::RateLimited`]).
    pub fn to_response(&self) -> HttpResponse {
        let spec = self.spec();
        let mut response = HttpResponse::build(spec.status);
        response
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static(JSON_CONTENT_TYPE),
            ))
            .insert_header((KNOWN_ERROR_HEADER, spec.code));
        if let KnownError::RateLimited { retry_after_millis } = self {
            response.insert_header((
                header::RETRY_AFTER,
                retry_after_seconds(*retry_after_millis),
            ));
        }
        if let KnownError::ApiKeyRateLimited {
            limit,
            remaining,
            reset_after_millis,
            window_millis,
            ..
        } = self
        {
            response.insert_header((
                header::RETRY_AFTER,
                ratelimit_headers::seconds(*reset_after_millis),
            ));
            for pair in
                ratelimit_headers::headers(*limit, *remaining, *reset_after_millis, *window_millis)
            {
                response.insert_header(pair);
            }
        }
        response.body(spec.into_json_body())
    }
}

impl fmt::Display for KnownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = self.spec();
        write!(f, "{}: {}", spec.code, spec.message)
    }
}

impl std::error::Error for KnownError {}

/// Key/value pairs serialized as a JSON object in the given order.
struct OrderedObject(Vec<(&'static str, Value)>);

impl Serialize for OrderedObject {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct KnownErrorBody {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<OrderedObject>,
    error: Cow<'static, str>,
}

/// A plain-text 4xx answer without a known-error code (upstream's `StatusError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct PlainError {
    status: StatusCode,
    message: Cow<'static, str>,
}

impl PlainError {
    /// A plain error. `status` must be a 4xx client error (anything else is a bug and is sent
    /// as 400, so a client never sees a 5xx from this type).
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        debug_assert!(
            status.is_client_error(),
            "PlainError needs a 4xx status, got {status}"
        );
        let status = if status.is_client_error() {
            status
        } else {
            StatusCode::BAD_REQUEST
        };
        PlainError {
            status,
            message: message.into(),
        }
    }

    /// 400 `User API keys are not enabled for this project.`
    pub fn user_api_keys_disabled() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "User API keys are not enabled for this project.",
        )
    }

    /// 400 `Team API keys are not enabled for this project.`
    pub fn team_api_keys_disabled() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Team API keys are not enabled for this project.",
        )
    }

    /// 403 `Client can only manage their own api keys`
    pub fn client_can_only_manage_own_api_keys() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Client can only manage their own api keys",
        )
    }

    /// 403 `Client team creation is disabled for this project`
    pub fn client_team_creation_disabled() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Client team creation is disabled for this project",
        )
    }

    /// 403: a client may only create a team with itself as the creator.
    pub fn team_creator_must_be_self() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "You cannot create a team as a user that is not yourself. Make sure you set the creator_user_id to 'me'.",
        )
    }

    /// 403: a client may only list its own user's teams.
    pub fn client_can_only_list_own_teams() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Client can only list teams for their own user. user_id must be either \"me\" or the ID of the current user",
        )
    }

    /// 403: a client may only list its own user's team permissions.
    pub fn client_can_only_list_own_team_permissions() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Client can only list permissions for their own user. user_id must be either \"me\" or the ID of the current user",
        )
    }

    /// 403: a client may only list its own user's sessions.
    pub fn client_can_only_list_own_sessions() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Client can only list sessions for their own user.",
        )
    }

    /// 404: no such session (or, for a client, another user's).
    pub fn session_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Session not found.")
    }

    /// 403: a client may only list its own user's contact channels.
    pub fn client_can_only_list_own_contact_channels() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Client can only list contact channels for their own user.",
        )
    }

    /// 403: a client may only read its own user's contact channels.
    pub fn client_can_only_read_own_contact_channels() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Client can only read contact channels for their own user.",
        )
    }

    /// 404: the user has no such contact channel.
    pub fn contact_channel_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Contact channel not found.")
    }

    /// 403: a client may only read its own notification preferences.
    pub fn client_can_only_read_own_notification_preferences() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "You can only view your own notification preferences",
        )
    }

    /// 403: a client may only read its own billing.
    pub fn client_can_only_read_own_billing() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Clients can only manage their own billing.",
        )
    }

    /// 403: a client may only list its own user's or team's products.
    pub fn client_can_only_list_own_products() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Clients can only access their own user or team products.",
        )
    }

    /// 403: a client may only change its own team member profile.
    pub fn cannot_update_others_team_profile() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Cannot update another user's profile",
        )
    }

    /// 400: a products page cursor that names no product of the customer.
    pub fn invalid_products_cursor() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Invalid cursor")
    }

    /// 400: `GET /team-invitations` with both `team_id` and `user_id`.
    pub fn invitations_by_team_and_user() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Cannot specify both team_id and user_id",
        )
    }

    /// 400: `GET /team-invitations` with neither `team_id` nor `user_id`.
    pub fn invitations_need_team_or_user() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Must specify either team_id or user_id",
        )
    }

    /// 400 `Client user deletion is not enabled for this project`
    pub fn client_user_deletion_disabled() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Client user deletion is not enabled for this project",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The full response: status and the text body.
    pub fn to_response(&self) -> HttpResponse {
        text_response(self.status, self.message.to_string())
    }
}

fn text_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(TEXT_CONTENT_TYPE),
        ))
        .body(body)
}

/// Body of a 503: generic on purpose (the cause is in the log, under the same request id).
pub const UNAVAILABLE_MESSAGE: &str = "keygate cannot serve this request right now because a service it depends on is unavailable. Please retry shortly; if this persists, report the x-stack-request-id of this response to the operator.";

/// Body of a 500: generic on purpose (the cause is in the log, under the same request id).
pub const INTERNAL_MESSAGE: &str = "Something went wrong inside keygate; this is a bug. Please report the x-stack-request-id of this response to the operator.";

/// Every error a handler can return; renders itself as the wire expects.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An upstream known error (4xx, JSON).
    #[error(transparent)]
    Known(#[from] KnownError),
    /// A plain-text 4xx.
    #[error(transparent)]
    Plain(#[from] PlainError),
    /// A backing service failed (503); the cause was logged when this was built.
    #[error("a backing service is unavailable")]
    Unavailable,
    /// A bug (500); the cause was logged when this was built.
    #[error("internal error")]
    Internal,
}

/// Renders an error and its `source()` chain as `outer: inner: innermost`.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

impl ApiError {
    /// A `SCHEMA_ERROR` with a hand-written message, e.g. `"user_id is required for user API keys"`.
    pub fn schema(message: impl Into<String>) -> Self {
        ApiError::Known(KnownError::SchemaError {
            message: message.into(),
        })
    }

    /// A backing service (the database) failed: logs `cause` and answers 503.
    pub fn unavailable(cause: &dyn std::error::Error) -> Self {
        tracing::error!(cause = %cause_chain(cause), "backing service failed; answering 503");
        ApiError::Unavailable
    }

    /// A bug (broken invariant): logs `cause` and answers 500.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(cause = %cause_chain(cause), "internal error (a bug); answering 500");
        ApiError::Internal
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Known(known) => known.status(),
            ApiError::Plain(plain) => plain.status(),
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Known(known) => known.to_response(),
            ApiError::Plain(plain) => plain.to_response(),
            ApiError::Unavailable => {
                let mut response = text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    UNAVAILABLE_MESSAGE.to_owned(),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            ApiError::Internal => text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                INTERNAL_MESSAGE.to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_text(response: HttpResponse) -> String {
        let bytes = response
            .into_body()
            .try_into_bytes()
            .expect("buffered body");
        String::from_utf8(bytes.to_vec()).expect("utf-8 body")
    }

    /// One of each variant.
    fn every_known_error() -> Vec<KnownError> {
        let user = UserId::new_random();
        let team = TeamId::new_random();
        vec![
            KnownError::ApiKeyNotFound,
            KnownError::ApiKeyExpired,
            KnownError::ApiKeyRevoked,
            KnownError::WrongApiKeyType {
                expected_type: KeyType::Team,
                actual_type: KeyType::User,
            },
            KnownError::PublicApiKeyCannotBeRevoked,
            KnownError::ApiKeyScopeMissing {
                missing_scopes: vec!["invoices:write".into()],
            },
            KnownError::ApiKeyRateLimited {
                limit: 10,
                remaining: 0,
                reset_at_millis: 1_745_000_001_000,
                reset_after_millis: 250,
                window_millis: 1_000,
            },
            KnownError::ApiKeyUsageExceeded,
            KnownError::ApiKeyLimitReached { limit: 1_000 },
            KnownError::TeamLimitReached { limit: 100 },
            KnownError::SchemaError {
                message: "x".into(),
            },
            KnownError::BodyParsingError {
                message: "Invalid JSON in request body".into(),
            },
            KnownError::UserAuthenticationRequired,
            KnownError::CannotGetOwnUserWithoutUser,
            KnownError::InsufficientAccessType {
                actual_access_type: AccessType::Client,
                allowed_access_types: vec![AccessType::Server, AccessType::Admin],
            },
            KnownError::AccessTypeRequired,
            KnownError::ProjectKeyWithoutAccessType,
            KnownError::AccessTypeWithoutProjectId {
                request_type: AccessType::Server,
            },
            KnownError::InvalidAccessType {
                access_type: "root".into(),
            },
            KnownError::CurrentProjectNotFound {
                project_id: "p".into(),
            },
            KnownError::ClientAuthenticationRequired,
            KnownError::ServerAuthenticationRequired,
            KnownError::AdminAuthenticationRequired,
            KnownError::InvalidPublishableClientKey {
                project_id: "p".into(),
            },
            KnownError::InvalidSecretServerKey {
                project_id: "p".into(),
            },
            KnownError::InvalidSuperSecretAdminKey {
                project_id: "p".into(),
            },
            KnownError::UnparsableAccessToken,
            KnownError::AccessTokenExpired {
                expired_at_millis: Some(0),
            },
            KnownError::InvalidProjectForAccessToken {
                expected_project_id: "a".into(),
                actual_project_id: "b".into(),
            },
            KnownError::RefreshTokenNotFoundOrExpired,
            KnownError::CannotDeleteCurrentSession,
            KnownError::UserNotFound,
            KnownError::UserIdDoesNotExist { user_id: user },
            KnownError::UserEmailAlreadyExists {
                email: "a@b.c".into(),
                would_work_if_email_was_verified: false,
            },
            KnownError::TeamNotFound { team_id: team },
            KnownError::TeamMembershipAlreadyExists,
            KnownError::TeamMembershipNotFound {
                team_id: team,
                user_id: user,
            },
            KnownError::PermissionNotFound {
                permission_id: "$x".into(),
            },
            KnownError::OperatorAuthenticationRequired,
            KnownError::InvalidOperatorToken,
            KnownError::RateLimited {
                retry_after_millis: 1_500,
            },
            KnownError::MalformedHttpRequest,
            KnownError::UriTooLong { max_bytes: 65_534 },
            KnownError::RequestHeadTooLarge,
            KnownError::RequestHeadTimeout,
            KnownError::TeamPermissionRequired {
                team_id: team,
                user_id: user,
                permission_id: "$manage_api_keys".into(),
            },
            KnownError::TeamPermissionNotFound {
                team_id: team,
                user_id: user,
                permission_id: "team_member".into(),
            },
            KnownError::InvalidOAuthClientIdOrSecret { client_id: None },
        ]
    }

    #[test]
    fn every_known_error_is_a_4xx_with_a_screaming_snake_code() {
        for error in every_known_error() {
            assert!(error.status().is_client_error(), "{error}");
            assert!(
                error
                    .code()
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_'),
                "{}",
                error.code()
            );
            assert!(!error.message().is_empty());
        }
    }

    #[test]
    fn codes_are_unique_screaming_snake_case_and_statuses_4xx() {
        let errors = every_known_error();
        let mut variants = std::collections::HashSet::new();
        let mut codes = std::collections::HashSet::new();
        for error in &errors {
            assert!(
                variants.insert(std::mem::discriminant(error)),
                "{error:?} is listed twice"
            );
            let code = error.code();
            assert!(codes.insert(code), "two errors share the code {code}");
            assert!(
                code.split('_').all(|word| {
                    word.starts_with(|c: char| c.is_ascii_uppercase())
                        && word
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                }),
                "{code} is not SCREAMING_SNAKE_CASE"
            );
            let status = error.status();
            assert!(
                (400..500).contains(&status.as_u16()),
                "{code} has status {status}"
            );
        }
    }

    #[test]
    fn known_error_response_has_header_content_type_and_pretty_body() {
        let error = KnownError::WrongApiKeyType {
            expected_type: KeyType::Team,
            actual_type: KeyType::User,
        };
        let response = error.to_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers().get(KNOWN_ERROR_HEADER).unwrap(),
            "WRONG_API_KEY_TYPE"
        );
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            JSON_CONTENT_TYPE
        );
        assert_eq!(
            body_text(response),
            "{\n  \"code\": \"WRONG_API_KEY_TYPE\",\n  \"details\": {\n    \"expected_type\": \"team\",\n    \"actual_type\": \"user\"\n  },\n  \"error\": \"This endpoint is for team API keys, but a user API key was provided.\"\n}"
        );
    }

    #[test]
    fn rate_limited_is_a_429_with_retry_after_in_whole_seconds_rounded_up() {
        let response = KnownError::RateLimited {
            retry_after_millis: 1_001,
        }
        .to_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "2");
        assert_eq!(
            body_text(response),
            "{\n  \"code\": \"RATE_LIMITED\",\n  \"details\": {\n    \"retry_after_millis\": 1001\n  },\n  \"error\": \"Too many requests from this address. Try again in 2 seconds.\"\n}"
        );
        let response = KnownError::RateLimited {
            retry_after_millis: 1,
        }
        .to_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
    }

    #[test]
    fn details_are_left_out_when_upstream_has_none() {
        let body = KnownError::ApiKeyNotFound.to_json_body();
        assert_eq!(
            body,
            "{\n  \"code\": \"API_KEY_NOT_FOUND\",\n  \"error\": \"API key not found.\"\n}"
        );
    }

    #[test]
    fn body_code_always_equals_header() {
        for error in every_known_error() {
            let response = error.to_response();
            let header = response
                .headers()
                .get(KNOWN_ERROR_HEADER)
                .unwrap()
                .to_str()
                .unwrap();
            let header = header.to_owned();
            let json: Value = serde_json::from_str(&body_text(response)).unwrap();
            assert_eq!(json["code"], Value::String(header));
            assert_eq!(json["error"], Value::String(error.message().into_owned()));
        }
    }

    #[test]
    fn insufficient_access_type_reads_like_upstream() {
        let error = KnownError::InsufficientAccessType {
            actual_access_type: AccessType::Client,
            allowed_access_types: vec![AccessType::Server, AccessType::Admin],
        };
        assert_eq!(
            error.message(),
            "The x-stack-access-type header must be 'server' or 'admin', but was 'client'."
        );
        let json: Value = serde_json::from_str(&error.to_json_body()).unwrap();
        assert_eq!(
            json["details"],
            serde_json::json!({"actual_access_type": "client", "allowed_access_types": ["server", "admin"]})
        );
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn schema_error_repeats_its_message_in_details() {
        let ApiError::Known(error) = ApiError::schema("user_id is required for user API keys")
        else {
            panic!("schema() builds a known error");
        };
        let json: Value = serde_json::from_str(&error.to_json_body()).unwrap();
        assert_eq!(json["error"], "user_id is required for user API keys");
        assert_eq!(
            json["details"]["message"],
            "user_id is required for user API keys"
        );
    }

    #[test]
    fn access_token_expired_names_the_instant_in_iso_form() {
        let error = KnownError::AccessTokenExpired {
            expired_at_millis: Some(1_700_000_000_000),
        };
        assert_eq!(
            error.message(),
            "Access token has expired. Please refresh it and try again. (The access token expired at 2023-11-14T22:13:20.000Z.)"
        );
        assert_eq!(
            error.details().unwrap()[0].1,
            Value::from(1_700_000_000_000_i64)
        );
        let unknown = KnownError::AccessTokenExpired {
            expired_at_millis: None,
        };
        assert_eq!(
            unknown.message(),
            "Access token has expired. Please refresh it and try again."
        );
        assert_eq!(unknown.details().unwrap()[0].1, Value::Null);
    }

    #[test]
    fn messages_quote_ids_like_json_stringify() {
        let error = KnownError::InvalidProjectForAccessToken {
            expected_project_id: "a".into(),
            actual_project_id: "b\"c".into(),
        };
        assert_eq!(
            error.message(),
            "Access token not valid for this project. Expected project ID \"a\", but the token is for project ID \"b\\\"c\"."
        );
        let key = KnownError::InvalidSecretServerKey {
            project_id: "p1".into(),
        };
        assert_eq!(
            key.message(),
            "The secret server key is not valid for the project \"p1\". Does the project and/or the key exist?"
        );
    }

    #[test]
    fn access_type_messages_keep_upstreams_blank_line() {
        let error = KnownError::AccessTypeWithoutProjectId {
            request_type: AccessType::Client,
        };
        assert_eq!(
            error.message(),
            "The x-stack-access-type header was 'client', but the x-stack-project-id header was not provided.\n\nFor more information, see the docs on REST API authentication: https://docs.stack-auth.com/rest-api/overview#authentication"
        );
        assert!(KnownError::AccessTypeRequired
            .message()
            .starts_with("You must specify"));
    }

    #[test]
    fn plain_errors_are_text_without_known_error_header() {
        let response =
            ApiError::from(PlainError::client_can_only_manage_own_api_keys()).error_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers().get(KNOWN_ERROR_HEADER).is_none());
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            TEXT_CONTENT_TYPE
        );
        assert_eq!(
            body_text(response),
            "Client can only manage their own api keys"
        );
        assert_eq!(
            PlainError::user_api_keys_disabled().message(),
            "User API keys are not enabled for this project."
        );
        assert_eq!(
            PlainError::team_api_keys_disabled().message(),
            "Team API keys are not enabled for this project."
        );
    }

    #[test]
    fn server_faults_are_503_for_outages_and_500_for_bugs() {
        let io = std::io::Error::other("connection refused");
        let unavailable = ApiError::unavailable(&io);
        assert_eq!(unavailable.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let response = unavailable.error_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        let text = body_text(response);
        assert!(
            !text.contains("connection refused"),
            "the cause stays in the log"
        );

        let internal = ApiError::internal(&io);
        assert_eq!(internal.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body_text(internal.error_response()), INTERNAL_MESSAGE);
    }

    #[test]
    fn access_type_parses_exactly() {
        assert_eq!("server".parse::<AccessType>(), Ok(AccessType::Server));
        assert!("Server".parse::<AccessType>().is_err());
        assert_eq!(AccessType::Admin.to_string(), "admin");
    }
}
