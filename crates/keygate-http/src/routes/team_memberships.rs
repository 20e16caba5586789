//! Team memberships, as upstream's `teamMembershipsCrud`:
//!
//! * `POST /api/v1/team-memberships/{team_id}/{user_id}` (server, admin; body `{}`) adds the
//!   user with the member defaults (`team_member`) and answers `201 {team_id, user_id}`;
//! * `DELETE` on the same path removes the membership with the member's grants there, and clears
//!   the team as the user's selected team. Clients may remove themselves, and others only with
//!   `$remove_members` (decided by `keygate_permissions`).
//!
//! The use cases are [`keygate_service::memberships`]'s; this module reads the request and
//! shapes the answer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::TeamId;
use keygate_permissions::{authorize_identity, IdentityAction};

use super::identity_objects::{MembershipObject, SUCCESS};
use crate::auth::RequestAuth;
use crate::conventions::{json_response, method_not_allowed};
use crate::request_body::RequestBody;
use crate::state::AppState;
use crate::validation::{Pending, RequestCheck, UserIdOrMe};
use crate::wire_error::ApiError;

/// Registers the membership routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/v1/team-memberships/{team_id}/{user_id}")
            .route(web::post().to(add_team_member))
            .route(web::delete().to(remove_team_member))
            .default_service(web::to(method_not_allowed)),
    );
}

fn membership_params(check: &mut RequestCheck) -> Pending<(TeamId, UserIdOrMe)> {
    check.params(|o| {
        (
            o.field::<TeamId>("team_id").required(),
            o.field::<UserIdOrMe>("user_id").required(),
        )
    })
}

/// `POST /api/v1/team-memberships/{team_id}/{user_id}`.
async fn add_team_member(
    request: HttpRequest,
    body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authorize_identity(&auth.caller(), &IdentityAction::AddTeamMember, None)?;
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let body = check.body(&body, |_| ());
    let params = membership_params(&mut check);
    let query = check.query(|_| ());
    let ((), (team_id, user), ()) = check.finish((body, params, query))?;
    let user_id = user.0;
    state
        .service()
        .add_team_member(auth.actor(), team_id, user_id)
        .await?;
    json_response(StatusCode::CREATED, &MembershipObject { team_id, user_id })
}

