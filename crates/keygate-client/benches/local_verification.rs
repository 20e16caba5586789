//! What a warm local verification costs (issue 15, target ≤ 2 µs): `check_user_key` of a key the
//! client has verified before, with the stream of key changes open — the whole public call:
//! parse, trust test, row lookup, SHA-256 and constant-time compare, expiry, scopes, and the
//! answer's copy. keygate itself runs in-process (its HTTP app on a port) only to verify the key
//! the first time and to serve the stream. The second figure is the same check sent to keygate
//! (a client without local verification), for scale.
//!
//! `cargo bench -p keygate-client --bench local_verification`

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use keygate_client::{Check, KeygateClient, LocalVerification, NewKey, Owner};
use support::Keygate;

/// What a client needs to reach the keygate of [`serve_keygate`], and a key it accepts.
struct Served {
    base_url: String,
    project_id: String,
    secret_server_key: String,
    key: String,
}

/// Runs keygate on a thread of its own (an actix system that keeps serving, the stream
/// included, while the benchmark measures), with a user and a key.
fn serve_keygate() -> Served {
    let (served, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let keygate = Keygate::start();
            let user = keygate.app.create_user(&keygate.project);
            let created = keygate
                .client()
                .create_key(Owner::User(user.id), NewKey::default())
                .await
                .expect("a key");
            served
                .send(Served {
                    base_url: keygate.base_url.clone(),
                    project_id: keygate.project.id().to_string(),
                    secret_server_key: keygate.project.secret_server_key.clone(),
                    key: created.expose_secret().to_owned(),
                })
                .unwrap();
            std::future::pending::<()>().await;
        });
    });
    receiver.recv().expect("keygate starts")
}

fn local_verification(c: &mut Criterion) {
    let served = serve_keygate();
    // The client's stream follower runs on this runtime's workers, between samples too.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let client = |local: bool| {
        let builder = KeygateClient::builder(
            served.base_url.clone(),
            served.project_id.clone(),
            served.secret_server_key.clone(),
        );
        let builder = if local {
            builder.verify_locally(LocalVerification::default())
        } else {
            builder
        };
        builder.build().expect("a client")
    };
    let (local, remote) = (client(true), client(false));
    let key = served.key.clone();
    runtime.block_on(async {
        // The first check starts following the stream; the first one after it opened keeps
        // the key.
        local.check_user_key(Check::new(&key)).await.expect("valid");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !local.local_verification_stats().unwrap().following {
            assert!(Instant::now() < deadline, "the stream never opened");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        local.check_user_key(Check::new(&key)).await.expect("valid");
    });
    let system = runtime;

    let mut group = c.benchmark_group("check_user_key");
    group.bench_function("warm local verification", |b| {
        b.iter_custom(|iterations| {
            system.block_on(async {
                let before = local.local_verification_stats().unwrap();
                let start = Instant::now();
                for _ in 0..iterations {
                    std::hint::black_box(
                        local
                            .check_user_key(Check::new(std::hint::black_box(&key)))
                            .await
                            .expect("valid"),
                    );
                }
                let elapsed = start.elapsed();
                let after = local.local_verification_stats().unwrap();
                assert_eq!(
                    after.sent_to_keygate, before.sent_to_keygate,
                    "every check was local"
                );
                elapsed
            })
        });
    });
    group.bench_function("sent to keygate (same process, loopback)", |b| {
        b.iter_custom(|iterations| {
            system.block_on(async {
                let start = Instant::now();
                for _ in 0..iterations {
                    std::hint::black_box(
                        remote
                            .check_user_key(Check::new(&key))
                            .await
                            .expect("valid"),
                    );
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

criterion_group!(benches, local_verification);
criterion_main!(benches);
