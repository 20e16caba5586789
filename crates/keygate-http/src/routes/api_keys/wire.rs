//! The API-key objects as they go on the wire (B2 "Object shapes").
//!
//! The read object (list items, read, update, check) shows `value` as `{"last_four"}`; the
//! first-view object (create only) shows the full key string instead. `expires_at_millis` and
//! `manually_revoked_at_millis` are left out while unset, as upstream's serializer drops
//! `undefined`; the owner is `user_id` or `team_id` next to `type`. `last_used_at_millis` is
//! keygate's own (left out while the key was never used; see `crate::key_usage`).

use std::collections::HashMap;

use keygate_domain::{ApiKey, ApiKeyId, EpochMillis, Owner, PlainApiKey};
use serde_json::{json, Map, Value};

/// The fields every view shares.
fn common_fields(key: &ApiKey, last_used_at_millis: Option<EpochMillis>) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("id".into(), json!(key.id.to_string()));
    object.insert("description".into(), json!(key.description));
    object.insert("created_at_millis".into(), json!(key.created_at_millis));
    if let Some(expires_at) = key.expires_at_millis {
        object.insert("expires_at_millis".into(), json!(expires_at));
    }
    if let Some(revoked_at) = key.manually_revoked_at_millis {
        object.insert("manually_revoked_at_millis".into(), json!(revoked_at));
    }
    // keygate's own field (upstream has none; its clients ignore unknown fields).
    if let Some(last_used) = last_used_at_millis {
        object.insert("last_used_at_millis".into(), json!(last_used));
    }
    object.insert("is_public".into(), json!(key.is_public));
    object.insert("type".into(), json!(key.key_type().as_str()));
    match key.owner {
        Owner::User(user) => object.insert("user_id".into(), json!(user.to_string())),
        Owner::Team(team) => object.insert("team_id".into(), json!(team.to_string())),
    };
    object
}

/// The read object: `value` is `{"last_four": …}`.
pub(super) fn read_object(key: &ApiKey, last_used_at_millis: Option<EpochMillis>) -> Value {
    let mut object = common_fields(key, last_used_at_millis);
    object.insert("value".into(), json!({ "last_four": key.last_four }));
    Value::Object(object)
}

/// The first-view object of the create response: `value` is the full key, shown only here.
pub(super) fn first_view_object(key: &ApiKey, plain: PlainApiKey) -> Value {
    let mut object = common_fields(key, None);
    object.insert("value".into(), Value::String(plain.into_string()));
    Value::Object(object)
}

/// A list answer: every key as a read object (with its entry in `last_used`, if any),
/// unpaginated.
pub(super) fn list_object(keys: &[ApiKey], last_used: &HashMap<ApiKeyId, EpochMillis>) -> Value {
    json!({
        "items": keys
            .iter()
            .map(|key| read_object(key, last_used.get(&key.id).copied()))
            .collect::<Vec<_>>(),
        "is_paginated": false,
    })
}

#[cfg(test)]
mod tests {
    use keygate_domain::{KeyHasher, NewApiKey, ProjectId, TeamId, UserId};

    use super::*;

    fn generate(owner: Owner, expires_at_millis: Option<i64>) -> (ApiKey, PlainApiKey) {
        NewApiKey {
            project_id: ProjectId::new_random(),
            owner,
            description: "ci".to_owned(),
            is_public: false,
            expires_at_millis,
        }
        .generate(1_000, &KeyHasher::sha256())
    }

    #[test]
    fn read_objects_leave_unset_instants_out() {
        let user = UserId::new_random();
        let (key, _) = generate(Owner::User(user), None);
        assert_eq!(
            read_object(&key, None),
            json!({
                "id": key.id.to_string(),
                "description": "ci",
                "created_at_millis": 1_000,
                "is_public": false,
                "type": "user",
                "user_id": user.to_string(),
                "value": {"last_four": key.last_four},
            })
        );
    }

    #[test]
    fn set_instants_and_team_owners_are_shown() {
        let team = TeamId::new_random();
        let (mut key, _) = generate(Owner::Team(team), Some(0));
        key.manually_revoked_at_millis = Some(2_000);
        let object = read_object(&key, Some(3_000));
        assert_eq!(object["last_used_at_millis"], 3_000);
        assert_eq!(object["expires_at_millis"], 0);
        assert_eq!(object["manually_revoked_at_millis"], 2_000);
        assert_eq!(object["type"], "team");
        assert_eq!(object["team_id"], team.to_string());
        assert!(object.get("user_id").is_none());
    }

    #[test]
    fn the_first_view_carries_the_full_key() {
        let (key, plain) = generate(Owner::User(UserId::new_random()), Some(5));
        let full = plain.expose_secret().to_owned();
        let object = first_view_object(&key, plain);
        assert_eq!(object["value"], full);
        assert_eq!(object["expires_at_millis"], 5);
        assert!(object.get("manually_revoked_at_millis").is_none());
        assert!(object.get("last_used_at_millis").is_none());
        let used = HashMap::from([(key.id, 7)]);
        let listed = list_object(std::slice::from_ref(&key), &used);
        assert_eq!(listed["is_paginated"], false);
        assert_eq!(listed["items"][0], read_object(&key, Some(7)));
    }
}
