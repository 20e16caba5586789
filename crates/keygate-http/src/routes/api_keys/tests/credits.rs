//! Usage credits (issue 14, item 3): `remaining_uses` and `refill` set by the server or admin,
//! spent by successful checks (`cost`), refused at 0 with `429 API_KEY_USAGE_EXCEEDED`, and never
//! overspent across nodes (leases taken out of the stored count).

use actix_web::http::StatusCode;
use futures_util::future::join_all;

use super::*;
use crate::routes::test_requests::assert_schema_error;

/// A server-created user key with the given credit fields.
async fn metered_key(app: &TestApp, project: &TestProject, credits: Value) -> Value {
    let user = app.create_user(project);
    let mut body = user_key_body(user.id, "metered");
    for (field, value) in credits.as_object().unwrap() {
        body[field] = value.clone();
    }
    app.send(project.server(post_json("/api/v1/user-api-keys", body)))
        .await
        .assert_ok(200)
}

fn check_costing(project: &TestProject, key: &str, cost: i64) -> TestRequest {
    project.server(post_json(
        "/api/v1/user-api-keys/check",
        json!({"api_key": key, "cost": cost}),
    ))
}

async fn remaining_of(app: &TestApp, project: &TestProject, created: &Value) -> Value {
    app.send(project.server(get(&format!("/api/v1/user-api-keys/{}", key_id(created)))))
        .await
        .assert_ok(200)["remaining_uses"]
        .clone()
}

