//! The document against the registration, and the document and reference page over HTTP.

use std::collections::BTreeSet;

use actix_web::test::TestRequest;
use serde_json::Value;

use super::{document, document_json, DOCS_PATH, OPENAPI_PATH};
use crate::app::registered_routes;

/// `(METHOD, path)` of every operation the document names.
fn documented() -> BTreeSet<(String, String)> {
    let json: Value = serde_json::from_slice(document_json()).unwrap();
    let mut found = BTreeSet::new();
    for (path, item) in json["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            if [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .contains(&method.as_str())
            {
                found.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[test]
fn every_registered_route_is_documented_and_every_documented_route_is_registered() {
    let registered: BTreeSet<(String, String)> = registered_routes()
        .into_iter()
        .map(|route| (route.method.to_string(), route.path))
        .collect();
    assert!(registered.len() > 40, "the walk sees the registration");
    let documented = documented();
    let missing: Vec<_> = registered.difference(&documented).collect();
    let invented: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "registered but not documented: {missing:?}"
    );
    assert!(
        invented.is_empty(),
        "documented but not registered: {invented:?}"
    );
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let json: Value = serde_json::from_slice(document_json()).unwrap();
    assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
    let text = String::from_utf8(document_json().to_vec()).unwrap();
    let schemas = json["components"]["schemas"].as_object().unwrap();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(schemas.contains_key(name), "unresolved $ref {name}");
    }
    let schemes = json["components"]["securitySchemes"].as_object().unwrap();
    for name in [
        "accessType",
        "projectId",
        "secretServerKey",
        "operatorToken",
    ] {
        assert!(schemes.contains_key(name), "{name}");
    }
    // Operation ids are unique (clients generate method names from them).
    let mut ids = BTreeSet::new();
    for item in json["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            if let Some(id) = operation["operationId"].as_str() {
                assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            }
        }
    }
    assert_eq!(serde_json::to_vec(&document()).unwrap(), document_json());
}

crate::http_tests! {
    fn the_document_is_served_with_the_wire_conventions(app) {
        let response = app.send(TestRequest::get().uri(OPENAPI_PATH)).await;
        let json = response.assert_ok(200);
        assert!(json["paths"]["/api/v1/user-api-keys/check"]["post"].is_object());
        assert_eq!(
            response.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(response.header("cache-control"), Some("no-store, max-age=0"));
        assert!(response.header("x-stack-request-id").is_some());
        let wrong = app.send(TestRequest::post().uri(OPENAPI_PATH)).await;
        assert_eq!(wrong.status.as_u16(), 405);
    }

    fn the_reference_page_and_its_files_come_from_the_binary(app) {
        let redirect = app.send(TestRequest::get().uri("/api/v1/docs")).await;
        assert_eq!(redirect.status.as_u16(), 308);
        assert_eq!(redirect.header("location"), Some(DOCS_PATH));
        let page = app.send(TestRequest::get().uri(DOCS_PATH)).await;
        assert_eq!(page.status.as_u16(), 200);
        assert!(page.header("content-type").unwrap().starts_with("text/html"));
        assert!(page.header("content-security-policy").unwrap().contains("script-src 'self'"));
        let html = page.body.clone();
        assert!(html.contains("swagger-ui-bundle.js"), "{html}");
        assert!(!html.contains("https://"), "no CDN: {html}");
        for file in ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-initializer.js"] {
            let asset = app.send(TestRequest::get().uri(&format!("{DOCS_PATH}{file}"))).await;
            assert_eq!(asset.status.as_u16(), 200, "{file}");
            assert!(asset.body.len() > 10, "{file}");
        }
        let initializer = app
            .send(TestRequest::get().uri(&format!("{DOCS_PATH}swagger-initializer.js")))
            .await;
        let script = initializer.body.clone();
        assert!(script.contains(OPENAPI_PATH), "{script}");
        let missing = app.send(TestRequest::get().uri(&format!("{DOCS_PATH}nope.js"))).await;
        assert_eq!(missing.status.as_u16(), 404);
    }
}
