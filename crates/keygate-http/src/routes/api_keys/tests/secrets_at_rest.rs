//! A1: only a hash of each key is stored, and no full key is logged.
//!
//! Keys of every kind are created and used through every endpoint; then every value of every
//! column of every table is read back (`keygate_storage::testing::all_stored_values`) and the
//! debug-level log of the whole process is searched: neither holds a full key, nor its 45
//! random characters.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use keygate_domain::KeyHasher;
use keygate_storage::testing::all_stored_values;
use serde_json::{json, Value};

use super::*;

/// Everything logged in this test process at debug level and above.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a process-wide subscriber that writes every event at debug level and above, with
/// its span fields, into [`LOG`] (once per process).
fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the test binary");
    });
}

fn captured_log() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// The secrets to look for: each full key and its 45 random characters.
fn secrets(created: &[Value]) -> Vec<String> {
    created
        .iter()
        .flat_map(|key| {
            let full = key_value(key);
            let random_part = full[3..48].to_owned();
            [full, random_part]
        })
        .collect()
}

/// Creates keys of every kind through every access type, and uses them on every endpoint.
async fn create_and_use_keys(app: &TestApp) -> (TestProject, Vec<Value>) {
    let project = app.create_open_project();
    let user = app.create_user(&project);
    set_email(app, &project, &user, "owner@example.com");
    let team = app.create_team(&project, &[(&user, &["team_admin"])]);

    let mut created = Vec::new();
    let requests = [
        user.signed_in(project.client(post_json("/api/v1/user-api-keys", user_key_body("me", "client user key")))),
        user.signed_in(project.client(post_json("/api/v1/team-api-keys", team_key_body(team, "client team key")))),
        project.server(post_json(
            "/api/v1/user-api-keys",
            json!({"user_id": user.id.to_string(), "description": "public", "expires_at_millis": null, "is_public": true}),
        )),
        project.admin(post_json(
            "/api/v1/team-api-keys",
            json!({"team_id": team.to_string(), "description": "expiring", "expires_at_millis": app.now() + 60_000}),
        )),
        project.server(post_json("/api/v1/user-api-keys", user_key_body(user.id, "to be leaked"))),
    ];
    for request in requests {
        created.push(app.send(request).await.assert_ok(200));
    }

    app.send(user.signed_in(project.client(get("/api/v1/user-api-keys?user_id=me"))))
        .await
        .assert_ok(200);
    app.send(project.server(get(&format!("/api/v1/team-api-keys?team_id={team}"))))
        .await
        .assert_ok(200);
    for key in &created {
        let route = key["type"].as_str().unwrap();
        app.send(check_request(&project, route, &key_value(key)))
            .await
            .assert_ok(200);
        let other = if route == "user" { "team" } else { "user" };
        app.send(check_request(&project, other, &key_value(key)))
            .await
            .assert_known_error(400, "WRONG_API_KEY_TYPE");
        let item = match route {
            "user" => format!("/api/v1/user-api-keys/{}", key_id(key)),
            _ => format!("/api/v1/team-api-keys/{}?team_id={team}", key_id(key)),
        };
        app.send(project.server(get(&item))).await.assert_ok(200);
        // Refused requests that carry the key in the body.
        app.send(user.signed_in(project.client(post_json(
            &format!("/api/v1/{route}-api-keys/check"),
            json!({"api_key": key_value(key)}),
        ))))
        .await
        .assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
        app.send(project.server(post_json(
            &format!("/api/v1/{route}-api-keys/check"),
            json!({"api_key": key_value(key), "extra": true}),
        )))
        .await
        .assert_known_error(400, "SCHEMA_ERROR");
    }
    app.send(user.signed_in(project.client(patch_json(
        &format!("/api/v1/user-api-keys/{}", key_id(&created[0])),
        json!({"revoked": true, "description": "revoked"}),
    ))))
    .await
    .assert_ok(200);
    app.send(check_request(&project, "user", &key_value(&created[0])))
        .await
        .assert_known_error(401, "API_KEY_REVOKED");
    app.send(post_json(
        "/api/v1/integrations/credential-scanning/revoke",
        json!({"api_key": key_value(&created[4])}),
    ))
    .await
    .assert_ok(200);
    app.send(post_json(
        "/api/v1/integrations/credential-scanning/revoke",
        json!({"api_key": key_value(&created[2])}),
    ))
    .await
    .assert_known_error(400, "PUBLIC_API_KEY_CANNOT_BE_REVOKED");
    assert_eq!(notices_of(app, &project).len(), 1);
    (project, created)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

crate::http_tests! {
    fn no_table_holds_a_full_key(app) {
        let (project, created) = create_and_use_keys(app).await;
        let stored = all_stored_values(&mut app.database().conn());
        for secret in secrets(&created) {
            let found: Vec<String> = stored
                .iter()
                .filter(|value| contains(&value.bytes, secret.as_bytes()))
                .map(|value| format!("{}.{}", value.table, value.column))
                .collect();
            assert!(found.is_empty(), "a secret is stored in {found:?}");
        }

        // The scan is real: it sees each key's id, last four characters and hash.
        let mut conn = app.database().conn();
        for key in &created {
            let id = key_id(key);
            assert!(stored.iter().any(|v| v.table == "api_keys" && v.column == "id" && v.bytes == id.as_bytes()));
            let last_four = &key_value(key)[98..];
            assert!(stored.iter().any(|v| v.column == "last_four" && v.bytes == last_four.as_bytes()));
            let record = keygate_storage::repo::api_keys::get(&mut conn, project.id(), id.parse().unwrap())
                .unwrap()
                .unwrap();
            assert_eq!(record.hash, KeyHasher::sha256().hash(&key_value(key)));
            assert!(stored.iter().any(|v| v.column == "key_hash" && v.bytes == record.hash.as_bytes()));
        }
        assert!(stored.iter().any(|v| v.table == "notification_outbox" && v.column == "subject"));
        // The audit log is scanned too: every create, revoke and the scanner's revoke is in it.
        let audited = stored
            .iter()
            .filter(|v| v.table == "audit_events" && v.column == "action")
            .count();
        assert!(audited > created.len(), "{audited} events");
    }

    fn no_log_line_holds_a_full_key(app) {
        capture_logs();
        let (_, created) = create_and_use_keys(app).await;
        let log = captured_log();
        // The capture is real: it holds this test's debug events.
        for key in &created {
            assert!(log.contains(&format!("api_key_id={}", key_id(key))), "{}", key_id(key));
        }
        assert!(log.contains("created API key"));
        assert!(log.contains("revoked an API key reported by a credential scanner"));
        for secret in secrets(&created) {
            assert!(!log.contains(&secret), "the log holds a secret");
        }
    }
}