crate::http_tests! {
    fn checks_spend_credits_until_none_are_left(app) {
        let project = app.create_open_project();
        let created = metered_key(app, &project, json!({"remaining_uses": 4})).await;
        assert_eq!(created["remaining_uses"], 4);
        assert_eq!(created.get("refill"), None);
        let key = key_value(&created);

        let first = app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        assert_eq!(first["remaining_uses"], 3);
        assert_eq!(remaining_of(app, &project, &created).await, 3, "the stored count plus this node's lease");
        let second = app.send(check_costing(&project, &key, 2)).await.assert_ok(200);
        assert_eq!(second["remaining_uses"], 1);
        // More than is left is refused, and spends nothing; a cost of 0 is never refused.
        app.send(check_costing(&project, &key, 2)).await.assert_known_error(429, "API_KEY_USAGE_EXCEEDED");
        let free = app.send(check_costing(&project, &key, 0)).await.assert_ok(200);
        assert_eq!(free["remaining_uses"], 1);
        app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        let refused = app.send(check_request(&project, "user", &key)).await;
        refused.assert_known_error(429, "API_KEY_USAGE_EXCEEDED");
        assert_eq!(refused.json()["error"], "The API key has no usage credits left for this check.");
        assert_eq!(remaining_of(app, &project, &created).await, 0);
        let outcomes = &app.state.service().metrics().check_outcomes;
        assert_eq!(outcomes.get(keygate_domain::KeyType::User, keygate_service::metrics::CheckOutcome::UsageExceeded), 2);

        // Revocation comes first: a revoked key is revoked, credits or not.
        app.send(project.server(patch_json(&format!("/api/v1/user-api-keys/{}", key_id(&created)), json!({"revoked": true}))))
            .await
            .assert_ok(200);
        app.send(check_request(&project, "user", &key)).await.assert_known_error(401, "API_KEY_REVOKED");
        // A key without credits ignores the cost.
        let plain = server_user_key(app, &project, app.create_user(&project).id, "plain").await;
        let unmetered = app.send(check_costing(&project, &key_value(&plain), 1_000)).await.assert_ok(200);
        assert_eq!(unmetered.get("remaining_uses"), None);
    }

    fn a_check_refused_for_credits_does_not_count_against_the_rate_limit(app) {
        let project = app.create_open_project();
        let created = metered_key(app, &project, json!({"remaining_uses": 1, "rate_limit": {"limit": 2, "window_millis": 60_000}})).await;
        let key = key_value(&created);
        let first = app.send(check_request(&project, "user", &key)).await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(first.headers.get("ratelimit-remaining").unwrap(), "1");
        // Refused for credits twice: had these counted, the second would be rate limited.
        for _ in 0..2 {
            app.send(check_request(&project, "user", &key)).await.assert_known_error(429, "API_KEY_USAGE_EXCEEDED");
        }
    }

    fn credits_refill_to_the_amount_each_period(app) {
        let project = app.create_open_project();
        let created = metered_key(app, &project, json!({"refill": {"amount": 3, "interval_millis": 60_000}})).await;
        assert_eq!(created["remaining_uses"], 3, "a refill alone starts with its amount");
        assert_eq!(created["refill"], json!({"amount": 3, "interval_millis": 60_000}));
        let key = key_value(&created);
        for left in [2, 1, 0] {
            assert_eq!(app.send(check_request(&project, "user", &key)).await.assert_ok(200)["remaining_uses"], left);
        }
        app.send(check_request(&project, "user", &key)).await.assert_known_error(429, "API_KEY_USAGE_EXCEEDED");
        // Unused credits do not pile up: the next period starts from the amount again.
        app.advance_clock(60_000);
        assert_eq!(remaining_of(app, &project, &created).await, 3);
        assert_eq!(app.send(check_request(&project, "user", &key)).await.assert_ok(200)["remaining_uses"], 2);
        app.advance_clock(180_000);
        assert_eq!(remaining_of(app, &project, &created).await, 3);
    }

    fn only_the_server_sets_credits_and_they_are_bounded(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let mut body = user_key_body("me", "mine");
        body["remaining_uses"] = json!(10);
        app.send(user.signed_in(project.client(post_json("/api/v1/user-api-keys", body))))
            .await
            .assert_plain_error(403, "Only server or admin access may set an API key's usage credits.");
        for (field, bad, message) in [
            ("remaining_uses", json!(-1), "body.remaining_uses must be greater than or equal to 0"),
            ("remaining_uses", json!(1_000_000_000_001_i64), "body.remaining_uses must be less than or equal to 1000000000000"),
            ("refill", json!({"amount": 0, "interval_millis": 1_000}), "body.refill must be {\"amount\": 1 to 1000000000000, \"interval_millis\": 1000 to 31622400000}"),
            ("refill", json!({"amount": 1, "interval_millis": 999}), "body.refill must be {\"amount\": 1 to 1000000000000, \"interval_millis\": 1000 to 31622400000}"),
        ] {
            let mut body = user_key_body(user.id, "bad");
            body[field] = bad;
            let answer = app.send(project.server(post_json("/api/v1/user-api-keys", body))).await;
            assert_schema_error(&answer, "POST", "/api/v1/user-api-keys", &[message]);
        }
        let created = metered_key(app, &project, json!({"remaining_uses": 1})).await;
        for (cost, message) in [(-1, "body.cost must be greater than or equal to 0"), (1_000_001, "body.cost must be less than or equal to 1000000")] {
            let answer = app.send(check_costing(&project, &key_value(&created), cost)).await;
            assert_schema_error(&answer, "POST", "/api/v1/user-api-keys/check", &[message]);
        }
    }

    fn rotation_moves_the_credits_left_to_the_new_key(app) {
        let project = app.create_open_project();
        let created = metered_key(app, &project, json!({"remaining_uses": 10, "refill": {"amount": 10, "interval_millis": 86_400_000}})).await;
        let key = key_value(&created);
        for _ in 0..3 {
            app.send(check_request(&project, "user", &key)).await.assert_ok(200);
        }
        let rotated = app
            .send(project.server(post_json(&format!("/api/v1/user-api-keys/{}/rotate", key_id(&created)), json!({"grace_period_millis": 60_000}))))
            .await
            .assert_ok(200);
        assert_eq!(rotated["remaining_uses"], 7);
        assert_eq!(rotated["refill"], json!({"amount": 10, "interval_millis": 86_400_000}));
        assert_eq!(remaining_of(app, &project, &created).await, 0, "the old key's credits moved");
        app.send(check_request(&project, "user", &key)).await.assert_known_error(429, "API_KEY_USAGE_EXCEEDED");
        app.send(check_request(&project, "user", &key_value(&rotated))).await.assert_ok(200);
    }

    fn two_nodes_never_overspend_and_lose_nothing(app) {
        let project = app.create_open_project();
        let credits: usize = 100;
        let created = metered_key(app, &project, json!({"remaining_uses": credits})).await;
        let key = key_value(&created);
        let node_b = app.another_node();
        let nodes = [
            actix_web::test::init_service(crate::app::build_app(app.state.clone())).await,
            actix_web::test::init_service(crate::app::build_app(node_b.clone())).await,
        ];
        // `count` checks at once, alternating between the nodes: their leases race for the row.
        let burst = |count: usize| {
            join_all((0..count).map(|n| {
                let request = check_request(&project, "user", &key).to_request();
                let node = &nodes[n % 2];
                async move { actix_web::test::call_service(node, request).await.status() }
            }))
        };
        let passed = |statuses: Vec<StatusCode>| {
            assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
            statuses.iter().filter(|s| **s == StatusCode::OK).count()
        };
        // What each node leased and did not spend goes back (as when idle, or at shutdown).
        let give_back = || {
            for state in [&app.state, &node_b] {
                state.service().key_credits().return_idle(state.service(), app.now(), true).unwrap();
            }
        };
        // Fewer checks than credits: all pass, and the nodes hold some leased credits unspent.
        let first = passed(burst(60).await);
        assert_eq!(first, 60);
        give_back();
        // Far more checks than credits left: never more pass than are left.
        let second = passed(burst(300).await);
        assert!(second <= credits - first, "never more checks than credits: {second}");
        give_back();
        // Whatever a refused node's peer still held comes back and is spent: exactly the
        // credits, no more, no fewer.
        let mut more = 0;
        while app.send_to(&node_b, check_request(&project, "user", &key)).await.status == StatusCode::OK {
            more += 1;
        }
        println!("{credits} credits over two nodes: {first} + {second} of 60 + 300 concurrent checks passed, {more} more after the leases came back");
        assert_eq!(first + second + more, credits, "{first} + {second} at once, {more} after the leases came back");
        app.send(check_request(&project, "user", &key)).await.assert_known_error(429, "API_KEY_USAGE_EXCEEDED");
    }
}
