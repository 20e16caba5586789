//! What the API-key routes read from requests, declared once for both key types.

use keygate_domain::{KeyType, Owner, TeamId};

use crate::validation::{FieldReader, Pending, RequestCheck, UserIdOrMe};

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
}

/// Declares the create body of the `route` key type.
pub(super) fn read_create_body(o: &mut FieldReader<'_>, route: KeyType) -> CreateBody {
    // Any string; a NUL character is refused like in every text field (Postgres cannot store it).
    let description = o.field::<String>("description").required();
    // Required to be present; `null` is allowed and means "never expires".
    let expires_at_millis = o.field::<Option<i64>>("expires_at_millis").required();
    let is_public = o.field::<bool>("is_public").optional().unwrap_or(false);
    let owner = match route {
        KeyType::User => Owner::User(o.field::<UserIdOrMe>("user_id").required().0),
        KeyType::Team => Owner::Team(o.field::<TeamId>("team_id").required()),
    };
    CreateBody {
        description,
        expires_at_millis,
        is_public,
        owner,
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
    UpdateBody {
        description: o.field::<String>("description").optional(),
        revoke: o
            .field::<bool>("revoked")
            .one_of(&[true])
            .optional()
            .unwrap_or(false),
    }
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

/// The body of the check and credential-scanning routes: `{"api_key": string}`.
pub(super) fn read_api_key_body(o: &mut FieldReader<'_>) -> String {
    o.field::<String>("api_key").required()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

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
}
