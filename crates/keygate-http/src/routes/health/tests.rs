//! HTTP tests of the health routes, on SQLite and Postgres.

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
        // RFC 9110: a 405 names the methods the path serves.
        assert_eq!(response.header("allow"), Some("GET"));
        let response = app
            .send(TestRequest::put().uri("/api/v1/teams/00000000-0000-4000-8000-000000000000"))
            .await;
        assert_eq!(response.status.as_u16(), 405);
        assert_eq!(response.header("allow"), Some("GET, PATCH, DELETE"));
        let response = app.send(TestRequest::get().uri("/nope")).await;
        assert_eq!(response.status.as_u16(), 404);
    }
}
