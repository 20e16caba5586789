//! The actix-web example (`examples/actix_service.rs`) against a real keygate: 401, 403 and 429
//! as a public API answers them, 503 when keygate cannot be reached.

mod support;

#[path = "../examples/actix_service.rs"]
#[allow(dead_code)] // its `main`
mod example;

use actix_web::http::StatusCode;
use actix_web::test::{call_service, init_service, read_body_json, TestRequest};
use actix_web::App;
use keygate_client::{KeygateClient, NewKey, Owner, RateLimit};
use serde_json::Value;
use support::Keygate;

/// `GET path` with `Authorization: Bearer key`.
fn with_key(path: &str, key: &str) -> TestRequest {
    TestRequest::get()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {key}")))
}

#[actix_web::test]
async fn the_example_service_answers_like_a_public_api() {
    let keygate = Keygate::start();
    let client = keygate.client();
    keygate.declare_scopes(&["invoices:read"]).await;
    let user = keygate.app.create_user(&keygate.project);
    let new_key = |scopes: &[&str], rate_limit: Option<RateLimit>| NewKey {
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        rate_limit,
        ..NewKey::default()
    };
    let reader = client
        .create_key(Owner::User(user.id), new_key(&["invoices:read"], None))
        .await
        .unwrap();
    let plain = client
        .create_key(
            Owner::User(user.id),
            new_key(&[], RateLimit::new(1, 60_000)),
        )
        .await
        .unwrap();
    let service = init_service(App::new().configure(example::routes(client.clone()))).await;
    // A valid key: the handler gets its owner.
    let response = call_service(
        &service,
        with_key("/whoami", reader.expose_secret()).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = read_body_json(response).await;
    assert_eq!(body["user_id"], user.id.to_string());
    let response = call_service(
        &service,
        with_key("/invoices", reader.expose_secret()).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    // No key; a key that is not one; a missing scope.
    let response = call_service(&service, TestRequest::get().uri("/whoami").to_request()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"api\""
    );
    let response = call_service(&service, with_key("/whoami", "sk_not_a_key").to_request()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"api\", error=\"invalid_token\""
    );
    let response = call_service(
        &service,
        with_key("/invoices", plain.expose_secret()).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"invoices:read\""
    );
    // Over its rate limit (1 a minute; the 403 above did not count).
    let response = call_service(
        &service,
        with_key("/whoami", plain.expose_secret()).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = call_service(
        &service,
        with_key("/whoami", plain.expose_secret()).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = read_body_json(response).await;
    assert_eq!(body["error"], "rate_limited");

    // A revoked key.
    client
        .revoke_key(Owner::User(user.id), reader.key.id)
        .await
        .unwrap();
    let response = call_service(
        &service,
        with_key("/whoami", reader.expose_secret()).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // keygate unreachable: 503, never a 401 that would log users out.
    let nowhere = KeygateClient::builder("http://127.0.0.1:9", "p", "ssk")
        .retries(0)
        .build()
        .unwrap();
    let offline = init_service(App::new().configure(example::routes(nowhere))).await;
    let response = call_service(
        &offline,
        with_key("/whoami", plain.expose_secret()).to_request(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get("retry-after").unwrap(), "1");
}
