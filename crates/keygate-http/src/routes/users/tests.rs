//! HTTP tests of the user routes, on SQLite and Postgres.

use actix_web::test::TestRequest;
use keygate_domain::Owner;
use keygate_storage::repo::{api_keys, sessions};
use serde_json::json;

use keygate_service::Limits;

use crate::routes::test_requests::{
    assert_never_a_server_error, assert_schema_error, create_user, json_request, open_session,
    with_token,
};

const NO_SIGN_IN: &str = "is not supported: keygate has no password, OTP, passkey or OAuth sign-in";

crate::http_tests! {
    fn create_answers_201_with_the_full_server_user(app) {
        let project = app.create_open_project();
        let user = create_user(app, &project, json!({
            "display_name": "Ada",
            "primary_email": "Ada@Example.COM",
            "primary_email_verified": true,
            "profile_image_url": "https://example.com/ada.png",
            "client_metadata": {"theme": "dark"},
            "client_read_only_metadata": [1, 2],
            "server_metadata": {"plan": "pro"},
            "password": null,
            "otp_auth_enabled": false,
            "is_anonymous": false,
        })).await;
        assert_eq!(user["display_name"], "Ada");
        assert_eq!(user["primary_email"], "ada@example.com");
        assert_eq!(user["primary_email_verified"], true);
        assert_eq!(user["profile_image_url"], "https://example.com/ada.png");
        assert_eq!(user["client_metadata"], json!({"theme": "dark"}));
        assert_eq!(user["client_read_only_metadata"], json!([1, 2]));
        assert_eq!(user["server_metadata"], json!({"plan": "pro"}));
        assert_eq!(user["signed_up_at_millis"], app.now());
        assert_eq!(user["last_active_at_millis"], app.now());
        assert_eq!(user["selected_team"], serde_json::Value::Null);
        assert_eq!(user["has_password"], false);
        assert_eq!(user["oauth_providers"], json!([]));
        assert_eq!(user["risk_scores"]["sign_up"]["bot"], 0);

        let id = user["id"].as_str().unwrap();
        let read = app
            .send(project.server(TestRequest::get().uri(&format!("/api/v1/users/{id}"))))
            .await;
        assert_eq!(read.assert_ok(200), user);

        // Admin access may do the same; an empty body makes an empty user.
        let empty = app
            .send(project.admin(json_request("POST", "/api/v1/users", json!({}))))
            .await
            .assert_ok(201);
        assert_eq!(empty["display_name"], serde_json::Value::Null);
        assert_eq!(empty["primary_email"], serde_json::Value::Null);
        assert_eq!(empty["client_metadata"], serde_json::Value::Null);
    }

    fn server_user_routes_refuse_client_access(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let path = format!("/api/v1/users/{}", user.id);
        for request in [
            json_request("POST", "/api/v1/users", json!({})),
            TestRequest::get().uri(&path),
            json_request("PATCH", &path, json!({})),
            TestRequest::delete().uri(&path),
        ] {
            let response = app.send(user.signed_in(project.client(request))).await;
            response.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
            assert_eq!(
                response.json()["details"],
                json!({"actual_access_type": "client", "allowed_access_types": ["server", "admin"]})
            );
        }
    }

    fn duplicate_emails_conflict_whatever_their_case(app) {
        let project = app.create_open_project();
        create_user(app, &project, json!({"primary_email": "bob@example.com"})).await;
        let response = app
            .send(project.server(json_request(
                "POST",
                "/api/v1/users",
                json!({"primary_email": "BOB@example.com"}),
            )))
            .await;
        response.assert_known_error(409, "USER_EMAIL_ALREADY_EXISTS");
        assert_eq!(
            response.json()["details"],
            json!({"email": "bob@example.com", "would_work_if_email_was_verified": false})
        );
        // Another project may use the same address.
        let other = app.create_open_project();
        create_user(app, &other, json!({"primary_email": "bob@example.com"})).await;

        // Taking the address by update conflicts too.
        let carol = create_user(app, &project, json!({"primary_email": "carol@example.com"})).await;
        let response = app
            .send(project.server(json_request(
                "PATCH",
                &format!("/api/v1/users/{}", carol["id"].as_str().unwrap()),
                json!({"primary_email": "bob@example.com"}),
            )))
            .await;
        response.assert_known_error(409, "USER_EMAIL_ALREADY_EXISTS");
    }

    fn create_refuses_bad_bodies_like_upstream(app) {
        let project = app.create_open_project();
        let post = |body| project.server(json_request("POST", "/api/v1/users", body));
        let response = app
            .send(post(json!({"password": "hunter2", "oauth_providers": [{"id": "github"}]})))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/users", &[
            &format!("body.password {NO_SIGN_IN}"),
            &format!("body.oauth_providers {NO_SIGN_IN}"),
        ]);
        let response = app
            .send(post(json!({
                "nickname": "x",
                "display_name": 5,
                "primary_email": "not-an-email",
                "profile_image_url": "https://example.com/a b.png",
                "is_anonymous": true,
            })))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/users", &[
            "body.display_name must be a `string` type, but the final value was: `5`.",
            "body.profile_image_url contains spaces",
            "body.primary_email must be a valid email",
            "body.is_anonymous must be one of the following values: false",
            "body contains unknown properties: nickname",
        ]);
        let response = app.send(post(json!({"primary_email": ""}))).await;
        assert_schema_error(&response, "POST", "/api/v1/users", &[
            "body.primary_email must not be empty",
        ]);
        let response = app
            .send(post(json!({"profile_image_url": format!("data:,{}", "a".repeat(1_000_001))})))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/users", &[
            "body.profile_image_url must be at most 1000000 characters",
        ]);
        let response = app.send(post(json!({"primary_email_verified": true}))).await;
        response.assert_plain_error(400, "primary_email_verified cannot be true without primary_email");
        let response = app.send(project.server(TestRequest::post().uri("/api/v1/users"))).await;
        assert_schema_error(&response, "POST", "/api/v1/users", &["body must be defined"]);
        let response = app
            .send(project.server(
                TestRequest::post()
                    .uri("/api/v1/users")
                    .insert_header(("content-type", "application/json"))
                    .set_payload("{not json"),
            ))
            .await;
        response.assert_known_error(400, "BODY_PARSING_ERROR");
        let response = app
            .send(project.server(json_request("POST", "/api/v1/users?team_id=x", json!({}))))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/users", &[
            "query contains unknown properties: team_id",
        ]);
    }

    fn reading_a_missing_or_malformed_user(app) {
        let project = app.create_open_project();
        let response = app
            .send(project.server(TestRequest::get().uri(&format!(
                "/api/v1/users/{}",
                keygate_domain::UserId::new_random()
            ))))
            .await;
        response.assert_known_error(404, "USER_NOT_FOUND");
        let response = app
            .send(project.server(TestRequest::get().uri("/api/v1/users/not-a-uuid")))
            .await;
        assert_schema_error(&response, "GET", "/api/v1/users/not-a-uuid", &[
            "params.user_id must be a valid UUID",
        ]);
        // A user of another project is not found either.
        let other = app.create_open_project();
        let stranger = app.create_user(&other);
        let response = app
            .send(project.server(TestRequest::get().uri(&format!("/api/v1/users/{}", stranger.id))))
            .await;
        response.assert_known_error(404, "USER_NOT_FOUND");
        let response = app
            .send(project.server(TestRequest::put().uri(&format!("/api/v1/users/{}", stranger.id))))
            .await;
        assert_eq!(response.status.as_u16(), 405);
    }

    fn server_updates_fields_email_and_selected_team(app) {
        let project = app.create_open_project();
        let user = create_user(app, &project, json!({
            "primary_email": "dan@example.com",
            "primary_email_verified": true,
            "display_name": "Dan",
        })).await;
        let id = user["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/users/{id}");
        let patch = |body| project.server(json_request("PATCH", &path, body));

        let updated = app
            .send(patch(json!({
                "display_name": "",
                "client_metadata": {"a": 1},
                "server_metadata": null,
                "profile_image_url": "https://example.com/d.png",
            })))
            .await
            .assert_ok(200);
        assert_eq!(updated["display_name"], serde_json::Value::Null);
        assert_eq!(updated["client_metadata"], json!({"a": 1}));
        assert_eq!(updated["primary_email_verified"], true, "unchanged address stays verified");

        let updated = app
            .send(patch(json!({"primary_email": "Dan2@example.com"})))
            .await
            .assert_ok(200);
        assert_eq!(updated["primary_email"], "dan2@example.com");
        assert_eq!(updated["primary_email_verified"], false, "a new address is unverified");
        let updated = app
            .send(patch(json!({"primary_email": null, "primary_email_verified": true})))
            .await
            .assert_ok(200);
        assert_eq!(updated["primary_email"], serde_json::Value::Null);
        assert_eq!(updated["primary_email_verified"], false);
        app.send(patch(json!({"primary_email_verified": true})))
            .await
            .assert_plain_error(400, "primary_email_verified cannot be true without primary_email");

        // Selecting a team needs a membership.
        let member = crate::testing::TestUser {
            id: id.parse().unwrap(),
            session_id: uuid::Uuid::nil(),
            access_token: String::new(),
        };
        let team = app.create_team(&project, &[(&member, &["team_member"])]);
        let foreign_team = app.create_team(&project, &[]);
        let response = app.send(patch(json!({"selected_team_id": foreign_team.to_string()}))).await;
        response.assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
        assert_eq!(
            response.json()["details"],
            json!({"team_id": foreign_team.to_string(), "user_id": id})
        );
        let updated = app
            .send(patch(json!({"selected_team_id": team.to_string()})))
            .await
            .assert_ok(200);
        assert_eq!(updated["selected_team_id"], team.to_string());
        assert_eq!(updated["selected_team"]["id"], team.to_string());
        assert!(updated["selected_team"].get("server_metadata").is_some());
        let updated = app.send(patch(json!({"selected_team_id": null}))).await.assert_ok(200);
        assert_eq!(updated["selected_team"], serde_json::Value::Null);

        let response = app.send(patch(json!({"password": "x", "selected_team_id": "nope"}))).await;
        assert_schema_error(&response, "PATCH", &path, &[
            &format!("body.password {NO_SIGN_IN}"),
            "body.selected_team_id must be a valid UUID",
        ]);
        let response = app
            .send(project.server(json_request(
                "PATCH",
                &format!("/api/v1/users/{}", keygate_domain::UserId::new_random()),
                json!({"display_name": "x"}),
            )))
            .await;
        response.assert_known_error(404, "USER_NOT_FOUND");
    }

    fn deleting_a_user_removes_their_keys_and_sessions(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let key = {
            let mut conn = app.database().conn();
            keygate_storage::testing::insert_api_key(&mut conn, project.id(), Owner::User(user.id), 1)
        };
        let path = format!("/api/v1/users/{}", user.id);
        let response = app.send(project.server(TestRequest::delete().uri(&path))).await;
        assert_eq!(response.assert_ok(200), json!({"success": true}));

        let mut conn = app.database().conn();
        assert!(api_keys::get(&mut conn, project.id(), key.id).unwrap().is_none());
        assert!(sessions::get(&mut conn, project.id(), user.session_id).unwrap().is_none());
        drop(conn);
        let response = app
            .send(user.signed_in(project.client(TestRequest::get().uri("/api/v1/users/me"))))
            .await;
        response.assert_known_error(401, "ACCESS_TOKEN_EXPIRED");
        let response = app.send(project.server(TestRequest::get().uri(&path))).await;
        response.assert_known_error(404, "USER_NOT_FOUND");
        let response = app.send(project.server(TestRequest::delete().uri(&path))).await;
        response.assert_known_error(404, "USER_NOT_FOUND");
    }

    fn me_is_the_session_user_in_the_callers_shape(app) {
        let project = app.create_open_project();
        let user = create_user(app, &project, json!({
            "display_name": "Eve",
            "server_metadata": {"secret": true},
        })).await;
        let id = user["id"].as_str().unwrap();
        let (access, _) = open_session(app, &project, id).await;

        let me = app
            .send(with_token(project.client(TestRequest::get().uri("/api/v1/users/me")), &access))
            .await
            .assert_ok(200);
        assert_eq!(me["id"], id);
        assert_eq!(me["display_name"], "Eve");
        assert!(me.get("server_metadata").is_none());
        assert!(me.get("last_active_at_millis").is_none());

        let me = app
            .send(with_token(project.server(TestRequest::get().uri("/api/v1/users/me")), &access))
            .await
            .assert_ok(200);
        assert_eq!(me["server_metadata"], json!({"secret": true}));

        for request in [
            project.client(TestRequest::get().uri("/api/v1/users/me")),
            project.server(TestRequest::get().uri("/api/v1/users/me")),
            project.client(json_request("PATCH", "/api/v1/users/me", json!({}))),
            project.server(TestRequest::delete().uri("/api/v1/users/me")),
        ] {
            app.send(request).await.assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        }
        let response = app
            .send(with_token(project.client(TestRequest::get().uri("/api/v1/users/me?x=1")), &access))
            .await;
        assert_schema_error(&response, "GET", "/api/v1/users/me", &["query contains unknown properties: x"]);
    }

    fn clients_update_their_own_client_fields(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_member"])]);
        let patch = |body| user.signed_in(project.client(json_request("PATCH", "/api/v1/users/me", body)));

        let me = app
            .send(patch(json!({
                "display_name": "Zed",
                "client_metadata": {"lang": "en"},
                "selected_team_id": team.to_string(),
                "profile_image_url": "data:image/png;base64,iVBORw0KGgo=",
                "otp_auth_enabled": false,
            })))
            .await
            .assert_ok(200);
        assert_eq!(me["display_name"], "Zed");
        assert_eq!(me["client_metadata"], json!({"lang": "en"}));
        assert_eq!(me["selected_team_id"], team.to_string());
        assert_eq!(me["selected_team"]["id"], team.to_string());
        assert!(me["selected_team"].get("server_metadata").is_none());
        assert!(me.get("server_metadata").is_none());

        let response = app
            .send(patch(json!({"server_metadata": {}, "client_read_only_metadata": 1})))
            .await;
        assert_schema_error(&response, "PATCH", "/api/v1/users/me", &[
            "body contains unknown properties: client_read_only_metadata, server_metadata",
        ]);
        app.send(patch(json!({"profile_image_url": "https://evil.example/x.png"})))
            .await
            .assert_plain_error(400, "Invalid profile image URL");

        // Server access with the session may set every field of the session user.
        let me = app
            .send(user.signed_in(project.server(json_request(
                "PATCH",
                "/api/v1/users/me",
                json!({"server_metadata": {"s": 1}}),
            ))))
            .await
            .assert_ok(200);
        assert_eq!(me["server_metadata"], json!({"s": 1}));
    }

    fn clients_may_not_delete_themselves_but_servers_may(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        app.send(user.signed_in(project.client(TestRequest::delete().uri("/api/v1/users/me"))))
            .await
            .assert_plain_error(400, "Client user deletion is not enabled for this project");
        let response = app
            .send(user.signed_in(project.server(TestRequest::delete().uri("/api/v1/users/me"))))
            .await;
        assert_eq!(response.assert_ok(200), json!({"success": true}));
        let response = app
            .send(project.server(TestRequest::get().uri(&format!("/api/v1/users/{}", user.id))))
            .await;
        response.assert_known_error(404, "USER_NOT_FOUND");
    }

    fn garbage_never_yields_a_server_error(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let huge = "x".repeat(200_000);
        let bodies = [
            json!(null),
            json!([]),
            json!("text"),
            json!(12),
            json!({"display_name": huge}),
            json!({"primary_email": huge}),
            json!({"primary_email": ["a"]}),
            json!({"client_metadata": {"deep": [[[[[[[[[[1]]]]]]]]]]}}),
            json!({"selected_team_id": "00000000-0000-0000-0000-000000000000"}),
            json!({"profile_image_url": "javascript:alert(1)"}),
            json!({"display_name": "\u{0000}\u{FFFF}\u{1F600}"}),
        ];
        let paths = [
            "/api/v1/users".to_owned(),
            format!("/api/v1/users/{}", user.id),
            "/api/v1/users/me".to_owned(),
            "/api/v1/users/%00".to_owned(),
            format!("/api/v1/users/{}", "9".repeat(5000)),
        ];
        assert_never_a_server_error(app, &project, &user, &paths, &bodies).await;
    }

    fn user_names_and_metadata_over_their_caps_are_refused(app) {
        let project = app.create_open_project();
        let limits = Limits::default();
        let max_name = limits.max_display_name_chars;
        let max_bytes = limits.max_metadata_bytes;
        // 4 MiB of metadata, as in issue 12, and one byte over the cap.
        let huge = json!("m".repeat(4 * 1024 * 1024 - 4096));
        let over = json!({"blob": "m".repeat(max_bytes - 11 + 1)});
        let response = app.send(project.server(json_request("POST", "/api/v1/users", json!({
            "display_name": "n".repeat(max_name + 1),
            "client_metadata": huge,
        })))).await;
        assert_schema_error(&response, "POST", "/api/v1/users", &[
            &format!("body.display_name must be at most {max_name} characters"),
            &format!("body.client_metadata must be at most {max_bytes} bytes as JSON"),
        ]);
        let user = create_user(app, &project, json!({"display_name": "n".repeat(max_name)})).await;
        let path = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
        let response = app.send(project.server(json_request("PATCH", &path, json!({
            "client_read_only_metadata": over,
            "server_metadata": over,
        })))).await;
        assert_schema_error(&response, "PATCH", &path, &[
            &format!("body.client_read_only_metadata must be at most {max_bytes} bytes as JSON"),
            &format!("body.server_metadata must be at most {max_bytes} bytes as JSON"),
        ]);
        // The signed-in user's own update has the same caps.
        let signed_in = app.create_user(&project);
        let response = app.send(signed_in.signed_in(project.client(json_request("PATCH", "/api/v1/users/me", json!({
            "display_name": "n".repeat(max_name + 1),
            "client_metadata": over,
        }))))).await;
        assert_schema_error(&response, "PATCH", "/api/v1/users/me", &[
            &format!("body.display_name must be at most {max_name} characters"),
            &format!("body.client_metadata must be at most {max_bytes} bytes as JSON"),
        ]);
    }
}
