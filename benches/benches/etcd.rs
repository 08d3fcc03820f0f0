//! The etcd v3 backend against a real etcd started here (`/usr/bin/etcd`, loopback, temp
//! data dir): create/get/update latency and concurrent create throughput, watch latency, and
//! our compare-and-swap `update` against a raw etcd-client transaction doing the same CAS.
//!
//! The objects are realistic NetworkPolicies (three rules, ~700 bytes of JSON). Besides
//! criterion's report, the run prints the update/raw-txn ratio measured interleaved in one
//! process, on the same etcd connection.

use std::hint::black_box;
use std::time::{Duration, Instant};

use calico_datastore::etcd::etcd_client::{Client, Compare, CompareOp, Txn, TxnOp};
use calico_datastore::etcd::{self, EtcdDatastore, resource_path};
use calico_datastore::kv::encode;
use calico_datastore::testing::EtcdServer;
use calico_datastore::{Datastore, WatchStream};
use calico_model::Resource;
use calico_model::sync::ResourceKey;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use tokio::runtime::Runtime;

/// A realistic NetworkPolicy named `name` (namespace `ns-0`).
fn policy(name: &str) -> Resource {
    let mut r = calico_model::decode_yaml(&calico_benches::policy_stream(1))
        .expect("bench policy decodes")
        .remove(0);
    r.metadata_mut().name = name.to_owned();
    r
}

/// Flips a label so that every update writes a different value.
fn touch(r: &mut Resource, n: u64) {
    r.metadata_mut()
        .labels
        .insert("bench-round".into(), (n % 2).to_string());
}

struct Setup {
    rt: Runtime,
    _server: EtcdServer,
    store: EtcdDatastore,
    raw: Client,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = rt.block_on(EtcdServer::spawn()).expect("etcd starts");
    let store = rt
        .block_on(etcd::connect(&server.config()))
        .expect("connects");
    // The raw client shares the store's connection: only the work above it differs.
    let raw = store.backend_ref().client().clone();
    Setup {
        rt,
        _server: server,
        store,
        raw,
    }
}

/// One raw CAS: `If(mod_revision(key) = rev) Then Put`. Returns the new revision.
async fn raw_cas(raw: &Client, key: &str, value: &str, rev: i64) -> i64 {
    let txn = Txn::new()
        .when([Compare::mod_revision(key, CompareOp::Equal, rev)])
        .and_then([TxnOp::put(key, value, None)]);
    let resp = raw.kv_client().txn(txn).await.expect("raw txn");
    assert!(resp.succeeded(), "raw CAS lost");
    resp.header().expect("header").revision()
}

/// The key's current mod revision, read with a raw range request.
async fn raw_revision(raw: &Client, key: &str) -> i64 {
    let resp = raw.kv_client().get(key, None).await.expect("raw get");
    resp.kvs().first().expect("key exists").mod_revision()
}

/// Our read-modify-write, timing only the `update` (the `get` before it warms the cache,
/// as in every controller loop).
async fn timed_update(store: &EtcdDatastore, key: &ResourceKey, n: u64) -> Duration {
    let mut current = store.get(key).await.expect("get");
    touch(&mut current, n);
    let t = Instant::now();
    black_box(store.update(current).await.expect("update"));
    t.elapsed()
}

async fn next_revision(watch: &mut WatchStream, revision: &str) {
    loop {
        let ev = watch
            .next()
            .await
            .expect("watch open")
            .expect("watch event");
        if ev.revision == revision {
            return;
        }
    }
}

