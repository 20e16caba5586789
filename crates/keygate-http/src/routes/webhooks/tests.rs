//! Webhook endpoints over HTTP, and delivery end to end against real peers: a real SMTP server
//! receives the leaked-key notice, a real HTTP receiver that fails and then recovers gets each
//! event once, signed as Standard Webhooks. Each on SQLite and Postgres.

use std::time::Duration;

use actix_web::test::TestRequest;
use base64::Engine;
use hmac::{Hmac, Mac};
use keygate_domain::ProjectSwitches;
use keygate_service::delivery::{Deliverer, DeliveryReport, DeliverySettings};
use keygate_service::Service;
use keygate_storage::repo::notification_outbox;
use keygate_storage::repo::users::{self, UserUpdate};
use serde_json::{json, Value};
use sha2::Sha256;

use super::PATH;
use crate::routes::test_requests::assert_schema_error;
use crate::testing::delivery::{MailServer, WebhookReceiver};
use crate::testing::{TestApp, TestProject, TestUser, TEST_OPERATOR_TOKEN};

fn post_json(uri: &str, body: Value) -> TestRequest {
    TestRequest::post().uri(uri).set_json(body)
}

fn set_email(app: &TestApp, project: &TestProject, user: &TestUser, email: &str) {
    let update = UserUpdate {
        primary_email: Some(Some(email.to_owned())),
        ..UserUpdate::default()
    };
    users::update(&mut app.database().conn(), project.id(), user.id, &update).unwrap();
}

/// Delivery settings against `smtp_url`, retrying after 50 ms.
fn settings(smtp_url: Option<String>) -> DeliverySettings {
    DeliverySettings {
        smtp_url,
        from: "keygate <keygate@example.com>".to_owned(),
        max_attempts: 5,
        retry_base: Duration::from_millis(50),
        send_timeout: Duration::from_secs(5),
        expiry_warning: None,
        batch: 100,
    }
}

/// Runs delivery passes on a thread of their own (the clients block), the app's clock moving
/// 100 ms between passes, until `done` says so or five seconds pass; returns the passes' summed
/// report.
fn deliver_until(
    app: &TestApp,
    settings: DeliverySettings,
    done: impl Fn(&DeliveryReport) -> bool + Send + 'static,
) -> DeliveryReport {
    let service: Service = app.service().clone();
    let clock = app.shared_clock();
    std::thread::spawn(move || {
        let deliverer = Deliverer::new(settings).expect("usable settings");
        let mut total = DeliveryReport::default();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !done(&total) && std::time::Instant::now() < deadline {
            let report = service.deliver_due(&deliverer).expect("a delivery pass");
            total.emails_sent += report.emails_sent;
            total.email_failures += report.email_failures;
            total.emails_abandoned += report.emails_abandoned;
            total.webhooks_delivered += report.webhooks_delivered;
            total.webhook_failures += report.webhook_failures;
            clock.fetch_add(100, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
        }
        total
    })
    .join()
    .expect("the delivery thread")
}

/// Standard Webhooks' check of one request, done as a receiver would.
fn signature_is_valid(secret: &str, id: &str, timestamp: &str, body: &str, header: &str) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    header
        .split(' ')
        .any(|part| part == format!("v1,{expected}"))
}

