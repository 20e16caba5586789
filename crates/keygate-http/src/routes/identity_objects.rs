//! The identity objects on the wire: users and teams in upstream's client and server shapes
//! (contract A6: what the official SDK reads from `POST /users`, `GET /users/{id}`,
//! `GET /users/me` and the team routes), and the small answers of the identity routes (lists,
//! `{"success": true}`, memberships, permission grants, session and OAuth tokens).
//!
//! Key decision: every answer is a typed `#[derive(Serialize)]` struct that borrows from the
//! record it shows and is serialized straight into the body by `json_response`, as the API-key
//! and project objects are — no intermediate `serde_json::Value` tree. The fields only servers
//! see are grouped in one `Option` (flattened into the object), so a client-view object does not
//! hold `server_metadata` at all rather than merely skipping it when serialized. Fields keep
//! their declaration order on the wire (clients do not depend on key order).
//!
//! keygate has no sign-in methods, so every field about them carries its "none" value
//! (`has_password: false`, `oauth_providers: []`, …), and nobody is anonymous or restricted.
//! Metadata is stored as JSON text and sent back as the JSON it was; absent metadata is `null`,
//! as upstream sends it (see [`Metadata`]).

use keygate_domain::{EpochMillis, TeamId, UserId};
use keygate_permissions::AccessType;
use keygate_service::records::{SessionRecord, TeamRecord, UserRecord};
use keygate_service::team_permissions::HeldPermission;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Which variant of an object a caller sees: clients never see server metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// Client access: the fields upstream's client read schemas pick.
    Client,
    /// Server and admin access: every field.
    Server,
}

impl View {
    /// The view of a request with `access_type`.
    pub(crate) fn of(access_type: AccessType) -> Self {
        match access_type {
            AccessType::Client => View::Client,
            AccessType::Server | AccessType::Admin => View::Server,
        }
    }
}

/// Stored metadata as it goes on the wire: the JSON the stored text holds, `null` when absent.
///
/// The text is parsed when the object is built (serde_json is built without `raw_value`, and
/// parsing keeps the answer exactly what it was): text that is not JSON cannot come from keygate
/// itself, so it is logged and sent as `null` rather than failing the request.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(description = "Metadata: any JSON value, `null` when unset.")]
pub(crate) struct Metadata(Value);

impl Metadata {
    /// The metadata of the stored text `stored`.
    pub(crate) fn from_stored(stored: Option<&str>) -> Self {
        Metadata(match stored {
            None => Value::Null,
            Some(text) => serde_json::from_str(text).unwrap_or_else(|error| {
                tracing::warn!(%error, "stored metadata is not JSON; sending null");
                Value::Null
            }),
        })
    }
}

/// Metadata from a request as stored text: `null` is stored as absent.
pub(crate) fn metadata_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A team object (upstream's `teamsCrud` read schemas): `{id, display_name, profile_image_url,
/// client_metadata, client_read_only_metadata}`, plus `{created_at_millis, server_metadata}` in
/// the server view.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Team)]
pub(crate) struct TeamObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: TeamId,
    display_name: &'a str,
    profile_image_url: Option<&'a str>,
    client_metadata: Metadata,
    client_read_only_metadata: Metadata,
    /// `None` in the client view.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    server: Option<TeamServerFields>,
}

/// The team fields only servers see.
#[derive(Debug, Serialize, ToSchema)]
struct TeamServerFields {
    #[schema(required = false, value_type = i64)]
    created_at_millis: EpochMillis,
    #[schema(required = false)]
    server_metadata: Metadata,
}

