//! etcd user authentication (`ETCD_USERNAME` / `ETCD_PASSWORD`).
#![cfg(all(feature = "etcd", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use calico_datastore::testing::EtcdServer;
use calico_datastore::{Datastore, Error, EtcdConfig, etcd};
use calico_model::sync::ResourceKey;
use calico_model::{Kind, ObjectMeta, Tier, TierSpec};

const PASSWORD: &str = "s3cret-Pa55";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_authenticate_and_bad_passwords_are_refused() {
    let server = EtcdServer::spawn().await.unwrap();
    server
        .etcdctl(&["user", "add", &format!("root:{PASSWORD}")])
        .await
        .unwrap();
    server.etcdctl(&["auth", "enable"]).await.unwrap();

    let config = EtcdConfig {
        username: Some("root".into()),
        password: Some(PASSWORD.into()),
        ..server.config()
    };
    assert!(
        !format!("{config:?}").contains(PASSWORD),
        "the password is never printed"
    );
    let store = etcd::connect(&config).await.unwrap();
    let tier = Tier::new(
        ObjectMeta::named("security"),
        TierSpec {
            order: Some(100.0),
            ..Default::default()
        },
    );
    let created = store.create(tier.into()).await.unwrap();
    assert_eq!(
        store.get(&ResourceKey::of(&created)).await.unwrap(),
        created
    );

    // Without credentials etcd refuses the request: a configuration problem, not a retry.
    let anonymous = etcd::connect(&server.config()).await.unwrap();
    match anonymous.list(Kind::Tier, None).await {
        Err(Error::Config { reason, .. }) => assert!(!reason.contains(PASSWORD)),
        other => panic!("unauthenticated list: {other:?}"),
    }

    // A wrong password fails at connect, without echoing the password.
    let wrong = EtcdConfig {
        password: Some("not-the-password".into()),
        ..config.clone()
    };
    match etcd::connect(&wrong).await {
        Err(e @ Error::Config { .. }) => {
            let text = e.to_string();
            assert!(!text.contains("not-the-password"), "{text}");
            assert!(text.contains("ETCD_USERNAME"), "{text}");
        }
        Err(e) => panic!("wrong password: unexpected error {e}"),
        Ok(_) => panic!("wrong password accepted"),
    }

    // A password without a user name is a configuration mistake.
    let no_user = EtcdConfig {
        username: None,
        ..config
    };
    assert!(matches!(
        etcd::connect(&no_user).await,
        Err(Error::Config { .. })
    ));
}
