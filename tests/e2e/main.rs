//! End-to-end tests: the real `keygate` binary, started as a user would start it, over HTTP.
//!
//! Each test gets its own temporary directory with a SQLite file and a server on
//! `127.0.0.1:0`; the harness reads the port from the `listening on …` line and kills the
//! process when the test ends, whether it passed or not.

mod audit;
mod dead_connections;
mod harness;
mod key_cache;
mod key_creates;
mod key_policies;
mod local_verification;
mod metrics;
mod notifications;

use std::time::Duration;

use harness::{
    banner_value, file_in, run_keygate, sqlite_url, temp_dir, ProjectKeys, Reply, Server,
    OPERATOR_TOKEN,
};
use serde_json::{json, Value};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build an HTTP client")
}

fn send(request: reqwest::blocking::RequestBuilder) -> Reply {
    Reply::read(request.send().expect("send the request"))
}

/// A new user ("Ada") of the project and a never-expiring key for them (server access), with
/// `fields` added to the create body; the key's first view (its `user_id` names the user).
fn user_with_key(
    http: &reqwest::blocking::Client,
    server: &Server,
    keys: &ProjectKeys,
    description: &str,
    fields: Value,
) -> Value {
    let user = send(
        keys.server(http.post(server.url("/api/v1/users")))
            .json(&json!({"display_name": "Ada"})),
    )
    .ok(201);
    let mut body =
        json!({"user_id": user["id"], "description": description, "expires_at_millis": null});
    for (field, value) in fields.as_object().expect("an object") {
        body[field] = value.clone();
    }
    send(
        keys.server(http.post(server.url("/api/v1/user-api-keys")))
            .json(&body),
    )
    .ok(200)
}

/// A fresh Postgres database for a test of several processes (dropped with the guard), and its
/// URL; `None`, after saying so, when Postgres tests are skipped.
fn postgres_database() -> Option<(keygate_storage::testing::TestDatabase, String)> {
    let Some(database) = keygate_storage::testing::TestDatabase::postgres() else {
        eprintln!("skipped: KEYGATE_TEST_POSTGRES_URL is not set");
        return None;
    };
    let url = database
        .postgres_url()
        .expect("a Postgres database")
        .to_owned();
    Some((database, url))
}

/// Two `keygate serve` nodes on one fresh Postgres database, and the project keys the first
/// start printed. Dropping it stops both nodes, then drops the database.
struct TwoNodes {
    node_a: Server,
    node_b: Server,
    keys: ProjectKeys,
    _dir: tempfile::TempDir,
    _database: keygate_storage::testing::TestDatabase,
}

/// [`TwoNodes`], or `None` (after saying so) when Postgres tests are skipped.
fn two_postgres_nodes() -> Option<TwoNodes> {
    let (database, url) = postgres_database()?;
    let dir = temp_dir();
    let node_a = Server::start(dir.path(), &url, &[]);
    let node_b = Server::start(dir.path(), &url, &[]);
    let keys = first_start_keys(&node_a.startup_output);
    Some(TwoNodes {
        node_a,
        node_b,
        keys,
        _dir: dir,
        _database: database,
    })
}

/// The `default` project's keys as printed by the first start.
fn first_start_keys(banner: &str) -> ProjectKeys {
    let value = |label: &str| {
        banner_value(banner, label).unwrap_or_else(|| panic!("no `{label}` in:\n{banner}"))
    };
    ProjectKeys {
        project_id: value("project id"),
        client: value("publishable client key"),
        server: value("secret server key"),
        admin: value("super secret admin key"),
    }
}

