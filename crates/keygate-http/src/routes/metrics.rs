//! `GET /metrics`: the node's metrics as OpenMetrics text ([`crate::metrics`]), registered only
//! when metrics are on — on the public app, or only on the private metrics listener's app
//! (`metrics.bind`). Unauthenticated by design: Prometheus scrapes without credentials, so the
//! deployment keeps it private.

use actix_web::http::header::{HeaderValue, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::responses::not_found;
use crate::route_table::Routes;
use crate::state::AppState;

/// The path metrics are served at.
pub const METRICS_PATH: &str = "/metrics";

/// OpenMetrics' media type, which Prometheus asks for and reads.
const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Registers `GET /metrics` (any other method: 405).
pub fn configure(routes: &mut Routes<'_>) {
    routes.resource(METRICS_PATH).get(scrape).register();
}

/// `GET /metrics`: every metric of this node.
async fn scrape(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(metrics) = state.metrics() else {
        return not_found(request).await;
    };
    let text = metrics.render(state.service()).await;
    HttpResponse::Ok()
        .insert_header((
            CONTENT_TYPE,
            HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
        ))
        .body(text)
}
