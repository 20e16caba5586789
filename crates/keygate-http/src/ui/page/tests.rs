//! HTTP tests of the hosted account-settings page, on SQLite and Postgres.

use actix_web::test::TestRequest;

use super::*;
use crate::ui::paths::{ACCOUNT_SETTINGS_PATH, DEMO_SIGN_IN_PATH};

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
        assert!(response.body.contains(r#"<script src="/ui/keygate-components.js"></script>"#));
        assert!(!response.body.contains("<script>"), "no inline script");
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
        // The test app does not enable the demo sign-in, so the page does not offer it.
        assert!(!response.body.contains(DEMO_SIGN_IN_PATH), "{}", response.body);
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
