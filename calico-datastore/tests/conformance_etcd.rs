//! The conformance suite against a real etcd, a fresh server per check.
#![cfg(all(feature = "etcd", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use calico_datastore::conformance::Fixture;
use calico_datastore::etcd;
use calico_datastore::testing::EtcdServer;

calico_datastore::conformance_tests!(async {
    let server = EtcdServer::spawn().await.expect("etcd starts");
    let store = etcd::connect(&server.config()).await.expect("connects");
    Fixture::new(store).with_guard(server)
});
