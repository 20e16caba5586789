//! Tests of the project and credential routes, and of the access layer through them.

use actix_web::test::TestRequest;
use keygate_domain::{CredentialKind, KeyHasher, ProjectSwitches};
use keygate_storage::repo::project_cors::{self, ProjectCors};
use keygate_storage::repo::project_credentials;
use keygate_storage::repo::{sessions, team_permissions, users};
use keygate_storage::testing::write_keys_uncached;
use serde_json::json;

use crate::testing::{TestApp, TestProject, TestResponse, TEST_OPERATOR_TOKEN};

const PROJECTS: &str = "/api/v1/internal/projects";
const CURRENT: &str = "/api/v1/internal/projects/current";
const CREDENTIALS: &str = "/api/v1/internal/api-keys";

fn operator(request: TestRequest) -> TestRequest {
    request.insert_header(("authorization", format!("Bearer {TEST_OPERATOR_TOKEN}")))
}

fn all_keys_body() -> serde_json::Value {
    json!({
        "description": "issued in a test",
        "expires_at_millis": null,
        "has_publishable_client_key": true,
        "has_secret_server_key": true,
        "has_super_secret_admin_key": true,
    })
}

/// A project built from the keys an issued-credential answer returned.
fn project_with_keys(record: &TestProject, issued: &serde_json::Value) -> TestProject {
    let key = |name: &str| issued[name].as_str().unwrap_or_default().to_owned();
    TestProject {
        record: record.record.clone(),
        publishable_client_key: key("publishable_client_key"),
        secret_server_key: key("secret_server_key"),
        super_secret_admin_key: key("super_secret_admin_key"),
    }
}

async fn get_current(app: &TestApp, request: TestRequest) -> TestResponse {
    app.send(request.uri(CURRENT)).await
}

#[track_caller]
fn assert_insufficient(response: &TestResponse, actual: &str) {
    response.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
    assert_eq!(
        response.json()["details"],
        json!({"actual_access_type": actual, "allowed_access_types": ["admin"]})
    );
}

