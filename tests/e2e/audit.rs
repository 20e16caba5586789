//! The audit log through the real binary: changes made over HTTP and on the command line are
//! listed by `GET /api/v1/internal/audit-log` and by `keygate audit`, with who made them.

use serde_json::{json, Value};

use super::{client, first_start_keys, send, user_with_key};
use crate::harness::{run_keygate, sqlite_url, temp_dir, Server};

#[test]
fn changes_over_http_and_the_cli_are_in_the_audit_log() {
    let dir = temp_dir();
    let database_url = sqlite_url(dir.path());
    let server = Server::start(dir.path(), &database_url, &[]);
    let keys = first_start_keys(&server.startup_output);
    let http = client();
    let created = user_with_key(&http, &server, &keys, "ci", json!({}));
    let key_id = created["id"].as_str().unwrap().to_owned();
    let (status, stdout, stderr) = run_keygate(
        dir.path(),
        &[
            "--database-url",
            &database_url,
            "keys",
            "revoke",
            "--project",
            &keys.project_id,
            &key_id,
        ],
        &[],
    );
    assert!(status.success(), "{stdout} {stderr}");

    // Over HTTP, as the project's admin: newest first.
    let log = send(keys.admin(http.get(server.url("/api/v1/internal/audit-log")))).ok(200);
    let items = log["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "user_api_key.revoked",
            "user_api_key.created",
            "project_api_key.created",
            "project.created"
        ]
    );
    let revoked = &items[0];
    assert_eq!(revoked["object_id"], key_id.as_str());
    assert_eq!(
        (&revoked["actor_type"], &revoked["actor_label"]),
        (&json!("operator"), &json!("keygate keys revoke"))
    );
    let created_event = &items[1];
    assert_eq!(created_event["actor_type"], "server");
    assert_eq!(created_event["client_address"], "127.0.0.1");
    assert_eq!(created_event["target_user_id"], created["user_id"]);
    assert!(created_event["request_id"].is_string());
    assert_eq!(
        (&items[3]["actor_type"], &items[3]["actor_label"]),
        (&json!("operator"), &json!("first start"))
    );

    // On the command line: the same events, as JSON when piped.
    let (status, stdout, stderr) = run_keygate(
        dir.path(),
        &[
            "--database-url",
            &database_url,
            "audit",
            "--project",
            &keys.project_id,
            "--action",
            "user_api_key.created",
        ],
        &[],
    );
    assert!(status.success(), "{stdout} {stderr}");
    let listed: Value = serde_json::from_str(&stdout).expect("JSON when piped");
    assert_eq!(listed["items"], json!([created_event]));
    let secret = created["value"].as_str().unwrap();
    assert!(!stdout.contains(secret), "never a key in the log");

    // An unknown action names the known ones.
    let (status, _, stderr) = run_keygate(
        dir.path(),
        &[
            "--database-url",
            &database_url,
            "audit",
            "--project",
            &keys.project_id,
            "--action",
            "user_api_key.deleted",
        ],
        &[],
    );
    assert!(!status.success());
    assert!(stderr.contains("user_api_key.revoked"), "{stderr}");
}
