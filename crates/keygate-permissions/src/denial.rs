//! Why a request is refused.
//!
//! Each variant is one answer of upstream's; the documentation of a variant says how the HTTP
//! layer writes it on the wire (status, known-error code or plain text). The HTTP layer owns
//! every text the wire sends (`keygate-http`'s wire errors and its mapping of denials to them)
//! and never sends the `Display` text, which describes the refusal for logs and developers
//! only.

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
    #[error("{0} API keys are switched off for this project")]
    ApiKeysDisabled(KeyType),

    /// 400 `SCHEMA_ERROR` whose `details.message` and `error` are this text (not the
    /// "Request validation failed…" format): a user-key list without `user_id` (or a team-key
    /// list without `team_id`).
    #[error("listing {0} API keys needs the owner's id")]
    OwnerIdRequired(KeyType),

    /// 401 `USER_AUTHENTICATION_REQUIRED`: the endpoint needs a session user.
    #[error("User authentication required for this endpoint.")]
    UserAuthenticationRequired,

    /// 400 `CANNOT_GET_OWN_USER_WITHOUT_USER`: `"me"` (or an endpoint about the session user)
    /// without a session.
    #[error("You have specified 'me' as a userId, but did not provide authentication for a user.")]
    CannotGetOwnUserWithoutUser,

    /// 403 plain text: a client touching another user's keys.
    #[error("a client may only manage its own user's API keys")]
    OtherUsersApiKeys,

    /// 404 `API_KEY_NOT_FOUND`: no such key, a key of the other type than the route, or a team
    /// key the session user may not manage (disguised, so the team's existence does not leak).
    #[error("API key not found.")]
    ApiKeyNotFound,

    /// 403 plain text: a client creating a team while the project does not allow it.
    #[error("the project does not let clients create teams")]
    ClientTeamCreationDisabled,

    /// 403 plain text: a client creating a team with another user as creator.
    #[error("a client may only create a team with its own user as the creator")]
    TeamCreatorNotSelf,

    /// 403 plain text: a client listing teams without `user_id=me` (or its own id).
    #[error("a client may only list its own user's teams")]
    OtherUsersTeams,

    /// 403 plain text: a client listing team permissions without `user_id=me` (or its own id).
    #[error("a client may only list its own user's team permissions")]
    OtherUsersTeamPermissions,

    /// 403 plain text: a client listing another user's sessions.
    #[error("a client may only list its own user's sessions")]
    OtherUsersSessions,

    /// 403 plain text: a client listing another user's contact channels.
    #[error("a client may only list its own user's contact channels")]
    OtherUsersContactChannelList,

    /// 403 plain text: a client reading another user's contact channel.
    #[error("a client may only read its own user's contact channels")]
    OtherUsersContactChannel,

    /// 403 plain text: a client reading another user's notification preferences.
    #[error("a client may only read its own user's notification preferences")]
    OtherUsersNotificationPreferences,

    /// 403 plain text: a client reading another user's (or a custom customer's) billing.
    #[error("a client may only read its own billing")]
    OtherUsersBilling,

    /// 403 plain text: a client listing another user's (or a custom customer's) products.
    #[error("a client may only list its own user's or team's products")]
    OtherUsersProducts,

    /// 403 plain text: a client changing another member's team profile.
    #[error("a client may only change its own team profile")]
    OtherUsersTeamProfile,

    /// 400 plain text: a client deleting its own user; keygate has no switch to allow it.
    #[error("clients may not delete their own user")]
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

    /// 401 `TEAM_PERMISSION_REQUIRED` as [`Denial::TeamPermissionRequired`], for a project
    /// permission such as `team_admin` rather than a system one (the team's payments).
    #[error("User {user_id} does not have permission {role} in team {team_id}.")]
    TeamRoleRequired {
        /// The team.
        team_id: TeamId,
        /// The session user.
        user_id: UserId,
        /// The permission the endpoint requires.
        role: &'static str,
    },
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
}
