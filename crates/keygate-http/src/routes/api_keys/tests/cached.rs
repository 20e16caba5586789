//! The check cache (`keygate_service::check_cache`) seen through HTTP: a cached row saves the database
//! round trip but never a verdict, and every write that changes or deletes a key is seen by the
//! very next check on this node.

use keygate_domain::{parse_api_key, ApiKeyId, KeyType, PlainApiKey};
use keygate_storage::repo::api_keys;
use serde_json::json;

use super::*;
use keygate_service::check_cache::CachedLookup;

/// Checks `key` once so its row is cached, and asserts that it is.
async fn check_and_cache(app: &TestApp, project: &TestProject, route: &str, key: &str) {
    app.send(check_request(project, route, key))
        .await
        .assert_ok(200);
    let id = parse_api_key(key).expect("a real key").id;
    assert!(
        matches!(app.state.check_cache().lookup(id), CachedLookup::Found(_)),
        "the check cached the row"
    );
}

crate::http_tests! {
    fn a_revoke_is_seen_by_the_next_check(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "ci").await;
        let key = key_value(&created);
        check_and_cache(app, &project, "user", &key).await;

        let item = format!("/api/v1/user-api-keys/{}", key_id(&created));
        app.send(project.server(patch_json(&item, json!({"revoked": true})))).await.assert_ok(200);
        app.send(check_request(&project, "user", &key)).await.assert_known_error(401, "API_KEY_REVOKED");
    }

    fn a_description_update_is_seen_by_the_next_check(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "before").await;
        let key = key_value(&created);
        check_and_cache(app, &project, "user", &key).await;

        let item = format!("/api/v1/user-api-keys/{}", key_id(&created));
        app.send(project.server(patch_json(&item, json!({"description": "after"})))).await.assert_ok(200);
        let checked = app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        assert_eq!(checked["description"], "after");
    }

    fn a_credential_scanner_revoke_is_seen_by_the_next_check(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let key = key_value(&server_user_key(app, &project, user.id, "leaked").await);
        check_and_cache(app, &project, "user", &key).await;

        app.send(post_json("/api/v1/integrations/credential-scanning/revoke", json!({"api_key": key})))
            .await
            .assert_ok(200);
        app.send(check_request(&project, "user", &key)).await.assert_known_error(401, "API_KEY_REVOKED");
    }

    fn deleting_the_owner_is_seen_by_the_next_check(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let user_key = key_value(&server_user_key(app, &project, user.id, "u").await);
        let team_key = key_value(&server_team_key(app, &project, team, "t").await);
        check_and_cache(app, &project, "user", &user_key).await;
        check_and_cache(app, &project, "team", &team_key).await;

        app.send(project.server(TestRequest::delete().uri(&format!("/api/v1/teams/{team}"))))
            .await
            .assert_ok(200);
        app.send(check_request(&project, "team", &team_key)).await.assert_known_error(404, "API_KEY_NOT_FOUND");
        app.send(project.server(TestRequest::delete().uri(&format!("/api/v1/users/{}", user.id))))
            .await
            .assert_ok(200);
        app.send(check_request(&project, "user", &user_key)).await.assert_known_error(404, "API_KEY_NOT_FOUND");
    }

    fn expiry_is_evaluated_at_check_time_not_cached(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let expires_at = app.now() + 1_000;
        let created = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "soon", "expires_at_millis": expires_at}),
            )))
            .await
            .assert_ok(200);
        let key = key_value(&created);
        check_and_cache(app, &project, "user", &key).await;
        app.advance_clock(1_001);
        app.send(check_request(&project, "user", &key)).await.assert_known_error(401, "API_KEY_EXPIRED");
    }

    fn a_cached_row_still_needs_the_right_key_and_project(app) {
        let project = app.create_open_project();
        let other_project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "ci").await;
        let key = key_value(&created);
        check_and_cache(app, &project, "user", &key).await;

        // Same embedded id, different secret: well-formed, but not the stored key.
        let id: ApiKeyId = key_id(&created).parse().unwrap();
        let forged = PlainApiKey::generate(id, KeyType::User, false);
        assert!(parse_api_key(forged.expose_secret()).is_ok());
        app.send(check_request(&project, "user", forged.expose_secret())).await.assert_known_error(404, "API_KEY_NOT_FOUND");
        // The right key, asked by another project.
        app.send(check_request(&other_project, "user", &key)).await.assert_known_error(404, "API_KEY_NOT_FOUND");
        // And the wrong route type is still refused from the cached row.
        app.send(check_request(&project, "team", &key)).await.assert_known_error(400, "WRONG_API_KEY_TYPE");
    }

    fn well_formed_unknown_keys_are_remembered_as_unknown_on_their_second_miss(app) {
        let project = app.create_open_project();
        let id = ApiKeyId::new_random();
        let unknown = PlainApiKey::generate(id, KeyType::User, false);
        app.send(check_request(&project, "user", unknown.expose_secret())).await.assert_known_error(404, "API_KEY_NOT_FOUND");
        // Seen once: a flood of distinct unknown keys would never be presented again.
        assert_eq!(app.state.check_cache().lookup(id), CachedLookup::Miss);
        app.send(check_request(&project, "user", unknown.expose_secret())).await.assert_known_error(404, "API_KEY_NOT_FOUND");
        assert_eq!(app.state.check_cache().lookup(id), CachedLookup::Unknown);
        app.send(check_request(&project, "user", unknown.expose_secret())).await.assert_known_error(404, "API_KEY_NOT_FOUND");
    }
}