impl<'a> TeamObject<'a> {
    /// The `view` object of `team`.
    pub(crate) fn new(team: &'a TeamRecord, view: View) -> Self {
        TeamObject {
            id: team.id,
            display_name: &team.display_name,
            profile_image_url: team.profile_image_url.as_deref(),
            client_metadata: Metadata::from_stored(team.client_metadata.as_deref()),
            client_read_only_metadata: Metadata::from_stored(
                team.client_read_only_metadata.as_deref(),
            ),
            server: (view == View::Server).then(|| TeamServerFields {
                created_at_millis: team.created_at_millis,
                server_metadata: Metadata::from_stored(team.server_metadata.as_deref()),
            }),
        }
    }
}

/// A user object (upstream's `usersCrud` / `currentUserCrud` read schemas). The fields about
/// sign-in methods and restrictions carry their "none" values; `selected_team` is the team object
/// (in the same view) of the team `selected_team_id` names, or `null`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub(crate) struct UserObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: UserId,
    display_name: Option<&'a str>,
    primary_email: Option<&'a str>,
    primary_email_verified: bool,
    profile_image_url: Option<&'a str>,
    #[schema(value_type = i64)]
    signed_up_at_millis: EpochMillis,
    client_metadata: Metadata,
    client_read_only_metadata: Metadata,
    has_password: bool,
    auth_with_email: bool,
    otp_auth_enabled: bool,
    passkey_auth_enabled: bool,
    /// Always empty: keygate has no OAuth sign-in.
    #[schema(value_type = Vec<Object>, max_items = 0)]
    oauth_providers: [(); 0],
    requires_totp_mfa: bool,
    is_anonymous: bool,
    is_restricted: bool,
    restricted_reason: Option<&'static str>,
    restricted_by_admin: bool,
    restricted_by_admin_reason: Option<&'static str>,
    #[schema(value_type = Option<String>, format = Uuid)]
    selected_team_id: Option<TeamId>,
    selected_team: Option<TeamObject<'a>>,
    /// `None` in the client view.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    server: Option<UserServerFields>,
}

/// The user fields only servers see.
#[derive(Debug, Serialize, ToSchema)]
struct UserServerFields {
    #[schema(required = false)]
    primary_email_auth_enabled: bool,
    #[schema(required = false, value_type = i64)]
    last_active_at_millis: EpochMillis,
    #[schema(required = false)]
    server_metadata: Metadata,
    #[schema(required = false)]
    restricted_by_admin_private_details: Option<&'static str>,
    #[schema(required = false)]
    country_code: Option<&'static str>,
    #[schema(required = false)]
    risk_scores: RiskScores,
}

/// `risk_scores`: keygate scores nobody, `{"sign_up": {"bot": 0, "free_trial_abuse": 0}}`.
#[derive(Debug, Default, Serialize, ToSchema)]
struct RiskScores {
    sign_up: SignUpRiskScores,
}

#[derive(Debug, Default, Serialize, ToSchema)]
struct SignUpRiskScores {
    bot: u8,
    free_trial_abuse: u8,
}

impl<'a> UserObject<'a> {
    /// The `view` object of `user`, whose selected team (if any) is `selected_team`.
    pub(crate) fn new(
        user: &'a UserRecord,
        selected_team: Option<&'a TeamRecord>,
        view: View,
    ) -> Self {
        UserObject {
            id: user.id,
            display_name: user.display_name.as_deref(),
            primary_email: user.primary_email.as_deref(),
            primary_email_verified: user.primary_email_verified,
            profile_image_url: user.profile_image_url.as_deref(),
            signed_up_at_millis: user.signed_up_at_millis,
            client_metadata: Metadata::from_stored(user.client_metadata.as_deref()),
            client_read_only_metadata: Metadata::from_stored(
                user.client_read_only_metadata.as_deref(),
            ),
            // keygate has no sign-in methods of its own.
            has_password: false,
            auth_with_email: false,
            otp_auth_enabled: false,
            passkey_auth_enabled: false,
            oauth_providers: [],
            requires_totp_mfa: false,
            is_anonymous: false,
            is_restricted: false,
            restricted_reason: None,
            restricted_by_admin: false,
            restricted_by_admin_reason: None,
            selected_team_id: user.selected_team_id,
            selected_team: selected_team.map(|team| TeamObject::new(team, view)),
            server: (view == View::Server).then(|| UserServerFields {
                primary_email_auth_enabled: false,
                last_active_at_millis: user.last_active_at_millis,
                server_metadata: Metadata::from_stored(user.server_metadata.as_deref()),
                restricted_by_admin_private_details: None,
                country_code: None,
                risk_scores: RiskScores::default(),
            }),
        }
    }
}

