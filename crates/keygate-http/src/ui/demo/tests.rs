//! HTTP tests of the demo sign-in, on SQLite and Postgres.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::test::TestRequest;
use keygate_domain::{ProjectId, ProjectSwitches, UserId};
use keygate_service::audit::AuditActor;
use keygate_service::demo::{remember_demo_project, DEMO_USER_EMAIL};
use keygate_service::projects::{create_project, update_project, CorsChanges};
use keygate_storage::repo::projects::ProjectUpdate;
use keygate_storage::repo::{server_secrets, teams, users};

use super::*;
use crate::state::AppState;
use crate::testing::{TestApp, TestResponse};
use crate::ui::paths::{ACCOUNT_SETTINGS_PATH, CLIENT_KEY_COOKIE, PROJECT_COOKIE};
use crate::ui::{DemoLinkAnnouncer, UiSettings};

const LOOPBACK_PEER: &str = "127.0.0.1:50000";
const OWN_ORIGIN: &str = "http://localhost:8102";

/// The settings the binary uses on a loopback bind, with the links collected in `links`.
fn settings(mode: DemoSignIn, bind: &str, links: &Arc<Mutex<Vec<String>>>) -> UiSettings {
    let sink = Arc::clone(links);
    UiSettings {
        demo_sign_in: mode,
        bind: Some(bind.parse().expect("bind address")),
        public_url: Some(OWN_ORIGIN.to_owned()),
        demo_link_announcer: Some(DemoLinkAnnouncer::new(move |link| {
            sink.lock().expect("links").push(link.to_owned())
        })),
    }
}

/// A state with the demo on (auto, loopback bind) and the links it announces.
fn demo_state(app: &TestApp) -> (AppState, Arc<Mutex<Vec<String>>>) {
    let links = Arc::new(Mutex::new(Vec::new()));
    let state = app
        .state
        .clone()
        .with_ui(settings(DemoSignIn::Auto, "127.0.0.1:8102", &links));
    (state, links)
}

/// The request nginx's minimal `proxy_pass` (or a curl) sends: loopback peer and `Host`.
fn local(request: TestRequest) -> TestRequest {
    request
        .insert_header(("host", "127.0.0.1:8102"))
        .peer_addr(LOOPBACK_PEER.parse::<SocketAddr>().expect("peer"))
}

fn form_get(token: &str) -> TestRequest {
    local(TestRequest::get().uri(&format!("{DEMO_SIGN_IN_PATH}?token={token}")))
}

/// The form's POST as a browser sends it from the form page.
fn same_origin_post(token: &str) -> TestRequest {
    local(TestRequest::post().uri(DEMO_SIGN_IN_PATH))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .insert_header(("sec-fetch-site", "same-origin"))
        .insert_header(("origin", OWN_ORIGIN))
        .set_payload(format!("token={token}"))
}

