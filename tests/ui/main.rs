//! Browser tests of the prebuilt UI: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) drives the real `keygate` binary through the demo sign-in, the hosted
//! account-settings page and a customer's page on another origin — and, in
//! [`upstream_account_settings`], through upstream's own React `<AccountSettings>` (built with
//! Node.js from `tests/ui/account-settings`).
//!
//! Run with `cargo test -p keygate --test ui` (not part of a plain `cargo test`; CI runs it).
//! Screenshots land in `target/ui-screenshots/`. Without Chromium or chromedriver (or, for
//! upstream's UI, Node.js and npm) the tests print why and pass, except under `CI=true`, where
//! a missing one is a failure.
//! The scenarios run one at a time (each starts its own server and browser; the machine may
//! have two cores).

#[path = "../e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
mod upstream_account_settings;
mod webdriver;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use harness::{banner_value, sqlite_url, temp_dir, ProjectKeys, Reply, Server};
use keygate_storage::testing::TestDatabase;
use webdriver::{keys, Browser, Installation, Settings};

/// One scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The user section of the page.
const USER: &str = "document.querySelector('keygate-api-keys').shadowRoot";
/// The team section of the page.
const TEAM: &str = "document.querySelector('keygate-team-api-keys').shadowRoot";

/// What every scenario needs: the lock, a server with its `default` project's keys, a browser.
struct Scenario {
    browser: Browser,
    keys: ProjectKeys,
    server: Server,
    http: reqwest::blocking::Client,
    /// The demo links already used (each works once; the server prints the next).
    used_links: RefCell<Vec<String>>,
    /// The server's Postgres database, if it runs on one (dropped after the server stops).
    _database: Option<TestDatabase>,
    _dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

/// Starts a scenario, or `None` (after saying why) when no browser is installed outside CI.
fn scenario(width: u32, height: u32) -> Option<Scenario> {
    scenario_with(width, height, &[])
}

/// [`scenario`] with extra environment variables for the server.
fn scenario_with(width: u32, height: u32, env: &[(&str, &str)]) -> Option<Scenario> {
    let (serial, installation) = prerequisites()?;
    Some(start_scenario(
        serial,
        &installation,
        width,
        height,
        env,
        None,
        &Settings::default(),
    ))
}

/// The lock (one scenario at a time) and the browser, or `None` (after saying why) when no
/// browser is installed outside CI.
fn prerequisites() -> Option<(MutexGuard<'static, ()>, Installation)> {
    let serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    match Installation::find() {
        Ok(installation) => Some((serial, installation)),
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("browser tests need Chromium and chromedriver under CI: {reason}")
        }
        Err(reason) => {
            eprintln!("skipping the browser test: {reason}");
            None
        }
    }
}

/// Starts the server (on `database`, else on a SQLite file of its own) and the browser.
fn start_scenario(
    serial: MutexGuard<'static, ()>,
    installation: &Installation,
    width: u32,
    height: u32,
    env: &[(&str, &str)],
    database: Option<TestDatabase>,
    settings: &Settings,
) -> Scenario {
    let dir = temp_dir();
    let database_url = match &database {
        Some(database) => database
            .postgres_url()
            .expect("a Postgres database")
            .to_owned(),
        None => sqlite_url(dir.path()),
    };
    let server = Server::start(dir.path(), &database_url, env);
    let banner = &server.startup_output;
    let value = |label: &str| {
        banner_value(banner, label).unwrap_or_else(|| panic!("no `{label}` in:\n{banner}"))
    };
    let keys = ProjectKeys {
        project_id: value("project id"),
        client: value("publishable client key"),
        server: value("secret server key"),
        admin: value("super secret admin key"),
    };
    assert!(
        server
            .stdout()
            .contains("/handler/demo-sign-in?token=kgdemo_"),
        "the server does not print a demo sign-in link:\n{}",
        server.stdout()
    );
    let browser = Browser::launch(installation, width, height, settings);
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    Scenario {
        browser,
        keys,
        server,
        http,
        used_links: RefCell::new(Vec::new()),
        _database: database,
        _dir: dir,
        _serial: serial,
    }
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/ui-screenshots")
}

impl Scenario {
    fn send(&self, request: reqwest::blocking::RequestBuilder) -> Reply {
        Reply::read(request.send().expect("send the request"))
    }

