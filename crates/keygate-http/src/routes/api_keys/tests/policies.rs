//! Key policies (issue 14): scopes from the project's catalogue, checked with
//! `required_scopes`, and server-set metadata returned by the check.

use super::*;
use crate::routes::test_requests::assert_schema_error;

const CURRENT: &str = "/api/v1/internal/projects/current";

/// An open project whose catalogue declares `invoices:read` and `invoices:write`.
async fn project_with_scopes(app: &TestApp) -> TestProject {
    let project = app.create_open_project();
    let catalogue = json!({"config": {"api_key_scopes": [
        {"id": "invoices:read", "description": "Read invoices"},
        {"id": "invoices:write"},
    ]}});
    let patched = app
        .send(project.admin(patch_json(CURRENT, catalogue)))
        .await
        .assert_ok(200);
    assert_eq!(
        patched["config"]["api_key_scopes"],
        json!([
            {"id": "invoices:read", "description": "Read invoices"},
            {"id": "invoices:write", "description": ""},
        ])
    );
    project
}

fn scoped_key_body(user: impl ToString, scopes: Value, metadata: Option<Value>) -> Value {
    let mut body = json!({"user_id": user.to_string(), "description": "billing", "expires_at_millis": null, "scopes": scopes});
    if let Some(metadata) = metadata {
        body["metadata"] = metadata;
    }
    body
}

fn check_with_scopes(project: &TestProject, key: &str, required: Value) -> TestRequest {
    project.server(post_json(
        "/api/v1/user-api-keys/check",
        json!({"api_key": key, "required_scopes": required}),
    ))
}

