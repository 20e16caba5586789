//! keygate's client, for the services keygate protects: turn the API key a request carries into
//! the user or team that owns it, and create, list and revoke keys, over keygate's server API.
//!
//! ```no_run
//! # async fn example() -> Result<(), keygate_client::ClientError> {
//! use keygate_client::{Check, KeygateClient};
//!
//! let keygate = KeygateClient::builder("https://keys.example.com", "project-id", "ssk_…").build()?;
//! let verified = keygate.check_user_key(Check::new("sk_user_…").require_scope("invoices:read")).await?;
//! println!("the request acts as {:?}", verified.owner);
//! # Ok(())
//! # }
//! ```
//!
//! **Key decisions.**
//! - A string that is not a well-formed keygate key is refused here, by `keygate-domain`'s
//!   parser, before any request: a flood of garbage keys costs the protected service nothing.
//! - Every answer keygate gives is typed: a valid key is a [`VerifiedKey`]; a refused one is a
//!   [`Rejection`] (not found, revoked, expired, wrong type, a missing scope, over its rate
//!   limit, out of usage credits) that a service maps to its own answer; keygate being
//!   unreachable is [`ClientError::Unreachable`], never a rejection.
//! - Requests time out ([`ClientBuilder::timeout`]) and are retried only when the connection
//!   could not be made ([`ClientBuilder::retries`]): a request that may have reached keygate is
//!   never sent twice, so a check is never counted twice against a key's rate limit or credits.
//! - The secret server key is held in a type whose `Debug` redacts it.
//!
//! - With [`ClientBuilder::verify_locally`], a repeated key is verified in-process (about a
//!   microsecond), and a key keygate revokes is refused here within a second: the client follows
//!   keygate's stream of key changes and trusts nothing it kept while that stream is down
//!   ([`local_verification`]). Keys with rate limits or usage credits always go to keygate.
//!
//! With the `actix` feature (on by default), [`actix`] has the extractor that hands a handler
//! the verified key; with `axum`, [`axum`] has the middleware that does the same. Both answer
//! 401, 403, 429 and 503 alike, as a public API should ([`auth`]).

#[cfg(feature = "actix")]
pub mod actix;
pub mod auth;
#[cfg(feature = "axum")]
pub mod axum;
mod change_stream;
mod client;
mod error;
pub mod local_verification;
mod objects;

pub use auth::{AuthAnswer, AuthError, KeygateAuth};
pub use client::{Check, ClientBuilder, KeygateClient, NewKey};
pub use error::{ClientError, Rejection};
pub use keygate_domain::{ApiKeyId, KeyType, Owner, RateLimit, TeamId, UserId};
pub use local_verification::{LocalVerification, LocalVerificationStats};
pub use objects::{ApiKeyInfo, CreatedKey, RateLimitStatus, VerifiedKey};
