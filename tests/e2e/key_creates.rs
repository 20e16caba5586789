//! Creates of keys that arrive together are committed together (`[key_creates]`), and each is
//! still answered as if alone: here many clients create keys at once against a running
//! `keygate serve`, over SQLite and over Postgres, for owners with a low cap. Exactly the cap is
//! stored per owner, every other create is refused at the cap, every stored key checks, and the
//! audit log holds one creation event per stored key, each naming its owner.
//!
//! The Postgres case is skipped without `KEYGATE_TEST_POSTGRES_URL` (failing instead under
//! `CI=true`).

use std::collections::{HashMap, HashSet};
use std::thread;

use serde_json::json;

use super::{client, first_start_keys, postgres_database, send};
use crate::harness::{sqlite_url, temp_dir, Server};

const CAP: usize = 5;
const OWNERS: usize = 4;
const ATTEMPTS_PER_OWNER: usize = 10;

fn concurrent_creates_stop_at_each_owners_cap(database_url: &str) {
    let dir = temp_dir();
    let cap = CAP.to_string();
    let server = Server::start(
        dir.path(),
        database_url,
        &[("KEYGATE_LIMITS__MAX_KEYS_PER_OWNER", cap.as_str())],
    );
    let keys = first_start_keys(&server.startup_output);
    let http = client();
    let owners: Vec<String> = (0..OWNERS)
        .map(|n| {
            let user = send(
                keys.server(http.post(server.url("/api/v1/users")))
                    .json(&json!({"display_name": format!("owner {n}")})),
            )
            .ok(201);
            user["id"].as_str().unwrap().to_owned()
        })
        .collect();

    // Eight clients at once, each walking every owner, so that creates for one owner arrive
    // together from several clients.
    let answers: Vec<(String, u16, serde_json::Value)> = thread::scope(|scope| {
        let clients: Vec<_> = (0..8)
            .map(|client_index| {
                let (owners, server, keys) = (&owners, &server, &keys);
                scope.spawn(move || {
                    let http = client();
                    let mut answers = Vec::new();
                    for attempt in 0..OWNERS * ATTEMPTS_PER_OWNER / 8 {
                        let owner = &owners[(client_index + attempt) % OWNERS];
                        let reply = send(
                            keys.server(http.post(server.url("/api/v1/user-api-keys")))
                                .json(&json!({
                                    "user_id": owner,
                                    "description": format!("client {client_index} attempt {attempt}"),
                                    "expires_at_millis": null,
                                })),
                        );
                        if reply.status != 200 {
                            reply.known(409, "API_KEY_LIMIT_REACHED");
                        }
                        answers.push((owner.clone(), reply.status, reply.json));
                    }
                    answers
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|client| client.join().expect("a client thread"))
            .collect()
    });
    assert_eq!(answers.len(), OWNERS * ATTEMPTS_PER_OWNER);

    let mut stored_per_owner: HashMap<&str, usize> = HashMap::new();
    let mut stored_ids = HashSet::new();
    for (owner, status, body) in &answers {
        if *status == 200 {
            *stored_per_owner.entry(owner.as_str()).or_default() += 1;
            assert_eq!(body["user_id"], owner.as_str());
            let checked = send(
                keys.server(http.post(server.url("/api/v1/user-api-keys/check")))
                    .json(&json!({"api_key": body["value"]})),
            )
            .ok(200);
            assert_eq!(checked["id"], body["id"]);
            assert!(stored_ids.insert(body["id"].as_str().unwrap().to_owned()));
        }
    }
    for owner in &owners {
        assert_eq!(stored_per_owner.get(owner.as_str()), Some(&CAP), "{owner}");
        let listed = send(
            keys.server(http.get(server.url("/api/v1/user-api-keys")))
                .query(&[("user_id", owner.as_str())]),
        )
        .ok(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), CAP, "{owner}");
    }

    // One creation event per stored key, naming its owner; none for the refused creates.
    let log = send(
        keys.admin(http.get(server.url("/api/v1/internal/audit-log")))
            .query(&[("action", "user_api_key.created")]),
    )
    .ok(200);
    let events = log["items"].as_array().unwrap();
    let audited: HashSet<String> = events
        .iter()
        .map(|event| event["object_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events.len(), OWNERS * CAP);
    assert_eq!(audited, stored_ids);
    for event in events {
        let key = answers
            .iter()
            .find(|(_, status, body)| *status == 200 && body["id"] == event["object_id"])
            .expect("an answered key");
        assert_eq!(event["target_user_id"], key.0.as_str());
        assert_eq!(event["actor_type"], "server");
    }
}

#[test]
fn concurrent_creates_stop_at_each_owners_cap_on_sqlite() {
    let dir = temp_dir();
    concurrent_creates_stop_at_each_owners_cap(&sqlite_url(dir.path()));
}

#[test]
fn concurrent_creates_stop_at_each_owners_cap_on_postgres() {
    let Some((_database, url)) = postgres_database() else {
        return;
    };
    concurrent_creates_stop_at_each_owners_cap(&url);
}
