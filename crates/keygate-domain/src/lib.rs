//! keygate's domain: the vocabulary every other crate speaks.
//!
//! Ids, the owner of a key (a user or a team), the API-key string format, hashing for storage,
//! and validity. **Key design decision:** this crate is pure — no I/O, no database, no HTTP, no
//! async runtime — so other Rust services can embed it to parse and pre-check keys exactly as
//! keygate does, and its behaviour is fully covered by fast unit and property tests.

pub mod api_key;
pub mod hashing;
pub mod ids;
pub mod owner;

pub use api_key::{ApiKey, EpochMillis};
pub use hashing::KeyHash;
pub use ids::{ApiKeyId, InvalidId, ProjectId, TeamId, UserId};
pub use owner::{InvalidKeyType, KeyType, Owner};
