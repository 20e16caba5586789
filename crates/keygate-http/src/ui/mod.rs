//! The prebuilt UI: the `<keygate-api-keys>` and `<keygate-team-api-keys>` web components, the
//! hosted account-settings page that mounts them, and the demo sign-in that opens that page for
//! the first-start `default` project.
//!
//! * `GET /ui/keygate-components.js` — the components, plain JavaScript compiled into the binary
//!   (no Node.js needed to run keygate), cacheable and revalidated by `ETag` ([`assets`]);
//! * `GET /handler/account-settings` — the hosted page ([`page`]);
//! * `GET /handler/demo-sign-in` — signs a demo user of the `default` project in and redirects
//!   to the page ([`demo`]).
//!
//! **Key design decision:** the components are clients of keygate's public client API, exactly
//! like a customer's own frontend: they send the project id, the publishable client key and the
//! user's access token, so the page grants nothing the API would not. The demo sign-in is the
//! only part with powers of its own (it makes a session without a password), so it is off
//! unless [`UiSettings::demo_sign_in`] allows it, and in [`DemoSignIn::Auto`] only on a server
//! bound to loopback, for requests that arrive over loopback addressed to a loopback host name.

pub mod assets;
pub mod demo;
pub mod page;
pub mod paths;

use std::net::SocketAddr;
use std::sync::Mutex;

use actix_web::web;
use keygate_domain::{is_expired, EpochMillis, ProjectId, SecretToken};

use crate::responses::method_not_allowed;

/// Whether `GET /handler/demo-sign-in` works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoSignIn {
    /// Only when the server is bound to a loopback address, and then only for requests from
    /// loopback (the default of the binary).
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
}

/// The UI's settings plus the demo sign-in's cached publishable client key.
#[derive(Debug)]
pub struct UiState {
    settings: UiSettings,
    demo_client_key: Mutex<Option<DemoClientKey>>,
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
        }
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
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource(assets::COMPONENTS_PATH)
            .route(web::get().to(assets::components_js))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource(paths::ACCOUNT_SETTINGS_PATH)
            .route(web::get().to(page::account_settings))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource(paths::DEMO_SIGN_IN_PATH)
            .route(web::get().to(demo::demo_sign_in))
            .default_service(web::to(method_not_allowed)),
    );
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
}