    /// The newest demo link the server printed that was not used yet (waits for it: the next
    /// one is printed when the previous one is used).
    fn fresh_demo_link(&self) -> String {
        let started = std::time::Instant::now();
        loop {
            let stdout = self.server.stdout();
            let newest = stdout
                .split_whitespace()
                .filter(|word| word.contains("/handler/demo-sign-in?token="))
                .last()
                .map(str::to_owned);
            if let Some(link) = newest.filter(|link| !self.used_links.borrow().contains(link)) {
                self.used_links.borrow_mut().push(link.clone());
                return link;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no fresh demo link in:\n{stdout}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Signs in through the demo link the server printed (its form, then its button) and waits
    /// for the user's keys to load.
    fn demo_sign_in(&self) {
        let link = self.fresh_demo_link();
        // The link names the public URL (localhost); the browser stays on the address the
        // tests use, so the session cookies are sent with every later page.
        let (_, path) = link
            .split_once("/handler/")
            .expect("a link to /handler/demo-sign-in");
        self.browser
            .goto(&self.server.url(&format!("/handler/{path}")));
        let button = self.browser.element(
            "the demo sign-in button",
            "return document.querySelector('form button[type=submit]');",
        );
        self.browser.click(&button);
        self.browser.wait_for(
            "the account settings page",
            "return location.pathname === '/handler/account-settings';",
        );
        assert!(
            self.browser.url().ends_with("/handler/account-settings"),
            "the demo sign-in did not land on the page: {}",
            self.browser.url()
        );
        self.wait_loaded(USER);
    }

    /// Waits until a section finished loading.
    fn wait_loaded(&self, root: &str) {
        self.browser.wait_for(
            "the keys to load",
            &format!("const r = {root}; const b = r && r.querySelector('[aria-busy]'); return b && b.getAttribute('aria-busy') === 'false';"),
        );
    }

    /// Creates a user (server access) with an open session; returns (user id, access token).
    fn user_with_session(&self, email: &str) -> (String, String) {
        let user = self
            .send(self.keys.server(self.http.post(self.server.url("/api/v1/users"))).json(
                &json!({"primary_email": email, "display_name": email, "primary_email_verified": true}),
            ))
            .ok(201);
        let user_id = user["id"].as_str().expect("user id").to_owned();
        let session = self
            .send(
                self.keys
                    .server(self.http.post(self.server.url("/api/v1/auth/sessions")))
                    .json(&json!({"user_id": user_id})),
            )
            .ok(200);
        (
            user_id,
            session["access_token"].as_str().expect("token").to_owned(),
        )
    }

    /// Checks `key` with server access.
    fn check(&self, key: &str) -> Reply {
        self.send(
            self.keys
                .server(
                    self.http
                        .post(self.server.url("/api/v1/user-api-keys/check")),
                )
                .json(&json!({ "api_key": key })),
        )
    }

    /// The rows of a section: `[{description, key, status}]`.
    fn rows(&self, root: &str) -> Value {
        self.browser.script(
            &format!(
                "return Array.from({root}.querySelectorAll('tbody tr')).map(tr => ({{
                    description: tr.querySelector('td.description').textContent.trim(),
                    key: tr.querySelector('td.key').textContent.trim(),
                    status: tr.querySelector('.badge').textContent.trim(),
                    id: tr.getAttribute('data-key-id'),
                }}));"
            ),
            vec![],
        )
    }

    fn shot(&self, name: &str) {
        let path = self.browser.screenshot(&screenshots(), name);
        eprintln!("screenshot: {}", path.display());
    }
}