/// `DELETE /api/v1/team-memberships/{team_id}/{user_id}`.
async fn remove_team_member(
    request: HttpRequest,
    _body: RequestBody,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = membership_params(&mut check);
    let query = check.query(|_| ());
    let ((team_id, user), ()) = check.finish((params, query))?;
    state
        .service()
        .remove_team_member(auth.actor(), team_id, user.0)
        .await?;
    json_response(StatusCode::OK, &SUCCESS)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use keygate_domain::{TeamId, UserId};
    use keygate_storage::repo::users;
    use serde_json::json;

    use super::super::identity_fields::test_helpers::{assert_schema_error, json_request};

    fn path(team: impl std::fmt::Display, user: impl std::fmt::Display) -> String {
        format!("/api/v1/team-memberships/{team}/{user}")
    }

    crate::http_tests! {
        fn servers_add_members_with_the_member_defaults(app) {
            let project = app.create_open_project();
            let user = app.create_user(&project);
            let team = app.create_team(&project, &[]);
            let response = app
                .send(project.server(json_request("POST", &path(team, user.id), json!({}))))
                .await;
            assert_eq!(
                response.assert_ok(201),
                json!({"team_id": team.to_string(), "user_id": user.id.to_string()})
            );
            let held = app
                .send(project.server(TestRequest::get().uri(&format!(
                    "/api/v1/team-permissions?team_id={team}&user_id={}",
                    user.id
                ))))
                .await
                .assert_ok(200);
            assert_eq!(held["items"].as_array().unwrap().len(), 1);
            assert_eq!(held["items"][0]["id"], "team_member");

            app.send(project.server(json_request("POST", &path(team, user.id), json!({}))))
                .await
                .assert_known_error(409, "TEAM_MEMBERSHIP_ALREADY_EXISTS");
            app.send(project.server(json_request("POST", &path(team, UserId::new_random()), json!({}))))
                .await
                .assert_known_error(404, "USER_NOT_FOUND");
            let missing = TeamId::new_random();
            let response = app
                .send(project.server(json_request("POST", &path(missing, user.id), json!({}))))
                .await;
            response.assert_known_error(404, "TEAM_NOT_FOUND");
            assert_eq!(response.json()["details"], json!({"team_id": missing.to_string()}));

            // `me` is the session user, also with server access.
            let other_team = app.create_team(&project, &[]);
            app.send(user.signed_in(project.server(json_request("POST", &path(other_team, "me"), json!({})))))
                .await
                .assert_ok(201);
        }

        fn adding_members_is_for_servers_with_an_empty_body(app) {
            let project = app.create_open_project();
            let user = app.create_user(&project);
            let team = app.create_team(&project, &[(&user, &["team_admin"])]);
            let newcomer = app.create_user(&project);
            let response = app
                .send(user.signed_in(project.client(json_request("POST", &path(team, newcomer.id), json!({})))))
                .await;
            response.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");

            let target = path(team, newcomer.id);
            let response = app.send(project.server(TestRequest::post().uri(&target))).await;
            assert_schema_error(&response, "POST", &target, &["body must be defined"]);
            let response = app
                .send(project.server(json_request("POST", &target, json!({"role": "admin"}))))
                .await;
            assert_schema_error(&response, "POST", &target, &["body contains unknown properties: role"]);
            let bad = path("x", "y");
            let response = app.send(project.server(json_request("POST", &bad, json!({})))).await;
            assert_schema_error(&response, "POST", &bad, &[
                "params.team_id must be a valid UUID",
                "params.user_id must be a valid UUID",
            ]);
            let response = app.send(project.server(TestRequest::get().uri(&target))).await;
            assert_eq!(response.status.as_u16(), 405);
        }

        fn servers_remove_members(app) {
            let project = app.create_open_project();
            let user = app.create_user(&project);
            let team = app.create_team(&project, &[(&user, &["team_member"])]);
            let response = app
                .send(project.server(TestRequest::delete().uri(&path(team, user.id))))
                .await;
            assert_eq!(response.assert_ok(200), json!({"success": true}));
            let response = app
                .send(project.server(TestRequest::delete().uri(&path(team, user.id))))
                .await;
            response.assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
            assert_eq!(
                response.json()["details"],
                json!({"team_id": team.to_string(), "user_id": user.id.to_string()})
            );
            app.send(project.server(TestRequest::delete().uri(&path(team, UserId::new_random()))))
                .await
                .assert_known_error(404, "USER_NOT_FOUND");
            // The grants went with the membership.
            let held = app
                .send(project.server(TestRequest::get().uri(&format!("/api/v1/team-permissions?user_id={}", user.id))))
                .await
                .assert_ok(200);
            assert_eq!(held["items"], json!([]));
        }

        fn clients_leave_teams_and_remove_others_with_remove_members(app) {
            let project = app.create_open_project();
            let admin = app.create_user(&project);
            let alice = app.create_user(&project);
            let bob = app.create_user(&project);
            let team = app.create_team(&project, &[
                (&admin, &["team_admin"]),
                (&alice, &["team_member"]),
                (&bob, &["team_member"]),
            ]);
            app.send(alice.signed_in(project.client(json_request(
                "PATCH",
                "/api/v1/users/me",
                json!({"selected_team_id": team.to_string()}),
            ))))
            .await
            .assert_ok(200);

            let response = app
                .send(alice.signed_in(project.client(TestRequest::delete().uri(&path(team, bob.id)))))
                .await;
            response.assert_known_error(401, "TEAM_PERMISSION_REQUIRED");
            assert_eq!(response.json()["details"]["permission_id"], "$remove_members");

            app.send(alice.signed_in(project.client(TestRequest::delete().uri(&path(team, "me")))))
                .await
                .assert_ok(200);
            let mut conn = app.database().conn();
            let stored = users::get(&mut conn, project.id(), alice.id).unwrap().unwrap();
            assert_eq!(stored.selected_team_id, None, "leaving clears the selection");
            drop(conn);

            app.send(admin.signed_in(project.client(TestRequest::delete().uri(&path(team, bob.id)))))
                .await
                .assert_ok(200);
            let response = app
                .send(alice.signed_in(project.client(TestRequest::delete().uri(&path(team, admin.id)))))
                .await;
            response.assert_known_error(404, "TEAM_MEMBERSHIP_NOT_FOUND");
            app.send(project.client(TestRequest::delete().uri(&path(team, admin.id))))
                .await
                .assert_known_error(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
        }
    }
}
