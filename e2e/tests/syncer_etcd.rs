//! The syncer over real etcd: it must converge to etcd's contents when etcd is killed and
//! restarted mid-stream, when history is compacted with `etcdctl compact`, and through a
//! burst of 10,000 writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use calico_datastore::syncer::{FELIX_KINDS, SyncerOptions};
use calico_datastore::testing::EtcdServer;
use calico_datastore::{Datastore, etcd};
use calico_e2e::{Consumer, burst};
use calico_model::Kind;

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
    let mut consumer = Consumer::start(store.clone(), KINDS, 16, options());
    consumer.converge().await;

    // Writes keep going while etcd dies and comes back.
    let writer = tokio::spawn(burst(store.clone(), "mid-", 3000, 8));
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    // Keep consuming while it is down (nothing must break on the consumer side).
    consumer.consume_for(Duration::from_secs(2)).await;
    server.start().await.expect("etcd restarts");
    consumer.consume_while(writer).await;
    consumer.converge().await;
    // 300 "pre-" sets, the 500 odd "mid-" sets the burst leaves (it creates 1000, then
    // deletes the even ones), and the built-in default-allow profile.
    assert_eq!(consumer.mirror.items.len(), 300 + 500 + 1);
    // The kill broke the watches and the syncer relisted every kind after it.
    let stats = consumer.syncer.stats();
    assert!(stats.watch_breaks >= 1, "{stats:?}");
    assert!(stats.lists > KINDS.len() as u64, "{stats:?}");
}

/// Creates `n` GlobalNetworkSets of 400 networks each (~6 KB of JSON apiece).
async fn big_sets(store: &Arc<dyn Datastore>, n: usize) {
    use futures::StreamExt;
    let nets: Vec<_> = (0..400u32)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap())
        .collect();
    futures::stream::iter(0..n)
        .for_each_concurrent(16, |i| {
            let mut set = calico_e2e::net_set(&format!("big-{i}"), "10.0.0.0/8");
            if let calico_model::Resource::GlobalNetworkSet(s) = &mut set {
                s.spec.nets = nets.clone();
            }
            let store = store.clone();
            async move {
                store.create(set).await.unwrap();
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_through_etcdctl_compaction_while_the_consumer_lags() {
    let server = EtcdServer::spawn().await.expect("etcd starts");
    let store: Arc<dyn Datastore> = Arc::new(etcd::connect(&server.config()).await.unwrap());
    // A consumer that does not read during the burst, and a syncer with small batches (so
    // its own queues hold few events): the syncer stops reading its watch, etcd's buffers
    // for the watch fill, and etcd holds the watch back as a slow one. Compacting past it
    // must then end the watch with "compacted", and the syncer must relist.
    let options = SyncerOptions {
        batch_size: 10,
        ..options()
    };
    let mut consumer = Consumer::start(store.clone(), KINDS, 1, options);
    consumer.converge().await;
    // ~12 MB of events: more than the watch's buffers between etcd and the syncer
    // (etcd's per-watch queue, gRPC's send quota, the HTTP/2 stream window).
    big_sets(&store, 2000).await;
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
    consumer.converge().await;
    let stats = consumer.syncer.stats();
    assert!(
        stats.compactions >= 1,
        "the watch never saw the compaction: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_after_a_burst_of_ten_thousand_writes() {
    let server = EtcdServer::spawn().await.expect("etcd starts");
    let store: Arc<dyn Datastore> = Arc::new(etcd::connect(&server.config()).await.unwrap());
    let mut consumer = Consumer::start(store.clone(), FELIX_KINDS, 64, options());
    consumer.converge().await;
    let writer = tokio::spawn(burst(store.clone(), "b-", 10_000, 32));
    consumer.consume_while(writer).await;
    consumer.converge().await;
    // 1000 sets (the burst's later phases recreate what it deleted) and the built-in
    // default-allow profile.
    assert_eq!(consumer.mirror.items.len(), 1000 + 1);
}