#[test]
fn a_demo_user_creates_reads_once_and_revokes_a_key_with_the_mouse() {
    let Some(s) = scenario(1280, 900) else { return };
    s.demo_sign_in();
    s.browser.wait_for(
        "the empty state",
        &format!("return {USER}.textContent.includes('No API keys yet');"),
    );
    s.wait_loaded(TEAM);
    s.shot("01-account-settings-empty");

    // Create: description and a 30-day expiry.
    let create = s.browser.element(
        "the create button",
        &format!("return {USER}.querySelector('.card-header button');"),
    );
    s.browser.click(&create);
    let description = s.browser.element(
        "the description field",
        &format!("return {USER}.querySelector('input[name=description]');"),
    );
    s.browser.type_into(&description, "CI deploy script");
    let thirty_days = s.browser.element(
        "the 30-day option",
        &format!("return {USER}.querySelector('select[name=expiry] option[value=\"30\"]');"),
    );
    s.browser.click(&thirty_days);
    s.shot("02-create-form");
    let submit = s.browser.element(
        "the submit button",
        &format!("return {USER}.querySelector('form.create button[type=submit]');"),
    );
    s.browser.click(&submit);

    // Shown once, with a warning and a copy button.
    let secret = s
        .browser
        .wait_for(
            "the new key",
            &format!("const c = {USER}.querySelector('[data-secret]'); return c && c.textContent;"),
        )
        .as_str()
        .expect("secret text")
        .to_owned();
    assert!(secret.starts_with("sk_") && secret.len() == 102, "{secret}");
    let reveal = s.browser.script(
        &format!("return {USER}.querySelector('.reveal').textContent;"),
        vec![],
    );
    assert!(
        reveal
            .as_str()
            .unwrap_or_default()
            .contains("only time it is shown"),
        "{reveal}"
    );
    assert_eq!(
        s.browser.focused(),
        "Your new API key: CI deploy script",
        "focus moves to the new key"
    );
    let copy = s.browser.element(
        "the copy button",
        &format!("return {USER}.querySelector('[aria-label=\"Copy the new API key\"]');"),
    );
    s.browser.click(&copy);
    s.browser.wait_for(
        "the copied confirmation",
        &format!("return {USER}.querySelector('[aria-label=\"Copy the new API key\"]').textContent.includes('Copied');"),
    );
    s.browser.wait_for(
        "the list to show the key",
        &format!("return {USER}.querySelectorAll('tbody tr').length === 1;"),
    );
    s.shot("03-new-key-shown-once");

    // The key is real: the server resolves it to the demo user.
    let checked = s.check(&secret).ok(200);
    assert_eq!(checked["description"], "CI deploy script");
    let expires = checked["expires_at_millis"].as_f64().expect("an expiry");
    let created = checked["created_at_millis"].as_f64().expect("created");
    let days = (expires - created) / 86_400_000.0;
    assert!((29.9..30.1).contains(&days), "30 days, got {days}");

    // Done: the secret leaves the page for good.
    let done = s.browser.element(
        "the done button",
        &format!("return Array.from({USER}.querySelectorAll('.reveal button')).find(b => b.textContent.startsWith('Done'));"),
    );
    s.browser.click(&done);
    let still_there = s.browser.script(
        &format!("return {USER}.innerHTML.includes(arguments[0]) || document.body.innerHTML.includes(arguments[0]);"),
        vec![json!(secret)],
    );
    assert_eq!(still_there, json!(false), "the secret is gone after Done");

    // Listed with its last four, active.
    let rows = s.rows(USER);
    let last_four = &secret[secret.len() - 4..];
    assert_eq!(rows[0]["description"], "CI deploy script");
    assert_eq!(rows[0]["key"], format!("••••{last_four}"));
    assert_eq!(rows[0]["status"], "Active");
    // A reload shows the list, never the secret.
    s.browser.goto(&s.server.url("/handler/account-settings"));
    s.wait_loaded(USER);
    let reloaded = s.browser.script(
        &format!("return {USER}.innerHTML.includes(arguments[0]);"),
        vec![json!(secret)],
    );
    assert_eq!(reloaded, json!(false));
    assert_eq!(s.rows(USER)[0]["key"], format!("••••{last_four}"));
    s.shot("04-key-listed");

    // Revoke, after a confirmation.
    let revoke = s.browser.element(
        "the revoke button",
        &format!("return {USER}.querySelector('button[data-action=revoke]');"),
    );
    s.browser.click(&revoke);
    s.browser.wait_for(
        "the confirmation dialog",
        &format!("return {USER}.querySelector('dialog').open;"),
    );
    let dialog_text = s.browser.script(
        &format!("return {USER}.querySelector('dialog').textContent;"),
        vec![],
    );
    assert!(
        dialog_text.as_str().unwrap_or_default().contains(last_four),
        "{dialog_text}"
    );
    s.shot("05-revoke-confirmation");
    let confirm = s.browser.element(
        "the confirm button",
        &format!("return {USER}.querySelector('dialog .btn-danger');"),
    );
    s.browser.click(&confirm);
    s.browser.wait_for(
        "the key to be marked revoked",
        &format!("const b = {USER}.querySelector('tbody .badge'); return b && b.textContent === 'Revoked';"),
    );
    // Announced to screen readers through the polite live region.
    s.browser.wait_for(
        "the revocation to be announced",
        &format!("return {USER}.querySelector('[role=status][aria-live=polite]').textContent.includes('Revoked');"),
    );
    s.shot("06-key-revoked");
    s.check(&secret).known(401, "API_KEY_REVOKED");
}