crate::http_tests! {
    fn last_used_is_shown_from_memory_then_from_storage(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "ci").await;
        let key = key_value(&created);
        let item = format!("/api/v1/user-api-keys/{}", key_id(&created));
        let list = format!("/api/v1/user-api-keys?user_id={}", user.id);
        // Never used: left out everywhere.
        let read = app.send(project.server(get(&item))).await.assert_ok(200);
        assert!(read.get("last_used_at_millis").is_none(), "{read}");

        let used_at = app.now();
        let checked = app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        assert_eq!(checked["last_used_at_millis"], used_at);
        // Refused checks are not uses.
        app.advance_clock(500);
        app.send(check_request(&project, "team", &key)).await.assert_known_error(400, "WRONG_API_KEY_TYPE");
        let read = app.send(project.server(get(&item))).await.assert_ok(200);
        assert_eq!(read["last_used_at_millis"], used_at, "pending, from memory");
        // Nothing was written on the check path.
        let id: ApiKeyId = key_id(&created).parse().unwrap();
        assert!(api_keys::last_used(&mut app.database().conn(), &[id]).unwrap().is_empty());

        assert_eq!(app.state.key_usage().flush(app.database()).unwrap(), 1);
        assert_eq!(app.state.key_usage().pending_count(), 0);
        let listed = app.send(project.server(get(&list))).await.assert_ok(200);
        assert_eq!(listed["items"][0]["last_used_at_millis"], used_at, "stored");
        let patched = app
            .send(project.server(patch_json(&item, json!({"description": "renamed"}))))
            .await
            .assert_ok(200);
        assert_eq!(patched["last_used_at_millis"], used_at);
    }

    fn a_use_within_the_precision_of_the_stored_one_is_not_written(app) {
        // The default precision: a minute.
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "ci").await;
        let key = key_value(&created);
        let id: ApiKeyId = key_id(&created).parse().unwrap();
        let item = format!("/api/v1/user-api-keys/{}", key_id(&created));
        let stored = |app: &TestApp| api_keys::last_used(&mut app.database().conn(), &[id]).unwrap();
        let first_use = app.now();
        app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        assert_eq!(app.state.key_usage().flush(app.database()).unwrap(), 1);
        assert_eq!(stored(app)[&id], first_use);

        // 59.999 s later: the check, the read and the store all keep the first use.
        app.advance_clock(59_999);
        let checked = app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        assert_eq!(checked["last_used_at_millis"], first_use);
        assert_eq!(app.state.key_usage().pending_count(), 0);
        let read = app.send(project.server(get(&item))).await.assert_ok(200);
        assert_eq!(read["last_used_at_millis"], first_use);
        assert_eq!(app.state.key_usage().flush(app.database()).unwrap(), 0);
        assert_eq!(stored(app)[&id], first_use);

        // A minute after the stored use: written.
        app.advance_clock(1);
        let later_use = app.now();
        let checked = app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        assert_eq!(checked["last_used_at_millis"], later_use);
        assert_eq!(app.state.key_usage().flush(app.database()).unwrap(), 1);
        assert_eq!(stored(app)[&id], later_use);
    }

    fn a_stored_use_read_by_a_lookup_spares_the_write_of_a_use_near_it(app) {
        // Another node wrote the key's last use; this node learns it when a check looks the key
        // up (its cache is cleared here, as a restarted node's is empty).
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let created = server_user_key(app, &project, user.id, "ci").await;
        let key = key_value(&created);
        let id: ApiKeyId = key_id(&created).parse().unwrap();
        let elsewhere = app.now() - 30_000;
        api_keys::record_last_used(&mut app.database().conn(), &[(id, elsewhere)]).unwrap();
        app.state.check_cache().clear();
        let checked = app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        assert_eq!(checked["last_used_at_millis"], elsewhere);
        assert_eq!(app.state.key_usage().pending_count(), 0, "not written again");
    }
}

