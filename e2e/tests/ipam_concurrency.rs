//! IPAM under real concurrency: 8 operating-system processes (this test binary re-executed
//! as workers) allocate and release 2,000 addresses at once on one store — the embedded
//! SQLite file, and a real etcd — spread over 4 hosts so that same-host and cross-host
//! block claims both race. Afterwards the store must hold exactly the addresses the workers
//! say they hold (no duplicates, no leaks), every handle must match its blocks, and
//! releasing everything must leave no allocation and no handle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use calico_datastore::ipam::{AutoAssignArgs, Ipam, IpamError};
use calico_datastore::testing::EtcdServer;
use calico_datastore::{Datastore, DatastoreConfig, EtcdConfig, connect};
use calico_model::{IPPool, IPPoolSpec, Kind, ObjectMeta, Resource};

const WORKERS: usize = 8;
const PER_WORKER: usize = 250;
const HOSTS: usize = 4;
const ENV_STORE: &str = "IPAM_WORKER_STORE";

fn config_from_env(s: &str) -> DatastoreConfig {
    match s.strip_prefix("etcd=") {
        Some(ep) => DatastoreConfig::Etcd(EtcdConfig {
            endpoints: vec![ep.to_owned()],
            ..Default::default()
        }),
        None => DatastoreConfig::Embedded {
            path: PathBuf::from(s.trim_start_matches("embedded=")),
        },
    }
}

/// The worker: runs only when re-executed by [`run_workers`] (a no-op in a normal run).
#[tokio::test(flavor = "current_thread")]
async fn ipam_worker_process() {
    let Ok(store) = std::env::var(ENV_STORE) else {
        return;
    };
    let id: usize = std::env::var("IPAM_WORKER_ID").unwrap().parse().unwrap();
    let host = format!("host-{}", id % HOSTS);
    let ds = connect(&config_from_env(&store)).await.unwrap();
    let ipam = Ipam::new(ds);
    let mut held: Vec<(String, IpAddr)> = Vec::new();
    let mut rng = fastrand_seed(id as u64);
    for i in 0..PER_WORKER {
        let handle = format!("k8s-pod-network.w{id}-{i}");
        let mut args = AutoAssignArgs::new(&handle, &host, 1, 0);
        args.attrs.insert("node".into(), host.clone());
        let mut busy = 0;
        let got = loop {
            match ipam.auto_assign(&args).await {
                Ok(got) => break got,
                // A store that is momentarily busy is retried (a few times); anything else
                // fails the test.
                Err(IpamError::Datastore(e)) if e.is_retryable() && busy < 20 => {
                    busy += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("worker {id}: allocation {i}: {e}"),
            }
        };
        held.push((handle, got.ipv4[0].addr()));
        if i % 3 == 2 {
            let (h, ip) = held.remove(rng(held.len()));
            let freed = ipam.release_by_handle(&h).await.unwrap();
            assert_eq!(freed, vec![ip], "worker {id}: releasing {h}");
        }
    }
    for (h, ip) in &held {
        println!("HELD {h} {ip}");
    }
}

/// A tiny deterministic generator (no shared state between workers).
fn fastrand_seed(seed: u64) -> impl FnMut(usize) -> usize {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    }
}

async fn run_workers(store: &str, ds: Arc<dyn Datastore>) {
    ds.create(
        IPPool::new(
            ObjectMeta::named("pool"),
            IPPoolSpec {
                cidr: "10.99.0.0/20".into(),
                ..Default::default()
            },
        )
        .into(),
    )
    .await
    .unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..WORKERS)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "ipam_worker_process",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(ENV_STORE, store)
                .env("IPAM_WORKER_ID", id.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut held: BTreeMap<IpAddr, String> = BTreeMap::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a worker failed: {:?}", out.status);
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // libtest prints "test ipam_worker_process ... " just before the first line.
            if let Some(rest) = line.find("HELD ").map(|at| &line[at + 5..]) {
                let (h, ip) = rest.split_once(' ').unwrap();
                let ip: IpAddr = ip.parse().unwrap();
                assert!(
                    held.insert(ip, h.to_owned()).is_none(),
                    "{ip} held by two workers"
                );
            }
        }
    }
    let expected_held = WORKERS * (PER_WORKER - PER_WORKER / 3);
    assert_eq!(held.len(), expected_held);

    // The store agrees with the workers exactly.
    let ipam = Ipam::new(ds.clone());
    let mut stored: BTreeMap<IpAddr, String> = BTreeMap::new();
    for a in ipam.allocations().await.unwrap() {
        assert!(
            stored.insert(a.ip, a.handle.unwrap()).is_none(),
            "{} allocated twice",
            a.ip
        );
    }
    assert_eq!(
        stored, held,
        "the store's allocations differ from what the workers hold"
    );
    let handles = ds.list(Kind::IPAMHandle, None).await.unwrap();
    let handle_ids: BTreeSet<String> = handles
        .items
        .iter()
        .filter_map(|r| match r {
            Resource::IPAMHandle(h) => {
                assert_eq!(
                    h.spec.block.values().sum::<i64>(),
                    1,
                    "{}",
                    h.spec.handle_id
                );
                Some(h.spec.handle_id.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(handle_ids, held.values().cloned().collect::<BTreeSet<_>>());
    let report = ipam.check().await.unwrap();
    assert!(
        report.block_problems.is_empty(),
        "{:?}",
        report.block_problems
    );
    assert!(report.leaked_handles.is_empty() && report.allocations_without_handle.is_empty());
    assert!(
        report.affinities_without_block.is_empty(),
        "{:?}",
        report.affinities_without_block
    );
    // Every block is affine to one of the hosts and no host exceeded the block limit.
    let usage = ipam.utilization().await.unwrap();
    let mut per_host: BTreeMap<String, usize> = BTreeMap::new();
    for b in &usage[0].blocks {
        *per_host
            .entry(b.affinity.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    assert!(per_host.values().all(|&n| n <= 20), "{per_host:?}");

    // Release everything: nothing may be left behind.
    for h in held.values() {
        assert_eq!(ipam.release_by_handle(h).await.unwrap().len(), 1);
    }
    assert!(ipam.allocations().await.unwrap().is_empty());
    assert!(
        ds.list(Kind::IPAMHandle, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    println!(
        "{WORKERS} processes, {} allocations, {} held at the end, {} blocks over {} hosts: consistent",
        WORKERS * PER_WORKER,
        held.len(),
        usage[0].blocks.len(),
        per_host.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("datastore.db");
    let ds = connect(&DatastoreConfig::Embedded { path: path.clone() })
        .await
        .unwrap();
    run_workers(&format!("embedded={}", path.display()), ds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_on_real_etcd() {
    let server = EtcdServer::spawn().await.expect("etcd starts");
    let ds = connect(&DatastoreConfig::Etcd(server.config()))
        .await
        .unwrap();
    run_workers(&format!("etcd={}", server.endpoint()), ds).await;
}
