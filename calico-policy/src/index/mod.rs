//! The incremental label-selector index (Felix's `labelindex`).
//!
//! A [`SelectorIndex`] keeps track of which **selectors** match which
//! **items**, where an item's labels are its own labels over those it
//! inherits from its **parents** (Felix's `InheritIndex`: an endpoint and
//! its profiles). Every change to a selector, item or parent is answered
//! with the exact set of [`MatchEvent`]s it causes, and costs work in
//! proportion to what it can affect, not to the number of selectors or
//! items.
//!
//! ```
//! use calico_model::selector::Selector;
//! use calico_policy::index::{MatchEvent, SelectorIndex};
//!
//! let mut index: SelectorIndex<&str, &str, &str> = SelectorIndex::new();
//! let mut events = Vec::new();
//! let mut out = |e| events.push(e);
//!
//! index.update_selector("web", Selector::parse("app == 'web' && env == 'prod'")?, &mut out);
//! // The pod inherits `env` from its namespace's profile, which is not known yet.
//! index.update_item("pod-1", [("app", "web")], ["ns-prod"], &mut out);
//! index.update_parent("ns-prod", [("env", "prod")], &mut out);
//! // Its own label beats the inherited one.
//! index.update_item("pod-2", [("app", "web"), ("env", "dev")], ["ns-prod"], &mut out);
//!
//! assert_eq!(events, [MatchEvent::Started("web", "pod-1")]);
//! assert_eq!(index.matching_items(&"web").collect::<Vec<_>>(), [&"pod-1"]);
//! assert_eq!(index.item_labels(&"pod-2").and_then(|l| l.get("env")), Some("dev"));
//!
//! events.clear();
//! let mut out = |e| events.push(e);
//! index.remove_parent(&"ns-prod", &mut out);
//! assert_eq!(events, [MatchEvent::Stopped("web", "pod-1")]);
//! # Ok::<(), calico_model::selector::SelectorError>(())
//! ```
//!
//! # How matching stays incremental
//!
//! This is the strategy of Felix's `SelectorAndNamedPortIndex`:
//!
//! * **Items are indexed by label**: name → value → items, for the items'
//!   own labels, and separately name → value → parents for the parents'
//!   labels, so a parent's change never re-indexes its children.
//! * **Selectors are indexed by their most restrictive requirement**, from
//!   [`Selector::label_restrictions`](calico_model::selector::Selector::label_restrictions):
//!   "label `l` has one of the values `V`" is best (fewest values first),
//!   "label `l` is present" next. Selectors with no usable requirement
//!   (`all()`, `!has(a)`, `a != 'b'`, …) are kept on a list that is
//!   considered for every item; a selector with an impossible requirement
//!   never matches and is never evaluated.
//! * **Adding a selector** evaluates only the items that meet its
//!   requirement, found through the label index: items with the label
//!   themselves, plus children of parents with it (except children that
//!   have the label themselves or get it from an earlier parent). Only a
//!   selector with no usable requirement scans all items.
//! * **Changing an item** considers only the selectors filed under its
//!   effective labels plus the unrestricted ones, and evaluates only those
//!   that read a label whose effective value changed; the others keep
//!   their previous result. A selector the item no longer meets the
//!   requirement of stops matching without evaluation.
//! * **Changing a parent** re-evaluates only its children, and only those
//!   for which a changed label is not overridden, against only the
//!   selectors that read a changed label.
//!
//! [`SelectorIndex::evaluations`] counts the selector evaluations done, so
//! tests and benchmarks can check that an operation did little work.
//!
//! # Memory
//!
//! The index refers to selectors, items and parents by small reusable slot
//! numbers; each match is stored once on each side, in a compressed bitmap
//! (two bytes per match for sparse sets, one bit per slot for dense ones).
//! Label names and values, and whole label maps (identical for the pods of
//! one ReplicaSet), are interned and shared.

mod effective;
mod idset;
mod intern;
mod selector_index;
mod slab;
mod store;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use self::effective::EffectiveLabels;
pub use self::selector_index::SelectorIndex;

/// A change in whether a selector matches an item, reported by
/// [`SelectorIndex`]'s update methods.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchEvent<S, I> {
    /// Selector `S` now matches item `I` (and did not before).
    Started(S, I),
    /// Selector `S` no longer matches item `I` (and did before).
    Stopped(S, I),
}

impl<S, I> MatchEvent<S, I> {
    /// The selector id.
    pub fn selector(&self) -> &S {
        match self {
            MatchEvent::Started(s, _) | MatchEvent::Stopped(s, _) => s,
        }
    }

    /// The item id.
    pub fn item(&self) -> &I {
        match self {
            MatchEvent::Started(_, i) | MatchEvent::Stopped(_, i) => i,
        }
    }

    /// Whether this is a [`MatchEvent::Started`].
    pub fn is_started(&self) -> bool {
        matches!(self, MatchEvent::Started(..))
    }
}

/// Counters and memory estimates of a [`SelectorIndex`], for metrics
/// (see [`SelectorIndex::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Number of selectors.
    pub selectors: usize,
    /// Number of items.
    pub items: usize,
    /// Number of known parents.
    pub parents: usize,
    /// Number of parents with an entry: known, or referenced by an item.
    pub referenced_parents: usize,
    /// Number of matching (selector, item) pairs.
    pub matches: usize,
    /// Selector evaluations performed since creation.
    pub evaluations: u64,
    /// Distinct label strings held by the interner.
    pub interned_strings: usize,
    /// Distinct label maps held by the interner.
    pub interned_label_sets: usize,
    /// Approximate heap bytes of the selectors' match sets (items by
    /// selector).
    pub selector_match_bytes: usize,
    /// Approximate heap bytes of the items' match sets (selectors by item).
    pub item_match_bytes: usize,
    /// Approximate heap bytes of the item and parent label indexes.
    pub label_index_bytes: usize,
}
