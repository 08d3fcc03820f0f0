//! Calculation graph: initial computation for a whole cluster, and the cost of one change.
//! Shapes are in `calico_benches::ClusterShape` (10,000 endpoints, 100 local, 2,000 policies
//! in 5 tiers, 500 network sets).

use std::hint::black_box;
use std::time::Duration;

use calico_benches::{ClusterShape, LOCAL_NODE, cluster, cluster_endpoint, cluster_policy};
use calico_model::sync::{ResourceKey, SyncEvent, SyncStatus};
use calico_policy::CalcGraph;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn loaded(shape: &ClusterShape, resources: &[calico_model::Resource]) -> CalcGraph {
    let mut g = CalcGraph::new(LOCAL_NODE);
    for r in resources {
        g.on_event(SyncEvent::set(r.clone()));
    }
    g.on_event(SyncEvent::Status(SyncStatus::InSync));
    let out = g.flush();
    assert!(
        out.len() > shape.local_endpoints,
        "expected a full initial flush"
    );
    g
}

fn bench(c: &mut Criterion) {
    let shape = ClusterShape::REFERENCE;
    let resources = cluster(&shape);

    let mut g = c.benchmark_group("calc_graph");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("initial_10k_endpoints_2k_policies", |b| {
        b.iter_batched(
            || resources.clone(),
            |rs| {
                let mut g = CalcGraph::new(LOCAL_NODE);
                for r in rs {
                    g.on_event(SyncEvent::set(r));
                }
                g.on_event(SyncEvent::Status(SyncStatus::InSync));
                black_box(g.flush().len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut graph = loaded(&shape, &resources);
    let mut g = c.benchmark_group("calc_graph_change");
    g.sample_size(200);
    // Inputs are built outside the timed part: only the graph's work is measured.
    let endpoint_versions: Vec<_> = (1..=2).map(|v| cluster_endpoint(&shape, 42, v)).collect();
    let mut n = 0usize;
    g.bench_function("local_endpoint_labels", |b| {
        b.iter_batched(
            || {
                n += 1;
                endpoint_versions[n % 2].clone()
            },
            |ep| {
                graph.on_event(SyncEvent::set(ep));
                black_box(graph.flush().len())
            },
            BatchSize::SmallInput,
        )
    });
    let policy_versions: Vec<_> = (1..=2).map(|v| cluster_policy(&shape, 1234, v)).collect();
    g.bench_function("policy_rule", |b| {
        b.iter_batched(
            || {
                n += 1;
                policy_versions[n % 2].clone()
            },
            |p| {
                graph.on_event(SyncEvent::set(p));
                black_box(graph.flush().len())
            },
            BatchSize::SmallInput,
        )
    });
    let extra = cluster_endpoint(&shape, shape.endpoints + 1, 0);
    let key = ResourceKey::of(&extra);
    g.bench_function("endpoint_add_then_remove", |b| {
        b.iter_batched(
            || extra.clone(),
            |ep| {
                graph.on_event(SyncEvent::set(ep));
                let a = graph.flush().len();
                graph.on_event(SyncEvent::deleted(key.clone()));
                black_box(a + graph.flush().len())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