fn crud(c: &mut Criterion) {
    let s = setup();
    let mut g = c.benchmark_group("etcd");
    g.sample_size(50).measurement_time(Duration::from_secs(5));

    let mut n = 0u64;
    g.bench_function("create", |b| {
        b.iter(|| {
            n += 1;
            s.rt.block_on(s.store.create(policy(&format!("create-{n}"))))
                .expect("create")
        })
    });

    let hot =
        s.rt.block_on(s.store.create(policy("hot")))
            .expect("create");
    let key = ResourceKey::of(&hot);
    g.bench_function("get", |b| {
        b.iter(|| s.rt.block_on(s.store.get(&key)).expect("get"))
    });

    let mut round = 0u64;
    g.bench_function("update_after_get", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                total += s.rt.block_on(timed_update(&s.store, &key, round));
            }
            total
        })
    });

    let path = resource_path(&key).expect("key");
    // The raw transaction writes the same bytes our update would: the stored object with
    // the label flipped.
    let stored = s.rt.block_on(s.store.get(&key)).expect("get");
    let values = [0, 1].map(|n| {
        let mut p = stored.clone();
        touch(&mut p, n);
        encode(&p)
    });
    let mut rev: i64 =
        s.rt.block_on(s.store.get(&key))
            .expect("get")
            .metadata()
            .resource_version
            .parse()
            .expect("numeric");
    g.bench_function("raw_txn_cas", |b| {
        b.iter(|| {
            round += 1;
            rev =
                s.rt.block_on(raw_cas(&s.raw, &path, &values[(round % 2) as usize], rev));
        })
    });

    const BATCH: u64 = 64;
    g.throughput(Throughput::Elements(BATCH));
    let mut batch = 0u64;
    g.bench_function("create_64_concurrent", |b| {
        b.iter(|| {
            batch += 1;
            s.rt.block_on(futures::future::join_all((0..BATCH).map(|i| {
                let store = &s.store;
                async move {
                    store
                        .create(policy(&format!("batch-{batch}-{i}")))
                        .await
                        .expect("create")
                }
            })))
        })
    });
    g.finish();

    // Watch latency: from the start of a write to its event arriving on a watch.
    let mut g = c.benchmark_group("etcd_watch");
    g.sample_size(50).measurement_time(Duration::from_secs(5));
    let kind = hot.kind();
    let mut watch =
        s.rt.block_on(s.store.watch(kind, ""))
            .expect("watch starts");
    g.bench_function("write_to_event", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                total += s.rt.block_on(async {
                    let mut current = s.store.get(&key).await.expect("get");
                    touch(&mut current, round);
                    let t = Instant::now();
                    let updated = s.store.update(current).await.expect("update");
                    next_revision(&mut watch, &updated.metadata().resource_version).await;
                    t.elapsed()
                });
            }
            total
        })
    });
    g.finish();

    ratio(&s, &key, &path, &values);
}

/// Our `update` versus the raw transaction, alternating. Prints medians, means and ratios.
fn ratio(s: &Setup, key: &ResourceKey, path: &str, values: &[String; 2]) {
    const ROUNDS: usize = 3000;
    let mut ours = Vec::with_capacity(ROUNDS);
    let mut raw = Vec::with_capacity(ROUNDS);
    let mut round = 0u64;
    s.rt.block_on(async {
        // Alternate one of each, so drift (database growth, page cache, other load on the
        // machine) hits both alike.
        for i in 0..ROUNDS {
            round += 1;
            ours.push(timed_update(&s.store, key, round).await);
            // The same read-modify-write shape as ours: an untimed read of the current
            // revision, then the timed compare-and-swap.
            let rev = raw_revision(&s.raw, path).await;
            let t = Instant::now();
            black_box(raw_cas(&s.raw, path, &values[i % 2], rev).await);
            raw.push(t.elapsed());
        }
    });
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len() as u32;
    let (m_ours, m_raw) = (median(&mut ours), median(&mut raw));
    let (a_ours, a_raw) = (mean(&ours), mean(&raw));
    println!(
        "\netcd update vs raw txn CAS ({} each, alternating):\n  ours: median {m_ours:?}, mean {a_ours:?}\n  raw:  median {m_raw:?}, mean {a_raw:?}\n  ratio (median): {:.3}x   ratio (mean): {:.3}x   (target <= 1.2x)\n",
        ours.len(),
        m_ours.as_secs_f64() / m_raw.as_secs_f64(),
        a_ours.as_secs_f64() / a_raw.as_secs_f64(),
    );
}

criterion_group!(benches, crud);
criterion_main!(benches);
