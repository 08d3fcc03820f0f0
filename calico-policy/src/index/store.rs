//! The index's entries and its two kinds of secondary index: items (and
//! parents) by label, and selectors by their most restrictive label
//! requirement.

use calico_model::selector::{LabelRestriction, Selector};

use super::effective::EffectiveLabels;
use super::idset::IdSet;
use super::intern::{Interner, LabelSet, Sym, SymMap};

/// A selector and the items it matches.
pub(crate) struct SelectorEntry<S> {
    pub(crate) id: S,
    pub(crate) selector: Selector,
    /// How the selector is indexed.
    pub(crate) plan: Plan,
    /// The distinct label names the selector reads. Its result for an item
    /// can only change when one of these changes in the item's effective
    /// labels.
    pub(crate) reads: Box<[Sym]>,
    /// Slots of the items it matches.
    pub(crate) matches: IdSet,
}

impl<S> SelectorEntry<S> {
    /// Whether the selector reads any of `names`.
    #[inline]
    pub(crate) fn reads_any(&self, names: &[Sym]) -> bool {
        self.reads.iter().any(|r| names.contains(r))
    }
}

/// An item, its own labels and parents, and the selectors it matches.
pub(crate) struct ItemEntry<I> {
    pub(crate) id: I,
    pub(crate) labels: LabelSet,
    /// Parent slots, in the caller's order (repeats allowed).
    pub(crate) parents: Box<[u32]>,
    /// Slots of the selectors that match it.
    pub(crate) matches: IdSet,
}

impl<I> ItemEntry<I> {
    /// Position of the first occurrence of `parent` in the parent list.
    pub(crate) fn parent_position(&self, parent: u32) -> Option<usize> {
        self.parents.iter().position(|&p| p == parent)
    }
}

/// A parent: known (with labels) or only referenced by items so far.
///
/// An entry exists while the parent is known or referenced.
pub(crate) struct ParentEntry<P> {
    pub(crate) id: P,
    /// `None` while the parent is referenced but not known.
    pub(crate) labels: Option<LabelSet>,
    /// Slots of the items that list it.
    pub(crate) children: IdSet,
}

/// How a selector is indexed, from its label restrictions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// A restriction is impossible: the selector never matches and is not
    /// evaluated at all.
    Never,
    /// No usable restriction: the selector is evaluated against every item.
    Scan,
    /// Only items that have this label can match.
    Present(Sym),
    /// Only items whose label has one of these values can match.
    OneOf(Sym, Box<[Sym]>),
}

/// Score of a value restriction with no values; one fewer per value.
const ONE_OF_SCORE: usize = 10_000;

impl Plan {
    /// Chooses the most restrictive usable restriction of `selector`, as
    /// Felix's `LabelRestrictionIndex` does: a set of allowed values is best
    /// (fewer values better), then a required label, and ties go to the
    /// first label name in byte order.
    pub(crate) fn choose(selector: &Selector, interner: &mut Interner) -> Plan {
        let restrictions = selector.label_restrictions();
        if restrictions.values().any(LabelRestriction::is_impossible) {
            return Plan::Never;
        }
        let mut best: Option<(usize, &String, &LabelRestriction)> = None;
        for (name, restriction) in &restrictions {
            let score = match &restriction.must_have_one_of_values {
                Some(values) => ONE_OF_SCORE.saturating_sub(values.len()).max(2),
                None if restriction.must_be_present => 1,
                None => 0,
            };
            if score > 0 && best.is_none_or(|(s, ..)| score > s) {
                best = Some((score, name, restriction));
            }
        }
        let Some((_, name, restriction)) = best else {
            return Plan::Scan;
        };
        let name = interner.sym(name);
        match &restriction.must_have_one_of_values {
            Some(values) => Plan::OneOf(name, values.iter().map(|v| interner.sym(v)).collect()),
            None => Plan::Present(name),
        }
    }
}

/// The distinct label names `selector` reads, as syms.
pub(crate) fn read_names(selector: &Selector, interner: &mut Interner) -> Box<[Sym]> {
    let mut names: Vec<&str> = Vec::new();
    selector.expr().walk(&mut |e| {
        if let Some(label) = e.label() {
            names.push(label);
        }
    });
    names.sort_unstable();
    names.dedup();
    names.into_iter().map(|n| interner.sym(n)).collect()
}

/// Slots by label: name → value → slots.
#[derive(Default)]
pub(crate) struct LabelIndex {
    map: SymMap<Sym, SymMap<Sym, IdSet>>,
}

impl LabelIndex {
    /// Records that `slot` has `name = value`.
    pub(crate) fn add(&mut self, name: &Sym, value: &Sym, slot: u32) {
        self.map
            .entry(name.clone())
            .or_default()
            .entry(value.clone())
            .or_default()
            .insert(slot);
    }

    /// Forgets that `slot` has `name = value`, dropping emptied entries.
    pub(crate) fn remove(&mut self, name: &Sym, value: &Sym, slot: u32) {
        let Some(values) = self.map.get_mut(name) else {
            return;
        };
        if let Some(slots) = values.get_mut(value) {
            slots.remove(slot);
            if slots.is_empty() {
                values.remove(value);
            }
        }
        if values.is_empty() {
            self.map.remove(name);
        }
    }

