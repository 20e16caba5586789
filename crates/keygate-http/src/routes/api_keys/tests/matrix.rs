//! Isolation: two projects, each with two users and two teams (in the first team one member
//! holds `$manage_api_keys` through `team_admin` and one does not; the second team is managed by
//! the other user), and a user key and a team key for each. Every endpoint is called by every
//! caller — a client signed in as each user, a client without a session, the server and the
//! admin of each project — on every key. A key is visible (a 200 that shows its id) exactly when
//! the contract allows it, and changed only then; nothing else ever shows or revokes it.

use keygate_domain::{ApiKeyId, Owner};
use keygate_storage::repo::api_keys;
use serde_json::{json, Value};

use super::*;
use crate::testing::TestResponse;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Client(usize),
    ClientWithoutSession,
    Server,
    Admin,
}

#[derive(Debug, Clone, Copy)]
struct Caller {
    project: usize,
    access: Access,
}

/// One project of the matrix.
struct World {
    project: TestProject,
    users: [TestUser; 2],
    teams: [TeamId; 2],
    /// `managers[t]`: the users (by index) holding `$manage_api_keys` in team `t`.
    managers: [Vec<usize>; 2],
}

/// One key of the matrix.
struct Key {
    project: usize,
    owner: Owner,
    id: String,
    value: String,
}

impl Key {
    fn route(&self) -> &'static str {
        self.owner.key_type().as_str()
    }

    fn other_route(&self) -> &'static str {
        match self.route() {
            "user" => "team",
            _ => "user",
        }
    }

    /// The owner query of the key's own route.
    fn owner_query(&self) -> String {
        match self.owner {
            Owner::User(user) => format!("user_id={user}"),
            Owner::Team(team) => format!("team_id={team}"),
        }
    }
}

fn allowed(worlds: &[World; 2], caller: Caller, key: &Key) -> bool {
    if caller.project != key.project {
        return false;
    }
    let world = &worlds[caller.project];
    match (caller.access, key.owner) {
        (Access::Server | Access::Admin, _) => true,
        (Access::ClientWithoutSession, _) => false,
        (Access::Client(user), Owner::User(owner)) => world.users[user].id == owner,
        (Access::Client(user), Owner::Team(team)) => {
            let index = world
                .teams
                .iter()
                .position(|t| *t == team)
                .expect("a matrix team");
            world.managers[index].contains(&user)
        }
    }
}

fn as_caller(worlds: &[World; 2], caller: Caller, request: TestRequest) -> TestRequest {
    let world = &worlds[caller.project];
    match caller.access {
        Access::Client(user) => world.users[user].signed_in(world.project.client(request)),
        Access::ClientWithoutSession => world.project.client(request),
        Access::Server => world.project.server(request),
        Access::Admin => world.project.admin(request),
    }
}

/// Whether the response shows the key: a 200 whose body names its id.
fn shows(response: &TestResponse, key: &Key) -> bool {
    assert!(
        !response.status.is_server_error(),
        "{}: {}",
        response.status,
        response.body
    );
    response.status.as_u16() == 200 && response.body.contains(&key.id)
}

