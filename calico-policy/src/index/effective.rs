//! [`EffectiveLabels`]: an item's labels as selectors see them.

use std::collections::BTreeMap;
use std::fmt;

use calico_model::selector::Labels;

use super::intern::{LabelSet, Sym};
use super::slab::Slab;
use super::store::ParentEntry;

/// The effective labels of an item: its own labels, then those of each of
/// its parents in order, where the item's own value for a label wins over
/// any parent's and an earlier parent's wins over a later one's (Felix's
/// `InheritIndex` rule). Parents that are referenced but not known
/// contribute nothing.
///
/// A borrowed view, built without allocating; lookups search the item's
/// map and then each parent's (each a binary search over a sorted slice).
/// Returned by [`SelectorIndex::item_labels`](super::SelectorIndex::item_labels).
pub struct EffectiveLabels<'a, P> {
    own: &'a LabelSet,
    parents: &'a [u32],
    store: &'a Slab<ParentEntry<P>>,
}

impl<P> Clone for EffectiveLabels<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for EffectiveLabels<'_, P> {}

impl<'a, P> EffectiveLabels<'a, P> {
    pub(crate) fn new(
        own: &'a LabelSet,
        parents: &'a [u32],
        store: &'a Slab<ParentEntry<P>>,
    ) -> Self {
        EffectiveLabels {
            own,
            parents,
            store,
        }
    }

    /// The labels of the parent in `slot`, if known.
    #[inline]
    fn parent_labels(&self, slot: u32) -> Option<&'a LabelSet> {
        self.store.get(slot)?.labels.as_ref()
    }

    /// The effective value of `key` as a sym.
    #[inline]
    pub(crate) fn value(&self, key: &str) -> Option<&'a Sym> {
        if let Some(v) = self.own.get(key) {
            return Some(v);
        }
        self.parents
            .iter()
            .find_map(|&p| self.parent_labels(p).and_then(|labels| labels.get(key)))
    }

    /// Whether `key` is shadowed for the parent at position `pos` of the
    /// item's parent list: the item itself or an earlier parent has it.
    pub(crate) fn shadowed_at(&self, pos: usize, key: &Sym) -> bool {
        self.own.contains_key(key)
            || self.parents.iter().take(pos).any(|&p| {
                self.parent_labels(p)
                    .is_some_and(|labels| labels.contains_key(key))
            })
    }

    /// Every effective `(name, value)` pair as syms, each name once: the
    /// item's own pairs (sorted by name), then each parent's pairs that no
    /// earlier source shadows.
    pub(crate) fn sym_pairs(&self) -> impl Iterator<Item = (&'a Sym, &'a Sym)> + use<'a, P> {
        let this = *self;
        let own = self.own.pairs().iter().map(|(k, v)| (k, v));
        let inherited = self
            .parents
            .iter()
            .enumerate()
            .filter_map(move |(pos, &p)| this.parent_labels(p).map(|labels| (pos, labels)))
            .flat_map(move |(pos, labels)| {
                labels
                    .pairs()
                    .iter()
                    .filter(move |(k, _)| !this.shadowed_at(pos, k))
                    .map(|(k, v)| (k, v))
            });
        own.chain(inherited)
    }

    /// Every effective `(name, value)` pair, each name once: the item's own
    /// labels in name order, then each parent's remaining labels in parent
    /// order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + use<'a, P> {
        self.sym_pairs().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The effective value of `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.value(key).map(Sym::as_str)
    }

    /// Copies the effective labels into a map.
    #[must_use]
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

impl<P> Labels for EffectiveLabels<'_, P> {
    #[inline]
    fn get(&self, key: &str) -> Option<&str> {
        self.value(key).map(Sym::as_str)
    }
}

impl<P> fmt::Debug for EffectiveLabels<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}
