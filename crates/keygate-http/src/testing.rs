//! Test support for the HTTP layer: the whole app in-process over a fresh database, a clock tests
//! can move, projects with their credentials, and requests with the access headers set.
//!
//! [`http_tests!`](crate::http_tests) runs one async test body on SQLite and on Postgres, like
//! `keygate_storage::backend_tests!` (the Postgres twin is skipped without
//! `KEYGATE_TEST_POSTGRES_URL`, and fails instead under `CI=true`). [`delivery`] has the real
//! SMTP server and webhook receiver the delivery tests send to.

pub mod delivery;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::test::{self as actix_test, TestRequest};
use keygate_domain::{KeyHasher, ProjectId, ProjectSwitches, TeamId, UserId};
use keygate_storage::repo::memberships::{self, MembershipRecord};
use keygate_storage::repo::projects::ProjectRecord;
use keygate_storage::repo::sessions::{self, SessionRecord};
use keygate_storage::repo::team_permissions::{self, GrantRecord};
use keygate_storage::testing::TestDatabase;
use serde_json::Value;

use uuid::Uuid;

use crate::access_token::{AccessTokenSecret, AccessTokenSigner, AccessTokenSubject};
use crate::app::build_app;
use crate::state::{AppConfig, AppState, DEFAULT_REFRESH_TOKEN_LIFETIME_MILLIS};
use crate::wire_error::KNOWN_ERROR_HEADER;
use keygate_service::audit::AuditActor;
use keygate_service::projects::{create_project, issue_credential, CredentialKeys};

/// The operator token every test app accepts.
pub const TEST_OPERATOR_TOKEN: &str = "test-operator-token-0123456789abcdef";

/// A fixed start time for test clocks (2025-04-18T18:13:20Z), so tests never depend on the
/// machine's clock.
pub const TEST_START_MILLIS: i64 = 1_745_000_000_000;

/// The app over a fresh database, with a clock that only moves when told.
#[derive(Debug)]
pub struct TestApp {
    /// The state every request sees.
    pub state: AppState,
    clock: Arc<AtomicI64>,
    // Last, so the app's pool closes before the database is removed.
    database: TestDatabase,
}

impl TestApp {
    /// Wraps a migrated test database.
    pub fn new(database: TestDatabase) -> Self {
        let clock = Arc::new(AtomicI64::new(TEST_START_MILLIS));
        let reader = Arc::clone(&clock);
        let secret = AccessTokenSecret::generate().expect("random access-token secret");
        let state = AppState::new(AppConfig {
            database: database.database().clone(),
            hasher: KeyHasher::sha256(),
            access_tokens: AccessTokenSigner::new(&secret),
            operator_token: Some(TEST_OPERATOR_TOKEN.to_owned()),
            clock: Arc::new(move || reader.load(Ordering::SeqCst)),
        });
        TestApp {
            state,
            clock,
            database,
        }
    }

    /// The app over a fresh SQLite file.
    pub fn sqlite() -> Self {
        Self::new(TestDatabase::sqlite())
    }

    /// The app over a fresh Postgres database, or `None` when Postgres tests are skipped.
    pub fn postgres() -> Option<Self> {
        TestDatabase::postgres().map(Self::new)
    }

