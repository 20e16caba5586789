//! API-key metadata as stored (never the secret), the check route's verdict on it, and the
//! creation of new keys.
//!
//! **Key decision:** a key's validity is its [`Lifetime`] judged by the one rule of
//! [`crate::validity`]; this module only adds the check route's precedence (wrong type first).

use crate::hashing::{KeyHash, KeyHasher};
use crate::ids::{ApiKeyId, ProjectId};
use crate::key_format::PlainApiKey;
use crate::key_policy::{KeyPolicy, UsageCredits};
use crate::owner::{KeyType, Owner};
use crate::validity::{EpochMillis, Invalid, Lifetime};

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
    /// Its scopes and metadata.
    pub policy: KeyPolicy,
}

impl ApiKey {
    /// The key's type, from its owner.
    pub fn key_type(&self) -> KeyType {
        self.owner.key_type()
    }

    /// The key's expiry and revocation, to be judged by [`Lifetime::check`].
    pub const fn lifetime(&self) -> Lifetime {
        Lifetime::new(self.expires_at_millis, self.manually_revoked_at_millis)
    }

    /// The outcome of checking this key (already found in the caller's project) on the check
    /// route for `route_type`, with the contract's precedence: wrong type, then revoked, then
    /// expired. "Not found" comes before all of these and is the caller's to answer.
    pub fn check(&self, route_type: KeyType, now: EpochMillis) -> Result<(), CheckRejection> {
        let actual = self.key_type();
        if actual != route_type {
            return Err(CheckRejection::WrongType {
                expected: route_type,
                actual,
            });
        }
        self.lifetime().check(now).map_err(CheckRejection::from)
    }
}

/// Why the check route refuses a key it found. The `Display` texts describe the refusal for
/// logs; the HTTP layer writes the wire's (B6) from its own table and never sends these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckRejection {
    /// A user key on the team route or the reverse (`WRONG_API_KEY_TYPE`, 400).
    #[error("This endpoint is for {expected} API keys, but a {actual} API key was provided.")]
    WrongType {
        /// The route's key type.
        expected: KeyType,
        /// The key's own type.
        actual: KeyType,
    },
    /// The key was revoked (`API_KEY_REVOKED`, 401).
    #[error("API key has been revoked.")]
    Revoked,
    /// The key has expired (`API_KEY_EXPIRED`, 401).
    #[error("API key has expired.")]
    Expired,
}

impl From<Invalid> for CheckRejection {
    fn from(invalid: Invalid) -> Self {
        match invalid {
            Invalid::Revoked => CheckRejection::Revoked,
            Invalid::Expired => CheckRejection::Expired,
        }
    }
}

/// What a caller supplies to create a key; [`NewApiKey::generate`] adds the id, the secret,
/// its hash and the creation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The project the key belongs to.
    pub project_id: ProjectId,
    /// The user or team the key authenticates as.
    pub owner: Owner,
    /// Free text; may be empty.
    pub description: String,
    /// Whether to issue a public (`pk_`) key.
    pub is_public: bool,
    /// The expiry instant, or `None` for a key that never expires. Any number, 0 or a past
    /// instant included, is taken as the instant (contract A1): such a key is created expired.
    pub expires_at_millis: Option<EpochMillis>,
    /// Its scopes and metadata.
    pub policy: KeyPolicy,
}

