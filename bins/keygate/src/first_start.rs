//! The first start: on a database without projects, keygate creates the project `default` (user
//! and team API keys and client team creation enabled, localhost origins trusted for local
//! development) with a credential holding all three keys,
//! and prints them once, so `cargo run --release` on a fresh clone gives a working server.
//!
//! Exactly one node ever does this, even when several start at once on a fresh database: the
//! work runs in one transaction that first claims the marker [`FIRST_START_MARKER`] in
//! `server_secrets` (insert-if-absent). A node that loses the race sees the claim and does
//! nothing; if the winner fails midway the claim is rolled back with the rest. A database that
//! already has projects (made with `keygate project create` before the first `serve`, or by an
//! older keygate) gets the marker and no `default` project. Later starts print nothing secret.
//! The `default` project's id is recorded as the demo sign-in's project
//! ([`keygate_service::demo::DEMO_PROJECT_MARKER`]), in the same transaction.

use keygate_domain::{EpochMillis, KeyHasher, ProjectSwitches};
use keygate_service::audit::AuditActor;
use keygate_service::demo::remember_demo_project;
use keygate_service::projects::{
    create_project_with_cors, issue_credential, CorsChanges, CredentialKeys, IssuedCredential,
};
use keygate_storage::repo::projects::{self, ProjectRecord};
use keygate_storage::repo::server_secrets;
use keygate_storage::{Database, StorageError};

/// The `server_secrets` row that records that the first start has been handled.
pub const FIRST_START_MARKER: &str = "first_start_handled";

/// The name of the project made on first start.
pub const DEFAULT_PROJECT_NAME: &str = "default";

/// What the first start created; shown once.
#[derive(Debug)]
pub struct FirstStart {
    /// The `default` project.
    pub project: ProjectRecord,
    /// Its credential, with all three keys in plain text.
    pub credential: IssuedCredential,
}

/// Creates the `default` project and its credential if this is the first start of an empty
/// database; `None` otherwise.
pub fn run(
    database: &Database,
    hasher: &KeyHasher,
    now: EpochMillis,
) -> Result<Option<FirstStart>, StorageError> {
    let mut conn = database.get()?;
    conn.in_transaction(|conn| {
        // The claim comes first: as the transaction's first statement it takes the write lock
        // (SQLite) or waits for a racing claim's outcome (Postgres).
        if !server_secrets::insert_if_absent(conn, FIRST_START_MARKER, b"handled", now)? {
            return Ok(None);
        }
        if projects::count(conn)? > 0 {
            return Ok(None);
        }
        let config = ProjectSwitches {
            allow_user_api_keys: true,
            allow_team_api_keys: true,
            client_team_creation_enabled: true,
        };
        // The one project that trusts localhost origins without being asked: it is the one a
        // developer tries from a page on their own machine.
        let local_development = CorsChanges {
            allow_localhost: Some(true),
            domains: None,
        };
        let by = AuditActor::command_line("first start");
        let project = create_project_with_cors(
            conn,
            DEFAULT_PROJECT_NAME,
            config,
            &local_development,
            &by,
            now,
        )?
        .project;
        // The demo sign-in finds this project by its id, whatever it is renamed to later.
        remember_demo_project(conn, project.id, now)?;
        let credential = issue_credential(
            conn,
            hasher,
            project.id,
            "created on first start",
            None,
            CredentialKeys::ALL,
            &by,
            now,
        )?;
        Ok(Some(FirstStart {
            project,
            credential,
        }))
    })
}

/// The text printed once on first start: the project id, the three keys, the base URL, what
/// keygate is for as three calls with those values filled in ([`main_job_walk`]), and where the
/// web UI will live.
pub fn banner(first: &FirstStart, base_url: &str) -> String {
    let key = |token: &Option<keygate_domain::SecretToken>| {
        token
            .as_ref()
            .map(|t| t.expose_secret().to_owned())
            .unwrap_or_default()
    };
    let project_id = first.project.id;
    let client_key = key(&first.credential.publishable_client_key);
    let server_key = key(&first.credential.secret_server_key);
    let admin_key = key(&first.credential.super_secret_admin_key);
    let rule = "=".repeat(78);
    let walk = main_job_walk(base_url, &project_id.to_string(), &server_key);
    format!(
        "{rule}
keygate first start: created the project \"{DEFAULT_PROJECT_NAME}\" (user and team API keys enabled).
These keys are shown ONLY NOW; keygate stores only their hashes. Copy them somewhere safe.

  base URL                 {base_url}
  project id               {project_id}
  publishable client key   {client_key}
  secret server key        {server_key}
  super secret admin key   {admin_key}

What keygate is for, in three calls (paste into bash; curl only):

{walk}
The web UI (account settings with the API keys tab) will live at {base_url}/handler/account-settings.
More keys: `keygate project create --help`, or POST {base_url}/api/v1/internal/api-keys.
{rule}"
    )
}

