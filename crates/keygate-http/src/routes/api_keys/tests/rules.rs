//! The rest of B2/B6 and keygate's own decisions (A1): schemas, switches on every endpoint,
//! `me`, access types, the check precedence, expiry instants, wrong-type routes, unknown owners,
//! team permissions and the update semantics.

use keygate_domain::{ApiKeyId, KeyType, PlainApiKey};
use serde_json::json;

use super::*;

fn schema_message(response: &crate::testing::TestResponse) -> String {
    response.assert_known_error(400, "SCHEMA_ERROR");
    let body = response.json();
    assert_eq!(body["error"], body["details"]["message"]);
    body["error"].as_str().unwrap().to_owned()
}

crate::http_tests! {
    fn switches_gate_every_endpoint_of_their_type_only(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let user_key = server_user_key(app, &project, user.id, "u").await;
        let team_key = server_team_key(app, &project, team, "t").await;

        for (route, disabled, message) in [
            ("user", json!({"allow_user_api_keys": false}), "User API keys are not enabled for this project."),
            ("team", json!({"allow_team_api_keys": false}), "Team API keys are not enabled for this project."),
        ] {
            app.configure_project(&project, disabled).await;
            let (key, owner_query, create_body) = match route {
                "user" => (&user_key, format!("user_id={}", user.id), user_key_body(user.id, "x")),
                _ => (&team_key, format!("team_id={team}"), team_key_body(team, "x")),
            };
            let collection = format!("/api/v1/{route}-api-keys");
            let item = format!("{collection}/{}?{owner_query}", key_id(key));
            let requests = [
                project.server(post_json(&collection, create_body)),
                project.server(get(&format!("{collection}?{owner_query}"))),
                project.server(get(&item)),
                project.server(patch_json(&item, json!({"revoked": true}))),
                check_request(&project, route, &key_value(key)),
                user.signed_in(project.client(get(&format!("{collection}?{owner_query}")))),
                project.admin(get(&item)),
            ];
            for request in requests {
                app.send(request).await.assert_plain_error(400, message);
            }
            // The other type still works.
            let other = if route == "user" { ("team", &team_key) } else { ("user", &user_key) };
            app.send(check_request(&project, other.0, &key_value(other.1))).await.assert_ok(200);
            // Re-enable for the next round.
            app.configure_project(&project, json!({"allow_user_api_keys": true, "allow_team_api_keys": true})).await;
        }
        // Nothing was revoked while disabled.
        app.send(check_request(&project, "user", &key_value(&user_key))).await.assert_ok(200);
        app.send(check_request(&project, "team", &key_value(&team_key))).await.assert_ok(200);
    }

    fn create_validates_its_body_like_upstream(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let cases = [
            (json!({"user_id": user.id.to_string(), "description": "x"}), "body.expires_at_millis must be defined"),
            (json!({"user_id": user.id.to_string(), "expires_at_millis": null}), "body.description must be defined"),
            (json!({"user_id": user.id.to_string(), "description": null, "expires_at_millis": null}), "body.description cannot be null"),
            (json!({"user_id": "nope", "description": "x", "expires_at_millis": null}), "body.user_id must be a valid UUID"),
            (json!({"description": "x", "expires_at_millis": null}), "body.user_id must be defined"),
            (json!({"user_id": user.id.to_string(), "description": "x", "expires_at_millis": null, "prefix": "my"}), "body contains unknown properties: prefix"),
            (json!({"user_id": user.id.to_string(), "description": "x", "expires_at_millis": "soon"}), "body.expires_at_millis must be a `number` type, but the final value was: `\"soon\"`."),
            (json!({"user_id": user.id.to_string(), "description": "x", "expires_at_millis": null, "is_public": "yes"}), "body.is_public must be a `boolean` type, but the final value was: `\"yes\"`."),
        ];
        for (body, line) in cases {
            let response = app.send(project.server(post_json("/api/v1/user-api-keys", body))).await;
            assert_eq!(
                schema_message(&response),
                format!("Request validation failed on POST /api/v1/user-api-keys:\n  - {line}")
            );
        }
        // A1: the team route validates team_id as a UUID.
        let response = app
            .send(project.server(post_json(
                "/api/v1/team-api-keys",
                json!({"team_id": "some-team-id", "description": "x", "expires_at_millis": null}),
            )))
            .await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on POST /api/v1/team-api-keys:\n  - body.team_id must be a valid UUID"
        );
        // The user route does not take team_id (and the reverse).
        let response = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "team_id": uuid::Uuid::new_v4().to_string(), "description": "x", "expires_at_millis": null}),
            )))
            .await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on POST /api/v1/user-api-keys:\n  - body contains unknown properties: team_id"
        );
        // No body at all.
        let response = app.send(project.server(TestRequest::post().uri("/api/v1/user-api-keys"))).await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on POST /api/v1/user-api-keys:\n  - body must be defined"
        );
        let response = app
            .send(project.server(
                TestRequest::post()
                    .uri("/api/v1/user-api-keys")
                    .insert_header(("content-type", "application/json"))
                    .set_payload("{not json"),
            ))
            .await;
        response.assert_known_error(400, "BODY_PARSING_ERROR");
    }

    fn me_is_the_session_user_for_every_access_type(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = app
            .send(user.signed_in(project.server(post_json("/api/v1/user-api-keys", user_key_body("me", "x")))))
            .await
            .assert_ok(200);
        assert_eq!(created["user_id"], user.id.to_string());

        let response = app
            .send(project.server(post_json("/api/v1/user-api-keys", user_key_body("me", "x"))))
            .await;
        response.assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        assert_eq!(
            response.json()["error"],
            "You have specified 'me' as a userId, but did not provide authentication for a user."
        );
        app.send(project.server(get("/api/v1/user-api-keys?user_id=me")))
            .await
            .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        // `me` in the ignored query of a read is still resolved.
        app.send(project.server(get(&format!("/api/v1/user-api-keys/{}?user_id=me", key_id(&created)))))
            .await
            .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");

        let listed = app
            .send(user.signed_in(project.client(get("/api/v1/user-api-keys?user_id=me"))))
            .await
            .assert_ok(200);
        assert_eq!(listed["items"][0]["id"], created["id"]);
    }

    fn clients_need_a_session(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let key = server_user_key(app, &project, user.id, "x").await;
        let requests = [
            project.client(post_json("/api/v1/user-api-keys", user_key_body(user.id, "x"))),
            project.client(post_json("/api/v1/team-api-keys", team_key_body(team, "x"))),
            project.client(get(&format!("/api/v1/user-api-keys?user_id={}", user.id))),
            project.client(get(&format!("/api/v1/team-api-keys?team_id={team}"))),
            project.client(get(&format!("/api/v1/user-api-keys/{}", key_id(&key)))),
            project.client(patch_json(&format!("/api/v1/user-api-keys/{}", key_id(&key)), json!({"revoked": true}))),
        ];
        for request in requests {
            let response = app.send(request).await;
            response.assert_known_error(401, "USER_AUTHENTICATION_REQUIRED");
            assert_eq!(response.json()["error"], "User authentication required for this endpoint.");
        }
    }

    fn check_is_for_server_and_admin_only(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let key = server_user_key(app, &project, user.id, "x").await;
        for body in [json!({"api_key": key_value(&key)}), json!({"nonsense": 1})] {
            let response = app
                .send(user.signed_in(project.client(post_json("/api/v1/user-api-keys/check", body))))
                .await;
            response.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
            assert_eq!(
                response.json(),
                json!({
                    "code": "INSUFFICIENT_ACCESS_TYPE",
                    "details": {"actual_access_type": "client", "allowed_access_types": ["server", "admin"]},
                    "error": "The x-stack-access-type header must be 'server' or 'admin', but was 'client'.",
                })
            );
        }
        app.send(post_json("/api/v1/team-api-keys/check", json!({"api_key": key_value(&key)})))
            .await
            .assert_known_error(400, "ACCESS_TYPE_REQUIRED");
        let checked = app
            .send(project.admin(post_json("/api/v1/user-api-keys/check", json!({"api_key": key_value(&key)}))))
            .await
            .assert_ok(200);
        assert_eq!(checked["user_id"], user.id.to_string());
        let response = app
            .send(project.server(post_json("/api/v1/user-api-keys/check", json!({"api_key": 42}))))
            .await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on POST /api/v1/user-api-keys/check:\n  - body.api_key must be a `string` type, but the final value was: `42`."
        );
    }

    fn check_precedence_is_not_found_wrong_type_revoked_expired(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let expired_and_revoked = app
            .send(project.server(post_json(
                "/api/v1/team-api-keys",
                json!({"team_id": team.to_string(), "description": "x", "expires_at_millis": app.now() - 1}),
            )))
            .await
            .assert_ok(200);
        app.send(project.server(patch_json(
            &format!("/api/v1/team-api-keys/{}?team_id={team}", key_id(&expired_and_revoked)),
            json!({"revoked": true}),
        )))
        .await
        .assert_ok(200);
        let value = key_value(&expired_and_revoked);
        // Wrong type beats revoked and expired.
        let response = app.send(check_request(&project, "user", &value)).await;
        response.assert_known_error(400, "WRONG_API_KEY_TYPE");
        assert_eq!(response.json()["details"], json!({"expected_type": "user", "actual_type": "team"}));
        // Revoked beats expired.
        app.send(check_request(&project, "team", &value)).await.assert_known_error(401, "API_KEY_REVOKED");

        // Not found beats everything: the same key checked in another project.
        let other = app.create_open_project();
        app.send(check_request(&other, "team", &value)).await.assert_known_error(404, "API_KEY_NOT_FOUND");
        app.send(check_request(&other, "user", &value)).await.assert_known_error(404, "API_KEY_NOT_FOUND");

        // A well-formed key with a real id but another secret is not found either.
        let id: ApiKeyId = key_id(&expired_and_revoked).parse().unwrap();
        let forged = PlainApiKey::generate(id, KeyType::Team, false);
        assert!(keygate_domain::parse_api_key(forged.expose_secret()).is_ok());
        app.send(check_request(&project, "team", forged.expose_secret()))
            .await
            .assert_known_error(404, "API_KEY_NOT_FOUND");
    }

    fn expiry_is_an_instant_and_null_means_never(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        // A1: 0 is an instant (1970), not "never".
        let zero = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "zero", "expires_at_millis": 0}),
            )))
            .await
            .assert_ok(200);
        assert_eq!(zero["expires_at_millis"], 0);
        app.send(check_request(&project, "user", &key_value(&zero))).await.assert_known_error(401, "API_KEY_EXPIRED");

        let never = server_user_key(app, &project, user.id, "never").await;
        assert!(never.get("expires_at_millis").is_none());

        let at = app.now() + 10_000;
        let timed = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "timed", "expires_at_millis": at}),
            )))
            .await
            .assert_ok(200);
        app.advance_clock(10_000);
        // Still valid at its expiry instant (strict `expires_at < now`) ...
        app.send(check_request(&project, "user", &key_value(&timed))).await.assert_ok(200);
        app.advance_clock(1);
        // ... expired one millisecond later; the never-expiring key is still valid.
        app.send(check_request(&project, "user", &key_value(&timed))).await.assert_known_error(401, "API_KEY_EXPIRED");
        app.send(check_request(&project, "user", &key_value(&never))).await.assert_ok(200);

        let far = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "far", "expires_at_millis": 9_007_199_254_740_991_i64}),
            )))
            .await
            .assert_ok(200);
        assert_eq!(far["expires_at_millis"], 9_007_199_254_740_991_i64);
        let response = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "x", "expires_at_millis": 1.5}),
            )))
            .await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on POST /api/v1/user-api-keys:\n  - body.expires_at_millis must be an integer"
        );
    }

    fn a_key_read_or_patched_through_the_other_types_route_is_not_found(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let user_key = server_user_key(app, &project, user.id, "user key").await;
        let team_key = server_team_key(app, &project, team, "team key").await;
        let wrong_routes = [
            format!("/api/v1/team-api-keys/{}?team_id={team}", key_id(&user_key)),
            format!("/api/v1/user-api-keys/{}", key_id(&team_key)),
        ];
        for uri in &wrong_routes {
            for request in [
                project.server(get(uri)),
                project.admin(get(uri)),
                user.signed_in(project.client(get(uri))),
                project.server(patch_json(uri, json!({"revoked": true, "description": "changed"}))),
                user.signed_in(project.client(patch_json(uri, json!({"revoked": true})))),
            ] {
                let response = app.send(request).await;
                response.assert_known_error(404, "API_KEY_NOT_FOUND");
            }
        }
        let user_checked = app.send(check_request(&project, "user", &key_value(&user_key))).await.assert_ok(200);
        let team_checked = app.send(check_request(&project, "team", &key_value(&team_key))).await.assert_ok(200);
        assert_eq!(user_checked["description"], "user key");
        assert_eq!(team_checked["description"], "team key");
    }

    fn read_and_update_validate_ids_and_queries(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let team_key = server_team_key(app, &project, team, "t").await;

        let response = app.send(project.server(get("/api/v1/user-api-keys/not-a-uuid"))).await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on GET /api/v1/user-api-keys/not-a-uuid:\n  - params.api_key_id must be a valid UUID"
        );
        let unknown = uuid::Uuid::new_v4();
        app.send(project.server(get(&format!("/api/v1/user-api-keys/{unknown}"))))
            .await
            .assert_known_error(404, "API_KEY_NOT_FOUND");
        app.send(project.server(patch_json(&format!("/api/v1/team-api-keys/{unknown}?team_id={team}"), json!({}))))
            .await
            .assert_known_error(404, "API_KEY_NOT_FOUND");

        // The team routes require team_id, even though read and update ignore it.
        let id = key_id(&team_key);
        let response = app.send(project.server(get(&format!("/api/v1/team-api-keys/{id}")))).await;
        assert_eq!(
            schema_message(&response),
            format!("Request validation failed on GET /api/v1/team-api-keys/{id}:\n  - query.team_id must be defined")
        );
        let response = app.send(project.server(get("/api/v1/team-api-keys"))).await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on GET /api/v1/team-api-keys:\n  - query.team_id must be defined"
        );
        // Any team id will do for read; the stored owner counts.
        let read = app
            .send(project.server(get(&format!("/api/v1/team-api-keys/{id}?team_id={}", uuid::Uuid::new_v4()))))
            .await
            .assert_ok(200);
        assert_eq!(read["team_id"], team.to_string());

        let response = app
            .send(project.server(patch_json(&format!("/api/v1/team-api-keys/{id}?team_id={team}"), json!({"revoked": false}))))
            .await;
        assert_eq!(
            schema_message(&response),
            format!("Request validation failed on PATCH /api/v1/team-api-keys/{id}:\n  - body.revoked must be one of the following values: true")
        );
        let response = app
            .send(project.server(patch_json(
                &format!("/api/v1/team-api-keys/{id}?team_id={team}"),
                json!({"expires_at_millis": null, "is_public": true}),
            )))
            .await;
        assert_eq!(
            schema_message(&response),
            format!("Request validation failed on PATCH /api/v1/team-api-keys/{id}:\n  - body contains unknown properties: expires_at_millis, is_public")
        );
        // `limit` and `cursor` are keygate's optional pagination (tests/limits.rs); any other
        // query property of the list is still unknown, as upstream.
        let response = app
            .send(project.server(get(&format!("/api/v1/user-api-keys?user_id={}&offset=10", user.id))))
            .await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on GET /api/v1/user-api-keys:\n  - query contains unknown properties: offset"
        );
        let response = app
            .send(project.server(post_json("/api/v1/user-api-keys?user_id=x", user_key_body(user.id, "x"))))
            .await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on POST /api/v1/user-api-keys:\n  - query contains unknown properties: user_id"
        );
    }

    fn update_changes_the_description_and_revokes_once(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "before").await;
        let uri = format!("/api/v1/user-api-keys/{}", key_id(&created));

        let unchanged = app.send(project.server(patch_json(&uri, json!({})))).await.assert_ok(200);
        assert_eq!(unchanged["description"], "before");
        assert!(unchanged.get("manually_revoked_at_millis").is_none());

        let renamed = app.send(project.server(patch_json(&uri, json!({"description": ""})))).await.assert_ok(200);
        assert_eq!(renamed["description"], "");
        assert!(renamed.get("manually_revoked_at_millis").is_none());

        app.advance_clock(7);
        let revoked_at = app.now();
        let both = app
            .send(user.signed_in(project.client(patch_json(&uri, json!({"description": "after", "revoked": true})))))
            .await
            .assert_ok(200);
        assert_eq!(both["description"], "after");
        assert_eq!(both["manually_revoked_at_millis"], revoked_at);

        app.advance_clock(7);
        let renamed_again = app
            .send(project.admin(patch_json(&uri, json!({"description": "again", "revoked": true}))))
            .await
            .assert_ok(200);
        assert_eq!(renamed_again["description"], "again");
        assert_eq!(renamed_again["manually_revoked_at_millis"], revoked_at);
        let read = app.send(project.server(get(&uri))).await.assert_ok(200);
        assert_eq!(read, renamed_again);
        assert_eq!(read["value"]["last_four"], &key_value(&created)[98..]);
    }

    fn creating_for_an_owner_the_project_does_not_have_is_a_clear_4xx(app) {
        let project = app.create_open_project();
        let other_project = app.create_open_project();
        let foreign_user = app.create_user(&other_project);
        let foreign_team = app.create_team(&other_project, &[(&foreign_user, &["team_admin"])]);
        for user in [UserId::new_random(), foreign_user.id] {
            let response = app
                .send(project.server(post_json("/api/v1/user-api-keys", user_key_body(user, "x"))))
                .await;
            response.assert_known_error(404, "USER_NOT_FOUND");
        }
        for team in [TeamId::new_random(), foreign_team] {
            let response = app
                .send(project.admin(post_json("/api/v1/team-api-keys", team_key_body(team, "x"))))
                .await;
            response.assert_known_error(404, "TEAM_NOT_FOUND");
            assert_eq!(response.json()["details"], json!({"team_id": team.to_string()}));
        }
        // A client learns nothing about teams it does not manage.
        let user = app.create_user(&project);
        for team in [TeamId::new_random(), foreign_team] {
            app.send(user.signed_in(project.client(post_json("/api/v1/team-api-keys", team_key_body(team, "x")))))
                .await
                .assert_known_error(404, "API_KEY_NOT_FOUND");
        }
        let listed = app
            .send(foreign_user.signed_in(other_project.client(get(&format!("/api/v1/user-api-keys?user_id={}", foreign_user.id)))))
            .await
            .assert_ok(200);
        assert_eq!(listed["items"], json!([]));
    }

    fn team_keys_need_manage_api_keys_recursively(app) {
        let project = app.create_open_project();
        let admin = app.create_user(&project);
        let direct = app.create_user(&project);
        let member = app.create_user(&project);
        let bare = app.create_user(&project);
        let outsider = app.create_user(&project);
        let team = app.create_team(
            &project,
            &[
                (&admin, &["team_admin"]),
                (&direct, &["$manage_api_keys"]),
                (&member, &["team_member"]),
                (&bare, &[]),
            ],
        );
        let key = server_team_key(app, &project, team, "t").await;
        let item = format!("/api/v1/team-api-keys/{}?team_id={team}", key_id(&key));
        for allowed in [&admin, &direct] {
            app.send(allowed.signed_in(project.client(post_json("/api/v1/team-api-keys", team_key_body(team, "mine")))))
                .await
                .assert_ok(200);
            app.send(allowed.signed_in(project.client(get(&format!("/api/v1/team-api-keys?team_id={team}")))))
                .await
                .assert_ok(200);
            app.send(allowed.signed_in(project.client(get(&item)))).await.assert_ok(200);
            app.send(allowed.signed_in(project.client(patch_json(&item, json!({"description": "ok"})))))
                .await
                .assert_ok(200);
        }
        for denied in [&member, &bare, &outsider] {
            for request in [
                project.client(post_json("/api/v1/team-api-keys", team_key_body(team, "no"))),
                project.client(get(&format!("/api/v1/team-api-keys?team_id={team}"))),
                project.client(get(&item)),
                project.client(patch_json(&item, json!({"revoked": true}))),
            ] {
                app.send(denied.signed_in(request)).await.assert_known_error(404, "API_KEY_NOT_FOUND");
            }
        }
        let listed = app
            .send(project.server(get(&format!("/api/v1/team-api-keys?team_id={team}"))))
            .await
            .assert_ok(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 3);
        assert!(listed["items"].as_array().unwrap().iter().all(|k| k.get("manually_revoked_at_millis").is_none()));
    }

    fn lists_are_newest_first_with_revoked_and_expired_keys(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let mut created = Vec::new();
        for (i, expires) in [None, Some(0), None].into_iter().enumerate() {
            let body = json!({"user_id": user.id.to_string(), "description": format!("key {i}"), "expires_at_millis": expires});
            created.push(app.send(project.server(post_json("/api/v1/user-api-keys", body))).await.assert_ok(200));
            app.advance_clock(1);
        }
        app.send(project.server(patch_json(&format!("/api/v1/user-api-keys/{}", key_id(&created[2])), json!({"revoked": true}))))
            .await
            .assert_ok(200);
        let listed = app
            .send(user.signed_in(project.client(get("/api/v1/user-api-keys?user_id=me"))))
            .await
            .assert_ok(200);
        let ids: Vec<String> = listed["items"].as_array().unwrap().iter().map(key_id).collect();
        assert_eq!(ids, [key_id(&created[2]), key_id(&created[1]), key_id(&created[0])]);
        assert!(listed["items"][0]["manually_revoked_at_millis"].is_number());
        assert_eq!(listed["items"][1]["expires_at_millis"], 0);
        for item in listed["items"].as_array().unwrap() {
            assert!(item["value"].is_object(), "list items never show the key");
        }
    }

    fn there_is_no_delete_and_wrong_methods_are_405(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let key = server_user_key(app, &project, user.id, "x").await;
        for request in [
            TestRequest::delete().uri(&format!("/api/v1/user-api-keys/{}", key_id(&key))),
            TestRequest::put().uri("/api/v1/team-api-keys"),
            TestRequest::get().uri("/api/v1/user-api-keys/check"),
            TestRequest::get().uri("/api/v1/integrations/credential-scanning/revoke"),
        ] {
            let response = app.send(project.server(request)).await;
            assert_eq!(response.status.as_u16(), 405, "{}", response.body);
        }
        app.send(check_request(&project, "user", &key_value(&key))).await.assert_ok(200);
    }

    fn created_keys_have_upstreams_format(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let user_key = server_user_key(app, &project, user.id, "x").await;
        let team_key = app
            .send(project.server(post_json(
                "/api/v1/team-api-keys",
                json!({"team_id": team.to_string(), "description": "x", "expires_at_millis": null, "is_public": true}),
            )))
            .await
            .assert_ok(200);
        for (created, key_type, prefix, flag) in [(&user_key, KeyType::User, "sk_", '1'), (&team_key, KeyType::Team, "pk_", '3')] {
            let value = key_value(created);
            assert_eq!(value.len(), 102);
            assert!(value.starts_with(prefix));
            assert!(value.contains("574ck4u7h"));
            let parsed = keygate_domain::parse_api_key(&value).unwrap();
            assert_eq!(parsed.id.to_string(), key_id(created));
            assert_eq!(parsed.key_type, key_type);
            assert_eq!(parsed.scanner_flag, flag);
            assert_eq!(&value[3 + 45..3 + 45 + 32], key_id(created).replace('-', ""));
        }
        assert_ne!(key_value(&user_key), key_value(&server_user_key(app, &project, user.id, "x").await));
    }

    fn credential_scanning_refuses_public_and_expired_keys_and_ignores_switches(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        set_email(app, &project, &user, "user@example.com");
        let public = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "public", "expires_at_millis": null, "is_public": true}),
            )))
            .await
            .assert_ok(200);
        let expired = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "expired", "expires_at_millis": app.now() - 1}),
            )))
            .await
            .assert_ok(200);
        let expired_and_revoked = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "both", "expires_at_millis": app.now() - 1}),
            )))
            .await
            .assert_ok(200);
        app.send(project.server(patch_json(&format!("/api/v1/user-api-keys/{}", key_id(&expired_and_revoked)), json!({"revoked": true}))))
            .await
            .assert_ok(200);
        let live = server_user_key(app, &project, user.id, "live").await;

        let scan = |key: &serde_json::Value| {
            post_json("/api/v1/integrations/credential-scanning/revoke", json!({"api_key": key_value(key)}))
        };
        let response = app.send(scan(&public)).await;
        response.assert_known_error(400, "PUBLIC_API_KEY_CANNOT_BE_REVOKED");
        assert_eq!(response.json()["error"], "Public API keys cannot be revoked by the secretscanner endpoint.");
        app.send(scan(&expired)).await.assert_known_error(401, "API_KEY_EXPIRED");
        // Upstream checks expiry before revocation on this endpoint.
        app.send(scan(&expired_and_revoked)).await.assert_known_error(401, "API_KEY_EXPIRED");
        app.send(check_request(&project, "user", &key_value(&public))).await.assert_ok(200);
        assert!(notices_of(app, &project).is_empty());

        // Switched off: the scanner still revokes (it ignores the switches).
        app.configure_project(&project, json!({"allow_user_api_keys": false})).await;
        assert_eq!(app.send(scan(&live)).await.assert_ok(200), json!({"success": true}));
        assert_eq!(notices_of(app, &project).len(), 1);
        let stored = keygate_storage::repo::api_keys::get(
            &mut app.database().conn(),
            project.id(),
            key_id(&live).parse().unwrap(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(stored.manually_revoked_at_millis, Some(app.now()));

        // Schema errors are upstream's.
        let response = app.send(post_json("/api/v1/integrations/credential-scanning/revoke", json!({}))).await;
        assert_eq!(
            schema_message(&response),
            "Request validation failed on POST /api/v1/integrations/credential-scanning/revoke:\n  - body.api_key must be defined"
        );
    }

    fn credential_scanning_skips_users_without_email_and_notifies_each_address_once(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let key = server_user_key(app, &project, user.id, "no e-mail").await;
        assert_eq!(
            app.send(post_json("/api/v1/integrations/credential-scanning/revoke", json!({"api_key": key_value(&key)})))
                .await
                .assert_ok(200),
            json!({"success": true})
        );
        assert!(notices_of(app, &project).is_empty());
        app.send(check_request(&project, "user", &key_value(&key))).await.assert_known_error(401, "API_KEY_REVOKED");

        // Projects are told apart: another project's notice does not show up here.
        let other = app.create_open_project();
        let other_user = app.create_user(&other);
        set_email(app, &other, &other_user, "other@example.com");
        let other_key = server_user_key(app, &other, other_user.id, "other").await;
        app.send(post_json("/api/v1/integrations/credential-scanning/revoke", json!({"api_key": key_value(&other_key)})))
            .await
            .assert_ok(200);
        assert!(notices_of(app, &project).is_empty());
        assert_eq!(notices_of(app, &other).len(), 1);
        assert_eq!(notices_of(app, &other)[0].dedupe_key, format!("api-key-revoked/{}/other@example.com", key_id(&other_key)));
    }
}
