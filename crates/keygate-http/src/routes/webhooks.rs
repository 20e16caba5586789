//! A project's webhook endpoints and their delivery logs (keygate's own routes; the events and
//! their signing are `keygate_service::webhooks`, the sending `keygate_service::delivery`).
//!
//! **Callers** are those of the project's credential routes (`super::projects`): admin access
//! to the project, or the operator token with `x-stack-project-id`.
//!
//! | method and path | body / query | answer |
//! |---|---|---|
//! | `POST /api/v1/internal/webhooks` | `{url, description?, event_types?}` | 200 the endpoint with its `secret` (`whsec_…`), shown only here |
//! | `GET /api/v1/internal/webhooks` | — | 200 `{items, is_paginated: false}`, oldest first |
//! | `GET /api/v1/internal/webhooks/{webhook_id}` | — | 200 the endpoint |
//! | `PATCH /api/v1/internal/webhooks/{webhook_id}` | `{url?, description?, event_types?, disabled?}` | 200 the endpoint |
//! | `DELETE /api/v1/internal/webhooks/{webhook_id}` | — | 200 `{"success": true}`; its deliveries go with it |
//! | `GET /api/v1/internal/webhooks/{webhook_id}/deliveries` | `limit?`, `cursor?` | 200 a page of the delivery log, newest first |
//!
//! `url` is an `http(s)` URL of at most 2048 characters; `event_types` a list of the event
//! types (`user_api_key.created`, …; empty or left out: all).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_service::records::{DeliveryPosition, WebhookDeliveryRecord, WebhookEndpointRecord};
use keygate_service::webhooks::{NewWebhook, WebhookChanges, EVENT_TYPES};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::projects::managed_project;
use crate::page_cursor;
use crate::request_body::RequestBody;
use crate::responses::{json_list_response, json_response};
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{FieldContext, FieldValue, Pending, Rejection, RequestCheck};
use crate::wire_error::ApiError;

/// The routes' base path.
pub const PATH: &str = "/api/v1/internal/webhooks";

/// The longest endpoint URL.
const MAX_URL_CHARS: usize = 2048;

/// One endpoint's path.
pub const ITEM_PATH: &str = "/api/v1/internal/webhooks/{webhook_id}";

/// One endpoint's delivery log.
pub const DELIVERIES_PATH: &str = "/api/v1/internal/webhooks/{webhook_id}/deliveries";

/// Registers the routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes.resource(PATH).post(create).get(list).register();
    routes
        .resource(ITEM_PATH)
        .get(read)
        .patch(update)
        .delete(delete)
        .register();
    routes.resource(DELIVERIES_PATH).get(deliveries).register();
}

/// An endpoint URL: `http://` or `https://` with a host, at most [`MAX_URL_CHARS`].
#[derive(Debug, Clone)]
struct EndpointUrl(String);

impl FieldValue for EndpointUrl {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        EndpointUrl(String::new())
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        Self::from_text(value.as_str().ok_or(Rejection::NotType)?, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        let after_scheme = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"));
        let has_host = after_scheme.is_some_and(|rest| {
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            !host.is_empty() && !host.contains(char::is_whitespace)
        });
        if !has_host || text.chars().count() > MAX_URL_CHARS || text.contains(char::is_control) {
            return Err(Rejection::Invalid(format!(
                "must be a URL starting with http:// or https:// (at most {MAX_URL_CHARS} characters)"
            )));
        }
        Ok(EndpointUrl(text.to_owned()))
    }
}

/// The event types an endpoint subscribes to: distinct names of [`EVENT_TYPES`].
#[derive(Debug, Clone, Default)]
struct EventTypes(Vec<String>);

impl FieldValue for EventTypes {
    const TYPE_NAME: &'static str = "array";
    fn placeholder() -> Self {
        EventTypes::default()
    }
    fn from_json(value: &Value, _: &FieldContext) -> Result<Self, Rejection> {
        let items = value.as_array().ok_or(Rejection::NotType)?;
        let mut types: Vec<String> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let name = item
                .as_str()
                .filter(|name| EVENT_TYPES.contains(name))
                .ok_or_else(|| {
                    Rejection::Invalid(format!(
                        "[{index}] must be one of the following values: {}",
                        EVENT_TYPES.join(", ")
                    ))
                })?;
            if !types.iter().any(|known| known == name) {
                types.push(name.to_owned());
            }
        }
        Ok(EventTypes(types))
    }
    fn from_text(_: &str, _: &FieldContext) -> Result<Self, Rejection> {
        Err(Rejection::NotType)
    }
}