#[test]
fn a_user_picks_scopes_sees_limits_and_credits_and_rotates_a_key() {
    let Some(s) = scenario(1280, 900) else { return };
    // The project declares its scope catalogue (admin access).
    s.send(
        s.keys
            .admin(
                s.http
                    .patch(s.server.url("/api/v1/internal/projects/current")),
            )
            .json(&json!({"config": {"api_key_scopes": [
                {"id": "invoices:read", "description": "Read invoices"},
                {"id": "invoices:write"},
            ]}})),
    )
    .ok(200);
    s.demo_sign_in();

    // Create a key with one scope, picked from the catalogue.
    let create = s.browser.element(
        "the create button",
        &format!("return {USER}.querySelector('.card-header button');"),
    );
    s.browser.click(&create);
    let description = s.browser.element(
        "the description field",
        &format!("return {USER}.querySelector('input[name=description]');"),
    );
    s.browser.type_into(&description, "Invoice reader");
    let offered = s.browser.script(
        &format!(
            "return Array.from({USER}.querySelectorAll('input[name=scopes]')).map(i => i.value);"
        ),
        vec![],
    );
    assert_eq!(offered, json!(["invoices:read", "invoices:write"]));
    let read_scope = s.browser.element(
        "the invoices:read checkbox",
        &format!("return {USER}.querySelector('input[name=scopes][value=\"invoices:read\"]');"),
    );
    s.browser.click(&read_scope);
    s.shot("20-create-with-scopes");
    let submit = s.browser.element(
        "the submit button",
        &format!("return {USER}.querySelector('form.create button[type=submit]');"),
    );
    s.browser.click(&submit);
    let secret = s
        .browser
        .wait_for(
            "the new key",
            &format!("const c = {USER}.querySelector('[data-secret]'); return c && c.textContent;"),
        )
        .as_str()
        .expect("secret text")
        .to_owned();
    let check_scopes = |key: &str, required: Value| {
        s.send(
            s.keys
                .server(s.http.post(s.server.url("/api/v1/user-api-keys/check")))
                .json(&json!({"api_key": key, "required_scopes": required})),
        )
    };
    let checked = check_scopes(&secret, json!(["invoices:read"])).ok(200);
    assert_eq!(checked["scopes"], json!(["invoices:read"]));
    check_scopes(&secret, json!(["invoices:write"])).known(403, "API_KEY_SCOPE_MISSING");
    let user_id = checked["user_id"]
        .as_str()
        .expect("the demo user")
        .to_owned();
    let scoped_id = checked["id"].as_str().expect("key id").to_owned();

    // The server gives the user a metered key: limits and credits show on its row.
    s.send(
        s.keys
            .server(s.http.post(s.server.url("/api/v1/user-api-keys")))
            .json(&json!({
                "user_id": user_id, "description": "Metered", "expires_at_millis": null,
                "rate_limit": {"limit": 100, "window_millis": 60_000},
                "remaining_uses": 50, "refill": {"amount": 50, "interval_millis": 86_400_000},
            })),
    )
    .ok(200);
    s.browser.goto(&s.server.url("/handler/account-settings"));
    s.wait_loaded(USER);
    let policies = s.browser.script(
        &format!(
            "return Object.fromEntries(Array.from({USER}.querySelectorAll('tbody tr')).map(tr => [
            tr.querySelector('td.description span').textContent,
            (tr.querySelector('.policy') || {{textContent: ''}}).textContent,
        ]));"
        ),
        vec![],
    );
    assert_eq!(policies["Invoice reader"], "invoices:read");
    assert_eq!(
        policies["Metered"],
        "Up to 100 checks per 1 minute50 uses left (back to 50 every 1 day)"
    );
    s.shot("21-scopes-limits-and-credits");

    // Rotate the scoped key, keeping the old one for an hour.
    let rotate = s.browser.element(
        "the rotate button",
        &format!("return {USER}.querySelector('tr[data-key-id=\"{scoped_id}\"] button[data-action=rotate]');"),
    );
    s.browser.click(&rotate);
    s.browser.wait_for(
        "the rotation dialog",
        &format!("return {USER}.querySelector('dialog').open;"),
    );
    let one_hour = s.browser.element(
        "the one-hour grace period",
        &format!("return {USER}.querySelector('select[name=grace] option[value=\"3600000\"]');"),
    );
    s.browser.click(&one_hour);
    s.shot("22-rotate-dialog");
    let confirm = s.browser.element(
        "the rotate confirmation",
        &format!("return {USER}.querySelector('dialog .dialog-actions button:last-child');"),
    );
    s.browser.click(&confirm);
    let rotated = s
        .browser
        .wait_for(
            "the rotated key",
            &format!("const c = {USER}.querySelector('[data-secret]'); return c && c.textContent !== arguments[0] && c.textContent;"),
        )
        .as_str()
        .expect("new secret")
        .to_owned();
    assert_ne!(rotated, secret);
    s.shot("23-rotated-key-shown-once");
    let new_key = check_scopes(&rotated, json!(["invoices:read"])).ok(200);
    assert_eq!(new_key["description"], "Invoice reader");
    // The old key works for the grace period: it now expires within the hour.
    let old_key = check_scopes(&secret, json!([])).ok(200);
    let expires = old_key["expires_at_millis"]
        .as_f64()
        .expect("an expiry now");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as f64;
    assert!(
        (now + 3_500_000.0..now + 3_700_000.0).contains(&expires),
        "about an hour: {}",
        expires - now
    );
    s.browser.wait_for(
        "the list to show both keys",
        &format!("return {USER}.querySelectorAll('tbody tr').length === 3;"),
    );
}

