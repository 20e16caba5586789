//! HTTP tests of the audit log: every change made through the API is recorded with its actor,
//! request id and client address, and `GET /api/v1/internal/audit-log` lists, filters and pages
//! it for the admin and the operator only. Each on SQLite and Postgres.

use std::net::SocketAddr;

use actix_web::test::TestRequest;
use keygate_domain::ProjectSwitches;
use serde_json::{json, Value};

use super::PATH;
use crate::routes::test_requests::assert_schema_error;
use crate::testing::{TestApp, TestProject, TestResponse, TEST_OPERATOR_TOKEN};

/// The address every request of these tests comes from.
const CLIENT: &str = "198.51.100.23:40000";

fn from_client(request: TestRequest) -> TestRequest {
    request.peer_addr(CLIENT.parse::<SocketAddr>().unwrap())
}

fn post_json(uri: &str, body: Value) -> TestRequest {
    from_client(TestRequest::post().uri(uri).set_json(body))
}

fn patch_json(uri: &str, body: Value) -> TestRequest {
    from_client(TestRequest::patch().uri(uri).set_json(body))
}

fn get(query: &str) -> TestRequest {
    TestRequest::get().uri(&format!("{PATH}{query}"))
}

fn operator(project: &TestProject, request: TestRequest) -> TestRequest {
    request
        .insert_header(("authorization", format!("Bearer {TEST_OPERATOR_TOKEN}")))
        .insert_header(("x-stack-project-id", project.id().to_string()))
}

