//! HTTP tests of the hosted account-settings page, on SQLite and Postgres.

use actix_web::test::TestRequest;
use keygate_domain::UserId;
use serde_json::json;

use super::*;
use crate::testing::{TestApp, TestProject, TestResponse};
use crate::ui::paths::{ACCOUNT_SETTINGS_PATH, DEMO_SIGN_IN_PATH, PAGE_ACCESS_TOKEN_PATH};

/// Opens a session for `user` through the API; returns (access token, refresh token).
async fn open_session(app: &TestApp, project: &TestProject, user: UserId) -> (String, String) {
    let response = app
        .send(
            project.server(
                TestRequest::post()
                    .uri("/api/v1/auth/sessions")
                    .set_json(json!({"user_id": user.to_string()})),
            ),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let body = response.json();
    (
        body["access_token"]
            .as_str()
            .expect("access token")
            .to_owned(),
        body["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    )
}

/// The page script's request, with `cookies`.
fn token_request(cookies: String) -> TestRequest {
    TestRequest::post()
        .uri(PAGE_ACCESS_TOKEN_PATH)
        .insert_header(("sec-fetch-site", "same-origin"))
        .insert_header(("cookie", cookies))
}

fn access_cookie_set(response: &TestResponse) -> Option<String> {
    response
        .headers
        .get_all("set-cookie")
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{ACCESS_TOKEN_COOKIE}=")))
        .map(str::to_owned)
}

crate::http_tests! {
    fn the_page_mounts_both_components_with_the_query_configuration(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let uri = format!(
            "{ACCOUNT_SETTINGS_PATH}?project_id={}&publishable_client_key={}",
            project.id(),
            project.publishable_client_key
        );
        let response = app
            .send(
                TestRequest::get()
                    .uri(&uri)
                    .insert_header(("cookie", format!("{ACCESS_TOKEN_COOKIE}={}", user.access_token))),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK);
        assert_eq!(response.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(response.header("content-security-policy"), Some(PAGE_CSP));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert_eq!(response.header("cache-control"), Some("no-store, max-age=0"));
        let expected = format!(
            r#"<keygate-api-keys project-id="{}" publishable-client-key="{}"></keygate-api-keys>"#,
            project.id(),
            project.publishable_client_key
        );
        assert!(response.body.contains(&expected), "{}", response.body);
        assert!(response.body.contains("<keygate-team-api-keys project-id="));
        // The page's script mounts the components once it has configured them.
        assert!(response.body.contains(&format!(r#"<template id="{COMPONENTS_TEMPLATE_ID}">"#)));
        assert!(response.body.contains(&format!(
            "<script src=\"/ui/keygate-components.js\"></script>\n  <script src=\"{PAGE_SCRIPT_PATH}\"></script>"
        )));
        assert!(!response.body.contains("<script>"), "no inline script");
        // No session secret is written into the page.
        assert!(!response.body.contains(&user.access_token));
    }

    fn the_page_takes_its_configuration_from_the_demo_cookies(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let cookies = format!(
            "{ACCESS_TOKEN_COOKIE}={}; {PROJECT_COOKIE}={}; {CLIENT_KEY_COOKIE}={}",
            user.access_token,
            project.id(),
            project.publishable_client_key
        );
        let response = app
            .send(TestRequest::get().uri(ACCOUNT_SETTINGS_PATH).insert_header(("cookie", cookies)))
            .await;
        assert_eq!(response.status, StatusCode::OK);
        assert!(response.body.contains(&format!(r#"project-id="{}""#, project.id())));
        assert!(response
            .body
            .contains(&format!(r#"publishable-client-key="{}""#, project.publishable_client_key)));
    }

    fn without_a_session_the_page_asks_to_sign_in(app) {
        let response = app.send(TestRequest::get().uri(ACCOUNT_SETTINGS_PATH)).await;
        assert_eq!(response.status, StatusCode::OK);
        assert!(response.body.contains("Sign in to manage your API keys"));
        assert!(!response.body.contains("<keygate-api-keys"));
        // The demo sign-in needs its one-time link: the page never links to it.
        assert!(!response.body.contains(DEMO_SIGN_IN_PATH), "{}", response.body);
    }

    fn the_page_script_gets_the_cookies_access_token_while_it_is_fresh(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let cookies = format!("{PROJECT_COOKIE}={}; {ACCESS_TOKEN_COOKIE}={}", project.id(), user.access_token);
        let response = app.send(token_request(cookies)).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.json()["access_token"], user.access_token.as_str());
        assert!(response.json()["expires_in_seconds"].as_i64().expect("seconds") > 60);
        assert_eq!(response.header("cache-control"), Some("no-store, max-age=0"));
        assert!(access_cookie_set(&response).is_none());
    }

    fn the_page_script_renews_the_token_with_the_http_only_refresh_cookie(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (access, refresh) = open_session(app, &project, user.id).await;
        // Ten minutes on: the access token has expired, the session has not.
        app.advance_clock(11 * 60 * 1000);
        let cookies = format!(
            "{ACCESS_TOKEN_COOKIE}={access}; stack-refresh-{}={refresh}",
            project.id()
        );
        let request = token_request(cookies).set_form([("project_id", project.id().to_string())]);
        let response = app.send(request).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        let renewed = response.json()["access_token"].as_str().expect("token").to_owned();
        assert_ne!(renewed, access);
        let cookie = access_cookie_set(&response).expect("the cookie is renewed");
        assert!(cookie.starts_with(&format!("{ACCESS_TOKEN_COOKIE}={renewed};")), "{cookie}");
        assert!(cookie.contains("; HttpOnly") && cookie.contains("; Path=/handler;"), "{cookie}");
        let me = app
            .send(project.client(TestRequest::get().uri("/api/v1/users/me")).insert_header(("x-stack-access-token", renewed)))
            .await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    }

    fn the_page_token_needs_an_open_session_and_the_pages_own_origin(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (access, refresh) = open_session(app, &project, user.id).await;
        let cookies = format!(
            "{PROJECT_COOKIE}={}; {ACCESS_TOKEN_COOKIE}={access}; stack-refresh-{}={refresh}",
            project.id(),
            project.id()
        );
        // Another site's script cannot have it, even with the browser's cookies.
        for (name, value) in [("sec-fetch-site", "cross-site"), ("sec-fetch-site", "same-site")] {
            let response = app
                .send(token_request(cookies.clone()).insert_header((name, value)))
                .await;
            assert_eq!(response.status, StatusCode::FORBIDDEN, "{}", response.body);
            assert!(!response.body.contains(&access));
        }
        let no_fetch_metadata = TestRequest::post()
            .uri(PAGE_ACCESS_TOKEN_PATH)
            .insert_header(("origin", "https://evil.example"))
            .insert_header(("cookie", cookies.clone()));
        assert_eq!(app.send(no_fetch_metadata).await.status, StatusCode::FORBIDDEN);
        // No cookies: no session.
        let response = app.send(token_request(String::new())).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{}", response.body);
        // A signed-out session is not renewed.
        app.state
            .service()
            .session_of_refresh_token(project.id(), &refresh)
            .await
            .expect("open");
        let signed_out = app
            .send(project.client(TestRequest::delete().uri("/api/v1/auth/sessions/current")).insert_header(("x-stack-access-token", access.clone())))
            .await;
        assert_eq!(signed_out.status, StatusCode::OK, "{}", signed_out.body);
        app.advance_clock(11 * 60 * 1000);
        let response = app.send(token_request(cookies)).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{}", response.body);
        assert!(access_cookie_set(&response).is_none());
    }

    fn hostile_query_values_are_escaped(app) {
        let response = app
            .send(
                TestRequest::get()
                    .uri(&format!(
                        "{ACCOUNT_SETTINGS_PATH}?project_id=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"
                    ))
                    .insert_header(("cookie", format!("{ACCESS_TOKEN_COOKIE}=x"))),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK);
        assert!(!response.body.contains("<script>alert(1)"), "{}", response.body);
        assert!(response.body.contains("&quot;&gt;&lt;script&gt;alert(1)"));
    }
}
