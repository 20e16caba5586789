//! The axum example (`examples/axum_service.rs`) against a real keygate: the same answers as the
//! actix-web one (`crate::auth` renders both).

mod support;

#[path = "../examples/axum_service.rs"]
#[allow(dead_code)] // its `main`
mod example;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use keygate_client::{KeygateClient, NewKey, Owner};
use serde_json::Value;
use support::Keygate;
use tower::ServiceExt;

/// Sends `GET path` (with `Authorization: Bearer key` when given) through the router.
async fn call(
    router: &axum::Router,
    path: &str,
    key: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::get(path);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    )
}

#[actix_web::test]
async fn the_axum_example_answers_like_the_actix_one() {
    let keygate = Keygate::start();
    let client = keygate.client();
    keygate.declare_scopes(&["invoices:read"]).await;
    let user = keygate.app.create_user(&keygate.project);
    let reader = client
        .create_key(
            Owner::User(user.id),
            NewKey {
                scopes: vec!["invoices:read".into()],
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
    let plain = client
        .create_key(Owner::User(user.id), NewKey::default())
        .await
        .unwrap();
    let router = example::router(client.clone());

    let (status, _, body) = call(&router, "/whoami", Some(reader.expose_secret())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user_id"], user.id.to_string());
    assert_eq!(
        call(&router, "/invoices", Some(reader.expose_secret()))
            .await
            .0,
        StatusCode::OK
    );

    let (status, headers, body) = call(&router, "/whoami", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"api\"");
    assert_eq!(body["error"], "invalid_request");
    let (status, headers, _) = call(&router, "/invoices", Some(plain.expose_secret())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"api\", error=\"insufficient_scope\", scope=\"invoices:read\""
    );
    client
        .revoke_key(Owner::User(user.id), reader.key.id)
        .await
        .unwrap();
    let (status, headers, _) = call(&router, "/whoami", Some(reader.expose_secret())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers["www-authenticate"],
        "Bearer realm=\"api\", error=\"invalid_token\""
    );

    let nowhere = KeygateClient::builder("http://127.0.0.1:9", "p", "ssk")
        .retries(0)
        .build()
        .unwrap();
    let (status, headers, _) = call(
        &example::router(nowhere),
        "/whoami",
        Some(plain.expose_secret()),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "1");
}