crate::http_tests! {
    fn a_leaked_key_is_mailed_and_each_event_reaches_a_recovering_receiver_once(app) {
        let project = app.create_open_project();
        let owner = app.create_user(&project);
        set_email(app, &project, &owner, "owner@example.com");
        let mail = MailServer::start();
        let receiver = WebhookReceiver::start(2);
        let endpoint = app
            .send(project.admin(post_json(PATH, json!({
                "url": receiver.url("/hooks?token=abc"),
                "description": "ops",
                "event_types": ["user_api_key.created", "user_api_key.leaked"],
            }))))
            .await
            .assert_ok(200);
        let secret = endpoint["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));

        let key = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": owner.id.to_string(), "description": "ci", "expires_at_millis": null}),
            )))
            .await
            .assert_ok(200);
        app.send(post_json("/api/v1/integrations/credential-scanning/revoke", json!({"api_key": key["value"]})))
            .await
            .assert_ok(200);

        let report = deliver_until(app, settings(Some(mail.url())), |r| {
            r.emails_sent >= 1 && r.webhooks_delivered >= 2
        });
        assert_eq!((report.emails_sent, report.webhooks_delivered, report.webhook_failures), (1, 2, 2));
        // Nothing is delivered twice, however many passes follow.
        let again = deliver_until(app, settings(Some(mail.url())), |_| false);
        assert_eq!(again, DeliveryReport::default());

        let inbox = mail.inbox();
        assert_eq!(inbox.len(), 1);
        assert_eq!(inbox[0].to, ["owner@example.com"]);
        assert_eq!(inbox[0].from, "keygate@example.com");
        assert!(inbox[0].data.contains("Subject: API Key Revoked: ci"), "{}", inbox[0].data);
        assert!(inbox[0].data.contains("found in a public repository"));
        let notice = notification_outbox::delivery_of(
            &mut app.database().conn(),
            &format!("api-key-revoked/{}/owner@example.com", key["id"].as_str().unwrap()),
        )
        .unwrap()
        .unwrap();
        assert!(notice.sent_at_millis.is_some());
        assert_eq!(notice.attempts, 1);

        // Two failures, then each event accepted exactly once, signed.
        let requests = receiver.requests();
        assert_eq!(requests.len(), 4, "{requests:?}");
        let accepted = receiver.accepted();
        let mut ids: Vec<&str> = accepted.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 2, "each event once");
        for request in &requests {
            assert!(signature_is_valid(&secret, &request.id, &request.timestamp, &request.body, &request.signature));
        }
        let bodies: Vec<Value> = accepted.iter().map(|r| serde_json::from_str(&r.body).unwrap()).collect();
        let types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert!(types.contains(&"user_api_key.created") && types.contains(&"user_api_key.leaked"), "{types:?}");
        let leaked = bodies.iter().find(|b| b["type"] == "user_api_key.leaked").unwrap();
        assert_eq!(leaked["data"]["id"], key["id"]);
        assert_eq!(leaked["data"]["user_id"], owner.id.to_string());
        assert_eq!(leaked["data"]["reason"], "leaked");
        assert!(!accepted.iter().any(|r| r.body.contains(key["value"].as_str().unwrap())), "never the key");

        // The delivery log shows the attempts.
        let id = endpoint["id"].as_str().unwrap();
        let log = app.send(project.admin(TestRequest::get().uri(&format!("{PATH}/{id}/deliveries")))).await.assert_ok(200);
        let items = log["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        for item in items {
            assert_eq!((item["attempts"].as_u64(), item["last_status"].as_u64()), (Some(2), Some(204)));
            assert!(item["delivered_at_millis"].is_i64());
            assert_eq!(item["next_attempt_at_millis"], Value::Null);
        }
        assert_eq!(app.service().metrics().deliveries.webhook_failures(), 2);
    }

    fn a_mail_server_that_is_down_is_retried_and_the_error_kept(app) {
        let project = app.create_open_project();
        let owner = app.create_user(&project);
        set_email(app, &project, &owner, "owner@example.com");
        let key = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": owner.id.to_string(), "description": "ci", "expires_at_millis": null}),
            )))
            .await
            .assert_ok(200);
        app.send(post_json("/api/v1/integrations/credential-scanning/revoke", json!({"api_key": key["value"]})))
            .await
            .assert_ok(200);
        // Nothing listens on this port.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let down = deliver_until(app, settings(Some(format!("smtp://127.0.0.1:{closed}"))), |r| r.email_failures >= 1);
        assert_eq!((down.emails_sent, down.email_failures), (0, 1));
        let dedupe = format!("api-key-revoked/{}/owner@example.com", key["id"].as_str().unwrap());
        let state = notification_outbox::delivery_of(&mut app.database().conn(), &dedupe).unwrap().unwrap();
        assert_eq!((state.attempts, state.sent_at_millis, state.failed_at_millis), (1, None, None));
        assert!(state.last_error.is_some());

        let mail = MailServer::start();
        let up = deliver_until(app, settings(Some(mail.url())), |r| r.emails_sent >= 1);
        assert_eq!(up.emails_sent, 1);
        assert_eq!(mail.inbox().len(), 1);
        let state = notification_outbox::delivery_of(&mut app.database().conn(), &dedupe).unwrap().unwrap();
        assert_eq!(state.attempts, 2);
        assert!(state.sent_at_millis.is_some());
    }

    fn keys_about_to_expire_warn_their_owners_once(app) {
        let project = app.create_open_project();
        let owner = app.create_user(&project);
        set_email(app, &project, &owner, "owner@example.com");
        let receiver = WebhookReceiver::start(0);
        app.send(project.admin(post_json(PATH, json!({"url": receiver.url("/"), "event_types": ["user_api_key.expiring"]}))))
            .await
            .assert_ok(200);
        let day = 24 * 60 * 60 * 1000;
        let soon = app
            .send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": owner.id.to_string(), "description": "soon", "expires_at_millis": app.now() + day}),
            )))
            .await
            .assert_ok(200);
        for later in [app.now() + 30 * day, app.now() - 1] {
            app.send(project.server(post_json(
                "/api/v1/user-api-keys",
                json!({"user_id": owner.id.to_string(), "description": "other", "expires_at_millis": later}),
            )))
            .await
            .assert_ok(200);
        }
        let service = app.service().clone();
        let seen = std::thread::spawn(move || {
            let week = Duration::from_secs(7 * 24 * 60 * 60);
            (service.queue_expiry_warnings(week).unwrap(), service.queue_expiry_warnings(week).unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(seen, (1, 1), "only the key expiring within the week is in the window");

        let mail = MailServer::start();
        let report = deliver_until(app, settings(Some(mail.url())), |r| r.emails_sent >= 1 && r.webhooks_delivered >= 1);
        assert_eq!((report.emails_sent, report.webhooks_delivered), (1, 1), "once, though scanned twice");
        assert!(mail.inbox()[0].data.contains("Subject: API Key Expiring: soon"));
        let event: Value = serde_json::from_str(&receiver.accepted()[0].body).unwrap();
        assert_eq!(event["type"], "user_api_key.expiring");
        assert_eq!(event["data"]["id"], soon["id"]);
        assert_eq!(event["data"]["expires_at_millis"], soon["expires_at_millis"]);
    }

    fn endpoints_are_managed_by_the_admin_and_the_operator_and_validated(app) {
        let project = app.create_project(ProjectSwitches::default());
        let created = app
            .send(project.admin(post_json(PATH, json!({"url": "https://hooks.example.com/keygate"}))))
            .await
            .assert_ok(200);
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["event_types"], json!([]));
        assert_eq!(created["disabled"], false);
        let item = format!("{PATH}/{id}");
        let read = app.send(project.admin(TestRequest::get().uri(&item))).await.assert_ok(200);
        assert_eq!(read.get("secret"), None, "the secret is shown once");
        let operator = |request: TestRequest| {
            request
                .insert_header(("authorization", format!("Bearer {TEST_OPERATOR_TOKEN}")))
                .insert_header(("x-stack-project-id", project.id().to_string()))
        };
        let paused = app
            .send(operator(TestRequest::patch().uri(&item).set_json(json!({"disabled": true, "event_types": ["team_api_key.revoked"]}))))
            .await
            .assert_ok(200);
        assert_eq!((&paused["disabled"], &paused["event_types"]), (&json!(true), &json!(["team_api_key.revoked"])));
        let listed = app.send(project.admin(TestRequest::get().uri(PATH))).await.assert_ok(200);
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        app.send(project.server(TestRequest::get().uri(PATH))).await.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
        app.send(project.client(TestRequest::get().uri(PATH))).await.assert_known_error(401, "INSUFFICIENT_ACCESS_TYPE");
        let other = app.create_project(ProjectSwitches::default());
        app.send(other.admin(TestRequest::get().uri(&item))).await.assert_plain_error(404, "The project has no webhook endpoint with this id.");

        let bad = app
            .send(project.admin(post_json(PATH, json!({"url": "ftp://x", "event_types": ["user_api_key.deleted"], "extra": 1}))))
            .await;
        assert_schema_error(&bad, "POST", PATH, &[
            "body.url must be a URL starting with http:// or https:// (at most 2048 characters)",
            "body.event_types [0] must be one of the following values: user_api_key.created, user_api_key.revoked, user_api_key.leaked, user_api_key.expiring, user_api_key.rotated, team_api_key.created, team_api_key.revoked, team_api_key.leaked, team_api_key.expiring, team_api_key.rotated",
            "body contains unknown properties: extra",
        ]);

        app.send(project.admin(TestRequest::delete().uri(&item))).await.assert_ok(200);
        app.send(project.admin(TestRequest::delete().uri(&item))).await.assert_plain_error(404, "The project has no webhook endpoint with this id.");
        let audit = app.send(project.admin(TestRequest::get().uri("/api/v1/internal/audit-log?object_type=webhook_endpoint"))).await.assert_ok(200);
        let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["webhook_endpoint.deleted", "webhook_endpoint.updated", "webhook_endpoint.created"]);
        assert_eq!(audit["items"][1]["actor_type"], "operator");
    }
}
