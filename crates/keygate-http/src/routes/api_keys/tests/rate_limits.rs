//! Per-key rate limits (issue 14, item 2): set by the server or admin (or the project's
//! default), enforced by the check with `429 API_KEY_RATE_LIMITED` and the `ratelimit-*` headers,
//! exact on one node and converging across nodes through the stored counts.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use keygate_service::key_rate_limits::KeyPolicySync;

use super::*;
use crate::routes::test_requests::assert_schema_error;
use crate::state::AppState;

const CURRENT: &str = "/api/v1/internal/projects/current";

/// A server-created user key limited to `limit` checks per `window_millis`.
async fn limited_key(
    app: &TestApp,
    project: &TestProject,
    limit: i64,
    window_millis: i64,
) -> Value {
    let user = app.create_user(project);
    let mut body = user_key_body(user.id, "metered");
    body["rate_limit"] = json!({"limit": limit, "window_millis": window_millis});
    app.send(project.server(post_json("/api/v1/user-api-keys", body)))
        .await
        .assert_ok(200)
}

fn header<'a>(response: &'a crate::testing::TestResponse, name: &str) -> Option<&'a str> {
    response
        .headers
        .get(name)
        .map(|value| value.to_str().unwrap())
}

crate::http_tests! {
    fn the_check_admits_the_limit_per_window_then_answers_429(app) {
        let project = app.create_open_project();
        // The window starts on a round instant, so the clock's position in it is known.
        app.advance_clock(1_000 - app.now().rem_euclid(1_000) + 250);
        let created = limited_key(app, &project, 3, 1_000).await;
        assert_eq!(created["rate_limit"], json!({"limit": 3, "window_millis": 1_000}));
        let key = key_value(&created);

        for remaining in ["2", "1", "0"] {
            let passed = app.send(check_request(&project, "user", &key)).await;
            assert_eq!(passed.status, StatusCode::OK, "{}", passed.body);
            assert_eq!(header(&passed, "ratelimit-limit"), Some("3"));
            assert_eq!(header(&passed, "ratelimit-remaining"), Some(remaining));
            assert_eq!(header(&passed, "ratelimit-reset"), Some("1"));
            assert_eq!(header(&passed, "ratelimit-policy"), Some("3;w=1"));
            assert_eq!(passed.json()["rate_limit"], json!({"limit": 3, "window_millis": 1_000}));
        }
        let refused = app.send(check_request(&project, "user", &key)).await;
        refused.assert_known_error(429, "API_KEY_RATE_LIMITED");
        let window_end = app.now() + 750;
        assert_eq!(refused.json()["details"], json!({"limit": 3, "remaining": 0, "reset_at_millis": window_end}));
        assert_eq!(refused.json()["error"], "The API key is over its rate limit of 3 checks per window. Try again in 1 seconds.");
        assert_eq!(header(&refused, "retry-after"), Some("1"));
        assert_eq!(header(&refused, "ratelimit-remaining"), Some("0"));

        // The next window starts over.
        app.advance_clock(750);
        let next = app.send(check_request(&project, "user", &key)).await;
        assert_eq!(next.status, StatusCode::OK);
        assert_eq!(header(&next, "ratelimit-remaining"), Some("2"));
        // A key without a limit carries no such header.
        let plain = server_user_key(app, &project, app.create_user(&project).id, "plain").await;
        let unlimited = app.send(check_request(&project, "user", &key_value(&plain))).await;
        assert_eq!(unlimited.status, StatusCode::OK);
        assert_eq!(header(&unlimited, "ratelimit-limit"), None);
        assert_eq!(unlimited.json().get("rate_limit"), None);
    }

    fn only_checks_that_pass_everything_else_are_counted(app) {
        let project = app.create_open_project();
        let created = limited_key(app, &project, 1, 60_000).await;
        let key = key_value(&created);
        // The wrong route and a missing scope are refused before the limit counts them.
        for _ in 0..3 {
            app.send(check_request(&project, "team", &key)).await.assert_known_error(400, "WRONG_API_KEY_TYPE");
            app.send(project.server(post_json("/api/v1/user-api-keys/check", json!({"api_key": key, "required_scopes": ["x"]}))))
                .await
                .assert_known_error(403, "API_KEY_SCOPE_MISSING");
        }
        app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        app.send(check_request(&project, "user", &key)).await.assert_known_error(429, "API_KEY_RATE_LIMITED");
        // Revocation comes first: a revoked key is revoked, whatever its count.
        app.send(project.server(patch_json(&format!("/api/v1/user-api-keys/{}", key_id(&created)), json!({"revoked": true}))))
            .await
            .assert_ok(200);
        app.send(check_request(&project, "user", &key)).await.assert_known_error(401, "API_KEY_REVOKED");
        let outcomes = &app.state.service().metrics().check_outcomes;
        assert_eq!(outcomes.get(keygate_domain::KeyType::User, keygate_service::metrics::CheckOutcome::RateLimited), 1);
    }

    fn the_server_sets_limits_and_the_project_sets_the_default(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let mut body = user_key_body("me", "mine");
        body["rate_limit"] = json!({"limit": 5, "window_millis": 1_000});
        app.send(user.signed_in(project.client(post_json("/api/v1/user-api-keys", body))))
            .await
            .assert_plain_error(403, "Only server or admin access may set an API key's rate limit.");
        for bad in [json!({"limit": 0, "window_millis": 1_000}), json!({"limit": 1, "window_millis": 99}), json!({"limit": 1}), json!({"limit": 1, "window_millis": 1_000, "burst": 2}), json!(5)] {
            let mut body = user_key_body(user.id, "bad");
            body["rate_limit"] = bad.clone();
            let answer = app.send(project.server(post_json("/api/v1/user-api-keys", body))).await;
            let message = if bad.is_object() {
                "body.rate_limit must be {\"limit\": 1 to 1000000000, \"window_millis\": 100 to 86400000}"
            } else {
                "body.rate_limit must be a `object` type, but the final value was: `5`."
            };
            assert_schema_error(&answer, "POST", "/api/v1/user-api-keys", &[message]);
        }

        // The project's default goes on keys created without a limit, a client's included.
        let patched = app
            .send(project.admin(patch_json(CURRENT, json!({"config": {"api_key_rate_limit": {"limit": 2, "window_millis": 60_000}}}))))
            .await
            .assert_ok(200);
        assert_eq!(patched["config"]["api_key_rate_limit"], json!({"limit": 2, "window_millis": 60_000}));
        let own = app
            .send(user.signed_in(project.client(post_json("/api/v1/user-api-keys", user_key_body("me", "mine")))))
            .await
            .assert_ok(200);
        assert_eq!(own["rate_limit"], json!({"limit": 2, "window_millis": 60_000}));
        // A key's own limit wins over the default.
        let own_limit = limited_key(app, &project, 9, 1_000).await;
        assert_eq!(own_limit["rate_limit"], json!({"limit": 9, "window_millis": 1_000}));
        // `null` removes the default; keys created before keep theirs.
        let cleared = app
            .send(project.admin(patch_json(CURRENT, json!({"config": {"api_key_rate_limit": null}}))))
            .await
            .assert_ok(200);
        assert_eq!(cleared["config"]["api_key_rate_limit"], Value::Null);
        let unlimited = server_user_key(app, &project, user.id, "free").await;
        assert_eq!(unlimited.get("rate_limit"), None);
        let read = app.send(project.server(get(&format!("/api/v1/user-api-keys/{}", key_id(&own))))).await.assert_ok(200);
        assert_eq!(read["rate_limit"], json!({"limit": 2, "window_millis": 60_000}));
        // Rotation carries the limit over.
        let rotated = app
            .send(project.server(post_json(&format!("/api/v1/user-api-keys/{}/rotate", key_id(&own)), json!({}))))
            .await
            .assert_ok(200);
        assert_eq!(rotated["rate_limit"], json!({"limit": 2, "window_millis": 60_000}));
    }

    fn nodes_learn_what_the_others_admitted_at_each_sync(app) {
        let project = app.create_open_project();
        let created = limited_key(app, &project, 5, 60_000).await;
        let key = key_value(&created);
        let node_b = app.another_node();
        for _ in 0..3 {
            app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        }
        // Before a sync node B knows nothing of A's checks.
        let unaware = app.send_to(&node_b, check_request(&project, "user", &key)).await;
        assert_eq!(header(&unaware, "ratelimit-remaining"), Some("4"));
        let sync = |state: &AppState| {
            let service = state.service();
            service.key_rate_limiter().sync(service, app.now()).unwrap();
        };
        sync(&app.state);
        sync(&node_b);
        sync(&app.state);
        // After: 3 on A and 1 on B are 4 of 5, on both nodes; the one left is shared between
        // the two, rounded up: B may take it, and after the next sync nobody may.
        let last = app.send_to(&node_b, check_request(&project, "user", &key)).await;
        assert_eq!(header(&last, "ratelimit-remaining"), Some("0"), "{}", last.body);
        sync(&node_b);
        sync(&app.state);
        app.send(check_request(&project, "user", &key)).await.assert_known_error(429, "API_KEY_RATE_LIMITED");
        app.send_to(&node_b, check_request(&project, "user", &key)).await.assert_known_error(429, "API_KEY_RATE_LIMITED");

        // In the next window both know of the other from the first check: each gets half.
        app.advance_clock(60_000);
        let admitted_by_a = {
            let mut admitted = 0;
            while app.send(check_request(&project, "user", &key)).await.status == StatusCode::OK {
                admitted += 1;
            }
            admitted
        };
        assert_eq!(admitted_by_a, 3, "half of 5, rounded up, before the next sync");
    }

    fn two_saturated_nodes_stay_within_half_a_limit_of_it(app) {
        // The measurement behind docs/benchmarks.md ("Key policies across nodes"): two nodes
        // with their sync threads check one key as fast as they can for a few windows.
        let project = app.create_open_project();
        let limit = 200;
        let created = limited_key(app, &project, limit, 1_000).await;
        let key = key_value(&created);
        let node_b = app.another_node();
        let interval = Duration::from_millis(100);
        let syncs = [
            KeyPolicySync::start(app.state.service().clone(), interval).unwrap(),
            KeyPolicySync::start(node_b.service().clone(), interval).unwrap(),
        ];
        let apps = [
            actix_web::test::init_service(crate::app::build_app(app.state.clone())).await,
            actix_web::test::init_service(crate::app::build_app(node_b.clone())).await,
        ];
        // Real time drives the windows here (the test clock stands still otherwise).
        let start = Instant::now();
        let origin = app.now();
        let mut admitted: std::collections::BTreeMap<i64, [i64; 2]> = Default::default();
        let mut checks = 0;
        while start.elapsed() < Duration::from_millis(3_500) {
            let elapsed = i64::try_from(start.elapsed().as_millis()).unwrap();
            app.advance_clock(origin + elapsed - app.now());
            for (node, service) in apps.iter().enumerate() {
                let request = check_request(&project, "user", &key).to_request();
                let response = actix_web::test::call_service(service, request).await;
                checks += 1;
                if response.status() == StatusCode::OK {
                    admitted.entry((origin + elapsed).div_euclid(1_000)).or_default()[node] += 1;
                }
            }
        }
        for sync in syncs {
            sync.stop().unwrap();
        }
        // Whole windows only: the first and last were cut by the test's start and end.
        let windows: Vec<[i64; 2]> = admitted.values().copied().collect();
        let whole = &windows[1..windows.len() - 1];
        assert!(!whole.is_empty(), "{windows:?}");
        let per_window_rate = checks / 4;
        for [a, b] in whole {
            let total = a + b;
            println!("rate limit {limit}/s over two nodes: admitted {a} + {b} = {total} ({:+} against the limit; {per_window_rate} checks offered per window)", total - limit);
            assert!(total >= limit, "a loaded window admits at least the limit: {windows:?}");
            assert!(total <= limit * 3 / 2, "the shares keep the overshoot under half the limit: {windows:?}");
        }
    }
}
