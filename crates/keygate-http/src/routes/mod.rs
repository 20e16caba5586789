//! Every route keygate serves, one module per resource. Each module registers its paths with
//! one `web::resource` per path (so a wrong method on a known path answers 405).

pub mod api_keys;
pub mod audit_log;
pub mod health;
mod identity_fields;
mod identity_objects;
pub mod metrics;
pub mod project_keys;
pub mod projects;
pub mod sessions;
pub mod team_memberships;
pub mod team_permissions;
pub mod teams;
#[cfg(test)]
mod test_requests;
pub mod users;
pub mod webhooks;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
    // The key check is the hot path: actix tries resources in registration order, and each
    // resource with a `{segment}` costs a regex match, so the API-key routes (whose check path is
    // static) come before the identity routes' many dynamic ones. No two routes overlap.
    api_keys::configure(cfg);
    projects::configure(cfg);
    project_keys::configure(cfg);
    audit_log::configure(cfg);
    webhooks::configure(cfg);
    users::configure(cfg);
    sessions::configure(cfg);
    teams::configure(cfg);
    team_memberships::configure(cfg);
    team_permissions::configure(cfg);
}
