//! The prebuilt UI: the `<keygate-api-keys>` and `<keygate-team-api-keys>` web components, the
//! hosted account-settings page that mounts them, and the demo sign-in that opens that page for
//! the first-start `default` project.
//!
//! * `GET /ui/keygate-components.js` — the components, plain JavaScript compiled into the binary
//!   (no Node.js needed to run keygate), cacheable and revalidated by `ETag` ([`assets`]);
//! * `GET /ui/account-settings.js` — the hosted page's own script ([`assets`]);
//! * `GET /handler/account-settings` — the hosted page ([`page`]);
//! * `POST /handler/access-token` — the hosted page's access token, from its `HttpOnly` session
//!   cookies ([`page`]);
//! * `GET`/`POST /handler/demo-sign-in?token=…` — signs a demo user of the first-start project
//!   in with a one-time link and redirects to the page ([`demo`]).
//!
//! **Key design decision:** the components are clients of keygate's public client API, exactly
//! like a customer's own frontend: they send the project id, the publishable client key and the
//! user's access token, so the page grants nothing the API would not. The demo sign-in is the
//! only part with powers of its own (it makes a session without a password), so it is off
//! unless [`UiSettings::demo_sign_in`] allows it, and even then it only answers the holder of a
//! one-time token that exists only in this process's memory and is printed on standard output
//! ([`UiState::issue_demo_link`]); nothing a client can send instead (a `Host`, a peer address,
//! a missing proxy header) opens it.

pub mod assets;
pub mod demo;
pub mod page;
pub mod paths;
mod same_origin;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use keygate_domain::{is_expired, EpochMillis, KeyHash, KeyHasher, ProjectId, SecretToken};

use crate::request_body::SmallBody;
use crate::route_table::Routes;

/// Whether the demo sign-in works (for the holder of its one-time link).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoSignIn {
    /// Only when the server is bound to a loopback address (the default of the binary).
    Auto,
    /// Always, whatever the bind address (for a demo server others reach over the network).
    Enabled,
    /// Never (the default of the library, so embedding applications opt in).
    #[default]
    Disabled,
}

impl DemoSignIn {
    /// Parses a setting value: `auto`, `enabled` or `disabled`.
    pub fn parse(text: &str) -> Option<DemoSignIn> {
        match text {
            "auto" => Some(DemoSignIn::Auto),
            "enabled" => Some(DemoSignIn::Enabled),
            "disabled" => Some(DemoSignIn::Disabled),
            _ => None,
        }
    }
}

/// How the prebuilt UI is configured.
#[derive(Debug, Clone, Default)]
pub struct UiSettings {
    /// Whether the demo sign-in works.
    pub demo_sign_in: DemoSignIn,
    /// The address the server is bound to (decides [`DemoSignIn::Auto`]); `None` counts as not
    /// loopback.
    pub bind: Option<SocketAddr>,
    /// The URL users reach the server at (`https://keys.example.com`), without a trailing
    /// slash: the start of the demo link, an origin the demo accepts, and, when it is
    /// `https://`, the reason its cookies are `Secure`. Forwarding headers are never trusted
    /// for any of this.
    pub public_url: Option<String>,
    /// Shows each new demo link to the operator (the binary prints it on standard output);
    /// `None`: links are only returned by [`UiState::issue_demo_link`].
    pub demo_link_announcer: Option<DemoLinkAnnouncer>,
}

impl UiSettings {
    /// The origin (`scheme://host[:port]`) of [`UiSettings::public_url`], if set.
    pub(crate) fn public_origin(&self) -> Option<&str> {
        let url = self.public_url.as_deref()?;
        let after_scheme = url.find("://")? + 3;
        let end = url[after_scheme..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |at| after_scheme + at);
        Some(&url[..end])
    }

    /// Whether the public URL is `https://` (then the demo's cookies are `Secure`).
    pub(crate) fn public_url_is_https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|url| {
            url.get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        })
    }
}

/// Receives every new demo sign-in link (a secret: show it to the operator, never log it).
#[derive(Clone)]
pub struct DemoLinkAnnouncer(Arc<dyn Fn(&str) + Send + Sync>);

