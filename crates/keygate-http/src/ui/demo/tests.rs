//! HTTP tests of the demo sign-in, on SQLite and Postgres.

use std::net::SocketAddr;

use actix_web::test::{self as actix_test, TestRequest};
use keygate_domain::ProjectSwitches;

use keygate_domain::{ProjectId, UserId};
use keygate_service::demo::{DEMO_PROJECT_NAME, DEMO_USER_EMAIL};
use keygate_storage::repo::{server_secrets, teams, users};

use super::*;
use crate::app::build_app;
use crate::testing::{TestApp, TestResponse};
use crate::ui::paths::{ACCOUNT_SETTINGS_PATH, DEMO_SIGN_IN_PATH};
use keygate_service::projects::create_project;

const LOOPBACK_PEER: &str = "127.0.0.1:50000";

fn settings(mode: DemoSignIn, bind: &str) -> UiSettings {
    UiSettings {
        demo_sign_in: mode,
        bind: Some(bind.parse().expect("bind address")),
    }
}

/// Sends `request` through an app whose UI has `ui`.
async fn send_with(app: &TestApp, ui: UiSettings, request: TestRequest) -> TestResponse {
    app.send_to(&app.state.clone().with_ui(ui), request).await
}

fn local_request(host: &str) -> TestRequest {
    TestRequest::get()
        .uri(DEMO_SIGN_IN_PATH)
        .insert_header(("host", host))
        .peer_addr(LOOPBACK_PEER.parse::<SocketAddr>().expect("peer"))
}

fn default_project(app: &TestApp) -> ProjectId {
    let mut conn = app.database().conn();
    let config = ProjectSwitches {
        allow_user_api_keys: true,
        allow_team_api_keys: true,
        client_team_creation_enabled: true,
    };
    create_project(&mut conn, DEMO_PROJECT_NAME, config, app.now())
        .expect("default project")
        .id
}

fn set_cookies(response: &TestResponse) -> Vec<String> {
    response
        .headers
        .get_all("set-cookie")
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect()
}