/// Every event of `project` (as the admin), oldest first.
async fn events(app: &TestApp, project: &TestProject, query: &str) -> Vec<Value> {
    let page = app.send(project.admin(get(query))).await.assert_ok(200);
    let mut items = page["items"].as_array().unwrap().clone();
    items.reverse();
    items
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

fn request_id(response: &TestResponse) -> String {
    response.header("x-stack-request-id").unwrap().to_owned()
}

crate::http_tests! {
    fn every_change_is_recorded_with_who_made_it_from_where(app) {
        let project = app.create_open_project();
        let owner = app.create_user(&project);
        let member = app.create_user(&project);
        let server_tail = &project.secret_server_key[project.secret_server_key.len() - 4..];

        // A server creates a key for the owner; the owner renames and revokes it.
        let created = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": owner.id.to_string(), "description": "ci", "expires_at_millis": null}),
            )))
            .await;
        let key = created.assert_ok(200);
        let key_id = key["id"].as_str().unwrap().to_owned();
        let renamed = app
            .send(owner.signed_in(project.client(patch_json(
                &format!("/api/v1/user-api-keys/{key_id}"),
                json!({"description": "deploys", "revoked": true}),
            ))))
            .await;
        renamed.assert_ok(200);
        // Revoking again changes nothing and records nothing.
        app.send(owner.signed_in(project.client(patch_json(
            &format!("/api/v1/user-api-keys/{key_id}"),
            json!({"revoked": true}),
        ))))
        .await
        .assert_ok(200);

        // The owner creates a team (joining it), the server adds a member and grants and takes
        // back a permission; the owner's team key is reported leaked.
        let team = app
            .send(owner.signed_in(project.client(post_json(
                "/api/v1/teams",
                json!({"display_name": "Ops", "creator_user_id": "me"}),
            ))))
            .await
            .assert_ok(201);
        let team_id = team["id"].as_str().unwrap().to_owned();
        app.send(project.server(post_json(
            &format!("/api/v1/team-memberships/{team_id}/{}", member.id),
            json!({}),
        )))
        .await
        .assert_ok(201);
        let permission = format!("/api/v1/team-permissions/{team_id}/{}/$manage_api_keys", member.id);
        app.send(project.server(post_json(&permission, json!({})))).await.assert_ok(201);
        app.send(project.server(from_client(TestRequest::delete().uri(&permission))))
            .await
            .assert_ok(200);
        let team_key = app
            .send(owner.signed_in(project.client(post_json(
                "/api/v1/team-api-keys",
                json!({"team_id": team_id, "description": "team ci", "expires_at_millis": null}),
            ))))
            .await
            .assert_ok(200);
        app.send(post_json(
            "/api/v1/integrations/credential-scanning/revoke",
            json!({"api_key": team_key["value"]}),
        ))
        .await
        .assert_ok(200);

        // The admin renames the project and issues and revokes a credential; the operator
        // revokes it again (nothing changes, nothing is recorded).
        app.send(project.admin(patch_json("/api/v1/internal/projects/current", json!({"display_name": "Renamed"}))))
            .await
            .assert_ok(200);
        let credential = app
            .send(project.admin(post_json(
                "/api/v1/internal/api-keys",
                json!({"description": "deploy", "expires_at_millis": null, "has_publishable_client_key": false, "has_secret_server_key": true, "has_super_secret_admin_key": false}),
            )))
            .await
            .assert_ok(200);
        let credential_id = credential["id"].as_str().unwrap();
        let credential_path = format!("/api/v1/internal/api-keys/{credential_id}");
        app.send(project.admin(patch_json(&credential_path, json!({"revoked": true})))).await.assert_ok(200);
        app.send(operator(&project, patch_json(&credential_path, json!({"revoked": true})))).await.assert_ok(200);
        app.send(project.server(from_client(TestRequest::delete().uri(&format!("/api/v1/users/{}", member.id)))))
            .await
            .assert_ok(200);

        let all = events(app, &project, "").await;
        assert_eq!(
            actions(&all),
            [
                "project_api_key.created", // the test fixture's credential
                "user_api_key.created",
                "user_api_key.updated",
                "user_api_key.revoked",
                "team_membership.created",
                "team_membership.created",
                "team_permission.granted",
                "team_permission.revoked",
                "team_api_key.created",
                "team_api_key.revoked",
                "project.updated",
                "project_api_key.created",
                "project_api_key.revoked",
                "user.deleted",
            ]
        );
        let server_created = &all[1];
        assert_eq!(server_created["object_type"], "user_api_key");
        assert_eq!(server_created["object_id"], key_id);
        assert_eq!(server_created["actor_type"], "server");
        assert_eq!(server_created["actor_user_id"], Value::Null);
        assert_eq!(server_created["actor_label"], format!("secret server key …{server_tail}"));
        assert_eq!(server_created["target_user_id"], owner.id.to_string());
        assert_eq!(server_created["request_id"], request_id(&created));
        assert_eq!(server_created["client_address"], "198.51.100.23");
        let tail = &key["value"].as_str().unwrap()[key["value"].as_str().unwrap().len() - 4..];
        assert_eq!(
            server_created["metadata"],
            json!({"user_id": owner.id.to_string(), "description": "ci", "last_four": tail, "is_public": false, "scopes": []})
        );
        let updated = &all[2];
        assert_eq!(updated["actor_type"], "user");
        assert_eq!(updated["actor_user_id"], owner.id.to_string());
        assert_eq!(updated["metadata"]["previous_description"], "ci");
        assert_eq!(updated["metadata"]["description"], "deploys");
        assert_eq!(updated["request_id"], request_id(&renamed));
        assert_eq!(all[3]["request_id"], request_id(&renamed), "one request, two events");
        assert_eq!(all[6]["object_id"], format!("{team_id}/{}/$manage_api_keys", member.id));
        assert_eq!(all[6]["target_user_id"], member.id.to_string());
        let leaked = &all[9];
        assert_eq!(
            (&leaked["actor_type"], &leaked["actor_label"], &leaked["metadata"]["reason"]),
            (&json!("scanner"), &json!("credential scanner"), &json!("leaked"))
        );
        assert_eq!(leaked["metadata"]["team_id"], team_id);
        assert_eq!(all[11]["actor_type"], "admin");
        assert!(all[11]["actor_label"].as_str().unwrap().starts_with("super secret admin key …"));
        assert_eq!(all[12]["object_id"], credential_id);
        assert_eq!(all[13]["metadata"]["deleted_api_keys"], 0);

        // Filters narrow; the operator reads the same log.
        let by_owner = events(app, &project, &format!("?actor_user_id={}", owner.id)).await;
        assert_eq!(
            actions(&by_owner),
            ["user_api_key.updated", "user_api_key.revoked", "team_membership.created", "team_api_key.created"]
        );
        let revokes = events(app, &project, "?action=user_api_key.revoked").await;
        assert_eq!(revokes.len(), 1);
        let of_key = events(app, &project, &format!("?object_type=user_api_key&object_id={key_id}")).await;
        assert_eq!(of_key.len(), 3);
        let scanner = events(app, &project, "?actor_type=scanner").await;
        assert_eq!(actions(&scanner), ["team_api_key.revoked"]);
        let about_member = format!("?target_user_id={}", member.id);
        let as_operator = app.send(operator(&project, get(&about_member))).await.assert_ok(200);
        let mut about_member = as_operator["items"].as_array().unwrap().clone();
        about_member.reverse();
        assert_eq!(
            actions(&about_member),
            ["team_membership.created", "team_permission.granted", "team_permission.revoked", "user.deleted"]
        );
    }

    fn the_log_pages_with_a_cursor_and_windows_by_time(app) {
        let project = app.create_project(ProjectSwitches::default());
        for i in 0..5 {
            app.advance_clock(10);
            app.send(project.admin(patch_json("/api/v1/internal/projects/current", json!({"display_name": format!("name {i}")}))))
                .await
                .assert_ok(200);
        }
        let all = events(app, &project, "").await;
        assert_eq!(all.len(), 6);
        let mut walked = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = app.send(project.admin(get(&format!("?limit=2{cursor}")))).await.assert_ok(200);
            assert_eq!(page["is_paginated"], true);
            walked.extend(page["items"].as_array().unwrap().iter().map(|e| e["id"].clone()));
            match page["pagination"]["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        walked.reverse();
        assert_eq!(walked, all.iter().map(|e| e["id"].clone()).collect::<Vec<_>>());

        let second = all[2]["created_at_millis"].as_i64().unwrap();
        let window = events(app, &project, &format!("?since_millis={second}&until_millis={}", second + 20)).await;
        assert_eq!(window.iter().map(|e| &e["id"]).collect::<Vec<_>>(), [&all[2]["id"], &all[3]["id"]]);
    }

    fn only_the_admin_and_the_operator_read_the_log_and_bad_filters_are_schema_errors(app) {
        let project = app.create_project(ProjectSwitches::default());
        app.send(project.server(get(""))).await.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
        app.send(project.client(get(""))).await.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
        app.send(get("")).await.assert_known_error(400, "ACCESS_TYPE_REQUIRED");
        app.send(operator(&project, get(""))).await.assert_ok(200);
        // Another project's admin sees only its own log.
        let other = app.create_project(ProjectSwitches::default());
        let theirs = events(app, &other, "").await;
        assert!(theirs.iter().all(|e| e["object_id"] != json!(project.id().to_string())));

        let response = app.send(project.admin(get("?action=user_api_key.deleted&actor_type=robot&limit=0&cursor=x&extra=1"))).await;
        assert_schema_error(
            &response,
            "GET",
            PATH,
            &[
                "query.action must be one of the following values: user_api_key.created, user_api_key.updated, user_api_key.revoked, user_api_key.rotated, team_api_key.created, team_api_key.updated, team_api_key.revoked, team_api_key.rotated, project_api_key.created, project_api_key.updated, project_api_key.revoked, project.created, project.updated, team_membership.created, team_membership.deleted, team_member_profile.updated, team_permission.granted, team_permission.revoked, user.deleted, session.revoked, team.deleted, webhook_endpoint.created, webhook_endpoint.updated, webhook_endpoint.deleted",
                "query.actor_type must be one of the following values: user, client, server, admin, operator, scanner, system",
                "query.limit must be greater than or equal to 1",
                "query.cursor must be a next_cursor from a previous page",
                "query contains unknown properties: extra",
            ],
        );
    }
}
