//! Shared by the tests that compare what our etcd backend wrote with raw etcd contents.
#![allow(dead_code, clippy::unwrap_used)]

use calico_datastore::etcd::etcd_client::Client;
use calico_datastore::etcd::{self, EtcdDatastore};
use calico_datastore::testing::EtcdServer;
use serde_json::Value;

/// A real etcd on loopback, our datastore on it, and a raw client.
pub async fn setup() -> (EtcdServer, EtcdDatastore, Client) {
    let server = EtcdServer::spawn().await.unwrap();
    let store = etcd::connect(&server.config()).await.unwrap();
    let raw = Client::connect([server.endpoint()], None).await.unwrap();
    (server, store, raw)
}

/// Reads one key raw: (JSON value, mod_revision).
pub async fn raw_get(raw: &Client, key: &str) -> Option<(Value, i64)> {
    let resp = raw.kv_client().get(key, None).await.unwrap();
    resp.kvs().first().map(|kv| {
        (
            serde_json::from_slice(kv.value()).unwrap(),
            kv.mod_revision(),
        )
    })
}
