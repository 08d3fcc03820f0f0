//! Shared helpers for the end-to-end tests in `tests/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use calico_datastore::Datastore;
use calico_datastore::syncer::Mirror;
use calico_model::sync::{ResourceKey, SyncEvent, SyncStatus};
use calico_model::{Kind, Resource};
use tokio::sync::mpsc;

/// Everything `store` holds of `kinds`, sorted by key.
pub async fn snapshot(store: &dyn Datastore, kinds: &[Kind]) -> Vec<(ResourceKey, Resource)> {
    let mut all = Vec::new();
    for kind in kinds {
        let list = store.list(*kind, None).await.expect("list");
        all.extend(list.items.into_iter().map(|r| (ResourceKey::of(&r), r)));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// A syncer and the consumer-side replica it feeds, for convergence tests.
pub struct Consumer {
    /// The running syncer.
    pub syncer: calico_datastore::syncer::Syncer,
    /// What the consumer has received.
    pub mirror: Mirror,
    rx: mpsc::Receiver<Vec<SyncEvent>>,
    store: std::sync::Arc<dyn Datastore>,
    kinds: Vec<Kind>,
}

impl Consumer {
    /// Starts a syncer of `kinds` over `store` whose output channel holds `capacity` batches
    /// (1 makes a consumer that lags as soon as it stops reading).
    pub fn start(
        store: std::sync::Arc<dyn Datastore>,
        kinds: &[Kind],
        capacity: usize,
        options: calico_datastore::syncer::SyncerOptions,
    ) -> Consumer {
        let (tx, rx) = mpsc::channel(capacity);
        let syncer =
            calico_datastore::syncer::Syncer::start_with(store.clone(), kinds, tx, options);
        Consumer {
            syncer,
            mirror: Mirror::default(),
            rx,
            store,
            kinds: kinds.to_vec(),
        }
    }

    /// Consumes until the replica equals the store (see [`converge`]); panics after 2 minutes.
    pub async fn converge(&mut self) {
        converge(
            &mut self.mirror,
            &mut self.rx,
            &*self.store,
            &self.kinds,
            Duration::from_secs(120),
        )
        .await;
    }

    /// Consumes whatever arrives for `period` (the consumer keeps reading while the store
    /// misbehaves).
    pub async fn consume_for(&mut self, period: Duration) {
        let until = tokio::time::Instant::now() + period;
        while let Ok(Some(batch)) = tokio::time::timeout_at(until, self.rx.recv()).await {
            self.mirror.apply(batch);
        }
    }

    /// Consumes until `task` finishes, then returns its output.
    pub async fn consume_while<T>(&mut self, task: tokio::task::JoinHandle<T>) -> T {
        while !task.is_finished() {
            self.consume_for(Duration::from_millis(100)).await;
        }
        task.await.expect("task")
    }
}

/// How long the syncer's stream must be silent before [`converge`] compares with the store.
const QUIET: Duration = Duration::from_millis(100);

/// Applies batches from `rx` to `mirror` until it is in sync and equal to the store's
/// contents of `kinds`; panics after `limit`.
pub async fn converge(
    mirror: &mut Mirror,
    rx: &mut mpsc::Receiver<Vec<SyncEvent>>,
    store: &dyn Datastore,
    kinds: &[Kind],
    limit: Duration,
) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        // Drain what is ready before comparing (comparing lists the whole store).
        while let Ok(batch) = rx.try_recv() {
            mirror.apply(batch);
        }
        if mirror.status == Some(SyncStatus::InSync) {
            // Compare only once the stream has gone quiet for a moment: comparing lists the
            // whole store, which is slow while thousands of small batches are arriving.
            if let Ok(Some(batch)) = tokio::time::timeout(QUIET, rx.recv()).await {
                mirror.apply(batch);
                continue;
            }
            let want = snapshot(store, kinds).await;
            let have: Vec<_> = mirror
                .items
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if want == have {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "did not converge: consumer has {} items, store {}",
                    have.len(),
                    want.len()
                );
            }
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(batch)) => mirror.apply(batch),
            Ok(None) => panic!("syncer stopped"),
            Err(_) => {
                let want = snapshot(store, kinds).await;
                panic!(
                    "did not converge in {limit:?}: consumer has {} items, store {} (status {:?})",
                    mirror.items.len(),
                    want.len(),
                    mirror.status
                );
            }
        }
    }
}

/// A cluster-scoped resource for tests.
pub fn net_set(name: &str, cidr: &str) -> Resource {
    calico_datastore::conformance::net_set(name, cidr)
}

/// Writes `n` changes to `GlobalNetworkSet`s named `{prefix}{i % 1000}` with `concurrency`
/// writers: creates, label updates, deletes and re-creates. Retries while the store is
/// unavailable (so that it can be restarted underneath).
pub async fn burst(
    store: std::sync::Arc<dyn Datastore>,
    prefix: &str,
    n: usize,
    concurrency: usize,
) {
    use calico_datastore::{DatastoreExt, Error};
    use futures::StreamExt;
    futures::stream::iter(0..n)
        .for_each_concurrent(concurrency, |i| {
            let store = store.clone();
            let name = format!("{prefix}{}", i % 1000);
            async move {
                let key = ResourceKey::new(Kind::GlobalNetworkSet, "", name.clone());
                loop {
                    let result = match (i / 1000) % 4 {
                        0 => store.create(net_set(&name, "10.0.0.0/8")).await.map(drop),
                        1 | 3 => store
                            .modify(&key, |r| {
                                r.metadata_mut().labels.insert("i".into(), i.to_string());
                            })
                            .await
                            .map(drop),
                        _ if i % 2 == 0 => store.delete(&key, None).await.map(drop),
                        _ => Ok(()),
                    };
                    match result {
                        Ok(()) | Err(Error::AlreadyExists { .. }) | Err(Error::NotFound { .. }) => {
                            break;
                        }
                        Err(e) if e.is_retryable() => {
                            tokio::time::sleep(Duration::from_millis(50)).await
                        }
                        Err(e) => panic!("write {i} failed: {e}"),
                    }
                }
            }
        })
        .await;
}
