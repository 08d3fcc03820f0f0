//! The syncer over real etcd: it must converge to etcd's contents when etcd is killed and
//! restarted mid-stream, when history is compacted with `etcdctl compact`, and through a
//! burst of 10,000 writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use calico_datastore::syncer::{FELIX_KINDS, Mirror, Syncer, SyncerOptions};
use calico_datastore::testing::EtcdServer;
use calico_datastore::{Datastore, etcd};
use calico_e2e::{burst, converge};
use calico_model::Kind;
use tokio::sync::mpsc;

const KINDS: &[Kind] = &[Kind::GlobalNetworkSet, Kind::Profile, Kind::Tier];

fn options() -> SyncerOptions {
    SyncerOptions {
        min_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(500),
        ..SyncerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_when_etcd_is_killed_and_restarted_mid_stream() {
    let mut server = EtcdServer::spawn().await.expect("etcd starts");
    let store: Arc<dyn Datastore> = Arc::new(etcd::connect(&server.config()).await.unwrap());
    burst(store.clone(), "pre-", 300, 8).await;
    let (tx, mut rx) = mpsc::channel(16);
    let _syncer = Syncer::start_with(store.clone(), KINDS, tx, options());
    let mut mirror = Mirror::default();
    converge(
        &mut mirror,
        &mut rx,
        &*store,
        KINDS,
        Duration::from_secs(60),
    )
    .await;

    // Writes keep going while etcd dies and comes back.
    let writer = tokio::spawn(burst(store.clone(), "mid-", 3000, 8));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    // Keep consuming while it is down (nothing must break on the consumer side).
    let down_until = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(batch)) = tokio::time::timeout_at(down_until, rx.recv()).await {
        mirror.apply(batch);
    }
    server.start().await.expect("etcd restarts");
    writer.await.unwrap();
    converge(
        &mut mirror,
        &mut rx,
        &*store,
        KINDS,
        Duration::from_secs(120),
    )
    .await;
    assert!(mirror.items.len() > 1000, "{}", mirror.items.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_through_etcdctl_compaction_while_the_consumer_lags() {
    let server = EtcdServer::spawn().await.expect("etcd starts");
    let store: Arc<dyn Datastore> = Arc::new(etcd::connect(&server.config()).await.unwrap());
    // A consumer that does not read: the syncer's watch falls behind.
    let (tx, mut rx) = mpsc::channel(1);
    let _syncer = Syncer::start_with(store.clone(), KINDS, tx, options());
    let mut mirror = Mirror::default();
    converge(
        &mut mirror,
        &mut rx,
        &*store,
        KINDS,
        Duration::from_secs(60),
    )
    .await;
    burst(store.clone(), "c-", 4000, 16).await;
    let revision = store
        .list(Kind::GlobalNetworkSet, None)
        .await
        .unwrap()
        .revision;
    server
        .compact(revision.parse().unwrap())
        .await
        .expect("etcdctl compact");
    burst(store.clone(), "d-", 1000, 16).await;
    converge(
        &mut mirror,
        &mut rx,
        &*store,
        KINDS,
        Duration::from_secs(120),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_after_a_burst_of_ten_thousand_writes() {
    let server = EtcdServer::spawn().await.expect("etcd starts");
    let store: Arc<dyn Datastore> = Arc::new(etcd::connect(&server.config()).await.unwrap());
    let (tx, mut rx) = mpsc::channel(64);
    let _syncer = Syncer::start_with(store.clone(), FELIX_KINDS, tx, options());
    let mut mirror = Mirror::default();
    converge(
        &mut mirror,
        &mut rx,
        &*store,
        FELIX_KINDS,
        Duration::from_secs(60),
    )
    .await;
    let writer = tokio::spawn(burst(store.clone(), "b-", 10_000, 32));
    while !writer.is_finished() {
        if let Ok(Some(batch)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            mirror.apply(batch);
        }
    }
    writer.await.unwrap();
    converge(
        &mut mirror,
        &mut rx,
        &*store,
        FELIX_KINDS,
        Duration::from_secs(120),
    )
    .await;
}
