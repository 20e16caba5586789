//! keygate-client's local verification end to end (issue 15, item 4): the real keygate binary,
//! the client's actix-web example service verifying keys in-process, a steady load of requests
//! to that service — and a revoke through keygate. No request that reaches the service more
//! than a second after the revoke's answer may be accepted: on SQLite (one node), and with two
//! keygate nodes on Postgres, the service following one node and the revoke going to the other.
//! And a node that is told to stop ends its open streams rather than wait for them.

#[path = "../../crates/keygate-client/examples/actix_service.rs"]
#[allow(dead_code)] // its `main`
mod actix_example;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use keygate_client::{KeygateClient, LocalVerification};
use serde_json::json;

use super::{client, first_start_keys, send, two_postgres_nodes, user_with_key};
use crate::harness::{sqlite_url, temp_dir, ProjectKeys, Server};

/// How soon a revocation must reach the service.
const REVOCATION_BOUND: Duration = Duration::from_secs(1);

/// Threads sending requests to the service at once.
const LOAD_THREADS: usize = 4;

/// The pause between two requests of one thread: a steady load of a few thousand requests a
/// second, which leaves some of the machine's cores to the keygate nodes and to the tests that
/// run beside this one.
const LOAD_PAUSE: Duration = Duration::from_millis(1);

/// One request to the service: when it was sent and whether the key was accepted.
#[derive(Debug, Clone, Copy)]
struct Observed {
    sent: Instant,
    accepted: bool,
}

/// The example service on a port of its own, on an actix system of its own thread.
struct ExampleService {
    base_url: String,
    server: actix_web::dev::ServerHandle,
    thread: Option<thread::JoinHandle<()>>,
}

impl ExampleService {
    fn start(keygate: KeygateClient) -> ExampleService {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let (started, handle) = mpsc::channel();
        let thread = thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server =
                    actix_example::server(keygate, listener).expect("start the example service");
                started.send(server.handle()).unwrap();
                server.await.expect("the example service runs");
            });
        });
        ExampleService {
            base_url,
            server: handle.recv().expect("the example service starts"),
            thread: Some(thread),
        }
    }
}

