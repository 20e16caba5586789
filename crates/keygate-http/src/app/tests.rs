//! HTTP tests of the application as a whole: the fallbacks every unknown path, wrong method and
//! hidden page ends in, on SQLite and Postgres.

use actix_web::test::TestRequest;

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
