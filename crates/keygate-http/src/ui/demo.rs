//! `GET /handler/demo-sign-in`: signs a demo user of the first-start `default` project in and
//! redirects to the account-settings page, so a new user sees the UI within a minute of
//! `cargo run --release`.
//!
//! What it does, on every visit:
//! 1. signs the demo user of the project named `default` in for 7 days
//!    ([`Service::demo_sign_in`](keygate_service::Service::demo_sign_in): the user, with a team
//!    it created, is made on first use through the user, team and session use cases);
//! 2. mints an access token for that session;
//! 3. sets the seed's `stack-access-token` cookie and upstream's
//!    `stack-refresh-<project id>` cookie (both readable by the page's script, which sends the
//!    access token in a header and refreshes it with the refresh token);
//! 4. gives the page a publishable client key: one credential, publishable key only, minted
//!    for the demo and valid 30 days. Keys are stored hashed, so the plain key exists only in
//!    this process's memory (reused until a day before it expires) and in an `HttpOnly` cookie
//!    scoped to `/handler`; a restart mints a new one;
//! 5. answers `303 See Other` to `/handler/account-settings`.
//!
//! **When it works** ([`is_available`]): never with [`DemoSignIn::Disabled`]; always with
//! [`DemoSignIn::Enabled`]; with [`DemoSignIn::Auto`] only when the server is bound to a
//! loopback address, the request comes from a loopback address, names a loopback host
//! (`localhost`, `*.localhost`, `127.x.y.z`, `[::1]` — which also defeats DNS rebinding) and
//! carries no proxy forwarding header. Otherwise the path answers the plain 404 of an unknown
//! route, so a server reachable from the network does not even reveal that it has a demo.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_service::demo::DemoSession;
use keygate_service::projects::CredentialKeys;

use super::page::{ACCESS_TOKEN_COOKIE, ACCOUNT_SETTINGS_PATH, CLIENT_KEY_COOKIE, PROJECT_COOKIE};
use super::{DemoClientKey, DemoSignIn, UiSettings};
use crate::conventions::not_found;
use crate::routes::sessions::issue_access_token;
use crate::state::AppState;
use crate::wire_error::{ApiError, PlainError};

/// Where the demo sign-in is served.
pub const DEMO_SIGN_IN_PATH: &str = "/handler/demo-sign-in";

/// How long a demo session lasts.
pub const DEMO_SESSION_LIFETIME_MILLIS: i64 = 7 * DAY_MILLIS;

/// How long the demo's publishable client key is valid.
pub const DEMO_CLIENT_KEY_LIFETIME_MILLIS: i64 = 30 * DAY_MILLIS;

/// The description of the credential minted for the demo page.
pub const DEMO_CREDENTIAL_DESCRIPTION: &str =
    "publishable client key of the demo sign-in (account settings page)";

const DAY_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// Headers that show the request came through a proxy (and so not from this machine's user).
const FORWARDING_HEADERS: [&str; 4] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
];

/// Whether the demo sign-in answers `request` (see the module documentation).
pub fn is_available(request: &HttpRequest, settings: &UiSettings) -> bool {
    match settings.demo_sign_in {
        DemoSignIn::Disabled => false,
        DemoSignIn::Enabled => true,
        DemoSignIn::Auto => {
            let bound_to_loopback = settings
                .bind
                .is_some_and(|bind| bind.ip().to_canonical().is_loopback());
            let from_loopback = request
                .peer_addr()
                .is_some_and(|peer| peer.ip().to_canonical().is_loopback());
            let forwarded = FORWARDING_HEADERS
                .iter()
                .any(|name| request.headers().contains_key(*name));
            bound_to_loopback && from_loopback && !forwarded && names_loopback_host(request)
        }
    }
}

/// Whether the request's `host` (or HTTP/2 authority) is a loopback name.
fn names_loopback_host(request: &HttpRequest) -> bool {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.as_str())
        });
    host.is_some_and(is_loopback_host)
}

