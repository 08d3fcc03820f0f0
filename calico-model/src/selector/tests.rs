//! Unit tests for the selector module: lexing, grammar, evaluation,
//! canonical form, unique IDs and the policy-engine helpers, mostly checked
//! against Calico's own test vectors.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, DefaultHasher};

use super::*;

/// Parses `s`, failing the test with the error if it does not parse.
fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

/// The parse error for `s`, failing the test if it parses.
fn err(s: &str) -> SelectorError {
    match Selector::parse(s) {
        Ok(parsed) => panic!("{s:?} should not parse, got {parsed}"),
        Err(e) => e,
    }
}

fn canon(s: &str) -> String {
    sel(s).to_string()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A label source that only implements `get`, like a layered map would.
struct GetOnly<'a>(&'a BTreeMap<String, String>);

impl Labels for GetOnly<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// Evaluates `s` against `labels` through every strategy (scan over a
/// BTreeMap and a HashMap, `get`-only, `&dyn Labels`, and the AST's
/// reference evaluator), asserting that they agree.
fn eval(s: &str, labels: &[(&str, &str)]) -> bool {
    let selector = sel(s);
    let bt = map(labels);
    let hm: HashMap<String, String> = bt.clone().into_iter().collect();
    let expected = selector.expr().evaluate(&bt);
    let dyn_labels: &dyn Labels = &bt;
    let results = [
        selector.matches(&bt),
        selector.matches(&hm),
        selector.matches(&GetOnly(&bt)),
        selector.matches(dyn_labels),
        selector.matches(&&bt),
    ];
    assert!(
        results.iter().all(|r| *r == expected),
        "{s:?} on {labels:?}: strategies disagree: {results:?} vs reference {expected}"
    );
    expected
}

// ---------------------------------------------------------------- lexing

