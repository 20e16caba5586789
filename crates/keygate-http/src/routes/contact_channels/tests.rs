//! HTTP tests of the contact-channel routes, on SQLite and Postgres.

use actix_web::test::TestRequest;
use keygate_domain::UserId;
use serde_json::json;

use crate::routes::test_requests::{
    assert_schema_error, create_user, json_request, open_session, with_token,
};

fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

crate::http_tests! {
    fn a_users_primary_email_is_its_one_contact_channel(app) {
        let project = app.create_open_project();
        let created = create_user(app, &project, json!({
            "primary_email": "ada@example.com",
            "primary_email_verified": true,
        }))
        .await;
        let user_id = created["id"].as_str().expect("id").to_owned();
        let (access, _) = open_session(app, &project, &user_id).await;
        let mine = || with_token(project.client(get("/api/v1/contact-channels?user_id=me")), &access);

        let listed = app.send(mine()).await.assert_ok(200);
        let channel_id = listed["items"][0]["id"].as_str().expect("channel id").to_owned();
        let channel = json!({
            "id": channel_id,
            "user_id": user_id,
            "type": "email",
            "value": "ada@example.com",
            "is_primary": true,
            "is_verified": true,
            "used_for_auth": false,
        });
        assert_eq!(listed, json!({"items": [channel], "is_paginated": false}));
        let one = format!("/api/v1/contact-channels/me/{channel_id}");
        assert_eq!(
            app.send(with_token(project.client(get(&one)), &access)).await.assert_ok(200),
            channel
        );
        let by_server = format!("/api/v1/contact-channels?user_id={user_id}");
        assert_eq!(app.send(project.server(get(&by_server))).await.assert_ok(200), listed);

        // The channel follows the user's e-mail and keeps its id.
        app.send(project.server(json_request(
            "PATCH",
            &format!("/api/v1/users/{user_id}"),
            json!({"primary_email": "ada@example.org", "primary_email_verified": false}),
        )))
        .await
        .assert_ok(200);
        let listed = app.send(mine()).await.assert_ok(200);
        assert_eq!(listed["items"][0]["id"], channel_id.as_str());
        assert_eq!(listed["items"][0]["value"], "ada@example.org");
        assert_eq!(listed["items"][0]["is_verified"], false);

        let unknown = format!("/api/v1/contact-channels/me/{}", uuid::Uuid::new_v4());
        app.send(with_token(project.client(get(&unknown)), &access))
            .await
            .assert_plain_error(404, "Contact channel not found.");

        // A user without an e-mail has no channel.
        let plain = app.create_user(&project);
        let listed = app
            .send(plain.signed_in(project.client(get("/api/v1/contact-channels?user_id=me"))))
            .await
            .assert_ok(200);
        assert_eq!(listed, json!({"items": [], "is_paginated": false}));
        let their_id = format!("/api/v1/contact-channels/me/{channel_id}");
        app.send(plain.signed_in(project.client(get(&their_id))))
            .await
            .assert_plain_error(404, "Contact channel not found.");
    }

    fn clients_read_only_their_own_contact_channels(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let other = app.create_user(&project);
        let channel = uuid::Uuid::new_v4();
        app.send(user.signed_in(project.client(get(&format!(
            "/api/v1/contact-channels?user_id={}",
            other.id
        )))))
        .await
        .assert_plain_error(403, "Client can only list contact channels for their own user.");
        app.send(user.signed_in(project.client(get(&format!(
            "/api/v1/contact-channels/{}/{channel}",
            other.id
        )))))
        .await
        .assert_plain_error(403, "Client can only read contact channels for their own user.");
        app.send(project.client(get("/api/v1/contact-channels?user_id=me")))
            .await
            .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        app.send(project.server(get(&format!(
            "/api/v1/contact-channels?user_id={}",
            UserId::new_random()
        ))))
        .await
        .assert_known_error(404, "USER_NOT_FOUND");
        let response = app.send(project.server(get("/api/v1/contact-channels"))).await;
        assert_schema_error(&response, "GET", "/api/v1/contact-channels", &["query.user_id must be defined"]);
        let response = app
            .send(user.signed_in(project.client(get("/api/v1/contact-channels/me/x"))))
            .await;
        assert_schema_error(
            &response,
            "GET",
            "/api/v1/contact-channels/me/x",
            &["params.contact_channel_id must be a valid UUID"],
        );
    }
}