    /// Moves `slot` from the pairs of `old` to those of `new`, touching
    /// only the pairs that differ.
    pub(crate) fn update(&mut self, old: Option<&LabelSet>, new: Option<&LabelSet>, slot: u32) {
        let empty: &[(Sym, Sym)] = &[];
        let old = old.map_or(empty, LabelSet::pairs);
        let new = new.map_or(empty, LabelSet::pairs);
        diff_pairs(old, new, |name, before, after| {
            if let Some(v) = before {
                self.remove(name, v, slot);
            }
            if let Some(v) = after {
                self.add(name, v, slot);
            }
        });
    }

    /// The slots with `name = value`.
    #[inline]
    pub(crate) fn get(&self, name: &Sym, value: &Sym) -> Option<&IdSet> {
        self.map.get(name)?.get(value)
    }

    /// The slot sets of every value of `name`.
    pub(crate) fn values_of(&self, name: &Sym) -> impl Iterator<Item = &IdSet> {
        self.map
            .get(name)
            .into_iter()
            .flat_map(|values| values.values())
    }

    /// The value map of `name`.
    #[inline]
    pub(crate) fn by_name(&self, name: &Sym) -> Option<&SymMap<Sym, IdSet>> {
        self.map.get(name)
    }

    /// Whether nothing is indexed.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Approximate heap memory held by the slot sets, in bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.map
            .values()
            .map(|values| {
                values.capacity() * (size_of::<(Sym, IdSet)>() + 1)
                    + values.values().map(IdSet::heap_bytes).sum::<usize>()
            })
            .sum::<usize>()
            + self.map.capacity() * (size_of::<(Sym, SymMap<Sym, IdSet>)>() + 1)
    }
}

/// Calls `f(name, old value, new value)` for each name whose value differs
/// between two label lists sorted by name.
pub(crate) fn diff_pairs(
    old: &[(Sym, Sym)],
    new: &[(Sym, Sym)],
    mut f: impl FnMut(&Sym, Option<&Sym>, Option<&Sym>),
) {
    let (mut old, mut new) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some((k, v)), None) => {
                f(k, Some(v), None);
                old.next();
            }
            (None, Some((k, v))) => {
                f(k, None, Some(v));
                new.next();
            }
            (Some((ko, vo)), Some((kn, vn))) => match ko.as_str().cmp(kn.as_str()) {
                std::cmp::Ordering::Less => {
                    f(ko, Some(vo), None);
                    old.next();
                }
                std::cmp::Ordering::Greater => {
                    f(kn, None, Some(vn));
                    new.next();
                }
                std::cmp::Ordering::Equal => {
                    if vo != vn {
                        f(ko, Some(vo), Some(vn));
                    }
                    old.next();
                    new.next();
                }
            },
        }
    }
}

/// Selectors by plan: the inverse of [`Plan`], used to find the selectors
/// that could match an item.
#[derive(Default)]
pub(crate) struct SelectorBuckets {
    /// [`Plan::OneOf`] selectors, under each of their values.
    by_value: LabelIndex,
    /// [`Plan::Present`] selectors.
    by_name: SymMap<Sym, IdSet>,
    /// [`Plan::Scan`] selectors.
    scan: IdSet,
}

impl SelectorBuckets {
    /// Files selector `slot` according to `plan`.
    pub(crate) fn add(&mut self, plan: &Plan, slot: u32) {
        match plan {
            Plan::Never => {}
            Plan::Scan => {
                self.scan.insert(slot);
            }
            Plan::Present(name) => {
                self.by_name.entry(name.clone()).or_default().insert(slot);
            }
            Plan::OneOf(name, values) => {
                for value in values {
                    self.by_value.add(name, value, slot);
                }
            }
        }
    }

    /// Unfiles selector `slot`, which was filed according to `plan`.
    pub(crate) fn remove(&mut self, plan: &Plan, slot: u32) {
        match plan {
            Plan::Never => {}
            Plan::Scan => {
                self.scan.remove(slot);
            }
            Plan::Present(name) => {
                if let Some(slots) = self.by_name.get_mut(name) {
                    slots.remove(slot);
                    if slots.is_empty() {
                        self.by_name.remove(name);
                    }
                }
            }
            Plan::OneOf(name, values) => {
                for value in values {
                    self.by_value.remove(name, value, slot);
                }
            }
        }
    }

    /// Calls `f` with the slot of each selector that could match an item
    /// with these effective labels: every selector whose restriction the
    /// labels meet, plus the unrestricted ones. Each slot comes once (a
    /// selector is filed under one name, and the item has one value per
    /// name), in an order that depends only on the index's contents.
    pub(crate) fn candidates<P>(&self, labels: &EffectiveLabels<'_, P>, mut f: impl FnMut(u32)) {
        self.scan.iter().for_each(&mut f);
        if self.by_name.is_empty() && self.by_value.is_empty() {
            return;
        }
        for (name, value) in labels.sym_pairs() {
            if let Some(slots) = self.by_name.get(name) {
                slots.iter().for_each(&mut f);
            }
            if let Some(slots) = self.by_value.get(name, value) {
                slots.iter().for_each(&mut f);
            }
        }
    }

    /// Whether nothing is filed.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.scan.is_empty() && self.by_name.is_empty() && self.by_value.is_empty()
    }
}
