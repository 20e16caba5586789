//! API-key metadata as stored (never the secret), and its validity.

use crate::hashing::KeyHash;
use crate::ids::{ApiKeyId, ProjectId};
use crate::owner::{KeyType, Owner};

/// Milliseconds since the Unix epoch. Callers take "now" from the Rust clock and pass it in; the
/// domain never reads a clock itself.
pub type EpochMillis = i64;

/// Everything keygate keeps about an API key. The secret itself is gone after creation: only its
/// [`KeyHash`] and the last four characters remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's id, also embedded in the key string.
    pub id: ApiKeyId,
    /// The project (tenant) the key belongs to.
    pub project_id: ProjectId,
    /// The user or team the key authenticates as.
    pub owner: Owner,
    /// Free text given at creation; may be empty.
    pub description: String,
    /// Public keys (`pk_`) are ignored by secret scanners.
    pub is_public: bool,
    /// Hash of the full key string.
    pub hash: KeyHash,
    /// The last four characters of the full key, shown in listings.
    pub last_four: String,
    /// When the key was created.
    pub created_at_millis: EpochMillis,
    /// When the key stops being valid; `None` never expires.
    pub expires_at_millis: Option<EpochMillis>,
    /// When the key was revoked; set once, never cleared.
    pub manually_revoked_at_millis: Option<EpochMillis>,
}

impl ApiKey {
    /// The key's type, from its owner.
    pub fn key_type(&self) -> KeyType {
        self.owner.key_type()
    }
}
