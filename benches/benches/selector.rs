//! Criterion benchmarks for the selector module: parsing (including the
//! canonical form and unique ID) and matching against 8-label maps.

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;

use calico_model::selector::Selector;
use criterion::{Criterion, criterion_group, criterion_main};

/// One term.
const SEL_1: &str = "app == 'web'";
/// Three terms (the reference selector).
const SEL_3: &str = "app == 'web' && tier in {'frontend','backend'} && !has(deprecated)";
/// Six terms.
const SEL_6: &str = "app == 'web' && tier in {'frontend','backend'} && !has(deprecated) \
                     && env != 'dev' && version starts with 'v' && role not in {'db','cache'}";

/// The 8 labels of a typical pod.
const LABELS: [(&str, &str); 8] = [
    ("app", "web"),
    ("tier", "frontend"),
    ("env", "prod"),
    ("role", "api"),
    ("version", "v1"),
    ("projectcalico.org/orchestrator", "k8s"),
    ("pod-template-hash", "abc123"),
    ("app.kubernetes.io/name", "my-api-server"),
];

fn btree() -> BTreeMap<String, String> {
    LABELS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn hash() -> HashMap<String, String> {
    LABELS
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("selector_parse");
    for (name, sel) in [("1_term", SEL_1), ("3_terms", SEL_3), ("6_terms", SEL_6)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let parsed = Selector::parse(black_box(sel));
                black_box(parsed.map(|s| s.unique_id_str().len()))
            });
        });
    }
    g.finish();
}

fn matching(c: &mut Criterion) {
    let bt = btree();
    let hm = hash();
    let mut g = c.benchmark_group("selector_match");
    for (name, sel) in [("1_term", SEL_1), ("3_terms", SEL_3), ("6_terms", SEL_6)] {
        let Ok(sel) = Selector::parse(sel) else {
            panic!("benchmark selector {sel:?} must parse");
        };
        assert!(sel.matches(&bt) && sel.matches(&hm), "{sel} should match");
        g.bench_function(format!("{name}/btreemap"), |b| {
            b.iter(|| black_box(&sel).matches(black_box(&bt)));
        });
        g.bench_function(format!("{name}/hashmap"), |b| {
            b.iter(|| black_box(&sel).matches(black_box(&hm)));
        });
    }
    g.finish();
}

criterion_group!(benches, parse, matching);
criterion_main!(benches);