impl DemoLinkAnnouncer {
    /// Calls `announce` with each new link.
    pub fn new(announce: impl Fn(&str) + Send + Sync + 'static) -> Self {
        DemoLinkAnnouncer(Arc::new(announce))
    }
}

impl fmt::Debug for DemoLinkAnnouncer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DemoLinkAnnouncer")
    }
}

/// The prefix of demo sign-in tokens.
pub const DEMO_TOKEN_PREFIX: &str = "kgdemo";

/// The UI's settings plus the demo sign-in's state: the digest of the current one-time token
/// and the cached publishable client key.
#[derive(Debug)]
pub struct UiState {
    settings: UiSettings,
    demo_client_key: Mutex<Option<DemoClientKey>>,
    /// The SHA-256 digest of the one valid demo token, if any; compared in constant time.
    demo_token: Mutex<Option<KeyHash>>,
}

/// The publishable client key the demo sign-in minted for the hosted page (kept in memory only;
/// the database holds its hash like every credential's).
#[derive(Debug)]
pub(crate) struct DemoClientKey {
    pub(crate) project_id: ProjectId,
    pub(crate) key: SecretToken,
    pub(crate) expires_at_millis: EpochMillis,
}

/// Cloned by re-wrapping the key text (`SecretToken` itself is deliberately not `Clone`).
impl Clone for DemoClientKey {
    fn clone(&self) -> Self {
        DemoClientKey {
            project_id: self.project_id,
            key: SecretToken::from_string(self.key.expose_secret().to_owned()),
            expires_at_millis: self.expires_at_millis,
        }
    }
}

impl UiState {
    /// The state for `settings`, with no demo key minted yet.
    pub fn new(settings: UiSettings) -> Self {
        UiState {
            settings,
            demo_client_key: Mutex::new(None),
            demo_token: Mutex::new(None),
        }
    }

    /// Makes a new one-time demo token (the previous one stops working), hands the link to the
    /// announcer, and returns the token; `None` when the demo sign-in is off
    /// ([`demo::is_available`]). Only its digest is kept.
    pub fn issue_demo_link(&self) -> Option<SecretToken> {
        if !demo::is_available(&self.settings) {
            return None;
        }
        let token = SecretToken::generate(DEMO_TOKEN_PREFIX);
        let digest = KeyHasher::sha256().hash(token.expose_secret());
        *self.demo_token.lock().unwrap_or_else(|p| p.into_inner()) = Some(digest);
        if let Some(announcer) = &self.settings.demo_link_announcer {
            (announcer.0)(&self.demo_link(&token));
        }
        Some(token)
    }

    /// The link that opens the demo sign-in with `token`.
    pub fn demo_link(&self, token: &SecretToken) -> String {
        format!(
            "{}{}?token={}",
            self.settings.public_url.as_deref().unwrap_or_default(),
            paths::DEMO_SIGN_IN_PATH,
            token.expose_secret()
        )
    }

    /// Whether `presented` is the current demo token (constant-time).
    pub(crate) fn is_demo_token(&self, presented: &str) -> bool {
        let current = self.demo_token.lock().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .is_some_and(|digest| KeyHasher::sha256().verify(presented, digest))
    }

    /// Consumes the demo token if `presented` is it: true exactly once per token, even for
    /// concurrent requests.
    pub(crate) fn consume_demo_token(&self, presented: &str) -> bool {
        let mut current = self.demo_token.lock().unwrap_or_else(|p| p.into_inner());
        let matches = current
            .as_ref()
            .is_some_and(|digest| KeyHasher::sha256().verify(presented, digest));
        if matches {
            *current = None;
        }
        matches
    }

    /// The settings.
    pub fn settings(&self) -> &UiSettings {
        &self.settings
    }

    /// The cached demo key for `project`, if it is still valid `margin_millis` from now (by the
    /// domain's rule: valid through its expiry instant).
    pub(crate) fn demo_client_key(
        &self,
        project: ProjectId,
        now: EpochMillis,
        margin_millis: i64,
    ) -> Option<DemoClientKey> {
        let cached = self.demo_client_key.lock().ok()?;
        cached
            .as_ref()
            .filter(|key| {
                key.project_id == project
                    && !is_expired(
                        Some(key.expires_at_millis),
                        now.saturating_add(margin_millis),
                    )
            })
            .cloned()
    }

