//! HTTP tests of the team routes, on SQLite and Postgres.

use actix_web::test::TestRequest;
use keygate_domain::ProjectSwitches;
use keygate_domain::{Owner, TeamId, UserId};
use keygate_storage::repo::{api_keys, memberships, users};
use serde_json::{json, Value};

use keygate_service::Limits;

use crate::request_body::BodyLimits;
use crate::routes::test_requests::{
    assert_never_a_server_error, assert_schema_error, json_request,
};
use crate::testing::{TestApp, TestProject};

fn team_path(team: TeamId) -> String {
    format!("/api/v1/teams/{team}")
}

async fn permissions_of(app: &TestApp, project: &TestProject, team: &str, user: &str) -> Value {
    app.send(project.server(TestRequest::get().uri(&format!(
        "/api/v1/team-permissions?team_id={team}&user_id={user}"
    ))))
    .await
    .assert_ok(200)
}

crate::http_tests! {
    fn servers_create_teams_with_or_without_a_creator(app) {
        let project = app.create_open_project();
        let team = app
            .send(project.server(json_request("POST", "/api/v1/teams", json!({
                "display_name": "Ops",
                "profile_image_url": "https://example.com/ops.png",
                "client_metadata": {"c": 1},
                "client_read_only_metadata": {"r": 2},
                "server_metadata": {"s": 3},
            }))))
            .await
            .assert_ok(201);
        assert_eq!(team["display_name"], "Ops");
        assert_eq!(team["profile_image_url"], "https://example.com/ops.png");
        assert_eq!(team["client_metadata"], json!({"c": 1}));
        assert_eq!(team["client_read_only_metadata"], json!({"r": 2}));
        assert_eq!(team["server_metadata"], json!({"s": 3}));
        assert_eq!(team["created_at_millis"], app.now());
        let id: TeamId = team["id"].as_str().unwrap().parse().unwrap();
        let mut conn = app.database().conn();
        assert!(memberships::list_for_team(&mut conn, project.id(), id).unwrap().is_empty());
        drop(conn);

        let creator = app.create_user(&project);
        let team = app
            .send(project.admin(json_request("POST", "/api/v1/teams", json!({
                "display_name": "Dev",
                "creator_user_id": creator.id.to_string(),
            }))))
            .await
            .assert_ok(201);
        let held = permissions_of(app, &project, team["id"].as_str().unwrap(), &creator.id.to_string()).await;
        assert_eq!(held["items"], json!([{
            "id": "team_admin",
            "team_id": team["id"],
            "user_id": creator.id.to_string(),
        }]));
    }

    fn an_unknown_creator_creates_nothing(app) {
        let project = app.create_open_project();
        let response = app
            .send(project.server(json_request("POST", "/api/v1/teams", json!({
                "display_name": "Ghost",
                "creator_user_id": UserId::new_random().to_string(),
            }))))
            .await;
        response.assert_known_error(404, "USER_NOT_FOUND");
        let listed = app
            .send(project.server(TestRequest::get().uri("/api/v1/teams")))
            .await
            .assert_ok(200);
        assert_eq!(listed, json!({"items": [], "is_paginated": false}));
    }

    fn clients_create_teams_only_as_themselves_when_allowed(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let other = app.create_user(&project);
        let post = |body| user.signed_in(project.client(json_request("POST", "/api/v1/teams", body)));

        let team = app.send(post(json!({"display_name": "Mine"}))).await.assert_ok(201);
        assert!(team.get("server_metadata").is_none());
        assert!(team.get("created_at_millis").is_none());
        let held = permissions_of(app, &project, team["id"].as_str().unwrap(), &user.id.to_string()).await;
        assert_eq!(held["items"][0]["id"], "team_admin");
        app.send(post(json!({"display_name": "Also mine", "creator_user_id": "me"})))
            .await
            .assert_ok(201);

        app.send(post(json!({"display_name": "Theirs", "creator_user_id": other.id.to_string()})))
            .await
            .assert_plain_error(403, "You cannot create a team as a user that is not yourself. Make sure you set the creator_user_id to 'me'.");
        let response = app
            .send(post(json!({"display_name": "X", "server_metadata": {}, "client_read_only_metadata": 1})))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/teams", &[
            "body contains unknown properties: client_read_only_metadata, server_metadata",
        ]);
        app.send(post(json!({"display_name": "X", "profile_image_url": "https://example.com/x.png"})))
            .await
            .assert_plain_error(400, "Invalid profile image URL");
        app.send(project.client(json_request("POST", "/api/v1/teams", json!({"display_name": "X"}))))
            .await
            .assert_known_error(401, "USER_AUTHENTICATION_REQUIRED");

        let closed = app.create_project(ProjectSwitches::default());
        let member = app.create_user(&closed);
        app.send(member.signed_in(closed.client(json_request("POST", "/api/v1/teams", json!({"display_name": "X"})))))
            .await
            .assert_plain_error(403, "Client team creation is disabled for this project");
    }

    fn create_validates_its_body(app) {
        let project = app.create_open_project();
        let response = app
            .send(project.server(json_request("POST", "/api/v1/teams?add_current_user=true", json!({
                "creator_user_id": "someone",
                "profile_image_url": 3,
            }))))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/teams", &[
            "body.display_name must be defined",
            "body.profile_image_url must be a `string` type, but the final value was: `3`.",
            "body.creator_user_id must be a valid UUID",
            "query contains unknown properties: add_current_user",
        ]);
        app.send(project.server(json_request("POST", "/api/v1/teams", json!({"display_name": "A", "creator_user_id": "me"}))))
            .await
            .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    }

    fn listing_teams_for_the_project_a_user_and_me(app) {
        let project = app.create_open_project();
        let ann = app.create_user(&project);
        let ben = app.create_user(&project);
        let first = app.create_team(&project, &[(&ann, &["team_member"])]);
        app.advance_clock(1);
        let second = app.create_team(&project, &[(&ben, &[])]);
        let other_project = app.create_open_project();
        app.create_team(&other_project, &[]);

        let all = app.send(project.server(TestRequest::get().uri("/api/v1/teams"))).await.assert_ok(200);
        assert_eq!(all["is_paginated"], false);
        let ids: Vec<&str> = all["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&first.to_string().as_str()) && ids.contains(&second.to_string().as_str()));
        assert!(all["items"][0].get("server_metadata").is_some());

        let bens = app
            .send(project.server(TestRequest::get().uri(&format!("/api/v1/teams?user_id={}", ben.id))))
            .await
            .assert_ok(200);
        assert_eq!(bens["items"].as_array().unwrap().len(), 1);
        assert_eq!(bens["items"][0]["id"], second.to_string());

        let mine = app
            .send(ann.signed_in(project.client(TestRequest::get().uri("/api/v1/teams?user_id=me"))))
            .await
            .assert_ok(200);
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
        assert_eq!(mine["items"][0]["id"], first.to_string());
        assert!(mine["items"][0].get("server_metadata").is_none());

        let own_teams_only = "Client can only list teams for their own user. user_id must be either \"me\" or the ID of the current user";
        app.send(ann.signed_in(project.client(TestRequest::get().uri("/api/v1/teams"))))
            .await
            .assert_plain_error(403, own_teams_only);
        app.send(ann.signed_in(project.client(TestRequest::get().uri(&format!("/api/v1/teams?user_id={}", ben.id)))))
            .await
            .assert_plain_error(403, own_teams_only);
        app.send(project.client(TestRequest::get().uri("/api/v1/teams?user_id=me")))
            .await
            .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        app.send(project.server(TestRequest::get().uri("/api/v1/teams?user_id=me")))
            .await
            .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        let response = app.send(project.server(TestRequest::get().uri("/api/v1/teams?user_id=nope&limit=3"))).await;
        assert_schema_error(&response, "GET", "/api/v1/teams", &[
            "query.user_id must be a valid UUID",
            "query contains unknown properties: limit",
        ]);
    }

    fn reading_a_team_by_access_type(app) {
        let project = app.create_open_project();
        let member = app.create_user(&project);
        let stranger = app.create_user(&project);
        let team = app.create_team(&project, &[(&member, &["team_member"])]);
        let get = || TestRequest::get().uri(&team_path(team));

        let server = app.send(project.server(get())).await.assert_ok(200);
        assert_eq!(server["id"], team.to_string());
        assert!(server.get("server_metadata").is_some());
        let client = app.send(member.signed_in(project.client(get()))).await.assert_ok(200);
        assert!(client.get("server_metadata").is_none());

        let response = app.send(stranger.signed_in(project.client(get()))).await;
        response.assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
        assert_eq!(
            response.json()["details"],
            json!({"team_id": team.to_string(), "user_id": stranger.id.to_string()})
        );
        app.send(project.client(get())).await.assert_known_error(401, "USER_AUTHENTICATION_REQUIRED");

        let missing = TeamId::new_random();
        let response = app.send(project.server(TestRequest::get().uri(&team_path(missing)))).await;
        response.assert_known_error(404, "TEAM_NOT_FOUND");
        assert_eq!(response.json()["details"], json!({"team_id": missing.to_string()}));
        let response = app.send(project.server(TestRequest::get().uri("/api/v1/teams/123"))).await;
        assert_schema_error(&response, "GET", "/api/v1/teams/123", &["params.team_id must be a valid UUID"]);
    }

    fn updating_a_team_needs_update_team_on_clients(app) {
        let project = app.create_open_project();
        let admin = app.create_user(&project);
        let member = app.create_user(&project);
        let stranger = app.create_user(&project);
        let team = app.create_team(&project, &[(&admin, &["team_admin"]), (&member, &["team_member"])]);
        let patch = |body| json_request("PATCH", &team_path(team), body);

        let updated = app
            .send(admin.signed_in(project.client(patch(json!({"display_name": "Renamed", "client_metadata": [1]})))))
            .await
            .assert_ok(200);
        assert_eq!(updated["display_name"], "Renamed");
        assert_eq!(updated["client_metadata"], json!([1]));
        assert!(updated.get("server_metadata").is_none());

        let response = app.send(member.signed_in(project.client(patch(json!({"display_name": "No"}))))).await;
        response.assert_known_error(401, "TEAM_PERMISSION_REQUIRED");
        assert_eq!(response.json()["details"]["permission_id"], "$update_team");
        app.send(stranger.signed_in(project.client(patch(json!({"display_name": "No"})))))
            .await
            .assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
        let response = app.send(admin.signed_in(project.client(patch(json!({"server_metadata": 1}))))).await;
        assert_schema_error(&response, "PATCH", &team_path(team), &["body contains unknown properties: server_metadata"]);

        let updated = app
            .send(project.server(patch(json!({
                "server_metadata": {"tier": 2},
                "client_read_only_metadata": null,
                "profile_image_url": null,
            }))))
            .await
            .assert_ok(200);
        assert_eq!(updated["server_metadata"], json!({"tier": 2}));
        assert_eq!(updated["display_name"], "Renamed");
        app.send(project.server(json_request("PATCH", &team_path(TeamId::new_random()), json!({}))))
            .await
            .assert_known_error(404, "TEAM_NOT_FOUND");
    }

    fn deleting_a_team_removes_memberships_keys_and_selection(app) {
        let project = app.create_open_project();
        let admin = app.create_user(&project);
        let member = app.create_user(&project);
        let team = app.create_team(&project, &[(&admin, &["team_admin"]), (&member, &["team_member"])]);
        let key = {
            let mut conn = app.database().conn();
            keygate_storage::testing::insert_api_key(&mut conn, project.id(), Owner::Team(team), 1)
        };
        app.send(member.signed_in(project.client(json_request(
            "PATCH",
            "/api/v1/users/me",
            json!({"selected_team_id": team.to_string()}),
        ))))
        .await
        .assert_ok(200);

        let response = app.send(member.signed_in(project.client(TestRequest::delete().uri(&team_path(team))))).await;
        response.assert_known_error(401, "TEAM_PERMISSION_REQUIRED");
        assert_eq!(response.json()["details"]["permission_id"], "$delete_team");

        let response = app.send(admin.signed_in(project.client(TestRequest::delete().uri(&team_path(team))))).await;
        assert_eq!(response.assert_ok(200), json!({"success": true}));
        let mut conn = app.database().conn();
        assert!(memberships::list_for_team(&mut conn, project.id(), team).unwrap().is_empty());
        assert!(api_keys::get(&mut conn, project.id(), key.id).unwrap().is_none());
        let stored = users::get(&mut conn, project.id(), member.id).unwrap().unwrap();
        assert_eq!(stored.selected_team_id, None);
        drop(conn);

        app.send(project.server(TestRequest::get().uri(&team_path(team))))
            .await
            .assert_known_error(404, "TEAM_NOT_FOUND");
        app.send(project.server(TestRequest::delete().uri(&team_path(team))))
            .await
            .assert_known_error(404, "TEAM_NOT_FOUND");
        let response = app.send(project.server(TestRequest::put().uri(&team_path(team)))).await;
        assert_eq!(response.status.as_u16(), 405);
    }

    fn team_garbage_never_yields_a_server_error(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let huge = "t".repeat(300_000);
        let bodies = [
            json!(null),
            json!([1]),
            json!({"display_name": huge}),
            json!({"display_name": "\u{0000}"}),
            json!({"display_name": {"nested": true}}),
            json!({"creator_user_id": huge, "display_name": "x"}),
            json!({"profile_image_url": huge, "display_name": "x"}),
        ];
        let paths = [
            "/api/v1/teams".to_owned(),
            team_path(team),
            "/api/v1/teams/%FF%FE".to_owned(),
            format!("/api/v1/teams?user_id={}", "u".repeat(20_000)),
        ];
        assert_never_a_server_error(app, &project, &user, &paths, &bodies).await;
    }

    fn a_client_cannot_create_teams_past_the_cap(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let capped = app.state.clone().with_limits(
            Limits { max_client_teams_per_user: 2, ..Limits::default() },
            BodyLimits::default(),
        );
        let create = || user.signed_in(project.client(json_request("POST", "/api/v1/teams", json!({
            "display_name": "Mine", "creator_user_id": "me",
        }))));
        for _ in 0..2 {
            app.send_to(&capped, create()).await.assert_ok(201);
        }
        let response = app.send_to(&capped, create()).await;
        response.assert_known_error(409, "TEAM_LIMIT_REACHED");
        assert_eq!(response.json()["details"], json!({"limit": 2}));
        // Nothing was stored; servers are not capped (they are trusted with their own data).
        let mut conn = app.database().conn();
        assert_eq!(memberships::count_for_user(&mut conn, project.id(), user.id).unwrap(), 2);
        drop(conn);
        app.send_to(&capped, project.server(json_request("POST", "/api/v1/teams", json!({
            "display_name": "Given", "creator_user_id": user.id.to_string(),
        }))))
        .await
        .assert_ok(201);
    }

    fn team_names_and_metadata_over_their_caps_are_refused(app) {
        let project = app.create_open_project();
        let limits = Limits::default();
        let long_name = "n".repeat(limits.max_display_name_chars + 1);
        // 16 KiB of JSON text and one byte more.
        let over = json!({"blob": "m".repeat(limits.max_metadata_bytes - 11 + 1)});
        let at_cap = json!({"blob": "m".repeat(limits.max_metadata_bytes - 11)});
        assert_eq!(serde_json::to_string(&at_cap).unwrap().len(), limits.max_metadata_bytes);
        let max_name = limits.max_display_name_chars;
        let max_bytes = limits.max_metadata_bytes;
        let response = app.send(project.server(json_request("POST", "/api/v1/teams", json!({
            "display_name": long_name,
            "client_metadata": over,
            "client_read_only_metadata": over,
            "server_metadata": over,
        })))).await;
        assert_schema_error(&response, "POST", "/api/v1/teams", &[
            &format!("body.display_name must be at most {max_name} characters"),
            &format!("body.client_metadata must be at most {max_bytes} bytes as JSON"),
            &format!("body.client_read_only_metadata must be at most {max_bytes} bytes as JSON"),
            &format!("body.server_metadata must be at most {max_bytes} bytes as JSON"),
        ]);
        let team = app.send(project.server(json_request("POST", "/api/v1/teams", json!({
            "display_name": "n".repeat(max_name),
            "client_metadata": at_cap,
            "server_metadata": at_cap,
        })))).await.assert_ok(201);
        let path = format!("/api/v1/teams/{}", team["id"].as_str().unwrap());
        let response = app.send(project.server(json_request("PATCH", &path, json!({
            "client_metadata": over,
        })))).await;
        assert_schema_error(&response, "PATCH", &path, &[
            &format!("body.client_metadata must be at most {max_bytes} bytes as JSON"),
        ]);
        // The profile image URL's cap is a setting too (upstream's 1,000,000 by default).
        let small_images = app.state.clone().with_limits(
            Limits { max_profile_image_url_chars: 100, ..Limits::default() },
            BodyLimits::default(),
        );
        let response = app.send_to(&small_images, project.server(json_request("PATCH", &path, json!({
            "profile_image_url": format!("https://example.com/{}", "i".repeat(100)),
        })))).await;
        assert_schema_error(&response, "PATCH", &path, &[
            "body.profile_image_url must be at most 100 characters",
        ]);
    }
}
