//! One module per table group; each maps typed records to rows and back, nothing more.

pub mod api_keys;
pub mod audit_events;
pub mod key_rate_counts;
pub mod memberships;
pub mod notification_outbox;
pub mod project_cors;
pub mod project_credentials;
pub mod projects;
pub mod server_secrets;
pub mod sessions;
pub mod team_permissions;
pub mod teams;
pub mod users;
pub mod webhooks;