    /// The database behind the app (for assertions on what was stored).
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }

    /// The app's application layer (for delivery passes, which run off the app).
    pub fn service(&self) -> &keygate_service::Service {
        self.state.service()
    }

    /// The app's current time.
    pub fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// The app's clock itself, for work that runs off the test's thread (delivery passes).
    pub fn shared_clock(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.clock)
    }

    /// Moves the app's clock forward (or back, with a negative amount).
    pub fn advance_clock(&self, millis: i64) {
        self.clock.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sends `request` through the whole app.
    pub async fn send(&self, request: TestRequest) -> TestResponse {
        self.send_to(&self.state, request).await
    }

    /// Sends `request` through an app over `state` — another node sharing this app's database,
    /// say, made from [`TestApp::state`] with caches of its own.
    pub async fn send_to(&self, state: &AppState, request: TestRequest) -> TestResponse {
        let service = actix_test::init_service(build_app(state.clone())).await;
        let response = actix_test::call_service(&service, request.to_request()).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = actix_test::read_body(response).await;
        TestResponse {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).expect("responses are UTF-8"),
        }
    }

    /// Another node over this app's database: the same clock, hasher and access-token secret,
    /// and caches, rate-limit counts and usage records of its own (send to it with
    /// [`TestApp::send_to`]).
    pub fn another_node(&self) -> AppState {
        let reader = Arc::clone(&self.clock);
        AppState::new(AppConfig {
            database: self.database.database().clone(),
            hasher: self.state.hasher().clone(),
            access_tokens: self.state.access_tokens().clone(),
            operator_token: Some(TEST_OPERATOR_TOKEN.to_owned()),
            clock: Arc::new(move || reader.load(Ordering::SeqCst)),
        })
    }

    /// Creates a project (with the default team permissions) and a credential with all three
    /// keys.
    pub fn create_project(&self, config: ProjectSwitches) -> TestProject {
        let mut conn = self.database.conn();
        let now = self.now();
        let project =
            create_project(&mut conn, "Test project", config, now).expect("create project");
        let credential = issue_credential(
            &mut conn,
            self.state.hasher(),
            project.id,
            "test credential",
            None,
            CredentialKeys::ALL,
            &AuditActor::command_line("test fixture"),
            now,
        )
        .expect("issue credential");
        let key = |token: Option<keygate_domain::SecretToken>| {
            token.expect("asked for every key").into_string()
        };
        TestProject {
            record: project,
            publishable_client_key: key(credential.publishable_client_key),
            secret_server_key: key(credential.secret_server_key),
            super_secret_admin_key: key(credential.super_secret_admin_key),
        }
    }

    /// Inserts a user into `project` (directly in storage) with an open session, and returns it
    /// with a valid access token for that session.
    pub fn create_user(&self, project: &TestProject) -> TestUser {
        let mut conn = self.database.conn();
        let user = keygate_storage::testing::insert_user(&mut conn, project.id());
        let session = SessionRecord {
            id: Uuid::new_v4(),
            project_id: project.id(),
            user_id: user.id,
            refresh_token_hash: keygate_storage::testing::random_hash(),
            created_at_millis: self.now(),
            expires_at_millis: self.now() + DEFAULT_REFRESH_TOKEN_LIFETIME_MILLIS,
            revoked_at_millis: None,
            last_used_at_millis: self.now(),
        };
        sessions::insert(&mut conn, &session).expect("insert test session");
        let subject = AccessTokenSubject {
            project_id: project.id(),
            user_id: user.id,
            refresh_token_id: session.id.to_string(),
            display_name: user.display_name.clone(),
            primary_email: None,
            primary_email_verified: false,
            requires_totp_mfa: false,
            selected_team_id: None,
            signed_up_at_millis: user.signed_up_at_millis,
        };
        let issued = self
            .state
            .access_tokens()
            .issue(&subject, self.now())
            .expect("issue test access token");
        TestUser {
            id: user.id,
            session_id: session.id,
            access_token: issued.token.into_string(),
        }
    }

    /// Inserts a team into `project` (directly in storage) with `members`, each granted the
    /// permission ids given (e.g. `&["team_admin"]`, `&["team_member"]`, `&[]`).
    pub fn create_team(&self, project: &TestProject, members: &[(&TestUser, &[&str])]) -> TeamId {
        let mut conn = self.database.conn();
        let team = keygate_storage::testing::insert_team(&mut conn, project.id());
        for (user, permissions) in members {
            memberships::insert(
                &mut conn,
                &MembershipRecord {
                    project_id: project.id(),
                    team_id: team.id,
                    user_id: user.id,
                    created_at_millis: self.now(),
                },
            )
            .expect("insert test membership");
            for permission in *permissions {
                team_permissions::grant(
                    &mut conn,
                    &GrantRecord {
                        project_id: project.id(),
                        team_id: team.id,
                        user_id: user.id,
                        permission_id: (*permission).to_owned(),
                    },
                )
                .expect("grant test permission");
            }
        }
        team.id
    }

    /// Changes `project`'s `config` (its switches) as its admin would, through
    /// `PATCH /api/v1/internal/projects/current`, so every cache of this node sees the change.
    pub async fn configure_project(&self, project: &TestProject, config: Value) {
        let request = TestRequest::patch()
            .uri("/api/v1/internal/projects/current")
            .set_json(serde_json::json!({ "config": config }));
        self.send(project.admin(request)).await.assert_ok(200);
    }

    /// A project with user and team API keys and client team creation all enabled.
    pub fn create_open_project(&self) -> TestProject {
        self.create_project(ProjectSwitches {
            allow_user_api_keys: true,
            allow_team_api_keys: true,
            client_team_creation_enabled: true,
        })
    }
}

