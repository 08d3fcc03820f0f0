//! Watches across an etcd crash and restart, and history compacted with etcdctl.
#![cfg(all(feature = "etcd", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use calico_datastore::etcd;
use calico_datastore::testing::EtcdServer;
use calico_datastore::{Datastore, Error, WatchEvent, WatchEventType, WatchStream};
use calico_model::sync::ResourceKey;
use calico_model::{GlobalNetworkSet, GlobalNetworkSetSpec, Kind, ObjectMeta, Resource};
use futures::StreamExt;

/// Guards against hangs; never a timing assertion.
const WAIT: Duration = Duration::from_secs(20);

fn net_set(name: &str) -> Resource {
    GlobalNetworkSet::new(
        ObjectMeta::named(name),
        GlobalNetworkSetSpec {
            nets: vec!["192.0.2.0/24".parse().unwrap()],
        },
    )
    .into()
}

async fn next(watch: &mut WatchStream) -> Option<Result<WatchEvent, Error>> {
    tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("the watch neither delivered nor ended")
}

/// Retries while etcd is coming back, as a syncer would (bounded).
async fn create_when_back(store: &dyn Datastore, name: &str) -> Resource {
    for _ in 0..100 {
        match store.create(net_set(name)).await {
            Ok(r) => return r,
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("create {name}: {e}"),
        }
    }
    panic!("etcd did not come back")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_after_etcd_is_killed_and_restarted() {
    let mut server = EtcdServer::spawn().await.unwrap();
    let store = etcd::connect(&server.config()).await.unwrap();
    let a = store.create(net_set("a")).await.unwrap();
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    let mut watch = store
        .watch(Kind::GlobalNetworkSet, &list.revision)
        .await
        .unwrap();
    let b = store.create(net_set("b")).await.unwrap();
    let ev = next(&mut watch).await.unwrap().unwrap();
    assert_eq!(
        (ev.event_type, ev.key.name.as_str()),
        (WatchEventType::Added, "b")
    );
    let last_seen = ev.revision.clone();

    server.kill();
    match next(&mut watch).await {
        Some(Err(e @ Error::Unavailable { .. })) => assert!(e.is_retryable(), "{e}"),
        other => panic!("a dead etcd must end the watch with Unavailable: {other:?}"),
    }
    assert!(
        next(&mut watch).await.is_none(),
        "the stream ends after the error"
    );
    // While etcd is down, requests fail as Unavailable (they do not hang).
    match store.get(&ResourceKey::of(&a)).await {
        Err(e @ Error::Unavailable { .. }) => assert!(e.is_retryable()),
        other => panic!("get while etcd is down: {other:?}"),
    }
    assert!(matches!(
        store.watch(Kind::GlobalNetworkSet, &last_seen).await,
        Err(Error::Unavailable { .. })
    ));

    server.start().await.unwrap();
    // The same store reconnects by itself; data written before the crash survived.
    let c = create_when_back(&store, "c").await;
    assert_eq!(
        store
            .get(&ResourceKey::of(&b))
            .await
            .unwrap()
            .metadata()
            .resource_version,
        b.metadata().resource_version
    );
    // Resuming from the last event seen replays exactly what was missed.
    let mut resumed = store
        .watch(Kind::GlobalNetworkSet, &last_seen)
        .await
        .unwrap();
    let ev = next(&mut resumed).await.unwrap().unwrap();
    assert_eq!(
        (ev.event_type, ev.key.name.as_str()),
        (WatchEventType::Added, "c")
    );
    assert_eq!(ev.revision, c.metadata().resource_version);
    store.delete(&ResourceKey::of(&a), None).await.unwrap();
    let ev = next(&mut resumed).await.unwrap().unwrap();
    assert_eq!(
        (ev.event_type, ev.key.name.as_str()),
        (WatchEventType::Deleted, "a")
    );
    assert!(ev.resource.is_some(), "a delete carries the last value");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_by_etcdctl_is_revision_too_old() {
    let server = EtcdServer::spawn().await.unwrap();
    let store = etcd::connect(&server.config()).await.unwrap();
    let first = store.create(net_set("first")).await.unwrap();
    let mut last = first.clone();
    for i in 0..5 {
        last = store.create(net_set(&format!("n{i}"))).await.unwrap();
    }
    let current: u64 = last.metadata().resource_version.parse().unwrap();
    server.compact(current).await.unwrap();

    let old = &first.metadata().resource_version;
    let err = match store.watch(Kind::GlobalNetworkSet, old).await {
        Err(e) => e,
        Ok(mut stream) => {
            let item = next(&mut stream).await.expect("an item, not the end");
            let e = item.expect_err("a watch from compacted history must fail");
            assert!(
                next(&mut stream).await.is_none(),
                "the stream ends after the error"
            );
            e
        }
    };
    match err {
        Error::RevisionTooOld { requested, oldest } => {
            assert_eq!(&requested, old);
            assert_eq!(oldest, current.to_string());
        }
        other => panic!("expected RevisionTooOld, got {other}"),
    }
    // Listing is unaffected, and a watch from the compaction point works.
    assert_eq!(
        store
            .list(Kind::GlobalNetworkSet, None)
            .await
            .unwrap()
            .items
            .len(),
        6
    );
    let mut watch = store
        .watch(Kind::GlobalNetworkSet, &current.to_string())
        .await
        .unwrap();
    store.create(net_set("later")).await.unwrap();
    assert_eq!(next(&mut watch).await.unwrap().unwrap().key.name, "later");

    // Compacting again through the store is idempotent, and a revision beyond the store's
    // compacts everything there is.
    store.compact(&current.to_string()).await.unwrap();
    store.create(net_set("later2")).await.unwrap();
    assert!(watch_error(&store, &current.to_string()).await.is_none());
    store.compact("999999").await.unwrap();
    assert!(matches!(
        watch_error(&store, &current.to_string()).await,
        Some(Error::RevisionTooOld { .. })
    ));
}

/// The error a watch from `revision` fails with, at the start or as its first item; `None`
/// if it starts fine (checked by a write it must see).
async fn watch_error(store: &dyn Datastore, revision: &str) -> Option<Error> {
    let mut stream = match store.watch(Kind::GlobalNetworkSet, revision).await {
        Err(e) => return Some(e),
        Ok(stream) => stream,
    };
    match next(&mut stream).await {
        Some(Err(e)) => Some(e),
        Some(Ok(_)) => None,
        None => panic!("the watch ended without an error"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paginated_list_is_one_snapshot() {
    use calico_datastore::etcd::{EtcdBackend, EtcdOptions};
    use calico_datastore::kv::KvStore;
    let server = EtcdServer::spawn().await.unwrap();
    let backend = EtcdBackend::connect_with(
        &server.config(),
        EtcdOptions {
            list_page_size: 7,
            ..EtcdOptions::default()
        },
    )
    .await
    .unwrap();
    let store = KvStore::with_backend(backend);
    for i in 0..50 {
        store.create(net_set(&format!("p{i:02}"))).await.unwrap();
    }
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    assert_eq!(list.items.len(), 50);
    let names: Vec<String> = list.items.iter().map(|r| r.name().to_owned()).collect();
    let want: Vec<String> = (0..50).map(|i| format!("p{i:02}")).collect();
    assert_eq!(names, want);
    let rev: u64 = list.revision.parse().unwrap();
    assert!(
        list.items
            .iter()
            .all(|r| r.metadata().resource_version.parse::<u64>().unwrap() <= rev)
    );
}
