//! Team permissions of members, as upstream's `teamPermissionsCrud`:
//!
//! * `POST /api/v1/team-permissions/{team_id}/{user_id}/{permission_id}` (server, admin; body
//!   `{}`) grants a defined permission to a member → `201 {id, team_id, user_id}`; granting it
//!   again changes nothing;
//! * `DELETE` on the same path takes a directly granted permission back;
//! * `GET /api/v1/team-permissions?team_id=&user_id=&permission_id=&recursive=` lists what
//!   members hold — directly, or with `recursive=true` everything their grants contain
//!   (resolved by `keygate_permissions::PermissionCatalogue`). Clients may list only their own
//!   (`user_id=me`).
//!
//! Items are `{id, team_id, user_id}`, ordered by team, user and permission id, as upstream.
//! The handlers validate the request and shape the answer; the use cases are
//! `keygate_service::team_permissions`'.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::TeamId;
use keygate_permissions::{authorize_identity, IdentityAction};
use keygate_service::team_permissions::PermissionQuery;

use super::identity_fields::{PermissionIdField, TextFlag};
use super::identity_objects::{ListObject, TeamPermissionObject, SUCCESS};
use crate::auth::RequestAuth;
use crate::conventions::{json_response, method_not_allowed};
use crate::request_body::RequestBody;
use crate::state::AppState;
use crate::validation::{Pending, RequestCheck, UserIdOrMe};
use crate::wire_error::ApiError;

/// Registers the team permission routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/team-permissions")
            .route(web::get().to(list_team_permissions))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/api/v1/team-permissions/{team_id}/{user_id}/{permission_id}")
            .route(web::post().to(grant_team_permission))
            .route(web::delete().to(revoke_team_permission))
            .default_service(web::to(method_not_allowed)),
    );
}

type GrantParams = (TeamId, UserIdOrMe, PermissionIdField);

fn grant_params(check: &mut RequestCheck) -> Pending<GrantParams> {
    check.params(|o| {
        (
            o.field::<TeamId>("team_id").required(),
            o.field::<UserIdOrMe>("user_id").required(),
            o.field::<PermissionIdField>("permission_id").required(),
        )
    })
}

/// `POST /api/v1/team-permissions/{team_id}/{user_id}/{permission_id}`.
async fn grant_team_permission(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::GrantTeamPermission, None)?;
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let body = check.body(&body, |_| ());
    let params = grant_params(&mut check);
    let query = check.query(|_| ());
    let ((), (team_id, user_id, permission_id), ()) = check.finish((body, params, query))?;
    let held = state
        .service()
        .grant_team_permission(auth.actor(), team_id, user_id.0, permission_id.0)
        .await?;
    json_response(StatusCode::CREATED, &TeamPermissionObject::new(&held))
}

/// `DELETE /api/v1/team-permissions/{team_id}/{user_id}/{permission_id}`.
async fn revoke_team_permission(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::RevokeTeamPermission, None)?;
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = grant_params(&mut check);
    let query = check.query(|_| ());
    let ((team_id, user_id, permission_id), ()) = check.finish((params, query))?;
    state
        .service()
        .revoke_team_permission(auth.actor(), team_id, user_id.0, permission_id.0)
        .await?;
    json_response(StatusCode::OK, &SUCCESS)
}

