//! [`KeygateClient`]: keygate's server API (`x-stack-access-type: server`), typed.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use keygate_domain::{
    parse_api_key, ApiKeyId, KeyType, Owner, RateLimit, SecretToken, MAX_CHECK_COST,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use url::Url;

use crate::change_stream;
use crate::error::{ClientError, Rejection};
use crate::local_verification::{KeptKeys, LocalVerification, LocalVerificationStats};
use crate::objects::{ApiKeyInfo, CreatedKey, RateLimitStatus, VerifiedKey, WireKey};

/// Builds a [`KeygateClient`].
pub struct ClientBuilder {
    base_url: String,
    project_id: String,
    secret_server_key: SecretToken,
    timeout: Duration,
    connect_timeout: Duration,
    retries: u32,
    local_verification: Option<LocalVerification>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("project_id", &self.project_id)
            .field("secret_server_key", &self.secret_server_key)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("local_verification", &self.local_verification)
            .finish()
    }
}

impl ClientBuilder {
    /// How long a call may take in all, connecting included (default 5 seconds).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long connecting may take (default 2 seconds).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many times a call whose connection could not be made is tried again (default 2;
    /// waits 50 ms, then 100 ms, …). Calls that may have reached keygate are never repeated.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Verify repeated keys in-process, as [`crate::local_verification`] describes: a key
    /// keygate accepted is verified here the next times (about a microsecond, no request), and
    /// one keygate changes or revokes is dropped within a second. Off by default.
    pub fn verify_locally(mut self, settings: LocalVerification) -> Self {
        self.local_verification = Some(settings);
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`ClientError::Configuration`] for a base URL that is not an `http(s)` URL, or a project
    /// id or key that cannot be sent as a header.
    pub fn build(self) -> Result<KeygateClient, ClientError> {
        let mut base = Url::parse(&self.base_url)
            .map_err(|error| ClientError::Configuration(format!("base URL: {error}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ClientError::Configuration(
                "base URL: not http or https".to_owned(),
            ));
        }
        // Paths are joined onto it: it must end with a slash.
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let header = |value: &str| {
            HeaderValue::from_str(value)
                .map_err(|_| ClientError::Configuration("a header value is not valid".to_owned()))
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-stack-access-type", HeaderValue::from_static("server"));
        headers.insert("x-stack-project-id", header(&self.project_id)?);
        let mut key = header(self.secret_server_key.expose_secret())?;
        key.set_sensitive(true);
        headers.insert("x-stack-secret-server-key", key);
        let http = reqwest::Client::builder()
            .default_headers(headers.clone())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .build()
            .map_err(|error| ClientError::Configuration(error.to_string()))?;
        let local = match self.local_verification {
            None => None,
            Some(settings) => Some(Arc::new(LocalKeys {
                kept: Arc::new(KeptKeys::new(settings)),
                // The stream never ends by itself: no overall timeout; its silence is watched.
                stream_http: reqwest::Client::builder()
                    .default_headers(headers)
                    .connect_timeout(self.connect_timeout)
                    .tcp_keepalive(Duration::from_secs(15))
                    .build()
                    .map_err(|error| ClientError::Configuration(error.to_string()))?,
                stream_url: base
                    .join(change_stream::PATH)
                    .map_err(|error| ClientError::Configuration(error.to_string()))?,
            })),
        };
        Ok(KeygateClient {
            http,
            base,
            retries: self.retries,
            local,
        })
    }
}

/// A check to make: the key, and what keygate's policies should require of it.
#[derive(Debug, Clone)]
pub struct Check<'a> {
    key: &'a str,
    required_scopes: Vec<String>,
    cost: Option<i64>,
}

impl<'a> Check<'a> {
    /// A check of `key`, as the request presented it.
    pub fn new(key: &'a str) -> Self {
        Check {
            key,
            required_scopes: Vec::new(),
            cost: None,
        }
    }

    /// The key must carry `scope` ([`Rejection::ScopeMissing`] otherwise).
    pub fn require_scope(mut self, scope: impl Into<String>) -> Self {
        self.required_scopes.push(scope.into());
        self
    }

    /// The usage credits this check spends from a key that has them (keygate's default: 1).
    pub fn cost(mut self, cost: i64) -> Self {
        self.cost = Some(cost);
        self
    }
}