/// Whether `host` (`name[:port]`, `[v6][:port]`) is a loopback name or address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inner, _)) => inner,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let name = name.to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// `GET /handler/demo-sign-in`.
pub async fn demo_sign_in(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !is_available(&request, state.ui().settings()) {
        return Ok(not_found(request).await);
    }
    let now = state.now();
    let Some(DemoSession { project_id, opened }) = state
        .service()
        .demo_sign_in(DEMO_SESSION_LIFETIME_MILLIS)
        .await?
    else {
        return Ok(PlainError::new(
            StatusCode::NOT_FOUND,
            "The demo sign-in uses the project named \"default\", which keygate creates on the first start of an empty database. This server has no such project.",
        )
        .to_response());
    };
    let access_token = issue_access_token(&state, &opened.user, opened.session.id, now)?;
    let client_key = demo_client_key(&state, project_id, now).await?;

    let secure = request.connection_info().scheme() == "https";
    let session_seconds = DEMO_SESSION_LIFETIME_MILLIS / 1000;
    let key_seconds = (client_key.expires_at_millis - now).max(0) / 1000;
    let cookies = [
        cookie(
            ACCESS_TOKEN_COOKIE,
            access_token.token.as_str(),
            "/",
            session_seconds,
            false,
            secure,
        ),
        cookie(
            &format!("stack-refresh-{project_id}"),
            opened.refresh_token.expose_secret(),
            "/",
            session_seconds,
            false,
            secure,
        ),
        cookie(
            PROJECT_COOKIE,
            &project_id.to_string(),
            "/handler",
            session_seconds,
            true,
            secure,
        ),
        cookie(
            CLIENT_KEY_COOKIE,
            client_key.key.expose_secret(),
            "/handler",
            key_seconds,
            true,
            secure,
        ),
    ];
    let mut response = HttpResponse::build(StatusCode::SEE_OTHER);
    response.insert_header((header::LOCATION, ACCOUNT_SETTINGS_PATH));
    for value in cookies {
        let value = HeaderValue::from_str(&value).map_err(|error| ApiError::internal(&error))?;
        response.append_header((header::SET_COOKIE, value));
    }
    Ok(response.finish())
}

/// One `set-cookie` value. keygate's cookie values (JWTs, ids, generated keys) need no quoting.
fn cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
    secure: bool,
) -> String {
    let mut text = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if secure {
        text.push_str("; Secure");
    }
    text
}