crate::http_tests! {
    // --- POST /api/v1/internal/projects -------------------------------------------------

    fn the_operator_creates_a_project_with_seeded_permissions(app) {
        let response = app
            .send(operator(TestRequest::post().uri(PROJECTS)).set_json(json!({
                "display_name": "Acme",
                "config": {"allow_user_api_keys": true, "client_team_creation_enabled": true},
            })))
            .await;
        let body = response.assert_ok(201);
        let id: keygate_domain::ProjectId = body["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            body,
            json!({
                "id": id.to_string(),
                "display_name": "Acme",
                "created_at_millis": app.now(),
                "config": {
                    "allow_user_api_keys": true,
                    "allow_team_api_keys": false,
                    "client_team_creation_enabled": true,
                    "allow_localhost": false,
                    "domains": [],
                    "api_key_scopes": [],
                    "api_key_rate_limit": null,
                },
            })
        );
        let mut conn = app.database().conn();
        let definitions = team_permissions::list_definitions(&mut conn, id).unwrap();
        assert!(definitions.iter().any(|d| d.id == "team_admin"));
        assert!(definitions.iter().any(|d| d.id == "team_member"));
        assert!(definitions.iter().any(|d| d.id == "$manage_api_keys"));
    }

    fn clients_read_upstreams_client_view_of_the_project(app) {
        let project = app.create_project(ProjectSwitches {
            allow_user_api_keys: true,
            allow_team_api_keys: false,
            client_team_creation_enabled: true,
        });
        let user = app.create_user(&project);
        let expected = json!({
            "id": project.id().to_string(),
            "display_name": "Test project",
            "config": {
                "sign_up_enabled": false,
                "credential_enabled": false,
                "magic_link_enabled": false,
                "passkey_enabled": false,
                "client_team_creation_enabled": true,
                "client_user_deletion_enabled": false,
                "allow_user_api_keys": true,
                "allow_team_api_keys": false,
                "enabled_oauth_providers": [],
            },
        });
        for request in [
            project.client(TestRequest::get().uri("/api/v1/projects/current")),
            user.signed_in(project.client(TestRequest::get().uri("/api/v1/projects/current"))),
            project.server(TestRequest::get().uri("/api/v1/projects/current")),
            project.admin(TestRequest::get().uri("/api/v1/projects/current")),
        ] {
            assert_eq!(app.send(request).await.assert_ok(200), expected);
        }
        app.send(TestRequest::get().uri("/api/v1/projects/current"))
            .await
            .assert_known_error(400, "ACCESS_TYPE_REQUIRED");
        app.send(project.client(TestRequest::get().uri("/api/v1/projects/current?x=1")))
            .await
            .assert_known_error(400, "SCHEMA_ERROR");
    }

    fn a_new_projects_config_defaults_to_all_off(app) {
        let response = app
            .send(operator(TestRequest::post().uri(PROJECTS)).set_json(json!({"display_name": "Plain"})))
            .await;
        assert_eq!(
            response.assert_ok(201)["config"],
            json!({
                "allow_user_api_keys": false,
                "allow_team_api_keys": false,
                "client_team_creation_enabled": false,
                "allow_localhost": false,
                "domains": [],
                "api_key_scopes": [],
                    "api_key_rate_limit": null,
            })
        );
    }

    fn creating_a_project_needs_the_operator_token(app) {
        let body = json!({"display_name": "Acme"});
        let response = app.send(TestRequest::post().uri(PROJECTS).set_json(&body)).await;
        response.assert_known_error(401, "OPERATOR_AUTHENTICATION_REQUIRED");
        for authorization in [
            "Bearer wrong-token-0123456789abcdef".to_owned(),
            format!("Bearer {TEST_OPERATOR_TOKEN}x"),
        ] {
            let response = app
                .send(
                    TestRequest::post()
                        .uri(PROJECTS)
                        .insert_header(("authorization", authorization))
                        .set_json(&body),
                )
                .await;
            response.assert_known_error(401, "INVALID_OPERATOR_TOKEN");
        }
        // Not a bearer token at all.
        let response = app
            .send(
                TestRequest::post()
                    .uri(PROJECTS)
                    .insert_header(("authorization", format!("Basic {TEST_OPERATOR_TOKEN}")))
                    .set_json(&body),
            )
            .await;
        response.assert_known_error(401, "OPERATOR_AUTHENTICATION_REQUIRED");
        // A project's admin key is not the operator token.
        let project = app.create_project(ProjectSwitches::default());
        let response = app
            .send(
                project
                    .admin(TestRequest::post().uri(PROJECTS))
                    .insert_header((
                        "authorization",
                        format!("Bearer {}", project.super_secret_admin_key),
                    ))
                    .set_json(&body),
            )
            .await;
        response.assert_known_error(401, "INVALID_OPERATOR_TOKEN");
    }

    fn a_bad_project_body_is_a_schema_error(app) {
        let response = app
            .send(operator(TestRequest::post().uri(PROJECTS)).set_json(json!({
                "display_name": 7,
                "config": {"allow_user_api_keys": "yes", "api_keys": true},
                "owner": "me",
            })))
            .await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        let message = "Request validation failed on POST /api/v1/internal/projects:\n  - body.display_name must be a `string` type, but the final value was: `7`.\n  - body.config.allow_user_api_keys must be a `boolean` type, but the final value was: `\"yes\"`.\n  - body.config contains unknown properties: api_keys\n  - body contains unknown properties: owner";
        assert_eq!(response.json()["error"], message);
        assert_eq!(response.json()["details"]["message"], message);

        let response = app
            .send(operator(TestRequest::post().uri(PROJECTS)).set_json(json!({"config": null})))
            .await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        let error = response.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains("body.display_name must be defined"), "{error}");
        assert!(error.contains("body.config cannot be null"), "{error}");

        let response = app
            .send(operator(TestRequest::post().uri(&format!("{PROJECTS}?dry_run=true"))).set_json(json!({"display_name": "x"})))
            .await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        assert!(response.body.contains("query contains unknown properties: dry_run"));

        let response = app.send(operator(TestRequest::post().uri(PROJECTS))).await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        assert!(response.body.contains("body must be defined"));

        let response = app
            .send(
                operator(TestRequest::post().uri(PROJECTS))
                    .insert_header(("content-type", "application/json"))
                    .set_payload("{not json"),
            )
            .await;
        response.assert_known_error(400, "BODY_PARSING_ERROR");
    }

    fn wrong_methods_are_405(app) {
        for request in [
            TestRequest::get().uri(PROJECTS),
            TestRequest::delete().uri(CURRENT),
            TestRequest::post().uri(CURRENT),
            TestRequest::put().uri(CREDENTIALS),
            TestRequest::post().uri(&format!("{CREDENTIALS}/{}", uuid::Uuid::new_v4())),
        ] {
            let response = app.send(operator(request)).await;
            assert_eq!(response.status.as_u16(), 405, "{}", response.body);
            assert_eq!(response.known_error(), None);
        }
    }

    // --- GET / PATCH /api/v1/internal/projects/current ------------------------------------

    fn admin_reads_the_current_project(app) {
        let project = app.create_open_project();
        let response = get_current(app, project.admin(TestRequest::get())).await;
        assert_eq!(
            response.assert_ok(200),
            json!({
                "id": project.id().to_string(),
                "display_name": "Test project",
                "created_at_millis": project.record.created_at_millis,
                "config": {
                    "allow_user_api_keys": true,
                    "allow_team_api_keys": true,
                    "client_team_creation_enabled": true,
                    "allow_localhost": false,
                    "domains": [],
                    "api_key_scopes": [],
                    "api_key_rate_limit": null,
                },
            })
        );
        let response = app.send(project.admin(TestRequest::get().uri(&format!("{CURRENT}?x=1")))).await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        assert!(response.body.contains("query contains unknown properties: x"), "{}", response.body);
    }

    fn only_admin_access_reaches_the_project_endpoints(app) {
        let project = app.create_project(ProjectSwitches::default());
        for (request, actual) in [
            (project.client(TestRequest::get().uri(CURRENT)), "client"),
            (project.server(TestRequest::get().uri(CURRENT)), "server"),
            (project.client(TestRequest::patch().uri(CURRENT)).set_json(json!({})), "client"),
            (project.server(TestRequest::patch().uri(CURRENT)).set_json(json!({})), "server"),
            (project.server(TestRequest::post().uri(CREDENTIALS)).set_json(all_keys_body()), "server"),
            (project.client(TestRequest::post().uri(CREDENTIALS)).set_json(all_keys_body()), "client"),
        ] {
            assert_insufficient(&app.send(request).await, actual);
        }
    }

    fn admin_patches_name_and_switches(app) {
        let project = app.create_project(ProjectSwitches::default());
        let response = app
            .send(project.admin(TestRequest::patch().uri(CURRENT)).set_json(json!({
                "display_name": "Renamed",
                "config": {"allow_team_api_keys": true},
            })))
            .await;
        let body = response.assert_ok(200);
        assert_eq!(body["display_name"], "Renamed");
        assert_eq!(
            body["config"],
            json!({
                "allow_user_api_keys": false,
                "allow_team_api_keys": true,
                "client_team_creation_enabled": false,
                "allow_localhost": false,
                "domains": [],
                "api_key_scopes": [],
                    "api_key_rate_limit": null,
            })
        );
        // Partial changes leave the rest alone; an empty body changes nothing.
        let response = app
            .send(project.admin(TestRequest::patch().uri(CURRENT)).set_json(json!({
                "config": {"allow_user_api_keys": true, "client_team_creation_enabled": true, "allow_team_api_keys": false},
            })))
            .await;
        let body = response.assert_ok(200);
        assert_eq!(body["display_name"], "Renamed");
        let response = app.send(project.admin(TestRequest::patch().uri(CURRENT)).set_json(json!({}))).await;
        assert_eq!(response.assert_ok(200), body);
        // What the next request sees.
        let read = get_current(app, project.admin(TestRequest::get())).await;
        assert_eq!(read.assert_ok(200), body);
        assert_eq!(
            body["config"],
            json!({
                "allow_user_api_keys": true,
                "allow_team_api_keys": false,
                "client_team_creation_enabled": true,
                "allow_localhost": false,
                "domains": [],
                "api_key_scopes": [],
                    "api_key_rate_limit": null,
            })
        );
    }

    fn admin_reads_and_sets_cors_under_upstreams_names(app) {
        let project = app.create_open_project();
        let response = app
            .send(project.admin(TestRequest::patch().uri(CURRENT)).set_json(json!({
                "config": {
                    "allow_localhost": false,
                    "domains": [
                        {"domain": "https://App.Example.com/", "handler_path": "/auth/handler"},
                        {"domain": "http://shop.example:8080"},
                    ],
                },
            })))
            .await;
        let body = response.assert_ok(200);
        assert_eq!(body["config"]["allow_localhost"], false);
        assert_eq!(
            body["config"]["domains"],
            json!([
                {"domain": "https://App.Example.com/", "handler_path": "/auth/handler"},
                {"domain": "http://shop.example:8080", "handler_path": "/handler"},
            ])
        );
        assert_eq!(body["config"]["allow_team_api_keys"], true, "other switches unchanged");
        let read = get_current(app, project.admin(TestRequest::get())).await;
        assert_eq!(read.assert_ok(200), body);
        let mut conn = app.database().conn();
        let stored = project_cors::get(&mut conn, project.id()).unwrap();
        assert_eq!(stored.domains[0].origin, "https://app.example.com");
        assert_eq!(stored.domains[1].origin, "http://shop.example:8080");
        drop(conn);

        // Leaving them out keeps them; setting one keeps the other.
        let response = app
            .send(project.admin(TestRequest::patch().uri(CURRENT)).set_json(json!({
                "config": {"allow_localhost": true},
            })))
            .await;
        let body = response.assert_ok(200);
        assert_eq!(body["config"]["allow_localhost"], true);
        assert_eq!(body["config"]["domains"].as_array().map(Vec::len), Some(2));

        // A project created with CORS settings has them from the start.
        let created = app
            .send(operator(TestRequest::post().uri(PROJECTS)).set_json(json!({
                "display_name": "Shop",
                "config": {"domains": [{"domain": "https://shop.example"}]},
            })))
            .await
            .assert_ok(201);
        assert_eq!(created["config"]["allow_localhost"], false, "localhost is opt-in");
        assert_eq!(
            created["config"]["domains"],
            json!([{"domain": "https://shop.example", "handler_path": "/handler"}])
        );
    }

    fn bad_cors_settings_are_schema_errors(app) {
        let project = app.create_open_project();
        for (domains, message) in [
            (json!("https://a.example"), "body.config.domains must be a `array` type"),
            (json!([{"domain": "ftp://a.example"}]), "body.config.domains [0] domain must be a URL starting with http:// or https://"),
            (json!([{"domain": "not a url"}]), "body.config.domains [0] domain must be a URL"),
            (json!([{}]), "body.config.domains [0] needs a domain"),
            (json!([{"domain": "https://a.example", "handler_path": "handler"}]), "body.config.domains [0] handler_path must be a path starting with /"),
            (json!([{"domain": "https://a.example", "wildcard": true}]), "body.config.domains [0] contains unknown properties: wildcard"),
            (json!([{"domain": "https://a.example"}, {"domain": "https://a.example"}]), "body.config.domains [1] repeats a domain"),
            (json!([7]), "body.config.domains [0] must be an object"),
        ] {
            let response = app
                .send(project.admin(TestRequest::patch().uri(CURRENT)).set_json(json!({
                    "config": {"domains": domains},
                })))
                .await;
            response.assert_known_error(400, "SCHEMA_ERROR");
            assert!(response.body.contains(message), "{message}: {}", response.body);
        }
        let response = app
            .send(project.admin(TestRequest::patch().uri(CURRENT)).set_json(json!({
                "config": {"allow_localhost": "yes"},
            })))
            .await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        // Nothing was stored by the refused requests.
        let mut conn = app.database().conn();
        assert_eq!(project_cors::get(&mut conn, project.id()).unwrap(), ProjectCors::default());
    }

    fn a_bad_patch_body_is_a_schema_error(app) {
        let project = app.create_project(ProjectSwitches::default());
        let response = app
            .send(project.admin(TestRequest::patch().uri(CURRENT)).set_json(json!({
                "display_name": null,
                "config": {"allow_team_api_keys": 1, "allow_everything": true},
                "id": project.id().to_string(),
            })))
            .await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        let message = "Request validation failed on PATCH /api/v1/internal/projects/current:\n  - body.display_name cannot be null\n  - body.config.allow_team_api_keys must be a `boolean` type, but the final value was: `1`.\n  - body.config contains unknown properties: allow_everything\n  - body contains unknown properties: id";
        assert_eq!(response.json()["error"], message);
        let response = app
            .send(project.admin(TestRequest::patch().uri(CURRENT)).set_json(json!({"config": []})))
            .await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        let response = app.send(project.admin(TestRequest::patch().uri(CURRENT))).await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        // Nothing changed.
        let read = get_current(app, project.admin(TestRequest::get())).await;
        assert_eq!(read.assert_ok(200)["display_name"], "Test project");
    }

    // --- POST /api/v1/internal/api-keys ----------------------------------------------------

    fn admin_issues_a_credential_whose_keys_work(app) {
        let project = app.create_project(ProjectSwitches::default());
        let response = app
            .send(project.admin(TestRequest::post().uri(CREDENTIALS)).set_json(all_keys_body()))
            .await;
        let issued = response.assert_ok(200);
        assert_eq!(issued["description"], "issued in a test");
        assert_eq!(issued["created_at_millis"], app.now());
        assert!(issued.get("expires_at_millis").is_none(), "{issued}");
        assert!(issued["publishable_client_key"].as_str().unwrap().starts_with("pck_"));
        assert!(issued["secret_server_key"].as_str().unwrap().starts_with("ssk_"));
        assert!(issued["super_secret_admin_key"].as_str().unwrap().starts_with("sak_"));

        let fresh = project_with_keys(&project, &issued);
        get_current(app, fresh.admin(TestRequest::get())).await.assert_ok(200);
        // The server and client keys authenticate (and then lack admin access).
        assert_insufficient(&get_current(app, fresh.server(TestRequest::get())).await, "server");
        assert_insufficient(&get_current(app, fresh.client(TestRequest::get())).await, "client");

        // Only hashes are stored.
        let mut conn = app.database().conn();
        let hasher = KeyHasher::sha256();
        let admin_key = issued["super_secret_admin_key"].as_str().unwrap();
        let stored = project_credentials::find_by_hash(
            &mut conn,
            project.id(),
            CredentialKind::SuperSecretAdminKey,
            &hasher.hash(admin_key),
        )
        .unwrap()
        .unwrap();
        assert!(stored.lifetime().is_valid(app.now()));
        assert_eq!(stored.id.to_string(), issued["id"].as_str().unwrap());
        assert!(!format!("{stored:?}").contains(admin_key));
    }

    fn a_credential_carries_only_the_keys_asked_for(app) {
        let project = app.create_project(ProjectSwitches::default());
        let expires = app.now() + 60_000;
        let response = app
            .send(project.admin(TestRequest::post().uri(CREDENTIALS)).set_json(json!({
                "description": "server only",
                "expires_at_millis": expires,
                "has_publishable_client_key": false,
                "has_secret_server_key": true,
                "has_super_secret_admin_key": false,
            })))
            .await;
        let issued = response.assert_ok(200);
        let mut keys: Vec<&String> = issued.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["created_at_millis", "description", "expires_at_millis", "id", "secret_server_key"]
        );
        assert_eq!(issued["expires_at_millis"], expires);
    }

    fn a_credential_needs_at_least_one_key(app) {
        let project = app.create_project(ProjectSwitches::default());
        let response = app
            .send(project.admin(TestRequest::post().uri(CREDENTIALS)).set_json(json!({
                "description": "nothing",
                "expires_at_millis": null,
                "has_publishable_client_key": false,
                "has_secret_server_key": false,
                "has_super_secret_admin_key": false,
            })))
            .await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        assert!(response.json()["error"].as_str().unwrap().contains("At least one of"));
    }

    fn a_bad_credential_body_is_a_schema_error(app) {
        let project = app.create_project(ProjectSwitches::default());
        let response = app
            .send(project.admin(TestRequest::post().uri(CREDENTIALS)).set_json(json!({
                "has_secret_server_key": "yes",
                "expires_at_millis": 1.5,
                "project_id": "x",
            })))
            .await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        let message = "Request validation failed on POST /api/v1/internal/api-keys:\n  - body.description must be defined\n  - body.expires_at_millis must be an integer\n  - body.has_publishable_client_key must be defined\n  - body.has_secret_server_key must be a `boolean` type, but the final value was: `\"yes\"`.\n  - body.has_super_secret_admin_key must be defined\n  - body contains unknown properties: project_id";
        assert_eq!(response.json()["error"], message);
        // `expires_at_millis` must be given, even if null.
        let mut body = all_keys_body();
        body.as_object_mut().unwrap().remove("expires_at_millis");
        let response = app.send(project.admin(TestRequest::post().uri(CREDENTIALS)).set_json(body)).await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        assert!(response.body.contains("body.expires_at_millis must be defined"));
    }

    fn the_operator_issues_credentials_for_a_named_project(app) {
        let project = app.create_project(ProjectSwitches::default());
        for header in ["x-stack-project-id", "x-hexclave-project-id"] {
            let response = app
                .send(
                    operator(TestRequest::post().uri(CREDENTIALS))
                        .insert_header((header, project.id().to_string()))
                        .set_json(all_keys_body()),
                )
                .await;
            let issued = response.assert_ok(200);
            let fresh = project_with_keys(&project, &issued);
            get_current(app, fresh.admin(TestRequest::get())).await.assert_ok(200);
        }
    }

    fn the_operator_must_name_an_existing_project(app) {
        let unknown = keygate_domain::ProjectId::new_random().to_string();
        for project_id in [None, Some(unknown.as_str()), Some("not-a-uuid")] {
            let mut request = operator(TestRequest::post().uri(CREDENTIALS)).set_json(all_keys_body());
            if let Some(id) = project_id {
                request = request.insert_header(("x-stack-project-id", id));
            }
            let response = app.send(request).await;
            response.assert_known_error(400, "CURRENT_PROJECT_NOT_FOUND");
        }
        let project = app.create_project(ProjectSwitches::default());
        let response = app
            .send(
                TestRequest::post()
                    .uri(CREDENTIALS)
                    .insert_header(("authorization", "Bearer not-the-operator-token"))
                    .insert_header(("x-stack-project-id", project.id().to_string()))
                    .set_json(all_keys_body()),
            )
            .await;
        response.assert_known_error(401, "INVALID_OPERATOR_TOKEN");
        // Without any credential it is a project endpoint like every other.
        let response = app
            .send(
                TestRequest::post()
                    .uri(CREDENTIALS)
                    .set_json(all_keys_body()),
            )
            .await;
        response.assert_known_error(400, "ACCESS_TYPE_REQUIRED");
    }

    fn an_expired_credential_stops_working(app) {
        let project = app.create_project(ProjectSwitches::default());
        let mut body = all_keys_body();
        body["expires_at_millis"] = json!(app.now() + 1_000);
        let issued = app
            .send(project.admin(TestRequest::post().uri(CREDENTIALS)).set_json(body))
            .await
            .assert_ok(200);
        let fresh = project_with_keys(&project, &issued);
        get_current(app, fresh.admin(TestRequest::get())).await.assert_ok(200);
        app.advance_clock(1_001);
        let response = get_current(app, fresh.admin(TestRequest::get())).await;
        response.assert_known_error(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
        let response = get_current(app, fresh.server(TestRequest::get())).await;
        response.assert_known_error(401, "INVALID_SECRET_SERVER_KEY");
        // A credential can be issued already expired (every instant is that instant).
        let mut body = all_keys_body();
        body["expires_at_millis"] = json!(0);
        let issued = app
            .send(project.admin(TestRequest::post().uri(CREDENTIALS)).set_json(body))
            .await
            .assert_ok(200);
        assert_eq!(issued["expires_at_millis"], 0);
        let stale = project_with_keys(&project, &issued);
        let response = get_current(app, stale.client(TestRequest::get())).await;
        response.assert_known_error(401, "INVALID_PUBLISHABLE_CLIENT_KEY");
        // The project's original credential is unaffected.
        get_current(app, project.admin(TestRequest::get())).await.assert_ok(200);
    }

    // --- the access layer (src/auth.rs), through these routes -----------------------------

    fn no_access_type_is_access_type_required(app) {
        let response = get_current(app, TestRequest::get()).await;
        response.assert_known_error(400, "ACCESS_TYPE_REQUIRED");
        // A project id alone is not enough either.
        let project = app.create_project(ProjectSwitches::default());
        let response = get_current(
            app,
            TestRequest::get().insert_header(("x-stack-project-id", project.id().to_string())),
        )
        .await;
        response.assert_known_error(400, "ACCESS_TYPE_REQUIRED");
    }

    fn a_key_without_access_type_is_refused(app) {
        let project = app.create_project(ProjectSwitches::default());
        for (header, key) in [
            ("x-stack-publishable-client-key", &project.publishable_client_key),
            ("x-stack-secret-server-key", &project.secret_server_key),
            ("x-hexclave-super-secret-admin-key", &project.super_secret_admin_key),
        ] {
            let response = get_current(
                app,
                TestRequest::get()
                    .insert_header(("x-stack-project-id", project.id().to_string()))
                    .insert_header((header, key.as_str())),
            )
            .await;
            response.assert_known_error(400, "PROJECT_KEY_WITHOUT_ACCESS_TYPE");
        }
    }

    fn an_unknown_access_type_is_invalid(app) {
        let project = app.create_project(ProjectSwitches::default());
        for access_type in ["root", "Admin", "admin "] {
            let response = get_current(
                app,
                project
                    .admin(TestRequest::get())
                    .insert_header(("x-stack-access-type", access_type)),
            )
            .await;
            response.assert_known_error(400, "INVALID_ACCESS_TYPE");
        }
    }

    fn an_access_type_needs_a_project_id(app) {
        let project = app.create_project(ProjectSwitches::default());
        let response = get_current(
            app,
            TestRequest::get()
                .insert_header(("x-stack-access-type", "admin"))
                .insert_header(("x-stack-super-secret-admin-key", project.super_secret_admin_key.as_str())),
        )
        .await;
        response.assert_known_error(400, "ACCESS_TYPE_WITHOUT_PROJECT_ID");
        assert_eq!(response.json()["details"], json!({"request_type": "admin"}));
    }

    fn an_unknown_or_malformed_project_is_an_invalid_key(app) {
        let project = app.create_project(ProjectSwitches::default());
        let unknown = keygate_domain::ProjectId::new_random().to_string();
        for project_id in [unknown.as_str(), "not-a-uuid"] {
            let response = get_current(
                app,
                project
                    .admin(TestRequest::get())
                    .insert_header(("x-stack-project-id", project_id)),
            )
            .await;
            response.assert_known_error(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
            assert_eq!(response.json()["details"], json!({"project_id": project_id}));
        }
    }

    fn each_access_type_needs_its_key(app) {
        let project = app.create_project(ProjectSwitches::default());
        for (access_type, code) in [
            ("client", "CLIENT_AUTHENTICATION_REQUIRED"),
            ("server", "SERVER_AUTHENTICATION_REQUIRED"),
            ("admin", "ADMIN_AUTHENTICATION_REQUIRED"),
        ] {
            let bare = || {
                TestRequest::get()
                    .insert_header(("x-stack-access-type", access_type))
                    .insert_header(("x-stack-project-id", project.id().to_string()))
            };
            get_current(app, bare()).await.assert_known_error(401, code);
            // An empty header is no header.
            let empty = bare()
                .insert_header(("x-stack-publishable-client-key", ""))
                .insert_header(("x-stack-secret-server-key", ""))
                .insert_header(("x-stack-super-secret-admin-key", ""));
            get_current(app, empty).await.assert_known_error(401, code);
        }
        // The key of another access type does not stand in.
        let response = get_current(
            app,
            TestRequest::get()
                .insert_header(("x-stack-access-type", "admin"))
                .insert_header(("x-stack-project-id", project.id().to_string()))
                .insert_header(("x-stack-secret-server-key", project.secret_server_key.as_str())),
        )
        .await;
        response.assert_known_error(401, "ADMIN_AUTHENTICATION_REQUIRED");
    }

    fn a_wrong_key_is_invalid_for_its_access_type(app) {
        let project = app.create_project(ProjectSwitches::default());
        let other = app.create_project(ProjectSwitches::default());
        let cases = [
            ("client", "x-stack-publishable-client-key", "pck_garbage".to_owned(), "INVALID_PUBLISHABLE_CLIENT_KEY"),
            ("server", "x-stack-secret-server-key", "ssk_garbage".to_owned(), "INVALID_SECRET_SERVER_KEY"),
            ("admin", "x-stack-super-secret-admin-key", "sak_garbage".to_owned(), "INVALID_SUPER_SECRET_ADMIN_KEY"),
            // Another project's keys.
            ("client", "x-stack-publishable-client-key", other.publishable_client_key.clone(), "INVALID_PUBLISHABLE_CLIENT_KEY"),
            ("server", "x-stack-secret-server-key", other.secret_server_key.clone(), "INVALID_SECRET_SERVER_KEY"),
            ("admin", "x-stack-super-secret-admin-key", other.super_secret_admin_key.clone(), "INVALID_SUPER_SECRET_ADMIN_KEY"),
            // This project's keys in the wrong header.
            ("server", "x-stack-secret-server-key", project.publishable_client_key.clone(), "INVALID_SECRET_SERVER_KEY"),
            ("admin", "x-stack-super-secret-admin-key", project.secret_server_key.clone(), "INVALID_SUPER_SECRET_ADMIN_KEY"),
            ("client", "x-stack-publishable-client-key", project.super_secret_admin_key.clone(), "INVALID_PUBLISHABLE_CLIENT_KEY"),
        ];
        for (access_type, header, key, code) in cases {
            let response = get_current(
                app,
                TestRequest::get()
                    .insert_header(("x-stack-access-type", access_type))
                    .insert_header(("x-stack-project-id", project.id().to_string()))
                    .insert_header((header, key.as_str())),
            )
            .await;
            response.assert_known_error(401, code);
            assert_eq!(response.json()["details"], json!({"project_id": project.id().to_string()}));
            assert!(!response.body.contains(&key), "the key is echoed: {}", response.body);
        }
    }

    fn hexclave_headers_are_accepted(app) {
        let project = app.create_project(ProjectSwitches::default());
        let response = get_current(
            app,
            TestRequest::get()
                .insert_header(("x-hexclave-access-type", "admin"))
                .insert_header(("x-hexclave-project-id", project.id().to_string()))
                .insert_header(("x-hexclave-super-secret-admin-key", project.super_secret_admin_key.as_str())),
        )
        .await;
        assert_eq!(response.assert_ok(200)["id"], project.id().to_string());
        let user = app.create_user(&project);
        let response = get_current(
            app,
            project
                .admin(TestRequest::get())
                .insert_header(("x-hexclave-access-token", "garbage")),
        )
        .await;
        response.assert_known_error(401, "UNPARSABLE_ACCESS_TOKEN");
        let response = get_current(
            app,
            project
                .admin(TestRequest::get())
                .insert_header(("x-hexclave-access-token", user.access_token.as_str())),
        )
        .await;
        response.assert_ok(200);
    }

    fn override_error_status_answers_200_with_the_actual_status(app) {
        let project = app.create_project(ProjectSwitches::default());
        for header in ["x-stack-override-error-status", "x-hexclave-override-error-status"] {
            let response = get_current(
                app,
                project.server(TestRequest::get()).insert_header((header, "true")),
            )
            .await;
            assert_eq!(response.status.as_u16(), 200, "{}", response.body);
            assert_eq!(response.header("x-stack-actual-status"), Some("401"));
            assert_eq!(response.known_error(), Some("INSUFFICIENT_ACCESS_TYPE"));
            assert_eq!(response.json()["code"], "INSUFFICIENT_ACCESS_TYPE");
        }
        // Successes are untouched.
        let response = get_current(
            app,
            project.admin(TestRequest::get()).insert_header(("x-stack-override-error-status", "true")),
        )
        .await;
        response.assert_ok(200);
        assert_eq!(response.header("x-stack-actual-status"), None);
    }

    fn access_tokens_are_checked_on_admin_routes_too(app) {
        let project = app.create_project(ProjectSwitches::default());
        let user = app.create_user(&project);
        let with_token = |token: &str| {
            project
                .admin(TestRequest::get())
                .insert_header(("x-stack-access-token", token.to_owned()))
        };
        get_current(app, with_token(&user.access_token)).await.assert_ok(200);

        for garbage in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
            get_current(app, with_token(garbage))
                .await
                .assert_known_error(401, "UNPARSABLE_ACCESS_TOKEN");
        }

        // Another project's token.
        let other = app.create_project(ProjectSwitches::default());
        let stranger = app.create_user(&other);
        let response = get_current(app, with_token(&stranger.access_token)).await;
        response.assert_known_error(401, "INVALID_PROJECT_FOR_ACCESS_TOKEN");
        assert_eq!(
            response.json()["details"],
            json!({
                "expected_project_id": project.id().to_string(),
                "actual_project_id": other.id().to_string(),
            })
        );

        // A signed-out session.
        let signed_out = app.create_user(&project);
        sessions::revoke(&mut app.database().conn(), project.id(), signed_out.session_id, app.now())
            .unwrap();
        get_current(app, with_token(&signed_out.access_token))
            .await
            .assert_known_error(401, "ACCESS_TOKEN_EXPIRED");

        // A deleted user.
        let deleted = app.create_user(&project);
        write_keys_uncached(&mut app.database().conn(), |w| {
            users::delete(w, project.id(), deleted.id)
        })
        .unwrap();
        get_current(app, with_token(&deleted.access_token))
            .await
            .assert_known_error(401, "ACCESS_TOKEN_EXPIRED");

        // Expiry: tokens live ten minutes.
        app.advance_clock(11 * 60 * 1000);
        let response = get_current(app, with_token(&user.access_token)).await;
        response.assert_known_error(401, "ACCESS_TOKEN_EXPIRED");
        assert!(response.json()["details"]["expired_at_millis"].is_number());
        // The credential itself is still good.
        get_current(app, project.admin(TestRequest::get())).await.assert_ok(200);
    }
}

