//! Upstream's own prebuilt React UI against keygate (issue 17, items 3 and 4): the
//! `<AccountSettings fullPage />` of `@stackframe/react` 2.8.89 and 2.8.108, on a customer's
//! site (another origin), with the cookie token store, against the real binary in headless
//! Chromium — on SQLite, and on Postgres when `KEYGATE_TEST_POSTGRES_URL` is set.
//!
//! The page is the Vite app in `tests/ui/account-settings`, built from its lockfile once per
//! test process into one HTML file per SDK version. Building it needs Node.js 20+ with npm:
//! without them the tests say why and pass, except under `CI=true`, where they fail.
//!
//! What a user does here: opens the API Keys tab, creates a key (one day), sees it once, sees
//! it listed, revokes it, reloads; opens every other tab; revokes another session of theirs
//! from Active Sessions; creates and revokes a key on their team's page, and renames themselves
//! there. A plain member sees that page without its API keys section.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::SystemTime;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keygate_storage::testing::TestDatabase;
use serde_json::{json, Value};

use crate::webdriver::{keys, Settings};
use crate::{prerequisites, screenshots, serve_page, start_scenario, Scenario};

/// Helpers every script of this file starts with. Upstream's sidebar layout renders a desktop
/// and a mobile copy of the page and hides one with CSS, so only what is visible counts; the
/// selected tab's page is the element after the sidebar (`content()`), and `shows(line)` says
/// whether a line of its text is exactly `line`.
const HELPERS: &str = r#"
const visible = (e) => !!e && e.getClientRects().length > 0;
const all = (selector, root) => Array.from((root || document).querySelectorAll(selector)).filter(visible);
const withText = (selector, text, root) => all(selector, root).find((e) => e.textContent.trim() === text);
const dialogs = () => all('[role=dialog]');
const dialog = () => { const open = dialogs(); return open.length === 1 ? open[0] : null; };
const dialogButton = (text) => { const d = dialog(); return d && all('button', d).find((b) => b.textContent.trim() === text && !b.querySelector('.sr-only')); };
const rows = () => all('tbody tr').map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent.trim()));
const row = (text) => all('tbody tr').find((tr) => tr.textContent.includes(text));
const content = () => { const first = withText('button', 'My Profile'); return first && first.parentElement.nextElementSibling; };
const shows = (line) => !!content() && content().innerText.split('\n').some((l) => l.trim() === line);
"#;

/// `body` after [`HELPERS`].
fn js(body: &str) -> String {
    format!("{HELPERS}\n{body}")
}

/// The expiry choices of upstream's create dialog, in its order.
const EXPIRY_OPTIONS: [&str; 6] = ["1 day", "7 days", "30 days", "90 days", "1 year", "Never"];

/// Host names upstream's bundle loads scripts from (Stripe.js, for its payments panel); kept
/// unresolvable so the test never depends on the internet.
const THIRD_PARTY_HOSTS: [&str; 1] = ["js.stripe.com"];

#[test]
fn upstream_account_settings_2_8_89_on_sqlite() {
    account_settings("2.8.89", Backend::Sqlite);
}

#[test]
fn upstream_account_settings_2_8_108_on_sqlite() {
    account_settings("2.8.108", Backend::Sqlite);
}

#[test]
fn upstream_account_settings_2_8_89_on_postgres() {
    account_settings("2.8.89", Backend::Postgres);
}

