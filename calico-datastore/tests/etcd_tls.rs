//! TLS with client certificates against a real etcd (`--client-cert-auth`), and the errors
//! a wrong CA or a missing client certificate give.
#![cfg(all(feature = "etcd", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use calico_datastore::testing::{EtcdServer, TestCertificates};
use calico_datastore::{Datastore, Error, EtcdConfig, WatchEventType, etcd};
use calico_model::sync::ResourceKey;
use calico_model::{GlobalNetworkSet, GlobalNetworkSetSpec, Kind, ObjectMeta, Resource};
use futures::StreamExt;

/// Guards against hangs; never a timing assertion.
const WAIT: Duration = Duration::from_secs(30);

fn net_set(name: &str) -> Resource {
    GlobalNetworkSet::new(
        ObjectMeta::named(name),
        GlobalNetworkSetSpec {
            nets: vec!["192.0.2.0/24".parse().unwrap()],
        },
    )
    .into()
}

async fn get_error(config: &EtcdConfig) -> Error {
    let store = etcd::connect(config).await.unwrap();
    let key = ResourceKey::new(Kind::GlobalNetworkSet, "", "x");
    tokio::time::timeout(WAIT, store.get(&key))
        .await
        .expect("fails rather than hangs")
        .expect_err("must not succeed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_works_and_wrong_certificates_fail_clearly() {
    let pki = TestCertificates::generate().unwrap();
    let server = EtcdServer::spawn_with_tls(pki.files()).await.unwrap();
    let config = server.config();
    assert!(config.endpoints[0].starts_with("https://127.0.0.1:"));

    let store = etcd::connect(&config).await.unwrap();
    let created = store.create(net_set("secure")).await.unwrap();
    let key = ResourceKey::of(&created);
    assert_eq!(store.get(&key).await.unwrap(), created);
    let mut watch = store
        .watch(Kind::GlobalNetworkSet, &created.metadata().resource_version)
        .await
        .unwrap();
    store.delete(&key, None).await.unwrap();
    let ev = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ev.event_type, WatchEventType::Deleted);
    assert!(
        store
            .list(Kind::GlobalNetworkSet, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // etcdctl with the same files sees the same data.
    let out = server
        .etcdctl(&["get", "--prefix", "/calico/resources/v3/"])
        .await
        .unwrap();
    assert_eq!(out, "");

    // A CA that did not sign the server's certificate: refused, and the error says why.
    let other = TestCertificates::generate().unwrap();
    let wrong_ca = EtcdConfig {
        ca_cert_file: Some(other.files().ca_cert.clone()),
        ..config.clone()
    };
    let err = get_error(&wrong_ca).await;
    let text = err.to_string();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert!(
        text.contains("certificate") && text.contains("ETCD_CA_CERT_FILE"),
        "the error must name the certificate problem: {text}"
    );
    assert!(
        text.contains(&config.endpoints[0]),
        "and the endpoint: {text}"
    );

    // No client certificate: etcd (with --client-cert-auth) refuses the connection.
    let anonymous = EtcdConfig {
        cert_file: None,
        key_file: None,
        ..config.clone()
    };
    let err = get_error(&anonymous).await;
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");

    // A client certificate from another CA: refused too.
    let foreign_client = EtcdConfig {
        cert_file: Some(other.files().client_cert.clone()),
        key_file: Some(other.files().client_key.clone()),
        ..config.clone()
    };
    let err = get_error(&foreign_client).await;
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");

    // Plain http:// to a TLS server fails (rather than hanging).
    let plain = EtcdConfig {
        endpoints: vec![config.endpoints[0].replace("https://", "http://")],
        ..EtcdConfig::default()
    };
    let err = get_error(&plain).await;
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}

#[tokio::test]
async fn unusable_tls_settings_fail_at_connect() {
    let pki = TestCertificates::generate().unwrap();
    let files = pki.files();
    let base = EtcdConfig {
        endpoints: vec!["https://127.0.0.1:1".into()],
        ca_cert_file: Some(files.ca_cert.clone()),
        cert_file: Some(files.client_cert.clone()),
        key_file: Some(files.client_key.clone()),
        ..EtcdConfig::default()
    };
    let field = |r: Result<_, Error>| match r {
        Err(Error::Config { field, .. }) => field,
        Err(e) => panic!("expected a configuration error, got {e}"),
        Ok(_) => panic!("expected a configuration error"),
    };
    let not_pem = pki.dir().join("ca.srl");
    let bad_ca = EtcdConfig {
        ca_cert_file: Some(not_pem),
        ..base.clone()
    };
    assert_eq!(
        field(etcd::connect(&bad_ca).await.map(|_| ())),
        "ETCD_CA_CERT_FILE"
    );
    let no_key = EtcdConfig {
        key_file: None,
        ..base.clone()
    };
    assert_eq!(
        field(etcd::connect(&no_key).await.map(|_| ())),
        "ETCD_KEY_FILE"
    );
    let missing = EtcdConfig {
        cert_file: Some(pki.dir().join("nope.crt")),
        ..base.clone()
    };
    assert_eq!(
        field(etcd::connect(&missing).await.map(|_| ())),
        "ETCD_CERT_FILE"
    );
    // The well-formed settings connect (lazily; nothing listens there).
    etcd::connect(&base).await.unwrap();
}
