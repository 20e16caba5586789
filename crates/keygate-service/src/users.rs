//! The user use cases: create, read, update and delete a user of the project (upstream's
//! `usersCrud` and `currentUserCrud`).
//!
//! Key decision: the rules about a user's fields live here, not in the request parsing — an
//! empty display name is stored as none, changing the address resets its verification unless
//! the change says otherwise, a verified e-mail needs an address
//! ([`Refusal::VerifiedEmailWithoutAddress`]), a selected team must be one of the user's, and
//! primary e-mails are unique within a project ([`Conflict::UserEmailTaken`]). The caller hands
//! over the request's values already validated and normalised (e-mail lowercased, metadata as
//! JSON text).

use keygate_domain::{ProjectId, TeamId, UserId};
use keygate_permissions::IdentityAction;
use keygate_storage::repo::teams::TeamRecord;
use keygate_storage::repo::users::{self, UserRecord, UserUpdate};
use keygate_storage::{DbConnection, StorageError};

use crate::actor::Actor;
use crate::audit::{self, AuditAction, AuditActor, Change};
use crate::error::{Conflict, NotFound, Refusal, ServiceError};
use crate::identity::{authorize, ensure_membership, load_user, with_selected_team};
use crate::Service;

/// A new user's fields, as the request gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewUser {
    /// The name (an empty one is stored as none).
    pub display_name: Option<String>,
    /// The e-mail address, normalised.
    pub primary_email: Option<String>,
    /// Whether the address is verified (needs an address).
    pub primary_email_verified: bool,
    /// The picture URL.
    pub profile_image_url: Option<String>,
    /// Client metadata (JSON text).
    pub client_metadata: Option<String>,
    /// Client read-only metadata (JSON text).
    pub client_read_only_metadata: Option<String>,
    /// Server metadata (JSON text).
    pub server_metadata: Option<String>,
}

/// Changes to a user: the outer `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// A new name (an empty one is stored as none).
    pub display_name: Option<Option<String>>,
    /// A new e-mail address, normalised.
    pub primary_email: Option<Option<String>>,
    /// A new verification state; without one, a changed address is unverified.
    pub primary_email_verified: Option<bool>,
    /// A new picture URL.
    pub profile_image_url: Option<Option<String>>,
    /// New client metadata (JSON text).
    pub client_metadata: Option<Option<String>>,
    /// New client read-only metadata (JSON text).
    pub client_read_only_metadata: Option<Option<String>>,
    /// New server metadata (JSON text).
    pub server_metadata: Option<Option<String>>,
    /// A new selected team (one the user is a member of).
    pub selected_team_id: Option<Option<TeamId>>,
}

/// A user as stored, with the team they selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserWithTeam {
    /// The user.
    pub user: UserRecord,
    /// Their selected team, if they have one.
    pub selected_team: Option<TeamRecord>,
}

/// Upstream stores an empty display name as none.
fn display_name(name: Option<String>) -> Option<String> {
    name.filter(|name| !name.is_empty())
}

/// A verified e-mail needs an address: the rule for creating and for changing a user.
fn require_address_if_verified(email: Option<&str>, verified: bool) -> Result<(), ServiceError> {
    if verified && email.is_none() {
        return Err(Refusal::VerifiedEmailWithoutAddress.into());
    }
    Ok(())
}

/// A duplicate primary e-mail is a conflict naming `email`; any other error is kept.
fn email_taken(email: Option<String>) -> impl FnOnce(StorageError) -> ServiceError {
    move |error| match (error, email) {
        (StorageError::AlreadyExists { .. }, Some(email)) => {
            Conflict::UserEmailTaken { email }.into()
        }
        (error, _) => error.into(),
    }
}

impl Service {
    /// Creates a user of the actor's project (`POST /users`), signed up now.
    pub async fn create_user(
        &self,
        actor: Actor,
        new: NewUser,
    ) -> Result<UserRecord, ServiceError> {
        self.create_user_with_id(actor, UserId::new_random(), new)
            .await
    }

    /// Creates the user `id` (see [`Service::create_user`]); a user who already has that id or
    /// that primary e-mail is a conflict.
    pub(crate) async fn create_user_with_id(
        &self,
        actor: Actor,
        id: UserId,
        new: NewUser,
    ) -> Result<UserRecord, ServiceError> {
        let now = self.now();
        self.run(move |_, conn| {
            authorize(conn, &actor, &IdentityAction::CreateUser)?;
            require_address_if_verified(new.primary_email.as_deref(), new.primary_email_verified)?;
            let user = UserRecord {
                id,
                project_id: actor.project,
                display_name: display_name(new.display_name.clone()),
                primary_email: new.primary_email.clone(),
                primary_email_verified: new.primary_email_verified,
                profile_image_url: new.profile_image_url.clone(),
                client_metadata: new.client_metadata.clone(),
                client_read_only_metadata: new.client_read_only_metadata.clone(),
                server_metadata: new.server_metadata.clone(),
                selected_team_id: None,
                signed_up_at_millis: now,
                last_active_at_millis: now,
            };
            users::insert(conn, &user).map_err(email_taken(user.primary_email.clone()))?;
            Ok(user)
        })
        .await
    }

