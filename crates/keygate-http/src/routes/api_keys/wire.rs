//! The API-key objects as they go on the wire (B2 "Object shapes").
//!
//! The read object (list items, read, update, check) shows `value` as `{"last_four"}`; the
//! first-view object (create only) shows the full key string instead. `expires_at_millis` and
//! `manually_revoked_at_millis` are left out while unset, as upstream's serializer drops
//! `undefined`; the owner is `user_id` or `team_id` next to `type`. `last_used_at_millis` is
//! keygate's own (left out while the key was never used; see `keygate_service::key_usage`).

use keygate_permissions::AccessType;
use serde_json::value::RawValue;
use std::collections::HashMap;

use keygate_domain::{
    ApiKey, ApiKeyId, EpochMillis, Owner, PlainApiKey, RateLimit, TeamId, UserId,
};
use serde::Serialize;
use utoipa::ToSchema;

/// An API key on the wire, serialized straight from the stored row (the check answers one per
/// request, so no intermediate JSON tree is built).
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = ApiKey,
    description = "A user or team API key. `value` is the whole key only in the create answer, else `{last_four}`; unset instants are left out; `last_used_at_millis` is keygate's own."
)]
pub(crate) struct ApiKeyObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: ApiKeyId,
    description: &'a str,
    #[schema(value_type = i64)]
    created_at_millis: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    expires_at_millis: Option<EpochMillis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    manually_revoked_at_millis: Option<EpochMillis>,
    /// keygate's own field (upstream has none; its clients ignore unknown fields).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    last_used_at_millis: Option<EpochMillis>,
    is_public: bool,
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^(user|team)$")]
    key_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    user_id: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    team_id: Option<TeamId>,
    value: KeyValue<'a>,
    /// keygate's own: the key's scopes (`[]` for none).
    scopes: &'a [String],
    /// keygate's own: the metadata the project's server set, shown to server and admin access
    /// only; left out when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    metadata: Option<&'a RawValue>,
    /// keygate's own: at most `limit` checks per `window_millis`; left out when unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RateLimitObject>)]
    rate_limit: Option<RateLimitObject>,
    /// keygate's own: usage credits left (the stored count and this node's unspent lease);
    /// left out when unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining_uses: Option<i64>,
    /// keygate's own: the credits are set back to `amount` every `interval_millis`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RefillObject>)]
    refill: Option<RefillObject>,
}

/// A key's refill on the wire.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(as = Refill)]
pub(crate) struct RefillObject {
    amount: i64,
    interval_millis: i64,
}

/// A key's rate limit on the wire.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[schema(as = RateLimit)]
pub(crate) struct RateLimitObject {
    limit: i64,
    window_millis: i64,
}

impl From<RateLimit> for RateLimitObject {
    fn from(rate: RateLimit) -> Self {
        RateLimitObject {
            limit: rate.limit,
            window_millis: rate.window_millis,
        }
    }
}

/// `value`: the last four characters, or the full key in the create response only.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = ApiKeyValue)]
enum KeyValue<'a> {
    LastFour { last_four: &'a str },
    Full(String),
}

impl<'a> ApiKeyObject<'a> {
    fn new(key: &'a ApiKey, last_used_at_millis: Option<EpochMillis>, value: KeyValue<'a>) -> Self {
        let (user_id, team_id) = match key.owner {
            Owner::User(user) => (Some(user), None),
            Owner::Team(team) => (None, Some(team)),
        };
        ApiKeyObject {
            id: key.id,
            description: &key.description,
            created_at_millis: key.created_at_millis,
            expires_at_millis: key.expires_at_millis,
            manually_revoked_at_millis: key.manually_revoked_at_millis,
            last_used_at_millis,
            is_public: key.is_public,
            key_type: key.key_type().as_str(),
            user_id,
            team_id,
            value,
            scopes: &key.policy.scopes,
            metadata: key
                .policy
                .metadata
                .as_deref()
                .and_then(|text| serde_json::from_str::<&RawValue>(text).ok()),
            rate_limit: key.policy.rate_limit.map(RateLimitObject::from),
            remaining_uses: key.policy.usage.map(|usage| usage.remaining_uses),
            refill: key
                .policy
                .usage
                .and_then(|usage| usage.refill)
                .map(|refill| RefillObject {
                    amount: refill.amount,
                    interval_millis: refill.interval_millis,
                }),
        }
    }

    /// The object with `remaining_uses` as the check left it (the cached row's count is older).
    pub(crate) fn with_remaining_uses(mut self, remaining_uses: Option<i64>) -> Self {
        if remaining_uses.is_some() {
            self.remaining_uses = remaining_uses;
        }
        self
    }

