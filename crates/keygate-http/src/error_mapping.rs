//! How the other crates' errors become wire errors. This is the only place that decides it:
//! a use case answers a [`ServiceError`], and each of its cases maps to the contract's answer
//! here.
//!
//! No other crate's `Display` text reaches the wire: the texts are the HTTP layer's own, in
//! [`crate::wire_error`] (known errors and the plain-text answers) or, for the `SCHEMA_ERROR`s
//! a [`Denial`] becomes, here.

use actix_web::http::StatusCode;
use keygate_domain::api_key::CheckRejection;
use keygate_domain::KeyType;
use keygate_permissions::Denial;
use keygate_service::{Conflict, NotFound, Refusal, ServiceError};
use keygate_storage::StorageError;

use crate::wire_error::{ApiError, KnownError, PlainError};

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Denied(denial) => denial.into(),
            ServiceError::Rejected(rejection) => rejection.into(),
            ServiceError::NotFound(missing) => missing.into(),
            ServiceError::Conflict(conflict) => conflict.into(),
            ServiceError::Refused(refusal) => refusal.into(),
            ServiceError::Storage(error) => storage_error(&error),
            ServiceError::SharedStorage(error) => storage_error(&error),
            ServiceError::Internal(message) => ApiError::internal(&std::io::Error::other(message)),
        }
    }
}

impl From<NotFound> for ApiError {
    fn from(missing: NotFound) -> Self {
        match missing {
            NotFound::ApiKey => KnownError::ApiKeyNotFound,
            NotFound::User => KnownError::UserNotFound,
            NotFound::SessionUser { user_id } => KnownError::UserIdDoesNotExist { user_id },
            NotFound::Team { team_id } => KnownError::TeamNotFound { team_id },
            NotFound::Membership { team_id, user_id } => {
                KnownError::TeamMembershipNotFound { team_id, user_id }
            }
            NotFound::PermissionDefinition { permission_id } => {
                KnownError::PermissionNotFound { permission_id }
            }
            NotFound::TeamPermission {
                team_id,
                user_id,
                permission_id,
            } => KnownError::TeamPermissionNotFound {
                team_id,
                user_id,
                permission_id,
            },
            NotFound::Project { project_id } => KnownError::CurrentProjectNotFound { project_id },
            NotFound::RefreshToken => KnownError::RefreshTokenNotFoundOrExpired,
            // Upstream answers a missing project API key with its API_KEY_NOT_FOUND.
            NotFound::ProjectCredential => KnownError::ApiKeyNotFound,
            NotFound::Session => return PlainError::session_not_found().into(),
            NotFound::Webhook => {
                return PlainError::new(
                    StatusCode::NOT_FOUND,
                    "The project has no webhook endpoint with this id.",
                )
                .into()
            }
        }
        .into()
    }
}

impl From<Conflict> for ApiError {
    fn from(conflict: Conflict) -> Self {
        match conflict {
            Conflict::UserEmailTaken { email } => KnownError::UserEmailAlreadyExists {
                email,
                would_work_if_email_was_verified: false,
            },
            Conflict::AlreadyMember => KnownError::TeamMembershipAlreadyExists,
        }
        .into()
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::PublicApiKeyCannotBeRevoked => KnownError::PublicApiKeyCannotBeRevoked.into(),
            Refusal::ApiKeyLimitReached { limit } => {
                KnownError::ApiKeyLimitReached { limit }.into()
            }
            Refusal::TeamLimitReached { limit } => KnownError::TeamLimitReached { limit }.into(),
            Refusal::ApiKeyScopeMissing { missing } => KnownError::ApiKeyScopeMissing {
                missing_scopes: missing,
            }
            .into(),
            Refusal::UnknownScopes { scopes } => ApiError::schema(format!(
                "body.scopes names scopes that are not in the project's api_key_scopes: {}",
                scopes.join(", ")
            )),
            Refusal::ServerOnlyPolicy { field } => PlainError::new(
                StatusCode::FORBIDDEN,
                format!("Only server or admin access may set an API key's {field}."),
            )
            .into(),
            Refusal::ApiKeyUsageExceeded => KnownError::ApiKeyUsageExceeded.into(),
            Refusal::ApiKeyRateLimited(verdict) => KnownError::ApiKeyRateLimited {
                limit: verdict.limit,
                remaining: verdict.remaining,
                reset_at_millis: verdict.reset_at_millis,
                reset_after_millis: verdict.reset_after_millis,
                window_millis: verdict.window_millis,
            }
            .into(),
            Refusal::VerifiedEmailWithoutAddress => PlainError::new(
                StatusCode::BAD_REQUEST,
                "primary_email_verified cannot be true without primary_email",
            )
            .into(),
            Refusal::TooManyProjectCredentials { limit } => PlainError::new(
                StatusCode::BAD_REQUEST,
                format!("A project can have at most {limit} API keys, revoked ones included."),
            )
            .into(),
            Refusal::TooManyWebhooks { limit } => PlainError::new(
                StatusCode::BAD_REQUEST,
                format!("A project can have at most {limit} webhook endpoints."),
            )
            .into(),
        }
    }
}

