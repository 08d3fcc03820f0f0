//! Small serde helpers shared by the resource types.

use std::collections::BTreeMap;

/// `skip_serializing_if` helper: true when the value equals its type's default
/// (Go's `omitempty` for numbers, strings and booleans).
pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// `skip_serializing_if` helper for maps.
pub(crate) fn is_empty_map<K, V>(m: &BTreeMap<K, V>) -> bool {
    m.is_empty()
}

/// `skip_serializing_if` helper for `bool` fields (Go `omitempty`).
#[allow(clippy::trivially_copy_pass_by_ref)]
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}