crate::http_tests! {
    fn every_caller_of_the_project_reads_its_scope_catalogue(app) {
        let project = project_with_scopes(app).await;
        let user = app.create_user(&project);
        let expected = json!({"items": [
            {"id": "invoices:read", "description": "Read invoices"},
            {"id": "invoices:write", "description": ""},
        ], "is_paginated": false});
        for request in [
            user.signed_in(project.client(get("/api/v1/api-key-scopes"))),
            project.client(get("/api/v1/api-key-scopes")),
            project.server(get("/api/v1/api-key-scopes")),
            project.admin(get("/api/v1/api-key-scopes")),
        ] {
            assert_eq!(app.send(request).await.assert_ok(200), expected);
        }
        let other = app.create_open_project();
        let empty = app.send(other.client(get("/api/v1/api-key-scopes"))).await.assert_ok(200);
        assert_eq!(empty, json!({"items": [], "is_paginated": false}), "another project's catalogue is its own");
        app.send(get("/api/v1/api-key-scopes")).await.assert_known_error(400, "ACCESS_TYPE_REQUIRED");
        let answer = app.send(project.client(get("/api/v1/api-key-scopes?x=1"))).await;
        assert_schema_error(&answer, "GET", "/api/v1/api-key-scopes", &["query contains unknown properties: x"]);
    }

    fn the_check_refuses_a_valid_key_without_a_required_scope(app) {
        let project = project_with_scopes(app).await;
        let user = app.create_user(&project);
        let created = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                scoped_key_body(user.id, json!(["invoices:read"]), Some(json!({"plan": "pro", "tenant": 7}))),
            )))
            .await
            .assert_ok(200);
        assert_eq!(created["scopes"], json!(["invoices:read"]));
        assert_eq!(created["metadata"], json!({"plan": "pro", "tenant": 7}));
        let key = key_value(&created);

        let checked = app.send(check_with_scopes(&project, &key, json!(["invoices:read"]))).await.assert_ok(200);
        assert_eq!(checked["user_id"], user.id.to_string());
        assert_eq!(checked["scopes"], json!(["invoices:read"]));
        assert_eq!(checked["metadata"], json!({"plan": "pro", "tenant": 7}), "the owner and the metadata in one call");
        let refused = app
            .send(check_with_scopes(&project, &key, json!(["invoices:write", "invoices:read", "users:read"])))
            .await;
        refused.assert_known_error(403, "API_KEY_SCOPE_MISSING");
        assert_eq!(refused.json()["details"], json!({"missing_scopes": ["invoices:write", "users:read"]}));
        // Without required_scopes (upstream's body) nothing changes.
        app.send(check_request(&project, "user", &key)).await.assert_ok(200);

        // Scopes come after revocation: a revoked key is revoked, whatever it lacks.
        app.send(project.server(patch_json(&format!("/api/v1/user-api-keys/{}", key_id(&created)), json!({"revoked": true}))))
            .await
            .assert_ok(200);
        app.send(check_with_scopes(&project, &key, json!(["invoices:write"])))
            .await
            .assert_known_error(401, "API_KEY_REVOKED");
    }

    fn scopes_come_from_the_catalogue_and_metadata_from_the_server(app) {
        let project = project_with_scopes(app).await;
        let user = app.create_user(&project);
        let unknown = app
            .send(project.server(post_json("/api/v1/user-api-keys", scoped_key_body(user.id, json!(["invoices:read", "users:read"]), None))))
            .await;
        unknown.assert_known_error(400, "SCHEMA_ERROR");
        assert_eq!(
            unknown.json()["error"],
            "body.scopes names scopes that are not in the project's api_key_scopes: users:read"
        );
        let malformed = app
            .send(project.server(post_json("/api/v1/user-api-keys", scoped_key_body(user.id, json!(["two words"]), Some(json!([1]))))))
            .await;
        malformed.assert_known_error(400, "SCHEMA_ERROR");
        let message = malformed.json()["error"].as_str().unwrap().to_owned();
        assert!(message.contains("\n  - body.scopes [0] must be a scope id (1 to 64 letters, digits, _ - . :)\n"), "{message}");
        assert!(message.contains("\n  - body.metadata must be a `object` type"), "{message}");

        // A client may create its own scoped key, but not set metadata, and never sees it.
        let own = app
            .send(user.signed_in(project.client(post_json("/api/v1/user-api-keys", scoped_key_body("me", json!(["invoices:write"]), None)))))
            .await
            .assert_ok(200);
        assert_eq!(own["scopes"], json!(["invoices:write"]));
        app.send(user.signed_in(project.client(post_json("/api/v1/user-api-keys", scoped_key_body("me", json!([]), Some(json!({"plan": "free"})))))))
            .await
            .assert_plain_error(403, "Only server or admin access may set an API key's metadata.");
        let by_server = app
            .send(project.server(post_json("/api/v1/user-api-keys", scoped_key_body(user.id, json!([]), Some(json!({"plan": "pro"}))))))
            .await
            .assert_ok(200);
        let as_client = app
            .send(user.signed_in(project.client(get(&format!("/api/v1/user-api-keys/{}", key_id(&by_server))))))
            .await
            .assert_ok(200);
        assert_eq!(as_client.get("metadata"), None, "the server's metadata is not the client's to see");
        assert_eq!(as_client["scopes"], json!([]));
        let as_server = app
            .send(project.server(get(&format!("/api/v1/user-api-keys/{}", key_id(&by_server)))))
            .await
            .assert_ok(200);
        assert_eq!(as_server["metadata"], json!({"plan": "pro"}));

        // The creation is audited with its scopes, never its metadata's secrets or the key.
        let audit = app
            .send(project.admin(get(&format!("/api/v1/internal/audit-log?object_id={}", key_id(&own)))))
            .await
            .assert_ok(200);
        assert_eq!(audit["items"][0]["metadata"]["scopes"], json!(["invoices:write"]));
    }

    fn the_catalogue_is_validated(app) {
        let project = app.create_open_project();
        let bad = app
            .send(project.admin(patch_json(CURRENT, json!({"config": {"api_key_scopes": [{"id": "a b"}, {"id": "x", "extra": 1}]}}))))
            .await;
        assert_schema_error(&bad, "PATCH", CURRENT, &[
            "body.config.api_key_scopes [0] needs an id: 1 to 64 letters, digits, _ - . :",
        ]);
        let repeated = app
            .send(project.admin(patch_json(CURRENT, json!({"config": {"api_key_scopes": [{"id": "x"}, {"id": "x"}]}}))))
            .await;
        assert_schema_error(&repeated, "PATCH", CURRENT, &["body.config.api_key_scopes [1] repeats a scope id"]);
    }
}
