//! Proves that the worst-case list answer stays within a stated memory bound (issue 12: eight
//! lists of 100 MB once took the server to 2.4 GiB).
//!
//! The worst case the caps allow: one owner at `limits.max_keys_per_owner` keys (1,000), every
//! description at `limits.max_description_chars` (1,000) of U+0001, the character whose JSON text
//! is longest (`\u0001`, 6 bytes). A counting global allocator (`peak_alloc`) records the peak of bytes
//! allocated while the list request runs (the database read, the rows, the answer, and one more
//! copy of the answer, which is what actix's HTTP/1 encoder makes when it writes a body into the
//! connection's buffer); the bound is **peak ≤ 2 × the answer's size + 1 MiB**, stated in
//! docs/operations.md ("Limits").
//!
//! Its own test binary, with one test that runs SQLite then Postgres in turn (not the
//! `http_tests!` twins, which run in parallel): the allocator is process-wide, so nothing else
//! may allocate while a request is measured.

use actix_web::test::{self as actix_test, TestRequest};
use keygate_domain::{ApiKey, ApiKeyId, KeyHasher, NewApiKey, Owner};
use keygate_http::build_app;
use keygate_http::testing::TestApp;
use keygate_service::Limits;
use keygate_storage::repo::api_keys;
use peak_alloc::PeakAlloc;

/// The system allocator, counting the bytes currently allocated and their peak (a moving
/// `realloc` counts the old and the new block together, as they do coexist).
#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// The stated bound: twice the answer plus 1 MiB.
fn bound_for(answer_bytes: usize) -> usize {
    2 * answer_bytes + 1024 * 1024
}

/// What one measured list request took.
#[derive(Debug)]
struct Measured {
    answer_bytes: usize,
    built_peak_bytes: usize,
    peak_bytes: usize,
}

async fn worst_case_list(app: &TestApp) -> Measured {
    let limits = Limits::default();
    let project = app.create_open_project();
    let user = app.create_user(&project);
    let description = "\u{1}".repeat(limits.max_description_chars);
    {
        let mut conn = app.database().conn();
        let hasher = KeyHasher::sha256();
        for n in 0..limits.max_keys_per_owner {
            let (key, _plain): (ApiKey, _) = NewApiKey {
                project_id: project.id(),
                owner: Owner::User(user.id),
                description: description.clone(),
                is_public: false,
                expires_at_millis: None,
                policy: Default::default(),
            }
            .generate(app.now() + i64::try_from(n).unwrap(), &hasher);
            api_keys::insert(&mut conn, &key).expect("seed a key");
        }
    }
    let service = actix_test::init_service(build_app(app.state.clone())).await;
    let uri = format!("/api/v1/user-api-keys?user_id={}", user.id);
    // One request first, so one-time set-up (pools, caches, prepared statements) is not counted.
    let warm = actix_test::call_service(
        &service,
        project.server(TestRequest::get().uri(&uri)).to_request(),
    )
    .await;
    assert!(warm.status().is_success());
    drop(actix_web::body::to_bytes(warm.into_body()).await);

    let request = project.server(TestRequest::get().uri(&uri)).to_request();
    let baseline = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    let response = actix_test::call_service(&service, request).await;
    // The answer is built (rows read and dropped, the body serialized once, exactly sized).
    let built_peak_bytes = ALLOCATOR.peak_usage() - baseline;
    let status = response.status();
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_else(|_| panic!("a buffered body"));
    // Reading the body copies it once more, as actix's HTTP/1 encoder copies a body into the
    // connection's write buffer: the peak of serving it.
    let peak_bytes = ALLOCATOR.peak_usage() - baseline;
    assert!(status.is_success(), "{status}");

    let answer: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let items = answer["items"].as_array().expect("items");
    assert_eq!(items.len() as u64, limits.max_keys_per_owner);
    assert_eq!(
        items[0]["description"].as_str().map(str::len),
        Some(limits.max_description_chars)
    );
    let first: ApiKeyId = items[0]["id"].as_str().unwrap().parse().unwrap();
    assert_ne!(first.to_string(), "");
    Measured {
        answer_bytes: body.len(),
        built_peak_bytes,
        peak_bytes,
    }
}

fn check(backend: &str, measured: &Measured) {
    let bound = bound_for(measured.answer_bytes);
    eprintln!(
        "{backend}: worst-case list answer {} bytes; peak allocation building it {} bytes ({:.2}× the answer), serving it {} bytes ({:.2}× the answer); bound {} bytes",
        measured.answer_bytes,
        measured.built_peak_bytes,
        measured.built_peak_bytes as f64 / measured.answer_bytes as f64,
        measured.peak_bytes,
        measured.peak_bytes as f64 / measured.answer_bytes as f64,
        bound
    );
    // The caps make this the largest answer a list can be: 1,000 keys × ~6.3 KB.
    assert!(measured.answer_bytes > 6_000_000 && measured.answer_bytes < 7_000_000);
    assert!(
        measured.peak_bytes <= bound,
        "{backend}: peak {} > bound {bound}",
        measured.peak_bytes
    );
}

#[test]
fn the_worst_case_list_stays_within_twice_its_answer_plus_one_mebibyte() {
    actix_web::rt::System::new().block_on(async {
        let sqlite = TestApp::sqlite();
        let measured = worst_case_list(&sqlite).await;
        check("sqlite", &measured);
        drop(sqlite);
        match TestApp::postgres() {
            Some(postgres) => {
                let measured = worst_case_list(&postgres).await;
                check("postgres", &measured);
            }
            None => eprintln!(
                "skipped the Postgres run: {} is not set",
                keygate_storage::testing::POSTGRES_URL_ENV
            ),
        }
    });
}
