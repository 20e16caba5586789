//! keygate's application layer: every use case, the node's caches, and the one path every change
//! to stored keys takes.
//!
//! The HTTP layer parses a request, authenticates it, and calls one use case here with typed
//! input — an [`Actor`] (who acts in which project) and the request's values; the use case asks
//! `keygate-permissions` for its decision, loading the facts the decision needs from storage, does
//! the work, and answers a value or a [`ServiceError`]. Nothing here knows HTTP: no status codes,
//! no wire messages, no actix. The CLI and the first start use the same functions.
//!
//! **Key design decisions.**
//! * **Key writes invalidate by construction.** The storage functions that change or delete
//!   keys take a `KeyWrite`, which only `keygate_storage::key_changes::write_keys` hands out, and
//!   the only caller of that is `Service::write_keys`, which passes this node's check cache.
//!   So no use case can change a key and forget to invalidate it (here or, through Postgres
//!   `NOTIFY`, on other nodes).
//! * **Caches hold rows, never verdicts.** [`check_cache`] (key rows),
//!   [`project_auth_cache`] (which project a project key opens) and [`cors_cache`] (each
//!   project's CORS settings) save database round trips; every request still evaluates
//!   revocation and expiry at its own clock.
//! * **Blocking work off the async workers.** Use cases are `async` and run their Diesel work on
//!   the runtime's blocking pool ([`Service`]); the check answers from the cache without leaving
//!   the worker.
//! * **One clock** ([`clock`]): use cases read "now" from the service, never from SQL.
//!
//! Modules: [`service`] (the shared state), [`actor`], [`audit`] (the audit log every change
//! writes in its own transaction), [`error`], [`clock`], [`limits`] (the
//! caps on what one caller may store); the use cases
//! [`api_keys`], [`operator_keys`] (a project's keys across owners), [`credential_scanning`],
//! [`projects`], and the identity ones [`users`],
//! [`sessions`], [`teams`], [`memberships`], [`team_permissions`] (with what they share,
//! `identity` and `team_standing`); the caches [`check_cache`], [`project_auth_cache`],
//! [`cors_cache`], [`key_usage`]; the node's counters for metrics, [`metrics`]; and [`records`], the stored records use cases take and return.

pub mod account_settings;
pub mod actor;
pub mod api_keys;
pub mod audit;
pub mod batch_queue;
mod cache_generation;
pub mod check_cache;
pub mod clock;
pub mod cors_cache;
pub mod credential_scanning;
pub mod delivery;
pub mod demo;
pub mod error;
pub mod html;
mod identity;
pub mod key_change_feed;
mod key_creates;
pub mod key_credits;
mod key_lookups;
mod key_notices;
pub mod key_rate_limits;
pub mod key_usage;
pub mod limits;
mod locks;
pub mod memberships;
pub mod metrics;
pub mod operator_keys;
pub mod project_auth_cache;
pub mod projects;
pub mod scopes;
pub mod service;
pub mod sessions;
pub mod team_permissions;
mod team_standing;
pub mod teams;
pub mod users;
pub mod webhooks;

pub use actor::Actor;
pub use error::{Conflict, NotFound, Refusal, ServiceError};
pub use limits::Limits;
pub use service::Service;

/// The stored records the use cases take and return, as `keygate-storage` defines them: callers
/// name them from here and never reach into storage themselves.
pub mod records {
    pub use keygate_storage::repo::audit_events::{AuditEventRecord, AuditFilter, AuditPosition};
    pub use keygate_storage::repo::memberships::{MemberProfile, MemberProfileUpdate};
    pub use keygate_storage::repo::project_cors::{ProjectCors, TrustedDomain};
    pub use keygate_storage::repo::project_credentials::ProjectCredentialRecord;
    pub use keygate_storage::repo::projects::{ProjectRecord, ProjectUpdate};
    pub use keygate_storage::repo::sessions::SessionRecord;
    pub use keygate_storage::repo::teams::{TeamRecord, TeamUpdate};
    pub use keygate_storage::repo::users::UserRecord;
    pub use keygate_storage::repo::webhooks::{
        DeliveryPosition, WebhookDeliveryRecord, WebhookEndpointRecord,
    };
}
