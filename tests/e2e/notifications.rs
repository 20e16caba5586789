//! Delivery through the real binary: a leaked key's owner gets the notice from a real SMTP
//! server, and a project's webhook endpoint — a real HTTP receiver that fails at first — gets
//! the event once, signed, after retries.

use std::time::Duration;

use keygate_http::testing::delivery::{MailServer, WebhookReceiver};
use serde_json::{json, Value};

use super::{client, first_start_keys, send};
use crate::harness::{sqlite_url, temp_dir, Server};

#[test]
fn a_leaked_keys_owner_is_mailed_and_the_webhook_arrives_after_retries() {
    let mail = MailServer::start();
    let receiver = WebhookReceiver::start(1);
    let dir = temp_dir();
    let smtp_url = mail.url();
    let server = Server::start(
        dir.path(),
        &sqlite_url(dir.path()),
        &[
            ("KEYGATE_NOTIFICATIONS__SMTP_URL", smtp_url.as_str()),
            (
                "KEYGATE_NOTIFICATIONS__FROM",
                "Keygate <security@example.com>",
            ),
            ("KEYGATE_NOTIFICATIONS__POLL_INTERVAL_MILLIS", "50"),
            ("KEYGATE_NOTIFICATIONS__RETRY_BASE_MILLIS", "100"),
        ],
    );
    let keys = first_start_keys(&server.startup_output);
    let http = client();
    let hook = send(
        keys.admin(http.post(server.url("/api/v1/internal/webhooks")))
            .json(
                &json!({"url": receiver.url("/keygate"), "event_types": ["user_api_key.leaked"]}),
            ),
    )
    .ok(200);
    let user = send(
        keys.server(http.post(server.url("/api/v1/users")))
            .json(&json!({"display_name": "Ada", "primary_email": "ada@example.com"})),
    )
    .ok(201);
    let created = send(
        keys.server(http.post(server.url("/api/v1/user-api-keys")))
            .json(
                &json!({"user_id": user["id"], "description": "laptop", "expires_at_millis": null}),
            ),
    )
    .ok(200);
    send(
        http.post(server.url("/api/v1/integrations/credential-scanning/revoke"))
            .json(&json!({"api_key": created["value"]})),
    )
    .ok(200);

    let inbox = mail.wait_for(1, Duration::from_secs(10));
    assert_eq!(inbox[0].to, ["ada@example.com"]);
    assert_eq!(inbox[0].from, "security@example.com");
    assert!(
        inbox[0].data.contains("Subject: API Key Revoked: laptop"),
        "{}",
        inbox[0].data
    );

    let accepted = receiver.wait_for_accepted(1, Duration::from_secs(10));
    let event: Value = serde_json::from_str(&accepted[0].body).unwrap();
    assert_eq!(event["type"], "user_api_key.leaked");
    assert_eq!(event["data"]["id"], created["id"]);
    let requests = receiver.requests();
    assert_eq!(
        requests.len(),
        2,
        "one failure, then the same event again: {requests:?}"
    );
    assert_eq!(
        requests[0].id, requests[1].id,
        "the same webhook-id on every attempt"
    );
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
    // Delivered once: nothing more arrives.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(receiver.requests().len(), 2);
    assert_eq!(mail.inbox().len(), 1);
}
