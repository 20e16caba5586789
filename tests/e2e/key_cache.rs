//! Two keygate processes on one Postgres database: a key revoked on one is refused by the other
//! within a second, even while the other serves a steady load of checks from its cache; and a
//! project credential revoked by `keygate project credentials revoke` (another process) is
//! refused by a running server within a second, however long its project-auth cache TTL; and
//! a user key revoked by `keygate keys revoke` is refused long before its cached row would expire.
//!
//! Skipped without `KEYGATE_TEST_POSTGRES_URL` (failing instead under `CI=true`); each run gets a
//! fresh database on that server.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{
    client, first_start_keys, postgres_database, send, two_postgres_nodes, user_with_key, TwoNodes,
};
use crate::harness::{run_keygate, temp_dir, ProjectKeys, Server};

/// How soon another node must refuse a revoked key.
const PROPAGATION_BOUND: Duration = Duration::from_secs(1);

/// One check made during the load: when it started and whether it said "valid".
#[derive(Debug, Clone, Copy)]
struct Observed {
    started: Instant,
    valid: bool,
}

fn check(http: &reqwest::blocking::Client, server: &Server, keys: &ProjectKeys, key: &str) -> u16 {
    keys.server(http.post(server.url("/api/v1/user-api-keys/check")))
        .json(&json!({ "api_key": key }))
        .send()
        .expect("send a check")
        .status()
        .as_u16()
}

#[test]
fn a_revoke_on_one_node_is_refused_by_the_other_within_a_second() {
    let Some(nodes) = two_postgres_nodes() else {
        return;
    };
    // Borrowed: the database and the nodes live as long as `nodes`.
    let TwoNodes {
        node_a,
        node_b,
        keys,
        ..
    } = &nodes;
    let http = client();

    let created = user_with_key(&http, node_a, keys, "ci", json!({}));
    let key = created["value"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();

    // B's listener subscribes shortly after start; until then B reads the database. Either way
    // the key is valid on B now, and B's cache holds it once trusted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while check(&http, node_b, keys, &key) != 200 {
        assert!(Instant::now() < deadline, "the key never became valid on B");
        thread::sleep(Duration::from_millis(50));
    }

    // A steady load of checks on B, from before the revoke until well after the bound.
    let stop = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(Mutex::new(Vec::<Observed>::new()));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, observed) = (Arc::clone(&stop), Arc::clone(&observed));
            let (http, keys, key) = (client(), keys.clone(), key.clone());
            let url = node_b.url("/api/v1/user-api-keys/check");
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let status = keys
                        .server(http.post(&url))
                        .json(&json!({ "api_key": key }))
                        .send()
                        .expect("send a check")
                        .status()
                        .as_u16();
                    assert!(status == 200 || status == 401, "unexpected status {status}");
                    observed.lock().unwrap().push(Observed {
                        started,
                        valid: status == 200,
                    });
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(500));

    send(
        keys.server(http.patch(node_a.url(&format!("/api/v1/user-api-keys/{key_id}"))))
            .json(&json!({"revoked": true})),
    )
    .ok(200);
    let revoked_at = Instant::now();
    // A itself never answers "valid" again, not even once.
    assert_eq!(check(&http, node_a, keys, &key), 401);

    // B refuses it within the bound.
    loop {
        let status = check(&http, node_b, keys, &key);
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            revoked_at.elapsed() < PROPAGATION_BOUND,
            "B still accepted the key {:?} after the revoke",
            revoked_at.elapsed()
        );
        thread::sleep(Duration::from_millis(10));
    }
    let refused_after = revoked_at.elapsed();

    thread::sleep(PROPAGATION_BOUND + Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for worker in load {
        worker.join().expect("a load thread");
    }
    let observed = observed.lock().unwrap();
    let late_successes = observed
        .iter()
        .filter(|o| o.valid && o.started > revoked_at + PROPAGATION_BOUND)
        .count();
    let after_bound = observed
        .iter()
        .filter(|o| o.started > revoked_at + PROPAGATION_BOUND)
        .count();
    let before_revoke = observed
        .iter()
        .filter(|o| o.started < revoked_at && o.valid)
        .count();
    eprintln!(
        "B refused the key {refused_after:?} after the revoke; {} checks under load, {before_revoke} valid before the revoke, {after_bound} started after the bound",
        observed.len()
    );
    assert!(before_revoke > 0, "the load ran before the revoke");
    assert!(after_bound > 0, "the load ran past the bound");
    assert_eq!(
        late_successes, 0,
        "checks that started more than {PROPAGATION_BOUND:?} after the revoke succeeded"
    );
}