/// A project created for a test, with its keys in plain text.
#[derive(Debug, Clone)]
pub struct TestProject {
    /// The project as stored.
    pub record: ProjectRecord,
    /// Its publishable client key.
    pub publishable_client_key: String,
    /// Its secret server key.
    pub secret_server_key: String,
    /// Its super secret admin key.
    pub super_secret_admin_key: String,
}

impl TestProject {
    /// The project's id.
    pub fn id(&self) -> ProjectId {
        self.record.id
    }

    /// `request` with client access headers (publishable client key).
    pub fn client(&self, request: TestRequest) -> TestRequest {
        request
            .insert_header(("x-stack-access-type", "client"))
            .insert_header(("x-stack-project-id", self.id().to_string()))
            .insert_header((
                "x-stack-publishable-client-key",
                self.publishable_client_key.as_str(),
            ))
    }

    /// `request` with server access headers (secret server key).
    pub fn server(&self, request: TestRequest) -> TestRequest {
        request
            .insert_header(("x-stack-access-type", "server"))
            .insert_header(("x-stack-project-id", self.id().to_string()))
            .insert_header(("x-stack-secret-server-key", self.secret_server_key.as_str()))
    }

    /// `request` with admin access headers (super secret admin key).
    pub fn admin(&self, request: TestRequest) -> TestRequest {
        request
            .insert_header(("x-stack-access-type", "admin"))
            .insert_header(("x-stack-project-id", self.id().to_string()))
            .insert_header((
                "x-stack-super-secret-admin-key",
                self.super_secret_admin_key.as_str(),
            ))
    }
}

/// A user created for a test, signed in.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// The user's id.
    pub id: UserId,
    /// The open session's id.
    pub session_id: Uuid,
    /// A valid access token of that session.
    pub access_token: String,
}

impl TestUser {
    /// `request` with this user's access token.
    pub fn signed_in(&self, request: TestRequest) -> TestRequest {
        request.insert_header(("x-stack-access-token", self.access_token.as_str()))
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body as text.
    pub body: String,
}

impl TestResponse {
    /// The body as JSON.
    ///
    /// # Panics
    /// If the body is not JSON (the message shows the status and body).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {}", self.status, self.body))
    }

    /// The `x-stack-known-error` header, if any.
    pub fn known_error(&self) -> Option<&str> {
        self.headers
            .get(KNOWN_ERROR_HEADER)
            .and_then(|v| v.to_str().ok())
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a known error: status, `x-stack-known-error` header and `code` in the body.
    #[track_caller]
    pub fn assert_known_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.known_error()),
            (status, Some(code)),
            "body: {}",
            self.body
        );
        assert_eq!(self.json()["code"], code, "body: {}", self.body);
    }

    /// Asserts a plain-text error: status, no known-error header, exact text.
    #[track_caller]
    pub fn assert_plain_error(&self, status: u16, text: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.known_error(), None, "body: {}", self.body);
        assert_eq!(self.body, text);
    }

    /// Asserts a success status and returns the JSON body.
    #[track_caller]
    pub fn assert_ok(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self.json()
    }
}

/// Runs each async test body against the app on SQLite and on Postgres.
///
/// ```ignore
/// keygate_http::http_tests! {
///     fn health_answers(app) {
///         let response = app.send(TestRequest::get().uri("/health")).await;
///         assert_eq!(response.status, 200);
///     }
/// }
/// ```
/// A JSON object with `count` distinct top-level keys (about 11 bytes each): a hostile body.
pub fn json_object_with_keys(count: usize) -> String {
    let fields: Vec<String> = (0..count).map(|i| format!("\"k{i}\":{i}")).collect();
    format!("{{{}}}", fields.join(","))
}

/// A form body with `count` distinct, empty fields: a hostile body.
pub fn form_with_fields(count: usize) -> String {
    (0..count)
        .map(|i| format!("f{i}="))
        .collect::<Vec<_>>()
        .join("&")
}

#[macro_export]
macro_rules! http_tests {
    ($($(#[$attr:meta])* fn $name:ident($app:ident) $body:block)*) => {
        $(
            $(#[$attr])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn body($app: &$crate::testing::TestApp) $body

                #[actix_web::test]
                async fn sqlite() {
                    body(&$crate::testing::TestApp::sqlite()).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    match $crate::testing::TestApp::postgres() {
                        Some(app) => body(&app).await,
                        None => eprintln!(
                            "skipped {}::postgres: {} is not set",
                            module_path!(),
                            keygate_storage::testing::POSTGRES_URL_ENV
                        ),
                    }
                }
            }
        )*
    };
}