/// Project credentials after they were issued: `GET /internal/api-keys`, `GET` and `PATCH
/// /internal/api-keys/{api_key_id}`.
mod stored_credentials {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use keygate_service::project_auth_cache::ProjectAuthCacheSettings;
    use keygate_service::Limits;
    use keygate_storage::key_changes::{spawn_listener, KeyChangeEvent};
    use keygate_storage::repo::project_credentials::ProjectCredentialRecord;
    use keygate_storage::testing::random_hash;
    use uuid::Uuid;

    use super::*;

    fn item(id: &str) -> String {
        format!("{CREDENTIALS}/{id}")
    }

    /// Issues a credential with every key through the API; its answer (with the keys).
    async fn issue(app: &TestApp, project: &TestProject) -> serde_json::Value {
        app.send(
            project
                .admin(TestRequest::post().uri(CREDENTIALS))
                .set_json(all_keys_body()),
        )
        .await
        .assert_ok(200)
    }

    fn last_four(key: &serde_json::Value) -> String {
        let key = key.as_str().unwrap();
        key[key.len() - 4..].to_owned()
    }

    crate::http_tests! {
        fn admin_lists_and_reads_credentials_by_their_last_four_only(app) {
            let project = app.create_project(ProjectSwitches::default());
            app.advance_clock(1_000);
            let issued = issue(app, &project).await;
            let id = issued["id"].as_str().unwrap();

            let listed = app.send(project.admin(TestRequest::get().uri(CREDENTIALS))).await.assert_ok(200);
            let items = listed["items"].as_array().unwrap();
            assert_eq!(listed["is_paginated"], false);
            assert_eq!(items.len(), 2, "the fixture's credential and the new one: {listed}");
            let expected = json!({
                "id": id,
                "description": "issued in a test",
                "created_at_millis": app.now(),
                "publishable_client_key": {"last_four": last_four(&issued["publishable_client_key"])},
                "secret_server_key": {"last_four": last_four(&issued["secret_server_key"])},
                "super_secret_admin_key": {"last_four": last_four(&issued["super_secret_admin_key"])},
            });
            assert_eq!(items[0], expected, "newest first");
            for key in ["publishable_client_key", "secret_server_key", "super_secret_admin_key"] {
                assert!(!listed.to_string().contains(issued[key].as_str().unwrap()), "{key} shown");
            }

            let read = app.send(project.admin(TestRequest::get().uri(&item(id)))).await.assert_ok(200);
            assert_eq!(read, expected);
        }

        fn admin_describes_and_revokes_a_credential_and_the_first_revocation_wins(app) {
            let project = app.create_project(ProjectSwitches::default());
            let issued = issue(app, &project).await;
            let uri = item(issued["id"].as_str().unwrap());
            let patch = |body| project.admin(TestRequest::patch().uri(&uri)).set_json(body);

            let described = app.send(patch(json!({"description": "ci server"}))).await.assert_ok(200);
            assert_eq!(described["description"], "ci server");
            assert!(described.get("manually_revoked_at_millis").is_none(), "{described}");

            app.advance_clock(500);
            let revoked_at = app.now();
            let revoked = app.send(patch(json!({"revoked": true}))).await.assert_ok(200);
            assert_eq!(revoked["manually_revoked_at_millis"], revoked_at);
            assert_eq!(revoked["description"], "ci server");
            app.advance_clock(500);
            let again = app
                .send(patch(json!({"revoked": true, "description": "leaked"})))
                .await
                .assert_ok(200);
            assert_eq!(again["manually_revoked_at_millis"], revoked_at, "the first instant stays");
            assert_eq!(again["description"], "leaked");
        }

        fn a_revoked_credential_stops_authenticating_at_once(app) {
            let project = app.create_project(ProjectSwitches::default());
            let issued = issue(app, &project).await;
            let fresh = project_with_keys(&project, &issued);
            // Warm this node's project-authentication cache with the new keys.
            get_current(app, fresh.admin(TestRequest::get())).await.assert_ok(200);
            assert_insufficient(&get_current(app, fresh.server(TestRequest::get())).await, "server");

            let uri = item(issued["id"].as_str().unwrap());
            app.send(project.admin(TestRequest::patch().uri(&uri)).set_json(json!({"revoked": true})))
                .await
                .assert_ok(200);
            get_current(app, fresh.admin(TestRequest::get()))
                .await
                .assert_known_error(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
            get_current(app, fresh.server(TestRequest::get()))
                .await
                .assert_known_error(401, "INVALID_SECRET_SERVER_KEY");
            // The project's other credential still works.
            get_current(app, project.admin(TestRequest::get())).await.assert_ok(200);
        }

        fn an_admin_key_may_revoke_its_own_credential(app) {
            let project = app.create_project(ProjectSwitches::default());
            let issued = issue(app, &project).await;
            let fresh = project_with_keys(&project, &issued);
            let uri = item(issued["id"].as_str().unwrap());
            app.send(fresh.admin(TestRequest::patch().uri(&uri)).set_json(json!({"revoked": true})))
                .await
                .assert_ok(200);
            app.send(fresh.admin(TestRequest::get().uri(CREDENTIALS)))
                .await
                .assert_known_error(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
        }

        fn the_operator_manages_the_credentials_of_the_project_it_names(app) {
            let project = app.create_project(ProjectSwitches::default());
            let operator_for = |request: TestRequest| {
                operator(request).insert_header(("x-stack-project-id", project.id().to_string()))
            };
            let listed = app.send(operator_for(TestRequest::get().uri(CREDENTIALS))).await.assert_ok(200);
            let id = listed["items"][0]["id"].as_str().unwrap().to_owned();
            let revoked = app
                .send(operator_for(TestRequest::patch().uri(&item(&id))).set_json(json!({"revoked": true})))
                .await
                .assert_ok(200);
            assert_eq!(revoked["manually_revoked_at_millis"], app.now());
            // The fixture's keys were that credential's: they no longer open the project.
            get_current(app, project.admin(TestRequest::get()))
                .await
                .assert_known_error(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
            // Without the operator token, or naming an unknown project: refused.
            let wrong = TestRequest::get()
                .uri(CREDENTIALS)
                .insert_header(("authorization", "Bearer wrong-token-0123456789abcdef"))
                .insert_header(("x-stack-project-id", project.id().to_string()));
            app.send(wrong).await.assert_known_error(401, "INVALID_OPERATOR_TOKEN");
            let unknown = operator(TestRequest::get().uri(CREDENTIALS))
                .insert_header(("x-stack-project-id", keygate_domain::ProjectId::new_random().to_string()));
            app.send(unknown).await.assert_known_error(400, "CURRENT_PROJECT_NOT_FOUND");
        }

        fn only_admin_access_manages_credentials(app) {
            let project = app.create_project(ProjectSwitches::default());
            let uri = item(&Uuid::new_v4().to_string());
            for (request, access) in [
                (project.server(TestRequest::get().uri(CREDENTIALS)), "server"),
                (project.client(TestRequest::get().uri(CREDENTIALS)), "client"),
                (project.server(TestRequest::get().uri(&uri)), "server"),
                (project.client(TestRequest::patch().uri(&uri)).set_json(json!({"revoked": true})), "client"),
            ] {
                assert_insufficient(&app.send(request).await, access);
            }
            app.send(TestRequest::get().uri(CREDENTIALS))
                .await
                .assert_known_error(400, "ACCESS_TYPE_REQUIRED");
        }

        fn an_unknown_or_another_projects_credential_is_not_found(app) {
            let project = app.create_project(ProjectSwitches::default());
            let other = app.create_project(ProjectSwitches::default());
            let others = issue(app, &other).await;
            for id in [Uuid::new_v4().to_string(), others["id"].as_str().unwrap().to_owned()] {
                app.send(project.admin(TestRequest::get().uri(&item(&id))))
                    .await
                    .assert_known_error(404, "API_KEY_NOT_FOUND");
                app.send(project.admin(TestRequest::patch().uri(&item(&id))).set_json(json!({"revoked": true})))
                    .await
                    .assert_known_error(404, "API_KEY_NOT_FOUND");
            }
            // The other project's credential was not touched.
            let fresh = project_with_keys(&other, &others);
            get_current(app, fresh.admin(TestRequest::get())).await.assert_ok(200);
        }

        fn bad_credential_requests_are_schema_errors(app) {
            let project = app.create_project(ProjectSwitches::default());
            let response = app
                .send(project.admin(TestRequest::patch().uri(&format!("{}?x=1", item("not-a-uuid")))).set_json(json!({
                    "revoked": false,
                    "description": 5,
                    "expires_at_millis": 1,
                })))
                .await;
            response.assert_known_error(400, "SCHEMA_ERROR");
            let error = response.json()["error"].as_str().unwrap().to_owned();
            for line in [
                "Request validation failed on PATCH /api/v1/internal/api-keys/not-a-uuid:",
                "  - body.revoked must be one of the following values: true",
                "  - body.description must be a `string` type, but the final value was: `5`.",
                "  - body contains unknown properties: expires_at_millis",
                "  - params.api_key_id must be a valid UUID",
                "  - query contains unknown properties: x",
            ] {
                assert!(error.lines().any(|l| l == line), "{line:?} in {error}");
            }
            let response = app.send(project.admin(TestRequest::get().uri(&format!("{CREDENTIALS}?limit=5")))).await;
            response.assert_known_error(400, "SCHEMA_ERROR");
            assert!(response.body.contains("query contains unknown properties: limit"), "{}", response.body);
            let response = app.send(project.admin(TestRequest::delete().uri(&item(&Uuid::new_v4().to_string())))).await;
            assert_eq!(response.status.as_u16(), 405);
        }

        fn a_project_holds_at_most_the_credential_limit(app) {
            let project = app.create_project(ProjectSwitches::default());
            {
                let mut conn = app.database().conn();
                // The fixture's credential plus these fill the project up to the limit.
                conn.in_transaction(|conn| {
                    for _ in 1..Limits::DEFAULT_MAX_CREDENTIALS_PER_PROJECT {
                        project_credentials::insert(conn, &ProjectCredentialRecord {
                            id: Uuid::new_v4(),
                            project_id: project.id(),
                            description: "filler".to_owned(),
                            created_at_millis: 0,
                            expires_at_millis: None,
                            revoked_at_millis: Some(0),
                            publishable_client_key_hash: None,
                            secret_server_key_hash: Some(random_hash()),
                            super_secret_admin_key_hash: None,
                            publishable_client_key_last_four: None,
                            secret_server_key_last_four: None,
                            super_secret_admin_key_last_four: None,
                        })?;
                    }
                    Ok(())
                })
                .unwrap();
            }
            let response = app
                .send(project.admin(TestRequest::post().uri(CREDENTIALS)).set_json(all_keys_body()))
                .await;
            response.assert_plain_error(400, "A project can have at most 1000 API keys, revoked ones included.");
            let listed = app.send(project.admin(TestRequest::get().uri(CREDENTIALS))).await.assert_ok(200);
            assert_eq!(listed["items"].as_array().unwrap().len() as u64, Limits::DEFAULT_MAX_CREDENTIALS_PER_PROJECT);
            // A filler issued before the last four were kept shows an empty one.
            assert_eq!(listed["items"][1]["secret_server_key"], json!({"last_four": ""}));
        }

        fn another_nodes_revocation_is_heard_through_the_listener(app) {
            let Some(url) = app.database().postgres_url().map(str::to_owned) else {
                // SQLite has one node; the TTL bounds a revocation by another process
                // (`another_nodes_project_change_is_seen_within_the_cache_ttl`).
                return;
            };
            let project = app.create_project(ProjectSwitches::default());
            let issued = issue(app, &project).await;
            let fresh = project_with_keys(&project, &issued);
            // Node B shares the database; its cache would keep the credential for a minute if
            // nothing told it of the revocation.
            let node_b = app.state.clone().with_project_auth_cache(ProjectAuthCacheSettings {
                ttl: Duration::from_secs(60),
                ..ProjectAuthCacheSettings::default()
            });
            let (sender, events) = mpsc::channel();
            let cache = std::sync::Arc::clone(node_b.project_auth_cache());
            let _listener = spawn_listener(&url, move |event| {
                cache.on_key_change(&event);
                let _ = sender.send(event);
            })
            .unwrap();
            let subscribed = events.recv_timeout(Duration::from_secs(10)).unwrap();
            assert_eq!(subscribed, KeyChangeEvent::Listening);
            app.send_to(&node_b, fresh.admin(TestRequest::get().uri(CURRENT))).await.assert_ok(200);

            let uri = item(issued["id"].as_str().unwrap());
            app.send(project.admin(TestRequest::patch().uri(&uri)).set_json(json!({"revoked": true})))
                .await
                .assert_ok(200);
            let revoked = Instant::now();
            loop {
                let response = app.send_to(&node_b, fresh.admin(TestRequest::get().uri(CURRENT))).await;
                if response.status.as_u16() == 401 {
                    response.assert_known_error(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
                    break;
                }
                response.assert_ok(200);
                assert!(revoked.elapsed() < Duration::from_secs(1), "node B still let it in after 1 s");
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