/// A list answer: `{"items": [...], "is_paginated": false}` (keygate does not paginate).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ListObject<T> {
    items: Vec<T>,
    is_paginated: bool,
}

impl<T> ListObject<T> {
    /// The list of `items`, all of them.
    pub(crate) fn new(items: Vec<T>) -> Self {
        ListObject {
            items,
            is_paginated: false,
        }
    }
}

/// The body of upstream's successful deletes and sign-out: `{"success": true}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Success)]
pub(crate) struct SuccessObject {
    success: bool,
}

/// `{"success": true}`.
pub(crate) const SUCCESS: SuccessObject = SuccessObject { success: true };

/// A team membership just added: `{team_id, user_id}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TeamMembership)]
pub(crate) struct MembershipObject {
    #[schema(value_type = String, format = Uuid)]
    pub(crate) team_id: TeamId,
    #[schema(value_type = String, format = Uuid)]
    pub(crate) user_id: UserId,
}

/// A permission a member holds in a team: `{id, team_id, user_id}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TeamPermission)]
pub(crate) struct TeamPermissionObject<'a> {
    id: &'a str,
    #[schema(value_type = String, format = Uuid)]
    team_id: TeamId,
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
}

impl<'a> TeamPermissionObject<'a> {
    /// The object of `held`.
    pub(crate) fn new(held: &'a HeldPermission) -> Self {
        TeamPermissionObject {
            id: &held.permission_id,
            team_id: held.team_id,
            user_id: held.user_id,
        }
    }
}

/// A session in the sessions list: `{id, user_id, created_at, last_used_at, is_impersonation,
/// is_current_session}`. keygate records no addresses, so upstream's optional
/// `last_used_at_end_user_ip_info` is never sent, and has no impersonation sessions.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub(crate) struct SessionObject {
    #[schema(value_type = String, format = Uuid)]
    id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    created_at: EpochMillis,
    last_used_at: EpochMillis,
    is_impersonation: bool,
    is_current_session: bool,
}

impl SessionObject {
    /// The object of `session`, for a request that uses the session `current` (if any).
    pub(crate) fn new(session: &SessionRecord, current: Option<Uuid>) -> Self {
        SessionObject {
            id: session.id,
            user_id: session.user_id,
            created_at: session.created_at_millis,
            last_used_at: session.last_used_at_millis,
            is_impersonation: false,
            is_current_session: current == Some(session.id),
        }
    }
}

/// The tokens of a session: `{access_token, refresh_token?}` — the refresh token only when the
/// session is opened (refreshing answers the access token alone).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SessionTokens)]
pub(crate) struct SessionTokensObject<'a> {
    pub(crate) access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<&'a str>,
}

/// The answer of the OAuth refresh-token grant (RFC 6749 §5.1): `{access_token, token_type:
/// "Bearer", expires_in, refresh_token}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OAuthToken)]
pub(crate) struct OAuthTokenObject<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: &'a str,
}

impl<'a> OAuthTokenObject<'a> {
    /// A bearer `access_token` valid for `expires_in` seconds, with the `refresh_token` it was
    /// refreshed with.
    pub(crate) fn bearer(access_token: &'a str, expires_in: i64, refresh_token: &'a str) -> Self {
        OAuthTokenObject {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token,
        }
    }
}

