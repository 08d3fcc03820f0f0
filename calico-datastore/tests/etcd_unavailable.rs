//! An unreachable or unresponsive etcd gives `Error::Unavailable`, never a hang.
#![cfg(all(feature = "etcd", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use calico_datastore::etcd::{self, EtcdBackend, EtcdOptions};
use calico_datastore::kv::KvStore;
use calico_datastore::{Datastore, Error, EtcdConfig};
use calico_model::sync::ResourceKey;
use calico_model::{GlobalNetworkSet, GlobalNetworkSetSpec, Kind, ObjectMeta};

/// Guards against hangs; never a timing assertion.
const WAIT: Duration = Duration::from_secs(30);

fn config(endpoint: String) -> EtcdConfig {
    EtcdConfig {
        endpoints: vec![endpoint],
        ..EtcdConfig::default()
    }
}

/// Runs every kind of request and checks each fails as Unavailable.
async fn every_request_is_unavailable(store: &dyn Datastore) {
    let key = ResourceKey::new(Kind::GlobalNetworkSet, "", "x");
    let set = GlobalNetworkSet::new(
        ObjectMeta::named("x"),
        GlobalNetworkSetSpec {
            nets: vec!["192.0.2.0/24".parse().unwrap()],
        },
    );
    let results = [
        ("get", store.get(&key).await.map(|_| ())),
        (
            "list",
            store.list(Kind::GlobalNetworkSet, None).await.map(|_| ()),
        ),
        ("create", store.create(set.into()).await.map(|_| ())),
        ("delete", store.delete(&key, Some("3")).await.map(|_| ())),
        (
            "watch",
            store.watch(Kind::GlobalNetworkSet, "").await.map(|_| ()),
        ),
        ("compact", store.compact("5").await),
    ];
    for (op, result) in results {
        match result {
            Err(e @ Error::Unavailable { .. }) => {
                assert!(e.is_retryable(), "{op}: {e}");
            }
            other => panic!("{op}: expected Unavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    // A port that was free a moment ago: connections are refused.
    let port = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let store = etcd::connect(&config(format!("http://127.0.0.1:{port}")))
        .await
        .expect("connecting is lazy");
    tokio::time::timeout(WAIT, every_request_is_unavailable(&store))
        .await
        .expect("refused connections fail at once, not after a hang");
    let err = store
        .get(&ResourceKey::new(Kind::Tier, "", "t"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "the error names the endpoint: {err}"
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts TCP connections (the kernel completes the handshake) but never speaks.
    let silent = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let backend = EtcdBackend::connect_with(
        &config(endpoint),
        EtcdOptions {
            request_timeout: Duration::from_millis(500),
            dial_timeout: Duration::from_millis(500),
            ..EtcdOptions::default()
        },
    )
    .await
    .unwrap();
    let store = KvStore::with_backend(backend);
    tokio::time::timeout(WAIT, every_request_is_unavailable(&store))
        .await
        .expect("the request deadline applies");
    drop(silent);
}

#[test]
fn default_options_are_calicos() {
    let o = EtcdOptions::default();
    assert_eq!(o.request_timeout, Duration::from_secs(10));
    assert_eq!(o.keepalive_interval, Duration::from_secs(30));
}
