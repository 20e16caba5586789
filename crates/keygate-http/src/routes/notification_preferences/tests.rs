//! HTTP tests of the notification-preference route, on SQLite and Postgres.

use actix_web::test::TestRequest;
use keygate_domain::UserId;
use serde_json::json;

crate::http_tests! {
    fn a_user_gets_keygates_transactional_notices_and_nothing_else(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let expected = json!({
            "items": [{
                "notification_category_id": "7bb82d33-2f54-4a3d-9d23-82739e0d66ef",
                "notification_category_name": "Transactional",
                "enabled": true,
                "can_disable": false,
            }],
            "is_paginated": false,
        });
        for request in [
            user.signed_in(project.client(TestRequest::get().uri("/api/v1/emails/notification-preference/me"))),
            user.signed_in(project.client(TestRequest::get().uri(&format!(
                "/api/v1/emails/notification-preference/{}",
                user.id
            )))),
            project.server(TestRequest::get().uri(&format!(
                "/api/v1/emails/notification-preference/{}",
                user.id
            ))),
        ] {
            assert_eq!(app.send(request).await.assert_ok(200), expected);
        }
    }

    fn clients_read_only_their_own_notification_preferences(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let other = app.create_user(&project);
        let others = format!("/api/v1/emails/notification-preference/{}", other.id);
        app.send(user.signed_in(project.client(TestRequest::get().uri(&others))))
            .await
            .assert_plain_error(403, "You can only view your own notification preferences");
        app.send(project.client(TestRequest::get().uri(&others)))
            .await
            .assert_known_error(401, "USER_AUTHENTICATION_REQUIRED");
        app.send(project.server(TestRequest::get().uri(&format!(
            "/api/v1/emails/notification-preference/{}",
            UserId::new_random()
        ))))
        .await
        .assert_known_error(404, "USER_NOT_FOUND");
    }
}
