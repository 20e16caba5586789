//! Tests of CORS for the client API: origins, preflights and per-project settings, on SQLite and Postgres.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use keygate_storage::repo::project_cors::{self, ProjectCors, TrustedDomain};

use super::*;
use crate::testing::{TestApp, TestProject};

const SHOP: &str = "https://shop.example";

fn trust(app: &TestApp, project: &TestProject, allow_localhost: bool, origins: &[&str]) {
    let mut conn = app.database().conn();
    let settings = ProjectCors {
        allow_localhost,
        domains: origins
            .iter()
            .map(|origin| TrustedDomain {
                domain: (*origin).to_owned(),
                handler_path: "/handler".to_owned(),
                origin: normalize_origin(origin).expect("origin"),
            })
            .collect(),
    };
    project_cors::set(&mut conn, project.id(), &settings, app.now()).expect("set CORS");
}

fn preflight(origin: &str, headers: &str) -> TestRequest {
    TestRequest::default()
        .method(Method::OPTIONS)
        .uri("/api/v1/user-api-keys")
        .insert_header(("origin", origin))
        .insert_header(("access-control-request-method", "POST"))
        .insert_header(("access-control-request-headers", headers))
}

#[test]
fn origins_are_normalised() {
    assert_eq!(
        normalize_origin("https://Shop.Example:443").as_deref(),
        Some(SHOP)
    );
    assert_eq!(
        normalize_origin("https://shop.example/app/handler").as_deref(),
        Some(SHOP)
    );
    assert_eq!(
        normalize_origin("http://localhost:3000").as_deref(),
        Some("http://localhost:3000")
    );
    assert_eq!(normalize_origin("null"), None);
    assert_eq!(normalize_origin("file:///etc/passwd"), None);
    assert_eq!(normalize_origin("javascript:alert(1)"), None);
    assert!(is_localhost_origin("http://localhost:3000"));
    assert!(is_localhost_origin("http://127.0.0.1:8102"));
    assert!(is_localhost_origin("http://[::1]:5173"));
    assert!(is_localhost_origin("https://app.localhost"));
    assert!(!is_localhost_origin(SHOP));
    assert!(!is_localhost_origin("http://localhost.evil.example"));
}

#[test]
fn loopback_hosts_are_recognised() {
    for host in [
        "localhost",
        "localhost:8102",
        "LOCALHOST:1",
        "app.localhost:3000",
        "127.0.0.1:8102",
        "127.9.9.9",
        "[::1]:8102",
        "[::1]",
    ] {
        assert!(is_loopback_host(host), "{host}");
    }
    for host in [
        "example.com",
        "localhost.example.com:80",
        "10.0.0.1:8102",
        "[::2]:1",
        "[::1",
        "",
        "0.0.0.0:8102",
    ] {
        assert!(!is_loopback_host(host), "{host}");
    }
}

