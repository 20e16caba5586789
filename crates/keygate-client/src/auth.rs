//! What the framework integrations ([`crate::actix`], [`crate::axum`]) share: where a request's
//! key is, how it is verified, and the answer a public API gives when it is not let through —
//! one home for both, so an actix-web and an axum service answer alike.
//!
//! The answers (RFC 6750 for the first two):
//! - no key, or a key keygate refuses (not found, revoked, expired, of the other type): **401**
//!   with `WWW-Authenticate: Bearer realm="api"` (and `error="invalid_token"` when a key was
//!   given);
//! - a key without a scope the route requires: **403** with
//!   `WWW-Authenticate: Bearer realm="api", error="insufficient_scope", scope="…"`;
//! - over its rate limit: **429** with `retry-after`; out of usage credits: **429**;
//! - keygate unreachable or refusing this service's own credentials: **503** with
//!   `retry-after: 1` (logged; the caller learns nothing about keygate).
//!
//! Each answer is a small JSON object `{"error", "error_description"}`.

use std::fmt;

use keygate_domain::KeyType;
use serde_json::{json, Value};

use crate::client::{Check, KeygateClient};
use crate::error::{ClientError, Rejection};
use crate::objects::VerifiedKey;

/// How a service verifies the keys of its requests: the client, the key type, where the key is,
/// and the scopes every request must carry.
#[derive(Debug, Clone)]
pub struct KeygateAuth {
    client: KeygateClient,
    key_type: KeyType,
    header: Option<String>,
    required_scopes: Vec<String>,
}

impl KeygateAuth {
    /// Requests carry user keys.
    pub fn user_keys(client: KeygateClient) -> Self {
        Self::new(client, KeyType::User)
    }

    /// Requests carry team keys.
    pub fn team_keys(client: KeygateClient) -> Self {
        Self::new(client, KeyType::Team)
    }

    fn new(client: KeygateClient, key_type: KeyType) -> Self {
        KeygateAuth {
            client,
            key_type,
            header: None,
            required_scopes: Vec::new(),
        }
    }

    /// Reads the key from this header (e.g. `x-api-key`) instead of `Authorization: Bearer`.
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.header = Some(name.into().to_ascii_lowercase());
        self
    }

    /// Every request must carry a key with `scope`.
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.required_scopes.push(scope.into());
        self
    }

    /// The key a request presents, given a way to read its headers by (lowercase) name (for an
    /// integration with another framework).
    pub fn presented<'r>(&self, header: impl Fn(&str) -> Option<&'r str>) -> Option<&'r str> {
        match &self.header {
            Some(name) => header(name).map(str::trim).filter(|key| !key.is_empty()),
            None => {
                let (scheme, key) = header("authorization")?.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            }
        }
    }

    /// Verifies `presented`, the key a request carries (if any).
    ///
    /// # Errors
    /// [`AuthError::MissingKey`] without a key; [`AuthError::Client`] when keygate refuses it or
    /// cannot answer.
    pub async fn verify(&self, presented: Option<&str>) -> Result<VerifiedKey, AuthError> {
        let Some(key) = presented else {
            return Err(AuthError::MissingKey);
        };
        let check = self
            .required_scopes
            .iter()
            .fold(Check::new(key), |check, scope| {
                check.require_scope(scope.clone())
            });
        self.client
            .check(self.key_type, check)
            .await
            .map_err(AuthError::Client)
    }
}

/// Why a request was not let through.
#[derive(Debug)]
pub enum AuthError {
    /// The request presents no key.
    MissingKey,
    /// keygate refused the key, or could not answer.
    Client(ClientError),
    /// The integration was not given a [`KeygateAuth`] (a programming error: answered 500).
    NotConfigured,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MissingKey => f.write_str("no API key"),
            AuthError::Client(error) => write!(f, "{error}"),
            AuthError::NotConfigured => f.write_str("no KeygateAuth configured"),
        }
    }
}

impl std::error::Error for AuthError {}

/// The answer to a request that was not let through, for a framework to send.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthAnswer {
    /// The HTTP status.
    pub status: u16,
    /// Headers to send (`www-authenticate`, `retry-after`).
    pub headers: Vec<(&'static str, String)>,
    /// `{"error", "error_description"}`.
    pub body: Value,
}

/// `Bearer realm="api"` with the given RFC 6750 parameters.
fn challenge(parameters: &str) -> String {
    if parameters.is_empty() {
        "Bearer realm=\"api\"".to_owned()
    } else {
        format!("Bearer realm=\"api\", {parameters}")
    }
}

impl AuthError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::MissingKey => 401,
            AuthError::NotConfigured => 500,
            AuthError::Client(ClientError::Rejected(rejection)) => match rejection {
                Rejection::ScopeMissing { .. } => 403,
                Rejection::RateLimited { .. } | Rejection::UsageExceeded => 429,
                _ => 401,
            },
            AuthError::Client(_) => 503,
        }
    }

    /// The whole answer (logging the faults that are not the caller's).
    pub fn answer(&self) -> AuthAnswer {
        let mut headers = Vec::new();
        let (error, description) = match self {
            AuthError::MissingKey => {
                headers.push(("www-authenticate", challenge("")));
                ("invalid_request", "An API key is required.".to_owned())
            }
            AuthError::NotConfigured => {
                tracing::error!("a keygate integration was used without a KeygateAuth");
                ("server_error", "The server is misconfigured.".to_owned())
            }
            AuthError::Client(ClientError::Rejected(rejection)) => match rejection {
                Rejection::ScopeMissing { missing } => {
                    let scope = format!(
                        "error=\"insufficient_scope\", scope=\"{}\"",
                        missing.join(" ")
                    );
                    headers.push(("www-authenticate", challenge(&scope)));
                    ("insufficient_scope", rejection.to_string())
                }
                Rejection::RateLimited { retry_after, .. } => {
                    headers.push(("retry-after", retry_after.as_secs().max(1).to_string()));
                    ("rate_limited", rejection.to_string())
                }
                Rejection::UsageExceeded => ("usage_exceeded", rejection.to_string()),
                _ => {
                    headers.push(("www-authenticate", challenge("error=\"invalid_token\"")));
                    ("invalid_token", rejection.to_string())
                }
            },
            AuthError::Client(error) => {
                tracing::error!(%error, "could not verify an API key with keygate");
                headers.push(("retry-after", "1".to_owned()));
                (
                    "temporarily_unavailable",
                    "API keys cannot be verified right now; try again shortly.".to_owned(),
                )
            }
        };
        AuthAnswer {
            status: self.status(),
            headers,
            body: json!({"error": error, "error_description": description}),
        }
    }
}
