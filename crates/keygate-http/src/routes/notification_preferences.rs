//! `GET /api/v1/emails/notification-preference/{user_id}`: which kinds of e-mail a user gets,
//! as upstream's account settings page reads them (the Notifications tab).
//!
//! Key decision: the answer is true to what keygate sends. keygate's only e-mails are notices
//! about the user's keys (a leaked key revoked, a key about to expire): security notices, which
//! upstream files under its built-in "Transactional" category (same id), on and impossible to
//! turn off. keygate sends no marketing, so upstream's "Marketing" category is not offered, and
//! there is nothing to change (no `PATCH` route).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_permissions::IdentityAction;
use serde::Serialize;
use utoipa::ToSchema;

use super::identity_objects::ListObject;
use crate::auth::RequestAuth;
use crate::responses::json_list_response;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{RequestCheck, UserIdOrMe};
use crate::wire_error::ApiError;

/// Registers the route.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/emails/notification-preference/{user_id}")
        .get(read_notification_preferences)
        .register();
}

/// A category of e-mail and whether the user gets it:
/// `{notification_category_id, notification_category_name, enabled, can_disable}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NotificationPreference)]
pub(crate) struct NotificationPreferenceObject {
    notification_category_id: &'static str,
    notification_category_name: &'static str,
    enabled: bool,
    can_disable: bool,
}

/// Upstream's "Transactional" category (its id is upstream's): keygate's key notices.
const TRANSACTIONAL: NotificationPreferenceObject = NotificationPreferenceObject {
    notification_category_id: "7bb82d33-2f54-4a3d-9d23-82739e0d66ef",
    notification_category_name: "Transactional",
    enabled: true,
    can_disable: false,
};

/// `GET /api/v1/emails/notification-preference/{user_id}`.
async fn read_notification_preferences(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = check.params(|o| o.field::<UserIdOrMe>("user_id").required());
    let query = check.query(|_| ());
    let (user_id, ()) = check.finish((params, query))?;
    let user_id = user_id.0;
    state
        .service()
        .user_for_account_settings(
            auth.actor(),
            IdentityAction::ReadNotificationPreferences { user_id },
            user_id,
        )
        .await?;
    json_list_response(StatusCode::OK, &ListObject::new(vec![TRANSACTIONAL]))
}

#[cfg(test)]
mod tests;