#[test]
fn upstream_account_settings_2_8_108_on_postgres() {
    account_settings("2.8.108", Backend::Postgres);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// The whole scenario for one SDK version on one backend.
fn account_settings(version: &str, backend: Backend) {
    let Some((serial, installation)) = prerequisites() else {
        return;
    };
    let Some(dist) = built_pages() else { return };
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match TestDatabase::postgres() {
            Some(database) => Some(database),
            None => {
                eprintln!("skipped: KEYGATE_TEST_POSTGRES_URL is not set");
                return;
            }
        },
    };
    let page_file = dist.join(version).join("index.html");
    let page = std::fs::read_to_string(&page_file)
        .unwrap_or_else(|e| panic!("read {}: {e}", page_file.display()));
    let origin = format!("http://customer.test:{}", serve_page(page));
    // A customer's site is HTTPS, a secure context, where the SDK finds `crypto.randomUUID`;
    // this one is plain HTTP, so Chromium is told to treat it as secure.
    let settings = Settings {
        secure_origins: vec![origin.clone()],
        unresolvable_hosts: THIRD_PARTY_HOSTS.iter().map(|h| h.to_string()).collect(),
    };
    let s = start_scenario(serial, &installation, 1280, 900, &[], database, &settings);
    let page = Page {
        s: &s,
        origin,
        shot_prefix: format!(
            "upstream-{}-{}",
            version.replace('.', "-"),
            match backend {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            }
        ),
    };

    // The customer's site is a trusted domain of the project, which allows team API keys.
    s.send(
        s.keys
            .admin(
                s.http
                    .patch(s.server.url("/api/v1/internal/projects/current")),
            )
            .json(&json!({"config": {
                "allow_user_api_keys": true,
                "allow_team_api_keys": true,
                "domains": [{"domain": page.origin, "handler_path": "/handler"}],
            }})),
    )
    .ok(200);

    // Ada, signed in on the customer's site, with a second session elsewhere; her team; Bo, a
    // plain member of it.
    let ada = page.new_user("ada@example.com", "Ada");
    let ada_session = page.new_session(&ada);
    let other_session = page.new_session(&ada);
    let team = s
        .send(
            s.keys
                .server(s.http.post(s.server.url("/api/v1/teams")))
                .json(&json!({"display_name": "Ada's team", "creator_user_id": ada})),
        )
        .ok(201);
    let team_id = team["id"].as_str().expect("team id").to_owned();
    let bo = page.new_user("bo@example.com", "Bo");
    s.send(
        s.keys
            .server(
                s.http.post(
                    s.server
                        .url(&format!("/api/v1/team-memberships/{team_id}/{bo}")),
                ),
            )
            .json(&json!({})),
    )
    .ok(201);
    let bo_session = page.new_session(&bo);

    page.sign_in(&ada_session, "");
    let tabs = s.browser.wait_for(
        "the sidebar",
        &js(
            "const names = all('button').map((b) => b.textContent.trim());
             return names.includes('Settings') && names;",
        ),
    );
    for tab in [
        "My Profile",
        "Emails & Auth",
        "Notifications",
        "Active Sessions",
        "API Keys",
        "Settings",
        "Ada's team",
    ] {
        assert!(
            tabs.as_array()
                .expect("names")
                .iter()
                .any(|name| name.as_str().is_some_and(|name| name.ends_with(tab))),
            "no {tab:?} tab in {tabs}"
        );
    }
    page.assert_healthy("the first page");
    page.shot("01-profile");

    let secret = page.user_api_key(&ada);
    page.other_tabs("ada@example.com");
    page.active_sessions(&ada, &ada_session, &other_session);
    page.team_api_key(&team_id);
    page.team_user_name(&team_id, &ada);
    page.member_without_manage_permission(&bo_session, &team_id);
    // Nothing the page did revived the revoked key.
    s.check(&secret).known(401, "API_KEY_REVOKED");
}

/// A signed-in session: its refresh token (what the cookie holds) and its id.
struct Session {
    refresh_token: String,
    id: String,
}

/// The scenario with the customer's page.
struct Page<'a> {
    s: &'a Scenario,
    /// `http://customer.test:<port>`, serving the page for every path.
    origin: String,
    /// The start of this scenario's screenshot names.
    shot_prefix: String,
}