/// The page's publishable client key: the one this process minted for the project, reused
/// until a day before it expires, else a new credential with only that key.
async fn demo_client_key(
    state: &AppState,
    project: keygate_domain::ProjectId,
    now: keygate_domain::EpochMillis,
) -> Result<DemoClientKey, ApiError> {
    if let Some(key) = state.ui().demo_client_key(project, now, DAY_MILLIS) {
        return Ok(key);
    }
    let expires_at_millis = now.saturating_add(DEMO_CLIENT_KEY_LIFETIME_MILLIS);
    let issued = state
        .service()
        .issue_credential(
            project,
            DEMO_CREDENTIAL_DESCRIPTION.to_owned(),
            Some(expires_at_millis),
            CredentialKeys {
                publishable_client_key: true,
                secret_server_key: false,
                super_secret_admin_key: false,
            },
        )
        .await?;
    let key = issued.publishable_client_key.ok_or_else(|| {
        ApiError::internal(&std::io::Error::other(
            "a credential asked for a publishable key came without one",
        ))
    })?;
    let minted = DemoClientKey {
        project_id: project,
        key,
        expires_at_millis,
    };
    state.ui().remember_demo_client_key(minted.clone());
    Ok(minted)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use actix_web::test::{self as actix_test, TestRequest};
    use keygate_domain::ProjectSwitches;

    use keygate_domain::{ProjectId, UserId};
    use keygate_service::demo::{DEMO_PROJECT_NAME, DEMO_USER_EMAIL};
    use keygate_storage::repo::{server_secrets, teams, users};

    use super::*;
    use crate::app::build_app;
    use crate::testing::{TestApp, TestResponse};
    use keygate_service::projects::create_project;

    const LOOPBACK_PEER: &str = "127.0.0.1:50000";

    fn settings(mode: DemoSignIn, bind: &str) -> UiSettings {
        UiSettings {
            demo_sign_in: mode,
            bind: Some(bind.parse().expect("bind address")),
        }
    }

    /// Sends `request` through an app whose UI has `ui`.
    async fn send_with(app: &TestApp, ui: UiSettings, request: TestRequest) -> TestResponse {
        let state = app.state.clone().with_ui(ui);
        let service = actix_test::init_service(build_app(state)).await;
        let response = actix_test::call_service(&service, request.to_request()).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = actix_test::read_body(response).await;
        TestResponse {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).expect("UTF-8"),
        }
    }

    fn local_request(host: &str) -> TestRequest {
        TestRequest::get()
            .uri(DEMO_SIGN_IN_PATH)
            .insert_header(("host", host))
            .peer_addr(LOOPBACK_PEER.parse::<SocketAddr>().expect("peer"))
    }

    fn default_project(app: &TestApp) -> ProjectId {
        let mut conn = app.database().conn();
        let config = ProjectSwitches {
            allow_user_api_keys: true,
            allow_team_api_keys: true,
            client_team_creation_enabled: true,
        };
        create_project(&mut conn, DEMO_PROJECT_NAME, config, app.now())
            .expect("default project")
            .id
    }

    fn set_cookies(response: &TestResponse) -> Vec<String> {
        response
            .headers
            .get_all("set-cookie")
            .filter_map(|value| value.to_str().ok().map(str::to_owned))
            .collect()
    }

    fn cookie_value(cookies: &[String], name: &str) -> String {
        cookies
            .iter()
            .find_map(|c| c.strip_prefix(&format!("{name}=")))
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("no cookie {name} in {cookies:?}"))
            .to_owned()
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost",
            "localhost:8102",
            "LOCALHOST:1",
            "app.localhost:3000",
            "127.0.0.1:8102",
            "127.9.9.9",
            "[::1]:8102",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "example.com",
            "localhost.example.com:80",
            "10.0.0.1:8102",
            "[::2]:1",
            "[::1",
            "",
            "0.0.0.0:8102",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    crate::http_tests! {
        fn the_demo_signs_in_and_sets_the_page_cookies(app) {
            let project = default_project(app);
            let ui = settings(DemoSignIn::Auto, "127.0.0.1:8102");
            let response = send_with(app, ui.clone(), local_request("localhost:8102")).await;
            assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
            assert_eq!(response.header("location"), Some(ACCOUNT_SETTINGS_PATH));
            let cookies = set_cookies(&response);
            let access = cookie_value(&cookies, ACCESS_TOKEN_COOKIE);
            let client_key = cookie_value(&cookies, CLIENT_KEY_COOKIE);
            assert_eq!(cookie_value(&cookies, PROJECT_COOKIE), project.to_string());
            assert!(!cookie_value(&cookies, &format!("stack-refresh-{project}")).is_empty());
            assert!(cookies.iter().all(|c| c.contains("SameSite=Lax")), "{cookies:?}");
            assert!(cookies.iter().filter(|c| c.contains("HttpOnly")).count() == 2, "{cookies:?}");

            // The session and the key work against the client API: the user lists their keys
            // and sees the team they manage.
            let client = |request: TestRequest| {
                request
                    .insert_header(("x-stack-access-type", "client"))
                    .insert_header(("x-stack-project-id", project.to_string()))
                    .insert_header(("x-stack-publishable-client-key", client_key.as_str()))
                    .insert_header(("x-stack-access-token", access.as_str()))
            };
            let me = app.send(client(TestRequest::get().uri("/api/v1/users/me"))).await;
            assert_eq!(me.status, StatusCode::OK, "{}", me.body);
            assert_eq!(me.json()["primary_email"], DEMO_USER_EMAIL);
            let keys = app
                .send(client(TestRequest::get().uri("/api/v1/user-api-keys?user_id=me")))
                .await;
            assert_eq!(keys.status, StatusCode::OK, "{}", keys.body);
            let managed = app
                .send(client(TestRequest::get().uri(
                    "/api/v1/team-permissions?user_id=me&recursive=true&permission_id=%24manage_api_keys",
                )))
                .await;
            assert_eq!(managed.status, StatusCode::OK, "{}", managed.body);
            assert_eq!(managed.json()["items"].as_array().map(Vec::len), Some(1), "{}", managed.body);

            // A second visit reuses the user and the in-memory client key.
            let state = app.state.clone().with_ui(ui);
            let service = actix_test::init_service(build_app(state)).await;
            let mut seen = Vec::new();
            for _ in 0..2 {
                let response = actix_test::call_service(
                    &service,
                    local_request("127.0.0.1:8102").to_request(),
                )
                .await;
                assert_eq!(response.status(), StatusCode::SEE_OTHER);
                let cookies: Vec<String> = response
                    .headers()
                    .get_all("set-cookie")
                    .filter_map(|v| v.to_str().ok().map(str::to_owned))
                    .collect();
                seen.push(cookie_value(&cookies, CLIENT_KEY_COOKIE));
            }
            assert_eq!(seen[0], seen[1]);
            let mut conn = app.database().conn();
            let marker = server_secrets::get(&mut conn, &format!("ui_demo_user:{project}"))
                .expect("read marker")
                .expect("marker stored");
            let user_id: UserId = String::from_utf8(marker.value).expect("utf-8").parse().expect("id");
            assert_eq!(teams::list_for_user(&mut conn, project, user_id).expect("teams").len(), 1);
        }

        fn the_demo_is_unreachable_unless_allowed(app) {
            default_project(app);
            let refused = [
                // Disabled: never.
                (settings(DemoSignIn::Disabled, "127.0.0.1:8102"), local_request("localhost")),
                // Auto on a non-loopback bind.
                (settings(DemoSignIn::Auto, "0.0.0.0:8102"), local_request("localhost")),
                // Auto, but a peer from the network.
                (
                    settings(DemoSignIn::Auto, "127.0.0.1:8102"),
                    local_request("localhost").peer_addr("192.0.2.7:4000".parse().expect("peer")),
                ),
                // Auto, no peer address known.
                (
                    settings(DemoSignIn::Auto, "127.0.0.1:8102"),
                    TestRequest::get().uri(DEMO_SIGN_IN_PATH).insert_header(("host", "localhost")),
                ),
                // Auto, through a proxy.
                (
                    settings(DemoSignIn::Auto, "127.0.0.1:8102"),
                    local_request("localhost").insert_header(("x-forwarded-for", "198.51.100.1")),
                ),
                // Auto, a DNS name that resolves to loopback (DNS rebinding).
                (settings(DemoSignIn::Auto, "127.0.0.1:8102"), local_request("attacker.example:8102")),
            ];
            for (ui, request) in refused {
                let response = send_with(app, ui.clone(), request).await;
                assert_eq!(response.status, StatusCode::NOT_FOUND, "{ui:?}: {}", response.body);
                assert!(response.header("set-cookie").is_none());
            }
            // Enabled: also on a public bind, from anywhere.
            let enabled = send_with(
                app,
                settings(DemoSignIn::Enabled, "0.0.0.0:8102"),
                TestRequest::get().uri(DEMO_SIGN_IN_PATH).insert_header(("host", "keygate.example")),
            )
            .await;
            assert_eq!(enabled.status, StatusCode::SEE_OTHER, "{}", enabled.body);
        }

        fn without_a_default_project_the_demo_says_so(app) {
            app.create_open_project();
            let response = send_with(
                app,
                settings(DemoSignIn::Auto, "127.0.0.1:8102"),
                local_request("localhost"),
            )
            .await;
            assert_eq!(response.status, StatusCode::NOT_FOUND);
            assert!(response.body.contains("\"default\""), "{}", response.body);
        }

        fn a_deleted_demo_user_is_created_again(app) {
            let project = default_project(app);
            let ui = settings(DemoSignIn::Auto, "127.0.0.1:8102");
            let first = send_with(app, ui.clone(), local_request("localhost")).await;
            assert_eq!(first.status, StatusCode::SEE_OTHER);
            let user_id: UserId = {
                let mut conn = app.database().conn();
                let marker = server_secrets::get(&mut conn, &format!("ui_demo_user:{project}"))
                    .expect("read")
                    .expect("stored");
                let id = String::from_utf8(marker.value).expect("utf-8").parse().expect("id");
                keygate_storage::testing::write_keys_uncached(&mut conn, |w| {
                    users::delete(w, project, id)
                })
                .expect("delete demo user");
                id
            };
            let again = send_with(app, ui, local_request("localhost")).await;
            assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
            let mut conn = app.database().conn();
            assert!(users::get(&mut conn, project, user_id).expect("read").is_some());
        }

        fn the_page_offers_the_demo_only_where_it_works(app) {
            default_project(app);
            let page = |host: &str| {
                TestRequest::get()
                    .uri(ACCOUNT_SETTINGS_PATH)
                    .insert_header(("host", host.to_owned()))
                    .peer_addr(LOOPBACK_PEER.parse::<SocketAddr>().expect("peer"))
            };
            let ui = settings(DemoSignIn::Auto, "127.0.0.1:8102");
            let local = send_with(app, ui.clone(), page("localhost:8102")).await;
            assert!(local.body.contains(DEMO_SIGN_IN_PATH), "{}", local.body);
            let rebound = send_with(app, ui, page("attacker.example")).await;
            assert!(!rebound.body.contains(DEMO_SIGN_IN_PATH), "{}", rebound.body);
        }
    }
}
