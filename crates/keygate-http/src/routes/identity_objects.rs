//! The user and team objects of the identity subset on the wire, in upstream's client and server
//! shapes (contract A6): what the official SDK reads from `POST /users`, `GET /users/{id}`,
//! `GET /users/me` and the team routes.
//!
//! keygate has no sign-in methods, so every field about them carries its "none" value
//! (`has_password: false`, `oauth_providers: []`, …), and nobody is anonymous or restricted.
//! Metadata is stored as JSON text and sent back as the JSON it was; absent metadata is `null`,
//! as upstream sends it.

use keygate_permissions::AccessType;
use keygate_service::records::{TeamRecord, UserRecord};
use serde_json::{json, Map, Value};

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

/// Stored metadata text as JSON (`null` when absent). Text that is not JSON cannot come from
/// keygate itself; it is logged and read as `null` rather than failing the request.
pub(crate) fn metadata_value(stored: Option<&str>) -> Value {
    match stored {
        None => Value::Null,
        Some(text) => serde_json::from_str(text).unwrap_or_else(|error| {
            tracing::warn!(%error, "stored metadata is not JSON; sending null");
            Value::Null
        }),
    }
}

/// Metadata from a request as stored text: `null` is stored as absent.
pub(crate) fn metadata_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A team object (upstream's `teamsCrud` read schemas).
pub(crate) fn team_json(team: &TeamRecord, view: View) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(team.id.to_string()));
    object.insert("display_name".into(), json!(team.display_name));
    object.insert("profile_image_url".into(), json!(team.profile_image_url));
    object.insert(
        "client_metadata".into(),
        metadata_value(team.client_metadata.as_deref()),
    );
    object.insert(
        "client_read_only_metadata".into(),
        metadata_value(team.client_read_only_metadata.as_deref()),
    );
    if view == View::Server {
        object.insert("created_at_millis".into(), json!(team.created_at_millis));
        object.insert(
            "server_metadata".into(),
            metadata_value(team.server_metadata.as_deref()),
        );
    }
    Value::Object(object)
}

/// A user object (upstream's `usersCrud` / `currentUserCrud` read schemas). `selected_team` is
/// the team `user.selected_team_id` names, when there is one.
pub(crate) fn user_json(
    user: &UserRecord,
    selected_team: Option<&TeamRecord>,
    view: View,
) -> Value {
    let mut object = Map::new();
    let mut put = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    put("id", json!(user.id.to_string()));
    put("display_name", json!(user.display_name));
    put("primary_email", json!(user.primary_email));
    put("primary_email_verified", json!(user.primary_email_verified));
    put("profile_image_url", json!(user.profile_image_url));
    put("signed_up_at_millis", json!(user.signed_up_at_millis));
    put(
        "client_metadata",
        metadata_value(user.client_metadata.as_deref()),
    );
    put(
        "client_read_only_metadata",
        metadata_value(user.client_read_only_metadata.as_deref()),
    );
    // keygate has no sign-in methods of its own.
    put("has_password", json!(false));
    put("auth_with_email", json!(false));
    put("otp_auth_enabled", json!(false));
    put("passkey_auth_enabled", json!(false));
    put("oauth_providers", json!([]));
    put("requires_totp_mfa", json!(false));
    put("is_anonymous", json!(false));
    put("is_restricted", json!(false));
    put("restricted_reason", Value::Null);
    put("restricted_by_admin", json!(false));
    put("restricted_by_admin_reason", Value::Null);
    put(
        "selected_team_id",
        json!(user.selected_team_id.map(|id| id.to_string())),
    );
    put(
        "selected_team",
        selected_team.map_or(Value::Null, |team| team_json(team, view)),
    );
    if view == View::Server {
        put("primary_email_auth_enabled", json!(false));
        put("last_active_at_millis", json!(user.last_active_at_millis));
        put(
            "server_metadata",
            metadata_value(user.server_metadata.as_deref()),
        );
        put("restricted_by_admin_private_details", Value::Null);
        put("country_code", Value::Null);
        put(
            "risk_scores",
            json!({"sign_up": {"bot": 0, "free_trial_abuse": 0}}),
        );
    }
    Value::Object(object)
}

/// A list answer: `{"items": [...], "is_paginated": false}` (keygate does not paginate).
pub(crate) fn list_json(items: Vec<Value>) -> Value {
    json!({"items": items, "is_paginated": false})
}

/// The body of upstream's successful deletes and sign-out: `{"success": true}`.
pub(crate) fn success_json() -> Value {
    json!({"success": true})
}

#[cfg(test)]
mod tests {
    use keygate_domain::{ProjectId, TeamId, UserId};

    use super::*;

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
        let client = team_json(&team, View::Client);
        assert_eq!(client["client_metadata"], json!({"a": [1, 2]}));
        assert_eq!(client["client_read_only_metadata"], Value::Null);
        assert!(client.get("server_metadata").is_none());
        assert!(client.get("created_at_millis").is_none());
        let server = team_json(&team, View::Server);
        assert_eq!(server["server_metadata"], json!("secret"));
        assert_eq!(server["created_at_millis"], json!(7));
    }

    #[test]
    fn users_carry_every_field_the_sdk_reads() {
        let team = team();
        let user = user(Some(team.id));
        let client = user_json(&user, Some(&team), View::Client);
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

        let server = user_json(&user, Some(&team), View::Server);
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
}
