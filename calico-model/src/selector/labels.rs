//! The [`Labels`] trait: what a selector is evaluated against.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::ops::ControlFlow;

/// A read-only label map (label name → value) that selectors evaluate
/// against.
///
/// Only [`get`](Labels::get) is required. The provided methods let a small
/// map offer a faster strategy: when [`len_hint`](Labels::len_hint) and
/// [`for_each_label`](Labels::for_each_label) are implemented and the map is
/// small, `Selector::matches` makes one pass over the entries, matching each
/// key against the selector's distinct label names, instead of one `get`
/// (and, for a `HashMap`, one key hash) per term.
///
/// A "layered" map (endpoint labels over inherited profile labels, endpoint
/// wins) can implement just `get`; if it also implements `for_each_label`
/// it must visit each visible key exactly once with the value `get` would
/// return.
pub trait Labels {
    /// The value of `key`, or `None` if the label is absent.
    fn get(&self, key: &str) -> Option<&str>;

    /// The number of labels, if known cheaply. `None` (the default) means
    /// unknown, which disables the single-pass strategy.
    fn len_hint(&self) -> Option<usize> {
        None
    }

    /// Calls `f` for the `(key, value)` entries, stopping early if `f`
    /// returns [`ControlFlow::Break`], and returns `true`; or returns
    /// `false` without calling `f` if iteration is not supported (the
    /// default).
    ///
    /// The visited entries must agree with [`get`](Labels::get): each key
    /// at most once, with the value `get` returns for it, in any order
    /// unless [`keys_sorted`](Labels::keys_sorted) says otherwise.
    fn for_each_label<'a>(
        &'a self,
        f: &mut dyn FnMut(&'a str, &'a str) -> ControlFlow<()>,
    ) -> bool {
        let _ = f;
        false
    }

    /// Whether [`for_each_label`](Labels::for_each_label) visits keys in
    /// ascending byte order (as a `BTreeMap` does), which lets the scan stop
    /// once it is past the selector's last label name. Defaults to `false`.
    fn keys_sorted(&self) -> bool {
        false
    }
}

impl<T: Labels + ?Sized> Labels for &T {
    #[inline]
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }

    #[inline]
    fn len_hint(&self) -> Option<usize> {
        (**self).len_hint()
    }

    // Always inlined so the `dyn FnMut` callback is devirtualised in the
    // matcher's single-pass scan.
    #[inline(always)]
    fn for_each_label<'a>(
        &'a self,
        f: &mut dyn FnMut(&'a str, &'a str) -> ControlFlow<()>,
    ) -> bool {
        (**self).for_each_label(f)
    }

    #[inline]
    fn keys_sorted(&self) -> bool {
        (**self).keys_sorted()
    }
}

impl Labels for BTreeMap<String, String> {
    #[inline]
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }

    #[inline]
    fn len_hint(&self) -> Option<usize> {
        Some(self.len())
    }

    #[inline(always)]
    fn for_each_label<'a>(
        &'a self,
        f: &mut dyn FnMut(&'a str, &'a str) -> ControlFlow<()>,
    ) -> bool {
        let _ = self.iter().try_for_each(|(k, v)| f(k, v));
        true
    }

    #[inline]
    fn keys_sorted(&self) -> bool {
        true
    }
}

impl<S: BuildHasher> Labels for HashMap<String, String, S> {
    #[inline]
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }

    #[inline]
    fn len_hint(&self) -> Option<usize> {
        Some(self.len())
    }

    #[inline(always)]
    fn for_each_label<'a>(
        &'a self,
        f: &mut dyn FnMut(&'a str, &'a str) -> ControlFlow<()>,
    ) -> bool {
        for (k, v) in self {
            if f(k, v).is_break() {
                break;
            }
        }
        true
    }
}
