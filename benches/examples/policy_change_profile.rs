//! Repeats one policy change many times, for profiling the calculation graph's policy path:
//! `N=60000 perf record --call-graph dwarf target/release/examples/policy_change_profile`.
use calico_benches::{ClusterShape, LOCAL_NODE, cluster, cluster_policy};
use calico_model::sync::{SyncEvent, SyncStatus};
use calico_policy::CalcGraph;

fn main() {
    let shape = ClusterShape::REFERENCE;
    let mut g = CalcGraph::new(LOCAL_NODE);
    for r in cluster(&shape) {
        g.on_event(SyncEvent::set(r));
    }
    g.on_event(SyncEvent::Status(SyncStatus::InSync));
    g.flush();
    let versions: Vec<_> = (1..=2).map(|v| cluster_policy(&shape, 1234, v)).collect();
    let t = std::time::Instant::now();
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for i in 0..n {
        g.on_event(SyncEvent::set(versions[i % 2].clone()));
        std::hint::black_box(g.flush());
    }
    println!("{:?} per change", t.elapsed() / n as u32);
}