impl From<Denial> for ApiError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::InsufficientAccessType { actual, allowed } => {
                KnownError::InsufficientAccessType {
                    actual_access_type: actual,
                    allowed_access_types: allowed.to_vec(),
                }
                .into()
            }
            Denial::ApiKeysDisabled(KeyType::User) => PlainError::user_api_keys_disabled().into(),
            Denial::ApiKeysDisabled(KeyType::Team) => PlainError::team_api_keys_disabled().into(),
            Denial::ClientUserDeletionDisabled => {
                PlainError::client_user_deletion_disabled().into()
            }
            Denial::OwnerIdRequired(KeyType::User) => {
                ApiError::schema("user_id is required for user API keys")
            }
            Denial::OwnerIdRequired(KeyType::Team) => {
                ApiError::schema("team_id is required for team API keys")
            }
            Denial::UserAuthenticationRequired => KnownError::UserAuthenticationRequired.into(),
            Denial::CannotGetOwnUserWithoutUser => KnownError::CannotGetOwnUserWithoutUser.into(),
            Denial::OtherUsersApiKeys => PlainError::client_can_only_manage_own_api_keys().into(),
            Denial::ClientTeamCreationDisabled => {
                PlainError::client_team_creation_disabled().into()
            }
            Denial::TeamCreatorNotSelf => PlainError::team_creator_must_be_self().into(),
            Denial::OtherUsersTeams => PlainError::client_can_only_list_own_teams().into(),
            Denial::OtherUsersTeamPermissions => {
                PlainError::client_can_only_list_own_team_permissions().into()
            }
            Denial::OtherUsersSessions => PlainError::client_can_only_list_own_sessions().into(),
            Denial::OtherUsersContactChannelList => {
                PlainError::client_can_only_list_own_contact_channels().into()
            }
            Denial::OtherUsersContactChannel => {
                PlainError::client_can_only_read_own_contact_channels().into()
            }
            Denial::OtherUsersNotificationPreferences => {
                PlainError::client_can_only_read_own_notification_preferences().into()
            }
            Denial::OtherUsersBilling => PlainError::client_can_only_read_own_billing().into(),
            Denial::OtherUsersTeamProfile => PlainError::cannot_update_others_team_profile().into(),
            Denial::OtherUsersProducts => PlainError::client_can_only_list_own_products().into(),
            Denial::ApiKeyNotFound => KnownError::ApiKeyNotFound.into(),
            Denial::TeamMembershipNotFound { team_id, user_id } => {
                KnownError::TeamMembershipNotFound { team_id, user_id }.into()
            }
            Denial::TeamPermissionRequired {
                team_id,
                user_id,
                permission,
            } => KnownError::TeamPermissionRequired {
                team_id,
                user_id,
                permission_id: permission.id().to_owned(),
            }
            .into(),
            Denial::TeamRoleRequired {
                team_id,
                user_id,
                role,
            } => KnownError::TeamPermissionRequired {
                team_id,
                user_id,
                permission_id: role.to_owned(),
            }
            .into(),
        }
    }
}

impl From<CheckRejection> for ApiError {
    fn from(rejection: CheckRejection) -> Self {
        match rejection {
            CheckRejection::WrongType { expected, actual } => KnownError::WrongApiKeyType {
                expected_type: expected,
                actual_type: actual,
            }
            .into(),
            CheckRejection::Revoked => KnownError::ApiKeyRevoked.into(),
            CheckRejection::Expired => KnownError::ApiKeyExpired.into(),
        }
    }
}

/// Storage errors that reach a handler's `?` unhandled: the database being unreachable is a
/// 503, anything else a bug (500). Handlers turn the expected ones (`NotFound`, `AlreadyExists`,
/// a foreign key naming a missing user) into known errors before this.
impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        storage_error(&error)
    }
}

