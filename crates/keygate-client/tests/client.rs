//! The client against a real keygate: every answer typed, garbage refused offline, keygate's
//! absence told apart from a refusal.

mod support;

use std::time::Duration;

use keygate_client::{
    Check, ClientError, KeyType, KeygateClient, NewKey, Owner, RateLimit, Rejection,
};
use serde_json::json;
use support::Keygate;

fn rejection(result: Result<keygate_client::VerifiedKey, ClientError>) -> Rejection {
    match result {
        Err(ClientError::Rejected(rejection)) => rejection,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[actix_web::test]
async fn checks_answer_the_owner_or_a_typed_rejection() {
    let keygate = Keygate::start();
    let client = keygate.client();
    let user = keygate.app.create_user(&keygate.project);
    let team = keygate.app.create_team(&keygate.project, &[]);

    let created = client
        .create_key(
            Owner::User(user.id),
            NewKey {
                description: "billing".into(),
                metadata: Some(json!({"plan": "pro"})),
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
    assert!(format!("{created:?}").contains("<redacted"), "{created:?}");
    let key = created.expose_secret().to_owned();
    let verified = client.check_user_key(Check::new(&key)).await.unwrap();
    assert_eq!(verified.owner, Owner::User(user.id));
    assert_eq!(verified.user_id(), Some(user.id));
    assert_eq!(verified.key.metadata, Some(json!({"plan": "pro"})));
    assert_eq!(verified.key.description, "billing");
    assert_eq!(verified.rate_limit, None);

    // The rejections, each typed.
    assert_eq!(
        rejection(client.check_team_key(Check::new(&key)).await),
        Rejection::WrongType {
            expected: KeyType::Team
        }
    );
    assert_eq!(
        rejection(
            client
                .check_user_key(Check::new(&key).require_scope("invoices:read"))
                .await
        ),
        Rejection::ScopeMissing {
            missing: vec!["invoices:read".into()]
        }
    );
    let team_key = client
        .create_key(Owner::Team(team), NewKey::default())
        .await
        .unwrap();
    let team_verified = client
        .check_team_key(Check::new(team_key.expose_secret()))
        .await
        .unwrap();
    assert_eq!(team_verified.team_id(), Some(team));
    let revoked = client
        .revoke_key(Owner::Team(team), team_key.key.id)
        .await
        .unwrap();
    assert!(revoked.revoked_at_millis.is_some());
    assert_eq!(
        rejection(
            client
                .check_team_key(Check::new(team_key.expose_secret()))
                .await
        ),
        Rejection::Revoked
    );
    let expiring = client
        .create_key(
            Owner::User(user.id),
            NewKey {
                expires_at_millis: Some(keygate.app.now() + 1_000),
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
    keygate.app.advance_clock(1_001);
    assert_eq!(
        rejection(
            client
                .check_user_key(Check::new(expiring.expose_secret()))
                .await
        ),
        Rejection::Expired
    );

    // Policies: a rate limit and usage credits.
    let metered = client
        .create_key(
            Owner::User(user.id),
            NewKey {
                rate_limit: RateLimit::new(2, 60_000),
                remaining_uses: Some(5),
                ..NewKey::default()
            },
        )
        .await
        .unwrap();
    let first = client
        .check_user_key(Check::new(metered.expose_secret()).cost(4))
        .await
        .unwrap();
    assert_eq!(first.key.remaining_uses, Some(1));
    assert_eq!(
        first.rate_limit.map(|rate| (rate.limit, rate.remaining)),
        Some((2, 1))
    );
    assert_eq!(
        rejection(
            client
                .check_user_key(Check::new(metered.expose_secret()).cost(2))
                .await
        ),
        Rejection::UsageExceeded
    );
    client
        .check_user_key(Check::new(metered.expose_secret()))
        .await
        .unwrap();
    match rejection(
        client
            .check_user_key(Check::new(metered.expose_secret()))
            .await,
    ) {
        Rejection::RateLimited {
            limit, retry_after, ..
        } => {
            assert_eq!(limit, 2);
            assert!(retry_after >= Duration::from_secs(1));
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }

    // Lists and reads.
    let listed = client.list_keys(Owner::User(user.id)).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|key| key.owner == Owner::User(user.id)));
    assert_eq!(
        client.user(user.id).await.unwrap()["id"],
        user.id.to_string()
    );
    assert_eq!(client.team(team).await.unwrap()["id"], team.to_string());
}

#[actix_web::test]
async fn garbage_is_refused_offline_and_absence_is_not_a_rejection() {
    let keygate = Keygate::start();
    // Nothing listens here: a request would be `Unreachable`.
    let nowhere = KeygateClient::builder("http://127.0.0.1:9", "p", "ssk")
        .retries(1)
        .build()
        .unwrap();
    for garbage in ["", "hello", "Bearer sk_user", &"x".repeat(10_000)] {
        assert_eq!(
            rejection(nowhere.check_user_key(Check::new(garbage)).await),
            Rejection::NotFound,
            "{garbage:?} is refused without a request"
        );
    }
    // A well-formed key goes to keygate, which is not there.
    let user = keygate.app.create_user(&keygate.project);
    let created = keygate
        .client()
        .create_key(Owner::User(user.id), NewKey::default())
        .await
        .unwrap();
    match nowhere
        .check_user_key(Check::new(created.expose_secret()))
        .await
    {
        Err(error @ ClientError::Unreachable { .. }) => {
            assert!(error.to_string().contains("127.0.0.1:9"), "{error}");
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
    // keygate refusing this client's own credentials is not a rejection of the key.
    let wrong_secret = KeygateClient::builder(
        keygate.base_url.clone(),
        keygate.project.id().to_string(),
        "ssk_not-the-key",
    )
    .build()
    .unwrap();
    let refused = wrong_secret
        .check_user_key(Check::new(created.expose_secret()))
        .await;
    assert!(
        matches!(&refused, Err(ClientError::Refused { status: 401, .. })),
        "{refused:?}"
    );
    assert!(
        !format!("{wrong_secret:?}").contains("ssk_not-the-key"),
        "the secret server key never shows in Debug"
    );
    assert!(KeygateClient::builder("not a url", "p", "k")
        .build()
        .is_err());
}
