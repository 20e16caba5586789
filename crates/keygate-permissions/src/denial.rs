//! Why a request is refused.
//!
//! Each variant is one answer of upstream's; the documentation of a variant says how the HTTP
//! layer writes it on the wire (status, known-error code or plain text). The `Display` text is
//! upstream's message for it. Plain-text answers have no other representation than their text,
//! so the text belongs to the decision: it is the variant's `Display` text (the constants on
//! [`Denial`]); known errors are rendered by the HTTP layer from the variant and its fields.

use keygate_domain::{KeyType, TeamId, UserId};

use crate::access::AccessType;
use crate::team_permissions::SystemPermission;

/// A refusal, carrying what the HTTP layer needs to answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// 401 `INSUFFICIENT_ACCESS_TYPE`, details `{actual_access_type, allowed_access_types}`.
    #[error(
        "The x-stack-access-type header must be {}, but was '{actual}'.",
        quoted_alternatives(allowed)
    )]
    InsufficientAccessType {
        /// The caller's access type.
        actual: AccessType,
        /// The access types the endpoint accepts, weakest first.
        allowed: &'static [AccessType],
    },

    /// 400 plain text: this key type is switched off for the project.
    #[error("{}", api_keys_disabled_message(*.0))]
    ApiKeysDisabled(KeyType),

    /// 400 `SCHEMA_ERROR` whose `details.message` and `error` are this text (not the
    /// "Request validation failed…" format): a user-key list without `user_id` (or a team-key
    /// list without `team_id`).
    #[error("{}", owner_id_required_message(*.0))]
    OwnerIdRequired(KeyType),

    /// 401 `USER_AUTHENTICATION_REQUIRED`: the endpoint needs a session user.
    #[error("User authentication required for this endpoint.")]
    UserAuthenticationRequired,

    /// 400 `CANNOT_GET_OWN_USER_WITHOUT_USER`: `"me"` (or an endpoint about the session user)
    /// without a session.
    #[error("You have specified 'me' as a userId, but did not provide authentication for a user.")]
    CannotGetOwnUserWithoutUser,

    /// 403 plain text: a client touching another user's keys.
    #[error("{}", Denial::OTHER_USERS_API_KEYS)]
    OtherUsersApiKeys,

    /// 404 `API_KEY_NOT_FOUND`: no such key, a key of the other type than the route, or a team
    /// key the session user may not manage (disguised, so the team's existence does not leak).
    #[error("API key not found.")]
    ApiKeyNotFound,

    /// 403 plain text: a client creating a team while the project does not allow it.
    #[error("{}", Denial::CLIENT_TEAM_CREATION_DISABLED)]
    ClientTeamCreationDisabled,

    /// 403 plain text: a client creating a team with another user as creator.
    #[error("{}", Denial::TEAM_CREATOR_NOT_SELF)]
    TeamCreatorNotSelf,

    /// 403 plain text: a client listing teams without `user_id=me` (or its own id).
    #[error("{}", Denial::OTHER_USERS_TEAMS)]
    OtherUsersTeams,

    /// 403 plain text: a client listing team permissions without `user_id=me` (or its own id).
    #[error("{}", Denial::OTHER_USERS_TEAM_PERMISSIONS)]
    OtherUsersTeamPermissions,

    /// 400 plain text: a client deleting its own user; keygate has no switch to allow it.
    #[error("{}", Denial::CLIENT_USER_DELETION_DISABLED)]
    ClientUserDeletionDisabled,

    /// 404 `TEAM_MEMBERSHIP_NOT_FOUND`, details `{team_id, user_id}`: the session user is not a
    /// member of the team (or the team does not exist).
    #[error("User {user_id} is not found in team {team_id}.")]
    TeamMembershipNotFound {
        /// The team.
        team_id: TeamId,
        /// The session user.
        user_id: UserId,
    },

    /// 401 `TEAM_PERMISSION_REQUIRED`, details `{team_id, user_id, permission_id}`: the session
    /// user is a member but lacks the permission.
    #[error("User {user_id} does not have permission {permission} in team {team_id}.")]
    TeamPermissionRequired {
        /// The team.
        team_id: TeamId,
        /// The session user.
        user_id: UserId,
        /// The permission the endpoint requires.
        permission: SystemPermission,
    },
}

