//! Interned label strings ([`Sym`]) and interned label maps ([`LabelSet`]).
//!
//! Label names repeat on every item (`app`, `projectcalico.org/namespace`,
//! …) and so do most values, and in Kubernetes the pods of one ReplicaSet
//! carry identical label maps. The index therefore keeps one copy of each
//! distinct string and of each distinct label map, shared by reference
//! count. Because every live [`Sym`] comes from the one [`Interner`], two
//! syms are equal exactly when they are the same allocation, so the index's
//! hash maps hash and compare syms by address, never by content.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

/// An interned string: equality and hashing are by address.
///
/// Only an [`Interner`] makes syms, so two syms of the same interner are
/// equal exactly when their texts are.
#[derive(Clone)]
pub(crate) struct Sym(Arc<str>);

impl Sym {
    /// The text.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    #[inline]
    fn addr(&self) -> usize {
        Arc::as_ptr(&self.0).cast::<u8>() as usize
    }
}

impl PartialEq for Sym {
    #[inline]
    fn eq(&self, other: &Sym) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Sym {}

impl Hash for Sym {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.addr());
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A fast, non-cryptographic hasher for keys that callers cannot choose:
/// sym addresses, label sets (sequences of sym addresses) and slot numbers.
/// Never used for label text itself, which goes through `std`'s keyed
/// `RandomState`.
#[derive(Default, Clone, Copy)]
pub(crate) struct AddrHasher(u64);

const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl AddrHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for AddrHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (dst, src) in word.iter_mut().zip(chunk) {
                *dst = *src;
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Fold the full product so both the low bits (bucket) and the high
        // bits (hashbrown's control byte) depend on every input bit.
        let product = u128::from(self.0) * u128::from(MULTIPLIER);
        (product as u64) ^ ((product >> 64) as u64)
    }
}

/// A `HashMap` keyed by syms (or other address-like keys).
pub(crate) type SymMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<AddrHasher>>;

/// Label maps up to this size are searched linearly.
const LINEAR_SEARCH_MAX: usize = 16;

/// An interned label map: `(name, value)` pairs sorted by name, names
/// unique.
///
/// Equality and hashing are by the pairs' syms; since label sets are
/// interned too, two live sets are equal exactly when
/// [`ptr_eq`](LabelSet::ptr_eq).
#[derive(Clone)]
pub(crate) struct LabelSet(Arc<[(Sym, Sym)]>);

impl LabelSet {
    /// The pairs, sorted by name.
    #[inline]
    pub(crate) fn pairs(&self) -> &[(Sym, Sym)] {
        &self.0
    }

    /// The value of `key`.
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Option<&Sym> {
        let pairs = self.pairs();
        if pairs.len() <= LINEAR_SEARCH_MAX {
            // Label names mostly differ in length, so comparing lengths
            // first avoids nearly every byte comparison a binary search
            // would make.
            let key = key.as_bytes();
            return pairs
                .iter()
                .find(|(k, _)| {
                    let k = k.as_str().as_bytes();
                    k.len() == key.len() && k.first() == key.first() && k == key
                })
                .map(|(_, v)| v);
        }
        pairs
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .and_then(|i| pairs.get(i))
            .map(|(_, v)| v)
    }

    /// Whether `key` (a sym of the same interner) is present.
    #[inline]
    pub(crate) fn contains_key(&self, key: &Sym) -> bool {
        let pairs = self.pairs();
        if pairs.len() <= LINEAR_SEARCH_MAX {
            // Syms of one interner are equal exactly when they are the
            // same allocation.
            pairs.iter().any(|(k, _)| k == key)
        } else {
            self.get(key.as_str()).is_some()
        }
    }

    /// Whether both are the same interned set (hence equal).
    #[inline]
    pub(crate) fn ptr_eq(&self, other: &LabelSet) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl PartialEq for LabelSet {
    fn eq(&self, other: &LabelSet) -> bool {
        self.pairs() == other.pairs()
    }
}

impl Eq for LabelSet {}

impl Hash for LabelSet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.pairs().hash(state);
    }
}

impl Borrow<[(Sym, Sym)]> for LabelSet {
    fn borrow(&self) -> &[(Sym, Sym)] {
        self.pairs()
    }
}

impl fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.pairs().iter().map(|(k, v)| (k, v)))
            .finish()
    }
}

/// Entries an interner table may hold before its first sweep.
const MIN_SWEEP_AT: usize = 1024;