fn cookie_value(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no cookie {name} in {cookies:?}"))
        .to_owned()
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
    fn the_demo_signs_in_and_sets_the_page_cookies(app) {
        let project = default_project(app);
        let ui = settings(DemoSignIn::Auto, "127.0.0.1:8102");
        let response = send_with(app, ui.clone(), local_request("localhost:8102")).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        assert_eq!(response.header("location"), Some(ACCOUNT_SETTINGS_PATH));
        let cookies = set_cookies(&response);
        let access = cookie_value(&cookies, ACCESS_TOKEN_COOKIE);
        let client_key = cookie_value(&cookies, CLIENT_KEY_COOKIE);
        assert_eq!(cookie_value(&cookies, PROJECT_COOKIE), project.to_string());
        assert!(!cookie_value(&cookies, &format!("stack-refresh-{project}")).is_empty());
        assert!(cookies.iter().all(|c| c.contains("SameSite=Lax")), "{cookies:?}");
        assert!(cookies.iter().filter(|c| c.contains("HttpOnly")).count() == 2, "{cookies:?}");

        // The session and the key work against the client API: the user lists their keys
        // and sees the team they manage.
        let client = |request: TestRequest| {
            request
                .insert_header(("x-stack-access-type", "client"))
                .insert_header(("x-stack-project-id", project.to_string()))
                .insert_header(("x-stack-publishable-client-key", client_key.as_str()))
                .insert_header(("x-stack-access-token", access.as_str()))
        };
        let me = app.send(client(TestRequest::get().uri("/api/v1/users/me"))).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(me.json()["primary_email"], DEMO_USER_EMAIL);
        let keys = app
            .send(client(TestRequest::get().uri("/api/v1/user-api-keys?user_id=me")))
            .await;
        assert_eq!(keys.status, StatusCode::OK, "{}", keys.body);
        let managed = app
            .send(client(TestRequest::get().uri(
                "/api/v1/team-permissions?user_id=me&recursive=true&permission_id=%24manage_api_keys",
            )))
            .await;
        assert_eq!(managed.status, StatusCode::OK, "{}", managed.body);
        assert_eq!(managed.json()["items"].as_array().map(Vec::len), Some(1), "{}", managed.body);

        // A second visit reuses the user and the in-memory client key.
        let state = app.state.clone().with_ui(ui);
        let service = actix_test::init_service(build_app(state)).await;
        let mut seen = Vec::new();
        for _ in 0..2 {
            let response = actix_test::call_service(
                &service,
                local_request("127.0.0.1:8102").to_request(),
            )
            .await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let cookies: Vec<String> = response
                .headers()
                .get_all("set-cookie")
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            seen.push(cookie_value(&cookies, CLIENT_KEY_COOKIE));
        }
        assert_eq!(seen[0], seen[1]);
        let mut conn = app.database().conn();
        let marker = server_secrets::get(&mut conn, &format!("ui_demo_user:{project}"))
            .expect("read marker")
            .expect("marker stored");
        let user_id: UserId = String::from_utf8(marker.value).expect("utf-8").parse().expect("id");
        assert_eq!(teams::list_for_user(&mut conn, project, user_id).expect("teams").len(), 1);
    }

    fn the_demo_is_unreachable_unless_allowed(app) {
        default_project(app);
        let refused = [
            // Disabled: never.
            (settings(DemoSignIn::Disabled, "127.0.0.1:8102"), local_request("localhost")),
            // Auto on a non-loopback bind.
            (settings(DemoSignIn::Auto, "0.0.0.0:8102"), local_request("localhost")),
            // Auto, but a peer from the network.
            (
                settings(DemoSignIn::Auto, "127.0.0.1:8102"),
                local_request("localhost").peer_addr("192.0.2.7:4000".parse().expect("peer")),
            ),
            // Auto, no peer address known.
            (
                settings(DemoSignIn::Auto, "127.0.0.1:8102"),
                TestRequest::get().uri(DEMO_SIGN_IN_PATH).insert_header(("host", "localhost")),
            ),
            // Auto, through a proxy.
            (
                settings(DemoSignIn::Auto, "127.0.0.1:8102"),
                local_request("localhost").insert_header(("x-forwarded-for", "198.51.100.1")),
            ),
            // Auto, a DNS name that resolves to loopback (DNS rebinding).
            (settings(DemoSignIn::Auto, "127.0.0.1:8102"), local_request("attacker.example:8102")),
        ];
        for (ui, request) in refused {
            let response = send_with(app, ui.clone(), request).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{ui:?}: {}", response.body);
            assert!(response.header("set-cookie").is_none());
        }
        // Enabled: also on a public bind, from anywhere.
        let enabled = send_with(
            app,
            settings(DemoSignIn::Enabled, "0.0.0.0:8102"),
            TestRequest::get().uri(DEMO_SIGN_IN_PATH).insert_header(("host", "keygate.example")),
        )
        .await;
        assert_eq!(enabled.status, StatusCode::SEE_OTHER, "{}", enabled.body);
    }

    fn without_a_default_project_the_demo_says_so(app) {
        app.create_open_project();
        let response = send_with(
            app,
            settings(DemoSignIn::Auto, "127.0.0.1:8102"),
            local_request("localhost"),
        )
        .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND);
        assert!(response.body.contains("\"default\""), "{}", response.body);
    }

    fn a_deleted_demo_user_is_created_again(app) {
        let project = default_project(app);
        let ui = settings(DemoSignIn::Auto, "127.0.0.1:8102");
        let first = send_with(app, ui.clone(), local_request("localhost")).await;
        assert_eq!(first.status, StatusCode::SEE_OTHER);
        let user_id: UserId = {
            let mut conn = app.database().conn();
            let marker = server_secrets::get(&mut conn, &format!("ui_demo_user:{project}"))
                .expect("read")
                .expect("stored");
            let id = String::from_utf8(marker.value).expect("utf-8").parse().expect("id");
            keygate_storage::testing::write_keys_uncached(&mut conn, |w| {
                users::delete(w, project, id)
            })
            .expect("delete demo user");
            id
        };
        let again = send_with(app, ui, local_request("localhost")).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
        let mut conn = app.database().conn();
        assert!(users::get(&mut conn, project, user_id).expect("read").is_some());
    }

    fn the_page_offers_the_demo_only_where_it_works(app) {
        default_project(app);
        let page = |host: &str| {
            TestRequest::get()
                .uri(ACCOUNT_SETTINGS_PATH)
                .insert_header(("host", host.to_owned()))
                .peer_addr(LOOPBACK_PEER.parse::<SocketAddr>().expect("peer"))
        };
        let ui = settings(DemoSignIn::Auto, "127.0.0.1:8102");
        let local = send_with(app, ui.clone(), page("localhost:8102")).await;
        assert!(local.body.contains(DEMO_SIGN_IN_PATH), "{}", local.body);
        let rebound = send_with(app, ui, page("attacker.example")).await;
        assert!(!rebound.body.contains(DEMO_SIGN_IN_PATH), "{}", rebound.body);
    }
}
