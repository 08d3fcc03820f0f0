//! Datastore backends: create, compare-and-swap update, get, list and in-process watch
//! latency for the memory store and the embedded store (both durabilities), next to a raw
//! SQLite INSERT with the embedded store's settings.
//!
//! The cross-process watch latency and the write-cost ratio are printed by
//! `cargo run --release -p calico-benches --example datastore_cross_process`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use calico_datastore::embedded::{Durability, EmbeddedDatastore, EmbeddedOptions};
use calico_datastore::memory::MemoryDatastore;
use calico_datastore::{Datastore, WatchStream};
use calico_model::sync::ResourceKey;
use calico_model::{Kind, Resource};
use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use futures::StreamExt;
use tokio::runtime::Runtime;

#[path = "support/datastore.rs"]
mod support;

use support::{RawSqlite, resource};

/// Concurrent writers in the concurrent-create benchmark (like many CNI ADDs at once
/// through one process, or a controller's worker pool).
const CONCURRENCY: usize = 32;

/// Objects in the listed kind for the list benchmark.
const LISTED: usize = 1000;

/// A store under test and the directory holding its file.
struct Backend {
    name: &'static str,
    store: Arc<dyn Datastore>,
    _dir: Option<tempfile::TempDir>,
}

fn embedded(name: &'static str, durability: Durability) -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions::default().durability(durability);
    let store = EmbeddedDatastore::open_with(dir.path().join("datastore.db"), options)
        .expect("open the embedded store");
    Backend {
        name,
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

fn backends() -> Vec<Backend> {
    vec![
        Backend {
            name: "memory",
            store: Arc::new(MemoryDatastore::new()),
            _dir: None,
        },
        embedded("embedded_full", Durability::Full),
        embedded("embedded_normal", Durability::Normal),
    ]
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A name never used before in this run.
fn fresh_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
}

fn create(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("datastore_create");
    configure(&mut g);
    for b in backends() {
        g.bench_function(b.name, |bench| {
            bench.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let r = resource(&fresh_name("create"));
                        black_box(b.store.create(r).await.expect("create"));
                    }
                    start.elapsed()
                })
            })
        });
    }
    for (name, durability) in [
        ("raw_sqlite_insert_full", Durability::Full),
        ("raw_sqlite_insert_normal", Durability::Normal),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let raw = RawSqlite::open(&dir.path().join("raw.db"), durability).expect("raw sqlite");
        let mut n = 0u64;
        g.bench_function(name, |bench| {
            bench.iter(|| {
                n += 1;
                raw.insert(n).expect("insert")
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group(format!("datastore_create_{CONCURRENCY}_concurrent"));
    configure(&mut g);
    for b in backends() {
        g.bench_function(b.name, |bench| {
            bench.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    futures::stream::iter(0..iters)
                        .for_each_concurrent(CONCURRENCY, |_| async {
                            let r = resource(&fresh_name("concurrent"));
                            black_box(b.store.create(r).await.expect("create"));
                        })
                        .await;
                    start.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn update_and_read(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("datastore_update");
    configure(&mut g);
    for b in backends() {
        let mut current = rt
            .block_on(b.store.create(resource("updated")))
            .expect("create");
        let mut n = 0u64;
        g.bench_function(b.name, |bench| {
            bench.iter(|| {
                n += 1;
                let mut next = current.clone();
                next.metadata_mut()
                    .annotations
                    .insert("n".into(), n.to_string());
                current = rt.block_on(b.store.update(next)).expect("update");
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("datastore_get");
    configure(&mut g);
    for b in backends() {
        let key = ResourceKey::of(
            &rt.block_on(b.store.create(resource("read")))
                .expect("create"),
        );
        g.bench_function(b.name, |bench| {
            bench.iter(|| black_box(rt.block_on(b.store.get(&key)).expect("get")))
        });
    }
    g.finish();

    let mut g = c.benchmark_group(format!("datastore_list_{LISTED}"));
    configure(&mut g);
    for b in backends() {
        rt.block_on(async {
            for i in 0..LISTED {
                let mut r = resource(&format!("listed-{i}"));
                r.metadata_mut().namespace = "bench".into();
                b.store.create(as_network_set(r)).await.expect("create");
            }
        });
        g.bench_function(b.name, |bench| {
            bench.iter(|| {
                let list = rt
                    .block_on(b.store.list(Kind::NetworkSet, None))
                    .expect("list");
                assert_eq!(list.items.len(), LISTED);
            })
        });
    }
    g.finish();
}

/// The namespaced twin of [`resource`] (a NetworkSet in its namespace), so the listed kind
/// holds exactly the listed objects.
fn as_network_set(r: Resource) -> Resource {
    let Resource::GlobalNetworkSet(g) = r else {
        unreachable!("resource() builds GlobalNetworkSets")
    };
    calico_model::NetworkSet::new(
        g.metadata,
        calico_model::NetworkSetSpec { nets: g.spec.nets },
    )
    .into()
}

/// From calling `update` to the watch of the same process delivering the event.
fn watch_latency(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("datastore_watch_latency_in_process");
    configure(&mut g);
    for b in backends() {
        let mut current = rt
            .block_on(b.store.create(resource("watched")))
            .expect("create");
        let mut watch: WatchStream = rt
            .block_on(b.store.watch(Kind::GlobalNetworkSet, ""))
            .expect("watch");
        let mut n = 0u64;
        g.bench_function(b.name, |bench| {
            bench.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        n += 1;
                        let mut next = current.clone();
                        next.metadata_mut()
                            .annotations
                            .insert("n".into(), n.to_string());
                        let start = Instant::now();
                        let (updated, event) = futures::join!(b.store.update(next), watch.next());
                        total += start.elapsed();
                        current = updated.expect("update");
                        let event = event.expect("watch open").expect("watch event");
                        assert_eq!(event.revision, current.metadata().resource_version);
                    }
                    total
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, create, update_and_read, watch_latency);
criterion_main!(benches);
