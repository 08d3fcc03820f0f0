//! `SelectorIndex` (Felix's label index) on a Kubernetes-like cluster:
//! 10,000 endpoints with 6 labels and 2 profiles each (100 namespaces),
//! 2,000 selectors (see `support/cluster.rs` for the mix).
//!
//! * `index_load/*`: building the whole index (a);
//! * `index_change/*`: one change to a loaded index: an endpoint's labels
//!   (b), a selector (c), adding and removing an endpoint (d), a namespace
//!   profile's labels, re-evaluating its 100 endpoints (e).
//!
//! Every benchmark runs twice: with `String` ids, whose clone into each
//! event allocates, and with `Arc<str>` ids (`*_arc_ids`), whose clone
//! does not, which isolates the index's own cost.

use std::fmt::Debug;
use std::hash::Hash;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use calico_model::selector::Selector;
use calico_policy::index::{MatchEvent, SelectorIndex};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

#[path = "support/index_cluster.rs"]
mod cluster;

use cluster::{Cluster, Shape, pairs};

/// An id type for the benchmark.
trait Id: Clone + Ord + Hash + Debug + for<'a> From<&'a str> {}

impl<T: Clone + Ord + Hash + Debug + for<'a> From<&'a str>> Id for T {}

/// The cluster with its ids converted to `T`.
struct Input<T> {
    parents: Vec<(T, cluster::Labels)>,
    items: Vec<(T, cluster::Labels, Vec<T>)>,
    selectors: Vec<(T, Selector)>,
}

fn convert<T: Id>(c: &Cluster) -> Input<T> {
    Input {
        parents: c
            .parents
            .iter()
            .map(|(id, l)| (T::from(id), l.clone()))
            .collect(),
        items: c
            .items
            .iter()
            .map(|(id, l, p)| {
                (
                    T::from(id),
                    l.clone(),
                    p.iter().map(|p| T::from(p)).collect(),
                )
            })
            .collect(),
        selectors: c
            .selectors
            .iter()
            .map(|(id, s)| (T::from(id), s.clone()))
            .collect(),
    }
}

/// Loads (parents, items, selectors, or selectors first); returns the index
/// and the number of events.
fn load<T: Id>(input: &Input<T>, selectors_first: bool) -> (SelectorIndex<T, T, T>, usize) {
    let mut index = SelectorIndex::new();
    let mut events = 0usize;
    let mut out = |_: MatchEvent<T, T>| events += 1;
    if selectors_first {
        for (id, sel) in &input.selectors {
            index.update_selector(id.clone(), sel.clone(), &mut out);
        }
    }
    for (id, labels) in &input.parents {
        index.update_parent(id.clone(), pairs(labels), &mut out);
    }
    for (id, labels, parents) in &input.items {
        index.update_item(id.clone(), pairs(labels), parents.iter().cloned(), &mut out);
    }
    if !selectors_first {
        for (id, sel) in &input.selectors {
            index.update_selector(id.clone(), sel.clone(), &mut out);
        }
    }
    (index, events)
}

