//! HTTP tests of the API-key routes, each on SQLite and Postgres.
//!
//! * [`upstream`] mirrors upstream's e2e tests (`api-keys.test.ts`, `credential-scanning`);
//! * [`rules`] covers the rest of B2/B6 and keygate's A1 decisions;
//! * [`matrix`] proves isolation: every endpoint × access type × owner across two projects;
//! * [`without_database`] proves that malformed keys are answered without a database query;
//! * [`secrets_at_rest`] proves no full key is stored or logged;
//! * [`hostile`] throws garbage at every endpoint and expects no 5xx;
//! * [`cached`] proves the check cache never answers for a key that changed;
//! * [`change_feed`] covers the stream of key changes protected services' clients follow;
//! * [`limits`] proves the description and per-owner caps and the cursor pagination;
//! * [`policies`] covers scopes (catalogue, create, `required_scopes`) and metadata;
//! * [`credits`] covers usage credits: spending, refills, rotation, and two nodes;
//! * [`rate_limits`] covers per-key rate limits, on one node and across two;
//! * [`rotation`] covers rotation with and without a grace period.

mod cached;
mod change_feed;
mod creates;
mod credits;
mod hostile;
mod limits;
mod matrix;
mod policies;
mod rate_limits;
mod rotation;
mod rules;
mod secrets_at_rest;
mod statement_watch;
mod upstream;
mod without_database;

use actix_web::test::TestRequest;
use keygate_domain::{TeamId, UserId};
use keygate_storage::repo::notification_outbox::{self, NotificationRecord};
use keygate_storage::repo::users::{self, UserUpdate};
use serde_json::{json, Value};

use crate::testing::{TestApp, TestProject, TestUser};

/// `POST uri` with a JSON body.
fn post_json(uri: &str, body: Value) -> TestRequest {
    TestRequest::post().uri(uri).set_json(body)
}

/// `PATCH uri` with a JSON body.
fn patch_json(uri: &str, body: Value) -> TestRequest {
    TestRequest::patch().uri(uri).set_json(body)
}

/// `GET uri`.
fn get(uri: &str) -> TestRequest {
    TestRequest::get().uri(uri)
}

/// A user-key create body that never expires.
fn user_key_body(user: impl ToString, description: &str) -> Value {
    json!({"user_id": user.to_string(), "description": description, "expires_at_millis": null})
}

/// A team-key create body that never expires.
fn team_key_body(team: TeamId, description: &str) -> Value {
    json!({"team_id": team.to_string(), "description": description, "expires_at_millis": null})
}

/// Creates a user key for `user` with server access; returns the first-view object.
async fn server_user_key(
    app: &TestApp,
    project: &TestProject,
    user: UserId,
    description: &str,
) -> Value {
    app.send(project.server(post_json(
        "/api/v1/user-api-keys",
        user_key_body(user, description),
    )))
    .await
    .assert_ok(200)
}

/// Creates a team key for `team` with server access; returns the first-view object.
async fn server_team_key(
    app: &TestApp,
    project: &TestProject,
    team: TeamId,
    description: &str,
) -> Value {
    app.send(project.server(post_json(
        "/api/v1/team-api-keys",
        team_key_body(team, description),
    )))
    .await
    .assert_ok(200)
}

/// `POST /{type}-api-keys/check` with server access.
fn check_request(project: &TestProject, route: &str, key: &str) -> TestRequest {
    project.server(post_json(
        &format!("/api/v1/{route}-api-keys/check"),
        json!({"api_key": key}),
    ))
}

/// The full key of a first-view object.
fn key_value(created: &Value) -> String {
    created["value"]
        .as_str()
        .expect("first view has the full key")
        .to_owned()
}

/// The id of a key object.
fn key_id(object: &Value) -> String {
    object["id"]
        .as_str()
        .expect("key object has an id")
        .to_owned()
}

/// Gives `user` a primary e-mail (directly in storage).
fn set_email(app: &TestApp, project: &TestProject, user: &TestUser, email: &str) {
    let mut conn = app.database().conn();
    users::update(
        &mut conn,
        project.id(),
        user.id,
        &UserUpdate {
            primary_email: Some(Some(email.to_owned())),
            ..UserUpdate::default()
        },
    )
    .expect("set test e-mail");
}

/// The pending notices of `project`.
fn notices_of(app: &TestApp, project: &TestProject) -> Vec<NotificationRecord> {
    let mut conn = app.database().conn();
    notification_outbox::list_pending(&mut conn, 1_000)
        .expect("list notices")
        .into_iter()
        .filter(|notice| notice.project_id == project.id())
        .collect()
}

/// The keys of a read object, sorted, to compare object shapes.
fn field_names(object: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = object
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}