/// A key to create.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    /// What it is for.
    pub description: String,
    /// When it expires (epoch milliseconds); `None` never.
    pub expires_at_millis: Option<i64>,
    /// Scopes from the project's catalogue.
    pub scopes: Vec<String>,
    /// Metadata keygate returns with every check of the key (a JSON object).
    pub metadata: Option<Value>,
    /// At most this many checks per window.
    pub rate_limit: Option<RateLimit>,
    /// Usage credits (`None`: unlimited).
    pub remaining_uses: Option<i64>,
}

/// keygate's server API for one project. Cheap to clone (one connection pool, and one set of
/// locally verified keys).
#[derive(Clone)]
pub struct KeygateClient {
    http: reqwest::Client,
    base: Url,
    retries: u32,
    local: Option<Arc<LocalKeys>>,
}

/// Local verification's state: the kept keys and how to follow the stream that keeps them true.
struct LocalKeys {
    kept: Arc<KeptKeys>,
    stream_http: reqwest::Client,
    stream_url: Url,
}

impl LocalKeys {
    /// The kept keys, with the stream's follower started if it was not yet.
    fn kept(&self) -> &KeptKeys {
        if self.kept.start_following() {
            tokio::spawn(change_stream::follow(
                self.stream_http.clone(),
                self.stream_url.clone(),
                Arc::downgrade(&self.kept),
            ));
        }
        &self.kept
    }
}

impl fmt::Debug for KeygateClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret server key lives in the HTTP client's default headers, marked sensitive.
        f.debug_struct("KeygateClient")
            .field("base_url", &self.base.as_str())
            .field("retries", &self.retries)
            .field(
                "local_verification",
                &self.local.as_ref().map(|local| &local.kept),
            )
            .finish_non_exhaustive()
    }
}