impl NewApiKey {
    /// Creates the key: a fresh random id, the key string with that id embedded, and the
    /// record to store (its hash under `hasher` and its last four characters, never the
    /// string). The [`PlainApiKey`] is for the create response only.
    ///
    /// # Panics
    /// If the operating system cannot supply randomness (see `ApiKeyId::new_random`).
    pub fn generate(self, now: EpochMillis, hasher: &KeyHasher) -> (ApiKey, PlainApiKey) {
        let id = ApiKeyId::new_random();
        let plain = PlainApiKey::generate(id, self.owner.key_type(), self.is_public);
        let key = ApiKey {
            id,
            project_id: self.project_id,
            owner: self.owner,
            description: self.description,
            is_public: self.is_public,
            hash: hasher.hash(plain.expose_secret()),
            last_four: plain.last_four().to_owned(),
            created_at_millis: now,
            expires_at_millis: self.expires_at_millis,
            manually_revoked_at_millis: None,
            policy: KeyPolicy {
                // A new key's credits count their refill periods from its creation.
                usage: self.policy.usage.map(|usage| UsageCredits {
                    refilled_at_millis: now,
                    ..usage
                }),
                ..self.policy
            },
        };
        (key, plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{TeamId, UserId};
    use crate::key_format::parse;

    const NOW: EpochMillis = 1_745_000_000_000;

    fn user_key(expires_at: Option<EpochMillis>, revoked_at: Option<EpochMillis>) -> ApiKey {
        let (mut key, _) = NewApiKey {
            project_id: ProjectId::new_random(),
            owner: Owner::User(UserId::new_random()),
            description: "test".to_owned(),
            is_public: false,
            expires_at_millis: expires_at,
            policy: Default::default(),
        }
        .generate(NOW - 1_000, &KeyHasher::sha256());
        key.manually_revoked_at_millis = revoked_at;
        key
    }

    #[test]
    fn validity_table() {
        use Invalid::{Expired, Revoked};
        let cases = [
            (None, None, Ok(())),
            (Some(NOW + 1), None, Ok(())),
            (Some(NOW), None, Ok(())),
            (Some(NOW - 1), None, Err(Expired)),
            (Some(0), None, Err(Expired)),
            (None, Some(NOW - 5), Err(Revoked)),
            (Some(NOW + 1), Some(NOW - 5), Err(Revoked)),
            (Some(NOW - 1), Some(NOW - 5), Err(Revoked)),
            // A revocation counts however its timestamp compares to now.
            (None, Some(NOW + 5), Err(Revoked)),
        ];
        for (expires_at, revoked_at, expected) in cases {
            let key = user_key(expires_at, revoked_at);
            assert_eq!(
                key.lifetime().check(NOW),
                expected,
                "expires {expires_at:?}, revoked {revoked_at:?}"
            );
            assert_eq!(key.lifetime().is_valid(NOW), expected.is_ok());
        }
    }

    #[test]
    fn check_precedence() {
        let revoked_and_expired = user_key(Some(NOW - 1), Some(NOW - 5));
        assert_eq!(
            revoked_and_expired.check(KeyType::Team, NOW),
            Err(CheckRejection::WrongType {
                expected: KeyType::Team,
                actual: KeyType::User
            })
        );
        assert_eq!(
            revoked_and_expired.check(KeyType::User, NOW),
            Err(CheckRejection::Revoked)
        );
        assert_eq!(
            user_key(Some(NOW - 1), None).check(KeyType::User, NOW),
            Err(CheckRejection::Expired)
        );
        assert_eq!(user_key(Some(NOW), None).check(KeyType::User, NOW), Ok(()));
        assert_eq!(user_key(None, None).check(KeyType::User, NOW), Ok(()));
    }

    #[test]
    fn check_rejection_messages_match_the_contract() {
        assert_eq!(
            CheckRejection::WrongType {
                expected: KeyType::Team,
                actual: KeyType::User
            }
            .to_string(),
            "This endpoint is for team API keys, but a user API key was provided."
        );
        assert_eq!(
            CheckRejection::Revoked.to_string(),
            "API key has been revoked."
        );
        assert_eq!(CheckRejection::Expired.to_string(), "API key has expired.");
    }

    #[test]
    fn generate_builds_a_matching_record_and_key() {
        let hasher = KeyHasher::hmac_sha256(b"pepper");
        let project_id = ProjectId::new_random();
        let team_id = TeamId::new_random();
        let (key, plain) = NewApiKey {
            project_id,
            owner: Owner::Team(team_id),
            description: "ci".to_owned(),
            is_public: true,
            expires_at_millis: Some(NOW + 60_000),
            policy: Default::default(),
        }
        .generate(NOW, &hasher);

        let parsed = parse(plain.expose_secret()).unwrap();
        assert_eq!(parsed.id, key.id);
        assert_eq!(parsed.key_type, KeyType::Team);
        assert!(parsed.is_public);
        assert_eq!(key.project_id, project_id);
        assert_eq!(key.owner, Owner::Team(team_id));
        assert_eq!(key.description, "ci");
        assert!(key.is_public);
        assert_eq!(key.last_four, plain.last_four());
        assert_eq!(key.created_at_millis, NOW);
        assert_eq!(key.expires_at_millis, Some(NOW + 60_000));
        assert_eq!(key.manually_revoked_at_millis, None);
        assert!(hasher.verify(plain.expose_secret(), &key.hash));
        assert!(!KeyHasher::sha256().verify(plain.expose_secret(), &key.hash));
        // The stored record's Debug output cannot leak the key.
        assert!(!format!("{key:?}").contains(plain.expose_secret()));
    }

    #[test]
    fn generated_keys_get_fresh_ids() {
        let a = user_key(None, None);
        let b = user_key(None, None);
        assert_ne!(a.id, b.id);
        assert_ne!(a.hash, b.hash);
    }
}
