//! Builds the benchmark's `SelectorIndex` for a cluster of N endpoints
//! (default 10,000; 2,000 selectors) and prints its statistics, for
//! measuring peak memory with `/usr/bin/time -v`.
//!
//! Usage: `load [ENDPOINTS] [SELECTORS] [--baseline]`. Endpoints are
//! generated one at a time, so the peak is the index's, not the input's.
//! With `--baseline` the index is not built (the process's own footprint).

use std::time::Instant;

use calico_policy::index::{MatchEvent, SelectorIndex};

#[path = "../benches/support/index_cluster.rs"]
mod cluster;

use cluster::{Shape, pairs};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let shape = Shape {
        endpoints: number(1, 10_000),
        selectors: number(2, 2_000),
    };
    if args.iter().any(|a| a == "--baseline") {
        println!("baseline: no index built");
        return;
    }
    let start = Instant::now();
    let mut index: SelectorIndex<String, String, String> = SelectorIndex::new();
    let mut events = 0usize;
    let mut out = |_: MatchEvent<String, String>| events += 1;
    for k in 0..shape.namespaces() {
        let (id, labels) = cluster::namespace_profile(k, 0);
        index.update_parent(id, pairs(&labels), &mut out);
        for j in 0..cluster::SAS_PER_NS {
            let (id, labels) = cluster::sa_profile(k, j);
            index.update_parent(id, pairs(&labels), &mut out);
        }
    }
    for e in 0..shape.endpoints {
        let (id, labels, parents) = cluster::endpoint(e, 0);
        index.update_item(id, pairs(&labels), parents, &mut out);
    }
    for n in 0..shape.selectors {
        let (id, selector) = cluster::selector(&shape, n);
        index.update_selector(id, selector, &mut out);
    }
    let elapsed = start.elapsed();
    println!("{shape:?}: loaded in {elapsed:.2?}, {events} events");
    println!("{:#?}", index.stats());
}