#[test]
fn first_start_projects_credentials_and_shutdown() {
    let dir = temp_dir();
    let database_url = sqlite_url(dir.path());
    let mut server = Server::start(dir.path(), &database_url, &[("KEYGATE_NOT_A_SETTING", "1")]);
    let http = client();

    // The first start printed the default project's credentials once, with the real base URL.
    let banner = server.startup_output.clone();
    let default = first_start_keys(&banner);
    assert!(default.client.starts_with("pck_"), "{banner}");
    assert!(default.server.starts_with("ssk_"), "{banner}");
    assert!(default.admin.starts_with("sak_"), "{banner}");
    assert_eq!(
        banner_value(&banner, "base URL").as_deref(),
        Some(server.base_url.replace("127.0.0.1", "localhost").as_str())
    );
    assert!(banner.contains("curl "), "{banner}");
    // The banner's three calls, pasted into bash, create a user, give them a key and check it.
    let walk: String = banner
        .lines()
        .skip_while(|line| !line.starts_with("What keygate is for"))
        .skip(1)
        .take_while(|line| !line.starts_with("The web UI"))
        .map(|line| format!("{line}\n"))
        .collect();
    let ran = std::process::Command::new("bash")
        .args(["-c", &walk])
        .output()
        .expect("run the banner's walk with bash");
    assert!(
        ran.status.success(),
        "{walk}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let checked: Value = serde_json::from_slice(&ran.stdout)
        .unwrap_or_else(|_| panic!("{walk}\n{}", String::from_utf8_lossy(&ran.stdout)));
    assert_eq!(checked["type"], "user", "{checked}");
    assert_eq!(checked["description"], "CI deploys", "{checked}");
    assert!(checked["user_id"].is_string(), "{checked}");
    // Unknown KEYGATE_* variables are warned about, by name.
    assert!(
        server.stderr().contains("KEYGATE_NOT_A_SETTING"),
        "{}",
        server.stderr()
    );

    // Health.
    let live = send(http.get(server.url("/health"))).ok(200);
    assert_eq!(live["status"], "ok");
    let ready = send(http.get(server.url("/health/ready"))).ok(200);
    assert_eq!(ready["status"], "ready");

    // The default project, read with the printed admin key.
    let current =
        send(default.admin(http.get(server.url("/api/v1/internal/projects/current")))).ok(200);
    assert_eq!(current["id"], default.project_id.as_str());
    assert_eq!(current["display_name"], "default");
    assert_eq!(
        current["config"],
        json!({"allow_user_api_keys": true, "allow_team_api_keys": true, "client_team_creation_enabled": true, "allow_localhost": true, "domains": [], "api_key_scopes": [], "api_key_rate_limit": null})
    );

    // The operator creates a project and issues it a credential.
    send(
        http.post(server.url("/api/v1/internal/projects"))
            .json(&json!({"display_name": "x"})),
    )
    .known(401, "OPERATOR_AUTHENTICATION_REQUIRED");
    let project = send(
        http.post(server.url("/api/v1/internal/projects"))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"display_name": "Acme", "config": {"allow_user_api_keys": true}})),
    )
    .ok(201);
    let project_id = project["id"].as_str().unwrap().to_owned();
    let credential = send(
        http.post(server.url("/api/v1/internal/api-keys"))
            .bearer_auth(OPERATOR_TOKEN)
            .header("x-stack-project-id", &project_id)
            .json(&json!({
                "description": "e2e",
                "expires_at_millis": null,
                "has_publishable_client_key": true,
                "has_secret_server_key": true,
                "has_super_secret_admin_key": true,
            })),
    )
    .ok(200);
    let acme = ProjectKeys::from_credential(&project_id, &credential);

    // Its admin reads and patches it; the switch is visible on the next read.
    let read = send(acme.admin(http.get(server.url("/api/v1/internal/projects/current")))).ok(200);
    assert_eq!(read, project);
    let patched = send(
        acme.admin(http.patch(server.url("/api/v1/internal/projects/current")))
            .json(&json!({"display_name": "Acme Inc", "config": {"allow_team_api_keys": true}})),
    )
    .ok(200);
    assert_eq!(patched["display_name"], "Acme Inc");
    assert_eq!(
        patched["config"],
        json!({"allow_user_api_keys": true, "allow_team_api_keys": true, "client_team_creation_enabled": false, "allow_localhost": false, "domains": [], "api_key_scopes": [], "api_key_rate_limit": null})
    );
    // Admin access issues more credentials; server access may not.
    let more = send(
        acme.admin(http.post(server.url("/api/v1/internal/api-keys")))
            .json(&json!({
                "description": "server only",
                "expires_at_millis": null,
                "has_publishable_client_key": false,
                "has_secret_server_key": true,
                "has_super_secret_admin_key": false,
            })),
    )
    .ok(200);
    assert!(more["secret_server_key"].is_string() && more.get("super_secret_admin_key").is_none());
    send(acme.server(http.get(server.url("/api/v1/internal/projects/current"))))
        .known(401, "INSUFFICIENT_ACCESS_TYPE");
    // One project's keys do not open another.
    send(
        http.get(server.url("/api/v1/internal/projects/current"))
            .header("x-stack-access-type", "admin")
            .header("x-stack-project-id", &default.project_id)
            .header("x-stack-super-secret-admin-key", &acme.admin),
    )
    .known(401, "INVALID_SUPER_SECRET_ADMIN_KEY");

    let session = identity_walk(&http, &server, &default);

    // SIGTERM: a clean exit.
    drop(http);
    let status = server.stop_with("TERM");
    assert!(
        status.success(),
        "exit status {status:?}\nstderr:\n{}",
        server.stderr()
    );
    assert!(server.stderr().contains("SIGTERM"), "{}", server.stderr());

    // A second start on the same file prints nothing secret, and everything still works.
    let mut again = Server::start(dir.path(), &database_url, &[]);
    let http = client();
    for secret in [
        &default.client,
        &default.server,
        &default.admin,
        &acme.admin,
    ] {
        assert!(
            !again.startup_output.contains(secret.as_str()),
            "{}",
            again.startup_output
        );
        assert!(
            !again.stderr().contains(secret.as_str()),
            "a key was logged:\n{}",
            again.stderr()
        );
    }
    assert!(
        !again.startup_output.contains("secret server key"),
        "{}",
        again.startup_output
    );
    send(default.admin(http.get(again.url("/api/v1/internal/projects/current")))).ok(200);
    let read = send(acme.admin(http.get(again.url("/api/v1/internal/projects/current")))).ok(200);
    assert_eq!(read["display_name"], "Acme Inc");
    // The access-token secret was generated on the first start and kept in the database, so a
    // token from before the restart is still good.
    let me = send(
        default
            .client(http.get(again.url("/api/v1/users/me")))
            .header("x-stack-access-token", &session.access_token),
    )
    .ok(200);
    assert_eq!(me["display_name"], "Ada");

    // SIGINT is graceful too.
    drop(http);
    let status = again.stop_with("INT");
    assert!(
        status.success(),
        "exit status {status:?}\nstderr:\n{}",
        again.stderr()
    );
    // Nothing secret ever reached the logs.
    for secret in [
        &default.client,
        &default.server,
        &default.admin,
        &acme.admin,
        &acme.server,
    ] {
        assert!(
            !server.stderr().contains(secret.as_str()),
            "a key was logged"
        );
    }
}

