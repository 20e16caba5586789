//! The actix application: shared state, wire conventions, CORS for the client API, every route,
//! the prebuilt UI, and upstream-like 404 and 405 answers for the rest. The binary serves it;
//! tests call it in-process.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{web, App};

use crate::cors::cors;
use crate::openapi;
use crate::responses::not_found;
use crate::route_table::{RegisteredRoute, Routes};
use crate::routes;
use crate::state::AppState;
use crate::ui;
use crate::wire_middleware::wire_conventions;

/// Builds the application around `state`.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let body_limits = state.body_limits();
    let public_metrics = state.serves_metrics_publicly();
    // Built once per process, before the first request asks for it.
    openapi::document_json();
    App::new()
        .app_data(web::Data::new(state))
        .app_data(body_limits)
        // Inside the conventions, so CORS answers get request ids and error answers get CORS.
        .wrap(from_fn(cors))
        .wrap(from_fn(wire_conventions))
        .configure(|cfg| {
            register_routes(&mut Routes::new(cfg, &mut Vec::new()), public_metrics);
        })
        .default_service(web::to(not_found))
}

/// Registers every route of the public app: the API, the OpenAPI document and its reference
/// page, the prebuilt UI, and `/metrics` when it is served publicly.
pub(crate) fn register_routes(routes: &mut Routes<'_>, public_metrics: bool) {
    routes::configure(routes);
    openapi::configure(routes);
    ui::configure(routes);
    if public_metrics {
        routes::metrics::configure(routes);
    }
}

/// Every route the public app registers (with `/metrics`, as when metrics are public), walked
/// from the registration itself.
pub fn registered_routes() -> Vec<RegisteredRoute> {
    let mut registered = Vec::new();
    let _ = App::new().configure(|cfg| {
        register_routes(&mut Routes::new(cfg, &mut registered), true);
    });
    registered
}

/// The app of the private metrics listener (`metrics.bind`): `GET /metrics`, and the plain 404
/// for anything else (its scrapes are counted too, as route `/metrics`).
pub fn build_metrics_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::new(state))
        .wrap(from_fn(wire_conventions))
        .configure(|cfg| routes::metrics::configure(&mut Routes::new(cfg, &mut Vec::new())))
        .default_service(web::to(not_found))
}

#[cfg(test)]
mod tests;