/// The table of live strings and label sets.
///
/// Entries are dropped lazily: when a table has doubled since its last
/// sweep, entries that nothing outside the table references any more are
/// removed. That keeps interning amortised `O(1)` and the tables at most
/// about twice their live size.
pub(crate) struct Interner {
    strings: HashSet<Arc<str>>,
    sets: HashSet<LabelSet, BuildHasherDefault<AddrHasher>>,
    sweep_strings_at: usize,
    sweep_sets_at: usize,
    /// Reused buffer for building label sets.
    pairs: Vec<(Sym, Sym)>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            strings: HashSet::new(),
            sets: HashSet::default(),
            sweep_strings_at: MIN_SWEEP_AT,
            sweep_sets_at: MIN_SWEEP_AT,
            pairs: Vec::new(),
        }
    }
}

impl Interner {
    /// The sym for `text`.
    pub(crate) fn sym(&mut self, text: &str) -> Sym {
        if let Some(existing) = self.strings.get(text) {
            return Sym(Arc::clone(existing));
        }
        if self.strings.len() >= self.sweep_strings_at {
            self.sweep();
        }
        let interned: Arc<str> = Arc::from(text);
        self.strings.insert(Arc::clone(&interned));
        Sym(interned)
    }

    /// The label set for `labels`; if a name repeats, its last value wins.
    pub(crate) fn label_set<K, V>(&mut self, labels: impl IntoIterator<Item = (K, V)>) -> LabelSet
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut pairs = std::mem::take(&mut self.pairs);
        pairs.clear();
        for (k, v) in labels {
            let pair = (self.sym(k.as_ref()), self.sym(v.as_ref()));
            pairs.push(pair);
        }
        if !pairs.is_sorted_by(|a, b| a.0.as_str() < b.0.as_str()) {
            // Stable, so that among equal names the last one given is last.
            pairs.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
            let mut write = 0;
            for read in 0..pairs.len() {
                let same_name = write > 0
                    && matches!(
                        (pairs.get(write - 1), pairs.get(read)),
                        (Some(prev), Some(cur)) if prev.0 == cur.0
                    );
                if same_name {
                    pairs.swap(write - 1, read);
                } else {
                    pairs.swap(write, read);
                    write += 1;
                }
            }
            pairs.truncate(write);
        }
        let set = if let Some(existing) = self.sets.get(pairs.as_slice()) {
            existing.clone()
        } else {
            if self.sets.len() >= self.sweep_sets_at {
                self.sweep();
            }
            let set = LabelSet(Arc::from(pairs.as_slice()));
            self.sets.insert(set.clone());
            set
        };
        pairs.clear();
        self.pairs = pairs;
        set
    }

    /// Drops the entries that only the tables reference.
    pub(crate) fn sweep(&mut self) {
        // Sets first: dropping a set may release its strings.
        self.sets.retain(|set| Arc::strong_count(&set.0) > 1);
        self.strings.retain(|s| Arc::strong_count(s) > 1);
        self.sweep_sets_at = (2 * self.sets.len()).max(MIN_SWEEP_AT);
        self.sweep_strings_at = (2 * self.strings.len()).max(MIN_SWEEP_AT);
    }

    /// Number of distinct strings held (live or awaiting a sweep).
    pub(crate) fn num_strings(&self) -> usize {
        self.strings.len()
    }

    /// Number of distinct label sets held (live or awaiting a sweep).
    pub(crate) fn num_label_sets(&self) -> usize {
        self.sets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syms_are_shared_and_compared_by_address() {
        let mut interner = Interner::default();
        let a = interner.sym("app");
        let b = interner.sym(&String::from("app"));
        assert_eq!(a, b);
        assert_ne!(a, interner.sym("tier"));
        assert_eq!(a.as_str(), "app");
    }

    #[test]
    fn label_sets_are_sorted_deduplicated_and_shared() {
        let mut interner = Interner::default();
        let x = interner.label_set([("b", "1"), ("a", "0"), ("b", "2"), ("c", "3"), ("a", "9")]);
        let names: Vec<_> = x
            .pairs()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(names, [("a", "9"), ("b", "2"), ("c", "3")]);
        let y = interner.label_set([("a", "9"), ("b", "2"), ("c", "3")]);
        assert!(x.ptr_eq(&y));
        assert_eq!(x.get("b").map(Sym::as_str), Some("2"));
        assert_eq!(x.get("d"), None);
    }

    #[test]
    fn sweep_drops_unreferenced_entries() {
        let mut interner = Interner::default();
        let kept = interner.label_set([("k", "kept")]);
        for i in 0..5000 {
            let _ = interner.label_set([("k", format!("v{i}"))]);
        }
        assert!(interner.num_strings() <= 2 * MIN_SWEEP_AT + 2);
        interner.sweep();
        assert_eq!(interner.num_label_sets(), 1);
        assert_eq!(interner.num_strings(), 2);
        assert!(interner.label_set([("k", "kept")]).ptr_eq(&kept));
    }
}
