//! HTTP tests of the team-invitation list, on SQLite and Postgres.

use actix_web::test::TestRequest;
use keygate_domain::{TeamId, UserId};
use serde_json::json;

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

crate::http_tests! {
    fn keygate_has_no_invitations_to_list(app) {
        let project = app.create_open_project();
        let member = app.create_user(&project);
        let team = app.create_team(&project, &[(&member, &["team_member"])]);
        let none = json!({"items": [], "is_paginated": false});
        for request in [
            member.signed_in(project.client(get(&format!("/api/v1/team-invitations?team_id={team}")))),
            member.signed_in(project.client(get("/api/v1/team-invitations?user_id=me"))),
            project.server(get(&format!("/api/v1/team-invitations?team_id={team}"))),
            project.server(get(&format!("/api/v1/team-invitations?user_id={}", member.id))),
        ] {
            assert_eq!(app.send(request).await.assert_ok(200), none);
        }
    }

    fn invitations_are_listed_only_to_whom_upstream_lists_them(app) {
        let project = app.create_open_project();
        let reader = app.create_user(&project);
        let other = app.create_user(&project);
        let team = app.create_team(&project, &[(&reader, &["$read_members"]), (&other, &["team_member"])]);
        let response = app
            .send(reader.signed_in(project.client(get(&format!("/api/v1/team-invitations?team_id={team}")))))
            .await;
        response.assert_known_error(401, "TEAM_PERMISSION_REQUIRED");
        assert_eq!(response.json()["details"]["permission_id"], "$invite_members");
        app.send(reader.signed_in(project.client(get(&format!("/api/v1/team-invitations?user_id={}", other.id)))))
            .await
            .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        app.send(reader.signed_in(project.client(get(&format!(
            "/api/v1/team-invitations?team_id={team}&user_id=me"
        )))))
        .await
        .assert_plain_error(400, "Cannot specify both team_id and user_id");
        app.send(reader.signed_in(project.client(get("/api/v1/team-invitations"))))
            .await
            .assert_plain_error(400, "Must specify either team_id or user_id");
        app.send(project.server(get(&format!("/api/v1/team-invitations?team_id={}", TeamId::new_random()))))
            .await
            .assert_known_error(404, "TEAM_NOT_FOUND");
        app.send(project.server(get(&format!("/api/v1/team-invitations?user_id={}", UserId::new_random()))))
            .await
            .assert_known_error(404, "USER_NOT_FOUND");
    }
}
