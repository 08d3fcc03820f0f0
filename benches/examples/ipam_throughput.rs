//! IPAM throughput: sequential allocations on the embedded store (the figure to compare
//! with host-local's 500 sequential allocations, see `benches/ipam-vs-host-local.sh`), and
//! allocations per second with 4 concurrent allocators on a real etcd, with the
//! compare-and-swap retries each allocation needed.
//!
//! `cargo run --release -p calico-benches --example ipam_throughput [-- N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use calico_datastore::ipam::{AutoAssignArgs, Ipam};
use calico_datastore::testing::EtcdServer;
use calico_datastore::{Datastore, DatastoreConfig, connect};
use calico_model::{IPPool, IPPoolSpec, ObjectMeta};

async fn pool(ds: &Arc<dyn Datastore>) {
    let spec = IPPoolSpec {
        cidr: "10.200.0.0/16".into(),
        ..Default::default()
    };
    ds.create(IPPool::new(ObjectMeta::named("bench"), spec).into())
        .await
        .unwrap();
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `n` sequential allocations then `n` releases by one allocator; per-operation medians.
async fn sequential(name: &str, ds: Arc<dyn Datastore>, n: usize) {
    pool(&ds).await;
    let ipam = Ipam::new(ds);
    let mut add = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        ipam.auto_assign(&AutoAssignArgs::new(
            &format!("k8s-pod-network.c{i}"),
            "node-1",
            1,
            0,
        ))
        .await
        .unwrap();
        add.push(t.elapsed());
    }
    let add_wall = start.elapsed();
    let first = median(&mut add[..n / 10].to_vec());
    let last = median(&mut add[n - n / 10..].to_vec());
    let mut del = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        ipam.release_by_handle(&format!("k8s-pod-network.c{i}"))
            .await
            .unwrap();
        del.push(t.elapsed());
    }
    println!(
        "{name}: {n} sequential allocations: median {:.2?} (first 10% {:.2?} → last 10% {:.2?}), {:.0} allocations/s; release median {:.2?}",
        median(&mut add),
        first,
        last,
        n as f64 / add_wall.as_secs_f64(),
        median(&mut del)
    );
}

/// `allocators` concurrent allocators (each its own connection and host, or all on one
/// host), `per` allocations each.
async fn concurrent(
    name: &str,
    config: DatastoreConfig,
    allocators: usize,
    per: usize,
    same_host: bool,
) {
    let mut tasks = Vec::new();
    let start = Instant::now();
    for a in 0..allocators {
        let config = config.clone();
        let name = name.to_owned();
        tasks.push(tokio::spawn(async move {
            let ipam = Ipam::new(connect(&config).await.unwrap());
            let host = if same_host {
                "node-0".to_owned()
            } else {
                format!("node-{a}")
            };
            for i in 0..per {
                ipam.auto_assign(&AutoAssignArgs::new(
                    &format!("k8s-pod-network.{name}-{a}-{i}"),
                    &host,
                    1,
                    0,
                ))
                .await
                .unwrap();
            }
            ipam.stats()
        }));
    }
    let mut retries = 0;
    let mut conflicts = 0;
    for t in tasks {
        let s = t.await.unwrap();
        retries += s.cas_retries;
        conflicts += s.claim_conflicts;
    }
    let wall = start.elapsed();
    let total = allocators * per;
    println!(
        "{name}: {allocators} concurrent allocators ({}), {total} allocations in {wall:.2?}: {:.0} allocations/s, {:.3} CAS retries and {:.3} lost block claims per allocation",
        if same_host {
            "one host"
        } else {
            "one host each"
        },
        total as f64 / wall.as_secs_f64(),
        retries as f64 / total as f64,
        conflicts as f64 / total as f64,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("datastore.db");
    let embedded = DatastoreConfig::Embedded { path };
    sequential("embedded", connect(&embedded).await.unwrap(), n).await;
    sequential(
        "memory",
        connect(&DatastoreConfig::Memory).await.unwrap(),
        n,
    )
    .await;

    let server = EtcdServer::spawn().await.expect("etcd starts");
    let etcd = DatastoreConfig::Etcd(server.config());
    let ds = connect(&etcd).await.unwrap();
    sequential("etcd", ds.clone(), n).await;
    concurrent("etcd-hosts", etcd.clone(), 4, n / 4, false).await;
    concurrent("etcd-samehost", etcd.clone(), 4, n / 4, true).await;
    concurrent("embedded-samehost", embedded.clone(), 4, n / 4, true).await;
}