#[test]
fn whitespace_is_space_and_tab_only() {
    assert_eq!(canon("\ta\t==\t'x'\t"), r#"a == "x""#);
    assert_eq!(canon("   "), "all()");
    assert_eq!(canon("\t"), "all()");
    for s in [
        "a == 'x'\n",
        "\n",
        "a ==\n'x'",
        "a == 'x'\r",
        "\u{a0}has(a)",
    ] {
        assert!(
            matches!(err(s), SelectorError::UnexpectedChar { .. }),
            "{s:?}"
        );
    }
    assert_eq!(
        err("a == 'x'\n").to_string(),
        "unexpected character '\\n' at position 8"
    );
}

#[test]
fn label_characters() {
    for label in [
        "a.b/c-d_e",
        "-a",
        "1",
        "/",
        ".",
        "_",
        "A-Z.09/_",
        "projectcalico.org/namespace",
    ] {
        let s = format!("{label} == 'x'");
        assert_eq!(canon(&s), format!("{label} == \"x\""));
        assert_eq!(canon(&format!("has({label})")), format!("has({label})"));
        assert!(eval(&s, &[(label, "x")]));
    }
    assert!(matches!(
        err("é == 'x'"),
        SelectorError::UnexpectedChar { ch: 'é', pos: 0 }
    ));
    assert!(matches!(
        err("a$ == 'x'"),
        SelectorError::ExpectedOperator { .. }
    ));
    assert!(is_valid_label("a.b/c-d_e"));
    assert!(!is_valid_label(""));
    assert!(!is_valid_label("a b"));
}

#[test]
fn label_length_limit() {
    let ok = "a".repeat(MAX_LABEL_LEN);
    let long = "a".repeat(MAX_LABEL_LEN + 1);
    assert!(is_valid_label(&ok));
    assert!(!is_valid_label(&long));
    assert_eq!(canon(&format!("{ok} == 'x'")), format!("{ok} == \"x\""));
    assert_eq!(canon(&format!("has({ok})")), format!("has({ok})"));
    assert_eq!(
        err(&format!("{long} == 'x'")),
        SelectorError::LabelTooLong { len: 513, pos: 0 }
    );
    assert_eq!(
        err(&format!("has( {long})")),
        SelectorError::LabelTooLong { len: 513, pos: 5 }
    );
    assert_eq!(
        err(&format!("{long} == 'x'")).to_string(),
        "label longer than 512 bytes (513 bytes) at position 0"
    );
}

#[test]
fn string_literals() {
    assert_eq!(canon(r#"a == "x""#), r#"a == "x""#);
    assert_eq!(canon("a == 'x'"), r#"a == "x""#);
    // The other quote, spaces, operators and UTF-8 are all plain content.
    assert_eq!(canon(r#"a == "it's""#), r#"a == "it's""#);
    assert_eq!(canon(r#"a == 'say "hi"'"#), r#"a == 'say "hi"'"#);
    assert_eq!(
        canon("a == ' && || ! == ( ) { } ,'"),
        r#"a == " && || ! == ( ) { } ,""#
    );
    assert_eq!(canon("a == 'héllo wörld ✓'"), "a == \"héllo wörld ✓\"");
    assert_eq!(canon("a == ''"), r#"a == """#);
    // Newlines are allowed inside a literal.
    assert_eq!(canon("a == 'x\ny'"), "a == \"x\ny\"");
    assert!(eval("a == 'héllo ✓'", &[("a", "héllo ✓")]));
    // No escapes: a literal ends at the next identical quote.
    assert!(err(r#"a == "x\"y""#).to_string().contains("position"));
    for s in [r#"a == "x"#, "a == 'x", r#"a == "x'"#, "\"", "a in {'x}"] {
        assert!(
            matches!(err(s), SelectorError::UnterminatedString { .. }),
            "{s:?}"
        );
    }
    assert_eq!(
        err("a == 'abc").to_string(),
        "unterminated string starting at position 5"
    );
}

#[test]
fn punctuation_errors() {
    assert_eq!(
        err("a = 'x'"),
        SelectorError::UnexpectedChar { ch: '=', pos: 2 }
    );
    assert_eq!(
        err("a = 'x'").to_string(),
        "unexpected character '=' at position 2"
    );
    assert_eq!(
        err("has(a) & has(b)"),
        SelectorError::UnexpectedChar { ch: '&', pos: 7 }
    );
    assert_eq!(
        err("has(a) | has(b)"),
        SelectorError::UnexpectedChar { ch: '|', pos: 7 }
    );
    // `!=` always wins over `!` followed by `=`.
    assert!(Selector::parse("!=x").is_err());
    assert!(Selector::parse("!==x").is_err());
    assert!(Selector::parse("a ! = 'x'").is_err());
    assert_eq!(canon("a!='x'"), r#"a != "x""#);
    assert_eq!(canon("!has(a)"), "!has(a)");
    assert_eq!(canon("! has(a)"), "!has(a)");
}

#[test]
fn function_tokens() {
    assert_eq!(canon("has( \ta\t )"), "has(a)");
    assert_eq!(canon("all( )"), "all()");
    assert_eq!(canon("global(\t)"), "global()");
    // No space allowed between the word and `(`: that is a label then `(`.
    assert!(Selector::parse("has (a)").is_err());
    assert!(Selector::parse("all ()").is_err());
    assert!(Selector::parse("global ()").is_err());
    // Upper case is just a label.
    assert!(Selector::parse("HAS(a)").is_err());
    assert!(Selector::parse("ALL()").is_err());
    assert_eq!(canon("HAS == 'x'"), r#"HAS == "x""#);
    for (s, e) in [
        ("has()", SelectorError::ExpectedHasLabel { pos: 4 }),
        ("has( )", SelectorError::ExpectedHasLabel { pos: 5 }),
        ("has('a')", SelectorError::ExpectedHasLabel { pos: 4 }),
        (
            "has(a",
            SelectorError::UnclosedFunction {
                func: "has",
                pos: 5,
            },
        ),
        (
            "has(a b)",
            SelectorError::UnclosedFunction {
                func: "has",
                pos: 6,
            },
        ),
        (
            "all(x)",
            SelectorError::UnclosedFunction {
                func: "all",
                pos: 4,
            },
        ),
        (
            "global(",
            SelectorError::UnclosedFunction {
                func: "global",
                pos: 7,
            },
        ),
    ] {
        assert_eq!(err(s), e, "{s:?}");
    }
}

#[test]
fn word_operators() {
    for (s, expected) in [
        ("a contains 'x'", r#"a contains "x""#),
        ("a starts with 'x'", r#"a starts with "x""#),
        ("a ends with 'x'", r#"a ends with "x""#),
        ("a in {'x'}", r#"a in {"x"}"#),
        ("a not in {'x'}", r#"a not in {"x"}"#),
        ("a startswith 'x'", r#"a starts with "x""#),
        ("a starts  with 'x'", r#"a starts with "x""#),
        ("a starts\twith 'x'", r#"a starts with "x""#),
        ("a endswith 'x'", r#"a ends with "x""#),
        ("a notin {'x'}", r#"a not in {"x"}"#),
        ("a not\tin {'x'}", r#"a not in {"x"}"#),
        ("a contains'x'", r#"a contains "x""#),
        ("a in{'x'}", r#"a in {"x"}"#),
        ("a not in{}", "a not in {}"),
    ] {
        assert_eq!(canon(s), expected, "{s:?}");
    }
    // Each operator word must end at a non-label character.
    for s in [
        "a containsx 'x'",
        "a inx {'x'}",
        "a notinx {'x'}",
        "a startswithx 'x'",
        "a starts 'x'",
        "a ends foo 'x'",
        "a squiggles 'x'",
        "a b",
    ] {
        assert!(
            matches!(err(s), SelectorError::ExpectedOperator { .. }),
            "{s:?}: {}",
            err(s)
        );
    }
    // Keywords are case-sensitive.
    for s in [
        "a IN {'x'}",
        "a Contains 'x'",
        "a NOT IN {'x'}",
        "a Starts With 'x'",
    ] {
        assert!(Selector::parse(s).is_err(), "{s:?}");
    }
    assert_eq!(
        err("app squiggles 'x'").to_string(),
        "expected operator after label \"app\" at position 4"
    );
}

#[test]
fn keywords_are_valid_labels() {
    for (s, expected) in [
        (r#"in in {"x"}"#, r#"in in {"x"}"#),
        (r#"not == "x""#, r#"not == "x""#),
        (r#"has == "x""#, r#"has == "x""#),
        (r#"all == "x""#, r#"all == "x""#),
        (r#"global != "x""#, r#"global != "x""#),
        (
            r#"contains contains "contains""#,
            r#"contains contains "contains""#,
        ),
        (r#"starts starts with "x""#, r#"starts starts with "x""#),
        (r#"notin not in {"x"}"#, r#"notin not in {"x"}"#),
        ("has(has)", "has(has)"),
        ("has(in) && in == 'x'", r#"(has(in) && in == "x")"#),
    ] {
        assert_eq!(canon(s), expected, "{s:?}");
    }
    assert!(eval(r#"in in {"x"}"#, &[("in", "x")]));
    assert!(eval(r#"not == "x""#, &[("not", "x")]));
    assert!(eval("contains contains 'on'", &[("contains", "contains")]));
}

// ---------------------------------------------------------------- grammar

#[test]
fn empty_selector_is_all() {
    for s in ["", " ", "\t \t"] {
        let parsed = sel(s);
        assert_eq!(parsed.to_string(), "all()");
        assert!(parsed.is_all());
        assert_eq!(parsed, Selector::all());
        assert_eq!(parsed.expr(), &Expr::All);
        assert!(eval(s, &[]));
        assert!(eval(s, &[("a", "b")]));
    }
}

#[test]
fn precedence() {
    let e = sel("has(a) || has(b) && has(c)").into_expr();
    assert_eq!(
        e,
        Expr::Or(vec![
            Expr::Has("a".into()),
            Expr::And(vec![Expr::Has("b".into()), Expr::Has("c".into())]),
        ])
    );
    let e = sel("!a == 'x' && has(b)").into_expr();
    assert_eq!(
        e,
        Expr::And(vec![
            Expr::Not(Box::new(Expr::Eq {
                label: "a".into(),
                value: "x".into()
            })),
            Expr::Has("b".into()),
        ])
    );
    assert_eq!(
        canon("has(a) && has(b) || has(c) && has(d)"),
        "((has(a) && has(b)) || (has(c) && has(d)))"
    );
    assert_eq!(
        canon("has(a) && (has(b) || has(c))"),
        "(has(a) && (has(b) || has(c)))"
    );
    assert!(eval("has(a) || has(b) && has(c)", &[("a", "")]));
    assert!(!eval("(has(a) || has(b)) && has(c)", &[("a", "")]));
}

#[test]
fn not_binds_to_the_whole_operation() {
    assert_eq!(
        sel("!a == 'x'").into_expr(),
        Expr::Not(Box::new(Expr::Eq {
            label: "a".into(),
            value: "x".into()
        }))
    );
    assert_eq!(
        sel("!a in {'x'}").into_expr(),
        Expr::Not(Box::new(Expr::In {
            label: "a".into(),
            values: BTreeSet::from(["x".to_owned()])
        }))
    );
    assert!(eval("!a in {'x'}", &[("a", "y")]));
    assert!(eval("!a in {'x'}", &[]));
    assert!(!eval("!a in {'x'}", &[("a", "x")]));
}

#[test]
fn right_hand_side_must_be_a_string_and_left_a_label() {
    for s in [
        "a == b",
        "b contains b",
        "b starts with b",
        "b ends with b",
        "a != has(b)",
        "'b1' == b",
        "\"x\" == a",
        "a in \"x\"",
        "a in {b}",
        "a not in b",
        "a",
        "a ==",
        "a in",
        "a in {",
        "a in {'x'",
        "a in {'x',",
        "== 'x'",
        "has(a) == 'x'",
        "all() == 'x'",
    ] {
        assert!(Selector::parse(s).is_err(), "{s:?} should not parse");
    }
    assert_eq!(
        err("a == b").to_string(),
        "expected a string literal, found label \"b\" at position 5"
    );
    assert_eq!(
        err("a").to_string(),
        "expected an operator (==, !=, in, not in, contains, starts with, ends with), \
         found end of input at position 1"
    );
}

#[test]
fn set_literals() {
    assert_eq!(canon("a in {}"), "a in {}");
    assert_eq!(canon("a not in { }"), "a not in {}");
    assert_eq!(canon("a in {'a',}"), r#"a in {"a"}"#);
    assert_eq!(canon("a in { 'b' , 'a' , }"), r#"a in {"a", "b"}"#);
    for s in [
        "a in {,}",
        "a in {'a',,'b'}",
        "a in {'a' 'b'}",
        "a in {b}",
        "a in {'a',,}",
        "a in {'a'} }",
        "a in 'a'",
    ] {
        assert!(Selector::parse(s).is_err(), "{s:?} should not parse");
    }
}

#[test]
fn whole_input_must_be_consumed() {
    for s in [
        r#"a == "x" b == "y""#,
        r#"a == "x")"#,
        "(has(a)",
        "()",
        ")",
        "(",
        "!",
        "!!",
        "has(a) &&",
        "has(a) ||",
        "&& has(a)",
        "has(a) has(b)",
        "has(a) !has(b)",
        "all() all()",
    ] {
        assert!(Selector::parse(s).is_err(), "{s:?} should not parse");
    }
    assert_eq!(
        err("has(a) )").to_string(),
        "expected '&&', '||' or end of input, found ')' at position 7"
    );
}

#[test]
fn calico_bad_selectors() {
    for s in [
        "b == b",
        "b contains b",
        "b starts with b",
        "b ends with b",
        "'b1' == b",
        "b",
        "a b",
        "!",
        r#"foo == "bar" &"#,
        r#"foo == "bar" |"#,
        "foo != ||",
        r#"foo in {"", ||"#,
        r#"foo in """#,
        r#""FOO"#,
        r#""FOO'"#,
        "'FOO",
        "(",
        r#"(a == "foo""#,
        ")",
        "()",
        "%",
        r#"a == "b" && %"#,
        r#"a == "b" || %"#,
        "a ",
        "has(foo) &&",
    ] {
        assert!(Selector::parse(s).is_err(), "{s:?} should not parse");
    }
}

#[test]
fn nesting_limit() {
    let deep = |n: usize| format!("{}has(a){}", "(".repeat(n), ")".repeat(n));
    assert_eq!(canon(&deep(MAX_NESTING)), "has(a)");
    assert!(matches!(
        err(&deep(MAX_NESTING + 1)),
        SelectorError::TooDeep { .. }
    ));
    // The deepest accepted selector whose canonical form is as deep, with a
    // negation at every level, survives every operation.
    let mut s = String::from("has(a)");
    for i in 0..MAX_NESTING {
        s = format!("!(has(b{i}) || {s})");
    }
    let parsed = sel(&s);
    let reparsed = sel(parsed.as_str());
    assert_eq!(reparsed, parsed);
    assert_eq!(parsed.expr().to_string(), parsed.as_str());
    assert_eq!(Selector::from_expr(parsed.expr().clone()), parsed);
    assert!(parsed.label_restrictions().is_empty());
    for labels in [map(&[]), map(&[("a", "")]), map(&[("b7", "")])] {
        assert_eq!(parsed.matches(&labels), parsed.expr().evaluate(&labels));
    }
    assert_ne!(
        parsed.matches(&map(&[])),
        parsed.matches(&map(&[("a", "")]))
    );
    // A top-level group would make the canonical form one level deeper
    // than the input, so it is refused: every canonical form re-parses.
    assert!(matches!(
        err(&format!("has(z) && {s}")),
        SelectorError::TooDeep { pos: 0 }
    ));
    // Groups nest without parentheses through precedence, too.
    let mut chain = String::from("has(a)");
    for _ in 0..MAX_NESTING / 2 {
        chain = format!("has(x) || has(y) && ({chain})");
    }
    let parsed = sel(&chain);
    assert_eq!(sel(parsed.as_str()), parsed);
    assert!(matches!(
        err(&format!("has(x) || has(y) && ({chain})")),
        SelectorError::TooDeep { .. }
    ));
}

// ---------------------------------------------------------------- evaluation

#[test]
fn evaluation_table() {
    let present = |s: &str, v: &str| eval(s, &[("k", v), ("other", "s")]);
    let absent = |s: &str| eval(s, &[("other", "s")]);

    assert!(present("k == 's'", "s"));
    assert!(!present("k == 's'", "t"));
    assert!(!absent("k == 's'"));

    assert!(!present("k != 's'", "s"));
    assert!(present("k != 's'", "t"));
    assert!(absent("k != 's'"));

    assert!(present("k in {'s', 't'}", "t"));
    assert!(!present("k in {'s', 't'}", "u"));
    assert!(!absent("k in {'s', 't'}"));

    assert!(!present("k not in {'s', 't'}", "t"));
    assert!(present("k not in {'s', 't'}", "u"));
    assert!(absent("k not in {'s', 't'}"));

    assert!(present("k contains 'ell'", "hello"));
    assert!(!present("k contains 'xyz'", "hello"));
    assert!(present("k contains ''", ""));
    assert!(present("k contains ''", "x"));
    assert!(!absent("k contains ''"));

    assert!(present("k starts with 'he'", "hello"));
    assert!(present("k starts with ''", "hello"));
    assert!(!present("k starts with 'lo'", "hello"));
    assert!(!present("k starts with 'hello!'", "hello"));
    assert!(!absent("k starts with ''"));

    assert!(present("k ends with 'lo'", "hello"));
    assert!(present("k ends with 'hello'", "hello"));
    assert!(!present("k ends with 'he'", "hello"));
    assert!(!present("k ends with '!hello'", "hello"));
    assert!(!absent("k ends with ''"));

    assert!(present("has(k)", "v"));
    assert!(present("has(k)", ""));
    assert!(!absent("has(k)"));

    for s in ["all()", "global()", "", "  "] {
        assert!(present(s, "v"));
        assert!(absent(s));
        assert!(eval(s, &[]));
    }
}

#[test]
fn comparisons_are_byte_exact() {
    assert!(!eval("k == 'Web'", &[("k", "web")]));
    assert!(!eval("k == 'web '", &[("k", "web")]));
    assert!(!eval("K == 'web'", &[("k", "web")]));
    assert!(!eval("k in {'WEB'}", &[("k", "web")]));
    assert!(!eval("k contains 'E'", &[("k", "web")]));
    assert!(eval("k == 'é'", &[("k", "é")]));
    assert!(!eval("k == 'é'", &[("k", "e\u{301}")]));
}

#[test]
fn empty_sets() {
    assert!(!eval("k in {}", &[("k", "")]));
    assert!(!eval("k in {}", &[]));
    assert!(eval("k not in {}", &[("k", "")]));
    assert!(eval("k not in {}", &[]));
}

#[test]
fn large_sets_and_long_strings() {
    let values: Vec<String> = (0..40).map(|i| format!("'value-{i:03}'")).collect();
    let s = format!("k in {{{}}}", values.join(", "));
    assert!(eval(&s, &[("k", "value-017")]));
    assert!(eval(&s, &[("k", "value-000")]));
    assert!(eval(&s, &[("k", "value-039")]));
    assert!(!eval(&s, &[("k", "value-040")]));
    assert!(!eval(&s, &[("k", "")]));
    let not_in = s.replacen(" in ", " not in ", 1);
    assert!(!eval(&not_in, &[("k", "value-017")]));
    assert!(eval(&not_in, &[("k", "value-1")]));

    let long = "x".repeat(100);
    let long_key = format!("key-{}", "y".repeat(60));
    let s = format!("{long_key} == '{long}'");
    assert!(eval(&s, &[(long_key.as_str(), long.as_str())]));
    let mut almost = long.clone();
    almost.replace_range(50..51, "z");
    assert!(!eval(&s, &[(long_key.as_str(), almost.as_str())]));
    assert!(eval(
        &format!("k contains '{}'", "x".repeat(20)),
        &[("k", &format!("a{long}b"))]
    ));
    assert!(!eval(
        &format!("k contains '{}z'", "x".repeat(20)),
        &[("k", &long)]
    ));
    // Keys and values differing in any single byte never compare equal.
    for len in 1..=20 {
        let base: String = (0..len)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        for at in 0..len {
            let mut other = base.clone().into_bytes();
            if let Some(b) = other.get_mut(at) {
                *b = b'Z';
            }
            let other = String::from_utf8(other).unwrap_or_default();
            let s = format!("{base} == '{base}'");
            assert!(eval(&s, &[(base.as_str(), base.as_str())]));
            assert!(
                !eval(&s, &[(base.as_str(), other.as_str())]),
                "{s} vs {other}"
            );
            assert!(
                !eval(&s, &[(other.as_str(), base.as_str())]),
                "{s} vs {other}"
            );
            let set = format!("k in {{'{other}', 'x'}}");
            assert!(!eval(&set, &[("k", base.as_str())]), "{set} vs {base}");
            let prefix = format!("k starts with '{other}'");
            assert!(!eval(&prefix, &[("k", &format!("{base}!"))]), "{prefix}");
            let suffix = format!("k ends with '{other}'");
            assert!(!eval(&suffix, &[("k", &format!("!{base}"))]), "{suffix}");
            let within = format!("k contains '{other}'");
            assert!(!eval(&within, &[("k", &format!("!{base}!"))]), "{within}");
        }
    }
    // Keys of equal length and equal fingerprint buckets must not collide.
    for (a, b) in [
        ("abc", "abd"),
        ("abcdefg", "abcdefh"),
        ("0123456789abcdefX", "0123456789abcdefY"),
    ] {
        let s = format!("{a} == 'v' && !has({b})");
        assert!(eval(&s, &[(a, "v")]));
        assert!(!eval(&s, &[(a, "v"), (b, "v")]));
        assert!(!eval(&s, &[(b, "v")]));
    }
}

#[test]
fn calico_selector_tests() {
    type Case<'a> = (
        &'a str,
        &'a [&'a [(&'a str, &'a str)]],
        &'a [&'a [(&'a str, &'a str)]],
    );
    let cases: &[Case<'_>] = &[
        (
            r#"a == "b""#,
            &[&[("a", "b")], &[("a", "b"), ("c", "d")]],
            &[&[], &[("a", "c")], &[("c", "d")]],
        ),
        (
            r#"a == "b" && c == "d""#,
            &[&[("a", "b"), ("c", "d")]],
            &[
                &[],
                &[("a", "b"), ("c", "e")],
                &[("a", "c"), ("c", "d")],
                &[("c", "d")],
                &[("a", "b")],
            ],
        ),
        (
            r#"a == "b" || c == "d""#,
            &[&[("a", "b"), ("c", "d")], &[("a", "b")], &[("c", "d")]],
            &[&[], &[("a", "e"), ("c", "e")], &[("c", "e")], &[("a", "e")]],
        ),
        (
            r#"a in {"'", '"', "c"}"#,
            &[&[("a", "c")], &[("a", "\"")], &[("a", "'")]],
            &[&[], &[("a", "e")]],
        ),
        (
            r#"a not in {"'", '"', "c"}"#,
            &[&[], &[("a", "e")]],
            &[&[("a", "c")], &[("a", "\"")], &[("a", "'")]],
        ),
        ("a != \"a\"", &[&[]], &[&[("a", "a")]]),
        (
            r#"a contains "a""#,
            &[&[("a", "a")], &[("a", "bab")], &[("a", "aaa"), ("b", "c")]],
            &[&[], &[("a", "b")], &[("b", "aaa")]],
        ),
        (
            r#"a starts with "a""#,
            &[&[("a", "a")], &[("a", "abb")], &[("a", "aaa"), ("b", "c")]],
            &[&[], &[("a", "b")], &[("a", "baa")], &[("b", "aaa")]],
        ),
        (
            r#"a ends with "a""#,
            &[&[("a", "a")], &[("a", "bba")], &[("a", "aaa"), ("b", "c")]],
            &[&[], &[("a", "b")], &[("a", "aab")], &[("b", "aaa")]],
        ),
        (r#"!a in {"a"}"#, &[&[("a", "b")]], &[]),
        (r#"a not in {"d", "e"}"#, &[&[("a", "a")]], &[]),
        ("!!has(b)", &[], &[&[("a", "b")]]),
        ("! has(a)", &[], &[&[("a", "b")]]),
        ("!!! has(a)", &[], &[&[("a", "b")]]),
        ("!! ! has(a)", &[], &[&[("a", "b")]]),
        ("! !!has(a)", &[], &[&[("a", "b")]]),
        (
            "a == 'a1' && b != 'b1'",
            &[],
            &[&[("a", "a1"), ("b", "b1")]],
        ),
        (
            "a != 'a1' && !b == 'b1'",
            &[],
            &[&[("a", "a1"), ("b", "b1")]],
        ),
        ("has(a) && !has(b)", &[&[("a", "a")]], &[]),
        ("!(!has(a) || has(b))", &[&[("a", "a")]], &[]),
        ("!(has(b) || !has(a))", &[&[("a", "a")]], &[]),
        (
            "a == 'a1' || b != 'b1'",
            &[&[("a", "a1"), ("b", "b1")]],
            &[],
        ),
        (
            "a != 'a1' || b != 'b1'",
            &[],
            &[&[("a", "a1"), ("b", "b1")]],
        ),
        (
            "! a == 'a1' || ! b == 'b1'",
            &[],
            &[&[("a", "a1"), ("b", "b1")]],
        ),
    ];
    for (s, matches, non_matches) in cases {
        let canonical = canon(s);
        for labels in *matches {
            assert!(eval(s, labels), "{s:?} should match {labels:?}");
            assert!(
                eval(&canonical, labels),
                "{canonical:?} should match {labels:?}"
            );
        }
        for labels in *non_matches {
            assert!(!eval(s, labels), "{s:?} should not match {labels:?}");
            assert!(
                !eval(&canonical, labels),
                "{canonical:?} should not match {labels:?}"
            );
        }
    }
}

#[test]
fn label_sources() {
    let bt = map(&[("a", "1"), ("b", "2")]);
    // HashMap with a non-default hasher.
    let hm: HashMap<String, String, BuildHasherDefault<DefaultHasher>> =
        bt.clone().into_iter().collect();
    let s = sel("a == '1' && b in {'2'}");
    assert!(s.matches(&hm));
    assert!(s.matches(&GetOnly(&bt)));
    let boxed: Box<dyn Labels> = Box::new(bt.clone());
    assert!(s.matches(boxed.as_ref()));

    // A layered map (endpoint labels over profile labels) implementing only
    // `get`.
    struct Layered<'a> {
        endpoint: &'a BTreeMap<String, String>,
        profile: &'a BTreeMap<String, String>,
    }
    impl Labels for Layered<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.endpoint
                .get(key)
                .or_else(|| self.profile.get(key))
                .map(String::as_str)
        }
    }
    // A vector-backed map implementing the single-pass methods too.
    struct Pairs(Vec<(String, String)>, bool);
    impl Labels for Pairs {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        }
        fn len_hint(&self) -> Option<usize> {
            Some(self.0.len())
        }
        fn for_each_label<'a>(
            &'a self,
            f: &mut dyn FnMut(&'a str, &'a str) -> std::ops::ControlFlow<()>,
        ) -> bool {
            for (k, v) in &self.0 {
                if f(k, v).is_break() {
                    break;
                }
            }
            true
        }
        fn keys_sorted(&self) -> bool {
            self.1
        }
    }
    let sorted = Pairs(bt.clone().into_iter().collect(), true);
    let mut reversed: Vec<(String, String)> = bt.clone().into_iter().collect();
    reversed.reverse();
    let unsorted = Pairs(reversed, false);
    for s in [
        "a == '1' && b in {'2'}",
        "has(a) && !has(c)",
        "has(c) || b == '2'",
        "a == '1' && !has(b)",
        "has(zz) || a != '1'",
    ] {
        let s = sel(s);
        let expected = s.expr().evaluate(&bt);
        assert_eq!(s.matches(&sorted), expected, "{s}");
        assert_eq!(s.matches(&unsorted), expected, "{s}");
    }

    let endpoint = map(&[("app", "web")]);
    let profile = map(&[("app", "db"), ("env", "prod")]);
    let layered = Layered {
        endpoint: &endpoint,
        profile: &profile,
    };
    assert!(sel("app == 'web' && env == 'prod'").matches(&layered));
    assert!(!sel("app == 'db'").matches(&layered));
}

#[test]
fn big_maps_and_many_keys_use_the_fallback() {
    // More labels than the single-pass scan handles.
    let pairs: Vec<(String, String)> = (0..100)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(eval("k42 == 'v42' && !has(k100) && k7 in {'v7'}", &refs));
    assert!(!eval("k42 == 'v41'", &refs));
    // More distinct keys than slots.
    let terms: Vec<String> = (0..40).map(|i| format!("k{i} == 'v{i}'")).collect();
    assert!(eval(&terms.join(" && "), &refs));
    assert!(!eval(
        &format!("{} && has(k100)", terms.join(" && ")),
        &refs
    ));
    assert!(eval(&terms.join(" || "), &refs[..3]));
    assert!(!eval(&terms.join(" && "), &refs[..3]));
    // Between 4 and 16 keys (the 8- and 16-slot scans).
    for n in [5, 8, 9, 16] {
        let terms: Vec<String> = (0..n).map(|i| format!("k{i} == 'v{i}'")).collect();
        assert!(eval(&terms.join(" && "), &refs[..20]), "{n} keys");
        assert!(!eval(&terms.join(" && "), &refs[1..20]), "{n} keys");
    }
}

// ---------------------------------------------------------------- canonical form

#[test]
fn canonical_forms() {
    for (input, expected) in [
        ("all()", "all()"),
        (" all() ", "all()"),
        (" (all() )", "all()"),
        ("global()", "global()"),
        ("has( a )", "has(a)"),
        ("a=='v'", r#"a == "v""#),
        ("a!='v'", r#"a != "v""#),
        ("a contains 'v'", r#"a contains "v""#),
        ("a starts with 'v'", r#"a starts with "v""#),
        ("a ends with 'v'", r#"a ends with "v""#),
        (r#"a == "'""#, r#"a == "'""#),
        (r#"a == '"'"#, r#"a == '"'"#),
        (r#"a contains '"'"#, r#"a contains '"'"#),
        (r#"a contains "'""#, r#"a contains "'""#),
        (r#"a startswith '"'"#, r#"a starts with '"'"#),
        (r#"a endswith "'""#, r#"a ends with "'""#),
        (r#"a!='"'"#, r#"a != '"'"#),
        (r#"a in {"d"}"#, r#"a in {"d"}"#),
        (r#"a in {"a", "b"}"#, r#"a in {"a", "b"}"#),
        (r#"a in {"d", "a", "b"}"#, r#"a in {"a", "b", "d"}"#),
        (
            r#"a in {"z", "x", "y", "a"}"#,
            r#"a in {"a", "x", "y", "z"}"#,
        ),
        (
            r#"a in {"z", "z", "x", "y", "x", "a"}"#,
            r#"a in {"a", "x", "y", "z"}"#,
        ),
        (r#"a in {'"', "'", "b"}"#, r#"a in {'"', "'", "b"}"#),
        (
            "a in {'B', 'a', 'A', 'b', ''}",
            r#"a in {"", "A", "B", "a", "b"}"#,
        ),
        ("a in {}", "a in {}"),
        ("a not in {'b','a'}", r#"a not in {"a", "b"}"#),
        ("a == 'x' && b == 'y'", r#"(a == "x" && b == "y")"#),
        ("a == 'x' || b == 'y'", r#"(a == "x" || b == "y")"#),
        ("((a == 'x'))", r#"a == "x""#),
        ("(((has(a))) && ((has(b))))", "(has(a) && has(b))"),
        (
            "(has(a) && has(b)) && has(c)",
            "((has(a) && has(b)) && has(c))",
        ),
        ("has(a) && has(b) && has(c)", "(has(a) && has(b) && has(c))"),
        ("!has(a)", "!has(a)"),
        ("!a == 'b'", r#"!a == "b""#),
        ("!(a == 'b')", r#"!a == "b""#),
        ("!(a == 'b' && c == 'd')", r#"!(a == "b" && c == "d")"#),
        ("!!has(a)", "has(a)"),
        ("!!!has(a)", "!has(a)"),
        ("!(!has(a))", "!!has(a)"),
        ("!(has(a))", "!has(a)"),
        ("! (has( b)||! has(a ))", "!(has(b) || !has(a))"),
        (r#"! (a == "b"&&! c != "d")"#, r#"!(a == "b" && !c != "d")"#),
    ] {
        assert_eq!(canon(input), expected, "{input:?}");
        // The canonical form parses to itself (except the `!(!x)` case) and
        // the tree renders the same text.
        let parsed = sel(input);
        assert_eq!(parsed.expr().to_string(), expected, "{input:?}");
        if !parsed.expr().has_double_negation() {
            assert_eq!(canon(expected), expected, "{input:?}");
        }
    }
}

#[test]
fn double_negation_of_a_group_is_kept() {
    let s = sel("!(!has(a))");
    assert_eq!(
        s.expr(),
        &Expr::Not(Box::new(Expr::Not(Box::new(Expr::Has("a".into())))))
    );
    assert!(s.expr().has_double_negation());
    assert!(eval("!(!has(a))", &[("a", "")]));
    assert!(!eval("!(!has(a))", &[]));
    // Its canonical form `!!has(a)` re-parses (collapsing) to `has(a)`.
    assert_eq!(canon(s.as_str()), "has(a)");
    assert_eq!(canon("!(!(!has(a)))"), "!!!has(a)");
    assert!(!eval("!(!(!has(a)))", &[("a", "")]));
    assert_eq!(canon("!!(!has(a) && has(b))"), "(!has(a) && has(b))");
    assert_eq!(canon("!(!(has(a) && has(b)))"), "!!(has(a) && has(b))");
    assert!(eval("!(!(has(a) && has(b)))", &[("a", ""), ("b", "")]));
}

#[test]
fn unique_ids() {
    for (input, id) in [
        ("", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
        (" all() ", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
        (" (all() )", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
        (
            "! (has( b)||! has(a ))",
            "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q",
        ),
        (
            r#"! (a == "b"&&! c != "d")"#,
            "s:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w",
        ),
    ] {
        let s = sel(input);
        assert_eq!(s.unique_id(), id, "{input:?}");
        assert_eq!(s.unique_id_str(), id);
        assert_eq!(Selector::from_expr(s.expr().clone()).unique_id(), id);
    }
    assert_eq!(
        Selector::all().unique_id(),
        "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"
    );
    let id = sel("a == 'x'").unique_id();
    assert_eq!(id.len(), 40);
    assert!(id.starts_with("s:"));
    assert!(
        id[2..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
}

#[test]
fn unique_id_hashes_prefixed_canonical_form() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use sha2::{Digest as _, Sha224};
    let id = |content: &str| format!("s:{}", URL_SAFE_NO_PAD.encode(Sha224::digest(content)));
    // Of the two candidates only SHA-224("s:" + canonical) reproduces
    // Calico's ID for all(); SHA-224(canonical) does not.
    assert_eq!(id("s:all()"), "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug");
    assert_ne!(id("all()"), "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug");
    let s = sel("app == 'web' && tier in {'b', 'a'}");
    assert_eq!(s.unique_id(), id(&format!("s:{s}")));
}

#[test]
fn equality_and_hashing_follow_the_canonical_form() {
    use std::collections::HashSet;
    let a = sel("a=='x' && b in {'2','1'}");
    let b = sel(r#"(a == "x") && b in {"1", "2", "1"}"#);
    assert_eq!(a, b);
    assert_eq!(a.unique_id(), b.unique_id());
    let set: HashSet<Selector> = [a.clone(), b.clone(), sel("has(a)")].into_iter().collect();
    assert_eq!(set.len(), 2);
    assert_ne!(a, sel("a == 'x' || b in {'1', '2'}"));
    assert_eq!(
        format!("{a:?}"),
        r#"Selector("(a == \"x\" && b in {\"1\", \"2\"})")"#
    );
    let parsed: Selector = "has(a)".parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed, sel("has( a )"));
    assert_eq!(Selector::try_from("has(a)"), Ok(parsed));
    assert_eq!(Selector::default(), Selector::all());
    assert!(!Selector::none().matches(&map(&[])));
    assert_eq!(Selector::none().to_string(), "!all()");
    let mut sorted = vec![sel("has(b)"), sel("has(a)")];
    sorted.sort();
    assert_eq!(sorted, [sel("has(a)"), sel("has(b)")]);
}

#[test]
fn from_expr_renders_like_display() {
    let exprs = [
        Expr::And(vec![]),
        Expr::Or(vec![]),
        Expr::And(vec![Expr::Has("a".into())]),
        Expr::Or(vec![Expr::Has("a".into())]),
        Expr::Not(Box::new(Expr::Or(vec![]))),
        Expr::Not(Box::new(Expr::Not(Box::new(Expr::Not(Box::new(
            Expr::All,
        )))))),
        Expr::In {
            label: "a".into(),
            values: BTreeSet::new(),
        },
    ];
    for e in exprs {
        let s = Selector::from_expr(e.clone());
        assert_eq!(s.to_string(), e.to_string());
        for labels in [map(&[]), map(&[("a", "x")])] {
            assert_eq!(s.matches(&labels), e.evaluate(&labels), "{e:?}");
            let reparsed = sel(s.as_str());
            assert_eq!(reparsed.matches(&labels), e.evaluate(&labels), "{e:?}");
        }
    }
    assert_eq!(Expr::And(vec![]).to_string(), "all()");
    assert_eq!(Expr::Or(vec![]).to_string(), "!all()");
    assert_eq!(
        Expr::Or(vec![Expr::Has("a".into())]).to_string(),
        "(has(a))"
    );
    let from: Selector = Expr::Global.into();
    assert!(from.contains_global());
    assert_eq!(from.into_expr(), Expr::Global);
}

#[test]
fn normalise_trims_and_canonicalises() {
    assert_eq!(normalise(""), "all()");
    assert_eq!(normalise(" \n\t "), "all()");
    assert_eq!(normalise("\n a=='x' \r\n"), r#"a == "x""#);
    assert_eq!(normalise("\u{a0}has(a)\u{2003}"), "has(a)");
    // Unparsable input comes back as it was, trimmed (as Calico does).
    assert_eq!(normalise("  a ==  "), "a ==");
    assert_eq!(normalise("a == \n 'x'"), "a == \n 'x'");
}

#[test]
fn error_positions() {
    for (s, pos) in [
        ("a = 'x'", 2),
        ("has(a) && %", 10),
        ("a == 'x' && b", 13),
        ("  'x' == a", 2),
        ("(has(a)", 7),
        ("has(a) b", 7),
        ("a == \"x", 5),
    ] {
        assert_eq!(err(s).position(), pos, "{s:?}: {}", err(s));
    }
}

// ---------------------------------------------------------------- helpers

#[test]
fn prefix_visitor() {
    for (input, expected) in [
        ("k == 'v'", r#"visited/k == "v""#),
        ("k != 'v'", r#"visited/k != "v""#),
        ("k contains 'v'", r#"visited/k contains "v""#),
        ("k starts with 'v'", r#"visited/k starts with "v""#),
        ("k ends with 'v'", r#"visited/k ends with "v""#),
        (
            "k == 'v' && x == 'y'",
            r#"(visited/k == "v" && visited/x == "y")"#,
        ),
        (
            "k == 'v' || has(x)",
            r#"(visited/k == "v" || has(visited/x))"#,
        ),
        ("!(k == 'v')", r#"!visited/k == "v""#),
        ("k in {'v'}", r#"visited/k in {"v"}"#),
        ("k not in {'v'}", r#"visited/k not in {"v"}"#),
        (
            "!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))",
            r#"!(!((visited/k == "v" && has(visited/t)) || all()) && visited/a in {"b", "c"})"#,
        ),
        ("all() && global()", "(all() && global())"),
    ] {
        let prefixed = sel(input).prefixed("visited/");
        assert_eq!(prefixed.to_string(), expected, "{input:?}");
        assert_eq!(sel(input).expr().prefixed("visited/").to_string(), expected);
    }
    let s = sel("app == 'web'").prefixed("pcns.");
    assert!(s.matches(&map(&[("pcns.app", "web")])));
    assert!(!s.matches(&map(&[("app", "web")])));
}

#[test]
fn replace_all_and_global_on_the_tree() {
    let has_ns = Expr::Has(NAMESPACE_LABEL.into());
    let not_ns = Expr::Not(Box::new(has_ns.clone()));
    for (input, expected) in [
        ("all()", "has(projectcalico.org/namespace)"),
        ("", "has(projectcalico.org/namespace)"),
        ("global()", "!has(projectcalico.org/namespace)"),
        (
            "all() || global()",
            "(has(projectcalico.org/namespace) || !has(projectcalico.org/namespace))",
        ),
        ("!global()", "!!has(projectcalico.org/namespace)"),
        ("a == 'all()'", r#"a == "all()""#),
        (
            "a == 'global()' && has(b)",
            r#"(a == "global()" && has(b))"#,
        ),
    ] {
        let rewritten = sel(input).replace_all_and_global(&has_ns, &not_ns);
        assert_eq!(rewritten.to_string(), expected, "{input:?}");
        // The policy-code helper re-normalises, collapsing `!!`.
        assert_eq!(
            sel(input).rewrite_namespace_selector(),
            sel(rewritten.as_str()),
            "{input:?}"
        );
    }
    assert_eq!(
        sel("!global()").rewrite_namespace_selector().to_string(),
        "has(projectcalico.org/namespace)"
    );
    // After the `pcns.` prefix, as Calico's rule conversion does it.
    assert_eq!(
        sel("env == 'prod' || global()")
            .prefixed("pcns.")
            .rewrite_namespace_selector()
            .to_string(),
        r#"(pcns.env == "prod" || !has(projectcalico.org/namespace))"#
    );
    let ns = map(&[(NAMESPACE_LABEL, "default")]);
    let global_only = sel("global()").rewrite_namespace_selector();
    assert!(!global_only.matches(&ns));
    assert!(global_only.matches(&map(&[])));
    // Replacements are not themselves rewritten.
    let swapped = sel("all()").replace_all_and_global(&Expr::Global, &Expr::All);
    assert_eq!(swapped.to_string(), "global()");
}

#[test]
fn contains_global() {
    assert!(sel("global()").contains_global());
    assert!(sel("!global()").contains_global());
    assert!(sel("has(a) && (has(b) || global())").contains_global());
    assert!(!sel("all()").contains_global());
    assert!(!sel("a == 'global()'").contains_global());
    assert!(!sel("has(global)").contains_global());
    assert!(sel("has(a)").expr().clone().negate().to_string() == "!has(a)");
    assert!(Expr::and(Expr::Global, Expr::All).contains_global());
}

#[test]
fn and_combinator() {
    let a = sel("has(a) && has(b)");
    let b = sel("c == 'd'");
    let both = a.and(&b);
    assert_eq!(both.to_string(), r#"((has(a) && has(b)) && c == "d")"#);
    assert_eq!(Selector::and(&a, &b), both);
    assert!(both.matches(&map(&[("a", ""), ("b", ""), ("c", "d")])));
    assert!(!both.matches(&map(&[("a", ""), ("c", "d")])));
    assert_eq!(
        Expr::or(Expr::Has("a".into()), Expr::All).to_string(),
        "(has(a) || all())"
    );
}

fn restriction(present: bool, absent: bool, values: Option<&[&str]>) -> LabelRestriction {
    LabelRestriction {
        must_be_present: present,
        must_be_absent: absent,
        must_have_one_of_values: values.map(|v| v.iter().map(|s| (*s).to_owned()).collect()),
    }
}

#[test]
fn calico_label_restrictions() {
    let p = |values: Option<&[&str]>| restriction(true, false, values);
    let cases: Vec<(&str, Vec<(&str, LabelRestriction)>)> = vec![
        ("", vec![]),
        ("all()", vec![]),
        ("global()", vec![]),
        ("a == 'value'", vec![("a", p(Some(&["value"])))]),
        ("has(a)", vec![("a", p(None))]),
        ("a in {'v1','v2'}", vec![("a", p(Some(&["v1", "v2"])))]),
        ("a not in {'v1','v2'}", vec![]),
        ("a contains 'foo'", vec![("a", p(None))]),
        ("a ends with 'foo'", vec![("a", p(None))]),
        ("a starts with 'foo'", vec![("a", p(None))]),
        ("a != 'value'", vec![]),
        ("a == 'v1' && a == 'v1'", vec![("a", p(Some(&["v1"])))]),
        ("a == 'v1' && a == 'v2'", vec![("a", p(Some(&[])))]),
        ("a == 'v1' && has(a)", vec![("a", p(Some(&["v1"])))]),
        (
            "a in {'v1','v2'} && a in {'v2','v3'} ",
            vec![("a", p(Some(&["v2"])))],
        ),
        (
            "a in {'v1','v2', 'v3'} && a in {'v2','v3'} ",
            vec![("a", p(Some(&["v2", "v3"])))],
        ),
        ("has(a) && a == 'v1'", vec![("a", p(Some(&["v1"])))]),
        (
            "has(a) && !has(a)",
            vec![("a", restriction(true, true, None))],
        ),
        (
            "a == 'v1' && b == 'v2'",
            vec![("a", p(Some(&["v1"]))), ("b", p(Some(&["v2"])))],
        ),
        ("a == 'v1' && all()", vec![("a", p(Some(&["v1"])))]),
        ("all() && a == 'v1'", vec![("a", p(Some(&["v1"])))]),
        (
            "a == 'v1' || a == 'v2'",
            vec![("a", p(Some(&["v1", "v2"])))],
        ),
        ("has(a) || a == 'v2'", vec![("a", p(None))]),
        ("a=='v2' || has(a)", vec![("a", p(None))]),
        ("a=='v2' || has(b)", vec![]),
        ("a=='v2' || (has(b) && has(a))", vec![("a", p(None))]),
        ("a == 'v1' || b == 'v2'", vec![]),
        ("a == 'v1' || all()", vec![]),
        ("all() || b == 'v2'", vec![]),
        ("!(a == 'value')", vec![]),
        ("!has(a)", vec![("a", restriction(false, true, None))]),
        ("!!has(a)", vec![("a", p(None))]),
        ("!(!has(a))", vec![]),
        (
            "!has(a) || !has(a)",
            vec![("a", restriction(false, true, None))],
        ),
        ("!has(a) || has(a)", vec![]),
    ];
    for (s, expected) in cases {
        let expected: BTreeMap<String, LabelRestriction> = expected
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(sel(s).label_restrictions(), expected, "{s:?}");
        if !s.is_empty() {
            // Adding "all() &&" has no effect.
            let with_all = format!("all() && ({s})");
            assert_eq!(
                sel(&with_all).label_restrictions(),
                expected,
                "{with_all:?}"
            );
        }
    }
}

#[test]
fn impossible_restrictions() {
    let r = sel("a == 'v1' && a == 'v2'").label_restrictions();
    assert!(r.get("a").is_some_and(LabelRestriction::is_impossible));
    let r = sel("has(a) && !has(a)").label_restrictions();
    assert!(r.get("a").is_some_and(LabelRestriction::is_impossible));
    // `in {}` can never match: its value set is empty.
    let r = sel("a in {}").label_restrictions();
    assert_eq!(r.get("a"), Some(&restriction(true, false, Some(&[]))));
    assert!(r.get("a").is_some_and(LabelRestriction::is_impossible));
    let r = sel("a == 'v1' && has(b)").label_restrictions();
    assert!(r.values().all(LabelRestriction::possible_to_satisfy));
    // An impossible branch of an OR contributes its alternative's values.
    let r = sel("(a == 'x' && a == 'y') || a == 'z'").label_restrictions();
    assert_eq!(r.get("a"), Some(&restriction(true, false, Some(&["z"]))));
}
