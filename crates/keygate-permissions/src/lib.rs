//! keygate's authorization decisions: who may do what to which API-key owner, user or team.
//!
//! A caller ([`Caller`]: access type client/server/admin and an optional session user) asks to
//! perform an action ([`ApiKeyAction`], [`IdentityAction`], or [`authorize_create_team`]) in a
//! project ([`ProjectSwitches`]). The answer is `Ok` or a [`Denial`], which names upstream's
//! answer so the HTTP layer can write it on the wire (status, known-error code or plain text).
//! Team permissions are resolved here too: [`PermissionCatalogue`] holds a project's
//! definitions (the six [`SystemPermission`]s, the `team_admin`/`team_member` defaults and
//! custom ones) and turns a member's direct grants into the [`EffectivePermissions`] they hold,
//! recursively and cycle-safely.
//!
//! **Key design decision:** decisions are pure functions of values the HTTP layer has already
//! loaded — no storage, no HTTP, no async. Where a decision depends on data (the stored owner
//! of a key, the session user's [`TeamStanding`] in a team), the action's input type carries
//! it, and `team_standing_needed` says which standing to load. Each function applies the
//! checks in upstream's order, so a request with several faults gets upstream's error; that
//! order is the main thing the table-driven tests pin down.
//!
//! Plain-text denials (upstream's `StatusError`s) carry their exact text as `&'static str`
//! constants on [`Denial`], since the text is the whole of their meaning on the wire.

mod access;
mod api_keys;
mod denial;
mod identity;
mod team_permissions;

pub use access::{AccessType, Caller, InvalidAccessType};
pub use api_keys::{authorize_api_key, authorize_key_change_feed, ApiKeyAction};
pub use denial::Denial;
pub use identity::{authorize_create_team, authorize_identity, Customer, IdentityAction};
/// The switches decisions depend on; the domain's type, re-exported for callers of this crate.
pub use keygate_domain::ProjectSwitches;
pub use team_permissions::{
    default_team_definitions, DefinitionError, EffectivePermissions, InvalidPermissionId,
    MembershipKind, PermissionCatalogue, PermissionDefinition, PermissionId, SystemPermission,
    TeamStanding, TEAM_ADMIN, TEAM_MEMBER,
};