/// `GET /api/v1/team-permissions`.
async fn list_team_permissions(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|o| PermissionQuery {
        team_id: o.field::<TeamId>("team_id").optional(),
        user_id: o
            .field::<UserIdOrMe>("user_id")
            .optional()
            .map(|user| user.0),
        permission_id: o
            .field::<PermissionIdField>("permission_id")
            .optional()
            .map(|permission| permission.0),
        recursive: o
            .field::<TextFlag>("recursive")
            .optional()
            .is_some_and(|flag| flag.0),
    });
    let query = check.finish(query)?;
    let held = state
        .service()
        .list_team_permissions(auth.actor(), query)
        .await?;
    let items = held.iter().map(TeamPermissionObject::new).collect();
    json_response(StatusCode::OK, &ListObject::new(items))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use keygate_domain::UserId;
    use serde_json::{json, Value};

    use super::super::identity_fields::test_helpers::{assert_schema_error, json_request};

    fn path(
        team: impl std::fmt::Display,
        user: impl std::fmt::Display,
        permission: &str,
    ) -> String {
        format!("/api/v1/team-permissions/{team}/{user}/{permission}")
    }

    fn ids(list: &Value) -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_owned())
            .collect()
    }

    crate::http_tests! {
        fn servers_grant_and_revoke_permissions(app) {
            let project = app.create_open_project();
            let user = app.create_user(&project);
            let team = app.create_team(&project, &[(&user, &[])]);
            let target = path(team, user.id, "$manage_api_keys");
            let expected = json!({
                "id": "$manage_api_keys",
                "team_id": team.to_string(),
                "user_id": user.id.to_string(),
            });
            let response = app.send(project.server(json_request("POST", &target, json!({})))).await;
            assert_eq!(response.assert_ok(201), expected);
            let response = app.send(project.admin(json_request("POST", &target, json!({})))).await;
            assert_eq!(response.assert_ok(201), expected, "granting again is a no-op");
            // The SDK sends the `$` percent-encoded.
            let encoded = path(team, user.id, "%24read_members");
            app.send(project.server(json_request("POST", &encoded, json!({})))).await.assert_ok(201);

            let listed = app
                .send(project.server(TestRequest::get().uri(&format!("/api/v1/team-permissions?team_id={team}"))))
                .await
                .assert_ok(200);
            assert_eq!(ids(&listed), ["$manage_api_keys", "$read_members"]);

            let response = app.send(project.server(TestRequest::delete().uri(&target))).await;
            assert_eq!(response.assert_ok(200), json!({"success": true}));
            let response = app.send(project.server(TestRequest::delete().uri(&target))).await;
            response.assert_known_error(401, "TEAM_PERMISSION_NOT_FOUND");
            assert_eq!(
                response.json()["details"],
                json!({"team_id": team.to_string(), "user_id": user.id.to_string(), "permission_id": "$manage_api_keys"})
            );
        }

        fn grants_need_a_member_and_a_defined_permission(app) {
            let project = app.create_open_project();
            let member = app.create_user(&project);
            let outsider = app.create_user(&project);
            let team = app.create_team(&project, &[(&member, &[])]);
            let post = |target: String| project.server(json_request("POST", &target, json!({})));

            let response = app.send(post(path(team, outsider.id, "team_admin"))).await;
            response.assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
            app.send(post(path(team, UserId::new_random(), "team_admin")))
                .await
                .assert_known_error(404, "USER_NOT_FOUND");
            let response = app.send(post(path(team, member.id, "custom_perm"))).await;
            response.assert_known_error(404, "PERMISSION_NOT_FOUND");
            assert_eq!(response.json()["details"], json!({"permission_id": "custom_perm"}));
            app.send(project.server(TestRequest::delete().uri(&path(team, outsider.id, "team_admin"))))
                .await
                .assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");

            let bad = path(team, member.id, "Bad-Id");
            let response = app.send(post(bad.clone())).await;
            assert_schema_error(&response, "POST", &bad, &[
                "Only lowercase letters, numbers, \":\", \"_\" and optional \"$\" at the beginning are allowed",
            ]);
            let bad = path(team, member.id, "$nope");
            let response = app.send(post(bad.clone())).await;
            assert_schema_error(&response, "POST", &bad, &["Invalid system permission"]);
            let target = path(team, member.id, "team_admin");
            let response = app.send(project.server(TestRequest::post().uri(&target))).await;
            assert_schema_error(&response, "POST", &target, &["body must be defined"]);

            for request in [
                json_request("POST", &target, json!({})),
                TestRequest::delete().uri(&target),
            ] {
                app.send(member.signed_in(project.client(request)))
                    .await
                    .assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
            }
        }

        fn listing_expands_containment_when_recursive(app) {
            let project = app.create_open_project();
            let admin = app.create_user(&project);
            let member = app.create_user(&project);
            let team = app.create_team(&project, &[(&admin, &["team_admin"]), (&member, &["team_member"])]);
            let list = |query: &str| project.server(TestRequest::get().uri(&format!("/api/v1/team-permissions?{query}")));

            let direct = app.send(list(&format!("team_id={team}&user_id={}", admin.id))).await.assert_ok(200);
            assert_eq!(ids(&direct), ["team_admin"]);
            assert_eq!(direct["is_paginated"], false);
            let all = app
                .send(list(&format!("team_id={team}&user_id={}&recursive=true", admin.id)))
                .await
                .assert_ok(200);
            assert_eq!(ids(&all), [
                "$delete_team", "$invite_members", "$manage_api_keys", "$read_members",
                "$remove_members", "$update_team", "team_admin",
            ]);
            let filtered = app
                .send(list(&format!("team_id={team}&permission_id=%24invite_members&recursive=true")))
                .await
                .assert_ok(200);
            let users: Vec<&str> = filtered["items"].as_array().unwrap().iter().map(|i| i["user_id"].as_str().unwrap()).collect();
            assert_eq!(users.len(), 2, "both hold $invite_members through their defaults");
            let mut sorted = users.clone();
            sorted.sort();
            assert_eq!(users, sorted, "ordered by user");
            let none = app
                .send(list(&format!("team_id={team}&permission_id=%24invite_members&recursive=false")))
                .await
                .assert_ok(200);
            assert_eq!(none["items"], json!([]));

            let response = app.send(list("recursive=yes&team_id=1&permission_id=X&extra=1")).await;
            assert_schema_error(&response, "GET", "/api/v1/team-permissions", &[
                "query.team_id must be a valid UUID",
                "Only lowercase letters, numbers, \":\", \"_\" and optional \"$\" at the beginning are allowed",
                "query.recursive must be one of the following values: true, false",
                "query contains unknown properties: extra",
            ]);
        }

        fn clients_list_only_their_own_permissions(app) {
            let project = app.create_open_project();
            let me = app.create_user(&project);
            let other = app.create_user(&project);
            let team = app.create_team(&project, &[(&me, &["team_member"]), (&other, &["team_admin"])]);
            let get = |query: &str| TestRequest::get().uri(&format!("/api/v1/team-permissions?{query}"));

            let mine = app
                .send(me.signed_in(project.client(get(&format!("team_id={team}&user_id=me&recursive=true")))))
                .await
                .assert_ok(200);
            assert_eq!(ids(&mine), ["$invite_members", "$read_members", "team_member"]);
            let own_permissions_only = "Client can only list permissions for their own user. user_id must be either \"me\" or the ID of the current user";
            app.send(me.signed_in(project.client(get(&format!("team_id={team}")))))
                .await
                .assert_plain_error(403, own_permissions_only);
            app.send(me.signed_in(project.client(get(&format!("user_id={}", other.id)))))
                .await
                .assert_plain_error(403, own_permissions_only);
            app.send(project.client(get("user_id=me")))
                .await
                .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        }
    }
}
