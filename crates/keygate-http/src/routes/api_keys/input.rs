//! What the API-key routes read from requests, declared once for both key types.

use keygate_domain::{
    is_scope_id, ApiKeyId, KeyPolicy, KeyType, Owner, RateLimit, Refill, TeamId, UsageCredits,
    MAX_CHECK_COST,
};
use std::ops::RangeInclusive;

use keygate_service::api_keys::{KeyPosition, ListWindow};
use serde_json::Value;

use crate::page_cursor;
use crate::validation::{
    FieldContext, FieldReader, FieldValue, Pending, Rejection, RequestCheck, UserIdOrMe,
};

/// The create body of either route.
#[derive(Debug)]
pub(super) struct CreateBody {
    /// The key's description (required, may be empty).
    pub description: String,
    /// `None` never expires; any number is the expiry instant (A1).
    pub expires_at_millis: Option<i64>,
    /// Issue a public (`pk_`) key; default `false`.
    pub is_public: bool,
    /// The user (`user_id`, uuid-or-me) or team (`team_id`, UUID) the key is for.
    pub owner: Owner,
    /// keygate's own: `scopes` (ids from the project's catalogue), and `metadata` (an object)
    /// and `rate_limit` (server and admin only).
    pub policy: KeyPolicy,
}

/// The most scopes one key or one check names.
pub(crate) const MAX_SCOPES_PER_REQUEST: usize = 100;

/// A list of scope ids (`keygate_domain::is_scope_id`), without repeats, at most
/// [`MAX_SCOPES_PER_REQUEST`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScopeIds(pub Vec<String>);

impl FieldValue for ScopeIds {
    const TYPE_NAME: &'static str = "array";
    fn placeholder() -> Self {
        ScopeIds::default()
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        let items = value.as_array().ok_or(Rejection::NotType)?;
        if items.len() > MAX_SCOPES_PER_REQUEST {
            return Err(Rejection::Invalid(format!(
                "must have at most {MAX_SCOPES_PER_REQUEST} items"
            )));
        }
        let mut ids: Vec<String> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let id = item.as_str().filter(|id| is_scope_id(id)).ok_or_else(|| {
                Rejection::Invalid(format!(
                    "[{index}] must be a scope id (1 to 64 letters, digits, _ - . :)"
                ))
            })?;
            if !ids.iter().any(|known| known == id) {
                ids.push(id.to_owned());
            }
        }
        Ok(ScopeIds(ids))
    }
    fn from_text(_: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Err(Rejection::NotType)
    }
}

/// A key's metadata: a JSON object, at most `limits.max_metadata_bytes` of JSON text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyMetadata(pub String);

