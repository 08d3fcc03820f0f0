//! Unit tests of [`SelectorIndex`]: each operation, each inheritance rule
//! and the incrementality guarantees.

use std::collections::BTreeMap;

use calico_model::selector::Selector;

use super::{MatchEvent, SelectorIndex};

type Ev = MatchEvent<&'static str, &'static str>;

fn on(s: &'static str, i: &'static str) -> Ev {
    MatchEvent::Started(s, i)
}

fn off(s: &'static str, i: &'static str) -> Ev {
    MatchEvent::Stopped(s, i)
}

/// An index plus helpers that apply one operation, check the invariants
/// and return the events, sorted.
#[derive(Default)]
struct T {
    idx: SelectorIndex<&'static str, &'static str, &'static str>,
}

impl T {
    fn finish(&self, mut events: Vec<Ev>) -> Vec<Ev> {
        self.idx.check_invariants();
        // Stopped first, then Started, each by (selector, item).
        events.sort_by(|a, b| {
            (a.is_started(), a.selector(), a.item()).cmp(&(b.is_started(), b.selector(), b.item()))
        });
        events
    }

    fn sel(&mut self, id: &'static str, text: &str) -> Vec<Ev> {
        let mut events = Vec::new();
        let selector = Selector::parse(text).expect("valid selector");
        self.idx
            .update_selector(id, selector, &mut |e| events.push(e));
        self.finish(events)
    }

