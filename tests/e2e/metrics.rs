//! The real binary with `KEYGATE_METRICS__ENABLED=true`: `GET /metrics` answers the checks it
//! served; with `KEYGATE_METRICS__BIND` it answers only on that private listener; on Postgres
//! the cross-node listener shows as up.

use std::time::{Duration, Instant};

use keygate_storage::testing::TestDatabase;
use serde_json::json;

use super::{client, first_start_keys, send, user_with_key};
use crate::harness::{sqlite_url, temp_dir, Server};

/// The value of the sample line `series` (name and labels as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().expect("a number"))
}

/// Creates a user and a key with the first start's server key, checks it twice and a wrong one
/// once.
fn make_checks(http: &reqwest::blocking::Client, server: &Server) {
    let keys = first_start_keys(&server.startup_output);
    let created = user_with_key(http, server, &keys, "m", json!({}));
    for key in [&created["value"], &created["value"], &json!("not a key")] {
        send(
            keys.server(http.post(server.url("/api/v1/user-api-keys/check")))
                .json(&json!({ "api_key": key })),
        );
    }
}

fn scrape(http: &reqwest::blocking::Client, url: &str) -> String {
    let response = http.get(url).send().expect("scrape");
    assert_eq!(response.status().as_u16(), 200);
    response.text().expect("metrics text")
}

#[test]
fn metrics_count_the_checks_the_binary_served() {
    let dir = temp_dir();
    let server = Server::start(
        dir.path(),
        &sqlite_url(dir.path()),
        &[("KEYGATE_METRICS__ENABLED", "true")],
    );
    let http = client();
    make_checks(&http, &server);

    let text = scrape(&http, &server.url("/metrics"));
    let checks = |outcome: &str| {
        sample(
            &text,
            &format!("keygate_api_key_checks_total{{key_type=\"user\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(checks("valid"), Some(2.0), "{text}");
    assert_eq!(checks("malformed"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "keygate_http_request_duration_seconds_count{route=\"/api/v1/user-api-keys/check\",status=\"200\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert!(
        text.contains("keygate_db_pool_connections_in_use"),
        "{text}"
    );
    assert!(
        text.contains("keygate_key_usage_flush_lag_seconds"),
        "{text}"
    );
    // SQLite: no cross-node listener, so no listener metric.
    assert!(!text.contains("keygate_key_change_listener_up"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn a_metrics_bind_serves_them_privately_and_postgres_shows_the_listener() {
    let postgres = TestDatabase::postgres();
    let dir = temp_dir();
    let url = match &postgres {
        Some(database) => database.postgres_url().expect("Postgres").to_owned(),
        None => sqlite_url(dir.path()),
    };
    let server = Server::start(
        dir.path(),
        &url,
        &[
            ("KEYGATE_METRICS__ENABLED", "true"),
            ("KEYGATE_METRICS__BIND", "127.0.0.1:0"),
        ],
    );
    let http = client();
    // The private listener's address is printed after `listening on`.
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics_url = loop {
        let stdout = server.stdout();
        if let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("metrics on ")) {
            break line.trim().to_owned();
        }
        assert!(Instant::now() < deadline, "no `metrics on` line:\n{stdout}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!metrics_url.contains(":0/"), "{metrics_url}");
    make_checks(&http, &server);

    let public = http.get(server.url("/metrics")).send().expect("public");
    assert_eq!(public.status().as_u16(), 404, "not on the public listener");
    let text = scrape(&http, &metrics_url);
    assert!(
        text.contains("keygate_api_key_checks_total{key_type=\"user\",outcome=\"valid\"} 2"),
        "{text}"
    );
    if postgres.is_some() {
        // The listener subscribes shortly after start-up.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = scrape(&http, &metrics_url);
            if sample(&text, "keygate_key_change_listener_up") == Some(1.0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the listener never showed as up:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