#[test]
fn a_demo_user_manages_keys_with_the_keyboard_alone() {
    let Some(s) = scenario(1280, 900) else { return };
    s.demo_sign_in();
    s.wait_loaded(TEAM);

    // From the top of the page, Tab reaches the first section's create button.
    s.browser.script(
        "document.activeElement && document.activeElement.blur();",
        vec![],
    );
    s.browser.tab_to("Create API key", 8);
    s.browser.press(&[keys::ENTER]);
    assert_eq!(
        s.browser.script(
            &format!("return {USER}.activeElement && {USER}.activeElement.name;"),
            vec![]
        ),
        json!("description"),
        "Enter opens the form with focus in the description"
    );
    // Enter with no description is refused with a message tied to the field.
    s.browser.press(&[keys::ENTER]);
    let invalid = s.browser.script(
        &format!("const i = {USER}.querySelector('input[name=description]'); return [i.getAttribute('aria-invalid'), {USER}.querySelector('.field-error').textContent];"),
        vec![],
    );
    assert_eq!(invalid, json!(["true", "Enter a description."]));
    s.browser.press(&["Keyboard key"]);
    // Tab to the expiry and pick "Never" with the arrow keys.
    s.browser.press(&[keys::TAB]);
    s.browser
        .press(&[keys::ARROW_DOWN, keys::ARROW_DOWN, keys::ARROW_DOWN]);
    assert_eq!(
        s.browser.script(
            &format!("return {USER}.querySelector('select[name=expiry]').value;"),
            vec![]
        ),
        json!("never")
    );
    // Back to the description, where Enter submits the form.
    s.browser.press_shift_tab();
    s.browser.press(&[keys::ENTER]);
    let secret = s
        .browser
        .wait_for(
            "the new key",
            &format!("const c = {USER}.querySelector('[data-secret]'); return c && c.textContent;"),
        )
        .as_str()
        .expect("secret")
        .to_owned();
    assert_eq!(s.browser.focused(), "Your new API key: Keyboard key");
    let checked = s.check(&secret).ok(200);
    assert!(
        checked.get("expires_at_millis").is_none(),
        "never expires: {checked}"
    );

    // Tab to Done, press it: focus returns to the create button.
    s.browser.tab_to("Done, I have stored it", 4);
    s.browser.press(&[keys::ENTER]);
    assert_eq!(s.browser.focused(), "Create API key");

    // Tab to the row's revoke button; Escape cancels the dialog and returns focus.
    let label = format!(
        "Revoke Keyboard key (ending in {})",
        &secret[secret.len() - 4..]
    );
    s.browser.tab_to(&label, 4);
    s.browser.press(&[keys::ENTER]);
    assert_eq!(
        s.browser.focused(),
        "Cancel",
        "the dialog focuses the safe choice"
    );
    s.browser.press(&[keys::ESCAPE]);
    assert_eq!(
        s.browser.script(
            &format!("return {USER}.querySelector('dialog').open;"),
            vec![]
        ),
        json!(false)
    );
    assert_eq!(s.browser.focused(), label);
    // Again, and confirm with Tab + Enter.
    s.browser.press(&[keys::ENTER]);
    s.browser.press(&[keys::TAB]);
    assert_eq!(s.browser.focused(), "Revoke key");
    s.browser.press(&[keys::ENTER]);
    s.browser.wait_for(
        "the key to be marked revoked",
        &format!("const b = {USER}.querySelector('tbody .badge'); return b && b.textContent === 'Revoked';"),
    );
    s.check(&secret).known(401, "API_KEY_REVOKED");
    s.shot("07-keyboard-revoked");
}