/// 503 when the database cannot be reached (it may come back), 500 otherwise.
fn storage_error(error: &StorageError) -> ApiError {
    match error {
        StorageError::Pool(_)
        | StorageError::Connection { .. }
        | StorageError::ConnectionLost { .. } => ApiError::unavailable(error),
        _ => ApiError::internal(error),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use actix_web::ResponseError;
    use keygate_domain::{TeamId, UserId};
    use keygate_permissions::{AccessType, SystemPermission};

    use super::*;

    fn status_and_code(error: ApiError) -> (StatusCode, Option<&'static str>) {
        let code = match &error {
            ApiError::Known(known) => Some(known.code()),
            _ => None,
        };
        (error.status_code(), code)
    }

    #[test]
    fn denials_map_to_the_contract() {
        let user_id = UserId::new_random();
        let team_id = TeamId::new_random();
        let cases = [
            (
                Denial::InsufficientAccessType {
                    actual: AccessType::Client,
                    allowed: &[AccessType::Server, AccessType::Admin],
                },
                StatusCode::UNAUTHORIZED,
                Some("INSUFFICIENT_ACCESS_TYPE"),
            ),
            (
                Denial::ApiKeysDisabled(KeyType::Team),
                StatusCode::BAD_REQUEST,
                None,
            ),
            (
                Denial::OwnerIdRequired(KeyType::User),
                StatusCode::BAD_REQUEST,
                Some("SCHEMA_ERROR"),
            ),
            (
                Denial::UserAuthenticationRequired,
                StatusCode::UNAUTHORIZED,
                Some("USER_AUTHENTICATION_REQUIRED"),
            ),
            (
                Denial::CannotGetOwnUserWithoutUser,
                StatusCode::BAD_REQUEST,
                Some("CANNOT_GET_OWN_USER_WITHOUT_USER"),
            ),
            (Denial::OtherUsersApiKeys, StatusCode::FORBIDDEN, None),
            (
                Denial::ApiKeyNotFound,
                StatusCode::NOT_FOUND,
                Some("API_KEY_NOT_FOUND"),
            ),
            (
                Denial::ClientTeamCreationDisabled,
                StatusCode::FORBIDDEN,
                None,
            ),
            (
                Denial::ClientUserDeletionDisabled,
                StatusCode::BAD_REQUEST,
                None,
            ),
            (
                Denial::TeamMembershipNotFound { team_id, user_id },
                StatusCode::NOT_FOUND,
                Some("TEAM_MEMBERSHIP_NOT_FOUND"),
            ),
            (
                Denial::TeamPermissionRequired {
                    team_id,
                    user_id,
                    permission: SystemPermission::ManageApiKeys,
                },
                StatusCode::UNAUTHORIZED,
                Some("TEAM_PERMISSION_REQUIRED"),
            ),
        ];
        for (denial, status, code) in cases {
            let text = denial.to_string();
            let mapped = ApiError::from(denial);
            assert_eq!(status_and_code(mapped), (status, code), "{text}");
        }
    }

    #[test]
    fn plain_text_denials_send_upstreams_text() {
        let plain = [
            (
                Denial::ApiKeysDisabled(KeyType::User),
                StatusCode::BAD_REQUEST,
                "User API keys are not enabled for this project.",
            ),
            (
                Denial::ApiKeysDisabled(KeyType::Team),
                StatusCode::BAD_REQUEST,
                "Team API keys are not enabled for this project.",
            ),
            (
                Denial::OtherUsersApiKeys,
                StatusCode::FORBIDDEN,
                "Client can only manage their own api keys",
            ),
            (
                Denial::ClientTeamCreationDisabled,
                StatusCode::FORBIDDEN,
                "Client team creation is disabled for this project",
            ),
            (
                Denial::TeamCreatorNotSelf,
                StatusCode::FORBIDDEN,
                "You cannot create a team as a user that is not yourself. Make sure you set the creator_user_id to 'me'.",
            ),
            (
                Denial::OtherUsersTeams,
                StatusCode::FORBIDDEN,
                "Client can only list teams for their own user. user_id must be either \"me\" or the ID of the current user",
            ),
            (
                Denial::OtherUsersTeamPermissions,
                StatusCode::FORBIDDEN,
                "Client can only list permissions for their own user. user_id must be either \"me\" or the ID of the current user",
            ),
            (
                Denial::ClientUserDeletionDisabled,
                StatusCode::BAD_REQUEST,
                "Client user deletion is not enabled for this project",
            ),
        ];
        for (denial, status, text) in plain {
            let ApiError::Plain(plain) = ApiError::from(denial) else {
                panic!("{denial:?} is answered in plain text");
            };
            assert_eq!(plain, PlainError::new(status, text), "{denial:?}");
        }
    }

    #[test]
    fn owner_id_required_is_a_schema_error_with_upstreams_text() {
        let cases = [
            (KeyType::User, "user_id is required for user API keys"),
            (KeyType::Team, "team_id is required for team API keys"),
        ];
        for (key_type, text) in cases {
            let ApiError::Known(known) = ApiError::from(Denial::OwnerIdRequired(key_type)) else {
                panic!("OwnerIdRequired is a known error");
            };
            assert_eq!(
                known,
                KnownError::SchemaError {
                    message: text.into()
                }
            );
        }
    }

    #[test]
    fn check_rejections_map_to_the_contract() {
        let wrong = CheckRejection::WrongType {
            expected: KeyType::Team,
            actual: KeyType::User,
        };
        assert_eq!(
            status_and_code(wrong.into()),
            (StatusCode::BAD_REQUEST, Some("WRONG_API_KEY_TYPE"))
        );
        assert_eq!(
            status_and_code(CheckRejection::Revoked.into()),
            (StatusCode::UNAUTHORIZED, Some("API_KEY_REVOKED"))
        );
        assert_eq!(
            status_and_code(CheckRejection::Expired.into()),
            (StatusCode::UNAUTHORIZED, Some("API_KEY_EXPIRED"))
        );
    }

    #[test]
    fn storage_outage_is_503_and_bugs_500() {
        let outage = StorageError::Connection {
            backend: keygate_storage::Backend::Postgres,
            message: "refused".into(),
        };
        assert_eq!(
            ApiError::from(outage).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let bug = StorageError::CorruptValue { column: "id" };
        assert_eq!(
            ApiError::from(bug).status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