/// A signed-in user from the identity walk.
struct Session {
    access_token: String,
}

/// user → session → team → membership → permission, over HTTP, with the default project's keys.
fn identity_walk(
    http: &reqwest::blocking::Client,
    server: &Server,
    project: &ProjectKeys,
) -> Session {
    let create_user = |name: &str, email: &str| -> Value {
        send(
            project
                .server(http.post(server.url("/api/v1/users")))
                .json(&json!({"display_name": name, "primary_email": email})),
        )
        .ok(201)
    };
    let ada = create_user("Ada", "ada@example.com");
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    let bob = create_user("Bob", "bob@example.com");
    let bob_id = bob["id"].as_str().unwrap().to_owned();

    let session = send(
        project
            .server(http.post(server.url("/api/v1/auth/sessions")))
            .json(&json!({"user_id": ada_id})),
    )
    .ok(200);
    let access_token = session["access_token"].as_str().unwrap().to_owned();
    assert!(session["refresh_token"].is_string(), "{session}");
    let as_ada = |request: reqwest::blocking::RequestBuilder| {
        project
            .client(request)
            .header("x-stack-access-token", &access_token)
    };
    let me = send(as_ada(http.get(server.url("/api/v1/users/me")))).ok(200);
    assert_eq!(me["id"], ada_id.as_str());

    // Ada creates a team as a client (the default project allows it) and becomes its admin.
    let team = send(
        as_ada(http.post(server.url("/api/v1/teams")))
            .json(&json!({"display_name": "Analytical Engines", "creator_user_id": "me"})),
    )
    .ok(201);
    let team_id = team["id"].as_str().unwrap().to_owned();
    let mine = send(as_ada(http.get(server.url("/api/v1/teams?user_id=me")))).ok(200);
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == team_id.as_str()),
        "{mine}"
    );

    // The server adds Bob and grants him $manage_api_keys.
    send(
        project
            .server(http.post(server.url(&format!("/api/v1/team-memberships/{team_id}/{bob_id}"))))
            .json(&json!({})),
    )
    .ok(201);
    send(
        project
            .server(http.post(server.url(&format!(
                "/api/v1/team-permissions/{team_id}/{bob_id}/$manage_api_keys"
            ))))
            .json(&json!({})),
    )
    .ok(201);
    let permissions = send(project.server(http.get(server.url(&format!(
        "/api/v1/team-permissions?team_id={team_id}&user_id={bob_id}&recursive=true"
    )))))
    .ok(200);
    let ids: Vec<&str> = permissions["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(ids.contains(&"$manage_api_keys"), "{permissions}");
    assert!(ids.contains(&"team_member"), "{permissions}");

    // Ada, the creator, holds team_admin, which contains $manage_api_keys.
    let ada_permissions = send(as_ada(http.get(server.url(&format!(
        "/api/v1/team-permissions?team_id={team_id}&user_id=me&recursive=true"
    )))))
    .ok(200);
    let ada_ids: Vec<&str> = ada_permissions["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert!(ada_ids.contains(&"team_admin"), "{ada_permissions}");
    assert!(ada_ids.contains(&"$manage_api_keys"), "{ada_permissions}");

    Session { access_token }
}

#[test]
fn project_commands_print_json_and_suppress_the_default_project() {
    let dir = temp_dir();
    let database_url = sqlite_url(dir.path());
    let url_flag = ["--database-url", database_url.as_str()];

    let (status, stdout, stderr) =
        run_keygate(dir.path(), &[&url_flag[..], &["migrate"]].concat(), &[]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("applied"), "{stdout}");
    let (status, stdout, _) = run_keygate(dir.path(), &[&url_flag[..], &["migrate"]].concat(), &[]);
    assert!(status.success());
    assert!(stdout.contains("up to date"), "{stdout}");

    let (status, stdout, stderr) = run_keygate(
        dir.path(),
        &[
            &url_flag[..],
            &["project", "create", "CLI app", "--allow-user-api-keys"],
        ]
        .concat(),
        &[],
    );
    assert!(status.success(), "{stderr}");
    let created: Value = serde_json::from_str(&stdout).expect("create prints JSON");
    let project_id = created["project"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["project"]["display_name"], "CLI app");
    assert_eq!(
        created["project"]["config"],
        json!({"allow_user_api_keys": true, "allow_team_api_keys": false, "client_team_creation_enabled": false, "allow_localhost": false, "domains": [], "api_key_scopes": [], "api_key_rate_limit": null})
    );
    let keys = ProjectKeys::from_credential(&project_id, &created["credential"]);

    let (status, stdout, stderr) = run_keygate(
        dir.path(),
        &[
            &url_flag[..],
            &[
                "project",
                "update",
                &project_id,
                "--allow-team-api-keys",
                "true",
                "--display-name",
                "Renamed",
            ],
        ]
        .concat(),
        &[],
    );
    assert!(status.success(), "{stderr}");
    let updated: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(updated["display_name"], "Renamed");
    assert_eq!(updated["config"]["allow_team_api_keys"], true);

    let (_, stdout, _) = run_keygate(
        dir.path(),
        &[&url_flag[..], &["project", "show", &project_id]].concat(),
        &[],
    );
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap(), updated);
    let (_, stdout, _) = run_keygate(
        dir.path(),
        &[&url_flag[..], &["project", "list"]].concat(),
        &[],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap(),
        json!([updated])
    );

    let missing = "00000000-0000-4000-8000-000000000000";
    let (status, _, stderr) = run_keygate(
        dir.path(),
        &[&url_flag[..], &["project", "show", missing]].concat(),
        &[],
    );
    assert!(!status.success());
    assert!(stderr.contains(missing), "{stderr}");

    // The database has a project, so serving creates no `default` one; the CLI's keys work.
    let server = Server::start(dir.path(), &database_url, &[]);
    assert!(
        !server.startup_output.contains("first start"),
        "{}",
        server.startup_output
    );
    let http = client();
    let read = send(keys.admin(http.get(server.url("/api/v1/internal/projects/current")))).ok(200);
    assert_eq!(read, updated);
    let (_, stdout, _) = run_keygate(
        dir.path(),
        &[&url_flag[..], &["project", "list"]].concat(),
        &[],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn bad_settings_stop_start_up_naming_them() {
    let dir = temp_dir();
    let database_url = sqlite_url(dir.path());

    let config = file_in(dir.path(), "keygate.toml");
    std::fs::write(&config, "bnid = \"127.0.0.1:0\"\n").unwrap();
    let (status, _, stderr) = run_keygate(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--database-url",
            &database_url,
        ],
        &[],
    );
    assert!(!status.success());
    assert!(stderr.contains("bnid"), "{stderr}");

    std::fs::write(&config, "[auth]\npeper = \"x\"\n").unwrap();
    let (status, _, stderr) = run_keygate(
        dir.path(),
        &["serve", "--config", config.to_str().unwrap()],
        &[],
    );
    assert!(!status.success());
    assert!(stderr.contains("peper"), "{stderr}");

    let (status, _, stderr) = run_keygate(
        dir.path(),
        &["--database-url", &database_url],
        &[("KEYGATE_BIND", "nowhere")],
    );
    assert!(!status.success());
    assert!(stderr.contains("bind"), "{stderr}");

    let (status, _, stderr) = run_keygate(
        dir.path(),
        &["--database-url", "postgress://localhost/x"],
        &[],
    );
    assert!(!status.success());
    assert!(stderr.contains("postgress"), "{stderr}");

    let (status, _, stderr) = run_keygate(
        dir.path(),
        &["--database-url", &database_url],
        &[("KEYGATE_LOG__LEVEL", "keygate=loud")],
    );
    assert!(!status.success());
    assert!(stderr.contains("log.level"), "{stderr}");

    // None of these created the database.
    assert!(!dir.path().join("keygate.sqlite3").exists());
}

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    let dir = temp_dir();
    let mut server = Server::start(dir.path(), &sqlite_url(dir.path()), &[]);
    let address = server.base_url.trim_start_matches("http://").to_owned();

    // A request that is in its handler when the signal comes: the handler is still reading the
    // body. (A connection that has not yet delivered a whole request head is not in flight; it
    // is closed.)
    let body = br#"{"display_name": "made during shutdown"}"#;
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut stream = TcpStream::connect(&address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /api/v1/internal/projects HTTP/1.1\r\nHost: keygate\r\nauthorization: Bearer {OPERATOR_TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(first_half).unwrap();
    stream.flush().unwrap();
    // Time for the server to read the head and start the handler, even on a busy machine.
    std::thread::sleep(Duration::from_millis(1000));

    let sent = std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    std::thread::sleep(Duration::from_millis(300));

    // The rest of the body arrives after the signal, and the request still completes.
    stream.write_all(second_half).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "{response}\n{}",
        server.stderr()
    );
    assert!(response.contains("made during shutdown"), "{response}");

    let status = server.wait_for_exit();
    assert!(
        status.success(),
        "exit status {status:?}\nstderr:\n{}",
        server.stderr()
    );
    // Nothing listens any more.
    assert!(TcpStream::connect(&address).is_err());
}