    /// The object as `access` sees it: client access does not see the server's metadata.
    pub(crate) fn seen_by(mut self, access: AccessType) -> Self {
        if access == AccessType::Client {
            self.metadata = None;
        }
        self
    }
}

/// The read object: `value` is `{"last_four": …}`.
pub(crate) fn read_object(
    key: &ApiKey,
    last_used_at_millis: Option<EpochMillis>,
) -> ApiKeyObject<'_> {
    let last_four = KeyValue::LastFour {
        last_four: &key.last_four,
    };
    ApiKeyObject::new(key, last_used_at_millis, last_four)
}

/// The first-view object of the create response: `value` is the full key, shown only here.
pub(super) fn first_view_object(key: &ApiKey, plain: PlainApiKey) -> ApiKeyObject<'_> {
    ApiKeyObject::new(key, None, KeyValue::Full(plain.into_string()))
}

/// A list answer: every key as a read object (with its entry in `last_used`, if any). Unpaginated
/// it is upstream's `{"items", "is_paginated": false}`; a page (asked for with `limit`) is
/// `{"items", "is_paginated": true, "pagination": {"next_cursor"}}`, upstream's paginated shape.
/// Serialized straight from the stored rows: the answer's bytes are the only copy built.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = ApiKeyList,
    description = "A list of keys: `{items, is_paginated: false}`, or one page `{items, is_paginated: true, pagination: {next_cursor}}` when `limit` was given."
)]
pub(crate) struct ApiKeyList<'a> {
    items: Vec<ApiKeyObject<'a>>,
    is_paginated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pagination: Option<Pagination>,
}

/// Where the next page starts; `null` on the last page.
#[derive(Debug, Serialize, ToSchema)]
struct Pagination {
    next_cursor: Option<String>,
}

/// See [`ApiKeyList`]; `page` is `None` for the unpaginated list, else the next page's cursor
/// (`None` on the last page).
pub(crate) fn list_object<'a>(
    keys: &'a [ApiKey],
    last_used: &HashMap<ApiKeyId, EpochMillis>,
    page: Option<Option<String>>,
    access: AccessType,
) -> ApiKeyList<'a> {
    ApiKeyList {
        items: keys
            .iter()
            .map(|key| read_object(key, last_used.get(&key.id).copied()).seen_by(access))
            .collect(),
        is_paginated: page.is_some(),
        pagination: page.map(|next_cursor| Pagination { next_cursor }),
    }
}

#[cfg(test)]
mod tests {
    use keygate_domain::{KeyHasher, NewApiKey, ProjectId, TeamId, UserId};

    use serde_json::{json, Value};

    use super::*;

    fn to_json(value: impl Serialize) -> Value {
        serde_json::to_value(value).unwrap()
    }

    fn generate(owner: Owner, expires_at_millis: Option<i64>) -> (ApiKey, PlainApiKey) {
        NewApiKey {
            project_id: ProjectId::new_random(),
            owner,
            description: "ci".to_owned(),
            is_public: false,
            expires_at_millis,
            policy: Default::default(),
        }
        .generate(1_000, &KeyHasher::sha256())
    }

    #[test]
    fn read_objects_leave_unset_instants_out() {
        let user = UserId::new_random();
        let (key, _) = generate(Owner::User(user), None);
        assert_eq!(
            to_json(read_object(&key, None)),
            json!({
                "id": key.id.to_string(),
                "description": "ci",
                "created_at_millis": 1_000,
                "is_public": false,
                "type": "user",
                "user_id": user.to_string(),
                "value": {"last_four": key.last_four},
                "scopes": [],
            })
        );
    }

    #[test]
    fn set_instants_and_team_owners_are_shown() {
        let team = TeamId::new_random();
        let (mut key, _) = generate(Owner::Team(team), Some(0));
        key.manually_revoked_at_millis = Some(2_000);
        let object = to_json(read_object(&key, Some(3_000)));
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
        let object = to_json(first_view_object(&key, plain));
        assert_eq!(object["value"], full);
        assert_eq!(object["expires_at_millis"], 5);
        assert!(object.get("manually_revoked_at_millis").is_none());
        assert!(object.get("last_used_at_millis").is_none());
        let used = HashMap::from([(key.id, 7)]);
        let listed = to_json(list_object(
            std::slice::from_ref(&key),
            &used,
            None,
            AccessType::Server,
        ));
        assert_eq!(listed["is_paginated"], false);
        assert!(
            listed.get("pagination").is_none(),
            "upstream's shape, exactly"
        );
        assert_eq!(listed["items"][0], to_json(read_object(&key, Some(7))));
        let page = to_json(list_object(
            std::slice::from_ref(&key),
            &used,
            Some(None),
            AccessType::Server,
        ));
        assert_eq!(page["is_paginated"], true);
        assert_eq!(page["pagination"], json!({"next_cursor": null}));
    }
}
