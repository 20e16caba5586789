//! `GET /metrics` scraped after real requests: the counters and labels that must move do, on
//! both backends; off by default; on a private listener only when `metrics.bind` says so.

use actix_web::test::TestRequest;
use serde_json::json;

use super::*;
use crate::routes::metrics::METRICS_PATH;
use crate::state::AppState;
use crate::testing::{TestApp, TestProject};

/// Creates a user key with server access; returns its full value and its id.
async fn user_key(app: &TestApp, state: &AppState, project: &TestProject) -> (String, String) {
    let user = app.create_user(project);
    let created = app
        .send_to(state, project.server(TestRequest::post().uri("/api/v1/user-api-keys").set_json(
            json!({"user_id": user.id.to_string(), "description": "m", "expires_at_millis": null}),
        )))
        .await
        .assert_ok(200);
    (
        created["value"].as_str().unwrap().to_owned(),
        created["id"].as_str().unwrap().to_owned(),
    )
}

fn check(project: &TestProject, key: &str) -> TestRequest {
    project.server(
        TestRequest::post()
            .uri("/api/v1/user-api-keys/check")
            .set_json(json!({"api_key": key})),
    )
}

/// The value of the sample `name{labels}` (labels as rendered, `""` for none).
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().parse().expect("a number"))
}

async fn scrape(app: &TestApp, state: &AppState) -> String {
    let response = app
        .send_to(state, TestRequest::get().uri(METRICS_PATH))
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert!(
        response
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/openmetrics-text")),
        "{:?}",
        response.headers
    );
    assert!(response.body.ends_with("# EOF\n"), "{}", response.body);
    response.body
}

