//! Upstream's e2e tests (`apps/e2e/tests/backend/endpoints/api/v1/api-keys.test.ts` and the
//! credential-scanning tests), step by step, with their exact statuses, bodies and headers.
//! Upstream's `Auth.fastSignUp` is a test user with a session; its `Team.create` with the
//! current user as creator grants `team_admin`.

use keygate_domain::ProjectSwitches;
use serde_json::json;

use super::*;

const ONE_HOUR: i64 = 60 * 60 * 1000;
const ONE_DAY: i64 = 24 * ONE_HOUR;

crate::http_tests! {
    fn user_keys_disabled_answer_plain_text_while_team_keys_work(app) {
        let project = app.create_project(ProjectSwitches {
            allow_user_api_keys: false,
            allow_team_api_keys: true,
            client_team_creation_enabled: false,
        });
        let user = app.create_user(&project);

        let create = app
            .send(user.signed_in(project.client(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": "me", "description": "This should fail", "expires_at_millis": null}),
            ))))
            .await;
        create.assert_plain_error(400, "User API keys are not enabled for this project.");
        assert_eq!(create.header("content-type"), Some("text/plain; charset=utf-8"));

        let list = app
            .send(user.signed_in(project.client(get("/api/v1/user-api-keys?user_id=me"))))
            .await;
        list.assert_plain_error(400, "User API keys are not enabled for this project.");

        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let created = app
            .send(user.signed_in(project.client(post_json(
                "/api/v1/team-api-keys",
                team_key_body(team, "This should work"),
            ))))
            .await
            .assert_ok(200);
        assert_eq!(
            field_names(&created),
            ["created_at_millis", "description", "id", "is_public", "scopes", "team_id", "type", "value"]
        );
        assert_eq!(created["description"], "This should work");
        assert_eq!(created["is_public"], false);
        assert_eq!(created["team_id"], team.to_string());
        assert_eq!(created["type"], "team");
        assert!(key_value(&created).starts_with("sk_"));
    }

    fn can_create_public_api_keys(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let response = app
            .send(user.signed_in(project.client(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": "me", "description": "Test API Key", "expires_at_millis": null, "is_public": true}),
            ))))
            .await;
        let created = response.assert_ok(200);
        assert_eq!(
            response.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(
            field_names(&created),
            ["created_at_millis", "description", "id", "is_public", "scopes", "type", "user_id", "value"]
        );
        assert_eq!(created["created_at_millis"], app.now());
        assert_eq!(created["description"], "Test API Key");
        assert_eq!(created["is_public"], true);
        assert_eq!(created["type"], "user");
        assert_eq!(created["user_id"], user.id.to_string());
        let value = key_value(&created);
        assert!(value.starts_with("pk_"), "{value}");
        let parsed = keygate_domain::parse_api_key(&value).expect("upstream's parser accepts it");
        assert_eq!(parsed.id.to_string(), key_id(&created));
        assert!(parsed.is_public);
        assert_eq!(parsed.scanner_flag, '3');
    }

    fn can_create_api_keys_that_expire(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let one_hour_from_now = app.now() + ONE_HOUR;
        let expiring = app
            .send(user.signed_in(project.client(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "Test Expiring User API Key", "expires_at_millis": one_hour_from_now}),
            ))))
            .await
            .assert_ok(200);
        assert_eq!(expiring["expires_at_millis"], one_hour_from_now);
        assert_eq!(
            field_names(&expiring),
            ["created_at_millis", "description", "expires_at_millis", "id", "is_public", "scopes", "type", "user_id", "value"]
        );

        app.advance_clock(1);
        let one_hour_ago = app.now() - ONE_HOUR;
        let expired = app
            .send(user.signed_in(project.client(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "Test Expired User API Key", "expires_at_millis": one_hour_ago}),
            ))))
            .await
            .assert_ok(200);
        assert_eq!(expired["expires_at_millis"], one_hour_ago);

        let checked = app
            .send(check_request(&project, "user", &key_value(&expiring)))
            .await
            .assert_ok(200);
        // Upstream's fields, and keygate's own `last_used_at_millis` (this check is a use).
        assert_eq!(
            field_names(&checked),
            ["created_at_millis", "description", "expires_at_millis", "id", "is_public", "last_used_at_millis", "scopes", "type", "user_id", "value"]
        );
        assert_eq!(checked["last_used_at_millis"], app.now());
        assert_eq!(checked["description"], "Test Expiring User API Key");
        assert_eq!(checked["value"], json!({"last_four": &key_value(&expiring)[98..]}));

        let check_expired = app.send(check_request(&project, "user", &key_value(&expired))).await;
        check_expired.assert_known_error(401, "API_KEY_EXPIRED");
        assert_eq!(
            check_expired.json(),
            json!({"code": "API_KEY_EXPIRED", "error": "API key has expired."})
        );

        let listed = app
            .send(user.signed_in(project.client(get(&format!("/api/v1/user-api-keys?user_id={}", user.id)))))
            .await
            .assert_ok(200);
        assert_eq!(listed["is_paginated"], false);
        let items = listed["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["description"], "Test Expired User API Key");
        assert_eq!(items[1]["description"], "Test Expiring User API Key");
        for item in items {
            assert!(item["expires_at_millis"].is_number());
            assert!(item["value"]["last_four"].is_string());
        }
    }

    fn can_read_own_api_key_on_the_client(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "Test API Key").await;
        let read = app
            .send(user.signed_in(project.client(get(&format!(
                "/api/v1/user-api-keys/{}?user_id={}",
                key_id(&created),
                user.id
            )))))
            .await
            .assert_ok(200);
        assert_eq!(
            read,
            json!({
                "created_at_millis": created["created_at_millis"],
                "description": "Test API Key",
                "id": created["id"],
                "is_public": false,
                "type": "user",
                "user_id": user.id.to_string(),
                "value": {"last_four": &key_value(&created)[98..]},
                "scopes": [],
            })
        );
    }

    fn returns_404_when_checking_a_non_existent_api_key(app) {
        let project = app.create_open_project();
        let response = app
            .send(check_request(&project, "user", "sk_this_is_a_fake_api_key_123456789"))
            .await;
        response.assert_known_error(404, "API_KEY_NOT_FOUND");
        assert_eq!(
            response.json(),
            json!({"code": "API_KEY_NOT_FOUND", "error": "API key not found."})
        );
    }

    fn returns_400_when_checking_a_team_api_key_with_the_user_endpoint(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let created = app
            .send(user.signed_in(project.client(post_json(
                "/api/v1/team-api-keys",
                team_key_body(team, "Test Team API Key"),
            ))))
            .await
            .assert_ok(200);
        let response = app.send(check_request(&project, "user", &key_value(&created))).await;
        response.assert_known_error(400, "WRONG_API_KEY_TYPE");
        assert_eq!(
            response.json(),
            json!({
                "code": "WRONG_API_KEY_TYPE",
                "details": {"actual_type": "team", "expected_type": "user"},
                "error": "This endpoint is for user API keys, but a team API key was provided.",
            })
        );
    }

    fn does_not_require_user_id_in_read_requests_on_the_client(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "Test API Key").await;
        let id = key_id(&created);
        let read = app
            .send(user.signed_in(project.client(get(&format!("/api/v1/user-api-keys/{id}")))))
            .await
            .assert_ok(200);
        assert_eq!(read["id"], id.as_str());

        let both = app
            .send(user.signed_in(project.client(get(&format!(
                "/api/v1/user-api-keys/{id}?user_id={}&team_id=some-team-id",
                user.id
            )))))
            .await;
        both.assert_known_error(400, "SCHEMA_ERROR");
        let message = format!(
            "Request validation failed on GET /api/v1/user-api-keys/{id}:\n  - query contains unknown properties: team_id"
        );
        assert_eq!(
            both.json(),
            json!({"code": "SCHEMA_ERROR", "details": {"message": message}, "error": message})
        );
    }

    fn does_not_require_user_id_in_read_requests_on_the_server(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "Test API Key").await;
        let read = app
            .send(project.server(get(&format!("/api/v1/user-api-keys/{}", key_id(&created)))))
            .await
            .assert_ok(200);
        assert_eq!(read["user_id"], user.id.to_string());
        assert_eq!(read["description"], "Test API Key");
    }

    fn prevents_creating_api_keys_for_other_users(app) {
        let project = app.create_open_project();
        let first = app.create_user(&project);
        let second = app.create_user(&project);
        let response = app
            .send(second.signed_in(project.client(post_json(
                "/api/v1/user-api-keys",
                json!({"description": "Unauthorized User API Key", "expires_at_millis": app.now() + ONE_DAY, "user_id": first.id.to_string()}),
            ))))
            .await;
        response.assert_plain_error(403, "Client can only manage their own api keys");
    }

    fn can_manage_api_keys_if_and_only_if_the_team_permission_is_granted(app) {
        let project = app.create_open_project();
        let creator = app.create_user(&project);
        let team = app.create_team(&project, &[(&creator, &["team_admin", "$manage_api_keys"])]);
        let created = app
            .send(creator.signed_in(project.client(post_json(
                "/api/v1/team-api-keys",
                json!({"description": "Team API Key", "expires_at_millis": app.now() + ONE_DAY, "team_id": team.to_string()}),
            ))))
            .await
            .assert_ok(200);
        assert_eq!(
            field_names(&created),
            ["created_at_millis", "description", "expires_at_millis", "id", "is_public", "scopes", "team_id", "type", "value"]
        );

        let listed = app
            .send(creator.signed_in(project.client(get(&format!("/api/v1/team-api-keys?team_id={team}")))))
            .await
            .assert_ok(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert_eq!(listed["items"][0]["id"], created["id"]);
        assert_eq!(listed["items"][0]["value"]["last_four"], &key_value(&created)[98..]);

        let outsider = app.create_user(&project);
        let response = app
            .send(outsider.signed_in(project.client(post_json(
                "/api/v1/team-api-keys",
                json!({"description": "Unauthorized Team API Key", "expires_at_millis": app.now() + ONE_DAY, "team_id": team.to_string()}),
            ))))
            .await;
        response.assert_known_error(404, "API_KEY_NOT_FOUND");
        assert_eq!(
            response.json(),
            json!({"code": "API_KEY_NOT_FOUND", "error": "API key not found."})
        );
    }

    fn can_revoke_api_keys(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "Test API Key to Revoke").await;
        let value = key_value(&created);
        app.send(check_request(&project, "user", &value)).await.assert_ok(200);

        app.advance_clock(1_000);
        let revoked = app
            .send(user.signed_in(project.client(patch_json(
                &format!("/api/v1/user-api-keys/{}?user_id={}", key_id(&created), user.id),
                json!({"revoked": true}),
            ))))
            .await
            .assert_ok(200);
        // Upstream's fields, and keygate's own `last_used_at_millis` (checked once above).
        assert_eq!(
            field_names(&revoked),
            ["created_at_millis", "description", "id", "is_public", "last_used_at_millis", "manually_revoked_at_millis", "scopes", "type", "user_id", "value"]
        );
        assert_eq!(revoked["last_used_at_millis"], app.now() - 1_000);
        assert_eq!(revoked["manually_revoked_at_millis"], app.now());

        let check = app.send(check_request(&project, "user", &value)).await;
        check.assert_known_error(401, "API_KEY_REVOKED");
        assert_eq!(
            check.json(),
            json!({"code": "API_KEY_REVOKED", "error": "API key has been revoked."})
        );

        let listed = app
            .send(user.signed_in(project.client(get(&format!("/api/v1/user-api-keys?user_id={}", user.id)))))
            .await
            .assert_ok(200);
        assert_eq!(listed["items"], json!([revoked]));
    }

    fn prevents_updating_api_keys_for_other_users_on_the_client(app) {
        let project = app.create_open_project();
        let first = app.create_user(&project);
        let second = app.create_user(&project);
        let created = server_user_key(app, &project, first.id, "First User's API Key").await;
        let response = app
            .send(second.signed_in(project.client(patch_json(
                &format!("/api/v1/user-api-keys/{}?user_id={}", key_id(&created), first.id),
                json!({"description": "Unauthorized Update", "revoked": true}),
            ))))
            .await;
        response.assert_plain_error(403, "Client can only manage their own api keys");

        let checked = app
            .send(check_request(&project, "user", &key_value(&created)))
            .await
            .assert_ok(200);
        assert_eq!(checked["description"], "First User's API Key");
        assert!(checked.get("manually_revoked_at_millis").is_none());
    }

    fn cannot_pass_user_id_or_team_id_in_update_requests(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "Test API Key").await;
        let id = key_id(&created);
        for (field, value) in [("user_id", "some-other-user-id"), ("team_id", "some-team-id")] {
            let response = app
                .send(user.signed_in(project.client(patch_json(
                    &format!("/api/v1/user-api-keys/{id}?user_id={}", user.id),
                    json!({"description": "Updated Description", field: value}),
                ))))
                .await;
            response.assert_known_error(400, "SCHEMA_ERROR");
            let message = format!(
                "Request validation failed on PATCH /api/v1/user-api-keys/{id}:\n  - body contains unknown properties: {field}"
            );
            assert_eq!(
                response.json(),
                json!({"code": "SCHEMA_ERROR", "details": {"message": message}, "error": message})
            );
        }
        let checked = app
            .send(check_request(&project, "user", &key_value(&created)))
            .await
            .assert_ok(200);
        assert_eq!(checked["description"], "Test API Key");
    }

    fn can_create_api_keys_for_other_users_on_the_server(app) {
        let project = app.create_open_project();
        let first = app.create_user(&project);
        let second = app.create_user(&project);
        // The server may act for any user, whoever's session rides along.
        let created = app
            .send(second.signed_in(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"description": "Server-created API Key for First User", "expires_at_millis": app.now() + ONE_DAY, "user_id": first.id.to_string()}),
            ))))
            .await
            .assert_ok(200);
        assert_eq!(created["user_id"], first.id.to_string());

        let checked = app
            .send(check_request(&project, "user", &key_value(&created)))
            .await
            .assert_ok(200);
        assert_eq!(checked["user_id"], first.id.to_string());
        assert_eq!(checked["expires_at_millis"], created["expires_at_millis"]);

        let response = app
            .send(first.signed_in(project.client(get(&format!("/api/v1/user-api-keys?user_id={}", second.id)))))
            .await;
        response.assert_plain_error(403, "Client can only manage their own api keys");
    }

    fn can_list_all_api_keys_for_a_user(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        server_user_key(app, &project, user.id, "First API Key").await;
        app.advance_clock(1);
        let second = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "Second API Key", "expires_at_millis": app.now() + ONE_DAY}),
            )))
            .await
            .assert_ok(200);
        let listed = app
            .send(user.signed_in(project.client(get(&format!("/api/v1/user-api-keys?user_id={}", user.id)))))
            .await
            .assert_ok(200);
        let items = listed["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["description"], "Second API Key");
        assert_eq!(items[0]["expires_at_millis"], second["expires_at_millis"]);
        assert_eq!(items[1]["description"], "First API Key");
        assert!(items[1].get("expires_at_millis").is_none());
        assert_eq!(field_names(&listed), ["is_paginated", "items"]);
    }

    fn prevents_listing_api_keys_for_other_users_on_the_client(app) {
        let project = app.create_open_project();
        let first = app.create_user(&project);
        let second = app.create_user(&project);
        server_user_key(app, &project, first.id, "First User's API Key").await;
        server_user_key(app, &project, second.id, "Second User's API Key").await;
        let response = app
            .send(second.signed_in(project.client(get(&format!("/api/v1/user-api-keys?user_id={}", first.id)))))
            .await;
        response.assert_plain_error(403, "Client can only manage their own api keys");
    }

    fn cannot_list_all_api_keys_for_all_users_on_the_server(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        server_user_key(app, &project, user.id, "First User's API Key").await;
        let response = app.send(project.server(get("/api/v1/user-api-keys"))).await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        assert_eq!(
            response.json(),
            json!({
                "code": "SCHEMA_ERROR",
                "details": {"message": "user_id is required for user API keys"},
                "error": "user_id is required for user API keys",
            })
        );
    }

    fn revoking_an_api_key_twice_keeps_the_revocation_timestamp(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "Test API Key to Revoke").await;
        let uri = format!("/api/v1/user-api-keys/{}?user_id={}", key_id(&created), user.id);
        let first = app
            .send(user.signed_in(project.client(patch_json(&uri, json!({"revoked": true})))))
            .await
            .assert_ok(200);
        app.advance_clock(5_000);
        let second = app
            .send(user.signed_in(project.client(patch_json(&uri, json!({"revoked": true})))))
            .await
            .assert_ok(200);
        assert!(first["manually_revoked_at_millis"].is_number());
        assert_eq!(first["manually_revoked_at_millis"], second["manually_revoked_at_millis"]);
        app.send(check_request(&project, "user", &key_value(&created)))
            .await
            .assert_known_error(401, "API_KEY_REVOKED");
    }

    fn credential_scanning_revokes_a_user_key_and_notifies_its_owner(app) {
        let project = app.create_open_project();
        let bystander = app.create_user(&project);
        set_email(app, &project, &bystander, "bystander@example.com");
        let owner = app.create_user(&project);
        set_email(app, &project, &owner, "owner@example.com");
        let created = server_user_key(app, &project, owner.id, "Test API Key to Revoke <HTML Test &>").await;
        let checked = app
            .send(check_request(&project, "user", &key_value(&created)))
            .await
            .assert_ok(200);
        assert_eq!(checked["description"], "Test API Key to Revoke <HTML Test &>");

        // Upstream's test sends server credentials along; they are not needed.
        let response = app
            .send(project.server(post_json(
                "/api/v1/integrations/credential-scanning/revoke",
                json!({"api_key": key_value(&created)}),
            )))
            .await;
        assert_eq!(response.assert_ok(200), json!({"success": true}));

        let check = app.send(check_request(&project, "user", &key_value(&created))).await;
        check.assert_known_error(401, "API_KEY_REVOKED");
        assert_eq!(check.json(), json!({"code": "API_KEY_REVOKED", "error": "API key has been revoked."}));

        let notices = notices_of(app, &project);
        assert_eq!(notices.len(), 1, "{notices:?}");
        let notice = &notices[0];
        assert_eq!(notice.recipient_email, "owner@example.com");
        assert_eq!(notice.subject, "API Key Revoked: Test API Key to Revoke <HTML Test &>");
        assert!(notice.body_html.contains(
            "Your API key \"Test API Key to Revoke &lt;HTML Test &amp;&gt;\" for Test project has been automatically revoked because it was found in a public repository."
        ));
        assert!(notice.body_text.contains(
            "Your API key \"Test API Key to Revoke <HTML Test &>\" for Test project has been automatically revoked because it was found in a public repository."
        ));
        assert!(notice.body_text.contains("Please create a new API key if needed."));
        assert_eq!(notice.created_at_millis, app.now());
        assert_eq!(notice.sent_at_millis, None);
        assert!(notices.iter().all(|n| n.recipient_email != "bystander@example.com"));
    }

    fn credential_scanning_notifies_the_team_members_who_manage_api_keys(app) {
        let project = app.create_open_project();
        let direct = app.create_user(&project);
        let through_team_admin = app.create_user(&project);
        let plain_member = app.create_user(&project);
        let without_email = app.create_user(&project);
        set_email(app, &project, &direct, "direct@example.com");
        set_email(app, &project, &through_team_admin, "admin@example.com");
        set_email(app, &project, &plain_member, "member@example.com");
        let team = app.create_team(
            &project,
            &[
                (&direct, &["$manage_api_keys"]),
                (&through_team_admin, &["team_admin"]),
                (&plain_member, &["team_member"]),
                (&without_email, &["team_admin"]),
            ],
        );
        let created = server_team_key(app, &project, team, "Test Team API Key to Revoke").await;
        app.send(check_request(&project, "team", &key_value(&created))).await.assert_ok(200);

        let response = app
            .send(post_json(
                "/api/v1/integrations/credential-scanning/revoke",
                json!({"api_key": key_value(&created)}),
            ))
            .await;
        assert_eq!(response.assert_ok(200), json!({"success": true}));
        app.send(check_request(&project, "team", &key_value(&created)))
            .await
            .assert_known_error(401, "API_KEY_REVOKED");

        let mut recipients: Vec<String> =
            notices_of(app, &project).into_iter().map(|n| n.recipient_email).collect();
        recipients.sort();
        assert_eq!(recipients, ["admin@example.com", "direct@example.com"]);
        assert!(notices_of(app, &project)
            .iter()
            .all(|n| n.subject == "API Key Revoked: Test Team API Key to Revoke"));
    }

    fn credential_scanning_handles_already_revoked_keys_gracefully(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        set_email(app, &project, &user, "user@example.com");
        let created = server_user_key(app, &project, user.id, "Test API Key Already Revoked").await;
        let revoked = app
            .send(project.server(patch_json(
                &format!("/api/v1/user-api-keys/{}", key_id(&created)),
                json!({"revoked": true}),
            )))
            .await
            .assert_ok(200);
        assert!(revoked["manually_revoked_at_millis"].is_number());
        app.send(check_request(&project, "user", &key_value(&created)))
            .await
            .assert_known_error(401, "API_KEY_REVOKED");

        for _ in 0..2 {
            let response = app
                .send(post_json(
                    "/api/v1/integrations/credential-scanning/revoke",
                    json!({"api_key": key_value(&created)}),
                ))
                .await;
            assert_eq!(response.assert_ok(200), json!({"success": true}));
        }
        assert!(notices_of(app, &project).is_empty());
    }

    fn credential_scanning_errors_when_the_key_is_not_found(app) {
        let fake = format!("stack_test_nonexistent_{}", uuid::Uuid::new_v4().simple());
        let response = app
            .send(post_json(
                "/api/v1/integrations/credential-scanning/revoke",
                json!({"api_key": fake}),
            ))
            .await;
        response.assert_known_error(404, "API_KEY_NOT_FOUND");
        assert_eq!(response.json(), json!({"code": "API_KEY_NOT_FOUND", "error": "API key not found."}));
    }
}