#[test]
fn team_keys_are_offered_only_where_the_user_manages_them() {
    let Some(s) = scenario(1280, 1000) else {
        return;
    };
    s.demo_sign_in();
    s.wait_loaded(TEAM);
    let heading = s.browser.script(
        &format!("return {TEAM}.querySelector('h2').textContent;"),
        vec![],
    );
    assert_eq!(heading, json!("API keys for Demo team"));

    // The demo user created its team, so it manages the team's keys.
    let create = s.browser.element(
        "the team create button",
        &format!("return {TEAM}.querySelector('.card-header button');"),
    );
    s.browser.click(&create);
    let description = s.browser.element(
        "the team description field",
        &format!("return {TEAM}.querySelector('input[name=description]');"),
    );
    s.browser.type_into(&description, "Billing worker");
    let submit = s.browser.element(
        "the team submit button",
        &format!("return {TEAM}.querySelector('form.create button[type=submit]');"),
    );
    s.browser.click(&submit);
    let secret = s
        .browser
        .wait_for(
            "the new team key",
            &format!("const c = {TEAM}.querySelector('[data-secret]'); return c && c.textContent;"),
        )
        .as_str()
        .expect("secret")
        .to_owned();
    assert!(secret.contains("team"), "a team key: {secret}");
    s.browser.wait_for(
        "the team key in the list",
        &format!("return {TEAM}.querySelectorAll('tbody tr').length === 1;"),
    );
    s.shot("08-team-key-created");
    let checked = s
        .send(
            s.keys
                .server(s.http.post(s.server.url("/api/v1/team-api-keys/check")))
                .json(&json!({ "api_key": secret })),
        )
        .ok(200);
    assert_eq!(checked["description"], "Billing worker");

    // A plain member of a team (team_member: no $manage_api_keys) sees no team section.
    let (owner, _) = s.user_with_session("owner@example.com");
    let (member, member_token) = s.user_with_session("member@example.com");
    let team = s
        .send(
            s.keys
                .server(s.http.post(s.server.url("/api/v1/teams")))
                .json(&json!({"display_name": "Acme", "creator_user_id": owner})),
        )
        .ok(201);
    let team_id = team["id"].as_str().expect("team id");
    let joined = s.send(
        s.keys
            .server(
                s.http.post(
                    s.server
                        .url(&format!("/api/v1/team-memberships/{team_id}/{member}")),
                ),
            )
            .json(&json!({})),
    );
    assert!(
        joined.status == 200 || joined.status == 201,
        "{}",
        joined.text
    );

    // Another browser session: the member's token in the seed's cookie (set by the page's
    // own script, as a customer's frontend would), no demo cookies.
    s.browser.goto(&s.server.url("/handler/account-settings"));
    s.browser.delete_cookies();
    s.browser.script(
        "document.cookie = 'stack-access-token=' + arguments[0] + '; path=/';",
        vec![json!(member_token)],
    );
    let page = format!(
        "/handler/account-settings?project_id={}&publishable_client_key={}",
        s.keys.project_id, s.keys.client
    );
    s.browser.goto(&s.server.url(&page));
    s.wait_loaded(USER);
    s.browser.wait_for(
        "the team section to settle hidden",
        "return document.querySelector('keygate-team-api-keys').hidden;",
    );
    let team_section = s.browser.script(
        &format!("return [{TEAM}.querySelectorAll('section').length, {TEAM}.textContent.includes('Acme')];"),
        vec![],
    );
    assert_eq!(
        team_section,
        json!([0, false]),
        "nothing to manage for a plain member"
    );
    s.shot("09-member-without-manage-permission");

    // With team keys disabled for the project, the demo user's team section disappears too.
    s.send(
        s.keys
            .admin(
                s.http
                    .patch(s.server.url("/api/v1/internal/projects/current")),
            )
            .json(&json!({"config": {"allow_team_api_keys": false}})),
    )
    .ok(200);
    s.browser.script(
        "document.cookie = 'stack-access-token=; path=/; max-age=0';",
        vec![],
    );
    s.demo_sign_in();
    s.browser.wait_for(
        "the team section to be absent",
        "return document.querySelector('keygate-team-api-keys').hidden;",
    );
    assert_eq!(
        s.browser.script(
            &format!("return {TEAM}.querySelectorAll('section').length;"),
            vec![]
        ),
        json!(0)
    );
}

/// Serves `page` as `text/html` for every request on a new local port, until the process ends;
/// returns the port.
fn serve_page(page: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the customer's site");
    let port = listener.local_addr().expect("address").port();
    let page = std::sync::Arc::new(page);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let page = std::sync::Arc::clone(&page);
            // One thread per connection: browsers open spare connections that never send a
            // request, and one of those must not hold up the real one.
            thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(clone) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(clone);
                let mut line = String::new();
                let mut request_seen = false;
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    request_seen = true;
                    line.clear();
                }
                if !request_seen {
                    return;
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(response.as_bytes());
            });
        }
    });
    port
}

