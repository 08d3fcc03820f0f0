//! Property tests: random trees survive rendering and re-parsing with the
//! same meaning, canonical forms are stable, and no input panics the
//! parser.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;

use super::*;

/// Label names, including keywords, drawn from a small pool so that terms
/// actually hit the generated maps.
fn label() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a", "b", "c", "in", "not", "has", "all", "global", "contains", "-x", "a.b/c",
    ])
    .prop_map(str::to_owned)
}

/// Values, including both quote characters (never together), spaces,
/// operator text and non-ASCII.
fn value() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "", "x", "y", "xy", "yx", "xyx", "'", "\"", "a'b", "a\"b", " ", "x y", "&& ||", "é",
    ])
    .prop_map(str::to_owned)
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        Just(Expr::All),
        Just(Expr::Global),
        label().prop_map(Expr::Has),
        (label(), value()).prop_map(|(label, value)| Expr::Eq { label, value }),
        (label(), value()).prop_map(|(label, value)| Expr::Ne { label, value }),
        (label(), value()).prop_map(|(label, value)| Expr::Contains { label, value }),
        (label(), value()).prop_map(|(label, value)| Expr::StartsWith { label, value }),
        (label(), value()).prop_map(|(label, value)| Expr::EndsWith { label, value }),
        (label(), prop::collection::btree_set(value(), 0..4))
            .prop_map(|(label, values)| Expr::In { label, values }),
        (label(), prop::collection::btree_set(value(), 0..4))
            .prop_map(|(label, values)| Expr::NotIn { label, values }),
    ]
}

/// Random trees, including the shapes parsing never produces (empty and
/// single-operand groups, negated negations).
fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::And),
            prop::collection::vec(inner, 0..4).prop_map(Expr::Or),
        ]
    })
}

fn labels() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(label(), value(), 0..7)
}

/// A label source that only implements `get`.
struct GetOnly<'a>(&'a BTreeMap<String, String>);

impl Labels for GetOnly<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// Selector-like token soup, to reach deep into the parser.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "a", "b", "in", "not", "has", "all", "global", "contains", "starts", "ends", "with",
        "has(a)", "has(", "all()", "global()", "(", ")", "{", "}", ",", "==", "!=", "!", "&&",
        "||", "&", "|", "=", "'x'", "\"y\"", "'", "\"", " ", "\t", "\n", "é", "-", "/",
    ]);
    prop::collection::vec(token, 0..24).prop_map(|tokens| tokens.concat())
}

proptest! {
    #[test]
    fn rendered_trees_keep_their_meaning(e in expr(), maps in prop::collection::vec(labels(), 1..6)) {
        let text = e.to_string();
        let compiled = Selector::from_expr(e.clone());
        prop_assert_eq!(compiled.as_str(), text.as_str());
        let parsed = Selector::parse(&text);
        prop_assert!(parsed.is_ok(), "{:?} did not re-parse: {:?}", text, parsed);
        let Ok(parsed) = parsed else { return Ok(()) };
        for m in &maps {
            let expected = e.evaluate(m);
            let hm: HashMap<String, String> = m.clone().into_iter().collect();
            prop_assert_eq!(compiled.matches(m), expected, "{} on {:?}", text, m);
            prop_assert_eq!(compiled.matches(&hm), expected, "{} on {:?}", text, m);
            prop_assert_eq!(compiled.matches(&GetOnly(m)), expected, "{} on {:?}", text, m);
            prop_assert_eq!(parsed.matches(m), expected, "{} on {:?}", text, m);
            prop_assert_eq!(parsed.matches(&hm), expected, "{} on {:?}", text, m);
            prop_assert_eq!(parsed.expr().evaluate(m), expected, "{} on {:?}", text, m);
        }
    }

    #[test]
    fn canonical_form_is_stable(e in expr()) {
        let first = Selector::parse(&e.to_string());
        prop_assert!(first.is_ok());
        let Ok(first) = first else { return Ok(()) };
        // The lazily rebuilt tree is exactly what was parsed.
        let rebuilt = Selector::from_expr(first.expr().clone());
        prop_assert_eq!(rebuilt.as_str(), first.as_str());
        prop_assert_eq!(rebuilt.unique_id(), first.unique_id());
        let second = Selector::parse(first.as_str());
        prop_assert!(second.is_ok());
        let Ok(second) = second else { return Ok(()) };
        if first.expr().has_double_negation() {
            // `!(!x)` renders as `!!x`, which re-parses to `x`.
            prop_assert!(second.as_str().len() < first.as_str().len());
        } else {
            prop_assert_eq!(second.as_str(), first.as_str());
            prop_assert_eq!(second.unique_id(), first.unique_id());
            prop_assert_eq!(&second, &first);
        }
    }

    #[test]
    fn prefixing_renames_every_label(e in expr(), m in labels()) {
        let prefixed = Selector::from_expr(e.clone()).prefixed("p.");
        let moved: BTreeMap<String, String> =
            m.iter().map(|(k, v)| (format!("p.{k}"), v.clone())).collect();
        prop_assert_eq!(prefixed.matches(&moved), e.evaluate(&m));
    }

    #[test]
    fn restrictions_are_implied(e in expr(), m in labels()) {
        // Every map the selector matches satisfies its restrictions.
        if e.evaluate(&m) {
            for (label, r) in e.label_restrictions() {
                let v = m.get(&label);
                prop_assert!(!r.is_impossible(), "{} matched {:?}", e, m);
                prop_assert!(!r.must_be_present || v.is_some(), "{} {:?}", e, m);
                prop_assert!(!r.must_be_absent || v.is_none(), "{} {:?}", e, m);
                if let (Some(values), Some(v)) = (&r.must_have_one_of_values, v) {
                    prop_assert!(values.contains(v), "{} {:?}", e, m);
                }
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let s = String::from_utf8_lossy(&bytes);
        if let Ok(sel) = Selector::parse(&s) {
            prop_assert_eq!(sel.unique_id().len(), 40);
        }
        let _ = normalise(&s);
    }

    #[test]
    fn token_soup_never_panics(s in token_soup(), m in labels()) {
        match Selector::parse(&s) {
            Ok(sel) => {
                // Whatever parses has a canonical form that parses with
                // the same meaning.
                let again = Selector::parse(sel.as_str());
                prop_assert!(again.is_ok(), "{:?} -> {:?}", s, sel.as_str());
                let Ok(again) = again else { return Ok(()) };
                prop_assert_eq!(again.matches(&m), sel.matches(&m));
                prop_assert_eq!(sel.expr().evaluate(&m), sel.matches(&m));
            }
            Err(e) => prop_assert!(e.position() <= s.len()),
        }
    }
}
