//! keygate's domain: the vocabulary every other crate speaks.
//!
//! Ids, the owner of a key (a user or a team), the API-key string format, the other bearer
//! secrets and their prefixes, hashing for storage, a project's switches, and the one validity
//! rule (expiry and revocation) for every secret keygate issues.
//!
//! **Key design decision:** this crate is pure — no I/O, no database, no HTTP, no async
//! runtime — so other Rust services can embed it to parse and pre-check keys exactly as keygate
//! does, and its behaviour is fully covered by fast unit and property tests. (The one
//! outside input is OS randomness, used when generating ids and secrets.)

pub mod api_key;
pub mod credentials;
pub mod hashing;
pub mod ids;
pub mod key_format;
pub mod key_policy;
pub mod owner;
pub mod secret;
pub mod switches;
pub mod validity;

pub use api_key::{ApiKey, CheckRejection, NewApiKey};
pub use credentials::{CredentialKind, REFRESH_TOKEN_PREFIX};
pub use hashing::{KeyHash, KeyHasher};
pub use ids::{ApiKeyId, InvalidId, ProjectId, TeamId, UserId};
pub use key_format::{
    is_api_key_like, parse as parse_api_key, KeyFormatError, ParsedApiKey, PlainApiKey,
    API_KEY_LENGTH, SCANNER_MARKER,
};
pub use key_policy::{is_scope_id, KeyPolicy, RateLimit, Refill, UsageCredits, MAX_CHECK_COST};
pub use owner::{InvalidKeyType, KeyType, Owner};
pub use secret::SecretToken;
pub use switches::ProjectSwitches;
pub use validity::{is_expired, EpochMillis, Invalid, Lifetime};