    /// Remembers the demo key minted for the hosted page.
    pub(crate) fn remember_demo_client_key(&self, key: DemoClientKey) {
        if let Ok(mut cached) = self.demo_client_key.lock() {
            *cached = Some(key);
        }
    }
}

/// Registers the UI's routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource(assets::COMPONENTS_PATH)
        .get(assets::components_js)
        .register();
    routes
        .resource(assets::PAGE_SCRIPT_PATH)
        .get(assets::page_js)
        .register();
    routes
        .resource(paths::ACCOUNT_SETTINGS_PATH)
        .get(page::account_settings)
        .register();
    routes
        .resource(paths::PAGE_ACCESS_TOKEN_PATH)
        .app_data(SmallBody)
        .post(page::page_access_token)
        .register();
    routes
        .resource(paths::DEMO_SIGN_IN_PATH)
        .app_data(SmallBody)
        .get(demo::demo_sign_in_form)
        .post(demo::demo_sign_in)
        // Every other method is the plain 404 too: the path does not reveal the demo.
        .other_methods_not_found()
        .register();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_modes_parse_from_settings_text() {
        assert_eq!(DemoSignIn::parse("auto"), Some(DemoSignIn::Auto));
        assert_eq!(DemoSignIn::parse("enabled"), Some(DemoSignIn::Enabled));
        assert_eq!(DemoSignIn::parse("disabled"), Some(DemoSignIn::Disabled));
        assert_eq!(DemoSignIn::parse("yes"), None);
        assert_eq!(DemoSignIn::default(), DemoSignIn::Disabled);
    }

    fn demo_state() -> UiState {
        UiState::new(UiSettings {
            demo_sign_in: DemoSignIn::Enabled,
            public_url: Some("https://keys.example.com:8443/base".to_owned()),
            ..UiSettings::default()
        })
    }

    #[test]
    fn a_demo_token_works_once_and_a_new_one_replaces_it() {
        let state = demo_state();
        let first = state.issue_demo_link().expect("on");
        assert!(state.is_demo_token(first.expose_secret()));
        assert!(!state.is_demo_token("kgdemo_wrong"));
        let second = state.issue_demo_link().expect("on");
        assert!(!state.is_demo_token(first.expose_secret()), "replaced");
        assert!(state.consume_demo_token(second.expose_secret()));
        assert!(
            !state.consume_demo_token(second.expose_secret()),
            "one time"
        );
        assert!(!state.is_demo_token(second.expose_secret()));
    }

    #[test]
    fn demo_links_are_announced_and_need_the_demo_on() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let state = UiState::new(UiSettings {
            demo_sign_in: DemoSignIn::Auto,
            bind: Some("127.0.0.1:8102".parse().unwrap()),
            public_url: Some("http://localhost:8102".to_owned()),
            demo_link_announcer: Some(DemoLinkAnnouncer::new(move |link| {
                sink.lock().unwrap().push(link.to_owned())
            })),
        });
        let token = state.issue_demo_link().expect("auto on loopback");
        assert_eq!(
            *seen.lock().unwrap(),
            vec![format!(
                "http://localhost:8102/handler/demo-sign-in?token={}",
                token.expose_secret()
            )]
        );
        let public = UiState::new(UiSettings {
            demo_sign_in: DemoSignIn::Auto,
            bind: Some("0.0.0.0:8102".parse().unwrap()),
            ..UiSettings::default()
        });
        assert!(public.issue_demo_link().is_none());
        assert!(UiState::new(UiSettings::default())
            .issue_demo_link()
            .is_none());
    }

    #[test]
    fn the_public_origin_is_the_urls_scheme_and_authority() {
        let state = demo_state();
        assert_eq!(
            state.settings().public_origin(),
            Some("https://keys.example.com:8443")
        );
        assert!(state.settings().public_url_is_https());
        assert_eq!(UiSettings::default().public_origin(), None);
    }
}
