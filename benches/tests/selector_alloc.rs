//! Checks with a counting global allocator that `Selector::matches` never
//! allocates, whichever evaluation strategy it takes.
//!
//! Implementing `GlobalAlloc` needs `unsafe`, which the selector module
//! itself never uses; it is allowed in this test file only.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;

use calico_model::selector::{Labels, Selector};

thread_local! {
    /// Allocations made by the current thread (no destructor, so it is
    /// usable from inside the allocator).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// The system allocator, counting allocations per thread.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; counting touches only a thread-local `Cell`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A label source implementing only `get`.
struct GetOnly<'a>(&'a BTreeMap<String, String>);

impl Labels for GetOnly<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

#[test]
fn matching_never_allocates() {
    let pod: Vec<(String, String)> = [
        ("app", "web"),
        ("tier", "frontend"),
        ("env", "prod"),
        ("role", "api"),
        ("version", "v1"),
        ("projectcalico.org/orchestrator", "k8s"),
        ("pod-template-hash", "abc123"),
        ("app.kubernetes.io/name", "my-api-server"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let big: Vec<(String, String)> = (0..100)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .chain(pod.iter().cloned())
        .collect();
    let bt: BTreeMap<String, String> = pod.iter().cloned().collect();
    let hm: HashMap<String, String> = pod.iter().cloned().collect();
    let big_bt: BTreeMap<String, String> = big.iter().cloned().collect();
    let big_hm: HashMap<String, String> = big.iter().cloned().collect();

    let big_set: Vec<String> = (0..50).map(|i| format!("'v{i}'")).collect();
    let many_keys: Vec<String> = (0..30).map(|i| format!("k{i} == 'v{i}'")).collect();
    let selectors: Vec<Selector> = [
        "app == 'web'".to_owned(),
        "app == 'web' && tier in {'frontend','backend'} && !has(deprecated)".to_owned(),
        "app == 'web' && tier in {'frontend','backend'} && !has(deprecated) \
         && env != 'dev' && version starts with 'v' && role not in {'db','cache'}"
            .to_owned(),
        "app.kubernetes.io/name contains 'api' || pod-template-hash ends with '123'".to_owned(),
        "!(has(a) || !(has(b) && c == 'd')) && global()".to_owned(),
        format!("k7 in {{{}}}", big_set.join(",")),
        many_keys.join(" && "),
        many_keys.join(" || "),
        String::new(),
    ]
    .iter()
    .map(|s| Selector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}")))
    .collect();

    // Warm up (nothing in matching is lazily initialised, but be sure).
    let mut matched = 0usize;
    for sel in &selectors {
        matched += usize::from(sel.matches(&bt));
    }

    let before = allocations();
    for _ in 0..100 {
        for sel in black_box(&selectors) {
            matched += usize::from(sel.matches(black_box(&bt)));
            matched += usize::from(sel.matches(black_box(&hm)));
            matched += usize::from(sel.matches(black_box(&big_bt)));
            matched += usize::from(sel.matches(black_box(&big_hm)));
            matched += usize::from(sel.matches(&GetOnly(black_box(&big_bt))));
            let dyn_labels: &dyn Labels = black_box(&hm);
            matched += usize::from(sel.matches(dyn_labels));
        }
    }
    let after = allocations();
    assert_eq!(after - before, 0, "matching allocated");
    assert!(black_box(matched) > 0);

    // The counter does see allocations (so the zero above means something).
    let before = allocations();
    let parsed = Selector::parse("has(a)");
    assert!(parsed.is_ok());
    assert!(allocations() > before);
}
