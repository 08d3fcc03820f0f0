//! Model check: random sequences of operations against a brute-force
//! recomputation.
//!
//! After every step, the index's matches must equal those obtained by
//! evaluating every selector against every item's effective labels, the
//! events replayed from empty must equal them too (with no duplicate
//! `Started` and no `Stopped` without a `Started`), repeating an update
//! must report nothing, and the internal invariants must hold.

use std::collections::{BTreeMap, BTreeSet};

use calico_model::selector::Selector;
use proptest::prelude::*;

use super::{MatchEvent, SelectorIndex};

type Labels = BTreeMap<String, String>;

// Distinct id types, to exercise the generics.
type S = u8;
type I = u16;
type P = char;

#[derive(Debug, Clone)]
enum Op {
    UpdateSelector(S, String),
    RemoveSelector(S),
    UpdateItem(I, Labels, Vec<P>),
    RemoveItem(I),
    UpdateParent(P, Labels),
    RemoveParent(P),
}

const KEYS: &[&str] = &["a", "b", "c"];
const VALUES: &[&str] = &["1", "2", "3"];

fn key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(KEYS)
}

fn value() -> impl Strategy<Value = &'static str> {
    prop::sample::select(VALUES)
}

fn value_set() -> impl Strategy<Value = String> {
    prop::collection::btree_set(value(), 0..3).prop_map(|vs| {
        vs.iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Selectors from a small grammar over the keys and values above.
fn selector_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("all()".to_owned()),
        key().prop_map(|k| format!("has({k})")),
        (key(), value()).prop_map(|(k, v)| format!("{k} == '{v}'")),
        (key(), value()).prop_map(|(k, v)| format!("{k} != '{v}'")),
        (key(), value_set()).prop_map(|(k, vs)| format!("{k} in {{{vs}}}")),
        (key(), value_set()).prop_map(|(k, vs)| format!("{k} not in {{{vs}}}")),
        (key(), value()).prop_map(|(k, v)| format!("{k} starts with '{v}'")),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|s| format!("!({s})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) && ({b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a}) || ({b})")),
        ]
    })
}

fn labels() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(
        key().prop_map(str::to_owned),
        value().prop_map(str::to_owned),
        0..3,
    )
}

fn op() -> impl Strategy<Value = Op> {
    let selector_id = 0u8..4;
    let item_id = 0u16..6;
    let parent_id = prop::sample::select(vec!['x', 'y', 'z']);
    prop_oneof![
        3 => (selector_id.clone(), selector_text()).prop_map(|(s, t)| Op::UpdateSelector(s, t)),
        1 => selector_id.prop_map(Op::RemoveSelector),
        4 => (item_id.clone(), labels(), prop::collection::vec(parent_id.clone(), 0..4))
            .prop_map(|(i, l, p)| Op::UpdateItem(i, l, p)),
        1 => item_id.prop_map(Op::RemoveItem),
        3 => (parent_id.clone(), labels()).prop_map(|(p, l)| Op::UpdateParent(p, l)),
        1 => parent_id.prop_map(Op::RemoveParent),
    ]
}

/// The brute-force model.
#[derive(Default)]
struct Model {
    selectors: BTreeMap<S, Selector>,
    items: BTreeMap<I, (Labels, Vec<P>)>,
    parents: BTreeMap<P, Labels>,
}

