//! No input a client can send gets a 5xx (A1): a table of hostile bodies, paths, queries and
//! field values on every endpoint, then random values drawn from proptest strategies.

use actix_web::http::Method;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};

use super::*;
use crate::testing::TestResponse;

/// Asserts the response is not a server error, and that a known error is a 4xx.
#[track_caller]
fn assert_no_server_error(response: &TestResponse, what: &str) {
    assert!(
        !response.status.is_server_error(),
        "{what}: {} {}",
        response.status,
        response.body
    );
    if response.known_error().is_some() {
        assert!(
            response.status.is_client_error(),
            "{what}: {}",
            response.status
        );
    }
}

/// Every endpoint: method and path (with a valid owner query where one is needed).
fn endpoints(user: UserId, team: TeamId, user_key: &str, team_key: &str) -> Vec<(Method, String)> {
    vec![
        (Method::POST, "/api/v1/user-api-keys".to_owned()),
        (Method::GET, format!("/api/v1/user-api-keys?user_id={user}")),
        (Method::GET, format!("/api/v1/user-api-keys/{user_key}")),
        (Method::PATCH, format!("/api/v1/user-api-keys/{user_key}")),
        (Method::POST, "/api/v1/user-api-keys/check".to_owned()),
        (Method::POST, "/api/v1/team-api-keys".to_owned()),
        (Method::GET, format!("/api/v1/team-api-keys?team_id={team}")),
        (
            Method::GET,
            format!("/api/v1/team-api-keys/{team_key}?team_id={team}"),
        ),
        (
            Method::PATCH,
            format!("/api/v1/team-api-keys/{team_key}?team_id={team}"),
        ),
        (Method::POST, "/api/v1/team-api-keys/check".to_owned()),
        (
            Method::POST,
            "/api/v1/integrations/credential-scanning/revoke".to_owned(),
        ),
    ]
}

fn raw(method: &Method, uri: &str, content_type: &str, payload: Vec<u8>) -> TestRequest {
    TestRequest::default()
        .method(method.clone())
        .uri(uri)
        .insert_header(("content-type", content_type))
        .set_payload(payload)
}

