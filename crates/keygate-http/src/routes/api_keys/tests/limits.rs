//! The caps on what one caller may store through the key routes (issue 12): the description's
//! length, the keys of one owner, and the optional cursor pagination of a list.

use keygate_service::Limits;
use serde_json::json;

use super::*;
use crate::request_body::BodyLimits;
use crate::routes::test_requests::assert_schema_error;
use crate::state::AppState;

/// The app's state with `limits` (and the default body limits).
fn with_limits(app: &TestApp, limits: Limits) -> AppState {
    app.state.clone().with_limits(limits, BodyLimits::default())
}

/// The ids of a list answer's items, in order.
fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(key_id)
        .collect()
}

crate::http_tests! {
    fn a_description_over_the_cap_is_refused_in_upstreams_words(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let max = Limits::default().max_description_chars;
        // What issue 12 sent: a 4 MiB description (under the 4 MiB body limit once the other
        // fields are counted, so it is the cap that refuses it).
        let huge = "d".repeat(4 * 1024 * 1024 - 200);
        for description in [huge, "d".repeat(max + 1)] {
            let response = app
                .send(project.server(post_json("/api/v1/user-api-keys", user_key_body(user.id, &description))))
                .await;
            assert_schema_error(&response, "POST", "/api/v1/user-api-keys", &[
                &format!("body.description must be at most {max} characters"),
            ]);
        }
        // Exactly at the cap, counted as JavaScript does ('€' is one unit, '😀' two).
        let at_cap = format!("{}😀", "€".repeat(max - 2));
        let created = app
            .send(project.server(post_json("/api/v1/user-api-keys", user_key_body(user.id, &at_cap))))
            .await
            .assert_ok(200);
        // The update has the same cap.
        let item = format!("/api/v1/user-api-keys/{}", key_id(&created));
        let response = app
            .send(project.server(patch_json(&item, json!({"description": "d".repeat(max + 1)}))))
            .await;
        assert_schema_error(&response, "PATCH", &item, &[
            &format!("body.description must be at most {max} characters"),
        ]);
        // A smaller setting is what the message names.
        let small = with_limits(app, Limits { max_description_chars: 5, ..Limits::default() });
        let response = app
            .send_to(&small, project.server(post_json("/api/v1/user-api-keys", user_key_body(user.id, "123456"))))
            .await;
        assert_schema_error(&response, "POST", "/api/v1/user-api-keys", &[
            "body.description must be at most 5 characters",
        ]);
    }

    fn the_key_after_the_cap_is_refused_for_users_and_teams(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let other = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let capped = with_limits(app, Limits { max_keys_per_owner: 3, ..Limits::default() });
        for n in 0..3 {
            let created = app
                .send_to(&capped, project.server(post_json("/api/v1/user-api-keys", user_key_body(user.id, &format!("k{n}")))))
                .await
                .assert_ok(200);
            // Revoked keys still count: keys are never deleted, so only counting all of them
            // bounds the list.
            if n == 0 {
                app.send_to(&capped, project.server(patch_json(
                    &format!("/api/v1/user-api-keys/{}", key_id(&created)),
                    json!({"revoked": true}),
                )))
                .await
                .assert_ok(200);
            }
        }
        for request in [
            project.server(post_json("/api/v1/user-api-keys", user_key_body(user.id, "one too many"))),
            user.signed_in(project.client(post_json("/api/v1/user-api-keys", user_key_body("me", "one too many")))),
        ] {
            let response = app.send_to(&capped, request).await;
            response.assert_known_error(409, "API_KEY_LIMIT_REACHED");
            assert_eq!(response.json()["details"], json!({"limit": 3}));
        }
        // Another owner is not affected, and neither are teams until they reach theirs.
        app.send_to(&capped, project.server(post_json("/api/v1/user-api-keys", user_key_body(other.id, "x"))))
            .await
            .assert_ok(200);
        for n in 0..3 {
            app.send_to(&capped, project.server(post_json("/api/v1/team-api-keys", team_key_body(team, &format!("t{n}")))))
                .await
                .assert_ok(200);
        }
        app.send_to(&capped, project.server(post_json("/api/v1/team-api-keys", team_key_body(team, "t3"))))
            .await
            .assert_known_error(409, "API_KEY_LIMIT_REACHED");
        let listed = app
            .send(project.server(get(&format!("/api/v1/user-api-keys?user_id={}", user.id))))
            .await
            .assert_ok(200);
        assert_eq!(ids(&listed).len(), 3, "nothing was stored past the cap");
        // An unknown owner is still not found, not "limit reached".
        app.send_to(&capped, project.server(post_json("/api/v1/user-api-keys", user_key_body(UserId::new_random(), "x"))))
            .await
            .assert_known_error(404, "USER_NOT_FOUND");
    }

    fn concurrent_creates_never_overshoot_the_cap(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let capped = with_limits(app, Limits { max_keys_per_owner: 5, ..Limits::default() });
        let creates = (0..12).map(|n| {
            app.send_to(&capped, project.server(post_json("/api/v1/user-api-keys", user_key_body(user.id, &format!("k{n}")))))
        });
        let answers = futures_join_all(creates).await;
        let created = answers.iter().filter(|answer| answer.status.as_u16() == 200).count();
        assert_eq!(created, 5, "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
        for answer in answers.iter().filter(|answer| answer.status.as_u16() != 200) {
            answer.assert_known_error(409, "API_KEY_LIMIT_REACHED");
        }
    }

    fn pages_walk_every_key_once_newest_first(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        // Seven keys over four instants: ties are ordered by id, as in the unpaginated list.
        for n in 0..7 {
            server_user_key(app, &project, user.id, &format!("k{n}")).await;
            if n % 2 == 0 {
                app.advance_clock(1);
            }
        }
        let base = format!("/api/v1/user-api-keys?user_id={}", user.id);
        let everything = app.send(project.server(get(&base))).await.assert_ok(200);
        // Upstream's shape, exactly, when no page is asked for.
        assert_eq!(field_names(&everything), ["is_paginated", "items"]);
        assert_eq!(everything["is_paginated"], false);
        let all_ids = ids(&everything);
        assert_eq!(all_ids.len(), 7);

        for limit in [1, 2, 3, 7, 100] {
            let mut walked = Vec::new();
            let mut uri = format!("{base}&limit={limit}");
            loop {
                let page = app.send(project.server(get(&uri))).await.assert_ok(200);
                assert_eq!(page["is_paginated"], true);
                let page_ids = ids(&page);
                assert!(page_ids.len() <= limit);
                walked.extend(page_ids);
                match page["pagination"]["next_cursor"].as_str() {
                    Some(cursor) => uri = format!("{base}&limit={limit}&cursor={cursor}"),
                    None => {
                        assert!(page["pagination"]["next_cursor"].is_null());
                        break;
                    }
                }
            }
            assert_eq!(walked, all_ids, "limit {limit}: every key once, in order");
        }
        // A key created during a walk is never listed twice.
        let first = app.send(project.server(get(&format!("{base}&limit=3")))).await.assert_ok(200);
        app.advance_clock(1);
        server_user_key(app, &project, user.id, "new").await;
        let cursor = first["pagination"]["next_cursor"].as_str().unwrap();
        let second = app
            .send(project.server(get(&format!("{base}&limit=3&cursor={cursor}"))))
            .await
            .assert_ok(200);
        assert_eq!(ids(&second), all_ids[3..6]);
        // Clients page their own keys too; the team route pages alike.
        let own = app
            .send(user.signed_in(project.client(get("/api/v1/user-api-keys?user_id=me&limit=1"))))
            .await
            .assert_ok(200);
        assert_eq!(ids(&own).len(), 1);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        server_team_key(app, &project, team, "t").await;
        let team_page = app
            .send(project.server(get(&format!("/api/v1/team-api-keys?team_id={team}&limit=5"))))
            .await
            .assert_ok(200);
        assert_eq!(ids(&team_page).len(), 1);
        assert_eq!(team_page["pagination"], json!({"next_cursor": null}));
    }

    fn pagination_parameters_are_validated(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let base = format!("/api/v1/user-api-keys?user_id={}", user.id);
        let path = "/api/v1/user-api-keys";
        let max = Limits::default().max_page_size;
        for (query, line) in [
            ("limit=0", "query.limit must be greater than or equal to 1".to_owned()),
            (&*format!("limit={}", max + 1), format!("query.limit must be less than or equal to {max}")),
            ("limit=1.5", "query.limit must be an integer".to_owned()),
            ("limit=ten", "query.limit must be a `number` type, but the final value was: `NaN` (cast from the value `\"ten\"`).".to_owned()),
            ("limit=2&cursor=nope", "query.cursor must be a next_cursor from a previous page".to_owned()),
        ] {
            let response = app.send(project.server(get(&format!("{base}&{query}")))).await;
            assert_schema_error(&response, "GET", path, &[&line]);
        }
        // Hostile values are refused, never a server error.
        let overflowing = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!("99999999999999999999.{}", UserId::new_random()),
        );
        let extreme = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!("{}.{}", i64::MIN, UserId::new_random()),
        );
        for query in [
            "limit=1e308".to_owned(),
            "limit=-1".to_owned(),
            "limit=Infinity".to_owned(),
            "limit=".to_owned(),
            format!("limit=1&cursor={overflowing}"),
            format!("cursor={}", "%FF".repeat(1_000)),
        ] {
            let response = app.send(project.server(get(&format!("{base}&{query}")))).await;
            response.assert_known_error(400, "SCHEMA_ERROR");
        }
        // A well-formed cursor from nowhere is just a position: an empty last page.
        let page = app
            .send(project.server(get(&format!("{base}&limit=5&cursor={extreme}"))))
            .await
            .assert_ok(200);
        assert_eq!(page["items"], json!([]));
        assert_eq!(page["pagination"]["next_cursor"], Value::Null);
        // Only the list takes them: reading one key refuses them as unknown, as upstream does.
        let created = server_user_key(app, &project, user.id, "k").await;
        let item = format!("/api/v1/user-api-keys/{}", key_id(&created));
        let response = app.send(project.server(get(&format!("{item}?limit=1")))).await;
        assert_schema_error(&response, "GET", &item, &["query contains unknown properties: limit"]);
    }
}

/// Runs every future to completion concurrently (in one task, interleaved at their awaits).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    // `actix_web::rt` has no join_all; a local set of spawned tasks would need 'static, so poll
    // them together by hand.
    let mut pending: Vec<Option<_>> = handles.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all_done = true;
        for (slot, result) in pending.iter_mut().zip(results.iter_mut()) {
            if let Some(future) = slot {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(output) => {
                        *result = Some(output);
                        *slot = None;
                    }
                    std::task::Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.extend(
        results
            .into_iter()
            .map(|r| r.expect("every future finished")),
    );
    outputs
}
