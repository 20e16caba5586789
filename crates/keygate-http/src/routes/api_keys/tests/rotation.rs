//! Rotation (issue 14, item 4): `POST /{type}-api-keys/{id}/rotate` hands out a new key with the
//! old one's owner, description, expiry, scopes and metadata, and retires the old key after the
//! grace period (or at once).

use keygate_service::Limits;

use super::*;
use crate::request_body::BodyLimits;
use crate::routes::test_requests::assert_schema_error;

/// `POST /{route}-api-keys/{id}/rotate{query}`.
fn rotate(route: &str, id: &str, query: &str, body: Value) -> TestRequest {
    post_json(
        &format!("/api/v1/{route}-api-keys/{id}/rotate{query}"),
        body,
    )
}

crate::http_tests! {
    fn a_rotated_key_keeps_working_for_the_grace_period_only(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let old = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "deploys", "expires_at_millis": app.now() + 86_400_000, "metadata": {"plan": "pro"}}),
            )))
            .await
            .assert_ok(200);
        let old_key = key_value(&old);
        // Checked once, so the check cache holds the old row: the rotation must reach it.
        app.send(check_request(&project, "user", &old_key)).await.assert_ok(200);

        let new = app
            .send(project.server(rotate("user", &key_id(&old), "", json!({"grace_period_millis": 60_000}))))
            .await
            .assert_ok(200);
        let new_key = key_value(&new);
        assert_ne!(new_key, old_key);
        assert_ne!(key_id(&new), key_id(&old));
        for field in ["description", "user_id", "type", "is_public", "expires_at_millis", "scopes", "metadata"] {
            assert_eq!(new[field], old[field], "{field} is carried over");
        }
        assert_eq!(new["created_at_millis"], app.now());

        // Both work during the grace period; the old one now expires at its end.
        app.send(check_request(&project, "user", &new_key)).await.assert_ok(200);
        let during = app.send(check_request(&project, "user", &old_key)).await.assert_ok(200);
        assert_eq!(during["expires_at_millis"], app.now() + 60_000);
        app.advance_clock(60_001);
        app.send(check_request(&project, "user", &old_key)).await.assert_known_error(401, "API_KEY_EXPIRED");
        app.send(check_request(&project, "user", &new_key)).await.assert_ok(200);

        // An expired key is not rotated again.
        app.send(project.server(rotate("user", &key_id(&old), "", json!({}))))
            .await
            .assert_known_error(401, "API_KEY_EXPIRED");
        // The audit log has the rotation, from the old key to the new one.
        let events = app
            .send(project.admin(get("/api/v1/internal/audit-log?action=user_api_key.rotated")))
            .await
            .assert_ok(200);
        let event = &events["items"][0];
        assert_eq!(event["object_id"], key_id(&old));
        assert_eq!(event["metadata"]["rotated_to"], key_id(&new));
        assert_eq!(event["metadata"]["grace_period_millis"], 60_000);
    }

    fn without_a_grace_period_the_old_key_is_revoked_at_once(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let old = server_team_key(app, &project, team, "ops").await;
        let old_key = key_value(&old);
        app.send(check_request(&project, "team", &old_key)).await.assert_ok(200);

        // The owner's team admin may rotate it (whoever may update it), with client access.
        let new = app
            .send(user.signed_in(project.client(rotate("team", &key_id(&old), &format!("?team_id={team}"), json!({})))))
            .await
            .assert_ok(200);
        assert_eq!(new["team_id"], team.to_string());
        app.send(check_request(&project, "team", &old_key)).await.assert_known_error(401, "API_KEY_REVOKED");
        app.send(check_request(&project, "team", &key_value(&new))).await.assert_ok(200);
        let read = app
            .send(project.server(get(&format!("/api/v1/team-api-keys/{}?team_id={team}", key_id(&old)))))
            .await
            .assert_ok(200);
        assert_eq!(read["manually_revoked_at_millis"], app.now());
        // A revoked key is not rotated.
        app.send(project.server(rotate("team", &key_id(&old), &format!("?team_id={team}"), json!({"grace_period_millis": 0}))))
            .await
            .assert_known_error(401, "API_KEY_REVOKED");
        let revoked = app
            .send(project.admin(get("/api/v1/internal/audit-log?action=team_api_key.revoked")))
            .await
            .assert_ok(200);
        assert_eq!(revoked["items"][0]["metadata"]["reason"], "rotated");
    }

    fn rotation_is_for_whoever_may_update_the_key_and_bounded(app) {
        let project = app.create_open_project();
        let owner = app.create_user(&project);
        let stranger = app.create_user(&project);
        let created = server_user_key(app, &project, owner.id, "mine").await;
        let id = key_id(&created);

        // Another user's key: the same answer as its PATCH.
        let patch_answer = app
            .send(stranger.signed_in(project.client(patch_json(&format!("/api/v1/user-api-keys/{id}"), json!({"description": "x"})))))
            .await;
        let rotate_answer = app
            .send(stranger.signed_in(project.client(rotate("user", &id, "", json!({})))))
            .await;
        assert_eq!(rotate_answer.status, patch_answer.status);
        assert_eq!(rotate_answer.body, patch_answer.body);
        // The other type's route and an unknown id are not found.
        app.send(project.server(rotate("team", &id, &format!("?team_id={}", uuid::Uuid::new_v4()), json!({}))))
            .await
            .assert_known_error(404, "API_KEY_NOT_FOUND");
        app.send(project.server(rotate("user", &uuid::Uuid::new_v4().to_string(), "", json!({}))))
            .await
            .assert_known_error(404, "API_KEY_NOT_FOUND");

        let max = Limits::default().max_rotation_grace_millis;
        for (body, message) in [
            (json!({"grace_period_millis": -1}), "body.grace_period_millis must be greater than or equal to 0".to_owned()),
            (json!({"grace_period_millis": max + 1}), format!("body.grace_period_millis must be less than or equal to {max}")),
            (json!({"grace_period_millis": "soon"}), "body.grace_period_millis must be a `number` type, but the final value was: `\"soon\"`.".to_owned()),
            (json!({"revoked": true}), "body contains unknown properties: revoked".to_owned()),
        ] {
            let answer = app.send(project.server(rotate("user", &id, "", body))).await;
            assert_schema_error(&answer, "POST", &format!("/api/v1/user-api-keys/{id}/rotate"), &[&message]);
        }
        // Still the only key: nothing above rotated it.
        let listed = app
            .send(project.server(get(&format!("/api/v1/user-api-keys?user_id={}", owner.id))))
            .await
            .assert_ok(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);

        // The new key counts towards the owner's cap like any create.
        let capped = app.state.clone().with_limits(
            Limits { max_keys_per_owner: 1, ..Limits::default() },
            BodyLimits::default(),
        );
        app.send_to(&capped, project.server(rotate("user", &id, "", json!({}))))
            .await
            .assert_known_error(409, "API_KEY_LIMIT_REACHED");
        // Refused as a whole: the old key still works.
        app.send(check_request(&project, "user", &key_value(&created))).await.assert_ok(200);
    }
}
