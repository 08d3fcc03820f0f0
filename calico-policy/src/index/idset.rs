//! [`IdSet`]: a compact ordered set of `u32` slot numbers.
//!
//! The index stores every (selector, item) match twice, once per side, so
//! the representation of these sets decides most of its memory. An
//! `IdSet` is a simplified *roaring bitmap*: ids are split into 16-bit
//! chunks by their high half, and each chunk stores its low halves either
//! as a sorted `Vec<u16>` (2 bytes per member, for sparse chunks) or as a
//! bitmap trimmed to its highest set bit (1 bit per possible member, for
//! dense ones). Slot numbers are small and reused, so a set of all items
//! costs about one bit per item and a sparse set two bytes per member,
//! against 8–16 bytes per member for a `BTreeSet<u32>` or `HashSet<u32>`.
//!
//! Every operation is `O(log chunks)` plus, for an array chunk, a binary
//! search and at most a 8 KiB `memmove` (an array never grows past 4096
//! members: by then the bitmap is smaller).

use std::fmt;

/// Arrays with fewer members than this never become bitmaps.
const MIN_BITMAP_LEN: usize = 16;

/// Bitmaps with fewer members than this always become arrays.
const MIN_ARRAY_LEN: usize = 8;

/// A compact ordered set of `u32` ids (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct IdSet {
    /// Non-empty chunks, sorted by `high`.
    chunks: Vec<Chunk>,
}

/// The members of an [`IdSet`] that share their high 16 bits.
#[derive(Clone)]
struct Chunk {
    high: u16,
    /// Number of members (1..=65536).
    len: u32,
    body: Body,
}

#[derive(Clone)]
enum Body {
    /// Sorted, de-duplicated low halves.
    Array(Vec<u16>),
    /// Bit `low % 64` of word `low / 64` is set for each member; the last
    /// word is never zero.
    Bitmap(Vec<u64>),
}

#[inline]
fn split(id: u32) -> (u16, u16) {
    ((id >> 16) as u16, (id & 0xffff) as u16)
}

#[inline]
fn join(high: u16, low: u16) -> u32 {
    (u32::from(high) << 16) | u32::from(low)
}

/// Words needed for a bitmap whose greatest member is `max`.
#[inline]
fn words_for(max: u16) -> usize {
    usize::from(max) / 64 + 1
}

/// Whether an array of `len` members, the greatest `max`, should be a
/// bitmap: the array (2 bytes a member) is larger than the bitmap (8 bytes
/// a word).
#[inline]
fn array_should_be_bitmap(len: usize, max: u16) -> bool {
    len >= MIN_BITMAP_LEN && 2 * len > 8 * words_for(max)
}

/// Whether a bitmap of `words` words holding `len` members should be an
/// array: the array would be less than half the bitmap's size, which
/// leaves a factor-of-two band where neither conversion happens.
#[inline]
fn bitmap_should_be_array(len: usize, words: usize) -> bool {
    len < MIN_ARRAY_LEN || 4 * len < 8 * words
}

impl Chunk {
    fn single(high: u16, low: u16) -> Chunk {
        Chunk {
            high,
            len: 1,
            body: Body::Array(vec![low]),
        }
    }

    /// Builds a chunk from sorted, de-duplicated low halves.
    fn from_sorted(high: u16, lows: impl ExactSizeIterator<Item = u16> + Clone) -> Chunk {
        let len = lows.len();
        let max = lows.clone().last().unwrap_or(0);
        let body = if array_should_be_bitmap(len, max) {
            let mut words = vec![0u64; words_for(max)];
            for low in lows {
                if let Some(w) = words.get_mut(usize::from(low) / 64) {
                    *w |= 1u64 << (low % 64);
                }
            }
            Body::Bitmap(words)
        } else {
            Body::Array(lows.collect())
        };
        Chunk {
            high,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            body,
        }
    }

    #[inline]
    fn contains(&self, low: u16) -> bool {
        match &self.body {
            Body::Array(a) => a.binary_search(&low).is_ok(),
            Body::Bitmap(words) => words
                .get(usize::from(low) / 64)
                .is_some_and(|w| w & (1u64 << (low % 64)) != 0),
        }
    }

    fn insert(&mut self, low: u16) -> bool {
        match &mut self.body {
            Body::Array(a) => {
                if a.len() == a.capacity() {
                    // Grow by a quarter rather than doubling: these sets
                    // are most of the index's memory.
                    a.reserve_exact((a.len() / 4).max(4));
                }
                // Appending is the common case (slots are mostly added in
                // increasing order).
                if a.last().is_none_or(|&last| last < low) {
                    a.push(low);
                } else {
                    let Err(pos) = a.binary_search(&low) else {
                        return false;
                    };
                    a.insert(pos, low);
                }
                self.len += 1;
                let max = a.last().copied().unwrap_or(0);
                if array_should_be_bitmap(a.len(), max) {
                    self.convert_to_bitmap();
                }
                true
            }
            Body::Bitmap(words) => {
                let w = usize::from(low) / 64;
                if w >= words.len() {
                    // Exactly: a bitmap grows a word per 64 new high ids at
                    // most, and at most to 1024 words.
                    words.reserve_exact(w + 1 - words.len());
                    words.resize(w + 1, 0);
                }
                let mask = 1u64 << (low % 64);
                match words.get_mut(w) {
                    Some(word) if *word & mask == 0 => {
                        *word |= mask;
                        self.len += 1;
                        true
                    }
                    _ => false,
                }
            }
        }
    }

