//! Upstream's payment routes that its account settings page reads on every load, answered as
//! upstream answers them for a project without payments — keygate has none:
//!
//! * `GET /api/v1/payments/billing/{customer_type}/{customer_id}` (`user` or `team`):
//!   `{"has_customer": false, "default_payment_method": null}`;
//! * `GET /api/v1/payments/products/{customer_type}/{customer_id}?cursor=&limit=` (`user`,
//!   `team` or `custom`): no products, `{"items": [], "is_paginated": true, "pagination":
//!   {"next_cursor": null}}`; any cursor names no product (`Invalid cursor`).
//!
//! Access is upstream's: a client may ask about its own user, or a team where it holds
//! `team_admin`, never a custom customer (`keygate_permissions`). The products list checks
//! that the user or team exists, as upstream; billing does not. keygate requires user and team
//! customer ids to be UUIDs (upstream answers a malformed one as not found).

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use keygate_domain::{TeamId, UserId};
use keygate_permissions::{Customer, IdentityAction};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::RequestAuth;
use crate::responses::json_response;
use crate::route_table::Routes;
use crate::state::AppState;
use crate::validation::{FieldContext, FieldValue, Rejection, RequestCheck};
use crate::wire_error::{ApiError, PlainError};

/// The largest products page upstream accepts.
const MAX_PRODUCTS_LIMIT: i64 = 100;

/// Registers the payment routes.
pub fn configure(routes: &mut Routes<'_>) {
    routes
        .resource("/api/v1/payments/billing/{customer_type}/{customer_id}")
        .get(read_billing)
        .register();
    routes
        .resource("/api/v1/payments/products/{customer_type}/{customer_id}")
        .get(list_products)
        .register();
}

/// A customer's billing: `{has_customer, default_payment_method}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CustomerBilling)]
pub(crate) struct BillingObject {
    has_customer: bool,
    /// Always `null`: keygate keeps no payment methods.
    #[schema(value_type = Option<Object>)]
    default_payment_method: Option<Value>,
}

/// A page of a customer's products: always empty and the last page.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CustomerProductList)]
pub(crate) struct ProductListObject {
    /// Always empty: keygate sells nothing.
    #[schema(value_type = Vec<Object>)]
    items: [Value; 0],
    is_paginated: bool,
    pagination: ProductPagination,
}

/// `{next_cursor}` of a products page.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProductPagination {
    next_cursor: Option<String>,
}

/// `customer_type` of the payment routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CustomerType {
    User,
    Team,
    Custom,
}

impl FieldValue for CustomerType {
    const TYPE_NAME: &'static str = "string";
    fn placeholder() -> Self {
        CustomerType::User
    }
    fn from_json(value: &Value, context: &FieldContext) -> Result<Self, Rejection> {
        Self::from_text(value.as_str().ok_or(Rejection::NotType)?, context)
    }
    fn from_text(text: &str, _: &FieldContext) -> Result<Self, Rejection> {
        match text {
            "user" => Ok(CustomerType::User),
            "team" => Ok(CustomerType::Team),
            "custom" => Ok(CustomerType::Custom),
            _ => Err(Rejection::Invalid(
                "must be one of the following values: user, team, custom".to_owned(),
            )),
        }
    }
}

impl fmt::Display for CustomerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CustomerType::User => "user",
            CustomerType::Team => "team",
            CustomerType::Custom => "custom",
        })
    }
}

/// `customer_type` (one of `allowed`) and `customer_id` of the path.
fn customer_params(
    check: &mut RequestCheck,
    allowed: &'static [CustomerType],
) -> crate::validation::Pending<(CustomerType, String)> {
    check.params(|o| {
        (
            o.field::<CustomerType>("customer_type")
                .one_of(allowed)
                .required(),
            o.field::<String>("customer_id").required(),
        )
    })
}

/// The customer the path names; a user or team id must be a UUID.
fn customer(
    request: &HttpRequest,
    customer_type: CustomerType,
    customer_id: &str,
) -> Result<Customer, ApiError> {
    let not_uuid = || {
        ApiError::schema(format!(
            "Request validation failed on {} {}:\n  - params.customer_id must be a valid UUID",
            request.method(),
            request.path()
        ))
    };
    Ok(match customer_type {
        CustomerType::User => {
            Customer::User(customer_id.parse::<UserId>().map_err(|_| not_uuid())?)
        }
        CustomerType::Team => {
            Customer::Team(customer_id.parse::<TeamId>().map_err(|_| not_uuid())?)
        }
        CustomerType::Custom => Customer::Custom,
    })
}

/// `GET /api/v1/payments/billing/{customer_type}/{customer_id}`.
async fn read_billing(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    // Billing is for users and teams only.
    let params = customer_params(&mut check, &[CustomerType::User, CustomerType::Team]);
    let query = check.query(|_| ());
    let ((customer_type, customer_id), ()) = check.finish((params, query))?;
    let customer = customer(&request, customer_type, &customer_id)?;
    state
        .service()
        .authorize_payments_read(auth.actor(), IdentityAction::ReadBilling { customer })
        .await?;
    json_response(
        StatusCode::OK,
        &BillingObject {
            has_customer: false,
            default_payment_method: None,
        },
    )
}

/// `GET /api/v1/payments/products/{customer_type}/{customer_id}?cursor=&limit=`.
async fn list_products(
    request: HttpRequest,
    auth: RequestAuth,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut check = RequestCheck::new(&request).with_current_user(auth.session_user_id());
    let params = customer_params(
        &mut check,
        &[CustomerType::User, CustomerType::Team, CustomerType::Custom],
    );
    let query = check.query(|o| {
        let cursor = o.field::<String>("cursor").optional();
        let _: Option<i64> = o
            .field::<i64>("limit")
            .range(1, MAX_PRODUCTS_LIMIT)
            .optional();
        cursor
    });
    let ((customer_type, customer_id), cursor) = check.finish((params, query))?;
    let customer = customer(&request, customer_type, &customer_id)?;
    state
        .service()
        .authorize_payments_read(
            auth.actor(),
            IdentityAction::ListCustomerProducts { customer },
        )
        .await?;
    if cursor.is_some() {
        // A cursor is a product id, and the customer has none.
        return Err(PlainError::invalid_products_cursor().into());
    }
    json_response(
        StatusCode::OK,
        &ProductListObject {
            items: [],
            is_paginated: true,
            pagination: ProductPagination { next_cursor: None },
        },
    )
}

#[cfg(test)]
mod tests;
