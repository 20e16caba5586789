//! A service protected by keygate, on axum: `GET /whoami` answers who the request's key acts as;
//! `GET /invoices` also requires the key to carry the `invoices:read` scope.
//!
//! ```sh
//! KEYGATE_URL=http://localhost:8102 KEYGATE_PROJECT_ID=… KEYGATE_SECRET_SERVER_KEY=… \
//!   cargo run -p keygate-client --example axum_service
//! curl -H "Authorization: Bearer sk_user_…" http://127.0.0.1:8081/whoami
//! ```
//!
//! `tests/axum_service.rs` runs this router against a real keygate.

use axum::routing::get;
use axum::{middleware, Extension, Json, Router};
use keygate_client::axum::require_key;
use keygate_client::{KeygateAuth, KeygateClient, VerifiedKey};
use serde_json::{json, Value};

async fn whoami(Extension(caller): Extension<VerifiedKey>) -> Json<Value> {
    Json(json!({"user_id": caller.user_id(), "scopes": caller.key.scopes}))
}

async fn invoices(Extension(caller): Extension<VerifiedKey>) -> Json<Value> {
    Json(json!({"owner": caller.user_id(), "invoices": []}))
}

/// The service's routes: every request needs a valid user key; `/invoices` one with
/// `invoices:read`.
pub fn router(keygate: KeygateClient) -> Router {
    let any_key = KeygateAuth::user_keys(keygate.clone());
    let invoice_readers = KeygateAuth::user_keys(keygate).require_scope("invoices:read");
    Router::new()
        .route(
            "/whoami",
            get(whoami).layer(middleware::from_fn_with_state(any_key, require_key)),
        )
        .route(
            "/invoices",
            get(invoices).layer(middleware::from_fn_with_state(invoice_readers, require_key)),
        )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let setting = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("set {name}"));
    let keygate = KeygateClient::builder(
        setting("KEYGATE_URL"),
        setting("KEYGATE_PROJECT_ID"),
        setting("KEYGATE_SECRET_SERVER_KEY"),
    )
    .build()
    .expect("a keygate client");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    axum::serve(listener, router(keygate)).await
}
