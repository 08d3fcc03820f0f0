//! Loads a synthetic cluster into the calculation graph and prints the time and peak memory:
//! `cargo run --release -p calico-benches --example calc_graph_scale -- [ENDPOINTS] [POLICIES]`.

use std::time::Instant;

use calico_benches::{ClusterShape, LOCAL_NODE, cluster, cluster_endpoint_with_app};
use calico_model::sync::{SyncEvent, SyncStatus};
use calico_policy::CalcGraph;

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let endpoints = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let policies = args.next().and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let shape = ClusterShape {
        endpoints,
        policies,
        ..ClusterShape::REFERENCE
    };
    let t0 = Instant::now();
    let resources = cluster(&shape);
    let generated = t0.elapsed();
    let rss_inputs = peak_rss_mib().unwrap_or(0.0);
    let t1 = Instant::now();
    let mut g = CalcGraph::new(LOCAL_NODE);
    for r in resources {
        g.on_event(SyncEvent::set(r));
    }
    g.on_event(SyncEvent::Status(SyncStatus::InSync));
    let updates = g.flush();
    let took = t1.elapsed();
    // Sustained endpoint churn: move endpoints between apps across the cluster (remote and
    // local), changing IP set memberships; one
    // flush per update, as a node agent would see them.
    let churn: Vec<_> = (0..10_000)
        .map(|k| {
            let i = (k * 7919) % endpoints;
            cluster_endpoint_with_app(&shape, i, k + 1, (i + k) % 200)
        })
        .collect();
    let t2 = Instant::now();
    let mut emitted = 0usize;
    for ep in churn {
        g.on_event(SyncEvent::set(ep));
        emitted += g.flush().len();
    }
    let churn_took = t2.elapsed();
    let stats = g.stats();
    println!(
        "endpoints={endpoints} policies={policies} generate={generated:?} initial={took:?} updates={} active_policies={} ip_sets={} peak_rss={:.0}MiB (inputs alone {:.0}MiB)\nchurn: 10000 endpoint updates in {churn_took:?} ({:.0} updates/s, {:.1} us each, {emitted} dataplane updates)",
        updates.len(),
        stats.active_policies,
        stats.ip_sets,
        peak_rss_mib().unwrap_or(0.0),
        rss_inputs,
        10_000.0 / churn_took.as_secs_f64(),
        churn_took.as_secs_f64() * 1e6 / 10_000.0,
    );
}
