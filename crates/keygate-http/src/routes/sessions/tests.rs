//! HTTP tests of the session routes and the OAuth token endpoint, on SQLite and Postgres.

use actix_web::test::TestRequest;
use base64::Engine;
use serde_json::json;

use super::MAX_SESSION_LIFETIME_MILLIS;
use crate::routes::test_requests::{
    assert_schema_error, create_user, json_request, jwt_payload, open_session, with_token,
};
use crate::testing::{TestApp, TestProject};

fn form_token_request(body: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/oauth/token")
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(body.to_owned())
}

fn refresh_form(project: &TestProject, refresh_token: &str) -> String {
    format!(
        "grant_type=refresh_token&refresh_token={refresh_token}&client_id={}&client_secret={}",
        project.id(),
        project.publishable_client_key
    )
}

async fn me_status(app: &TestApp, project: &TestProject, access: &str) -> u16 {
    app.send(with_token(
        project.client(TestRequest::get().uri("/api/v1/users/me")),
        access,
    ))
    .await
    .status
    .as_u16()
}

crate::http_tests! {
    fn a_user_lists_its_open_sessions_and_signs_another_out_from_the_list(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let user_id = user.id.to_string();
        app.advance_clock(1_000);
        let opened_at = app.now();
        let (_, other_refresh) = open_session(app, &project, &user_id).await;
        let list = || user.signed_in(project.client(TestRequest::get().uri("/api/v1/auth/sessions?user_id=me")));

        let listed = app.send(list()).await.assert_ok(200);
        let other_id = listed["items"][0]["id"].as_str().expect("id").to_owned();
        assert_eq!(listed, json!({
            "items": [
                {
                    "id": other_id,
                    "user_id": user_id,
                    "created_at": opened_at,
                    "last_used_at": opened_at,
                    "is_impersonation": false,
                    "is_current_session": false,
                },
                {
                    "id": user.session_id.to_string(),
                    "user_id": user_id,
                    "created_at": opened_at - 1_000,
                    "last_used_at": opened_at - 1_000,
                    "is_impersonation": false,
                    "is_current_session": true,
                },
            ],
            "is_paginated": false,
        }));

        // Trading the refresh token for an access token is a use of the session.
        app.advance_clock(5_000);
        let refresh = || project.client(TestRequest::post()
            .uri("/api/v1/auth/sessions/current/refresh")
            .insert_header(("x-stack-refresh-token", other_refresh.as_str())));
        app.send(refresh()).await.assert_ok(200);
        let listed = app.send(list()).await.assert_ok(200);
        assert_eq!(listed["items"][0]["last_used_at"], opened_at + 5_000);
        assert_eq!(listed["items"][1]["last_used_at"], opened_at - 1_000);

        // Never the session the request itself uses.
        let own = format!("/api/v1/auth/sessions/{}?user_id=me", user.session_id);
        app.send(user.signed_in(project.client(TestRequest::delete().uri(&own))))
            .await
            .assert_known_error(400, "CANNOT_DELETE_CURRENT_SESSION");

        let other = format!("/api/v1/auth/sessions/{other_id}?user_id=me");
        let answer = app
            .send(user.signed_in(project.client(TestRequest::delete().uri(&other))))
            .await
            .assert_ok(200);
        assert_eq!(answer, json!({"success": true}));
        let listed = app.send(list()).await.assert_ok(200);
        assert_eq!(listed["items"].as_array().expect("items").len(), 1);
        assert_eq!(listed["items"][0]["id"], user.session_id.to_string());
        app.send(refresh())
            .await
            .assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        // Once signed out, it is not there to sign out again.
        app.send(user.signed_in(project.client(TestRequest::delete().uri(&other))))
            .await
            .assert_plain_error(404, "Session not found.");

        let log = app
            .send(project.admin(TestRequest::get().uri("/api/v1/internal/audit-log?action=session.revoked")))
            .await
            .assert_ok(200);
        assert_eq!(log["items"].as_array().expect("items").len(), 1);
        assert_eq!(log["items"][0]["object_id"], other_id.as_str());
        assert_eq!(log["items"][0]["actor_type"], "user");
        assert_eq!(log["items"][0]["actor_user_id"], user_id.as_str());
    }

    fn clients_see_and_end_only_their_own_sessions(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let other = app.create_user(&project);
        let others = format!("/api/v1/auth/sessions?user_id={}", other.id);
        app.send(user.signed_in(project.client(TestRequest::get().uri(&others))))
            .await
            .assert_plain_error(403, "Client can only list sessions for their own user.");
        app.send(project.client(TestRequest::get().uri("/api/v1/auth/sessions?user_id=me")))
            .await
            .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        let response = app
            .send(user.signed_in(project.client(TestRequest::get().uri("/api/v1/auth/sessions"))))
            .await;
        assert_schema_error(&response, "GET", "/api/v1/auth/sessions", &["query.user_id must be defined"]);

        // Another user's session is not found (its existence does not leak).
        let others_session = format!("/api/v1/auth/sessions/{}?user_id=me", other.session_id);
        app.send(user.signed_in(project.client(TestRequest::delete().uri(&others_session))))
            .await
            .assert_plain_error(404, "Session not found.");
        let response = app
            .send(user.signed_in(project.client(TestRequest::delete().uri("/api/v1/auth/sessions/nope?user_id=me"))))
            .await;
        assert_schema_error(&response, "DELETE", "/api/v1/auth/sessions/nope", &["params.session_id must be a valid UUID"]);

        // A server lists and ends anyone's; none of them is the request's own.
        let listed = app.send(project.server(TestRequest::get().uri(&others))).await.assert_ok(200);
        assert_eq!(listed["items"][0]["is_current_session"], false);
        app.send(project.server(TestRequest::delete().uri(&format!(
            "/api/v1/auth/sessions/{}?user_id={}", other.session_id, other.id
        ))))
        .await
        .assert_ok(200);
        let listed = app.send(project.server(TestRequest::get().uri(&others))).await.assert_ok(200);
        assert_eq!(listed, json!({"items": [], "is_paginated": false}));
        // The signed-out user's access token stops working at once.
        app.send(other.signed_in(project.client(TestRequest::get().uri("/api/v1/users/me"))))
            .await
            .assert_known_error(401, "ACCESS_TOKEN_EXPIRED");
    }

    fn a_session_gives_tokens_whose_claims_are_complete(app) {
        let project = app.create_open_project();
        let user = create_user(app, &project, json!({
            "display_name": "Fay",
            "primary_email": "fay@example.com",
            "primary_email_verified": true,
        })).await;
        let id = user["id"].as_str().unwrap();
        let response = app
            .send(project.server(json_request("POST", "/api/v1/auth/sessions", json!({
                "user_id": id,
                "expires_in_millis": 60_000,
                "is_impersonation": false,
            }))))
            .await;
        let tokens = response.assert_ok(200);
        let access = tokens["access_token"].as_str().unwrap();
        assert!(tokens["refresh_token"].as_str().unwrap().starts_with("kgrt_"));
        assert_eq!(me_status(app, &project, access).await, 200);

        let claims = jwt_payload(access);
        let now_seconds = app.now() / 1000;
        assert_eq!(claims["sub"], id);
        assert_eq!(claims["aud"], project.id().to_string());
        assert_eq!(claims["project_id"], project.id().to_string());
        assert_eq!(claims["branch_id"], "main");
        assert_eq!(claims["role"], "authenticated");
        assert_eq!(claims["iss"], "keygate");
        assert_eq!(claims["iat"], now_seconds);
        assert_eq!(claims["exp"], now_seconds + 600);
        assert_eq!(claims["name"], "Fay");
        assert_eq!(claims["email"], "fay@example.com");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["is_anonymous"], false);
        assert_eq!(claims["is_restricted"], false);
        assert_eq!(claims["requires_totp_mfa"], false);
        assert_eq!(claims["selected_team_id"], serde_json::Value::Null);
        assert_eq!(claims["signed_up_at"], app.now() / 1000);
        assert_eq!(claims["restricted_reason"], serde_json::Value::Null);
        assert!(claims["refresh_token_id"].as_str().unwrap().parse::<uuid::Uuid>().is_ok());
        assert_eq!(claims.as_object().unwrap().len(), 18, "{claims}");
    }

    fn session_creation_errors(app) {
        let project = app.create_open_project();
        let signed_in = app.create_user(&project);
        let post = |body| project.server(json_request("POST", "/api/v1/auth/sessions", body));

        let missing = keygate_domain::UserId::new_random();
        let response = app.send(post(json!({"user_id": missing.to_string()}))).await;
        response.assert_known_error(400, "USER_ID_DOES_NOT_EXIST");
        assert_eq!(response.json()["details"], json!({"user_id": missing.to_string()}));

        app.send(post(json!({"user_id": "me"})))
            .await
            .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        let tokens = app
            .send(signed_in.signed_in(post(json!({"user_id": "me"}))))
            .await
            .assert_ok(200);
        assert_eq!(jwt_payload(tokens["access_token"].as_str().unwrap())["sub"], signed_in.id.to_string());

        let response = app
            .send(post(json!({"user_id": "x", "expires_in_millis": MAX_SESSION_LIFETIME_MILLIS + 1, "extra": 1})))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/auth/sessions", &[
            "body.user_id must be a valid UUID",
            "body.expires_in_millis must be less than or equal to 31708800000",
            "body contains unknown properties: extra",
        ]);
        let response = app.send(post(json!({"expires_in_millis": "soon"}))).await;
        assert_schema_error(&response, "POST", "/api/v1/auth/sessions", &[
            "body.user_id must be defined",
            "body.expires_in_millis must be a `number` type, but the final value was: `\"soon\"`.",
        ]);
        let response = app
            .send(signed_in.signed_in(project.client(json_request(
                "POST",
                "/api/v1/auth/sessions",
                json!({"user_id": "me"}),
            ))))
            .await;
        response.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
    }

    fn refresh_gives_a_fresh_token_with_current_claims(app) {
        let project = app.create_open_project();
        let user = create_user(app, &project, json!({"display_name": "Gus"})).await;
        let id = user["id"].as_str().unwrap();
        let (_, refresh) = open_session(app, &project, id).await;
        app.send(project.server(json_request(
            "PATCH",
            &format!("/api/v1/users/{id}"),
            json!({"display_name": "Gustav"}),
        )))
        .await
        .assert_ok(200);

        app.advance_clock(5_000);
        let refresh_request = |header: &'static str| {
            project.client(
                TestRequest::post()
                    .uri("/api/v1/auth/sessions/current/refresh")
                    .insert_header((header, refresh.clone())),
            )
        };
        let body = app.send(refresh_request("x-stack-refresh-token")).await.assert_ok(200);
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1);
        assert_eq!(jwt_payload(access)["name"], "Gustav");
        assert_eq!(jwt_payload(access)["iat"], app.now() / 1000);
        assert_eq!(me_status(app, &project, access).await, 200);
        // The newer SDKs' header name works too.
        app.send(refresh_request("x-hexclave-refresh-token")).await.assert_ok(200);

        let response = app
            .send(project.client(TestRequest::post().uri("/api/v1/auth/sessions/current/refresh")))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/auth/sessions/current/refresh", &[
            "headers.x-stack-refresh-token must be defined",
        ]);
        let response = app
            .send(project.client(
                TestRequest::post()
                    .uri("/api/v1/auth/sessions/current/refresh")
                    .insert_header(("x-stack-refresh-token", "kgrt_garbage")),
            ))
            .await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        // A refresh token is bound to its project.
        let other = app.create_open_project();
        let response = app
            .send(other.client(
                TestRequest::post()
                    .uri("/api/v1/auth/sessions/current/refresh")
                    .insert_header(("x-stack-refresh-token", refresh.clone())),
            ))
            .await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    }

    fn expired_sessions_do_not_refresh(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let tokens = app
            .send(project.server(json_request("POST", "/api/v1/auth/sessions", json!({
                "user_id": user.id.to_string(),
                "expires_in_millis": 1_000,
            }))))
            .await
            .assert_ok(200);
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let refresh_request = || {
            project.client(
                TestRequest::post()
                    .uri("/api/v1/auth/sessions/current/refresh")
                    .insert_header(("x-stack-refresh-token", refresh.clone())),
            )
        };
        app.advance_clock(1_000);
        app.send(refresh_request()).await.assert_ok(200);
        app.advance_clock(1);
        app.send(refresh_request()).await.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        let response = app.send(project.server(form_token_request(&refresh_form(&project, &refresh)))).await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    }

    fn sign_out_ends_the_session_and_its_tokens(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (access, refresh) = open_session(app, &project, &user.id.to_string()).await;
        let response = app
            .send(with_token(
                project.client(TestRequest::delete().uri("/api/v1/auth/sessions/current")),
                &access,
            ))
            .await;
        assert_eq!(response.assert_ok(200), json!({"success": true}));

        let response = app
            .send(project.client(
                TestRequest::post()
                    .uri("/api/v1/auth/sessions/current/refresh")
                    .insert_header(("x-stack-refresh-token", refresh.clone())),
            ))
            .await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        let response = app
            .send(with_token(project.client(TestRequest::get().uri("/api/v1/users/me")), &access))
            .await;
        response.assert_known_error(401, "ACCESS_TOKEN_EXPIRED");
        let response = app.send(form_token_request(&refresh_form(&project, &refresh))).await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        // Other sessions of the user are untouched.
        assert_eq!(me_status(app, &project, &user.access_token).await, 200);

        let response = app
            .send(project.client(TestRequest::delete().uri("/api/v1/auth/sessions/current")))
            .await;
        response.assert_known_error(401, "ACCESS_TOKEN_EXPIRED");
        assert_eq!(response.json()["details"]["expired_at_millis"], app.now());
    }

    fn the_oauth_refresh_grant_works_like_upstreams(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (_, refresh) = open_session(app, &project, &user.id.to_string()).await;

        let response = app.send(form_token_request(&refresh_form(&project, &refresh))).await;
        let body = response.assert_ok(200);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["refresh_token"], refresh.as_str());
        assert_eq!(response.header("pragma"), Some("no-cache"));
        assert_eq!(response.header("cache-control"), Some("no-store, max-age=0"));
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(jwt_payload(access)["sub"], user.id.to_string());
        assert_eq!(me_status(app, &project, access).await, 200);

        // HTTP Basic client authentication, a JSON body and unused parameters work too.
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            project.id(),
            project.publishable_client_key
        ));
        let response = app
            .send(form_token_request(&format!("grant_type=refresh_token&refresh_token={refresh}&scope=legacy"))
                .insert_header(("authorization", format!("Basic {basic}"))))
            .await;
        response.assert_ok(200);
        let response = app
            .send(json_request("POST", "/api/v1/auth/oauth/token", json!({
                "grant_type": "refresh_token",
                "refresh_token": refresh,
                "client_id": format!("{}#main", project.id()),
                "client_secret": project.publishable_client_key,
            })))
            .await;
        response.assert_ok(200);
    }

    fn the_oauth_grant_refuses_bad_clients_grants_and_tokens(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (_, refresh) = open_session(app, &project, &user.id.to_string()).await;
        let other = app.create_open_project();

        let bad_clients = [
            format!("grant_type=refresh_token&refresh_token={refresh}&client_id={}&client_secret=pck_wrong", project.id()),
            format!("grant_type=refresh_token&refresh_token={refresh}&client_id={}&client_secret={}", project.id(), project.secret_server_key),
            format!("grant_type=refresh_token&refresh_token={refresh}&client_id={}&client_secret={}", project.id(), other.publishable_client_key),
            format!("grant_type=refresh_token&refresh_token={refresh}&client_id=not-a-project&client_secret={}", project.publishable_client_key),
            format!("grant_type=refresh_token&refresh_token={refresh}&client_id={}#dev&client_secret={}", project.id(), project.publishable_client_key),
            format!("grant_type=refresh_token&refresh_token={refresh}"),
        ];
        for form in &bad_clients {
            let response = app.send(form_token_request(form)).await;
            response.assert_known_error(400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET");
        }
        let response = app.send(form_token_request(&bad_clients[0])).await;
        assert_eq!(response.json()["details"], json!({"client_id": project.id().to_string()}));
        let response = app.send(form_token_request(&bad_clients[5])).await;
        assert_eq!(response.json()["details"], json!({"client_id": null}));

        // Another project's refresh token with this project's credentials.
        let response = app.send(form_token_request(&refresh_form(&other, &refresh))).await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        let response = app.send(form_token_request(&refresh_form(&project, "kgrt_nope"))).await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");

        let credentials = format!("client_id={}&client_secret={}", project.id(), project.publishable_client_key);
        let response = app
            .send(form_token_request(&format!("grant_type=authorization_code&code=x&{credentials}")))
            .await;
        assert_eq!(response.status.as_u16(), 400);
        assert_eq!(response.known_error(), None);
        assert_eq!(response.json()["error"], "unsupported_grant_type");
        let response = app
            .send(form_token_request(&format!("grant_type=refresh_token&{credentials}")))
            .await;
        assert_eq!(response.status.as_u16(), 400);
        assert_eq!(
            response.json(),
            json!({"error": "invalid_request", "error_description": "Missing parameter: `refresh_token`"})
        );
        let response = app
            .send(form_token_request(&format!("grant_type=password&{credentials}")))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/auth/oauth/token", &[
            "body.grant_type must be one of the following values: authorization_code, refresh_token",
        ]);
        let response = app.send(form_token_request(&credentials)).await;
        assert_schema_error(&response, "POST", "/api/v1/auth/oauth/token", &[
            "body.grant_type must be defined",
        ]);
        let response = app.send(TestRequest::post().uri("/api/v1/auth/oauth/token")).await;
        assert_schema_error(&response, "POST", "/api/v1/auth/oauth/token", &["body must be defined"]);
        let response = app.send(TestRequest::get().uri("/api/v1/auth/oauth/token")).await;
        assert_eq!(response.status.as_u16(), 405);
    }

    fn deleting_the_user_ends_refresh(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (_, refresh) = open_session(app, &project, &user.id.to_string()).await;
        app.send(project.server(TestRequest::delete().uri(&format!("/api/v1/users/{}", user.id))))
            .await
            .assert_ok(200);
        let response = app.send(form_token_request(&refresh_form(&project, &refresh))).await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    }

    fn session_garbage_never_yields_a_server_error(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let huge = "r".repeat(100_000);
        for form in [
            String::new(),
            "%%%".to_owned(),
            format!("grant_type=refresh_token&refresh_token={huge}&client_id={huge}&client_secret={huge}"),
            "grant_type=refresh_token&grant_type=authorization_code".to_owned(),
            format!("grant_type=refresh_token&refresh_token=%00&client_id={}&client_secret={}", project.id(), project.publishable_client_key),
        ] {
            let response = app.send(form_token_request(&form)).await;
            assert!(response.status.is_client_error() || response.status.is_success(), "{form:.80}: {}", response.status);
        }
        for body in [json!([]), json!({"user_id": 5}), json!({"user_id": huge}), json!({"expires_in_millis": -1e300, "user_id": "me"})] {
            for request in [
                project.server(json_request("POST", "/api/v1/auth/sessions", body.clone())),
                user.signed_in(project.server(json_request("POST", "/api/v1/auth/sessions", body.clone()))),
                project.server(json_request("DELETE", "/api/v1/auth/sessions/current", body.clone())),
            ] {
                let response = app.send(request).await;
                assert!(response.status.is_client_error() || response.status.is_success(), "{body:.80}: {}", response.status);
            }
        }
        let response = app
            .send(project.client(
                TestRequest::post()
                    .uri("/api/v1/auth/sessions/current/refresh")
                    .insert_header(("x-stack-refresh-token", huge.clone())),
            ))
            .await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    }
}