crate::http_tests! {
    fn a_scrape_shows_requests_check_outcomes_and_caches(app) {
        let state = &app.state.clone().with_metrics(MetricsExposure::Public);
        let project = app.create_open_project();
        let other = app.create_open_project();
        let (valid, _) = user_key(app, state, &project).await;
        let (revoked, revoked_id) = user_key(app, state, &project).await;
        let (elsewhere, _) = user_key(app, state, &other).await;
        app.send_to(state, project.server(TestRequest::patch().uri(&format!("/api/v1/user-api-keys/{revoked_id}")).set_json(json!({"revoked": true}))))
            .await
            .assert_ok(200);

        app.send_to(state, check(&project, &valid)).await.assert_ok(200);
        app.send_to(state, check(&project, &valid)).await.assert_ok(200);
        app.send_to(state, check(&project, &elsewhere)).await.assert_known_error(404, "API_KEY_NOT_FOUND");
        app.send_to(state, check(&project, &revoked)).await.assert_known_error(401, "API_KEY_REVOKED");
        app.send_to(state, check(&project, "not a key")).await.assert_known_error(404, "API_KEY_NOT_FOUND");
        let unmatched = app.send_to(state, TestRequest::get().uri("/no/such/path/1234")).await;
        assert_eq!(unmatched.status, 404);

        let text = scrape(app, state).await;
        let checks = |outcome: &str| sample(&text, "keygate_api_key_checks_total", &format!("key_type=\"user\",outcome=\"{outcome}\""));
        assert_eq!(checks("valid"), Some(2.0), "{text}");
        assert_eq!(checks("not_found"), Some(1.0), "{text}");
        assert_eq!(checks("revoked"), Some(1.0), "{text}");
        assert_eq!(checks("malformed"), Some(1.0), "{text}");
        assert_eq!(checks("expired"), Some(0.0), "{text}");
        assert_eq!(sample(&text, "keygate_api_key_checks_total", "key_type=\"team\",outcome=\"valid\""), Some(0.0));

        // Requests by route pattern (never the path) and status, with latency buckets.
        let route = "route=\"/api/v1/user-api-keys/check\"";
        assert_eq!(sample(&text, "keygate_http_request_duration_seconds_count", &format!("{route},status=\"200\"")), Some(2.0), "{text}");
        assert_eq!(sample(&text, "keygate_http_request_duration_seconds_count", &format!("{route},status=\"404\"")), Some(2.0), "{text}");
        assert_eq!(sample(&text, "keygate_http_request_duration_seconds_count", &format!("{route},status=\"401\"")), Some(1.0), "{text}");
        assert_eq!(sample(&text, "keygate_http_request_duration_seconds_bucket", &format!("le=\"+Inf\",{route},status=\"200\"")), Some(2.0), "{text}");
        assert!(text.contains("route=\"/api/v1/user-api-keys/{api_key_id}\",status=\"200\""), "{text}");
        assert_eq!(sample(&text, "keygate_http_request_duration_seconds_count", "route=\"unmatched\",status=\"404\""), Some(1.0), "{text}");
        assert!(!text.contains("/no/such/path"), "{text}");

        // The second valid check was a cache hit; every other well-formed check read the database.
        assert!(sample(&text, "keygate_check_cache_hits_total", "").unwrap() >= 1.0, "{text}");
        assert!(sample(&text, "keygate_check_cache_misses_total", "").unwrap() >= 3.0, "{text}");
        assert_eq!(sample(&text, "keygate_check_cache_evictions_total", ""), Some(0.0));
        assert!(sample(&text, "keygate_project_auth_cache_hits_total", "").unwrap() >= 1.0, "{text}");
        assert!(sample(&text, "keygate_project_auth_cache_misses_total", "").is_some());

        // The pool, the outbox, the flusher; no listener runs in tests.
        assert!(sample(&text, "keygate_db_pool_checkouts_total", "").unwrap() >= 1.0, "{text}");
        assert!(sample(&text, "keygate_db_pool_connections_in_use", "").is_some(), "{text}");
        assert_eq!(sample(&text, "keygate_db_pool_checkout_timeouts_total", ""), Some(0.0));
        assert_eq!(sample(&text, "keygate_outbox_backlog", ""), Some(0.0), "{text}");
        assert_eq!(sample(&text, "keygate_outbox_delivery_failures_total", ""), Some(0.0));
        assert_eq!(sample(&text, "keygate_key_usage_pending", ""), Some(1.0), "the key checked valid");
        assert!(sample(&text, "keygate_key_usage_flush_lag_seconds", "").is_some());
        assert!(!text.contains("keygate_key_change_listener_up"), "{text}");

        // Scrapes are counted like any route.
        let again = scrape(app, state).await;
        assert_eq!(sample(&again, "keygate_http_request_duration_seconds_count", "route=\"/metrics\",status=\"200\""), Some(1.0), "{again}");
    }

    fn metrics_are_an_unknown_route_unless_enabled(app) {
        let response = app.send(TestRequest::get().uri(METRICS_PATH)).await;
        assert_eq!(response.status, 404);
    }

    fn a_private_listener_keeps_metrics_off_the_public_one(app) {
        let state = app.state.clone().with_metrics(MetricsExposure::Separate);
        let public = app.send_to(&state, TestRequest::get().uri(METRICS_PATH)).await;
        assert_eq!(public.status, 404);
        let service = actix_web::test::init_service(crate::app::build_metrics_app(state.clone())).await;
        let response = actix_web::test::call_service(&service, TestRequest::get().uri(METRICS_PATH).to_request()).await;
        assert_eq!(response.status(), 200);
        let body = actix_web::test::read_body(response).await;
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("keygate_api_key_checks_total"), "{text}");
        let other = actix_web::test::call_service(&service, TestRequest::get().uri("/health").to_request()).await;
        assert_eq!(other.status(), 404);
    }

    fn a_panic_is_counted_as_an_escaped_500(app) {
        async fn boom() -> actix_web::HttpResponse {
            panic!("boom in a handler")
        }
        let state = app.state.clone().with_metrics(MetricsExposure::Public);
        let service = actix_web::test::init_service(
            actix_web::App::new()
                .app_data(actix_web::web::Data::new(state.clone()))
                .wrap(actix_web::middleware::from_fn(crate::wire_middleware::wire_conventions))
                .route("/boom", actix_web::web::get().to(boom)),
        )
        .await;
        let answer = actix_web::test::try_call_service(&service, TestRequest::get().uri("/boom").to_request()).await;
        assert!(answer.is_err(), "a panic escapes as an error the dispatcher renders as 500");
        let text = scrape(app, &state).await;
        assert_eq!(sample(&text, "keygate_http_request_duration_seconds_count", "route=\"escaped\",status=\"500\""), Some(1.0), "{text}");
    }
}