fn bench_ids<T: Id>(crit: &mut Criterion, c: &Cluster, suffix: &str) {
    let input = convert::<T>(c);

    let mut g = crit.benchmark_group("index_load");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function(format!("items_then_selectors_10k_2k{suffix}"), |b| {
        b.iter(|| black_box(load(&input, false).1))
    });
    g.bench_function(format!("selectors_then_items_10k_2k{suffix}"), |b| {
        b.iter(|| black_box(load(&input, true).1))
    });
    g.finish();

    let (mut index, _) = load(&input, false);
    let mut events = 0usize;
    let mut out = |_: MatchEvent<T, T>| events += 1;
    let mut g = crit.benchmark_group("index_change");
    g.sample_size(100);
    let mut flip = 0;

    // (b) One endpoint moves between two deployments (app, tier and
    // pod-template-hash change), and back.
    let moved = [cluster::endpoint(4242, 0), cluster::endpoint(4242, 1)];
    let moved = moved.map(|(id, l, p)| {
        (
            T::from(&id),
            l,
            p.iter().map(|p| T::from(p)).collect::<Vec<_>>(),
        )
    });
    g.bench_function(format!("item_labels{suffix}"), |b| {
        b.iter(|| {
            flip ^= 1;
            let (id, labels, parents) = &moved[flip];
            index.update_item(id.clone(), pairs(labels), parents.iter().cloned(), &mut out);
        })
    });

    // (b') Only the `version` label changes.
    let (id, labels, parents) = cluster::endpoint(4243, 0);
    let (id, parents) = (
        T::from(&id),
        parents.iter().map(|p| T::from(p)).collect::<Vec<_>>(),
    );
    let mut other = labels.clone();
    for (k, v) in &mut other {
        if k == "version" {
            *v = if v == "v1" { "v2".into() } else { "v1".into() };
        }
    }
    let versions = [labels, other];
    g.bench_function(format!("item_version_label{suffix}"), |b| {
        b.iter(|| {
            flip ^= 1;
            index.update_item(
                id.clone(),
                pairs(&versions[flip]),
                parents.iter().cloned(),
                &mut out,
            );
        })
    });

    // (c) A selector flips between two narrow forms.
    let narrow = [
        Selector::parse("app == 'app-3-4'").expect("valid"),
        Selector::parse("app == 'app-3-5' && tier == 'frontend'").expect("valid"),
    ];
    let sel0 = T::from("sel-0");
    g.bench_function(format!("selector_replace{suffix}"), |b| {
        b.iter(|| {
            flip ^= 1;
            index.update_selector(sel0.clone(), narrow[flip].clone(), &mut out);
        })
    });

    // (c') A selector flips between two namespace-label forms (~3,300
    // inherited candidates, ~6,600 events).
    let broad = [
        Selector::parse("pcns.env == 'prod'").expect("valid"),
        Selector::parse("pcns.env == 'dev'").expect("valid"),
    ];
    let sel1 = T::from("sel-1");
    g.bench_function(format!("selector_replace_namespace_label{suffix}"), |b| {
        b.iter(|| {
            flip ^= 1;
            index.update_selector(sel1.clone(), broad[flip].clone(), &mut out);
        })
    });

    // (d) Adding and removing an endpoint (~170 matches).
    let (_, labels, parents) = cluster::endpoint(777, 0);
    let parents: Vec<T> = parents.iter().map(|p| T::from(p)).collect();
    let new_id = T::from("ns-7/pod-new");
    g.bench_function(format!("item_add_remove{suffix}"), |b| {
        b.iter(|| {
            index.update_item(
                new_id.clone(),
                pairs(&labels),
                parents.iter().cloned(),
                &mut out,
            );
            index.remove_item(&new_id, &mut out);
        })
    });

    // (e) A namespace profile's `pcns.env` changes (100 endpoints; about
    // 6,600 events).
    let profiles = [
        cluster::namespace_profile(7, 0),
        cluster::namespace_profile(7, 1),
    ]
    .map(|(id, l)| (T::from(&id), l));
    g.bench_function(format!("parent_labels_100_children{suffix}"), |b| {
        b.iter(|| {
            flip ^= 1;
            let (id, labels) = &profiles[flip];
            index.update_parent(id.clone(), pairs(labels), &mut out);
        })
    });

    // Adding and removing an `all()` selector (10,000 matches).
    g.sample_size(20);
    let new_sel = T::from("sel-new");
    g.bench_function(format!("selector_all_add_remove{suffix}"), |b| {
        b.iter_batched(
            Selector::all,
            |sel| {
                index.update_selector(new_sel.clone(), sel, &mut out);
                index.remove_selector(&new_sel, &mut out);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    black_box(events);
}

fn bench(crit: &mut Criterion) {
    let c = cluster::cluster(&Shape::REFERENCE);
    bench_ids::<String>(crit, &c, "");
    bench_ids::<Arc<str>>(crit, &c, "_arc_ids");
}

criterion_group!(benches, bench);
criterion_main!(benches);
