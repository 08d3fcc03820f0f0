//! [`SelectorIndex`]: the incremental matcher.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;

use calico_model::selector::Selector;

use super::effective::EffectiveLabels;
use super::idset::IdSet;
use super::intern::{Interner, LabelSet, Sym};
use super::slab::Slab;
use super::store::{
    ItemEntry, LabelIndex, ParentEntry, Plan, SelectorBuckets, SelectorEntry, diff_pairs,
    read_names,
};
use super::{IndexStats, MatchEvent};

/// Which effective labels of an item may have changed.
#[derive(Clone, Copy)]
enum Changed<'a> {
    /// Unknown (a new item): evaluate every candidate selector.
    All,
    /// Only these names: a selector that reads none of them keeps its
    /// previous result without being evaluated.
    Names(&'a [Sym]),
}

/// Buffers reused across calls so that steady-state updates do not
/// allocate.
#[derive(Default)]
struct Scratch {
    candidates: Vec<u32>,
    matched: Vec<u32>,
    started: Vec<u32>,
    stopped: Vec<u32>,
    children: Vec<u32>,
    names: Vec<Sym>,
    child_names: Vec<Sym>,
    /// Per selector slot: the stamp of the last item re-evaluation that
    /// found it a candidate.
    stamps: Vec<u32>,
    stamp: u32,
}

impl Scratch {
    /// A fresh stamp, with `stamps` covering `slots` selector slots.
    fn next_stamp(&mut self, slots: usize) -> u32 {
        if self.stamps.len() < slots {
            self.stamps.resize(slots, 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Wrapped: forget every old stamp.
            self.stamps.fill(0);
            self.stamp = 1;
        }
        self.stamp
    }
}

/// An incremental index of which selectors match which items, with label
/// inheritance from parents (Felix's `labelindex`: the `InheritIndex`
/// semantics with the `SelectorAndNamedPortIndex` matching strategy).
///
/// * `S` identifies selectors (e.g. a policy or IP set id), `I` items
///   (endpoints), `P` parents (profiles) from which items inherit labels.
/// * Every change is reported through the `out` callback as
///   [`MatchEvent`]s, exactly: one `Started` for each (selector, item) pair
///   that begins to match, one `Stopped` for each pair that stops, nothing
///   for a change that changes no match (in particular, replacing anything
///   with an identical copy). Replaying all events from an empty set
///   always yields the current matches.
/// * Within one call the events come out in an order that depends only on
///   the sequence of calls made on the index (never on hashing or memory
///   addresses); for each re-evaluated item or selector, its `Stopped`
///   events come before its `Started` ones.
///
/// See the [module documentation](super) for the matching strategy and
/// its costs.
pub struct SelectorIndex<S, I, P> {
    interner: Interner,
    empty_labels: LabelSet,
    selectors: Slab<SelectorEntry<S>>,
    selector_slots: HashMap<S, u32>,
    items: Slab<ItemEntry<I>>,
    item_slots: HashMap<I, u32>,
    parents: Slab<ParentEntry<P>>,
    parent_slots: HashMap<P, u32>,
    /// Items by their own labels.
    item_labels: LabelIndex,
    /// Known parents by their labels.
    parent_labels: LabelIndex,
    buckets: SelectorBuckets,
    known_parents: usize,
    matches: usize,
    evaluations: u64,
    scratch: Scratch,
}

impl<S, I, P> Default for SelectorIndex<S, I, P>
where
    S: Clone + Ord + Hash + fmt::Debug,
    I: Clone + Ord + Hash + fmt::Debug,
    P: Clone + Ord + Hash + fmt::Debug,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S, I, P> fmt::Debug for SelectorIndex<S, I, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectorIndex")
            .field("selectors", &self.selectors.len())
            .field("items", &self.items.len())
            .field("parents", &self.known_parents)
            .field("matches", &self.matches)
            .field("evaluations", &self.evaluations)
            .finish_non_exhaustive()
    }
}

/// Splits the members of `old` and `new` (both ascending) into those only
/// in `old` (`stopped`) and those only in `new` (`started`).
fn diff_sorted(
    old: impl Iterator<Item = u32>,
    new: &[u32],
    stopped: &mut Vec<u32>,
    started: &mut Vec<u32>,
) {
    let mut new = new.iter().copied().peekable();
    for o in old {
        while let Some(n) = new.next_if(|&n| n < o) {
            started.push(n);
        }
        if new.next_if_eq(&o).is_none() {
            stopped.push(o);
        }
    }
    started.extend(new);
}

