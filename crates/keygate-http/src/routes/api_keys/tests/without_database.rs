//! A1: a string that is not a well-formed key is answered `API_KEY_NOT_FOUND` without touching
//! the database; and a warm check does no database work at all.
//!
//! The proof observes every SQL statement run on the test database's pooled connections
//! (`keygate_storage::testing::observe_statements`). Cold, a
//! request's authentication reads the project's credential and row (never `api_keys`); once the
//! node has cached them, a check with a malformed key runs no statement, nor does the
//! credential-scanning endpoint (no authentication). A well-formed key that is not stored, by
//! contrast, is looked up — and a stored key, once cached, is checked without a statement.

use keygate_domain::{parse_api_key, ApiKeyId, KeyType, PlainApiKey};
use serde_json::json;

use super::statement_watch::{hold_back_key_lookups, install_recorder, touches_api_keys, Watch};
use super::*;

/// Well-known ways a string can fail to be a key, built from a real one.
fn malformed_variants(key: &str) -> Vec<(&'static str, String)> {
    let replace = |range: std::ops::Range<usize>, with: &str| {
        let mut changed = key.to_owned();
        changed.replace_range(range, with);
        changed
    };
    let last = key.chars().last().unwrap();
    let other_last = if last == '0' { "1" } else { "0" };
    vec![
        ("empty", String::new()),
        ("too short", key[..101].to_owned()),
        ("too long", format!("{key}0")),
        ("far too long", key.repeat(100)),
        ("invalid character", replace(10..11, "-")),
        ("non-ASCII character", replace(10..11, "é")),
        ("unknown prefix", replace(0..2, "xk")),
        ("unknown type", replace(80..84, "usex")),
        ("scanner flag of a public key", replace(84..85, "3")),
        ("marker missing", replace(85..94, "574ck4u7x")),
        ("checksum mismatch", replace(101..102, other_last)),
        ("upper case", key.to_uppercase()),
        (
            "upstream's fake key",
            "sk_this_is_a_fake_api_key_123456789".to_owned(),
        ),
    ]
}

async fn malformed_keys_never_reach_the_database(app: &TestApp) {
    let project = app.create_open_project();
    let user = app.create_user(&project);
    let created = server_user_key(app, &project, user.id, "real").await;
    let real = key_value(&created);
    let watch = Watch::start(app);

    // Cold: authenticated (reading the credential and the project), then refused by validation.
    app.state.project_auth_cache().invalidate_all();
    app.send(project.server(post_json("/api/v1/user-api-keys/check", json!({}))))
        .await
        .assert_known_error(400, "SCHEMA_ERROR");
    let authentication = watch.take();
    assert!(
        !authentication.is_empty(),
        "the recorder sees the authentication's queries"
    );
    assert!(
        !authentication.iter().any(|s| touches_api_keys(s)),
        "{authentication:?}"
    );
    // Warm from here on: the node knows which project the server key opens.

    for (what, malformed) in malformed_variants(&real) {
        assert!(parse_api_key(&malformed).is_err(), "{what} must not parse");
        for route in ["user", "team"] {
            let response = app.send(check_request(&project, route, &malformed)).await;
            response.assert_known_error(404, "API_KEY_NOT_FOUND");
            assert_eq!(
                watch.take(),
                Vec::<String>::new(),
                "check on {route} route, {what}"
            );
        }
        let response = app
            .send(post_json(
                "/api/v1/integrations/credential-scanning/revoke",
                json!({"api_key": malformed}),
            ))
            .await;
        response.assert_known_error(404, "API_KEY_NOT_FOUND");
        assert_eq!(
            watch.take(),
            Vec::<String>::new(),
            "credential scanning, {what}"
        );
    }

    // The control: a well-formed key that is not stored is looked up.
    let unknown = PlainApiKey::generate(ApiKeyId::new_random(), KeyType::User, false);
    app.send(check_request(&project, "user", unknown.expose_secret()))
        .await
        .assert_known_error(404, "API_KEY_NOT_FOUND");
    let statements = watch.take();
    assert!(
        statements.iter().any(|s| touches_api_keys(s)),
        "{statements:?}"
    );
    app.send(post_json(
        "/api/v1/integrations/credential-scanning/revoke",
        json!({"api_key": unknown.expose_secret()}),
    ))
    .await
    .assert_known_error(404, "API_KEY_NOT_FOUND");
    let statements = watch.take();
    assert!(
        statements.iter().any(|s| touches_api_keys(s)),
        "{statements:?}"
    );
    // And the real key still checks: once from the database, then without any statement.
    app.send(check_request(&project, "user", &real))
        .await
        .assert_ok(200);
    watch.take();
    app.send(check_request(&project, "user", &real))
        .await
        .assert_ok(200);
    assert_eq!(watch.take(), Vec::<String>::new(), "a warm check");
}