impl Page<'_> {
    fn shot(&self, name: &str) {
        let path = self
            .s
            .browser
            .screenshot(&screenshots(), &format!("{}-{name}", self.shot_prefix));
        eprintln!("screenshot: {}", path.display());
    }

    /// Creates a user (server access); returns the id.
    fn new_user(&self, email: &str, name: &str) -> String {
        let user = self
            .s
            .send(
                self.s
                    .keys
                    .server(self.s.http.post(self.s.server.url("/api/v1/users")))
                    .json(&json!({"primary_email": email, "display_name": name, "primary_email_verified": true})),
            )
            .ok(201);
        user["id"].as_str().expect("user id").to_owned()
    }

    /// Opens a session for `user` (server access, as a customer's backend signs a user in).
    fn new_session(&self, user: &str) -> Session {
        let session = self
            .s
            .send(
                self.s
                    .keys
                    .server(self.s.http.post(self.s.server.url("/api/v1/auth/sessions")))
                    .json(&json!({ "user_id": user })),
            )
            .ok(200);
        let access_token = session["access_token"].as_str().expect("access token");
        let claims = access_token.split('.').nth(1).expect("a JWT");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url claims"))
                .expect("JSON claims");
        Session {
            refresh_token: session["refresh_token"]
                .as_str()
                .expect("refresh token")
                .to_owned(),
            id: claims["refresh_token_id"]
                .as_str()
                .expect("the session id in the token")
                .to_owned(),
        }
    }

    /// The page's address with its configuration (as the customer's code would hold it), and
    /// `fragment` (upstream's tab ids: `#api-keys`, `#team-<id>`, …).
    fn url(&self, fragment: &str) -> String {
        format!(
            "{}/?base_url={}&project_id={}&publishable_client_key={}{fragment}",
            self.origin, self.s.server.base_url, self.s.keys.project_id, self.s.keys.client
        )
    }

    /// Opens the page signed in as the session's user: the SDK's cookie token store reads the
    /// refresh token from the cookie `stack-refresh-<project id>` of the site.
    fn sign_in(&self, session: &Session, fragment: &str) {
        let browser = &self.s.browser;
        // The site without its configuration: no SDK runs there (and none keeps cookies alive).
        browser.goto(&format!("{}/", self.origin));
        browser.script("sessionStorage.clear();", vec![]);
        browser.goto(&format!("{}/", self.origin));
        browser.wait_for(
            "the unconfigured page",
            "return !!document.getElementById('unconfigured');",
        );
        browser.delete_cookies();
        browser.script(
            "document.cookie = 'stack-refresh-' + arguments[0] + '=' + arguments[1] + '; path=/';",
            vec![json!(self.s.keys.project_id), json!(session.refresh_token)],
        );
        browser.goto(&self.url(fragment));
    }

    /// No crash, no uncaught error, no `alert()` so far.
    #[track_caller]
    fn assert_healthy(&self, when: &str) {
        let state = self.s.browser.script(
            "const crash = document.getElementById('crash');
             return { crash: crash && crash.textContent, errors: window.keygateTest.errors, alerts: window.keygateTest.alerts };",
            vec![],
        );
        assert_eq!(
            state,
            json!({"crash": null, "errors": [], "alerts": []}),
            "after {when}"
        );
    }

    /// Clicks the sidebar entry whose text ends with `name` and waits for its page (`id` is
    /// upstream's id for it, shown in the address's fragment) to show `marker` as a line of its
    /// own.
    fn open_tab(&self, name: &str, id: &str, marker: &str) {
        let browser = &self.s.browser;
        let tab = browser.element(
            &format!("the {name} tab"),
            &js(&format!(
                "return all('button').find((b) => b.textContent.trim().endsWith({}));",
                json!(name)
            )),
        );
        browser.click(&tab);
        browser.wait_for(
            &format!("the {name} page"),
            &js(&format!(
                "return location.hash === {} && shows({});",
                json!(format!("#{id}")),
                json!(marker)
            )),
        );
        self.assert_healthy(&format!("opening {name}"));
    }

    /// Clicks the visible `selector` element whose text is `text` (waiting for it, and for it to
    /// be enabled).
    fn click_text(&self, selector: &str, text: &str) {
        let element = self.s.browser.element(
            &format!("{text:?} ({selector})"),
            &js(&format!(
                "const e = withText({}, {}); return e && !e.disabled && e.getAttribute('aria-disabled') !== 'true' && e;",
                json!(selector),
                json!(text)
            )),
        );
        self.s.browser.click(&element);
    }

    /// Scrolls the visible row that mentions `text` (or, without one, the line `text` of the
    /// page) to the middle of the window, for a screenshot.
    fn scroll_to(&self, text: &str) {
        self.s.browser.script(
            &js("const target = row(arguments[0]) || all('*', content()).find((e) => e.children.length === 0 && e.textContent.trim() === arguments[0]);
                 target.scrollIntoView({ block: 'center' });"),
            vec![json!(text)],
        );
    }

    /// Clicks the dialog's button `text` (waiting for it to be enabled).
    fn click_in_dialog(&self, text: &str) {
        let element = self.s.browser.element(
            &format!("the dialog's {text:?} button"),
            &js(&format!(
                "const b = dialogButton({}); return b && !b.disabled && b;",
                json!(text)
            )),
        );
        self.s.browser.click(&element);
    }

    /// Creates a key in the open page's create dialog (`Create API Key` button, description,
    /// expiry), reads it from the dialog that shows it once, and closes that dialog; returns
    /// the key.
    fn create_key(&self, description: &str, expiry: &str, shot: &str) -> String {
        let browser = &self.s.browser;
        self.click_text("button", "Create API Key");
        let offered = browser.wait_for(
            "the expiry choices",
            &js(
                "const d = dialog(); const o = d && d.querySelectorAll('select#expiresIn option');
                 return o && o.length && Array.from(o).map((e) => e.textContent.trim());",
            ),
        );
        assert_eq!(offered, json!(EXPIRY_OPTIONS));
        let field = browser.element(
            "the description field",
            &js("const d = dialog(); return d && d.querySelector('input#description');"),
        );
        browser.type_into(&field, description);
        let option = browser.element(
            &format!("the {expiry} option"),
            &js(&format!(
                "return Array.from(dialog().querySelectorAll('select#expiresIn option')).find((o) => o.textContent.trim() === {});",
                json!(expiry)
            )),
        );
        browser.click(&option);
        self.shot(&format!("{shot}-create-dialog"));
        self.click_in_dialog("Create");

        // Shown once, with a warning; Close only after the user confirms they stored it.
        let secret = browser
            .wait_for(
                "the new key",
                &js("const d = dialog(); const i = d && d.querySelector('input[readonly]'); return i && i.value;"),
            )
            .as_str()
            .expect("the key")
            .to_owned();
        let warning = browser.script(&js("return dialog().textContent;"), vec![]);
        assert!(
            warning
                .as_str()
                .unwrap_or_default()
                .contains("You will not be able to view it again"),
            "{warning}"
        );
        self.shot(&format!("{shot}-key-shown-once"));
        let close_enabled = browser.script(
            &js("const b = dialogButton('Close'); return !!b && !b.disabled;"),
            vec![],
        );
        assert_eq!(
            close_enabled,
            json!(false),
            "Close waits for the confirmation"
        );
        let understood = browser.element(
            "the confirmation checkbox",
            &js("return dialog().querySelector('[role=checkbox]');"),
        );
        browser.click(&understood);
        self.click_in_dialog("Close");
        browser.wait_for("the dialog to close", &js("return dialogs().length === 0;"));
        browser.wait_for(
            "the new key in the list",
            &js(&format!("return !!row({});", json!(description))),
        );
        let still_shown = browser.script(
            "return document.documentElement.outerHTML.includes(arguments[0]) || Array.from(document.querySelectorAll('input')).some((i) => i.value === arguments[0]);",
            vec![json!(secret)],
        );
        assert_eq!(still_shown, json!(false), "the key is gone after Close");
        secret
    }

    /// The cells of the visible row that mentions `text`.
    fn row(&self, text: &str) -> Value {
        self.s.browser.script(
            &js(&format!(
                "const r = row({}); return r && Array.from(r.querySelectorAll('td')).map((td) => td.textContent.trim());",
                json!(text)
            )),
            vec![],
        )
    }

    /// Opens the "…" menu of the visible row that mentions `text`.
    fn open_row_menu(&self, text: &str) {
        let button = self.s.browser.element(
            &format!("the menu of the {text} row"),
            &js(&format!(
                "const r = row({}); return r && Array.from(r.querySelectorAll('button')).find((b) => b.textContent.includes('Open menu'));",
                json!(text)
            )),
        );
        self.s.browser.click(&button);
        self.s.browser.wait_for(
            "the row's menu",
            &js("return all('[role=menuitem]').length > 0;"),
        );
    }

    /// The user's API Keys tab: create a key that expires in a day, see it once, see it listed,
    /// revoke it, reload. Returns the (revoked) key.
    fn user_api_key(&self, user: &str) -> String {
        let s = self.s;
        self.open_tab("API Keys", "api-keys", "Create API Key");
        self.shot("02-api-keys-empty");
        let secret = self.create_key("CI deploy script", "1 day", "03-user");
        assert!(secret.starts_with("sk_"), "{secret}");

        // The key is real: keygate resolves it to the user, with the expiry picked.
        let checked = s.check(&secret).ok(200);
        assert_eq!(checked["user_id"], user);
        assert_eq!(checked["description"], "CI deploy script");
        let lifetime = checked["expires_at_millis"].as_f64().expect("an expiry")
            - checked["created_at_millis"]
                .as_f64()
                .expect("a creation time");
        let days = lifetime / 86_400_000.0;
        assert!((0.99..1.01).contains(&days), "one day, got {days} days");

        // Listed by its last four characters, valid.
        let last_four = &secret[secret.len() - 4..];
        let listed = self.row("CI deploy script");
        assert_eq!(listed[1], "valid", "{listed}");
        assert_eq!(listed[2], format!("*******{last_four}"), "{listed}");
        self.shot("04-user-key-listed");

        self.revoke_key("CI deploy script", last_four, "05-user-key");
        s.check(&secret).known(401, "API_KEY_REVOKED");
        self.assert_revoked_after_reload("CI deploy script", last_four, "#api-keys", "06-user-key");
        secret
    }

    /// Revokes the listed key `description` (ending in `last_four`) through its row menu and
    /// upstream's confirmation dialog, and waits for the row to show it revoked.
    fn revoke_key(&self, description: &str, last_four: &str, shot: &str) {
        let s = self.s;
        self.open_row_menu(description);
        self.click_text("[role=menuitem]", "Revoke");
        let question = s.browser.wait_for(
            "the revoke dialog",
            &js("const d = dialog(); return d && d.textContent.includes('Revoke API Key') && d.textContent;"),
        );
        assert!(
            question.as_str().unwrap_or_default().contains(last_four),
            "{question}"
        );
        let understood = s.browser.element(
            "the confirmation checkbox",
            &js("return dialog().querySelector('[role=checkbox]');"),
        );
        s.browser.click(&understood);
        self.shot(&format!("{shot}-revoke-dialog"));
        self.click_in_dialog("Revoke Key");
        s.browser.wait_for(
            "the key to show as revoked",
            &js(&format!(
                "const r = row({}); return dialogs().length === 0 && r && r.textContent.includes('revoked');",
                json!(description)
            )),
        );
    }

    /// After a reload of the page at `fragment`, the key `description` is listed revoked: what
    /// keygate stores (upstream lists revoked keys).
    fn assert_revoked_after_reload(
        &self,
        description: &str,
        last_four: &str,
        fragment: &str,
        shot: &str,
    ) {
        let s = self.s;
        s.browser.refresh();
        s.browser.wait_for(
            "the list after the reload",
            &js(&format!(
                "return location.hash === {} && !!row({});",
                json!(fragment),
                json!(description)
            )),
        );
        let listed = self.row(description);
        assert_eq!(listed[1], "revoked", "{listed}");
        assert_eq!(listed[2], format!("*******{last_four}"), "{listed}");
        self.assert_healthy("the reload");
        self.scroll_to(description);
        self.shot(&format!("{shot}-revoked-after-reload"));
    }

    /// Every other tab opens without a crash, an error or an alert, showing keygate's data.
    fn other_tabs(&self, email: &str) {
        for (name, id, marker) in [
            ("My Profile", "profile", "User name"),
            // The primary e-mail, as a contact channel.
            ("Emails & Auth", "auth", email),
            // keygate's e-mails: security notices, upstream's "Transactional" category.
            ("Notifications", "notifications", "Transactional"),
            ("Settings", "settings", "Sign out"),
        ] {
            self.open_tab(name, id, marker);
            self.shot(&format!("07-tab-{id}"));
        }
    }

    /// Active Sessions lists the current session and the other one; the other is revoked from
    /// the page, and keygate no longer has it.
    fn active_sessions(&self, user: &str, current: &Session, other: &Session) {
        let s = self.s;
        self.open_tab("Active Sessions", "sessions", "Current Session");
        s.browser.wait_for(
            "both sessions",
            &js("return rows().length === 2 && rows().map((r) => r[0]);"),
        );
        // In keygate's order (newest first, as upstream's), which the page keeps.
        let labels = s.browser.script(
            &js("return rows().map((r) => r[0].startsWith('Current Session') ? 'current' : r[0].startsWith('Other Session') ? 'other' : r[0]);"),
            vec![],
        );
        assert_eq!(labels, json!(["other", "current"]));
        self.shot("08-active-sessions");

        // The current session cannot be revoked from the list.
        self.open_row_menu("Current Session");
        let disabled = s.browser.script(
            &js("const m = withText('[role=menuitem]', 'Revoke'); return m && m.getAttribute('aria-disabled');"),
            vec![],
        );
        assert_eq!(disabled, json!("true"), "Revoke of the current session");
        s.browser.press(&[keys::ESCAPE]);
        s.browser.wait_for(
            "the menu to close",
            &js("return all('[role=menuitem]').length === 0;"),
        );

        self.open_row_menu("Other Session");
        self.click_text("[role=menuitem]", "Revoke");
        s.browser.wait_for(
            "the other session to leave the list",
            &js("return rows().length === 1 && rows()[0][0].startsWith('Current Session');"),
        );
        self.assert_healthy("revoking a session");
        self.shot("09-other-session-revoked");

        // keygate agrees: only the page's session is left, and the other cannot be refreshed.
        let sessions = s
            .send(
                s.keys.server(
                    s.http.get(
                        s.server
                            .url(&format!("/api/v1/auth/sessions?user_id={user}")),
                    ),
                ),
            )
            .ok(200);
        let ids: Vec<&str> = sessions["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| item["id"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(ids, [current.id.as_str()], "{sessions}");
        assert_ne!(current.id, other.id);
        s.send(
            s.keys
                .client(
                    s.http
                        .post(s.server.url("/api/v1/auth/sessions/current/refresh")),
                )
                .header("x-stack-refresh-token", &other.refresh_token),
        )
        .known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    }

    /// The team's page shows its API keys section to its creator (team_admin, with
    /// `$manage_api_keys`), where a team key is created, listed and revoked, and stays revoked
    /// after a reload.
    fn team_api_key(&self, team_id: &str) {
        let s = self.s;
        self.open_tab("Ada's team", &format!("team-{team_id}"), "Leave team");
        s.browser.wait_for(
            "the team's API keys section",
            &js("return shows('API Keys') && !!withText('button', 'Create API Key');"),
        );
        self.scroll_to("API Keys");
        self.shot("10-team-page");
        let secret = self.create_key("Billing worker", "7 days", "11-team");
        let checked = s
            .send(
                s.keys
                    .server(s.http.post(s.server.url("/api/v1/team-api-keys/check")))
                    .json(&json!({ "api_key": secret })),
            )
            .ok(200);
        assert_eq!(checked["team_id"], team_id);
        assert_eq!(checked["description"], "Billing worker");
        let listed = self.row("Billing worker");
        assert_eq!(listed[1], "valid", "{listed}");
        self.assert_healthy("creating a team key");
        self.scroll_to("Billing worker");
        self.shot("12-team-key-listed");

        let last_four = &secret[secret.len() - 4..];
        self.revoke_key("Billing worker", last_four, "12-team-key");
        s.send(
            s.keys
                .server(s.http.post(s.server.url("/api/v1/team-api-keys/check")))
                .json(&json!({ "api_key": secret })),
        )
        .known(401, "API_KEY_REVOKED");
        self.assert_revoked_after_reload(
            "Billing worker",
            last_four,
            &format!("#team-{team_id}"),
            "12-team-key",
        );
    }

    /// On the team's page, the member renames themselves in the team ("Team user name"): the
    /// page saves it through keygate, which keeps it for that team only.
    fn team_user_name(&self, team_id: &str, user: &str) {
        let s = self.s;
        let row = "const label = withText('p', 'Team user name'); const nameRow = label && label.parentElement.parentElement;";
        let pen = s.browser.element(
            "the team user name's edit button",
            &js(&format!(
                "{row} const pen = nameRow && nameRow.querySelector('svg.lucide-square-pen'); return pen && pen.closest('button');"
            )),
        );
        s.browser.click(&pen);
        let field = s.browser.element(
            "the team user name field",
            &js(&format!(
                "{row} return nameRow && nameRow.querySelector('input');"
            )),
        );
        // Empty it as React sees an edit (its own setter, then an input event), then type.
        s.browser.script(
            &js(&format!(
                "{row} const field = nameRow.querySelector('input');
                 Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(field, '');
                 field.dispatchEvent(new Event('input', {{ bubbles: true }}));"
            )),
            vec![],
        );
        s.browser.type_into(&field, "Ada at work");
        self.click_text("button", "Save");
        s.browser.wait_for(
            "the new team user name",
            &js(&format!(
                "{row} return nameRow && !nameRow.querySelector('input') && !!withText('p', 'Ada at work', nameRow);"
            )),
        );
        let profile = s
            .send(
                s.keys.server(
                    s.http.get(
                        s.server
                            .url(&format!("/api/v1/team-member-profiles/{team_id}/{user}")),
                    ),
                ),
            )
            .ok(200);
        assert_eq!(profile["display_name"], "Ada at work");
        assert_eq!(profile["user"]["display_name"], "Ada");
        self.assert_healthy("renaming oneself in the team");
        self.shot("13-team-user-name");
    }

    /// A plain member (team_member: `$read_members`, `$invite_members`) sees the team's page
    /// without the API keys section.
    fn member_without_manage_permission(&self, member: &Session, team_id: &str) {
        let s = self.s;
        self.sign_in(member, &format!("#team-{team_id}"));
        s.browser.wait_for(
            "the member's team page",
            &js(&format!(
                "return location.hash === {} && !!withText('button', 'Leave team') && shows('Members');",
                json!(format!("#team-{team_id}"))
            )),
        );
        let api_keys_section = s.browser.script(
            &js("return [shows('API Keys'), !!withText('button', 'Create API Key')];"),
            vec![],
        );
        assert_eq!(
            api_keys_section,
            json!([false, false]),
            "no API keys section for a plain member"
        );
        self.assert_healthy("the member's team page");
        self.shot("14-member-team-page");
    }
}

/// The outcome of building the page, once per test process.
enum Build {
    /// `dist/` holds one `<version>/index.html` per SDK version.
    Ready(PathBuf),
    /// Node.js or npm is missing (skip, except under CI).
    Unavailable(String),
    /// The install or the build failed.
    Failed(String),
}

static BUILD: OnceLock<Build> = OnceLock::new();

/// The built pages' directory, or `None` (after saying why) without Node.js outside CI.
fn built_pages() -> Option<PathBuf> {
    match BUILD.get_or_init(build) {
        Build::Ready(dist) => Some(dist.clone()),
        Build::Unavailable(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the upstream UI tests need Node.js 20+ and npm under CI: {reason}")
        }
        Build::Unavailable(reason) => {
            eprintln!("skipping the upstream UI test: {reason}");
            None
        }
        Build::Failed(message) => panic!("{message}"),
    }
}

/// `npm ci` when `node_modules` is missing or older than the lockfile, then `npm run build`.
fn build() -> Build {
    let app = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui/account-settings");
    let node = match Command::new("node").arg("--version").output() {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        _ => return Build::Unavailable("Node.js is not installed (apt-get install nodejs)".into()),
    };
    let major: u32 = node
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        return Build::Unavailable(format!("Node.js 20 or newer is needed, found {node}"));
    }
    if !Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
    {
        return Build::Unavailable("npm is not installed (apt-get install npm)".into());
    }
    if needs_install(&app) {
        let installed = npm(
            &app,
            &[
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
        );
        if !installed.status.success() {
            return Build::Failed(failure("npm ci", &app, &installed));
        }
    }
    let built = npm(&app, &["run", "build"]);
    if !built.status.success() {
        return Build::Failed(failure("npm run build", &app, &built));
    }
    Build::Ready(app.join("dist"))
}

/// Whether `node_modules` is missing or older than `package-lock.json` (npm records the
/// installed tree in `node_modules/.package-lock.json`).
fn needs_install(app: &Path) -> bool {
    let modified = |path: PathBuf| -> Option<SystemTime> { path.metadata().ok()?.modified().ok() };
    match (
        modified(app.join("node_modules/.package-lock.json")),
        modified(app.join("package-lock.json")),
    ) {
        (Some(installed), Some(locked)) => installed < locked,
        _ => true,
    }
}

fn npm(app: &Path, args: &[&str]) -> Output {
    Command::new("npm")
        .args(args)
        .current_dir(app)
        .output()
        .unwrap_or_else(|e| panic!("run npm {args:?}: {e}"))
}

fn failure(what: &str, app: &Path, output: &Output) -> String {
    format!(
        "`{what}` failed in {} ({}):\n{}\n{}",
        app.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
