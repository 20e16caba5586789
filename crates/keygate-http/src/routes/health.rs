//! Liveness and readiness: `GET /health` answers without touching the database (it says the
//! process serves requests); `GET /health/ready` checks that a database connection works.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::conventions::{json_response, method_not_allowed};
use crate::state::AppState;
use crate::wire_error::ApiError;

/// Registers the health routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health")
            .route(web::get().to(live))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/health/ready")
            .route(web::get().to(ready))
            .default_service(web::to(method_not_allowed)),
    );
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
mod tests {
    use actix_web::test::TestRequest;

    crate::http_tests! {
        fn live_and_ready_answer(app) {
            let live = app.send(TestRequest::get().uri("/health")).await;
            assert_eq!(live.assert_ok(200)["status"], "ok");
            assert_eq!(live.header("cache-control"), Some("no-store, max-age=0"));
            assert!(live.header("x-stack-request-id").is_some());
            let ready = app.send(TestRequest::get().uri("/health/ready")).await;
            assert_eq!(ready.assert_ok(200)["status"], "ready");
        }

        fn wrong_method_is_405_and_unknown_path_404(app) {
            let response = app.send(TestRequest::post().uri("/health")).await;
            assert_eq!(response.status.as_u16(), 405);
            let response = app.send(TestRequest::get().uri("/nope")).await;
            assert_eq!(response.status.as_u16(), 404);
        }
    }
}