/// `POST /api/v1/auth/sessions/current/refresh` with `refresh_token`, through `state`.
async fn refresh_through(
    app: &TestApp,
    state: &crate::state::AppState,
    project: &TestProject,
    refresh_token: &str,
) -> crate::testing::TestResponse {
    app.send_to(
        state,
        project.client(
            TestRequest::post()
                .uri("/api/v1/auth/sessions/current/refresh")
                .insert_header(("x-stack-refresh-token", refresh_token.to_owned())),
        ),
    )
    .await
}

crate::http_tests! {
    fn without_rotation_one_refresh_token_keeps_working_as_upstreams(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (_, refresh) = open_session(app, &project, &user.id.to_string()).await;
        for _ in 0..3 {
            let body = refresh_through(app, &app.state, &project, &refresh).await.assert_ok(200);
            assert!(body.get("refresh_token").is_none(), "{body}");
            let body = app
                .send(form_token_request(&refresh_form(&project, &refresh)))
                .await
                .assert_ok(200);
            assert_eq!(body["refresh_token"], refresh.as_str());
        }
    }

    fn with_rotation_each_refresh_replaces_the_refresh_token(app) {
        let rotating = app.state.clone().with_refresh_token_rotation(true);
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (_, first) = open_session(app, &project, &user.id.to_string()).await;

        let body = refresh_through(app, &rotating, &project, &first).await.assert_ok(200);
        let second = body["refresh_token"].as_str().expect("the new refresh token").to_owned();
        assert!(second.starts_with("kgrt_") && second != first, "{second}");
        let access = body["access_token"].as_str().unwrap();
        assert_eq!(me_status(app, &project, access).await, 200);

        // The OAuth grant answers the replacement where upstream echoes the token.
        let body = app
            .send_to(&rotating, form_token_request(&refresh_form(&project, &second)))
            .await
            .assert_ok(200);
        let third = body["refresh_token"].as_str().unwrap().to_owned();
        assert!(third != second && third != first);
        refresh_through(app, &rotating, &project, &third).await.assert_ok(200);

        // Only digests are stored: no refresh token appears anywhere in the database.
        let stored = keygate_storage::testing::all_stored_values(&mut app.database().conn());
        for token in [&first, &second, &third] {
            assert!(
                !stored.iter().any(|v| v.bytes.windows(token.len()).any(|w| w == token.as_bytes())),
                "a refresh token is stored in plain text"
            );
        }
    }

    fn with_rotation_a_reused_refresh_token_ends_the_whole_session(app) {
        let rotating = app.state.clone().with_refresh_token_rotation(true);
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (access, stolen) = open_session(app, &project, &user.id.to_string()).await;
        let body = refresh_through(app, &rotating, &project, &stolen).await.assert_ok(200);
        let current = body["refresh_token"].as_str().unwrap().to_owned();

        // The retired token comes back (a thief, or a client that kept it): the answer is that
        // of an unknown token, and the session is over for everyone.
        refresh_through(app, &rotating, &project, &stolen)
            .await
            .assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        refresh_through(app, &rotating, &project, &current)
            .await
            .assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        app.send(with_token(project.client(TestRequest::get().uri("/api/v1/users/me")), &access))
            .await
            .assert_known_error(401, "ACCESS_TOKEN_EXPIRED");
        // The user's other sessions are untouched.
        assert_eq!(me_status(app, &project, &user.access_token).await, 200);
    }

    fn with_rotation_reuse_through_the_oauth_grant_ends_the_session_too(app) {
        let rotating = app.state.clone().with_refresh_token_rotation(true);
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let (_, first) = open_session(app, &project, &user.id.to_string()).await;
        let body = app
            .send_to(&rotating, form_token_request(&refresh_form(&project, &first)))
            .await
            .assert_ok(200);
        let second = body["refresh_token"].as_str().unwrap().to_owned();
        app.send_to(&rotating, form_token_request(&refresh_form(&project, &first)))
            .await
            .assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        app.send_to(&rotating, form_token_request(&refresh_form(&project, &second)))
            .await
            .assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        // A retired token of another project's session is only unknown here: nothing ends.
        let other = app.create_open_project();
        let other_user = app.create_user(&other);
        let (_, theirs) = open_session(app, &other, &other_user.id.to_string()).await;
        let body = refresh_through(app, &rotating, &other, &theirs).await.assert_ok(200);
        let theirs_now = body["refresh_token"].as_str().unwrap().to_owned();
        refresh_through(app, &rotating, &project, &theirs)
            .await
            .assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        refresh_through(app, &rotating, &other, &theirs_now).await.assert_ok(200);
    }
}