/// An OAuth 2.0 error answer (RFC 6749 §5.2): `{error, error_description}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OAuthError)]
pub(crate) struct OAuthErrorObject<'a> {
    pub(crate) error: &'a str,
    pub(crate) error_description: &'a str,
}

#[cfg(test)]
mod tests {
    use keygate_domain::{ProjectId, TeamId, UserId};

    use serde_json::json;

    use super::*;

    /// `object` as the JSON a client reads.
    fn to_json(object: &impl Serialize) -> Value {
        serde_json::from_slice(&serde_json::to_vec(object).unwrap()).unwrap()
    }

    /// The metadata of `stored` as it goes on the wire.
    fn metadata_value(stored: Option<&str>) -> Value {
        to_json(&Metadata::from_stored(stored))
    }

    fn team() -> TeamRecord {
        TeamRecord {
            id: TeamId::new_random(),
            project_id: ProjectId::new_random(),
            display_name: "Team".into(),
            profile_image_url: None,
            client_metadata: Some(r#"{"a":[1,2]}"#.into()),
            client_read_only_metadata: None,
            server_metadata: Some(r#""secret""#.into()),
            created_at_millis: 7,
        }
    }

    fn user(selected: Option<TeamId>) -> UserRecord {
        UserRecord {
            id: UserId::new_random(),
            project_id: ProjectId::new_random(),
            display_name: Some("Ada".into()),
            primary_email: Some("ada@example.com".into()),
            primary_email_verified: true,
            profile_image_url: None,
            client_metadata: None,
            client_read_only_metadata: Some("3".into()),
            server_metadata: Some(r#"{"s":true}"#.into()),
            selected_team_id: selected,
            signed_up_at_millis: 1_000,
            last_active_at_millis: 2_000,
        }
    }

    #[test]
    fn teams_hide_server_fields_from_clients() {
        let team = team();
        let client = to_json(&TeamObject::new(&team, View::Client));
        assert_eq!(client["client_metadata"], json!({"a": [1, 2]}));
        assert_eq!(client["client_read_only_metadata"], Value::Null);
        assert!(client.get("server_metadata").is_none());
        assert!(client.get("created_at_millis").is_none());
        let server = to_json(&TeamObject::new(&team, View::Server));
        assert_eq!(server["server_metadata"], json!("secret"));
        assert_eq!(server["created_at_millis"], json!(7));
    }

    #[test]
    fn users_carry_every_field_the_sdk_reads() {
        let team = team();
        let user = user(Some(team.id));
        let client = to_json(&UserObject::new(&user, Some(&team), View::Client));
        for key in [
            "id",
            "display_name",
            "primary_email",
            "primary_email_verified",
            "profile_image_url",
            "signed_up_at_millis",
            "client_metadata",
            "client_read_only_metadata",
            "has_password",
            "auth_with_email",
            "otp_auth_enabled",
            "oauth_providers",
            "passkey_auth_enabled",
            "requires_totp_mfa",
            "is_anonymous",
            "is_restricted",
            "restricted_reason",
            "selected_team_id",
            "selected_team",
        ] {
            assert!(client.get(key).is_some(), "client view lacks {key}");
        }
        assert!(client.get("server_metadata").is_none());
        assert!(client["selected_team"].get("server_metadata").is_none());
        assert_eq!(client["client_read_only_metadata"], json!(3));

        let server = to_json(&UserObject::new(&user, Some(&team), View::Server));
        assert_eq!(server["server_metadata"], json!({"s": true}));
        assert_eq!(server["last_active_at_millis"], json!(2_000));
        assert_eq!(
            server["risk_scores"],
            json!({"sign_up": {"bot": 0, "free_trial_abuse": 0}})
        );
        assert_eq!(server["selected_team"]["server_metadata"], json!("secret"));
        assert_eq!(server["selected_team_id"], json!(team.id.to_string()));
    }

    #[test]
    fn metadata_round_trips_and_null_is_absent() {
        assert_eq!(metadata_text(&Value::Null), None);
        let value = json!({"nested": [null, "x"]});
        let text = metadata_text(&value);
        assert_eq!(metadata_value(text.as_deref()), value);
        assert_eq!(metadata_value(Some("not json")), Value::Null);
    }

    /// The whole team object of each view, exactly as the `json!` trees built it before the
    /// objects were typed: same fields, same values.
    #[test]
    fn team_objects_are_the_wire_shape_of_each_view() {
        let mut team = team();
        team.profile_image_url = Some("https://example.com/t.png".into());
        let client = json!({
            "id": team.id.to_string(),
            "display_name": "Team",
            "profile_image_url": "https://example.com/t.png",
            "client_metadata": {"a": [1, 2]},
            "client_read_only_metadata": null,
        });
        assert_eq!(to_json(&TeamObject::new(&team, View::Client)), client);
        let mut server = client;
        server["created_at_millis"] = json!(7);
        server["server_metadata"] = json!("secret");
        assert_eq!(to_json(&TeamObject::new(&team, View::Server)), server);
    }

    /// The whole user object of each view, exactly as the `json!` trees built it.
    #[test]
    fn user_objects_are_the_wire_shape_of_each_view() {
        let team = team();
        let ada = user(Some(team.id));
        let client = json!({
            "id": ada.id.to_string(),
            "display_name": "Ada",
            "primary_email": "ada@example.com",
            "primary_email_verified": true,
            "profile_image_url": null,
            "signed_up_at_millis": 1_000,
            "client_metadata": null,
            "client_read_only_metadata": 3,
            "has_password": false,
            "auth_with_email": false,
            "otp_auth_enabled": false,
            "passkey_auth_enabled": false,
            "oauth_providers": [],
            "requires_totp_mfa": false,
            "is_anonymous": false,
            "is_restricted": false,
            "restricted_reason": null,
            "restricted_by_admin": false,
            "restricted_by_admin_reason": null,
            "selected_team_id": team.id.to_string(),
            "selected_team": to_json(&TeamObject::new(&team, View::Client)),
        });
        assert_eq!(
            to_json(&UserObject::new(&ada, Some(&team), View::Client)),
            client
        );
        let mut server = client;
        server["selected_team"] = to_json(&TeamObject::new(&team, View::Server));
        server["primary_email_auth_enabled"] = json!(false);
        server["last_active_at_millis"] = json!(2_000);
        server["server_metadata"] = json!({"s": true});
        server["restricted_by_admin_private_details"] = Value::Null;
        server["country_code"] = Value::Null;
        server["risk_scores"] = json!({"sign_up": {"bot": 0, "free_trial_abuse": 0}});
        assert_eq!(
            to_json(&UserObject::new(&ada, Some(&team), View::Server)),
            server
        );

        // Without a selected team, both are null.
        let alone = user(None);
        let object = to_json(&UserObject::new(&alone, None, View::Server));
        assert_eq!(object["selected_team_id"], Value::Null);
        assert_eq!(object["selected_team"], Value::Null);
    }

    /// A client object does not hold the server-only fields at all (not merely skips them), and
    /// its body never names them, however deep.
    #[test]
    fn client_objects_hold_no_server_only_fields() {
        let team = team();
        let user = user(Some(team.id));
        let client_team = TeamObject::new(&team, View::Client);
        assert!(client_team.server.is_none());
        let client_user = UserObject::new(&user, Some(&team), View::Client);
        assert!(client_user.server.is_none());
        assert!(client_user.selected_team.as_ref().unwrap().server.is_none());
        let body = serde_json::to_string(&client_user).unwrap();
        for server_only in [
            "server_metadata",
            "created_at_millis",
            "last_active_at_millis",
            "primary_email_auth_enabled",
            "restricted_by_admin_private_details",
            "country_code",
            "risk_scores",
        ] {
            assert!(!body.contains(server_only), "{server_only} in {body}");
        }
        assert!(!body.contains("secret"), "server metadata leaked: {body}");
    }

    /// Whatever JSON a request stored comes back as that JSON, in every metadata field of both
    /// objects; `null` is stored as absent and comes back as `null`; text that is not JSON is
    /// sent as `null`.
    #[test]
    fn metadata_of_every_shape_round_trips() {
        for value in [
            json!({"theme": "dark", "n": {"deep": [1, 2.5, -3]}}),
            json!([1, "two", null, true]),
            json!("text with \"quotes\" and é"),
            json!(42),
            json!(-0.5),
            json!(false),
            json!({}),
            json!([]),
            Value::Null,
        ] {
            let stored = metadata_text(&value);
            assert_eq!(stored.is_none(), value.is_null());
            assert_eq!(metadata_value(stored.as_deref()), value);

            let mut team = team();
            team.client_metadata = stored.clone();
            team.client_read_only_metadata = stored.clone();
            team.server_metadata = stored.clone();
            let object = to_json(&TeamObject::new(&team, View::Server));
            for field in [
                "client_metadata",
                "client_read_only_metadata",
                "server_metadata",
            ] {
                assert_eq!(object[field], value, "team {field}");
            }

            let mut user = user(None);
            user.client_metadata = stored.clone();
            user.client_read_only_metadata = stored.clone();
            user.server_metadata = stored;
            let object = to_json(&UserObject::new(&user, None, View::Server));
            for field in [
                "client_metadata",
                "client_read_only_metadata",
                "server_metadata",
            ] {
                assert_eq!(object[field], value, "user {field}");
            }
        }
        // Stored text with whitespace is the same JSON.
        assert_eq!(metadata_value(Some(" { \"a\" : 1 } ")), json!({"a": 1}));
        for corrupt in ["", "{", "undefined", "{\"a\":1} trailing"] {
            assert_eq!(metadata_value(Some(corrupt)), Value::Null, "{corrupt:?}");
        }
    }

    /// The small answers of the identity routes.
    #[test]
    fn small_answers_have_their_wire_shapes() {
        assert_eq!(to_json(&SUCCESS), json!({"success": true}));
        let empty: ListObject<TeamObject<'_>> = ListObject::new(Vec::new());
        assert_eq!(to_json(&empty), json!({"items": [], "is_paginated": false}));

        let (team_id, user_id) = (TeamId::new_random(), UserId::new_random());
        assert_eq!(
            to_json(&MembershipObject { team_id, user_id }),
            json!({"team_id": team_id.to_string(), "user_id": user_id.to_string()})
        );
        let held = HeldPermission {
            team_id,
            user_id,
            permission_id: "$read_members".into(),
        };
        let item = json!({
            "id": "$read_members",
            "team_id": team_id.to_string(),
            "user_id": user_id.to_string(),
        });
        assert_eq!(to_json(&TeamPermissionObject::new(&held)), item);
        assert_eq!(
            to_json(&ListObject::new(vec![TeamPermissionObject::new(&held)])),
            json!({"items": [item], "is_paginated": false})
        );

        let opened = SessionTokensObject {
            access_token: "a.b.c",
            refresh_token: Some("r"),
        };
        assert_eq!(
            to_json(&opened),
            json!({"access_token": "a.b.c", "refresh_token": "r"})
        );
        let refreshed = SessionTokensObject {
            access_token: "a.b.c",
            refresh_token: None,
        };
        assert_eq!(to_json(&refreshed), json!({"access_token": "a.b.c"}));
        assert_eq!(
            to_json(&OAuthTokenObject::bearer("a.b.c", 600, "r")),
            json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 600, "refresh_token": "r"})
        );
        assert_eq!(
            to_json(&OAuthErrorObject {
                error: "invalid_request",
                error_description: "Missing",
            }),
            json!({"error": "invalid_request", "error_description": "Missing"})
        );
    }
}
