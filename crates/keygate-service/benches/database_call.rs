//! What one database call of a check costs on Postgres, and how much of it is the hand-off
//! from the async worker to a blocking thread (issue 16, "consider the async driver").
//!
//! `KEYGATE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p keygate-service --bench database_call`
//!
//! Measured on a current-thread Tokio runtime, as each actix-web worker runs one:
//! - the hand-off alone: `spawn_blocking` of nothing, awaited;
//! - a key lookup (the check's batched statement, one unknown id) with Diesel's blocking
//!   connection on the calling thread, and the same through `spawn_blocking`, as keygate does;
//! - the same statement, prepared once, with the async driver `tokio-postgres` on the runtime.
//!
//! Without the variable only the hand-off is measured.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use keygate_domain::ApiKeyId;
use keygate_storage::repo::api_keys;
use keygate_storage::testing::TestDatabase;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a runtime")
}

fn database_call(c: &mut Criterion) {
    let runtime = runtime();
    c.bench_function("hand-off: spawn_blocking of nothing, awaited", |b| {
        b.iter(|| runtime.block_on(async { tokio::task::spawn_blocking(|| black_box(1)).await }))
    });

    let Some(test_db) = TestDatabase::postgres() else {
        eprintln!("KEYGATE_TEST_POSTGRES_URL is not set: the Postgres calls are not measured");
        return;
    };
    // Both drivers without TLS (libpq would negotiate it on loopback, tokio-postgres here
    // does not), so that only the drivers and the hand-off differ.
    let url = format!("{}?sslmode=disable", test_db.postgres_url().unwrap());
    let database =
        keygate_storage::Database::connect(&url, keygate_storage::PoolOptions::default())
            .expect("connect with Diesel");
    let id = ApiKeyId::new_random();
    let lookup = move |database: &keygate_storage::Database| {
        database.with_connection(|conn| api_keys::get_many_by_id(conn, &[id]))
    };
    // Warm: the pool's connection is open and has prepared the statement.
    lookup(&database).unwrap();
    c.bench_function("diesel, blocking, on the calling thread: key lookup", |b| {
        b.iter(|| black_box(lookup(&database).unwrap()))
    });
    c.bench_function(
        "diesel, blocking, through spawn_blocking: key lookup",
        |b| {
            b.iter(|| {
                let database = database.clone();
                runtime
                    .block_on(async {
                        tokio::task::spawn_blocking(move || lookup(&database)).await
                    })
                    .unwrap()
                    .unwrap()
            })
        },
    );

    let client = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect with tokio-postgres");
        tokio::spawn(connection);
        client
    });
    let statement = runtime
        .block_on(client.prepare(
            "SELECT id, project_id, user_id, team_id, description, is_public, key_hash, \
             last_four, created_at_millis, expires_at_millis, manually_revoked_at_millis \
             FROM api_keys WHERE id = ANY($1)",
        ))
        .expect("prepare");
    let ids = vec![id.to_string()];
    c.bench_function("tokio-postgres, async, on the runtime: key lookup", |b| {
        b.iter(|| {
            runtime
                .block_on(client.query(&statement, &[&ids]))
                .expect("query with tokio-postgres")
        })
    });
}

criterion_group!(benches, database_call);
criterion_main!(benches);
