//! Selector parser: never panics; a parsed selector's canonical form parses again and
//! evaluates the same on a fixed label set.
#![no_main]

use std::collections::BTreeMap;

use calico_model::selector::Selector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(sel) = Selector::parse(s) else { return };
    let canonical = sel.to_string();
    let again = Selector::parse(&canonical).expect("canonical form must parse");
    let labels: BTreeMap<String, String> = [("a", "x"), ("b", ""), ("app", "web"), ("c", "a b")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(sel.matches(&labels), again.matches(&labels), "{s:?} vs {canonical:?}");
    let _ = sel.unique_id();
});