impl Drop for ExampleService {
    fn drop(&mut self) {
        let stopping = self.server.stop(false);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime to stop the service on")
            .block_on(stopping);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A client of `server` for the project, verifying repeated keys locally.
fn local_client(server: &Server, keys: &ProjectKeys) -> KeygateClient {
    KeygateClient::builder(&server.base_url, &keys.project_id, &keys.server)
        .verify_locally(LocalVerification::default())
        .build()
        .expect("a keygate client")
}

/// Loads the service (following `follower`) with requests carrying a fresh key, revokes the
/// key through `revoker`, and asserts that nothing sent more than [`REVOCATION_BOUND`] after
/// the revoke's answer was accepted.
fn revoke_under_load(follower: &Server, revoker: &Server, keys: &ProjectKeys, label: &str) {
    let http = client();
    let created = user_with_key(&http, follower, keys, "under load", json!({}));
    let key = created["value"].as_str().unwrap().to_owned();
    let keygate = local_client(follower, keys);
    let service = ExampleService::start(keygate.clone());
    let whoami = format!("{}/whoami", service.base_url);

    // Warm: the key is accepted, and once the client follows keygate's stream, in-process.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = http.get(&whoami).bearer_auth(&key).send().unwrap().status();
        assert!(
            status.is_success() || Instant::now() < deadline,
            "never accepted: {status}"
        );
        let stats = keygate.local_verification_stats().unwrap();
        if status.is_success() && stats.verified_locally > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never verified locally: {stats:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let observed = Arc::new(Mutex::new(Vec::<Observed>::new()));
    let load: Vec<_> = (0..LOAD_THREADS)
        .map(|_| {
            let (stop, observed, whoami, key) = (
                Arc::clone(&stop),
                Arc::clone(&observed),
                whoami.clone(),
                key.clone(),
            );
            thread::spawn(move || {
                let http = client();
                let mut mine = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let sent = Instant::now();
                    let response = http.get(&whoami).bearer_auth(&key).send().unwrap();
                    let status = response.status().as_u16();
                    assert!(
                        status == 200 || status == 401,
                        "the service answered {status}"
                    );
                    mine.push(Observed {
                        sent,
                        accepted: status == 200,
                    });
                    thread::sleep(LOAD_PAUSE);
                }
                observed.lock().unwrap().extend(mine);
            })
        })
        .collect();

    thread::sleep(Duration::from_millis(500));
    let key_id = created["id"].as_str().unwrap();
    let revoke_sent = Instant::now();
    send(
        keys.server(http.patch(revoker.url(&format!("/api/v1/user-api-keys/{key_id}"))))
            .json(&json!({"revoked": true})),
    )
    .ok(200);
    let revoked = Instant::now();
    thread::sleep(REVOCATION_BOUND + Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for thread in load {
        thread.join().expect("a load thread");
    }

    let observed = observed.lock().unwrap();
    let late_accepts: Vec<Duration> = observed
        .iter()
        .filter(|seen| seen.accepted && seen.sent >= revoked)
        .map(|seen| seen.sent - revoked)
        .collect();
    let last_accept = late_accepts.iter().max().copied().unwrap_or_default();
    let after_bound = late_accepts
        .iter()
        .filter(|late| **late > REVOCATION_BOUND)
        .count();
    let stats = keygate.local_verification_stats().unwrap();
    let before: Vec<&Observed> = observed
        .iter()
        .filter(|seen| seen.sent < revoke_sent)
        .collect();
    eprintln!(
        "{label}: {} requests ({} before the revoke, all accepted: {}); the revoke took {:?}; \
         {stats:?}; the last request accepted after the revoke's answer was sent \
         {last_accept:?} after it ({} accepted after it)",
        observed.len(),
        before.len(),
        before.iter().all(|seen| seen.accepted),
        revoked - revoke_sent,
        late_accepts.len(),
    );
    assert_eq!(
        after_bound, 0,
        "{after_bound} requests were accepted more than {REVOCATION_BOUND:?} after the revoke"
    );
    assert!(
        observed
            .iter()
            .any(|seen| seen.sent > revoked + REVOCATION_BOUND),
        "the load went on past the bound"
    );
    assert!(
        before.iter().all(|seen| seen.accepted),
        "the key was valid before the revoke"
    );
    // Before the revoke nearly every check was in-process (after it, every check of the
    // revoked key goes to keygate, which refuses it).
    assert!(
        stats.verified_locally * 10 >= before.len() as u64 * 9,
        "most checks before the revoke were in-process: {stats:?}"
    );
    assert!(stats.streams_opened >= 1, "the client followed the stream");
}

#[test]
fn a_revoked_key_stops_working_in_the_service_within_a_second_on_sqlite() {
    let dir = temp_dir();
    let server = Server::start(dir.path(), &sqlite_url(dir.path()), &[]);
    let keys = first_start_keys(&server.startup_output);
    revoke_under_load(&server, &server, &keys, "SQLite, one node");
}

#[test]
fn a_key_revoked_on_another_node_stops_working_in_the_service_within_a_second() {
    let Some(nodes) = two_postgres_nodes() else {
        return;
    };
    revoke_under_load(
        &nodes.node_a,
        &nodes.node_b,
        &nodes.keys,
        "Postgres, two nodes",
    );
}

#[test]
fn sigterm_ends_the_key_change_streams_instead_of_waiting_for_them() {
    use std::io::Read;

    let dir = temp_dir();
    let mut server = Server::start(dir.path(), &sqlite_url(dir.path()), &[]);
    let keys = first_start_keys(&server.startup_output);
    let mut stream = keys
        .server(client().get(server.url("/api/v1/api-key-changes")))
        .send()
        .expect("open the stream");
    assert_eq!(stream.status(), 200);
    let mut ready = [0; 64];
    let read = stream.read(&mut ready).expect("the ready event");
    assert!(String::from_utf8_lossy(&ready[..read]).contains("event: ready"));

    // The graceful stop waits up to shutdown_timeout_seconds (30) for requests in flight; an
    // open stream is not one it should wait for.
    let stopping = Instant::now();
    let status = server.stop_with("TERM");
    assert!(
        status.success(),
        "exit status {status:?}\n{}",
        server.stderr()
    );
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "the stop took {:?}",
        stopping.elapsed()
    );
    let mut rest = Vec::new();
    // The stream ended (cleanly, or cut with the process): it does not hang.
    let _ = stream.read_to_end(&mut rest);
}
