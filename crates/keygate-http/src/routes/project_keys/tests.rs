//! HTTP tests of `GET /api/v1/internal/keys`, each on SQLite and Postgres.

use actix_web::test::TestRequest;
use keygate_domain::{ApiKey, ApiKeyId, Owner, ProjectSwitches};
use keygate_storage::repo::api_keys;
use keygate_storage::testing::{insert_team, insert_user, random_hash};
use serde_json::{json, Value};

use super::PATH;
use crate::routes::test_requests::assert_schema_error;
use crate::testing::{TestApp, TestProject, TEST_OPERATOR_TOKEN};

fn get(query: &str) -> TestRequest {
    TestRequest::get().uri(&format!("{PATH}{query}"))
}

fn operator(project: &TestProject, request: TestRequest) -> TestRequest {
    request
        .insert_header(("authorization", format!("Bearer {TEST_OPERATOR_TOKEN}")))
        .insert_header(("x-stack-project-id", project.id().to_string()))
}

/// Stores a key of `owner` created at `created_at_millis` with these instants.
fn store_key(
    app: &TestApp,
    project: &TestProject,
    owner: Owner,
    created_at_millis: i64,
    expires_at_millis: Option<i64>,
    manually_revoked_at_millis: Option<i64>,
) -> ApiKey {
    let key = ApiKey {
        id: ApiKeyId::new_random(),
        project_id: project.id(),
        owner,
        description: format!("key at {created_at_millis}"),
        is_public: false,
        hash: random_hash(),
        last_four: "ab12".to_owned(),
        created_at_millis,
        expires_at_millis,
        manually_revoked_at_millis,
        policy: Default::default(),
    };
    api_keys::insert(&mut app.database().conn(), &key).unwrap();
    key
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every page of `query` (which must not end in a parameter that `&limit=` would break), as
/// the admin, `limit` keys at a time.
async fn walk(app: &TestApp, project: &TestProject, query: &str, limit: usize) -> Vec<String> {
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut uri = format!("?limit={limit}{query}");
        if let Some(cursor) = &cursor {
            uri.push_str(&format!("&cursor={cursor}"));
        }
        let page = app.send(project.admin(get(&uri))).await.assert_ok(200);
        assert_eq!(page["is_paginated"], true);
        let listed = ids(&page);
        assert!(listed.len() <= limit);
        walked.extend(listed);
        match page["pagination"]["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    walked
}

crate::http_tests! {
    fn the_admin_pages_through_every_owners_keys_with_filters(app) {
        let project = app.create_project(ProjectSwitches::default());
        let (user, team) = {
            let mut conn = app.database().conn();
            (insert_user(&mut conn, project.id()).id, insert_team(&mut conn, project.id()).id)
        };
        let now = app.now();
        let valid = store_key(app, &project, Owner::User(user), 400, None, None);
        let revoked = store_key(app, &project, Owner::Team(team), 300, None, Some(350));
        let expired = store_key(app, &project, Owner::User(user), 200, Some(now - 1), None);
        let until_now = store_key(app, &project, Owner::Team(team), 100, Some(now), None);
        // Another project's key never shows.
        let other = app.create_project(ProjectSwitches::default());
        let stranger = insert_user(&mut app.database().conn(), other.id()).id;
        store_key(app, &other, Owner::User(stranger), 250, None, None);
        api_keys::record_last_used(&mut app.database().conn(), &[(valid.id, 1_000)]).unwrap();

        let id = |key: &ApiKey| key.id.to_string();
        let everything = vec![id(&valid), id(&revoked), id(&expired), id(&until_now)];
        // Without `limit`: one page of the largest size, the last one.
        let page = app.send(project.admin(get(""))).await.assert_ok(200);
        assert_eq!(ids(&page), everything);
        assert_eq!(page["pagination"], json!({"next_cursor": null}));
        // Items are the user/team key read objects.
        assert_eq!(
            page["items"][0],
            json!({
                "id": id(&valid),
                "description": "key at 400",
                "created_at_millis": 400,
                "last_used_at_millis": 1_000,
                "is_public": false,
                "type": "user",
                "user_id": user.to_string(),
                "value": {"last_four": "ab12"},
                "scopes": [],
            })
        );
        assert_eq!(page["items"][1]["team_id"], team.to_string());
        assert_eq!(page["items"][1]["manually_revoked_at_millis"], 350);
        for limit in 1..=5 {
            assert_eq!(walk(app, &project, "", limit).await, everything, "limit {limit}");
        }
        let user_query = format!("&user_id={user}");
        assert_eq!(walk(app, &project, &user_query, 1).await, [id(&valid), id(&expired)]);
        let team_query = format!("&team_id={team}");
        assert_eq!(walk(app, &project, &team_query, 1).await, [id(&revoked), id(&until_now)]);
        // States by the domain's rule: valid through the expiry instant.
        assert_eq!(walk(app, &project, "&state=valid", 1).await, [id(&valid), id(&until_now)]);
        assert_eq!(walk(app, &project, "&state=revoked", 1).await, [id(&revoked)]);
        assert_eq!(walk(app, &project, "&state=expired", 1).await, [id(&expired)]);
        app.advance_clock(1);
        assert_eq!(walk(app, &project, "&state=expired", 1).await, [id(&expired), id(&until_now)]);
        // Last used before: never-used keys included.
        assert_eq!(
            walk(app, &project, "&last_used_before=1000", 2).await,
            [id(&revoked), id(&expired), id(&until_now)]
        );
        assert_eq!(walk(app, &project, "&last_used_before=1001", 2).await, everything);
        // Filters combine.
        let both = format!("&user_id={user}&state=valid&last_used_before=1001");
        assert_eq!(walk(app, &project, &both, 2).await, [id(&valid)]);
        // An owner of another project owns nothing here.
        let elsewhere = format!("&user_id={stranger}");
        assert_eq!(walk(app, &project, &elsewhere, 2).await, Vec::<String>::new());
    }

    fn the_operator_lists_and_other_callers_are_refused(app) {
        let project = app.create_project(ProjectSwitches::default());
        let user = insert_user(&mut app.database().conn(), project.id()).id;
        let key = store_key(app, &project, Owner::User(user), 5, None, None);
        let page = app.send(operator(&project, get("?limit=10"))).await.assert_ok(200);
        assert_eq!(ids(&page), [key.id.to_string()]);

        for request in [project.client(get("")), project.server(get(""))] {
            let response = app.send(request).await;
            response.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
            assert_eq!(response.json()["details"]["allowed_access_types"], json!(["admin"]));
        }
        app.send(get("")).await.assert_known_error(400, "ACCESS_TYPE_REQUIRED");
        let wrong_token = get("")
            .insert_header(("authorization", "Bearer wrong-token-0123456789abcdef"))
            .insert_header(("x-stack-project-id", project.id().to_string()));
        app.send(wrong_token).await.assert_known_error(401, "INVALID_OPERATOR_TOKEN");
        let unknown = app.create_project(ProjectSwitches::default());
        let mut unknown = unknown;
        unknown.record.id = keygate_domain::ProjectId::new_random();
        app.send(operator(&unknown, get(""))).await.assert_known_error(400, "CURRENT_PROJECT_NOT_FOUND");
        let response = app.send(project.admin(TestRequest::post().uri(PATH))).await;
        assert_eq!(response.status, 405);
    }

    fn bad_queries_are_schema_errors(app) {
        let project = app.create_project(ProjectSwitches::default());
        let response = app
            .send(project.admin(get("?state=stale&limit=0&user_id=x&cursor=nope&last_used_before=soon&colour=red")))
            .await;
        assert_schema_error(
            &response,
            "GET",
            PATH,
            &[
                "query.user_id must be a valid UUID",
                "query.state must be one of the following values: valid, revoked, expired",
                "query.last_used_before must be a `number` type, but the final value was: `NaN` (cast from the value `\"soon\"`).",
                "query.limit must be greater than or equal to 1",
                "query.cursor must be a next_cursor from a previous page",
                "query contains unknown properties: colour",
            ],
        );
        let both = format!(
            "?user_id={}&team_id={}",
            keygate_domain::UserId::new_random(),
            keygate_domain::TeamId::new_random()
        );
        let response = app.send(project.admin(get(&both))).await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        let response = app.send(project.admin(get("?limit=100000"))).await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        for hostile in ["?last_used_before=99999999999999999999999", "?limit=-1", "?state=", "?cursor=%00"] {
            let response = app.send(project.admin(get(hostile))).await;
            assert!(response.status.is_client_error(), "{hostile}: {}", response.status);
        }
    }
}