crate::http_tests! {
    fn no_key_is_visible_to_or_revocable_by_anyone_else(app) {
        let mut worlds = Vec::new();
        for _ in 0..2 {
            let project = app.create_open_project();
            let users = [app.create_user(&project), app.create_user(&project)];
            let first = app.create_team(&project, &[(&users[0], &["team_admin"]), (&users[1], &["team_member"])]);
            let second = app.create_team(&project, &[(&users[1], &["team_admin"])]);
            worlds.push(World { project, users, teams: [first, second], managers: [vec![0], vec![1]] });
        }
        let worlds: [World; 2] = worlds.try_into().ok().expect("two worlds");

        let mut keys = Vec::new();
        for (index, world) in worlds.iter().enumerate() {
            for user in &world.users {
                let created = server_user_key(app, &world.project, user.id, "original").await;
                keys.push(Key { project: index, owner: Owner::User(user.id), id: key_id(&created), value: key_value(&created) });
            }
            for team in world.teams {
                let created = server_team_key(app, &world.project, team, "original").await;
                keys.push(Key { project: index, owner: Owner::Team(team), id: key_id(&created), value: key_value(&created) });
            }
        }

        let mut callers = Vec::new();
        for project in 0..2 {
            for access in [Access::Client(0), Access::Client(1), Access::ClientWithoutSession, Access::Server, Access::Admin] {
                callers.push(Caller { project, access });
            }
        }

        let mut permitted_changes = 0;
        for key in &keys {
            for &caller in &callers {
                let permitted = allowed(&worlds, caller, key);
                let context = format!("{caller:?} on {} key {} of project {}", key.route(), key.id, key.project);
                let item = format!("/api/v1/{}-api-keys/{}?{}", key.route(), key.id, key.owner_query());

                let read = app.send(as_caller(&worlds, caller, get(&item))).await;
                assert_eq!(shows(&read, key), permitted, "read: {context}: {}", read.body);

                let list = app
                    .send(as_caller(&worlds, caller, get(&format!("/api/v1/{}-api-keys?{}", key.route(), key.owner_query()))))
                    .await;
                assert_eq!(shows(&list, key), permitted, "list: {context}: {}", list.body);

                let other_route = format!(
                    "/api/v1/{}-api-keys/{}?team_id={}",
                    key.other_route(),
                    key.id,
                    worlds[key.project].teams[0]
                );
                let other_route = if key.other_route() == "user" {
                    format!("/api/v1/user-api-keys/{}", key.id)
                } else {
                    other_route
                };
                let wrong_type = app.send(as_caller(&worlds, caller, get(&other_route))).await;
                assert!(!shows(&wrong_type, key), "other route: {context}");

                let check = app
                    .send(as_caller(&worlds, caller, post_json(&format!("/api/v1/{}-api-keys/check", key.route()), json!({"api_key": key.value}))))
                    .await;
                let may_check = permitted && matches!(caller.access, Access::Server | Access::Admin);
                assert_eq!(shows(&check, key), may_check, "check: {context}: {}", check.body);

                let body = if permitted {
                    json!({"description": format!("{caller:?}")})
                } else {
                    json!({"description": "hijacked", "revoked": true})
                };
                let patch = app.send(as_caller(&worlds, caller, patch_json(&item, body))).await;
                assert_eq!(shows(&patch, key), permitted, "patch: {context}: {}", patch.body);
                if permitted {
                    permitted_changes += 1;
                } else {
                    assert_ne!(patch.status.as_u16(), 200, "patch: {context}");
                }
            }
        }
        assert!(permitted_changes > 0);

        // `me` lists only the session user's own keys, in its own project.
        for (project, world) in worlds.iter().enumerate() {
            for (index, user) in world.users.iter().enumerate() {
                let listed = app
                    .send(user.signed_in(world.project.client(get("/api/v1/user-api-keys?user_id=me"))))
                    .await
                    .assert_ok(200);
                let ids: Vec<String> = listed["items"].as_array().unwrap().iter().map(key_id).collect();
                let expected: Vec<String> = keys
                    .iter()
                    .filter(|k| k.project == project && k.owner == Owner::User(world.users[index].id))
                    .map(|k| k.id.clone())
                    .collect();
                assert_eq!(ids, expected);
            }
        }

        // Nothing was revoked or hijacked, and every key still checks in its own project only.
        let mut conn = app.database().conn();
        for key in &keys {
            let world = &worlds[key.project];
            let id: ApiKeyId = key.id.parse().unwrap();
            let stored = api_keys::get(&mut conn, world.project.id(), id).unwrap().expect("still stored");
            assert_eq!(stored.manually_revoked_at_millis, None, "{}", key.id);
            assert_ne!(stored.description, "hijacked");
            let other = &worlds[1 - key.project];
            assert!(api_keys::get(&mut conn, other.project.id(), id).unwrap().is_none());
            let checked: Value = app.send(check_request(&world.project, key.route(), &key.value)).await.assert_ok(200);
            assert_eq!(checked["id"], key.id.as_str());
        }
    }
}
