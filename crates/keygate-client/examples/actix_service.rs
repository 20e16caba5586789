//! A service protected by keygate, on actix-web: `GET /whoami` answers who the request's key
//! acts as; `GET /invoices` also requires the key to carry the `invoices:read` scope.
//!
//! ```sh
//! KEYGATE_URL=http://localhost:8102 KEYGATE_PROJECT_ID=… KEYGATE_SECRET_SERVER_KEY=… \
//!   cargo run -p keygate-client --example actix_service
//! curl -H "Authorization: Bearer sk_user_…" http://127.0.0.1:8080/whoami
//! ```
//!
//! Repeated keys are verified in-process (`verify_locally`); a key revoked through keygate is
//! refused within a second. `tests/actix_service.rs` runs these routes against a real keygate,
//! and keygate's end-to-end test `local_verification` runs them under load while it revokes.

use std::net::TcpListener;

use actix_web::{web, App, HttpServer, Responder};
use keygate_client::actix::ApiKeyOwner;
use keygate_client::{KeygateAuth, KeygateClient, LocalVerification};
use serde_json::json;

async fn whoami(caller: ApiKeyOwner) -> impl Responder {
    web::Json(json!({"user_id": caller.user_id(), "scopes": caller.key.scopes}))
}

async fn invoices(caller: ApiKeyOwner) -> impl Responder {
    web::Json(json!({"owner": caller.user_id(), "invoices": []}))
}

/// The service's routes: every request needs a valid user key; `/invoices` one with
/// `invoices:read`.
pub fn routes(keygate: KeygateClient) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    let any_key = web::Data::new(KeygateAuth::user_keys(keygate.clone()));
    let invoice_readers =
        web::Data::new(KeygateAuth::user_keys(keygate).require_scope("invoices:read"));
    move |config| {
        config
            .app_data(any_key)
            .route("/whoami", web::get().to(whoami))
            .service(
                web::resource("/invoices")
                    .app_data(invoice_readers)
                    .route(web::get().to(invoices)),
            );
    }
}

/// The service's server on `listener`, verifying keys with `keygate`.
pub fn server(
    keygate: KeygateClient,
    listener: TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(
        HttpServer::new(move || App::new().configure(routes(keygate.clone())))
            .listen(listener)?
            .run(),
    )
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let setting = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("set {name}"));
    let keygate = KeygateClient::builder(
        setting("KEYGATE_URL"),
        setting("KEYGATE_PROJECT_ID"),
        setting("KEYGATE_SECRET_SERVER_KEY"),
    )
    .verify_locally(LocalVerification::default())
    .build()
    .expect("a keygate client");
    server(keygate, TcpListener::bind("127.0.0.1:8080")?)?.await
}
