//! HTTP tests of the application as a whole: the fallbacks every unknown path, wrong method and
//! hidden page ends in, on SQLite and Postgres.

use actix_web::test::TestRequest;

use crate::testing::{form_with_fields, json_object_with_keys};

/// `Host` and `X-Forwarded-Host` values a client may send that are no valid authority.
const HOSTILE_HOSTS: [&str; 4] = ["a b", "exa mple.com:80", "[::1", "x/y?z"];

crate::http_tests! {
    fn a_hostile_host_never_turns_a_fallback_into_a_5xx(app) {
        // The app's 404, a known path's 405, and the demo sign-in hidden as a 404.
        let fallbacks = [
            ("GET", "/nope/at/all", 404),
            ("POST", "/health", 405),
            ("GET", "/handler/demo-sign-in", 404),
        ];
        for host in HOSTILE_HOSTS {
            for header in ["host", "x-forwarded-host"] {
                for (method, path, status) in fallbacks {
                    let request = TestRequest::default()
                        .method(method.parse().unwrap())
                        .uri(path)
                        .insert_header((header, host));
                    let response = app.send(request).await;
                    assert_eq!(response.status.as_u16(), status, "{method} {path} with {header}: {host}");
                    assert!(response.header("x-stack-request-id").is_some());
                    if status == 404 {
                        assert!(
                            response.body.ends_with(&format!("Path: {path}")),
                            "{}",
                            response.body
                        );
                        assert!(!response.body.contains(host), "{}", response.body);
                    }
                }
            }
        }
    }
}

fn post(uri: &str, content_type: &str, body: String) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header(("content-type", content_type))
        .set_payload(body)
}

crate::http_tests! {
    fn huge_field_counts_are_refused_before_any_work(app) {
        // The unauthenticated routes measured at 9.6 s and 13.9 s of one worker's CPU: their
        // bodies are a few fields, so anything over 16 KiB is a 413 before parsing.
        let scanner = app
            .send(post(
                "/api/v1/integrations/credential-scanning/revoke",
                "application/json",
                json_object_with_keys(100_000),
            ))
            .await;
        assert_eq!(scanner.status.as_u16(), 413, "{}", scanner.body);
        let token = app
            .send(post(
                "/api/v1/auth/oauth/token",
                "application/x-www-form-urlencoded",
                form_with_fields(100_000),
            ))
            .await;
        assert_eq!(token.status.as_u16(), 413, "{}", token.body);
        // Small enough for the limit, but over the field cap: refused at parsing.
        let token = app
            .send(post(
                "/api/v1/auth/oauth/token",
                "application/x-www-form-urlencoded",
                form_with_fields(1_000),
            ))
            .await;
        token.assert_known_error(400, "BODY_PARSING_ERROR");
        // A route with the general 4 MiB limit refuses 100,000 keys at parsing, before
        // authentication and validation.
        let create = app
            .send(post("/api/v1/user-api-keys", "application/json", json_object_with_keys(100_000)))
            .await;
        create.assert_known_error(400, "BODY_PARSING_ERROR");
        assert!(
            create.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("Too many fields in request body: 100000"),
            "{}",
            create.body
        );
        // The key check's body limit is small too.
        let check = app
            .send(post(
                "/api/v1/user-api-keys/check",
                "application/json",
                json_object_with_keys(100_000),
            ))
            .await;
        assert_eq!(check.status.as_u16(), 413, "{}", check.body);
    }
}