    fn remove(&mut self, low: u16) -> bool {
        match &mut self.body {
            Body::Array(a) => {
                let Ok(pos) = a.binary_search(&low) else {
                    return false;
                };
                a.remove(pos);
                self.len -= 1;
                if a.capacity() > 2 * a.len() + 16 {
                    a.shrink_to(a.len() + a.len() / 4);
                }
                true
            }
            Body::Bitmap(words) => {
                let mask = 1u64 << (low % 64);
                match words.get_mut(usize::from(low) / 64) {
                    Some(word) if *word & mask != 0 => *word &= !mask,
                    _ => return false,
                }
                while words.last() == Some(&0) {
                    words.pop();
                }
                self.len -= 1;
                let len = self.len as usize;
                if bitmap_should_be_array(len, words.len()) {
                    self.convert_to_array();
                }
                true
            }
        }
    }

    fn convert_to_bitmap(&mut self) {
        if let Body::Array(a) = &self.body {
            let rebuilt = Chunk::from_sorted(self.high, a.iter().copied());
            if let Body::Bitmap(words) = rebuilt.body {
                self.body = Body::Bitmap(words);
            }
        }
    }

    fn convert_to_array(&mut self) {
        if let Body::Bitmap(words) = &self.body {
            let lows: Vec<u16> = BitIter::new(0, words)
                .map(|id| (id & 0xffff) as u16)
                .collect();
            self.body = Body::Array(lows);
        }
    }

    fn iter(&self) -> ChunkIter<'_> {
        match &self.body {
            Body::Array(a) => ChunkIter::Array {
                high: self.high,
                lows: a.iter(),
            },
            Body::Bitmap(words) => ChunkIter::Bitmap(BitIter::new(self.high, words)),
        }
    }

    fn heap_bytes(&self) -> usize {
        match &self.body {
            Body::Array(a) => a.capacity() * 2,
            Body::Bitmap(w) => w.capacity() * 8,
        }
    }
}

impl IdSet {
    /// An empty set (does not allocate).
    pub(crate) const fn new() -> IdSet {
        IdSet { chunks: Vec::new() }
    }

    /// Builds a set from ids sorted in ascending order without duplicates
    /// (duplicates are skipped; out-of-order ids are inserted one by one).
    pub(crate) fn from_sorted(ids: &[u32]) -> IdSet {
        let mut set = IdSet::new();
        let mut rest = ids;
        while let Some(&first) = rest.first() {
            let high = split(first).0;
            let n = rest.iter().take_while(|&&id| split(id).0 == high).count();
            let (group, tail) = rest.split_at(n);
            rest = tail;
            let sorted = group.windows(2).all(|w| matches!(w, [a, b] if a < b));
            let fits = set.chunks.last().is_none_or(|c| c.high < high);
            if sorted && fits {
                set.chunks.reserve_exact(1);
                set.chunks.push(Chunk::from_sorted(
                    high,
                    group.iter().map(|&id| split(id).1),
                ));
            } else {
                for &id in group {
                    set.insert(id);
                }
            }
        }
        set
    }

    #[inline]
    fn chunk(&self, high: u16) -> Option<&Chunk> {
        // Almost every set has one chunk: check it before searching.
        match self.chunks.as_slice() {
            [only] => (only.high == high).then_some(only),
            chunks => chunks
                .binary_search_by_key(&high, |c| c.high)
                .ok()
                .and_then(|i| chunks.get(i)),
        }
    }

    /// Whether `id` is a member.
    #[inline]
    pub(crate) fn contains(&self, id: u32) -> bool {
        let (high, low) = split(id);
        self.chunk(high).is_some_and(|c| c.contains(low))
    }

    /// Adds `id`; returns whether it was absent.
    pub(crate) fn insert(&mut self, id: u32) -> bool {
        let (high, low) = split(id);
        if let [only] = self.chunks.as_mut_slice()
            && only.high == high
        {
            return only.insert(low);
        }
        match self.chunks.binary_search_by_key(&high, |c| c.high) {
            Ok(i) => self.chunks.get_mut(i).is_some_and(|c| c.insert(low)),
            Err(i) => {
                // Most sets have one chunk: don't let `Vec` round up to 4.
                self.chunks.reserve_exact(1);
                self.chunks.insert(i, Chunk::single(high, low));
                true
            }
        }
    }