    /// The user `user_id` with their selected team (through `GET /users/{id}`, or `/users/me`
    /// with `current`).
    pub async fn read_user(
        &self,
        actor: Actor,
        user_id: UserId,
        current: bool,
    ) -> Result<UserWithTeam, ServiceError> {
        let action = if current {
            IdentityAction::ReadCurrentUser
        } else {
            IdentityAction::ReadUser
        };
        self.run(move |_, conn| {
            authorize(conn, &actor, &action)?;
            Ok(load_user(conn, actor.project, user_id)?.ok_or(NotFound::User)?)
        })
        .await
    }

    /// Applies `changes` to the user `user_id` in one transaction (through `PATCH /users/{id}`,
    /// or `/users/me` with `current`), as upstream's `onUpdate`: the user must exist, a selected
    /// team must be one of theirs, and a verified e-mail needs an address.
    pub async fn update_user(
        &self,
        actor: Actor,
        user_id: UserId,
        changes: UserChanges,
        current: bool,
    ) -> Result<UserWithTeam, ServiceError> {
        let action = if current {
            IdentityAction::UpdateCurrentUser
        } else {
            IdentityAction::UpdateUser
        };
        self.run(move |_, conn| {
            authorize(conn, &actor, &action)?;
            conn.in_transaction_with(|conn| {
                apply_update(conn, actor.project, user_id, changes.clone())
            })
        })
        .await
    }

    /// Deletes the user `user_id` (through `DELETE /users/{id}`, or `/users/me` with
    /// `current`) with everything that is theirs; their API keys leave the check cache before
    /// this returns.
    pub async fn delete_user(
        &self,
        actor: Actor,
        user_id: UserId,
        current: bool,
    ) -> Result<(), ServiceError> {
        let action = if current {
            IdentityAction::DeleteCurrentUser
        } else {
            IdentityAction::DeleteUser
        };
        let now = self.now();
        self.run(move |service, conn| {
            authorize(conn, &actor, &action)?;
            service
                .write_keys(conn, |write| {
                    let deleted_keys = users::delete(write, actor.project, user_id)?;
                    let change = Change::new(AuditAction::UserDeleted, user_id)
                        .target(Some(user_id))
                        .fact("deleted_api_keys", deleted_keys);
                    let by = AuditActor::of(&actor);
                    Ok(audit::record(
                        write.conn(),
                        actor.project,
                        &by,
                        change,
                        now,
                    )?)
                })
                .map_err(|error| error.missing_as(NotFound::User))
        })
        .await
    }
}

/// The work of [`Service::update_user`], inside its transaction.
fn apply_update(
    conn: &mut DbConnection,
    project: ProjectId,
    user_id: UserId,
    changes: UserChanges,
) -> Result<UserWithTeam, ServiceError> {
    let existing = users::get(conn, project, user_id)?.ok_or(NotFound::User)?;
    if let Some(Some(team)) = changes.selected_team_id {
        ensure_membership(conn, project, team, user_id)?;
    }
    // Changing the address resets its verification unless the request says otherwise;
    // removing it removes the verification.
    let (primary_email, verified) = match changes.primary_email {
        None => (
            None,
            changes
                .primary_email_verified
                .unwrap_or(existing.primary_email_verified),
        ),
        Some(None) => (Some(None), false),
        Some(Some(address)) => {
            let unchanged = existing.primary_email.as_deref() == Some(address.as_str());
            let verified = changes
                .primary_email_verified
                .unwrap_or(unchanged && existing.primary_email_verified);
            (Some(Some(address)), verified)
        }
    };
    let resulting_email = match &primary_email {
        Some(change) => change.clone(),
        None => existing.primary_email.clone(),
    };
    require_address_if_verified(resulting_email.as_deref(), verified)?;
    let update = UserUpdate {
        display_name: changes.display_name.map(display_name),
        primary_email,
        primary_email_verified: Some(verified),
        profile_image_url: changes.profile_image_url,
        client_metadata: changes.client_metadata,
        client_read_only_metadata: changes.client_read_only_metadata,
        server_metadata: changes.server_metadata,
        selected_team_id: changes.selected_team_id,
        last_active_at_millis: None,
    };
    let updated = users::update(conn, project, user_id, &update).map_err(|error| match error {
        StorageError::NotFound { .. } => NotFound::User.into(),
        // The selected team was deleted meanwhile.
        StorageError::ForeignKeyViolation { .. } => match changes.selected_team_id {
            Some(Some(team_id)) => NotFound::Membership { team_id, user_id }.into(),
            _ => ServiceError::from(error),
        },
        other => email_taken(resulting_email)(other),
    })?;
    Ok(with_selected_team(conn, project, updated)?)
}