crate::http_tests! {
    fn trusted_origins_get_cors_headers_on_success_and_error(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        trust(app, &project, false, &["https://shop.example/"]);

        let listed = app
            .send(user.signed_in(project.client(
                TestRequest::get()
                    .uri("/api/v1/user-api-keys?user_id=me")
                    .insert_header(("origin", SHOP)),
            )))
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.header("access-control-allow-origin"), Some(SHOP));
        assert_eq!(listed.header("access-control-expose-headers"), Some(EXPOSED_HEADERS));
        assert_eq!(listed.header("access-control-allow-credentials"), None);
        assert!(listed.headers.get_all("vary").any(|v| v.to_str().unwrap_or("").contains("Origin")));

        // An error answer is readable too (the SDK reads x-stack-known-error).
        let refused = app
            .send(project.client(
                TestRequest::get()
                    .uri("/api/v1/user-api-keys?user_id=me")
                    .insert_header(("origin", SHOP)),
            ))
            .await;
        assert_eq!(refused.status.as_u16(), 400, "{}", refused.body);
        assert_eq!(refused.header("access-control-allow-origin"), Some(SHOP));
    }

    fn untrusted_origins_get_no_cors_headers(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        trust(app, &project, false, &[SHOP]);
        for origin in ["https://evil.example", "http://shop.example", "http://localhost:3000", "null"] {
            let response = app
                .send(user.signed_in(project.client(
                    TestRequest::get()
                        .uri("/api/v1/user-api-keys?user_id=me")
                        .insert_header(("origin", origin)),
                )))
                .await;
            assert_eq!(response.status, StatusCode::OK, "{origin}: {}", response.body);
            assert_eq!(response.header("access-control-allow-origin"), None, "{origin}");
            assert!(response.headers.get_all("vary").any(|v| v.to_str().unwrap_or("").contains("Origin")));
        }
    }

    fn another_projects_domain_is_not_trusted(app) {
        let trusting = app.create_open_project();
        let other = app.create_open_project();
        let user = app.create_user(&other);
        trust(app, &trusting, false, &[SHOP]);
        trust(app, &other, false, &[]);
        let response = app
            .send(user.signed_in(other.client(
                TestRequest::get()
                    .uri("/api/v1/user-api-keys?user_id=me")
                    .insert_header(("origin", SHOP)),
            )))
            .await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.header("access-control-allow-origin"), None);
    }

    fn localhost_follows_the_projects_setting(app) {
        let open = app.create_open_project();
        trust(app, &open, true, &[]);
        let closed = app.create_open_project();
        trust(app, &closed, false, &[]);
        let unset = app.create_open_project();
        let local = "http://localhost:5173";
        let send = |project: &TestProject| {
            project.client(
                TestRequest::get()
                    .uri("/api/v1/user-api-keys?user_id=me")
                    .insert_header(("origin", local)),
            )
        };
        let allowed = app.send(send(&open)).await;
        assert_eq!(allowed.header("access-control-allow-origin"), Some(local));
        let refused = app.send(send(&closed)).await;
        assert_eq!(refused.header("access-control-allow-origin"), None);
        // A project that stored no settings trusts no localhost origin: it opts in.
        let refused = app.send(send(&unset)).await;
        assert_eq!(refused.header("access-control-allow-origin"), None);
    }

    fn projects_the_operator_creates_do_not_trust_localhost(app) {
        let created = app
            .send(
                TestRequest::post()
                    .uri("/api/v1/internal/projects")
                    .insert_header((
                        "authorization",
                        format!("Bearer {}", crate::testing::TEST_OPERATOR_TOKEN),
                    ))
                    .set_json(serde_json::json!({"display_name": "Shop"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let created: Value = serde_json::from_str(&created.body).unwrap();
        assert_eq!(created["config"]["allow_localhost"], false);
        let project = created["id"].as_str().unwrap();
        let response = app
            .send(
                TestRequest::get()
                    .uri("/api/v1/user-api-keys?user_id=me")
                    .insert_header(("x-stack-access-type", "client"))
                    .insert_header(("x-stack-project-id", project))
                    .insert_header(("origin", "http://localhost:3000")),
            )
            .await;
        assert_eq!(response.header("access-control-allow-origin"), None);
        let preflight = app.send(preflight("http://localhost:3000", "x-stack-project-id")).await;
        assert_eq!(preflight.header("access-control-allow-origin"), None, "no project opted in");
    }

    fn preflights_allow_every_header_upstreams_client_sdks_send(app) {
        let project = app.create_open_project();
        trust(app, &project, false, &[SHOP]);
        // What `sendClientRequestInner` of @stackframe/stack-shared 2.8.x sends from a browser,
        // under both header families (2.8.102 and earlier: x-stack-; later: x-hexclave-).
        for family in ["x-stack", "x-hexclave"] {
            let sent = [
                "content-type".to_owned(),
                format!("{family}-override-error-status"),
                format!("{family}-project-id"),
                format!("{family}-access-type"),
                format!("{family}-client-version"),
                format!("{family}-access-token"),
                format!("{family}-refresh-token"),
                format!("{family}-allow-anonymous-user"),
                format!("{family}-publishable-client-key"),
                format!("{family}-random-nonce"),
                "ngrok-skip-browser-warning".to_owned(),
            ]
            .join(",");
            let response = app.send(preflight(SHOP, &sent)).await;
            assert_eq!(response.header("access-control-allow-origin"), Some(SHOP), "{family}");
            assert_eq!(
                response.header("access-control-allow-headers"),
                Some(sent.replace(',', ", ").as_str()),
                "{family}"
            );
        }
    }

    fn preflights_never_allow_the_server_or_admin_key_headers(app) {
        let project = app.create_open_project();
        trust(app, &project, true, &[SHOP]);
        for header in [
            "x-stack-secret-server-key",
            "x-hexclave-secret-server-key",
            "X-Stack-Super-Secret-Admin-Key",
            "x-hexclave-super-secret-admin-key",
        ] {
            let response = app
                .send(preflight(SHOP, &format!("content-type, x-stack-project-id, {header}")))
                .await;
            assert_eq!(response.status, StatusCode::NO_CONTENT);
            assert_eq!(response.header("access-control-allow-origin"), None, "{header}");
            assert_eq!(response.header("access-control-allow-headers"), None, "{header}");
            assert_eq!(response.header("access-control-allow-methods"), None, "{header}");
        }
        let response = app
            .send(preflight(SHOP, "content-type, x-stack-project-id, x-stack-publishable-client-key"))
            .await;
        assert_eq!(response.header("access-control-allow-origin"), Some(SHOP));
    }

    fn cors_settings_are_cached_until_this_node_changes_the_project(app) {
        let project = app.create_open_project();
        trust(app, &project, false, &[SHOP]);
        let send = || {
            project.client(
                TestRequest::get()
                    .uri("/api/v1/user-api-keys?user_id=me")
                    .insert_header(("origin", SHOP)),
            )
        };
        assert_eq!(app.send(send()).await.header("access-control-allow-origin"), Some(SHOP));
        assert_eq!(app.send(preflight(SHOP, "x-stack-project-id")).await.header("access-control-allow-origin"), Some(SHOP));
        // Changed behind the node's back: the cached settings answer, no database read.
        trust(app, &project, false, &[]);
        assert_eq!(app.send(send()).await.header("access-control-allow-origin"), Some(SHOP));
        assert_eq!(app.send(preflight(SHOP, "x-stack-project-id")).await.header("access-control-allow-origin"), Some(SHOP));
        // Changed through the API: seen by the very next request.
        let patched = app
            .send(project.admin(TestRequest::patch().uri("/api/v1/internal/projects/current")).set_json(
                serde_json::json!({"config": {"domains": []}}),
            ))
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(app.send(send()).await.header("access-control-allow-origin"), None);
        assert_eq!(app.send(preflight(SHOP, "x-stack-project-id")).await.header("access-control-allow-origin"), None);
    }

    fn server_and_admin_access_never_get_cors_headers(app) {
        let project = app.create_open_project();
        trust(app, &project, true, &[SHOP]);
        for request in [
            project.server(TestRequest::get().uri("/api/v1/users/me")),
            project.admin(TestRequest::get().uri("/api/v1/internal/projects/current")),
        ] {
            let response = app.send(request.insert_header(("origin", SHOP))).await;
            assert_eq!(response.header("access-control-allow-origin"), None, "{}", response.body);
        }
    }

    fn preflights_allow_the_stack_headers_for_allowed_origins(app) {
        let project = app.create_open_project();
        trust(app, &project, false, &[SHOP]);
        let response = app
            .send(preflight(
                SHOP,
                "content-type, x-stack-access-type, x-stack-project-id, x-hexclave-access-token, x-evil",
            ))
            .await;
        assert_eq!(response.status, StatusCode::NO_CONTENT, "{}", response.body);
        assert_eq!(response.header("access-control-allow-origin"), Some(SHOP));
        assert_eq!(response.header("access-control-allow-methods"), Some(ALLOWED_METHODS));
        assert_eq!(
            response.header("access-control-allow-headers"),
            Some("content-type, x-stack-access-type, x-stack-project-id, x-hexclave-access-token")
        );
        assert_eq!(response.header("access-control-max-age"), Some("600"));
        assert_eq!(response.header("vary"), Some(PREFLIGHT_VARY));
        assert_eq!(response.header("access-control-allow-credentials"), None);

        let refused = app.send(preflight("https://evil.example", "x-stack-project-id")).await;
        assert_eq!(refused.status, StatusCode::NO_CONTENT);
        assert_eq!(refused.header("access-control-allow-origin"), None);
        assert_eq!(refused.header("access-control-allow-headers"), None);

        let wrong_method = app
            .send(
                preflight(SHOP, "x-stack-project-id")
                    .insert_header(("access-control-request-method", "PUT")),
            )
            .await;
        assert_eq!(wrong_method.header("access-control-allow-origin"), None);

        // Localhost preflights pass while some project allows localhost.
        let local = app.send(preflight("http://127.0.0.1:3000", "x-stack-project-id")).await;
        assert_eq!(local.header("access-control-allow-origin"), None, "the only project refuses localhost");
        let local_project = app.create_open_project();
        trust(app, &local_project, true, &[]);
        app.state.service().project_settings_changed();
        let local = app.send(preflight("http://127.0.0.1:3000", "x-stack-project-id")).await;
        assert_eq!(local.header("access-control-allow-origin"), Some("http://127.0.0.1:3000"));
    }

    fn the_refresh_grant_is_readable_from_an_allowed_origin(app) {
        let project = app.create_open_project();
        trust(app, &project, false, &[SHOP]);
        let response = app
            .send(
                TestRequest::post()
                    .uri("/api/v1/auth/oauth/token")
                    .insert_header(("origin", SHOP))
                    .insert_header(("content-type", "application/x-www-form-urlencoded"))
                    .set_payload("grant_type=refresh_token&refresh_token=nope"),
            )
            .await;
        assert_eq!(response.header("access-control-allow-origin"), Some(SHOP), "{}", response.body);
    }

    fn non_api_paths_are_left_alone(app) {
        let project = app.create_open_project();
        trust(app, &project, false, &[SHOP]);
        let response = app
            .send(TestRequest::get().uri("/handler/account-settings").insert_header(("origin", SHOP)))
            .await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.header("access-control-allow-origin"), None);
        assert_eq!(response.header("vary"), None);
    }
}
