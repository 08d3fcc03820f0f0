//! The syncer over the embedded (SQLite) store: convergence through a 10,000-write burst
//! and through compaction while the consumer lags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use calico_datastore::Datastore;
use calico_datastore::embedded::EmbeddedDatastore;
use calico_datastore::syncer::SyncerOptions;
use calico_e2e::{Consumer, burst};
use calico_model::Kind;

const KINDS: &[Kind] = &[Kind::GlobalNetworkSet, Kind::Profile, Kind::Tier];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_after_a_burst_and_a_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Datastore> =
        Arc::new(EmbeddedDatastore::open(dir.path().join("calico.db")).unwrap());
    let mut consumer = Consumer::start(store.clone(), KINDS, 1, SyncerOptions::default());
    consumer.converge().await;
    burst(store.clone(), "b-", 10_000, 16).await;
    let revision = store
        .list(Kind::GlobalNetworkSet, None)
        .await
        .unwrap()
        .revision;
    store.compact(&revision).await.unwrap();
    burst(store.clone(), "c-", 1000, 16).await;
    consumer.converge().await;
    // 1000 "b-" sets (the burst's last phases recreate the ones it deleted), 1000 "c-" sets,
    // and the built-in default-allow profile.
    assert_eq!(consumer.mirror.items.len(), 1000 + 1000 + 1);
    // The consumer lagged (channel of 1) behind a compaction: the watch must have seen it.
    let stats = consumer.syncer.stats();
    assert!(stats.compactions >= 1, "{stats:?}");
}