/// An endpoint on the wire (its secret only in the create answer).
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = WebhookEndpoint,
    description = "A webhook endpoint of the project. `secret` (`whsec_…`, Standard Webhooks) only in the create answer; `event_types` empty means every event."
)]
pub(crate) struct EndpointObject<'a> {
    #[schema(value_type = String, format = Uuid)]
    id: String,
    url: &'a str,
    description: &'a str,
    event_types: &'a [String],
    disabled: bool,
    created_at_millis: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl<'a> EndpointObject<'a> {
    fn new(endpoint: &'a WebhookEndpointRecord, secret: Option<String>) -> Self {
        EndpointObject {
            id: endpoint.id.to_string(),
            url: &endpoint.url,
            description: &endpoint.description,
            event_types: &endpoint.event_types,
            disabled: endpoint.disabled,
            created_at_millis: endpoint.created_at_millis,
            secret,
        }
    }
}

/// The endpoints of a project.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpointList)]
pub(crate) struct EndpointList<'a> {
    items: Vec<EndpointObject<'a>>,
    is_paginated: bool,
}

/// A delivery on the wire.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = WebhookDelivery,
    description = "One event for one endpoint: its attempts and their outcome. `id` is the `webhook-id` of every attempt; `payload` is the body sent."
)]
pub(crate) struct DeliveryObject<'a> {
    id: &'a str,
    event_type: &'a str,
    created_at_millis: i64,
    attempts: u32,
    next_attempt_at_millis: Option<i64>,
    delivered_at_millis: Option<i64>,
    failed_at_millis: Option<i64>,
    last_status: Option<u16>,
    last_error: Option<&'a str>,
    #[schema(value_type = Object)]
    payload: Value,
}

/// A page of an endpoint's deliveries.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDeliveryList)]
pub(crate) struct DeliveryList<'a> {
    items: Vec<DeliveryObject<'a>>,
    is_paginated: bool,
    pagination: DeliveryPagination,
}

/// Where the next page starts; `null` on the last page.
#[derive(Debug, Serialize, ToSchema)]
struct DeliveryPagination {
    next_cursor: Option<String>,
}

impl<'a> DeliveryObject<'a> {
    fn new(delivery: &'a WebhookDeliveryRecord) -> Self {
        let done = delivery.delivered_at_millis.is_some() || delivery.failed_at_millis.is_some();
        DeliveryObject {
            id: &delivery.id,
            event_type: &delivery.event_type,
            created_at_millis: delivery.created_at_millis,
            attempts: delivery.attempts,
            next_attempt_at_millis: (!done).then_some(delivery.next_attempt_at_millis),
            delivered_at_millis: delivery.delivered_at_millis,
            failed_at_millis: delivery.failed_at_millis,
            last_status: delivery.last_status,
            last_error: delivery.last_error.as_deref(),
            payload: serde_json::from_str(&delivery.payload).unwrap_or(Value::Null),
        }
    }
}

/// A delivery-log cursor (`crate::page_cursor`): the position of the last delivery listed.
#[derive(Debug, Clone)]
struct DeliveryCursor(DeliveryPosition);

impl DeliveryCursor {
    fn encode(position: &DeliveryPosition) -> String {
        page_cursor::encode(position.created_at_millis, &position.id)
    }
}

impl FieldValue for DeliveryCursor {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        DeliveryCursor(DeliveryPosition {
            created_at_millis: 0,
            id: String::new(),
        })
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        Self::from_text(value.as_str().ok_or(Rejection::NotType)?, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        let (created_at_millis, id) = page_cursor::decode(text)?;
        Ok(DeliveryCursor(DeliveryPosition {
            created_at_millis,
            id,
        }))
    }
}

