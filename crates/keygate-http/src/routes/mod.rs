//! Every route keygate serves, one module per resource. Each module registers its paths with
//! one resource per path through `route_table::Routes` (so a wrong method on a known path answers 405).

pub mod api_keys;
pub mod audit_log;
pub mod contact_channels;
pub mod health;
mod identity_fields;
pub(crate) mod identity_objects;
pub mod metrics;
pub mod notification_preferences;
pub mod payments;
pub mod project_keys;
pub mod projects;
pub mod sessions;
pub mod team_invitations;
pub mod team_member_profiles;
pub mod team_memberships;
pub mod team_permissions;
pub mod teams;
#[cfg(test)]
mod test_requests;
pub mod users;
pub mod webhooks;

use crate::route_table::Routes;

/// Registers every API route.
pub fn configure(routes: &mut Routes<'_>) {
    health::configure(routes);
    // The key check is the hot path: actix tries resources in registration order, and each
    // resource with a `{segment}` costs a regex match, so the API-key routes (whose check path is
    // static) come before the identity routes' many dynamic ones. Only two routes overlap:
    // `sessions` registers `/auth/sessions/current` before `/auth/sessions/{session_id}`.
    api_keys::configure(routes);
    projects::configure(routes);
    project_keys::configure(routes);
    audit_log::configure(routes);
    webhooks::configure(routes);
    users::configure(routes);
    sessions::configure(routes);
    teams::configure(routes);
    team_memberships::configure(routes);
    team_permissions::configure(routes);
    // What upstream's account settings page reads besides keys and sessions.
    contact_channels::configure(routes);
    notification_preferences::configure(routes);
    payments::configure(routes);
    team_member_profiles::configure(routes);
    team_invitations::configure(routes);
}