impl<S, I, P> SelectorIndex<S, I, P>
where
    S: Clone + Ord + Hash + fmt::Debug,
    I: Clone + Ord + Hash + fmt::Debug,
    P: Clone + Ord + Hash + fmt::Debug,
{
    /// An empty index.
    #[must_use]
    pub fn new() -> Self {
        let mut interner = Interner::default();
        let empty_labels = interner.label_set(std::iter::empty::<(&str, &str)>());
        SelectorIndex {
            interner,
            empty_labels,
            selectors: Slab::default(),
            selector_slots: HashMap::new(),
            items: Slab::default(),
            item_slots: HashMap::new(),
            parents: Slab::default(),
            parent_slots: HashMap::new(),
            item_labels: LabelIndex::default(),
            parent_labels: LabelIndex::default(),
            buckets: SelectorBuckets::default(),
            known_parents: 0,
            matches: 0,
            evaluations: 0,
            scratch: Scratch::default(),
        }
    }

    // ----------------------------------------------------------------
    // Selectors
    // ----------------------------------------------------------------

    /// Adds selector `id`, or replaces its selector, reporting every change
    /// in its matches.
    ///
    /// Only the items that can meet the selector's most restrictive label
    /// requirement are evaluated (found through the label index, including
    /// items that inherit the label from a parent); a selector with no
    /// usable requirement is evaluated against every item, and one whose
    /// requirements are impossible against none. Replacing a selector with
    /// an equal one (same canonical form) does nothing.
    pub fn update_selector(
        &mut self,
        id: S,
        selector: Selector,
        out: &mut impl FnMut(MatchEvent<S, I>),
    ) {
        let existing = self.selector_slots.get(&id).copied();
        if let Some(slot) = existing
            && self
                .selectors
                .get(slot)
                .is_some_and(|e| e.selector == selector)
        {
            return;
        }
        let plan = Plan::choose(&selector, &mut self.interner);
        let reads = read_names(&selector, &mut self.interner);
        let slot = match existing.and_then(|slot| Some((slot, self.selectors.get_mut(slot)?))) {
            Some((slot, entry)) => {
                self.buckets.remove(&entry.plan, slot);
                entry.selector = selector;
                entry.plan = plan;
                entry.reads = reads;
                slot
            }
            None => {
                let slot = self.selectors.insert(SelectorEntry {
                    id: id.clone(),
                    selector,
                    plan,
                    reads,
                    matches: IdSet::new(),
                });
                self.selector_slots.insert(id, slot);
                slot
            }
        };
        let Some(entry) = self.selectors.get(slot) else {
            return;
        };
        self.buckets.add(&entry.plan, slot);

        // Evaluate the candidates.
        let mut candidates = std::mem::take(&mut self.scratch.candidates);
        let mut matched = std::mem::take(&mut self.scratch.matched);
        candidates.clear();
        matched.clear();
        self.candidate_items(&entry.plan, &mut candidates);
        let mut evaluations = 0;
        for &c in &candidates {
            if let Some(item) = self.items.get(c) {
                evaluations += 1;
                if entry.selector.matches(&self.view(item)) {
                    matched.push(c);
                }
            }
        }
        self.evaluations += evaluations;
        matched.sort_unstable();
        matched.dedup();

        // Report and record the difference.
        let mut started = std::mem::take(&mut self.scratch.started);
        let mut stopped = std::mem::take(&mut self.scratch.stopped);
        started.clear();
        stopped.clear();
        if let Some(entry) = self.selectors.get_mut(slot) {
            diff_sorted(entry.matches.iter(), &matched, &mut stopped, &mut started);
            if !started.is_empty() || !stopped.is_empty() {
                entry.matches = IdSet::from_sorted(&matched);
            }
            for &i in &stopped {
                if let Some(item) = self.items.get_mut(i) {
                    item.matches.remove(slot);
                    out(MatchEvent::Stopped(entry.id.clone(), item.id.clone()));
                }
            }
            for &i in &started {
                if let Some(item) = self.items.get_mut(i) {
                    item.matches.insert(slot);
                    out(MatchEvent::Started(entry.id.clone(), item.id.clone()));
                }
            }
            self.matches = self.matches + started.len() - stopped.len();
        }
        self.scratch.candidates = candidates;
        self.scratch.matched = matched;
        self.scratch.started = started;
        self.scratch.stopped = stopped;
    }

    /// Removes selector `id`, reporting `Stopped` for each of its matches.
    /// Does nothing if it is not present.
    pub fn remove_selector(&mut self, id: &S, out: &mut impl FnMut(MatchEvent<S, I>)) {
        let Some(slot) = self.selector_slots.remove(id) else {
            return;
        };
        let Some(entry) = self.selectors.remove(slot) else {
            return;
        };
        self.buckets.remove(&entry.plan, slot);
        for i in &entry.matches {
            if let Some(item) = self.items.get_mut(i) {
                item.matches.remove(slot);
                out(MatchEvent::Stopped(entry.id.clone(), item.id.clone()));
            }
        }
        self.matches -= entry.matches.len();
    }

    /// Appends the slots of the items that can meet `plan`'s requirement.
    fn candidate_items(&self, plan: &Plan, out: &mut Vec<u32>) {
        match plan {
            Plan::Never => {}
            Plan::Scan => out.extend(self.items.iter().map(|(slot, _)| slot)),
            Plan::Present(name) => {
                for slots in self.item_labels.values_of(name) {
                    out.extend(slots.iter());
                }
                for parents in self.parent_labels.values_of(name) {
                    for p in parents {
                        self.inheriting_children(p, name, out);
                    }
                }
            }
            Plan::OneOf(name, values) => {
                let (own, inherited) = (
                    self.item_labels.by_name(name),
                    self.parent_labels.by_name(name),
                );
                for value in values {
                    if let Some(slots) = own.and_then(|m| m.get(value)) {
                        out.extend(slots.iter());
                    }
                    if let Some(parents) = inherited.and_then(|m| m.get(value)) {
                        for p in parents {
                            self.inheriting_children(p, name, out);
                        }
                    }
                }
            }
        }
    }

    /// Appends the children of parent `parent` whose effective value of
    /// `name` comes from that parent (neither they nor an earlier parent
    /// of theirs has the label).
    fn inheriting_children(&self, parent: u32, name: &Sym, out: &mut Vec<u32>) {
        let Some(entry) = self.parents.get(parent) else {
            return;
        };
        for c in &entry.children {
            if let Some(item) = self.items.get(c)
                && let Some(pos) = item.parent_position(parent)
                && !self.view(item).shadowed_at(pos, name)
            {
                out.push(c);
            }
        }
    }

    // ----------------------------------------------------------------
    // Items
    // ----------------------------------------------------------------

    /// Adds item `id`, or replaces its labels and parents, reporting every
    /// change in its matches.
    ///
    /// `labels` are the item's own labels (if a name repeats, the last
    /// value wins); `parents` are the ids of the parents it inherits from,
    /// earliest first. A parent need not be known yet: it then contributes
    /// no labels until [`update_parent`](Self::update_parent) is called.
    ///
    /// Only the selectors that could match the new labels (those filed
    /// under one of its effective labels, and those with no usable label
    /// requirement) are considered, and of those only the ones that read a
    /// label whose effective value changed are evaluated.
    pub fn update_item<K, V>(
        &mut self,
        id: I,
        labels: impl IntoIterator<Item = (K, V)>,
        parents: impl IntoIterator<Item = P>,
        out: &mut impl FnMut(MatchEvent<S, I>),
    ) where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let labels = self.interner.label_set(labels);
        let parents: Vec<P> = parents.into_iter().collect();
        let existing = self.item_slots.get(&id).copied();
        if let Some(slot) = existing
            && let Some(item) = self.items.get(slot)
            && item.labels.ptr_eq(&labels)
            && item.parents.len() == parents.len()
            && item
                .parents
                .iter()
                .zip(&parents)
                .all(|(&p, id)| self.parents.get(p).is_some_and(|e| e.id == *id))
        {
            return;
        }
        let new_parents: Box<[u32]> = parents.into_iter().map(|p| self.parent_slot(p)).collect();

        let Some(slot) = existing else {
            // A new item.
            let slot = self.items.insert(ItemEntry {
                id: id.clone(),
                labels: labels.clone(),
                parents: new_parents,
                matches: IdSet::new(),
            });
            self.item_slots.insert(id, slot);
            self.item_labels.update(None, Some(&labels), slot);
            self.link_parents(slot);
            self.reevaluate_item(slot, Changed::All, out);
            return;
        };

        // Work out which effective labels change.
        let mut names = std::mem::take(&mut self.scratch.names);
        names.clear();
        let Some(item) = self.items.get(slot) else {
            self.scratch.names = names;
            return;
        };
        let before = self.view(item);
        let after = EffectiveLabels::new(&labels, &new_parents, &self.parents);
        for (name, value) in before.sym_pairs() {
            if after.value(name.as_str()) != Some(value) {
                names.push(name.clone());
            }
        }
        for (name, _) in after.sym_pairs() {
            if before.value(name.as_str()).is_none() {
                names.push(name.clone());
            }
        }

        // Re-file the item.
        self.item_labels
            .update(Some(&item.labels), Some(&labels), slot);
        let old_parents = match self.items.get_mut(slot) {
            Some(item) => {
                item.labels = labels;
                std::mem::replace(&mut item.parents, new_parents)
            }
            None => Box::default(),
        };
        self.unlink_parents(slot, &old_parents, true);
        self.link_parents(slot);

        if !names.is_empty() {
            self.reevaluate_item(slot, Changed::Names(&names), out);
        }
        names.clear();
        self.scratch.names = names;
    }

    /// Removes item `id`, reporting `Stopped` for each of its matches. Does
    /// nothing if it is not present.
    pub fn remove_item(&mut self, id: &I, out: &mut impl FnMut(MatchEvent<S, I>)) {
        let Some(slot) = self.item_slots.remove(id) else {
            return;
        };
        let Some(entry) = self.items.remove(slot) else {
            return;
        };
        for s in &entry.matches {
            if let Some(selector) = self.selectors.get_mut(s) {
                selector.matches.remove(slot);
                out(MatchEvent::Stopped(selector.id.clone(), entry.id.clone()));
            }
        }
        self.matches -= entry.matches.len();
        self.item_labels.update(Some(&entry.labels), None, slot);
        self.unlink_parents(slot, &entry.parents, false);
    }

    /// The slot of parent `id`, adding a placeholder (not known) entry if
    /// there is none.
    fn parent_slot(&mut self, id: P) -> u32 {
        if let Some(&slot) = self.parent_slots.get(&id) {
            return slot;
        }
        let slot = self.parents.insert(ParentEntry {
            id: id.clone(),
            labels: None,
            children: IdSet::new(),
        });
        self.parent_slots.insert(id, slot);
        slot
    }

    /// Records item `slot` as a child of each of its parents.
    fn link_parents(&mut self, slot: u32) {
        let Some(item) = self.items.get(slot) else {
            return;
        };
        for &p in &item.parents {
            if let Some(parent) = self.parents.get_mut(p) {
                parent.children.insert(slot);
            }
        }
    }

    /// Removes item `slot` from the children of `old` parents (those it no
    /// longer lists, if `still_present`), dropping parent entries that are
    /// neither known nor referenced any more.
    fn unlink_parents(&mut self, slot: u32, old: &[u32], still_present: bool) {
        for &p in old {
            let kept = still_present
                && self
                    .items
                    .get(slot)
                    .is_some_and(|item| item.parents.contains(&p));
            if kept {
                continue;
            }
            if let Some(parent) = self.parents.get_mut(p) {
                parent.children.remove(slot);
            }
            self.release_parent(p);
        }
    }

    /// Drops parent entry `slot` if it is neither known nor referenced.
    fn release_parent(&mut self, slot: u32) {
        let unused = self
            .parents
            .get(slot)
            .is_some_and(|p| p.labels.is_none() && p.children.is_empty());
        if unused && let Some(parent) = self.parents.remove(slot) {
            self.parent_slots.remove(&parent.id);
        }
    }

    /// Recomputes the matches of item `slot` after the effective labels
    /// named by `changed` may have changed, and reports the difference.
    ///
    /// Only candidate selectors (see [`SelectorBuckets::candidates`]) that
    /// read a changed name are evaluated. A previous match that reads a
    /// changed name but is no longer a candidate has lost the label its
    /// restriction requires, so it stops matching without evaluation.
    fn reevaluate_item(
        &mut self,
        slot: u32,
        changed: Changed<'_>,
        out: &mut impl FnMut(MatchEvent<S, I>),
    ) {
        let Some(item) = self.items.get(slot) else {
            return;
        };
        let mut started = std::mem::take(&mut self.scratch.started);
        let mut stopped = std::mem::take(&mut self.scratch.stopped);
        started.clear();
        stopped.clear();
        let stamp = self.scratch.next_stamp(self.selectors.slots());
        let stamps = &mut self.scratch.stamps;
        let view = EffectiveLabels::new(&item.labels, &item.parents, &self.parents);
        let selectors = &self.selectors;
        let mut evaluations = 0;
        self.buckets.candidates(&view, |s| {
            let Some(selector) = selectors.get(s) else {
                return;
            };
            if let Changed::Names(names) = changed
                && !selector.reads_any(names)
            {
                return;
            }
            if let Some(mark) = stamps.get_mut(s as usize) {
                *mark = stamp;
            }
            evaluations += 1;
            match (selector.selector.matches(&view), item.matches.contains(s)) {
                (true, false) => started.push(s),
                (false, true) => stopped.push(s),
                _ => {}
            }
        });
        if let Changed::Names(names) = changed {
            for s in &item.matches {
                let candidate = stamps.get(s as usize) == Some(&stamp);
                if !candidate && selectors.get(s).is_some_and(|sel| sel.reads_any(names)) {
                    stopped.push(s);
                }
            }
        }
        self.evaluations += evaluations;
        self.apply_item_changes(slot, &stopped, &started, out);
        self.scratch.started = started;
        self.scratch.stopped = stopped;
    }

    /// Records that item `slot` stopped matching the `stopped` selectors
    /// and started matching the `started` ones, on both sides, and reports
    /// it (`Stopped` events first).
    fn apply_item_changes(
        &mut self,
        slot: u32,
        stopped: &[u32],
        started: &[u32],
        out: &mut impl FnMut(MatchEvent<S, I>),
    ) {
        let Some(item) = self.items.get_mut(slot) else {
            return;
        };
        for &s in stopped {
            if let Some(selector) = self.selectors.get_mut(s) {
                item.matches.remove(s);
                selector.matches.remove(slot);
                out(MatchEvent::Stopped(selector.id.clone(), item.id.clone()));
            }
        }
        for &s in started {
            if let Some(selector) = self.selectors.get_mut(s) {
                item.matches.insert(s);
                selector.matches.insert(slot);
                out(MatchEvent::Started(selector.id.clone(), item.id.clone()));
            }
        }
        self.matches = self.matches + started.len() - stopped.len();
    }

    // ----------------------------------------------------------------
    // Parents
    // ----------------------------------------------------------------

    /// Adds parent `id` or replaces its labels (e.g. a profile's
    /// `labelsToApply`), reporting every resulting change in its children's
    /// matches.
    ///
    /// Only the children are re-evaluated, each only if a changed label is
    /// not overridden by the child itself or an earlier parent, and then
    /// only against the selectors that read a changed label.
    pub fn update_parent<K, V>(
        &mut self,
        id: P,
        labels: impl IntoIterator<Item = (K, V)>,
        out: &mut impl FnMut(MatchEvent<S, I>),
    ) where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let labels = self.interner.label_set(labels);
        let slot = self.parent_slot(id);
        let Some(parent) = self.parents.get_mut(slot) else {
            return;
        };
        if parent.labels.as_ref().is_some_and(|l| l.ptr_eq(&labels)) {
            return;
        }
        let old = parent.labels.replace(labels.clone());
        if old.is_none() {
            self.known_parents += 1;
        }
        self.parent_labels.update(old.as_ref(), Some(&labels), slot);
        let mut names = std::mem::take(&mut self.scratch.names);
        names.clear();
        let old = old.unwrap_or_else(|| self.empty_labels.clone());
        diff_pairs(old.pairs(), labels.pairs(), |name, _, _| {
            names.push(name.clone());
        });
        self.reevaluate_children(slot, &names, out);
        names.clear();
        self.scratch.names = names;
    }

    /// Removes parent `id`'s labels, reporting every resulting change in
    /// its children's matches. Its children keep listing it, and pick its
    /// labels up again if it is re-added. Does nothing if it is not known.
    pub fn remove_parent(&mut self, id: &P, out: &mut impl FnMut(MatchEvent<S, I>)) {
        let Some(&slot) = self.parent_slots.get(id) else {
            return;
        };
        let Some(old) = self.parents.get_mut(slot).and_then(|p| p.labels.take()) else {
            return;
        };
        self.known_parents -= 1;
        self.parent_labels.update(Some(&old), None, slot);
        let mut names = std::mem::take(&mut self.scratch.names);
        names.clear();
        names.extend(old.pairs().iter().map(|(name, _)| name.clone()));
        self.reevaluate_children(slot, &names, out);
        names.clear();
        self.scratch.names = names;
        self.release_parent(slot);
    }

    /// Re-evaluates the children of parent `slot` after the labels `names`
    /// of that parent changed.
    fn reevaluate_children(
        &mut self,
        slot: u32,
        names: &[Sym],
        out: &mut impl FnMut(MatchEvent<S, I>),
    ) {
        if names.is_empty() {
            return;
        }
        let mut children = std::mem::take(&mut self.scratch.children);
        let mut child_names = std::mem::take(&mut self.scratch.child_names);
        children.clear();
        if let Some(parent) = self.parents.get(slot) {
            children.extend(parent.children.iter());
        }
        for &c in &children {
            child_names.clear();
            if let Some(item) = self.items.get(c) {
                let view = self.view(item);
                let pos = item.parent_position(slot).unwrap_or(0);
                child_names.extend(
                    names
                        .iter()
                        .filter(|name| !view.shadowed_at(pos, name))
                        .cloned(),
                );
            }
            if !child_names.is_empty() {
                self.reevaluate_item(c, Changed::Names(&child_names), out);
            }
        }
        child_names.clear();
        self.scratch.children = children;
        self.scratch.child_names = child_names;
    }

    // ----------------------------------------------------------------
    // Queries
    // ----------------------------------------------------------------

    #[inline]
    fn view<'a>(&'a self, item: &'a ItemEntry<I>) -> EffectiveLabels<'a, P> {
        EffectiveLabels::new(&item.labels, &item.parents, &self.parents)
    }

    /// The items that selector `id` matches, in ascending order (none if
    /// it is not present). Sorts on each call: `O(k log k)` for `k`
    /// matches.
    pub fn matching_items(&self, id: &S) -> impl Iterator<Item = &I> + '_ {
        let mut ids: Vec<&I> = self
            .selector_slots
            .get(id)
            .and_then(|&s| self.selectors.get(s))
            .map(|entry| {
                entry
                    .matches
                    .iter()
                    .filter_map(|i| self.items.get(i).map(|item| &item.id))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        ids.into_iter()
    }

    /// The selectors that match item `id`, in ascending order (none if it
    /// is not present). Sorts on each call: `O(k log k)` for `k` matches.
    pub fn matching_selectors(&self, id: &I) -> impl Iterator<Item = &S> + '_ {
        let mut ids: Vec<&S> = self
            .item_slots
            .get(id)
            .and_then(|&i| self.items.get(i))
            .map(|entry| {
                entry
                    .matches
                    .iter()
                    .filter_map(|s| self.selectors.get(s).map(|sel| &sel.id))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        ids.into_iter()
    }

    /// Whether selector `selector` currently matches item `item`.
    pub fn is_match(&self, selector: &S, item: &I) -> bool {
        let (Some(&s), Some(&i)) = (self.selector_slots.get(selector), self.item_slots.get(item))
        else {
            return false;
        };
        self.items.get(i).is_some_and(|e| e.matches.contains(s))
    }

    /// The effective labels of item `id` (its own over its parents'), or
    /// `None` if it is not present.
    pub fn item_labels(&self, id: &I) -> Option<EffectiveLabels<'_, P>> {
        let item = self.items.get(*self.item_slots.get(id)?)?;
        Some(self.view(item))
    }

    /// The parents of item `id`, in order, or `None` if it is not present.
    pub fn item_parents(&self, id: &I) -> Option<impl Iterator<Item = &P> + '_> {
        let item = self.items.get(*self.item_slots.get(id)?)?;
        Some(
            item.parents
                .iter()
                .filter_map(|&p| self.parents.get(p).map(|e| &e.id)),
        )
    }

    /// The own labels of parent `id`, sorted by name, or `None` if it is
    /// not known.
    pub fn parent_labels(&self, id: &P) -> Option<impl Iterator<Item = (&str, &str)> + '_> {
        let labels = self
            .parents
            .get(*self.parent_slots.get(id)?)?
            .labels
            .as_ref()?;
        Some(labels.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The selector stored under `id`.
    pub fn selector(&self, id: &S) -> Option<&Selector> {
        Some(&self.selectors.get(*self.selector_slots.get(id)?)?.selector)
    }

    /// Whether selector `id` is present.
    pub fn contains_selector(&self, id: &S) -> bool {
        self.selector_slots.contains_key(id)
    }

    /// Whether item `id` is present.
    pub fn contains_item(&self, id: &I) -> bool {
        self.item_slots.contains_key(id)
    }

    /// Whether parent `id` is known (has been given labels and not
    /// removed).
    pub fn contains_parent(&self, id: &P) -> bool {
        self.parent_slots
            .get(id)
            .and_then(|&p| self.parents.get(p))
            .is_some_and(|p| p.labels.is_some())
    }

    /// Number of selectors.
    pub fn num_selectors(&self) -> usize {
        self.selectors.len()
    }

    /// Number of items.
    pub fn num_items(&self) -> usize {
        self.items.len()
    }

    /// Number of known parents (not counting parents that items reference
    /// but that have not been given labels).
    pub fn num_parents(&self) -> usize {
        self.known_parents
    }

    /// Number of (selector, item) pairs that match.
    pub fn num_matches(&self) -> usize {
        self.matches
    }

    /// Number of selector evaluations (`Selector::matches` calls) performed
    /// since the index was created: a measure of the work done, for tests,
    /// benchmarks and metrics.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Counters and memory estimates, for metrics.
    pub fn stats(&self) -> IndexStats {
        let selector_match_bytes = self
            .selectors
            .iter()
            .map(|(_, s)| s.matches.heap_bytes())
            .sum();
        let item_match_bytes = self.items.iter().map(|(_, i)| i.matches.heap_bytes()).sum();
        IndexStats {
            selectors: self.selectors.len(),
            items: self.items.len(),
            parents: self.known_parents,
            referenced_parents: self.parents.len(),
            matches: self.matches,
            evaluations: self.evaluations,
            interned_strings: self.interner.num_strings(),
            interned_label_sets: self.interner.num_label_sets(),
            selector_match_bytes,
            item_match_bytes,
            label_index_bytes: self.item_labels.heap_bytes() + self.parent_labels.heap_bytes(),
        }
    }

    /// Checks the internal invariants, panicking with a description of the
    /// first one broken. For tests.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut pairs = 0;
        for (s, sel) in self.selectors.iter() {
            assert_eq!(self.selector_slots.get(&sel.id), Some(&s));
            for i in &sel.matches {
                let item = self.items.get(i).expect("matched item exists");
                assert!(item.matches.contains(s), "match sides agree");
                pairs += 1;
            }
        }
        for (i, item) in self.items.iter() {
            assert_eq!(self.item_slots.get(&item.id), Some(&i));
            for s in &item.matches {
                let sel = self.selectors.get(s).expect("matching selector exists");
                assert!(sel.matches.contains(i), "match sides agree");
            }
            for &p in &item.parents {
                let parent = self.parents.get(p).expect("listed parent has an entry");
                assert!(parent.children.contains(i));
            }
            for (name, value) in item.labels.pairs() {
                assert!(
                    self.item_labels
                        .get(name, value)
                        .is_some_and(|s| s.contains(i))
                );
            }
        }
        let mut known = 0;
        for (p, parent) in self.parents.iter() {
            assert_eq!(self.parent_slots.get(&parent.id), Some(&p));
            assert!(parent.labels.is_some() || !parent.children.is_empty());
            known += usize::from(parent.labels.is_some());
            for c in &parent.children {
                let child = self.items.get(c).expect("child exists");
                assert!(child.parents.contains(&p));
            }
            for (name, value) in parent.labels.iter().flat_map(|l| l.pairs()) {
                assert!(
                    self.parent_labels
                        .get(name, value)
                        .is_some_and(|s| s.contains(p))
                );
            }
        }
        assert_eq!(known, self.known_parents);
        assert_eq!(pairs, self.matches);
        assert_eq!(self.selector_slots.len(), self.selectors.len());
        assert_eq!(self.item_slots.len(), self.items.len());
        assert_eq!(self.parent_slots.len(), self.parents.len());
        if self.items.len() == 0 {
            assert!(self.item_labels.is_empty());
        }
        if self.known_parents == 0 {
            assert!(self.parent_labels.is_empty());
        }
        if self.selectors.len() == 0 {
            assert!(self.buckets.is_empty());
        }
    }
}