/// An answer: status, headers and body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl KeygateClient {
    /// A client of the keygate at `base_url` (e.g. `https://keys.example.com`) for the project
    /// `project_id`, authenticated with its secret server key.
    pub fn builder(
        base_url: impl Into<String>,
        project_id: impl Into<String>,
        secret_server_key: impl Into<String>,
    ) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            project_id: project_id.into(),
            secret_server_key: SecretToken::from_string(secret_server_key.into()),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            retries: 2,
            local_verification: None,
        }
    }

    /// How checks were answered, when [verifying locally](ClientBuilder::verify_locally).
    pub fn local_verification_stats(&self) -> Option<LocalVerificationStats> {
        self.local.as_ref().map(|local| local.kept.stats())
    }

    /// Checks a user key: the user it acts as, or why not.
    ///
    /// # Errors
    /// [`ClientError::Rejected`] when keygate refuses the key (a string that is not a keygate
    /// key at all is refused without a request); the other variants when keygate could not
    /// answer about it.
    pub async fn check_user_key(&self, check: Check<'_>) -> Result<VerifiedKey, ClientError> {
        self.check(KeyType::User, check).await
    }

    /// Checks a team key: the team it acts as, or why not (see [`Self::check_user_key`]).
    ///
    /// # Errors
    /// As [`Self::check_user_key`].
    pub async fn check_team_key(&self, check: Check<'_>) -> Result<VerifiedKey, ClientError> {
        self.check(KeyType::Team, check).await
    }

    /// Checks a key of type `key_type`.
    ///
    /// # Errors
    /// As [`Self::check_user_key`].
    pub async fn check(
        &self,
        key_type: KeyType,
        check: Check<'_>,
    ) -> Result<VerifiedKey, ClientError> {
        let Ok(parsed) = parse_api_key(check.key) else {
            return Err(Rejection::NotFound.into());
        };
        let kept = self.local.as_ref().map(|local| local.kept());
        let ticket = match kept {
            Some(kept) => {
                // A cost keygate would refuse gets keygate's answer; any other is moot for the
                // keys kept (none has credits).
                let plain_cost = check
                    .cost
                    .is_none_or(|cost| (0..=MAX_CHECK_COST).contains(&cost));
                if plain_cost {
                    if let Some(verified) =
                        kept.verify(parsed.id, check.key, key_type, &check.required_scopes)
                    {
                        return Ok(verified);
                    }
                }
                Some(kept.ticket())
            }
            None => None,
        };
        let mut body = json!({"api_key": check.key});
        if !check.required_scopes.is_empty() {
            body["required_scopes"] = json!(check.required_scopes);
        }
        if let Some(cost) = check.cost {
            body["cost"] = json!(cost);
        }
        let path = format!("api/v1/{}-api-keys/check", key_type.as_str());
        let answer = self.send(Method::POST, &path, Some(&body)).await?;
        if !answer.status.is_success() {
            return Err(error_of(answer));
        }
        let rate_limit = rate_limit_of(&answer.headers);
        let key = into_info(answer.body)?;
        let verified = VerifiedKey {
            owner: key.owner,
            key,
            rate_limit,
        };
        if let (Some(kept), Some(ticket)) = (kept, ticket) {
            kept.keep(ticket, parsed.id, check.key, &verified);
        }
        Ok(verified)
    }

    /// Creates a key for `owner`; the answer holds the key itself, this once.
    ///
    /// # Errors
    /// [`ClientError::Refused`] for an owner keygate does not have, an owner at its cap, or an
    /// invalid request; the other variants when keygate could not answer.
    pub async fn create_key(&self, owner: Owner, key: NewKey) -> Result<CreatedKey, ClientError> {
        let mut body = json!({
            "description": key.description,
            "expires_at_millis": key.expires_at_millis,
            "scopes": key.scopes,
        });
        match owner {
            Owner::User(user) => body["user_id"] = json!(user.to_string()),
            Owner::Team(team) => body["team_id"] = json!(team.to_string()),
        }
        if let Some(metadata) = key.metadata {
            body["metadata"] = metadata;
        }
        if let Some(rate) = key.rate_limit {
            body["rate_limit"] = json!({"limit": rate.limit, "window_millis": rate.window_millis});
        }
        if let Some(remaining_uses) = key.remaining_uses {
            body["remaining_uses"] = json!(remaining_uses);
        }
        let path = format!("api/v1/{}-api-keys", owner.key_type().as_str());
        let answer = self.expect_ok(Method::POST, &path, Some(&body)).await?;
        let secret = answer
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| ClientError::UnexpectedAnswer("a new key without its value".into()))?
            .to_owned();
        Ok(CreatedKey::new(into_info(answer)?, secret))
    }

    /// Every key of `owner`, newest first, revoked and expired ones included.
    ///
    /// # Errors
    /// As [`Self::create_key`].
    pub async fn list_keys(&self, owner: Owner) -> Result<Vec<ApiKeyInfo>, ClientError> {
        let path = match owner {
            Owner::User(user) => format!("api/v1/user-api-keys?user_id={user}"),
            Owner::Team(team) => format!("api/v1/team-api-keys?team_id={team}"),
        };
        let answer = self.expect_ok(Method::GET, &path, None).await?;
        let items = answer
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| ClientError::UnexpectedAnswer("a list without items".into()))?;
        items.into_iter().map(into_info).collect()
    }

    /// Revokes `owner`'s key `id` (revoking again changes nothing); returns it.
    ///
    /// # Errors
    /// [`ClientError::Rejected`] with [`Rejection::NotFound`] for a key keygate does not have;
    /// otherwise as [`Self::create_key`].
    pub async fn revoke_key(&self, owner: Owner, id: ApiKeyId) -> Result<ApiKeyInfo, ClientError> {
        let path = match owner {
            Owner::User(_) => format!("api/v1/user-api-keys/{id}"),
            // The team route names the team, as upstream's does.
            Owner::Team(team) => format!("api/v1/team-api-keys/{id}?team_id={team}"),
        };
        let answer = self
            .expect_ok(Method::PATCH, &path, Some(&json!({"revoked": true})))
            .await?;
        into_info(answer)
    }

    /// The user `id` as keygate's server API shows it (`GET /api/v1/users/{id}`).
    ///
    /// # Errors
    /// [`ClientError::Refused`] (`USER_NOT_FOUND`) for a user the project does not have.
    pub async fn user(&self, id: keygate_domain::UserId) -> Result<Value, ClientError> {
        self.expect_ok(Method::GET, &format!("api/v1/users/{id}"), None)
            .await
    }

    /// The team `id` as keygate's server API shows it (`GET /api/v1/teams/{id}`).
    ///
    /// # Errors
    /// [`ClientError::Refused`] (`TEAM_NOT_FOUND`) for a team the project does not have.
    pub async fn team(&self, id: keygate_domain::TeamId) -> Result<Value, ClientError> {
        self.expect_ok(Method::GET, &format!("api/v1/teams/{id}"), None)
            .await
    }

    /// Sends a request expecting a 2xx JSON answer.
    async fn expect_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let answer = self.send(method, path, body).await?;
        if answer.status.is_success() {
            Ok(answer.body)
        } else {
            Err(error_of(answer))
        }
    }

    /// Sends a request, trying again (with a short pause) only while the connection could not
    /// be made.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let url = self
            .base
            .join(path)
            .map_err(|error| ClientError::Configuration(error.to_string()))?;
        let mut attempt = 0;
        loop {
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(body) = body {
                request = request.json(body);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let text = response
                        .text()
                        .await
                        .map_err(|source| self.unreachable(source))?;
                    // Plain-text errors (a feature switched off, another user's key) are kept as
                    // their message.
                    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    return Ok(Answer {
                        status,
                        headers,
                        body,
                    });
                }
                Err(error) if error.is_connect() && attempt < self.retries => {
                    attempt += 1;
                    tracing::debug!(%error, attempt, "could not connect to keygate; trying again");
                    tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
                }
                Err(error) => return Err(self.unreachable(error)),
            }
        }
    }

    fn unreachable(&self, source: reqwest::Error) -> ClientError {
        ClientError::Unreachable {
            base_url: self.base.as_str().trim_end_matches('/').to_owned(),
            source,
        }
    }
}

