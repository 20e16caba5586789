//! Every route keygate serves, one module per resource. Each module registers its paths with
//! one `web::resource` per path (so a wrong method on a known path answers 405).

pub mod health;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    health::configure(cfg);
}
