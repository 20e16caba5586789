//! Liveness and readiness: `GET /health` answers without touching the database (it says the
//! process serves requests); `GET /health/ready` checks that a database connection works.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::responses::json_response;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::wire_error::ApiError;

/// Registers the health routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes.resource("/health").get(live).register();
    routes.resource("/health/ready").get(ready).register();
}

async fn live() -> Result<HttpResponse, ApiError> {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let backend = state.service().ping_database().await?;
    json_response(
        StatusCode::OK,
        &json!({"status": "ready", "database": backend.to_string()}),
    )
}

#[cfg(test)]
mod tests;
