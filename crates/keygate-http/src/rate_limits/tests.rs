//! Tests of the per-address limits: the limiter itself on governor's fake clock, the client
//! address, and the limits over HTTP on SQLite and Postgres (fixed peer addresses, tiny limits
//! that cannot refill within a test: no sleeps, no timing assertions).

use std::net::SocketAddr;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::test::TestRequest;
use governor::clock::FakeRelativeClock;

use super::*;
use crate::testing::{TestProject, TestResponse, TEST_OPERATOR_TOKEN};
use crate::wire_middleware::REQUEST_ID_HEADER;

fn address(text: &str) -> AddressKey {
    AddressKey::of(text.parse().expect("address"))
}

/// 1 a minute (one every 60 s), `burst` at once.
fn slow(burst: u32) -> Rate {
    Rate {
        per_minute: 1,
        burst,
    }
}

fn limiter(rate: Rate, max: usize) -> (AddressLimiter<FakeRelativeClock>, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let limiter = AddressLimiter::new("test", rate, max, clock.clone()).expect("a limit");
    (limiter, clock)
}

#[test]
fn the_burst_passes_then_the_next_request_waits_for_one_period() {
    let (limiter, clock) = limiter(slow(3), 100);
    let a = address("192.0.2.1");
    for _ in 0..3 {
        assert_eq!(limiter.check(a), Ok(()));
    }
    assert_eq!(
        limiter.check(a),
        Err(RetryAfter(Duration::from_secs(60))),
        "the 4th request waits a whole period"
    );
    assert_eq!(
        limiter.check(address("192.0.2.2")),
        Ok(()),
        "another address is unaffected"
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(limiter.check(a), Ok(()), "one cell refilled");
    assert!(limiter.check(a).is_err());
}

#[test]
fn peeking_never_consumes_the_budget() {
    let (limiter, _clock) = limiter(slow(2), 100);
    let a = address("192.0.2.1");
    for _ in 0..10 {
        assert_eq!(limiter.peek(a), Ok(()));
    }
    assert_eq!(limiter.tracked_addresses(), 0, "a peek remembers nothing");
    assert_eq!(limiter.check(a), Ok(()));
    assert_eq!(limiter.check(a), Ok(()));
    assert!(limiter.peek(a).is_err(), "the peek sees the spent budget");
    assert!(limiter.check(a).is_err());
}

#[test]
fn a_full_store_judges_new_addresses_fresh_without_remembering_them() {
    let (limiter, clock) = limiter(slow(1), 2);
    assert_eq!(limiter.check(address("192.0.2.1")), Ok(()));
    assert_eq!(limiter.check(address("192.0.2.2")), Ok(()));
    let third = address("192.0.2.3");
    for _ in 0..5 {
        assert_eq!(limiter.check(third), Ok(()), "fail open, never lock out");
    }
    assert_eq!(limiter.tracked_addresses(), 2, "the bound holds");
    assert!(
        limiter.check(address("192.0.2.1")).is_err(),
        "remembered addresses stay limited"
    );

    // Once the remembered states are as good as fresh, pruning frees their room.
    clock.advance(Duration::from_secs(180));
    limiter.prune();
    assert_eq!(limiter.tracked_addresses(), 0);
    assert_eq!(limiter.check(third), Ok(()));
    assert!(limiter.check(third).is_err(), "now remembered and limited");
}

#[test]
fn pruning_drops_quiet_addresses_and_keeps_busy_ones() {
    let (limiter, clock) = limiter(slow(2), 100);
    let busy = address("192.0.2.1");
    limiter.check(busy).unwrap();
    limiter.check(busy).unwrap();
    limiter.check(address("192.0.2.2")).unwrap();
    // The quiet address's one cell refilled at 60 s, the busy one's two at 120 s; governor keeps
    // a state one period past that instant (its `retain_recent` margin).
    clock.advance(Duration::from_secs(121));
    limiter.prune();
    assert_eq!(
        limiter.tracked_addresses(),
        1,
        "only the busy address is left"
    );
}

#[test]
fn a_rate_or_bound_of_zero_switches_the_limit_off() {
    let clock = FakeRelativeClock::default();
    assert!(AddressLimiter::new("t", Rate::OFF, 10, clock.clone()).is_none());
    assert!(AddressLimiter::new("t", slow(0), 10, clock.clone()).is_none());
    assert!(AddressLimiter::new("t", slow(1), 0, clock).is_none());
}

#[test]
fn ipv6_addresses_are_limited_per_64_and_mapped_ipv4_as_ipv4() {
    assert_eq!(
        address("2001:db8:1:2:aaaa::1"),
        address("2001:db8:1:2:bbbb::2")
    );
    assert_ne!(address("2001:db8:1:2::1"), address("2001:db8:1:3::1"));
    assert_eq!(address("::ffff:192.0.2.1"), address("192.0.2.1"));
    assert_eq!(address("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
}

fn forwarded(values: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for value in values {
        headers.append(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    headers
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn forwarding_headers_are_ignored_unless_the_peer_is_a_trusted_proxy() {
    let headers = forwarded(&["203.0.113.9"]);
    let none = TrustedProxies::default();
    assert_eq!(
        none.client_address(ip("10.0.0.5"), &headers),
        ip("10.0.0.5")
    );
    let proxies = TrustedProxies::parse(["10.0.0.0/8", "192.168.1.1"]).unwrap();
    assert_eq!(
        proxies.client_address(ip("198.51.100.7"), &headers),
        ip("198.51.100.7"),
        "an untrusted peer's header is the client's own claim"
    );
    assert_eq!(
        proxies.client_address(ip("10.0.0.5"), &headers),
        ip("203.0.113.9")
    );
}

#[test]
fn the_right_most_untrusted_forwarded_entry_is_the_client() {
    let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
    // The client forged "1.1.1.1"; the proxy chain appended the real address and its own hops.
    let headers = forwarded(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
    assert_eq!(
        proxies.client_address(ip("10.0.0.1"), &headers),
        ip("203.0.113.9")
    );
    // Every entry a trusted proxy: the left-most one is as far as can be seen.
    let headers = forwarded(&["10.0.0.3, 10.0.0.2"]);
    assert_eq!(
        proxies.client_address(ip("10.0.0.1"), &headers),
        ip("10.0.0.3")
    );
    // Garbage stops the walk at the last hop that could be attributed.
    let headers = forwarded(&["203.0.113.9, garbage, 10.0.0.2"]);
    assert_eq!(
        proxies.client_address(ip("10.0.0.1"), &headers),
        ip("10.0.0.2")
    );
    // No header: the proxy itself.
    assert_eq!(
        proxies.client_address(ip("10.0.0.1"), &HeaderMap::new()),
        ip("10.0.0.1")
    );
}

#[test]
fn trusted_proxies_refuse_what_is_not_an_address_or_range() {
    assert_eq!(
        TrustedProxies::parse(["10.0.0.0/8", "not-a-range"]),
        Err(InvalidProxyRange("not-a-range".to_owned()))
    );
    assert!(TrustedProxies::parse(["fd00::/8", " 127.0.0.1 ", ""]).is_ok());
}

// ---- Over HTTP, on both backends ----

const ATTACKER: &str = "192.0.2.66:40000";
const NEIGHBOUR: &str = "198.51.100.7:40000";

fn peer(text: &str) -> SocketAddr {
    text.parse().expect("peer address")
}

/// Every limit off but `configure`'s.
fn only(configure: impl FnOnce(&mut RateLimitSettings)) -> RateLimitSettings {
    let mut settings = RateLimitSettings {
        oauth_token: Rate::OFF,
        credential_scanning: Rate::OFF,
        failed_auth: Rate::OFF,
        ..RateLimitSettings::default()
    };
    configure(&mut settings);
    settings
}

#[track_caller]
fn assert_rate_limited(response: &TestResponse) {
    response.assert_known_error(429, "RATE_LIMITED");
    let retry_after: u64 = response
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("whole seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let millis = response.json()["details"]["retry_after_millis"]
        .as_u64()
        .expect("details.retry_after_millis");
    assert!(millis > 0 && millis <= 60_000, "{millis}");
    assert_eq!(retry_after, millis.div_ceil(1000));
    // The conventions of every answer.
    assert!(response.header(REQUEST_ID_HEADER).is_some());
    assert_eq!(
        response.header("cache-control"),
        Some("no-store, max-age=0")
    );
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
}

fn oauth_token_request(project: &TestProject, from: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/v1/auth/oauth/token")
        .peer_addr(peer(from))
        .insert_header(("content-type", "application/x-www-form-urlencoded"))
        .set_payload(format!(
            "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token=stale",
            project.id(),
            project.publishable_client_key
        ))
}

/// A server request with `key` as the secret server key.
fn server_request(project: &TestProject, key: &str, from: &str) -> TestRequest {
    TestRequest::get()
        .uri("/api/v1/teams")
        .peer_addr(peer(from))
        .insert_header(("x-stack-access-type", "server"))
        .insert_header(("x-stack-project-id", project.id().to_string()))
        .insert_header(("x-stack-secret-server-key", key))
}

crate::http_tests! {
    fn the_request_over_the_oauth_token_limit_is_429_and_other_addresses_pass(app) {
        let state = app.state.clone().with_rate_limits(&only(|s| s.oauth_token = slow(3)));
        let project = app.create_open_project();
        for _ in 0..3 {
            let response = app.send_to(&state, oauth_token_request(&project, ATTACKER)).await;
            response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        }
        let response = app.send_to(&state, oauth_token_request(&project, ATTACKER)).await;
        assert_rate_limited(&response);

        let response = app.send_to(&state, oauth_token_request(&project, NEIGHBOUR)).await;
        response.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    }

    fn the_request_over_the_credential_scanning_limit_is_429(app) {
        let state = app
            .state
            .clone()
            .with_rate_limits(&only(|s| s.credential_scanning = slow(2)));
        let report = |from: &str| {
            TestRequest::post()
                .uri("/api/v1/integrations/credential-scanning/revoke")
                .peer_addr(peer(from))
                .set_json(serde_json::json!({"api_key": "not-a-key"}))
        };
        for _ in 0..2 {
            app.send_to(&state, report(ATTACKER)).await.assert_known_error(404, "API_KEY_NOT_FOUND");
        }
        assert_rate_limited(&app.send_to(&state, report(ATTACKER)).await);
        app.send_to(&state, report(NEIGHBOUR)).await.assert_known_error(404, "API_KEY_NOT_FOUND");
    }

    fn repeated_wrong_server_keys_lock_the_address_out_even_for_the_right_key(app) {
        let state = app.state.clone().with_rate_limits(&only(|s| s.failed_auth = slow(3)));
        let project = app.create_open_project();
        let wrong = format!("{}x", project.secret_server_key);
        for _ in 0..3 {
            app.send_to(&state, server_request(&project, &wrong, ATTACKER))
                .await
                .assert_known_error(401, "INVALID_SECRET_SERVER_KEY");
        }
        // Over the budget: refused before any key is checked, the right one included.
        assert_rate_limited(&app.send_to(&state, server_request(&project, &wrong, ATTACKER)).await);
        let right = server_request(&project, &project.secret_server_key, ATTACKER);
        assert_rate_limited(&app.send_to(&state, right).await);

        let right = server_request(&project, &project.secret_server_key, NEIGHBOUR);
        app.send_to(&state, right).await.assert_ok(200);
    }

    fn correct_keys_never_consume_the_failed_authentication_budget(app) {
        let state = app.state.clone().with_rate_limits(&only(|s| s.failed_auth = slow(2)));
        let project = app.create_open_project();
        for _ in 0..10 {
            let right = server_request(&project, &project.secret_server_key, ATTACKER);
            app.send_to(&state, right).await.assert_ok(200);
        }
        let wrong = format!("{}x", project.secret_server_key);
        for _ in 0..2 {
            app.send_to(&state, server_request(&project, &wrong, ATTACKER))
                .await
                .assert_known_error(401, "INVALID_SECRET_SERVER_KEY");
        }
        assert_rate_limited(&app.send_to(&state, server_request(&project, &wrong, ATTACKER)).await);
    }

    fn wrong_client_and_admin_keys_and_unknown_projects_count_as_failures(app) {
        let state = app.state.clone().with_rate_limits(&only(|s| s.failed_auth = slow(3)));
        let project = app.create_open_project();
        let client = project
            .client(TestRequest::get().uri("/api/v1/teams?user_id=me"))
            .insert_header(("x-stack-publishable-client-key", "pck_wrong"))
            .peer_addr(peer(ATTACKER));
        app.send_to(&state, client).await.assert_known_error(401, "INVALID_PUBLISHABLE_CLIENT_KEY");
        let admin = project
            .admin(TestRequest::get().uri("/api/v1/internal/projects/current"))
            .insert_header(("x-stack-super-secret-admin-key", "sak_wrong"))
            .peer_addr(peer(ATTACKER));
        app.send_to(&state, admin).await.assert_known_error(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
        let unknown_project = TestRequest::get()
            .uri("/api/v1/teams")
            .peer_addr(peer(ATTACKER))
            .insert_header(("x-stack-access-type", "server"))
            .insert_header(("x-stack-project-id", "not-a-project"))
            .insert_header(("x-stack-secret-server-key", "ssk_anything"));
        app.send_to(&state, unknown_project).await.assert_known_error(401, "INVALID_SECRET_SERVER_KEY");
        let right = project.admin(TestRequest::get().uri("/api/v1/internal/projects/current"));
        assert_rate_limited(&app.send_to(&state, right.peer_addr(peer(ATTACKER))).await);
    }

    fn wrong_operator_tokens_lock_the_address_out(app) {
        let state = app.state.clone().with_rate_limits(&only(|s| s.failed_auth = slow(2)));
        let create = |token: &str| {
            TestRequest::post()
                .uri("/api/v1/internal/projects")
                .peer_addr(peer(ATTACKER))
                .insert_header(("authorization", format!("Bearer {token}")))
                .set_json(serde_json::json!({"display_name": "p"}))
        };
        for _ in 0..2 {
            app.send_to(&state, create("wrong-token")).await.assert_known_error(401, "INVALID_OPERATOR_TOKEN");
        }
        assert_rate_limited(&app.send_to(&state, create(TEST_OPERATOR_TOKEN)).await);
    }

    fn forwarded_clients_behind_a_trusted_proxy_are_limited_one_by_one(app) {
        let state = app.state.clone().with_rate_limits(&only(|s| {
            s.oauth_token = slow(1);
            s.trusted_proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        }));
        let project = app.create_open_project();
        let via_proxy = |client: &str| {
            oauth_token_request(&project, "10.0.0.1:5000")
                .insert_header(("x-forwarded-for", client.to_owned()))
        };
        app.send_to(&state, via_proxy("203.0.113.1")).await.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
        assert_rate_limited(&app.send_to(&state, via_proxy("203.0.113.1")).await);
        // A forged left-most entry changes nothing; another real client passes.
        assert_rate_limited(&app.send_to(&state, via_proxy("9.9.9.9, 203.0.113.1")).await);
        app.send_to(&state, via_proxy("203.0.113.2")).await.assert_known_error(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    }
}
