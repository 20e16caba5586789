//! A small W3C WebDriver client over blocking HTTP, driving Debian's headless Chromium through
//! `chromedriver` — just the commands these tests use (navigate, run a script, click, type,
//! press keys, take a screenshot).
//!
//! Written here rather than taken from a WebDriver crate because the tests need only a dozen
//! endpoints and already have a blocking HTTP client; components live in shadow roots, which
//! scripts reach directly (`el.shadowRoot.querySelector`) and which WebDriver serialises back as
//! ordinary element references, so clicks and typing are real, interactability-checked input.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// The key W3C WebDriver uses for element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a condition may take to come true.
const PATIENCE: Duration = Duration::from_secs(20);

/// WebDriver's codes for special keys.
pub mod keys {
    /// Tab.
    pub const TAB: &str = "\u{E004}";
    /// Enter.
    pub const ENTER: &str = "\u{E007}";
    /// Escape.
    pub const ESCAPE: &str = "\u{E00C}";
    /// Arrow down.
    pub const ARROW_DOWN: &str = "\u{E015}";
    /// Shift (held for the next key).
    pub const SHIFT: &str = "\u{E008}";
}

/// Where Chromium and chromedriver are, if installed.
#[derive(Debug, Clone)]
pub struct Installation {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Installation {
    /// Finds both programs: `KEYGATE_CHROMIUM` / `KEYGATE_CHROMEDRIVER`, else on the `PATH`.
    pub fn find() -> Result<Installation, String> {
        let chromium = locate(
            "KEYGATE_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        )
        .ok_or("Chromium is not installed (apt-get install chromium)")?;
        let chromedriver = locate("KEYGATE_CHROMEDRIVER", &["chromedriver"])
            .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
        Ok(Installation {
            chromium,
            chromedriver,
        })
    }
}

fn locate(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable).map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    let search = std::env::var_os("PATH")?;
    std::env::split_paths(&search)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Extra Chromium settings for [`Browser::launch`].
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Origins Chromium treats as secure contexts although the tests serve them over plain
    /// HTTP (a customer's site is HTTPS in production; some browser APIs, such as
    /// `crypto.randomUUID`, exist only in secure contexts).
    pub secure_origins: Vec<String>,
    /// Host names that do not resolve, so that third-party scripts a page loads stay off the
    /// internet (the test sees the page as it is without them, on any machine).
    pub unresolvable_hosts: Vec<String>,
}

/// A reference to an element in the page (also inside a shadow root).
#[derive(Debug, Clone)]
pub struct Element(String);

/// A headless Chromium session. Dropping it ends the session and stops chromedriver.
#[derive(Debug)]
pub struct Browser {
    http: reqwest::blocking::Client,
    driver_url: String,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session with a fresh profile. `customer.test`
    /// resolves to 127.0.0.1, so a second local server can act as a customer's site.
    pub fn launch(
        installation: &Installation,
        width: u32,
        height: u32,
        settings: &Settings,
    ) -> Browser {
        let port = free_port();
        let driver = Command::new(&installation.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let driver_url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http
                .get(format!("{driver_url}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|status| status["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(started.elapsed() < PATIENCE, "chromedriver did not start");
            thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::Builder::new()
            .prefix("keygate-ui-chromium-")
            .tempdir()
            .expect("profile directory");
        let mut host_rules = vec!["MAP customer.test 127.0.0.1".to_owned()];
        host_rules.extend(
            settings
                .unresolvable_hosts
                .iter()
                .map(|host| format!("MAP {host} ~NOTFOUND")),
        );
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            format!("--host-resolver-rules={}", host_rules.join(", ")),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if !settings.secure_origins.is_empty() {
            args.push(format!(
                "--unsafely-treat-insecure-origin-as-secure={}",
                settings.secure_origins.join(",")
            ));
        }
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": installation.chromium.display().to_string(),
                        "args": args,
                    },
                },
            },
        });
        let mut browser = Browser {
            http,
            driver_url,
            session: String::new(),
            driver,
            _profile: profile,
        };
        let created = browser.command("POST", "/session", Some(capabilities));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {created}"))
            .to_owned();
        browser
    }

    /// Sends one WebDriver command and returns its `value`; panics with WebDriver's message on
    /// an error.
    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.driver_url)
        } else {
            format!("{}/session/{}{path}", self.driver_url, self.session)
        };
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = request.send().expect("talk to chromedriver");
        let status = response.status();
        let reply: Value = response.json().expect("chromedriver answers JSON");
        if !status.is_success() {
            panic!(
                "WebDriver {method} {path} failed ({status}): {}",
                reply["value"]["message"]
            );
        }
        reply["value"].clone()
    }

    /// Opens `url`.
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// Reloads the current page, as the browser's reload button does (waiting for it to load).
    pub fn refresh(&self) {
        self.command("POST", "/refresh", None);
    }

    /// The value of the cookie `name` the current page's address sees (also an `HttpOnly` one,
    /// which the page's script cannot read), if any.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let all = self.command("GET", "/cookie", None);
        all.as_array()?
            .iter()
            .find(|cookie| cookie["name"] == name)
            .and_then(|cookie| cookie["value"].as_str())
            .map(str::to_owned)
    }

    /// Sets an `HttpOnly` cookie `name` on the current page's host, for `path` (replacing one
    /// of that name and path).
    pub fn set_http_only_cookie(&self, name: &str, value: &str, path: &str) {
        self.command(
            "POST",
            "/cookie",
            Some(json!({ "cookie": { "name": name, "value": value, "path": path, "httpOnly": true, "sameSite": "Strict" } })),
        );
    }

    /// Deletes every cookie of the current page's host (a new browser session, as far as the
    /// server can tell).
    pub fn delete_cookies(&self) {
        self.command("DELETE", "/cookie", None);
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `body` as a function body in the page, with `arguments`, and returns its value.
    pub fn script(&self, body: &str, arguments: Vec<Value>) -> Value {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({ "script": body, "args": arguments })),
        )
    }

    /// Waits until `body` (a function body) returns something truthy, and returns that.
    #[track_caller]
    pub fn wait_for(&self, what: &str, body: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.script(body, vec![]);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            if started.elapsed() > PATIENCE {
                let text = self.script(
                    "return document.body ? document.body.innerText : ''",
                    vec![],
                );
                panic!("timed out waiting for {what}; the page says:\n{text}");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The element `body` returns (waiting until it exists).
    #[track_caller]
    pub fn element(&self, what: &str, body: &str) -> Element {
        let value = self.wait_for(what, body);
        let id = value[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: the script returned {value}, not an element"));
        Element(id.to_owned())
    }

    /// Clicks `element` like a mouse (scrolled into view; refused if covered or hidden).
    pub fn click(&self, element: &Element) {
        self.command("POST", &format!("/element/{}/click", element.0), None);
    }

    /// Types `text` into `element` (which gets focus first).
    pub fn type_into(&self, element: &Element, text: &str) {
        self.command(
            "POST",
            &format!("/element/{}/value", element.0),
            Some(json!({ "text": text })),
        );
    }

    /// Presses keys on whatever has focus, as a keyboard does (`keys::TAB`, plain text, …).
    pub fn press(&self, keys: &[&str]) {
        let mut actions = Vec::new();
        for key in keys {
            for character in key.chars() {
                actions.push(json!({ "type": "keyDown", "value": character.to_string() }));
                actions.push(json!({ "type": "keyUp", "value": character.to_string() }));
            }
        }
        self.command(
            "POST",
            "/actions",
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        );
        self.command("DELETE", "/actions", None);
    }

    /// Presses Shift+Tab.
    pub fn press_shift_tab(&self) {
        let actions = json!([
            { "type": "keyDown", "value": keys::SHIFT },
            { "type": "keyDown", "value": keys::TAB },
            { "type": "keyUp", "value": keys::TAB },
            { "type": "keyUp", "value": keys::SHIFT },
        ]);
        self.command(
            "POST",
            "/actions",
            Some(json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] })),
        );
        self.command("DELETE", "/actions", None);
    }

    /// A description of the focused element, looking through shadow roots: its `aria-label`,
    /// else its text, else its id, else its tag.
    pub fn focused(&self) -> String {
        self.script(
            "let a = document.activeElement;
             while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
             if (!a) return '';
             return a.getAttribute('aria-label') || (a.textContent || '').trim() || a.id || a.tagName;",
            vec![],
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Presses Tab until the focused element is described as `target` (at most `limit` times).
    #[track_caller]
    pub fn tab_to(&self, target: &str, limit: usize) {
        for _ in 0..limit {
            if self.focused() == target {
                return;
            }
            self.press(&[keys::TAB]);
        }
        assert_eq!(self.focused(), target, "Tab never reached {target:?}");
    }

    /// Saves a PNG of the viewport as `dir/name.png`.
    pub fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        let encoded = self.command("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().expect("base64 screenshot"))
            .expect("decode the screenshot");
        std::fs::create_dir_all(dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write the screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .http
                .delete(format!("{}/session/{}", self.driver_url, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("find a free port")
}
