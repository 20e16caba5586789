//! Who may create, list, read, update and check user and team API keys (B2, B4).
//!
//! The order of the checks is the order of upstream's handlers, because it decides which
//! error a request with several faults gets:
//!
//! 1. access type (only `check` restricts it: server or admin),
//! 2. the feature switch of the route's key type,
//! 3. the owner: missing in a list query → `SCHEMA_ERROR`; the stored key missing, or of the
//!    other key type than the route → `API_KEY_NOT_FOUND`,
//! 4. client access only (server and admin skip all ownership checks): a session user is
//!    required; a user key must be the session user's own; a team key needs
//!    `$manage_api_keys` (recursively) in the team, else it is disguised as not found.
//!
//! Schema validation and `"me"` resolution come before all of this and are the HTTP layer's. `check`'s own outcomes (not found, wrong type, revoked, expired)
//! come after it and are the domain's. The credential-scanning revoke endpoint needs no
//! decision here: it has no project authentication and ignores the switches; the users it
//! notifies about a team key are those whose standing holds `$manage_api_keys`.

use keygate_domain::{KeyType, Owner, ProjectSwitches, TeamId, UserId};

use crate::access::{AccessType, Caller};
use crate::denial::Denial;
use crate::team_permissions::{SystemPermission, TeamStanding};

/// Every access type.
const ANY_ACCESS: &[AccessType] = &AccessType::ALL;
/// Server and admin.
const SERVER_OR_ADMIN: &[AccessType] = &[AccessType::Server, AccessType::Admin];

/// One API-key operation, with what the HTTP layer has learned about its owner by the time
/// the decision is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyAction {
    /// `POST /{type}-api-keys`: the owner named in the body (`"me"` already resolved).
    Create {
        /// The user or team the key is for.
        owner: Owner,
    },
    /// `GET /{type}-api-keys`: the owner named in the query; `None` when the query has no
    /// `user_id` (the user route allows that in its schema, then refuses it).
    List {
        /// The user or team whose keys are listed.
        owner: Option<Owner>,
    },
    /// `GET /{type}-api-keys/{id}`: the owner of the key stored under that id in the project;
    /// `None` when there is no such key. Any owner named in the query is ignored.
    Read {
        /// The stored key's owner.
        stored_owner: Option<Owner>,
    },
    /// `PATCH /{type}-api-keys/{id}`: as [`ApiKeyAction::Read`].
    Update {
        /// The stored key's owner.
        stored_owner: Option<Owner>,
    },
    /// `POST /{type}-api-keys/check`.
    Check,
}

impl ApiKeyAction {
    /// The access types the endpoint accepts: all three, except `check` (server, admin).
    pub const fn allowed_access_types(&self) -> &'static [AccessType] {
        match self {
            ApiKeyAction::Check => SERVER_OR_ADMIN,
            _ => ANY_ACCESS,
        }
    }

    /// The (team, session user) whose [`TeamStanding`] the HTTP layer must load and pass to
    /// [`authorize_api_key`]: `Some` only for a client with a session acting on a team key.
    pub fn team_standing_needed(&self, caller: &Caller) -> Option<(TeamId, UserId)> {
        let team = match self.owner() {
            Some(Owner::Team(team)) => Some(team),
            _ => None,
        };
        caller.standing_needed_in(team)
    }

    fn owner(&self) -> Option<Owner> {
        match *self {
            ApiKeyAction::Create { owner } => Some(owner),
            ApiKeyAction::List { owner } => owner,
            ApiKeyAction::Read { stored_owner } | ApiKeyAction::Update { stored_owner } => {
                stored_owner
            }
            ApiKeyAction::Check => None,
        }
    }
}

/// Decides whether `caller` may perform `action` on the `route` key type's endpoint.
///
/// `standing` is the session user's standing in the owning team, as asked for by
/// [`ApiKeyAction::team_standing_needed`]; it is ignored otherwise. Where it is needed but
/// `None`, the user counts as holding nothing (fails closed).
pub fn authorize_api_key(
    caller: &Caller,
    switches: &ProjectSwitches,
    route: KeyType,
    action: &ApiKeyAction,
    standing: Option<&TeamStanding>,
) -> Result<(), Denial> {
    let allowed = action.allowed_access_types();
    if !allowed.contains(&caller.access_type) {
        return Err(Denial::InsufficientAccessType {
            actual: caller.access_type,
            allowed,
        });
    }

    if !switches.api_keys_enabled(route) {
        return Err(Denial::ApiKeysDisabled(route));
    }

    let owner = match *action {
        ApiKeyAction::Check => return Ok(()),
        ApiKeyAction::Create { owner } => owner,
        ApiKeyAction::List { owner } => owner.ok_or(Denial::OwnerIdRequired(route))?,
        ApiKeyAction::Read { stored_owner } | ApiKeyAction::Update { stored_owner } => {
            stored_owner.ok_or(Denial::ApiKeyNotFound)?
        }
    };
    // A1: a key read or patched through the other type's route is not found (upstream: 500).
    if owner.key_type() != route {
        return Err(Denial::ApiKeyNotFound);
    }

    if caller.access_type != AccessType::Client {
        return Ok(());
    }
    let session_user = caller
        .session_user
        .ok_or(Denial::UserAuthenticationRequired)?;
    match owner {
        Owner::User(user) if user != session_user => Err(Denial::OtherUsersApiKeys),
        Owner::User(_) => Ok(()),
        Owner::Team(_) => {
            let may_manage = standing.is_some_and(|s| s.holds(SystemPermission::ManageApiKeys));
            if may_manage {
                Ok(())
            } else {
                Err(Denial::ApiKeyNotFound)
            }
        }
    }
}

/// Decides whether `caller` may follow the project's key changes
/// (`GET /api/v1/api-key-changes`): server and admin access, which may check keys anyway — the
/// feed says only which key ids changed.
pub fn authorize_key_change_feed(caller: &Caller) -> Result<(), Denial> {
    if SERVER_OR_ADMIN.contains(&caller.access_type) {
        Ok(())
    } else {
        Err(Denial::InsufficientAccessType {
            actual: caller.access_type,
            allowed: SERVER_OR_ADMIN,
        })
    }
}

#[cfg(test)]
mod tests;