/// The first-start project: named `default` and recorded as the demo project.
fn demo_project(app: &TestApp) -> ProjectId {
    let mut conn = app.database().conn();
    let config = ProjectSwitches {
        allow_user_api_keys: true,
        allow_team_api_keys: true,
        client_team_creation_enabled: true,
    };
    let project = create_project(&mut conn, "default", config, app.now())
        .expect("default project")
        .id;
    remember_demo_project(&mut conn, project, app.now()).expect("record the demo project");
    project
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

fn issue(state: &AppState) -> String {
    state
        .ui()
        .issue_demo_link()
        .expect("the demo is on")
        .expose_secret()
        .to_owned()
}

fn demo_user(app: &TestApp, project: ProjectId) -> UserId {
    let mut conn = app.database().conn();
    let marker = server_secrets::get(&mut conn, &format!("ui_demo_user:{project}"))
        .expect("read marker")
        .expect("marker stored");
    String::from_utf8(marker.value)
        .expect("utf-8")
        .parse()
        .expect("id")
}

crate::http_tests! {
    fn the_old_local_request_without_a_token_is_a_plain_404(app) {
        demo_project(app);
        let (state, _) = demo_state(app);
        issue(&state);
        // What `curl -H 'Host: 127.0.0.1:8102' …/handler/demo-sign-in` used to sign in with.
        for request in [
            local(TestRequest::get().uri(DEMO_SIGN_IN_PATH)),
            local(TestRequest::post().uri(DEMO_SIGN_IN_PATH)).insert_header(("sec-fetch-site", "same-origin")),
            local(TestRequest::put().uri(DEMO_SIGN_IN_PATH)),
        ] {
            let response = app.send_to(&state, request).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.body);
            assert!(response.body.starts_with("404 — this page does not exist"), "{}", response.body);
            assert!(set_cookies(&response).is_empty());
        }
    }

    fn a_wrong_token_is_a_plain_404(app) {
        demo_project(app);
        let (state, _) = demo_state(app);
        let token = issue(&state);
        let wrong = format!("{token}x");
        for request in [form_get(&wrong), same_origin_post(&wrong), form_get("")] {
            let response = app.send_to(&state, request).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.body);
            assert!(set_cookies(&response).is_empty());
        }
        // The right token still works afterwards.
        assert_eq!(app.send_to(&state, same_origin_post(&token)).await.status, StatusCode::SEE_OTHER);
    }

    fn the_right_token_shows_a_form_and_changes_nothing(app) {
        let project = demo_project(app);
        let (state, _) = demo_state(app);
        let token = issue(&state);
        for _ in 0..2 {
            let response = app.send_to(&state, form_get(&token)).await;
            assert_eq!(response.status, StatusCode::OK, "{}", response.body);
            assert!(set_cookies(&response).is_empty());
            assert_eq!(response.header("content-security-policy"), Some(DEMO_FORM_CSP));
            assert_eq!(response.header("cache-control"), Some("no-store"));
            assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
            assert!(response.body.contains(r#"<form method="post" action="/handler/demo-sign-in">"#), "{}", response.body);
            assert!(response.body.contains(&format!(r#"name="token" value="{token}""#)), "{}", response.body);
            assert!(!response.body.contains("<script"), "{}", response.body);
        }
        // Nobody was signed in: the demo user does not even exist yet.
        let mut conn = app.database().conn();
        assert!(server_secrets::get(&mut conn, &format!("ui_demo_user:{project}")).expect("read").is_none());
    }

    fn a_cross_site_post_is_refused_and_signs_nothing_in(app) {
        let project = demo_project(app);
        let (state, _) = demo_state(app);
        let token = issue(&state);
        let cross_site = [
            same_origin_post(&token).insert_header(("sec-fetch-site", "cross-site")),
            same_origin_post(&token).insert_header(("sec-fetch-site", "same-site")),
            // An old browser without fetch metadata: the Origin decides.
            local(TestRequest::post().uri(DEMO_SIGN_IN_PATH))
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .insert_header(("origin", "https://evil.example"))
                .set_payload(format!("token={token}")),
            // Neither header: not a browser form of this server.
            local(TestRequest::post().uri(DEMO_SIGN_IN_PATH))
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(format!("token={token}")),
        ];
        for request in cross_site {
            let response = app.send_to(&state, request).await;
            assert_eq!(response.status, StatusCode::FORBIDDEN, "{}", response.body);
            assert!(set_cookies(&response).is_empty());
        }
        let mut conn = app.database().conn();
        assert!(server_secrets::get(&mut conn, &format!("ui_demo_user:{project}")).expect("read").is_none());
        drop(conn);
        // The operator's own browser may still use the link.
        let own = local(TestRequest::post().uri(DEMO_SIGN_IN_PATH))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .insert_header(("origin", "http://127.0.0.1:8102"))
            .set_payload(format!("token={token}"));
        assert_eq!(app.send_to(&state, own).await.status, StatusCode::SEE_OTHER);
    }

    fn a_good_post_signs_in_with_http_only_cookies_once(app) {
        let project = demo_project(app);
        let (state, links) = demo_state(app);
        let token = issue(&state);
        let response = app.send_to(&state, same_origin_post(&token)).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        assert_eq!(response.header("location"), Some(ACCOUNT_SETTINGS_PATH));
        let cookies = set_cookies(&response);
        assert_eq!(cookies.len(), 4, "{cookies:?}");
        for cookie in &cookies {
            assert!(cookie.contains("; HttpOnly"), "{cookie}");
            assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
            assert!(cookie.contains("; Path=/handler;"), "{cookie}");
            assert!(!cookie.contains("Secure"), "plain http: {cookie}");
        }
        let access = cookie_value(&cookies, ACCESS_TOKEN_COOKIE);
        let client_key = cookie_value(&cookies, CLIENT_KEY_COOKIE);
        assert_eq!(cookie_value(&cookies, PROJECT_COOKIE), project.to_string());
        assert!(!cookie_value(&cookies, &format!("stack-refresh-{project}")).is_empty());

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
        let managed = app
            .send(client(TestRequest::get().uri(
                "/api/v1/team-permissions?user_id=me&recursive=true&permission_id=%24manage_api_keys",
            )))
            .await;
        assert_eq!(managed.status, StatusCode::OK, "{}", managed.body);
        assert_eq!(managed.json()["items"].as_array().map(Vec::len), Some(1), "{}", managed.body);

        // The token is used up, everywhere; a fresh link was announced for next time.
        for request in [form_get(&token), same_origin_post(&token)] {
            let again = app.send_to(&state, request).await;
            assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
            assert!(set_cookies(&again).is_empty());
        }
        let announced = links.lock().expect("links").clone();
        assert_eq!(announced.len(), 2, "{announced:?}");
        assert!(announced[0].ends_with(&format!("?token={token}")));
        let next = announced[1].rsplit_once("?token=").expect("a token").1.to_owned();
        assert_ne!(next, token);
        assert!(announced[1].starts_with("http://localhost:8102/handler/demo-sign-in?token=kgdemo_"));
        let second = app.send_to(&state, same_origin_post(&next)).await;
        assert_eq!(second.status, StatusCode::SEE_OTHER, "{}", second.body);
        // The same user and the in-memory client key.
        assert_eq!(cookie_value(&set_cookies(&second), CLIENT_KEY_COOKIE), client_key);
        let mut conn = app.database().conn();
        let user_id = demo_user(app, project);
        assert_eq!(teams::list_for_user(&mut conn, project, user_id).expect("teams").len(), 1);
    }

    fn cookies_are_secure_under_https_but_not_for_a_forwarded_header(app) {
        demo_project(app);
        let links = Arc::new(Mutex::new(Vec::new()));
        // Plain http, whatever a client claims in forwarding headers.
        let (state, _) = demo_state(app);
        let token = issue(&state);
        let forwarded = same_origin_post(&token)
            .insert_header(("x-forwarded-proto", "https"))
            .insert_header(("forwarded", "proto=https"));
        let response = app.send_to(&state, forwarded).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        assert!(set_cookies(&response).iter().all(|c| !c.contains("Secure")));
        // Reached over https (the public URL says so; TLS ends at the proxy).
        let https = app.state.clone().with_ui(UiSettings {
            public_url: Some("https://keys.example.com".to_owned()),
            ..settings(DemoSignIn::Enabled, "0.0.0.0:8102", &links)
        });
        let token = issue(&https);
        let request = TestRequest::post()
            .uri(DEMO_SIGN_IN_PATH)
            .insert_header(("host", "keys.example.com"))
            .insert_header(("content-type", "application/x-www-form-urlencoded"))
            .insert_header(("origin", "https://keys.example.com"))
            .set_payload(format!("token={token}"));
        let response = app.send_to(&https, request).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        let cookies = set_cookies(&response);
        assert_eq!(cookies.len(), 4);
        assert!(cookies.iter().all(|c| c.ends_with("; Secure") && c.contains("HttpOnly")), "{cookies:?}");
    }

    fn two_sign_ins_leave_one_demo_session(app) {
        let project = demo_project(app);
        let (state, _) = demo_state(app);
        let mut refresh_tokens = Vec::new();
        for _ in 0..2 {
            let token = issue(&state);
            let response = app.send_to(&state, same_origin_post(&token)).await;
            assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
            refresh_tokens.push(cookie_value(&set_cookies(&response), &format!("stack-refresh-{project}")));
        }
        let service = app.state.service();
        let first = service.session_of_refresh_token(project, &refresh_tokens[0]).await;
        assert!(first.is_err(), "the first demo session was signed out: {first:?}");
        let second = service
            .session_of_refresh_token(project, &refresh_tokens[1])
            .await
            .expect("the latest demo session is open");
        assert_eq!(second.user.id, demo_user(app, project));
    }

    fn the_demo_project_is_the_recorded_one_whatever_its_name(app) {
        let project = demo_project(app);
        {
            let mut conn = app.database().conn();
            let rename = ProjectUpdate {
                display_name: Some("renamed".to_owned()),
                ..ProjectUpdate::default()
            };
            let by = AuditActor::command_line("test");
            update_project(&mut conn, project, &rename, &CorsChanges::default(), &by, app.now())
                .expect("rename");
            let config = ProjectSwitches {
                allow_user_api_keys: true,
                allow_team_api_keys: true,
                client_team_creation_enabled: true,
            };
            create_project(&mut conn, "default", config, app.now()).expect("a new `default`");
        }
        let (state, _) = demo_state(app);
        let response = app.send_to(&state, same_origin_post(&issue(&state))).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        assert_eq!(cookie_value(&set_cookies(&response), PROJECT_COOKIE), project.to_string());
    }

    fn a_project_merely_named_default_is_not_the_demo_project(app) {
        let mut conn = app.database().conn();
        let config = ProjectSwitches {
            allow_user_api_keys: true,
            allow_team_api_keys: true,
            client_team_creation_enabled: true,
        };
        create_project(&mut conn, "default", config, app.now()).expect("project");
        drop(conn);
        let (state, _) = demo_state(app);
        let response = app.send_to(&state, same_origin_post(&issue(&state))).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND);
        assert!(response.body.contains("first start"), "{}", response.body);
        assert!(set_cookies(&response).is_empty());
    }

    fn a_deleted_demo_user_is_created_again(app) {
        let project = demo_project(app);
        let (state, _) = demo_state(app);
        let first = app.send_to(&state, same_origin_post(&issue(&state))).await;
        assert_eq!(first.status, StatusCode::SEE_OTHER);
        let user_id = demo_user(app, project);
        {
            let mut conn = app.database().conn();
            keygate_storage::testing::write_keys_uncached(&mut conn, |w| {
                users::delete(w, project, user_id)
            })
            .expect("delete demo user");
        }
        let again = app.send_to(&state, same_origin_post(&issue(&state))).await;
        assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
        let mut conn = app.database().conn();
        assert!(users::get(&mut conn, project, user_id).expect("read").is_some());
    }

    fn the_demo_is_off_unless_allowed(app) {
        demo_project(app);
        let links = Arc::new(Mutex::new(Vec::new()));
        for ui in [
            settings(DemoSignIn::Disabled, "127.0.0.1:8102", &links),
            settings(DemoSignIn::Auto, "0.0.0.0:8102", &links),
        ] {
            let state = app.state.clone().with_ui(ui);
            assert!(state.ui().issue_demo_link().is_none());
            let response = app.send_to(&state, form_get("kgdemo_anything")).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND);
        }
        assert!(links.lock().expect("links").is_empty(), "no link is printed");
        // Enabled: also on a public bind, for the holder of the link.
        let enabled = app.state.clone().with_ui(settings(DemoSignIn::Enabled, "0.0.0.0:8102", &links));
        let token = issue(&enabled);
        let response = app
            .send_to(
                &enabled,
                TestRequest::get()
                    .uri(&format!("{DEMO_SIGN_IN_PATH}?token={token}"))
                    .insert_header(("host", "keygate.example")),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    }
}
