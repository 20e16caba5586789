//! HTTP tests of the team-member-profile routes, on SQLite and Postgres.

use actix_web::test::TestRequest;
use keygate_domain::{TeamId, UserId};
use serde_json::json;

use crate::routes::test_requests::assert_schema_error;

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

crate::http_tests! {
    fn members_read_the_teams_profiles_in_the_order_they_joined(app) {
        let project = app.create_open_project();
        let admin = app.create_user(&project);
        let member = app.create_user(&project);
        let team = app.create_team(&project, &[(&admin, &["team_admin"])]);
        app.advance_clock(1_000);
        app.send(project.server(TestRequest::post()
            .uri(&format!("/api/v1/team-memberships/{team}/{}", member.id))
            .set_json(json!({}))))
            .await
            .assert_ok(201);
        let profile = |user: UserId| json!({
            "team_id": team.to_string(),
            "user_id": user.to_string(),
            "display_name": "test user",
            "profile_image_url": null,
        });
        let listed = app
            .send(member.signed_in(project.client(get(&format!("/api/v1/team-member-profiles?team_id={team}")))))
            .await
            .assert_ok(200);
        assert_eq!(listed, json!({"items": [profile(admin.id), profile(member.id)], "is_paginated": false}));
        let mine = app
            .send(member.signed_in(project.client(get(&format!("/api/v1/team-member-profiles/{team}/me")))))
            .await
            .assert_ok(200);
        assert_eq!(mine, profile(member.id));
        let filtered = app
            .send(member.signed_in(project.client(get(&format!(
                "/api/v1/team-member-profiles?team_id={team}&user_id=me"
            )))))
            .await
            .assert_ok(200);
        assert_eq!(filtered["items"], json!([profile(member.id)]));

        // A member's profile is their user profile; servers also get the user.
        app.send(project.server(TestRequest::patch()
            .uri(&format!("/api/v1/users/{}", member.id))
            .set_json(json!({"display_name": "Grace", "profile_image_url": "https://example.com/g.png"}))))
            .await
            .assert_ok(200);
        let read = app
            .send(project.server(get(&format!("/api/v1/team-member-profiles/{team}/{}", member.id))))
            .await
            .assert_ok(200);
        assert_eq!(read["display_name"], "Grace");
        assert_eq!(read["profile_image_url"], "https://example.com/g.png");
        assert_eq!(read["user"]["id"], member.id.to_string());
        assert_eq!(read["user"]["display_name"], "Grace");
        assert!(read["user"].get("server_metadata").is_some(), "{read}");
    }

    fn a_member_sets_their_own_name_and_picture_in_a_team(app) {
        let project = app.create_open_project();
        let member = app.create_user(&project);
        let other = app.create_user(&project);
        let team = app.create_team(&project, &[(&member, &["team_member"]), (&other, &["team_admin"])]);
        let elsewhere = app.create_team(&project, &[(&member, &["team_member"])]);
        let mine = format!("/api/v1/team-member-profiles/{team}/{}", member.id);
        let patch = |uri: &str, body: serde_json::Value| TestRequest::patch().uri(uri).set_json(body);

        let updated = app
            .send(member.signed_in(project.client(patch(&mine, json!({
                "display_name": "Ada at work",
                "profile_image_url": "https://example.com/ada.png",
            })))))
            .await
            .assert_ok(200);
        assert_eq!(updated, json!({
            "team_id": team.to_string(),
            "user_id": member.id.to_string(),
            "display_name": "Ada at work",
            "profile_image_url": "https://example.com/ada.png",
        }));
        let listed = app
            .send(other.signed_in(project.client(get(&format!("/api/v1/team-member-profiles?team_id={team}")))))
            .await
            .assert_ok(200);
        let shown = listed["items"].as_array().expect("items").iter()
            .find(|item| item["user_id"] == member.id.to_string()).expect("the member").clone();
        assert_eq!(shown, updated);
        // Only in that team, and only in the profile: the user is unchanged.
        let there = app
            .send(member.signed_in(project.client(get(&format!("/api/v1/team-member-profiles/{elsewhere}/me")))))
            .await
            .assert_ok(200);
        assert_eq!(there["display_name"], "test user");
        let user = app.send(member.signed_in(project.client(get("/api/v1/users/me")))).await.assert_ok(200);
        assert_eq!(user["display_name"], "test user");

        // Cleared, a field shows the user's own again.
        let cleared = app
            .send(project.server(patch(&mine, json!({"display_name": null}))))
            .await
            .assert_ok(200);
        assert_eq!(cleared["display_name"], "test user");
        assert_eq!(cleared["profile_image_url"], "https://example.com/ada.png");
        assert_eq!(cleared["user"]["id"], member.id.to_string());

        // Each change that names a field is in the audit log.
        let log = app
            .send(project.admin(get("/api/v1/internal/audit-log?action=team_member_profile.updated")))
            .await
            .assert_ok(200);
        let events = log["items"].as_array().expect("items");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["metadata"]["changed"], json!(["display_name"]));
        assert_eq!(events[0]["actor_type"], "server");
        assert_eq!(events[1]["metadata"]["changed"], json!(["display_name", "profile_image_url"]));
        assert_eq!(events[1]["actor_user_id"], member.id.to_string());
        app.send(member.signed_in(project.client(patch(&mine, json!({})))))
            .await
            .assert_ok(200);
        let log = app
            .send(project.admin(get("/api/v1/internal/audit-log?action=team_member_profile.updated")))
            .await
            .assert_ok(200);
        assert_eq!(log["items"].as_array().expect("items").len(), 2, "an empty change records nothing");
    }

    fn only_a_member_changes_only_their_own_team_profile(app) {
        let project = app.create_open_project();
        let admin = app.create_user(&project);
        let outsider = app.create_user(&project);
        let team = app.create_team(&project, &[(&admin, &["team_admin"])]);
        let patch = |uri: &str, body: serde_json::Value| TestRequest::patch().uri(uri).set_json(body);
        let body = json!({"display_name": "x"});
        app.send(admin.signed_in(project.client(patch(
            &format!("/api/v1/team-member-profiles/{team}/{}", outsider.id),
            body.clone(),
        ))))
        .await
        .assert_plain_error(403, "Cannot update another user's profile");
        app.send(outsider.signed_in(project.client(patch(
            &format!("/api/v1/team-member-profiles/{team}/me"),
            body.clone(),
        ))))
        .await
        .assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
        app.send(project.server(patch(
            &format!("/api/v1/team-member-profiles/{team}/{}", outsider.id),
            body.clone(),
        )))
        .await
        .assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
        let path = format!("/api/v1/team-member-profiles/{team}/me");
        let response = app
            .send(admin.signed_in(project.client(patch(&path, json!({"profile_image_url": "not a url", "extra": 1})))))
            .await;
        assert_schema_error(
            &response,
            "PATCH",
            &path,
            &["body.profile_image_url contains spaces", "body contains unknown properties: extra"],
        );
    }

    fn only_members_read_profiles_and_others_need_read_members(app) {
        let project = app.create_open_project();
        let admin = app.create_user(&project);
        let bare = app.create_user(&project);
        let outsider = app.create_user(&project);
        let team = app.create_team(&project, &[(&admin, &["team_admin"]), (&bare, &[])]);
        let response = app
            .send(bare.signed_in(project.client(get(&format!("/api/v1/team-member-profiles?team_id={team}")))))
            .await;
        response.assert_known_error(401, "TEAM_PERMISSION_REQUIRED");
        assert_eq!(response.json()["details"]["permission_id"], "$read_members");
        app.send(bare.signed_in(project.client(get(&format!("/api/v1/team-member-profiles/{team}/{}", admin.id)))))
            .await
            .assert_known_error(401, "TEAM_PERMISSION_REQUIRED");
        // Their own profile needs no permission.
        app.send(bare.signed_in(project.client(get(&format!("/api/v1/team-member-profiles/{team}/me")))))
            .await
            .assert_ok(200);
        app.send(outsider.signed_in(project.client(get(&format!("/api/v1/team-member-profiles/{team}/me")))))
            .await
            .assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
        app.send(project.client(get(&format!("/api/v1/team-member-profiles?team_id={team}"))))
            .await
            .assert_known_error(401, "USER_AUTHENTICATION_REQUIRED");

        // Servers: the team and the user must exist, and the user be a member.
        app.send(project.server(get(&format!("/api/v1/team-member-profiles?team_id={}", TeamId::new_random()))))
            .await
            .assert_known_error(404, "TEAM_NOT_FOUND");
        app.send(project.server(get(&format!("/api/v1/team-member-profiles/{team}/{}", outsider.id))))
            .await
            .assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
        app.send(project.server(get(&format!("/api/v1/team-member-profiles/{team}/{}", UserId::new_random()))))
            .await
            .assert_known_error(404, "USER_NOT_FOUND");
        let listed = app
            .send(project.server(get(&format!(
                "/api/v1/team-member-profiles?team_id={team}&user_id={}",
                outsider.id
            ))))
            .await
            .assert_ok(200);
        assert_eq!(listed["items"], json!([]));
        let response = app.send(project.server(get("/api/v1/team-member-profiles"))).await;
        assert_schema_error(&response, "GET", "/api/v1/team-member-profiles", &["query.team_id must be defined"]);
    }
}
