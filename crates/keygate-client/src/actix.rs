//! actix-web integration: the [`ApiKeyOwner`] extractor hands a handler the verified key of the
//! request, or answers for it as a public API should.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer, Responder};
//! use keygate_client::actix::{ApiKeyOwner, KeygateAuth};
//! use keygate_client::KeygateClient;
//!
//! async fn whoami(caller: ApiKeyOwner) -> impl Responder {
//!     format!("{:?}", caller.owner)
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let keygate = KeygateClient::builder("https://keys.example.com", "project-id", "ssk_…").build().unwrap();
//! let auth = web::Data::new(KeygateAuth::user_keys(keygate));
//! HttpServer::new(move || App::new().app_data(auth.clone()).route("/whoami", web::get().to(whoami)))
//!     .bind("127.0.0.1:8080")?
//!     .run()
//!     .await
//! # }
//! ```
//!
//! The key comes from `Authorization: Bearer <key>`, or from the header
//! [`KeygateAuth::header`] names. The answers (RFC 6750 for the first two):
//! - no key, or a key keygate refuses (not found, revoked, expired, of the other type): **401**
//!   with `WWW-Authenticate: Bearer realm="api"` (and `error="invalid_token"` when a key was
//!   given);
//! - a key without a scope the route requires ([`KeygateAuth::require_scope`]): **403** with
//!   `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`;
//! - over its rate limit: **429** with `retry-after`; out of usage credits: **429**;
//! - keygate unreachable or refusing this service's own credentials: **503** with
//!   `retry-after: 1` (logged; the caller learns nothing about keygate).
//!
//! Each answer is a small JSON object `{"error", "error_description"}`. A route (or scope) can
//! carry its own [`KeygateAuth`] as app data, e.g. one that requires a scope.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use keygate_domain::KeyType;
use serde_json::json;

use crate::client::{Check, KeygateClient};
use crate::error::{ClientError, Rejection};
use crate::objects::VerifiedKey;

/// How a service verifies the keys of its requests: the client, the key type, where the key is,
/// and the scopes every request must carry. Put it in the app's data (`web::Data`).
#[derive(Debug, Clone)]
pub struct KeygateAuth {
    client: KeygateClient,
    key_type: KeyType,
    header: Option<HeaderName>,
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
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = Some(name);
        self
    }

    /// Every request must carry a key with `scope`.
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.required_scopes.push(scope.into());
        self
    }

    /// The key a request presents, if any.
    fn presented<'r>(&self, request: &'r HttpRequest) -> Option<&'r str> {
        match &self.header {
            Some(name) => request.headers().get(name)?.to_str().ok(),
            None => {
                let value = request
                    .headers()
                    .get(header::AUTHORIZATION)?
                    .to_str()
                    .ok()?;
                let (scheme, key) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            }
        }
    }

    /// Verifies the key `request` presents.
    async fn verify(&self, request: &HttpRequest) -> Result<VerifiedKey, AuthError> {
        let Some(key) = self.presented(request) else {
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

/// The verified key of a request: extract it in a handler. Dereferences to [`VerifiedKey`].
#[derive(Debug, Clone)]
pub struct ApiKeyOwner(pub VerifiedKey);

impl std::ops::Deref for ApiKeyOwner {
    type Target = VerifiedKey;
    fn deref(&self) -> &VerifiedKey {
        &self.0
    }
}

impl FromRequest for ApiKeyOwner {
    type Error = AuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AuthError>>>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let Some(auth) = request.app_data::<web::Data<KeygateAuth>>().cloned() else {
                return Err(AuthError::NotConfigured);
            };
            auth.verify(&request).await.map(ApiKeyOwner)
        })
    }
}

/// Why a request was not let through.
#[derive(Debug)]
pub enum AuthError {
    /// The request presents no key.
    MissingKey,
    /// keygate refused the key, or could not answer.
    Client(ClientError),
    /// No [`KeygateAuth`] in the app's data (a programming error: answered 500).
    NotConfigured,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MissingKey => f.write_str("no API key"),
            AuthError::Client(error) => write!(f, "{error}"),
            AuthError::NotConfigured => f.write_str("no KeygateAuth in the app data"),
        }
    }
}

/// `Bearer realm="api"` with the given RFC 6750 parameters.
fn challenge(parameters: &str) -> HeaderValue {
    let value = if parameters.is_empty() {
        "Bearer realm=\"api\"".to_owned()
    } else {
        format!("Bearer realm=\"api\", {parameters}")
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::MissingKey => StatusCode::UNAUTHORIZED,
            AuthError::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::Client(ClientError::Rejected(rejection)) => match rejection {
                Rejection::ScopeMissing { .. } => StatusCode::FORBIDDEN,
                Rejection::RateLimited { .. } | Rejection::UsageExceeded => {
                    StatusCode::TOO_MANY_REQUESTS
                }
                _ => StatusCode::UNAUTHORIZED,
            },
            AuthError::Client(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        let (error, description) = match self {
            AuthError::MissingKey => {
                response.insert_header((header::WWW_AUTHENTICATE, challenge("")));
                ("invalid_request", "An API key is required.".to_owned())
            }
            AuthError::NotConfigured => {
                tracing::error!("ApiKeyOwner extracted without a KeygateAuth in the app data");
                ("server_error", "The server is misconfigured.".to_owned())
            }
            AuthError::Client(ClientError::Rejected(rejection)) => match rejection {
                Rejection::ScopeMissing { missing } => {
                    let scope = format!(
                        "error=\"insufficient_scope\", scope=\"{}\"",
                        missing.join(" ")
                    );
                    response.insert_header((header::WWW_AUTHENTICATE, challenge(&scope)));
                    ("insufficient_scope", rejection.to_string())
                }
                Rejection::RateLimited { retry_after, .. } => {
                    response.insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1)));
                    ("rate_limited", rejection.to_string())
                }
                Rejection::UsageExceeded => ("usage_exceeded", rejection.to_string()),
                _ => {
                    response.insert_header((
                        header::WWW_AUTHENTICATE,
                        challenge("error=\"invalid_token\""),
                    ));
                    ("invalid_token", rejection.to_string())
                }
            },
            AuthError::Client(error) => {
                tracing::error!(%error, "could not verify an API key with keygate");
                response.insert_header((header::RETRY_AFTER, 1));
                (
                    "temporarily_unavailable",
                    "API keys cannot be verified right now; try again shortly.".to_owned(),
                )
            }
        };
        response.json(json!({"error": error, "error_description": description}))
    }
}