impl Model {
    fn effective(&self, item: &I) -> Labels {
        let Some((own, parents)) = self.items.get(item) else {
            return Labels::new();
        };
        let mut out = own.clone();
        for p in parents {
            for (k, v) in self.parents.get(p).into_iter().flatten() {
                out.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        out
    }

    fn matches(&self) -> BTreeSet<(S, I)> {
        let mut out = BTreeSet::new();
        for i in self.items.keys() {
            let labels = self.effective(i);
            for (s, sel) in &self.selectors {
                if sel.matches(&labels) {
                    out.insert((*s, *i));
                }
            }
        }
        out
    }
}

/// Applies `op` to the index, returning the events.
fn apply(index: &mut SelectorIndex<S, I, P>, op: &Op) -> Vec<MatchEvent<S, I>> {
    let mut events = Vec::new();
    let mut out = |e| events.push(e);
    match op.clone() {
        Op::UpdateSelector(s, text) => {
            if let Ok(sel) = Selector::parse(&text) {
                index.update_selector(s, sel, &mut out);
            }
        }
        Op::RemoveSelector(s) => index.remove_selector(&s, &mut out),
        Op::UpdateItem(i, labels, parents) => index.update_item(i, &labels, parents, &mut out),
        Op::RemoveItem(i) => index.remove_item(&i, &mut out),
        Op::UpdateParent(p, labels) => index.update_parent(p, &labels, &mut out),
        Op::RemoveParent(p) => index.remove_parent(&p, &mut out),
    }
    events
}

fn apply_to_model(model: &mut Model, op: &Op) {
    match op.clone() {
        Op::UpdateSelector(s, text) => {
            if let Ok(sel) = Selector::parse(&text) {
                model.selectors.insert(s, sel);
            }
        }
        Op::RemoveSelector(s) => {
            model.selectors.remove(&s);
        }
        Op::UpdateItem(i, labels, parents) => {
            model.items.insert(i, (labels, parents));
        }
        Op::RemoveItem(i) => {
            model.items.remove(&i);
        }
        Op::UpdateParent(p, labels) => {
            model.parents.insert(p, labels);
        }
        Op::RemoveParent(p) => {
            model.parents.remove(&p);
        }
    }
}

fn index_matches(index: &SelectorIndex<S, I, P>, model: &Model) -> BTreeSet<(S, I)> {
    let mut out = BTreeSet::new();
    for s in model.selectors.keys() {
        let items: Vec<&I> = index.matching_items(s).collect();
        assert!(items.is_sorted(), "matching_items is sorted");
        out.extend(items.into_iter().map(|i| (*s, *i)));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn index_agrees_with_brute_force(ops in prop::collection::vec((op(), any::<bool>()), 1..60)) {
        let mut index: SelectorIndex<S, I, P> = SelectorIndex::new();
        // A second index fed the same calls must report the same events in
        // the same order (nothing may depend on hashing or addresses).
        let mut twin: SelectorIndex<S, I, P> = SelectorIndex::new();
        let mut model = Model::default();
        let mut replayed: BTreeSet<(S, I)> = BTreeSet::new();
        for (op, repeat) in &ops {
            let events = apply(&mut index, op);
            prop_assert_eq!(&apply(&mut twin, op), &events, "event order after {:?}", op);
            apply_to_model(&mut model, op);
            for event in events {
                match event {
                    MatchEvent::Started(s, i) => {
                        prop_assert!(replayed.insert((s, i)), "duplicate Started({s}, {i}) after {op:?}");
                    }
                    MatchEvent::Stopped(s, i) => {
                        prop_assert!(replayed.remove(&(s, i)), "Stopped({s}, {i}) without Started after {op:?}");
                    }
                }
            }
            if *repeat {
                let again = apply(&mut index, op);
                prop_assert!(again.is_empty(), "repeating {op:?} reported {again:?}");
                apply(&mut twin, op);
            }
            index.check_invariants();
            let expected = model.matches();
            prop_assert_eq!(&index_matches(&index, &model), &expected, "after {:?}", op);
            prop_assert_eq!(&replayed, &expected, "replayed events after {:?}", op);
            prop_assert_eq!(index.num_matches(), expected.len());
            for i in model.items.keys() {
                let labels = index.item_labels(i).map(|l| l.to_map());
                prop_assert_eq!(labels, Some(model.effective(i)));
                let selectors: Vec<S> = index.matching_selectors(i).copied().collect();
                let want: Vec<S> = expected.iter().filter(|(_, x)| x == i).map(|(s, _)| *s).collect();
                prop_assert_eq!(selectors, want);
            }
            for s in model.selectors.keys() {
                for i in model.items.keys() {
                    prop_assert_eq!(index.is_match(s, i), expected.contains(&(*s, *i)));
                }
            }
            prop_assert_eq!(index.num_selectors(), model.selectors.len());
            prop_assert_eq!(index.num_items(), model.items.len());
            prop_assert_eq!(index.num_parents(), model.parents.len());
        }
    }
}