crate::http_tests! {
    fn hostile_bodies_paths_and_queries_get_no_server_error(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let user_key = key_id(&server_user_key(app, &project, user.id, "u").await);
        let team_key = key_id(&server_team_key(app, &project, team, "t").await);

        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let payloads: Vec<(&str, Vec<u8>)> = vec![
            ("application/json", b"null".to_vec()),
            ("application/json", b"[]".to_vec()),
            ("application/json", b"123".to_vec()),
            ("application/json", b"\"sk_\"".to_vec()),
            ("application/json", b"{".to_vec()),
            ("application/json", b"1e999".to_vec()),
            ("application/json", deep.into_bytes()),
            ("application/json", vec![0xff, 0xfe, b'{', b'}']),
            ("application/json", br#"{"api_key": "\u0000", "description": "\u0000", "user_id": "\u0000"}"#.to_vec()),
            ("application/json; charset=utf-16", b"{}".to_vec()),
            ("text/plain", b"api_key=sk_".to_vec()),
            ("application/x-www-form-urlencoded", b"user_id=me&description=x&expires_at_millis=5&api_key=%00".to_vec()),
            ("application/x-www-form-urlencoded", b"team_id=%zz&revoked=true&description=%00".to_vec()),
            ("application/octet-stream", vec![0, 1, 2, 3]),
            ("multipart/form-data; boundary=x", b"--x--".to_vec()),
            ("", b"{}".to_vec()),
        ];
        for (method, uri) in endpoints(user.id, team, &user_key, &team_key) {
            for (content_type, payload) in &payloads {
                for signed_in in [false, true] {
                    let request = project.server(raw(&method, &uri, content_type, payload.clone()));
                    let request = if signed_in { user.signed_in(request) } else { request };
                    let response = app.send(request).await;
                    assert_no_server_error(&response, &format!("{method} {uri} {content_type}"));
                }
            }
        }

        let hostile_ids = [
            "%00", "..%2F..%2Fetc", "%20", "00000000-0000-0000-0000-000000000000",
            "3241A285-8329-4D69-8F3D-316E08CF140C", "%27%3BDROP%20TABLE%20api_keys%3B--", "%E2%82%AC",
        ];
        let long_id = "a".repeat(10_000);
        for id in hostile_ids.iter().copied().chain([long_id.as_str()]) {
            for path in [format!("/api/v1/user-api-keys/{id}"), format!("/api/v1/team-api-keys/{id}?team_id={team}")] {
                for method in [Method::GET, Method::PATCH, Method::DELETE, Method::POST] {
                    let request = project.server(raw(&method, &path, "application/json", b"{\"revoked\":true}".to_vec()));
                    assert_no_server_error(&app.send(request).await, &format!("{method} {path}"));
                }
            }
        }
        let queries = [
            "user_id=%00", "user_id=me&user_id=me", "user_id=", "team_id=", "team_id%5B%5D=x", "%ff=1",
            "user_id=%E2%82%AC", "team_id=00000000-0000-0000-0000-000000000000", "user_id=me&team_id=x",
        ];
        for query in queries {
            for base in ["/api/v1/user-api-keys", "/api/v1/team-api-keys"] {
                let uri = format!("{base}?{query}");
                assert_no_server_error(&app.send(project.server(get(&uri))).await, &uri);
                assert_no_server_error(&app.send(user.signed_in(project.client(get(&uri)))).await, &uri);
            }
        }
        let headers = [
            ("x-stack-project-id", "';DROP TABLE projects;--"),
            ("x-stack-access-type", "root"),
            ("x-stack-access-token", "not.a.token"),
            ("x-stack-secret-server-key", ""),
        ];
        for (name, value) in headers {
            let request = project
                .server(post_json("/api/v1/user-api-keys/check", json!({"api_key": "sk_"})))
                .insert_header((name, value));
            assert_no_server_error(&app.send(request).await, name);
        }
    }

    fn hostile_field_values_get_no_server_error(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let team = app.create_team(&project, &[(&user, &["team_admin"])]);
        let values = [
            json!(null), json!(true), json!(0), json!(-0.0), json!(1e308), json!(-1e308),
            json!(9_007_199_254_740_993_i64), json!(-9_007_199_254_740_993_i64), json!(i64::MIN),
            json!(u64::MAX), json!(""), json!("\u{0}"), json!("me"), json!("ME"), json!("🔑".repeat(1_000)),
            json!("00000000-0000-0000-0000-000000000000"), json!([]), json!({}), json!({"$ne": 1}),
            json!("x".repeat(1_000_000)),
        ];
        for (index, value) in values.iter().enumerate() {
            let bodies = [
                ("/api/v1/user-api-keys", json!({"user_id": value, "description": "x", "expires_at_millis": null})),
                ("/api/v1/user-api-keys", json!({"user_id": "me", "description": value, "expires_at_millis": null})),
                ("/api/v1/user-api-keys", json!({"user_id": "me", "description": "x", "expires_at_millis": value})),
                ("/api/v1/user-api-keys", json!({"user_id": "me", "description": "x", "expires_at_millis": null, "is_public": value})),
                ("/api/v1/team-api-keys", json!({"team_id": value, "description": "x", "expires_at_millis": null})),
                ("/api/v1/team-api-keys", json!({"team_id": team.to_string(), "description": value, "expires_at_millis": value})),
                ("/api/v1/user-api-keys/check", json!({"api_key": value})),
                ("/api/v1/team-api-keys/check", json!({"api_key": value})),
                ("/api/v1/integrations/credential-scanning/revoke", json!({"api_key": value})),
            ];
            for (field, (uri, body)) in bodies.into_iter().enumerate() {
                for request in [
                    user.signed_in(project.server(post_json(uri, body.clone()))),
                    user.signed_in(project.client(post_json(uri, body))),
                ] {
                    assert_no_server_error(&app.send(request).await, &format!("{uri}: value {index}, body {field}"));
                }
            }
            let key = server_user_key(app, &project, user.id, "patched").await;
            let uri = format!("/api/v1/user-api-keys/{}", key_id(&key));
            for (field, body) in [json!({"description": value}), json!({"revoked": value}), json!({"description": value, "revoked": true})]
                .into_iter()
                .enumerate()
            {
                assert_no_server_error(&app.send(project.server(patch_json(&uri, body))).await, &format!("PATCH: value {index}, body {field}"));
            }
        }

        // NUL cannot be stored by Postgres: both backends refuse it the same way.
        let response = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": "a\u{0}b", "expires_at_millis": null}),
            )))
            .await;
        response.assert_known_error(400, "SCHEMA_ERROR");
        assert_eq!(
            response.json()["error"],
            "Request validation failed on POST /api/v1/user-api-keys:\n  - body.description must not contain NUL characters"
        );
        // Everything else in a description is kept as given.
        let fancy = "emoji 🔑, quotes \"'`, <b>html</b>, newline\nand tab\t, \u{202e}rtl";
        let created = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": user.id.to_string(), "description": fancy, "expires_at_millis": -9_007_199_254_740_991_i64}),
            )))
            .await
            .assert_ok(200);
        assert_eq!(created["description"], fancy);
        let read = app
            .send(project.server(get(&format!("/api/v1/user-api-keys/{}", key_id(&created)))))
            .await
            .assert_ok(200);
        assert_eq!(read["description"], fancy);
        assert_eq!(read["expires_at_millis"], -9_007_199_254_740_991_i64);
    }

    fn random_inputs_get_no_server_error(app) {
        let project = app.create_open_project();
        let user = app.create_user(&project);
        let key = server_user_key(app, &project, user.id, "target").await;
        let item = format!("/api/v1/user-api-keys/{}", key_id(&key));
        let real = key_value(&key);

        let mut runner = TestRunner::deterministic();
        let text = any::<String>();
        let key_like = proptest::string::string_regex("(sk|pk|xx)_[a-zA-Z0-9_]{90,102}").unwrap();
        let bytes = proptest::collection::vec(any::<u8>(), 0..300);
        let number = any::<f64>();
        for round in 0..48 {
            let sample_text = text.new_tree(&mut runner).unwrap().current();
            let sample_key = key_like.new_tree(&mut runner).unwrap().current();
            let sample_bytes = bytes.new_tree(&mut runner).unwrap().current();
            let sample_number = number.new_tree(&mut runner).unwrap().current();
            // A real key with one character changed at a random place.
            let mut mutated: Vec<char> = real.chars().collect();
            let position = round * 7 % mutated.len();
            mutated[position] = sample_text.chars().next().unwrap_or('x');
            let mutated: String = mutated.into_iter().collect();

            let expires: Value = serde_json::Number::from_f64(sample_number).map_or(Value::Null, Value::Number);
            let requests = [
                check_request(&project, "user", &sample_text),
                check_request(&project, "user", &sample_key),
                check_request(&project, "team", &mutated),
                post_json("/api/v1/integrations/credential-scanning/revoke", json!({"api_key": sample_key})),
                project.server(post_json(
                    "/api/v1/user-api-keys",
                    json!({"user_id": user.id.to_string(), "description": sample_text, "expires_at_millis": expires}),
                )),
                project.server(patch_json(&item, json!({"description": sample_text}))),
                project.server(raw(&Method::POST, "/api/v1/user-api-keys/check", "application/json", sample_bytes.clone())),
                project.server(raw(&Method::PATCH, &item, "application/x-www-form-urlencoded", sample_bytes)),
                user.signed_in(project.client(get(&format!(
                    "/api/v1/user-api-keys?user_id={}",
                    url_escape(&sample_text)
                )))),
            ];
            for request in requests {
                assert_no_server_error(&app.send(request).await, &format!("round {round}"));
            }
        }
        // The key itself survived every attempt.
        app.send(check_request(&project, "user", &real)).await.assert_ok(200);
    }
}

/// Percent-encodes every byte that is not unreserved in a URL.
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