/// The project-authentication cache (`keygate_service::project_auth_cache`) seen through the check: it
/// saves the credential and project reads, never an expiry, and a project change made on this
/// node is seen by its very next request.
mod project_authentication {
    use std::time::Duration;

    use super::*;
    use crate::testing::TestProject;
    use keygate_service::project_auth_cache::ProjectAuthCacheSettings;

    crate::http_tests! {
        fn a_switch_change_is_seen_by_the_next_check(app) {
            let project = app.create_open_project();
            let user = app.create_user(&project);
            let key = key_value(&server_user_key(app, &project, user.id, "ci").await);
            check_and_cache(app, &project, "user", &key).await;

            app.configure_project(&project, json!({"allow_user_api_keys": false})).await;
            app.send(check_request(&project, "user", &key))
                .await
                .assert_plain_error(400, "User API keys are not enabled for this project.");
            app.configure_project(&project, json!({"allow_user_api_keys": true})).await;
            app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        }

        fn a_cached_credential_still_expires(app) {
            let project = app.create_open_project();
            let user = app.create_user(&project);
            let key = key_value(&server_user_key(app, &project, user.id, "ci").await);
            let expires_at = app.now() + 1_000;
            let issued = app
                .send(project.admin(post_json(
                    "/api/v1/internal/api-keys",
                    json!({
                        "description": "short-lived",
                        "expires_at_millis": expires_at,
                        "has_publishable_client_key": false,
                        "has_secret_server_key": true,
                        "has_super_secret_admin_key": false,
                    }),
                )))
                .await
                .assert_ok(200);
            let short_lived = TestProject {
                secret_server_key: issued["secret_server_key"].as_str().unwrap().to_owned(),
                ..project.clone()
            };
            // Read once, so the credential is cached; it works through its last millisecond.
            app.send(check_request(&short_lived, "user", &key)).await.assert_ok(200);
            app.advance_clock(1_000);
            app.send(check_request(&short_lived, "user", &key)).await.assert_ok(200);
            app.advance_clock(1);
            app.send(check_request(&short_lived, "user", &key))
                .await
                .assert_known_error(401, "INVALID_SECRET_SERVER_KEY");
            // The project's other credential is unaffected.
            app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        }

        fn another_nodes_project_change_is_seen_within_the_cache_ttl(app) {
            let project = app.create_open_project();
            let user = app.create_user(&project);
            let key = key_value(&server_user_key(app, &project, user.id, "ci").await);
            // Node B shares the database but has caches of its own, which node A's writes do not
            // clear (as for `keygate project update` run by another process).
            let ttl = Duration::from_millis(300);
            let node_b = app
                .state
                .clone()
                .with_project_auth_cache(ProjectAuthCacheSettings { ttl, ..ProjectAuthCacheSettings::default() });
            app.send_to(&node_b, check_request(&project, "user", &key)).await.assert_ok(200);

            app.configure_project(&project, json!({"allow_user_api_keys": false})).await;
            let changed = std::time::Instant::now();
            loop {
                let response = app.send_to(&node_b, check_request(&project, "user", &key)).await;
                if response.status.as_u16() == 400 {
                    response.assert_plain_error(400, "User API keys are not enabled for this project.");
                    break;
                }
                response.assert_ok(200);
                assert!(changed.elapsed() < ttl + Duration::from_millis(200), "still open after the TTL");
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