/// Reads the `webhook_id` path parameter and refuses any query parameter.
fn read_webhook_id(check: &mut RequestCheck) -> (Pending<Uuid>, Pending<()>) {
    check.id_alone("webhook_id")
}

/// `POST /api/v1/internal/webhooks`.
async fn create(
    request: HttpRequest,
    body: RequestBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let body = check.body(&body, |o| {
        let max_description_chars = o.limits().max_description_chars;
        NewWebhook {
            url: o.field::<EndpointUrl>("url").required().0,
            description: o
                .field::<String>("description")
                .max_chars(max_description_chars)
                .optional()
                .unwrap_or_default(),
            event_types: o
                .field::<EventTypes>("event_types")
                .optional()
                .unwrap_or_default()
                .0,
        }
    });
    let query = check.query(|_| ());
    let (new, ()) = check.finish((body, query))?;
    let (endpoint, secret) = state
        .service()
        .create_webhook(project.id, new, project.manager)
        .await?;
    json_response(
        StatusCode::OK,
        &EndpointObject::new(&endpoint, Some(secret)),
    )
}

/// `GET /api/v1/internal/webhooks`.
async fn list(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let query = check.query(|_| ());
    check.finish(query)?;
    let endpoints = state.service().list_webhooks(project.id).await?;
    let list = EndpointList {
        items: endpoints
            .iter()
            .map(|endpoint| EndpointObject::new(endpoint, None))
            .collect(),
        is_paginated: false,
    };
    json_response(StatusCode::OK, &list)
}

/// `GET /api/v1/internal/webhooks/{webhook_id}`.
async fn read(request: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let pending = read_webhook_id(&mut check);
    let (id, ()) = check.finish(pending)?;
    let endpoint = state.service().webhook(project.id, id).await?;
    json_response(StatusCode::OK, &EndpointObject::new(&endpoint, None))
}

/// `PATCH /api/v1/internal/webhooks/{webhook_id}`.
async fn update(
    request: HttpRequest,
    body: RequestBody,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let changes = check.body(&body, |o| {
        let max_description_chars = o.limits().max_description_chars;
        WebhookChanges {
            url: o.field::<EndpointUrl>("url").optional().map(|url| url.0),
            description: o
                .field::<String>("description")
                .max_chars(max_description_chars)
                .optional(),
            event_types: o
                .field::<EventTypes>("event_types")
                .optional()
                .map(|types| types.0),
            disabled: o.field::<bool>("disabled").optional(),
        }
    });
    let (id, query) = read_webhook_id(&mut check);
    let (changes, id, ()) = check.finish((changes, id, query))?;
    let endpoint = state
        .service()
        .update_webhook(project.id, id, changes, project.manager)
        .await?;
    json_response(StatusCode::OK, &EndpointObject::new(&endpoint, None))
}

/// `DELETE /api/v1/internal/webhooks/{webhook_id}`.
async fn delete(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let pending = read_webhook_id(&mut check);
    let (id, ()) = check.finish(pending)?;
    state
        .service()
        .delete_webhook(project.id, id, project.manager)
        .await?;
    json_response(StatusCode::OK, &json!({"success": true}))
}

/// `GET /api/v1/internal/webhooks/{webhook_id}/deliveries`.
async fn deliveries(
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let project = managed_project(&request, &state).await?;
    let mut check = RequestCheck::new(&request);
    let id = check.params(|o| o.field::<Uuid>("webhook_id").required());
    let query = check.query(|o| {
        let limit = page_cursor::read_page_size(o);
        let cursor = o.field::<DeliveryCursor>("cursor").optional();
        (limit, cursor)
    });
    let (id, (limit, cursor)) = check.finish((id, query))?;
    let page = state
        .service()
        .list_webhook_deliveries(project.id, id, limit, cursor.map(|cursor| cursor.0))
        .await?;
    let list = DeliveryList {
        items: page.deliveries.iter().map(DeliveryObject::new).collect(),
        is_paginated: true,
        pagination: DeliveryPagination {
            next_cursor: page.next.as_ref().map(DeliveryCursor::encode),
        },
    };
    json_list_response(StatusCode::OK, &list)
}

#[cfg(test)]
mod tests;