impl FieldValue for KeyMetadata {
    const TYPE_NAME: &'static str = "object";
    fn placeholder() -> Self {
        KeyMetadata::default()
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        if !value.is_object() {
            return Err(Rejection::NotType);
        }
        Ok(KeyMetadata(value.to_string()))
    }
    fn from_text(_: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Err(Rejection::NotType)
    }
    fn json_bytes(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// Reads an object of exactly two integer fields, `first` and `second` (a rate limit, a
/// refill), accepted by `make`; anything else is refused with the fields' ranges.
fn integer_pair<T>(
    value: &Value,
    (first, first_range): (&str, RangeInclusive<i64>),
    (second, second_range): (&str, RangeInclusive<i64>),
    make: impl Fn(i64, i64) -> Option<T>,
) -> Result<T, Rejection> {
    let object = value.as_object().ok_or(Rejection::NotType)?;
    let number = |name: &str| object.get(name).and_then(Value::as_i64);
    match (number(first), number(second), object.len()) {
        (Some(a), Some(b), 2) => make(a, b),
        _ => None,
    }
    .ok_or_else(|| {
        Rejection::Invalid(format!(
            "must be {{\"{first}\": {} to {}, \"{second}\": {} to {}}}",
            first_range.start(),
            first_range.end(),
            second_range.start(),
            second_range.end()
        ))
    })
}

/// A rate limit: `{"limit": 1 to 10^9, "window_millis": 100 to 86,400,000}`
/// (`keygate_domain::RateLimit`), both required, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimitInput(pub RateLimit);

impl FieldValue for RateLimitInput {
    const TYPE_NAME: &'static str = "object";
    fn placeholder() -> Self {
        RateLimitInput(RateLimit {
            limit: 1,
            window_millis: 1_000,
        })
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        integer_pair(
            value,
            ("limit", RateLimit::LIMITS),
            ("window_millis", RateLimit::WINDOWS_MILLIS),
            RateLimit::new,
        )
        .map(RateLimitInput)
    }
    fn from_text(_: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Err(Rejection::NotType)
    }
}

/// A refill: `{"amount": 1 to 10^12, "interval_millis": 1,000 to 31,622,400,000}`
/// (`keygate_domain::Refill`), both required, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefillInput(pub Refill);

impl FieldValue for RefillInput {
    const TYPE_NAME: &'static str = "object";
    fn placeholder() -> Self {
        RefillInput(Refill {
            amount: 1,
            interval_millis: 1_000,
        })
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        integer_pair(
            value,
            ("amount", Refill::AMOUNTS),
            ("interval_millis", Refill::INTERVALS_MILLIS),
            Refill::new,
        )
        .map(RefillInput)
    }
    fn from_text(_: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Err(Rejection::NotType)
    }
}

/// Declares the create body of the `route` key type.
pub(super) fn read_create_body(o: &mut FieldReader<'_>, route: KeyType) -> CreateBody {
    // Any string up to the cap; a NUL character is refused like in every text field (Postgres
    // cannot store it).
    let max_description = o.limits().max_description_chars;
    let description = o
        .field::<String>("description")
        .max_chars(max_description)
        .required();
    // Required to be present; `null` is allowed and means "never expires".
    let expires_at_millis = o.field::<Option<i64>>("expires_at_millis").required();
    let is_public = o.field::<bool>("is_public").optional().unwrap_or(false);
    let owner = match route {
        KeyType::User => Owner::User(o.field::<UserIdOrMe>("user_id").required().0),
        KeyType::Team => Owner::Team(o.field::<TeamId>("team_id").required()),
    };
    let scopes = o
        .field::<ScopeIds>("scopes")
        .optional()
        .unwrap_or_default()
        .0;
    let max_metadata = o.limits().max_metadata_bytes;
    let metadata = o
        .field::<KeyMetadata>("metadata")
        .max_json_bytes(max_metadata)
        .optional()
        .map(|metadata| metadata.0);
    let rate_limit = o
        .field::<RateLimitInput>("rate_limit")
        .optional()
        .map(|rate| rate.0);
    let remaining_uses = o
        .field::<i64>("remaining_uses")
        .range(0, UsageCredits::MAX_REMAINING)
        .optional();
    let refill = o
        .field::<RefillInput>("refill")
        .optional()
        .map(|refill| refill.0);
    // A refill alone starts with its amount; the creation instant anchors the periods.
    let usage = match (remaining_uses, refill) {
        (None, None) => None,
        (remaining_uses, refill) => Some(UsageCredits {
            remaining_uses: remaining_uses
                .or(refill.map(|refill| refill.amount))
                .unwrap_or_default(),
            refill,
            refilled_at_millis: 0,
        }),
    };
    CreateBody {
        description,
        expires_at_millis,
        is_public,
        owner,
        policy: KeyPolicy {
            scopes,
            metadata,
            rate_limit,
            usage,
        },
    }
}

/// The update body of either route: only `description` and `revoked: true`.
#[derive(Debug)]
pub(super) struct UpdateBody {
    /// A new description, if given.
    pub description: Option<String>,
    /// Whether to revoke the key (only `true` is accepted).
    pub revoke: bool,
}

/// Declares the update body.
pub(super) fn read_update_body(o: &mut FieldReader<'_>) -> UpdateBody {
    let max_description = o.limits().max_description_chars;
    UpdateBody {
        description: o
            .field::<String>("description")
            .max_chars(max_description)
            .optional(),
        revoke: o
            .field::<bool>("revoked")
            .one_of(&[true])
            .optional()
            .unwrap_or(false),
    }
}

/// The rotate body: `{"grace_period_millis"?: 0 to limits.max_rotation_grace_millis}`; absent
/// or 0 revokes the old key at once.
pub(super) fn read_rotate_body(o: &mut FieldReader<'_>) -> Option<i64> {
    let max_grace = o.limits().max_rotation_grace_millis;
    o.field::<i64>("grace_period_millis")
        .range(0, max_grace)
        .optional()
}

/// The owner query of the list, read and update routes: `user_id` (uuid-or-me, optional) on the
/// user route, `team_id` (UUID, required) on the team route. Any other parameter is refused.
/// Read and update validate it but ignore it (they act on the stored owner).
pub(super) fn read_owner_query(check: &mut RequestCheck, route: KeyType) -> Pending<Option<Owner>> {
    check.query(|o| match route {
        KeyType::User => o
            .field::<UserIdOrMe>("user_id")
            .optional()
            .map(|user| Owner::User(user.0)),
        KeyType::Team => Some(Owner::Team(o.field::<TeamId>("team_id").required())),
    })
}

/// The list route's query: the owner (as [`read_owner_query`]) and keygate's optional
/// pagination, `limit` (1 to `limits.max_page_size`) and `cursor` (the `next_cursor` of the
/// previous page). Without `limit` the whole list is answered, as upstream does; a `cursor`
/// without `limit` continues with pages of the largest size.
pub(super) fn read_list_query(
    check: &mut RequestCheck,
    route: KeyType,
) -> Pending<(Option<Owner>, ListWindow)> {
    check.query(|o| {
        let owner = match route {
            KeyType::User => o
                .field::<UserIdOrMe>("user_id")
                .optional()
                .map(|user| Owner::User(user.0)),
            KeyType::Team => Some(Owner::Team(o.field::<TeamId>("team_id").required())),
        };
        let max_page_size = o.limits().max_page_size;
        let limit = page_cursor::read_limit(o);
        let cursor = o.field::<ListCursor>("cursor").optional();
        let window = match (limit, cursor) {
            (None, None) => ListWindow::All,
            (limit, cursor) => ListWindow::Page {
                limit: limit.unwrap_or(max_page_size),
                after: cursor.map(|cursor| cursor.0),
            },
        };
        (owner, window)
    })
}

/// An opaque list cursor (`crate::page_cursor`): the position of the last key of the previous
/// page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListCursor(pub KeyPosition);

impl ListCursor {
    /// The cursor's text.
    pub(crate) fn encode(position: KeyPosition) -> String {
        page_cursor::encode(position.created_at_millis, &position.id.to_string())
    }

    /// The position `text` names, if it is a cursor keygate handed out.
    pub(crate) fn decode(text: &str) -> Option<KeyPosition> {
        let (created_at_millis, id) = page_cursor::decode(text).ok()?;
        Some(KeyPosition {
            created_at_millis,
            id: id.parse::<ApiKeyId>().ok()?,
        })
    }
}

impl FieldValue for ListCursor {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        ListCursor(KeyPosition {
            created_at_millis: 0,
            id: ApiKeyId::from_uuid(uuid::Uuid::nil()),
        })
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        Self::from_text(value.as_str().ok_or(Rejection::NotType)?, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Self::decode(text)
            .map(ListCursor)
            .ok_or_else(|| Rejection::Invalid(page_cursor::NOT_A_CURSOR.to_owned()))
    }
}

/// The body of the check and credential-scanning routes: `{"api_key": string}`.
pub(super) fn read_api_key_body(o: &mut FieldReader<'_>) -> String {
    o.field::<String>("api_key").required()
}

/// What a check asks beyond upstream's `api_key`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct CheckPolicy {
    /// Scopes the key must carry.
    pub required_scopes: Vec<String>,
    /// Usage credits the check spends from a key that has them (1 by default; 0 to 10^6).
    pub cost: i64,
}

/// The check's body: `{"api_key": string, "required_scopes"?: [scope id], "cost"?: integer}`
/// (the last two are keygate's own).
pub(super) fn read_check_body(o: &mut FieldReader<'_>) -> (String, CheckPolicy) {
    let key = read_api_key_body(o);
    let required_scopes = o
        .field::<ScopeIds>("required_scopes")
        .optional()
        .unwrap_or_default()
        .0;
    let cost = o
        .field::<i64>("cost")
        .range(0, MAX_CHECK_COST)
        .optional()
        .unwrap_or(1);
    (
        key,
        CheckPolicy {
            required_scopes,
            cost,
        },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::page_cursor;
    use crate::validation::{FieldContext, FieldValue, Rejection};

    #[test]
    fn descriptions_refuse_nul_but_take_everything_else() {
        // A description is a plain `String` field: the text rule is the validator's.
        let context = FieldContext::default();
        assert_eq!(
            String::from_json(&Value::String("ok ✓ <b>".into()), &context),
            Ok("ok ✓ <b>".to_owned())
        );
        assert_eq!(
            String::from_text("a\0b", &context),
            Err(Rejection::Invalid("must not contain NUL characters".into()))
        );
        assert_eq!(
            String::from_json(&Value::Bool(true), &context),
            Err(Rejection::NotType)
        );
        assert_eq!("€".to_owned().js_len(), Some(1));
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        use super::ListCursor;
        use keygate_domain::ApiKeyId;
        use keygate_service::api_keys::KeyPosition;

        let context = FieldContext::default();
        let position = KeyPosition {
            created_at_millis: 1_745_000_000_123,
            id: ApiKeyId::new_random(),
        };
        let text = ListCursor::encode(position);
        assert_eq!(
            ListCursor::from_text(&text, &context),
            Ok(ListCursor(position))
        );
        for hostile in [
            "",
            "x",
            "bm90LWEtY3Vyc29y",
            "MTIzLm5vdC1hbi1pZA",
            &"A".repeat(10_000),
        ] {
            assert_eq!(
                ListCursor::from_text(hostile, &context),
                Err(Rejection::Invalid(page_cursor::NOT_A_CURSOR.into())),
                "{hostile}"
            );
        }
    }
}
