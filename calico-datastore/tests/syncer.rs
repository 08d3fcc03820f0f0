//! The syncer against the in-memory store and a fault-injecting wrapper around it.
//! (The same convergence checks run against real etcd and the embedded store in the
//! workspace end-to-end tests.)

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use calico_datastore::conformance::{net_set, ns_net_set};
use calico_datastore::memory::MemoryDatastore;
use calico_datastore::syncer::{Mirror, Syncer, SyncerOptions};
use calico_datastore::{Datastore, Error, ListResult, Result, WatchStream};
use calico_model::sync::{ResourceKey, SyncEvent, SyncStatus};
use calico_model::{Kind, Resource};
use futures::StreamExt;
use tokio::sync::mpsc;

const KINDS: &[Kind] = &[Kind::GlobalNetworkSet, Kind::NetworkSet, Kind::Profile];

/// Everything the store holds of `kinds`, as a consumer should see it.
async fn snapshot(store: &dyn Datastore, kinds: &[Kind]) -> Vec<(ResourceKey, Resource)> {
    let mut all = Vec::new();
    for kind in kinds {
        let list = store.list(*kind, None).await.unwrap();
        all.extend(list.items.into_iter().map(|r| (ResourceKey::of(&r), r)));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// Feeds `mirror` from `rx` until it equals the store (and is in sync), or fails after 30 s.
async fn converge(
    mirror: &mut Mirror,
    rx: &mut mpsc::Receiver<Vec<SyncEvent>>,
    store: &dyn Datastore,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let want = snapshot(store, KINDS).await;
        let have: Vec<_> = mirror
            .items
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if mirror.status == Some(SyncStatus::InSync) && want == have {
            return;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(batch)) => mirror.apply(batch),
            Ok(None) => panic!("syncer stopped"),
            Err(_) => panic!(
                "did not converge: consumer has {} items, store {} (status {:?})",
                have.len(),
                want.len(),
                mirror.status
            ),
        }
    }
}

