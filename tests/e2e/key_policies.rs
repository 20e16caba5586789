//! Key policies against the real binary (issue 14): a rate limit and usage credits enforced by
//! the check, rotation, and — what only a real process shows — the credits a node leased and did
//! not spend go back to the stored count at graceful shutdown; and two processes on one Postgres
//! database never spend more credits than a key has, nor lose any once both have shut down.

use std::thread;

use serde_json::{json, Value};

use super::{client, first_start_keys, postgres_database, send, user_with_key};
use crate::harness::{sqlite_url, temp_dir, ProjectKeys, Server};

fn check(
    http: &reqwest::blocking::Client,
    server: &Server,
    keys: &ProjectKeys,
    key: &str,
) -> reqwest::blocking::Response {
    keys.server(http.post(server.url("/api/v1/user-api-keys/check")))
        .json(&json!({ "api_key": key }))
        .send()
        .expect("send a check")
}

fn remaining_uses(
    http: &reqwest::blocking::Client,
    server: &Server,
    keys: &ProjectKeys,
    id: &str,
) -> Value {
    send(keys.server(http.get(server.url(&format!("/api/v1/user-api-keys/{id}"))))).ok(200)
        ["remaining_uses"]
        .clone()
}

#[test]
fn limits_credits_and_rotation_hold_across_a_restart() {
    let dir = temp_dir();
    let database = sqlite_url(dir.path());
    let mut server = Server::start(dir.path(), &database, &[]);
    let keys = first_start_keys(&server.startup_output);
    let http = client();
    let created = user_with_key(
        &http,
        &server,
        &keys,
        "metered",
        json!({"remaining_uses": 25, "rate_limit": {"limit": 3, "window_millis": 86_400_000}}),
    );
    let key = created["value"].as_str().expect("the key").to_owned();
    let id = created["id"].as_str().expect("the id").to_owned();

    for remaining in ["2", "1", "0"] {
        let passed = check(&http, &server, &keys, &key);
        assert_eq!(passed.status().as_u16(), 200);
        assert_eq!(passed.headers()["ratelimit-remaining"], remaining);
        assert_eq!(passed.headers()["ratelimit-limit"], "3");
    }
    let limited = check(&http, &server, &keys, &key);
    assert_eq!(limited.status().as_u16(), 429);
    assert_eq!(
        limited.headers()["x-stack-known-error"],
        "API_KEY_RATE_LIMITED"
    );
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(remaining_uses(&http, &server, &keys, &id), 22);

    // The node leased a block of credits and spent three; a graceful stop gives the rest back.
    assert!(server.stop_with("TERM").success(), "{}", server.stderr());
    let server = Server::start(dir.path(), &database, &[]);
    assert_eq!(
        remaining_uses(&http, &server, &keys, &id),
        22,
        "the unspent lease came back at shutdown"
    );
    // The rate limit's window is a day long, and its count was written at shutdown too: the new
    // process is a new node, which learns it at its first sync after it starts counting the key
    // (until then one check may pass, the documented overshoot of a node new to a key).
    let _first = check(&http, &server, &keys, &key);
    thread::sleep(std::time::Duration::from_millis(400));
    let still_limited = check(&http, &server, &keys, &key);
    assert_eq!(still_limited.status().as_u16(), 429);

    // Rotation: the credits left move to the new key; its rate-limit count starts afresh.
    let before = remaining_uses(&http, &server, &keys, &id);
    let rotated = send(
        keys.server(http.post(server.url(&format!("/api/v1/user-api-keys/{id}/rotate"))))
            .json(&json!({})),
    )
    .ok(200);
    assert_eq!(rotated["remaining_uses"], before);
    assert_eq!(
        rotated["rate_limit"],
        json!({"limit": 3, "window_millis": 86_400_000})
    );
    let new_key = rotated["value"].as_str().expect("the new key");
    let checked = check(&http, &server, &keys, new_key);
    assert_eq!(checked.status().as_u16(), 200);
    let old = check(&http, &server, &keys, &key);
    assert_eq!(old.headers()["x-stack-known-error"], "API_KEY_REVOKED");
}

#[test]
fn two_processes_never_overspend_a_keys_credits() {
    let Some((_database, url)) = postgres_database() else {
        return;
    };
    let dir = temp_dir();
    let start_two = || {
        (
            Server::start(dir.path(), &url, &[]),
            Server::start(dir.path(), &url, &[]),
        )
    };
    let (mut node_a, mut node_b) = start_two();
    let keys = first_start_keys(&node_a.startup_output);
    let http = client();
    let credits = 150;
    let created = user_with_key(
        &http,
        &node_a,
        &keys,
        "metered",
        json!({"remaining_uses": credits}),
    );
    let key = created["value"].as_str().expect("the key").to_owned();
    let id = created["id"].as_str().expect("the id").to_owned();

    // `per_client` checks from each of four clients, two per node, at once; how many passed.
    let load = |node_a: &Server, node_b: &Server, per_client: usize| -> usize {
        thread::scope(|scope| {
            let workers: Vec<_> = [node_a, node_b, node_a, node_b]
                .into_iter()
                .map(|node| {
                    let (http, keys, key) = (&http, &keys, &key);
                    scope.spawn(move || {
                        (0..per_client)
                            .filter(|_| check(http, node, keys, key).status().as_u16() == 200)
                            .count()
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap())
                .sum()
        })
    };
    let stop = |node: &mut Server| assert!(node.stop_with("TERM").success(), "{}", node.stderr());

    // Fewer checks than credits: all pass, and each node holds part of a block unspent, which
    // it gives back when it stops gracefully.
    let first = load(&node_a, &node_b, 10);
    assert_eq!(first, 40);
    stop(&mut node_a);
    stop(&mut node_b);
    let (mut node_a, mut node_b) = start_two();
    assert_eq!(
        remaining_uses(&http, &node_a, &keys, &id),
        credits - 40,
        "what the nodes leased and did not spend came back at shutdown"
    );
    // Far more checks than credits: never more pass than are left, and none are lost.
    let second = load(&node_a, &node_b, 100);
    assert!(
        second <= credits - first,
        "never more checks than credits: {second}"
    );
    stop(&mut node_a);
    stop(&mut node_b);
    let node_c = Server::start(dir.path(), &url, &[]);
    let left = remaining_uses(&http, &node_c, &keys, &id)
        .as_u64()
        .expect("a count") as usize;
    assert_eq!(
        first + second + left,
        credits,
        "{first} + {second} spent, {left} left: none lost"
    );
    let mut more = 0;
    while check(&http, &node_c, &keys, &key).status().as_u16() == 200 {
        more += 1;
    }
    assert_eq!(more, left);
    println!("{credits} credits over two processes: {first} of 40, then {second} of 400 concurrent checks passed; {left} given back at shutdown and spent after");
}