/// The key object in `body`, as this client describes keys.
fn into_info(body: Value) -> Result<ApiKeyInfo, ClientError> {
    serde_json::from_value::<WireKey>(body)
        .map_err(|error| ClientError::UnexpectedAnswer(format!("a key object: {error}")))?
        .into_info()
        .map_err(ClientError::UnexpectedAnswer)
}

/// The `ratelimit-*` headers of a check, if the key has a rate limit.
fn rate_limit_of(headers: &HeaderMap) -> Option<RateLimitStatus> {
    let number = |name: &'static str| {
        headers
            .get(HeaderName::from_static(name))?
            .to_str()
            .ok()?
            .parse::<i64>()
            .ok()
    };
    Some(RateLimitStatus {
        limit: number("ratelimit-limit")?,
        remaining: number("ratelimit-remaining")?,
        reset_seconds: number("ratelimit-reset")?,
    })
}

/// The error of a non-2xx answer: a rejection of the key for the check's known errors,
/// [`ClientError::Refused`] for everything else.
fn error_of(answer: Answer) -> ClientError {
    let code = answer
        .headers
        .get("x-stack-known-error")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let details = answer.body.get("details").cloned().unwrap_or(Value::Null);
    let rejection = match code.as_deref() {
        Some("API_KEY_NOT_FOUND") => Some(Rejection::NotFound),
        Some("API_KEY_REVOKED") => Some(Rejection::Revoked),
        Some("API_KEY_EXPIRED") => Some(Rejection::Expired),
        Some("WRONG_API_KEY_TYPE") => details
            .get("expected_type")
            .and_then(Value::as_str)
            .and_then(|expected| expected.parse::<KeyType>().ok())
            .map(|expected| Rejection::WrongType { expected }),
        Some("API_KEY_SCOPE_MISSING") => Some(Rejection::ScopeMissing {
            missing: details
                .get("missing_scopes")
                .and_then(Value::as_array)
                .map(|scopes| {
                    scopes
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }),
        Some("API_KEY_RATE_LIMITED") => Some(Rejection::RateLimited {
            limit: details.get("limit").and_then(Value::as_i64).unwrap_or(0),
            reset_at_millis: details
                .get("reset_at_millis")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            retry_after: Duration::from_secs(
                answer
                    .headers
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok()?.parse().ok())
                    .unwrap_or(1),
            ),
        }),
        Some("API_KEY_USAGE_EXCEEDED") => Some(Rejection::UsageExceeded),
        _ => None,
    };
    match rejection {
        Some(rejection) => rejection.into(),
        None => ClientError::Refused {
            status: answer.status.as_u16(),
            message: match &answer.body {
                Value::String(text) => text.clone(),
                body => body
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            },
            code,
        },
    }
}
