//! Contact channels, as upstream's account settings page reads them ("Emails & Auth"):
//!
//! * `GET /api/v1/contact-channels?user_id=` — the user's channels (a client: its own);
//! * `GET /api/v1/contact-channels/{user_id}/{contact_channel_id}` — one of them.
//!
//! Key decision: a keygate user has exactly one contact channel, their primary e-mail (none
//! without one). Nothing new is stored: the channel's id is a name-based UUID (v5) of the
//! user's id, stable for as long as the user exists, and its fields are the user's —
//! `is_verified` is `primary_email_verified`, `is_primary` is always true, and `used_for_auth`
//! is false, since keygate signs nobody in by e-mail. keygate has no routes that add, change or
//! verify channels; the user's e-mail changes through `PATCH /users/{id}`.
//!
//! Unlike upstream, a server must name the user (`user_id` is required for every access type):
//! keygate does not list every channel of a project in one unpaginated answer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::UserId;
use keygate_permissions::IdentityAction;
use keygate_service::records::UserRecord;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::identity_objects::ListObject;
use crate::auth::RequestAuth;
use crate::responses::{json_list_response, json_response};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{RequestCheck, UserIdOrMe};
use crate::wire_error::{ApiError, PlainError};

/// The namespace of contact-channel ids (`Uuid::new_v5(&CHANNEL_NAMESPACE, user id)`).
const CHANNEL_NAMESPACE: Uuid = Uuid::from_u128(0x6b65_7967_6174_4a63_8c68_616e_6e65_6c73);

/// Registers the contact-channel routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/contact-channels")
        .get(list_contact_channels)
        .register();
    routes
        .resource("/api/v1/contact-channels/{user_id}/{contact_channel_id}")
        .get(read_contact_channel)
        .register();
}

/// A contact channel: `{id, user_id, type, value, is_primary, is_verified, used_for_auth}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ContactChannel)]
pub(crate) struct ContactChannelObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    user_id: UserId,
    /// Always `email`.
    #[serde(rename = "type")]
    channel_type: &'static str,
    value: &'a str,
    is_primary: bool,
    is_verified: bool,
    used_for_auth: bool,
}

impl<'a> ContactChannelObject<'a> {
    /// The channel of `user`'s primary e-mail, if they have one.
    fn of(user: &'a UserRecord) -> Option<Self> {
        let email = user.primary_email.as_deref()?;
        Some(ContactChannelObject {
            id: channel_id(user.id),
            user_id: user.id,
            channel_type: "email",
            value: email,
            is_primary: true,
            is_verified: user.primary_email_verified,
            used_for_auth: false,
        })
    }
}

/// The id of `user`'s primary-e-mail channel.
fn channel_id(user: UserId) -> Uuid {
    Uuid::new_v5(&CHANNEL_NAMESPACE, user.to_string().as_bytes())
}

/// `GET /api/v1/contact-channels?user_id=`.
async fn list_contact_channels(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let query = check.query(|o| o.field::<UserIdOrMe>("user_id").required());
    let user_id = check.finish(query)?.0;
    let user = state
        .service()
        .user_for_account_settings(
            auth.actor(),
            IdentityAction::ListContactChannels { user_id },
            user_id,
        )
        .await?;
    let items = ContactChannelObject::of(&user).into_iter().collect();
    json_list_response(StatusCode::OK, &ListObject::new(items))
}

/// `GET /api/v1/contact-channels/{user_id}/{contact_channel_id}`.
async fn read_contact_channel(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = check.params(|o| {
        (
            o.field::<UserIdOrMe>("user_id").required(),
            o.field::<Uuid>("contact_channel_id").required(),
        )
    });
    let query = check.query(|_| ());
    let ((user_id, channel), ()) = check.finish((params, query))?;
    let user_id = user_id.0;
    let user = state
        .service()
        .user_for_account_settings(
            auth.actor(),
            IdentityAction::ReadContactChannel { user_id },
            user_id,
        )
        .await?;
    match ContactChannelObject::of(&user) {
        Some(object) if object.id == channel => json_response(StatusCode::OK, &object),
        _ => Err(PlainError::contact_channel_not_found().into()),
    }
}

#[cfg(test)]
mod tests;