#[test]
fn a_credential_revoked_by_the_cli_is_refused_by_a_running_server_within_a_second() {
    let Some((_database, url)) = postgres_database() else {
        return;
    };
    let dir = temp_dir();
    // A ten-minute TTL: only the announcement can make the server forget the credential.
    let server = Server::start(
        dir.path(),
        &url,
        &[("KEYGATE_PROJECT_AUTH_CACHE__TTL_MILLIS", "600000")],
    );
    let keys = first_start_keys(&server.startup_output);
    let http = client();
    let current = server.url("/api/v1/internal/projects/current");
    // Cached now (read twice: the second answer comes from the cache).
    send(keys.admin(http.get(&current))).ok(200);
    send(keys.admin(http.get(&current))).ok(200);
    let listed = send(keys.admin(http.get(server.url("/api/v1/internal/api-keys")))).ok(200);
    let credential = listed["items"][0]["id"].as_str().unwrap().to_owned();

    let (status, stdout, stderr) = run_keygate(
        dir.path(),
        &[
            "--database-url",
            &url,
            "project",
            "credentials",
            "revoke",
            &keys.project_id,
            &credential,
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("manually_revoked_at_millis"), "{stdout}");
    let revoked_at = Instant::now();
    loop {
        let reply = send(keys.admin(http.get(&current)));
        if reply.status == 401 {
            reply.known(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
            break;
        }
        reply.ok(200);
        assert!(
            revoked_at.elapsed() < PROPAGATION_BOUND,
            "the server still accepted the revoked admin key {:?} after the CLI revoked it",
            revoked_at.elapsed()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_key_revoked_by_keygate_keys_revoke_is_refused_by_a_running_server() {
    let Some((_database, url)) = postgres_database() else {
        return;
    };
    let dir = temp_dir();
    // Cached rows kept ten minutes: only the announcement can make the server forget the key.
    let server = Server::start(
        dir.path(),
        &url,
        &[("KEYGATE_CHECK_CACHE__ROW_TTL_MILLIS", "600000")],
    );
    let keys = first_start_keys(&server.startup_output);
    let http = client();
    let created = user_with_key(&http, &server, &keys, "ci", json!({}));
    let key = created["value"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    // Valid, and cached once the listener has subscribed (until then checks read the database).
    assert_eq!(check(&http, &server, &keys, &key), 200);
    assert_eq!(check(&http, &server, &keys, &key), 200);

    // Piped standard output: JSON.
    let (status, stdout, stderr) = run_keygate(
        dir.path(),
        &[
            "--database-url",
            &url,
            "keys",
            "list",
            "--project",
            &keys.project_id,
            "--state",
            "valid",
        ],
        &[],
    );
    assert!(status.success(), "{status}: {stdout} {stderr}");
    let listed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON when piped");
    assert_eq!(listed["items"][0]["id"], key_id.as_str(), "{stdout}");

    let (status, stdout, stderr) = run_keygate(
        dir.path(),
        &[
            "--database-url",
            &url,
            "keys",
            "revoke",
            "--project",
            &keys.project_id,
            &key_id,
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    let revoked: serde_json::Value = serde_json::from_str(&stdout).expect("JSON when piped");
    assert!(revoked["manually_revoked_at_millis"].is_i64(), "{stdout}");
    assert!(
        !stdout.contains(&key) && !stderr.contains(&key),
        "never the key itself"
    );
    let revoked_at = Instant::now();
    loop {
        let status = check(&http, &server, &keys, &key);
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        // A give-up deadline far below the ten-minute row TTL, not a latency claim: only the
        // announcement can have made the server drop the row before it.
        assert!(
            revoked_at.elapsed() < Duration::from_secs(30),
            "the server still accepted the key {:?} after `keygate keys revoke`",
            revoked_at.elapsed()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn last_use_recorded_before_sigterm_survives_a_restart() {
    let dir = temp_dir();
    let database_url = crate::harness::sqlite_url(dir.path());
    let mut server = Server::start(dir.path(), &database_url, &[]);
    let keys = first_start_keys(&server.startup_output);
    let http = client();
    let created = user_with_key(&http, &server, &keys, "ci", json!({}));
    let key = created["value"].as_str().unwrap();
    let item = format!("/api/v1/user-api-keys/{}", created["id"].as_str().unwrap());
    let checked = send(
        keys.server(http.post(server.url("/api/v1/user-api-keys/check")))
            .json(&json!({ "api_key": key })),
    )
    .ok(200);
    let used_at = checked["last_used_at_millis"]
        .as_i64()
        .expect("a check reports the use");

    // Stopped right away: well before the periodic flush.
    let status = server.stop_with("TERM");
    assert!(status.success(), "{}", server.stderr());

    let server = Server::start(dir.path(), &database_url, &[]);
    let read = send(keys.server(http.get(server.url(&item)))).ok(200);
    assert_eq!(read["last_used_at_millis"], used_at, "{read}");
}