fn fast() -> SyncerOptions {
    SyncerOptions {
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(200),
        ..SyncerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_sequence_and_initial_snapshot() {
    let store = Arc::new(MemoryDatastore::new());
    for i in 0..5 {
        store
            .create(net_set(&format!("g{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
        store
            .create(ns_net_set("ns", &format!("n{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
    }
    let (tx, mut rx) = mpsc::channel(4);
    let _syncer = Syncer::start(store.clone(), KINDS, tx);
    let mut mirror = Mirror::default();
    converge(&mut mirror, &mut rx, &*store).await;
    assert_eq!(
        mirror.statuses,
        [
            SyncStatus::WaitForDatastore,
            SyncStatus::ResyncInProgress,
            SyncStatus::InSync
        ]
    );
    // 10 sets + the default-allow profile + 3 statuses: nothing sent twice.
    assert_eq!(mirror.events, 14);
    assert_eq!(mirror.items.len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_sync_only_after_every_listed_item() {
    let store = Arc::new(MemoryDatastore::new());
    for i in 0..2500 {
        store
            .create(net_set(&format!("g{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
    }
    let (tx, mut rx) = mpsc::channel(4);
    let _syncer = Syncer::start(store.clone(), KINDS, tx);
    let mut mirror = Mirror::default();
    let mut max_batch = 0;
    while mirror.status != Some(SyncStatus::InSync) {
        let batch = rx.recv().await.unwrap();
        max_batch = max_batch.max(batch.len());
        mirror.apply(batch);
    }
    assert_eq!(mirror.items.len(), 2501, "InSync came before every item");
    assert!(
        max_batch <= 1000 + 2,
        "batches are consolidated up to 1000 events: {max_batch}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_live_changes_including_deletes() {
    let store = Arc::new(MemoryDatastore::new());
    store.create(net_set("keep", "10.0.0.0/8")).await.unwrap();
    store.create(net_set("drop", "10.0.0.0/8")).await.unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let _syncer = Syncer::start(store.clone(), KINDS, tx);
    let mut mirror = Mirror::default();
    converge(&mut mirror, &mut rx, &*store).await;
    store
        .delete(&ResourceKey::new(Kind::GlobalNetworkSet, "", "drop"), None)
        .await
        .unwrap();
    store
        .create(ns_net_set("a", "new", "10.1.0.0/16"))
        .await
        .unwrap();
    let mut keep = store
        .get(&ResourceKey::new(Kind::GlobalNetworkSet, "", "keep"))
        .await
        .unwrap();
    keep.metadata_mut().labels.insert("x".into(), "y".into());
    store.update(keep).await.unwrap();
    converge(&mut mirror, &mut rx, &*store).await;
    assert!(
        !mirror
            .items
            .contains_key(&ResourceKey::new(Kind::GlobalNetworkSet, "", "drop"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_while_behind_relists_and_sweeps_deletions() {
    // A tiny history and a consumer that stops reading: the watch falls behind the
    // history, fails with RevisionTooOld, and the relist must deliver the deletions of
    // keys that vanished meanwhile.
    let store = Arc::new(MemoryDatastore::with_history(20));
    for i in 0..50 {
        store
            .create(net_set(&format!("g{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
    }
    let (tx, mut rx) = mpsc::channel(1);
    let _syncer = Syncer::start_with(store.clone(), KINDS, tx, fast());
    let mut mirror = Mirror::default();
    converge(&mut mirror, &mut rx, &*store).await;
    for i in 0..50 {
        store
            .delete(
                &ResourceKey::new(Kind::GlobalNetworkSet, "", format!("g{i}")),
                None,
            )
            .await
            .unwrap();
        if i % 2 == 0 {
            store
                .create(ns_net_set("b", &format!("n{i}"), "10.0.0.0/8"))
                .await
                .unwrap();
        }
    }
    let list = store.list(Kind::GlobalNetworkSet, None).await.unwrap();
    store.compact(&list.revision).await.unwrap();
    converge(&mut mirror, &mut rx, &*store).await;
    assert_eq!(mirror.items.len(), 26);
}

/// Wraps a store; while `down` is set every call fails with Unavailable and open watches
/// break. Counts list calls.
struct Flaky {
    inner: Arc<MemoryDatastore>,
    down: Arc<AtomicBool>,
    lists: AtomicUsize,
}

#[async_trait]
impl Datastore for Flaky {
    fn backend(&self) -> &'static str {
        "flaky"
    }
    async fn get(&self, key: &ResourceKey) -> Result<Resource> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn list(&self, kind: Kind, namespace: Option<&str>) -> Result<ListResult> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.list(kind, namespace).await
    }
    async fn create(&self, resource: Resource) -> Result<Resource> {
        self.inner.create(resource).await
    }
    async fn update(&self, resource: Resource) -> Result<Resource> {
        self.inner.update(resource).await
    }
    async fn delete(&self, key: &ResourceKey, revision: Option<&str>) -> Result<Resource> {
        self.inner.delete(key, revision).await
    }
    async fn watch(&self, kind: Kind, from_revision: &str) -> Result<WatchStream> {
        self.check()?;
        let down = self.down.clone();
        let inner = self.inner.watch(kind, from_revision).await?;
        // Break the stream as soon as the store goes down.
        Ok(inner
            .map(move |item| {
                if down.load(Ordering::SeqCst) {
                    Err(Error::unavailable("connection lost"))
                } else {
                    item
                }
            })
            .take_while({
                let mut failed = false;
                move |item| {
                    let keep = !failed;
                    failed |= item.is_err();
                    futures::future::ready(keep)
                }
            })
            .boxed())
    }
    async fn compact(&self, revision: &str) -> Result<()> {
        self.inner.compact(revision).await
    }
}

impl Flaky {
    fn check(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(Error::unavailable("connection refused"))
        } else {
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_the_datastore_without_spinning_then_syncs() {
    let inner = Arc::new(MemoryDatastore::new());
    inner.create(net_set("a", "10.0.0.0/8")).await.unwrap();
    let down = Arc::new(AtomicBool::new(true));
    let flaky = Arc::new(Flaky {
        inner: inner.clone(),
        down: down.clone(),
        lists: AtomicUsize::new(0),
    });
    let (tx, mut rx) = mpsc::channel(16);
    let _syncer = Syncer::start_with(flaky.clone(), KINDS, tx, fast());
    let first = rx.recv().await.unwrap();
    assert_eq!(first, vec![SyncEvent::Status(SyncStatus::WaitForDatastore)]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Nothing but the initial status while the store is down.
    assert!(
        rx.try_recv().is_err(),
        "events while the datastore was down"
    );
    // Backoff (10 ms doubling to 200 ms) allows ~10 attempts per kind in a second; a
    // spinning loop would make thousands.
    let attempts = flaky.lists.load(Ordering::SeqCst);
    assert!(
        attempts >= KINDS.len() && attempts < 20 * KINDS.len(),
        "{attempts} list attempts"
    );
    down.store(false, Ordering::SeqCst);
    let mut mirror = Mirror::default();
    mirror.apply(first);
    converge(&mut mirror, &mut rx, &*flaky).await;
    assert_eq!(
        mirror.statuses,
        [
            SyncStatus::WaitForDatastore,
            SyncStatus::ResyncInProgress,
            SyncStatus::InSync
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_mid_stream_converges_after_recovery() {
    let inner = Arc::new(MemoryDatastore::new());
    for i in 0..20 {
        inner
            .create(net_set(&format!("g{i}"), "10.0.0.0/8"))
            .await
            .unwrap();
    }
    let down = Arc::new(AtomicBool::new(false));
    let flaky = Arc::new(Flaky {
        inner: inner.clone(),
        down: down.clone(),
        lists: AtomicUsize::new(0),
    });
    let (tx, mut rx) = mpsc::channel(16);
    let _syncer = Syncer::start_with(flaky.clone(), KINDS, tx, fast());
    let mut mirror = Mirror::default();
    converge(&mut mirror, &mut rx, &*flaky).await;
    down.store(true, Ordering::SeqCst);
    // Writes the syncer cannot see while it is cut off (the writer reaches the store).
    for i in 0..20 {
        if i % 3 == 0 {
            inner
                .delete(
                    &ResourceKey::new(Kind::GlobalNetworkSet, "", format!("g{i}")),
                    None,
                )
                .await
                .unwrap();
        }
    }
    inner
        .create(ns_net_set("c", "late", "10.0.0.0/8"))
        .await
        .unwrap();
    // Let the first watch break while down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    down.store(false, Ordering::SeqCst);
    converge(&mut mirror, &mut rx, &*flaky).await;
    assert_eq!(mirror.items.len(), 20 - 7 + 1 + 1);
    assert_eq!(
        mirror.status,
        Some(SyncStatus::InSync),
        "status does not go backwards"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_ten_thousand_writes_converges() {
    let store = Arc::new(MemoryDatastore::new());
    let (tx, mut rx) = mpsc::channel(8);
    let _syncer = Syncer::start(store.clone(), KINDS, tx);
    let mut mirror = Mirror::default();
    converge(&mut mirror, &mut rx, &*store).await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..10_000 {
                let name = format!("b{}", i % 2000);
                let key = ResourceKey::new(Kind::GlobalNetworkSet, "", name.clone());
                // Rounds of 2000: create all, update all, delete the even ones,
                // re-create them, update all again.
                match i / 2000 {
                    0 => drop(store.create(net_set(&name, "10.0.0.0/8")).await.unwrap()),
                    1 | 4 => {
                        let mut r = store.get(&key).await.unwrap();
                        r.metadata_mut()
                            .labels
                            .insert("round".into(), (i / 2000).to_string());
                        store.update(r).await.unwrap();
                    }
                    2 if i % 2 == 0 => drop(store.delete(&key, None).await.unwrap()),
                    3 if i % 2 == 0 => {
                        drop(store.create(net_set(&name, "10.2.0.0/16")).await.unwrap())
                    }
                    _ => {}
                }
            }
        })
    };
    // Consume concurrently with the writer.
    loop {
        tokio::select! {
            batch = rx.recv() => mirror.apply(batch.unwrap()),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if writer.is_finished() { break; }
            }
        }
    }
    writer.await.unwrap();
    converge(&mut mirror, &mut rx, &*store).await;
    assert_eq!(mirror.items.len(), 2001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_values_are_absent() {
    use calico_datastore::KvBackend;
    use calico_datastore::memory::MemoryBackend;
    let store = Arc::new(calico_datastore::KvStore::with_backend(MemoryBackend::new(
        1000,
    )));
    let good = store.create(net_set("ok", "10.0.0.0/8")).await.unwrap();
    let bad_key = ResourceKey::new(Kind::GlobalNetworkSet, "", "bad");
    // A value some other writer stored that is not a valid object.
    store
        .backend_ref()
        .create(
            &bad_key,
            r#"{"kind":"GlobalNetworkSet","spec":{"bogus":1}}"#.into(),
        )
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let _syncer = Syncer::start(store.clone(), &[Kind::GlobalNetworkSet], tx);
    let mut mirror = Mirror::default();
    while mirror.status != Some(SyncStatus::InSync) {
        mirror.apply(rx.recv().await.unwrap());
    }
    assert_eq!(
        mirror.items.keys().collect::<Vec<_>>(),
        [&ResourceKey::of(&good)]
    );
    // It becomes valid: delivered. Then invalid again: delivered as a deletion.
    let rev = store
        .backend_ref()
        .get(&bad_key)
        .await
        .unwrap()
        .unwrap()
        .revision;
    let valid = calico_datastore::kv::encode(&net_set("bad", "10.9.0.0/16"));
    let rev = store
        .backend_ref()
        .update(&bad_key, valid, rev)
        .await
        .unwrap();
    while !mirror.items.contains_key(&bad_key) {
        mirror.apply(rx.recv().await.unwrap());
    }
    store
        .backend_ref()
        .update(&bad_key, "not json".into(), rev)
        .await
        .unwrap();
    while mirror.items.contains_key(&bad_key) {
        mirror.apply(rx.recv().await.unwrap());
    }
    assert_eq!(mirror.items.len(), 1);
}
