//! HTTP tests of the payment routes, on SQLite and Postgres.

use actix_web::test::TestRequest;
use keygate_domain::{TeamId, UserId};
use serde_json::json;

use crate::routes::test_requests::assert_schema_error;

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

crate::http_tests! {
    fn a_project_without_payments_answers_as_upstreams_does(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let billing = json!({"has_customer": false, "default_payment_method": null});
        let products = json!({"items": [], "is_paginated": true, "pagination": {"next_cursor": null}});
        for (path, expected) in [
            (format!("/api/v1/payments/billing/user/{}", user.id), &billing),
            (format!("/api/v1/payments/billing/team/{team}"), &billing),
            (format!("/api/v1/payments/products/user/{}?limit=1", user.id), &products),
            (format!("/api/v1/payments/products/team/{team}"), &products),
        ] {
            assert_eq!(app.send(user.signed_in(project.client(get(&path)))).await.assert_ok(200), *expected);
            assert_eq!(app.send(project.server(get(&path))).await.assert_ok(200), *expected);
        }
        // A server may ask about a customer of its own naming.
        assert_eq!(
            app.send(project.server(get("/api/v1/payments/products/custom/acme"))).await.assert_ok(200),
            products
        );
        // There are no products, so no cursor names one.
        let with_cursor = format!("/api/v1/payments/products/user/{}?cursor=pro-plan", user.id);
        app.send(project.server(get(&with_cursor)))
            .await
            .assert_plain_error(400, "Invalid cursor");
    }

    fn clients_ask_only_about_themselves_and_teams_they_administer(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let other = app.create_user(&project);
        let member_of = app.create_team(&project, &[(&user, &["team_member"])]);
        let stranger_to = app.create_team(&project, &[(&other, &["team_admin"])]);
        let ask = |path: String| user.signed_in(project.client(get(&path)));

        app.send(ask(format!("/api/v1/payments/billing/user/{}", other.id)))
            .await
            .assert_plain_error(403, "Clients can only manage their own billing.");
        app.send(ask(format!("/api/v1/payments/products/user/{}", other.id)))
            .await
            .assert_plain_error(403, "Clients can only access their own user or team products.");
        app.send(ask("/api/v1/payments/products/custom/acme".to_owned()))
            .await
            .assert_plain_error(403, "Clients can only access their own user or team products.");
        let response = app.send(ask(format!("/api/v1/payments/billing/team/{member_of}"))).await;
        response.assert_known_error(401, "TEAM_PERMISSION_REQUIRED");
        assert_eq!(response.json()["details"]["permission_id"], "team_admin");
        app.send(ask(format!("/api/v1/payments/products/team/{stranger_to}")))
            .await
            .assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
        app.send(project.client(get(&format!("/api/v1/payments/billing/user/{}", user.id))))
            .await
            .assert_known_error(401, "USER_AUTHENTICATION_REQUIRED");

        // The products list checks the customer exists; billing does not.
        app.send(project.server(get(&format!("/api/v1/payments/products/user/{}", UserId::new_random()))))
            .await
            .assert_known_error(404, "USER_NOT_FOUND");
        app.send(project.server(get(&format!("/api/v1/payments/products/team/{}", TeamId::new_random()))))
            .await
            .assert_known_error(404, "TEAM_NOT_FOUND");
        app.send(project.server(get(&format!("/api/v1/payments/billing/user/{}", UserId::new_random()))))
            .await
            .assert_ok(200);

        let path = "/api/v1/payments/billing/custom/acme";
        let response = app.send(project.server(get(path))).await;
        assert_schema_error(&response, "GET", path, &["params.customer_type must be one of the following values: user, team"]);
        let path = "/api/v1/payments/products/user/me";
        let response = app.send(ask(path.to_owned())).await;
        assert_schema_error(&response, "GET", path, &["params.customer_id must be a valid UUID"]);
        let path = format!("/api/v1/payments/products/user/{}", user.id);
        let response = app.send(ask(format!("{path}?limit=0"))).await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        let response = app.send(ask(format!("{path}?limit=101"))).await;
        response.assert_known_error(400, "SCHEMA_ERROR");
    }
}
