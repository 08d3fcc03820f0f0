//! [`Slab`]: entries addressed by small reusable `u32` slot numbers.
//!
//! The index refers to selectors, items and parents by slot number in its
//! match sets and label indexes, which keeps those sets small
//! ([`IdSet`](super::idset::IdSet) packs small numbers best) and avoids
//! cloning caller ids per match. Freed slots are reused last-freed first,
//! so numbering stays dense and depends only on the sequence of calls.

/// A vector of entries with a free list.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value` in a free slot and returns the slot number.
    ///
    /// # Panics
    ///
    /// If `u32::MAX` entries are live at once (capacity overflow, like
    /// `Vec`'s).
    pub(crate) fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if let Some(slot) = self.free.pop()
            && let Some(entry) = self.slots.get_mut(slot as usize)
        {
            *entry = Some(value);
            return slot;
        }
        let slot = u32::try_from(self.slots.len())
            .ok()
            .filter(|&slot| slot != u32::MAX)
            .expect("SelectorIndex capacity overflow: more than u32::MAX - 1 live entries");
        self.slots.push(Some(value));
        slot
    }

    /// Removes and returns the entry in `slot`.
    pub(crate) fn remove(&mut self, slot: u32) -> Option<T> {
        let value = self.slots.get_mut(slot as usize)?.take()?;
        self.len -= 1;
        if self.len == 0 {
            // Start numbering afresh (and give the memory back).
            self.slots = Vec::new();
            self.free = Vec::new();
        } else {
            self.free.push(slot);
        }
        Some(value)
    }

    /// The entry in `slot`.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// The entry in `slot`, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.slots.get_mut(slot as usize)?.as_mut()
    }

    /// Number of live entries.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Number of slots, live or free: every slot number is below it.
    #[inline]
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The live entries with their slot numbers, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots
            .iter()
            .zip(0u32..)
            .filter_map(|(entry, slot)| entry.as_ref().map(|e| (slot, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_last_freed_first() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        let b = slab.insert("b");
        let c = slab.insert("c");
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.remove(b), Some("b"));
        assert_eq!(slab.insert("d"), b);
        assert_eq!(slab.insert("e"), a);
        assert_eq!(slab.len(), 3);
        assert_eq!(
            slab.iter().collect::<Vec<_>>(),
            [(0, &"e"), (1, &"d"), (2, &"c")]
        );
        assert_eq!(slab.get(7), None);
    }
}
