//! What keygate answers, as this client hands it out: a verified key with its owner, a key's
//! description, and a key just created (its secret shown only then).

use std::fmt;

use keygate_domain::{ApiKeyId, KeyType, Owner, RateLimit, TeamId, UserId};
use serde::Deserialize;
use serde_json::Value;

/// A key's object as keygate sends it (the read and first-view objects of the contract).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WireKey {
    pub id: ApiKeyId,
    #[serde(default)]
    pub description: String,
    pub created_at_millis: i64,
    #[serde(default)]
    pub expires_at_millis: Option<i64>,
    #[serde(default)]
    pub manually_revoked_at_millis: Option<i64>,
    #[serde(default)]
    pub last_used_at_millis: Option<i64>,
    #[serde(default)]
    pub is_public: bool,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    #[serde(default)]
    pub user_id: Option<UserId>,
    #[serde(default)]
    pub team_id: Option<TeamId>,
    pub value: Value,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub rate_limit: Option<WireRateLimit>,
    #[serde(default)]
    pub remaining_uses: Option<i64>,
}

/// A key's rate limit as keygate sends it.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct WireRateLimit {
    pub limit: i64,
    pub window_millis: i64,
}

impl WireKey {
    fn owner(&self) -> Result<Owner, String> {
        match (self.key_type, self.user_id, self.team_id) {
            (KeyType::User, Some(user), _) => Ok(Owner::User(user)),
            (KeyType::Team, _, Some(team)) => Ok(Owner::Team(team)),
            _ => Err(format!("key {} has no owner", self.id)),
        }
    }

    /// The key's description, the full key left out.
    pub fn into_info(self) -> Result<ApiKeyInfo, String> {
        let last_four = self
            .value
            .get("last_four")
            .and_then(Value::as_str)
            .or_else(|| {
                let full = self.value.as_str()?;
                full.get(full.len().saturating_sub(4)..)
            })
            .unwrap_or_default()
            .to_owned();
        Ok(ApiKeyInfo {
            owner: self.owner()?,
            id: self.id,
            description: self.description,
            last_four,
            created_at_millis: self.created_at_millis,
            expires_at_millis: self.expires_at_millis,
            revoked_at_millis: self.manually_revoked_at_millis,
            last_used_at_millis: self.last_used_at_millis,
            is_public: self.is_public,
            scopes: self.scopes,
            metadata: self.metadata,
            rate_limit: match self.rate_limit {
                None => None,
                Some(rate) => Some(
                    RateLimit::new(rate.limit, rate.window_millis)
                        .ok_or_else(|| format!("key {} has an invalid rate limit", self.id))?,
                ),
            },
            remaining_uses: self.remaining_uses,
        })
    }
}

/// A key as keygate describes it (never the key itself).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyInfo {
    /// The key's id.
    pub id: ApiKeyId,
    /// The user or team the key acts as.
    pub owner: Owner,
    /// What it is for.
    pub description: String,
    /// Its last four characters.
    pub last_four: String,
    /// When it was created (epoch milliseconds).
    pub created_at_millis: i64,
    /// When it expires, if it does.
    pub expires_at_millis: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at_millis: Option<i64>,
    /// When it was last used, if ever.
    pub last_used_at_millis: Option<i64>,
    /// Whether it is a public (`pk_`) key.
    pub is_public: bool,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// The metadata the project's server attached, if any.
    pub metadata: Option<Value>,
    /// At most this many checks per window, if it has a rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Usage credits left, if it has any (`None`: unlimited).
    pub remaining_uses: Option<i64>,
}

/// Where a rate-limited key stands after a check (keygate's `ratelimit-*` headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitStatus {
    /// Checks allowed per window.
    pub limit: i64,
    /// Checks left in this window.
    pub remaining: i64,
    /// Seconds until the window ends.
    pub reset_seconds: i64,
}

/// A key keygate just verified: who it acts as, and what it allows.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedKey {
    /// The user or team the request acts as.
    pub owner: Owner,
    /// The key's description, scopes, metadata and credits left.
    pub key: ApiKeyInfo,
    /// Its rate limit after this check, if it has one.
    pub rate_limit: Option<RateLimitStatus>,
}

impl VerifiedKey {
    /// The user the key acts as, if it is a user key.
    pub fn user_id(&self) -> Option<UserId> {
        match self.owner {
            Owner::User(user) => Some(user),
            Owner::Team(_) => None,
        }
    }

    /// The team the key acts as, if it is a team key.
    pub fn team_id(&self) -> Option<TeamId> {
        match self.owner {
            Owner::Team(team) => Some(team),
            Owner::User(_) => None,
        }
    }

    /// Whether the key carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.key.scopes.iter().any(|carried| carried == scope)
    }
}

/// A key just created: the only time the key itself is available.
pub struct CreatedKey {
    /// The key's description.
    pub key: ApiKeyInfo,
    secret: String,
}

impl CreatedKey {
    pub(crate) fn new(key: ApiKeyInfo, secret: String) -> Self {
        CreatedKey { key, secret }
    }

    /// The key itself, to hand to its owner once; keygate keeps only its hash.
    pub fn expose_secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .field(
                "secret",
                &format_args!("<redacted, ends in {}>", self.key.last_four),
            )
            .finish()
    }
}
