//! Interoperability with Calico's etcd layout: what the store writes is exactly what
//! Calico's Go client would find (key and JSON), and what Calico writes reads back here.
#![cfg(all(feature = "etcd", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use calico_datastore::etcd::RESOURCE_PREFIX;
use calico_datastore::etcd::etcd_client::{EventType, GetOptions};
use calico_datastore::{Datastore, WatchEventType};
use calico_model::sync::ResourceKey;
use calico_model::{
    GlobalNetworkSet, GlobalNetworkSetSpec, Kind, NetworkPolicy, NetworkPolicySpec, ObjectMeta,
    Resource,
};
mod common;
use common::{raw_get, setup};
use futures::StreamExt;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn net_set(name: &str) -> Resource {
    GlobalNetworkSet::new(
        ObjectMeta::named(name),
        GlobalNetworkSetSpec {
            nets: vec!["192.0.2.0/24".parse().unwrap()],
        },
    )
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_land_in_calicos_layout() {
    let (_server, store, raw) = setup().await;

    let created = store.create(net_set("office")).await.unwrap();
    let key = "/calico/resources/v3/projectcalico.org/globalnetworksets/office";
    let (value, mod_rev) = raw_get(&raw, key).await.expect("stored at Calico's key");
    assert_eq!(created.metadata().resource_version, mod_rev.to_string());
    assert_eq!(value["apiVersion"], "projectcalico.org/v3");
    assert_eq!(value["kind"], "GlobalNetworkSet");
    assert_eq!(value["metadata"]["name"], "office");
    assert_eq!(value["metadata"]["uid"], created.metadata().uid.as_str());
    assert!(
        value["metadata"].get("resourceVersion").is_none(),
        "the revision lives in etcd, not in the value: {value}"
    );
    assert!(value["metadata"].get("namespace").is_none(), "{value}");
    assert_eq!(value["spec"]["nets"], json!(["192.0.2.0/24"]));
    // The value is the store's JSON encoding of the resource, byte for byte.
    let mut expected = created.clone();
    expected.metadata_mut().resource_version.clear();
    let resp = raw.kv_client().get(key, None).await.unwrap();
    assert_eq!(
        resp.kvs()[0].value_str().unwrap(),
        calico_datastore::kv::encode(&expected)
    );

    let policy: Resource = NetworkPolicy::new(
        ObjectMeta::namespaced("prod", "db-ingress"),
        NetworkPolicySpec {
            selector: "app == 'db'".into(),
            ..Default::default()
        },
    )
    .into();
    let policy = store.create(policy).await.unwrap();
    let key = "/calico/resources/v3/projectcalico.org/networkpolicies/prod/db-ingress";
    let (value, mod_rev) = raw_get(&raw, key)
        .await
        .expect("namespaced key has the namespace");
    assert_eq!(policy.metadata().resource_version, mod_rev.to_string());
    assert_eq!(value["metadata"]["namespace"], "prod");
    assert_eq!(value["spec"]["selector"], "app == 'db'");

    // An update moves mod_revision; a delete removes the key.
    let mut changed = created.clone();
    changed
        .metadata_mut()
        .labels
        .insert("site".into(), "hq".into());
    let updated = store.update(changed).await.unwrap();
    let key = "/calico/resources/v3/projectcalico.org/globalnetworksets/office";
    let (value, mod_rev) = raw_get(&raw, key).await.unwrap();
    assert_eq!(updated.metadata().resource_version, mod_rev.to_string());
    assert_eq!(value["metadata"]["labels"]["site"], "hq");
    store
        .delete(&ResourceKey::of(&updated), None)
        .await
        .unwrap();
    assert!(raw_get(&raw, key).await.is_none());

    // Nothing was written anywhere else.
    let all = raw
        .kv_client()
        .get("", Some(GetOptions::new().with_all_keys().with_keys_only()))
        .await
        .unwrap();
    let keys: Vec<&str> = all.kvs().iter().map(|kv| kv.key_str().unwrap()).collect();
    assert_eq!(
        keys,
        ["/calico/resources/v3/projectcalico.org/networkpolicies/prod/db-ingress"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_written_by_calico_read_back() {
    let (_server, store, raw) = setup().await;
    // A policy as Calico's Go client stores it (field order and defaults as Go writes them).
    let key = "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/allow-dns";
    let value = r#"{"kind":"GlobalNetworkPolicy","apiVersion":"projectcalico.org/v3","metadata":{"name":"allow-dns","uid":"0d3c2c8e-6f55-4b8a-9a53-2f1a5b0f8e11","creationTimestamp":"2024-03-01T10:00:00Z"},"spec":{"tier":"default","order":100,"selector":"all()","types":["Egress"],"egress":[{"action":"Allow","protocol":"UDP","destination":{"ports":[53]}}]}}"#;
    let put = raw.kv_client().put(key, value, None).await.unwrap();
    let revision = put.header().unwrap().revision().to_string();

    let k = ResourceKey::new(Kind::GlobalNetworkPolicy, "", "allow-dns");
    let got = store.get(&k).await.unwrap();
    assert_eq!(got.metadata().resource_version, revision);
    assert_eq!(got.metadata().uid, "0d3c2c8e-6f55-4b8a-9a53-2f1a5b0f8e11");
    assert_eq!(
        got.metadata().creation_timestamp.as_deref(),
        Some("2024-03-01T10:00:00Z")
    );
    let Resource::GlobalNetworkPolicy(gnp) = &got else {
        panic!("{got:?}")
    };
    assert_eq!(gnp.spec.selector, "all()");
    assert_eq!(gnp.spec.egress.len(), 1);

    // A stale resourceVersion inside a stored value is ignored: etcd's revision wins.
    let with_rv = r#"{"kind":"GlobalNetworkSet","apiVersion":"projectcalico.org/v3","metadata":{"name":"legacy","resourceVersion":"5"},"spec":{"nets":["10.0.0.0/8"]}}"#;
    let put = raw
        .kv_client()
        .put(
            "/calico/resources/v3/projectcalico.org/globalnetworksets/legacy",
            with_rv,
            None,
        )
        .await
        .unwrap();
    let legacy = store
        .get(&ResourceKey::new(Kind::GlobalNetworkSet, "", "legacy"))
        .await
        .unwrap();
    assert_eq!(
        legacy.metadata().resource_version,
        put.header().unwrap().revision().to_string()
    );

    // The store updates Calico's object with compare-and-swap, keeping its identity.
    let mut changed = got.clone();
    changed
        .metadata_mut()
        .labels
        .insert("owner".into(), "net".into());
    let updated = store.update(changed).await.unwrap();
    assert_eq!(updated.metadata().uid, got.metadata().uid);
    let (raw_value, _) = raw_get(&raw, key).await.unwrap();
    assert_eq!(raw_value["metadata"]["labels"]["owner"], "net");
    assert_eq!(raw_value["spec"]["selector"], "all()");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_broken_keys_are_handled() {
    let (_server, store, raw) = setup().await;
    store.create(net_set("good")).await.unwrap();
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    let mut watch = store
        .watch(Kind::GlobalNetworkSet, &list.revision)
        .await
        .unwrap();
    let prefix = format!("{RESOURCE_PREFIX}globalnetworksets/");
    let mut kv = raw.kv_client();
    // Not a resource key (too many segments for a cluster-scoped kind): ignored everywhere.
    kv.put(format!("{prefix}extra/segment"), "{}", None)
        .await
        .unwrap();
    // A resource key with a value that does not decode: reported, not dropped.
    kv.put(format!("{prefix}broken"), "not json", None)
        .await
        .unwrap();
    // Another kind's prefix that shares the first letters must not leak in.
    kv.put(
        format!("{RESOURCE_PREFIX}globalnetworksetsx/other"),
        "{}",
        None,
    )
    .await
    .unwrap();
    store.create(net_set("after")).await.unwrap();

    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    let names: Vec<&str> = list.items.iter().map(|r| r.name()).collect();
    assert_eq!(names, ["after", "good"]);
    assert_eq!(list.undecodable.len(), 1, "{:?}", list.undecodable);
    assert_eq!(list.undecodable[0].key.name, "broken");
    assert!(
        list.undecodable[0].reason.contains("JSON"),
        "{:?}",
        list.undecodable
    );

    // The watch sees the broken value (without a resource) and the good create, nothing else.
    let first = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.key.name, "broken");
    assert!(first.resource.is_none() && first.problem.is_some());
    let second = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (second.event_type, second.key.name.as_str()),
        (WatchEventType::Added, "after")
    );

    // A raw delete of a Calico key is a Deleted event carrying the last value.
    let mut raw_watch = raw
        .watch_client()
        .watch(
            format!("{prefix}after"),
            Some(calico_datastore::etcd::etcd_client::WatchOptions::new()),
        )
        .await
        .unwrap();
    kv.delete(format!("{prefix}after"), None).await.unwrap();
    let deleted = tokio::time::timeout(WAIT, watch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(deleted.event_type, WatchEventType::Deleted);
    assert_eq!(
        deleted.resource.as_ref().map(|r| r.name()),
        Some("after"),
        "prev_kv carries the last value"
    );
    // (The raw watch confirms etcd saw a plain delete.)
    let msg = loop {
        let m = raw_watch.message().await.unwrap().unwrap();
        if !m.events().is_empty() {
            break m;
        }
    };
    assert_eq!(msg.events()[0].event_type(), EventType::Delete);
}