/// keygate's main job as a bash script with the real base URL, project id and server key: your
/// backend creates a user, gives them an API key, and turns a presented key into its owner.
/// Only curl is needed (the two values it carries forward are cut out with `sed`).
pub fn main_job_walk(base_url: &str, project_id: &str, server_key: &str) -> String {
    format!(
        r#"  KEYGATE={base_url}
  AS_SERVER=(-H 'content-type: application/json' -H 'x-stack-access-type: server'
    -H 'x-stack-project-id: {project_id}' -H 'x-stack-secret-server-key: {server_key}')
  # 1. Your backend creates a user (or uses one it has).
  USER_ID=$(curl -s -X POST "$KEYGATE/api/v1/users" "${{AS_SERVER[@]}}" \
    -d '{{"display_name": "Ada"}}' | sed -E 's/^\{{"id":"([^"]+)".*/\1/')
  # 2. ... gives them an API key (its value is shown once: keygate keeps only a hash).
  API_KEY=$(curl -s -X POST "$KEYGATE/api/v1/user-api-keys" "${{AS_SERVER[@]}}" \
    -d '{{"user_id": "'$USER_ID'", "description": "CI deploys", "expires_at_millis": null}}' \
    | sed -E 's/.*"value":"([^"]+)".*/\1/')
  # 3. ... and, on every request the user's program makes, turns the key into its owner.
  curl -s -X POST "$KEYGATE/api/v1/user-api-keys/check" "${{AS_SERVER[@]}}" \
    -d '{{"api_key": "'$API_KEY'"}}'"#
    )
}

#[cfg(test)]
mod tests {
    use keygate_storage::repo::project_cors;
    use keygate_storage::testing::{insert_project, TestDatabase};

    use super::*;

    keygate_storage::backend_tests! {
        fn the_first_start_happens_once(db) {
            let hasher = KeyHasher::sha256();
            let first = run(db.database(), &hasher, 1_000).unwrap().expect("first start");
            assert_eq!(first.project.display_name, "default");
            assert!(first.project.config.allow_user_api_keys);
            assert!(first.project.config.allow_team_api_keys);
            assert!(first.project.config.client_team_creation_enabled);
            assert!(first.credential.publishable_client_key.is_some());
            assert!(first.credential.secret_server_key.is_some());
            assert!(first.credential.super_secret_admin_key.is_some());
            let cors = project_cors::get(&mut db.conn(), first.project.id).unwrap();
            assert!(cors.allow_localhost, "the local-development project trusts localhost");
            assert!(run(db.database(), &hasher, 2_000).unwrap().is_none());
            assert_eq!(projects::count(&mut db.conn()).unwrap(), 1);
            let demo = server_secrets::get(&mut db.conn(), keygate_service::demo::DEMO_PROJECT_MARKER)
                .unwrap()
                .expect("the demo project is recorded");
            assert_eq!(demo.value, first.project.id.to_string().into_bytes());
        }

        fn a_database_with_projects_gets_no_default_project(db) {
            insert_project(&mut db.conn());
            assert!(run(db.database(), &KeyHasher::sha256(), 1_000).unwrap().is_none());
            assert_eq!(projects::count(&mut db.conn()).unwrap(), 1);
        }

        fn racing_nodes_create_one_default_project(db) {
            let created: Vec<bool> = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..3)
                    .map(|_| {
                        let database = db.database().clone();
                        scope.spawn(move || {
                            run(&database, &KeyHasher::sha256(), 1_000).unwrap().is_some()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(created.iter().filter(|c| **c).count(), 1, "{created:?}");
            assert_eq!(projects::count(&mut db.conn()).unwrap(), 1);
        }
    }

    #[test]
    fn the_readme_opens_with_the_banners_walk() {
        let readme = include_str!("../../../README.md");
        let walk = main_job_walk(
            "http://localhost:8102",
            "<project id>",
            "<secret server key>",
        );
        // The README shows the script at the left margin, the banner indents it by two.
        let unindented: Vec<&str> = walk
            .lines()
            .map(|line| line.strip_prefix("  ").unwrap_or(line))
            .collect();
        assert!(
            readme.contains(&unindented.join("\n")),
            "README.md's three calls differ from the banner's:\n{}",
            unindented.join("\n")
        );
    }

    #[test]
    fn the_banner_shows_everything_needed_once() {
        let database = TestDatabase::sqlite();
        let first = run(database.database(), &KeyHasher::sha256(), 1_000)
            .unwrap()
            .unwrap();
        let text = banner(&first, "http://localhost:8102");
        for expected in [
            first.project.id.to_string(),
            first
                .credential
                .publishable_client_key
                .as_ref()
                .unwrap()
                .expose_secret()
                .to_owned(),
            first
                .credential
                .secret_server_key
                .as_ref()
                .unwrap()
                .expose_secret()
                .to_owned(),
            first
                .credential
                .super_secret_admin_key
                .as_ref()
                .unwrap()
                .expose_secret()
                .to_owned(),
            "KEYGATE=http://localhost:8102".to_owned(),
            "$KEYGATE/api/v1/user-api-keys/check".to_owned(),
            "http://localhost:8102/handler/account-settings".to_owned(),
        ] {
            assert!(text.contains(&expected), "missing {expected} in:\n{text}");
        }
        // The Debug form (what a log line would show) has no key.
        let debugged = format!("{first:?}");
        let admin = first
            .credential
            .super_secret_admin_key
            .as_ref()
            .unwrap()
            .expose_secret();
        assert!(!debugged.contains(admin), "{debugged}");
    }
}
