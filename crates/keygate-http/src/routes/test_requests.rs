//! Requests and assertions the identity routes' HTTP tests share.

use actix_web::test::TestRequest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::testing::{TestApp, TestProject, TestResponse, TestUser};

/// A JSON request.
pub(crate) fn json_request(method: &str, uri: &str, body: Value) -> TestRequest {
    let request = match method {
        "POST" => TestRequest::post(),
        "PATCH" => TestRequest::patch(),
        "DELETE" => TestRequest::delete(),
        "PUT" => TestRequest::put(),
        _ => TestRequest::get(),
    };
    request.uri(uri).set_json(body)
}

/// Creates a user over HTTP with server access; returns the user object.
pub(crate) async fn create_user(app: &TestApp, project: &TestProject, body: Value) -> Value {
    let response = app
        .send(project.server(json_request("POST", "/api/v1/users", body)))
        .await;
    response.assert_ok(201)
}

/// Opens a session for `user_id` over HTTP; returns `(access_token, refresh_token)`.
pub(crate) async fn open_session(
    app: &TestApp,
    project: &TestProject,
    user_id: &str,
) -> (String, String) {
    let response = app
        .send(project.server(json_request(
            "POST",
            "/api/v1/auth/sessions",
            json!({"user_id": user_id}),
        )))
        .await;
    let body = response.assert_ok(200);
    (
        body["access_token"]
            .as_str()
            .expect("access token")
            .to_owned(),
        body["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned(),
    )
}

/// `request` with `access_token` as the session.
pub(crate) fn with_token(request: TestRequest, access_token: &str) -> TestRequest {
    request.insert_header(("x-stack-access-token", access_token.to_owned()))
}

/// The decoded payload of a JWT (signature not checked, as the SDK reads it).
pub(crate) fn jwt_payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let bytes = URL_SAFE_NO_PAD.decode(payload).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON payload")
}

/// Asserts a `SCHEMA_ERROR` listing exactly `lines` for `method path`.
#[track_caller]
pub(crate) fn assert_schema_error(
    response: &TestResponse,
    method: &str,
    path: &str,
    lines: &[&str],
) {
    response.assert_known_error(400, "SCHEMA_ERROR");
    let expected = format!(
        "Request validation failed on {method} {path}:\n{}",
        lines
            .iter()
            .map(|line| format!("  - {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let body = response.json();
    assert_eq!(body["error"], expected.as_str());
    assert_eq!(body["details"]["message"], expected.as_str());
}

/// Sends every `body` with every method to every `path`, once with server access and once as
/// the signed-in `user` with client access, and asserts that no answer is a server error.
pub(crate) async fn assert_never_a_server_error(
    app: &TestApp,
    project: &TestProject,
    user: &TestUser,
    paths: &[String],
    bodies: &[Value],
) {
    for path in paths {
        for body in bodies {
            for method in ["POST", "PATCH", "GET", "DELETE"] {
                for request in [
                    project.server(json_request(method, path, body.clone())),
                    user.signed_in(project.client(json_request(method, path, body.clone()))),
                ] {
                    let response = app.send(request).await;
                    assert!(
                        response.status.is_client_error() || response.status.is_success(),
                        "{method} {path:.60} {body:.60}: {} {}",
                        response.status,
                        response.body
                    );
                }
            }
        }
    }
}