#[test]
fn the_components_work_embedded_on_another_origin_through_cors() {
    let Some(s) = scenario(1100, 800) else { return };
    let (user_id, token) = s.user_with_session("embedded@example.com");
    // Two teams the user created (so it manages both); the page shows only the one it names.
    let mut team_ids = Vec::new();
    for name in ["Embedded team", "Other team"] {
        let team = s
            .send(
                s.keys
                    .server(s.http.post(s.server.url("/api/v1/teams")))
                    .json(&json!({"display_name": name, "creator_user_id": user_id})),
            )
            .ok(201);
        team_ids.push(team["id"].as_str().expect("team id").to_owned());
    }
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer app</title>
<style>body {{ font-family: system-ui, sans-serif; background: #fafafa; margin: 0; padding: 32px; }}
header {{ font-weight: 700; font-size: 20px; margin-bottom: 24px; }}
keygate-api-keys {{ --keygate-color-primary: #0f766e; --keygate-color-primary-hover: #115e59; max-width: 860px; }}</style>
<script src="{base}/ui/keygate-components.js"></script></head>
<body><header>Customer app · Developer settings</header>
<keygate-api-keys base-url="{base}" project-id="{project}" publishable-client-key="{key}"></keygate-api-keys>
<keygate-team-api-keys team-id="{team}" style="display:block;margin-top:24px;max-width:860px"></keygate-team-api-keys>
<script>
  // The user's section: attributes plus a token property.
  document.querySelector('keygate-api-keys').accessToken = {token};
  // The team section: page-wide defaults with a token callback.
  KeygateComponents.configure({{
    baseUrl: {base_json},
    projectId: {project_json},
    publishableClientKey: {key_json},
    getAccessToken: async () => {token},
  }});
</script>
</body></html>"#,
        base = s.server.base_url,
        project = s.keys.project_id,
        key = s.keys.client,
        token = json!(token),
        team = team_ids[0],
        base_json = json!(s.server.base_url),
        project_json = json!(s.keys.project_id),
        key_json = json!(s.keys.client),
    );
    let port = serve_page(page);

    // A site the project does not trust: the browser withholds the answers.
    s.browser.goto(&format!("http://customer.test:{port}/"));
    let message = s.browser.wait_for(
        "the CORS failure to be explained",
        &format!(
            "const a = {USER}.querySelector('.alert[role=alert]'); return a && a.textContent;"
        ),
    );
    assert!(
        message.as_str().unwrap_or_default().contains("CORS"),
        "{message}"
    );
    s.shot("10-embedded-untrusted-origin");

    // Trust it (upstream's project config names), then the same page works.
    s.send(
        s.keys
            .admin(s.http.patch(s.server.url("/api/v1/internal/projects/current")))
            .json(&json!({"config": {
                "allow_localhost": false,
                "domains": [{"domain": format!("http://customer.test:{port}"), "handler_path": "/handler"}],
            }})),
    )
    .ok(200);
    s.browser.goto(&format!("http://customer.test:{port}/"));
    s.wait_loaded(USER);
    s.wait_loaded(TEAM);
    let team_headings = s.browser.script(
        &format!("return Array.from({TEAM}.querySelectorAll('h2')).map(h => h.textContent);"),
        vec![],
    );
    assert_eq!(
        team_headings,
        json!(["API keys for Embedded team"]),
        "only the team named by team-id"
    );
    let create = s.browser.element(
        "the create button",
        &format!("return {USER}.querySelector('.card-header button');"),
    );
    s.browser.click(&create);
    let description = s.browser.element(
        "the description field",
        &format!("return {USER}.querySelector('input[name=description]');"),
    );
    s.browser.type_into(&description, "Embedded key");
    let submit = s.browser.element(
        "the submit button",
        &format!("return {USER}.querySelector('form.create button[type=submit]');"),
    );
    s.browser.click(&submit);
    let secret = s
        .browser
        .wait_for(
            "the new key",
            &format!("const c = {USER}.querySelector('[data-secret]'); return c && c.textContent;"),
        )
        .as_str()
        .expect("secret")
        .to_owned();
    s.browser.wait_for(
        "the list to show the key",
        &format!("return {USER}.querySelectorAll('tbody tr').length === 1;"),
    );
    s.shot("11-embedded-trusted-origin");
    s.check(&secret).ok(200);

    // localhost is now refused: the project said allow_localhost = false.
    s.browser.goto(&format!("http://localhost:{port}/"));
    s.browser.wait_for(
        "the localhost origin to be refused",
        &format!("const a = {USER}.querySelector('.alert[role=alert]'); return a && a.textContent.includes('CORS');"),
    );
}

#[test]
fn the_page_fits_a_phone_screen() {
    let Some(s) = scenario(390, 844) else { return };
    s.demo_sign_in();
    // One key of each state so the stacked rows show every badge.
    let me = s
        .send(
            s.keys
                .client(s.http.get(s.server.url("/api/v1/users/me")))
                .header(
                    "x-stack-access-token",
                    s.browser.cookie("stack-access-token").expect("token"),
                ),
        )
        .ok(200);
    let user_id = me["id"].as_str().expect("id");
    for (description, expires, revoke) in [
        ("Nightly backup", Value::Null, false),
        ("Old laptop", json!(1_000), false),
        ("Leaked in a gist", Value::Null, true),
    ] {
        let key = s
            .send(
                s.keys
                    .server(s.http.post(s.server.url("/api/v1/user-api-keys")))
                    .json(&json!({"user_id": user_id, "description": description, "expires_at_millis": expires})),
            )
            .ok(200);
        // Distinct creation times, so the newest-first order is certain.
        thread::sleep(Duration::from_millis(20));
        if revoke {
            let id = key["id"].as_str().expect("id");
            s.send(
                s.keys
                    .server(
                        s.http
                            .patch(s.server.url(&format!("/api/v1/user-api-keys/{id}"))),
                    )
                    .json(&json!({"revoked": true})),
            )
            .ok(200);
        }
    }
    s.browser.goto(&s.server.url("/handler/account-settings"));
    s.wait_loaded(USER);
    s.wait_loaded(TEAM);
    let statuses = s.rows(USER);
    let statuses: Vec<&str> = statuses
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["Revoked", "Expired", "Active"]);
    let overflow = s.browser.script(
        "return document.documentElement.scrollWidth - window.innerWidth;",
        vec![],
    );
    assert!(
        overflow.as_i64().unwrap_or(1) <= 0,
        "horizontal overflow of {overflow}px"
    );
    s.shot("12-phone");
    let create = s.browser.element(
        "the create button",
        &format!("return {USER}.querySelector('.card-header button');"),
    );
    s.browser.click(&create);
    s.shot("13-phone-create-form");
}

/// The signing secret of the refresh scenario's server, so the test can forge an expired token.
const JWT_SECRET: &str = "ui-test-access-token-secret-0123456789abcdef";

/// `token` with its expiry an hour in the past, signed again with [`JWT_SECRET`].
fn expired_copy(token: &str) -> String {
    let mut parts = token.split('.');
    let header = parts.next().expect("JWT header");
    let payload = parts.next().expect("JWT payload");
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url payload"))
            .expect("JSON claims");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    claims["iat"] = json!(now - 7_200);
    claims["exp"] = json!(now - 3_600);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims"));
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(JWT_SECRET.as_bytes()).expect("HMAC key");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

#[test]
fn an_expired_access_token_is_renewed_by_the_server_with_the_http_only_refresh_cookie() {
    let Some(s) = scenario_with(1280, 900, &[("KEYGATE_AUTH__JWT_SECRET", JWT_SECRET)]) else {
        return;
    };
    s.demo_sign_in();
    // The session's cookies are HttpOnly: the page's script cannot read them.
    assert_eq!(
        s.browser.script("return document.cookie;", vec![]),
        json!(""),
        "no cookie is readable by script"
    );
    let fresh = s.browser.cookie("stack-access-token").expect("token");
    let expired = expired_copy(&fresh);
    // The server refuses the forged copy as expired (so the signature is right).
    s.send(
        s.keys
            .client(s.http.get(s.server.url("/api/v1/users/me")))
            .header("x-stack-access-token", &expired),
    )
    .known(401, "ACCESS_TOKEN_EXPIRED");

    s.browser
        .set_http_only_cookie("stack-access-token", &expired, "/handler");
    s.browser.goto(&s.server.url("/handler/account-settings"));
    s.wait_loaded(USER);
    s.wait_loaded(TEAM);
    let alerts = s.browser.script(
        &format!("return Array.from({USER}.querySelectorAll('.alert[role=alert]')).concat(Array.from({TEAM}.querySelectorAll('.alert[role=alert]'))).map(a => a.textContent);"),
        vec![],
    );
    assert_eq!(alerts, json!([]), "the sections loaded without an error");
    let renewed = s.browser.cookie("stack-access-token").expect("token");
    assert_ne!(renewed, expired, "the cookie holds a renewed token");
    s.send(
        s.keys
            .client(s.http.get(s.server.url("/api/v1/users/me")))
            .header("x-stack-access-token", &renewed),
    )
    .ok(200);

    // A signed-out session cannot be renewed: the page says so in words.
    s.send(
        s.keys
            .client(s.http.delete(s.server.url("/api/v1/auth/sessions/current")))
            .header("x-stack-access-token", &renewed),
    )
    .ok(200);
    s.browser.goto(&s.server.url("/handler/account-settings"));
    let message = s.browser.wait_for(
        "the signed-out message",
        &format!(
            "const a = {USER}.querySelector('.alert[role=alert]'); return a && a.textContent;"
        ),
    );
    assert!(
        message
            .as_str()
            .unwrap_or_default()
            .contains("Sign in again"),
        "{message}"
    );
    s.shot("14-session-ended");
}

#[test]
fn the_api_reference_page_renders_every_route_from_the_binary_alone() {
    let Some(s) = scenario(1280, 900) else { return };
    s.browser.goto(&s.server.url("/api/v1/docs"));
    // Swagger UI renders one block per operation from /api/v1/openapi.json.
    let operations = s.browser.wait_for(
        "the operations of the reference page",
        "const n = document.querySelectorAll('.opblock').length; return n > 40 ? n : 0;",
    );
    let document = s
        .send(s.http.get(s.server.url("/api/v1/openapi.json")))
        .ok(200);
    let documented: usize = document["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().expect("path item").len())
        .sum();
    assert_eq!(operations.as_u64(), Some(documented as u64));
    assert!(
        s.browser.url().ends_with("/api/v1/docs/"),
        "{}",
        s.browser.url()
    );
    // Everything the page loaded came from this server: no CDN, nothing from the internet.
    let foreign = s.browser.script(
        "return performance.getEntriesByType('resource').map(e => e.name)
            .filter(name => !name.startsWith(location.origin));",
        vec![],
    );
    assert_eq!(foreign, json!([]), "resources from elsewhere");
    s.shot("14-api-reference");
}