    fn item(
        &mut self,
        id: &'static str,
        labels: &[(&str, &str)],
        parents: &[&'static str],
    ) -> Vec<Ev> {
        let mut events = Vec::new();
        self.idx.update_item(
            id,
            labels.iter().copied(),
            parents.iter().copied(),
            &mut |e| events.push(e),
        );
        self.finish(events)
    }

    fn parent(&mut self, id: &'static str, labels: &[(&str, &str)]) -> Vec<Ev> {
        let mut events = Vec::new();
        self.idx
            .update_parent(id, labels.iter().copied(), &mut |e| events.push(e));
        self.finish(events)
    }

    fn rm_sel(&mut self, id: &'static str) -> Vec<Ev> {
        let mut events = Vec::new();
        self.idx.remove_selector(&id, &mut |e| events.push(e));
        self.finish(events)
    }

    fn rm_item(&mut self, id: &'static str) -> Vec<Ev> {
        let mut events = Vec::new();
        self.idx.remove_item(&id, &mut |e| events.push(e));
        self.finish(events)
    }

    fn rm_parent(&mut self, id: &'static str) -> Vec<Ev> {
        let mut events = Vec::new();
        self.idx.remove_parent(&id, &mut |e| events.push(e));
        self.finish(events)
    }

    fn items_of(&self, s: &'static str) -> Vec<&'static str> {
        self.idx.matching_items(&s).copied().collect()
    }

    fn evals(&self) -> u64 {
        self.idx.evaluations()
    }
}

#[test]
fn selector_then_item_and_item_then_selector() {
    let mut t = T::default();
    assert_eq!(t.sel("s1", "app == 'web'"), []);
    assert_eq!(t.item("i1", &[("app", "web")], &[]), [on("s1", "i1")]);
    assert_eq!(t.item("i2", &[("app", "db")], &[]), []);
    assert_eq!(t.sel("s2", "has(app)"), [on("s2", "i1"), on("s2", "i2")]);
    assert_eq!(t.items_of("s2"), ["i1", "i2"]);
    assert_eq!(
        t.idx.matching_selectors(&"i1").copied().collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    assert!(t.idx.is_match(&"s1", &"i1"));
    assert!(!t.idx.is_match(&"s1", &"i2"));
    assert!(!t.idx.is_match(&"nope", &"i2"));
    assert_eq!(t.idx.num_matches(), 3);
    assert_eq!(t.idx.num_selectors(), 2);
    assert_eq!(t.idx.num_items(), 2);
}

#[test]
fn item_label_changes_start_and_stop_matches() {
    let mut t = T::default();
    t.sel("s1", "app == 'web'");
    t.sel("s2", "app in {'web', 'api'}");
    t.item("i1", &[("app", "web")], &[]);
    assert_eq!(t.item("i1", &[("app", "api")], &[]), [off("s1", "i1")]);
    assert_eq!(t.item("i1", &[("app", "db")], &[]), [off("s2", "i1")]);
    assert_eq!(
        t.item("i1", &[("app", "web")], &[]),
        [on("s1", "i1"), on("s2", "i1")]
    );
    assert_eq!(t.item("i1", &[], &[]), [off("s1", "i1"), off("s2", "i1")]);
}

#[test]
fn identical_replacements_emit_nothing_and_evaluate_nothing() {
    let mut t = T::default();
    t.parent("p", &[("env", "prod")]);
    t.sel("s1", "app == 'web' && env == 'prod'");
    t.sel("s2", "all()");
    t.item("i1", &[("app", "web"), ("tier", "fe")], &["p"]);
    let before = t.evals();
    // Same canonical form, labels in another order, same parent labels.
    assert_eq!(t.sel("s1", "app==\"web\"&&env=='prod'"), []);
    assert_eq!(t.item("i1", &[("tier", "fe"), ("app", "web")], &["p"]), []);
    assert_eq!(t.parent("p", &[("env", "prod")]), []);
    assert_eq!(t.evals(), before);
    assert_eq!(t.items_of("s1"), ["i1"]);
}

#[test]
fn repeated_label_names_keep_the_last_value() {
    let mut t = T::default();
    t.sel("s", "app == 'b'");
    assert_eq!(
        t.item("i", &[("app", "a"), ("app", "b")], &[]),
        [on("s", "i")]
    );
    assert_eq!(
        t.idx.item_labels(&"i").and_then(|l| l.get("app")),
        Some("b")
    );
}

#[test]
fn own_label_beats_parent_label() {
    let mut t = T::default();
    t.parent("p", &[("env", "prod")]);
    t.sel("prod", "env == 'prod'");
    t.sel("dev", "env == 'dev'");
    assert_eq!(t.item("i", &[("env", "dev")], &["p"]), [on("dev", "i")]);
    // Dropping the own label exposes the parent's.
    assert_eq!(t.item("i", &[], &["p"]), [off("dev", "i"), on("prod", "i")]);
    // A parent change under an overriding own label changes nothing and
    // evaluates nothing.
    t.item("i", &[("env", "dev")], &["p"]);
    let before = t.evals();
    assert_eq!(t.parent("p", &[("env", "test")]), []);
    assert_eq!(t.evals(), before);
}

#[test]
fn earlier_parent_beats_later_parent() {
    let mut t = T::default();
    t.parent("ns", &[("env", "prod")]);
    t.parent("sa", &[("env", "dev"), ("role", "admin")]);
    t.sel("prod", "env == 'prod'");
    t.sel("dev", "env == 'dev'");
    t.sel("admin", "role == 'admin'");
    assert_eq!(
        t.item("i", &[], &["ns", "sa"]),
        [on("admin", "i"), on("prod", "i")]
    );
    assert_eq!(
        t.idx.item_labels(&"i").map(|l| l.to_map()),
        Some(BTreeMap::from([
            ("env".to_owned(), "prod".to_owned()),
            ("role".to_owned(), "admin".to_owned()),
        ]))
    );
    // Reordering the parents flips the winner.
    assert_eq!(
        t.item("i", &[], &["sa", "ns"]),
        [off("prod", "i"), on("dev", "i")]
    );
    // The earlier parent losing the label exposes the later one's.
    assert_eq!(
        t.parent("sa", &[("role", "admin")]),
        [off("dev", "i"), on("prod", "i")]
    );
}

#[test]
fn unknown_parent_contributes_nothing_until_known() {
    let mut t = T::default();
    t.sel("s", "env == 'prod'");
    t.sel("none", "!has(env)");
    assert_eq!(t.item("i", &[("app", "x")], &["p"]), [on("none", "i")]);
    assert!(!t.idx.contains_parent(&"p"));
    assert_eq!(t.idx.num_parents(), 0);
    assert_eq!(
        t.parent("p", &[("env", "prod")]),
        [off("none", "i"), on("s", "i")]
    );
    assert!(t.idx.contains_parent(&"p"));
    assert_eq!(t.idx.num_parents(), 1);
}

#[test]
fn parent_label_change_flips_only_its_children() {
    let mut t = T::default();
    t.parent("ns-a", &[("pcns.env", "prod")]);
    t.parent("ns-b", &[("pcns.env", "prod")]);
    t.sel("prod", "pcns.env == 'prod'");
    t.sel("web-prod", "app == 'web' && pcns.env == 'prod'");
    t.sel("all", "all()");
    t.item("a1", &[("app", "web")], &["ns-a"]);
    t.item("a2", &[("app", "db")], &["ns-a"]);
    t.item("b1", &[("app", "web")], &["ns-b"]);
    assert_eq!(t.items_of("prod"), ["a1", "a2", "b1"]);
    let before = t.evals();
    assert_eq!(
        t.parent("ns-a", &[("pcns.env", "dev")]),
        [off("prod", "a1"), off("prod", "a2"), off("web-prod", "a1")]
    );
    // Two children, each evaluated only against the selectors that read
    // `pcns.env` and that it could match (`web-prod` for a1 only, as a
    // candidate through `app == 'web'`; `prod` is no longer a candidate).
    assert!(
        t.evals() - before <= 2,
        "{} evaluations",
        t.evals() - before
    );
    assert_eq!(t.items_of("prod"), ["b1"]);
    assert_eq!(
        t.parent("ns-a", &[("pcns.env", "prod"), ("pcns.team", "x")]),
        [on("prod", "a1"), on("prod", "a2"), on("web-prod", "a1")]
    );
}

#[test]
fn removing_a_parent_stops_inherited_matches_and_readding_restores_them() {
    let mut t = T::default();
    t.parent("p", &[("env", "prod")]);
    t.sel("s", "env == 'prod'");
    t.item("i", &[], &["p"]);
    assert_eq!(t.rm_parent("p"), [off("s", "i")]);
    assert_eq!(t.idx.num_parents(), 0);
    assert_eq!(t.rm_parent("p"), []);
    assert_eq!(t.idx.item_parents(&"i").map(|p| p.count()), Some(1));
    assert_eq!(t.parent("p", &[("env", "prod")]), [on("s", "i")]);
    // A parent nobody references disappears entirely once removed.
    t.parent("q", &[("x", "y")]);
    t.rm_parent("q");
    assert_eq!(t.idx.stats().referenced_parents, 1);
    assert!(t.idx.parent_labels(&"q").is_none());
    assert_eq!(
        t.idx.parent_labels(&"p").map(|l| l.collect::<Vec<_>>()),
        Some(vec![("env", "prod")])
    );
}

#[test]
fn item_moved_between_parents() {
    let mut t = T::default();
    t.parent("ns-a", &[("ns", "a")]);
    t.parent("ns-b", &[("ns", "b")]);
    t.sel("in-a", "ns == 'a'");
    t.sel("in-b", "ns == 'b'");
    t.sel("any", "has(ns)");
    assert_eq!(
        t.item("i", &[], &["ns-a"]),
        [on("any", "i"), on("in-a", "i")]
    );
    assert_eq!(
        t.item("i", &[], &["ns-b"]),
        [off("in-a", "i"), on("in-b", "i")]
    );
    assert_eq!(
        t.item("i", &[], &["ghost"]),
        [off("any", "i"), off("in-b", "i")]
    );
    assert_eq!(t.idx.stats().referenced_parents, 3);
    assert_eq!(t.item("i", &[], &[]), []);
    // "ghost" was never known and is no longer referenced.
    assert_eq!(t.idx.stats().referenced_parents, 2);
    // The old parents no longer re-evaluate the item.
    assert_eq!(t.parent("ns-a", &[("ns", "b")]), []);
}

#[test]
fn duplicate_and_shared_parents() {
    let mut t = T::default();
    t.parent("p", &[("k", "v")]);
    t.sel("s", "k == 'v'");
    assert_eq!(t.item("i", &[], &["p", "p"]), [on("s", "i")]);
    assert_eq!(t.item("i", &[], &["p"]), []);
    assert_eq!(t.parent("p", &[("k", "w")]), [off("s", "i")]);
    assert_eq!(t.rm_item("i"), []);
    assert_eq!(t.idx.stats().referenced_parents, 1);
}

#[test]
fn selector_replaced_by_broader_and_narrower() {
    let mut t = T::default();
    t.item("i1", &[("app", "web"), ("tier", "fe")], &[]);
    t.item("i2", &[("app", "web"), ("tier", "be")], &[]);
    t.item("i3", &[("app", "db")], &[]);
    assert_eq!(t.sel("s", "app == 'web' && tier == 'fe'"), [on("s", "i1")]);
    assert_eq!(t.sel("s", "app == 'web'"), [on("s", "i2")]);
    assert_eq!(t.sel("s", "has(app)"), [on("s", "i3")]);
    assert_eq!(t.sel("s", "app == 'db'"), [off("s", "i1"), off("s", "i2")]);
    assert_eq!(
        t.sel("s", "tier in {'fe', 'be'}"),
        [off("s", "i3"), on("s", "i1"), on("s", "i2")]
    );
    assert_eq!(
        t.idx.selector(&"s").map(Selector::as_str),
        Some(r#"tier in {"be", "fe"}"#)
    );
}

#[test]
fn negative_selectors_match_items_without_the_label() {
    let mut t = T::default();
    t.parent("p", &[("b", "1")]);
    t.item("bare", &[], &[]);
    t.item("a1", &[("a", "1")], &[]);
    t.item("a2", &[("a", "2")], &[]);
    t.item("inherits", &[], &["p"]);
    assert_eq!(
        t.sel("ne", "a != '1'"),
        [on("ne", "a2"), on("ne", "bare"), on("ne", "inherits")]
    );
    assert_eq!(
        t.sel("notin", "a not in {'1', '2'}"),
        [on("notin", "bare"), on("notin", "inherits")]
    );
    assert_eq!(
        t.sel("nohas", "!has(a)"),
        [on("nohas", "bare"), on("nohas", "inherits")]
    );
    assert_eq!(
        t.sel("nob", "!has(b)"),
        [on("nob", "a1"), on("nob", "a2"), on("nob", "bare")]
    );
    // Gaining the label through a parent stops the negative match.
    assert_eq!(
        t.parent("p", &[("a", "1")]),
        [
            off("ne", "inherits"),
            off("nohas", "inherits"),
            off("notin", "inherits"),
            on("nob", "inherits")
        ]
    );
}

#[test]
fn all_matches_every_item_and_is_not_reevaluated_on_label_changes() {
    let mut t = T::default();
    t.item("i1", &[], &[]);
    t.item("i2", &[("a", "b")], &["p"]);
    assert_eq!(t.sel("all", "all()"), [on("all", "i1"), on("all", "i2")]);
    assert_eq!(t.sel("empty", ""), [on("empty", "i1"), on("empty", "i2")]);
    let before = t.evals();
    assert_eq!(t.item("i1", &[("x", "y")], &[]), []);
    assert_eq!(t.parent("p", &[("z", "w")]), []);
    assert_eq!(t.evals(), before);
    assert_eq!(t.item("i3", &[], &[]), [on("all", "i3"), on("empty", "i3")]);
}

#[test]
fn impossible_selectors_never_match_and_are_never_evaluated() {
    let mut t = T::default();
    t.item("i1", &[("a", "x")], &[]);
    t.item("i2", &[("a", "y")], &[]);
    let before = t.evals();
    assert_eq!(t.sel("s1", "a == 'x' && a == 'y'"), []);
    assert_eq!(t.sel("s2", "has(a) && !has(a)"), []);
    assert_eq!(t.sel("s3", "a in {'x'} && a in {'y'}"), []);
    assert_eq!(t.item("i3", &[("a", "x")], &[]), []);
    assert_eq!(t.evals(), before);
    assert_eq!(t.idx.num_selectors(), 3);
    // Replacing an impossible selector with a possible one works.
    assert_eq!(t.sel("s1", "a == 'x'"), [on("s1", "i1"), on("s1", "i3")]);
}

#[test]
fn removals_report_every_match_and_unknown_ids_are_ignored() {
    let mut t = T::default();
    t.sel("s1", "has(a)");
    t.sel("s2", "all()");
    t.item("i1", &[("a", "1")], &[]);
    t.item("i2", &[("a", "2")], &[]);
    assert_eq!(t.rm_item("i1"), [off("s1", "i1"), off("s2", "i1")]);
    assert_eq!(t.rm_item("i1"), []);
    assert_eq!(t.rm_sel("s1"), [off("s1", "i2")]);
    assert_eq!(t.rm_sel("s1"), []);
    assert_eq!(t.rm_parent("nope"), []);
    assert_eq!(t.idx.num_matches(), 1);
    assert!(!t.idx.contains_item(&"i1"));
    assert!(t.idx.contains_item(&"i2"));
    assert!(!t.idx.contains_selector(&"s1"));
    assert!(t.idx.contains_selector(&"s2"));
    assert_eq!(t.items_of("s1"), Vec::<&str>::new());
    assert!(t.idx.item_labels(&"i1").is_none());
    assert_eq!(t.rm_sel("s2"), [off("s2", "i2")]);
    assert_eq!(t.rm_item("i2"), []);
    assert_eq!(t.idx.stats().matches, 0);
}

#[test]
fn has_selectors_find_items_through_parents_without_overrides() {
    let mut t = T::default();
    t.parent("p1", &[("team", "a")]);
    t.parent("p2", &[("team", "b")]);
    t.item("own", &[("team", "c")], &["p1"]);
    t.item("first", &[], &["p1", "p2"]);
    t.item("second", &[], &["p2", "p1"]);
    t.item("none", &[], &[]);
    let before = t.evals();
    assert_eq!(
        t.sel("s", "has(team)"),
        [on("s", "first"), on("s", "own"), on("s", "second")]
    );
    // Each candidate once: no scan of "none", no duplicates.
    assert_eq!(t.evals() - before, 3);
    let before = t.evals();
    assert_eq!(t.sel("a", "team == 'a'"), [on("a", "first")]);
    assert_eq!(t.evals() - before, 1);
    let before = t.evals();
    assert_eq!(
        t.sel("ab", "team in {'a', 'b'}"),
        [on("ab", "first"), on("ab", "second")]
    );
    assert_eq!(t.evals() - before, 2);
}

#[test]
fn unindexable_selectors_are_checked_against_every_item() {
    let mut t = T::default();
    t.item("i1", &[("a", "1")], &[]);
    t.item("i2", &[("b", "2")], &[]);
    t.item("i3", &[("c", "3")], &[]);
    assert_eq!(
        t.sel("or", "a == '1' || b == '2'"),
        [on("or", "i1"), on("or", "i2")]
    );
    assert_eq!(t.item("i3", &[("b", "2")], &[]), [on("or", "i3")]);
    assert_eq!(t.sel("contains", "c contains '3'"), []);
    assert_eq!(
        t.item("i1", &[("c", "x3y")], &[]),
        [off("or", "i1"), on("contains", "i1")]
    );
}

#[test]
fn effective_labels_view() {
    let mut t = T::default();
    t.parent("ns", &[("env", "prod"), ("team", "a")]);
    t.parent("sa", &[("team", "b"), ("sa", "default")]);
    t.item(
        "i",
        &[("app", "web"), ("env", "dev")],
        &["ns", "missing", "sa"],
    );
    let labels = t.idx.item_labels(&"i").expect("item exists");
    assert_eq!(labels.get("app"), Some("web"));
    assert_eq!(labels.get("env"), Some("dev"));
    assert_eq!(labels.get("team"), Some("a"));
    assert_eq!(labels.get("sa"), Some("default"));
    assert_eq!(labels.get("nope"), None);
    assert_eq!(
        labels.iter().collect::<Vec<_>>(),
        [
            ("app", "web"),
            ("env", "dev"),
            ("team", "a"),
            ("sa", "default")
        ]
    );
    assert!(
        Selector::parse("team == 'a' && sa == 'default' && env == 'dev'")
            .expect("valid")
            .matches(&labels)
    );
    assert_eq!(
        format!("{labels:?}"),
        r#"{"app": "web", "env": "dev", "team": "a", "sa": "default"}"#
    );
    assert_eq!(
        t.idx
            .item_parents(&"i")
            .map(|p| p.copied().collect::<Vec<_>>()),
        Some(vec!["ns", "missing", "sa"])
    );
}

#[test]
fn slots_are_reused_without_confusion() {
    let mut t = T::default();
    t.sel("s1", "a == '1'");
    t.item("i1", &[("a", "1")], &["p1"]);
    t.rm_item("i1");
    t.rm_sel("s1");
    // New entries reuse the freed slots.
    assert_eq!(t.sel("s2", "a == '2'"), []);
    assert_eq!(t.item("i2", &[("a", "1")], &["p2"]), []);
    assert_eq!(t.item("i3", &[("a", "2")], &[]), [on("s2", "i3")]);
    assert_eq!(t.parent("p1", &[("a", "2")]), []);
    assert_eq!(t.parent("p2", &[("a", "2")]), []);
    assert_eq!(t.item("i2", &[], &["p2"]), [on("s2", "i2")]);
}

#[test]
fn events_stop_before_start_for_each_reevaluation() {
    let mut t = T::default();
    t.sel("x", "a == 'x'");
    t.sel("y", "a == 'y'");
    t.item("i", &[("a", "x")], &[]);
    let mut events = Vec::new();
    t.idx
        .update_item("i", [("a", "y")], [], &mut |e| events.push(e));
    assert_eq!(events, [off("x", "i"), on("y", "i")]);
    assert!(!events[0].is_started());
    assert_eq!((events[1].selector(), events[1].item()), (&"y", &"i"));
}

#[test]
fn stats_and_debug() {
    let mut t = T::default();
    t.sel("s", "all()");
    t.parent("p", &[("x", "1")]);
    for i in ["a", "b", "c"] {
        t.item(i, &[("app", "web")], &["p"]);
    }
    let stats = t.idx.stats();
    assert_eq!(
        (stats.selectors, stats.items, stats.parents, stats.matches),
        (1, 3, 1, 3)
    );
    // Three items share one interned label map.
    assert!(stats.interned_label_sets <= 3);
    assert!(stats.selector_match_bytes > 0 && stats.item_match_bytes > 0);
    assert!(format!("{:?}", t.idx).contains("matches: 3"));
}

/// The headline incrementality guarantee: with 10,000 items and 2,000
/// selectors `app == 'appN'`, changing one item evaluates a handful of
/// selectors, and adding a selector evaluates a handful of items.
#[test]
fn updates_evaluate_only_candidates() {
    let mut idx: SelectorIndex<u32, u32, u32> = SelectorIndex::new();
    let mut events = 0usize;
    let mut out = |_: MatchEvent<u32, u32>| events += 1;
    for p in 0..100u32 {
        idx.update_parent(p, [("pcns.name", format!("ns{p}"))], &mut out);
    }
    for i in 0..10_000u32 {
        let app = format!("app{}", i % 2_000);
        idx.update_item(
            i,
            [("app", app.as_str()), ("tier", "fe")],
            [i % 100],
            &mut out,
        );
    }
    for s in 0..2_000u32 {
        let sel = Selector::parse(&format!("app == 'app{s}'")).expect("valid");
        idx.update_selector(s, sel, &mut out);
    }
    assert_eq!(idx.num_matches(), 10_000);
    // Loading the selectors evaluated each item exactly once.
    assert_eq!(idx.evaluations(), 10_000);

    let before = idx.evaluations();
    idx.update_item(7, [("app", "app8"), ("tier", "fe")], [7], &mut out);
    assert_eq!(idx.evaluations() - before, 1);
    assert!(idx.is_match(&8, &7) && !idx.is_match(&7, &7));

    let before = idx.evaluations();
    let sel = Selector::parse("app == 'app9' && tier == 'fe'").expect("valid");
    idx.update_selector(9, sel, &mut out);
    assert_eq!(idx.evaluations() - before, 5);

    // A parent change touching a label no selector reads evaluates nothing.
    let before = idx.evaluations();
    idx.update_parent(3, [("pcns.name", "renamed")], &mut out);
    assert_eq!(idx.evaluations() - before, 0);

    let before = idx.evaluations();
    idx.remove_item(&7, &mut out);
    idx.update_item(7, [("app", "app7")], [7], &mut out);
    assert_eq!(idx.evaluations() - before, 1);
    idx.check_invariants();
}

#[test]
fn index_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SelectorIndex<String, String, String>>();
    assert_send_sync::<super::EffectiveLabels<'static, String>>();
}

#[test]
fn large_label_maps_use_the_same_rules() {
    // More labels than the linear-search threshold, on both sides.
    let own: Vec<(String, String)> = (0..40)
        .map(|n| (format!("k{n:02}"), format!("own{n}")))
        .collect();
    let inherited: Vec<(String, String)> = (20..60)
        .map(|n| (format!("k{n:02}"), format!("parent{n}")))
        .collect();
    let mut idx: SelectorIndex<&str, &str, &str> = SelectorIndex::new();
    let mut events = Vec::new();
    let mut out = |e| events.push(e);
    idx.update_selector(
        "own",
        Selector::parse("k25 == 'own25'").expect("valid"),
        &mut out,
    );
    idx.update_selector(
        "inh",
        Selector::parse("k45 == 'parent45'").expect("valid"),
        &mut out,
    );
    idx.update_selector(
        "shadowed",
        Selector::parse("k30 == 'parent30'").expect("valid"),
        &mut out,
    );
    idx.update_parent("p", inherited, &mut out);
    idx.update_item("i", own, ["p"], &mut out);
    events.sort();
    assert_eq!(events, [on("inh", "i"), on("own", "i")]);
    let labels = idx.item_labels(&"i").expect("present");
    assert_eq!(labels.get("k39"), Some("own39"));
    assert_eq!(labels.get("k40"), Some("parent40"));
    assert_eq!(labels.iter().count(), 60);
    idx.check_invariants();
}
