//! Local verification against a real keygate (its HTTP app on a port): a repeated key is
//! verified in-process; a key revoked through keygate is refused within a second; keys counted
//! centrally always go to keygate; and nothing kept is trusted while the stream of key changes
//! is down.

mod support;

use std::time::{Duration, Instant};

use keygate_client::{
    Check, ClientError, CreatedKey, KeyType, KeygateClient, LocalVerification, NewKey, Owner,
    RateLimit, Rejection,
};
use keygate_domain::PlainApiKey;
use support::Keygate;

/// How soon a revocation must reach the client.
const REVOCATION_BOUND: Duration = Duration::from_secs(1);

fn local_client(keygate: &Keygate) -> KeygateClient {
    KeygateClient::builder(
        keygate.base_url.clone(),
        keygate.project.id().to_string(),
        keygate.project.secret_server_key.clone(),
    )
    .verify_locally(LocalVerification::default())
    .build()
    .expect("a client")
}

/// A new user of the project and a plain key of theirs: its first view and the key itself.
async fn user_key(keygate: &Keygate, client: &KeygateClient) -> (CreatedKey, String) {
    let user = keygate.app.create_user(&keygate.project);
    let created = client
        .create_key(Owner::User(user.id), NewKey::default())
        .await
        .unwrap();
    let key = created.expose_secret().to_owned();
    (created, key)
}

/// Waits until the client follows keygate's stream (or not), up to five seconds.
async fn wait_following(client: &KeygateClient, following: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.local_verification_stats().unwrap().following != following {
        assert!(
            Instant::now() < deadline,
            "following never became {following}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks `key` as a user key and tells whether keygate was asked.
async fn check(
    client: &KeygateClient,
    key: &str,
) -> (Result<keygate_client::VerifiedKey, ClientError>, bool) {
    let before = client.local_verification_stats().unwrap().sent_to_keygate;
    let result = client.check_user_key(Check::new(key)).await;
    let asked = client.local_verification_stats().unwrap().sent_to_keygate > before;
    (result, asked)
}

#[actix_web::test]
async fn a_repeated_key_is_verified_locally_until_keygate_revokes_it() {
    let keygate = Keygate::start();
    let client = local_client(&keygate);
    let (created, key) = user_key(&keygate, &client).await;

    // The first check starts following the stream; once it follows, a verified key is kept.
    let (first, asked) = check(&client, &key).await;
    assert!(asked);
    wait_following(&client, true).await;
    let (remote, asked) = check(&client, &key).await;
    assert!(asked, "nothing was kept before the stream opened");
    let (local, asked) = check(&client, &key).await;
    assert!(!asked, "a repeated key is verified in-process");
    assert_eq!(local.unwrap(), remote.unwrap());
    assert_eq!(first.unwrap().owner, created.key.owner);

    // A forged key with the same id never matches the kept hash.
    let forged = PlainApiKey::generate(created.key.id, KeyType::User, false);
    match check(&client, forged.expose_secret()).await {
        (Err(ClientError::Rejected(Rejection::NotFound)), true) => {}
        other => panic!("a forged key is keygate's to refuse: {other:?}"),
    }

    let revoked_at = Instant::now();
    client
        .revoke_key(created.key.owner, created.key.id)
        .await
        .unwrap();
    let answered = Instant::now();
    loop {
        match check(&client, &key).await {
            (Err(ClientError::Rejected(Rejection::Revoked)), true) => break,
            (Ok(_), false) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            answered.elapsed() < REVOCATION_BOUND,
            "the revoked key was still accepted {:?} after the revoke",
            answered.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    eprintln!(
        "revocation reached the client {:?} after the revoke's answer ({:?} after it was sent)",
        answered.elapsed(),
        revoked_at.elapsed()
    );
}

#[actix_web::test]
async fn keys_counted_centrally_always_go_to_keygate() {
    let keygate = Keygate::start();
    let client = local_client(&keygate);
    let user = keygate.app.create_user(&keygate.project);
    let limited = client
        .create_key(
            Owner::User(user.id),
            NewKey {
                rate_limit: RateLimit::new(1_000, 60_000),
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
    let metered = client
        .create_key(
            Owner::User(user.id),
            NewKey {
                remaining_uses: Some(3),
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
    check(&client, limited.expose_secret()).await.0.unwrap();
    wait_following(&client, true).await;
    for _ in 0..3 {
        let (verified, asked) = check(&client, limited.expose_secret()).await;
        assert!(asked);
        assert!(verified.unwrap().rate_limit.is_some());
    }
    for remaining in [2, 1, 0] {
        let (verified, asked) = check(&client, metered.expose_secret()).await;
        assert!(asked);
        assert_eq!(verified.unwrap().key.remaining_uses, Some(remaining));
    }
    let (refused, asked) = check(&client, metered.expose_secret()).await;
    assert!(asked);
    assert!(matches!(
        refused,
        Err(ClientError::Rejected(Rejection::UsageExceeded))
    ));
}

#[actix_web::test]
async fn nothing_kept_is_trusted_while_the_stream_is_down() {
    let keygate = Keygate::start();
    let client = local_client(&keygate);
    let (_, key) = user_key(&keygate, &client).await;
    check(&client, &key).await.0.unwrap();
    wait_following(&client, true).await;
    check(&client, &key).await.0.unwrap();
    assert!(!check(&client, &key).await.1, "kept");

    // keygate stops following every change (its Postgres listener is down, say): it ends the
    // stream, and every check goes to keygate until the stream is back.
    let feed = keygate.app.service().key_change_feed();
    feed.set_following(false);
    wait_following(&client, false).await;
    for _ in 0..3 {
        let (verified, asked) = check(&client, &key).await;
        assert!(asked, "not trusted while the stream is down");
        verified.unwrap();
    }
    feed.set_following(true);
    wait_following(&client, true).await;
    assert!(check(&client, &key).await.1, "what was kept before is gone");
    assert!(!check(&client, &key).await.1, "and kept again");

    // keygate goes away altogether: the stream breaks, nothing kept is trusted.
    keygate.stop().await;
    wait_following(&client, false).await;
    assert!(matches!(
        check(&client, &key).await.0,
        Err(ClientError::Unreachable { .. })
    ));
}

#[actix_web::test]
async fn a_follower_whose_runtime_stopped_is_started_again_by_the_next_check() {
    let keygate = Keygate::start();
    let client = local_client(&keygate);
    let (_, key) = user_key(&keygate, &client).await;

    // The first check runs on a runtime of its own, which then stops (an actix worker that
    // restarts, say): the follower it started goes with it, and nothing kept is trusted.
    let on_other_runtime = client.clone();
    let other_key = key.clone();
    // On a blocking thread: this test's runtime keeps serving keygate meanwhile.
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            check(&on_other_runtime, &other_key).await.0.unwrap();
            wait_following(&on_other_runtime, true).await;
        });
    })
    .await
    .unwrap();
    assert!(!client.local_verification_stats().unwrap().following);

    // The next check starts a follower on its own runtime.
    check(&client, &key).await.0.unwrap();
    wait_following(&client, true).await;
    check(&client, &key).await.0.unwrap();
    assert!(
        !check(&client, &key).await.1,
        "kept and verified locally again"
    );
}