impl Denial {
    /// Text of [`Denial::OtherUsersApiKeys`].
    pub const OTHER_USERS_API_KEYS: &'static str = "Client can only manage their own api keys";
    /// Text of [`Denial::ClientTeamCreationDisabled`].
    pub const CLIENT_TEAM_CREATION_DISABLED: &'static str =
        "Client team creation is disabled for this project";
    /// Text of [`Denial::TeamCreatorNotSelf`].
    pub const TEAM_CREATOR_NOT_SELF: &'static str = "You cannot create a team as a user that is not yourself. Make sure you set the creator_user_id to 'me'.";
    /// Text of [`Denial::OtherUsersTeams`].
    pub const OTHER_USERS_TEAMS: &'static str = "Client can only list teams for their own user. user_id must be either \"me\" or the ID of the current user";
    /// Text of [`Denial::OtherUsersTeamPermissions`].
    pub const OTHER_USERS_TEAM_PERMISSIONS: &'static str = "Client can only list permissions for their own user. user_id must be either \"me\" or the ID of the current user";
    /// Text of [`Denial::ClientUserDeletionDisabled`].
    pub const CLIENT_USER_DELETION_DISABLED: &'static str =
        "Client user deletion is not enabled for this project";
}

const fn api_keys_disabled_message(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::User => "User API keys are not enabled for this project.",
        KeyType::Team => "Team API keys are not enabled for this project.",
    }
}

const fn owner_id_required_message(key_type: KeyType) -> &'static str {
    match key_type {
        KeyType::User => "user_id is required for user API keys",
        KeyType::Team => "team_id is required for team API keys",
    }
}

fn quoted_alternatives(allowed: &[AccessType]) -> String {
    allowed
        .iter()
        .map(|access| format!("'{access}'"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_upstreams() {
        let insufficient = Denial::InsufficientAccessType {
            actual: AccessType::Client,
            allowed: &[AccessType::Server, AccessType::Admin],
        };
        assert_eq!(
            insufficient.to_string(),
            "The x-stack-access-type header must be 'server' or 'admin', but was 'client'."
        );
        let admin_only = Denial::InsufficientAccessType {
            actual: AccessType::Server,
            allowed: &[AccessType::Admin],
        };
        assert_eq!(
            admin_only.to_string(),
            "The x-stack-access-type header must be 'admin', but was 'server'."
        );
        assert_eq!(
            Denial::OwnerIdRequired(KeyType::User).to_string(),
            "user_id is required for user API keys"
        );
        assert_eq!(
            Denial::OwnerIdRequired(KeyType::Team).to_string(),
            "team_id is required for team API keys"
        );
        assert_eq!(Denial::ApiKeyNotFound.to_string(), "API key not found.");
        assert_eq!(
            Denial::UserAuthenticationRequired.to_string(),
            "User authentication required for this endpoint."
        );

        let team_id = TeamId::new_random();
        let user_id = UserId::new_random();
        assert_eq!(
            Denial::TeamPermissionRequired {
                team_id,
                user_id,
                permission: SystemPermission::UpdateTeam
            }
            .to_string(),
            format!("User {user_id} does not have permission $update_team in team {team_id}.")
        );
        assert_eq!(
            Denial::TeamMembershipNotFound { team_id, user_id }.to_string(),
            format!("User {user_id} is not found in team {team_id}.")
        );
    }

    #[test]
    fn plain_text_denials_display_their_body() {
        let plain = [
            (
                Denial::ApiKeysDisabled(KeyType::User),
                "User API keys are not enabled for this project.",
            ),
            (
                Denial::ApiKeysDisabled(KeyType::Team),
                "Team API keys are not enabled for this project.",
            ),
            (
                Denial::OtherUsersApiKeys,
                "Client can only manage their own api keys",
            ),
            (
                Denial::ClientTeamCreationDisabled,
                "Client team creation is disabled for this project",
            ),
            (Denial::TeamCreatorNotSelf, Denial::TEAM_CREATOR_NOT_SELF),
            (Denial::OtherUsersTeams, Denial::OTHER_USERS_TEAMS),
            (
                Denial::OtherUsersTeamPermissions,
                Denial::OTHER_USERS_TEAM_PERMISSIONS,
            ),
            (
                Denial::ClientUserDeletionDisabled,
                "Client user deletion is not enabled for this project",
            ),
        ];
        for (denial, text) in plain {
            assert_eq!(denial.to_string(), text);
        }
    }
}