    /// Removes `id`; returns whether it was present.
    pub(crate) fn remove(&mut self, id: u32) -> bool {
        let (high, low) = split(id);
        let Ok(i) = self.chunks.binary_search_by_key(&high, |c| c.high) else {
            return false;
        };
        let Some(chunk) = self.chunks.get_mut(i) else {
            return false;
        };
        let removed = chunk.remove(low);
        if chunk.len == 0 {
            self.chunks.remove(i);
            if self.chunks.is_empty() {
                self.chunks = Vec::new();
            }
        }
        removed
    }

    /// Number of members.
    pub(crate) fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.len as usize).sum()
    }

    /// Whether the set is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The members in ascending order.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter {
            chunks: self.chunks.iter(),
            current: ChunkIter::Done,
        }
    }

    /// Approximate heap memory held, in bytes.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.chunks.capacity() * size_of::<Chunk>()
            + self.chunks.iter().map(Chunk::heap_bytes).sum::<usize>()
    }
}

impl fmt::Debug for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl PartialEq for IdSet {
    fn eq(&self, other: &IdSet) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for IdSet {}

impl<'a> IntoIterator for &'a IdSet {
    type Item = u32;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Ascending iterator over an [`IdSet`].
pub(crate) struct Iter<'a> {
    chunks: std::slice::Iter<'a, Chunk>,
    current: ChunkIter<'a>,
}

enum ChunkIter<'a> {
    Done,
    Array {
        high: u16,
        lows: std::slice::Iter<'a, u16>,
    },
    Bitmap(BitIter<'a>),
}

/// Ascending iterator over the set bits of a chunk's bitmap.
struct BitIter<'a> {
    words: std::slice::Iter<'a, u64>,
    word: u64,
    word_base: u32,
}

impl<'a> BitIter<'a> {
    fn new(high: u16, words: &'a [u64]) -> BitIter<'a> {
        let base = join(high, 0);
        BitIter {
            words: words.iter(),
            word: 0,
            // Wraps to `base` when the first word is loaded.
            word_base: base.wrapping_sub(64),
        }
    }
}

impl Iterator for BitIter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        while self.word == 0 {
            self.word = *self.words.next()?;
            self.word_base = self.word_base.wrapping_add(64);
        }
        let bit = self.word.trailing_zeros();
        self.word &= self.word - 1;
        Some(self.word_base + bit)
    }
}

impl Iterator for ChunkIter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        match self {
            ChunkIter::Done => None,
            ChunkIter::Array { high, lows } => lows.next().map(|&low| join(*high, low)),
            ChunkIter::Bitmap(bits) => bits.next(),
        }
    }
}

impl Iterator for Iter<'_> {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        loop {
            if let Some(id) = self.current.next() {
                return Some(id);
            }
            self.current = self.chunks.next()?.iter();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn check(set: &IdSet, model: &BTreeSet<u32>) {
        assert_eq!(set.len(), model.len());
        assert_eq!(set.is_empty(), model.is_empty());
        assert!(set.iter().eq(model.iter().copied()));
        for chunk in &set.chunks {
            assert!(chunk.len > 0);
            if let Body::Bitmap(words) = &chunk.body {
                assert_ne!(words.last(), Some(&0));
            }
        }
        assert!(set.chunks.windows(2).all(|w| w[0].high < w[1].high));
    }

    #[test]
    fn dense_set_becomes_bitmap_and_back() {
        let mut set = IdSet::new();
        for id in 0..10_000 {
            assert!(set.insert(id));
        }
        assert!(!set.insert(42));
        assert!(matches!(set.chunks[0].body, Body::Bitmap(_)));
        assert!(set.heap_bytes() < 2_500, "{}", set.heap_bytes());
        for id in 10..10_000 {
            assert!(set.remove(id));
        }
        assert!(matches!(set.chunks[0].body, Body::Array(_)));
        assert_eq!(set.iter().collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        for id in 0..10 {
            assert!(set.remove(id));
        }
        assert!(set.is_empty());
        assert_eq!(set.heap_bytes(), 0);
    }

    #[test]
    fn chunks_span_high_ids() {
        let ids = [0, 65_535, 65_536, 1 << 20, u32::MAX];
        let set = IdSet::from_sorted(&ids);
        assert_eq!(set.iter().collect::<Vec<_>>(), ids);
        assert!(set.contains(u32::MAX));
        assert!(!set.contains(1));
        assert_eq!(set.chunks.len(), 4);
    }

    proptest! {
        #[test]
        fn matches_btreeset(ops in prop::collection::vec((any::<bool>(), prop_oneof![0u32..300, 0u32..200_000]), 0..400)) {
            let mut set = IdSet::new();
            let mut model = BTreeSet::new();
            for (insert, id) in ops {
                if insert {
                    prop_assert_eq!(set.insert(id), model.insert(id));
                } else {
                    prop_assert_eq!(set.remove(id), model.remove(&id));
                }
                prop_assert_eq!(set.contains(id), model.contains(&id));
            }
            check(&set, &model);
            let sorted: Vec<u32> = model.iter().copied().collect();
            let rebuilt = IdSet::from_sorted(&sorted);
            check(&rebuilt, &model);
            prop_assert_eq!(rebuilt, set);
        }
    }
}