mod malformed_keys_and_warm_checks_are_answered_without_a_query {
    use super::*;

    #[actix_web::test]
    async fn sqlite() {
        install_recorder();
        malformed_keys_never_reach_the_database(&TestApp::sqlite()).await;
    }

    #[actix_web::test]
    async fn postgres() {
        install_recorder();
        match TestApp::postgres() {
            Some(app) => malformed_keys_never_reach_the_database(&app).await,
            None => eprintln!(
                "skipped {}::postgres: {} is not set",
                module_path!(),
                keygate_storage::testing::POSTGRES_URL_ENV
            ),
        }
    }
}

/// Checks that miss the cache at the same moment share their lookups: many concurrent checks of
/// distinct keys, stored and unknown, each get their own right answer from far fewer lookups
/// than checks on Postgres (at most `key_lookups.max_concurrent` run at once; the rest wait
/// together). A lookup is one pooled connection's checkout; on Postgres also one statement.
async fn concurrent_misses_share_their_lookups(app: &TestApp) {
    let project = app.create_open_project();
    let user = app.create_user(&project);
    let mut stored = Vec::new();
    for n in 0..24 {
        let created = server_user_key(app, &project, user.id, &format!("key {n}")).await;
        stored.push((
            key_value(&created),
            created["id"].as_str().unwrap().to_owned(),
        ));
    }
    let unknown: Vec<String> = (0..24)
        .map(|_| {
            let key = PlainApiKey::generate(ApiKeyId::new_random(), KeyType::User, false);
            key.expose_secret().to_owned()
        })
        .collect();
    // Warm: the project's authentication is cached, no key is (creates do not fill the cache).
    app.send(check_request(&project, "user", &unknown[0]))
        .await
        .assert_known_error(404, "API_KEY_NOT_FOUND");
    let watch = Watch::start(app);
    let checkouts_before = app.database().pool_status().checkouts;
    // On Postgres the first lookups are held back (the table locked by another connection for
    // half a second) until every check has queued, so that how the checks share lookups does
    // not depend on how fast this machine happens to poll them.
    let held_back = app.database().postgres_url().map(hold_back_key_lookups);
    let service = actix_web::test::init_service(crate::app::build_app(app.state.clone())).await;
    let presented: Vec<(&str, Option<&str>)> = stored
        .iter()
        .map(|(key, id)| (key.as_str(), Some(id.as_str())))
        .chain(unknown[1..].iter().map(|key| (key.as_str(), None)))
        .collect();
    let answers = futures_util::future::join_all(presented.iter().map(|(key, _)| {
        let request = check_request(&project, "user", key).to_request();
        let service = &service;
        async move {
            let response = actix_web::test::call_service(service, request).await;
            let status = response.status().as_u16();
            let body: Value = actix_web::test::read_body_json(response).await;
            (status, body)
        }
    }))
    .await;
    if let Some(holder) = held_back {
        holder.join().expect("the lock holder");
    }
    for ((_, id), (status, body)) in presented.iter().zip(&answers) {
        match id {
            Some(id) => {
                assert_eq!(*status, 200, "{body}");
                assert_eq!(body["id"], *id);
            }
            None => {
                assert_eq!(*status, 404, "{body}");
                assert_eq!(body["code"], "API_KEY_NOT_FOUND");
            }
        }
    }
    let lookups = app.database().pool_status().checkouts - checkouts_before;
    let statements = watch
        .take()
        .into_iter()
        .filter(|s| touches_api_keys(s))
        .count() as u64;
    if app.database().backend() == keygate_storage::Backend::Postgres {
        // The first lookups waited for the lock, while the other checks queued up together.
        assert!(
            (1..=presented.len() as u64 / 4).contains(&lookups),
            "{} concurrent misses took {lookups} lookups",
            presented.len()
        );
        assert_eq!(statements, lookups, "one statement a lookup");
    } else {
        // In-process, a lookup is over in microseconds, so batches stay small; each key is read
        // once, by its own prepared statement.
        assert!(lookups <= presented.len() as u64);
        assert_eq!(statements, presented.len() as u64);
    }
}

mod concurrent_misses_share_lookups {
    use super::*;

    #[actix_web::test]
    async fn sqlite() {
        install_recorder();
        concurrent_misses_share_their_lookups(&TestApp::sqlite()).await;
    }

    #[actix_web::test]
    async fn postgres() {
        install_recorder();
        match TestApp::postgres() {
            Some(app) => concurrent_misses_share_their_lookups(&app).await,
            None => eprintln!(
                "skipped {}::postgres: {} is not set",
                module_path!(),
                keygate_storage::testing::POSTGRES_URL_ENV
            ),
        }
    }
}
