//! What a call to keygate answers when it does not succeed: a [`Rejection`] of the key (keygate
//! answered, and said no), or a [`ClientError`] of the call itself.

use std::time::Duration;

use keygate_domain::KeyType;

/// Why keygate refused a key. Each has its own answer in a public API (see
/// [`crate::actix`]): 401 for the first four, 403 for a missing scope, 429 for the last two.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a keygate key, unknown, another project's, or a forged one (`API_KEY_NOT_FOUND`).
    #[error("the API key is not valid")]
    NotFound,
    /// Revoked (`API_KEY_REVOKED`).
    #[error("the API key has been revoked")]
    Revoked,
    /// Expired (`API_KEY_EXPIRED`).
    #[error("the API key has expired")]
    Expired,
    /// A user key on the team check or the reverse (`WRONG_API_KEY_TYPE`).
    #[error("this is not a {expected} API key")]
    WrongType {
        /// The type that was asked for.
        expected: KeyType,
    },
    /// Valid, but without scopes the check required (`API_KEY_SCOPE_MISSING`).
    #[error("the API key lacks required scopes: {}", missing.join(", "))]
    ScopeMissing {
        /// The required scopes it lacks.
        missing: Vec<String>,
    },
    /// Valid, but over its rate limit in this window (`API_KEY_RATE_LIMITED`).
    #[error("the API key is over its rate limit of {limit} checks per window")]
    RateLimited {
        /// Checks allowed per window.
        limit: i64,
        /// When the window ends.
        reset_at_millis: i64,
        /// How long to wait (keygate's `retry-after`).
        retry_after: Duration,
    },
    /// Valid, but without the usage credits the check costs (`API_KEY_USAGE_EXCEEDED`).
    #[error("the API key has no usage credits left")]
    UsageExceeded,
}

/// Why a call to keygate did not give an answer about the key (or the object asked for).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// keygate answered: the key is refused.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// keygate could not be reached (no connection after the retries, or no answer in time).
    #[error("keygate at {base_url} is unreachable: {source}")]
    Unreachable {
        /// The base URL the client was built with.
        base_url: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// keygate refused this client's own credentials or request (a wrong project id or secret
    /// server key, a switched-off feature, an invalid argument): a fault of the configuration
    /// or the call, not of the key being checked.
    #[error("keygate refused the request ({status}{}): {message}", code.as_deref().map(|code| format!(", {code}")).unwrap_or_default())]
    Refused {
        /// The HTTP status.
        status: u16,
        /// keygate's known-error code (`x-stack-known-error`), if it sent one.
        code: Option<String>,
        /// keygate's message.
        message: String,
    },
    /// keygate answered something this client does not understand (a version mismatch, or not
    /// keygate at all).
    #[error("unexpected answer from keygate: {0}")]
    UnexpectedAnswer(String),
    /// The client could not be built (a base URL that is not a URL, or an invalid header value).
    #[error("invalid keygate client configuration: {0}")]
    Configuration(String),
}

impl ClientError {
    /// The key's rejection, if that is what this is.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            ClientError::Rejected(rejection) => Some(rejection),
            _ => None,
        }
    }
}
